/** hsiphash, sh, dh and mh: kernel-exact hashing checked against independent BigInt references. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, MH_PRIMES } from '../../src/sched/index.js';
import { hsiphash32, sipHashBytes, sipOut } from '../../src/sched/hsiphash.js';
import type { Scheduler, SchedDests } from '../../src/sched/types.js';
import {
  SVC_F_SCHED_MH_FALLBACK,
  SVC_F_SCHED_MH_PORT,
  SVC_F_SCHED_SH_FALLBACK,
} from '../../src/sched/types.js';
import { SVC_F_SCHED_SH_PORT } from '../../src/sched/types.js';
import { LvsError } from '../../src/errors.js';
import { dests, flow4, flow6, makeDests, newLive, setOverload, xorshift } from './helpers.js';

// Kernel lib/siphash_kunit.c, 64-bit branch: key bytes 00..0f, message bytes 00..len-1.
const HSIPHASH_VECTORS = [0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7];
const KEY = [0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908] as const;

test('hsiphash: kernel 64-bit self-test vectors (SipHash-1-3, truncated to 32 bits)', () => {
  for (let len = 0; len < HSIPHASH_VECTORS.length; len++) {
    const msg = Uint8Array.from({ length: len }, (_, i) => i);
    sipHashBytes(msg, KEY[0], KEY[1], KEY[2], KEY[3], 1, 3);
    assert.equal(sipOut[1], HSIPHASH_VECTORS[len], `len ${len}`);
  }
  // the one-u32 fast path: bytes 00 01 02 03 little-endian = 0x03020100
  assert.equal(hsiphash32(0x03020100, KEY[0], KEY[1], KEY[2], KEY[3]), 0x88d38328);
  // and SipHash-2-4 of 15 bytes (reference vector 15) checks the multi-block path
  sipHashBytes(
    Uint8Array.from({ length: 15 }, (_, i) => i),
    KEY[0],
    KEY[1],
    KEY[2],
    KEY[3],
    2,
    4,
  );
  assert.equal(sipOut[0], 0xa129ca61);
  assert.equal(sipOut[1], 0x49be45e5);
});

/** Independent reference for hash_32(x, bits) with BigInt. */
function hash32Ref(x: number, bits: number): number {
  return Number(((BigInt(x >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));
}

function shFill(weights: number[], size: number): number[] {
  const out: number[] = [];
  let p = 0;
  let c = 0;
  for (let b = 0; b < size; b++) {
    out.push(p);
    if (++c >= weights[p]!) {
      c = 0;
      p = (p + 1) % weights.length;
    }
  }
  return out;
}

function mk(name: string, d: SchedDests, flags = 0, extra: object = {}): Scheduler {
  const s = createScheduler(name, { flags, ...extra });
  s.update(d, null);
  return s;
}

test('sh: bucket = hash_32(saddr, 8) over a weight-many consecutive fill', () => {
  const live = newLive(8);
  const w = [1, 2, 3];
  const s = mk('sh', dests(live, w));
  const fill = shFill(w, 256);
  assert.deepEqual(fill.slice(0, 8), [0, 1, 1, 2, 2, 2, 0, 1]);
  const rnd = xorshift(5);
  for (let i = 0; i < 500; i++) {
    const src = rnd();
    const expected = fill[hash32Ref(src, 8)];
    assert.equal(s.schedule(flow4(src), 0), expected);
    assert.equal(s.schedule(flow4(src, 0x01010101, 1234), 0), expected, 'port ignored without sh-port');
  }
  // concrete: 10.0.0.1: 0x0a000001 * 0x61c88647 = 0x27c88647 (mod 2^32), bucket 0x27 = 39 -> C
  assert.equal(hash32Ref(0x0a000001, 8), 39);
  assert.equal(s.schedule(flow4(0x0a000001), 0), 2);
  // IPv6 folds the four words by XOR
  const v6 = [0x20010db8, 0x1, 0x2, 0x3];
  const fold = (v6[0]! ^ v6[1]! ^ v6[2]! ^ v6[3]!) >>> 0;
  assert.equal(s.schedule(flow6(v6, [0, 0, 0, 1]), 0), fill[hash32Ref(fold, 8)]);
  // table bits 4..20 configurable
  const s12 = mk('sh', dests(live, w), 0, { shTabBits: 12 });
  const fill12 = shFill(w, 4096);
  assert.equal(s12.schedule(flow4(0xdeadbeef), 0), fill12[hash32Ref(0xdeadbeef, 12)]);
  assert.throws(
    () => createScheduler('sh', { shTabBits: 3 }),
    (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_RANGE',
  );
});

test('sh: distribution proportional to weight', () => {
  const live = newLive(8);
  const s = mk('sh', dests(live, [1, 2, 3]));
  const counts = [0, 0, 0];
  const rnd = xorshift(77);
  const N = 60000;
  for (let i = 0; i < N; i++) counts[s.schedule(flow4(rnd()), 0)]!++;
  // 256 buckets: 43, 86, 127
  const expected = [43 / 256, 86 / 256, 127 / 256];
  counts.forEach((c, i) => assert.ok(Math.abs(c / N - expected[i]!) < 0.02, `dest ${i}: ${c / N}`));
});

test('sh: quiesced target gives -1 without sh-fallback, another available dest with it', () => {
  const live = newLive(8);
  const d = dests(live, [1, 1, 0, 1]);
  const plain = mk('sh', d);
  const fb = mk('sh', d, SVC_F_SCHED_SH_FALLBACK);
  const rnd = xorshift(9);
  let hits = 0;
  for (let i = 0; i < 2000; i++) {
    const f = flow4(rnd());
    const p = plain.schedule(f, 0);
    const q = fb.schedule(f, 0);
    if (p === -1) {
      hits++;
      assert.ok(q >= 0 && q !== 2, 'fallback found an available dest');
    } else assert.equal(q, p, 'fallback does not change an available choice');
  }
  assert.ok(hits > 200, `the weight-0 dest owns a bucket in 4: ${hits}`);
  setOverload(live, 0, true);
  for (let i = 0; i < 500; i++) assert.notEqual(fb.schedule(flow4(rnd()), 0), 0);
  setOverload(live, 0, false);
});

test('sh: sh-port adds the source port for TCP/UDP/SCTP only', () => {
  const live = newLive(8);
  const d = dests(live, [1, 1, 1, 1]);
  const s = mk('sh', d, SVC_F_SCHED_SH_PORT);
  const fill = shFill([1, 1, 1, 1], 256);
  const seen = new Set<number>();
  for (let port = 1000; port < 1064; port++) {
    const p = s.schedule(flow4(0x0a000001, 1, port), 0);
    assert.equal(p, fill[hash32Ref(0x0a000001 + port, 8)]);
    seen.add(p);
  }
  assert.ok(seen.size >= 3, 'ports spread one source over dests');
  const icmp = flow4(0x0a000001, 1, 1000, 1);
  assert.equal(s.schedule(icmp, 0), fill[hash32Ref(0x0a000001, 8)]);
});

test('dh: hashes the destination address with (fold * 2654435761) & 255, one bucket per dest', () => {
  const live = newLive(8);
  const d = dests(live, [1, 5, 1]);
  const s = mk('dh', d);
  const rnd = xorshift(3);
  for (let i = 0; i < 500; i++) {
    const daddr = rnd();
    const b = Number((BigInt(daddr) * 2654435761n) & 255n);
    const f = flow4(rnd(), daddr);
    assert.equal(s.schedule(f, 0), b % 3);
    assert.equal(s.schedule(flow4(rnd(), daddr), 0), b % 3, 'source does not matter');
  }
  // unavailable target: no fallback
  const q = mk('dh', dests(live, [1, 0, 1]));
  const b1 = [...Array(1000).keys()].find((x) => Number((BigInt(x) * 2654435761n) & 255n) % 3 === 1)!;
  assert.equal(q.schedule(flow4(1, b1), 0), -1);
  live.setAvailable(0, false);
  const b0 = [...Array(1000).keys()].find((x) => Number((BigInt(x) * 2654435761n) & 255n) % 3 === 0)!;
  assert.equal(mk('dh', dests(live, [1, 1, 1])).schedule(flow4(1, b0), 0), -1, 'not AVAILABLE');
  live.setAvailable(0, true);
});

function mhCounts(s: Scheduler, n: number, N: number, seed: number): number[] {
  const counts = new Array<number>(n).fill(0);
  const rnd = xorshift(seed);
  for (let i = 0; i < N; i++) {
    const p = s.schedule(flow4(rnd()), 0);
    if (p >= 0) counts[p]!++;
  }
  return counts;
}

test('mh: same source same dest, distribution proportional to weight', () => {
  const live = newLive(16);
  const s = mk('mh', dests(live, [1, 2, 3, 2]));
  const f = flow4(0xc0000201);
  const first = s.schedule(f, 0);
  for (let i = 0; i < 10; i++) assert.equal(s.schedule(f, 0), first);
  const N = 80000;
  const counts = mhCounts(s, 4, N, 42);
  const expected = [1 / 8, 2 / 8, 3 / 8, 2 / 8];
  counts.forEach((c, i) => assert.ok(Math.abs(c / N - expected[i]!) < 0.02, `dest ${i}: ${c / N}`));
});

test('mh: removing one of N dests moves few keys that did not belong to it', () => {
  const live = newLive(64);
  const specs = Array.from({ length: 10 }, (_, id) => ({ id, weight: 1 }));
  const before = makeDests(live, specs);
  const s = mk('mh', before);
  const rnd = xorshift(1234);
  const srcs = Array.from({ length: 20000 }, () => rnd());
  const old = srcs.map((x) => before.id[s.schedule(flow4(x), 0)]!);
  const after = makeDests(
    live,
    specs.filter((sp) => sp.id !== 4),
  );
  s.update(after, before);
  let kept = 0;
  let others = 0;
  srcs.forEach((x, i) => {
    const nid = after.id[s.schedule(flow4(x), 0)]!;
    assert.notEqual(nid, 4);
    if (old[i] === 4) return;
    others++;
    if (nid === old[i]) kept++;
  });
  assert.ok(kept / others > 0.9, `kept ${kept}/${others}`);
});

test('mh: quiesced dest keeps its slots (last weight): -1 without fallback, rehash with mh-fallback', () => {
  const live = newLive(16);
  const full = dests(live, [1, 1, 1, 1]);
  const quiesced = makeDests(live, [
    { id: 0, weight: 1 },
    { id: 1, weight: 0, lastWeight: 1 },
    { id: 2, weight: 1 },
    { id: 3, weight: 1 },
  ]);
  const ref = mk('mh', full);
  const plain = mk('mh', quiesced);
  const fb = mk('mh', quiesced, SVC_F_SCHED_MH_FALLBACK);
  const rnd = xorshift(8);
  let moved = 0;
  for (let i = 0; i < 5000; i++) {
    const f = flow4(rnd());
    const r = ref.schedule(f, 0);
    if (r === 1) {
      moved++;
      assert.equal(plain.schedule(f, 0), -1);
      const q = fb.schedule(f, 0);
      assert.ok(q >= 0 && q !== 1);
    } else {
      assert.equal(plain.schedule(f, 0), r, 'other keys unaffected');
      assert.equal(fb.schedule(f, 0), r);
    }
  }
  assert.ok(moved > 800, `dest 1 owned about a quarter: ${moved}`);
});

test('mh: mh-port spreads one source by port; table sizes; too many dests', () => {
  const live = newLive(2048);
  const s = mk('mh', dests(live, [1, 1, 1, 1]), SVC_F_SCHED_MH_PORT);
  const seen = new Set<number>();
  for (let port = 2000; port < 2040; port++) seen.add(s.schedule(flow4(0x0a000001, 1, port), 0));
  assert.ok(seen.size >= 3);
  const noport = mk('mh', dests(live, [1, 1, 1, 1]));
  const p0 = noport.schedule(flow4(0x0a000001, 1, 2000), 0);
  for (let port = 2001; port < 2040; port++) assert.equal(noport.schedule(flow4(0x0a000001, 1, port), 0), p0);
  for (const m of MH_PRIMES) {
    const t = mk('mh', dests(live, [3, 1]), 0, { mhTableSize: m });
    const c = mhCounts(t, 2, 8000, m);
    assert.ok(c[0]! > c[1]! * 2, `table ${m}: ${c}`);
  }
  assert.throws(
    () => createScheduler('mh', { mhTableSize: 4096 }),
    (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_RANGE',
  );
  const small = createScheduler('mh', { mhTableSize: 251 });
  const many = dests(live, new Array<number>(252).fill(1));
  assert.throws(
    () => small.update(many, null),
    (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_SCHED_FAILED',
  );
  small.update(dests(live, new Array<number>(251).fill(1)), null);
  const owners = new Set<number>();
  for (let i = 0; i < 20000; i++) owners.add(small.schedule(flow4(i * 2654435761), 0));
  assert.equal(owners.size, 251, 'every dest owns exactly one slot');
});
