import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUpDataPlane } from '../../src/daemon/warmup.js';
import { Director } from '../../src/core/director.js';
import { executeIpvsadm } from '../../src/cli/ipvsadm/index.js';

test('warm-up forwards every synthetic frame (NAT both ways, DR, TUN, UDP; partial and full checksums)', () => {
  const r = warmUpDataPlane({ connections: 400 });
  assert.equal(r.connections, 400);
  // 400 connections of 8 kinds: SYNs/requests plus the rest of each conversation
  assert.ok(r.frames > 400 * 5, `frames ${r.frames}`);
  // nothing dropped or handed to the kernel: the traffic has the shapes the engine must forward,
  // so a regression that drops any of them fails here (and would deoptimise the real path)
  assert.equal(r.sent, r.frames);
});

test('warm-up leaves an existing director untouched', () => {
  const d = new Director({ maxConns: 4096 });
  executeIpvsadm(['-A', '-t', '10.255.0.100:80', '-s', 'rr'], { director: d, nowMs: 0 });
  const before = executeIpvsadm(['-L', '-n', '--stats'], { director: d, nowMs: 0 }).stdout;
  warmUpDataPlane({ connections: 64 });
  const after = executeIpvsadm(['-L', '-n', '--stats'], { director: d, nowMs: 0 }).stdout;
  assert.equal(after, before);
  assert.equal(d.conns.count, 0);
});
