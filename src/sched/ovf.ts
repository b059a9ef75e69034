/**
 * ovf: weighted overflow. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_ovf.c,
 * ipvs-reference §3. The highest-weight dest among those not OVERLOAD, with weight != 0 and
 * active <= weight (strict `>` on weight: the earliest wins ties). Once a dest's active connections
 * exceed its weight, traffic overflows to the next highest weight. Inactive connections are ignored
 * (so the rule suits TCP, not UDP).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, activeConns, overloaded } from './util.js';

class OverflowScheduler implements Scheduler {
  readonly name = 'ovf';
  private d: SchedDests = EMPTY_DESTS;

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    let best = -1;
    let hw = 0;
    for (let i = 0; i < d.count; i++) {
      const w = d.weight[i]!;
      if (w === 0 || overloaded(d, i) || activeConns(d, i) > w) continue;
      if (best < 0 || w > hw) {
        best = i;
        hw = w;
      }
    }
    return best;
  }

  gc(_now: number): void {}
}

registerScheduler('ovf', () => new OverflowScheduler());
