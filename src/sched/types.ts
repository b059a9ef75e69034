/**
 * The scheduler contract (kernel struct ip_vs_scheduler). One file per scheduler under src/sched/,
 * each registering a factory by name in registry.ts.
 *
 * A scheduler sees a service's destinations as a SchedDests snapshot: parallel arrays by position, in
 * insertion order (the kernel's svc->destinations list), holding only destinations currently in the
 * service. Live connection counts and the OVERLOAD flag are read from `live` by dest id at decision
 * time. A scheduler runs once per new connection (never per packet) and returns a position or -1.
 */
import type { DestLive } from '../conn/dest-live.js';

export interface SchedDests {
  readonly count: number;
  /** stable dest id by position; index into live */
  readonly id: Int32Array;
  /** current weight by position (0 = quiesced) */
  readonly weight: Int32Array;
  /** last non-zero weight by position (kernel last_weight, used by mh so a quiesced dest keeps slots) */
  readonly lastWeight: Int32Array;
  /** 4 or 6 by position (a tunnel dest may differ from the service family) */
  readonly af: Uint8Array;
  /** 4 u32 words per position, big-endian words (see PacketView) */
  readonly addr: Uint32Array;
  readonly port: Uint16Array;
  readonly live: DestLive;
}

/** What a scheduler may look at in the packet; PacketView satisfies it. */
export interface SchedFlow {
  readonly af: number;
  readonly proto: number;
  readonly saddr: Uint32Array;
  readonly daddr: Uint32Array;
  readonly sport: number;
  readonly dport: number;
}

/** Service scheduler flags (uapi IP_VS_SVC_F_SCHED1..3). */
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
export const SVC_F_SCHED_SH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_SH_PORT = SVC_F_SCHED2;
export const SVC_F_SCHED_MH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_MH_PORT = SVC_F_SCHED2;

export interface SchedOptions {
  /** service flags (only the SCHED1..3 bits matter to schedulers) */
  readonly flags?: number;
  /** mh: prime table size (default 4093; one of 251, 509, ..., 131071) */
  readonly mhTableSize?: number;
  /** sh: table bits (default 8 -> 256 buckets, range 4..20) */
  readonly shTabBits?: number;
  /** twos: source of uniformly random u32 values (tests inject a deterministic one) */
  readonly random32?: () => number;
  /** lblc/lblcr: expiration of unused cache entries in ms (sysctl lblc_expiration, default 24 h) */
  readonly lblcExpirationMs?: number;
}

export interface Scheduler {
  readonly name: string;
  /**
   * (Re)build state for a new destination list: called at service creation and after every add,
   * delete or edit of a destination (kernel init_service / add_dest / del_dest / upd_dest). `prev` is
   * the list before the change (null at creation), so cursors can be carried over by dest id.
   * Throws LvsError('ERR_LVS_SCHED_FAILED') when the list cannot be scheduled (mh: more dests than slots).
   */
  update(dests: SchedDests, prev: SchedDests | null): void;
  /** Pick a destination for a new connection: a position in the last `update`'s list, or -1. `now` in ms. */
  schedule(flow: SchedFlow, now: number): number;
  /** Periodic housekeeping (lblc/lblcr cache GC); a no-op for most schedulers. `now` in ms. */
  gc(now: number): void;
}

export type SchedulerFactory = (opts: SchedOptions) => Scheduler;
