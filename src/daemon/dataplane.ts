/**
 * DataPlane: what the data-plane worker thread runs. It owns the Director (service table, connection
 * table, engine, counters) and the packet driver, and serves control messages between batches, so a
 * table change is applied atomically with respect to packets and the control thread never touches
 * engine state.
 *
 * Scheduling: the driver wakes us when a socket is readable; one turn moves at most MAX_TURN_BATCHES
 * batches, then yields to the event loop (control messages, timers) and continues with setImmediate.
 * A coarse timer (TICK_MS) expires connections, probes neighbours and runs the rate estimator.
 *
 * Table changes follow the steering order of issue 3: an ipvsadm command is applied to the service
 * table with the engine's snapshot held; the control thread removes steering that the change drops,
 * then commits (the engine adopts the new table), then adds steering that the change introduces.
 */
import { Director, type DirectorOptions } from '../core/director.js';
import type { PacketDriver } from '../io/driver.js';
import { DROP_REASON_NAMES } from '../packet/drop-reasons.js';
import type { LocalAddresses, SteeringInput, SteeringSpec } from '../io/steering.js';
import type { OffloadFlow } from '../core/offload.js';

export const MAX_TURN_BATCHES = 16;
export const TICK_MS = 100;

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
  changed: boolean;
}

/** What the data plane needs from the rest of lvsd; injected so tests can run it in-process. */
export interface DataPlaneDeps {
  execute(argv: string[], stdin: string | undefined, director: Director, nowMs: number): ExecResult;
  /** `lvsd fwmark ...` */
  executeFwmark(argv: string[], director: Director): ExecResult;
  /** Steering specification for the current service table (plain, serialisable). */
  deriveSpec(director: Director, input: SteeringInput): SteeringSpec;
  /** Rebuild interfaces, addresses, routes and neighbours from the control thread's mirror. */
  applyNet?(director: Director, model: unknown): void;
  /** Between batches: emit neighbour probes etc. into the batch (frames with VERDICT_TX). */
  housekeeping?(director: Director, nowMs: number): void;
  /** Every TICK_MS, e.g. the rate estimator. */
  onTick?(director: Director, nowMs: number): void;
}

/** Driver capabilities beyond PacketDriver that real drivers have. */
export interface WakingDriver extends PacketDriver {
  onReadable?(cb: () => void): void;
  addInterface?(ifindex: number, name: string): void;
  removeInterface?(ifindex: number): void;
  setFilter?(prog: Uint8Array | null): void;
  counters?(): unknown;
}

export function monotonicMs(): number {
  return Math.floor(performance.now());
}

export class DataPlane {
  readonly director: Director;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** turns that ended because the batch budget ran out (load indicator for status) */
  busyTurns = 0;
  rxFrames = 0;
  private readonly captured = new Map<number, string>();
  private local: LocalAddresses = {};
  /** receives the DR fast-path changes collected every tick (core/offload.ts); null: not offloading */
  onOffload: ((c: { add: OffloadFlow[]; del: OffloadFlow[] }) => void) | null = null;

  constructor(
    private readonly driver: WakingDriver,
    private readonly deps: DataPlaneDeps,
    opts: DirectorOptions = {},
  ) {
    this.director = new Director(opts);
  }

  start(): void {
    this.driver.onReadable?.(() => this.schedule());
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  /** One bounded turn of packet processing. */
  turn(): void {
    this.scheduled = false;
    if (this.closed) return;
    const d = this.director;
    const n = d.step(this.driver, monotonicMs(), MAX_TURN_BATCHES);
    this.rxFrames += n;
    if (n >= MAX_TURN_BATCHES * d.batch.rxCapacity) {
      this.busyTurns++;
      this.schedule();
    }
  }

  private tick(): void {
    const now = monotonicMs();
    const d = this.director;
    d.sync();
    d.engine.tick(now);
    d.rates.tick(now);
    this.deps.onTick?.(d, now);
    this.runHousekeeping(now);
    const off = d.engine.offload;
    if (off !== null && this.onOffload !== null) {
      const c = off.collect();
      if (c !== null) this.onOffload(c);
    }
  }

  /** Run an ipvsadm command. When it changed the table, the engine keeps the old table until commit(). */
  ipvsadm(argv: string[], stdin: string | undefined): { result: ExecResult; spec: SteeringSpec } {
    return this.held(this.deps.execute(argv, stdin, this.director, monotonicMs()));
  }

  /** Run an `lvsd fwmark` command; table-change semantics as ipvsadm(). */
  fwmark(argv: string[]): { result: ExecResult; spec: SteeringSpec } {
    return this.held(this.deps.executeFwmark(argv, this.director));
  }

  /** A command's result: a change is held from the engine until commit(); the spec comes back now. */
  private held(result: ExecResult): { result: ExecResult; spec: SteeringSpec } {
    if (result.changed) this.director.holdSnapshot = true;
    return { result, spec: this.currentSpec() };
  }

  /** Adopt the held table change. */
  commit(): void {
    this.director.holdSnapshot = false;
    this.director.sync();
    this.resolveDestinations();
  }

  /**
   * Create neighbour entries for every real server's next hop now, so probes go out before the first
   * client arrives instead of its SYN being dropped while the neighbour is unknown.
   */
  resolveDestinations(): void {
    const net = this.director.net;
    for (const svc of this.director.services.list())
      for (const dst of svc.dests)
        if (!this.director.net.isLocal(dst.af, dst.addr, 0)) net.resolve(dst.af, dst.addr, 0);
    this.runHousekeeping(monotonicMs());
  }

  private runHousekeeping(now: number): void {
    if (!this.deps.housekeeping) return;
    const d = this.director;
    d.batch.reset();
    this.deps.housekeeping(d, now);
    if (d.batch.total > 0) this.driver.complete(d.batch);
    d.batch.reset();
  }

  currentSpec(): SteeringSpec {
    return this.deps.deriveSpec(this.director, {
      local: this.local,
      interfaces: [...this.captured.values()].sort(),
      fwmarkRules: this.director.fwmarks.list(),
    });
  }

  setLocal(local: LocalAddresses): void {
    this.local = local;
  }

  applyNet(model: unknown): void {
    this.deps.applyNet?.(this.director, model);
    this.resolveDestinations();
  }

  setCapture(interfaces: { ifindex: number; name: string }[]): void {
    const want = new Map(interfaces.map((i) => [i.ifindex, i.name]));
    for (const [ifindex] of this.captured) {
      if (!want.has(ifindex)) {
        this.driver.removeInterface?.(ifindex);
        this.captured.delete(ifindex);
      }
    }
    for (const [ifindex, name] of want) {
      if (!this.captured.has(ifindex)) {
        this.driver.addInterface?.(ifindex, name);
        this.captured.set(ifindex, name);
      }
    }
  }

  setFilter(prog: Uint8Array | null): void {
    this.driver.setFilter?.(prog);
  }

  status(): Record<string, unknown> {
    const d = this.director;
    const drops: Record<string, number> = {};
    const counts = d.engine.drops;
    for (let r = 1; r < counts.length; r++) {
      const c = counts[r]!;
      if (c > 0) drops[DROP_REASON_NAMES[r] ?? `reason-${r}`] = c;
    }
    return {
      driver: this.driver.name,
      captured: [...this.captured].map(([ifindex, name]) => ({ ifindex, name })),
      driverCounters: this.driver.counters?.() ?? null,
      rxFrames: this.rxFrames,
      busyTurns: this.busyTurns,
      connections: d.conns.count,
      services: d.services.list().length,
      drops,
      offload: d.engine.offload?.status() ?? { enabled: false },
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.driver.close();
  }
}
