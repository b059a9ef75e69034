/**
 * rr: round robin. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_rr.c, ipvs-reference §3.
 *
 * Invariants:
 *  - `cursor` is the position of the last chosen dest, or -1 for the list head (nothing chosen yet).
 *  - A decision scans at most one full loop starting after the cursor (wrapping), and returns the
 *    first available dest (weight > 0, not OVERLOAD). The cursor dest itself is tested last.
 *  - Across update(), the cursor follows its dest by id. If that dest was deleted, the cursor moves
 *    back to its predecessor (the nearest earlier dest that survived), or to the head.
 *  - Adds and edits never move the cursor (the kernel has no add_dest/upd_dest hook for rr).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, available } from './util.js';

class RoundRobinScheduler implements Scheduler {
  readonly name = 'rr';
  private d: SchedDests = EMPTY_DESTS;
  private cursor = -1;

  update(dests: SchedDests, prev: SchedDests | null): void {
    const old = this.d;
    let cursor = -1;
    if (prev !== null && this.cursor >= 0 && this.cursor < old.count) {
      for (let p = this.cursor; p >= 0 && cursor < 0; p--) {
        const id = old.id[p]!;
        for (let i = 0; i < dests.count; i++) {
          if (dests.id[i] === id) {
            cursor = i;
            break;
          }
        }
      }
    }
    this.d = dests;
    this.cursor = cursor;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    const n = d.count;
    let i = this.cursor;
    for (let k = 0; k < n; k++) {
      i = i + 1 === n ? 0 : i + 1;
      if (available(d, i)) {
        this.cursor = i;
        return i;
      }
    }
    return -1;
  }

  gc(_now: number): void {}
}

registerScheduler('rr', () => new RoundRobinScheduler());
