import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KIND_DEST, KIND_SERVICE, KIND_TOTAL, StatsReader, StatsShard } from '../../src/core/stats.js';
import { RateEstimator } from '../../src/core/estimator.js';

const SVC = 16;
const DST = 32;

test('stats: per-shard single writers, reader sums two shards (totals, service, dest)', () => {
  const a = new StatsShard(SVC, DST);
  const b = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [a]);
  r.addShard(b.buffer); // a shard opened from its SharedArrayBuffer, as a worker would share it
  a.countConn(1, 2);
  a.countIn(1, 2, 100);
  a.countIn(1, 2, 60);
  b.countConn(1, 3);
  b.countIn(1, 3, 10);
  b.countOut(1, 2, 50);
  b.countConn(4, 5);
  assert.deepEqual(r.totals(), { conns: 3, inpkts: 3, outpkts: 1, inbytes: 170, outbytes: 50 });
  assert.deepEqual(r.service(1), { conns: 2, inpkts: 3, outpkts: 1, inbytes: 170, outbytes: 50 });
  assert.deepEqual(r.service(4), { conns: 1, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.deepEqual(r.dest(2), { conns: 1, inpkts: 2, outpkts: 1, inbytes: 160, outbytes: 50 });
  assert.deepEqual(r.dest(3), { conns: 1, inpkts: 1, outpkts: 0, inbytes: 10, outbytes: 0 });
  assert.deepEqual(r.dest(5), { conns: 1, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  // ids are separate spaces: service 2 is not dest 2
  assert.equal(r.service(2).conns, 0);
  assert.throws(() => r.dest(DST), RangeError);
});

test('stats: counters beyond 2^32 stay exact', () => {
  const a = new StatsShard(SVC, DST);
  const b = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [a, b]);
  a.countIn(1, 1, 2 ** 33);
  b.countIn(1, 1, 2 ** 33 + 7);
  assert.equal(r.dest(1).inbytes, 2 ** 34 + 7);
});

test('-Z: one service zeroes it and its dests, not the totals or others; -Z all zeroes everything', () => {
  const a = new StatsShard(SVC, DST);
  const b = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [a, b]);
  a.countConn(1, 2);
  b.countConn(3, 4);
  a.countIn(1, 2, 10);
  r.zeroService(1, [2]);
  assert.deepEqual(r.service(1), { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(r.dest(2).inbytes, 0);
  assert.equal(r.service(3).conns, 1);
  assert.equal(r.dest(4).conns, 1);
  assert.equal(r.totals().conns, 2);
  // counting continues from zero; the shards themselves were never written by the reader
  b.countIn(1, 2, 5);
  assert.equal(r.service(1).inbytes, 5);
  assert.equal(a.data[3 + 5 * 2], 10);
  r.zeroAll();
  assert.deepEqual(r.totals(), { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(r.service(3).conns, 0);
  assert.equal(r.dest(2).inbytes, 0);
  a.countConn(3, 4);
  assert.equal(r.service(3).conns, 1);
  assert.equal(r.totals().conns, 1);
});

/**
 * Golden values, worked by hand from ipvs-reference §4.6:
 *   cps: rate = delta << 9; avg += (rate - avg) >> 2 (flooring); report (avg + 511) >> 10
 *   conns deltas 10, 10, 0, 0, 0, 0, 0, 0:
 *     avg 0 + 5120/4 = 1280            -> (1280 + 511) >> 10 = 1
 *         1280 + (5120 - 1280)/4 = 2240 -> 2751 >> 10 = 2
 *         2240 + (-2240 >> 2 = -560) = 1680 -> 2
 *         1680 - 420 = 1260             -> 1
 *         1260 - 315 = 945              -> 1
 *         945 + floor(-236.25) = 945 - 237 = 708 (truncation would give 709) -> 1
 *         708 - 177 = 531               -> 1
 *         531 + floor(-132.75) = 398    -> (398 + 511) >> 10 = 0
 *   inpkts deltas 3: rate 1536; avg 384, 672, 888 -> pps 0, 1, 1
 *   inbytes deltas 1000: rate = 1000 << 4 = 16000; avg 4000, 7000, 9250 -> (avg + 15) >> 5 = 125, 219, 289
 *   outbytes deltas 10^12: avg 4e12, 7e12 -> 125000000000, 218750000000
 *   outpkts delta 2^40: rate 2^49, avg 2^47 -> (2^47 + 511) >> 10 = 2^37
 */
test('estimator: golden values over several ticks, flooring and rounding exactly as the kernel', () => {
  const sh = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [sh]);
  const est = new RateEstimator(r);
  est.sync([1], [2]);
  const conn = (n: number): void => {
    for (let i = 0; i < n; i++) sh.countConn(1, 2);
  };
  const inp = (sizes: number[]): void => {
    for (const b of sizes) sh.countIn(1, 2, b);
  };
  const avgs: bigint[] = [];
  const cps: number[] = [];
  const pps: number[] = [];
  const bps: number[] = [];
  const deltas = [10, 10, 0, 0, 0, 0, 0, 0];
  for (let step = 0; step < deltas.length; step++) {
    conn(deltas[step]!);
    if (step < 3) inp([333, 333, 334]); // 3 packets, 1000 bytes per step
    est.estimate();
    avgs.push(est.averages(KIND_SERVICE, 1)![0]!);
    const rt = est.rates(KIND_SERVICE, 1);
    cps.push(rt.cps);
    if (step < 3) {
      pps.push(rt.inpps);
      bps.push(rt.inbps);
    }
  }
  assert.deepEqual(avgs, [1280n, 2240n, 1680n, 1260n, 945n, 708n, 531n, 398n]);
  assert.deepEqual(cps, [1, 2, 2, 1, 1, 1, 1, 0]);
  assert.deepEqual(pps, [0, 1, 1]);
  assert.deepEqual(bps, [125, 219, 289]);
  // the same for the dest and the totals (only one service and one dest counted)
  assert.deepEqual(est.rates(KIND_DEST, 2), est.rates(KIND_SERVICE, 1));
  assert.deepEqual(est.rates(KIND_TOTAL), est.rates(KIND_SERVICE, 1));
  assert.deepEqual(est.rates(KIND_DEST, 9), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
});

test('estimator: values far beyond 2^32 stay exact', () => {
  const sh = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [sh]);
  const est = new RateEstimator(r);
  est.sync([1], []);
  sh.countOut(1, 1, 1e12);
  est.estimate();
  assert.equal(est.rates(KIND_SERVICE, 1).outbps, 125000000000);
  sh.countOut(1, 1, 1e12);
  est.estimate();
  assert.equal(est.rates(KIND_SERVICE, 1).outbps, 218750000000);
  // 2^40 packets in one period for service 3: write its counter directly (a plain Float64Array)
  est.sync([1, 3], []);
  sh.data[(1 + 3) * 5 + 2] = 2 ** 40;
  est.estimate();
  assert.equal(est.averages(KIND_SERVICE, 3)![2], 2n ** 47n);
  assert.equal(est.rates(KIND_SERVICE, 3).outpps, 2 ** 37);
  // service 1 had 1 packet per step before (avg 128, 224), then 0: 224 + floor(-224 / 4) = 168
  assert.equal(est.averages(KIND_SERVICE, 1)![2], 168n);
});

test('estimator: tick(nowMs) runs every 2 s, a late tick runs once and re-phases', () => {
  const sh = new StatsShard(SVC, DST);
  const est = new RateEstimator(new StatsReader(SVC, DST, [sh]));
  const ran: boolean[] = [];
  for (const t of [0, 1999, 2000, 3999, 4000, 10000, 11999, 12000]) ran.push(est.tick(t));
  assert.deepEqual(ran, [false, false, true, false, true, true, false, true]);
  // a tick estimates with the delta since the last estimation
  sh.countConn(1, 1);
  assert.equal(est.tick(14000), true);
  assert.equal(est.averages(KIND_TOTAL)![0], 128n);
});

test('estimator -Z: counters and averages restart from zero, tracking starts from current counters', () => {
  const sh = new StatsShard(SVC, DST);
  const r = new StatsReader(SVC, DST, [sh]);
  for (let i = 0; i < 50; i++) sh.countConn(1, 2); // before tracking: must not count as a delta
  const est = new RateEstimator(r);
  est.sync([1], [2]);
  for (let i = 0; i < 10; i++) sh.countConn(1, 2);
  est.estimate();
  assert.equal(est.averages(KIND_SERVICE, 1)![0], 1280n);
  for (let i = 0; i < 10; i++) sh.countConn(1, 2);
  r.zeroService(1, [2]);
  est.zero(KIND_SERVICE, 1);
  est.zero(KIND_DEST, 2);
  assert.deepEqual(est.rates(KIND_SERVICE, 1), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  assert.equal(est.averages(KIND_DEST, 2)![0], 0n);
  for (let i = 0; i < 10; i++) sh.countConn(1, 2);
  est.estimate();
  assert.equal(est.averages(KIND_SERVICE, 1)![0], 1280n);
  // totals were not zeroed: 20 since the previous estimation -> 1280 + (10240 - 1280) / 4
  assert.equal(est.averages(KIND_TOTAL)![0], 3520n);
  r.zeroAll();
  est.zeroAll();
  assert.equal(est.averages(KIND_TOTAL)![0], 0n);
  est.estimate();
  assert.equal(est.averages(KIND_TOTAL)![0], 0n);
  // untracked records are dropped by sync
  est.sync([], []);
  assert.equal(est.averages(KIND_SERVICE, 1), undefined);
  assert.notEqual(est.averages(KIND_TOTAL), undefined);
});
