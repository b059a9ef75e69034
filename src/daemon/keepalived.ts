/**
 * keepalived mode: the daemon runs the operator's keepalived.conf (keepalived-reference.md §1, §2).
 *
 * Split of duties (src/health/actions.ts): this runtime owns the IPVS *services* of every
 * virtual_server (one per address:port, fwmark, or virtual_server_group entry) and turns the
 * HealthManager's destination actions into ipvsadm commands on all of them. Every table change goes
 * through the daemon's serialized ipvsadm entry point (Daemon.ipvsadm), so it is ordered with
 * steering exactly like a typed `ipvsadm` and never interleaves with control-socket requests.
 *
 * Start: load -> (lvs_flush) -C -> (lvs_timeouts) --set -> every service (-A, or -E when it already
 * exists) -> HealthManager.start (its initial destinations batched into one -R).
 * Reload (SIGHUP, `lvsd reload`): load; a file that does not load (fatal, VIPs without --no-vrrp,
 * any error with reload_check_config) changes nothing. Otherwise new
 * services are created (and given the destinations their virtual server already has), changed ones
 * edited (-E), then HealthManager.update does the destinations, then removed services are deleted.
 * Unchanged services and destinations are never touched, so they keep connections and counters.
 * Stop: HealthManager.stop (omega), then lvs_flush_on_stop -> -C. The table lives in this process,
 * so whatever is left disappears with it anyway.
 */
import { LvsError } from '../errors.js';
import type { IpvsadmResult } from '../control/protocol.js';
import type {
  Diagnostic,
  KeepalivedConfig,
  LoadResult,
  TunnelOptions,
  VirtualServer,
  VirtualServerGroup,
} from '../config/model.js';
import fs from 'node:fs';
import path from 'node:path';
import { formatDiagnostic } from '../config/model.js';
import type { DestTarget, IpvsActions } from '../health/actions.js';
import type { Logger, LogLevel } from './log.js';

/** What the runtime needs from the health checker (src/health HealthManager). */
export interface HealthLike {
  /** install the initial destinations and start checking */
  start(config: KeepalivedConfig): Promise<void>;
  /** reload: bring destinations and checkers to `config` */
  update(config: KeepalivedConfig): Promise<void>;
  /** stop checking (omega: notify_down / quorum_down, except when handing over to a successor) */
  stop(opts?: { handover?: boolean }): Promise<void>;
  status(): unknown;
  /** ha_suspend: the addresses configured in this namespace (now, and after every change) */
  setLocalAddresses?(addrs: Iterable<string>): void;
}

/** The namespace's addresses as the daemon's network mirror sees them (ha_suspend). */
export interface LocalAddressSource {
  /** every address configured now; null = unknown (no mirror) */
  list(): string[] | null;
  /** call `fn` after network changes (addresses among them); returns the unsubscribe */
  onChange(fn: () => void): () => void;
}

export type HealthLog = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface KeepalivedDeps {
  load(file: string, opts: { configId?: string }): LoadResult;
  hasVrrpAddresses(c: KeepalivedConfig): boolean;
  createHealth(actions: IpvsActions, log: HealthLog): HealthLike;
  /** VRRP for the file's vrrp_instance blocks (src/vrrp); absent = lvsd cannot run VRRP here */
  createVrrp?(c: KeepalivedConfig): VrrpLike;
  /** local addresses for ha_suspend; absent = unknown (ha_suspend virtual servers always checked) */
  localAddresses?: LocalAddressSource;
}

/** What the runtime needs of a VrrpManager. */
export interface VrrpLike {
  /** resumeMaster: instances to start as MASTER, keeping their addresses (graceful restart) */
  start(opts?: { resumeMaster?: ReadonlySet<string> }): Promise<void>;
  /** instances that are MASTER now */
  masterInstances(): string[];
  /** priority-0 adverts, VIPs removed */
  stop(): Promise<void>;
  status(): unknown;
}

/**
 * ipvsadm commands that start the connection sync daemons of `lvs_sync_daemon` (reference §1.2):
 * both roles run, as two kernel directors with `--start-daemon master` and `backup` on each do, so
 * whichever node holds the VIPs sends its connections and the other installs them. The sync id
 * defaults to the VRID of the named instance (0 without one).
 */
export function syncDaemonCommands(c: KeepalivedConfig): string[] {
  const s = c.global.lvsSyncDaemon;
  if (!s) return [];
  const inst = s.vrrpInstance ? c.vrrpInstances.find((i) => i.name === s.vrrpInstance) : undefined;
  const id = s.syncId ?? inst?.virtualRouterId ?? 0;
  const opts = ['--mcast-interface', s.interface, '--syncid', String(id)];
  if (s.maxlen !== undefined) opts.push('--sync-maxlen', String(s.maxlen));
  opts.push('--mcast-group', s.group, '--mcast-port', String(s.port));
  if (s.ttl !== undefined) opts.push('--mcast-ttl', String(s.ttl));
  return [['--start-daemon', 'master', ...opts].join(' '), ['--start-daemon', 'backup', ...opts].join(' ')];
}

/** The daemon's serialized ipvsadm entry point. */
export interface TableAccess {
  ipvsadm(argv: string[], stdin?: string): Promise<IpvsadmResult>;
}

export interface KeepalivedOptions {
  file: string;
  configId?: string;
  /** run a file whose vrrp_instance blocks carry VIPs although nobody adds the VIPs (issue 5) */
  noVrrp: boolean;
  /**
   * Graceful restarts: where a hand-over stop records the VRRP instances that were MASTER, and the
   * successor reads them to resume as MASTER (null: not recorded); guarded by the namespace cookie.
   */
  vrrpHandoverFile?: string | null;
  netnsCookie?: string;
}

/** A recorded hand-over older than this is ignored (the successor starts within seconds). */
const VRRP_HANDOVER_MAX_AGE_MS = 60_000;

export interface ReloadResult {
  ok: boolean;
  file: string;
  /** every diagnostic of the load, `(FILE: Line N) message` */
  diagnostics: string[];
  /** why nothing changed (ok false) */
  error?: string;
  added: string[];
  edited: string[];
  removed: string[];
}

/** One IPVS service of a virtual server. */
export interface ServiceSpec {
  /** the ipvsadm virtual-service words, e.g. ['-t', '10.0.0.1:80'] or ['-f', '5', '-6'] */
  target: string[];
  /** service options: -s, -b, -p, -M, --pe, -o */
  options: string[];
  vsName: string;
}

/** ipvsadm's weight range (-w 0..65535); keepalived allows up to 2^31-1 through netlink. */
const MAX_IPVSADM_WEIGHT = 65535;

function hostPort(address: string, family: 4 | 6, port: number): string {
  if (family === 6) return port === 0 ? address : `[${address}]:${port}`;
  return port === 0 ? address : `${address}:${port}`;
}

const PROTO_FLAG = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' } as const;

export function serviceKey(s: Pick<ServiceSpec, 'target'>): string {
  return s.target.join(' ');
}

/** Service options of a virtual server (ipvsadm -A/-E options). */
export function serviceOptions(vs: VirtualServer): string[] {
  const o = ['-s', vs.scheduler];
  if (vs.schedFlags.length) o.push('-b', vs.schedFlags.join(','));
  if (vs.persistenceTimeout > 0) {
    o.push('-p', String(Math.round(vs.persistenceTimeout)));
    if (vs.persistenceGranularity !== undefined) o.push('-M', vs.persistenceGranularity);
  }
  if (vs.persistenceEngine !== undefined) o.push('--pe', vs.persistenceEngine);
  if (vs.ops && vs.protocol === 'UDP') o.push('-o');
  return o;
}

/**
 * The IPVS services of a virtual server: one for ip:port or fwmark, one per address and fwmark
 * entry of its virtual_server_group (keepalived without nftables_ipvs, reference §1.3).
 */
export function servicesOf(vs: VirtualServer, groups: readonly VirtualServerGroup[]): ServiceSpec[] {
  const options = serviceOptions(vs);
  const t = vs.target;
  const mk = (target: string[]): ServiceSpec => ({ target, options, vsName: vs.name });
  const fwmark = (mark: number, family?: 4 | 6): ServiceSpec =>
    mk(family === 6 ? ['-f', String(mark), '-6'] : ['-f', String(mark)]);
  if (t.type === 'ip') return [mk([PROTO_FLAG[vs.protocol], hostPort(t.address, t.family, t.port)])];
  if (t.type === 'fwmark') return [fwmark(t.mark, t.family)];
  const g = groups.find((x) => x.name === t.group);
  if (!g) return [];
  return [
    ...g.addresses.map((a) => mk([PROTO_FLAG[vs.protocol], hostPort(a.address, a.family, a.port)])),
    ...g.fwmarks.map((f) => fwmark(f.mark, f.family)),
  ];
}

/** Every service of a configuration, by key (the first virtual server naming a key wins). */
export function servicesOfConfig(c: KeepalivedConfig): Map<string, ServiceSpec> {
  const m = new Map<string, ServiceSpec>();
  for (const vs of c.virtualServers)
    for (const s of servicesOf(vs, c.virtualServerGroups)) if (!m.has(serviceKey(s))) m.set(serviceKey(s), s);
  return m;
}

function tunnelArgs(t: TunnelOptions | undefined): string[] {
  if (!t) return [];
  const a = ['--tun-type', t.type];
  if (t.port !== undefined) a.push('--tun-port', String(t.port));
  if (t.csum) a.push(`--tun-${t.csum}`);
  return a;
}

/** Real-server words of -a/-e: -r, forwarding method (and tunnel options), -w, -x, -y. */
export function destOptions(dest: DestTarget, weight: number): string[] {
  const a = ['-r', hostPort(dest.address, dest.family, dest.port)];
  if (dest.method === 'NAT') a.push('-m');
  else if (dest.method === 'DR') a.push('-g');
  else a.push('-i', ...tunnelArgs(dest.tunnel));
  a.push('-w', String(Math.max(0, Math.min(MAX_IPVSADM_WEIGHT, Math.trunc(weight)))));
  if (dest.upperThreshold) a.push('-x', String(dest.upperThreshold));
  if (dest.lowerThreshold) a.push('-y', String(dest.lowerThreshold));
  return a;
}

function destKey(d: Pick<DestTarget, 'address' | 'port'>): string {
  return `${d.address}|${d.port}`;
}

/** Parse the service keys of `ipvsadm -S -n` (lines `-A <target> -s sched ...`). */
export function savedServiceKeys(saved: string): Set<string> {
  const keys = new Set<string>();
  for (const line of saved.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] !== '-A') continue;
    const target: string[] = [];
    for (const x of w.slice(1)) {
      if (x === '-s' || (x.startsWith('-') && x !== '-6' && target.length >= 2)) break;
      target.push(x);
    }
    keys.add(target.join(' '));
  }
  return keys;
}

/**
 * Destinations of `ipvsadm -S -n` (lines `-a <target> -r <rs> ...`) as `<target> -r <rs>` keys, the
 * same shape the runtime's own `-a` lines have.
 */
export function savedDestKeys(saved: string): Set<string> {
  const keys = new Set<string>();
  for (const line of saved.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] !== '-a') continue;
    const r = w.indexOf('-r');
    if (r < 2 || r + 1 >= w.length) continue;
    keys.add(`${w.slice(1, r).join(' ')} -r ${w[r + 1]}`);
  }
  return keys;
}

/** `-a <target> -r <rs> ...` -> `<target> -r <rs>`, or null for any other line. */
function destLineKey(line: string): string | null {
  const w = line.split(' ');
  if (w[0] !== '-a' && w[0] !== '-e') return null;
  const r = w.indexOf('-r');
  return r < 2 || r + 1 >= w.length ? null : `${w.slice(1, r).join(' ')} -r ${w[r + 1]}`;
}

function levelOf(l: string): LogLevel {
  return l === 'debug' || l === 'warn' || l === 'error' ? l : l === 'warning' ? 'warn' : 'info';
}

interface Installed {
  dest: DestTarget;
  weight: number;
}

export class KeepalivedRuntime {
  private config: KeepalivedConfig | null = null;
  private health: HealthLike | null = null;
  private vrrp: VrrpLike | null = null;
  /** installed services by key */
  private services = new Map<string, ServiceSpec>();
  /** services each virtual server's actions apply to, by VS name */
  private vsServices = new Map<string, ServiceSpec[]>();
  /** destinations the HealthManager installed, by VS name then address|port */
  private readonly dests = new Map<string, Map<string, Installed>>();
  /** while non-null, actions queue their command lines here (one -R later) */
  private batch: string[] | null = null;
  private reloading: Promise<unknown> = Promise.resolve();
  private loadedAt: string | null = null;
  private lastReload: (ReloadResult & { at: string }) | null = null;
  private started = false;
  /** unsubscribes the health checker from local address changes */
  private unwatchLocal: (() => void) | null = null;

  constructor(
    private readonly opts: KeepalivedOptions,
    private readonly deps: KeepalivedDeps,
    private readonly table: TableAccess,
    private readonly log: Logger,
  ) {}

  /** Load the file, or explain why it cannot run (fatal load, VIPs without --no-vrrp). */
  private load(): {
    config: KeepalivedConfig | null;
    diagnostics: string[];
    exitCode: number;
    error?: string;
  } {
    let r: LoadResult;
    try {
      r = this.deps.load(
        this.opts.file,
        this.opts.configId !== undefined ? { configId: this.opts.configId } : {},
      );
    } catch (e) {
      return {
        config: null,
        diagnostics: [],
        exitCode: 4,
        error: `${this.opts.file}: ${(e as Error).message}`,
      };
    }
    const diagnostics = r.diagnostics.map(formatDiagnostic);
    for (const d of r.diagnostics) this.logDiagnostic(d);
    if (!r.config)
      return {
        config: null,
        diagnostics,
        exitCode: r.exitCode,
        error: `cannot load ${this.opts.file}${diagnostics.length ? `: ${diagnostics[diagnostics.length - 1]}` : ''}`,
      };
    if (this.deps.hasVrrpAddresses(r.config)) {
      if (this.deps.createVrrp && !this.opts.noVrrp)
        return { config: r.config, diagnostics, exitCode: r.exitCode };
      if (!this.opts.noVrrp)
        return {
          config: null,
          diagnostics,
          exitCode: r.exitCode,
          error:
            `${this.opts.file}: vrrp_instance blocks carry virtual addresses (virtual_ipaddress), but this ` +
            'lvsd does not run VRRP (no VRRP support given to the runtime), so nobody would add those ' +
            'addresses and their services would be unreachable. Configure the addresses another way ' +
            'and start lvsd with --no-vrrp, or keep keepalived for VRRP.',
        };
      this.log.warn('--no-vrrp: vrrp_instance blocks are ignored; their virtual addresses are not managed');
    }
    return { config: r.config, diagnostics, exitCode: r.exitCode };
  }

  private logDiagnostic(d: Diagnostic): void {
    this.log.log(d.severity === 'error' ? 'error' : 'warn', formatDiagnostic(d), { file: d.loc?.file });
  }

  /** Run ipvsadm lines: one command alone, several as one -R. Returns stderr ('' = all applied). */
  private async run(lines: string[]): Promise<string> {
    if (lines.length === 0) return '';
    const r =
      lines.length === 1
        ? await this.table.ipvsadm(lines[0]!.split(' '))
        : await this.table.ipvsadm(['-R'], lines.join('\n') + '\n');
    const err = r.stderr.trim();
    if (r.code !== 0 && err === '') return `ipvsadm exited with ${r.code}`;
    return err;
  }

  private async runLogged(what: string, lines: string[]): Promise<void> {
    const err = await this.run(lines);
    if (err) this.log.warn(`${what}: ipvsadm reported errors`, { errors: err.split('\n').slice(0, 20) });
  }

  /** Start: everything of the file; throws (the daemon exits 1) when it cannot be run. */
  async start(): Promise<void> {
    const l = this.load();
    if (!l.config) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', l.error ?? 'cannot load the configuration');
    const c = l.config;
    const lines: string[] = [];
    if (c.global.lvsFlush) lines.push('-C');
    // The table may already hold services and destinations: restored after a restart of lvsd (the
    // kernel's IPVS table outlives keepalived the same way). Existing ones are edited, not re-added,
    // so connections handed over to this process keep their destinations.
    const saved = c.global.lvsFlush ? '' : (await this.table.ipvsadm(['-S', '-n'])).stdout;
    const existing = savedServiceKeys(saved);
    const existingDests = savedDestKeys(saved);
    const timeouts = this.timeoutsLine(c);
    if (timeouts) lines.push(timeouts);
    const wanted = servicesOfConfig(c);
    for (const [key, s] of wanted)
      lines.push(`${existing.has(key) ? '-E' : '-A'} ${key} ${s.options.join(' ')}`);
    await this.runLogged('creating services', lines);
    this.services = wanted;
    this.vsServices = this.byVs(c);
    this.config = c;
    this.health = this.deps.createHealth(this.actions(), (level, msg, fields) =>
      this.log.log(levelOf(level), msg, fields),
    );
    this.watchLocalAddresses(this.health);
    await this.deferred(
      'initial destinations',
      () => this.health!.start(c),
      (lines) => {
        // upsert what the table already has; remove a restored destination of our services that
        // the health checker does not want now (removed from the file, or alpha and not yet up)
        const wantedDests = new Set<string>();
        const out = lines.map((l) => {
          const k = destLineKey(l);
          if (k === null) return l;
          wantedDests.add(k);
          return l.startsWith('-a ') && existingDests.has(k) ? `-e ${l.slice(3)}` : l;
        });
        for (const k of existingDests) {
          const target = k.slice(0, k.indexOf(' -r '));
          if (wanted.has(target) && !wantedDests.has(k)) out.push(`-d ${k}`);
        }
        return out;
      },
    );
    for (const cmd of syncDaemonCommands(c)) {
      const r = await this.table.ipvsadm(cmd.split(' '));
      if (r.code !== 0) this.log.warn('lvs_sync_daemon: ipvsadm ' + cmd, { error: r.stderr.trim() });
    }
    this.started = true;
    // VRRP last: a VIP arrives (and is announced) only when its services and servers are in place
    if (c.vrrpInstances.length > 0 && !this.opts.noVrrp && this.deps.createVrrp) {
      this.vrrp = this.deps.createVrrp(c);
      await this.vrrp.start({ resumeMaster: this.takeVrrpHandover() });
    }
    this.loadedAt = new Date().toISOString();
    this.log.info('keepalived configuration running', {
      file: this.opts.file,
      virtualServers: c.virtualServers.length,
      services: wanted.size,
    });
  }

  /**
   * ha_suspend: give the health checker the namespace's addresses before it starts (a VS whose VIP
   * is absent starts suspended) and after every network change (VRRP or `ip addr` moving a VIP).
   */
  private watchLocalAddresses(health: HealthLike): void {
    const src = this.deps.localAddresses;
    if (!src || !health.setLocalAddresses) return;
    const push = (): void => {
      const l = src.list();
      if (l) health.setLocalAddresses!(l);
    };
    push();
    this.unwatchLocal = src.onChange(() => {
      try {
        push();
      } catch (e) {
        this.log.warn('ha_suspend: local address update failed', { error: String(e) });
      }
    });
  }

  private timeoutsLine(c: KeepalivedConfig): string | null {
    const t = c.global.lvsTimeouts;
    if (!t) return null;
    return `--set ${t.tcp ?? 0} ${t.tcpfin ?? 0} ${t.udp ?? 0}`;
  }

  private byVs(c: KeepalivedConfig): Map<string, ServiceSpec[]> {
    const m = new Map<string, ServiceSpec[]>();
    for (const vs of c.virtualServers) m.set(vs.name, servicesOf(vs, c.virtualServerGroups));
    return m;
  }

  /** Run `f` with actions queued, then apply them all as one -R. */
  private async deferred(
    what: string,
    f: () => Promise<void>,
    rewrite: (lines: string[]) => string[] = (l) => l,
  ): Promise<void> {
    this.batch = [];
    try {
      await f();
    } finally {
      const lines = rewrite(this.batch);
      this.batch = null;
      await this.runLogged(what, lines);
    }
  }

  /** The HealthManager's actions as ipvsadm commands on every service of the virtual server. */
  private actions(): IpvsActions {
    const apply = async (vs: VirtualServer, verb: '-a' | '-e' | '-d', words: string[]): Promise<void> => {
      const svcs = this.vsServices.get(vs.name) ?? servicesOf(vs, this.config?.virtualServerGroups ?? []);
      const lines = svcs.map((s) => `${verb} ${serviceKey(s)} ${words.join(' ')}`);
      if (this.batch) {
        this.batch.push(...lines);
        return;
      }
      const err = await this.run(lines);
      if (err) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `${vs.name}: ${err}`);
    };
    const record = (vs: VirtualServer, dest: DestTarget, weight: number | null): void => {
      let m = this.dests.get(vs.name);
      if (!m) this.dests.set(vs.name, (m = new Map()));
      if (weight === null) m.delete(destKey(dest));
      else m.set(destKey(dest), { dest, weight });
    };
    const checkWeight = (vs: VirtualServer, dest: DestTarget, weight: number): void => {
      if (weight > MAX_IPVSADM_WEIGHT)
        this.log.warn('weight above the ipvsadm range is clamped', {
          vs: vs.name,
          rs: `${dest.address}:${dest.port}`,
          weight,
          applied: MAX_IPVSADM_WEIGHT,
        });
    };
    return {
      addDest: async (vs, dest, weight) => {
        checkWeight(vs, dest, weight);
        record(vs, dest, weight);
        await apply(vs, '-a', destOptions(dest, weight));
      },
      editDest: async (vs, dest, weight) => {
        checkWeight(vs, dest, weight);
        record(vs, dest, weight);
        await apply(vs, '-e', destOptions(dest, weight));
      },
      delDest: async (vs, dest) => {
        record(vs, dest, null);
        await apply(vs, '-d', ['-r', hostPort(dest.address, dest.family, dest.port)]);
      },
    };
  }

  /** SIGHUP / `lvsd reload`; reloads are serialized. */
  reload(): Promise<ReloadResult> {
    const p = this.reloading.then(() => this.reloadNow());
    this.reloading = p.catch(() => {});
    return p;
  }

  private async reloadNow(): Promise<ReloadResult> {
    const at = new Date().toISOString();
    const res: ReloadResult = {
      ok: false,
      file: this.opts.file,
      diagnostics: [],
      added: [],
      edited: [],
      removed: [],
    };
    if (!this.started || !this.config || !this.health) {
      res.error = 'the keepalived configuration is not running';
      return res;
    }
    this.log.info('reloading', { file: this.opts.file });
    const l = this.load();
    res.diagnostics = l.diagnostics;
    if (!l.config) {
      res.error = `${l.error ?? 'cannot load the configuration'}; the running configuration is unchanged`;
      this.log.error('reload failed', { error: res.error });
      this.lastReload = { ...res, at };
      return res;
    }
    // reload_check_config (global_defs): a file with any config error is not applied (keepalived
    // runs `-t` first); without it, as keepalived, what survives the errors is applied
    if (
      l.exitCode !== 0 &&
      ('reload_check_config' in l.config.global.other || 'reload_check_config' in this.config.global.other)
    ) {
      res.error = `${this.opts.file} has configuration errors (reload_check_config, exit status ${l.exitCode}); the running configuration is unchanged`;
      this.log.error('reload failed', { error: res.error });
      this.lastReload = { ...res, at };
      return res;
    }
    const next = l.config;
    const prev = this.config;
    const wanted = servicesOfConfig(next);
    // 1. new services (with the destinations their virtual server already has) and edited ones
    const create: string[] = [];
    for (const [key, s] of wanted) {
      const old = this.services.get(key);
      if (!old) {
        create.push(`-A ${key} ${s.options.join(' ')}`);
        for (const d of this.dests.get(s.vsName)?.values() ?? [])
          create.push(`-a ${key} ${destOptions(d.dest, d.weight).join(' ')}`);
        res.added.push(key);
      } else if (old.options.join(' ') !== s.options.join(' ')) {
        create.push(`-E ${key} ${s.options.join(' ')}`);
        res.edited.push(key);
      }
    }
    const timeouts = this.timeoutsLine(next);
    if (timeouts && timeouts !== this.timeoutsLine(prev)) create.push(timeouts);
    await this.runLogged('reload: creating services', create);
    // actions of removed virtual servers still reach their old services during update
    const vsServices = this.byVs(next);
    for (const [name, svcs] of this.vsServices) if (!vsServices.has(name)) vsServices.set(name, svcs);
    this.vsServices = vsServices;
    const vrrpOf = (k: KeepalivedConfig): string =>
      JSON.stringify(
        [k.vrrpInstances, k.vrrpScripts, k.vrrpSyncGroups, k.global.lvsSyncDaemon],
        (key, v: unknown) => (key === 'loc' ? undefined : v),
      );
    if (this.vrrp && vrrpOf(next) !== vrrpOf(this.config))
      this.log.warn(
        'reload: vrrp_instance, vrrp_script, vrrp_sync_group and lvs_sync_daemon changes take effect at the next restart (lvsd restart keeps connections)',
      );
    this.config = next;
    // 2. destinations
    try {
      await this.deferred('reload: destinations', () => this.health!.update(next));
    } catch (e) {
      this.log.error('reload: health update failed', { error: String(e) });
      res.error = `health update failed: ${(e as Error).message}`;
    }
    // 3. removed services
    const remove: string[] = [];
    for (const key of this.services.keys())
      if (!wanted.has(key)) {
        remove.push(`-D ${key}`);
        res.removed.push(key);
      }
    await this.runLogged('reload: deleting services', remove);
    this.services = wanted;
    this.vsServices = this.byVs(next);
    for (const name of [...this.dests.keys()]) if (!this.vsServices.has(name)) this.dests.delete(name);
    res.ok = res.error === undefined;
    this.loadedAt = at;
    this.lastReload = { ...res, at };
    this.log.info('reloaded', { added: res.added, edited: res.edited, removed: res.removed });
    return res;
  }

  async stop(opts: { handover?: boolean } = {}): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.unwatchLocal?.();
    this.unwatchLocal = null;
    await this.reloading;
    if (opts.handover) {
      // a successor takes table and connections over: nothing of them is undone here. VRRP keeps
      // advertising until this process exits; the successor resumes the instances that were MASTER
      // (prepareHandover) as MASTER (no priority 0, the VIPs stay), so the peers never see the master go.
      try {
        await this.health?.stop({ handover: true });
      } catch (e) {
        this.log.warn('health checker stop failed', { error: String(e) });
      }
      return;
    }
    // VRRP first: priority 0 hands the VIPs to a backup at once, while this director still forwards
    try {
      await this.vrrp?.stop();
    } catch (e) {
      this.log.warn('VRRP stop failed', { error: String(e) });
    }
    try {
      await this.health?.stop();
    } catch (e) {
      this.log.warn('health checker stop failed', { error: String(e) });
    }
    if (this.config?.global.lvsFlushOnStop) await this.runLogged('lvs_flush_on_stop', ['-C']);
  }

  /** Before the successor is answered (Daemon.handOver): the VRRP record it will read at start. */
  prepareHandover(): void {
    const file = this.opts.vrrpHandoverFile;
    if (!file || !this.vrrp) return;
    const masters = this.vrrp.masterInstances();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(
        file,
        JSON.stringify({ netnsCookie: this.opts.netnsCookie ?? '', at: Date.now(), masters }) + '\n',
      );
      this.log.info('VRRP hand-over recorded', { masters });
    } catch (e) {
      this.log.warn('VRRP hand-over not recorded', { error: String(e) });
    }
  }

  /** The instances a predecessor handed over as MASTER (the record is consumed). */
  private takeVrrpHandover(): Set<string> {
    const file = this.opts.vrrpHandoverFile;
    const none = new Set<string>();
    if (!file) return none;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
      fs.rmSync(file, { force: true });
    } catch {
      return none;
    }
    try {
      const r = JSON.parse(text) as { netnsCookie?: unknown; at?: unknown; masters?: unknown };
      const fresh = typeof r.at === 'number' && Date.now() - r.at <= VRRP_HANDOVER_MAX_AGE_MS;
      const here = r.netnsCookie === (this.opts.netnsCookie ?? '');
      if (!fresh || !here || !Array.isArray(r.masters)) {
        this.log.info('VRRP hand-over record ignored', { fresh, sameNamespace: here });
        return none;
      }
      return new Set(r.masters.filter((m): m is string => typeof m === 'string'));
    } catch (e) {
      this.log.warn('VRRP hand-over record unreadable', { error: String(e) });
      return none;
    }
  }

  status(): unknown {
    const c = this.config;
    return {
      configFile: this.opts.file,
      ...(this.opts.configId !== undefined ? { configId: this.opts.configId } : {}),
      noVrrp: this.opts.noVrrp,
      vrrp: this.vrrp?.status() ?? null,
      loadedAt: this.loadedAt,
      lastReload: this.lastReload,
      virtualServers: (c?.virtualServers ?? []).map((vs) => ({
        name: vs.name,
        services: (this.vsServices.get(vs.name) ?? []).map(serviceKey),
        destinations: [...(this.dests.get(vs.name)?.values() ?? [])].map((d) => ({
          address: d.dest.address,
          port: d.dest.port,
          weight: d.weight,
        })),
      })),
      health: this.health?.status() ?? null,
    };
  }
}
