/**
 * The destination-address cache of lblc and lblcr (kernel ip_vs_lblc.c / ip_vs_lblcr.c tables):
 * entries keyed by the packet's destination address, chained in 1024 buckets (TAB_BITS 10) with
 * bucket = (fold(daddr) * 2654435761) & 1023, and the kernel's GC policy (ipvs-reference §3):
 *
 *  - GC runs every CHECK_EXPIRE_INTERVAL (60 s). Every 30th run is a full check removing entries
 *    unused for the expiration (sysctl lblc[r]_expiration, default 24 h), after which the run
 *    counter restarts at 1. Otherwise, if entries > MAX_SIZE (16 * 1024), remove up to
 *    goal = min((entries - MAX_SIZE) * 4 / 3, MAX_SIZE / 2) entries unused for ENTRY_TIMEOUT
 *    (6 min), walking buckets from a rover that persists between runs. (The counter only advances
 *    on runs that find the table within MAX_SIZE, as in the kernel.)
 *
 * Storage is struct-of-arrays in typed arrays with int handles; nodes come from a free list and the
 * arrays double when full (allocation only when a new address is inserted, i.e. on a new connection).
 * Each entry also has a dest set (lblcr) held as ids in `members` with stride `setStride`, newest
 * first (the kernel adds set elements at the list head); lblc uses a set of exactly one.
 */

export const LBLC_TAB_BITS = 10;
export const LBLC_TAB_SIZE = 1 << LBLC_TAB_BITS;
export const LBLC_TAB_MASK = LBLC_TAB_SIZE - 1;
export const LBLC_MAX_SIZE = LBLC_TAB_SIZE * 16;
export const CHECK_EXPIRE_INTERVAL_MS = 60_000;
export const ENTRY_TIMEOUT_MS = 6 * 60_000;
export const COUNT_FOR_FULL_EXPIRATION = 30;
export const DEFAULT_EXPIRATION_MS = 24 * 60 * 60_000;

export class DestAddrCache {
  /** bucket -> first node, -1 = empty */
  readonly head = new Int32Array(LBLC_TAB_SIZE).fill(-1);
  capacity = 0;
  /** 4 u32 words per node */
  key = new Uint32Array(0);
  next = new Int32Array(0);
  lastuse = new Float64Array(0);
  /** lblcr: last modification of the set */
  lastmod = new Float64Array(0);
  setSize = new Int32Array(0);
  setStride = 1;
  members = new Int32Array(0);
  entries = 0;
  private free = -1;
  private highWater = 0;
  /** GC state */
  private counter = 1;
  private rover = 0;
  private nextTick = -1;

  constructor(initialCapacity = 64) {
    this.grow(initialCapacity, 1);
  }

  private grow(capacity: number, stride: number): void {
    const key = new Uint32Array(capacity * 4);
    const next = new Int32Array(capacity);
    const lastuse = new Float64Array(capacity);
    const lastmod = new Float64Array(capacity);
    const setSize = new Int32Array(capacity);
    const members = new Int32Array(capacity * stride);
    key.set(this.key);
    next.set(this.next);
    lastuse.set(this.lastuse);
    lastmod.set(this.lastmod);
    setSize.set(this.setSize);
    for (let n = 0; n < this.capacity; n++) {
      for (let k = 0; k < this.setSize[n]!; k++)
        members[n * stride + k] = this.members[n * this.setStride + k]!;
    }
    this.key = key;
    this.next = next;
    this.lastuse = lastuse;
    this.lastmod = lastmod;
    this.setSize = setSize;
    this.members = members;
    this.capacity = capacity;
    this.setStride = stride;
  }

  static bucketOf(addr: Uint32Array, off: number): number {
    const fold = addr[off]! ^ addr[off + 1]! ^ addr[off + 2]! ^ addr[off + 3]!;
    return (Math.imul(fold, 2654435761 | 0) >>> 0) & LBLC_TAB_MASK;
  }

  /** Node holding `addr` (4 words), or -1. */
  find(addr: Uint32Array): number {
    const a0 = addr[0]!;
    const a1 = addr[1]!;
    const a2 = addr[2]!;
    const a3 = addr[3]!;
    const key = this.key;
    for (let n = this.head[DestAddrCache.bucketOf(addr, 0)]!; n >= 0; n = this.next[n]!) {
      const o = n * 4;
      if (key[o] === a0 && key[o + 1] === a1 && key[o + 2] === a2 && key[o + 3] === a3) return n;
    }
    return -1;
  }

  /** A new node for `addr` (caller checked it is absent) with an empty set. */
  insert(addr: Uint32Array, now: number): number {
    let n = this.free;
    if (n >= 0) this.free = this.next[n]!;
    else {
      if (this.highWater === this.capacity) this.grow(this.capacity * 2, this.setStride);
      n = this.highWater++;
    }
    this.key.set(addr.subarray(0, 4), n * 4);
    const b = DestAddrCache.bucketOf(addr, 0);
    this.next[n] = this.head[b]!;
    this.head[b] = n;
    this.lastuse[n] = now;
    this.lastmod[n] = now;
    this.setSize[n] = 0;
    this.entries++;
    return n;
  }

  /** Add `id` at the head of node n's set (caller checked absence); lastmod = now. */
  setInsert(n: number, id: number, now: number): void {
    const size = this.setSize[n]!;
    if (size === this.setStride) this.grow(this.capacity, this.setStride * 2);
    const base = n * this.setStride;
    for (let k = size; k > 0; k--) this.members[base + k] = this.members[base + k - 1]!;
    this.members[base] = id;
    this.setSize[n] = size + 1;
    this.lastmod[n] = now;
  }

  setHas(n: number, id: number): boolean {
    const base = n * this.setStride;
    for (let k = 0; k < this.setSize[n]!; k++) if (this.members[base + k] === id) return true;
    return false;
  }

  /** Remove `id` from node n's set if present; lastmod = now when removed. */
  setErase(n: number, id: number, now: number): void {
    const base = n * this.setStride;
    const size = this.setSize[n]!;
    for (let k = 0; k < size; k++) {
      if (this.members[base + k] !== id) continue;
      for (let j = k; j < size - 1; j++) this.members[base + j] = this.members[base + j + 1]!;
      this.setSize[n] = size - 1;
      this.lastmod[n] = now;
      return;
    }
  }

  /** Remove every member whose id `keep` rejects (control plane: dests deleted from the service). */
  retainMembers(keep: (id: number) => boolean): void {
    for (let b = 0; b < LBLC_TAB_SIZE; b++) {
      for (let n = this.head[b]!; n >= 0; n = this.next[n]!) {
        const base = n * this.setStride;
        let w = 0;
        for (let k = 0; k < this.setSize[n]!; k++) {
          const id = this.members[base + k]!;
          if (keep(id)) this.members[base + w++] = id;
        }
        this.setSize[n] = w;
      }
    }
  }

  private unlinkAfter(b: number, prev: number, n: number): void {
    if (prev < 0) this.head[b] = this.next[n]!;
    else this.next[prev] = this.next[n]!;
    this.next[n] = this.free;
    this.free = n;
    this.setSize[n] = 0;
    this.entries--;
  }

  /** Remove entries of bucket b with lastuse + age <= now; returns how many. */
  private expireBucket(b: number, now: number, age: number): number {
    let removed = 0;
    let prev = -1;
    let n = this.head[b]!;
    while (n >= 0) {
      const nx = this.next[n]!;
      if (now < this.lastuse[n]! + age) prev = n;
      else {
        this.unlinkAfter(b, prev, n);
        removed++;
      }
      n = nx;
    }
    return removed;
  }

  /** One run of the kernel's periodic check (ip_vs_lblc_check_expire). */
  gcRun(now: number, expirationMs: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      for (let b = 0; b < LBLC_TAB_SIZE; b++) this.expireBucket(b, now, expirationMs);
      this.counter = 1;
      return;
    }
    if (this.entries <= LBLC_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LBLC_MAX_SIZE) * 4) / 3);
    if (goal > LBLC_MAX_SIZE / 2) goal = LBLC_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & LBLC_TAB_MASK;
      goal -= this.expireBucket(j, now, ENTRY_TIMEOUT_MS);
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** Start the 60 s timer at the first time seen (the kernel arms it when the service is created). */
  arm(now: number): void {
    if (this.nextTick < 0) this.nextTick = now + CHECK_EXPIRE_INTERVAL_MS;
  }

  /** Drive the timer: at most one run per call, when its time has come. */
  tick(now: number, expirationMs: number): void {
    if (this.nextTick < 0) {
      this.arm(now);
      return;
    }
    if (now < this.nextTick) return;
    this.gcRun(now, expirationMs);
    this.nextTick = now + CHECK_EXPIRE_INTERVAL_MS;
  }
}
