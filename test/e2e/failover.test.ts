/**
 * Director failover end to end (issue 5, high availability): two lvsd directors in keepalived mode
 * (`lvsd -f keepalived.conf -n -l`) run VRRP and connection sync together; 50 long-lived TCP
 * streams go through the VIP. SIGKILL of the master: the backup takes over within the master-down
 * interval (3 x advert_int + skew, keepalived-reference §3.4) and >= 49 streams continue without
 * a reset on the connections it got by sync. The killed director comes back with the same file: it
 * starts as BACKUP, gets the whole table by bulk resync (lvsd RESYNC_REQUEST) while it does not hold
 * the VIP (preempt_delay keeps it BACKUP long enough to make that ordering deterministic), then
 * preempts (priority 150 > 100) and the streams continue through it.
 *
 * Plain SIGKILL, links left up: the killed process leaves its VIPs on its interfaces and its
 * `table netdev lvsd` in its kernel, as `kill -9` of keepalived leaves its VIPs. That is the harder
 * case for the restart (the new lvsd must cope with the leftovers) and the client and real servers
 * still follow the survivor, because its gratuitous ARPs rebind the VIP / gateway to its MAC.
 *
 * NAT: client 10.81.0.2 --- front bridge --- dirA eth0 .11, dirB eth0 .12 (VIP 10.81.0.100)
 *      rs1 172.31.81.21, rs2 .22 --- back bridge --- dirA eth1 .11, dirB eth1 .12 (gateway .1)
 *      the real servers' default route is the floating gateway 172.31.81.1: a vrrp_sync_group
 *      keeps it with the VIP; lvs_sync_daemon on eth1.
 * DR:  client 10.82.0.2, dirA .11, dirB .12, rs1 .21, rs2 .22 on one bridge; the real servers
 *      hold the VIP 10.82.0.100 on lo (`lvsd realserver up --mode dr`); lvs_sync_daemon on eth0.
 * Real servers: socat echo (EXEC:cat) on port 9000, TCP_CHECK health checks.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Streams } from '../helpers/streams.js';
import {
  alive,
  drLab,
  established,
  failoverSkip as skip,
  MASTER_DOWN_B_MS,
  MIN_CONTINUING,
  natLab,
  PORT,
  PREEMPT_DELAY_S,
  SLACK_MS,
  STREAMS,
  streamsContinue,
  until,
  withDiag,
  type LvsdStatus,
  type Scenario,
} from '../helpers/failover-lab.js';

async function runScenario(t: TestContext, sc: Scenario): Promise<void> {
  const { dirA, dirB, vip } = sc;
  const timing: Record<string, number> = {};
  const t0 = Date.now();
  let streams: Streams | null = null;
  const step = (name: string): void => void (timing[name] = Date.now() - t0);

  // dirA alone first: it is MASTER after its master-down interval; dirB then starts and, hearing
  // priority 150, stays BACKUP
  dirA.start();
  await withDiag(sc, null, () => until('dirA MASTER', () => dirA.states() === 'MASTER', 20000));
  dirB.start();
  await withDiag(sc, null, async () => {
    await until('dirB BACKUP', () => dirB.states() === 'BACKUP', 20000);
    // dirB's resync request was answered by dirA (an empty table now)
    await until(
      'dirB resync answered',
      () => (dirB.status()?.dataplane?.sync?.backup?.resync.completed ?? 0) >= 1,
      10000,
    );
    assert.equal(dirA.states(), 'MASTER');
    assert.ok(dirA.holds(vip) && !dirB.holds(vip), 'the VIP is on dirA only');
  });
  step('elected');

  streams = new Streams(sc.lab, sc.client, vip, PORT, STREAMS);
  const st = streams;
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
  });
  step('synced');

  // SIGKILL dirA's lvsd: no priority-0 advert, no cleanup (VIPs and nft table stay)
  const pidA = dirA.status()!.pid;
  const beforeKill = st.report();
  const killedAt = Date.now();
  process.kill(pidA, 'SIGKILL');
  await until('dirA to die', () => !alive(pidA), 5000);
  // what a SIGKILLed director leaves behind (the restart below must cope with it)
  assert.ok(dirA.holds(vip), 'the killed lvsd left its VIP');
  assert.equal(dirA.ns.run('nft list table netdev lvsd').status, 0, 'the killed lvsd left its nft table');
  await withDiag(sc, st, async () => {
    await until(
      'dirB MASTER after the kill',
      () => dirB.logTimes(/Entering MASTER STATE/).some((at) => at > killedAt),
      15000,
    );
    const tookOver = Math.min(...dirB.logTimes(/Entering MASTER STATE/).filter((at) => at > killedAt));
    assert.ok(
      tookOver - killedAt <= MASTER_DOWN_B_MS + SLACK_MS,
      `dirB became MASTER ${tookOver - killedAt} ms after the kill (bound ${MASTER_DOWN_B_MS} + ${SLACK_MS} ms)`,
    );
    timing['takeoverMs'] = tookOver - killedAt;
    await until('dirB to hold the VIP', () => dirB.states() === 'MASTER' && dirB.holds(vip), 10000);
    step('dirB master');
    const pkts = dirB.inPkts(vip);
    await streamsContinue(st, beforeKill, 20, 'streams through dirB after the takeover', 20000);
    const mid = st.report();
    await streamsContinue(st, mid, 10, 'streams keep going through dirB', 10000);
    assert.ok(dirB.inPkts(vip) > pkts, 'dirB forwards the streams (InPkts grows)');
  });
  step('continued on dirB');

  // dirA comes back with the same file: BACKUP, bulk resync, then preemption after preempt_delay
  const servedBefore = dirB.status()?.dataplane?.sync?.master?.resync.records ?? -1;
  dirA.start();
  const restartedAt = Date.now();
  await withDiag(sc, st, async () => {
    // conns, VRRP state and addresses in one shell, in this order: conns listed while the instance
    // is BACKUP and the VIP is not on dirA were installed before dirA took the VIP
    let sample = { conns: 0, states: '', holds: true };
    await until(
      'dirA BACKUP with the table from the bulk resync, VIP not held',
      () => {
        const out = dirA.ns.run('ipvsadm -L -n -c; echo @@; lvsd status --json; echo @@; ip -o addr show');
        const [listing = '', statusText = '', addrs = ''] = out.stdout.split('@@\n');
        let s: LvsdStatus | null = null;
        try {
          s = JSON.parse(statusText) as LvsdStatus;
        } catch {
          /* not up yet */
        }
        sample = {
          conns: established(dirA, vip, listing),
          states: dirA.states(s),
          holds: addrs.includes(` ${vip}/`),
        };
        assert.doesNotMatch(
          sample.states,
          /MASTER/,
          `dirA became MASTER before it had the table: ${JSON.stringify(sample)}`,
        );
        return sample.conns >= MIN_CONTINUING && sample.states === 'BACKUP' && !sample.holds;
      },
      (PREEMPT_DELAY_S + 3) * 1000 + 10000,
    );
    timing['resyncAfterRestartMs'] = Date.now() - restartedAt;
    // the paced dump sends every record before its RESYNC_DONE (src/sync/manager.ts), and dirB's
    // periodic sync may bring the connections too: the completion can trail the table by a moment
    let resync = dirA.status()?.dataplane?.sync?.backup?.resync;
    await until(
      "dirA's resync completion",
      () => (resync = dirA.status()?.dataplane?.sync?.backup?.resync) && resync.completed >= 1,
      5000,
    ).catch(() => false);
    assert.ok((resync?.completed ?? 0) >= 1, `dirA's resync request was answered: ${JSON.stringify(resync)}`);
    // the table came by bulk resync: dirB's master dumped every connection for dirA's request
    const served = dirB.status()?.dataplane?.sync?.master?.resync;
    assert.ok(
      servedBefore >= 0 && (served?.records ?? 0) - servedBefore >= MIN_CONTINUING,
      `dirB sent ${(served?.records ?? 0) - servedBefore} records by bulk resync (before: ${servedBefore})`,
    );
    step('dirA resynced');
    const base = st.report();
    await until('dirA to preempt', () => dirA.states() === 'MASTER' && dirA.holds(vip), 25000);
    await until('dirB BACKUP again', () => dirB.states() === 'BACKUP' && !dirB.holds(vip), 10000);
    const preempted = Math.min(...dirA.logTimes(/Entering MASTER STATE/));
    assert.ok(
      preempted - dirA.startedAt >= PREEMPT_DELAY_S * 1000,
      `dirA preempted ${preempted - dirA.startedAt} ms after its start, before preempt_delay`,
    );
    step('dirA master');
    const pkts = dirA.inPkts(vip);
    await streamsContinue(st, base, 20, 'streams through dirA after the preemption', 20000);
    const mid = st.report();
    await streamsContinue(st, mid, 10, 'streams keep going through dirA', 10000);
    const grown = dirA.inPkts(vip);
    assert.ok(grown > pkts, `dirA forwards the streams (InPkts ${pkts} -> ${grown})`);
    const failed = st.report().filter((s) => s.err !== null || s.closed);
    assert.ok(failed.length <= STREAMS - MIN_CONTINUING, `streams failed: ${JSON.stringify(failed)}`);
  });
  step('continued on dirA');
  t.diagnostic(`timings (ms since the start of the scenario): ${JSON.stringify(timing)}`);
}

describe('failover: two lvsd directors with VRRP and connection sync', { skip: skip ?? false }, () => {
  it(
    `NAT: ${STREAMS} streams survive SIGKILL of the master and its return (bulk resync, preemption)`,
    {
      timeout: 150000,
    },
    async (t) => {
      const sc = natLab();
      try {
        await runScenario(t, sc);
      } finally {
        await sc.lab.cleanup();
      }
    },
  );

  it(
    `DR: ${STREAMS} streams survive SIGKILL of the master and its return (bulk resync, preemption)`,
    {
      timeout: 150000,
    },
    async (t) => {
      const sc = drLab();
      try {
        await runScenario(t, sc);
      } finally {
        await sc.lab.cleanup();
      }
    },
  );
});
