/**
 * Test doubles for the health state machine: a fake clock, an IpvsActions recorder, scripted
 * probes, and builders for resolved keepalived model objects (what the parser would produce).
 */
import { defaultGlobalDefs } from '../../src/config/keywords-global.js';
import type {
  Checker,
  GlobalDefs,
  HttpChecker,
  KeepalivedConfig,
  MiscChecker,
  RealServer,
  ScriptSpec,
  TcpChecker,
  VirtualServer,
} from '../../src/config/model.js';
import type { DestTarget, IpvsActions } from '../../src/health/actions.js';
import type { CheckResult, HealthClock, Probe, ProbeFactory } from '../../src/health/types.js';

const LOC = { file: 'test.conf', line: 1, column: 1 };

export async function flush(): Promise<void> {
  for (let i = 0; i < 6; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeClock implements HealthClock {
  t = 0;
  private id = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.id;
    this.timers.set(id, { due: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Advance by `ms`, firing timers in due order and letting promise chains settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let best: [number, { due: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].due <= end && (!best || e[1].due < best[1].due)) best = e;
      if (!best) break;
      this.timers.delete(best[0]);
      this.t = best[1].due;
      best[1].fn();
    }
    this.t = end;
    await flush();
  }
  /** Advance to absolute time `t` (ms). */
  async to(t: number): Promise<void> {
    await this.advance(t - this.t);
  }
}

export interface ActionCall {
  op: 'add' | 'edit' | 'del';
  vs: string;
  dest: string;
  weight?: number;
  at: number;
}

export class RecordingActions implements IpvsActions {
  calls: ActionCall[] = [];
  /** table per VS: dest -> weight, as a real IPVS would hold it */
  table = new Map<string, Map<string, number>>();
  constructor(private readonly clock: { now(): number }) {}
  private key(d: DestTarget): string {
    return d.family === 6 ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
  }
  private t(vs: VirtualServer): Map<string, number> {
    let m = this.table.get(vs.name);
    if (!m) this.table.set(vs.name, (m = new Map()));
    return m;
  }
  async addDest(vs: VirtualServer, d: DestTarget, weight: number): Promise<void> {
    this.calls.push({ op: 'add', vs: vs.name, dest: this.key(d), weight, at: this.clock.now() });
    if (this.t(vs).has(this.key(d))) throw new Error('File exists');
    this.t(vs).set(this.key(d), weight);
  }
  async editDest(vs: VirtualServer, d: DestTarget, weight: number): Promise<void> {
    this.calls.push({ op: 'edit', vs: vs.name, dest: this.key(d), weight, at: this.clock.now() });
    if (!this.t(vs).has(this.key(d))) throw new Error('No such destination');
    this.t(vs).set(this.key(d), weight);
  }
  async delDest(vs: VirtualServer, d: DestTarget): Promise<void> {
    this.calls.push({ op: 'del', vs: vs.name, dest: this.key(d), at: this.clock.now() });
    if (!this.t(vs).delete(this.key(d))) throw new Error('No such destination');
  }
  /** the table of one VS as "dest=weight" strings, sorted */
  view(vs: string): string[] {
    return [...(this.table.get(vs) ?? new Map<string, number>())].map(([d, w]) => `${d}=${w}`).sort();
  }
  /** calls as compact strings: "add 10.0.0.1:80 w1" */
  ops(): string[] {
    return this.calls.map((c) => `${c.op} ${c.dest}${c.weight !== undefined ? ` w${c.weight}` : ''}`);
  }
  take(): string[] {
    const o = this.ops();
    this.calls = [];
    return o;
  }
}

/** Scripted health per checker target ("ip:port", or a FILE/MISC target): what each attempt returns. */
export class ScriptedProbes {
  /** target -> result; true/false shorthand; default ok */
  health = new Map<string, boolean | Partial<CheckResult> | ((step: number) => boolean)>();
  /** every attempt: target, step, clock time */
  attempts: { target: string; step: number; at: number }[] = [];
  /** when set, attempts hang until release() */
  hold = false;
  private held: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly clock: { now(): number }) {}

  set(target: string, v: boolean | Partial<CheckResult> | ((step: number) => boolean)): void {
    this.health.set(target, v);
  }

  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }

  factory: ProbeFactory = (checker: Checker): Probe => {
    const target = targetOf(checker);
    const steps =
      checker.kind === 'HTTP_GET' || checker.kind === 'SSL_GET' ? Math.max(1, checker.urls.length) : 1;
    return {
      steps,
      run: async (_signal: AbortSignal, step = 0): Promise<CheckResult> => {
        this.attempts.push({ target, step, at: this.clock.now() });
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        if (this.hold) await new Promise<void>((r) => this.held.push(r));
        this.inFlight--;
        const h = this.health.get(target) ?? true;
        const v = typeof h === 'function' ? h(step) : h;
        if (typeof v === 'boolean') return { ok: v, reason: v ? 'ok' : 'scripted failure', latencyMs: 1 };
        return { ok: true, reason: 'scripted', latencyMs: 1, ...v };
      },
    };
  };

  times(target: string): number[] {
    return this.attempts.filter((a) => a.target === target).map((a) => a.at);
  }
}

export function targetOf(c: Checker): string {
  if (c.kind === 'MISC_CHECK') return c.script.command;
  if (c.kind === 'FILE_CHECK') return c.trackFile;
  if (c.kind === 'BFD_CHECK') return c.name;
  return `${c.connectIp}:${c.connectPort}`;
}

export function script(command: string): ScriptSpec {
  return { command, argv: command.split(' ') };
}

export function tcp(ip: string, port: number, o: Partial<TcpChecker> = {}): TcpChecker {
  return {
    kind: 'TCP_CHECK',
    loc: LOC,
    connectIp: ip,
    connectPort: port,
    family: ip.includes(':') ? 6 : 4,
    connectTimeout: 5,
    retry: 1,
    delayBeforeRetry: 1,
    delayLoop: 10,
    warmup: 0,
    alpha: false,
    logAllFailures: false,
    ...o,
  };
}

export function http(ip: string, port: number, paths: string[], o: Partial<HttpChecker> = {}): HttpChecker {
  return {
    ...tcp(ip, port),
    kind: 'HTTP_GET',
    delayBeforeRetry: 3,
    httpProtocol: '1.0',
    fastRecovery: false,
    enableSni: false,
    tlsCompliant: false,
    urls: paths.map((path) => ({ path, statusCodes: [[200, 299]], regexNoMatch: false })),
    ...o,
  };
}

export function misc(command: string, o: Partial<MiscChecker> = {}): MiscChecker {
  const t = tcp('0.0.0.0', 0);
  return { ...t, kind: 'MISC_CHECK', retry: 0, script: script(command), timeout: 10, dynamic: false, ...o };
}

export function rs(address: string, port: number, o: Partial<RealServer> = {}): RealServer {
  return {
    loc: LOC,
    address,
    port,
    family: address.includes(':') ? 6 : 4,
    weight: 1,
    method: 'NAT',
    inhibitOnFailure: false,
    alpha: false,
    upperThreshold: 0,
    lowerThreshold: 0,
    checkers: [tcp(address, port)],
    ...o,
  };
}

export function vs(name: string, realServers: RealServer[], o: Partial<VirtualServer> = {}): VirtualServer {
  return {
    loc: LOC,
    name,
    target: { type: 'ip', address: '10.10.10.2', port: 80, family: 4 },
    protocol: 'TCP',
    scheduler: 'wlc',
    schedFlags: [],
    ops: false,
    method: 'NAT',
    persistenceTimeout: 0,
    quorum: 1,
    hysteresis: 0,
    sorryServerInhibit: false,
    alpha: false,
    omega: false,
    haSuspend: false,
    realServers,
    ...o,
  };
}

export function globals(o: Partial<GlobalDefs> = {}): GlobalDefs {
  return { ...defaultGlobalDefs(), ...o };
}

export function config(virtualServers: VirtualServer[], g: Partial<GlobalDefs> = {}): KeepalivedConfig {
  return {
    files: ['test.conf'],
    global: globals(g),
    virtualServerGroups: [],
    virtualServers,
    vrrpInstances: [],
    vrrpScripts: [],
    vrrpSyncGroups: [],
  };
}
