/**
 * Compliance suite: every registered scheduler must pass the same checks (DESIGN.md "compliance
 * suites"). Kernel-sanctioned exceptions:
 *  - lblc/lblcr: a cache hit is judged by lblc's own overload test, not the OVERLOAD flag, so a
 *    cached dest flagged OVERLOAD may be returned. The random checks below use a fresh daddr per
 *    decision (always a miss, decided by wlc, which skips OVERLOAD), so the strict rule applies.
 *  - dh/sh/mh (hash schedulers) may return -1 while other dests are available (no fallback, or the
 *    hashed slot belongs to nobody); the "must find one" check is skipped for them.
 *  - ovf additionally requires active <= weight, so it may return -1 while dests are available.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, schedulerNames } from '../../src/sched/index.js';
import type { SchedDests, Scheduler } from '../../src/sched/types.js';
import { SVC_F_SCHED1 } from '../../src/sched/types.js';
import { LvsError } from '../../src/errors.js';
import { DestLive } from '../../src/conn/dest-live.js';
import { type DestSpec, flow4, flow6, makeDests, newLive, xorshift } from './helpers.js';

const ALL = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'fo', 'ovf', 'twos'];
/** Schedulers that must find a dest whenever one is available. */
const MUST_FIND = new Set(['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'lblc', 'lblcr', 'fo', 'twos']);

test('registry: all kernel schedulers registered, unknown name is ERR_LVS_SCHED_NOT_FOUND', () => {
  assert.deepEqual([...schedulerNames()].sort(), [...ALL].sort());
  assert.throws(
    () => createScheduler('nope'),
    (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_SCHED_NOT_FOUND' && e.errno === 2,
  );
});

function make(name: string, seed: number): Scheduler {
  return createScheduler(name, { random32: xorshift(seed), flags: SVC_F_SCHED1 });
}

function isAvail(d: SchedDests, i: number): boolean {
  return d.weight[i]! > 0 && !d.live.isOverloaded(d.id[i]!);
}

interface Harness {
  daddr: number;
  decisions: number[];
}

/** One decision with the invariant checks; returns the position. */
function decide(name: string, s: Scheduler, d: SchedDests, h: Harness, v6: boolean, src: number): number {
  h.daddr = (h.daddr + 1) >>> 0;
  const f = v6
    ? flow6([0x20010db8, 0, src, 1], [0x20010db8, 1, 0, h.daddr], 1024 + (src & 0x7fff))
    : flow4(src, h.daddr, 1024 + (src & 0x7fff));
  const p = s.schedule(f, 1000);
  assert.ok(
    Number.isInteger(p) && p >= -1 && p < d.count,
    `${name}: position ${p} out of range [-1, ${d.count})`,
  );
  if (p >= 0) assert.ok(isAvail(d, p), `${name}: picked unavailable position ${p} (w=${d.weight[p]})`);
  if (p < 0 && MUST_FIND.has(name)) {
    for (let i = 0; i < d.count; i++) assert.ok(!isAvail(d, i), `${name}: returned -1 but ${i} is available`);
  }
  h.decisions.push(p);
  return p;
}

function randomState(live: DestLive, specs: readonly DestSpec[], rnd: () => number): void {
  for (const s of specs) {
    live.active[s.id] = rnd() % 50;
    live.inactive[s.id] = rnd() % 500;
    live.flags[s.id] = rnd() % 5 === 0 ? 3 : 1;
  }
}

/** Runs the whole script once and returns every decision, so two runs can be compared. */
function script(name: string, n: number, seed: number): number[] {
  const rnd = xorshift(seed * 7919 + 1);
  const live = newLive(n + 64);
  const h: Harness = { daddr: 0x0a000000, decisions: [] };
  const s = make(name, seed);
  // Before any update and on an empty list: -1.
  assert.equal(s.schedule(flow4(1), 0), -1, `${name}: schedule before update`);
  const empty = makeDests(live, []);
  s.update(empty, null);
  assert.equal(s.schedule(flow4(1), 0), -1, `${name}: empty list`);
  let specs: DestSpec[] = [];
  let nextId = 0;
  for (let i = 0; i < n; i++) specs.push({ id: nextId++, weight: rnd() % 4 === 0 ? 0 : 1 + (rnd() % 5) });
  let d = makeDests(live, specs);
  s.update(d, empty);
  for (let round = 0; round < 6; round++) {
    randomState(live, specs, rnd);
    for (let k = 0; k < 40; k++) decide(name, s, d, h, k % 2 === 1, rnd());
    // All available, no counters: must find for every MUST_FIND scheduler.
    // Mutate: delete some, add some, edit weights (including quiescing).
    const next: DestSpec[] = [];
    for (const sp of specs) {
      const r = rnd() % 10;
      if (r === 0 && specs.length > 1) continue;
      if (r === 1) next.push({ id: sp.id, weight: 0, lastWeight: sp.lastWeight ?? sp.weight });
      else if (r === 2) next.push({ id: sp.id, weight: 1 + (rnd() % 9) });
      else next.push(sp);
    }
    const adds = rnd() % 3;
    for (let a = 0; a < adds && next.length < n + 40; a++)
      next.push({ id: nextId++, weight: 1 + (rnd() % 5) });
    const prev = d;
    specs = next;
    d = makeDests(live, specs);
    s.update(d, prev);
  }
  // Clear every counter and flag: every MUST_FIND scheduler must now always find a dest.
  for (const sp of specs) {
    live.active[sp.id] = 0;
    live.inactive[sp.id] = 0;
    live.flags[sp.id] = 1;
  }
  for (let k = 0; k < 20; k++) decide(name, s, d, h, false, rnd());
  return h.decisions;
}

for (const name of ALL) {
  test(`compliance ${name}: ranges, availability, updates, IPv4/IPv6, 1 and 1000 dests, determinism`, () => {
    for (const n of [1, 5, 1000]) {
      const a = script(name, n, n + 11);
      const b = script(name, n, n + 11);
      assert.deepEqual(a, b, `${name}: not deterministic for n=${n}`);
      if (n === 5)
        assert.ok(
          a.some((p) => p >= 0),
          `${name}: never chose anything`,
        );
    }
  });

  test(`compliance ${name}: skips OVERLOAD set by thresholds, uses the dest again once cleared`, () => {
    const live = newLive(8);
    live.setThresholds(0, 3, 0);
    const s = make(name, 1);
    const d = makeDests(live, [
      { id: 0, weight: 5 },
      { id: 1, weight: 5 },
    ]);
    s.update(d, null);
    for (let i = 0; i < 3; i++) live.bind(0, false, true);
    assert.ok(live.isOverloaded(0));
    let saw1 = false;
    for (let k = 0; k < 200; k++) {
      // fresh daddr each time so lblc/lblcr never hit their cache
      const p = s.schedule(flow4(0x0b000000 + k * 7919, 0x0c000000 + k), 1);
      assert.notEqual(p, 0, `${name} chose the overloaded dest`);
      if (p === 1) saw1 = true;
    }
    if (MUST_FIND.has(name) || name === 'ovf') assert.ok(saw1);
    live.unbind(0, false, true); // total 2: 2*4 < 3*3 clears
    assert.ok(!live.isOverloaded(0));
  });
}

test('DestLive thresholds: OVERLOAD at >= u; cleared below l, else below 3/4 u', () => {
  const live = newLive(4);
  live.setThresholds(1, 4, 0);
  for (let i = 0; i < 3; i++) live.bind(1, false, true);
  assert.ok(!live.isOverloaded(1));
  live.bind(1, false, false);
  assert.ok(live.isOverloaded(1), 'set at total == u');
  live.unbind(1, false, true); // total 3: 12 < 12 is false
  assert.ok(live.isOverloaded(1));
  live.unbind(1, false, true); // total 2: 8 < 12
  assert.ok(!live.isOverloaded(1));
  live.setThresholds(2, 4, 2);
  for (let i = 0; i < 4; i++) live.bind(2, false, true);
  assert.ok(live.isOverloaded(2));
  live.unbind(2, false, true);
  live.unbind(2, false, true); // total 2, not < l
  assert.ok(live.isOverloaded(2));
  live.unbind(2, false, true); // total 1 < 2
  assert.ok(!live.isOverloaded(2));
  // templates do not count towards the threshold
  live.setThresholds(3, 1, 0);
  live.bind(3, true, false);
  assert.ok(!live.isOverloaded(3));
});
