/**
 * ha_suspend (keepalived-reference.md §1, LVS table): a virtual server with it is checked only while
 * its VIP is a local address. Driven with the fake clock and scripted probes of helpers.ts; the local
 * addresses are fed in as the keepalived runtime does (localAddresses option, setLocalAddresses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthManager } from '../../src/health/index.js';
import { FakeClock, RecordingActions, ScriptedProbes, config, rs, tcp, vs } from './helpers.js';

const VIP = '10.10.10.2';
const A = '192.168.1.1';
const B = '192.168.1.2';

function harness(localAddresses?: string[]) {
  const clock = new FakeClock();
  const actions = new RecordingActions(clock);
  const probes = new ScriptedProbes(clock);
  const logs: string[] = [];
  const hm = new HealthManager({
    actions,
    clock,
    probeFactory: probes.factory,
    log: (_l, msg) => logs.push(msg),
    runScript: () => {},
    random: () => 0,
    ...(localAddresses ? { localAddresses } : {}),
  });
  return { clock, actions, probes, logs, hm };
}

test('ha_suspend: suspended at start while the VIP is absent, resumed when it arrives, suspended again when it leaves', async () => {
  const h = harness(['127.0.0.1', '192.168.1.254']);
  h.probes.set(`${A}:80`, false);
  await h.hm.start(config([vs('V', [rs(A, 80), rs(B, 80)], { haSuspend: true })]));
  // the startup table is installed as usual, then nothing is checked
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1', 'add 192.168.1.2:80 w1']);
  assert.ok(
    h.logs.includes(`VS V: VIP ${VIP} is not local, health checks suspended (ha_suspend)`),
    h.logs.join('\n'),
  );
  await h.clock.advance(60_000);
  assert.deepEqual(h.probes.attempts, []);
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.clock.pending, 0, 'no timer armed for a suspended VS');
  assert.equal(h.hm.status().virtualServers[0]!.suspended, true);

  // the VIP arrives: a check at once, and its result applies through the normal state machine
  h.hm.setLocalAddresses(['127.0.0.1', '192.168.1.254', VIP]);
  assert.ok(h.logs.includes(`VS V: VIP ${VIP} is local, health checks resumed (ha_suspend)`));
  await h.clock.advance(0);
  assert.deepEqual(h.probes.times(`${A}:80`), [60_000]);
  assert.deepEqual(h.probes.times(`${B}:80`), [60_000]);
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80']);
  assert.equal(h.hm.status().virtualServers[0]!.suspended, false);
  await h.clock.advance(10_000);
  assert.deepEqual(h.probes.times(`${B}:80`), [60_000, 70_000]);

  // the VIP leaves: no more probes, the table stays as it is even though A would come back now
  h.hm.setLocalAddresses(['127.0.0.1', '192.168.1.254']);
  h.probes.set(`${A}:80`, true);
  h.probes.set(`${B}:80`, false);
  const before = h.probes.attempts.length;
  await h.clock.advance(120_000);
  assert.equal(h.probes.attempts.length, before);
  assert.deepEqual(h.actions.take(), []);
  assert.deepEqual(h.actions.view('V'), ['192.168.1.2:80=1']);
  const st = h.hm.status().virtualServers[0]!;
  assert.equal(st.suspended, true);
  assert.equal(st.realServers[0]!.alive, false);
  assert.equal(st.realServers[1]!.alive, true);
  const suspendedLogs = h.logs.filter((l) => l.includes('health checks suspended'));
  assert.equal(suspendedLogs.length, 2, 'one log line per transition');
  // an unrelated address change is no transition
  h.hm.setLocalAddresses(['127.0.0.1']);
  assert.equal(h.logs.filter((l) => l.includes('health checks suspended')).length, 2);
  await h.hm.stop();
});

test('ha_suspend: an attempt in flight when the VIP leaves is aborted and its result ignored', async () => {
  const h = harness([VIP]);
  await h.hm.start(config([vs('V', [rs(A, 80)], { haSuspend: true })]));
  h.actions.take();
  h.probes.set(`${A}:80`, false);
  h.probes.hold = true;
  await h.clock.advance(0);
  assert.equal(h.probes.inFlight, 1);
  h.hm.setLocalAddresses([]);
  h.probes.release();
  await h.clock.advance(30_000);
  assert.deepEqual(h.actions.take(), [], 'the failure of the aborted attempt took nothing down');
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.alive, true);
  assert.equal(h.probes.attempts.length, 1);
  await h.hm.stop();
});

test('ha_suspend: a VS without it, and an ha_suspend VS whose VIP is local, are checked regardless', async () => {
  const other = { type: 'ip' as const, address: '10.10.10.3', port: 80, family: 4 as const };
  const h = harness(['10.10.10.3']);
  await h.hm.start(
    config([
      vs('PLAIN', [rs(A, 80)]),
      vs('LOCAL', [rs(B, 80, { checkers: [tcp(B, 80)] })], { haSuspend: true, target: other }),
    ]),
  );
  await h.clock.advance(25_000);
  assert.deepEqual(h.probes.times(`${A}:80`), [0, 10_000, 20_000]);
  assert.deepEqual(h.probes.times(`${B}:80`), [0, 10_000, 20_000]);
  // PLAIN's VIP 10.10.10.2 was never local; losing every address changes nothing for it
  h.hm.setLocalAddresses([]);
  await h.clock.advance(10_000);
  assert.deepEqual(h.probes.times(`${A}:80`), [0, 10_000, 20_000, 30_000]);
  assert.deepEqual(h.probes.times(`${B}:80`), [0, 10_000, 20_000]);
  assert.equal(h.logs.filter((l) => l.startsWith('VS PLAIN')).length, 0);
  await h.hm.stop();
});

test('ha_suspend: IPv6 VIPs compare in canonical form; unknown local addresses never suspend', async () => {
  const v6 = { type: 'ip' as const, address: 'fd00::a', port: 80, family: 6 as const };
  const h = harness(['fd00:0:0::000a']);
  await h.hm.start(config([vs('V6', [rs(A, 80)], { haSuspend: true, target: v6 })]));
  await h.clock.advance(0);
  assert.equal(h.probes.attempts.length, 1);
  await h.hm.stop();

  const u = harness();
  await u.hm.start(config([vs('V', [rs(A, 80)], { haSuspend: true })]));
  await u.clock.advance(0);
  assert.equal(u.probes.attempts.length, 1, 'no address source: checks run');
  assert.ok(u.logs.some((l) => l.includes('local addresses are unknown')));
  await u.hm.stop();
});

test('ha_suspend: reload that turns it on suspends, turning it off resumes; new checkers of a suspended VS wait', async () => {
  const h = harness([]);
  await h.hm.start(config([vs('V', [rs(A, 80)])]));
  await h.clock.advance(0);
  assert.equal(h.probes.attempts.length, 1);
  await h.hm.update(config([vs('V', [rs(A, 80), rs(B, 80)], { haSuspend: true })]));
  await h.clock.advance(30_000);
  assert.equal(
    h.probes.attempts.length,
    1,
    'suspended by the reload: neither the old nor the new RS is checked',
  );
  await h.hm.update(config([vs('V', [rs(A, 80), rs(B, 80)])]));
  await h.clock.advance(0);
  assert.deepEqual(h.probes.attempts.map((a) => a.target).sort(), [`${A}:80`, `${A}:80`, `${B}:80`]);
  await h.hm.stop();
});
