/**
 * wlc: weighted least connection, the default scheduler. Behaviour reference: kernel
 * net/netfilter/ipvs/ip_vs_wlc.c, ipvs-reference §3. Minimises overhead/weight with overhead =
 * active*256 + inactive, compared by exact cross-multiplication; the earliest dest wins ties; later
 * weight-0 dests are not skipped explicitly but can never win (see wlcPick in util.ts).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, wlcPick } from './util.js';

class WeightedLeastConnectionScheduler implements Scheduler {
  readonly name = 'wlc';
  private d: SchedDests = EMPTY_DESTS;

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    return wlcPick(this.d);
  }

  gc(_now: number): void {}
}

registerScheduler('wlc', () => new WeightedLeastConnectionScheduler());
