/**
 * lblc: locality-based least connection, keyed by the packet's destination address. Behaviour
 * reference: kernel net/netfilter/ipvs/ip_vs_lblc.c, ipvs-reference §3.
 *
 *  - Hit on daddr -> dest: refresh lastuse; use the dest if it is still in the service, AVAILABLE,
 *    has weight > 0 and is not "overloaded" by lblc's own test: active > weight while some dest of the
 *    service has active * 2 < weight. (A hit does not look at the OVERLOAD flag, as in the kernel.)
 *  - Otherwise pick by wlc (skips OVERLOAD and weight 0) and (re)bind the entry to that dest.
 *  - GC: see lblc-cache.ts; gc(now) drives the 60 s timer, expiry = lblcExpirationMs (default 24 h).
 *  - Entries hold dest ids, so they survive update(); an entry whose dest left the service is
 *    treated as a miss and re-bound (the kernel's trashed dest is likewise no longer AVAILABLE).
 */
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler, SchedOptions } from './types.js';
import { DEFAULT_EXPIRATION_MS, DestAddrCache } from './lblc-cache.js';
import { EMPTY_DESTS, activeConns, availableFlag, positionsById, wlcPick } from './util.js';

/** lblc/lblcr is_overloaded: active > weight and some dest in the service has active*2 < weight. */
export function lblcOverloaded(d: SchedDests, pos: number): boolean {
  if (activeConns(d, pos) <= d.weight[pos]!) return false;
  for (let i = 0; i < d.count; i++) if (activeConns(d, i) * 2 < d.weight[i]!) return true;
  return false;
}

export function positionOf(posById: Int32Array, id: number): number {
  return id < posById.length ? posById[id]! : -1;
}

class LocalityLeastConnectionScheduler implements Scheduler {
  readonly name = 'lblc';
  private d: SchedDests = EMPTY_DESTS;
  private posById: Int32Array = new Int32Array(0);
  private readonly expiration: number;
  readonly cache = new DestAddrCache();

  constructor(opts: SchedOptions) {
    this.expiration = opts.lblcExpirationMs ?? DEFAULT_EXPIRATION_MS;
  }

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
    this.posById = positionsById(dests);
  }

  schedule(flow: SchedFlow, now: number): number {
    const d = this.d;
    const cache = this.cache;
    cache.arm(now);
    const n = cache.find(flow.daddr);
    if (n >= 0) {
      cache.lastuse[n] = now;
      const id = cache.members[n * cache.setStride]!;
      const pos = cache.setSize[n] !== 0 ? positionOf(this.posById, id) : -1;
      if (pos >= 0 && availableFlag(d, id) && d.weight[pos]! > 0 && !lblcOverloaded(d, pos)) return pos;
    }
    const pos = wlcPick(d);
    if (pos < 0) return -1;
    const node = n >= 0 ? n : cache.insert(flow.daddr, now);
    // Re-binding an entry makes it as fresh as a new one (the kernel replaces it).
    cache.setSize[node] = 0;
    cache.setInsert(node, d.id[pos]!, now);
    cache.lastuse[node] = now;
    return pos;
  }

  gc(now: number): void {
    this.cache.tick(now, this.expiration);
  }
}

registerScheduler('lblc', (opts) => new LocalityLeastConnectionScheduler(opts));
