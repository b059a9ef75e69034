/**
 * Steering connections to data-plane shards (DESIGN "Workers": both directions of a connection land
 * on the same shard).
 *  - NAT/DR/TUN: shardForClient(client addr, client port). A NAT reply is addressed to the client
 *    (daddr:dport of the reply = caddr:cport), so the receive path calls the same function with the
 *    reply's destination and gets the same shard.
 *  - FullNAT: replies are addressed to laddr:lport, so the local port encodes the shard:
 *    lport % shardCount === shard. LocalPortAllocator hands out only such ports.
 * The hash is unkeyed on purpose: every worker and the steering backend (nft/BPF) must agree on it.
 */

const AF6 = 6;

/** Shard of a client flow; stable across processes. shardCount >= 1. */
export function shardForClient(
  af: number,
  caddr: Uint32Array,
  caOff: number,
  cport: number,
  shardCount: number,
): number {
  if (shardCount <= 1) return 0;
  let h = Math.imul(cport ^ 0x9e3779b9, 0x85ebca6b);
  const n = af === AF6 ? 4 : 1;
  for (let i = 0; i < n; i++) {
    h ^= caddr[caOff + i]!;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  }
  h ^= h >>> 16;
  return (h >>> 0) % shardCount;
}

/** Shard a FullNAT reply belongs to, from its destination (local) port. */
export function shardForLocalPort(lport: number, shardCount: number): number {
  return shardCount <= 1 ? 0 : lport % shardCount;
}

/**
 * Local ports of one FullNAT local address for one shard: ports p in [lo, hi] with
 * p % shardCount === shard, a bitmap of used ports and a rotating cursor (allocation-free).
 * Uniqueness is per local address (as DPVS), so one laddr carries at most (hi-lo+1)/shardCount
 * concurrent conns per shard; add local addresses for more.
 */
export class LocalPortAllocator {
  readonly lo: number;
  readonly hi: number;
  readonly shard: number;
  readonly shardCount: number;
  /** number of ports this shard may use */
  readonly size: number;
  private readonly used: Uint32Array;
  private readonly first: number;
  private cursor = 0;
  inUse = 0;

  constructor(lo: number, hi: number, shard: number, shardCount: number) {
    if (!(lo >= 1 && hi <= 65535 && lo <= hi)) throw new RangeError('bad local port range');
    if (!(shardCount >= 1 && shard >= 0 && shard < shardCount)) throw new RangeError('bad shard');
    this.lo = lo;
    this.hi = hi;
    this.shard = shard;
    this.shardCount = shardCount;
    let f = lo + ((shard - (lo % shardCount) + shardCount) % shardCount);
    this.first = f;
    let n = 0;
    while (f <= hi) {
      n++;
      f += shardCount;
    }
    this.size = n;
    this.used = new Uint32Array((n + 31) >>> 5);
  }

  /** A free port (network byte order is the caller's business), or -1 when exhausted. */
  allocate(): number {
    const n = this.size;
    if (this.inUse >= n) return -1;
    let i = this.cursor;
    for (let k = 0; k < n; k++) {
      const w = i >>> 5;
      const b = 1 << (i & 31);
      if ((this.used[w]! & b) === 0) {
        this.used[w] = this.used[w]! | b;
        this.inUse++;
        this.cursor = i + 1 === n ? 0 : i + 1;
        return this.first + i * this.shardCount;
      }
      i = i + 1 === n ? 0 : i + 1;
    }
    return -1;
  }

  /** Return a port (on conn free). Ignores ports not owned by this allocator or already free. */
  release(port: number): boolean {
    return this.mark(port, false);
  }

  /** Mark a port used (a connection taken over from another process holds it). False if not ours or taken. */
  reserve(port: number): boolean {
    return this.mark(port, true);
  }

  isUsed(port: number): boolean {
    const i = this.slot(port);
    return i >= 0 && (this.used[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** The bitmap index of a port this allocator owns, else -1. */
  private slot(port: number): number {
    const d = port - this.first;
    if (d < 0 || d % this.shardCount !== 0) return -1;
    const i = d / this.shardCount;
    return i < this.size ? i : -1;
  }

  /** Set (used) or clear a port's bit; false when the port is not ours or already in that state. */
  private mark(port: number, used: boolean): boolean {
    const i = this.slot(port);
    if (i < 0) return false;
    const w = i >>> 5;
    const b = 1 << (i & 31);
    if (((this.used[w]! & b) !== 0) === used) return false;
    this.used[w] = used ? this.used[w]! | b : this.used[w]! & ~b;
    this.inUse += used ? 1 : -1;
    return true;
  }
}
