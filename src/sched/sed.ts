/**
 * sed: shortest expected delay. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_sed.c,
 * ipvs-reference §3. Like wlc with overhead = active + 1 (inactive ignored): minimises (C+1)/W.
 * First non-overloaded dest with weight > 0 is the candidate; a later non-overloaded dest replaces it
 * only when strictly better, so the earliest wins ties and weight-0 dests never win.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS, TWO_53, mulGtExact } from './util.js';

class ShortestExpectedDelayScheduler implements Scheduler {
  readonly name = 'sed';
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
    // Phase 1: the first non-overloaded dest with weight > 0.
    let i = 0;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (; i < n; i++) {
      const wi = w[i]!;
      if (wi > 0) {
        const id = ids[i]!;
        if ((flags[id]! & DEST_F_OVERLOAD) === 0) {
          least = i;
          loh = act[id]! + 1;
          lw = wi;
          break;
        }
      }
    }
    // Phase 2: replace only when strictly better, loh*wi > doh*lw (exact, see mulGt); the OVERLOAD
    // flag is read only for a dest that would win (the reads have no side effects).
    for (i++; i < n; i++) {
      const id = ids[i]!;
      const wi = w[i]!;
      const doh = act[id]! + 1;
      const p = loh * wi;
      const q = doh * lw;
      if (
        p >= q &&
        (p > q || (p >= TWO_53 && mulGtExact(loh, wi, doh, lw))) &&
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

registerScheduler('sed', () => new ShortestExpectedDelayScheduler());
