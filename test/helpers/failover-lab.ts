/**
 * The two-director lab of the failover end-to-end tests (issue 5, high availability): two lvsd
 * directors in keepalived mode (`lvsd -f keepalived.conf -n -l`) with VRRP and connection sync, two
 * socat echo real servers, and the helpers the scenarios share (test/e2e/failover.test.ts,
 * test/e2e/failover-restart.test.ts).
 *
 * NAT: client 10.81.0.2 --- front bridge --- dirA eth0 .11, dirB eth0 .12 (VIP 10.81.0.100)
 *      rs1 172.31.81.21, rs2 .22 --- back bridge --- dirA eth1 .11, dirB eth1 .12 (gateway .1)
 *      the real servers' default route is the floating gateway 172.31.81.1: a vrrp_sync_group
 *      keeps it with the VIP; lvs_sync_daemon on eth1.
 * DR:  client 10.82.0.2, dirA .11, dirB .12, rs1 .21, rs2 .22 on one bridge; the real servers
 *      hold the VIP 10.82.0.100 on lo (`lvsd realserver up --mode dr`); lvs_sync_daemon on eth0.
 * Real servers: socat echo (EXEC:cat) on port 9000, TCP_CHECK health checks. dirA has priority 150,
 * dirB 100, both start as BACKUP with preempt_delay.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { e2eUnavailable, Lab, until, type Netns } from './netns.js';
import { continuing, stalled, Streams, type StreamReport } from './streams.js';

export const PORT = 9000;
export const STREAMS = 50;
export const MIN_CONTINUING = STREAMS - 1;
export const ADVERT_S = 1;
export const PRIO_A = 150;
export const PRIO_B = 100;
/** seconds a (re)started instance keeps accepting a lower-priority master before preempting */
export const PREEMPT_DELAY_S = 5;
/** RFC 3768 / keepalived: master-down interval = 3 x advert_int + (256 - priority) / 256 */
export const MASTER_DOWN_B_MS = 3 * ADVERT_S * 1000 + ((256 - PRIO_B) * 1000) / 256;
/** timer and scheduling jitter on a loaded 2-core machine */
export const SLACK_MS = 1500;

/** why the failover tests cannot run here (null: they can) */
export const failoverSkip = e2eUnavailable('socat', 'nft');

export interface VrrpState {
  instance: string;
  state: string;
  vipsHeld: boolean;
  becameMaster: number;
}

export interface LvsdStatus {
  pid: number;
  restart?: {
    handover: { connections: number; skipped: number; gapMs: number; droppedInGap: number } | null;
  };
  keepalived?: { loadedAt: string | null; vrrp: VrrpState[] | null };
  dataplane?: {
    sync?: {
      backup?: { resync: { requestsSent: number; completed: number } };
      master?: { resync: { served: number; records: number } };
    };
  };
}

export { until };

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One director running `lvsd -f FILE -n -l`, with its log kept in memory. */
export class Director {
  child: ChildProcess | null = null;
  /** log of the current process, and of every earlier one */
  output: string[] = [];
  startedAt = 0;

  constructor(
    readonly name: string,
    readonly ns: Netns,
    readonly file: string,
  ) {}

  /**
   * The log of a successor that `lvsd restart` started detached: it writes to the namespace's log
   * file (/var/log/lvsd/lvsd-<netns inode>.log) from `offset` on.
   */
  detachedLog: { file: string; offset: number } | null = null;

  start(): void {
    this.output = [];
    this.detachedLog = null;
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

  /** The current process's log: the foreground one's, then a detached successor's. */
  logText(): string {
    let text = this.output.join('');
    if (this.detachedLog) {
      try {
        text += `${fs.readFileSync(this.detachedLog.file).subarray(this.detachedLog.offset).toString()}`;
      } catch {
        /* not written yet */
      }
    }
    return text;
  }

  /** The time of the log lines whose msg matches `re` (ms since the epoch). */
  logTimes(re: RegExp): number[] {
    const out: number[] = [];
    for (const line of this.logText().split('\n')) {
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
    return this.logText().split('\n').slice(-n).join('\n');
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
    return `--- ${this.name} (${this.child?.pid ?? '-'}${this.detachedLog ? ', then its detached successor' : ''}) ---\n${r.stdout}${r.stderr}\n--- ${this.name} lvsd log (tail) ---\n${this.logTail()}\n`;
  }
}

export interface Scenario {
  lab: Lab;
  client: Netns;
  vip: string;
  dirA: Director;
  dirB: Director;
}

/** Failure messages carry both directors' tables, sync and VRRP state, and the stream report. */
export async function withDiag<T>(
  sc: Scenario,
  streams: Streams | null,
  fn: () => T | Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error) {
      const message = e.message;
      e.message += `\n${sc.dirA.diag()}${sc.dirB.diag()}\nstreams: ${JSON.stringify(streams?.report() ?? [])}`;
      // the test reporter prints the stack, which holds the message of the moment the error was made
      if (e.stack?.includes(message)) e.stack = e.stack.replace(message, e.message);
    }
    throw e;
  }
}

export function keepalivedConf(o: {
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
export function plug(lab: Lab, sw: Netns, n: Netns, dev: string, swDev: string, br: string): void {
  lab.veth(n, dev, sw, swDev);
  sw.sh(`ip link set ${swDev} master ${br}; ip link set ${swDev} up`);
  n.sh(`ip link set ${dev} up`);
}

export function startEcho(r: Netns): void {
  r.spawn(`exec socat TCP-LISTEN:${PORT},fork,reuseaddr,backlog=128 EXEC:cat`);
}

export function natLab(): Scenario {
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

export function drLab(): Scenario {
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

export function established(d: Director, vip: string, listing?: string): number {
  return d.conns(vip, listing)['ESTABLISHED'] ?? 0;
}

/** Wait until >= MIN_CONTINUING streams echoed `growth` more lines than in `base`. */
export async function streamsContinue(
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
