/**
 * Graceful restart of a keepalived-mode lvsd MASTER with a BACKUP peer (issue 5): the NAT lab of
 * test/helpers/failover-lab.ts (two directors, vrrp_sync_group of the front VIP and the back
 * gateway, lvs_sync_daemon on eth1, 50 long TCP echo streams). NAT rather than DR because the sync
 * group and the floating gateway are where a restart can go wrong twice over; the cost is the same
 * (six namespaces either way).
 *
 * `lvsd restart -f FILE -n -l` in dirA's namespace starts the successor `lvsd --takeover -f FILE
 * -n -l` detached (its log goes to /var/log/lvsd/lvsd-<netns inode>.log, src/cli/restart.ts): the
 * old process records which VRRP instances are MASTER (vrrp-handover.json in the state directory)
 * when it hands over, keeps advertising until it exits, and the successor resumes those instances as
 * MASTER with their addresses in place. So, while a shell loop samples both directors' addresses
 * every 100 ms:
 *  - the VIP and the gateway never leave dirA and never appear on dirB;
 *  - dirB never leaves BACKUP (its `becameMaster` counters stay 0) during the restart and for
 *    WATCH_AFTER_MS after it;
 *  - the successor logs that it resumed as MASTER, is MASTER with another pid, took >= 49 of the
 *    50 connections over, and >= 49 streams keep echoing without an error or a close.
 * Without the record the successor starts as BACKUP: it removes the VIPs and waits three adverts, and
 * dirB takes over meanwhile (that is how this test was seen to fail).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { sleep, type Netns } from '../helpers/netns.js';
import { Streams } from '../helpers/streams.js';
import { logFile as lvsdLogFile } from '../../src/daemon/paths.js';
import {
  alive,
  established,
  failoverSkip as skip,
  MIN_CONTINUING,
  natLab,
  PORT,
  STREAMS,
  streamsContinue,
  until,
  withDiag,
  type LvsdStatus,
  type Scenario,
} from '../helpers/failover-lab.js';

/** the floating addresses of the NAT lab: the front VIP and the real servers' gateway */
const FLOATING = ['10.81.0.100', '172.31.81.1'];
/** how long after the restart dirB must still be BACKUP (more than its master-down interval) */
const WATCH_AFTER_MS = 5000;
const SAMPLE_MS = 100;

interface Sample {
  at: number;
  held: string[];
}

/**
 * A shell loop in `ns` that writes "<ms since the epoch> <held floating addresses,>" every
 * SAMPLE_MS: it runs on its own, so the samples do not depend on this process's event loop.
 */
class AddressSampler {
  readonly file: string;

  constructor(sc: Scenario, ns: Netns, tag: string) {
    this.file = sc.lab.file(`${tag}-addrs.log`);
    const grep = FLOATING.map((a) => `-e ' ${a}/'`).join(' ');
    ns.spawn(
      `while :; do h=$(ip -o -4 addr show | grep -oF ${grep} | tr -d ' /' | tr '\\n' ,); ` +
        `echo "$(date +%s%3N) $h"; sleep ${SAMPLE_MS / 1000}; done >> ${this.file}`,
    );
  }

  /** The last `n` samples as written, for an assertion message. */
  tail(n = 80): string {
    try {
      return fs.readFileSync(this.file, 'utf8').trimEnd().split('\n').slice(-n).join(' | ');
    } catch {
      return '-';
    }
  }

  samples(from = 0, to = Infinity): Sample[] {
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const out: Sample[] = [];
    for (const line of text.split('\n')) {
      const [at, held = ''] = line.split(' ');
      if (!at || !/^\d+$/.test(at)) continue;
      const s = { at: Number(at), held: held.split(',').filter(Boolean) };
      if (s.at >= from && s.at <= to) out.push(s);
    }
    return out;
  }
}

/** Runs `cmd` in `ns` without blocking the event loop (the old lvsd's log pipe keeps draining). */
function runAsync(ns: Netns, cmd: string, ms: number): Promise<{ code: number | null; out: string }> {
  const child = ns.spawn(cmd);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function netnsInode(ns: Netns): number {
  return fs.statSync(`/run/netns/${ns.name}`).ino;
}

function vrrpOf(s: LvsdStatus | null): { instance: string; state: string; becameMaster: number }[] {
  return (s?.keepalived?.vrrp ?? []).map((v) => ({
    instance: v.instance,
    state: v.state,
    becameMaster: v.becameMaster,
  }));
}

async function runRestart(t: TestContext, sc: Scenario): Promise<void> {
  const { dirA, dirB, vip } = sc;
  const timing: Record<string, number> = {};
  const t0 = Date.now();
  const step = (name: string): void => void (timing[name] = Date.now() - t0);

  dirA.start();
  await withDiag(sc, null, () => until('dirA MASTER', () => dirA.states() === 'MASTER', 20000));
  dirB.start();
  await withDiag(sc, null, async () => {
    await until('dirB BACKUP', () => dirB.states() === 'BACKUP', 20000);
    await until(
      'dirB resync answered',
      () => (dirB.status()?.dataplane?.sync?.backup?.resync.completed ?? 0) >= 1,
      10000,
    );
    assert.equal(dirA.states(), 'MASTER');
    assert.ok(dirA.holds(vip) && !dirB.holds(vip), 'the VIP is on dirA only');
  });
  step('elected');

  const st = new Streams(sc.lab, sc.client, vip, PORT, STREAMS);
  await withDiag(sc, st, async () => {
    await until(
      'every stream echoing through dirA',
      () => {
        const r = st.report();
        return r.length === STREAMS && r.every((s) => s.echoed >= 5);
      },
      20000,
    );
    await until('the synced connections on dirB', () => established(dirB, vip) >= MIN_CONTINUING, 10000);
    const b = vrrpOf(dirB.status());
    assert.ok(
      b.length === 2 && b.every((v) => v.state === 'BACKUP' && v.becameMaster === 0),
      `dirB has been BACKUP only so far: ${JSON.stringify(b)}`,
    );
  });
  step('synced');

  const samplerA = new AddressSampler(sc, dirA.ns, 'dirA');
  const samplerB = new AddressSampler(sc, dirB.ns, 'dirB');
  const sampled = (): string =>
    `\ndirA addresses (ms, held): ${samplerA.tail()}\ndirB addresses (ms, held): ${samplerB.tail()}`;
  await until(
    'the address samplers',
    () => samplerA.samples().length > 2 && samplerB.samples().length > 2,
    5000,
  );

  const pidA = dirA.status()!.pid;
  const logFile = lvsdLogFile(netnsInode(dirA.ns));
  dirA.detachedLog = { file: logFile, offset: fs.existsSync(logFile) ? fs.statSync(logFile).size : 0 };
  const before = st.report();
  const restartAt = Date.now();
  const restart = await runAsync(dirA.ns, `lvsd restart -f ${dirA.file} -n -l`, 60000);
  const restartedAt = Date.now();
  timing['restartCommandMs'] = restartedAt - restartAt;
  let restartNote = `\nlvsd restart (exit ${restart.code}): ${restart.out}`;
  await withDiag(sc, st, async () => {
    assert.equal(restart.code, 0, `lvsd restart failed${restartNote}`);
    assert.match(restart.out, new RegExp(`lvsd restarted: pid ${pidA} -> \\d+`), restartNote);
    assert.ok(!alive(pidA), `the old lvsd ${pidA} is gone${restartNote}`);
    step('restarted');

    // the streams keep going through the successor while dirB stays BACKUP
    await streamsContinue(st, before, 20, 'streams through dirA after the restart', 20000);
    const watchEnd = restartedAt + WATCH_AFTER_MS;
    if (Date.now() < watchEnd) await sleep(watchEnd - Date.now());
    step('watched');
    const now = Date.now();
    restartNote += sampled();

    // the VIP and the gateway never left dirA, never came to dirB
    const a = samplerA.samples(restartAt, now);
    const b = samplerB.samples(restartAt, now);
    const expected = (now - restartAt) / SAMPLE_MS / 4;
    assert.ok(
      a.length >= expected && b.length >= expected,
      `too few address samples (${a.length} on dirA, ${b.length} on dirB, want >= ${expected})${restartNote}`,
    );
    const gaps = a.slice(1).map((s, i) => s.at - a[i]!.at);
    timing['samplesA'] = a.length;
    timing['maxSampleGapMs'] = Math.max(...gaps);

    // ... and dirB never left BACKUP; every violation is reported at once
    const problems: string[] = [];
    const missing = a.filter((s) => FLOATING.some((f) => !s.held.includes(f)));
    if (missing.length > 0)
      problems.push(
        `dirA lacked a floating address in ${missing.length}/${a.length} samples, from ` +
          `${missing[0]!.at - restartAt} to ${missing.at(-1)!.at - restartAt} ms after the restart began`,
      );
    const onB = b.filter((s) => s.held.length > 0);
    if (onB.length > 0)
      problems.push(
        `dirB held a floating address in ${onB.length}/${b.length} samples, from ` +
          `${onB[0]!.at - restartAt} ms after the restart began`,
      );
    const vB = vrrpOf(dirB.status());
    if (vB.length !== 2 || vB.some((v) => v.state !== 'BACKUP' || v.becameMaster !== 0))
      problems.push(`dirB left BACKUP: ${JSON.stringify(vB)}`);
    const bMaster = dirB.logTimes(/Entering MASTER STATE/).map((at) => at - restartAt);
    if (bMaster.length > 0) problems.push(`dirB logged "Entering MASTER STATE" at ${bMaster.join(', ')} ms`);
    assert.deepEqual(
      problems,
      [],
      `the restart was visible to the VRRP peer: ${problems.join('; ')}${restartNote}`,
    );

    // the successor resumed both instances as MASTER and has the connections
    const resumed = dirA.logText().match(/\(VI_\w+\) resuming as MASTER after a graceful restart/g) ?? [];
    assert.deepEqual(
      [...resumed].sort(),
      [
        '(VI_BACK) resuming as MASTER after a graceful restart',
        '(VI_FRONT) resuming as MASTER after a graceful restart',
      ],
      `the successor's log says it resumed both instances as MASTER${restartNote}`,
    );
    const recorded = dirA.logTimes(/VRRP hand-over recorded/);
    const resumedAt = dirA.logTimes(/resuming as MASTER after a graceful restart/);
    if (recorded.length > 0 && resumedAt.length > 0)
      timing['recordToResumeMs'] = Math.min(...resumedAt) - recorded[0]!;
    const sA = dirA.status();
    assert.ok(sA && sA.pid !== pidA, `dirA runs another lvsd (pid ${sA?.pid}, was ${pidA})`);
    const vA = vrrpOf(sA);
    assert.ok(
      vA.length === 2 && vA.every((v) => v.state === 'MASTER'),
      `dirA is MASTER after the restart: ${JSON.stringify(vA)}${restartNote}`,
    );
    const h = sA.restart?.handover;
    assert.ok(
      h && h.connections >= MIN_CONTINUING,
      `the connections were handed over: ${JSON.stringify(h)}${restartNote}`,
    );
    timing['handoverGapMs'] = h.gapMs;
    timing['droppedInGap'] = h.droppedInGap;

    // and the streams still go through dirA, none failed
    const pkts = dirA.inPkts(vip);
    const mid = st.report();
    await streamsContinue(st, mid, 10, 'streams keep going through dirA', 10000);
    const grown = dirA.inPkts(vip);
    assert.ok(grown > pkts, `dirA forwards the streams (InPkts ${pkts} -> ${grown})`);
    const failed = st.report().filter((s) => s.err !== null || s.closed);
    assert.ok(failed.length <= STREAMS - MIN_CONTINUING, `streams failed: ${JSON.stringify(failed)}`);
  });
  step('done');
  t.diagnostic(`timings (ms since the start of the scenario): ${JSON.stringify(timing)}`);
}

describe('failover: graceful restart of the VRRP MASTER', { skip: skip ?? false }, () => {
  it(
    `NAT: lvsd restart of the MASTER keeps the VIPs on it, the BACKUP stays BACKUP, ${STREAMS} streams continue`,
    { timeout: 120000 },
    async (t) => {
      const sc = natLab();
      try {
        await runRestart(t, sc);
      } finally {
        await sc.lab.cleanup();
      }
    },
  );
});
