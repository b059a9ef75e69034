/**
 * Translating ICMP errors about a connection (ipvs-reference §5.6): the quoted original header is
 * rewritten the same way the connection's packets are, so the client or the real server sees an
 * error about the packet it actually sent.
 *
 * The quote is usually truncated (RFC 792 guarantees only the IP header + 8 bytes), so the inner L4
 * checksum is updated incrementally only when its field lies inside the quote; the inner IPv4 header
 * checksum always is. The caller then recomputes the outer ICMP/ICMPv6 checksum whole (the message is
 * small) with l4ChecksumSet, after any outer address change.
 */
import { addressDelta, applyChecksumDelta, csumReplace32 } from '../packet/checksum.js';
import { writeAddr } from '../packet/addr.js';
import type { PacketView } from '../packet/view.js';
import { AF_INET, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/view.js';

function read16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
function write16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/**
 * Rewrite the quoted packet's source (which=0) or destination (which=1) address and port
 * (newPort < 0 keeps it). Updates v.innerSaddr/innerDaddr/innerSport/innerDport.
 */
export function rewriteInner(
  buf: Uint8Array,
  v: PacketView,
  which: 0 | 1,
  newAddr: Uint32Array,
  newOff: number,
  newPort: number,
): void {
  const af = v.innerAf;
  const l3 = v.innerL3Off;
  const cur = which === 0 ? v.innerSaddr : v.innerDaddr;
  const addrOff = af === AF_INET ? l3 + (which === 0 ? 12 : 16) : l3 + (which === 0 ? 8 : 24);
  const l4 = v.innerL4Off;
  const proto = v.innerProto;
  const end = v.l3End;
  // inner L4 checksum field, if the quote holds it
  let csumOff = -1;
  if (l4 >= 0) {
    if (proto === IPPROTO_TCP && l4 + 18 <= end) csumOff = l4 + 16;
    else if (proto === IPPROTO_UDP && l4 + 8 <= end) csumOff = l4 + 6;
  }
  const isUdp4 = af === AF_INET && proto === IPPROTO_UDP;
  if (csumOff >= 0)
    applyChecksumDelta(buf, csumOff, addressDelta(cur, newAddr, af, 0, newOff), false, isUdp4);
  if (af === AF_INET) write16(buf, l3 + 10, csumReplace32(read16(buf, l3 + 10), cur[0]!, newAddr[newOff]!));
  writeAddr(buf, addrOff, af, newAddr, newOff);
  cur[0] = newAddr[newOff]!;
  cur[1] = newAddr[newOff + 1]!;
  cur[2] = newAddr[newOff + 2]!;
  cur[3] = newAddr[newOff + 3]!;
  if (newPort >= 0 && l4 >= 0 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
    const portOff = l4 + (which === 0 ? 0 : 2);
    const old = read16(buf, portOff);
    write16(buf, portOff, newPort);
    if (csumOff >= 0) applyChecksumDelta(buf, csumOff, (~old & 0xffff) + newPort, false, isUdp4);
    if (which === 0) v.innerSport = newPort;
    else v.innerDport = newPort;
  }
}
