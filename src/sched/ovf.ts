/**
 * ovf: weighted overflow. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_ovf.c,
 * ipvs-reference §3. The highest-weight dest among those not OVERLOAD, with weight != 0 and
 * active <= weight (strict `>` on weight: the earliest wins ties). Once a dest's active connections
 * exceed its weight, traffic overflows to the next highest weight. Inactive connections are ignored
 * (so the rule suits TCP, not UDP).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS } from './util.js';

class OverflowScheduler implements Scheduler {
  readonly name = 'ovf';
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
    let best = -1;
    let hw = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      // Once there is a candidate, a dest without a strictly higher weight cannot win whatever its
      // counters, so they are read only for one that could (the reads have no side effects).
      if (best >= 0 && wi <= hw) continue;
      if (wi === 0) continue;
      const id = ids[i]!;
      if ((flags[id]! & DEST_F_OVERLOAD) !== 0 || act[id]! > wi) continue;
      best = i;
      hw = wi;
    }
    return best;
  }

  gc(_now: number): void {}
}

registerScheduler('ovf', () => new OverflowScheduler());
