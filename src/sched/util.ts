/**
 * Helpers shared by the schedulers. Definitions follow ipvs-reference §3 "Common definitions":
 *  - available = weight > 0 and not OVERLOAD (unless a scheduler says otherwise);
 *  - overhead(d) = active * 256 + inactive (kernel ip_vs_dest_conn_overhead);
 *  - "h1/w1 > h2/w2" is decided as h1*w2 > h2*w1, exactly (the kernel uses __s64).
 */
import { DestLive, DEST_F_AVAILABLE, DEST_F_OVERLOAD } from '../conn/dest-live.js';
import type { SchedDests, SchedFlow } from './types.js';

/** The list a scheduler holds before its first update(): no destinations. */
export const EMPTY_DESTS: SchedDests = {
  count: 0,
  id: new Int32Array(0),
  weight: new Int32Array(0),
  lastWeight: new Int32Array(0),
  af: new Uint8Array(0),
  addr: new Uint32Array(0),
  port: new Uint16Array(0),
  live: new DestLive(0),
};

/** 2^53: every integer below it is an exact double. */
export const TWO_53 = 9007199254740992;

/**
 * a*b > c*d for integers, exact. Counters are Int32 and weights Int32, so a product is below 2^71 and
 * its double p = fl(a*b) is the exact product rounded to nearest, which is monotonic: p > q implies
 * a*b > c*d and p < q implies a*b < c*d. Only p === q >= 2^53 is undecided and needs the exact BigInt
 * comparison (mulGtExact), which allocates but only for counter values no real director reaches.
 * Equal doubles below 2^53 are exact, hence equal products. Hot loops inline this as
 * `p >= q && (p > q || (p >= TWO_53 && mulGtExact(a, b, c, d)))`: one compare per dest in the common
 * case (p < q).
 */
export function mulGt(a: number, b: number, c: number, d: number): boolean {
  const p = a * b;
  const q = c * d;
  return p >= q && (p > q || (p >= TWO_53 && mulGtExact(a, b, c, d)));
}

/** The exact (BigInt) a*b > c*d; only called when the double products are equal and >= 2^53. */
export function mulGtExact(a: number, b: number, c: number, d: number): boolean {
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/*
 * Counter reads. DestLive is shared memory written by every data-plane worker with Atomics; the
 * scheduler reads it with plain typed-array loads. That matches the kernel, whose schedulers read
 * these counters with atomic_read (a plain READ_ONCE load, no barrier): a decision may see a value a
 * moment old, never a torn one (ECMAScript memory model: aligned Int32Array accesses are tear-free).
 * Measured on Node 20: an lc-style scan costs ~32 ns per dest with Atomics.load against ~1.3 ns
 * with plain loads, and a decision over N dests reads up to 3N values.
 */

/** OVERLOAD flag of the dest at position i. */
export function overloaded(d: SchedDests, i: number): boolean {
  return (d.live.flags[d.id[i]!]! & DEST_F_OVERLOAD) !== 0;
}

/** AVAILABLE flag (cleared by the control plane when a dest leaves service) by dest id. */
export function availableFlag(d: SchedDests, id: number): boolean {
  return (d.live.flags[id]! & DEST_F_AVAILABLE) !== 0;
}

/** weight > 0 and not OVERLOAD. */
export function available(d: SchedDests, i: number): boolean {
  return d.weight[i]! > 0 && !overloaded(d, i);
}

export function activeConns(d: SchedDests, i: number): number {
  return d.live.active[d.id[i]!]!;
}

/** Kernel ip_vs_dest_conn_overhead: active * 256 + inactive. */
export function overhead(d: SchedDests, i: number): number {
  const id = d.id[i]!;
  return d.live.active[id]! * 256 + d.live.inactive[id]!;
}

export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/**
 * Weighted least-connection choice (ip_vs_wlc.c), also the "pick a new dest" step of lblc/lblcr:
 * the first non-overloaded dest with weight > 0 is the candidate; a later non-overloaded dest
 * replaces it only when overhead(least)*w(d) > overhead(d)*w(least). A later weight-0 dest can
 * never satisfy that, so it is not tested for explicitly. Returns a position or -1.
 */
export function wlcPick(d: SchedDests): number {
  // Arrays hoisted into locals: the loop is the whole cost of wlc/lblc/lblcr at scale.
  const n = d.count;
  const w = d.weight;
  const ids = d.id;
  const live = d.live;
  const flags = live.flags;
  const act = live.active;
  const ina = live.inactive;
  // Phase 1: the first non-overloaded dest with weight > 0.
  let i = 0;
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (; i < n; i++) {
    const wi = w[i]!;
    if (wi > 0) {
      const id = ids[i]!;
      if ((flags[id]! & DEST_F_OVERLOAD) === 0) {
        least = i;
        loh = act[id]! * 256 + ina[id]!;
        lw = wi;
        break;
      }
    }
  }
  // Phase 2: replace only when strictly better (loh*wi > doh*lw, see mulGt). The reads have no side
  // effects, so the OVERLOAD flag is read only for a dest that would win.
  for (i++; i < n; i++) {
    const id = ids[i]!;
    const wi = w[i]!;
    const doh = act[id]! * 256 + ina[id]!;
    const p = loh * wi;
    const q = doh * lw;
    if (
      p >= q &&
      (p > q || (p >= TWO_53 && mulGtExact(loh, wi, doh, lw))) &&
      (flags[id]! & DEST_F_OVERLOAD) === 0
    ) {
      least = i;
      loh = doh;
      lw = wi;
    }
  }
  return least;
}

/**
 * Kernel address fold for hashing: IPv4 is word 0; IPv6 is the XOR of the four words. Since an IPv4
 * address has words 1..3 = 0 (PacketView convention), the XOR of all four words is both. Words are
 * big-endian values (ntohl already applied), and XOR commutes with the byte swap, so this equals the
 * kernel's ntohl(addr_fold).
 */
export function foldAddr(words: Uint32Array, off: number): number {
  return (words[off]! ^ words[off + 1]! ^ words[off + 2]! ^ words[off + 3]!) >>> 0;
}

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;

/** Source port for sh-port / mh-port: only TCP, UDP and SCTP carry one; 0 otherwise. */
export function flowPort(flow: SchedFlow): number {
  const p = flow.proto;
  return p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP ? flow.sport & 0xffff : 0;
}

/** Kernel hash_32(x, bits) (include/linux/hash.h): (x * GOLDEN_RATIO_32) >> (32 - bits), in u32. */
export function hash32(x: number, bits: number): number {
  return Math.imul(x, 0x61c88647) >>> (32 - bits);
}

/** The older multiplicative hash still used by dh, lblc and lblcr: (x * 2654435761) & mask, in u32. */
export function knuthHash(x: number, mask: number): number {
  return (Math.imul(x, 2654435761 | 0) >>> 0) & mask;
}

/** Map from dest id to position in `d` (control plane; -1 = absent). */
export function positionsById(d: SchedDests): Int32Array {
  let max = -1;
  for (let i = 0; i < d.count; i++) if (d.id[i]! > max) max = d.id[i]!;
  const m = new Int32Array(max + 1).fill(-1);
  for (let i = 0; i < d.count; i++) m[d.id[i]!] = i;
  return m;
}
