/**
 * VRRP end to end: lvsd's VrrpManager (test/vrrp/run-manager.ts) and the real keepalived (Debian
 * package) on one L2 segment (a bridge in its own namespace) with a client, advert_int 1:
 * - each side as master and as backup: the master dies (process killed, its link down) -> the
 *   backup holds the VIP within 3 x advert + skew (+ slack) and its gratuitous ARPs move the
 *   client's neighbour entry for the VIP to the new MAC; the old master returns and preempts;
 *   a clean stop of the master (priority-0 advert) hands over within a second;
 * - VRRPv3 over IPv6 (link-local sources, ff02::12, unsolicited NAs), handover by priority 0.
 * Takeover times are measured from the kill / stop to the VIP appearing in the other namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { e2eUnavailable, Lab, REPO, sleep, type Netns } from '../helpers/netns.js';
import { config, instance, vip } from '../vrrp/config.js';
import type { KeepalivedConfig } from '../../src/config/model.js';

const skip = e2eUnavailable('keepalived', 'curl');

const RUNNER = path.join(REPO, 'dist/test/vrrp/run-manager.js');
/** Allowance for process start, polling and scheduling on a loaded 2-core machine */
const SLACK_MS = 1200;
/**
 * A clean stop hands over after the backup's Skew_Time ((256 - 100)/256 s = 609 ms): measured from
 * the signal to the VIP seen in the other namespace it must stay under 1 s + slack, which is still
 * well below the 3609 ms master-down timeout that would apply without the priority-0 advert.
 */
const HANDOVER_MS = 1000 + SLACK_MS;

interface Segment {
  lab: Lab;
  /** lvsd side */
  a: Netns;
  /** keepalived side */
  k: Netns;
  client: Netns;
  net: string;
  vip: string;
}

let netCounter = 0;

function segment(tag: string): Segment {
  const lab = new Lab(tag);
  const net = `10.${90 + (process.pid % 8)}.${(netCounter++ % 200) + 1}`;
  const sw = lab.ns('sw');
  const a = lab.ns('a');
  const k = lab.ns('k');
  const client = lab.ns('c');
  sw.sh('ip link add br0 type bridge; ip link set br0 up');
  const hosts: [Netns, string][] = [
    [a, `${net}.1`],
    [k, `${net}.2`],
    [client, `${net}.10`],
  ];
  hosts.forEach(([ns, ip], i) => {
    lab.veth(ns, 'eth0', sw, `p${i}`);
    sw.sh(`ip link set p${i} master br0; ip link set p${i} up`);
    ns.sh(`ip link set eth0 up; ip addr add ${ip}/24 dev eth0`);
  });
  return { lab, a, k, client, net, vip: `${net}.100` };
}

function mac(ns: Netns): string {
  return (JSON.parse(ns.sh('ip -j link show eth0')) as { address: string }[])[0]!.address;
}

function holds(ns: Netns, address: string): boolean {
  return ns.run('ip -o addr show dev eth0').stdout.includes(` ${address}/`);
}

/** Poll until pred() is true; the elapsed ms, or -1 at the timeout. */
async function waitFor(pred: () => boolean, timeoutMs: number, stepMs = 40): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (pred()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) return -1;
    await sleep(stepMs);
  }
}

function neighMac(client: Netns, address: string): string | null {
  const r = client.run(`ip -j neigh show ${address} dev eth0`);
  const j = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
  return j[0]?.lladdr ?? null;
}

/** Some traffic to the VIP so the client resolves it (a refused TCP connection is enough). */
function touch(client: Netns, address: string): void {
  client.run(`curl -s -m 1 http://${address}:9/ >/dev/null 2>&1; true`, { timeoutMs: 5000 });
}

function keepalivedConf(
  s: Segment,
  o: { priority: number; vrid: number; version?: 2 | 3; v6?: boolean },
): string {
  const addr = o.v6 ? 'fd00:99::100/64' : `${s.vip}/24`;
  return [
    'global_defs {',
    '  router_id keepalived_side',
    '}',
    'vrrp_instance VI_1 {',
    '  state BACKUP',
    '  interface eth0',
    `  virtual_router_id ${o.vrid}`,
    `  priority ${o.priority}`,
    '  advert_int 1',
    o.version === 3 && !o.v6 ? '  version 3' : '',
    `  virtual_ipaddress {\n    ${addr}\n  }`,
    '}',
    '',
  ].join('\n');
}

class Keepalived {
  constructor(
    readonly s: Segment,
    readonly conf: string,
  ) {}
  private n = 0;
  log = '';

  start(text: string): void {
    const i = this.n++;
    fs.writeFileSync(this.conf, text);
    const f = (x: string): string => this.s.lab.file(`ka-${x}-${i}`);
    this.log = f('log');
    this.pidFile = f('pid');
    this.s.k.spawn(
      `exec keepalived -n -l -D -f ${this.conf} -p ${f('pid')} -r ${f('vrrp.pid')} -c ${f('check.pid')} > ${this.log} 2>&1`,
    );
  }
  pidFile = '';

  /** SIGTERM to the parent: keepalived sends priority 0, removes its VIPs, exits (not awaited). */
  signalStop(): void {
    process.kill(Number(fs.readFileSync(this.pidFile, 'utf8').trim()), 'SIGTERM');
  }

  async exited(): Promise<boolean> {
    return (await waitFor(() => this.s.k.pids().length === 0, 5000)) >= 0;
  }

  tail(): string {
    try {
      return fs.readFileSync(this.log, 'utf8').split('\n').slice(-25).join('\n');
    } catch {
      return '(no keepalived log)';
    }
  }
}

class Lvsd {
  private n = 0;
  log = '';
  status = '';
  constructor(readonly s: Segment) {}

  start(cfg: KeepalivedConfig): void {
    const i = this.n++;
    const cfgFile = this.s.lab.file(`lvsd-${i}.json`);
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    this.log = this.s.lab.file(`lvsd-${i}.log`);
    this.status = this.s.lab.file(`lvsd-${i}.status.json`);
    this.s.a.spawn(`exec node ${RUNNER} --run ${cfgFile} ${this.status} > ${this.log} 2>&1`);
  }

  /** SIGTERM: a clean stop (priority 0, VIPs removed, exit); exited() waits for the exit. */
  signalStop(): void {
    for (const p of this.s.a.pids()) process.kill(p, 'SIGTERM');
  }

  async exited(): Promise<boolean> {
    return (await waitFor(() => this.s.a.pids().length === 0, 5000)) >= 0;
  }

  state(): string {
    try {
      return (JSON.parse(fs.readFileSync(this.status, 'utf8')) as { instances: { state: string }[] })
        .instances[0]!.state;
    } catch {
      return 'unknown';
    }
  }

  tail(): string {
    let out = '';
    try {
      out += fs.readFileSync(this.log, 'utf8').split('\n').slice(-25).join('\n');
      out += `\nstatus: ${fs.readFileSync(this.status, 'utf8')}`;
    } catch {
      /* not yet */
    }
    return out;
  }
}

/** A machine dies: every process in its namespace killed, its link down; back: link up. */
function crash(ns: Netns): void {
  // Freeze every process first: killing keepalived's parent first makes its VRRP child get SIGTERM
  // (parent-death signal) and send a priority-0 advert before its own SIGKILL lands, which is a
  // clean stop, not a crash (the backup then takes over after the skew time, not the down timer).
  const signal = (sig: NodeJS.Signals): void => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        // exited meanwhile
      }
    }
  };
  const pids = ns.pids();
  signal('SIGSTOP');
  ns.sh('ip link set eth0 down');
  signal('SIGKILL');
}

function reboot(ns: Netns, vipAddr: string): void {
  // a rebooted machine comes back without the addresses its VRRP daemon had added
  ns.run(`ip addr del ${vipAddr} dev eth0`);
  ns.sh('ip link set eth0 up');
}

function lvsdConfig(s: Segment, priority: number, vrid: number, notifyFile?: string): KeepalivedConfig {
  return config([
    instance({
      name: 'VI_1',
      virtualRouterId: vrid,
      priority,
      virtualIpaddress: [vip(`${s.vip}/24`)],
      notify: notifyFile
        ? {
            command: 'notify',
            argv: ['/bin/sh', '-c', `echo "$@" >> ${notifyFile}`, 'notify'],
          }
        : undefined,
    }),
  ]);
}

function diag(s: Segment, ka: Keepalived, lv: Lvsd): string {
  return (
    `\n--- lvsd (${s.a.name}) ---\n${lv.tail()}\n--- keepalived (${s.k.name}) ---\n${ka.tail()}\n` +
    `--- client neigh ---\n${s.client.run('ip neigh').stdout}` +
    `--- a addr ---\n${s.a.run('ip -o addr show dev eth0').stdout}--- k addr ---\n${s.k.run('ip -o addr show dev eth0').stdout}`
  );
}

/** After a takeover by `to`, the client's neighbour entry must carry to's MAC (GARP), also after traffic. */
async function assertNeighbourMoved(s: Segment, toMac: string, what: string, d: () => string): Promise<void> {
  const viaGarp = await waitFor(() => neighMac(s.client, s.vip) === toMac, 2000);
  touch(s.client, s.vip);
  const after = neighMac(s.client, s.vip);
  assert.ok(viaGarp >= 0, `${what}: gratuitous ARP did not move the client's entry to ${toMac}${d()}`);
  assert.equal(after, toMac, `${what}: after traffic${d()}`);
}

test(
  'lvsd master, keepalived backup: crash -> keepalived takes over, lvsd returns and preempts, clean stop hands over',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const s = segment('vrrpa');
    const ka = new Keepalived(s, s.lab.file('ka.conf'));
    const lv = new Lvsd(s);
    const d = (): string => diag(s, ka, lv);
    try {
      const macA = mac(s.a);
      const macK = mac(s.k);
      const notifyFile = s.lab.file('notify.log');
      ka.start(keepalivedConf(s, { priority: 100, vrid: 61 }));
      lv.start(lvsdConfig(s, 150, 61, notifyFile));
      // lvsd (150) preempts keepalived (100) once its own down timer (3 + 106/256 s) expires
      assert.ok((await waitFor(() => holds(s.a, s.vip), 8000)) >= 0, `lvsd never became master${d()}`);
      assert.ok((await waitFor(() => !holds(s.k, s.vip), 3000)) >= 0, `keepalived kept the VIP${d()}`);
      assert.match(ka.tail(), /higher priority 150|Entering BACKUP STATE/, d());
      touch(s.client, s.vip);
      assert.equal(neighMac(s.client, s.vip), macA, `client resolves the VIP to lvsd${d()}`);
      await sleep(1500); // past the neighbour locktime, and a few adverts exchanged

      // the lvsd machine dies: keepalived's down timer is 3 x 1 + (256 - 100)/256 s
      const t0 = Date.now();
      crash(s.a);
      const took = await waitFor(() => holds(s.k, s.vip), 3609 + SLACK_MS + 1000);
      assert.ok(took >= 0, `keepalived did not take over${d()}`);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 2400 && elapsed <= 3609 + SLACK_MS, `keepalived took ${elapsed} ms${d()}`);
      await assertNeighbourMoved(s, macK, 'lvsd crash', d);

      // lvsd comes back with the higher priority and preempts after its down timer
      reboot(s.a, `${s.vip}/24`);
      await sleep(1200);
      const t1 = Date.now();
      lv.start(lvsdConfig(s, 150, 61, notifyFile));
      assert.ok((await waitFor(() => holds(s.a, s.vip), 3414 + SLACK_MS + 1500)) >= 0, `no preemption${d()}`);
      const preemptMs = Date.now() - t1;
      assert.ok(preemptMs >= 3000, `lvsd preempted after ${preemptMs} ms, before its down timer${d()}`);
      assert.ok((await waitFor(() => !holds(s.k, s.vip), 3000)) >= 0, `keepalived kept the VIP${d()}`);
      await assertNeighbourMoved(s, macA, 'lvsd preempts', d);
      await sleep(1500);

      // clean stop: priority 0 -> keepalived takes over after its skew (0.61 s)
      const t2 = Date.now();
      lv.signalStop();
      assert.ok(
        (await waitFor(() => holds(s.k, s.vip), 3000)) >= 0,
        `no takeover after the clean stop${d()}`,
      );
      const handover = Date.now() - t2;
      assert.ok(handover <= HANDOVER_MS, `clean stop handed over in ${handover} ms${d()}`);
      assert.ok(await lv.exited(), `lvsd did not exit${d()}`);
      assert.equal(holds(s.a, s.vip), false, `lvsd removed its VIP on stop${d()}`);
      await assertNeighbourMoved(s, macK, 'lvsd clean stop', d);
      assert.match(ka.tail(), /priority 0/i, d());

      // notify: "INSTANCE name STATE priority" per transition, in order, over both lvsd runs
      const notes = fs.readFileSync(notifyFile, 'utf8').trim().split('\n');
      assert.deepEqual(
        notes,
        [
          'INSTANCE VI_1 BACKUP 150',
          'INSTANCE VI_1 MASTER 150',
          'INSTANCE VI_1 BACKUP 150',
          'INSTANCE VI_1 MASTER 150',
          'INSTANCE VI_1 STOP 150',
        ],
        d(),
      );
    } finally {
      await s.lab.cleanup();
    }
  },
);

test(
  'keepalived master, lvsd backup: crash -> lvsd takes over, keepalived returns and preempts, clean stop hands over',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const s = segment('vrrpb');
    const ka = new Keepalived(s, s.lab.file('ka.conf'));
    const lv = new Lvsd(s);
    const d = (): string => diag(s, ka, lv);
    try {
      const macA = mac(s.a);
      const macK = mac(s.k);
      lv.start(lvsdConfig(s, 100, 62));
      ka.start(keepalivedConf(s, { priority: 150, vrid: 62 }));
      assert.ok((await waitFor(() => holds(s.k, s.vip), 8000)) >= 0, `keepalived never became master${d()}`);
      assert.ok((await waitFor(() => lv.state() === 'BACKUP' && !holds(s.a, s.vip), 3000)) >= 0, d());
      touch(s.client, s.vip);
      assert.equal(neighMac(s.client, s.vip), macK, d());
      await sleep(1500);

      // keepalived's machine dies: lvsd's down timer 3 x 1 + 156/256 s = 3.609 s
      const t0 = Date.now();
      crash(s.k);
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip), 3609 + SLACK_MS + 1000)) >= 0,
        `lvsd did not take over${d()}`,
      );
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 2400 && elapsed <= 3609 + SLACK_MS, `lvsd took ${elapsed} ms${d()}`);
      await assertNeighbourMoved(s, macA, 'keepalived crash', d);

      // keepalived returns with 150 and preempts lvsd (which yields to the higher priority)
      reboot(s.k, `${s.vip}/24`);
      await sleep(1200);
      ka.start(keepalivedConf(s, { priority: 150, vrid: 62 }));
      assert.ok((await waitFor(() => holds(s.k, s.vip), 3414 + SLACK_MS + 1500)) >= 0, `no preemption${d()}`);
      assert.ok((await waitFor(() => !holds(s.a, s.vip) && lv.state() === 'BACKUP', 3000)) >= 0, d());
      await assertNeighbourMoved(s, macK, 'keepalived preempts', d);
      await sleep(1500);

      // clean stop of keepalived: priority 0 -> lvsd takes over after Skew_Time (0.61 s)
      const t2 = Date.now();
      ka.signalStop();
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip), 3000)) >= 0,
        `no takeover after the clean stop${d()}`,
      );
      const handover = Date.now() - t2;
      assert.ok(handover <= HANDOVER_MS, `clean stop handed over in ${handover} ms${d()}`);
      assert.ok(await ka.exited(), `keepalived did not exit${d()}`);
      await assertNeighbourMoved(s, macA, 'keepalived clean stop', d);
      const st = JSON.parse(fs.readFileSync(lv.status, 'utf8')) as {
        instances: { priorityZeroReceived: number; drops: Record<string, number> }[];
      };
      assert.ok(st.instances[0]!.priorityZeroReceived >= 1, d());
      // lvsd's side exactly: from the priority-0 advert to MASTER is Skew_Time (609 ms) in its own log
      const log = fs.readFileSync(lv.log, 'utf8');
      const rx0 = /^([\d.]+) info \(VI_1\) Backup received priority 0/m.exec(log);
      const masters = [...log.matchAll(/^([\d.]+) info \(VI_1\) Entering MASTER STATE/gm)];
      assert.ok(rx0 && masters.length >= 2, d());
      const skewMs = (Number(masters[masters.length - 1]![1]) - Number(rx0[1])) * 1000;
      assert.ok(
        skewMs >= 600 && skewMs <= 609 + 300,
        `priority 0 -> MASTER took ${skewMs} ms, want ~609${d()}`,
      );
      assert.deepEqual(
        Object.keys(st.instances[0]!.drops).filter((r) => r !== 'lower_priority'),
        [],
        `no adverts from keepalived rejected${d()}`,
      );
    } finally {
      await s.lab.cleanup();
    }
  },
);

test(
  'VRRPv3 over IPv6 with keepalived: lvsd master hands over by priority 0, then takes the VIP back',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const s = segment('vrrp6');
    const ka = new Keepalived(s, s.lab.file('ka.conf'));
    const lv = new Lvsd(s);
    const d = (): string => diag(s, ka, lv);
    const v6 = 'fd00:99::100';
    const has6 = (ns: Netns): boolean => ns.run('ip -6 -o addr show dev eth0').stdout.includes(` ${v6}/`);
    try {
      for (const ns of [s.a, s.k, s.client]) ns.sh('sysctl -qw net.ipv6.conf.eth0.accept_dad=0');
      s.client.sh('ip addr add fd00:99::10/64 dev eth0 nodad');
      // link-local addresses must exist before either daemon starts
      assert.ok(
        (await waitFor(
          () =>
            [s.a, s.k].every((n) => n.run('ip -6 -o addr show dev eth0 scope link').stdout.includes('fe80')),
          5000,
        )) >= 0,
      );
      const cfg = config([
        instance({
          name: 'VI_6',
          virtualRouterId: 63,
          version: 3,
          family: 6,
          priority: 150,
          virtualIpaddress: [vip(`${v6}/64`)],
        }),
      ]);
      ka.start(keepalivedConf(s, { priority: 100, vrid: 63, v6: true }));
      lv.start(cfg);
      assert.ok(
        (await waitFor(() => has6(s.a) && !has6(s.k), 9000)) >= 0,
        `lvsd never became IPv6 master${d()}`,
      );
      s.client.run(`curl -s -m 1 http://[${v6}]:9/ >/dev/null 2>&1; true`);
      assert.equal(neighMac(s.client, v6), mac(s.a), d());
      await sleep(1500);
      const t0 = Date.now();
      lv.signalStop();
      assert.ok((await waitFor(() => has6(s.k), 3000)) >= 0, `keepalived did not take the IPv6 VIP${d()}`);
      assert.ok(Date.now() - t0 <= HANDOVER_MS, `IPv6 handover took ${Date.now() - t0} ms${d()}`);
      assert.match(ka.tail(), /priority 0/i, d());
      assert.ok(await lv.exited(), `lvsd did not exit${d()}`);
      // keepalived's unsolicited NA moves the client's entry
      assert.ok((await waitFor(() => neighMac(s.client, v6) === mac(s.k), 2000)) >= 0, d());
      lv.start(cfg);
      assert.ok(
        (await waitFor(() => has6(s.a) && !has6(s.k), 9000)) >= 0,
        `lvsd did not preempt over IPv6${d()}`,
      );
      // our unsolicited NA moves it back
      assert.ok(
        (await waitFor(() => neighMac(s.client, v6) === mac(s.a), 2000)) >= 0,
        `NA did not move the entry${d()}`,
      );
    } finally {
      await s.lab.cleanup();
    }
  },
);

test(
  'unicast with PASS authentication against keepalived: lvsd master, priority-0 handover, preemption',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const s = segment('vrrpu');
    const ka = new Keepalived(s, s.lab.file('ka.conf'));
    const lv = new Lvsd(s);
    const d = (): string => diag(s, ka, lv);
    try {
      const kaText = [
        'vrrp_instance VI_1 {',
        '  state BACKUP',
        '  interface eth0',
        '  virtual_router_id 64',
        '  priority 100',
        '  advert_int 1',
        '  authentication {',
        '    auth_type PASS',
        '    auth_pass s3cret',
        '  }',
        `  unicast_src_ip ${s.net}.2`,
        `  unicast_peer {\n    ${s.net}.1\n  }`,
        `  virtual_ipaddress {\n    ${s.vip}/24\n  }`,
        '}',
        '',
      ].join('\n');
      const cfg = config(
        [
          instance({
            name: 'VI_1',
            virtualRouterId: 64,
            priority: 150,
            authentication: { type: 'PASS', pass: 's3cret' },
            unicastSrcIp: `${s.net}.1`,
            unicastPeers: [`${s.net}.2`],
            virtualIpaddress: [vip(`${s.vip}/24`)],
          }),
        ],
        { global: { vrrpCheckUnicastSrc: true } },
      );
      ka.start(kaText);
      lv.start(cfg);
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip) && !holds(s.k, s.vip), 9000)) >= 0,
        `lvsd not master${d()}`,
      );
      // keepalived accepts our authenticated adverts: past its own master-down interval (3 x 1 s +
      // skew) it is still BACKUP and does not hold the VIP. (It logs "higher priority 150" only in
      // some transitions, so the log line alone is not a reliable witness.)
      await sleep(4500);
      assert.ok(
        !holds(s.k, s.vip) && holds(s.a, s.vip),
        `keepalived did not accept our authenticated unicast advert${d()}`,
      );
      await sleep(1500);
      const t0 = Date.now();
      lv.signalStop();
      assert.ok((await waitFor(() => holds(s.k, s.vip), 3000)) >= 0, `no takeover${d()}`);
      assert.ok(
        Date.now() - t0 <= HANDOVER_MS,
        `unicast priority-0 handover took ${Date.now() - t0} ms${d()}`,
      );
      assert.match(ka.tail(), /priority 0/i, d());
      assert.ok(await lv.exited(), d());
      lv.start(cfg);
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip) && !holds(s.k, s.vip), 9000)) >= 0,
        `no preemption${d()}`,
      );
      const st = JSON.parse(fs.readFileSync(lv.status, 'utf8')) as {
        instances: { advertsReceived: number; drops: Record<string, number> }[];
      };
      assert.ok(st.instances[0]!.advertsReceived >= 1, `keepalived's unicast adverts reached lvsd${d()}`);
      assert.deepEqual(
        Object.keys(st.instances[0]!.drops).filter((r) => r !== 'lower_priority'),
        [],
        `no authenticated advert rejected${d()}`,
      );
    } finally {
      await s.lab.cleanup();
    }
  },
);

test(
  'track_interface: a weighted interface lowers the advertised priority (keepalived preempts), weight 0 means FAULT',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const s = segment('vrrpt');
    const ka = new Keepalived(s, s.lab.file('ka.conf'));
    const lv = new Lvsd(s);
    const d = (): string => diag(s, ka, lv);
    const st = (): { state: string; effectivePriority: number } =>
      (
        JSON.parse(fs.readFileSync(lv.status, 'utf8')) as {
          instances: { state: string; effectivePriority: number }[];
        }
      ).instances[0]!;
    try {
      // tracked interfaces: veth pairs inside the lvsd namespace (no dummy module needed)
      s.a.sh(
        'for i in hard soft; do ip link add $i type veth peer name ${i}p; ip link set ${i}p up; ip link set $i up; done',
      );
      ka.start(keepalivedConf(s, { priority: 100, vrid: 65 }));
      lv.start(
        config([
          instance({
            name: 'VI_1',
            virtualRouterId: 65,
            priority: 150,
            virtualIpaddress: [vip(`${s.vip}/24`)],
            trackInterface: [
              { name: 'hard', weight: 0 },
              { name: 'soft', weight: -60 },
            ],
          }),
        ]),
      );
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip) && !holds(s.k, s.vip), 9000)) >= 0,
        `lvsd not master${d()}`,
      );

      // soft down: 150 - 60 = 90 < 100, keepalived stops accepting our adverts and preempts
      s.a.sh('ip link set soft down');
      assert.ok((await waitFor(() => st().effectivePriority === 90, 2000)) >= 0, d());
      assert.ok(
        (await waitFor(() => holds(s.k, s.vip), 3609 + SLACK_MS + 1000)) >= 0,
        `keepalived did not preempt${d()}`,
      );
      assert.ok((await waitFor(() => !holds(s.a, s.vip) && st().state === 'BACKUP', 2000)) >= 0, d());
      assert.match(ka.tail(), /lower priority \(90\)/, d());

      // soft up: 150 again, lvsd preempts
      s.a.sh('ip link set soft up');
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip) && !holds(s.k, s.vip), 3414 + SLACK_MS + 2000)) >= 0,
        d(),
      );

      // hard down: FAULT at once (VIP released, adverts stop), keepalived takes over on its timer
      s.a.sh('ip link set hard down');
      assert.ok(
        (await waitFor(() => !holds(s.a, s.vip) && st().state === 'FAULT', 1500)) >= 0,
        `no FAULT${d()}`,
      );
      assert.ok(
        (await waitFor(() => holds(s.k, s.vip), 3609 + SLACK_MS + 1000)) >= 0,
        `keepalived did not take over${d()}`,
      );
      s.a.sh('ip link set hard up');
      assert.ok((await waitFor(() => st().state === 'BACKUP', 1500)) >= 0, d());
      assert.ok(
        (await waitFor(() => holds(s.a, s.vip) && !holds(s.k, s.vip), 3414 + SLACK_MS + 2000)) >= 0,
        d(),
      );
    } finally {
      await s.lab.cleanup();
    }
  },
);
