/**
 * Frame parser: Ethernet (+802.1Q/802.1ad in-band tags), ARP (ethertype only), IPv4, IPv6 with a bounded
 * extension-header walk, TCP, UDP, SCTP common header, ICMP/ICMPv6 incl. the packet quoted in errors,
 * and tunnel outer headers (IPIP, IPv6-in-IP, GRE, GUE) for decapsulation.
 *
 * Invariants: every read is preceded by a length check against `end` (an out-of-range typed-array read
 * is `undefined`); nothing allocates; nothing throws; results go into one reused PacketView and the
 * return value is 0 or -Drop. Frames may be longer than the IP packet (Ethernet padding / FCS): l3End is
 * taken from the IP header; a frame shorter than its IP header claims is dropped.
 */
import { Drop } from './drop-reasons.js';
import {
  AF_INET,
  AF_INET6,
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_GRE,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_ROUTING,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './view.js';
import type { PacketView } from './view.js';
import { readAddr } from './addr.js';
import { ipv4VerifyHeaderChecksum } from './checksum.js';

/** RFC 8200 permits any number of extension headers; we bound the walk (DoS) as the brief requires. */
export const MAX_IPV6_EXT_HEADERS = 8;
/** At most two in-band tags (802.1ad S-tag + 802.1Q C-tag). */
export const MAX_VLAN_TAGS = 2;

function rd16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

function rd32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * Parse the frame buf[start, start+len) into v. Returns 0 or -Drop. ARP frames return 0 with
 * v.ethType = ETH_P_ARP and v.af = AF_NONE; unknown ethertypes return -Drop.UnknownEthertype (the caller
 * usually hands those to the kernel rather than dropping).
 */
export function parseFrame(buf: Uint8Array, start: number, len: number, v: PacketView): number {
  v.clear();
  const end = start + len;
  v.frameStart = start;
  v.frameEnd = end;
  if (len < 14 || end > buf.length) return -Drop.TruncatedEthernet;
  let off = start + 12;
  let et = rd16(buf, off);
  off += 2;
  for (let tags = 0; tags < MAX_VLAN_TAGS && (et === ETH_P_8021Q || et === ETH_P_8021AD); tags++) {
    if (end - off < 4) return -Drop.TruncatedVlan;
    if (tags === 0) v.vlanTci = rd16(buf, off);
    else v.vlanTci2 = rd16(buf, off);
    et = rd16(buf, off + 2);
    off += 4;
  }
  v.ethType = et;
  v.l3Off = off;
  if (et === ETH_P_IP) {
    if (end - off < 1) return -Drop.TruncatedIpv4;
    if (buf[off]! >>> 4 !== 4) return -Drop.BadIpVersion;
    return parseIpv4(buf, off, end, v);
  }
  if (et === ETH_P_IPV6) {
    if (end - off < 1) return -Drop.TruncatedIpv6;
    if (buf[off]! >>> 4 !== 6) return -Drop.BadIpVersion;
    return parseIpv6(buf, off, end, v);
  }
  if (et === ETH_P_ARP) return 0;
  return -Drop.UnknownEthertype;
}

/**
 * Parse an IP packet at l3Off (version from the first nibble) up to end, e.g. a decapsulated inner
 * packet. Frame-level fields of v (frameStart/End, vlanTci, ethType) are kept; all others are reset.
 */
export function parseL3(buf: Uint8Array, l3Off: number, end: number, v: PacketView): number {
  const fs = v.frameStart;
  const fe = v.frameEnd;
  const tci = v.vlanTci;
  const tci2 = v.vlanTci2;
  const et = v.ethType;
  v.clear();
  v.frameStart = fs;
  v.frameEnd = fe;
  v.vlanTci = tci;
  v.vlanTci2 = tci2;
  v.ethType = et;
  v.l3Off = l3Off;
  if (end > buf.length || l3Off < 0 || end - l3Off < 1) return -Drop.TruncatedIpv4;
  const ver = buf[l3Off]! >>> 4;
  if (ver === 4) return parseIpv4(buf, l3Off, end, v);
  if (ver === 6) return parseIpv6(buf, l3Off, end, v);
  return -Drop.BadIpVersion;
}

/** RFC 791 §3.1. Options are walked only to check their lengths stay inside the header. */
function parseIpv4(buf: Uint8Array, off: number, end: number, v: PacketView): number {
  if (end - off < 20) return -Drop.TruncatedIpv4;
  const ihl = (buf[off]! & 0x0f) << 2;
  if (ihl < 20) return -Drop.BadIpv4HeaderLength;
  if (off + ihl > end) return -Drop.TruncatedIpv4;
  const total = rd16(buf, off + 2);
  if (total < ihl) return -Drop.BadIpv4TotalLength;
  if (off + total > end) return -Drop.BadIpv4TotalLength;
  if (ihl > 20 && !ipv4OptionsOk(buf, off + 20, off + ihl)) return -Drop.BadIpv4Options;
  // ip_rcv drops a header whose checksum does not verify before routing or IPVS see it; lvsd has taken
  // the packet from the kernel at ingress, so it must check too (else a connection from garbage)
  if (!ipv4VerifyHeaderChecksum(buf, off, ihl)) return -Drop.BadIpv4Checksum;
  v.af = AF_INET;
  v.l3HeaderLen = ihl;
  v.l3End = off + total;
  v.tos = buf[off + 1]!;
  v.fragId = rd16(buf, off + 4);
  const ff = rd16(buf, off + 6);
  v.dontFragment = (ff >>> 14) & 1;
  v.moreFragments = (ff >>> 13) & 1;
  v.fragOffset = (ff & 0x1fff) << 3;
  v.isFragment = v.moreFragments | (v.fragOffset > 0 ? 1 : 0);
  v.ttl = buf[off + 8]!;
  const proto = buf[off + 9]!;
  v.proto = proto;
  readAddr(buf, off + 12, AF_INET, v.saddr, 0);
  readAddr(buf, off + 16, AF_INET, v.daddr, 0);
  if (v.fragOffset > 0) return 0;
  return parseL4(buf, off + ihl, v.l3End, v, proto);
}

/** Option TLVs (RFC 791): 0 = end of list, 1 = no-op, others type/length(>=2)/data inside the header. */
function ipv4OptionsOk(buf: Uint8Array, p: number, end: number): boolean {
  while (p < end) {
    const t = buf[p]!;
    if (t === 0) return true;
    if (t === 1) {
      p++;
      continue;
    }
    if (p + 2 > end) return false;
    const l = buf[p + 1]!;
    if (l < 2 || p + l > end) return false;
    p += l;
  }
  return true;
}

/** RFC 8200 §3-4. Jumbograms (payload length 0, RFC 2675) are not supported: they fail the L4 checks. */
function parseIpv6(buf: Uint8Array, off: number, end: number, v: PacketView): number {
  if (end - off < 40) return -Drop.TruncatedIpv6;
  const plen = rd16(buf, off + 4);
  const l3End = off + 40 + plen;
  if (l3End > end) return -Drop.BadIpv6PayloadLength;
  v.af = AF_INET6;
  v.l3End = l3End;
  v.tos = ((buf[off]! & 0x0f) << 4) | (buf[off + 1]! >>> 4);
  v.ttl = buf[off + 7]!;
  v.dontFragment = 1;
  readAddr(buf, off + 8, AF_INET6, v.saddr, 0);
  readAddr(buf, off + 24, AF_INET6, v.daddr, 0);
  let nh = buf[off + 6]!;
  let p = off + 40;
  let count = 0;
  for (;;) {
    let hlen: number;
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS) {
      if (count >= MAX_IPV6_EXT_HEADERS) return -Drop.Ipv6ExtHeaderChainTooLong;
      if (l3End - p < 8) return -Drop.TruncatedIpv6ExtHeader;
      hlen = (buf[p + 1]! + 1) << 3;
    } else if (nh === IPPROTO_FRAGMENT) {
      if (count >= MAX_IPV6_EXT_HEADERS) return -Drop.Ipv6ExtHeaderChainTooLong;
      if (l3End - p < 8) return -Drop.TruncatedIpv6ExtHeader;
      hlen = 8;
      const fo = rd16(buf, p + 2);
      v.fragHeaderOff = p;
      v.fragOffset = fo & 0xfff8;
      v.moreFragments = fo & 1;
      v.fragId = rd32(buf, p + 4);
      // RFC 6946: an "atomic fragment" (offset 0, M 0) is processed as a whole packet.
      v.isFragment = v.moreFragments | (v.fragOffset > 0 ? 1 : 0);
    } else if (nh === IPPROTO_AH) {
      if (count >= MAX_IPV6_EXT_HEADERS) return -Drop.Ipv6ExtHeaderChainTooLong;
      if (l3End - p < 8) return -Drop.TruncatedIpv6ExtHeader;
      hlen = (buf[p + 1]! + 2) << 2; // RFC 4302 §2.2: length in 32-bit words minus 2
    } else {
      break;
    }
    if (p + hlen > l3End) return -Drop.TruncatedIpv6ExtHeader;
    nh = buf[p]!;
    p += hlen;
    count++;
  }
  v.l3HeaderLen = p - off;
  v.proto = nh;
  if (v.fragOffset > 0) return 0;
  return parseL4(buf, p, l3End, v, nh);
}

function isIcmp4Error(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
}

function isIcmp6Error(t: number): boolean {
  return t >= 1 && t <= 4;
}

function parseL4(buf: Uint8Array, off: number, l3End: number, v: PacketView, proto: number): number {
  const avail = l3End - off;
  const frag = v.isFragment;
  switch (proto) {
    case IPPROTO_TCP: {
      if (avail < 20) return -Drop.TruncatedTcp;
      const doff = (buf[off + 12]! >>> 4) << 2;
      if (doff < 20 || doff > avail) return -Drop.BadTcpDataOffset;
      v.l4Off = off;
      v.l4HeaderLen = doff;
      v.sport = rd16(buf, off);
      v.dport = rd16(buf, off + 2);
      v.tcpFlags = buf[off + 13]!;
      v.l4CsumOff = off + 16;
      return 0;
    }
    case IPPROTO_UDP: {
      if (avail < 8) return -Drop.TruncatedUdp;
      const ulen = rd16(buf, off + 4);
      // Whole datagrams: the UDP length must equal the IP payload (checksums use l3End). A first
      // fragment carries only part of the datagram, so its UDP length is only checked to be >= 8.
      if (ulen < 8 || (!frag && ulen !== avail)) return -Drop.BadUdpLength;
      v.l4Off = off;
      v.l4HeaderLen = 8;
      v.sport = rd16(buf, off);
      v.dport = rd16(buf, off + 2);
      v.l4CsumOff = off + 6;
      return 0;
    }
    case IPPROTO_SCTP: {
      if (avail < 12) return -Drop.TruncatedSctp;
      v.l4Off = off;
      v.l4HeaderLen = 12;
      v.sport = rd16(buf, off);
      v.dport = rd16(buf, off + 2);
      v.l4CsumOff = -1; // CRC32c at +8, see sctp.ts
      return 0;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      if (avail < 8) return -Drop.TruncatedIcmp;
      const t = buf[off]!;
      v.l4Off = off;
      v.l4HeaderLen = 8;
      v.icmpType = t;
      v.icmpCode = buf[off + 1]!;
      v.l4CsumOff = off + 2;
      const v6 = proto === IPPROTO_ICMPV6;
      if (v6 ? isIcmp6Error(t) : isIcmp4Error(t)) {
        return parseIcmpQuote(buf, off + 8, l3End, v, v6);
      }
      return 0;
    }
    default:
      // Other protocols (GRE, IPIP, ESP, ...) parse fine at L3; the payload is at l3Off + l3HeaderLen.
      return 0;
  }
}

/**
 * The original packet quoted in an ICMP error (RFC 792: IP header + 8 bytes; RFC 4443 §2.4(c): as
 * much as fits). An inner IP header that is cut short is IcmpInnerTruncated; nonsense (wrong version,
 * bad IHL, total length below the header) is IcmpInnerMalformed. Fewer than 8 bytes after the inner IP
 * header is legal: innerL4Off stays -1 and ports 0.
 */
function parseIcmpQuote(buf: Uint8Array, p: number, end: number, v: PacketView, v6: boolean): number {
  const avail = end - p;
  if (!v6) {
    if (avail < 20) return -Drop.IcmpInnerTruncated;
    const b0 = buf[p]!;
    if (b0 >>> 4 !== 4) return -Drop.IcmpInnerMalformed;
    const ihl = (b0 & 0x0f) << 2;
    if (ihl < 20) return -Drop.IcmpInnerMalformed;
    if (ihl > avail) return -Drop.IcmpInnerTruncated;
    if (rd16(buf, p + 2) < ihl) return -Drop.IcmpInnerMalformed;
    v.innerL3Off = p;
    v.innerAf = AF_INET;
    v.innerL3HeaderLen = ihl;
    const proto = buf[p + 9]!;
    v.innerProto = proto;
    readAddr(buf, p + 12, AF_INET, v.innerSaddr, 0);
    readAddr(buf, p + 16, AF_INET, v.innerDaddr, 0);
    if ((rd16(buf, p + 6) & 0x1fff) !== 0) return 0; // quoted non-first fragment: no ports
    quoteL4(buf, p + ihl, end, v, proto);
    return 0;
  }
  if (avail < 40) return -Drop.IcmpInnerTruncated;
  if (buf[p]! >>> 4 !== 6) return -Drop.IcmpInnerMalformed;
  v.innerL3Off = p;
  v.innerAf = AF_INET6;
  readAddr(buf, p + 8, AF_INET6, v.innerSaddr, 0);
  readAddr(buf, p + 24, AF_INET6, v.innerDaddr, 0);
  let nh = buf[p + 6]!;
  let q = p + 40;
  let nonFirst = false;
  for (let count = 0; ; count++) {
    let hlen: number;
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS) {
      if (end - q < 2) break;
      hlen = (buf[q + 1]! + 1) << 3;
    } else if (nh === IPPROTO_FRAGMENT) {
      if (end - q < 4) break;
      hlen = 8;
      if ((rd16(buf, q + 2) & 0xfff8) !== 0) nonFirst = true;
    } else if (nh === IPPROTO_AH) {
      if (end - q < 2) break;
      hlen = (buf[q + 1]! + 2) << 2;
    } else {
      break;
    }
    if (count >= MAX_IPV6_EXT_HEADERS) return -Drop.IcmpInnerMalformed;
    nh = buf[q]!;
    q += hlen;
    if (q > end) {
      // the quote ends inside the extension chain: addresses known, protocol and ports not
      v.innerL3HeaderLen = q - p;
      v.innerProto = nh;
      return 0;
    }
  }
  v.innerL3HeaderLen = q - p;
  v.innerProto = nh;
  if (!nonFirst) quoteL4(buf, q, end, v, nh);
  return 0;
}

function quoteL4(buf: Uint8Array, off: number, end: number, v: PacketView, proto: number): void {
  if (end - off < 8) return;
  v.innerL4Off = off;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
    v.innerSport = rd16(buf, off);
    v.innerDport = rd16(buf, off + 2);
  }
}

// ------------------------------------------------------------------ tunnels (decapsulation)

export const TUN_NONE = 0;
export const TUN_IPIP = 1;
export const TUN_GRE = 2;
export const TUN_GUE = 3;

/** GRE flag bits (RFC 2784 §2, RFC 2890 §2). */
export const GRE_F_CSUM = 0x8000;
export const GRE_F_ROUTING = 0x4000;
export const GRE_F_KEY = 0x2000;
export const GRE_F_SEQ = 0x1000;

/** GUE header flag: private data field present (draft-ietf-intarea-gue §3.1). */
export const GUE_F_PRIV = 0x0001;
/** Private-flags bit announcing the remote checksum offload field. */
export const GUE_PFLAG_REMCSUM = 0x80000000;

/** Result of parseTunnel; one reused instance per worker (every field initialised). */
export class TunnelView {
  type = TUN_NONE;
  /** absolute offset of the encapsulated IP packet */
  innerL3Off = -1;
  /** AF_INET / AF_INET6 of the inner packet */
  innerAf = 0;
  /** end of the outer IP packet == end of the inner packet */
  innerEnd = 0;
  /** bytes of tunnel header between the outer L3 header end and the inner packet (GRE/UDP+GUE) */
  tunHeaderLen = 0;
  /** GRE: flags word, key (-1 = none), sequence (-1 = none); offset of the GRE checksum (-1) */
  greFlags = 0;
  greKey = -1;
  greSeq = -1;
  greCsumOff = -1;
  /** GUE: flags word, private flags, remote checksum offload start/offset (relative to inner, -1) */
  gueFlags = 0;
  guePrivFlags = 0;
  remcsumStart = -1;
  remcsumOffset = -1;

  clear(): void {
    this.type = TUN_NONE;
    this.innerL3Off = -1;
    this.innerAf = 0;
    this.innerEnd = 0;
    this.tunHeaderLen = 0;
    this.greFlags = 0;
    this.greKey = -1;
    this.greSeq = -1;
    this.greCsumOff = -1;
    this.gueFlags = 0;
    this.guePrivFlags = 0;
    this.remcsumStart = -1;
    this.remcsumOffset = -1;
  }
}

/**
 * Parse the outer IP packet at l3Off (into v) and locate an encapsulated packet: IPIP (protocol 4),
 * IPv6-in-IP (41), GRE (47; RFC 2784 with RFC 2890 key/sequence; version 0 only, no RFC 1701
 * routing), GUE (UDP to guePort, draft-ietf-intarea-gue: version 0 data messages with Hlen*4 extension
 * bytes, and version 1 = direct IP). Returns 0 with out.type set, or -Drop. A packet that is no tunnel
 * returns 0 with out.type = TUN_NONE. The inner packet is then parsed with parseL3(buf,
 * out.innerL3Off, out.innerEnd, v).
 */
export function parseTunnel(
  buf: Uint8Array,
  l3Off: number,
  end: number,
  v: PacketView,
  out: TunnelView,
  guePort = -1,
): number {
  out.clear();
  const r = parseL3(buf, l3Off, end, v);
  if (r < 0) return r;
  if (v.isFragment) return 0; // tunnels are decapsulated after reassembly only
  const p = l3Off + v.l3HeaderLen;
  const l3End = v.l3End;
  out.innerEnd = l3End;
  const proto = v.proto;
  if (proto === IPPROTO_IPIP || proto === IPPROTO_IPV6) {
    return setInner(buf, out, TUN_IPIP, p, l3End, proto === IPPROTO_IPIP ? AF_INET : AF_INET6, 0);
  }
  if (proto === IPPROTO_GRE) {
    if (l3End - p < 4) return -Drop.DecapMalformed;
    const flags = rd16(buf, p);
    if ((flags & 7) !== 0 || (flags & GRE_F_ROUTING) !== 0) return -Drop.DecapMalformed;
    const et = rd16(buf, p + 2);
    let q = p + 4;
    out.greFlags = flags;
    if (flags & GRE_F_CSUM) {
      if (l3End - q < 4) return -Drop.DecapMalformed;
      out.greCsumOff = q;
      q += 4;
    }
    if (flags & GRE_F_KEY) {
      if (l3End - q < 4) return -Drop.DecapMalformed;
      out.greKey = rd32(buf, q);
      q += 4;
    }
    if (flags & GRE_F_SEQ) {
      if (l3End - q < 4) return -Drop.DecapMalformed;
      out.greSeq = rd32(buf, q);
      q += 4;
    }
    const af = et === ETH_P_IP ? AF_INET : et === ETH_P_IPV6 ? AF_INET6 : 0;
    if (af === 0) return -Drop.DecapMalformed;
    return setInner(buf, out, TUN_GRE, q, l3End, af, q - p);
  }
  if (proto === IPPROTO_UDP && guePort >= 0 && v.l4Off >= 0 && v.dport === guePort) {
    const g = p + 8;
    if (l3End - g < 4) return -Drop.DecapMalformed;
    const b0 = buf[g]!;
    const ver = b0 >>> 6;
    if (ver === 1) {
      // GUE version 1: the UDP payload is the IP packet itself (first nibble 4 or 6)
      const ipv = b0 >>> 4;
      const af = ipv === 4 ? AF_INET : ipv === 6 ? AF_INET6 : 0;
      if (af === 0) return -Drop.DecapMalformed;
      return setInner(buf, out, TUN_GUE, g, l3End, af, 8);
    }
    if (ver !== 0 || (b0 & 0x20) !== 0) return -Drop.DecapMalformed; // C bit: control message
    const hlen = 4 + ((b0 & 0x1f) << 2);
    if (l3End - g < hlen) return -Drop.DecapMalformed;
    const ip = buf[g + 1]!;
    const flags = rd16(buf, g + 2);
    out.gueFlags = flags;
    if (flags & GUE_F_PRIV) {
      // Private data is the last 4 bytes of the extension area's first word here: only the private
      // flag is defined in the base spec, so it is the only extension we place.
      if (hlen < 8) return -Drop.DecapMalformed;
      const pf = rd32(buf, g + 4);
      out.guePrivFlags = pf;
      if (pf & GUE_PFLAG_REMCSUM) {
        if (hlen < 12) return -Drop.DecapMalformed;
        out.remcsumStart = rd16(buf, g + 8);
        out.remcsumOffset = rd16(buf, g + 10);
      }
    }
    const af = ip === IPPROTO_IPIP ? AF_INET : ip === IPPROTO_IPV6 ? AF_INET6 : 0;
    if (af === 0) return -Drop.DecapMalformed;
    return setInner(buf, out, TUN_GUE, g + hlen, l3End, af, 8 + hlen);
  }
  return 0;
}

function setInner(
  buf: Uint8Array,
  out: TunnelView,
  type: number,
  q: number,
  end: number,
  af: number,
  tunHeaderLen: number,
): number {
  if (end - q < 1) return -Drop.DecapMalformed;
  if (buf[q]! >>> 4 !== (af === AF_INET ? 4 : 6)) return -Drop.DecapMalformed;
  out.type = type;
  out.innerL3Off = q;
  out.innerAf = af;
  out.tunHeaderLen = tunHeaderLen;
  return 0;
}
