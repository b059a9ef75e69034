/**
 * SyncCollector: the master's choice of connections worth syncing, made per inbound packet in the
 * engine (Engine.syncSink) without allocation, and a fixed ring of pending handles that the worker
 * drains between turns (encoding happens there, see master.ts).
 *
 * Rules (ipvs-reference §6.4, kernel ip_vs_sync_conn semantics as far as the reference gives them):
 *  - TCP is synced only in ESTABLISHED, FIN_WAIT, CLOSE_WAIT, CLOSE or TIME_WAIT. Entering one of
 *    these (other than ESTABLISHED) since the conn was last synced syncs it at once; otherwise
 *  - sync_threshold "3 50": the conn is synced when its in_pkts reaches threshold + k * period
 *    (3, 53, 103, ...), so an ESTABLISHED conn is synced by its third client packet and refreshed
 *    every 50 packets; UDP and other single-state protocols follow the same count. period 0 means
 *    only in_pkts == threshold.
 *  - Templates are synced together with a conn they control (the backup needs the template to keep
 *    persistence); a one-packet conn is never synced itself, its template follows the count of the
 *    template's own controlled packets.
 * "Since last synced" needs the state at the last sync: lastState/lastGen per handle (gen detects a
 * reused slot). A handle is in the ring at most once (queued[h]); a full ring counts a drop
 * (kernel: sync_qlen_max).
 */
import type { ConnTable } from '../conn/table.js';
import type { ConnSyncSink } from '../core/engine.js';
import { CONN_F_ONE_PACKET, CONN_F_TEMPLATE } from '../conn/flags.js';
import {
  TCP_S_CLOSE,
  TCP_S_CLOSE_WAIT,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_TIME_WAIT,
} from '../conn/state.js';

const IPPROTO_TCP = 6;
const SYNCED_STATES =
  (1 << TCP_S_ESTABLISHED) |
  (1 << TCP_S_FIN_WAIT) |
  (1 << TCP_S_CLOSE_WAIT) |
  (1 << TCP_S_CLOSE) |
  (1 << TCP_S_TIME_WAIT);
const NEVER = 0xff;

export const DEFAULT_SYNC_THRESHOLD = 3;
export const DEFAULT_SYNC_PERIOD = 50;
export const DEFAULT_SYNC_RING = 1 << 16;

export interface SyncCollectorOptions {
  threshold?: number;
  period?: number;
  /** ring slots (power of two not required) */
  ringSize?: number;
  /** monotonic ms, read once per queued conn (not per packet) */
  clock?: () => number;
}

export class SyncCollector implements ConnSyncSink {
  readonly threshold: number;
  readonly period: number;
  private readonly ringH: Int32Array;
  private readonly ringGen: Uint32Array;
  private readonly ringAt: Float64Array;
  private head = 0;
  private len = 0;
  private readonly lastState: Uint8Array;
  private readonly lastGen: Uint32Array;
  private readonly queued: Uint8Array;
  private readonly clock: () => number;
  /** conns queued in all (a conn queued twice before a drain counts once) */
  queuedTotal = 0;
  /** conns not queued because the ring was full */
  ringFull = 0;

  constructor(
    private readonly table: ConnTable,
    opts: SyncCollectorOptions = {},
  ) {
    this.threshold = opts.threshold ?? DEFAULT_SYNC_THRESHOLD;
    this.period = opts.period ?? DEFAULT_SYNC_PERIOD;
    const n = Math.max(1, opts.ringSize ?? DEFAULT_SYNC_RING);
    this.ringH = new Int32Array(n);
    this.ringGen = new Uint32Array(n);
    this.ringAt = new Float64Array(n);
    this.lastState = new Uint8Array(table.capacity).fill(NEVER);
    this.lastGen = new Uint32Array(table.capacity);
    this.queued = new Uint8Array(table.capacity);
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Handles waiting for the next drain. */
  get pending(): number {
    return this.len;
  }

  /** Monotonic ms at which the oldest pending handle was queued, or -1. */
  oldestQueuedAt(): number {
    return this.len > 0 ? this.ringAt[this.head]! : -1;
  }

  /** Does (inPkts - pkts, inPkts] contain a count at which the threshold rule syncs? */
  private countDue(inPkts: number, pkts: number): boolean {
    const th = this.threshold;
    if (this.period <= 0) return inPkts >= th && inPkts - pkts < th;
    const r = (((inPkts - th) % this.period) + this.period) % this.period;
    return inPkts >= th && r < pkts;
  }

  /** Engine hook: one client->server packet (or GSO super-frame of pkts segments) of conn h. */
  noteIn(h: number, inPkts: number, pkts: number): void {
    const t = this.table;
    const f = t.flags[h]!;
    if ((f & CONN_F_TEMPLATE) !== 0) return;
    const c = t.control[h]!;
    if ((f & CONN_F_ONE_PACKET) !== 0) {
      if (c >= 0) {
        const n = (t.inPkts[c]! + pkts) >>> 0;
        t.inPkts[c] = n;
        if (this.countDue(n, pkts)) this.push(c);
      }
      return;
    }
    if (!this.due(h, inPkts, pkts)) return;
    this.push(h);
    if (c >= 0) this.push(c);
  }

  private due(h: number, inPkts: number, pkts: number): boolean {
    const t = this.table;
    if (t.proto[h] !== IPPROTO_TCP) return this.countDue(inPkts, pkts);
    const s = t.state[h]!;
    if (((1 << s) & SYNCED_STATES) === 0) return false;
    const g = t.gen[h]!;
    const changed = this.lastGen[h] !== g || this.lastState[h] !== s;
    if ((changed && s !== TCP_S_ESTABLISHED) || this.countDue(inPkts, pkts)) {
      this.lastState[h] = s;
      this.lastGen[h] = g;
      return true;
    }
    return false;
  }

  /** Queue h (once until drained); counts ringFull when there is no room. */
  push(h: number): void {
    if (this.queued[h] !== 0) return;
    const n = this.ringH.length;
    if (this.len >= n) {
      this.ringFull++;
      return;
    }
    const at = (this.head + this.len) % n;
    this.ringH[at] = h;
    this.ringGen[at] = this.table.gen[h]!;
    this.ringAt[at] = this.clock();
    this.len++;
    this.queued[h] = 1;
    this.queuedTotal++;
  }

  /**
   * Hand pending handles, oldest first, to fn(h, queuedAtMs) while it returns true; a handle whose
   * slot was freed (or reused) since it was queued is skipped. Returns the handles handed out.
   */
  drain(fn: (h: number, queuedAt: number) => boolean): number {
    const t = this.table;
    const n = this.ringH.length;
    let out = 0;
    while (this.len > 0) {
      const h = this.ringH[this.head]!;
      const live = t.af[h] !== 0 && t.gen[h] === this.ringGen[this.head];
      if (live && !fn(h, this.ringAt[this.head]!)) break;
      this.queued[h] = 0;
      this.head = (this.head + 1) % n;
      this.len--;
      if (live) out++;
    }
    return out;
  }
}
