/**
 * Traffic counters (kernel struct ip_vs_stats: conns, inpkts, outpkts, inbytes, outbytes; ipvs-reference
 * §4.6) per service id, per dest id and in total.
 *
 * Invariants:
 *  - One StatsShard per data-plane worker, in a SharedArrayBuffer; only that worker writes it
 *    (single writer, plain stores: no Atomics per packet). The control plane only reads.
 *  - Float64 holds integers exactly up to 2^53 (9 PB of bytes): ample for u64 counters in practice.
 *    A reader racing a writer may see a value one update old, never a torn one on 64-bit hosts
 *    (aligned 8-byte accesses); these are statistics, so that is acceptable.
 *  - ipvsadm -Z is implemented by the reader as a baseline subtracted from the shard sums, so the
 *    control plane never writes a worker's memory and -Z needs no coordination with the data plane.
 *
 * Layout of a shard: record r (0 = totals, 1 + service id, 1 + serviceCapacity + dest id), each of
 * STAT_FIELDS consecutive Float64 values.
 */

export const STAT_CONNS = 0;
export const STAT_INPKTS = 1;
export const STAT_OUTPKTS = 2;
export const STAT_INBYTES = 3;
export const STAT_OUTBYTES = 4;
export const STAT_FIELDS = 5;

export const KIND_TOTAL = 0;
export const KIND_SERVICE = 1;
export const KIND_DEST = 2;
export type StatKind = typeof KIND_TOTAL | typeof KIND_SERVICE | typeof KIND_DEST;

export interface StatsValues {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** Record index of (kind, id) in a shard; shared by shard and reader. */
function recordOf(serviceCapacity: number, kind: StatKind, id: number): number {
  return kind === KIND_TOTAL ? 0 : kind === KIND_SERVICE ? 1 + id : 1 + serviceCapacity + id;
}

export class StatsShard {
  readonly serviceCapacity: number;
  readonly destCapacity: number;
  readonly data: Float64Array;

  /** Pass `buffer` (another shard's `.buffer`) to open the same shard in another thread. */
  constructor(serviceCapacity: number, destCapacity: number, buffer?: SharedArrayBuffer) {
    this.serviceCapacity = serviceCapacity;
    this.destCapacity = destCapacity;
    const bytes = StatsShard.byteLength(serviceCapacity, destCapacity);
    const sab = buffer ?? new SharedArrayBuffer(bytes);
    if (sab.byteLength < bytes) throw new RangeError('StatsShard buffer too small');
    this.data = new Float64Array(sab, 0, bytes / 8);
  }

  static byteLength(serviceCapacity: number, destCapacity: number): number {
    return (1 + serviceCapacity + destCapacity) * STAT_FIELDS * 8;
  }

  get buffer(): SharedArrayBuffer {
    return this.data.buffer as SharedArrayBuffer;
  }

  /** A new connection was scheduled to `destId` of service `svcId` (kernel ip_vs_conn_stats). */
  countConn(svcId: number, destId: number): void {
    const d = this.data;
    d[STAT_CONNS]!++;
    d[(1 + svcId) * STAT_FIELDS + STAT_CONNS]!++;
    d[(1 + this.serviceCapacity + destId) * STAT_FIELDS + STAT_CONNS]!++;
  }

  /** Client -> real server: `pkts` packets (GSO segments) of `bytes` in all (kernel ip_vs_in_stats). */
  countIn(svcId: number, destId: number, bytes: number, pkts = 1): void {
    const d = this.data;
    const s = (1 + svcId) * STAT_FIELDS;
    const r = (1 + this.serviceCapacity + destId) * STAT_FIELDS;
    d[STAT_INPKTS]! += pkts;
    d[STAT_INBYTES]! += bytes;
    d[s + STAT_INPKTS]! += pkts;
    d[s + STAT_INBYTES]! += bytes;
    d[r + STAT_INPKTS]! += pkts;
    d[r + STAT_INBYTES]! += bytes;
  }

  /** A real server -> client packet of `bytes` (kernel ip_vs_out_stats; NAT/FullNAT only). */
  countOut(svcId: number, destId: number, bytes: number, pkts = 1): void {
    const d = this.data;
    const s = (1 + svcId) * STAT_FIELDS;
    const r = (1 + this.serviceCapacity + destId) * STAT_FIELDS;
    d[STAT_OUTPKTS]! += pkts;
    d[STAT_OUTBYTES]! += bytes;
    d[s + STAT_OUTPKTS]! += pkts;
    d[s + STAT_OUTBYTES]! += bytes;
    d[r + STAT_OUTPKTS]! += pkts;
    d[r + STAT_OUTBYTES]! += bytes;
  }
}

/**
 * Control-plane reader: sums the shards and subtracts the -Z baseline. Shards may be added as
 * workers start; all must share the capacities.
 */
export class StatsReader {
  readonly serviceCapacity: number;
  readonly destCapacity: number;
  private readonly shards: Float64Array[] = [];
  private readonly baseline: Float64Array;

  constructor(
    serviceCapacity: number,
    destCapacity: number,
    shards: readonly (StatsShard | SharedArrayBuffer)[] = [],
  ) {
    this.serviceCapacity = serviceCapacity;
    this.destCapacity = destCapacity;
    this.baseline = new Float64Array((1 + serviceCapacity + destCapacity) * STAT_FIELDS);
    for (const s of shards) this.addShard(s);
  }

  addShard(shard: StatsShard | SharedArrayBuffer): void {
    const data =
      shard instanceof StatsShard
        ? shard.data
        : new StatsShard(this.serviceCapacity, this.destCapacity, shard).data;
    if (data.length < this.baseline.length) throw new RangeError('shard smaller than the reader layout');
    this.shards.push(data);
  }

  private rec(kind: StatKind, id: number): number {
    const cap = kind === KIND_SERVICE ? this.serviceCapacity : kind === KIND_DEST ? this.destCapacity : 1;
    if (kind !== KIND_TOTAL && !(Number.isInteger(id) && id >= 0 && id < cap))
      throw new RangeError(`bad stats id ${id}`);
    return recordOf(this.serviceCapacity, kind, id) * STAT_FIELDS;
  }

  /** Raw sum over the shards, before the baseline. */
  private sum(base: number, f: number): number {
    let v = 0;
    for (const d of this.shards) v += d[base + f]!;
    return v;
  }

  /** Counters of (kind, id) since the last zero, into `out` (length >= STAT_FIELDS). */
  readInto(kind: StatKind, id: number, out: Float64Array | number[]): void {
    const base = this.rec(kind, id);
    for (let f = 0; f < STAT_FIELDS; f++) out[f] = this.sum(base, f) - this.baseline[base + f]!;
  }

  read(kind: StatKind, id = 0): StatsValues {
    const v = [0, 0, 0, 0, 0];
    this.readInto(kind, id, v);
    return { conns: v[0]!, inpkts: v[1]!, outpkts: v[2]!, inbytes: v[3]!, outbytes: v[4]! };
  }

  totals(): StatsValues {
    return this.read(KIND_TOTAL, 0);
  }

  service(id: number): StatsValues {
    return this.read(KIND_SERVICE, id);
  }

  dest(id: number): StatsValues {
    return this.read(KIND_DEST, id);
  }

  /** Zero one record: later reads count from now (ipvsadm -Z; also a freshly allocated id). */
  zero(kind: StatKind, id = 0): void {
    const base = this.rec(kind, id);
    for (let f = 0; f < STAT_FIELDS; f++) this.baseline[base + f] = this.sum(base, f);
  }

  /**
   * ipvsadm -Z <service>: the service and its dests (kernel ip_vs_zero_service). The totals are
   * not touched.
   */
  zeroService(serviceId: number, destIds: readonly number[]): void {
    this.zero(KIND_SERVICE, serviceId);
    for (const id of destIds) this.zero(KIND_DEST, id);
  }

  /** ipvsadm -Z: every record including the totals (kernel ip_vs_zero_all). */
  zeroAll(): void {
    const b = this.baseline;
    for (let i = 0; i < b.length; i++) {
      let v = 0;
      for (const d of this.shards) v += d[i]!;
      b[i] = v;
    }
  }
}
