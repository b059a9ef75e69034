/**
 * dh: destination hashing. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_dh.c,
 * ipvs-reference §3.
 *
 *  - A fixed 256-bucket table; buckets are filled round-robin with one bucket per dest (weights are
 *    ignored), rebuilt on every update.
 *  - Bucket = (fold(daddr) * 2654435761) & 255 in u32 arithmetic. ip_vs_dh.c still uses this
 *    multiplicative hash, not hash_32 as sh does.
 *  - The chosen dest must be AVAILABLE (DestLive flag), weight > 0 and not OVERLOAD, else no dest:
 *    dh has no fallback.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler } from './types.js';
import { EMPTY_DESTS, available, availableFlag, foldAddr, knuthHash } from './util.js';

const DH_TAB_SIZE = 256;
const DH_TAB_MASK = DH_TAB_SIZE - 1;

class DestinationHashScheduler implements Scheduler {
  readonly name = 'dh';
  private d: SchedDests = EMPTY_DESTS;
  /** bucket -> position, -1 when the list is empty */
  private readonly buckets = new Int32Array(DH_TAB_SIZE).fill(-1);

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
    const n = dests.count;
    for (let b = 0, p = 0; b < DH_TAB_SIZE; b++) {
      if (n === 0) {
        this.buckets[b] = -1;
        continue;
      }
      this.buckets[b] = p;
      p = p + 1 === n ? 0 : p + 1;
    }
  }

  schedule(flow: SchedFlow, _now: number): number {
    const d = this.d;
    const pos = this.buckets[knuthHash(foldAddr(flow.daddr, 0), DH_TAB_MASK)]!;
    if (pos < 0 || !availableFlag(d, d.id[pos]!) || !available(d, pos)) return -1;
    return pos;
  }

  gc(_now: number): void {}
}

registerScheduler('dh', () => new DestinationHashScheduler());
