/**
 * fo: weighted failover. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_fo.c,
 * ipvs-reference §3. The non-overloaded dest with the highest weight > 0; strict `>`, so the earliest
 * of equal weights wins. Connection counts are not looked at.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS } from './util.js';

class FailoverScheduler implements Scheduler {
  readonly name = 'fo';
  private d: SchedDests = EMPTY_DESTS;

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    const n = d.count;
    const w = d.weight;
    const ids = d.id;
    const flags = d.live.flags;
    let best = -1;
    let hw = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      if (wi > hw && (flags[ids[i]!]! & DEST_F_OVERLOAD) === 0) {
        best = i;
        hw = wi;
      }
    }
    return best;
  }

  gc(_now: number): void {}
}

registerScheduler('fo', () => new FailoverScheduler());
