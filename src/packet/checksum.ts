/**
 * Internet checksum (RFC 1071), incremental updates (RFC 1624) and the offload ("partial") case.
 *
 * Sums are plain JS numbers holding an unfolded one's-complement accumulator; they stay far below
 * 2^53 for any packet (64 KiB of 16-bit words is < 2^32), so callers may add several sums before one
 * fold(). A *checksum* is ~fold(sum) & 0xffff, the value stored on the wire.
 *
 * Partial checksums (virtio-net VIRTIO_NET_HDR_F_NEEDS_CSUM, Linux CHECKSUM_PARTIAL): the sending stack
 * left in the L4 checksum field the folded, NON-inverted pseudo-header sum; whoever finishes the job
 * sums from csum_start to the end of the packet (that field included) and stores ~fold(sum). Hence:
 *  - an address change alters the pseudo-header, so the field gets the same one's-complement delta, but
 *    applied to the stored value directly (no inversion before/after);
 *  - a port change is inside the summed range, so the later full sum picks it up: the field is untouched.
 *
 * Nothing here allocates; everything is safe on the hot path. Callers check bounds before calling.
 */
import { AF_INET6, IPPROTO_ICMP, IPPROTO_UDP } from './view.js';
import type { PacketView } from './view.js';
import { Drop } from './drop-reasons.js';

/** Unfolded sum of the 16-bit big-endian words in buf[off, off+len), odd trailing byte padded with 0. */
export function sumBytes(buf: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  let i = off;
  const end8 = off + (len & ~7);
  while (i < end8) {
    s +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
    i += 8;
  }
  const end2 = off + (len & ~1);
  while (i < end2) {
    s += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (len & 1) s += buf[i]! << 8;
  return s;
}

/** Fold an unfolded sum to 16 bits with end-around carry. Result is 0 only if the sum was 0. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** ~fold(sum): the value written into a checksum field. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Sum of one 32-bit word as two 16-bit halves. */
function sumWord(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}

/** One's-complement negation of a 32-bit word's halves (so adding it subtracts the word). */
function negWord(w: number): number {
  return ((~w >>> 16) & 0xffff) + (~w & 0xffff);
}

function read16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

function write16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

// ------------------------------------------------------------------ IPv4 header (RFC 791)

/** Checksum of the IPv4 header at off (hlen bytes) computed as if its checksum field were 0. */
export function ipv4HeaderChecksum(buf: Uint8Array, off: number, hlen: number): number {
  const s = sumBytes(buf, off, hlen, 0) + (0xffff - read16(buf, off + 10));
  return finish(s);
}

/** Recompute and store the IPv4 header checksum (IHL read from the header). */
export function ipv4SetHeaderChecksum(buf: Uint8Array, off: number): void {
  const hlen = (buf[off]! & 0x0f) << 2;
  write16(buf, off + 10, 0);
  write16(buf, off + 10, finish(sumBytes(buf, off, hlen, 0)));
}

/** True when the IPv4 header checksum verifies (parseFrame / parseL3 drop a header that does not). */
export function ipv4VerifyHeaderChecksum(buf: Uint8Array, off: number, hlen: number): boolean {
  return fold(sumBytes(buf, off, hlen, 0)) === 0xffff;
}

// ------------------------------------------------------------------ pseudo-header (RFC 793/768, RFC 8200 §8.1)

/** Unfolded pseudo-header sum from address words (4 words each at offset 0). */
export function pseudoHeaderSumWords(
  af: number,
  saddr: Uint32Array,
  daddr: Uint32Array,
  proto: number,
  l4Len: number,
): number {
  let s = sumWord(saddr[0]!) + sumWord(daddr[0]!);
  if (af === AF_INET6) {
    s += sumWord(saddr[1]!) + sumWord(saddr[2]!) + sumWord(saddr[3]!);
    s += sumWord(daddr[1]!) + sumWord(daddr[2]!) + sumWord(daddr[3]!);
  }
  return s + proto + sumWord(l4Len >>> 0);
}

/** Unfolded pseudo-header sum read from the IP header at l3Off (addresses as they are in buf now). */
export function pseudoHeaderSum(
  buf: Uint8Array,
  l3Off: number,
  af: number,
  proto: number,
  l4Len: number,
): number {
  const s = af === AF_INET6 ? sumBytes(buf, l3Off + 8, 32, 0) : sumBytes(buf, l3Off + 12, 8, 0);
  return s + proto + sumWord(l4Len >>> 0);
}

// ------------------------------------------------------------------ full L4 checksums

/**
 * Compute the L4 checksum of the packet described by v (TCP, UDP, ICMPv6 with pseudo-header; ICMP
 * without), treating the checksum field as 0. Returns the wire value, or -Drop.UnknownL4Protocol
 * when v has no checksum we maintain, or it is a fragment (the L4 data is not all here).
 * UDP/IPv4: a computed 0 is returned as 0xffff (RFC 768: 0 means "no checksum").
 */
export function l4ChecksumCompute(buf: Uint8Array, v: PacketView): number {
  if (v.l4CsumOff < 0 || v.l4Off < 0 || v.isFragment) return -Drop.UnknownL4Protocol;
  const len = v.l3End - v.l4Off;
  let s = sumBytes(buf, v.l4Off, len, 0) + (0xffff - read16(buf, v.l4CsumOff));
  if (v.proto !== IPPROTO_ICMP) s += pseudoHeaderSum(buf, v.l3Off, v.af, v.proto, len);
  const c = finish(s);
  if (c === 0 && v.proto === IPPROTO_UDP) return 0xffff;
  return c;
}

/** Recompute and store the full L4 checksum. Returns 0 or -Drop (see l4ChecksumCompute). */
export function l4ChecksumSet(buf: Uint8Array, v: PacketView): number {
  const c = l4ChecksumCompute(buf, v);
  if (c < 0) return c;
  write16(buf, v.l4CsumOff, c);
  return 0;
}

/** True when the stored L4 checksum verifies (UDP/IPv4 with checksum 0 counts as valid). */
export function l4ChecksumVerify(buf: Uint8Array, v: PacketView): boolean {
  if (v.l4CsumOff < 0 || v.l4Off < 0 || v.isFragment) return false;
  const len = v.l3End - v.l4Off;
  if (v.proto === IPPROTO_UDP && v.af !== AF_INET6 && read16(buf, v.l4CsumOff) === 0) return true;
  let s = sumBytes(buf, v.l4Off, len, 0);
  if (v.proto !== IPPROTO_ICMP) s += pseudoHeaderSum(buf, v.l3Off, v.af, v.proto, len);
  return fold(s) === 0xffff;
}

/** Store the partial (pseudo-header-only, non-inverted) checksum as an offloading stack would. */
export function l4ChecksumSetPartial(buf: Uint8Array, v: PacketView): number {
  if (v.l4CsumOff < 0 || v.l4Off < 0 || v.proto === IPPROTO_ICMP) return -Drop.UnknownL4Protocol;
  write16(buf, v.l4CsumOff, fold(pseudoHeaderSum(buf, v.l3Off, v.af, v.proto, v.l3End - v.l4Off)));
  return 0;
}

/**
 * Finish a partial checksum as the NIC / skb_checksum_help would: sum [csumStart, end) (the field
 * holds the pseudo-header sum) and store ~fold at csumStart + csumOffset. A result of 0 is stored as
 * 0xffff (equal in one's complement; required for UDP). Offsets are absolute.
 */
export function finalizePartial(buf: Uint8Array, csumStart: number, csumOffset: number, end: number): void {
  const c = finish(sumBytes(buf, csumStart, end - csumStart, 0));
  write16(buf, csumStart + csumOffset, c === 0 ? 0xffff : c);
}

// ------------------------------------------------------------------ incremental (RFC 1624)

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 16-bit field changing from oldV to newV. */
export function csumReplace16(csum: number, oldV: number, newV: number): number {
  return finish((~csum & 0xffff) + (~oldV & 0xffff) + (newV & 0xffff));
}

/** RFC 1624 eqn. 3 for a 32-bit field (two 16-bit halves). */
export function csumReplace32(csum: number, oldV: number, newV: number): number {
  return finish((~csum & 0xffff) + negWord(oldV) + sumWord(newV >>> 0));
}

/** Unfolded delta (~old + new) for an address change; 1 word for IPv4, 4 for IPv6. */
export function addressDelta(
  oldWords: Uint32Array,
  newWords: Uint32Array,
  af: number,
  oldOff: number,
  newOff: number,
): number {
  let d = negWord(oldWords[oldOff]!) + sumWord(newWords[newOff]!);
  if (af === AF_INET6) {
    for (let i = 1; i < 4; i++) d += negWord(oldWords[oldOff + i]!) + sumWord(newWords[newOff + i]!);
  }
  return d;
}

/**
 * Apply an unfolded delta to the checksum field at csumOff.
 *  - full (partial=false): RFC 1624 on the inverted value; with isUdp4, a stored 0 ("no checksum",
 *    RFC 768) stays 0 and a result of 0 is stored as 0xffff.
 *  - partial=true: the field is a non-inverted pseudo-header sum; add the delta to it as stored.
 */
export function applyChecksumDelta(
  buf: Uint8Array,
  csumOff: number,
  delta: number,
  partial: boolean,
  isUdp4: boolean,
): void {
  const cur = read16(buf, csumOff);
  if (partial) {
    write16(buf, csumOff, fold(cur + delta));
    return;
  }
  if (isUdp4 && cur === 0) return;
  let c = finish((~cur & 0xffff) + delta);
  if (isUdp4 && c === 0) c = 0xffff;
  write16(buf, csumOff, c);
}

/**
 * The L4 checksum (TCP, UDP, ICMPv6: anything whose pseudo-header carries the address) after an
 * address changed from oldWords[oldOff..] to newWords[newOff..]. ICMPv4 has no pseudo-header: do not
 * call this for it. The IPv4 header checksum is separate (ipv4SetHeaderChecksum or csumReplace32).
 */
export function updateL4ForAddressChange(
  buf: Uint8Array,
  csumOff: number,
  oldWords: Uint32Array,
  newWords: Uint32Array,
  af: number,
  partial: boolean,
  isUdp4: boolean,
  oldOff = 0,
  newOff = 0,
): void {
  applyChecksumDelta(buf, csumOff, addressDelta(oldWords, newWords, af, oldOff, newOff), partial, isUdp4);
}

/**
 * The L4 checksum after a port (or any other 16-bit field inside the L4 header) changed. With a partial
 * checksum the field is left alone: the port lies inside the range the final sum covers.
 */
export function updateL4ForPortChange(
  buf: Uint8Array,
  csumOff: number,
  oldPort: number,
  newPort: number,
  partial: boolean,
  isUdp4: boolean,
): void {
  if (partial) return;
  applyChecksumDelta(buf, csumOff, (~oldPort & 0xffff) + (newPort & 0xffff), false, isUdp4);
}

/**
 * Change a 16-bit field inside the L4 header that is NOT part of the pseudo-header (port, MSS option,
 * ICMP id). Identical to updateL4ForPortChange; named for readability at call sites.
 */
export const updateL4ForPayloadField16 = updateL4ForPortChange;

/**
 * Change the L4 length (e.g. after trimming); the pseudo-header carries it, so partial checksums do
 * need the delta here. (For IPv6 the length is 32-bit in the pseudo-header; both halves.)
 */
export function updateL4ForLengthChange(
  buf: Uint8Array,
  csumOff: number,
  oldLen: number,
  newLen: number,
  partial: boolean,
  isUdp4: boolean,
): void {
  applyChecksumDelta(buf, csumOff, negWord(oldLen >>> 0) + sumWord(newLen >>> 0), partial, isUdp4);
}

/** Rewrite an IPv4 address field at addrOff and fix the IPv4 header checksum incrementally. */
export function ipv4ReplaceAddress(buf: Uint8Array, l3Off: number, addrOff: number, newAddr: number): void {
  const old =
    ((buf[addrOff]! << 24) | (buf[addrOff + 1]! << 16) | (buf[addrOff + 2]! << 8) | buf[addrOff + 3]!) >>> 0;
  buf[addrOff] = newAddr >>> 24;
  buf[addrOff + 1] = (newAddr >>> 16) & 0xff;
  buf[addrOff + 2] = (newAddr >>> 8) & 0xff;
  buf[addrOff + 3] = newAddr & 0xff;
  write16(buf, l3Off + 10, csumReplace32(read16(buf, l3Off + 10), old, newAddr >>> 0));
}

/** Decrement the IPv4 TTL and fix the header checksum incrementally (RFC 1624 §4). */
export function ipv4DecrementTtl(buf: Uint8Array, l3Off: number): void {
  const oldW = read16(buf, l3Off + 8);
  buf[l3Off + 8] = (buf[l3Off + 8]! - 1) & 0xff;
  write16(buf, l3Off + 10, csumReplace16(read16(buf, l3Off + 10), oldW, read16(buf, l3Off + 8)));
}
