/**
 * PacketView: the one reused object a parser fills for the frame under inspection (hot-path rule 1:
 * no allocation per packet). Every field is initialised here so the object keeps one shape.
 *
 * Conventions:
 *  - Offsets are absolute indexes into the batch buffer, not relative to the frame.
 *  - Addresses are numbers: four u32 words per address, big-endian words as read from the wire
 *    (10.0.0.1 is 0x0a000001). IPv4 uses word 0 only; words 1..3 are 0.
 *  - Sentinels instead of undefined: -1 for "absent" offsets and tags, 0 for "no protocol".
 */

export const AF_NONE = 0;
export const AF_INET = 4;
export const AF_INET6 = 6;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

export const IPPROTO_IP = 0;
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_GRE = 47;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export class PacketView {
  // ---- frame
  /** absolute offset of the first byte of the frame (Ethernet header) */
  frameStart = 0;
  /** absolute offset one past the last byte of the frame */
  frameEnd = 0;
  // ---- layer 2
  /** in-band 802.1Q TCI found in the frame (-1 = none); out-of-band tags live in FrameBatch.vlanTci */
  vlanTci = -1;
  /** the second in-band TCI (QinQ inner tag), -1 = none */
  vlanTci2 = -1;
  /** ethertype after any VLAN tag */
  ethType = 0;
  l3Off = -1;
  // ---- layer 3
  af = AF_NONE;
  /** IPv4 IHL*4, or 40 + extension headers for IPv6 */
  l3HeaderLen = 0;
  /** one past the last byte of the IP packet as its header says (<= frameEnd; trailing padding ignored) */
  l3End = 0;
  /** final upper-layer protocol (after IPv6 extension headers) */
  proto = 0;
  ttl = 0;
  /** IPv4 TOS / IPv6 traffic class */
  tos = 0;
  /** IPv4 identification or IPv6 fragment-header identification */
  fragId = 0;
  /** fragment offset in bytes */
  fragOffset = 0;
  /** 1 if more fragments follow */
  moreFragments = 0;
  /** 1 if this is any fragment (offset > 0 or MF set) */
  isFragment = 0;
  /** IPv4 DF bit (IPv6: always 1, routers never fragment) */
  dontFragment = 0;
  /** absolute offset of the IPv6 fragment header, -1 if none */
  fragHeaderOff = -1;
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  // ---- layer 4
  /** absolute offset of the L4 header, -1 when absent (non-first fragment, unknown protocol) */
  l4Off = -1;
  /** L4 header length (TCP data offset*4, UDP 8, SCTP common header 12, ICMP 8) */
  l4HeaderLen = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  icmpType = -1;
  icmpCode = -1;
  /** absolute offset of the L4 checksum field, -1 if the protocol has none we maintain */
  l4CsumOff = -1;
  // ---- the original packet quoted inside an ICMP / ICMPv6 error (all -1 / 0 when not an error)
  innerL3Off = -1;
  innerAf = AF_NONE;
  innerL3HeaderLen = 0;
  innerProto = 0;
  /** -1 when the quote is too short to hold the ports */
  innerL4Off = -1;
  readonly innerSaddr = new Uint32Array(4);
  readonly innerDaddr = new Uint32Array(4);
  innerSport = 0;
  innerDport = 0;

  /**
   * Reset every field to its sentinel (the parser calls this first, per packet). Field by field on
   * purpose: TypedArray.fill costs measurably more here than four plain stores.
   */
  clear(): void {
    this.frameStart = 0;
    this.frameEnd = 0;
    this.vlanTci = -1;
    this.vlanTci2 = -1;
    this.ethType = 0;
    this.l3Off = -1;
    this.af = AF_NONE;
    this.l3HeaderLen = 0;
    this.l3End = 0;
    this.proto = 0;
    this.ttl = 0;
    this.tos = 0;
    this.fragId = 0;
    this.fragOffset = 0;
    this.moreFragments = 0;
    this.isFragment = 0;
    this.dontFragment = 0;
    this.fragHeaderOff = -1;
    zero4(this.saddr);
    zero4(this.daddr);
    this.l4Off = -1;
    this.l4HeaderLen = 0;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.l4CsumOff = -1;
    this.innerL3Off = -1;
    this.innerAf = AF_NONE;
    this.innerL3HeaderLen = 0;
    this.innerProto = 0;
    this.innerL4Off = -1;
    zero4(this.innerSaddr);
    zero4(this.innerDaddr);
    this.innerSport = 0;
    this.innerDport = 0;
  }
}

function zero4(a: Uint32Array): void {
  a[0] = 0;
  a[1] = 0;
  a[2] = 0;
  a[3] = 0;
}
