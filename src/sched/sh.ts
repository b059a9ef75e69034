/**
 * sh: source hashing. Behaviour reference: kernel net/netfilter/ipvs/ip_vs_sh.c, ipvs-reference §3.
 *
 *  - Table of 2^bits buckets (default 8 bits = 256; SchedOptions.shTabBits, 4..20).
 *  - Fill: walk buckets 0..N-1 assigning dests round-robin in list order; each dest takes `weight`
 *    consecutive buckets (a weight-0 dest still takes one: the move-on test is ++count >= weight).
 *    Rebuilt on every update.
 *  - Bucket = (offset + hash_32(port + fold(saddr), bits)) & mask, u32 arithmetic; port is the
 *    source port only with sh-port (SVC_F_SCHED2) and a TCP/UDP/SCTP flow, else 0.
 *  - The chosen dest must have weight > 0 and not be OVERLOAD. Otherwise, without sh-fallback
 *    (SVC_F_SCHED1): no dest. With it: for offset = 0..N-1, rehash with roffset = (offset + first
 *    bucket) % N and return the first available dest.
 */
import { ERRNO, LvsError } from '../errors.js';
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler, SchedOptions } from './types.js';
import { SVC_F_SCHED_SH_FALLBACK, SVC_F_SCHED_SH_PORT } from './types.js';
import { EMPTY_DESTS, available, flowPort, foldAddr, hash32 } from './util.js';

class SourceHashScheduler implements Scheduler {
  readonly name = 'sh';
  private d: SchedDests = EMPTY_DESTS;
  private readonly bits: number;
  private readonly size: number;
  private readonly mask: number;
  private readonly fallback: boolean;
  private readonly usePort: boolean;
  /** bucket -> position, -1 when the list is empty */
  private readonly buckets: Int32Array;

  constructor(opts: SchedOptions) {
    const bits = opts.shTabBits ?? 8;
    if (!Number.isInteger(bits) || bits < 4 || bits > 20) {
      throw new LvsError('ERR_LVS_RANGE', 'sh table bits must be 4..20', ERRNO.EINVAL);
    }
    this.bits = bits;
    this.size = 1 << bits;
    this.mask = this.size - 1;
    const flags = opts.flags ?? 0;
    this.fallback = (flags & SVC_F_SCHED_SH_FALLBACK) !== 0;
    this.usePort = (flags & SVC_F_SCHED_SH_PORT) !== 0;
    this.buckets = new Int32Array(this.size).fill(-1);
  }

  update(dests: SchedDests, _prev: SchedDests | null): void {
    this.d = dests;
    const n = dests.count;
    let p = 0;
    let taken = 0;
    for (let b = 0; b < this.size; b++) {
      if (n === 0) {
        this.buckets[b] = -1;
        continue;
      }
      this.buckets[b] = p;
      if (++taken >= dests.weight[p]!) {
        taken = 0;
        p = p + 1 === n ? 0 : p + 1;
      }
    }
  }

  private bucket(key: number, offset: number): number {
    return (offset + hash32(key, this.bits)) & this.mask;
  }

  schedule(flow: SchedFlow, _now: number): number {
    const d = this.d;
    const key = ((this.usePort ? flowPort(flow) : 0) + foldAddr(flow.saddr, 0)) >>> 0;
    const ihash = this.bucket(key, 0);
    const pos = this.buckets[ihash]!;
    if (pos < 0) return -1;
    if (available(d, pos)) return pos;
    if (!this.fallback) return -1;
    for (let offset = 0; offset < this.size; offset++) {
      const roffset = (offset + ihash) % this.size;
      const p = this.buckets[this.bucket(key, roffset)]!;
      if (p >= 0 && available(d, p)) return p;
    }
    return -1;
  }

  gc(_now: number): void {}
}

registerScheduler('sh', (opts) => new SourceHashScheduler(opts));
