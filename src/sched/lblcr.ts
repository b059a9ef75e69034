/**
 * lblcr: locality-based least connection with replication: a set of dests per destination address.
 * Behaviour reference: kernel net/netfilter/ipvs/ip_vs_lblcr.c, ipvs-reference §3.
 *
 *  - Hit: refresh lastuse; take the set's least-loaded member by the wlc metric (the first member
 *    not OVERLOAD, AVAILABLE and with weight > 0 is the candidate; a later non-OVERLOAD, AVAILABLE
 *    member replaces it when strictly better). Members are ordered newest first.
 *  - Then, if the set has > 1 member and was last modified more than lblcExpirationMs ago, erase
 *    its most-loaded member (first member with weight > 0 is the candidate; a later one with weight
 *    > 0 replaces it when strictly more loaded). Erasing updates lastmod.
 *  - If the chosen member exists and is not "overloaded" (lblc's test), use it. Otherwise pick a new
 *    dest by wlc and add it to the set (unless already there).
 *  - Miss: pick by wlc and create an entry whose set holds that dest.
 *  - GC constants as lblc (lblc-cache.ts).
 *  - Members are dest ids; update() drops ids that left the service (see DEVIATION below).
 *
 * DEVIATION: the kernel keeps a deleted dest in a set (it can no longer be chosen, having lost
 * AVAILABLE, but still counts in the set size and may be erased as "most loaded"). Here it is removed
 * from every set at update(), so the set-size test and the "most loaded" choice see only live dests.
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler, SchedOptions } from './types.js';
import { DEFAULT_EXPIRATION_MS, DestAddrCache } from './lblc-cache.js';
import { lblcOverloaded, positionOf } from './lblc.js';
import { EMPTY_DESTS, availableFlag, mulGt, overhead, overloaded, positionsById, wlcPick } from './util.js';

class LocalityLeastConnectionReplicatedScheduler implements Scheduler {
  readonly name = 'lblcr';
  private d: SchedDests = EMPTY_DESTS;
  private posById: Int32Array = new Int32Array(0);
  private readonly expiration: number;
  readonly cache = new DestAddrCache();

  constructor(opts: SchedOptions) {
    this.expiration = opts.lblcExpirationMs ?? DEFAULT_EXPIRATION_MS;
  }

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
    const map = positionsById(dests);
    this.posById = map;
    this.cache.retainMembers((id) => positionOf(map, id) >= 0);
  }

  /** Least-loaded member of node n's set, as a position, or -1. */
  private setMin(n: number): number {
    const d = this.d;
    const c = this.cache;
    const base = n * c.setStride;
    const size = c.setSize[n]!;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let k = 0; k < size; k++) {
      const id = c.members[base + k]!;
      const pos = positionOf(this.posById, id);
      if (pos < 0 || overloaded(d, pos)) continue;
      const w = d.weight[pos]!;
      const avail = availableFlag(d, id);
      if (least < 0) {
        if (w > 0 && avail) {
          least = pos;
          loh = overhead(d, pos);
          lw = w;
        }
        continue;
      }
      const doh = overhead(d, pos);
      if (avail && mulGt(loh, w, doh, lw)) {
        least = pos;
        loh = doh;
        lw = w;
      }
    }
    return least;
  }

  /** Most-loaded member of node n's set, as a dest id, or -1. */
  private setMaxId(n: number): number {
    const d = this.d;
    const c = this.cache;
    const base = n * c.setStride;
    const size = c.setSize[n]!;
    let most = -1;
    let moh = 0;
    let mw = 0;
    for (let k = 0; k < size; k++) {
      const id = c.members[base + k]!;
      const pos = positionOf(this.posById, id);
      if (pos < 0) continue;
      const w = d.weight[pos]!;
      if (w <= 0) continue;
      const doh = overhead(d, pos);
      // moh/mw < doh/w  <=>  doh*mw > moh*w
      if (most < 0 || mulGt(doh, mw, moh, w)) {
        most = id;
        moh = doh;
        mw = w;
      }
    }
    return most;
  }

  schedule(flow: SchedFlow, now: number): number {
    const d = this.d;
    const cache = this.cache;
    cache.arm(now);
    const n = cache.find(flow.daddr);
    if (n >= 0) {
      cache.lastuse[n] = now;
      const pos = this.setMin(n);
      if (cache.setSize[n]! > 1 && now > cache.lastmod[n]! + this.expiration) {
        const m = this.setMaxId(n);
        if (m >= 0) cache.setErase(n, m, now);
      }
      if (pos >= 0 && !lblcOverloaded(d, pos)) return pos;
      const np = wlcPick(d);
      if (np < 0) return -1;
      const id = d.id[np]!;
      if (!cache.setHas(n, id)) cache.setInsert(n, id, now);
      return np;
    }
    const np = wlcPick(d);
    if (np < 0) return -1;
    const node = cache.insert(flow.daddr, now);
    cache.setInsert(node, d.id[np]!, now);
    return np;
  }

  gc(now: number): void {
    this.cache.tick(now, this.expiration);
  }
}

registerScheduler('lblcr', (opts) => new LocalityLeastConnectionReplicatedScheduler(opts));
