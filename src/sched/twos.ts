/**
 * twos: weighted random "power of two choices". Behaviour reference: kernel
 * net/netfilter/ipvs/ip_vs_twos.c, ipvs-reference §3.
 *
 * total = sum of the available dests' weights + 1; r1 = rand % total, r2 = rand % total (two draws,
 * in that order). Walk the available dests subtracting each weight from r1 and r2; the first dest
 * where r1 <= 0 is choice1, likewise r2 gives choice2. Return choice2 if w2*overhead1 > w1*overhead2,
 * else choice1. random32 is injectable (SchedOptions.random32) so tests can script it.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler, SchedOptions } from './types.js';
import { DEST_F_OVERLOAD } from '../conn/dest-live.js';
import { EMPTY_DESTS, mulGt } from './util.js';

/** Default source: Math.random scaled to a u32 (sched/ is pure, so no node:crypto). */
function defaultRandom32(): number {
  return (Math.random() * 4294967296) >>> 0;
}

class TwoChoicesScheduler implements Scheduler {
  readonly name = 'twos';
  private d: SchedDests = EMPTY_DESTS;
  private readonly random32: () => number;

  constructor(opts: SchedOptions) {
    this.random32 = opts.random32 ?? defaultRandom32;
  }

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
    let total = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      if (wi > 0 && (flags[ids[i]!]! & DEST_F_OVERLOAD) === 0) total += wi;
    }
    if (total === 0) return -1;
    total += 1;
    let r1 = (this.random32() >>> 0) % total;
    let r2 = (this.random32() >>> 0) % total;
    // Walk until the later of the two choices: r1 and r2 fall by the same amounts, so the smaller one
    // reaches <= 0 first (or together). The flags are read again: another worker may have set OVERLOAD.
    let c1 = -1;
    let c2 = -1;
    let i = 0;
    for (; i < n; i++) {
      const wi = w[i]!;
      if (wi > 0 && (flags[ids[i]!]! & DEST_F_OVERLOAD) === 0) {
        r1 -= wi;
        r2 -= wi;
        if (r1 <= 0 || r2 <= 0) break;
      }
    }
    if (i < n) {
      if (r1 <= 0) c1 = i;
      if (r2 <= 0) c2 = i;
      for (i++; i < n && (c1 < 0 || c2 < 0); i++) {
        const wi = w[i]!;
        if (wi > 0 && (flags[ids[i]!]! & DEST_F_OVERLOAD) === 0) {
          r1 -= wi;
          r2 -= wi;
          if (c1 < 0 && r1 <= 0) c1 = i;
          if (c2 < 0 && r2 <= 0) c2 = i;
        }
      }
    }
    // r <= sum of weights, so both are found, unless another worker set OVERLOAD between the walks.
    if (c1 < 0 || c2 < 0) return c1 >= 0 ? c1 : c2;
    const act = live.active;
    const ina = live.inactive;
    const id1 = ids[c1]!;
    const id2 = ids[c2]!;
    if (mulGt(w[c2]!, act[id1]! * 256 + ina[id1]!, w[c1]!, act[id2]! * 256 + ina[id2]!)) return c2;
    return c1;
  }

  gc(_now: number): void {}
}

registerScheduler('twos', (opts) => new TwoChoicesScheduler(opts));
