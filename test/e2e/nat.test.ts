/**
 * NAT (-m) end to end with three real servers running nginx, each answering its own name.
 *
 *   client ns (10.91.0.2 + 10.91.0.20-35) --- director ns eth0 10.91.0.1, VIP 10.91.0.100/24
 *                                             director ns eth1 172.31.0.1 --- bridge (switch ns)
 *                                                  rs1 172.31.0.11, rs2 .12, rs3 .13 (default via .1)
 *
 * The director is the real servers' gateway with ip_forward=1, as an operator sets it up. One topology
 * for the whole file; subtests replace the service with `ipvsadm -C` / `-A` / `-E` and zero the
 * counters with `-Z`, and every distribution is checked against `ipvsadm -L -n --stats` too.
 * Scheduler promises are those of ipvs-reference §3; persistence §4.4; deleted dests §4.5 (with the
 * default expire_nodest_conn=0 packets of a deleted dest's connections are dropped).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { e2eUnavailable, Lab, sleep, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';
import { startUdpEcho, udpExchange, type EchoLog } from '../helpers/udp.js';

const VIP = '10.91.0.100';
const CLIENT = '10.91.0.2';
const DIRECTOR = '10.91.0.1';
const RS = ['172.31.0.11', '172.31.0.12', '172.31.0.13'] as const;
const NAMES = ['rs1', 'rs2', 'rs3'] as const;
/** Extra client addresses for the source-hashing schedulers and persistence. */
const SOURCES = Array.from({ length: 16 }, (_, i) => `10.91.0.${20 + i}`);
const UDP_PORT = 5300;
/** Size of /files/big on each real server; the slow downloads read it at SLOW_RATE bytes/s. */
const BIG = 256 * 1024;
const SLOW_RATE = 32 * 1024;

const skip = e2eUnavailable('curl', 'nginx', 'socat');

let lab: Lab;
let client: Netns;
let director: Netns;
const bigFiles: Buffer[] = [];
/** Every datagram the UDP echo servers received, in arrival order. */
const received: EchoLog[] = [];
const bigDatagram = crypto.randomBytes(4000);

/**
 * The datagrams the echo servers reported from the given client address:ports, once `n` arrived (or
 * after 3 s). Three servers report through three pipes, so only per-server counts are meaningful,
 * not the order across servers.
 */
async function receivedFrom(froms: readonly string[], n: number): Promise<EchoLog[]> {
  // the reports are read by this process's event loop, which the synchronous client run blocked
  const pick = (): EchoLog[] => received.filter((r) => froms.includes(r.from));
  const deadline = Date.now() + 3000;
  while (pick().length < n && Date.now() < deadline) await sleep(50);
  await sleep(100); // and no more than n
  return pick();
}

/** The Ip: counters of /proc/net/snmp in ns. */
function snmp(ns: Netns): Record<string, number> {
  const ip = ns
    .sh('cat /proc/net/snmp')
    .split('\n')
    .filter((l) => l.startsWith('Ip:'))
    .map((l) => l.split(/\s+/));
  return Object.fromEntries(ip[0]!.map((k, i) => [k, Number(ip[1]![i])]));
}

/** Every namespace of the topology, for the RST counters in diag(). */
const everyNs: Netns[] = [];

function diag(): string {
  // cumulative Tcp OutRsts per namespace: who reset a connection that a test saw fail
  const rsts = everyNs.map((ns) => {
    const tcp = ns
      .sh('cat /proc/net/snmp')
      .split('\n')
      .filter((l) => l.startsWith('Tcp:'))
      .map((l) => l.split(/\s+/));
    return `${ns.name} ${tcp[1]![tcp[0]!.indexOf('OutRsts')]}`;
  });
  return `${director.run('ipvsadm -L -n --stats; ipvsadm -L -n -c; lvsd status').stdout}\nTcp OutRsts: ${rsts.join(', ')}`;
}

/** Replace the table with one service on VIP:80 (NAT to each RS's port 80). */
function tcpService(opts: string, weights: readonly number[] = [1, 1, 1]): void {
  director.sh(
    [
      'ipvsadm -C',
      `ipvsadm -A -t ${VIP}:80 ${opts}`,
      ...RS.map((rs, i) => `ipvsadm -a -t ${VIP}:80 -r ${rs}:80 -m -w ${weights[i]}`),
      'ipvsadm -Z',
    ].join('\n'),
  );
}

/**
 * n sequential HTTP requests to the VIP from `source` (default: the client's primary address), one curl
 * process (process start-up dominates on a loaded machine): `Connection: close` makes every URL a new
 * TCP connection, opened after the previous one was closed. A failed request prints FAIL.
 */
function curlNames(n: number, source?: string): string[] {
  const iface = source ? `--interface ${source} ` : '';
  const urls = Array.from({ length: n }, () => `http://${VIP}/`).join(' ');
  const out = client.run(`curl -s --max-time 3 -H 'Connection: close' -w '%{http_code}\\n' ${iface}${urls}`, {
    timeoutMs: 60000,
  }).stdout;
  // each transfer prints its body ("rsN\n") then its status; a failed one prints only "000"
  const names: string[] = [];
  let body: string | null = null;
  for (const line of out.split('\n')) {
    if (line === '200' && body !== null) names.push(body);
    else if (/^\d{3}$/.test(line)) names.push('FAIL');
    else {
      body = line;
      continue;
    }
    body = null;
  }
  return names;
}

/** Run assertions; on failure append the director's table, connections and status to the message. */
function withDiag(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    // the reporter prints the stack, which already holds the message
    if (e instanceof Error) e.stack = `${e.stack}\n--- director ---\n${diag()}`;
    throw e;
  }
}

function tally(names: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return c;
}

interface Row {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

/** `ipvsadm -L -n --stats`: the service line for proto/VIP:port and its destinations by address. */
function stats(proto: 'TCP' | 'UDP', port: number): { svc: Row; dests: Record<string, Row>; text: string } {
  const text = director.sh('ipvsadm -L -n --stats');
  const num = (s: string): number => {
    const m = /^(\d+)([KMG]?)$/.exec(s);
    assert.ok(m, `number ${s} in\n${text}`);
    return Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]!;
  };
  const row = (m: RegExpMatchArray): Row => ({
    conns: num(m[1]!),
    inPkts: num(m[2]!),
    outPkts: num(m[3]!),
    inBytes: num(m[4]!),
    outBytes: num(m[5]!),
  });
  const cols = ' +(\\S+) +(\\S+) +(\\S+) +(\\S+) +(\\S+)';
  const lines = text.split('\n');
  const start = lines.findIndex((l) =>
    new RegExp(`^${proto} +${VIP.replaceAll('.', '\\.')}:${port} `).test(l),
  );
  assert.ok(start >= 0, `no ${proto} ${VIP}:${port} in\n${text}`);
  const svc = row(lines[start]!.match(new RegExp(`^\\S+ +\\S+${cols}`))!);
  const dests: Record<string, Row> = {};
  for (const l of lines.slice(start + 1)) {
    const m = l.match(new RegExp(`^ +-> (\\S+):\\d+${cols}`));
    if (!m) break;
    dests[m[1]!] = row(m.slice(1) as unknown as RegExpMatchArray);
  }
  return { svc, dests, text };
}

/** Per-dest connection counts in --stats equal what the clients saw, and the service total matches. */
function assertStatsMatch(proto: 'TCP' | 'UDP', port: number, seen: Record<string, number>): void {
  const s = stats(proto, port);
  const total = Object.values(seen).reduce((a, b) => a + b, 0);
  assert.equal(s.svc.conns, total, `service Conns vs ${JSON.stringify(seen)}\n${s.text}`);
  for (const [i, rs] of RS.entries()) {
    const d = s.dests[rs];
    if (!d) continue; // deleted dest: not listed
    assert.equal(d.conns, seen[NAMES[i]!] ?? 0, `${rs} Conns vs ${JSON.stringify(seen)}\n${s.text}`);
  }
}

/** Wait until the director lists an ESTABLISHED connection from src; return its destination address. */
async function establishedDest(src: string): Promise<string> {
  const deadline = Date.now() + 10000;
  let last = '';
  while (Date.now() < deadline) {
    last = director.sh('ipvsadm -L -n -c');
    const m = last.match(
      new RegExp(`^TCP +\\S+ +ESTABLISHED +${src.replaceAll('.', '\\.')} +\\S+ +(\\S+):80 *$`, 'm'),
    );
    if (m) return m[1]!;
    await sleep(100);
  }
  assert.fail(`no ESTABLISHED connection from ${src}\n${last}\n${diag()}`);
}

/** A rate-limited download of /files/big through the VIP from CLIENT:port (~8 s unhindered). */
function slowDownload(
  port: number,
  out: string,
  maxTime: number,
): { child: ChildProcess; done: Promise<number> } {
  const child = client.spawn(
    `exec curl -s --max-time ${maxTime} --local-port ${port} --limit-rate ${SLOW_RATE} -o ${out} http://${VIP}/slow/big`,
  );
  return { child, done: new Promise((r) => child.on('exit', (c, sig) => r(c ?? (sig ? -1 : -2)))) };
}

function fileSize(p: string): number {
  return fs.existsSync(p) ? fs.statSync(p).size : 0;
}

function dropCount(reason: string): number {
  const j = JSON.parse(director.sh('lvsd status --json')) as unknown;
  // find the counter wherever status --json keeps drop reasons
  let found = 0;
  const walk = (o: unknown): void => {
    if (o === null || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      if (k === reason && typeof v === 'number') found += v;
      else walk(v);
    }
  };
  walk(j);
  return found;
}

/** Bucket of the kernel's sh table for an IPv4 source (port 0, offset 0): hash_32(addr, 8). */
function shBucket(addr: string): number {
  const a = addr.split('.').reduce((x, o) => ((x << 8) | Number(o)) >>> 0, 0);
  return Math.imul(a, 0x61c88647) >>> 24;
}

/**
 * The kernel's wrr (ipvs-reference §3) fed the same commands as the test: dests added one by one
 * (each add recomputes gcd and max weight, resets the cursor to the list head and keeps cw unless it
 * is 0 or above the new max), then `n` picks. Returns dest indexes.
 */
function wrrSequence(weights: readonly number[], n: number): number[] {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let cw = 0;
  let mw = 0;
  let di = 1;
  let cl = -1; // -1 is the list head
  for (let added = 1; added <= weights.length; added++) {
    const ws = weights.slice(0, added).filter((w) => w > 0);
    di = ws.reduce(gcd, 0) || 1;
    mw = Math.max(0, ...ws) - (di - 1);
    cl = -1;
    if (cw > mw || cw === 0) cw = mw;
    else if (di > 1) cw = Math.floor(cw / di) * di + 1;
  }
  const picks: number[] = [];
  while (picks.length < n) {
    cl++;
    if (cl === weights.length) {
      cl = -1;
      cw -= di;
      if (cw <= 0) cw = mw;
      continue;
    }
    if (weights[cl]! >= cw) picks.push(cl);
  }
  return picks;
}

describe('NAT with three nginx real servers', { skip: skip ?? false, timeout: 300000 }, () => {
  before(async () => {
    lab = new Lab('nat');
    client = lab.ns('cl');
    director = lab.ns('dir');
    const sw = lab.ns('sw');
    everyNs.push(client, director);
    sw.sh('ip link add br0 type bridge; ip link set br0 up');
    lab.veth(client, 'eth0', director, 'eth0');
    lab.veth(director, 'eth1', sw, 'p0');
    sw.sh('ip link set p0 master br0; ip link set p0 up');
    client.sh(
      [
        'ip link set eth0 up',
        `ip addr add ${CLIENT}/24 dev eth0`,
        ...SOURCES.map((a) => `ip addr add ${a}/24 dev eth0`),
        // small receive buffers so that curl --limit-rate throttles the sender end to end
        "sysctl -qw net.ipv4.tcp_rmem='4096 16384 32768'",
      ].join('\n'),
    );
    director.sh(
      [
        'ip link set eth0 up',
        `ip addr add ${DIRECTOR}/24 dev eth0`,
        `ip addr add ${VIP}/24 dev eth0`,
        'ip link set eth1 up',
        'ip addr add 172.31.0.1/24 dev eth1',
        'echo 1 > /proc/sys/net/ipv4/ip_forward',
      ].join('\n'),
    );
    for (const [i, rs] of RS.entries()) {
      const ns = lab.ns(`r${i + 1}`);
      everyNs.push(ns);
      lab.veth(ns, 'eth0', sw, `p${i + 1}`);
      sw.sh(`ip link set p${i + 1} master br0; ip link set p${i + 1} up`);
      ns.sh(`ip link set eth0 up; ip addr add ${rs}/24 dev eth0; ip route add default via 172.31.0.1`);
      const big = crypto.randomBytes(BIG);
      bigFiles.push(big);
      // /slow/ is sent at SLOW_RATE by nginx itself: curl's --limit-rate alone let a 256 KiB download
      // finish in ~1.5 s at times, before the test could see its connection
      startNginx(lab, ns, { listen: [`${rs}:80`], body: NAMES[i]!, files: { big }, slowRate: '32k' });
      await startUdpEcho(lab, ns, NAMES[i]!, rs, UDP_PORT, (r) => received.push(r));
    }
    // Management service: an echo on every director address, port 2222 (not a service port).
    director.spawn(`exec socat TCP-LISTEN:2222,fork,reuseaddr EXEC:cat`);
  });

  after(async () => {
    await lab?.cleanup();
  });

  it('wlc: sequential short connections spread over all servers', () => {
    // first on fresh dests: every finished connection stays inactive (TIME_WAIT), so each new one
    // goes to the least loaded server, in list order on ties
    tcpService('-s wlc');
    const names = curlNames(30);
    withDiag(() => {
      assert.deepEqual(tally(names), { rs1: 10, rs2: 10, rs3: 10 }, names.join(' '));
      assert.deepEqual(names.slice(0, 3), ['rs1', 'rs2', 'rs3']);
      assertStatsMatch('TCP', 80, tally(names));
    });
  });

  it('rr: an exact equal split, and --stats counts the requests', () => {
    tcpService('-s rr');
    const names = curlNames(30);
    withDiag(() => {
      assert.deepEqual(tally(names), { rs1: 10, rs2: 10, rs3: 10 }, names.join(' '));
      // rr walks the list in insertion order
      assert.deepEqual(names.slice(0, 6), ['rs1', 'rs2', 'rs3', 'rs1', 'rs2', 'rs3'], names.join(' '));
      assertStatsMatch('TCP', 80, tally(names));
      const s = stats('TCP', 80);
      // NAT sees both directions: at least SYN, ACK, request and FIN in; SYN-ACK, response, FIN out
      assert.ok(s.svc.inPkts >= 30 * 4 && s.svc.outPkts >= 30 * 3, s.text);
      // the request is ~80 bytes of HTTP plus 40-60 byte headers; the response ~150 bytes of HTTP
      assert.ok(s.svc.inBytes >= 30 * 4 * 40 + 30 * 60 && s.svc.outBytes >= 30 * 3 * 40 + 30 * 150, s.text);
      const field = (k: keyof Row): number => Object.values(s.dests).reduce((a, d) => a + d[k], 0);
      for (const k of ['inPkts', 'outPkts', 'inBytes', 'outBytes'] as const)
        assert.equal(field(k), s.svc[k], s.text);
    });
  });

  it('wrr 3/2/1: proportional to the weights over every full cycle', () => {
    tcpService('-s wrr', [3, 2, 1]);
    const names = curlNames(30);
    const expected = wrrSequence([3, 2, 1], 30).map((i) => NAMES[i]!);
    withDiag(() => {
      assert.deepEqual(names, expected);
      // every window of one full cycle (6 = 3+2+1 picks) holds the servers 3:2:1
      for (let i = 0; i + 6 <= names.length; i++)
        assert.deepEqual(
          tally(names.slice(i, i + 6)),
          { rs1: 3, rs2: 2, rs3: 1 },
          `window at ${i}: ${names.join(' ')}`,
        );
      assertStatsMatch('TCP', 80, tally(names));
    });
  });

  it('sh: one source address always lands on the same server; sources spread as the hash says', () => {
    tcpService('-s sh');
    const byServer: Record<string, string[]> = {};
    withDiag(() => {
      for (const src of SOURCES) {
        const names = curlNames(3, src);
        assert.equal(names.length, 3, `${src}: ${names.join(' ')}`);
        assert.equal(new Set(names).size, 1, `${src}: ${names.join(' ')}`);
        // 256 buckets filled rs1, rs2, rs3, rs1, ... (weight 1 each): bucket b -> dest b % 3
        assert.equal(names[0], NAMES[shBucket(src) % 3], src);
        (byServer[names[0]!] ??= []).push(src);
      }
      assert.ok(Object.keys(byServer).length >= 2, JSON.stringify(byServer));
    });
  });

  it('mh: consistent per source; deleting a server moves only the sources that were on it', () => {
    tcpService('-s mh');
    const before = new Map<string, string>();
    withDiag(() => {
      for (const src of SOURCES) {
        const names = curlNames(2, src);
        assert.equal(names.length, 2, `${src}: ${names.join(' ')}`);
        assert.equal(new Set(names).size, 1, `${src}: ${names.join(' ')}`);
        assert.notEqual(names[0], 'FAIL', src);
        before.set(src, names[0]!);
      }
      assert.ok(new Set(before.values()).size >= 2, JSON.stringify([...before]));
    });
    const victim = before.get(SOURCES[0]!)!;
    director.sh(`ipvsadm -d -t ${VIP}:80 -r ${RS[NAMES.indexOf(victim as 'rs1')]}:80`);
    withDiag(() => {
      for (const src of SOURCES) {
        const [now] = curlNames(1, src);
        const was = before.get(src)!;
        assert.ok(now !== undefined && now !== 'FAIL', src);
        if (was === victim) assert.notEqual(now, victim, `${src} still on deleted ${victim}`);
        else assert.equal(now, was, `${src} moved from ${was} to ${now} although only ${victim} was deleted`);
      }
    });
  });

  it('persistence (-p 300): one client stays on one server while other clients spread', () => {
    tcpService('-s rr -p 300');
    withDiag(() => {
      const mine = curlNames(9);
      assert.equal(mine.length, 9, mine.join(' '));
      assert.equal(new Set(mine).size, 1, mine.join(' '));
      assert.notEqual(mine[0], 'FAIL');
      const others = new Set<string>();
      for (const src of SOURCES.slice(0, 6)) {
        const names = curlNames(2, src);
        assert.equal(new Set(names).size, 1, `${src}: ${names.join(' ')}`);
        others.add(names[0]!);
      }
      // one template per client, each scheduled by rr: the six other clients cover all three servers
      assert.deepEqual([...others].sort(), ['rs1', 'rs2', 'rs3']);
      // and the first client is still where it was
      assert.deepEqual(curlNames(3), [mine[0], mine[0], mine[0]]);
      const list = director.sh('ipvsadm -L -n');
      assert.match(list, new RegExp(`TCP +${VIP.replaceAll('.', '\\.')}:80 rr persistent 300`), list);
    });
  });

  it('weight 0 quiesces: an open connection finishes, no new ones go to that server', async () => {
    tcpService('-s rr');
    const out = lab.file('quiesced.bin');
    const { done } = slowDownload(45000, out, 40);
    const rs = await establishedDest(`${CLIENT}:45000`);
    const idx = RS.indexOf(rs as (typeof RS)[number]);
    assert.ok(idx >= 0, rs);
    director.sh(`ipvsadm -e -t ${VIP}:80 -r ${rs}:80 -m -w 0`);
    const names = curlNames(12);
    const code = await done;
    withDiag(() => {
      const seen = tally(names);
      assert.equal(seen[NAMES[idx]!], undefined, `new connection to quiesced ${rs}: ${JSON.stringify(seen)}`);
      for (const [i, n] of NAMES.entries()) if (i !== idx) assert.equal(seen[n], 6, JSON.stringify(seen));
      assert.equal(code, 0, `slow download through quiesced ${rs} failed (curl ${code})`);
      assert.ok(fs.readFileSync(out).equals(bigFiles[idx]!), `download from ${rs} not intact`);
    });
  });

  it('deleting a server: new connections avoid it, its open connection is dropped (expire_nodest_conn=0)', async () => {
    tcpService('-s rr');
    const out = lab.file('deleted.bin');
    const { child, done } = slowDownload(45001, out, 40);
    let exited: number | null = null;
    void done.then((c) => (exited = c));
    const rs = await establishedDest(`${CLIENT}:45001`);
    const idx = RS.indexOf(rs as (typeof RS)[number]);
    const dropsBefore = dropCount('dest_unavailable');
    const atDelete = fileSize(out);
    director.sh(`ipvsadm -d -t ${VIP}:80 -r ${rs}:80`);
    const names = curlNames(12);
    // §4.5: the client's packets (ACKs, window updates) for the deleted dest are silently dropped,
    // while the server's (retransmissions) still reach the client, as in the kernel (ip_vs_out keeps
    // translating a connection whose dest is gone). So the server can never send beyond the last
    // window the client advertised before the delete (tcp_rmem max 32 KiB here): the client gets at
    // most that window plus what its own buffer held, trickling in with the server's RTO backoff,
    // and the transfer never completes.
    await sleep(4000);
    const later = fileSize(out);
    const stillRunning = exited === null;
    child.kill('SIGKILL');
    await done;
    withDiag(() => {
      const seen = tally(names);
      assert.equal(seen[NAMES[idx]!], undefined, `new connection to deleted ${rs}: ${JSON.stringify(seen)}`);
      for (const [i, n] of NAMES.entries()) if (i !== idx) assert.equal(seen[n], 6, JSON.stringify(seen));
      assert.ok(
        stillRunning,
        `the download through deleted ${rs} ended (curl ${exited}), ${later} of ${BIG} bytes`,
      );
      assert.ok(
        later < BIG && later - atDelete <= 2 * 32 * 1024,
        `download kept going: ${atDelete} bytes at the delete, ${later} of ${BIG} 4 s later`,
      );
      assert.ok(dropCount('dest_unavailable') > dropsBefore, 'no dest_unavailable drops counted');
    });
  });

  it('UDP with -o: datagrams from one client port are scheduled one by one', async () => {
    director.sh(
      [
        'ipvsadm -C',
        `ipvsadm -A -u ${VIP}:${UDP_PORT} -s rr -o`,
        ...RS.map((rs) => `ipvsadm -a -u ${VIP}:${UDP_PORT} -r ${rs}:${UDP_PORT} -m`),
        'ipvsadm -Z',
      ].join('\n'),
    );
    const payload = Buffer.from('ping');
    udpExchange(lab, client, {
      host: VIP,
      port: UDP_PORT,
      srcPort: 40000,
      count: 9,
      payload,
      timeoutMs: 300,
    });
    const got = await receivedFrom([`${CLIENT}:40000`], 9);
    withDiag(() => {
      assert.match(director.sh('ipvsadm -L -n'), /UDP +10\.91\.0\.100:5300 rr ops/);
      // each datagram reached a server: rr over the three, although all came from one client port
      assert.deepEqual(tally(got.map((r) => r.name)), { rs1: 3, rs2: 3, rs3: 3 }, JSON.stringify(got));
      assert.ok(
        got.every((r) => r.from === `${CLIENT}:40000` && r.len === 4),
        JSON.stringify(got),
      );
      assertStatsMatch('UDP', UDP_PORT, { rs1: 3, rs2: 3, rs3: 3 });
      // one-packet connections are not kept
      assert.doesNotMatch(director.sh('ipvsadm -L -n -c'), /UDP .*:40000 /);
    });
    // without -o the same client port is one connection: every datagram goes to one server
    director.sh(`ipvsadm -E -u ${VIP}:${UDP_PORT} -s rr`);
    const sticky = udpExchange(lab, client, { host: VIP, port: UDP_PORT, srcPort: 40001, count: 6, payload });
    withDiag(() => {
      assert.equal(new Set(sticky.map((r) => r.name)).size, 1, JSON.stringify(sticky));
      assert.ok(
        sticky.every((r) => r.intact && r.name !== 'TIMEOUT'),
        JSON.stringify(sticky),
      );
    });
  });

  it('UDP with -o: the replies come back to the client', () => {
    director.sh(
      [
        'ipvsadm -C',
        `ipvsadm -A -u ${VIP}:${UDP_PORT} -s rr -o`,
        ...RS.map((rs) => `ipvsadm -a -u ${VIP}:${UDP_PORT} -r ${rs}:${UDP_PORT} -m`),
      ].join('\n'),
    );
    const payload = Buffer.from('ping');
    const replies = udpExchange(lab, client, {
      host: VIP,
      port: UDP_PORT,
      srcPort: 40002,
      count: 3,
      payload,
      timeoutMs: 500,
    });
    withDiag(() => {
      // the kernel does not SNAT them (no connection to find): they come from each RIP
      assert.deepEqual(
        replies.map((r) => r.name),
        ['rs1', 'rs2', 'rs3'],
        JSON.stringify(replies),
      );
      assert.ok(
        replies.every((r) => r.intact),
        JSON.stringify(replies),
      );
    });
  });

  it('UDP datagrams of 4000 bytes fragment on the 1500-byte path and reach the server intact', async () => {
    director.sh(
      [
        'ipvsadm -C',
        `ipvsadm -A -u ${VIP}:${UDP_PORT} -s rr`,
        ...RS.map((rs) => `ipvsadm -a -u ${VIP}:${UDP_PORT} -r ${rs}:${UDP_PORT} -m`),
      ].join('\n'),
    );
    const before = snmp(client);
    for (const srcPort of [40010, 40011, 40012])
      udpExchange(lab, client, {
        host: VIP,
        port: UDP_PORT,
        srcPort,
        count: 1,
        payload: bigDatagram,
        timeoutMs: 300,
      });
    const after = snmp(client);
    const got = await receivedFrom(
      [40010, 40011, 40012].map((p) => `${CLIENT}:${p}`),
      3,
    );
    withDiag(() => {
      // three client ports are three connections: rr gives each its own server
      assert.deepEqual(tally(got.map((r) => r.name)), { rs1: 1, rs2: 1, rs3: 1 }, JSON.stringify(got));
      const sha = crypto.createHash('sha256').update(bigDatagram).digest('hex');
      assert.ok(
        got.every((r) => r.len === 4000 && r.sha256 === sha),
        JSON.stringify(got),
      );
      // the datagrams really were fragmented (the client's MTU is 1500): 3 fragments each
      assert.ok(after['FragCreates']! - before['FragCreates']! >= 3 * 3, JSON.stringify(after));
    });
  });

  it('UDP datagrams of 4000 bytes: the fragmented reply comes back intact', () => {
    const before = snmp(client);
    const replies = udpExchange(lab, client, {
      host: VIP,
      port: UDP_PORT,
      srcPort: 40013,
      count: 2,
      payload: bigDatagram,
      timeoutMs: 1000,
    });
    const after = snmp(client);
    withDiag(() => {
      assert.ok(
        replies.every((r) => r.intact && r.len === 4000),
        JSON.stringify(replies),
      );
      assert.ok(after['ReasmOKs']! - before['ReasmOKs']! >= 2, JSON.stringify(after));
    });
  });

  it("the director's own traffic: curl to a real server and management TCP are untouched", () => {
    tcpService('-s rr');
    withDiag(() => {
      // curl from the director to each real server's own address while the NAT service runs: the
      // replies come from RIP:80 like NAT replies do, but are addressed to the director itself
      for (const [i, rs] of RS.entries()) {
        const r = director.run(`curl -s --max-time 3 http://${rs}/`, { timeoutMs: 10000 });
        assert.equal(r.stdout, `${NAMES[i]}\n`, `director -> ${rs}: curl ${r.status}`);
      }
      // ssh-like management: TCP to the director's own address and to the VIP on a non-service port
      for (const addr of [DIRECTOR, VIP]) {
        const r = client.run(`echo hello-${addr} | socat -t 2 - TCP:${addr}:2222,connect-timeout=3`, {
          timeoutMs: 10000,
        });
        assert.equal(r.stdout, `hello-${addr}\n`, `${addr}:2222 ${r.status} ${r.stderr}`);
      }
      // and the service itself still balances
      assert.deepEqual(tally(curlNames(3)), { rs1: 1, rs2: 1, rs3: 1 });
    });
  });
});
