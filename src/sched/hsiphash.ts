/**
 * hsiphash as the Linux kernel computes it on 64-bit machines (lib/siphash.c, BITS_PER_LONG == 64):
 * SipHash-1-3 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012) over 64-bit lanes with
 * a key of two 64-bit words, output truncated to its low 32 bits. Verified against the kernel's own
 * self-test vectors (lib/siphash_kunit.c, test_vectors_hsiphash, 64-bit branch) in
 * test/sched/hsiphash.test.ts.
 *
 * JavaScript has no u64 arithmetic without BigInt, so each lane is a (hi, lo) pair of u32 held in
 * module-level variables: no allocation per hash. Every lane value is kept as an unsigned u32
 * (`>>> 0`) so the carry test of the 64-bit addition stays exact.
 */

let v0h = 0;
let v0l = 0;
let v1h = 0;
let v1l = 0;
let v2h = 0;
let v2l = 0;
let v3h = 0;
let v3l = 0;

/** One SipRound (paper §2): ARX network on the four lanes. */
function sipRound(): void {
  let s = 0;
  let h = 0;
  let l = 0;
  // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
  s = v0l + v1l;
  v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = s >>> 0;
  h = v1h;
  l = v1l;
  v1h = (((h << 13) | (l >>> 19)) ^ v0h) >>> 0;
  v1l = (((l << 13) | (h >>> 19)) ^ v0l) >>> 0;
  h = v0h;
  v0h = v0l;
  v0l = h;
  // v2 += v3; v3 <<<= 16; v3 ^= v2
  s = v2l + v3l;
  v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = s >>> 0;
  h = v3h;
  l = v3l;
  v3h = (((h << 16) | (l >>> 16)) ^ v2h) >>> 0;
  v3l = (((l << 16) | (h >>> 16)) ^ v2l) >>> 0;
  // v0 += v3; v3 <<<= 21; v3 ^= v0
  s = v0l + v3l;
  v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = s >>> 0;
  h = v3h;
  l = v3l;
  v3h = (((h << 21) | (l >>> 11)) ^ v0h) >>> 0;
  v3l = (((l << 21) | (h >>> 11)) ^ v0l) >>> 0;
  // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
  s = v2l + v1l;
  v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = s >>> 0;
  h = v1h;
  l = v1l;
  v1h = (((h << 17) | (l >>> 15)) ^ v2h) >>> 0;
  v1l = (((l << 17) | (h >>> 15)) ^ v2l) >>> 0;
  h = v2h;
  v2h = v2l;
  v2l = h;
}

/** Initialisation (paper §2): the constants "somepseudorandomlygeneratedbytes" xor the key words. */
function init(k0h: number, k0l: number, k1h: number, k1l: number): void {
  v0h = (0x736f6d65 ^ k0h) >>> 0;
  v0l = (0x70736575 ^ k0l) >>> 0;
  v1h = (0x646f7261 ^ k1h) >>> 0;
  v1l = (0x6e646f6d ^ k1l) >>> 0;
  v2h = (0x6c796765 ^ k0h) >>> 0;
  v2l = (0x6e657261 ^ k0l) >>> 0;
  v3h = (0x74656462 ^ k1h) >>> 0;
  v3l = (0x79746573 ^ k1l) >>> 0;
}

function compress(mh: number, ml: number, cRounds: number): void {
  v3h = (v3h ^ mh) >>> 0;
  v3l = (v3l ^ ml) >>> 0;
  for (let i = 0; i < cRounds; i++) sipRound();
  v0h = (v0h ^ mh) >>> 0;
  v0l = (v0l ^ ml) >>> 0;
}

function finish(dRounds: number): void {
  v2l = (v2l ^ 0xff) >>> 0;
  for (let i = 0; i < dRounds; i++) sipRound();
}

/**
 * Kernel hsiphash() of one u32 in host (little-endian) byte order, i.e. a 4-byte message: the only
 * block is the final one, (len = 4) << 56 | value. Key words are given as (hi, lo) u32 halves.
 *
 * This is the per-decision path of mh, so it is written with local int32 lanes only (module-level
 * u32 variables above 2^31 would be boxed as heap numbers on every store). The 64-bit add computes
 * the low-word sum in a double (exact, < 2^33) to get the carry.
 */
export function hsiphash32(value: number, k0h: number, k0l: number, k1h: number, k1l: number): number {
  let a0h = 0x736f6d65 ^ k0h;
  let a0l = 0x70736575 ^ k0l;
  let a1h = 0x646f7261 ^ k1h;
  let a1l = 0x6e646f6d ^ k1l;
  let a2h = 0x6c796765 ^ k0h;
  let a2l = 0x6e657261 ^ k0l;
  let a3h = 0x74656462 ^ k1h;
  let a3l = 0x79746573 ^ k1l ^ value; // v3 ^= b, b = 4 << 56 | value
  a3h ^= 0x04000000;
  let s = 0;
  let h = 0;
  let l = 0;
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      // after the single compression round: v0 ^= b; finalisation: v2 ^= 0xff
      a0h ^= 0x04000000;
      a0l ^= value;
      a2l ^= 0xff;
    }
    s = (a0l >>> 0) + (a1l >>> 0);
    a0h = (a0h + a1h + (s > 0xffffffff ? 1 : 0)) | 0;
    a0l = s | 0;
    h = a1h;
    l = a1l;
    a1h = ((h << 13) | (l >>> 19)) ^ a0h;
    a1l = ((l << 13) | (h >>> 19)) ^ a0l;
    h = a0h;
    a0h = a0l;
    a0l = h;
    s = (a2l >>> 0) + (a3l >>> 0);
    a2h = (a2h + a3h + (s > 0xffffffff ? 1 : 0)) | 0;
    a2l = s | 0;
    h = a3h;
    l = a3l;
    a3h = ((h << 16) | (l >>> 16)) ^ a2h;
    a3l = ((l << 16) | (h >>> 16)) ^ a2l;
    s = (a0l >>> 0) + (a3l >>> 0);
    a0h = (a0h + a3h + (s > 0xffffffff ? 1 : 0)) | 0;
    a0l = s | 0;
    h = a3h;
    l = a3l;
    a3h = ((h << 21) | (l >>> 11)) ^ a0h;
    a3l = ((l << 21) | (h >>> 11)) ^ a0l;
    s = (a2l >>> 0) + (a1l >>> 0);
    a2h = (a2h + a1h + (s > 0xffffffff ? 1 : 0)) | 0;
    a2l = s | 0;
    h = a1h;
    l = a1l;
    a1h = ((h << 17) | (l >>> 15)) ^ a2h;
    a1l = ((l << 17) | (h >>> 15)) ^ a2l;
    h = a2h;
    a2h = a2l;
    a2l = h;
  }
  return (a0l ^ a1l ^ a2l ^ a3l) >>> 0;
}

/** Result of sipHashBytes: high and low u32 of the 64-bit output. */
export const sipOut = new Uint32Array(2);

/**
 * Generic SipHash-c-d over bytes (control plane and tests only): writes the 64-bit output to sipOut.
 * With c=1, d=3 its low word is the kernel's 64-bit hsiphash of the same bytes.
 */
export function sipHashBytes(
  msg: Uint8Array,
  k0h: number,
  k0l: number,
  k1h: number,
  k1l: number,
  cRounds: number,
  dRounds: number,
): void {
  init(k0h, k0l, k1h, k1l);
  const full = msg.length & ~7;
  for (let i = 0; i < full; i += 8) {
    const ml = (msg[i]! | (msg[i + 1]! << 8) | (msg[i + 2]! << 16) | (msg[i + 3]! << 24)) >>> 0;
    const mh = (msg[i + 4]! | (msg[i + 5]! << 8) | (msg[i + 6]! << 16) | (msg[i + 7]! << 24)) >>> 0;
    compress(mh, ml, cRounds);
  }
  let bh = (msg.length & 0xff) << 24;
  let bl = 0;
  for (let i = full; i < msg.length; i++) {
    const k = i - full;
    if (k < 4) bl |= msg[i]! << (8 * k);
    else bh |= msg[i]! << (8 * (k - 4));
  }
  compress(bh >>> 0, bl >>> 0, cRounds);
  finish(dRounds);
  sipOut[0] = v0h ^ v1h ^ v2h ^ v3h;
  sipOut[1] = v0l ^ v1l ^ v2l ^ v3l;
}
