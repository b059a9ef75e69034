/**
 * HealthManager: keepalived's checker process for lvsd. It runs every real server's checkers, keeps
 * keepalived's per-checker / real-server / quorum state machine (keepalived-reference.md §2) and
 * keeps the IPVS destinations of every virtual server in line with it through IpvsActions.
 *
 * Design:
 * - Time is injected (HealthClock) and every check is one Scheduler entry (one timer for all), so
 *   tests drive the machine with a fake clock and scripted probes (ProbeFactory).
 * - State changes update *state* only; the IPVS side is reconciled per virtual server: the desired
 *   destinations are computed from state (desiredDests) and diffed against what this manager has
 *   installed (`installed`), then applied as deletes, weight edits (ascending), adds. That order is
 *   keepalived's: on quorum loss the real servers leave before the sorry server comes in, on gain
 *   the sorry server leaves before the real servers return. `installed` is this manager's own view,
 *   so a destination deleted by hand is never re-added by a reload (keepalived #1018, #1877).
 * - Checks are bounded by maxConcurrent in-flight probes; due checks beyond that wait in FIFO order.
 * - ha_suspend (keepalived-reference.md §1, LVS table): a virtual server with it is checked only
 *   while its virtual address is configured in this namespace. The owner feeds the addresses in
 *   (setLocalAddresses; no netlink here); while suspended no check of the VS is scheduled, queued
 *   or launched and its destinations stay as they are.
 */
import { spawn } from 'node:child_process';
import type { Checker, KeepalivedConfig, RealServer, ScriptSpec, VirtualServer } from '../config/model.js';
import type { DestTarget, IpvsActions } from './actions.js';
import { createProbe } from './checkers/index.js';
import { formatTarget } from './checkers/util.js';
import { Scheduler, realClock, type ScheduledTask } from './scheduler.js';
import { scriptSpawnIds } from './scripts.js';
import { probeThreadEnabled } from './checkers/stream-prober.js';
import { canonicalAddressText } from '../packet/addr.js';
import type {
  CheckResult,
  CheckerStatus,
  HealthClock,
  HealthLog,
  HealthStatus,
  Probe,
  ProbeContext,
  ProbeFactory,
  RealServerStatus,
  ScriptRunner,
  VirtualServerStatus,
} from './types.js';

export * from './types.js';
export { createProbe } from './checkers/index.js';
export { Scheduler, realClock } from './scheduler.js';

/** IPVS weights are signed 32-bit; keepalived clamps dynamic weights to [0, INT32_MAX]. */
export const MAX_WEIGHT = 2147483647;
export const DEFAULT_MAX_CONCURRENT = 256;
/** checks launched per event-loop turn at most (bounds the loop delay of a burst) */
export const LAUNCH_BATCH = 32;

export interface HealthManagerOptions {
  actions: IpvsActions;
  log?: HealthLog;
  clock?: HealthClock;
  runScript?: ScriptRunner;
  /** in-flight checks at most (sockets / child processes); default 256 */
  maxConcurrent?: number;
  /** probe per checker config; default createProbe (the real checkers) */
  probeFactory?: ProbeFactory;
  /** uniform [0,1) for the warmup delay; default Math.random */
  random?: () => number;
  /**
   * Addresses configured in this network namespace now (ha_suspend); later changes go through
   * setLocalAddresses. Absent and never set: unknown, and ha_suspend virtual servers are always checked.
   */
  localAddresses?: Iterable<string>;
}

interface CheckerRt {
  cfg: Checker;
  key: string;
  probe: Probe;
  rs: RsRt;
  isUp: boolean;
  hasRun: boolean;
  retryIt: number;
  /** url / host index of the next attempt */
  step: number;
  /** HTTP/SMTP: step that failed and took the checker down, -1 = none */
  failedStep: number;
  /** last dynamic weight reported (misc_dynamic / FILE dynamic); null = none / reset */
  dynamicWeight: number | null;
  task: ScheduledTask | null;
  running: AbortController | null;
  queued: boolean;
  removed: boolean;
  checks: number;
  successes: number;
  failures: number;
  last?: CheckResult;
  lastCheckAt?: number;
}

interface RsRt {
  cfg: RealServer;
  key: string;
  vs: VsRt;
  checkers: CheckerRt[];
  alive: boolean;
  weight: number;
}

interface Installed {
  dest: DestTarget;
  weight: number;
}

interface VsRt {
  cfg: VirtualServer;
  rs: Map<string, RsRt>;
  quorumUp: boolean;
  installed: Map<string, Installed>;
  chain: Promise<void>;
  syncQueued: boolean;
  removed: boolean;
  /** ha_suspend and the VIP is not local: no check of this VS is scheduled or launched */
  suspended: boolean;
}

export function destKey(d: { address: string; port: number }): string {
  return formatTarget(d.address, d.port);
}

function destOf(d: DestTarget): DestTarget {
  const t: DestTarget = { address: d.address, port: d.port, family: d.family, method: d.method };
  if (d.tunnel) t.tunnel = d.tunnel;
  if (d.upperThreshold) t.upperThreshold = d.upperThreshold;
  if (d.lowerThreshold) t.lowerThreshold = d.lowerThreshold;
  return t;
}

function sameDest(a: DestTarget, b: DestTarget): boolean {
  return JSON.stringify(destOf(a)) === JSON.stringify(destOf(b));
}

/** Identity of a checker across a reload: position, kind and every option but the source location. */
function checkerKey(c: Checker, index: number): string {
  return `${index}:${JSON.stringify(c, (k, v: unknown) =>
    k === 'loc' ? undefined : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  )}`;
}

/** A checker's share of its RS weight: (dynamic weight - configured weight), or 0 without one (§1.6 MISC). */
function contribution(c: CheckerRt): number {
  return c.dynamicWeight === null ? 0 : c.dynamicWeight - c.rs.cfg.weight;
}

function checkerTarget(c: Checker): string {
  switch (c.kind) {
    case 'FILE_CHECK':
      return c.trackFile;
    case 'MISC_CHECK':
      return c.script.command;
    case 'BFD_CHECK':
      return c.name;
    default:
      return formatTarget(c.connectIp, c.connectPort);
  }
}

function defaultRunScript(
  log: HealthLog,
  scriptUser: () => { user: string; group?: string } | undefined,
): ScriptRunner {
  return (script, why) => {
    const [cmd, ...args] = script.argv;
    if (!cmd) return;
    try {
      const child = spawn(cmd, args, { stdio: 'ignore', ...scriptSpawnIds(script, scriptUser()) });
      child.once('error', (e) => log('error', `${why}: cannot run ${script.command}: ${e.message}`));
      child.once('exit', (code, sig) => {
        if (code !== 0) log('warn', `${why}: ${script.command} exited ${code ?? sig}`);
      });
    } catch (e) {
      log('error', `${why}: cannot run ${script.command}: ${(e as Error).message}`);
    }
  };
}

export class HealthManager {
  private readonly actions: IpvsActions;
  private readonly log: HealthLog;
  private readonly clock: HealthClock;
  private readonly runScript: ScriptRunner;
  private readonly maxConcurrent: number;
  private readonly probeFactory: ProbeFactory;
  private readonly random: () => number;
  private readonly sched: Scheduler;
  private vss = new Map<string, VsRt>();
  private config: KeepalivedConfig | null = null;
  private running = false;
  private inFlight = 0;
  private readonly waiting: CheckerRt[] = [];
  private readonly inFlightDone = new Set<Promise<void>>();
  private pumpScheduled = false;
  /** canonical local addresses for ha_suspend; null = unknown (never suspend) */
  private local: Set<string> | null = null;

  constructor(opts: HealthManagerOptions) {
    this.actions = opts.actions;
    this.log = opts.log ?? (() => {});
    this.clock = opts.clock ?? realClock;
    this.runScript = opts.runScript ?? defaultRunScript(this.log, () => this.config?.global.scriptUser);
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
    this.probeFactory = opts.probeFactory ?? createProbe;
    this.random = opts.random ?? Math.random;
    this.sched = new Scheduler(this.clock);
    if (opts.localAddresses) this.local = new Set([...opts.localAddresses].map(canonicalAddressText));
  }

  /**
   * The addresses configured in this network namespace changed (or are known for the first time):
   * ha_suspend virtual servers whose VIP left are suspended (pending checks cancelled, checks in
   * flight aborted and their results ignored), those whose VIP arrived resume with a check at once.
   * Destinations are not touched either way. Cheap when nothing relevant changed.
   */
  setLocalAddresses(addrs: Iterable<string>): void {
    const next = new Set<string>();
    for (const a of addrs) next.add(canonicalAddressText(a));
    const prev = this.local;
    if (prev && prev.size === next.size && [...next].every((a) => prev.has(a))) return;
    this.local = next;
    if (!this.running) return;
    for (const vs of this.vss.values()) this.applySuspension(vs);
  }

  /**
   * Build state for every virtual server and install the initial destinations as keepalived does
   * at startup (§2): real servers whose checkers all start up (no alpha) at their weight, the others
   * not at all (inhibit_on_failure: weight 0); quorum_up = weight_sum >= quorum + hysteresis; when
   * the quorum starts down the sorry server is installed (weight 1), with sorry_server_inhibit it is
   * pre-installed at weight 0 otherwise. Then the first check of every checker is scheduled after a
   * random 0..warmup delay. Resolves when the initial destinations are installed.
   */
  async start(config: KeepalivedConfig): Promise<void> {
    if (this.running) throw new Error('HealthManager already started');
    this.running = true;
    this.config = config;
    this.vss = new Map();
    for (const vsCfg of config.virtualServers) this.vss.set(vsCfg.name, this.newVs(vsCfg));
    await Promise.all([...this.vss.values()].map((vs) => this.requestSync(vs)));
    for (const vs of this.vss.values()) for (const rs of vs.rs.values()) this.scheduleFirst(rs.checkers);
  }

  /**
   * Reload (SIGHUP, §2 "Reload"): keyed by VS name and RS address:port. Unchanged checkers keep
   * their state and schedule; an RS that is down stays down until its checkers say otherwise (no
   * instant re-add); removed RS are deleted from IPVS; new VS/RS/checkers start as at startup.
   * A removed VS is forgotten (the runtime deletes its services).
   */
  async update(config: KeepalivedConfig): Promise<void> {
    if (!this.running) throw new Error('HealthManager not started');
    this.config = config;
    const next = new Map<string, VsRt>();
    const fresh: CheckerRt[] = [];
    for (const vsCfg of config.virtualServers) {
      const old = this.vss.get(vsCfg.name);
      if (!old) {
        const vs = this.newVs(vsCfg);
        next.set(vsCfg.name, vs);
        for (const rs of vs.rs.values()) fresh.push(...rs.checkers);
        continue;
      }
      old.cfg = vsCfg;
      const rsNext = new Map<string, RsRt>();
      for (const rsCfg of vsCfg.realServers) {
        const key = destKey(rsCfg);
        const prev = old.rs.get(key);
        if (!prev) {
          const rs = this.newRs(old, rsCfg);
          rsNext.set(key, rs);
          fresh.push(...rs.checkers);
          continue;
        }
        const weightChanged = prev.cfg.weight !== rsCfg.weight;
        prev.cfg = rsCfg;
        prev.key = key;
        const byKey = new Map(prev.checkers.map((c) => [c.key, c]));
        prev.checkers = rsCfg.checkers.map((cCfg, i) => {
          const k = checkerKey(cCfg, i);
          const kept = byKey.get(k);
          if (kept) {
            byKey.delete(k);
            kept.cfg = cCfg;
            // FILE_CHECK dynamic weights are relative to the configured weight: rebuild its probe.
            if (weightChanged) kept.probe = this.probeFactory(cCfg, this.probeContext(rsCfg));
            return kept;
          }
          const c = this.newChecker(prev, cCfg, i);
          // "Do not re-add failed RS instantly on reload": a changed checker of an RS that is down
          // starts DOWN, so the RS needs a success before it returns.
          if (!prev.alive) c.isUp = false;
          fresh.push(c);
          return c;
        });
        for (const gone of byKey.values()) this.dropChecker(gone);
        rsNext.set(key, prev);
      }
      for (const [key, rs] of old.rs) if (!rsNext.has(key)) for (const c of rs.checkers) this.dropChecker(c);
      old.rs = rsNext;
      next.set(vsCfg.name, old);
    }
    for (const [name, vs] of this.vss) {
      if (next.has(name)) continue;
      vs.removed = true;
      for (const rs of vs.rs.values()) for (const c of rs.checkers) this.dropChecker(c);
    }
    this.vss = next;
    // before scheduling the fresh checkers: a VS that is suspended now does not schedule them
    for (const vs of this.vss.values()) this.applySuspension(vs);
    const syncs: Promise<void>[] = [];
    for (const vs of this.vss.values()) {
      for (const rs of vs.rs.values()) this.refreshRs(rs, true);
      this.evalQuorum(vs);
      syncs.push(this.requestSync(vs));
    }
    await Promise.all(syncs);
    this.scheduleFirst(fresh);
  }

  /**
   * Shutdown: cancel every check, abort the ones in flight and wait for them and for pending IPVS
   * actions. omega (§2): run notify_down for every alive real server and quorum_down for a VS whose
   * quorum is up (not when `handover`: lvsd restart). Destinations are left as they are: the
   * runtime removes the services.
   */
  async stop(opts: { handover?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sched.clear();
    this.waiting.length = 0;
    for (const vs of this.vss.values()) {
      for (const rs of vs.rs.values()) {
        for (const c of rs.checkers) {
          c.removed = true;
          c.running?.abort();
        }
      }
    }
    await Promise.allSettled([...this.inFlightDone]);
    await Promise.allSettled([...this.vss.values()].map((vs) => vs.chain));
    // handing over to a successor process is not a shutdown of the service: no omega scripts
    if (opts.handover) return;
    for (const vs of this.vss.values()) {
      if (!vs.cfg.omega) continue;
      for (const rs of vs.rs.values())
        if (rs.alive && rs.cfg.notifyDown) this.script(rs.cfg.notifyDown, 'notify_down');
      if (vs.quorumUp && vs.cfg.quorumDown) this.script(vs.cfg.quorumDown, 'quorum_down');
    }
  }

  status(): HealthStatus {
    const virtualServers: VirtualServerStatus[] = [];
    for (const vs of this.vss.values()) {
      const realServers: RealServerStatus[] = [];
      for (const rs of vs.rs.values()) {
        const inst = vs.installed.get(rs.key);
        const checkers: CheckerStatus[] = rs.checkers.map((c) => {
          const s: CheckerStatus = {
            kind: c.cfg.kind,
            target: checkerTarget(c.cfg),
            up: c.isUp,
            hasRun: c.hasRun,
            retryIt: c.retryIt,
            checks: c.checks,
            successes: c.successes,
            failures: c.failures,
            weightContribution: contribution(c),
          };
          if (c.last) {
            s.lastResult = c.last.ok ? 'ok' : 'fail';
            s.lastLatencyMs = c.last.latencyMs;
            s.reason = c.last.reason;
          }
          if (c.lastCheckAt !== undefined) s.lastCheckAt = c.lastCheckAt;
          return s;
        });
        const r: RealServerStatus = {
          address: rs.cfg.address,
          port: rs.cfg.port,
          alive: rs.alive,
          configuredWeight: rs.cfg.weight,
          weight: rs.weight,
          // A sorry server identical to this RS shares its key; report the RS as in the table only outside sorry mode.
          inTable: inst !== undefined && !this.sorryActive(vs, rs.key),
          checkers,
        };
        if (r.inTable) r.tableWeight = inst!.weight;
        realServers.push(r);
      }
      virtualServers.push({
        name: vs.cfg.name,
        quorum: vs.cfg.quorum,
        hysteresis: vs.cfg.hysteresis,
        quorumUp: vs.quorumUp,
        weightSum: this.weightSum(vs),
        sorryActive: this.sorryActive(vs),
        suspended: vs.suspended,
        realServers,
      });
    }
    return {
      running: this.running,
      probeThread: probeThreadEnabled(),
      inFlight: this.inFlight,
      queued: this.waiting.length,
      virtualServers,
    };
  }

  // ---- construction -------------------------------------------------------------------------

  private newVs(cfg: VirtualServer): VsRt {
    const vs: VsRt = {
      cfg,
      rs: new Map(),
      quorumUp: false,
      installed: new Map(),
      chain: Promise.resolve(),
      syncQueued: false,
      removed: false,
      suspended: false,
    };
    if (cfg.haSuspend && this.local === null) {
      this.log(
        'warn',
        `VS ${cfg.name}: ha_suspend: this director's local addresses are unknown - checks always run`,
        { vs: cfg.name },
      );
    }
    // no checker exists yet: this only sets the flag (and logs), scheduleFirst honours it
    this.applySuspension(vs);
    for (const rsCfg of cfg.realServers) vs.rs.set(destKey(rsCfg), this.newRs(vs, rsCfg));
    // set_quorum_states(): the startup state has no hysteresis band below it.
    vs.quorumUp = this.weightSum(vs) >= cfg.quorum + cfg.hysteresis;
    if (!vs.quorumUp) {
      this.log(
        'info',
        `Quorum down at startup for VS ${cfg.name}: ${this.weightSum(vs)} < ${cfg.quorum}+${cfg.hysteresis}`,
        {
          vs: cfg.name,
        },
      );
    }
    if (this.config?.global.rsInitNotifies) {
      for (const rs of vs.rs.values()) {
        const s = rs.alive ? rs.cfg.notifyUp : rs.cfg.notifyDown;
        if (s) this.script(s, rs.alive ? 'notify_up' : 'notify_down');
      }
    }
    return vs;
  }

  private newRs(vs: VsRt, cfg: RealServer): RsRt {
    const rs: RsRt = { cfg, key: destKey(cfg), vs, checkers: [], alive: true, weight: cfg.weight };
    rs.checkers = cfg.checkers.map((c, i) => this.newChecker(rs, c, i));
    rs.alive = rs.checkers.every((c) => c.isUp);
    rs.weight = this.effectiveWeight(rs);
    return rs;
  }

  /** §2 per-checker counters: up unless alpha; retry_it = retry so the first failure at startup marks DOWN. */
  private newChecker(rs: RsRt, cfg: Checker, index: number): CheckerRt {
    // Node sockets cannot set SO_MARK or SO_BINDTODEVICE: say so instead of silently checking differently.
    if (cfg.fwmark !== undefined || cfg.bindIf !== undefined) {
      this.log(
        'warn',
        `${cfg.kind} for ${rs.key}: fwmark / bind_if are not supported by lvsd's checkers - ignored`,
        {
          vs: rs.vs.cfg.name,
          rs: rs.key,
        },
      );
    }
    return {
      cfg,
      key: checkerKey(cfg, index),
      probe: this.probeFactory(cfg, this.probeContext(rs.cfg)),
      rs,
      isUp: !cfg.alpha,
      hasRun: false,
      retryIt: cfg.retry,
      step: 0,
      failedStep: -1,
      dynamicWeight: null,
      task: null,
      running: null,
      queued: false,
      removed: false,
      checks: 0,
      successes: 0,
      failures: 0,
    };
  }

  private probeContext(rs: RealServer): ProbeContext {
    const su = this.config?.global.scriptUser;
    return su ? { rsWeight: rs.weight, scriptUser: su } : { rsWeight: rs.weight };
  }

  private dropChecker(c: CheckerRt): void {
    c.removed = true;
    this.sched.cancel(c.task);
    c.task = null;
    c.running?.abort();
  }

  // ---- ha_suspend ---------------------------------------------------------------------------

  /**
   * The addresses whose presence keeps `cfg` checked: its VIP, or every address of its
   * virtual_server_group (checked while any of them is local). fwmark: none (never suspended; the
   * config normalizer already clears ha_suspend there).
   */
  private vipsOf(cfg: VirtualServer): string[] {
    const t = cfg.target;
    if (t.type === 'ip') return [t.address];
    if (t.type === 'fwmark') return [];
    const g = this.config?.virtualServerGroups.find((x) => x.name === t.group);
    return g ? g.addresses.map((a) => a.address) : [];
  }

  /** Bring vs.suspended in line with its config and the local addresses; log each transition once. */
  private applySuspension(vs: VsRt): void {
    const cfg = vs.cfg;
    const vips = this.vipsOf(cfg);
    const local = this.local;
    const suspend =
      cfg.haSuspend &&
      local !== null &&
      vips.length > 0 &&
      !vips.some((a) => local.has(canonicalAddressText(a)));
    if (suspend === vs.suspended) return;
    vs.suspended = suspend;
    const vip = vips.join(', ');
    if (suspend) {
      this.log('info', `VS ${cfg.name}: VIP ${vip} is not local, health checks suspended (ha_suspend)`, {
        vs: cfg.name,
      });
      for (const rs of vs.rs.values()) {
        for (const c of rs.checkers) {
          this.sched.cancel(c.task);
          c.task = null;
          c.running?.abort();
        }
      }
      return;
    }
    this.log(
      'info',
      cfg.haSuspend
        ? `VS ${cfg.name}: VIP ${vip} is local, health checks resumed (ha_suspend)`
        : `VS ${cfg.name}: ha_suspend is off now, health checks resumed`,
      { vs: cfg.name },
    );
    // the first check at once; from there the normal schedule (the state machine is unchanged)
    for (const rs of vs.rs.values()) for (const c of rs.checkers) if (!c.removed) this.scheduleIn(c, 0);
  }

  // ---- scheduling ---------------------------------------------------------------------------

  private scheduleFirst(checkers: CheckerRt[]): void {
    for (const c of checkers) {
      if (c.removed || c.rs.vs.suspended) continue;
      const warmup = c.cfg.kind === 'FILE_CHECK' ? 0 : c.cfg.warmup;
      this.scheduleIn(c, warmup > 0 ? this.random() * warmup * 1000 : 0);
    }
  }

  private scheduleIn(c: CheckerRt, ms: number): void {
    this.sched.cancel(c.task);
    c.task = this.sched.schedule(ms, () => {
      c.task = null;
      this.due(c);
    });
  }

  /**
   * A check is due: queue it and pump. Launches happen at most LAUNCH_BATCH per macrotask (the rest
   * continue after setImmediate), so a burst of due checks never holds the event loop for long.
   */
  private due(c: CheckerRt): void {
    if (c.removed || !this.running || c.rs.vs.suspended) return;
    if (!c.queued) {
      c.queued = true;
      this.waiting.push(c);
    }
    this.pump();
  }

  private pump(): void {
    if (this.pumpScheduled) return;
    let launched = 0;
    while (this.running && this.inFlight < this.maxConcurrent && this.waiting.length > 0) {
      if (launched === LAUNCH_BATCH) {
        this.pumpScheduled = true;
        setImmediate(() => {
          this.pumpScheduled = false;
          this.pump();
        });
        return;
      }
      const c = this.waiting.shift()!;
      c.queued = false;
      if (c.removed || c.rs.vs.suspended) continue;
      this.launch(c);
      launched++;
    }
  }

  private launch(c: CheckerRt): void {
    this.inFlight++;
    const ac = new AbortController();
    c.running = ac;
    const step = c.step;
    const p = c.probe
      .run(ac.signal, step)
      .catch((e: unknown): CheckResult => ({
        ok: false,
        reason: `probe error: ${(e as Error).message}`,
        latencyMs: 0,
      }))
      .then((res) => {
        // an aborted attempt (ha_suspend, reload, stop) says nothing about the server; a newer
        // attempt may already run when this one settles (suspended, then resumed)
        if (c.running === ac) c.running = null;
        if (!ac.signal.aborted && !c.removed && this.running) this.onResult(c, res);
      })
      .finally(() => {
        this.inFlight--;
        this.inFlightDone.delete(p);
        this.pump();
      });
    this.inFlightDone.add(p);
  }

  // ---- the checker state machine (§2) --------------------------------------------------------

  private onResult(c: CheckerRt, res: CheckResult): void {
    const cfg = c.cfg;
    const steps = Math.max(1, c.probe.steps);
    c.checks++;
    c.last = res;
    c.lastCheckAt = this.clock.now();
    const target = checkerTarget(cfg);
    const fields = { vs: c.rs.vs.cfg.name, rs: c.rs.key, checker: cfg.kind, target, reason: res.reason };
    let delayS = cfg.delayLoop;
    if (res.ok) {
      c.successes++;
      c.retryIt = 0;
      if (res.dynamicWeight !== undefined) c.dynamicWeight = res.dynamicWeight;
      let allPassed = true;
      if (steps > 1) {
        if (c.failedStep >= 0 && c.step === c.failedStep) {
          // The URL that took the checker down passes again: recheck every URL from the first.
          c.failedStep = -1;
          c.step = 0;
          allPassed = false;
        } else if (++c.step < steps) {
          allPassed = false;
        } else {
          c.step = 0;
        }
      }
      if (!allPassed) {
        // fast_recovery: no delay between URLs while the checker is down or at startup.
        const fast = cfg.kind !== 'HTTP_GET' && cfg.kind !== 'SSL_GET' ? false : cfg.fastRecovery;
        if (fast && (!c.isUp || !c.hasRun)) delayS = 0;
      } else {
        if (!c.isUp) this.log('info', `${cfg.kind} on service ${target} success.`, fields);
        c.isUp = true;
        c.hasRun = true;
      }
    } else {
      c.failures++;
      if (c.isUp) {
        if (c.retryIt < cfg.retry) {
          c.retryIt++;
          delayS = cfg.delayBeforeRetry;
          if (cfg.logAllFailures || this.config?.global.checkerLogAllFailures)
            this.log(
              'info',
              `${cfg.kind} on service ${target} failed (retry ${c.retryIt}/${cfg.retry}): ${res.reason}`,
              fields,
            );
        } else {
          c.isUp = false;
          if (steps > 1) c.failedStep = c.step;
          this.log(
            'warn',
            c.hasRun
              ? `${cfg.kind} on service ${target} failed after ${cfg.retry} retries.`
              : `${cfg.kind} on service ${target} failed.`,
            fields,
          );
        }
      } else {
        if (steps > 1 && c.failedStep < 0) c.failedStep = c.step;
        if (steps > 1) c.step = c.failedStep;
        if (cfg.logAllFailures || this.config?.global.checkerLogAllFailures)
          this.log('info', `${cfg.kind} on service ${target} failed: ${res.reason}`, fields);
      }
      c.hasRun = true;
    }
    this.scheduleIn(c, delayS * 1000);
    const vs = c.rs.vs;
    if (this.refreshRs(c.rs, true)) {
      this.evalQuorum(vs);
      void this.requestSync(vs);
    }
  }

  /**
   * Recompute an RS's alive flag (all checkers up; none = always up) and effective weight; log and
   * notify transitions. Returns true when anything the table or quorum depends on changed.
   */
  private refreshRs(rs: RsRt, notify: boolean): boolean {
    const alive = rs.checkers.every((c) => c.isUp);
    const weight = this.effectiveWeight(rs);
    const vs = rs.vs;
    const changed = alive !== rs.alive || weight !== rs.weight;
    if (weight !== rs.weight) {
      this.log('info', `Changing weight from ${rs.weight} to ${weight} for ${rs.key} of VS ${vs.cfg.name}`, {
        vs: vs.cfg.name,
        rs: rs.key,
      });
      rs.weight = weight;
    }
    if (alive !== rs.alive) {
      rs.alive = alive;
      const verb = alive
        ? rs.cfg.inhibitOnFailure
          ? 'Enabling service'
          : 'Adding service'
        : rs.cfg.inhibitOnFailure
          ? 'Disabling service'
          : 'Removing service';
      const prep = alive ? 'to' : 'from';
      this.log('info', `${verb} ${rs.key} ${prep} VS ${vs.cfg.name}`, { vs: vs.cfg.name, rs: rs.key, alive });
      const s = alive ? rs.cfg.notifyUp : rs.cfg.notifyDown;
      if (s && notify) this.script(s, alive ? 'notify_up' : 'notify_down');
    }
    return changed;
  }

  private effectiveWeight(rs: RsRt): number {
    let w = rs.cfg.weight;
    for (const c of rs.checkers ?? []) w += contribution(c);
    return Math.min(MAX_WEIGHT, Math.max(0, w));
  }

  private weightSum(vs: VsRt): number {
    let sum = 0;
    for (const rs of vs.rs.values()) if (rs.alive) sum += rs.weight;
    return sum;
  }

  /** Quorum with hysteresis (§2): gain at W >= q+h while down, loss at W == 0 or W < q-h while up. */
  private evalQuorum(vs: VsRt): void {
    const { quorum: q, hysteresis: h, name } = vs.cfg;
    const w = this.weightSum(vs);
    if (!vs.quorumUp && w >= q + h) {
      vs.quorumUp = true;
      this.log('info', `Gained quorum ${q}+${h}=${q + h} <= ${w} for VS ${name}`, { vs: name, weightSum: w });
      if (vs.cfg.quorumUp) this.script(vs.cfg.quorumUp, 'quorum_up');
    } else if (vs.quorumUp && (w === 0 || w < q - h)) {
      vs.quorumUp = false;
      this.log('warn', `Lost quorum ${q}-${h}=${q - h} > ${w} for VS ${name}`, { vs: name, weightSum: w });
      if (vs.cfg.quorumDown) this.script(vs.cfg.quorumDown, 'quorum_down');
    }
  }

  private sorryActive(vs: VsRt, key?: string): boolean {
    const s = vs.cfg.sorryServer;
    if (!s || vs.quorumUp) return false;
    return key === undefined || destKey(s) === key;
  }

  // ---- IPVS reconciliation ------------------------------------------------------------------

  /**
   * What the table of `vs` should hold now:
   * - quorum up, or no sorry server: every alive RS at its weight; a dead inhibit_on_failure RS at 0;
   * - sorry mode (quorum down with a sorry server): RS only as inhibited weight-0 entries, the sorry
   *   server at weight 1;
   * - sorry_server_inhibit outside sorry mode: the sorry server at weight 0.
   */
  private desiredDests(vs: VsRt): Map<string, Installed> {
    const want = new Map<string, Installed>();
    const sorry = vs.cfg.sorryServer;
    const sorryMode = !!sorry && !vs.quorumUp;
    for (const rs of vs.rs.values()) {
      if (rs.alive && !sorryMode) want.set(rs.key, { dest: rs.cfg, weight: rs.weight });
      else if (rs.cfg.inhibitOnFailure) want.set(rs.key, { dest: rs.cfg, weight: 0 });
    }
    if (sorry) {
      if (sorryMode) want.set(destKey(sorry), { dest: sorry, weight: 1 });
      else if (vs.cfg.sorryServerInhibit && !want.has(destKey(sorry)))
        want.set(destKey(sorry), { dest: sorry, weight: 0 });
    }
    return want;
  }

  /** Queue one reconciliation of `vs` behind its pending actions (actions of one VS are serial). */
  private requestSync(vs: VsRt): Promise<void> {
    if (vs.syncQueued) return vs.chain;
    vs.syncQueued = true;
    vs.chain = vs.chain.then(() => {
      vs.syncQueued = false;
      return this.sync(vs);
    });
    return vs.chain;
  }

  private async sync(vs: VsRt): Promise<void> {
    if (vs.removed) return;
    const want = this.desiredDests(vs);
    const dels: [string, Installed][] = [];
    const edits: [string, Installed][] = [];
    const adds: [string, Installed][] = [];
    for (const [k, inst] of vs.installed) {
      const w = want.get(k);
      if (!w || !sameDest(w.dest, inst.dest)) dels.push([k, inst]);
    }
    for (const [k, w] of want) {
      const inst = vs.installed.get(k);
      if (!inst || !sameDest(w.dest, inst.dest)) adds.push([k, w]);
      else if (inst.weight !== w.weight) edits.push([k, w]);
    }
    edits.sort((a, b) => a[1].weight - b[1].weight);
    const name = vs.cfg.name;
    for (const [k, inst] of dels) {
      vs.installed.delete(k);
      await this.act(() => this.actions.delDest(vs.cfg, destOf(inst.dest)), `delDest ${k} from VS ${name}`);
    }
    for (const [k, w] of edits) {
      vs.installed.set(k, { dest: destOf(w.dest), weight: w.weight });
      await this.act(
        () => this.actions.editDest(vs.cfg, destOf(w.dest), w.weight),
        `editDest ${k} weight ${w.weight} in VS ${name}`,
      );
    }
    for (const [k, w] of adds) {
      vs.installed.set(k, { dest: destOf(w.dest), weight: w.weight });
      await this.act(
        () => this.actions.addDest(vs.cfg, destOf(w.dest), w.weight),
        `addDest ${k} weight ${w.weight} to VS ${name}`,
      );
    }
  }

  private async act(fn: () => Promise<void>, what: string): Promise<void> {
    try {
      await fn();
      this.log('debug', what);
    } catch (e) {
      this.log('error', `${what} failed: ${(e as Error).message}`);
    }
  }

  private script(s: ScriptSpec, why: string): void {
    try {
      this.runScript(s, why);
    } catch (e) {
      this.log('error', `${why}: ${(e as Error).message}`);
    }
  }
}
