/** lblc / lblcr: locality by destination address, their overload test, set semantics and GC. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../src/sched/index.js';
import type { DestAddrCache } from '../../src/sched/lblc-cache.js';
import type { Scheduler, SchedDests } from '../../src/sched/types.js';
import { dests, flow4, flow6, makeDests, newLive, setConns, setOverload } from './helpers.js';

const X = 0xc6336401;
const Y = 0xc6336402;

function mk(name: string, d: SchedDests, expirationMs?: number): Scheduler {
  const s = createScheduler(name, expirationMs === undefined ? {} : { lblcExpirationMs: expirationMs });
  s.update(d, null);
  return s;
}

function cacheOf(s: Scheduler): DestAddrCache {
  return (s as unknown as { cache: DestAddrCache }).cache;
}

test('lblc: same daddr keeps its dest while not overloaded; new daddrs go by wlc', () => {
  const live = newLive(8);
  const s = mk('lblc', dests(live, [1, 1, 1]));
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  setConns(live, 0, 1, 100); // wlc would now pick B
  for (let i = 0; i < 5; i++) assert.equal(s.schedule(flow4(100 + i, X), i), 0, 'locality');
  assert.equal(s.schedule(flow4(1, Y), 0), 1, 'new daddr by wlc');
  // IPv6 daddrs are keyed by all four words
  const a6 = [0x20010db8, 0, 0, 1];
  const b6 = [0x20010db8, 0, 1, 0];
  const p6 = s.schedule(flow6([1, 2, 3, 4], a6), 0);
  setConns(live, p6, 0, 1000);
  assert.equal(s.schedule(flow6([1, 2, 3, 5], a6), 0), p6);
  assert.notEqual(s.schedule(flow6([1, 2, 3, 5], b6), 0), p6);
  for (let i = 0; i < 3; i++) setConns(live, i, 0, 0);
});

test('lblc: re-pick on lblc overload (active > weight while some dest has active*2 < weight)', () => {
  const live = newLive(8);
  const s = mk('lblc', dests(live, [1, 1]));
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  setConns(live, 0, 2, 0);
  setConns(live, 1, 2, 0); // nobody has active*2 < weight: not overloaded
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  setConns(live, 1, 0, 0); // B idle: A is overloaded, re-pick by wlc and re-bind
  assert.equal(s.schedule(flow4(1, X), 0), 1);
  setConns(live, 0, 0, 0);
  setConns(live, 1, 0, 5);
  assert.equal(s.schedule(flow4(1, X), 0), 1, 'the entry now points at B');
  setConns(live, 1, 0, 0);
});

test('lblc: a hit ignores the OVERLOAD flag (kernel); weight 0 or deleted dest re-picks', () => {
  const live = newLive(8);
  const d = dests(live, [1, 1]);
  const s = mk('lblc', d);
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  setOverload(live, 0, true);
  assert.equal(s.schedule(flow4(1, X), 0), 0, 'cached dest used despite OVERLOAD');
  assert.equal(s.schedule(flow4(1, Y), 0), 1, 'miss: wlc skips OVERLOAD');
  setOverload(live, 0, false);
  const q = dests(live, [0, 1]);
  s.update(q, d);
  assert.equal(s.schedule(flow4(1, X), 0), 1);
  const onlyA = makeDests(live, [{ id: 0, weight: 1 }]);
  s.update(onlyA, q);
  assert.equal(s.schedule(flow4(1, Y), 0), 0, 'dest 1 deleted: re-pick');
});

test('lblc: GC every 60 s; the 30th run removes entries unused for lblc_expiration', () => {
  const live = newLive(8);
  const s = mk('lblc', dests(live, [1, 1]), 1000);
  const c = cacheOf(s);
  s.schedule(flow4(1, X), 0); // arms the timer: first run at 60 s
  s.schedule(flow4(1, Y), 0);
  assert.equal(c.entries, 2);
  for (let k = 1; k < 30; k++) {
    s.gc(k * 60_000);
    s.gc(k * 60_000 + 1); // at most one run per interval
    assert.equal(c.entries, 2, `run ${k} is not a full check`);
  }
  s.schedule(flow4(1, Y), 30 * 60_000 - 500); // Y used recently
  s.gc(30 * 60_000 + 1);
  assert.equal(c.entries, 1);
  assert.notEqual(c.find(flow4(0, Y).daddr), -1);
  assert.equal(c.find(flow4(0, X).daddr), -1);
});

test('lblc: over max_size, a run removes about (entries-max)*4/3 entries idle > 6 min', () => {
  const live = newLive(8);
  const s = mk('lblc', dests(live, [1]));
  const c = cacheOf(s);
  const total = 16 * 1024 + 600;
  for (let i = 0; i < total; i++) s.schedule(flow4(1, 0x0a000000 + i), 0);
  assert.equal(c.entries, total);
  s.gc(60_000);
  assert.equal(c.entries, total, 'nothing idle for 6 minutes yet');
  s.gc(360_000);
  const after = c.entries;
  assert.ok(after <= total - 800 && after >= total - 8192, `after ${after}`);
  // the cache still answers for the survivors
  let found = 0;
  for (let i = 0; i < total; i++) if (c.find(flow4(0, 0x0a000000 + i).daddr) >= 0) found++;
  assert.equal(found, after);
});

test('lblcr: set grows on overload, least-loaded member chosen, shrinks after expiration', () => {
  const live = newLive(8);
  const d = dests(live, [1, 1, 1]);
  const s = mk('lblcr', d, 1000);
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  setConns(live, 0, 2, 0); // A lblc-overloaded (B and C idle)
  assert.equal(s.schedule(flow4(1, X), 100), 1, 'wlc adds B to the set');
  setConns(live, 1, 0, 10);
  setConns(live, 2, 0, 0);
  // set {B, A}: least loaded is B (10 < 512); C is not a member so it is not considered
  assert.equal(s.schedule(flow4(1, X), 200), 1);
  setConns(live, 0, 0, 5); // now A (5) is lighter than B (10), and nobody overloaded
  assert.equal(s.schedule(flow4(1, X), 300), 0);
  // more than 1000 ms since the last modification (100): erase the most loaded (B)
  assert.equal(s.schedule(flow4(1, X), 1101), 0);
  setConns(live, 0, 0, 50);
  assert.equal(s.schedule(flow4(1, X), 1200), 0, 'B left the set; A is the only member');
  for (let i = 0; i < 3; i++) setConns(live, i, 0, 0);
});

test('lblcr: deleted dests leave the sets; quiesced members are not chosen', () => {
  const live = newLive(8);
  const d = dests(live, [1, 1]);
  const s = mk('lblcr', d);
  assert.equal(s.schedule(flow4(1, X), 0), 0);
  const q = dests(live, [0, 1]);
  s.update(q, d);
  assert.equal(s.schedule(flow4(1, X), 0), 1, 'A quiesced: B added');
  const back = dests(live, [1, 1]);
  s.update(back, q);
  setConns(live, 1, 0, 3);
  assert.equal(s.schedule(flow4(1, X), 0), 0, 'set {B, A}: A lighter');
  const onlyB = makeDests(live, [{ id: 1, weight: 1 }]);
  s.update(onlyB, back);
  assert.equal(s.schedule(flow4(1, X), 0), 0, 'B is position 0 now');
  setConns(live, 1, 0, 0);
});
