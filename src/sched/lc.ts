/**
 * lc: least connection. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_lc.c, ipvs-reference §3.
 * The non-overloaded dest with weight != 0 and minimum overhead (active*256 + inactive); weights
 * are not otherwise used. Strict `<`: the earliest dest wins ties.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS } from './util.js';

class LeastConnectionScheduler implements Scheduler {
  readonly name = 'lc';
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
    const ina = live.inactive;
    // Phase 1: the first dest with weight > 0 and not OVERLOAD.
    let i = 0;
    let least = -1;
    let loh = 0;
    for (; i < n; i++) {
      if (w[i]! > 0) {
        const id = ids[i]!;
        if ((flags[id]! & DEST_F_OVERLOAD) === 0) {
          least = i;
          loh = act[id]! * 256 + ina[id]!;
          break;
        }
      }
    }
    // Phase 2: a strictly smaller overhead wins. The reads have no side effects, so weight and the
    // OVERLOAD flag are read only for a dest that would win.
    for (i++; i < n; i++) {
      const id = ids[i]!;
      const doh = act[id]! * 256 + ina[id]!;
      if (doh < loh && w[i]! > 0 && (flags[id]! & DEST_F_OVERLOAD) === 0) {
        least = i;
        loh = doh;
      }
    }
    return least;
  }

  gc(_now: number): void {}
}

registerScheduler('lc', () => new LeastConnectionScheduler());
