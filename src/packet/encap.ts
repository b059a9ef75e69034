/**
 * Tunnel encapsulation for the TUN forwarding method (reference §5.4): an outer header is written into
 * the headroom IN FRONT of the inner IP packet, so nothing is copied. Outer header kinds:
 *  - IPIP: outer IPv4 (protocol 4 for an IPv4 inner packet, 41 for IPv6; RFC 2003, RFC 4213 §3.5),
 *    or outer IPv6 (next header 41 / 4; RFC 2473);
 *  - GUE (draft-ietf-intarea-gue): outer IP + UDP to the tunnel port + 4-byte version-0 header whose
 *    proto field names the inner packet; optional UDP checksum, optional remote checksum offload;
 *  - GRE (RFC 2784): 4-byte header with protocol type 0x0800 / 0x86DD, optional checksum (C bit).
 * The outer TOS/traffic class is copied from the inner packet (ECN included, RFC 6040 normal mode); DF is
 * copied from the inner IPv4 packet (set for IPv6 inner) when path-MTU discovery is on, else clear.
 *
 * Remote checksum offload (GUE REMCSUM, draft-ietf-intarea-gue-extensions §5): when the inner packet has
 * a partial checksum, the encapsulator leaves it partial and tells the decapsulator where it is: checksum
 * start and checksum field offset, both relative to the start of the encapsulated packet. On the wire we
 * use the layout Linux fou/ipvs emit and accept: the GUE private-data flag, a 4-byte private-flags word
 * with the REMCSUM bit, then the 4-byte start/offset field, i.e. 8 extension bytes.
 *
 * Hot path: no allocation; parameters travel in a reused EncapParams object.
 */
import {
  AF_INET,
  AF_INET6,
  ETH_P_IP,
  ETH_P_IPV6,
  IPPROTO_GRE,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
} from './view.js';
import {
  finalizePartial,
  finish,
  fold,
  ipv4SetHeaderChecksum,
  pseudoHeaderSum,
  sumBytes,
} from './checksum.js';
import { writeAddr } from './addr.js';
import { GRE_F_CSUM, GUE_F_PRIV, GUE_PFLAG_REMCSUM, TUN_GRE, TUN_GUE, TUN_IPIP } from './parse.js';
import type { TunnelView } from './parse.js';

export { TUN_GRE, TUN_GUE, TUN_IPIP, TUN_NONE } from './parse.js';

/** --tun-csum: compute the outer UDP (GUE) or GRE checksum. */
export const TUN_F_CSUM = 1;
/** --tun-remcsum: GUE remote checksum offload (used only when the inner checksum is partial). */
export const TUN_F_REMCSUM = 2;

export const GUE_HLEN = 4;
/** private-flags word + remcsum start/offset */
export const GUE_REMCSUM_OPTLEN = 8;
export const GRE_HLEN = 4;
export const GRE_CSUM_LEN = 4;

/**
 * Bytes the tunnel adds in front of the inner IP packet; usable MTU = route MTU - overhead.
 * ipip 20, gue 20+8+4 (+8 remcsum), gre 20+4 (+4 csum); 20 more with an IPv6 outer header.
 */
export function tunnelOverhead(tunType: number, outerAf: number, flags: number): number {
  const ip = outerAf === AF_INET6 ? 40 : 20;
  switch (tunType) {
    case TUN_GUE:
      return ip + 8 + GUE_HLEN + (flags & TUN_F_REMCSUM ? GUE_REMCSUM_OPTLEN : 0);
    case TUN_GRE:
      return ip + GRE_HLEN + (flags & TUN_F_CSUM ? GRE_CSUM_LEN : 0);
    default:
      return ip;
  }
}

/** Encapsulation parameters; allocate one per worker and fill per packet (fields are plain numbers). */
export class EncapParams {
  tunType = TUN_IPIP;
  /** outer address family */
  outerAf = AF_INET;
  /** outer source (director address toward the RIP) and destination (RIP), 4 words each */
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  ttl = 64;
  /** pmtu_disc: copy DF from the inner packet */
  pmtuDisc = true;
  /** outer IPv4 identification (caller's counter; low 16 bits used) */
  ipId = 0;
  /** GUE: UDP destination (--tun-port) and source (flow hash) ports */
  tunPort = 0;
  srcPort = 0;
  /** TUN_F_CSUM | TUN_F_REMCSUM */
  flags = 0;
  /** inner partial checksum: absolute csum start (-1 = inner checksum is complete) and field offset */
  innerCsumStart = -1;
  innerCsumOffset = 0;
  /**
   * Output: true when the inner checksum is still partial and must still be finished by the
   * transmitting device (caller keeps NEEDS_CSUM and moves csumStart by the overhead); false when it was
   * finished here, or handed to the decapsulator via REMCSUM (caller clears NEEDS_CSUM).
   */
  outPartial = false;
  /** Output: bytes added in front of the inner packet by the last encapsulate() call. */
  outOverhead = 0;
}

function w16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

function w32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Encapsulate the inner IP packet buf[l3Off, l3Off + l3Len) (family innerAf). The caller guarantees
 * headroom >= tunnelOverhead(...) in front of l3Off. Returns the outer L3 offset (l3Off - overhead).
 */
export function encapsulate(
  buf: Uint8Array,
  l3Off: number,
  l3Len: number,
  innerAf: number,
  p: EncapParams,
): number {
  const v6out = p.outerAf === AF_INET6;
  const ipLen = v6out ? 40 : 20;
  const partial = p.innerCsumStart >= 0;
  let tunHdr = 0;
  let remcsum = false;
  if (p.tunType === TUN_GUE) {
    remcsum = partial && (p.flags & TUN_F_REMCSUM) !== 0;
    tunHdr = 8 + GUE_HLEN + (remcsum ? GUE_REMCSUM_OPTLEN : 0);
  } else if (p.tunType === TUN_GRE) {
    tunHdr = GRE_HLEN + (p.flags & TUN_F_CSUM ? GRE_CSUM_LEN : 0);
  }
  // An outer checksum covers the inner bytes: finish a partial inner checksum first (unless REMCSUM
  // hands it to the decapsulator).
  const outerCsum = (p.flags & TUN_F_CSUM) !== 0 && p.tunType !== TUN_IPIP;
  if (partial && !remcsum && outerCsum) {
    finalizePartial(buf, p.innerCsumStart, p.innerCsumOffset, l3Off + l3Len);
    p.outPartial = false;
  } else {
    p.outPartial = partial && !remcsum;
  }
  const overhead = ipLen + tunHdr;
  p.outOverhead = overhead;
  const o = l3Off - overhead;
  const t = o + ipLen; // tunnel header (UDP or GRE) start
  const innerIs4 = innerAf === AF_INET;
  const tos = innerIs4 ? buf[l3Off + 1]! : ((buf[l3Off]! & 0x0f) << 4) | (buf[l3Off + 1]! >>> 4);
  let proto: number;
  if (p.tunType === TUN_GUE) proto = IPPROTO_UDP;
  else if (p.tunType === TUN_GRE) proto = IPPROTO_GRE;
  else proto = innerIs4 ? IPPROTO_IPIP : IPPROTO_IPV6;

  // ---- tunnel header
  if (p.tunType === TUN_GUE) {
    const udpLen = tunHdr + l3Len;
    w16(buf, t, p.srcPort);
    w16(buf, t + 2, p.tunPort);
    w16(buf, t + 4, udpLen);
    w16(buf, t + 6, 0);
    const g = t + 8;
    buf[g] = remcsum ? GUE_REMCSUM_OPTLEN >>> 2 : 0; // version 0, C 0, Hlen in 32-bit words
    buf[g + 1] = innerIs4 ? IPPROTO_IPIP : IPPROTO_IPV6;
    w16(buf, g + 2, remcsum ? GUE_F_PRIV : 0);
    if (remcsum) {
      w32(buf, g + 4, GUE_PFLAG_REMCSUM);
      const start = p.innerCsumStart - l3Off;
      w16(buf, g + 8, start);
      w16(buf, g + 10, start + p.innerCsumOffset);
    }
  } else if (p.tunType === TUN_GRE) {
    w16(buf, t, p.flags & TUN_F_CSUM ? GRE_F_CSUM : 0);
    w16(buf, t + 2, innerIs4 ? ETH_P_IP : ETH_P_IPV6);
    if (p.flags & TUN_F_CSUM) {
      w32(buf, t + 4, 0); // checksum + reserved1
      // RFC 2784 §2.2: one's complement of the one's complement sum of GRE header and payload
      w16(buf, t + 4, finish(sumBytes(buf, t, tunHdr + l3Len, 0)));
    }
  }

  // ---- outer IP header
  if (!v6out) {
    buf[o] = 0x45;
    buf[o + 1] = tos;
    w16(buf, o + 2, overhead + l3Len);
    w16(buf, o + 4, p.ipId & 0xffff);
    let df = 0;
    if (p.pmtuDisc) df = innerIs4 ? buf[l3Off + 6]! & 0x40 : 0x40;
    buf[o + 6] = df;
    buf[o + 7] = 0;
    buf[o + 8] = p.ttl;
    buf[o + 9] = proto;
    writeAddr(buf, o + 12, AF_INET, p.saddr, 0);
    writeAddr(buf, o + 16, AF_INET, p.daddr, 0);
    ipv4SetHeaderChecksum(buf, o);
  } else {
    buf[o] = 0x60 | (tos >>> 4);
    buf[o + 1] = (tos & 0x0f) << 4;
    buf[o + 2] = 0;
    buf[o + 3] = 0;
    w16(buf, o + 4, tunHdr + l3Len);
    buf[o + 6] = proto;
    buf[o + 7] = p.ttl;
    writeAddr(buf, o + 8, AF_INET6, p.saddr, 0);
    writeAddr(buf, o + 24, AF_INET6, p.daddr, 0);
  }

  // ---- outer UDP checksum (needs the outer addresses in place)
  if (p.tunType === TUN_GUE && outerCsum) {
    const udpLen = tunHdr + l3Len;
    const s = sumBytes(buf, t, udpLen, pseudoHeaderSum(buf, o, p.outerAf, IPPROTO_UDP, udpLen));
    const c = finish(s);
    w16(buf, t + 6, c === 0 ? 0xffff : c);
  }
  return o;
}

/** Recompute the GRE checksum (C bit set) over buf[greOff, end); returns true when it verifies. */
export function greVerifyChecksum(buf: Uint8Array, greOff: number, end: number): boolean {
  return fold(sumBytes(buf, greOff, end - greOff, 0)) === 0xffff;
}

/**
 * Decapsulator side of GUE remote checksum offload: finish the inner partial checksum named by the
 * REMCSUM field that parseTunnel found. Returns false when the field points outside the inner packet.
 */
export function gueApplyRemcsum(buf: Uint8Array, t: TunnelView): boolean {
  if (t.remcsumStart < 0) return true;
  const start = t.innerL3Off + t.remcsumStart;
  const field = t.innerL3Off + t.remcsumOffset;
  if (field < start || field + 2 > t.innerEnd || start >= t.innerEnd) return false;
  finalizePartial(buf, start, field - start, t.innerEnd);
  return true;
}

/** Offset and length of the packet inside a tunnel as parseTunnel located it (decap = use these). */
export function decapInnerLength(t: TunnelView): number {
  return t.innerEnd - t.innerL3Off;
}
