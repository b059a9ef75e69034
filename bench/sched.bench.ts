/**
 * Scheduler micro-benchmark (hot-path rule 11): ns per schedule() decision for every registered
 * scheduler at 10, 100 and 1,000 destinations with random live counters, plus the cost of mh's
 * update() (permutation + population) at the default table size 4093.
 *
 * Run: npx tsc -p . && node dist/bench/sched.bench.js [name ...]   (prints a markdown table; names
 * restrict the run to those schedulers and skip the mh update() table)
 */
import { DestLive } from '../src/conn/dest-live.js';
import { createScheduler, schedulerNames } from '../src/sched/index.js';
import type { SchedDests, SchedFlow } from '../src/sched/types.js';

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const rnd = xorshift(0x5eed);

function makeDests(live: DestLive, n: number): SchedDests {
  const d = {
    count: n,
    id: new Int32Array(n),
    weight: new Int32Array(n),
    lastWeight: new Int32Array(n),
    af: new Uint8Array(n).fill(4),
    addr: new Uint32Array(n * 4),
    port: new Uint16Array(n).fill(80),
    live,
  };
  for (let i = 0; i < n; i++) {
    d.id[i] = i;
    d.weight[i] = 1 + (rnd() % 100);
    d.lastWeight[i] = d.weight[i]!;
    d.addr[i * 4] = (0x0a000000 + i) >>> 0;
    live.reset(i, 0, 0);
    live.active[i] = rnd() % 1000;
    live.inactive[i] = rnd() % 5000;
  }
  return d;
}

/** A pool of flows, so hash schedulers see many sources and lblc/lblcr a bounded set of daddrs. */
const FLOWS = 1024;
const flows: SchedFlow[] = [];
for (let i = 0; i < FLOWS; i++) {
  const saddr = new Uint32Array(4);
  const daddr = new Uint32Array(4);
  saddr[0] = rnd();
  daddr[0] = (0xc0a80000 + (rnd() & 0xff)) >>> 0;
  flows.push({ af: 4, proto: 6, saddr, daddr, sport: 1024 + (rnd() & 0x7fff), dport: 80 });
}

function bench(name: string, n: number): number {
  const live = new DestLive(n);
  const d = makeDests(live, n);
  const s = createScheduler(name, { random32: rnd });
  s.update(d, null);
  let sink = 0;
  const warm = 20_000;
  for (let i = 0; i < warm; i++) sink += s.schedule(flows[i & (FLOWS - 1)]!, i);
  // size the run to ~100 ms
  let iters = 10_000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink += s.schedule(flows[i & (FLOWS - 1)]!, i);
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt > 100e6 || iters >= 1 << 24) {
      if (sink === 0.5) console.log('');
      return dt / iters;
    }
    iters *= 2;
  }
}

function benchMhUpdate(n: number): number {
  const live = new DestLive(n);
  const d = makeDests(live, n);
  const s = createScheduler('mh', { mhTableSize: 4093 });
  s.update(d, null);
  const iters = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) s.update(d, d);
  return Number(process.hrtime.bigint() - t0) / iters;
}

const only = process.argv.slice(2);
const sizes = [10, 100, 1000];
console.log('| scheduler | ' + sizes.map((n) => `${n} dests (ns/decision)`).join(' | ') + ' |');
console.log('|---|' + sizes.map(() => '---:').join('|') + '|');
for (const name of schedulerNames()) {
  if (only.length > 0 && !only.includes(name)) continue;
  const cells = sizes.map((n) => bench(name, n).toFixed(1));
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
if (only.length > 0) process.exit(0);
console.log('');
console.log('| mh update(), table 4093 | ' + sizes.map((n) => `${n} dests`).join(' | ') + ' |');
console.log('|---|' + sizes.map(() => '---:').join('|') + '|');
console.log('| µs per update | ' + sizes.map((n) => (benchMhUpdate(n) / 1000).toFixed(1)).join(' | ') + ' |');
