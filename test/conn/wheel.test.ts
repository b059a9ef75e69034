import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONN_F_DROUTE, CONN_F_TEMPLATE } from '../../src/conn/flags.js';
import { DIR_INPUT, Timeouts, tcpStateTransition } from '../../src/conn/state.js';
import { TEMPLATE_REARM_MS } from '../../src/conn/timer-wheel.js';
import { ip4, mk, mkTable } from './helpers.js';

const C = ip4('10.0.0.2');
const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');

test('new conn expires after 3 s (within one tick), onExpire sees it before free', () => {
  const { t, live } = mkTable({ tickMs: 100 });
  const h = mk(t, { c: C, cport: 1, v: V, vport: 80, d: D, dport: 80, destId: 1 }, 0);
  const seen: number[] = [];
  const cb = (x: number): void => {
    assert.ok(t.inUse(x));
    seen.push(x);
  };
  assert.equal(t.wheel.advance(2999, cb), 0);
  assert.ok(t.inUse(h));
  assert.equal(t.wheel.advance(3100, cb), 1);
  assert.deepEqual(seen, [h]);
  assert.ok(!t.inUse(h));
  assert.equal(live.inactive[1], 0);
});

test('lazy re-arm: touches extend without re-filing; expiry follows the last touch', () => {
  const { t } = mkTable({ tickMs: 100, wheelSlots: 64 }); // 6.4 s horizon: forces re-filing
  const to = new Timeouts();
  const h = mk(t, { flags: CONN_F_DROUTE, c: C, cport: 1, v: V, vport: 80, d: D, dport: 80 }, 0);
  tcpStateTransition(t, to, h, DIR_INPUT, 0x02, 0); // SYN_RECV 60 s
  for (let now = 0; now <= 50_000; now += 1000) {
    t.touch(h, now);
    assert.equal(t.wheel.advance(now), 0);
  }
  assert.equal(t.expiry[h], 110_000);
  for (let now = 51_000; now < 110_000; now += 1000) assert.equal(t.wheel.advance(now), 0, `at ${now}`);
  assert.equal(t.wheel.advance(110_100), 1);
  assert.equal(t.count, 0);
});

test('shortening the timeout (ESTABLISHED -> CLOSE) re-files: expiry is not late', () => {
  const { t } = mkTable({ tickMs: 100 });
  const to = new Timeouts();
  const h = mk(t, { flags: CONN_F_DROUTE, c: C, cport: 1, v: V, vport: 80, d: D, dport: 80 }, 0);
  tcpStateTransition(t, to, h, DIR_INPUT, 0x02, 0);
  tcpStateTransition(t, to, h, DIR_INPUT, 0x10, 0); // ES 900 s
  tcpStateTransition(t, to, h, DIR_INPUT, 0x04, 1000); // RST -> CLOSE 10 s
  assert.equal(t.expiry[h], 11_000);
  assert.equal(t.wheel.advance(10_900), 0);
  assert.equal(t.wheel.advance(11_100), 1);
});

test('clock jump beyond one revolution expires everything due', () => {
  const { t } = mkTable({ tickMs: 100, wheelSlots: 16 });
  for (let i = 0; i < 50; i++)
    mk(t, { c: C, cport: i + 1, v: V, vport: 80, d: D, dport: 80, timeoutMs: 1000 * (i + 1) }, 0);
  assert.equal(t.wheel.advance(25_050), 25);
  assert.equal(t.count, 25);
  assert.equal(t.wheel.advance(1_000_000), 25);
  assert.equal(t.count, 0);
});

test('template with nControl > 0 is re-armed for 60 s, freed once it controls nothing', () => {
  const { t, live } = mkTable({ tickMs: 1000, wheelSlots: 256 });
  const to = new Timeouts();
  const tm = mk(
    t,
    {
      flags: CONN_F_TEMPLATE | CONN_F_DROUTE,
      c: ip4('10.0.0.0'),
      cport: 0,
      v: V,
      vport: 80,
      d: D,
      dport: 80,
      destId: 2,
      timeoutMs: 10_000,
    },
    0,
  );
  const h = mk(
    t,
    { flags: CONN_F_DROUTE, c: C, cport: 9, v: V, vport: 80, d: D, dport: 80, destId: 2, control: tm },
    0,
  );
  tcpStateTransition(t, to, h, DIR_INPUT, 0x02, 0);
  tcpStateTransition(t, to, h, DIR_INPUT, 0x10, 0); // ES, 900 s
  assert.equal(t.wheel.advance(10_000), 0);
  assert.ok(t.inUse(tm));
  assert.equal(t.expiry[tm], 10_000 + TEMPLATE_REARM_MS);
  assert.equal(t.wheel.advance(69_000), 0);
  assert.equal(t.wheel.advance(70_000), 0, 'second re-arm');
  assert.equal(t.expiry[tm], 130_000);
  // the conn ends (expire_nodest style)
  t.expireNow(h, 80_000);
  assert.equal(t.wheel.advance(81_000), 1);
  assert.equal(t.nControl[tm], 0);
  assert.equal(live.active[2], 0);
  assert.ok(t.inUse(tm));
  assert.equal(t.wheel.advance(130_000), 1);
  assert.ok(!t.inUse(tm));
  assert.equal(live.persist[2], 0);
  assert.equal(t.templateCount, 0);
});

test('expireNow: conn is freed at the next tick and onExpire may free other conns safely', () => {
  const { t } = mkTable({ tickMs: 100 });
  const a = mk(t, { c: C, cport: 1, v: V, vport: 80, d: D, dport: 80, timeoutMs: 900_000 }, 0);
  const b = mk(t, { c: C, cport: 2, v: V, vport: 80, d: D, dport: 80, timeoutMs: 900_000 }, 0);
  t.expireNow(a, 500);
  t.expireNow(b, 500);
  let calls = 0;
  const n = t.wheel.advance(600, (h) => {
    calls++;
    t.free(h === a ? b : a); // free the other one from inside the callback
  });
  assert.equal(calls, 1);
  assert.equal(n, 1);
  assert.equal(t.count, 0);
});
