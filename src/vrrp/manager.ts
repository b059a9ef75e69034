/**
 * VrrpManager: runs every vrrp_instance of a KeepalivedConfig on real interfaces (keepalived's VRRP
 * child, re-implemented from keepalived-reference §3).
 *
 * Per instance: one VrrpInstanceMachine (instance.ts) whose hooks send adverts through the
 * interface's VrrpSender (to the multicast group or each unicast peer), add/remove the virtual
 * addresses with `ip addr`, announce them with gratuitous ARP / unsolicited NA, and run the notify
 * scripts. Received datagrams are decoded (packet.ts), attributed to the instance with the VRID on
 * that interface and family, and fed to its machine; every rejection is counted by reason.
 * Interface state comes from rtnetlink link notifications (RTMGRP_LINK) re-read with `ip -j addr`;
 * vrrp_scripts run on their interval (script.ts).
 *
 * Virtual-address operations of one instance are serialised on a promise chain, so an add never
 * overtakes the remove before it; onVipChange callbacks fire after the kernel has the change.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type {
  KeepalivedConfig,
  ScriptSpec,
  VrrpAddress,
  VrrpInstance,
  VrrpSyncGroup,
} from '../config/model.js';
import { LvsError } from '../errors.js';
import {
  native,
  AF_NETLINK,
  SOCK_RAW,
  NETLINK_ROUTE,
  RTMGRP_LINK,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV6_IFADDR,
} from '../io/native.js';
import {
  decodeAdvert,
  decodeIpv4Advert,
  encodeAdvert,
  passwordAuthData,
  VRRP_AUTH_NONE,
  VRRP_AUTH_PASS,
  type VrrpDropReason,
} from './packet.js';
import {
  newInstanceCounters,
  realClock,
  SyncGroup,
  VrrpInstanceMachine,
  type InstanceParams,
  type VrrpClock,
  type VrrpState,
} from './instance.js';
import { ScriptTracker, type ScriptExecutor } from './script.js';
import {
  addressBytes,
  Announcer,
  formatBytes,
  readInterfaces,
  runIp,
  VrrpReceiver,
  VrrpSender,
  type InterfaceInfo,
  type ReceivedDatagram,
} from './io.js';

export interface VrrpStatus {
  instance: string;
  interface: string;
  vrid: number;
  version: 2 | 3;
  family: 4 | 6;
  state: VrrpState;
  /** configured priority */
  priority: number;
  /** after track_interface / track_script weights */
  effectivePriority: number;
  /** the current master (ours while MASTER), null while unknown */
  masterAddress: string | null;
  /** the virtual addresses (virtual_ipaddress then virtual_ipaddress_excluded), "ADDR/PREFIX" */
  vips: string[];
  /** the addresses are configured on this host now */
  vipsHeld: boolean;
  advertsSent: number;
  advertsReceived: number;
  becameMaster: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  drops: Partial<Record<VrrpDropReason, number>>;
}

export type VipChangeListener = (instance: string, vips: string[], held: boolean) => void;
export type VrrpLogger = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface VrrpManagerDeps {
  clock?: VrrpClock;
  log?: VrrpLogger;
  /** `ip ARGS` (default: execFile('ip')) */
  ip?: (args: string[]) => Promise<string>;
  /** interface facts (default: `ip -j addr show`) */
  interfaces?: () => Map<string, InterfaceInfo>;
  /** runs vrrp_script / notify argv with a timeout; resolves with the exit code, -1 on timeout */
  exec?: ScriptExecutor;
  /** watch rtnetlink for link changes (default true) */
  watchLinks?: boolean;
  /**
   * Awaited after an instance's VIPs were added and before they are announced (gratuitous ARP /
   * NA): the director uses it to wait until its steering takes the VIPs' service traffic, so the
   * first packets a client sends after the announcement are not answered by the kernel with resets.
   */
  afterVipsAdded?: (instance: string, addresses: string[]) => Promise<void>;
  /**
   * Awaited before an instance's VIPs are added: the director steers their service traffic first.
   * Once the kernel holds a VIP it answers for it at once (a peer director forwarding to it, a client
   * resolving it again), and without steering it would reset every connection to the VIP's ports.
   */
  beforeVipsAdded?: (instance: string, addresses: string[]) => Promise<void>;
  /** Awaited after an instance's VIPs were removed (undoes what beforeVipsAdded arranged). */
  afterVipsRemoved?: (instance: string, addresses: string[]) => Promise<void>;
  /** why a notify program cannot run (null: it can); default scriptProblem (the file system) */
  scriptProblem?: (cmd: string) => string | null;
}

/** Default executor: spawn argv (no shell), SIGTERM at the timeout, SIGKILL 2 s later. */
export const spawnExecutor: ScriptExecutor = (argv, timeoutMs) =>
  new Promise((resolve) => {
    if (argv.length === 0) {
      resolve(-1);
      return;
    }
    let done = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, timeoutMs);
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(code);
    };
    child.on('error', () => finish(-1));
    child.on('exit', (code) => finish(code ?? -1));
  });

/** The address an instance advertises from: unicast_src_ip, else the interface's primary IPv4 / link-local IPv6. */
function sourceAddress(inst: VrrpInstance, info: InterfaceInfo): string | undefined {
  return inst.unicastSrcIp ?? (inst.family === 4 ? info.primary4 : info.linkLocal6) ?? undefined;
}

/**
 * Why the program `cmd` (argv[0] of a notify script) cannot be run now, or null when it can: a path
 * is checked as is, a bare name on PATH as spawn() resolves it (execvp(3)).
 */
export function scriptProblem(cmd: string): string | null {
  const candidates = cmd.includes('/')
    ? [cmd]
    : (process.env.PATH ?? '')
        .split(':')
        .filter((d) => d !== '')
        .map((d) => path.join(d, cmd));
  let problem = cmd.includes('/') ? 'does not exist' : 'is not found on PATH';
  for (const c of candidates) {
    try {
      if (!fs.statSync(c).isFile()) {
        problem = 'is not a regular file';
        continue;
      }
      fs.accessSync(c, fs.constants.X_OK);
      return null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES') problem = 'is not executable';
    }
  }
  return problem;
}

/**
 * Runs notify / notify_master / notify_backup / notify_fault / notify_stop scripts. A script that
 * is missing or not executable is skipped with one warning per program path (not one per state
 * transition, which floods the log of a flapping instance); it is looked for again on every
 * transition, so it runs as soon as it is installed.
 */
export class NotifyScripts {
  /** programs already reported as unusable */
  private readonly reported = new Set<string>();

  constructor(
    private readonly exec: ScriptExecutor,
    private readonly log: VrrpLogger,
    private readonly problemOf: (cmd: string) => string | null = scriptProblem,
  ) {}

  run(spec: ScriptSpec, extra: string[]): void {
    const cmd = spec.argv[0];
    if (cmd === undefined) return;
    const problem = this.problemOf(cmd);
    if (problem !== null) {
      if (!this.reported.has(cmd)) {
        this.reported.add(cmd);
        this.log(
          'warn',
          `notify script ${cmd} ${problem}: not run (reported once; it runs once it is there)`,
        );
      }
      return;
    }
    const argv = [...spec.argv, ...extra];
    this.exec(argv, 30000).then(
      (code) => {
        if (code !== 0) this.log('warn', `notify script ${argv.join(' ')} exited ${code}`);
      },
      () => undefined,
    );
  }
}

interface Runtime {
  cfg: VrrpInstance;
  machine: VrrpInstanceMachine;
  ifname: string;
  family: 4 | 6;
  sender: VrrpSender;
  /** multicast group or unicast peers */
  destinations: Uint8Array[];
  unicast: boolean;
  peers: Uint8Array[];
  /** advertised + excluded virtual addresses */
  vips: VrrpAddress[];
  vipStrings: string[];
  held: boolean;
  chain: Promise<void>;
}

function vipString(a: VrrpAddress): string {
  return `${a.address}/${a.prefix}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class VrrpManager {
  private readonly clock: VrrpClock;
  private readonly log: VrrpLogger;
  private readonly ip: (args: string[]) => Promise<string>;
  private readonly interfacesOf: () => Map<string, InterfaceInfo>;
  private readonly exec: ScriptExecutor;
  private readonly notifyScripts: NotifyScripts;
  private readonly watchLinks: boolean;
  private readonly afterVipsAdded: VrrpManagerDeps['afterVipsAdded'];
  private readonly beforeVipsAdded: VrrpManagerDeps['beforeVipsAdded'];
  private readonly afterVipsRemoved: VrrpManagerDeps['afterVipsRemoved'];
  private readonly runtimes: Runtime[] = [];
  private readonly receivers = new Map<string, VrrpReceiver>();
  private readonly senders = new Map<string, VrrpSender>();
  private readonly announcers = new Map<string, Announcer>();
  private readonly trackers: ScriptTracker[] = [];
  private readonly groups: SyncGroup[] = [];
  /**
   * dynamic_interfaces: instances whose interface (or its address) is not there yet, by name. They
   * report FAULT and are set up and started when a link or address change brings the interface; the
   * members of a vrrp_sync_group wait and start together, so the group is built over all of them.
   */
  private readonly waiting = new Map<string, VrrpInstance>();
  /** vrrp_script names that have a tracker */
  private readonly trackedScripts = new Set<string>();
  private readonly listeners: VipChangeListener[] = [];
  /** drops that no instance could be blamed for (undecodable, unknown VRID) per "IF/family" */
  private readonly socketDrops = new Map<string, Partial<Record<VrrpDropReason, number>>>();
  private interfaces = new Map<string, InterfaceInfo>();
  private netlinkFd = -1;
  private linkTimer: ReturnType<typeof setTimeout> | null = null;
  private started = false;

  constructor(
    readonly config: KeepalivedConfig,
    deps: VrrpManagerDeps = {},
  ) {
    this.clock = deps.clock ?? realClock;
    this.log = deps.log ?? ((level, m) => (level === 'info' ? console.log(m) : console.error(m)));
    this.ip = deps.ip ?? runIp;
    this.interfacesOf = deps.interfaces ?? readInterfaces;
    this.exec = deps.exec ?? spawnExecutor;
    this.notifyScripts = new NotifyScripts(this.exec, this.log, deps.scriptProblem);
    this.watchLinks = deps.watchLinks ?? true;
    this.afterVipsAdded = deps.afterVipsAdded;
    this.beforeVipsAdded = deps.beforeVipsAdded;
    this.afterVipsRemoved = deps.afterVipsRemoved;
  }

  /** Called after the kernel gained (held = true) or lost an instance's virtual addresses. */
  onVipChange(cb: VipChangeListener): void {
    this.listeners.push(cb);
  }

  /**
   * Start every instance. `resumeMaster`: instances that were MASTER in the lvsd this process took
   * over from (graceful restart): their addresses stay and they start as MASTER at once.
   */
  async start(opts: { resumeMaster?: ReadonlySet<string> } = {}): Promise<void> {
    if (this.started) return;
    const resume = opts.resumeMaster ?? new Set<string>();
    this.interfaces = this.interfacesOf();
    try {
      this.collectWaiting();
      for (const inst of this.config.vrrpInstances) if (!this.waiting.has(inst.name)) this.setUp(inst);
    } catch (e) {
      this.closeSockets();
      throw e;
    }
    this.started = true;
    // a crashed predecessor may have left our addresses behind: start clean (keepalived removes
    // the VIPs of an instance that does not start as MASTER)
    await Promise.all(
      this.runtimes.filter((rt) => !resume.has(rt.cfg.name)).map((rt) => this.removeAddresses(rt, true)),
    );
    this.setUpGroups(this.config.vrrpSyncGroups.filter((g) => !g.instances.some((n) => this.waiting.has(n))));
    this.setUpScripts();
    if (this.watchLinks) this.openNetlink();
    for (const rt of this.runtimes) {
      const info = this.interfaces.get(rt.ifname);
      rt.machine.setInterfaceState(rt.ifname, info?.up ?? false, true);
      for (const t of rt.cfg.trackInterface)
        rt.machine.setInterfaceState(t.name, this.interfaces.get(t.name)?.up ?? false);
    }
    for (const rt of this.runtimes) {
      if (resume.has(rt.cfg.name)) {
        this.log('info', `(${rt.cfg.name}) resuming as MASTER after a graceful restart`);
        rt.machine.resumeMaster();
      } else rt.machine.start();
    }
    for (const g of this.groups) g.start();
    for (const t of this.trackers) t.start();
  }

  /** Priority-0 adverts from masters, virtual addresses removed, sockets closed. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const t of this.trackers) t.stop();
    if (this.linkTimer) clearTimeout(this.linkTimer);
    if (this.netlinkFd >= 0) native.close(this.netlinkFd);
    this.netlinkFd = -1;
    for (const rt of this.runtimes) rt.machine.stop();
    await Promise.all(this.runtimes.map((rt) => rt.chain));
    this.closeSockets();
  }

  /** Instances that are MASTER now (what a graceful restart hands to the successor). */
  masterInstances(): string[] {
    return this.runtimes.filter((rt) => rt.machine.state === 'MASTER').map((rt) => rt.cfg.name);
  }

  status(): VrrpStatus[] {
    const waiting = [...this.waiting.values()].map((inst): VrrpStatus => ({
      instance: inst.name,
      interface: inst.interface ?? '',
      vrid: inst.virtualRouterId,
      version: inst.family === 6 ? 3 : inst.version,
      family: inst.family,
      state: 'FAULT',
      priority: inst.priority,
      effectivePriority: 0,
      masterAddress: null,
      vips: [...inst.virtualIpaddress, ...inst.virtualIpaddressExcluded].map(vipString),
      vipsHeld: false,
      ...newInstanceCounters(),
    }));
    return [...this.statusOfRuntimes(), ...waiting];
  }

  private statusOfRuntimes(): VrrpStatus[] {
    return this.runtimes.map((rt) => {
      const m = rt.machine;
      return {
        instance: rt.cfg.name,
        interface: rt.ifname,
        vrid: rt.cfg.virtualRouterId,
        version: m.params.version,
        family: rt.family,
        state: m.state,
        priority: m.params.priority,
        effectivePriority: m.effectivePriority,
        masterAddress: m.masterAddress ? formatBytes(m.masterAddress) : null,
        vips: rt.vipStrings.slice(),
        vipsHeld: rt.held,
        advertsSent: m.counters.advertsSent,
        advertsReceived: m.counters.advertsReceived,
        becameMaster: m.counters.becameMaster,
        priorityZeroSent: m.counters.priorityZeroSent,
        priorityZeroReceived: m.counters.priorityZeroReceived,
        drops: { ...m.counters.drops },
      };
    });
  }

  /** Drops not attributable to an instance, keyed "IF/4" or "IF/6". */
  unattributedDrops(): Record<string, Partial<Record<VrrpDropReason, number>>> {
    return Object.fromEntries([...this.socketDrops].map(([k, v]) => [k, { ...v }]));
  }

  // --- set-up -------------------------------------------------------------------------------

  private setUp(inst: VrrpInstance): void {
    const ifname = inst.interface;
    if (!ifname) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `(${inst.name}) no interface configured`);
    const info = this.interfaces.get(ifname);
    if (!info) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `(${inst.name}) no interface ${ifname}`);
    const family = inst.family;
    const version: 2 | 3 = family === 6 ? 3 : inst.version;
    const source = sourceAddress(inst, info);
    if (!source)
      throw new LvsError(
        'ERR_LVS_INVALID_ARGUMENT',
        `(${inst.name}) interface ${ifname} has no ${family === 4 ? 'IPv4' : 'IPv6 link-local'} address`,
      );
    const unicast = inst.unicastPeers.length > 0;
    const peers = inst.unicastPeers.map((p) => addressBytes(p)!).filter(Boolean);
    const group = family === 4 ? this.config.global.vrrpMcastGroup4 : this.config.global.vrrpMcastGroup6;
    const rxKey = `${ifname}/${family}`;
    let rx = this.receivers.get(rxKey);
    if (!rx) {
      rx = new VrrpReceiver(family, ifname, info.ifindex, group, (d) => this.onDatagram(rxKey, ifname, d));
      this.receivers.set(rxKey, rx);
    }
    const txKey = `${ifname}/${source}`;
    let tx = this.senders.get(txKey);
    if (!tx) {
      tx = new VrrpSender(family, ifname, info.ifindex, source);
      this.senders.set(txKey, tx);
    }
    const vips = [...inst.virtualIpaddress, ...inst.virtualIpaddressExcluded];
    for (const v of vips) this.announcer(v.dev ?? ifname);
    const advertised = inst.virtualIpaddress.map((v) => addressBytes(v.address)!);
    const auth = version === 2 ? inst.authentication : undefined;
    const g = this.config.global;
    const downAdverts = Number(inst.other['down_timer_adverts']?.[0] ?? 3);
    const params: InstanceParams = {
      name: inst.name,
      vrid: inst.virtualRouterId,
      version,
      family,
      priority: inst.priority,
      advertInt: inst.advertInt,
      initialState: inst.state,
      nopreempt: inst.nopreempt,
      preemptDelay: inst.preemptDelay,
      primaryAddress: tx.source,
      addresses: advertised,
      authType: auth?.type === 'PASS' ? VRRP_AUTH_PASS : VRRP_AUTH_NONE,
      authData: auth?.type === 'PASS' ? passwordAuthData(auth.pass) : new Uint8Array(8),
      downTimerAdverts: Number.isFinite(downAdverts) && downAdverts >= 1 ? downAdverts : 3,
      garpMasterDelay: inst.garpMasterDelay,
      garpMasterRepeat: inst.garpMasterRepeat,
      garpMasterRefresh: inst.garpMasterRefresh,
      garpMasterRefreshRepeat: inst.garpMasterRefreshRepeat,
      skipCheckAdvAddr: g.vrrpSkipCheckAdvAddr,
      higherPrioSendAdvert: g.vrrpHigherPrioSendAdvert,
      lowerPrioNoAdvert: g.vrrpLowerPrioNoAdvert,
      trackInterfaces: inst.trackInterface.map((t) => ({ name: t.name, weight: t.weight })),
      trackScripts: inst.trackScript.map((t) => ({
        name: t.name,
        weight: t.weight ?? this.config.vrrpScripts.find((s) => s.name === t.name)?.weight ?? 0,
      })),
    };
    const rt: Runtime = {
      cfg: inst,
      machine: null as unknown as VrrpInstanceMachine,
      ifname,
      family,
      sender: tx,
      destinations: unicast ? peers : [addressBytes(group)!],
      unicast,
      peers,
      vips,
      vipStrings: vips.map(vipString),
      held: false,
      chain: Promise.resolve(),
    };
    rt.machine = new VrrpInstanceMachine(params, this.clock, {
      sendAdvert: (priority) => this.sendAdvert(rt, priority),
      addVips: () => this.queue(rt, () => this.addAddresses(rt)),
      removeVips: () => this.queue(rt, () => this.removeAddresses(rt, false)),
      // announced after the address operations queued before (and the steering wait in them)
      gratuitous: (count) =>
        this.queue(rt, async () => {
          if (rt.machine.state === 'MASTER') this.gratuitous(rt, count);
        }),
      notify: (state, priority) => this.notify(rt, state, priority),
    });
    this.runtimes.push(rt);
  }

  private announcer(ifname: string): Announcer | null {
    let a = this.announcers.get(ifname);
    if (a) return a;
    const info = this.interfaces.get(ifname);
    if (!info) return null;
    try {
      a = new Announcer(info.ifindex, info.mac);
    } catch (e) {
      this.log('warn', `VRRP: no gratuitous ARP on ${ifname}: ${(e as Error).message}`);
      return null;
    }
    this.announcers.set(ifname, a);
    return a;
  }

  /**
   * With dynamic_interfaces (global_defs), an instance whose interface is absent or has no usable
   * source address waits instead of failing the start; without it that is an error, as keepalived's
   * "Non-existent interface specified in configuration".
   */
  private collectWaiting(): void {
    if (this.config.global.other['dynamic_interfaces'] === undefined) return;
    const byName = new Map(this.config.vrrpInstances.map((i) => [i.name, i]));
    // (an instance without an interface is a configuration error either way: setUp says so)
    for (const inst of this.config.vrrpInstances)
      if (inst.interface && !this.interfaceReady(inst)) this.waiting.set(inst.name, inst);
    for (const g of this.config.vrrpSyncGroups) {
      if (!g.instances.some((n) => this.waiting.has(n))) continue;
      for (const n of g.instances) {
        const inst = byName.get(n);
        if (inst) this.waiting.set(n, inst);
      }
    }
    for (const inst of this.waiting.values())
      this.log(
        'warn',
        `(${inst.name}) interface ${inst.interface} is not ready: the instance stays in FAULT until it is ` +
          '(dynamic_interfaces)',
      );
  }

  /** The instance's interface exists and has the source address setUp() needs. */
  private interfaceReady(inst: VrrpInstance): boolean {
    const info = inst.interface ? this.interfaces.get(inst.interface) : undefined;
    if (!info) return false;
    return Boolean(sourceAddress(inst, info));
  }

  /**
   * dynamic_interfaces: set up and start the waiting instances whose interface is ready now (a sync
   * group's members only when all of them are), with their group and any vrrp_script they track.
   */
  private adoptWaiting(): void {
    if (this.waiting.size === 0) return;
    const ready = new Set(
      [...this.waiting.values()].filter((i) => this.interfaceReady(i)).map((i) => i.name),
    );
    const groups = this.config.vrrpSyncGroups.filter((g) => g.instances.some((n) => ready.has(n)));
    for (const g of groups)
      if (!g.instances.every((n) => ready.has(n) || !this.waiting.has(n)))
        for (const n of g.instances) ready.delete(n);
    if (ready.size === 0) return;
    const first = this.runtimes.length;
    for (const name of ready) {
      try {
        this.setUp(this.waiting.get(name)!);
        this.waiting.delete(name);
      } catch (e) {
        this.log('warn', `(${name}) ${(e as Error).message}; still waiting for its interface`);
      }
    }
    const added = this.runtimes.slice(first);
    if (added.length === 0) return;
    const groupsBefore = this.groups.length;
    this.setUpGroups(groups.filter((g) => g.instances.every((n) => !this.waiting.has(n))));
    const trackersBefore = this.trackers.length;
    this.setUpScripts(added);
    for (const rt of added) {
      this.log('info', `(${rt.cfg.name}) interface ${rt.ifname} is ready: starting the instance`);
      rt.machine.setInterfaceState(rt.ifname, this.interfaces.get(rt.ifname)?.up ?? false, true);
      for (const t of rt.cfg.trackInterface)
        rt.machine.setInterfaceState(t.name, this.interfaces.get(t.name)?.up ?? false);
      rt.machine.start();
    }
    for (const g of this.groups.slice(groupsBefore)) g.start();
    for (const t of this.trackers.slice(trackersBefore)) t.start();
  }

  private setUpGroups(syncGroups: readonly VrrpSyncGroup[]): void {
    for (const g of syncGroups) {
      const members = g.instances
        .map((n) => this.runtimes.find((rt) => rt.cfg.name === n)?.machine)
        .filter((m): m is VrrpInstanceMachine => m !== undefined);
      if (members.length < 2) {
        this.log('warn', `Sync group ${g.name} has only ${members.length} virtual router(s) - ignoring`);
        continue;
      }
      this.groups.push(
        new SyncGroup(g.name, members, (state) => {
          const prio = 0;
          const spec =
            state === 'MASTER' ? g.notifyMaster : state === 'BACKUP' ? g.notifyBackup : g.notifyFault;
          if (spec) this.runNotify(spec, []);
          if (g.notify) this.runNotify(g.notify, ['GROUP', g.name, state, String(prio)]);
        }),
      );
    }
  }

  /** Trackers for the vrrp_scripts `runtimes` use that have none yet (they update every instance). */
  private setUpScripts(runtimes: readonly Runtime[] = this.runtimes): void {
    const used = new Set<string>();
    for (const rt of runtimes) for (const t of rt.cfg.trackScript) used.add(t.name);
    for (const s of this.config.vrrpScripts) {
      if (!used.has(s.name) || this.trackedScripts.has(s.name)) continue;
      this.trackedScripts.add(s.name);
      this.trackers.push(
        new ScriptTracker(s, this.clock, this.exec, (ok) => {
          this.log('info', `VRRP_Script(${s.name}) ${ok ? 'succeeded' : 'failed'}`);
          for (const rt of this.runtimes) rt.machine.setScriptState(s.name, ok);
        }),
      );
    }
  }

  private openNetlink(): void {
    try {
      this.netlinkFd = native.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
      // waiting instances (dynamic_interfaces) also need to hear of the address they wait for
      const groups =
        this.waiting.size > 0 ? RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR : RTMGRP_LINK;
      native.bindNetlink(this.netlinkFd, groups);
    } catch (e) {
      this.log('warn', `VRRP: no link notifications: ${(e as Error).message}`);
      this.netlinkFd = -1;
      return;
    }
    const buf = new Uint8Array(65536);
    native.pollStart(this.netlinkFd, () => {
      try {
        while (native.recv(this.netlinkFd, buf, 0, buf.length) > 0) {
          /* drain; the content is re-read below */
        }
      } catch {
        /* ENOBUFS: re-read anyway */
      }
      if (!this.linkTimer) this.linkTimer = setTimeout(() => this.refreshLinks(), 20);
    });
  }

  private refreshLinks(): void {
    this.linkTimer = null;
    if (!this.started) return;
    try {
      this.interfaces = this.interfacesOf();
    } catch (e) {
      this.log('warn', `VRRP: ${(e as Error).message}`);
      return;
    }
    this.adoptWaiting();
    for (const rt of this.runtimes) {
      const up = this.interfaces.get(rt.ifname)?.up ?? false;
      rt.machine.setInterfaceState(rt.ifname, up, true);
      for (const t of rt.cfg.trackInterface)
        rt.machine.setInterfaceState(t.name, this.interfaces.get(t.name)?.up ?? false);
    }
  }

  private closeSockets(): void {
    for (const r of this.receivers.values()) r.close();
    for (const s of this.senders.values()) s.close();
    for (const a of this.announcers.values()) a.close();
    this.receivers.clear();
    this.senders.clear();
    this.announcers.clear();
  }

  // --- receive ------------------------------------------------------------------------------

  private countSocketDrop(key: string, reason: VrrpDropReason): void {
    let d = this.socketDrops.get(key);
    if (!d) this.socketDrops.set(key, (d = {}));
    d[reason] = (d[reason] ?? 0) + 1;
  }

  private onDatagram(key: string, ifname: string, d: ReceivedDatagram): void {
    let src = d.src;
    let result;
    // RFC 5798 §7.1: TTL/hop limit 255 is checked for multicast; unicast adverts may cross routers
    if (d.family === 4) {
      const multicast = d.length >= 20 && d.data[16]! >= 224 && d.data[16]! <= 239;
      result = decodeIpv4Advert(d.data, d.length, multicast);
      if (typeof result !== 'string') src = result.src;
    } else {
      const multicast = d.dst[0] === 0xff;
      result = decodeAdvert(d.data, 0, d.length, 6, d.src, d.dst, multicast ? d.ttl : -1);
    }
    const advert = typeof result === 'string' ? null : 'advert' in result ? result.advert : result;
    const vrid = advert ? advert.vrid : d.family === 4 ? d.data[((d.data[0]! & 0x0f) << 2) + 1] : d.data[1];
    const rt = this.runtimes.find(
      (r) => r.ifname === ifname && r.family === d.family && r.cfg.virtualRouterId === vrid,
    );
    if (!advert) {
      const reason = result as VrrpDropReason;
      if (rt) rt.machine.counters.drops[reason] = (rt.machine.counters.drops[reason] ?? 0) + 1;
      else this.countSocketDrop(key, reason);
      return;
    }
    if (!rt) {
      this.countSocketDrop(key, 'unknown_vrid');
      return;
    }
    if (rt.unicast && this.config.global.vrrpCheckUnicastSrc && !rt.peers.some((p) => sameBytes(p, src))) {
      rt.machine.counters.drops.unknown_peer = (rt.machine.counters.drops.unknown_peer ?? 0) + 1;
      return;
    }
    const before = rt.machine.state;
    rt.machine.receive(advert, src);
    if (advert.priority === 0 && before === 'BACKUP')
      this.log('info', `(${rt.cfg.name}) Backup received priority 0 advertisement from ${formatBytes(src)}`);
  }

  // --- hooks --------------------------------------------------------------------------------

  private sendAdvert(rt: Runtime, priority: number): void {
    const m = rt.machine;
    for (const dst of rt.destinations) {
      const msg = encodeAdvert(
        {
          version: m.params.version,
          vrid: m.params.vrid,
          priority,
          intervalCs: m.ownIntervalCs,
          addresses: m.params.addresses,
          authType: m.params.authType,
          authData: m.params.authData,
        },
        rt.family,
        rt.sender.source,
        dst,
      );
      if (!rt.sender.send(msg, dst))
        this.log('warn', `(${rt.cfg.name}) advert to ${formatBytes(dst)} not sent`);
    }
  }

  private queue(rt: Runtime, op: () => Promise<void>): void {
    rt.chain = rt.chain
      .then(op)
      .catch((e: unknown) => this.log('error', `(${rt.cfg.name}) ${(e as Error).message}`));
  }

  private async addAddresses(rt: Runtime): Promise<void> {
    const addresses = rt.vips.map((v) => v.address);
    if (this.beforeVipsAdded) await this.beforeVipsAdded(rt.cfg.name, addresses);
    for (const v of rt.vips) {
      const args = ['addr', 'add', vipString(v), 'dev', v.dev ?? rt.ifname];
      if (v.broadcast) args.push('broadcast', v.broadcast);
      if (v.scope) args.push('scope', v.scope);
      if (v.label) args.push('label', v.label);
      if (v.family === 6) args.push('nodad');
      if (v.family === 4) args.splice(0, 0, '-4');
      else args.splice(0, 0, '-6');
      try {
        await this.ip(args);
      } catch (e) {
        if (!/exists|already assigned/i.test((e as Error).message)) throw e;
      }
    }
    rt.held = true;
    if (this.afterVipsAdded) await this.afterVipsAdded(rt.cfg.name, addresses);
    this.log('info', `(${rt.cfg.name}) virtual addresses added: ${rt.vipStrings.join(' ')}`);
    this.emit(rt, true);
  }

  private async removeAddresses(rt: Runtime, quiet: boolean): Promise<void> {
    for (const v of rt.vips) {
      try {
        await this.ip([v.family === 4 ? '-4' : '-6', 'addr', 'del', vipString(v), 'dev', v.dev ?? rt.ifname]);
      } catch (e) {
        if (!quiet && !/cannot assign|not found|no such/i.test((e as Error).message))
          this.log('warn', `(${rt.cfg.name}) ${(e as Error).message}`);
      }
    }
    const was = rt.held;
    rt.held = false;
    if (this.afterVipsRemoved)
      await this.afterVipsRemoved(
        rt.cfg.name,
        rt.vips.map((v) => v.address),
      );
    if (!quiet || was) this.emit(rt, false);
  }

  private emit(rt: Runtime, held: boolean): void {
    for (const cb of this.listeners) {
      try {
        cb(rt.cfg.name, rt.vipStrings.slice(), held);
      } catch (e) {
        this.log('error', `onVipChange listener: ${(e as Error).message}`);
      }
    }
  }

  private gratuitous(rt: Runtime, count: number): void {
    const interval =
      (rt.family === 4 ? this.config.global.vrrpGarpInterval : this.config.global.vrrpGnaInterval) * 1000;
    const sendOne = (): void => {
      for (const v of rt.vips) {
        const a = this.announcer(v.dev ?? rt.ifname);
        const bytes = addressBytes(v.address);
        if (a && bytes) a.announce(bytes);
      }
    };
    for (let i = 0; i < count; i++) {
      if (interval > 0 && i > 0)
        this.clock.setTimeout(() => rt.machine.state === 'MASTER' && sendOne(), interval * i);
      else sendOne();
    }
  }

  private notify(rt: Runtime, state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP', priority: number): void {
    this.log('info', `(${rt.cfg.name}) Entering ${state} STATE`);
    const c = rt.cfg;
    const spec =
      state === 'MASTER'
        ? c.notifyMaster
        : state === 'BACKUP'
          ? c.notifyBackup
          : state === 'FAULT'
            ? c.notifyFault
            : c.notifyStop;
    // notify scripts run after the address operations queued before them
    rt.chain = rt.chain.then(() => {
      if (spec) this.runNotify(spec, []);
      if (c.notify) this.runNotify(c.notify, ['INSTANCE', c.name, state, String(priority)]);
    });
  }

  private runNotify(spec: ScriptSpec, extra: string[]): void {
    this.notifyScripts.run(spec, extra);
  }
}
