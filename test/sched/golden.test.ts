/** Golden decisions for the counter- and cursor-based schedulers (ipvs-reference §3). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../src/sched/index.js';
import type { SchedDests, Scheduler } from '../../src/sched/types.js';
import { dests, flow4, makeDests, newLive, setConns, setOverload } from './helpers.js';

const F = flow4(0x01020304);

function run(s: Scheduler, times: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(s.schedule(F, 0));
  return out;
}

function sched(name: string, d: SchedDests): Scheduler {
  const s = createScheduler(name);
  s.update(d, null);
  return s;
}

test('rr: list order, skips quiesced and overloaded, wraps', () => {
  const live = newLive(8);
  assert.deepEqual(run(sched('rr', dests(live, [1, 1, 1])), 7), [0, 1, 2, 0, 1, 2, 0]);
  assert.deepEqual(run(sched('rr', dests(live, [1, 0, 1])), 4), [0, 2, 0, 2]);
  const s = sched('rr', dests(live, [1, 1, 1]));
  setOverload(live, 1, true);
  assert.deepEqual(run(s, 4), [0, 2, 0, 2]);
  setOverload(live, 1, false);
});

test('rr: deleting the cursor dest moves the cursor back to its predecessor', () => {
  const live = newLive(16);
  const abc = makeDests(live, [
    { id: 10, weight: 1 },
    { id: 11, weight: 1 },
    { id: 12, weight: 1 },
  ]);
  const s = sched('rr', abc);
  assert.deepEqual(run(s, 2), [0, 1]); // cursor on B (id 11)
  const ac = makeDests(live, [
    { id: 10, weight: 1 },
    { id: 12, weight: 1 },
  ]);
  s.update(ac, abc);
  // cursor moved back to A, so C comes next (a reset to the head would give A)
  assert.deepEqual(run(s, 3), [1, 0, 1]);
  // cursor on C (pos 1); adding D keeps it there, so D comes next
  const acd = makeDests(live, [
    { id: 10, weight: 1 },
    { id: 12, weight: 1 },
    { id: 13, weight: 1 },
  ]);
  s.update(acd, ac);
  assert.deepEqual(run(s, 2), [2, 0]);
  // cursor on A (first): deleting it moves the cursor to the head -> first of the new list
  const cd = makeDests(live, [
    { id: 12, weight: 1 },
    { id: 13, weight: 1 },
  ]);
  s.update(cd, acd);
  assert.deepEqual(run(s, 3), [0, 1, 0]);
});

test('wrr: weights 4,3,2 give A A B A B C A B C, repeating every 9', () => {
  const live = newLive(8);
  const cycle = [0, 0, 1, 0, 1, 2, 0, 1, 2];
  assert.deepEqual(run(sched('wrr', dests(live, [4, 3, 2])), 27), [...cycle, ...cycle, ...cycle]);
});

test('wrr: gcd > 1 weights behave as the reduced weights', () => {
  const live = newLive(8);
  const c = [0, 0, 1, 0, 1, 2];
  assert.deepEqual(run(sched('wrr', dests(live, [6, 4, 2])), 12), [...c, ...c]);
  assert.deepEqual(run(sched('wrr', dests(live, [4, 2])), 6), [0, 0, 1, 0, 0, 1]);
  assert.deepEqual(run(sched('wrr', dests(live, [5, 5, 5])), 6), [0, 1, 2, 0, 1, 2]);
});

test('wrr: update resets the cursor to the head and clamps cw', () => {
  const live = newLive(8);
  const d1 = dests(live, [4, 3, 2]);
  const s = sched('wrr', d1);
  assert.deepEqual(run(s, 2), [0, 0]); // cw is now 3, cursor on A
  const d2 = dests(live, [4, 3, 1]);
  s.update(d2, d1); // di 1, mw 4: cw 3 kept, cursor back to the head
  assert.deepEqual(run(s, 8), [0, 1, 0, 1, 0, 1, 2, 0]);

  const e1 = dests(live, [4, 2]); // di 2, mw 3, cw 3
  const t = sched('wrr', e1);
  assert.deepEqual(run(t, 1), [0]);
  const e2 = dests(live, [4, 4, 2]); // di 2, mw 3: cw = (3/2)*2 + 1 = 3
  t.update(e2, e1);
  assert.deepEqual(run(t, 6), [0, 1, 0, 1, 2, 0]);
});

test('wrr: overloaded dests skipped; nothing available gives -1 and recovers', () => {
  const live = newLive(8);
  const s = sched('wrr', dests(live, [4, 3, 2]));
  setOverload(live, 0, true);
  assert.deepEqual(run(s, 5), [1, 1, 2, 1, 2]);
  for (const id of [1, 2]) setOverload(live, id, true);
  assert.deepEqual(run(s, 2), [-1, -1]);
  for (const id of [0, 1, 2]) setOverload(live, id, false);
  assert.ok(run(s, 9).every((p) => p >= 0));
  assert.deepEqual(run(sched('wrr', dests(live, [0, 0])), 1), [-1]);
});

test('lc: minimum active*256+inactive, first wins ties, weight 0 skipped', () => {
  const live = newLive(8);
  setConns(live, 0, 1, 0); // 256
  setConns(live, 1, 0, 200); // 200
  setConns(live, 2, 0, 200); // 200
  assert.equal(sched('lc', dests(live, [1, 5, 1])).schedule(F, 0), 1);
  assert.equal(sched('lc', dests(live, [1, 0, 1])).schedule(F, 0), 2);
  setOverload(live, 1, true);
  assert.equal(sched('lc', dests(live, [1, 1, 1])).schedule(F, 0), 2);
  setOverload(live, 1, false);
});

test('wlc: weighted minimum with exact cross-multiplication and earliest-wins ties', () => {
  const live = newLive(8);
  setConns(live, 0, 1, 0); // 256 / 1
  setConns(live, 1, 2, 0); // 512 / 2: equal, A stays
  setConns(live, 2, 0, 0);
  assert.equal(sched('wlc', dests(live, [1, 2])).schedule(F, 0), 0);
  setConns(live, 2, 1, 255); // 511 / 3 < 256 / 1
  assert.equal(sched('wlc', dests(live, [1, 2, 3])).schedule(F, 0), 2);
  // later weight-0 dests never win, even idle
  setConns(live, 0, 5, 0);
  setConns(live, 1, 0, 0);
  assert.equal(sched('wlc', dests(live, [1, 0])).schedule(F, 0), 0);
  // first dest weight 0 is skipped when choosing the initial candidate
  assert.equal(sched('wlc', dests(live, [0, 1])).schedule(F, 0), 1);
  // large counters: 8M active conns * 256 * big weights stay exact
  setConns(live, 0, 8_000_000, 7);
  setConns(live, 1, 8_000_000, 6);
  assert.equal(sched('wlc', dests(live, [2_000_000_000, 2_000_000_000])).schedule(F, 0), 1);
  setConns(live, 1, 8_000_000, 7);
  assert.equal(sched('wlc', dests(live, [2_000_000_000, 2_000_000_000])).schedule(F, 0), 0);
  for (let i = 0; i < 3; i++) setConns(live, i, 0, 0);
});

test('sed: minimises (active+1)/weight, inactive ignored, earliest wins ties', () => {
  const live = newLive(8);
  setConns(live, 0, 0, 1000); // 1/1
  setConns(live, 1, 2, 0); // 3/3: tie
  assert.equal(sched('sed', dests(live, [1, 3])).schedule(F, 0), 0);
  setConns(live, 1, 1, 0); // 2/3
  assert.equal(sched('sed', dests(live, [1, 3])).schedule(F, 0), 1);
  setConns(live, 0, 0, 0);
  setConns(live, 1, 0, 0);
});

test('nq: first idle dest wins at once, else sed', () => {
  const live = newLive(8);
  setConns(live, 0, 2, 0);
  setConns(live, 1, 0, 50);
  setConns(live, 2, 0, 0);
  assert.equal(sched('nq', dests(live, [100, 1, 1])).schedule(F, 0), 1);
  setConns(live, 1, 1, 0); // A 3/100, B 2/1, C idle
  assert.equal(sched('nq', dests(live, [100, 1, 1])).schedule(F, 0), 2);
  setConns(live, 2, 4, 0); // nobody idle: A 3/100 best
  assert.equal(sched('nq', dests(live, [100, 1, 1])).schedule(F, 0), 0);
  // an idle but quiesced dest is skipped
  assert.equal(sched('nq', dests(live, [0, 1, 1])).schedule(F, 0), 1);
  for (let i = 0; i < 3; i++) setConns(live, i, 0, 0);
});

test('fo: highest weight, earliest of equals, skips overloaded', () => {
  const live = newLive(8);
  setConns(live, 1, 1000, 1000); // counts do not matter
  assert.equal(sched('fo', dests(live, [2, 5, 5, 1])).schedule(F, 0), 1);
  setOverload(live, 1, true);
  assert.equal(sched('fo', dests(live, [2, 5, 5, 1])).schedule(F, 0), 2);
  setOverload(live, 1, false);
  assert.equal(sched('fo', dests(live, [0, 0])).schedule(F, 0), -1);
  setConns(live, 1, 0, 0);
});

test('ovf: highest weight with active <= weight, overflows to the next', () => {
  const live = newLive(8);
  const d = dests(live, [5, 10]);
  const s = sched('ovf', d);
  setConns(live, 1, 10, 999); // active == weight still fine; inactive ignored
  assert.equal(s.schedule(F, 0), 1);
  setConns(live, 1, 11, 0);
  assert.equal(s.schedule(F, 0), 0);
  setConns(live, 0, 6, 0);
  assert.equal(s.schedule(F, 0), -1);
  setConns(live, 0, 0, 0);
  setConns(live, 1, 0, 0);
  assert.equal(sched('ovf', dests(live, [10, 10])).schedule(F, 0), 0);
});

test('twos: two weighted random picks from a scripted source, less loaded wins', () => {
  const live = newLive(8);
  const script = (vals: number[]): (() => number) => {
    let i = 0;
    return () => vals[i++]!;
  };
  const d = dests(live, [1, 2, 3]); // total = 6 + 1 = 7
  // r1 = 7 % 7 = 0 -> A; r2 = 13 % 7 = 6 -> C (6-1-2-3 = 0)
  let s = createScheduler('twos', { random32: script([7, 13]) });
  s.update(d, null);
  assert.equal(s.schedule(F, 0), 0, 'equal overheads keep choice1');
  setConns(live, 0, 1, 0);
  s = createScheduler('twos', { random32: script([7, 13]) });
  s.update(d, null);
  assert.equal(s.schedule(F, 0), 2, 'w2*oh1 = 3*256 > w1*oh2 = 0');
  // r1 = 2 -> B (2-1 = 1 > 0, 1-2 <= 0), r2 = 1 -> A
  s = createScheduler('twos', { random32: script([2, 1]) });
  s.update(d, null);
  setConns(live, 0, 0, 0);
  setConns(live, 1, 0, 3); // B oh 3 * wA 1 = 3 > A oh 0 * wB 2 -> A
  assert.equal(s.schedule(F, 0), 0);
  setConns(live, 1, 0, 0);
  // quiesced and overloaded dests take no share of the draw
  setOverload(live, 0, true);
  s = createScheduler('twos', { random32: script([0, 0]) });
  s.update(dests(live, [1, 0, 3]), null);
  assert.equal(s.schedule(F, 0), 2);
  setOverload(live, 0, false);
});
