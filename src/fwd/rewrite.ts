/**
 * In-place address and port rewriting of a parsed packet, the core of NAT and FullNAT.
 *
 * Checksums are updated incrementally (RFC 1624): the IPv4 header checksum for the address; the L4
 * checksum for the pseudo-header address change and for the port. With a partial checksum (virtio
 * NEEDS_CSUM, see src/packet/checksum.ts) only the address delta is applied to the field as stored
 * and the port change is left to whoever completes the sum. SCTP has no pseudo-header; its CRC32c
 * covers the ports and is recomputed whole (ipvs-reference §5.2). ICMPv4 has no pseudo-header.
 *
 * Fragments: a non-first fragment has no L4 header (v.l4Off < 0): only the IP header changes. The
 * first fragment's L4 checksum covers the whole datagram, and an incremental update stays correct.
 *
 * After a rewrite the view reflects the new values (v.saddr/v.sport or v.daddr/v.dport), so a later
 * step sees the packet as it now is. No allocation.
 */
import {
  applyChecksumDelta,
  addressDelta,
  csumReplace32,
  updateL4ForPortChange,
} from '../packet/checksum.js';
import { writeAddr } from '../packet/addr.js';
import { sctpUpdateChecksum } from '../packet/sctp.js';
import type { PacketView } from '../packet/view.js';
import { AF_INET, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/view.js';

function read16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
function write16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/**
 * Replace the source (which=0) or destination (which=1) address and port.
 * newPort < 0 keeps the port. `partial`: the frame's L4 checksum is a partial (offloaded) one.
 * hops=1 also decrements the TTL / hop limit (a forwarded packet), in the same header update.
 */
export function rewriteAddrPort(
  buf: Uint8Array,
  v: PacketView,
  which: 0 | 1,
  newAddr: Uint32Array,
  newOff: number,
  newPort: number,
  partial: boolean,
  hops: 0 | 1 = 0,
): void {
  const af = v.af;
  if (af === AF_INET) {
    rewriteV4(buf, v, which, newAddr[newOff]!, newPort, partial, hops);
    return;
  }
  const l3 = v.l3Off;
  if (hops !== 0) buf[l3 + 7] = buf[l3 + 7]! - 1; // hop limit: no IPv6 header checksum
  const cur = which === 0 ? v.saddr : v.daddr;
  const addrOff = af === AF_INET ? l3 + (which === 0 ? 12 : 16) : l3 + (which === 0 ? 8 : 24);
  const proto = v.proto;
  const hasL4 = v.l4Off >= 0;
  const isUdp4 = af === AF_INET && proto === IPPROTO_UDP;
  // L4 pseudo-header part (not for ICMPv4 or SCTP, which have no pseudo-header)
  if (hasL4 && v.l4CsumOff >= 0 && proto !== IPPROTO_ICMP && proto !== IPPROTO_SCTP) {
    applyChecksumDelta(buf, v.l4CsumOff, addressDelta(cur, newAddr, af, 0, newOff), partial, isUdp4);
  }
  if (af === AF_INET) {
    write16(buf, l3 + 10, csumReplace32(read16(buf, l3 + 10), cur[0]!, newAddr[newOff]!));
  }
  writeAddr(buf, addrOff, af, newAddr, newOff);
  cur[0] = newAddr[newOff]!;
  cur[1] = newAddr[newOff + 1]!;
  cur[2] = newAddr[newOff + 2]!;
  cur[3] = newAddr[newOff + 3]!;
  if (newPort >= 0 && hasL4 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
    const portOff = v.l4Off + (which === 0 ? 0 : 2);
    const oldPort = read16(buf, portOff);
    if (oldPort !== newPort) {
      write16(buf, portOff, newPort);
      if (proto !== IPPROTO_SCTP && v.l4CsumOff >= 0) {
        updateL4ForPortChange(buf, v.l4CsumOff, oldPort, newPort, partial, isUdp4);
      }
    }
    if (which === 0) v.sport = newPort;
    else v.dport = newPort;
  }
  if (proto === IPPROTO_SCTP && hasL4 && v.isFragment === 0) sctpUpdateChecksum(buf, v.l4Off, v.l3End);
}

/**
 * The IPv4 case of rewriteAddrPort, on the hot path of every NAT packet: the address and port deltas
 * go into the L4 checksum as ONE RFC 1624 update (one read, one fold, one write), the header checksum
 * gets the address delta. Sums stay far below 2^32, so two end-around folds suffice.
 */
function rewriteV4(
  buf: Uint8Array,
  v: PacketView,
  which: 0 | 1,
  newA: number,
  newPort: number,
  partial: boolean,
  hops: 0 | 1,
): void {
  const l3 = v.l3Off;
  const cur = which === 0 ? v.saddr : v.daddr;
  const oldA = cur[0]!;
  const addrOff = l3 + (which === 0 ? 12 : 16);
  // ~old + new over the two 16-bit halves of the address
  const addrDelta = (~oldA >>> 16) + (~oldA & 0xffff) + (newA >>> 16) + (newA & 0xffff);
  // IPv4 header checksum (RFC 1624 eqn. 3), with the TTL decrement of a forwarded packet folded in
  let h = (~((buf[l3 + 10]! << 8) | buf[l3 + 11]!) & 0xffff) + addrDelta;
  if (hops !== 0) {
    const oldWord = (buf[l3 + 8]! << 8) | buf[l3 + 9]!;
    buf[l3 + 8] = (buf[l3 + 8]! - 1) & 0xff;
    h += (~oldWord & 0xffff) + (oldWord - 0x100);
  }
  h = (h & 0xffff) + (h >>> 16);
  h = ~((h & 0xffff) + (h >>> 16)) & 0xffff;
  buf[l3 + 10] = h >>> 8;
  buf[l3 + 11] = h & 0xff;
  buf[addrOff] = newA >>> 24;
  buf[addrOff + 1] = (newA >>> 16) & 0xff;
  buf[addrOff + 2] = (newA >>> 8) & 0xff;
  buf[addrOff + 3] = newA & 0xff;
  cur[0] = newA;
  const proto = v.proto;
  const l4 = v.l4Off;
  if (l4 < 0) return; // non-first fragment: no L4 header here
  let l4Delta = 0;
  const csumOff = v.l4CsumOff;
  // pseudo-header carries the address: TCP, UDP (not ICMP, not SCTP)
  if (csumOff >= 0 && proto !== IPPROTO_ICMP && proto !== IPPROTO_SCTP) l4Delta = addrDelta;
  if (newPort >= 0 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
    const portOff = l4 + (which === 0 ? 0 : 2);
    const oldPort = (buf[portOff]! << 8) | buf[portOff + 1]!;
    if (oldPort !== newPort) {
      buf[portOff] = newPort >>> 8;
      buf[portOff + 1] = newPort & 0xff;
      // with a partial checksum the port lies inside the range the final sum covers: no delta
      if (!partial && proto !== IPPROTO_SCTP) l4Delta += (~oldPort & 0xffff) + newPort;
    }
    if (which === 0) v.sport = newPort;
    else v.dport = newPort;
  }
  if (l4Delta !== 0 && csumOff >= 0) {
    const c = (buf[csumOff]! << 8) | buf[csumOff + 1]!;
    let r: number;
    if (partial) {
      // the field holds the non-inverted pseudo-header sum: add the delta as stored
      r = c + l4Delta;
      r = (r & 0xffff) + (r >>> 16);
      r = (r & 0xffff) + (r >>> 16);
    } else {
      const isUdp = proto === IPPROTO_UDP;
      if (isUdp && c === 0)
        r = 0; // RFC 768: no checksum stays no checksum
      else {
        r = (~c & 0xffff) + l4Delta;
        r = (r & 0xffff) + (r >>> 16);
        r = ~((r & 0xffff) + (r >>> 16)) & 0xffff;
        if (isUdp && r === 0) r = 0xffff;
      }
    }
    buf[csumOff] = r >>> 8;
    buf[csumOff + 1] = r & 0xff;
  }
  if (proto === IPPROTO_SCTP && v.isFragment === 0) sctpUpdateChecksum(buf, l4, v.l3End);
}
