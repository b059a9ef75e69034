/**
 * FragCache: which connection the fragments of one IP datagram belong to. Later fragments carry no
 * L4 header, so the engine records (af, saddr, daddr, proto, fragId) -> (conn handle, gen) from the
 * first fragment (offset 0, which has the ports) and looks the rest up here.
 *
 * Bounded and allocation-free: `capacity` entries (power of two) in sets of WAYS, typed arrays only.
 * Entries expire after `ttlMs` (default 30 s, the IPv4 reassembly timeout, RFC 791/Linux ipfrag_time).
 * Full set policy (chosen at construction):
 *  - 'evict' (default): the oldest entry of the set is replaced; `evictions` counts it (a fragment of
 *    the evicted datagram will later miss: caller counts Drop.FragmentNoConnection then);
 *  - 'fail': insert returns false and `insertFailures` counts it; caller counts Drop.FragmentCacheFull.
 * lookup returns -1 for unknown or expired datagrams (caller counts Drop.FragmentNoConnection), and
 * also when the conn was freed since (its gen moved on), so a reused handle is never followed.
 * Entries are not removed on the last fragment (fragments may arrive out of order); they age out.
 */
import type { ConnTable } from './table.js';

const WAYS = 4;
const AF6 = 6;

export type FragFullPolicy = 'evict' | 'fail';

export class FragCache {
  readonly capacity: number;
  readonly ttlMs: number;
  readonly policy: FragFullPolicy;
  /** per entry: 8 address words (saddr 0..3, daddr 4..7) */
  readonly addr: Uint32Array;
  readonly fragId: Uint32Array;
  /** af | proto << 8; 0 = empty */
  readonly tag: Uint32Array;
  readonly handle: Int32Array;
  readonly gen: Uint32Array;
  readonly expiry: Float64Array;
  readonly inserted: Float64Array;
  evictions = 0;
  insertFailures = 0;
  private readonly setMask: number;
  private readonly seed: number;

  constructor(capacity = 4096, ttlMs = 30_000, policy: FragFullPolicy = 'evict', seed?: number) {
    let c = WAYS;
    while (c < capacity) c *= 2;
    this.capacity = c;
    this.ttlMs = ttlMs;
    this.policy = policy;
    this.addr = new Uint32Array(c * 8);
    this.fragId = new Uint32Array(c);
    this.tag = new Uint32Array(c);
    this.handle = new Int32Array(c).fill(-1);
    this.gen = new Uint32Array(c);
    this.expiry = new Float64Array(c);
    this.inserted = new Float64Array(c);
    this.setMask = c / WAYS - 1;
    this.seed = (seed ?? Math.floor(Math.random() * 0x100000000)) | 0;
  }

  private setOf(
    af: number,
    saddr: Uint32Array,
    sOff: number,
    daddr: Uint32Array,
    dOff: number,
    id: number,
  ): number {
    let h = Math.imul(this.seed ^ id, 0x9e3779b1);
    const n = af === AF6 ? 4 : 1;
    for (let i = 0; i < n; i++) {
      h = Math.imul(h ^ saddr[sOff + i]!, 0x85ebca6b);
      h ^= h >>> 15;
      h = Math.imul(h ^ daddr[dOff + i]!, 0xc2b2ae35);
      h ^= h >>> 13;
    }
    h ^= h >>> 16;
    return (h & this.setMask) * WAYS;
  }

  private find(
    base: number,
    tag: number,
    saddr: Uint32Array,
    sOff: number,
    daddr: Uint32Array,
    dOff: number,
    id: number,
  ): number {
    for (let e = base; e < base + WAYS; e++) {
      if (this.tag[e] !== tag || this.fragId[e] !== id) continue;
      const a = e * 8;
      const w = this.addr;
      if (
        w[a] === saddr[sOff] &&
        w[a + 4] === daddr[dOff] &&
        ((tag & 0xff) !== AF6 ||
          (w[a + 1] === saddr[sOff + 1] &&
            w[a + 2] === saddr[sOff + 2] &&
            w[a + 3] === saddr[sOff + 3] &&
            w[a + 5] === daddr[dOff + 1] &&
            w[a + 6] === daddr[dOff + 2] &&
            w[a + 7] === daddr[dOff + 3]))
      )
        return e;
    }
    return -1;
  }

  /** Record the conn of the datagram (from its first fragment). Returns false only under 'fail'. */
  insert(
    af: number,
    saddr: Uint32Array,
    sOff: number,
    daddr: Uint32Array,
    dOff: number,
    proto: number,
    fragId: number,
    handle: number,
    gen: number,
    nowMs: number,
  ): boolean {
    const tag = af | (proto << 8);
    const id = fragId >>> 0;
    const base = this.setOf(af, saddr, sOff, daddr, dOff, id);
    let e = this.find(base, tag, saddr, sOff, daddr, dOff, id);
    if (e < 0) {
      let oldest = -1;
      for (let i = base; i < base + WAYS; i++) {
        if (this.tag[i] === 0 || this.expiry[i]! <= nowMs) {
          e = i;
          break;
        }
        if (oldest < 0 || this.inserted[i]! < this.inserted[oldest]!) oldest = i;
      }
      if (e < 0) {
        if (this.policy === 'fail') {
          this.insertFailures++;
          return false;
        }
        this.evictions++;
        e = oldest;
      }
    }
    const a = e * 8;
    const n = af === AF6 ? 4 : 1;
    for (let i = 0; i < 4; i++) {
      this.addr[a + i] = i < n ? saddr[sOff + i]! : 0;
      this.addr[a + 4 + i] = i < n ? daddr[dOff + i]! : 0;
    }
    this.tag[e] = tag;
    this.fragId[e] = id;
    this.handle[e] = handle;
    this.gen[e] = gen;
    this.inserted[e] = nowMs;
    this.expiry[e] = nowMs + this.ttlMs;
    return true;
  }

  /**
   * The conn handle for a later fragment, or -1 (unknown, expired, or the conn was freed: checked
   * against table.gen when table is given).
   */
  lookup(
    af: number,
    saddr: Uint32Array,
    sOff: number,
    daddr: Uint32Array,
    dOff: number,
    proto: number,
    fragId: number,
    nowMs: number,
    table: ConnTable | null,
  ): number {
    const tag = af | (proto << 8);
    const id = fragId >>> 0;
    const e = this.find(this.setOf(af, saddr, sOff, daddr, dOff, id), tag, saddr, sOff, daddr, dOff, id);
    if (e < 0) return -1;
    if (this.expiry[e]! <= nowMs) {
      this.tag[e] = 0;
      return -1;
    }
    const h = this.handle[e]!;
    if (table !== null && (!table.inUse(h) || table.gen[h] !== this.gen[e])) {
      this.tag[e] = 0;
      return -1;
    }
    return h;
  }

  /** Live (unexpired) entries; control plane. */
  size(nowMs: number): number {
    let n = 0;
    for (let e = 0; e < this.capacity; e++) if (this.tag[e] !== 0 && this.expiry[e]! > nowMs) n++;
    return n;
  }
}
