/**
 * wrr: weighted round robin. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_wrr.c,
 * ipvs-reference §3.
 *
 * State (kernel struct ip_vs_wrr_mark): `cl` list cursor (position, -1 = head), `cw` current weight,
 * `mw` = max weight - (di - 1), `di` = gcd of the positive weights (1 if none).
 * Decision: walk forward from cl; take the first non-overloaded dest with weight >= cw. Each time the
 * walk passes the end of the list, cw -= di, and when cw <= 0 it restarts at mw. The walk gives up
 * once every dest has been tried at the lowest level (weight >= 1): immediately when the walk began
 * at the head, otherwise after a final pass from the head up to and including the start dest.
 * Any add/delete/edit resets cl to the head, recomputes di and mw, and clamps cw:
 * cw = mw if cw > mw or cw == 0, else if di > 1, cw = (cw / di) * di + 1.
 * Golden: weights 4,3,2 give A A B A B C A B C, repeating every 9 decisions.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, gcd, overloaded } from './util.js';

class WeightedRoundRobinScheduler implements Scheduler {
  readonly name = 'wrr';
  private d: SchedDests = EMPTY_DESTS;
  private cl = -1;
  private cw = 0;
  private mw = 0;
  private di = 1;

  update(dests: SchedDests, prev: SchedDests | null): void {
    let g = 0;
    let max = 0;
    for (let i = 0; i < dests.count; i++) {
      const w = dests.weight[i]!;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    this.d = dests;
    this.cl = -1;
    this.di = g > 0 ? g : 1;
    this.mw = max - (this.di - 1);
    if (prev === null) this.cw = this.mw;
    else if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  schedule(_flow: SchedFlow, _now: number): number {
    const d = this.d;
    const n = d.count;
    if (this.mw <= 0 || n === 0) return -1;
    const last = this.cl;
    let stop = -2; // no stop position until the final pass is armed
    let restarted = false;
    let lastPass = false;
    let i = last;
    for (;;) {
      for (i = i + 1; i < n; i++) {
        if (!overloaded(d, i) && d.weight[i]! >= this.cw) {
          this.cl = i;
          return i;
        }
        if (i === stop) return -1;
      }
      i = -1; // passed the end: continue from the head
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === -1) return -1;
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }

  gc(_now: number): void {}
}

registerScheduler('wrr', () => new WeightedRoundRobinScheduler());
