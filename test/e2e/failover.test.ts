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
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Lab, netnsUnavailable, sleep, which, type Netns } from '../helpers/netns.js';
import { continuing, stalled, Streams, type StreamReport } from '../helpers/streams.js';

const PORT = 9000;
const STREAMS = 50;
const MIN_CONTINUING = STREAMS - 1;
const ADVERT_S = 1;
const PRIO_A = 150;
const PRIO_B = 100;
/** seconds a (re)started instance keeps accepting a lower-priority master before preempting */
const PREEMPT_DELAY_S = 5;
/** RFC 3768 / keepalived: master-down interval = 3 x advert_int + (256 - priority) / 256 */
const MASTER_DOWN_B_MS = 3 * ADVERT_S * 1000 + ((256 - PRIO_B) * 1000) / 256;
/** timer and scheduling jitter on a loaded 2-core machine */
const SLACK_MS = 1500;

const skip =
  netnsUnavailable() ?? (['socat', 'nft'].find((c) => !which(c)) ?? null)?.concat(' is needed') ?? null;

interface VrrpState {
  instance: string;
  state: string;
  vipsHeld: boolean;
}

interface LvsdStatus {
  pid: number;
  keepalived?: { loadedAt: string | null; vrrp: VrrpState[] | null };
  dataplane?: {
    sync?: {
      backup?: { resync: { requestsSent: number; completed: number } };
      master?: { resync: { served: number; records: number } };
    };
  };
}

async function until<T>(what: string, f: () => T | null | false | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One director running `lvsd -f FILE -n -l`, with its log kept in memory. */
class Director {
  child: ChildProcess | null = null;
  /** log of the current process, and of every earlier one */
  output: string[] = [];
  startedAt = 0;

  constructor(
    readonly name: string,
    readonly ns: Netns,
    readonly file: string,
  ) {}

  start(): void {
    this.output = [];
    this.startedAt = Date.now();
    const child = this.ns.spawn(`exec lvsd -f ${this.file} -n -l`);
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.child = child;
  }

  status(): LvsdStatus | null {
    const r = this.ns.run('lvsd status --json', { timeoutMs: 10000 });
    if (r.status !== 0) return null;
    try {
      return JSON.parse(r.stdout) as LvsdStatus;
    } catch {
      return null;
    }
  }

  /** Every VRRP instance's state ('' while the configuration is not running yet). */
  states(s: LvsdStatus | null = this.status()): string {
    const v = s?.keepalived?.loadedAt ? s.keepalived.vrrp : null;
    if (!v || v.length === 0) return '';
    const set = new Set(v.map((i) => i.state));
    return set.size === 1 ? [...set][0]! : v.map((i) => `${i.instance}=${i.state}`).join(',');
  }

  /** The time of the log lines whose msg matches `re` (ms since the epoch). */
  logTimes(re: RegExp): number[] {
    const out: number[] = [];
    for (const line of this.output.join('').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as { time: string; msg: string };
        if (re.test(rec.msg)) out.push(Date.parse(rec.time));
      } catch {
        /* a partial line */
      }
    }
    return out;
  }

  logTail(n = 25): string {
    return this.output.join('').split('\n').slice(-n).join('\n');
  }

  /** TCP connections to VIP:PORT in `ipvsadm -L -n -c` by state. */
  conns(vip: string, listing = this.ns.run('ipvsadm -L -n -c').stdout): Record<string, number> {
    const out: Record<string, number> = {};
    for (const line of listing.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[0] !== 'TCP' || f[4] !== `${vip}:${PORT}`) continue;
      out[f[2]!] = (out[f[2]!] ?? 0) + 1;
    }
    return out;
  }

  /** InPkts of VIP:PORT in `ipvsadm -L -n --stats --exact`. */
  inPkts(vip: string): number {
    const stats = this.ns.run('ipvsadm -L -n --stats --exact').stdout;
    const svc = stats.split('\n').find((l) => l.startsWith(`TCP  ${vip}:${PORT}`));
    return svc ? Number(svc.trim().split(/\s+/)[3]) : -1;
  }

  holds(addr: string): boolean {
    return this.ns.run('ip -o addr show').stdout.includes(` ${addr}/`);
  }

  diag(): string {
    const r = this.ns.run(
      'ipvsadm -L -n --stats --exact; ipvsadm -L -n -c | head -12; ipvsadm -L --daemon; lvsd status; ip -o -4 addr show',
      { timeoutMs: 15000 },
    );
    return `--- ${this.name} (${this.child?.pid ?? '-'}) ---\n${r.stdout}${r.stderr}\n--- ${this.name} lvsd log (tail) ---\n${this.logTail()}\n`;
  }
}

interface Scenario {
  lab: Lab;
  client: Netns;
  vip: string;
  dirA: Director;
  dirB: Director;
}

/** Failure messages carry both directors' tables, sync and VRRP state, and the stream report. */
async function withDiag<T>(sc: Scenario, streams: Streams | null, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error)
      e.message += `\n${sc.dirA.diag()}${sc.dirB.diag()}\nstreams: ${JSON.stringify(streams?.report() ?? [])}`;
    throw e;
  }
}

function keepalivedConf(o: {
  routerId: string;
  priority: number;
  syncIf: string;
  instances: { name: string; iface: string; vrid: number; vips: string[] }[];
  vip: string;
  kind: 'NAT' | 'DR';
  rips: string[];
}): string {
  const inst = o.instances
    .map(
      (i) => `vrrp_instance ${i.name} {
    state BACKUP
    interface ${i.iface}
    virtual_router_id ${i.vrid}
    priority ${o.priority}
    advert_int ${ADVERT_S}
    preempt_delay ${PREEMPT_DELAY_S}
    virtual_ipaddress {
${i.vips.map((v) => `        ${v}`).join('\n')}
    }
}
`,
    )
    .join('');
  const group =
    o.instances.length > 1
      ? `vrrp_sync_group VG_1 {
    group {
${o.instances.map((i) => `        ${i.name}`).join('\n')}
    }
}
`
      : '';
  const rs = o.rips
    .map(
      (r) => `    real_server ${r} ${PORT} {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
`,
    )
    .join('');
  return `! lvsd failover end-to-end test
global_defs {
    router_id ${o.routerId}
    lvs_sync_daemon ${o.syncIf} ${o.instances[0]!.name}
}
${group}${inst}
virtual_server ${o.vip} ${PORT} {
    delay_loop 2
    lb_algo rr
    lb_kind ${o.kind}
    protocol TCP
${rs}}
`;
}

/** A bridge in the switch namespace and a port on it for `n`'s `dev`. */
function plug(lab: Lab, sw: Netns, n: Netns, dev: string, swDev: string, br: string): void {
  lab.veth(n, dev, sw, swDev);
  sw.sh(`ip link set ${swDev} master ${br}; ip link set ${swDev} up`);
  n.sh(`ip link set ${dev} up`);
}

function startEcho(r: Netns): void {
  r.spawn(`exec socat TCP-LISTEN:${PORT},fork,reuseaddr,backlog=128 EXEC:cat`);
}

function natLab(): Scenario {
  const lab = new Lab('fon');
  const sw = lab.ns('sw');
  const client = lab.ns('c');
  const a = lab.ns('a');
  const b = lab.ns('b');
  const rss = [lab.ns('r1'), lab.ns('r2')];
  sw.sh('ip link add br0 type bridge; ip link add br1 type bridge; ip link set br0 up; ip link set br1 up');
  plug(lab, sw, client, 'eth0', 'c0', 'br0');
  plug(lab, sw, a, 'eth0', 'a0', 'br0');
  plug(lab, sw, b, 'eth0', 'b0', 'br0');
  plug(lab, sw, a, 'eth1', 'a1', 'br1');
  plug(lab, sw, b, 'eth1', 'b1', 'br1');
  rss.forEach((r, i) => plug(lab, sw, r, 'eth0', `r${i}`, 'br1'));
  client.sh('ip addr add 10.81.0.2/24 dev eth0');
  a.sh('ip addr add 10.81.0.11/24 dev eth0; ip addr add 172.31.81.11/24 dev eth1');
  b.sh('ip addr add 10.81.0.12/24 dev eth0; ip addr add 172.31.81.12/24 dev eth1');
  for (const d of [a, b]) d.sh('sysctl -qw net.ipv4.ip_forward=1');
  const rips = ['172.31.81.21', '172.31.81.22'];
  rss.forEach((r, i) => {
    r.sh(`ip addr add ${rips[i]}/24 dev eth0; ip route add default via 172.31.81.1`);
    startEcho(r);
  });
  const vip = '10.81.0.100';
  const conf = (name: string, priority: number): string => {
    const f = lab.file(`${name}.conf`);
    fs.writeFileSync(
      f,
      keepalivedConf({
        routerId: `lvsd_fo_${name}`,
        priority,
        syncIf: 'eth1',
        instances: [
          { name: 'VI_FRONT', iface: 'eth0', vrid: 51, vips: [`${vip}/32 dev eth0`] },
          { name: 'VI_BACK', iface: 'eth1', vrid: 52, vips: ['172.31.81.1/24 dev eth1'] },
        ],
        vip,
        kind: 'NAT',
        rips,
      }),
    );
    return f;
  };
  return {
    lab,
    client,
    vip,
    dirA: new Director('dirA', a, conf('dirA', PRIO_A)),
    dirB: new Director('dirB', b, conf('dirB', PRIO_B)),
  };
}

function drLab(): Scenario {
  const lab = new Lab('fod');
  const sw = lab.ns('sw');
  const client = lab.ns('c');
  const a = lab.ns('a');
  const b = lab.ns('b');
  const rss = [lab.ns('r1'), lab.ns('r2')];
  sw.sh('ip link add br0 type bridge; ip link set br0 up');
  plug(lab, sw, client, 'eth0', 'c0', 'br0');
  plug(lab, sw, a, 'eth0', 'a0', 'br0');
  plug(lab, sw, b, 'eth0', 'b0', 'br0');
  rss.forEach((r, i) => plug(lab, sw, r, 'eth0', `r${i}`, 'br0'));
  const vip = '10.82.0.100';
  client.sh('ip addr add 10.82.0.2/24 dev eth0');
  a.sh('ip addr add 10.82.0.11/24 dev eth0');
  b.sh('ip addr add 10.82.0.12/24 dev eth0');
  const rips = ['10.82.0.21', '10.82.0.22'];
  rss.forEach((r, i) => {
    r.sh(`ip addr add ${rips[i]}/24 dev eth0; lvsd realserver up --vip ${vip} --mode dr`);
    startEcho(r);
  });
  const conf = (name: string, priority: number): string => {
    const f = lab.file(`${name}.conf`);
    fs.writeFileSync(
      f,
      keepalivedConf({
        routerId: `lvsd_fo_${name}`,
        priority,
        syncIf: 'eth0',
        instances: [{ name: 'VI_1', iface: 'eth0', vrid: 61, vips: [`${vip}/32 dev eth0`] }],
        vip,
        kind: 'DR',
        rips,
      }),
    );
    return f;
  };
  return {
    lab,
    client,
    vip,
    dirA: new Director('dirA', a, conf('dirA', PRIO_A)),
    dirB: new Director('dirB', b, conf('dirB', PRIO_B)),
  };
}

function established(d: Director, vip: string, listing?: string): number {
  return d.conns(vip, listing)['ESTABLISHED'] ?? 0;
}

/** Wait until >= MIN_CONTINUING streams echoed `growth` more lines than in `base`. */
async function streamsContinue(
  streams: Streams,
  base: StreamReport[],
  growth: number,
  what: string,
  ms: number,
): Promise<void> {
  let now: StreamReport[] = [];
  const ok = await until(
    what,
    () => {
      now = streams.report();
      return continuing(base, now, growth).length >= MIN_CONTINUING;
    },
    ms,
  ).catch(() => false);
  assert.ok(
    ok,
    `${what}: only ${continuing(base, now, growth).length}/${STREAMS} streams echoed ${growth} more lines ` +
      `without an error; the others: ${stalled(base, now, growth)}`,
  );
}

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
    const resync = dirA.status()?.dataplane?.sync?.backup?.resync;
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
