/**
 * `lvsd simulate` (the demo without root; `npm run demo` is `lvsd demo`): run the real engine on
 * the in-memory wire. A director with a VIP and three NAT real servers takes synthetic TCP clients
 * (SYN, SYN-ACK from the server, ACK, data both ways, FINs) and prints, per scheduler, how the
 * connections were spread and what the counters say, in ipvsadm's column layout. No root, no
 * sockets: every byte still goes through the parser, the connection table, the scheduler and the
 * NAT rewrite.
 */
import { Director } from '../core/director.js';
import { MemoryWire } from '../io/memory.js';
import { FWD_MASQ } from '../core/services.js';
import { formatAddress, parseAddress, parseMac } from '../packet/addr.js';
import { DROP_REASON_NAMES } from '../packet/drop-reasons.js';
import { KIND_DEST } from '../core/stats.js';
import { StatsReader } from '../core/stats.js';
import { eth, ipv4, tcp } from '../packet/builder.js';
import { IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_SYN } from '../packet/view.js';

const VIP = '10.0.0.100';
const SERVERS = ['172.16.0.2', '172.16.0.3', '172.16.0.4'];
const MAC = {
  eth0: '02:00:00:00:01:01',
  eth1: '02:00:00:00:02:01',
  router: '02:00:00:00:00:fe',
  rs: ['02:00:00:00:00:51', '02:00:00:00:00:52', '02:00:00:00:00:53'],
};

function words(a: string): Uint32Array {
  return parseAddress(a)!.words;
}

function makeDirector(): { d: Director; wire: MemoryWire } {
  const d = new Director({ maxConns: 1 << 16, seed: 1 });
  d.net.setInterface({
    ifindex: 1,
    name: 'eth0',
    mac: parseMac(MAC.eth0)!,
    mtu: 1500,
    addresses: [
      { af: 4, words: words('10.0.0.1'), prefixLen: 24 },
      { af: 4, words: words(VIP), prefixLen: 32 },
    ],
  });
  d.net.setInterface({
    ifindex: 2,
    name: 'eth1',
    mac: parseMac(MAC.eth1)!,
    mtu: 1500,
    addresses: [{ af: 4, words: words('172.16.0.1'), prefixLen: 24 }],
  });
  d.net.addRoute({ af: 4, dst: words('172.16.0.0'), prefixLen: 24, ifindex: 2 });
  d.net.addRoute({ af: 4, dst: words('0.0.0.0'), prefixLen: 0, gateway: words('10.0.0.254'), ifindex: 1 });
  d.net.setNeighbour(4, words('10.0.0.254'), 1, parseMac(MAC.router)!);
  SERVERS.forEach((s, k) => d.net.setNeighbour(4, words(s), 2, parseMac(MAC.rs[k]!)!));
  return { d, wire: new MemoryWire() };
}

function pad(s: string | number, n: number, left = false): string {
  const t = String(s);
  return left ? t.padStart(n) : t.padEnd(n);
}

export async function runSimulation(argv: string[]): Promise<number> {
  let clients = 3000;
  let schedulers = ['rr', 'wrr', 'wlc', 'sh', 'mh'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--clients' && argv[i + 1]) clients = Number(argv[++i]);
    else if (a === '--sched' && argv[i + 1]) schedulers = argv[++i]!.split(',');
    else if (a === '-h' || a === '--help') {
      process.stdout.write('Usage: lvsd simulate [--clients N] [--sched rr,wrr,...]\n');
      return 0;
    } else {
      process.stderr.write(`lvsd simulate: unknown option '${a}'\n`);
      return 2;
    }
  }
  if (!Number.isInteger(clients) || clients < 1 || clients > 100000) {
    process.stderr.write('lvsd simulate: --clients must be 1..100000\n');
    return 2;
  }
  const weights = [3, 2, 1];
  process.stdout.write(
    `lvsd simulate: ${clients} TCP clients -> VIP ${VIP}:80, NAT to ${SERVERS.join(', ')} (weights ${weights.join(':')})\n`,
  );
  for (const sched of schedulers) {
    const { d, wire } = makeDirector();
    const key = { af: 4, proto: IPPROTO_TCP, addr: words(VIP), port: 80 };
    try {
      d.services.addService(key, { scheduler: sched });
    } catch (e) {
      process.stderr.write(`lvsd simulate: ${(e as Error).message}: ${sched}\n`);
      return 2;
    }
    SERVERS.forEach((s, k) =>
      d.services.addDest(key, { addr: words(s), port: 8080, fwd: FWD_MASQ, weight: weights[k]! }),
    );
    let now = 1000;
    for (let c = 0; c < clients; c++) {
      const src = `198.18.${(c >> 8) & 0xff}.${c & 0xff}`;
      const sport = 10000 + (c % 50000);
      const toVip = (flags: number, payload?: Uint8Array) =>
        eth(
          { src: MAC.router, dst: MAC.eth0 },
          ipv4({ src, dst: VIP }, tcp({ sport, dport: 80, flags, ...(payload ? { payload } : {}) })),
        );
      wire.inject(1, toVip(TCP_SYN));
      d.step(wire, now);
      const out = wire.sent.pop();
      if (!out) continue;
      // the real server answers from the address the director chose
      // IPv4 destination address of the rewritten frame: Ethernet 14 + offset 16
      const rs = `${out.bytes[30]}.${out.bytes[31]}.${out.bytes[32]}.${out.bytes[33]}`;
      const k = SERVERS.indexOf(rs);
      const fromRs = (flags: number, payload?: Uint8Array) =>
        eth(
          { src: MAC.rs[k]!, dst: MAC.eth1 },
          ipv4(
            { src: rs, dst: src },
            tcp({ sport: 8080, dport: sport, flags, ...(payload ? { payload } : {}) }),
          ),
        );
      wire.inject(2, fromRs(TCP_SYN | TCP_ACK));
      wire.inject(1, toVip(TCP_ACK, new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n')));
      wire.inject(2, fromRs(TCP_ACK, new TextEncoder().encode('HTTP/1.0 200 OK\r\n\r\nhello')));
      // every fourth client stays connected: it shows up as ActiveConn
      if (c % 4 !== 0) {
        wire.inject(1, toVip(TCP_FIN | TCP_ACK));
        wire.inject(2, fromRs(TCP_FIN | TCP_ACK));
        wire.inject(1, toVip(TCP_ACK));
      }
      d.step(wire, now);
      wire.sent.length = 0;
      now += 1;
    }
    const reader = new StatsReader(d.stats.serviceCapacity, d.stats.destCapacity, [d.stats]);
    const svc = d.services.getService(key)!;
    process.stdout.write(`\n-s ${sched}\n`);
    process.stdout.write(
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn    Conns   InPkts  OutPkts\n',
    );
    for (const dest of svc.dests) {
      const st = reader.read(KIND_DEST, dest.id);
      process.stdout.write(
        `  -> ${pad(`${formatAddress(4, dest.addr)}:${dest.port}`, 28)} ${pad('Masq', 7)} ${pad(dest.weight, 6, true)} ${pad(
          d.live.active[dest.id]!,
          10,
          true,
        )} ${pad(d.live.inactive[dest.id]!, 9, true)} ${pad(st.conns, 8, true)} ${pad(st.inpkts, 8, true)} ${pad(
          st.outpkts,
          8,
          true,
        )}\n`,
      );
    }
    const drops = [...d.engine.drops.entries()].filter(([, n]) => n > 0);
    process.stdout.write(
      `  drops: ${drops.length === 0 ? 'none' : drops.map(([r, n]) => `${DROP_REASON_NAMES[r]}=${n}`).join(' ')}\n`,
    );
  }
  return 0;
}
