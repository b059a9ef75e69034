/**
 * Connection table micro-benchmark (DESIGN hot-path rule 11). Run: node --expose-gc dist/bench/conn.bench.js [N]
 * Prints a markdown table: bytes per connection at N (default 1,000,000) conns — total SharedArrayBuffer
 * bytes / N, including both hash indexes and the IPv6 pool — and ns per insert / lookupIn hit /
 * lookupOut hit / miss, against a JS Map of objects keyed by strings (the naive alternative).
 */
import { DestLive } from '../src/conn/dest-live.js';
import { ConnTable } from '../src/conn/table.js';
import { CONN_F_MASQ } from '../src/conn/flags.js';

const N = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;

function ns(start: bigint, ops: number): number {
  return Number(process.hrtime.bigint() - start) / ops;
}

// Deterministic client addresses/ports so lookups can regenerate keys without storing them.
const caddr = new Uint32Array(4);
const vaddr = Uint32Array.of(0xcfaf2c6e, 0, 0, 0);
const daddr = new Uint32Array(4);
function key(i: number): void {
  caddr[0] = (0x0a000000 + (i >>> 4)) >>> 0;
  daddr[0] = (0xac100000 + (i & 255)) >>> 0;
}
const cportOf = (i: number): number => 1024 + (i & 15) * 4000 + ((i >>> 20) & 0xfff);

function benchTable(): Record<string, number> {
  const live = new DestLive(256);
  for (let d = 0; d < 256; d++) live.reset(d, 0, 0);
  gc?.();
  const t = new ConnTable({ maxConns: N, seed: 1 }, live);
  let sink = 0;
  let s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    const cp = cportOf(i);
    const h = t.create(
      4,
      4,
      6,
      CONN_F_MASQ,
      caddr,
      0,
      cp,
      vaddr,
      0,
      80,
      daddr,
      0,
      8080,
      caddr,
      0,
      cp,
      0,
      0,
      i & 255,
      -1,
      3000,
      0,
    );
    if (h < 0) throw new Error(`create failed at ${i}`);
  }
  const insert = ns(s, N);
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    sink += t.lookupIn(6, 4, caddr, 0, cportOf(i), vaddr, 0, 80);
  }
  const inHit = ns(s, N);
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    const cp = cportOf(i);
    sink += t.lookupOut(6, 4, daddr, 0, 8080, caddr, 0, cp);
  }
  const outHit = ns(s, N);
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    sink += t.lookupIn(6, 4, caddr, 0, cportOf(i), vaddr, 0, 81);
  }
  const miss = ns(s, N);
  if (sink === 42) console.log('');
  return { bytes: t.buffer.byteLength / N, insert, inHit, outHit, miss };
}

interface MapConn {
  proto: number;
  caddr: number;
  cport: number;
  vaddr: number;
  vport: number;
  daddr: number;
  dport: number;
  state: number;
  flags: number;
  expiry: number;
  destId: number;
}

function benchMap(): Record<string, number> {
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const inMap = new Map<string, MapConn>();
  const outMap = new Map<string, MapConn>();
  let sink = 0;
  let s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    const cp = cportOf(i);
    const c: MapConn = {
      proto: 6,
      caddr: caddr[0]!,
      cport: cp,
      vaddr: vaddr[0]!,
      vport: 80,
      daddr: daddr[0]!,
      dport: 8080,
      state: 0,
      flags: 0,
      expiry: 3000,
      destId: i & 255,
    };
    inMap.set(`6|${c.caddr}|${cp}|${c.vaddr}|80`, c);
    outMap.set(`6|${c.daddr}|8080|${c.caddr}|${cp}`, c);
  }
  const insert = ns(s, N);
  gc?.();
  const bytes = (process.memoryUsage().heapUsed - before) / N;
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    sink += inMap.get(`6|${caddr[0]}|${cportOf(i)}|${vaddr[0]}|80`)!.cport;
  }
  const inHit = ns(s, N);
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    sink += outMap.get(`6|${daddr[0]}|8080|${caddr[0]}|${cportOf(i)}`)!.cport;
  }
  const outHit = ns(s, N);
  s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    key(i);
    sink += inMap.get(`6|${caddr[0]}|${cportOf(i)}|${vaddr[0]}|81`) === undefined ? 0 : 1;
  }
  const miss = ns(s, N);
  if (sink === 42) console.log('');
  return { bytes, insert, inHit, outHit, miss };
}

const t = benchTable();
const m = benchMap();
const f = (x: number): string => x.toFixed(1);
console.log(
  `Connection table, ${N.toLocaleString('en-US')} IPv4 NAT conns (node ${process.version}${gc ? '' : ', no --expose-gc: Map bytes approximate'})\n`,
);
console.log('| metric | ConnTable (SAB typed arrays) | JS Map of objects |');
console.log('|---|---|---|');
console.log(`| bytes per connection (incl. indexes) | ${f(t.bytes!)} | ${f(m.bytes!)} |`);
console.log(`| insert ns | ${f(t.insert!)} | ${f(m.insert!)} |`);
console.log(`| lookupIn hit ns | ${f(t.inHit!)} | ${f(m.inHit!)} |`);
console.log(`| lookupOut hit ns | ${f(t.outHit!)} | ${f(m.outHit!)} |`);
console.log(`| miss ns | ${f(t.miss!)} | ${f(m.miss!)} |`);
