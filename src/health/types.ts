/**
 * Shared types of the health checker: what one check attempt returns, the injected clock and
 * script runner, and the status snapshot HealthManager.status() returns.
 */
import type { Checker, CheckerKind, ScriptSpec } from '../config/model.js';

/** The result of one check attempt (one URL / one SMTP host / one script run ...). */
export interface CheckResult {
  ok: boolean;
  /** human-readable cause ("connection refused", "status 503", "exit 1", ...); "ok" on success */
  reason: string;
  /** wall time of the attempt, ms */
  latencyMs: number;
  /**
   * Dynamic weight (MISC_CHECK misc_dynamic, FILE_CHECK dynamic): a number is the weight the real
   * server should now have; null resets this checker's weight contribution to 0 (MISC exit 0);
   * undefined leaves it unchanged.
   */
  dynamicWeight?: number | null;
}

/**
 * One checker's probe. `run` makes exactly one attempt, bounded by the checker's connect_timeout
 * (MISC: misc_timeout), and never rejects: every failure is a CheckResult with ok false.
 * `steps` > 1 for HTTP_GET/SSL_GET with several urls and SMTP_CHECK with legacy host blocks: each
 * attempt checks step `step` (reference §2 "one URL per delay_loop").
 */
export interface Probe {
  readonly steps: number;
  run(signal: AbortSignal, step?: number): Promise<CheckResult>;
}

/** Context a probe factory gets besides the checker config. */
export interface ProbeContext {
  /** the real server's configured weight (dynamic weights are absolute) */
  rsWeight: number;
  /** global_defs script_user: runs MISC_CHECK scripts that name no user of their own */
  scriptUser?: { user: string; group?: string };
}

export type ProbeFactory = (checker: Checker, ctx: ProbeContext) => Probe;

/** Injected time source and one-shot timers (ms). The real one is Date.now/setTimeout. */
export interface HealthClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type HealthLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type HealthLog = (level: HealthLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** Runs a notify/quorum script; not awaited by the state machine. `why` is for logs. */
export type ScriptRunner = (script: ScriptSpec, why: string) => void;

export interface CheckerStatus {
  kind: CheckerKind;
  /** "[ip]:port" (IPv6 bracketed), the track file, or the script command */
  target: string;
  up: boolean;
  hasRun: boolean;
  /** retries spent since the last success */
  retryIt: number;
  lastResult?: 'ok' | 'fail';
  lastLatencyMs?: number;
  reason?: string;
  /** clock ms of the last completed attempt */
  lastCheckAt?: number;
  checks: number;
  successes: number;
  failures: number;
  /** this checker's dynamic weight contribution (misc_dynamic / FILE dynamic) */
  weightContribution: number;
}

export interface RealServerStatus {
  address: string;
  port: number;
  alive: boolean;
  configuredWeight: number;
  /** configured + dynamic contributions, clamped to [0, 2^31-1] */
  weight: number;
  inTable: boolean;
  /** weight installed in IPVS (absent when not in the table) */
  tableWeight?: number;
  checkers: CheckerStatus[];
}

export interface VirtualServerStatus {
  name: string;
  quorum: number;
  hysteresis: number;
  quorumUp: boolean;
  /** Σ weight of alive real servers */
  weightSum: number;
  /** the sorry server is in the table with weight 1 (quorum lost) */
  sorryActive: boolean;
  /** ha_suspend and the VIP is not local: no checks run */
  suspended: boolean;
  realServers: RealServerStatus[];
}

export interface HealthStatus {
  running: boolean;
  /** TCP_CHECK / HTTP_GET run on the addon's probe thread (else on Node sockets) */
  probeThread: boolean;
  inFlight: number;
  queued: number;
  virtualServers: VirtualServerStatus[];
}
