/**
 * mh: Maglev hashing. Algorithm: Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, §3.4 (permutation tables, round-robin population). Kernel-compatible details
 * (behaviour reference: net/netfilter/ipvs/ip_vs_mh.c, ipvs-reference §3):
 *
 *  - Table size M is a prime from MH_PRIMES (default 4093); TAB_BITS = index / 2 where 251 is index 8.
 *  - key(addr, port, offset) = hsiphash(u32 v = offset + port + fold(addr)) (see hsiphash.ts) with
 *    key1 = {2654435761, 2654435761} or key2 = {2654446892, 2654446892} (two 64-bit words).
 *  - Per dest (its address and port): offset = key1(.., 0) % M, skip = key2(.., 0) % (M - 1) + 1.
 *  - Weights use last_weight, so a quiesced (weight 0) dest keeps its slots (it is then unavailable
 *    and the fallback applies): g = gcd of positive last weights, rshift = max(0, fls(maxw / g) -
 *    TAB_BITS), turns = (lw / g) >> rshift, or 1 if that is 0 and lw != 0; turns 0 = no slots.
 *  - Populate: round-robin over dests in list order; each dest claims `turns` slots per round, each
 *    time its next free preferred slot (perm += skip mod M), until all M slots are filled.
 *  - More dests than M: ERR_LVS_SCHED_FAILED (kernel EINVAL).
 *  - Lookup: table[key1(saddr, port, 0) % M]; port = source port only with mh-port (SVC_F_SCHED2)
 *    on TCP/UDP/SCTP. The dest must have weight > 0 and not be OVERLOAD. With mh-fallback
 *    (SVC_F_SCHED1): for offset = 0..M-1, roffset = (offset + first slot) % M, rehash with roffset
 *    and return the first available dest.
 */
import { ERRNO, LvsError } from '../errors.js';
import { hsiphash32 } from './hsiphash.js';
import { registerScheduler } from './registry.js';
import type { SchedDests, SchedFlow, Scheduler, SchedOptions } from './types.js';
import { SVC_F_SCHED_MH_FALLBACK, SVC_F_SCHED_MH_PORT } from './types.js';
import { EMPTY_DESTS, available, flowPort, foldAddr, gcd } from './util.js';

/** CONFIG_IP_VS_MH_TAB_INDEX 8..17 -> table size. */
export const MH_PRIMES: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
export const MH_DEFAULT_TABLE_SIZE = 4093;

const KEY1 = 2654435761;
const KEY2 = 2654446892;

/** hsiphash with key {k, k}: both 64-bit key words equal k (< 2^32), so their high halves are 0. */
function mhHash(v: number, k: number): number {
  return hsiphash32(v, 0, k, 0, k);
}

/** Position of the highest set bit, 1-based (kernel fls); fls(0) = 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

class MaglevScheduler implements Scheduler {
  readonly name = 'mh';
  private d: SchedDests = EMPTY_DESTS;
  private readonly m: number;
  private readonly tabBits: number;
  private readonly fallback: boolean;
  private readonly usePort: boolean;
  /** slot -> position, -1 if no dest owns it (empty list, or no dest with last weight > 0) */
  private readonly lookup: Int32Array;
  private readonly used: Uint8Array;
  private perm = new Int32Array(0);
  private skip = new Int32Array(0);
  private turns = new Int32Array(0);

  constructor(opts: SchedOptions) {
    const m = opts.mhTableSize ?? MH_DEFAULT_TABLE_SIZE;
    const index = MH_PRIMES.indexOf(m);
    if (index < 0) {
      throw new LvsError(
        'ERR_LVS_RANGE',
        `mh table size must be one of ${MH_PRIMES.join(', ')}`,
        ERRNO.EINVAL,
      );
    }
    this.m = m;
    this.tabBits = (index + 8) >> 1;
    const flags = opts.flags ?? 0;
    this.fallback = (flags & SVC_F_SCHED_MH_FALLBACK) !== 0;
    this.usePort = (flags & SVC_F_SCHED_MH_PORT) !== 0;
    this.lookup = new Int32Array(m).fill(-1);
    this.used = new Uint8Array(m);
  }

  update(dests: SchedDests, _prev: SchedDests | null): void {
    const n = dests.count;
    const m = this.m;
    if (n > m) {
      throw new LvsError(
        'ERR_LVS_SCHED_FAILED',
        `mh: ${n} destinations exceed table size ${m}`,
        ERRNO.EINVAL,
      );
    }
    if (this.perm.length < n) {
      this.perm = new Int32Array(n);
      this.skip = new Int32Array(n);
      this.turns = new Int32Array(n);
    }
    let g = 0;
    let maxw = 0;
    for (let i = 0; i < n; i++) {
      const lw = dests.lastWeight[i]!;
      if (lw > 0) g = g > 0 ? gcd(lw, g) : lw;
      if (lw > maxw) maxw = lw;
    }
    const rshift = g < 1 ? 0 : Math.max(0, fls(Math.trunc(maxw / g)) - this.tabBits);
    let anyTurns = false;
    for (let i = 0; i < n; i++) {
      const v = (dests.port[i]! + foldAddr(dests.addr, i * 4)) >>> 0;
      this.perm[i] = mhHash(v, KEY1) % m;
      this.skip[i] = (mhHash(v, KEY2) % (m - 1)) + 1;
      const lw = dests.lastWeight[i]!;
      const t = lw > 0 ? Math.trunc(lw / g) >> rshift : 0;
      this.turns[i] = t !== 0 ? t : lw > 0 ? 1 : 0;
      if (this.turns[i]! > 0) anyTurns = true;
    }
    this.lookup.fill(-1);
    this.used.fill(0);
    // With no dest owning turns the kernel loop would never finish; leave every slot empty instead.
    if (anyTurns) {
      let filled = 0;
      let p = 0;
      let claimed = 0;
      while (filled < m) {
        const t = this.turns[p]!;
        if (t > 0) {
          let c = this.perm[p]!;
          const s = this.skip[p]!;
          while (this.used[c] !== 0) {
            c += s;
            if (c >= m) c -= m;
          }
          this.perm[p] = c;
          this.used[c] = 1;
          this.lookup[c] = p;
          filled++;
          if (++claimed < t) continue;
        }
        claimed = 0;
        p = p + 1 === n ? 0 : p + 1;
      }
    }
    this.d = dests;
  }

  schedule(flow: SchedFlow, _now: number): number {
    const d = this.d;
    const m = this.m;
    const base = ((this.usePort ? flowPort(flow) : 0) + foldAddr(flow.saddr, 0)) >>> 0;
    const ihash = mhHash(base, KEY1) % m;
    const pos = this.lookup[ihash]!;
    if (pos < 0) return -1;
    if (available(d, pos)) return pos;
    if (!this.fallback) return -1;
    for (let offset = 0; offset < m; offset++) {
      const roffset = (offset + ihash) % m;
      const p = this.lookup[mhHash((roffset + base) >>> 0, KEY1) % m]!;
      if (p < 0) return -1;
      if (available(d, p)) return p;
    }
    return -1;
  }

  gc(_now: number): void {}
}

registerScheduler('mh', (opts) => new MaglevScheduler(opts));
