/**
 * JIT warm-up of the data plane, run once in the worker before it takes real packets.
 *
 * Why: V8 starts every function in the interpreter and compiles the hot ones with TurboFan on a
 * background thread after it has seen them run. In a fresh daemon that compilation happened during
 * the first seconds of real traffic: ~12 % of the daemon's CPU in the first benchmark test (issue 3
 * profile, bench/README.md), and the first connections paid interpreter speed. Running a few thousand
 * synthetic connections through a throw-away Director first moves that cost to start-up.
 *
 * Invariants:
 * - The throw-away Director shares no state with the real one (its own tables, counters, pool), so
 *   nothing of the warm-up is visible in ipvsadm output, stats or drop counters.
 * - The traffic has the real shapes the engine meets on veth/virtio (partial checksums from the
 *   virtio-net header, full checksums, NAT both directions, DR, IPIP tunnel, UDP, FIN/RST close), so
 *   V8's type feedback is the real path's and nothing is deoptimised when real packets arrive. The
 *   engine only ever sees FrameBatch; the driver call sites in Director.step become 2-way
 *   polymorphic (MemoryWire, AfPacketDriver), which V8 handles with inline caches.
 * - Bounded: a fixed number of connections, ~100-300 ms of CPU once, allocation allowed (not hot path).
 */
import { Director } from '../core/director.js';
import { MemoryWire } from '../io/memory.js';
import { executeIpvsadm } from '../cli/ipvsadm/index.js';
import { parseAddress, parseMac } from '../packet/addr.js';
import { eth, ipv4, tcp, udp, type CsumMode } from '../packet/builder.js';
import { VNET_F_NEEDS_CSUM } from '../packet/frame.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/view.js';

const VIP = '10.255.0.100';
const RS = ['10.255.1.2', '10.255.1.3'];
const CLIENT_MAC = '02:ff:00:00:00:01';
const DIR_MAC0 = '02:ff:00:00:01:01';
const DIR_MAC1 = '02:ff:00:00:02:01';
const RS_MAC = ['02:ff:00:00:00:51', '02:ff:00:00:00:52'];

/** The table the warm-up runs against: every forwarding method the bench and tutorials use. */
const TABLE = [
  `-A -t ${VIP}:80 -s rr`,
  ...RS.map((r) => `-a -t ${VIP}:80 -r ${r}:80 -m -w 1`),
  `-A -t ${VIP}:81 -s wlc`,
  ...RS.map((r) => `-a -t ${VIP}:81 -r ${r}:81 -g -w 1`),
  `-A -t ${VIP}:82 -s rr -p 60`,
  ...RS.map((r) => `-a -t ${VIP}:82 -r ${r}:82 -i -w 1`),
  `-A -u ${VIP}:53 -s rr`,
  ...RS.map((r) => `-a -u ${VIP}:53 -r ${r}:53 -m -w 1`),
  '',
].join('\n');

function words(a: string): Uint32Array {
  return parseAddress(a)!.words;
}

function makeDirector(maxConns: number, batchSize: number, slotSize?: number): Director {
  const d = new Director({ maxConns, batchSize, seed: 7, nowMs: 1000, ...(slotSize ? { slotSize } : {}) });
  d.net.setInterface({
    ifindex: 1,
    name: 'wu0',
    mac: parseMac(DIR_MAC0)!,
    mtu: 1500,
    addresses: [
      { af: 4, words: words('10.255.0.1'), prefixLen: 24 },
      { af: 4, words: words(VIP), prefixLen: 32 },
    ],
  });
  d.net.setInterface({
    ifindex: 2,
    name: 'wu1',
    mac: parseMac(DIR_MAC1)!,
    mtu: 1500,
    addresses: [{ af: 4, words: words('10.255.1.1'), prefixLen: 24 }],
  });
  d.net.addRoute({ af: 4, dst: words('10.255.0.0'), prefixLen: 24, ifindex: 1 });
  d.net.addRoute({ af: 4, dst: words('10.255.1.0'), prefixLen: 24, ifindex: 2 });
  d.net.addRoute({ af: 4, dst: words('0.0.0.0'), prefixLen: 0, gateway: words('10.255.0.254'), ifindex: 1 });
  d.net.setNeighbour(4, words('10.255.0.254'), 1, parseMac(CLIENT_MAC)!);
  RS.forEach((r, k) => d.net.setNeighbour(4, words(r), 2, parseMac(RS_MAC[k]!)!));
  return d;
}

export interface WarmupResult {
  connections: number;
  frames: number;
  sent: number;
  ms: number;
}

/**
 * Run `connections` synthetic connections (spread over NAT, DR, TUN and UDP) through a throw-away
 * Director with the same batch and slot geometry as the real one.
 */
export function warmUpDataPlane(
  opts: { connections?: number; batchSize?: number; slotSize?: number } = {},
): WarmupResult {
  const started = performance.now();
  const connections = opts.connections ?? 3000;
  const d = makeDirector(1 << 14, opts.batchSize ?? 64, opts.slotSize);
  const wire = new MemoryWire();
  wire.keepDropped = false;
  let now = 1000;
  executeIpvsadm(['-R'], { director: d, nowMs: now, stdin: TABLE });
  d.step(wire, now);

  const body = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: warm\r\n\r\n');
  const reply = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const partial = { vnetFlags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 };
  const partialUdp = { vnetFlags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 };
  let frames = 0;
  let sent = 0;
  const GROUP = 16;
  for (let c0 = 0; c0 < connections; c0 += GROUP) {
    const n = Math.min(GROUP, connections - c0);
    // phase 1: the client side opens (and, for NAT, the server answers in phase 2)
    const chosen: string[] = [];
    for (let c = c0; c < c0 + n; c++) {
      const src = `198.18.${(c >> 8) & 0xff}.${c & 0xff}`;
      const sport = 20000 + (c % 40000);
      const kind = c % 8; // 0-3 NAT, 4-5 DR, 6 TUN, 7 UDP
      const dport = kind < 4 ? 80 : kind < 6 ? 81 : kind === 6 ? 82 : 53;
      const csum: CsumMode = c % 2 === 0 ? 'partial' : 'good';
      const meta = csum === 'partial' ? (kind === 7 ? partialUdp : partial) : {};
      const l4 =
        kind === 7
          ? udp({ sport, dport, payload: body, csum })
          : tcp({ sport, dport, flags: TCP_SYN, seq: 1, mss: 1460, csum });
      wire.inject(1, eth({ src: CLIENT_MAC, dst: DIR_MAC0 }, ipv4({ src, dst: VIP, ttl: 64 }, l4)), meta);
      frames++;
    }
    d.step(wire, now);
    for (const f of wire.sent) chosen.push(`${f.bytes[30]}.${f.bytes[31]}.${f.bytes[32]}.${f.bytes[33]}`);
    sent += wire.sent.length;
    wire.sent.length = 0;
    wire.toKernel.length = 0;
    for (let c = c0, k = 0; c < c0 + n; c++, k++) {
      const src = `198.18.${(c >> 8) & 0xff}.${c & 0xff}`;
      const sport = 20000 + (c % 40000);
      const kind = c % 8;
      const dport = kind < 4 ? 80 : kind < 6 ? 81 : kind === 6 ? 82 : 53;
      const csum: CsumMode = c % 2 === 0 ? 'partial' : 'good';
      const meta = csum === 'partial' ? (kind === 7 ? partialUdp : partial) : {};
      const toVip = (flags: number, seq: number, payload?: Uint8Array): void => {
        wire.inject(
          1,
          eth(
            { src: CLIENT_MAC, dst: DIR_MAC0 },
            ipv4(
              { src, dst: VIP, ttl: 64 },
              tcp({ sport, dport, flags, seq, ack: 1, csum, ...(payload ? { payload } : {}) }),
            ),
          ),
          meta,
        );
        frames++;
      };
      const rs = chosen[k] ?? RS[0]!;
      const rsMac = RS_MAC[Math.max(0, RS.indexOf(rs))]!;
      const fromRs = (flags: number, seq: number, payload?: Uint8Array): void => {
        wire.inject(
          2,
          eth(
            { src: rsMac, dst: DIR_MAC1 },
            ipv4(
              { src: rs, dst: src, ttl: 64 },
              kind === 7
                ? udp({ sport: dport, dport: sport, payload: payload ?? reply, csum })
                : tcp({
                    sport: dport,
                    dport: sport,
                    flags,
                    seq,
                    ack: 2,
                    csum,
                    ...(payload ? { payload } : {}),
                  }),
            ),
          ),
          meta,
        );
        frames++;
      };
      if (kind === 7) {
        fromRs(0, 0, reply);
        continue;
      }
      if (kind < 4) fromRs(TCP_SYN | TCP_ACK, 1);
      toVip(TCP_ACK, 2);
      toVip(TCP_ACK, 2, body);
      if (kind < 4) {
        fromRs(TCP_ACK, 2, reply);
        fromRs(TCP_FIN | TCP_ACK, 2 + reply.length);
      }
      if (c % 16 === 5) toVip(TCP_RST, 2 + body.length);
      else {
        toVip(TCP_FIN | TCP_ACK, 2 + body.length);
        toVip(TCP_ACK, 3 + body.length);
      }
    }
    d.step(wire, now);
    sent += wire.sent.length;
    wire.sent.length = 0;
    wire.toKernel.length = 0;
    now += 1;
  }
  // let the connection timers and the estimator run over what was created
  d.step(wire, now + 120_000);
  return { connections, frames, sent, ms: performance.now() - started };
}
