/** Scheduler: one armed timer for all entries, due-time order, FIFO among equals, lazy cancel. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/health/scheduler.js';
import { FakeClock } from './helpers.js';

test('entries fire in due order (FIFO among equal due times) with one pending clock timer', async () => {
  const clock = new FakeClock();
  const s = new Scheduler(clock);
  const fired: string[] = [];
  const order = [5, 1, 3, 3, 0, 9, 1];
  order.forEach((d, i) => s.schedule(d * 1000, () => fired.push(`${d}:${i}`)));
  assert.equal(clock.pending, 1);
  const cancelled = s.schedule(2000, () => fired.push('cancelled'));
  s.cancel(cancelled);
  await clock.advance(4000);
  assert.deepEqual(fired, ['0:4', '1:1', '1:6', '3:2', '3:3']);
  // a callback scheduling with delay 0 runs on the next timer turn, not recursively
  s.schedule(0, () => {
    fired.push('a');
    s.schedule(0, () => fired.push('b'));
  });
  await clock.advance(0);
  assert.deepEqual(fired.slice(5), ['a', 'b']);
  await clock.advance(10_000);
  assert.deepEqual(fired.slice(7), ['5:0', '9:5']);
  assert.equal(clock.pending, 0);
  s.schedule(1000, () => fired.push('dropped'));
  s.clear();
  assert.equal(clock.pending, 0);
  await clock.advance(5000);
  assert.equal(fired.includes('dropped'), false);
});

test('1,000 entries stay ordered through the heap', async () => {
  const clock = new FakeClock();
  const s = new Scheduler(clock);
  const fired: number[] = [];
  let x = 12345;
  for (let i = 0; i < 1000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const d = x % 100_000;
    s.schedule(d, () => fired.push(d));
  }
  await clock.advance(100_000);
  assert.equal(fired.length, 1000);
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i - 1]! <= fired[i]!);
});
