/**
 * nq: never queue. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_nq.c, ipvs-reference §3.
 * Walk the available dests (weight != 0, not OVERLOAD) in order: the first with no active
 * connections is returned at once; otherwise the sed choice (minimise (active+1)/weight, earliest
 * wins ties).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS, TWO_53, mulGtExact } from './util.js';

class NeverQueueScheduler implements Scheduler {
  readonly name = 'nq';
  private d: SchedDests = EMPTY_DESTS;

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    const n = d.count;
    const w = d.weight;
    const ids = d.id;
    const live = d.live;
    const flags = live.flags;
    const act = live.active;
    // Phase 1: the first available dest (returned at once if idle).
    let i = 0;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (; i < n; i++) {
      const wi = w[i]!;
      if (wi > 0) {
        const id = ids[i]!;
        if ((flags[id]! & DEST_F_OVERLOAD) === 0) {
          const active = act[id]!;
          if (active === 0) return i;
          least = i;
          loh = active + 1;
          lw = wi;
          break;
        }
      }
    }
    // Phase 2: an idle available dest returns at once; otherwise replace only when strictly better,
    // loh*wi > doh*lw (exact, see mulGt). Availability (weight > 0, not OVERLOAD) is checked only for
    // a dest that is idle or would win (the reads have no side effects).
    for (i++; i < n; i++) {
      const id = ids[i]!;
      const active = act[id]!;
      const wi = w[i]!;
      if (active === 0) {
        if (wi > 0 && (flags[id]! & DEST_F_OVERLOAD) === 0) return i;
        continue;
      }
      const doh = active + 1;
      const p = loh * wi;
      const q = doh * lw;
      if (
        p >= q &&
        (p > q || (p >= TWO_53 && mulGtExact(loh, wi, doh, lw))) &&
        wi > 0 &&
        (flags[id]! & DEST_F_OVERLOAD) === 0
      ) {
        least = i;
        loh = doh;
        lw = wi;
      }
    }
    return least;
  }

  gc(_now: number): void {}
}

registerScheduler('nq', () => new NeverQueueScheduler());
