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
 */
export function rewriteAddrPort(
  buf: Uint8Array,
  v: PacketView,
  which: 0 | 1,
  newAddr: Uint32Array,
  newOff: number,
  newPort: number,
  partial: boolean,
): void {
  const af = v.af;
  const l3 = v.l3Off;
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
