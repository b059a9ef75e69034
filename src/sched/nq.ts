/**
 * nq: never queue. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_nq.c, ipvs-reference §3.
 * Walk the available dests (weight != 0, not OVERLOAD) in order: the first with no active
 * connections is returned at once; otherwise the sed choice (minimise (active+1)/weight, earliest
 * wins ties).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, activeConns, available, mulGt } from './util.js';

class NeverQueueScheduler implements Scheduler {
  readonly name = 'nq';
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
      if (!available(d, i)) continue;
      const active = activeConns(d, i);
      if (active === 0) return i;
      const doh = active + 1;
      const wi = d.weight[i]!;
      if (least < 0 || mulGt(loh, wi, doh, lw)) {
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
