/**
 * The keepalived checker / real-server / quorum state machine (keepalived-reference.md §2), driven
 * with a fake clock and scripted probe results. Times are ms on the fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthManager } from '../../src/health/index.js';
import type { KeepalivedConfig } from '../../src/config/model.js';
import {
  FakeClock,
  RecordingActions,
  ScriptedProbes,
  config,
  http,
  misc,
  rs,
  script,
  tcp,
  vs,
} from './helpers.js';

function harness(opts: { maxConcurrent?: number; random?: () => number } = {}) {
  const clock = new FakeClock();
  const actions = new RecordingActions(clock);
  const probes = new ScriptedProbes(clock);
  const logs: string[] = [];
  const scripts: string[] = [];
  const hm = new HealthManager({
    actions,
    clock,
    probeFactory: probes.factory,
    log: (_l, msg) => logs.push(msg),
    runScript: (s, why) => scripts.push(`${why}:${s.command}`),
    random: opts.random ?? (() => 0),
    maxConcurrent: opts.maxConcurrent,
  });
  return { clock, actions, probes, logs, scripts, hm };
}

async function started(cfg: KeepalivedConfig, opts: Parameters<typeof harness>[0] = {}) {
  const h = harness(opts);
  await h.hm.start(cfg);
  return h;
}

const A = '192.168.1.1';
const B = '192.168.1.2';

test('startup without alpha: every RS installed at its weight; success keeps it, no further actions', async () => {
  const { actions, clock, hm } = await started(config([vs('V', [rs(A, 80, { weight: 3 }), rs(B, 80)])]));
  assert.deepEqual(actions.take(), ['add 192.168.1.1:80 w3', 'add 192.168.1.2:80 w1']);
  await clock.advance(35_000);
  assert.deepEqual(actions.take(), []);
  const st = hm.status().virtualServers[0]!;
  assert.equal(st.quorumUp, true);
  assert.equal(st.weightSum, 4);
  assert.equal(st.realServers[0]!.checkers[0]!.checks, 4); // t=0,10,20,30
  assert.equal(st.realServers[0]!.checkers[0]!.lastResult, 'ok');
  await hm.stop();
});

test('first failure at startup marks the checker DOWN at once (retry_it starts at retry)', async () => {
  const h = harness();
  h.probes.set(`${A}:80`, false);
  await h.hm.start(config([vs('V', [rs(A, 80, { checkers: [tcp(A, 80, { retry: 3 })] }), rs(B, 80)])]));
  h.actions.take();
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80']);
  assert.deepEqual(h.probes.times(`${A}:80`), [0]);
  assert.ok(h.logs.includes('TCP_CHECK on service 192.168.1.1:80 failed.'));
  assert.ok(h.logs.includes('Removing service 192.168.1.1:80 from VS V'));
  // while DOWN failures only reschedule after delay_loop
  await h.clock.to(25_000);
  assert.deepEqual(h.probes.times(`${A}:80`), [0, 10_000, 20_000]);
  assert.deepEqual(h.actions.take(), []);
  await h.hm.stop();
});

test('DOWN after retry+1 consecutive failures spaced by delay_before_retry; UP after one success', async () => {
  const h = await started(
    config([
      vs('V', [rs(A, 80, { checkers: [tcp(A, 80, { retry: 2, delayBeforeRetry: 1, delayLoop: 10 })] })]),
    ]),
  );
  h.actions.take();
  await h.clock.to(5_000); // success at 0
  h.probes.set(`${A}:80`, false);
  await h.clock.to(10_000); // failure 1 (retry 1/2)
  await h.clock.to(11_000); // failure 2 (retry 2/2)
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.checkers[0]!.retryIt, 2);
  await h.clock.to(12_000); // failure 3 -> DOWN
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80']);
  assert.ok(h.logs.includes('TCP_CHECK on service 192.168.1.1:80 failed after 2 retries.'));
  assert.deepEqual(h.probes.times(`${A}:80`), [0, 10_000, 11_000, 12_000]);
  await h.clock.to(22_000); // down: next after delay_loop
  assert.deepEqual(h.probes.times(`${A}:80`).slice(4), [22_000]);
  h.probes.set(`${A}:80`, true);
  await h.clock.to(32_000);
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1']);
  assert.ok(h.logs.includes('TCP_CHECK on service 192.168.1.1:80 success.'));
  // a success in between resets the retry counter
  h.probes.set(`${A}:80`, false);
  await h.clock.to(43_000); // failures at 42, 43
  h.probes.set(`${A}:80`, true);
  await h.clock.to(44_000); // success at 44 resets
  h.probes.set(`${A}:80`, false);
  await h.clock.to(56_000); // failures at 54, 55, 56 -> down at 56
  assert.deepEqual(
    h.actions.calls.map((c) => `${c.op}@${c.at}`),
    ['del@56000'],
  );
  await h.hm.stop();
});

test('alpha: the checker starts DOWN, the RS is not installed, one success installs it', async () => {
  const h = await started(
    config([vs('V', [rs(A, 80, { checkers: [tcp(A, 80, { alpha: true })] })], { quorum: 1 })]),
  );
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.alive, false);
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1']);
  assert.ok(h.logs.some((l) => l.startsWith('Gained quorum 1+0=1 <= 1')));
  await h.hm.stop();
});

test('inhibit_on_failure: installed at weight 0 while down, EDIT_DEST instead of DEL_DEST', async () => {
  const h = await started(
    config([
      vs('V', [rs(A, 80, { weight: 5, inhibitOnFailure: true, checkers: [tcp(A, 80, { alpha: true })] })]),
    ]),
  );
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w0']);
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w5']);
  assert.ok(h.logs.includes('Enabling service 192.168.1.1:80 to VS V'));
  h.probes.set(`${A}:80`, false);
  await h.clock.to(12_000); // fail at 10 (retry), 11 -> down
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w0']);
  assert.ok(h.logs.includes('Disabling service 192.168.1.1:80 from VS V'));
  assert.deepEqual(h.actions.view('V'), ['192.168.1.1:80=0']);
  await h.hm.stop();
});

test('RS with no checkers is always up; RS alive only when all its checkers are up', async () => {
  const two = rs(A, 80, { checkers: [tcp(A, 80), tcp(A, 81)] });
  const h = await started(config([vs('V', [two, rs(B, 80, { checkers: [] })])]));
  h.actions.take();
  h.probes.set(`${A}:81`, false);
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80']);
  h.probes.set(`${A}:80`, false);
  await h.clock.to(12_000); // second checker goes down too: no second removal
  assert.deepEqual(h.actions.take(), []);
  h.probes.set(`${A}:81`, true);
  await h.clock.to(20_000); // one recovers: still one checker down
  assert.deepEqual(h.actions.take(), []);
  h.probes.set(`${A}:80`, true);
  await h.clock.to(30_000); // the last failed checker recovers: re-added
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1']);
  const st = h.hm.status().virtualServers[0]!;
  assert.equal(st.realServers[1]!.alive, true);
  assert.equal(st.realServers[1]!.inTable, true);
  await h.hm.stop();
});

test('warmup: first check after random()*warmup; delay_loop afterwards', async () => {
  const h = await started(
    config([vs('V', [rs(A, 80, { checkers: [tcp(A, 80, { warmup: 8, delayLoop: 10 })] })])]),
    {
      random: () => 0.25,
    },
  );
  await h.clock.to(30_000);
  assert.deepEqual(h.probes.times(`${A}:80`), [2_000, 12_000, 22_000]);
  await h.hm.stop();
});

function quorumSample(extra: Partial<Parameters<typeof vs>[2]> = {}) {
  const servers = Array.from({ length: 10 }, (_, i) =>
    rs(`192.168.2.${i + 1}`, 80, {
      checkers: [tcp(`192.168.2.${i + 1}`, 80, { alpha: true, retry: 0 })],
      notifyUp: script(`/up ${i + 1}`),
      notifyDown: script(`/down ${i + 1}`),
    }),
  );
  return config([
    vs('Q', servers, {
      quorum: 7,
      hysteresis: 2,
      alpha: true,
      omega: true,
      quorumUp: script('/qup'),
      quorumDown: script('/qdown'),
      ...extra,
    }),
  ]);
}

test('quorum worked example: 10 RS, quorum 7, hysteresis 2, alpha: up at 9, lost below 5, 7->6->7 no flap', async () => {
  const h = harness();
  for (let i = 1; i <= 10; i++) h.probes.set(`192.168.2.${i}:80`, false);
  await h.hm.start(quorumSample());
  assert.equal(h.hm.status().virtualServers[0]!.quorumUp, false);
  const setUp = async (n: number) => {
    for (let i = 1; i <= 10; i++) h.probes.set(`192.168.2.${i}:80`, i <= n);
    await h.clock.advance(10_000);
  };
  const q = () => h.hm.status().virtualServers[0]!;
  await setUp(8);
  assert.equal(q().quorumUp, false, '8 < 7+2');
  assert.equal(q().weightSum, 8);
  await setUp(9);
  assert.equal(q().quorumUp, true);
  assert.ok(h.logs.includes('Gained quorum 7+2=9 <= 9 for VS Q'));
  assert.deepEqual(
    h.scripts.filter((s) => s.startsWith('quorum')),
    ['quorum_up:/qup'],
  );
  await setUp(7);
  await setUp(6);
  await setUp(7);
  await setUp(5);
  assert.equal(q().quorumUp, true, 'not lost at 5 (5 is not < 7-2)');
  await setUp(4);
  assert.equal(q().quorumUp, false);
  assert.ok(h.logs.includes('Lost quorum 7-2=5 > 4 for VS Q'));
  assert.deepEqual(
    h.scripts.filter((s) => s.startsWith('quorum')),
    ['quorum_up:/qup', 'quorum_down:/qdown'],
  );
  await setUp(8);
  assert.equal(q().quorumUp, false, 'regain needs 9 again');
  await setUp(9);
  assert.equal(q().quorumUp, true);
  // notify scripts ran per RS transition
  assert.ok(h.scripts.includes('notify_up:/up 9'));
  assert.ok(h.scripts.includes('notify_down:/down 9'));
  // without a sorry server the RS come and go individually
  assert.deepEqual(h.actions.view('Q').length, 9);
  // omega: notify_down for every alive RS and quorum_down
  h.scripts.length = 0;
  await h.hm.stop();
  assert.equal(h.scripts.filter((s) => s.startsWith('notify_down')).length, 9);
  assert.ok(h.scripts.includes('quorum_down:/qdown'));
});

test('sorry_server: quorum starts down -> sorry installed; gain swaps it for the RS; loss swaps back; RS events in sorry mode only change state', async () => {
  const sorry = { address: '192.168.9.9', port: 80, family: 4 as const, method: 'NAT' as const };
  const cfg = config([
    vs(
      'S',
      [
        rs(A, 80, { checkers: [tcp(A, 80, { alpha: true, retry: 0 })] }),
        rs(B, 80, { checkers: [tcp(B, 80, { alpha: true, retry: 0 })] }),
      ],
      {
        quorum: 2,
        sorryServer: sorry,
      },
    ),
  ]);
  const h = harness();
  h.probes.set(`${B}:80`, false);
  await h.hm.start(cfg);
  assert.deepEqual(h.actions.take(), ['add 192.168.9.9:80 w1']);
  await h.clock.advance(0); // A up: weight 1 < 2, still sorry mode, no IPVS change
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.sorryActive, true);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.alive, true);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.inTable, false);
  h.probes.set(`${B}:80`, true);
  await h.clock.to(10_000); // B up: quorum gained -> sorry removed first, then RS added
  assert.deepEqual(h.actions.take(), [
    'del 192.168.9.9:80',
    'add 192.168.1.1:80 w1',
    'add 192.168.1.2:80 w1',
  ]);
  h.probes.set(`${B}:80`, false);
  await h.clock.to(20_000); // B down: del B, quorum lost -> remove alive RS, then add sorry
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80', 'del 192.168.1.2:80', 'add 192.168.9.9:80 w1']);
  assert.equal(h.hm.status().virtualServers[0]!.sorryActive, true);
  assert.deepEqual(h.actions.view('S'), ['192.168.9.9:80=1']);
  h.probes.set(`${A}:80`, false);
  await h.clock.to(30_000); // RS event while sorry: state only
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.alive, false);
  await h.hm.stop();
});

test('sorry_server_inhibit: sorry pre-installed at weight 0, loss/gain edit it between 0 and 1', async () => {
  const sorry = { address: '192.168.9.9', port: 80, family: 4 as const, method: 'NAT' as const };
  const h = await started(
    config([
      vs('S', [rs(A, 80, { inhibitOnFailure: true, checkers: [tcp(A, 80, { retry: 0 })] })], {
        sorryServer: sorry,
        sorryServerInhibit: true,
      }),
    ]),
  );
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1', 'add 192.168.9.9:80 w0']);
  h.probes.set(`${A}:80`, false);
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w0', 'edit 192.168.9.9:80 w1']);
  h.probes.set(`${A}:80`, true);
  await h.clock.to(10_000);
  assert.deepEqual(h.actions.take(), ['edit 192.168.9.9:80 w0', 'edit 192.168.1.1:80 w1']);
  await h.hm.stop();
});

test('misc_dynamic: weight follows the script (status-2), exit 0 resets it; not applied in sorry mode', async () => {
  const sorry = { address: '192.168.9.9', port: 80, family: 4 as const, method: 'NAT' as const };
  const h = harness();
  const m = misc('/check', { dynamic: true, delayLoop: 10 });
  await h.hm.start(
    config([
      vs(
        'D',
        [
          rs(A, 80, { weight: 4, checkers: [m] }),
          rs(B, 80, { weight: 4, checkers: [tcp(B, 80, { retry: 0 })] }),
        ],
        { quorum: 2, sorryServer: sorry },
      ),
    ]),
  );
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w4', 'add 192.168.1.2:80 w4']);
  h.probes.set('/check', { dynamicWeight: 7 });
  await h.clock.advance(0);
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w7']);
  assert.equal(h.hm.status().virtualServers[0]!.weightSum, 11);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.checkers[0]!.weightContribution, 3);
  h.probes.set('/check', { dynamicWeight: null });
  await h.clock.to(10_000);
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w4']);
  // dynamic 0 leaves the weight sum at 0 + B's 4 -> still quorum (2); B failing -> sum 0 -> sorry mode
  h.probes.set('/check', { dynamicWeight: 0 });
  h.probes.set(`${B}:80`, false);
  await h.clock.to(20_000);
  assert.equal(h.hm.status().virtualServers[0]!.quorumUp, false);
  assert.deepEqual(h.actions.view('D'), ['192.168.9.9:80=1']);
  h.actions.take();
  h.probes.set('/check', { dynamicWeight: 1 });
  await h.clock.to(30_000); // weight change in sorry mode: state only (1 < quorum 2)
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[0]!.weight, 1);
  h.probes.set('/check', { dynamicWeight: 2 });
  await h.clock.to(40_000); // 2 >= quorum: gained
  assert.deepEqual(h.actions.take(), ['del 192.168.9.9:80', 'add 192.168.1.1:80 w2']);
  await h.hm.stop();
});

test('HTTP_GET: one URL per delay_loop, the RS comes up after all URLs pass; fast_recovery; failed URL remembered', async () => {
  const chk = http(A, 80, ['/a', '/b', '/c'], { alpha: true, retry: 1, delayBeforeRetry: 3, delayLoop: 10 });
  const h = await started(config([vs('H', [rs(A, 80, { checkers: [chk] })])]));
  await h.clock.to(25_000);
  assert.deepEqual(
    h.probes.attempts.map((a) => `${a.step}@${a.at}`),
    ['0@0', '1@10000', '2@20000'],
  );
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1']); // after /c at 20 s
  h.probes.attempts = [];
  h.probes.set(`${A}:80`, (step) => step !== 1);
  await h.clock.to(65_000); // /a@30 ok, /b@40 fail (retry), /b@43 fail -> DOWN, remembered; /b@53, /b@63
  assert.deepEqual(
    h.probes.attempts.map((a) => `${a.step}@${a.at}`),
    ['0@30000', '1@40000', '1@43000', '1@53000', '1@63000'],
  );
  assert.deepEqual(h.actions.take(), ['del 192.168.1.1:80']);
  h.probes.attempts = [];
  h.probes.set(`${A}:80`, true);
  await h.clock.to(95_000); // /b passes at 73 -> recheck all: /a@83, /b@93 (no fast_recovery)
  assert.deepEqual(
    h.probes.attempts.map((a) => `${a.step}@${a.at}`),
    ['1@73000', '0@83000', '1@93000'],
  );
  assert.deepEqual(h.actions.take(), []);
  await h.clock.to(103_000);
  assert.deepEqual(h.actions.take(), ['add 192.168.1.1:80 w1']);
  await h.hm.stop();

  // fast_recovery: while down (alpha) the URLs follow each other without delay
  const f = await started(
    config([
      vs('H', [
        rs(A, 80, { checkers: [http(A, 80, ['/a', '/b', '/c'], { alpha: true, fastRecovery: true })] }),
      ]),
    ]),
  );
  await f.clock.advance(0);
  assert.deepEqual(
    f.probes.attempts.map((a) => `${a.step}@${a.at}`),
    ['0@0', '1@0', '2@0'],
  );
  assert.deepEqual(f.actions.take(), ['add 192.168.1.1:80 w1']);
  await f.clock.to(25_000); // up: one URL per delay_loop again
  assert.deepEqual(
    f.probes.attempts.slice(3).map((a) => `${a.step}@${a.at}`),
    ['0@10000', '1@20000'],
  );
  await f.hm.stop();
});

test('reload: unchanged RS keep state and counters, a failed RS is not re-added, removed RS deleted, new RS installed, removed VS forgotten', async () => {
  const h = harness();
  h.probes.set(`${B}:80`, false);
  const cfg1 = config([vs('V', [rs(A, 80), rs(B, 80)]), vs('W', [rs('192.168.3.1', 80)])]);
  await h.hm.start(cfg1);
  await h.clock.advance(0);
  // the two virtual servers are reconciled independently: compare as a set, then B's removal last
  const first = h.actions.take();
  assert.deepEqual(first.slice(0, 3).sort(), [
    'add 192.168.1.1:80 w1',
    'add 192.168.1.2:80 w1',
    'add 192.168.3.1:80 w1',
  ]);
  assert.deepEqual(first.slice(3), ['del 192.168.1.2:80']);
  await h.clock.to(5_000);
  const before = h.hm.status().virtualServers[0]!.realServers[0]!.checkers[0]!.checks;
  // reload: A unchanged, B unchanged (down), C new, W removed, A's weight unchanged
  const C = '192.168.1.3';
  await h.hm.update(config([vs('V', [rs(A, 80), rs(B, 80), rs(C, 80)])]));
  assert.deepEqual(h.actions.take(), ['add 192.168.1.3:80 w1']);
  const st = h.hm.status();
  assert.equal(st.virtualServers.length, 1);
  const [ra, rb] = st.virtualServers[0]!.realServers;
  assert.equal(ra!.checkers[0]!.checks, before, 'A keeps its counters');
  assert.equal(rb!.alive, false, 'B stays down');
  assert.equal(rb!.inTable, false);
  // A's schedule is kept: next check at 10 s, not at reload time
  const aTimes = () => h.probes.times(`${A}:80`);
  assert.deepEqual(aTimes(), [0]);
  await h.clock.to(10_000);
  assert.deepEqual(aTimes(), [0, 10_000]);
  // B's checker changes (delay_loop): the new checker of a down RS starts DOWN, B is not re-added
  await h.hm.update(
    config([vs('V', [rs(A, 80), rs(B, 80, { checkers: [tcp(B, 80, { delayLoop: 5 })] }), rs(C, 80)])]),
  );
  assert.deepEqual(h.actions.take(), []);
  assert.equal(h.hm.status().virtualServers[0]!.realServers[1]!.alive, false);
  // reload dropping B and changing A's weight
  await h.hm.update(config([vs('V', [rs(A, 80, { weight: 3 }), rs(C, 80)])]));
  assert.deepEqual(h.actions.take(), ['edit 192.168.1.1:80 w3']);
  // a destination deleted by hand is not restored by a reload
  h.actions.table.get('V')!.delete('192.168.1.3:80');
  await h.hm.update(config([vs('V', [rs(A, 80, { weight: 3 }), rs(C, 80)])]));
  assert.deepEqual(h.actions.take(), []);
  // removing an RS that is in the table deletes it
  await h.hm.update(config([vs('V', [rs(A, 80, { weight: 3 })])]));
  assert.deepEqual(h.actions.take(), ['del 192.168.1.3:80']);
  await h.hm.stop();
});

test('checks are bounded by maxConcurrent; the rest wait their turn', async () => {
  const servers = Array.from({ length: 20 }, (_, i) => rs(`192.168.4.${i + 1}`, 80));
  const h = harness({ maxConcurrent: 4 });
  h.probes.hold = true;
  await h.hm.start(config([vs('C', servers)]));
  await h.clock.advance(0);
  assert.equal(h.probes.inFlight, 4);
  assert.equal(h.hm.status().queued, 16);
  for (let i = 0; i < 5; i++) {
    h.probes.release();
    await h.clock.advance(0);
  }
  assert.equal(h.probes.maxInFlight, 4);
  assert.equal(h.probes.attempts.length, 20);
  assert.equal(h.hm.status().inFlight, 0);
  h.probes.hold = false;
  await h.hm.stop();
});

test('stop without omega runs no scripts and cancels every timer', async () => {
  const h = await started(quorumSample({ omega: false }));
  await h.clock.advance(0);
  h.scripts.length = 0;
  await h.hm.stop();
  assert.deepEqual(h.scripts, []);
  assert.equal(h.clock.pending, 0);
  await h.clock.advance(60_000);
  assert.equal(h.probes.attempts.length, 10);
});

test('a failing IPVS action is logged and does not stop checking', async () => {
  const h = harness();
  h.actions.delDest = async () => {
    throw new Error('No such destination');
  };
  h.probes.set(`${A}:80`, false);
  await h.hm.start(config([vs('V', [rs(A, 80)])]));
  await h.clock.to(20_000);
  assert.ok(h.logs.some((l) => l.includes('delDest 192.168.1.1:80 from VS V failed: No such destination')));
  assert.equal(h.probes.times(`${A}:80`).length, 3);
  await h.hm.stop();
});
