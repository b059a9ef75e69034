/**
 * TimerWheel: the one coarse timer that expires connections (DESIGN hot-path rule 10: never a
 * setTimeout per connection). Single-level hashed wheel of `slots` (power of two) slots of `tickMs`.
 *
 * Links live in the ConnTable's shared buffer (`wNext`/`wPrev`, doubly linked, so free and
 * re-filing are O(1)). A head's wPrev holds `-2 - slot`; -1 means "not filed".
 *
 * Invariant (lazy re-arm): a connection is filed in a slot whose due tick is <= the tick of its
 * expiry (or the next tick, if that is already past). Therefore:
 *  - extending an expiry (every packet) is a single store to `expiry[h]`, nothing else;
 *  - shortening it (a state change to a shorter timeout, expireNow) re-files at once (ConnTable.setExpiry);
 *  - when a slot comes round, entries not yet due are re-filed, due ones expire.
 * Expiry is at most one tick late. Expiries beyond the horizon ((slots - 1) * tickMs) are filed at the
 * horizon and re-filed when they come round.
 *
 * Expiry semantics (ipvs-reference §4.1): a template that still controls connections (nControl > 0)
 * is not freed but re-armed for 60 s; anything else is handed to onExpire (if given), then freed
 * (ConnTable.free unbinds the dest and decrements the controlling template's nControl).
 */
import type { ConnTable } from './table.js';
import { CONN_F_TEMPLATE } from './flags.js';

/** Kernel: a template whose timer fires while it controls conns is re-armed for 60 s. */
export const TEMPLATE_REARM_MS = 60_000;

export class TimerWheel {
  readonly tickMs: number;
  readonly slots: number;
  readonly mask: number;
  /** per-slot list head, -1 = empty */
  readonly head: Int32Array;
  /** last tick fully processed; entries are filed at ticks > curTick */
  curTick: number;
  private readonly t: ConnTable;

  constructor(table: ConnTable, tickMs: number, slots: number, nowMs: number) {
    if (slots <= 0 || (slots & (slots - 1)) !== 0) throw new RangeError('wheel slots must be a power of two');
    if (!(tickMs > 0)) throw new RangeError('tickMs must be > 0');
    this.t = table;
    this.tickMs = tickMs;
    this.slots = slots;
    this.mask = slots - 1;
    this.head = new Int32Array(slots).fill(-1);
    this.curTick = Math.floor(nowMs / tickMs);
  }

  /** File h according to expiry[h]. h must not be filed. */
  link(h: number): void {
    const t = this.t;
    let tick = Math.floor(t.expiry[h]! / this.tickMs);
    if (tick <= this.curTick) tick = this.curTick + 1;
    else if (tick >= this.curTick + this.slots) tick = this.curTick + this.slots - 1;
    const slot = tick & this.mask;
    const first = this.head[slot]!;
    t.wNext[h] = first;
    t.wPrev[h] = -2 - slot;
    if (first >= 0) t.wPrev[first] = h;
    this.head[slot] = h;
  }

  /** Remove h from its slot if filed. */
  unlink(h: number): void {
    const t = this.t;
    const prev = t.wPrev[h]!;
    if (prev === -1) return;
    const next = t.wNext[h]!;
    if (prev >= 0) t.wNext[prev] = next;
    else this.head[-2 - prev] = next;
    if (next >= 0) t.wPrev[next] = prev;
    t.wNext[h] = -1;
    t.wPrev[h] = -1;
  }

  /**
   * Process every tick up to nowMs. Call once per batch or tick; cheap when no tick elapsed.
   * onExpire(h) sees the connection before it is freed (stats, sync, logging). Returns the number freed.
   * After a clock jump of more than one revolution only one revolution is walked (every slot once),
   * which is equivalent since all due entries are then found.
   */
  advance(nowMs: number, onExpire?: (handle: number) => void): number {
    const nowTick = Math.floor(nowMs / this.tickMs);
    if (nowTick <= this.curTick) return 0;
    const t = this.t;
    let freed = 0;
    let steps = nowTick - this.curTick;
    if (steps > this.slots) {
      // Walk one revolution as if it were the last one before now.
      this.curTick = nowTick - this.slots;
      steps = this.slots;
    }
    for (let s = 0; s < steps; s++) {
      const tick = ++this.curTick;
      const slot = tick & this.mask;
      // Expire relative to the end of this tick's window when catching up, else to now.
      const limit = tick === nowTick ? nowMs : (tick + 1) * this.tickMs - 1;
      // Pop one entry at a time: link() never files into the slot being processed (ticks filed are
      // curTick+1 .. curTick+slots-1), and onExpire may free or create any connection safely.
      let h: number;
      while ((h = this.head[slot]!) >= 0) {
        this.unlink(h);
        if (t.expiry[h]! > limit) {
          this.link(h);
        } else if ((t.flags[h]! & CONN_F_TEMPLATE) !== 0 && t.nControl[h]! > 0) {
          t.expiry[h] = limit + TEMPLATE_REARM_MS;
          this.link(h);
        } else {
          if (onExpire !== undefined) onExpire(h);
          // onExpire may itself have freed it
          if (t.inUse(h)) t.free(h);
          freed++;
        }
      }
    }
    return freed;
  }
}
