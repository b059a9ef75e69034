/**
 * End-to-end data-plane micro-benchmark (DESIGN hot-path rule 11): ns per packet through the real
 * Engine.processBatch on a FrameBatch of 64 slots — parse + connection lookup + forwarding rewrite
 * (NAT: addresses, ports, incremental checksums; every mode: the Ethernet header) — for 64-byte
 * TCP/IPv4 frames of established flows, at N = 1, 1,000, 100,000 and 1,000,000 connections.
 *
 * Method: a Director per (mode, N) with a director topology like test/helpers/topo.ts; N connections are
 * created through the engine itself (client SYNs), then every batch slot is refilled with a prebuilt
 * ACK frame of the next flow (flows visited in a shuffled order, so at large N the table is touched
 * randomly, as by real traffic) and the batch goes through processBatch. The refill (16 Int32 stores
 * per slot plus start/len/ifindex) is timed alone and subtracted; both are reported. Rounds of 2^20
 * packets after a warm-up pass over every flow; the median round is reported.
 *
 * Also: new-connection cost (SYN -> service lookup -> scheduler -> conn create -> NAT) with wlc and mh
 * over 10 real servers.
 *
 * Run: npx tsc -p . && node --expose-gc dist/bench/pipeline.bench.js [N ...] [nat|dr|tun|wlc|mh ...]
 * (prints a markdown table on stdout, progress on stderr; the new-connection rows show the table's
 * final connection count in the conns column)
 */
import { Director } from '../src/core/director.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL } from '../src/core/services.js';
import { parseMac } from '../src/packet/addr.js';
import { ADDR_D } from '../src/conn/table.js';
import { rewriteAddrPort } from '../src/fwd/rewrite.js';
import { ipv4VerifyHeaderChecksum, l4ChecksumVerify } from '../src/packet/checksum.js';
import { FrameBatch, HEADROOM, VERDICT_TX } from '../src/packet/frame.js';
import { parseFrame } from '../src/packet/parse.js';
import { IPPROTO_TCP, PacketView, TCP_ACK, TCP_SYN } from '../src/packet/view.js';

const gc = (globalThis as { gc?: () => void }).gc;
const BATCH = 64;
const FRAME = 64; // 14 Ethernet + 20 IPv4 + 20 TCP + 10 payload
const WORDS = FRAME / 4;
const ROUND = 1 << 20; // packets per measured round
const ROUNDS = 7;

const args = process.argv.slice(2);
const argN = args.map(Number).filter((n) => n > 0);
const argCases = args.filter((a) => !(Number(a) > 0));
const SIZES = argN.length > 0 ? argN : [1, 1_000, 100_000, 1_000_000];
const wanted = (c: string): boolean => argCases.length === 0 || argCases.includes(c);

const mac = (s: string): Uint8Array => parseMac(s)!;
const MAC_ETH0 = mac('02:00:00:00:01:01');
const MAC_ETH1 = mac('02:00:00:00:02:01');
const MAC_ETH2 = mac('02:00:00:00:03:01');
const MAC_ROUTER = mac('02:00:00:00:00:fe');
const MAC_TUNROUTER = mac('02:00:00:00:03:fe');
const MAC_RS = mac('02:00:00:00:00:51');

const ip = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const wv = (x: number): Uint32Array => Uint32Array.of(x, 0, 0, 0);
const VIP = ip(10, 0, 0, 100);
const NAT_PORT = 80;
const RS_PORT = 8080;
const rsAddr = (k: number): number => ip(172, 16, 0, 2 + k);
const tunRsAddr = (k: number): number => ip(198, 51, 100, 1 + k);
/** flow k: clients behind the default router, 64 ports per address */
const caddrOf = (k: number): number => (ip(100, 64, 0, 0) + (k >>> 6)) >>> 0;
const cportOf = (k: number): number => 1024 + (k & 63) * 911;

function sum16(buf: Uint8Array, off: number, len: number, s: number): number {
  for (let i = 0; i < len; i += 2) s += (buf[off + i]! << 8) | buf[off + i + 1]!;
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

/** A 64-byte Ethernet/IPv4/TCP frame with valid checksums, written at b[o]. */
function writeFrame(
  b: Uint8Array,
  o: number,
  dmac: Uint8Array,
  smac: Uint8Array,
  saddr: number,
  daddr: number,
  sport: number,
  dport: number,
  flags: number,
): void {
  b.fill(0, o, o + FRAME);
  b.set(dmac, o);
  b.set(smac, o + 6);
  put16(b, o + 12, 0x0800);
  const l3 = o + 14;
  b[l3] = 0x45;
  put16(b, l3 + 2, FRAME - 14);
  put16(b, l3 + 6, 0x4000); // DF
  b[l3 + 8] = 64;
  b[l3 + 9] = IPPROTO_TCP;
  put32(b, l3 + 12, saddr);
  put32(b, l3 + 16, daddr);
  put16(b, l3 + 10, fold(sum16(b, l3, 20, 0)));
  const l4 = l3 + 20;
  put16(b, l4, sport);
  put16(b, l4 + 2, dport);
  put32(b, l4 + 4, 1000);
  put32(b, l4 + 8, flags & TCP_ACK ? 2000 : 0);
  b[l4 + 12] = 0x50;
  b[l4 + 13] = flags;
  put16(b, l4 + 14, 65535);
  for (let i = 0; i < 10; i++) b[l4 + 20 + i] = i + 1;
  const tcpLen = FRAME - 34;
  let s = (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff) + IPPROTO_TCP + tcpLen;
  s = sum16(b, l4, tcpLen, s);
  put16(b, l4 + 16, fold(s));
}

function checkFrame(b: Uint8Array, o: number): void {
  const f = b.slice(o, o + FRAME);
  const v = new PacketView();
  if (parseFrame(f, 0, FRAME, v) !== 0) throw new Error('bench frame does not parse');
  if (!ipv4VerifyHeaderChecksum(f, v.l3Off, v.l3HeaderLen) || !l4ChecksumVerify(f, v))
    throw new Error('bench frame checksum');
}

type Mode = 'nat' | 'dr' | 'tun' | 'wlc' | 'mh';

function makeDirector(mode: Mode, maxConns: number): Director {
  const d = new Director({ maxConns, batchSize: BATCH, seed: 12345, nowMs: 0 });
  const net = d.net;
  net.setInterface({
    ifindex: 1,
    name: 'eth0',
    mac: MAC_ETH0,
    mtu: 1500,
    addresses: [
      { af: 4, words: wv(ip(10, 0, 0, 1)), prefixLen: 24 },
      { af: 4, words: wv(VIP), prefixLen: 32 },
    ],
  });
  net.setInterface({
    ifindex: 2,
    name: 'eth1',
    mac: MAC_ETH1,
    mtu: 1500,
    addresses: [{ af: 4, words: wv(ip(172, 16, 0, 1)), prefixLen: 24 }],
  });
  net.setInterface({
    ifindex: 3,
    name: 'eth2',
    mac: MAC_ETH2,
    mtu: 1500,
    addresses: [{ af: 4, words: wv(ip(192, 168, 50, 1)), prefixLen: 24 }],
  });
  net.addRoute({ af: 4, dst: wv(ip(10, 0, 0, 0)), prefixLen: 24, ifindex: 1 });
  net.addRoute({ af: 4, dst: wv(ip(172, 16, 0, 0)), prefixLen: 24, ifindex: 2 });
  net.addRoute({ af: 4, dst: wv(ip(192, 168, 50, 0)), prefixLen: 24, ifindex: 3 });
  net.addRoute({
    af: 4,
    dst: wv(ip(198, 51, 100, 0)),
    prefixLen: 24,
    gateway: wv(ip(192, 168, 50, 254)),
    ifindex: 3,
  });
  net.addRoute({ af: 4, dst: wv(0), prefixLen: 0, gateway: wv(ip(10, 0, 0, 254)), ifindex: 1 });
  net.setNeighbour(4, wv(ip(10, 0, 0, 254)), 1, MAC_ROUTER);
  net.setNeighbour(4, wv(ip(192, 168, 50, 254)), 3, MAC_TUNROUTER);
  for (let k = 0; k < 10; k++) net.setNeighbour(4, wv(rsAddr(k)), 2, MAC_RS);
  const key = { af: 4, proto: IPPROTO_TCP, addr: wv(VIP), port: NAT_PORT };
  const scheduler = mode === 'wlc' || mode === 'mh' ? mode : 'rr';
  d.services.addService(key, { scheduler });
  const nDests = mode === 'wlc' || mode === 'mh' ? 10 : 3;
  for (let k = 0; k < nDests; k++) {
    if (mode === 'dr') d.services.addDest(key, { addr: wv(rsAddr(k)), fwd: FWD_DROUTE });
    else if (mode === 'tun') d.services.addDest(key, { addr: wv(tunRsAddr(k)), fwd: FWD_TUNNEL });
    else d.services.addDest(key, { addr: wv(rsAddr(k)), port: RS_PORT, fwd: FWD_MASQ });
  }
  d.sync();
  return d;
}

/** A set of prebuilt frames (Int32 words) and the interface they arrive on. */
interface Frames {
  words: Int32Array;
  count: number;
  ifindex: number;
}

function buildFrames(
  count: number,
  ifindex: number,
  fill: (b: Uint8Array, o: number, j: number) => void,
): Frames {
  const words = new Int32Array(count * WORDS);
  const b = new Uint8Array(words.buffer);
  for (let j = 0; j < count; j++) fill(b, j * FRAME, j);
  checkFrame(b, 0);
  return { words, count, ifindex };
}

function shuffled(n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let x = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Frames [from, from + BATCH) (mod count) into the batch slots; returns the next cursor. */
function refill(batch: FrameBatch, bw: Int32Array, f: Frames, cursor: number): number {
  const src = f.words;
  const slotWords = batch.slotSize >>> 2;
  let c = cursor;
  for (let i = 0; i < BATCH; i++) {
    const d = i * slotWords + (HEADROOM >>> 2);
    const s = c * WORDS;
    for (let k = 0; k < WORDS; k++) bw[d + k] = src[s + k]!;
    batch.start[i] = d << 2;
    batch.len[i] = FRAME;
    batch.ifindex[i] = f.ifindex;
    if (++c === f.count) c = 0;
  }
  batch.count = BATCH;
  batch.total = BATCH;
  return c;
}

let now = 1000;
let batches = 0;

/** Run `packets` packets of f through d; throws unless every frame was transmitted. */
function pump(d: Director, f: Frames, cursor: number, packets: number): number {
  const batch = d.batch;
  const bw = new Int32Array(batch.buf.buffer);
  const e = d.engine;
  const before = e.transmitted;
  for (let p = 0; p < packets; p += BATCH) {
    cursor = refill(batch, bw, f, cursor);
    e.processBatch(batch, now);
    if ((++batches & 63) === 0) now++;
  }
  const tx = e.transmitted - before;
  if (tx !== packets) {
    const drops = [...e.drops].map((n, r) => [r, n]).filter(([, n]) => n! > 0);
    throw new Error(`only ${tx}/${packets} transmitted; drops by reason: ${JSON.stringify(drops)}`);
  }
  return cursor;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Wall-clock (hrtime) and process CPU time (user + system, all threads) per unit, as medians. */
interface Cost {
  wall: number;
  cpu: number;
}
class Rounds {
  private readonly wall: number[] = [];
  private readonly cpu: number[] = [];
  private t0 = 0n;
  private c0: NodeJS.CpuUsage = process.cpuUsage();
  start(): void {
    this.c0 = process.cpuUsage();
    this.t0 = process.hrtime.bigint();
  }
  stop(units: number): void {
    const wall = Number(process.hrtime.bigint() - this.t0);
    const c = process.cpuUsage(this.c0);
    this.wall.push(wall / units);
    this.cpu.push(((c.user + c.system) * 1000) / units);
  }
  result(): Cost {
    return { wall: median(this.wall), cpu: median(this.cpu) };
  }
}

/** Median ns per packet of the refill alone, over the same frame set. */
function refillCost(d: Director, f: Frames): Cost {
  const batch = d.batch;
  const bw = new Int32Array(batch.buf.buffer);
  let cursor = 0;
  for (let p = 0; p < ROUND; p += BATCH) cursor = refill(batch, bw, f, cursor); // warm-up
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    r.start();
    for (let p = 0; p < ROUND; p += BATCH) cursor = refill(batch, bw, f, cursor);
    r.stop(ROUND);
  }
  return r.result();
}

interface Measured {
  total: Cost;
  refill: Cost;
}

function measure(d: Director, f: Frames): Measured {
  let cursor = pump(d, f, 0, Math.max(ROUND >> 2, Math.ceil(f.count / BATCH) * BATCH)); // warm-up
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    r.start();
    cursor = pump(d, f, cursor, ROUND);
    r.stop(ROUND);
  }
  return { total: r.result(), refill: refillCost(d, f) };
}

/** Establish flows [0, n) through the engine with SYNs; returns each flow's real-server index (by order). */
function establish(d: Director, n: number, mode: Mode): Uint8Array {
  const syn = buildFrames(n, 1, (b, o, k) =>
    writeFrame(b, o, MAC_ETH0, MAC_ROUTER, caddrOf(k), VIP, cportOf(k), NAT_PORT, TCP_SYN),
  );
  const batch = d.batch;
  const bw = new Int32Array(batch.buf.buffer);
  const rs = new Uint8Array(n);
  const base = mode === 'tun' ? tunRsAddr(0) : rsAddr(0);
  const e = d.engine;
  for (let k = 0; k < n; k += BATCH) {
    refill(batch, bw, syn, k);
    const m = Math.min(BATCH, n - k);
    batch.count = m;
    batch.total = m;
    e.processBatch(batch, now);
    for (let i = 0; i < m; i++) {
      if (batch.verdict[i] !== VERDICT_TX)
        throw new Error(`SYN ${k + i} not transmitted: ${batch.reason[i]}`);
      // the real server chosen: the (outer, for TUN) destination address of the transmitted frame
      const o = batch.start[i]! + 14 + 16;
      const b = batch.buf;
      rs[k + i] = (((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0) - base;
    }
  }
  if (d.conns.count < n) throw new Error('not all flows established');
  return rs;
}

interface Row extends Measured {
  name: string;
  n: number;
}
const rows: Row[] = [];

function report(name: string, n: number, m: Measured): void {
  rows.push({ name, n, ...m });
  const net = m.total.wall - m.refill.wall;
  const cpu = m.total.cpu - m.refill.cpu;
  process.stderr.write(
    `${name} N=${n}: ${m.total.wall.toFixed(1)} ns/pkt incl. refill ${m.refill.wall.toFixed(1)} -> ${net.toFixed(1)} ns/pkt, ${(1e3 / net).toFixed(2)} Mpps; cpu -> ${cpu.toFixed(1)}\n`,
  );
}

function benchEstablished(mode: 'nat' | 'dr' | 'tun', n: number): void {
  gc?.();
  const d = makeDirector(mode, Math.max(n, 1024));
  const rs = establish(d, n, mode);
  const perm = shuffled(n);
  // client -> VIP ACKs of established flows, in shuffled flow order
  const inF = buildFrames(n, 1, (b, o, j) => {
    const k = perm[j]!;
    writeFrame(b, o, MAC_ETH0, MAC_ROUTER, caddrOf(k), VIP, cportOf(k), NAT_PORT, TCP_ACK);
  });
  const label = mode === 'nat' ? 'NAT in' : mode === 'dr' ? 'DR' : 'TUN ipip';
  report(label, n, measure(d, inF));
  if (mode === 'nat') {
    // real server -> client replies (SNAT back to the VIP)
    const outF = buildFrames(n, 2, (b, o, j) => {
      const k = perm[j]!;
      writeFrame(b, o, MAC_ETH1, MAC_RS, rsAddr(rs[k]!), caddrOf(k), RS_PORT, cportOf(k), TCP_ACK);
    });
    report('NAT out (reply)', n, measure(d, outF));
  }
}

function benchNew(sched: 'wlc' | 'mh'): void {
  gc?.();
  const total = ROUND / 16; // SYNs per round (each a new flow)
  const flows = total * (ROUNDS + 1);
  const d = makeDirector(sched, flows);
  const syn = buildFrames(flows, 1, (b, o, k) =>
    writeFrame(b, o, MAC_ETH0, MAC_ROUTER, caddrOf(k), VIP, cportOf(k), NAT_PORT, TCP_SYN),
  );
  let cursor = pump(d, syn, 0, total); // warm-up
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    r.start();
    cursor = pump(d, syn, cursor, total);
    r.stop(total);
  }
  report(`new conn (SYN + create, ${sched}, 10 RS)`, flows, {
    total: r.result(),
    refill: refillCost(d, syn),
  });
}

/**
 * Exactly the definition: parse + connection lookup + NAT rewrite of a 64-byte packet in a
 * batch, with the real functions the engine calls, and nothing else (no state machine, counters, next
 * hop or Ethernet output; the 'NAT in' row has everything).
 */
function benchCore(n: number): void {
  gc?.();
  const d = makeDirector('nat', Math.max(n, 1024));
  establish(d, n, 'nat');
  const perm = shuffled(n);
  const inF = buildFrames(n, 1, (b, o, j) => {
    const k = perm[j]!;
    writeFrame(b, o, MAC_ETH0, MAC_ROUTER, caddrOf(k), VIP, cportOf(k), NAT_PORT, TCP_ACK);
  });
  const batch = d.batch;
  const bw = new Int32Array(batch.buf.buffer);
  const conns = d.conns;
  const v = new PacketView();
  const a = new Uint32Array(4);
  let cursor = 0;
  let found = 0;
  const run = (packets: number): void => {
    const buf = batch.buf;
    for (let p = 0; p < packets; p += BATCH) {
      cursor = refill(batch, bw, inF, cursor);
      for (let i = 0; i < BATCH; i++) {
        if (parseFrame(buf, batch.start[i]!, batch.len[i]!, v) < 0) continue;
        const h = conns.lookupIn(v.proto, v.af, v.saddr, 0, v.sport, v.daddr, 0, v.dport);
        if (h < 0) continue;
        conns.readAddr(h, ADDR_D, a, 0);
        rewriteAddrPort(buf, v, 1, a, 0, conns.dport[h]!, false);
        found++;
      }
    }
  };
  run(Math.max(ROUND >> 2, n)); // warm-up
  found = 0;
  const r = new Rounds();
  for (let round = 0; round < ROUNDS; round++) {
    r.start();
    run(ROUND);
    r.stop(ROUND);
  }
  if (found !== ROUND * ROUNDS) throw new Error(`core: only ${found} packets found their connection`);
  report('parse + lookup + NAT rewrite (core)', n, { total: r.result(), refill: refillCost(d, inF) });
}

if (wanted('core')) for (const n of SIZES) benchCore(n);
for (const mode of ['nat', 'dr', 'tun'] as const) {
  if (wanted(mode)) for (const n of SIZES) benchEstablished(mode, n);
}
for (const sched of ['wlc', 'mh'] as const) if (wanted(sched)) benchNew(sched);

console.log(
  '| case (64 B TCP/IPv4, batch 64) | conns | wall ns/pkt | refill | net ns/pkt | Mpps (net) | CPU-time net ns/pkt |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const net = r.total.wall - r.refill.wall;
  const cpu = r.total.cpu - r.refill.cpu;
  console.log(
    `| ${r.name} | ${r.n.toLocaleString('en-US')} | ${r.total.wall.toFixed(1)} | ${r.refill.wall.toFixed(1)} | ${net.toFixed(1)} | ${(1e3 / net).toFixed(2)} | ${cpu.toFixed(1)} |`,
  );
}
