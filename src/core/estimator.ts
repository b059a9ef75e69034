/**
 * The kernel's rate estimator (ip_vs_est.c; ipvs-reference §4.6), exactly:
 *  - every 2 s, per tracked record, delta of conns, inpkts, outpkts, inbytes, outbytes;
 *  - cps/pps: rate = delta << 9 (x 2^10 / 2 s); bps: rate = delta << 4 (x 2^5 / 2 s);
 *  - EWMA with W = 1/4: avg += (rate - avg) >> 2, an arithmetic (flooring) shift of a signed value;
 *  - reported: cps/pps = (avg + 0x1FF) >> 10, bps = (avg + 0xF) >> 5 (BPS are bytes per second).
 * The averages are kept in BigInt: byte rates scaled by 2^4 exceed 2^53 well before the counters do,
 * and this runs every 2 s per record, never per packet.
 *
 * No timers inside: the owner calls tick(nowMs) (DESIGN.md hot-path rule 10: one coarse timer).
 * A tick that comes more than one period late runs a single estimation over the whole delta, as a
 * late kernel timer does, and re-phases the next run to now + 2 s.
 * -Z: zero(kind, id) / zeroAll() after the StatsReader was zeroed (kernel ip_vs_zero_estimator: last
 * values = current counters, averages = 0).
 */
import { KIND_DEST, KIND_SERVICE, KIND_TOTAL, STAT_FIELDS } from './stats.js';
import type { StatKind } from './stats.js';

export const ESTIMATOR_INTERVAL_MS = 2000;

export interface RateValues {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** What the estimator reads: StatsReader satisfies it. */
export interface CounterSource {
  readInto(kind: StatKind, id: number, out: Float64Array | number[]): void;
}

/** per field: left shift applied to the delta, and (round, shift) for reporting */
const SCALE_IN = [9n, 9n, 9n, 4n, 4n];
const ROUND = [0x1ffn, 0x1ffn, 0x1ffn, 0xfn, 0xfn];
const SCALE_OUT = [10n, 10n, 10n, 5n, 5n];

interface Est {
  readonly last: bigint[];
  readonly avg: bigint[];
}

function keyOf(kind: StatKind, id: number): number {
  return kind * 0x1_0000_0000 + id;
}

export class RateEstimator {
  private readonly source: CounterSource;
  private readonly ests = new Map<number, Est>();
  private readonly buf = new Float64Array(STAT_FIELDS);
  /** time of the next estimation; NaN until the first tick */
  private next = NaN;

  constructor(source: CounterSource) {
    this.source = source;
    this.track(KIND_TOTAL, 0);
  }

  private current(kind: StatKind, id: number): bigint[] {
    this.source.readInto(kind, id, this.buf);
    const v: bigint[] = [];
    for (let f = 0; f < STAT_FIELDS; f++) v.push(BigInt(this.buf[f]!));
    return v;
  }

  /** Start estimating (kind, id); its first delta counts from now. No-op when already tracked. */
  track(kind: StatKind, id: number): void {
    const k = keyOf(kind, id);
    if (this.ests.has(k)) return;
    this.ests.set(k, { last: this.current(kind, id), avg: [0n, 0n, 0n, 0n, 0n] });
  }

  untrack(kind: StatKind, id: number): void {
    if (kind !== KIND_TOTAL) this.ests.delete(keyOf(kind, id));
  }

  /** Track exactly these services and dests (plus the totals), e.g. after every table change. */
  sync(serviceIds: Iterable<number>, destIds: Iterable<number>): void {
    const want = new Set<number>([keyOf(KIND_TOTAL, 0)]);
    for (const id of serviceIds) {
      want.add(keyOf(KIND_SERVICE, id));
      this.track(KIND_SERVICE, id);
    }
    for (const id of destIds) {
      want.add(keyOf(KIND_DEST, id));
      this.track(KIND_DEST, id);
    }
    for (const k of [...this.ests.keys()]) if (!want.has(k)) this.ests.delete(k);
  }

  /** Run the estimation if a period has elapsed. Returns true when it ran. */
  tick(nowMs: number): boolean {
    if (Number.isNaN(this.next)) {
      this.next = nowMs + ESTIMATOR_INTERVAL_MS;
      return false;
    }
    if (nowMs < this.next) return false;
    this.estimate();
    this.next += ESTIMATOR_INTERVAL_MS;
    if (nowMs >= this.next) this.next = nowMs + ESTIMATOR_INTERVAL_MS;
    return true;
  }

  /** One 2-second estimation step over every tracked record (kernel estimation_timer body). */
  estimate(): void {
    for (const [k, e] of this.ests) {
      const kind = Math.floor(k / 0x1_0000_0000) as StatKind;
      const cur = this.current(kind, k - kind * 0x1_0000_0000);
      for (let f = 0; f < STAT_FIELDS; f++) {
        const rate = (cur[f]! - e.last[f]!) << SCALE_IN[f]!;
        e.last[f] = cur[f]!;
        e.avg[f] = e.avg[f]! + ((rate - e.avg[f]!) >> 2n);
      }
    }
  }

  /** Reported rates of (kind, id); zeros when not tracked. */
  rates(kind: StatKind, id = 0): RateValues {
    const e = this.ests.get(keyOf(kind, id));
    if (!e) return { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
    const r = (f: number): number => Number((e.avg[f]! + ROUND[f]!) >> SCALE_OUT[f]!);
    return { cps: r(0), inpps: r(1), outpps: r(2), inbps: r(3), outbps: r(4) };
  }

  /** The scaled averages (cps, inpps, outpps << 10; inbps, outbps << 5) of (kind, id), for tests and debugging. */
  averages(kind: StatKind, id = 0): readonly bigint[] | undefined {
    const e = this.ests.get(keyOf(kind, id));
    return e ? e.avg.slice() : undefined;
  }

  /** -Z of one record: call after the counters were zeroed. */
  zero(kind: StatKind, id = 0): void {
    const e = this.ests.get(keyOf(kind, id));
    if (!e) return;
    const cur = this.current(kind, id);
    for (let f = 0; f < STAT_FIELDS; f++) {
      e.last[f] = cur[f]!;
      e.avg[f] = 0n;
    }
  }

  /** -Z of everything tracked. */
  zeroAll(): void {
    for (const k of this.ests.keys()) {
      const kind = Math.floor(k / 0x1_0000_0000) as StatKind;
      this.zero(kind, k - kind * 0x1_0000_0000);
    }
  }
}
