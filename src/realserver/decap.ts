/**
 * Pure decapsulation for the real-server agent: from the bytes one socket read returns to the inner IP
 * packet that is written into the TUN device, or a drop reason. No allocation, no throwing.
 *
 * What each socket hands us (Linux raw(7), ipv6(7) / raw IPv6, udp(7)):
 *  - raw AF_INET socket (protocol 4, 41 or 47): the whole outer IPv4 packet, header included, after
 *    reassembly (the IPv4 header is delivered as on the wire);
 *  - raw AF_INET6 socket (protocol 41, 4 or 47): only the payload after the IPv6 header (and its
 *    extension headers): for IPIP the inner packet itself, for GRE the GRE header + inner packet;
 *  - UDP socket on the GUE port: the UDP payload, i.e. GUE header + inner packet.
 *
 * Accepted encapsulations are exactly what src/packet/encap.ts emits, plus the options the kernel's
 * tunnels emit and parseTunnel (src/packet/parse.ts) accepts:
 *  - IPIP: protocol 4 (IPv4 inner), 41 (IPv6 inner) (RFC 2003, RFC 4213 §3.5, RFC 2473);
 *  - GRE (RFC 2784 + RFC 2890): version 0, no routing; optional checksum (verified), key and sequence
 *    (accepted, ignored); protocol type 0x0800 / 0x86DD;
 *  - GUE (draft-ietf-intarea-gue): version 0 data messages (C bit clear) with proto 4/41, optional
 *    private-flags word with remote checksum offload (the inner partial checksum is finished here, as the
 *    kernel's gue_remcsum does); version 1 (the payload is the IP packet itself).
 * The inner packet's own length field is authoritative (trailing bytes are cut); a family mismatch or an
 * inner packet longer than the bytes we have is malformed.
 */
import { finalizePartial, fold, sumBytes } from '../packet/checksum.js';

/** Which socket the bytes came from (see the module comment). */
export const INPUT_IPV4_RAW = 1;
export const INPUT_IPV6_RAW_IPIP4 = 2; // raw AF_INET6, protocol 4: payload is an IPv4 packet
export const INPUT_IPV6_RAW_IPIP6 = 3; // raw AF_INET6, protocol 41: payload is an IPv6 packet
export const INPUT_IPV6_RAW_GRE = 4; // raw AF_INET6, protocol 47: payload is GRE + inner
export const INPUT_GUE = 5; // UDP payload: GUE + inner

/** Drop reasons (positive numbers; functions return their negation). Stable: they index counters. */
export const DecapDrop = {
  Truncated: 1,
  BadOuter: 2,
  NotTunnel: 3,
  BadGre: 4,
  GreChecksum: 5,
  BadGue: 6,
  GueControl: 7,
  BadInner: 8,
  BadRemcsum: 9,
  NotVip: 10,
} as const;
export const DECAP_DROP_NAMES: readonly string[] = [
  'ok',
  'truncated',
  'bad-outer-header',
  'not-a-tunnel',
  'bad-gre-header',
  'gre-checksum',
  'bad-gue-header',
  'gue-control-message',
  'bad-inner-packet',
  'bad-remote-checksum',
  'inner-destination-not-a-vip',
];

const PROTO_IPIP = 4;
const PROTO_IPV6 = 41;
const PROTO_GRE = 47;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const GRE_F_CSUM = 0x8000;
const GRE_F_ROUTING = 0x4000;
const GRE_F_KEY = 0x2000;
const GRE_F_SEQ = 0x1000;
const GUE_F_PRIV = 0x0001;
const GUE_PFLAG_REMCSUM = 0x80000000;

/** Output of decapsulate (one reused instance). */
export class DecapResult {
  /** absolute offset and length of the inner IP packet */
  innerOff = 0;
  innerLen = 0;
  /** 4 or 6 */
  innerVersion = 0;
  /** 1 ipip, 2 gre, 3 gue (the TUN_* numbering of src/packet/parse.ts) */
  tunnel = 0;
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * Locate the inner packet in buf[off, off+len) read from the socket kind `input`. Returns 0 with `out`
 * filled, or -DecapDrop.*. May modify the inner packet (GUE remote checksum offload finishes a checksum).
 */
export function decapsulate(
  buf: Uint8Array,
  off: number,
  len: number,
  input: number,
  out: DecapResult,
): number {
  const end = off + len;
  if (len <= 0 || end > buf.length) return -DecapDrop.Truncated;
  switch (input) {
    case INPUT_IPV4_RAW: {
      if (len < 20) return -DecapDrop.Truncated;
      if (buf[off]! >>> 4 !== 4) return -DecapDrop.BadOuter;
      const ihl = (buf[off]! & 0x0f) << 2;
      const total = rd16(buf, off + 2);
      if (ihl < 20 || total < ihl || off + total > end) return -DecapDrop.BadOuter;
      const p = off + ihl;
      const pend = off + total;
      const proto = buf[off + 9]!;
      if (proto === PROTO_IPIP) return inner(buf, p, pend, 4, 1, out);
      if (proto === PROTO_IPV6) return inner(buf, p, pend, 6, 1, out);
      if (proto === PROTO_GRE) return greInner(buf, p, pend, out);
      return -DecapDrop.NotTunnel;
    }
    case INPUT_IPV6_RAW_IPIP4:
      return inner(buf, off, end, 4, 1, out);
    case INPUT_IPV6_RAW_IPIP6:
      return inner(buf, off, end, 6, 1, out);
    case INPUT_IPV6_RAW_GRE:
      return greInner(buf, off, end, out);
    case INPUT_GUE:
      return gueInner(buf, off, end, out);
    default:
      return -DecapDrop.NotTunnel;
  }
}

function greInner(buf: Uint8Array, p: number, end: number, out: DecapResult): number {
  if (end - p < 4) return -DecapDrop.BadGre;
  const flags = rd16(buf, p);
  // version (low 3 bits) 0 only; routing (RFC 1701) not supported, as parseTunnel
  if ((flags & 7) !== 0 || (flags & GRE_F_ROUTING) !== 0) return -DecapDrop.BadGre;
  const et = rd16(buf, p + 2);
  let q = p + 4;
  if (flags & GRE_F_CSUM) {
    if (end - q < 4) return -DecapDrop.BadGre;
    // RFC 2784 §2.2: the checksum covers the GRE header and the payload
    if (fold(sumBytes(buf, p, end - p, 0)) !== 0xffff) return -DecapDrop.GreChecksum;
    q += 4;
  }
  if (flags & GRE_F_KEY) q += 4;
  if (flags & GRE_F_SEQ) q += 4;
  if (q > end) return -DecapDrop.BadGre;
  if (et === ETH_P_IP) return inner(buf, q, end, 4, 2, out);
  if (et === ETH_P_IPV6) return inner(buf, q, end, 6, 2, out);
  return -DecapDrop.BadGre;
}

function gueInner(buf: Uint8Array, g: number, end: number, out: DecapResult): number {
  if (end - g < 4) return -DecapDrop.BadGue;
  const b0 = buf[g]!;
  const ver = b0 >>> 6;
  if (ver === 1) {
    // GUE version 1: the payload is the IP packet itself, its version nibble names the family
    const ipv = b0 >>> 4;
    if (ipv !== 4 && ipv !== 6) return -DecapDrop.BadGue;
    return inner(buf, g, end, ipv, 3, out);
  }
  if (ver !== 0) return -DecapDrop.BadGue;
  if (b0 & 0x20) return -DecapDrop.GueControl;
  const hlen = 4 + ((b0 & 0x1f) << 2);
  if (end - g < hlen) return -DecapDrop.BadGue;
  const proto = buf[g + 1]!;
  const flags = rd16(buf, g + 2);
  let remStart = -1;
  let remField = -1;
  if (flags & GUE_F_PRIV) {
    if (hlen < 8) return -DecapDrop.BadGue;
    if (rd32(buf, g + 4) & GUE_PFLAG_REMCSUM) {
      if (hlen < 12) return -DecapDrop.BadGue;
      remStart = rd16(buf, g + 8);
      remField = rd16(buf, g + 10);
    }
  }
  const ipv = proto === PROTO_IPIP ? 4 : proto === PROTO_IPV6 ? 6 : 0;
  if (ipv === 0) return -DecapDrop.BadGue;
  const r = inner(buf, g + hlen, end, ipv, 3, out);
  if (r < 0 || remStart < 0) return r;
  // Remote checksum offload: start and field are relative to the inner packet; the field holds the
  // pseudo-header sum, the rest of [start, end) is summed here.
  const innerEnd = out.innerOff + out.innerLen;
  const start = out.innerOff + remStart;
  const field = out.innerOff + remField;
  if (field < start || field + 2 > innerEnd || start >= innerEnd) return -DecapDrop.BadRemcsum;
  finalizePartial(buf, start, field - start, innerEnd);
  return 0;
}

/** Validate the inner packet at q (expected IP version ipv) and cut it to its own length. */
function inner(
  buf: Uint8Array,
  q: number,
  end: number,
  ipv: number,
  tunnel: number,
  out: DecapResult,
): number {
  const avail = end - q;
  if (avail < 1 || buf[q]! >>> 4 !== ipv) return -DecapDrop.BadInner;
  let n: number;
  if (ipv === 4) {
    if (avail < 20) return -DecapDrop.BadInner;
    n = rd16(buf, q + 2);
    if (n < 20 || n < (buf[q]! & 0x0f) << 2) return -DecapDrop.BadInner;
  } else {
    if (avail < 40) return -DecapDrop.BadInner;
    n = 40 + rd16(buf, q + 4); // a jumbogram (payload length 0) never comes through a tunnel here
  }
  if (n > avail) return -DecapDrop.BadInner;
  out.innerOff = q;
  out.innerLen = n;
  out.innerVersion = ipv;
  out.tunnel = tunnel;
  return 0;
}

/**
 * The set of VIPs the agent injects for: IPv4 as 32-bit numbers, IPv6 as 16-byte strings of 4 words.
 * Lookup compares the inner destination without allocating.
 */
export class VipSet {
  private readonly v4 = new Set<number>();
  private readonly v6: Uint32Array[] = [];

  addV4(word: number): void {
    this.v4.add(word >>> 0);
  }

  addV6(words: Uint32Array): void {
    this.v6.push(Uint32Array.from(words));
  }

  get size(): number {
    return this.v4.size + this.v6.length;
  }

  /** Is the destination of the IP packet at buf[off] (version ipv, already validated) one of the VIPs? */
  hasDestination(buf: Uint8Array, off: number, ipv: number): boolean {
    if (ipv === 4) return this.v4.has(rd32(buf, off + 16));
    const d = off + 24;
    const w0 = rd32(buf, d);
    const w1 = rd32(buf, d + 4);
    const w2 = rd32(buf, d + 8);
    const w3 = rd32(buf, d + 12);
    for (let i = 0; i < this.v6.length; i++) {
      const v = this.v6[i]!;
      if (v[0] === w0 && v[1] === w1 && v[2] === w2 && v[3] === w3) return true;
    }
    return false;
  }
}
