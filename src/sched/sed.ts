/**
 * sed: shortest expected delay. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_sed.c,
 * ipvs-reference §3. Like wlc with overhead = active + 1 (inactive ignored): minimises (C+1)/W.
 * First non-overloaded dest with weight > 0 is the candidate; a later non-overloaded dest replaces it
 * only when strictly better, so the earliest wins ties and weight-0 dests never win.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, activeConns, mulGt, overloaded } from './util.js';

class ShortestExpectedDelayScheduler implements Scheduler {
  readonly name = 'sed';
  private d: SchedDests = EMPTY_DESTS;

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < d.count; i++) {
      if (overloaded(d, i)) continue;
      const wi = d.weight[i]!;
      if (least < 0) {
        if (wi > 0) {
          least = i;
          loh = activeConns(d, i) + 1;
          lw = wi;
        }
        continue;
      }
      const doh = activeConns(d, i) + 1;
      if (mulGt(loh, wi, doh, lw)) {
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
