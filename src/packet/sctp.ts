/**
 * CRC32c (Castagnoli, reflected polynomial 0x82F63B78) as SCTP uses it (RFC 9260 §6.8, Appendix A;
 * RFC 3309). Table-driven (slicing-by-4), tables built once at module load.
 * NAT rewrites ports, so the whole checksum is recomputed: CRC32c has no cheap incremental update.
 */

const POLY = 0x82f63b78;
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T0[n] = c;
}
for (let n = 0; n < 256; n++) {
  T1[n] = (T0[n]! >>> 8) ^ T0[T0[n]! & 0xff]!;
  T2[n] = (T1[n]! >>> 8) ^ T0[T1[n]! & 0xff]!;
  T3[n] = (T2[n]! >>> 8) ^ T0[T2[n]! & 0xff]!;
}

/** Continue a CRC32c over buf[off, off+len); start with crc = 0. Returns the finished u32. */
export function crc32c(buf: Uint8Array, off: number, len: number, crc = 0): number {
  let c = ~crc;
  let i = off;
  const end = off + len;
  const end4 = off + (len & ~3);
  while (i < end4) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = T3[c & 0xff]! ^ T2[(c >>> 8) & 0xff]! ^ T1[(c >>> 16) & 0xff]! ^ T0[c >>> 24]!;
    i += 4;
  }
  while (i < end) c = (c >>> 8) ^ T0[(c ^ buf[i++]!) & 0xff]!;
  return ~c >>> 0;
}

/**
 * Recompute the SCTP checksum of the packet whose common header is at l4Off and which ends at l3End:
 * CRC32c over the whole SCTP packet with the checksum field zeroed, stored in little-endian byte order
 * (RFC 9260 Appendix A: the CRC's least significant byte goes first on the wire).
 */
export function sctpUpdateChecksum(buf: Uint8Array, l4Off: number, l3End: number): void {
  const o = l4Off + 8;
  buf[o] = 0;
  buf[o + 1] = 0;
  buf[o + 2] = 0;
  buf[o + 3] = 0;
  const c = crc32c(buf, l4Off, l3End - l4Off);
  buf[o] = c & 0xff;
  buf[o + 1] = (c >>> 8) & 0xff;
  buf[o + 2] = (c >>> 16) & 0xff;
  buf[o + 3] = c >>> 24;
}

/** True when the stored SCTP checksum matches (the field is restored afterwards). */
export function sctpVerifyChecksum(buf: Uint8Array, l4Off: number, l3End: number): boolean {
  const o = l4Off + 8;
  const b0 = buf[o]!;
  const b1 = buf[o + 1]!;
  const b2 = buf[o + 2]!;
  const b3 = buf[o + 3]!;
  const stored = (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
  sctpUpdateChecksum(buf, l4Off, l3End);
  const ok = buf[o] === b0 && buf[o + 1] === b1 && buf[o + 2] === b2 && buf[o + 3] === b3;
  buf[o] = stored & 0xff;
  buf[o + 1] = (stored >>> 8) & 0xff;
  buf[o + 2] = (stored >>> 16) & 0xff;
  buf[o + 3] = stored >>> 24;
  return ok;
}
