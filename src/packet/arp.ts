/**
 * ARP (RFC 826) for IPv4 over Ethernet and IPv6 Neighbor Discovery (RFC 4861 §4.3-4.4) builders, used
 * for neighbour probes and gratuitous announcements (RFC 5227 §3: gratuitous ARP is a request whose
 * sender and target IP are both the announced address). Hot-path safe: bytes and offsets only.
 */
import { AF_INET6, ETH_P_ARP, ETH_P_IPV6, IPPROTO_ICMPV6 } from './view.js';
import { finish, pseudoHeaderSum, sumBytes } from './checksum.js';
import { writeAddr } from './addr.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_FRAME_LEN = 42;
export const ND_NS = 135;
export const ND_NA = 136;
export const ND_NA_F_ROUTER = 0x80000000;
export const ND_NA_F_SOLICITED = 0x40000000;
export const ND_NA_F_OVERRIDE = 0x20000000;
/** Ethernet + IPv6 + NS/NA (24) + link-layer address option (8) */
export const ND_FRAME_LEN = 14 + 40 + 32;

const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function mac(b: Uint8Array, o: number, m: Uint8Array): void {
  for (let i = 0; i < 6; i++) b[o + i] = m[i]!;
}

/**
 * Write an Ethernet ARP frame (42 bytes, no padding) at off. ethDst null = broadcast; targetMac null =
 * zeros (requests). IPs are u32 words. Returns the length.
 */
export function buildArp(
  buf: Uint8Array,
  off: number,
  op: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array | null,
  targetIp: number,
  ethDst: Uint8Array | null,
): number {
  mac(buf, off, ethDst ?? BROADCAST);
  mac(buf, off + 6, senderMac);
  w16(buf, off + 12, ETH_P_ARP);
  const a = off + 14;
  w16(buf, a, 1); // hardware: Ethernet
  w16(buf, a + 2, 0x0800);
  buf[a + 4] = 6;
  buf[a + 5] = 4;
  w16(buf, a + 6, op);
  mac(buf, a + 8, senderMac);
  w32(buf, a + 14, senderIp >>> 0);
  mac(buf, a + 18, targetMac ?? ZERO_MAC);
  w32(buf, a + 24, targetIp >>> 0);
  return ARP_FRAME_LEN;
}

/** Gratuitous ARP announcing ip at senderMac (broadcast request, sender IP = target IP). */
export function buildGratuitousArp(buf: Uint8Array, off: number, senderMac: Uint8Array, ip: number): number {
  return buildArp(buf, off, ARP_REQUEST, senderMac, ip, null, ip, null);
}

/** Parsed ARP fields (one reused instance). */
export class ArpView {
  op = 0;
  readonly senderMac = new Uint8Array(6);
  senderIp = 0;
  readonly targetMac = new Uint8Array(6);
  targetIp = 0;
}

/** Parse an Ethernet/IPv4 ARP packet at arpOff (after the Ethernet header). Returns 0 or -1. */
export function parseArp(buf: Uint8Array, arpOff: number, end: number, out: ArpView): number {
  if (end - arpOff < 28) return -1;
  if (
    ((buf[arpOff]! << 8) | buf[arpOff + 1]!) !== 1 ||
    ((buf[arpOff + 2]! << 8) | buf[arpOff + 3]!) !== 0x0800
  )
    return -1;
  if (buf[arpOff + 4] !== 6 || buf[arpOff + 5] !== 4) return -1;
  out.op = (buf[arpOff + 6]! << 8) | buf[arpOff + 7]!;
  for (let i = 0; i < 6; i++) {
    out.senderMac[i] = buf[arpOff + 8 + i]!;
    out.targetMac[i] = buf[arpOff + 18 + i]!;
  }
  out.senderIp = rd32(buf, arpOff + 14);
  out.targetIp = rd32(buf, arpOff + 24);
  return 0;
}

// Scratch for solicited-node addresses (module level: no per-call allocation).
const snm = new Uint32Array(4);
const snmMac = new Uint8Array(6);

/**
 * Neighbor Solicitation for target (4 words) from src (4 words; the unspecified address for DAD
 * omits the option per RFC 4861 §4.3) with our MAC in a source link-layer address option. ethDst /
 * IPv6 destination: the solicited-node multicast (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1) unless unicast
 * dst/dstMac are given (unicast reachability probe). Returns the length.
 */
export function buildNeighborSolicit(
  buf: Uint8Array,
  off: number,
  srcMac: Uint8Array,
  src: Uint32Array,
  target: Uint32Array,
  dst: Uint32Array | null,
  dstMac: Uint8Array | null,
): number {
  let d = dst;
  let dm = dstMac;
  if (!d) {
    snm[0] = 0xff020000;
    snm[1] = 0;
    snm[2] = 1;
    snm[3] = (0xff000000 | (target[3]! & 0xffffff)) >>> 0;
    d = snm;
  }
  if (!dm) {
    snmMac[0] = 0x33;
    snmMac[1] = 0x33;
    const w = d[3]!;
    snmMac[2] = w >>> 24;
    snmMac[3] = (w >>> 16) & 0xff;
    snmMac[4] = (w >>> 8) & 0xff;
    snmMac[5] = w & 0xff;
    dm = snmMac;
  }
  const unspecified = (src[0]! | src[1]! | src[2]! | src[3]!) === 0;
  return buildNd(buf, off, ND_NS, 0, srcMac, src, d, dm, target, unspecified ? 0 : 1);
}

/**
 * Neighbor Advertisement for target with the target link-layer address option. flags: ND_NA_F_*.
 */
export function buildNeighborAdvert(
  buf: Uint8Array,
  off: number,
  srcMac: Uint8Array,
  src: Uint32Array,
  dst: Uint32Array,
  dstMac: Uint8Array,
  target: Uint32Array,
  flags: number,
): number {
  return buildNd(buf, off, ND_NA, flags, srcMac, src, dst, dstMac, target, 2);
}

function buildNd(
  buf: Uint8Array,
  off: number,
  type: number,
  flags: number,
  srcMac: Uint8Array,
  src: Uint32Array,
  dst: Uint32Array,
  dstMac: Uint8Array,
  target: Uint32Array,
  optType: number,
): number {
  mac(buf, off, dstMac);
  mac(buf, off + 6, srcMac);
  w16(buf, off + 12, ETH_P_IPV6);
  const o = off + 14;
  const plen = 24 + (optType ? 8 : 0);
  w32(buf, o, 0x60000000);
  w16(buf, o + 4, plen);
  buf[o + 6] = IPPROTO_ICMPV6;
  buf[o + 7] = 255; // RFC 4861 §7.1.1: receivers require hop limit 255
  writeAddr(buf, o + 8, AF_INET6, src, 0);
  writeAddr(buf, o + 24, AF_INET6, dst, 0);
  const c = o + 40;
  buf[c] = type;
  buf[c + 1] = 0;
  w16(buf, c + 2, 0);
  w32(buf, c + 4, flags >>> 0);
  writeAddr(buf, c + 8, AF_INET6, target, 0);
  if (optType) {
    buf[c + 24] = optType;
    buf[c + 25] = 1; // length in units of 8 bytes
    mac(buf, c + 26, srcMac);
  }
  w16(buf, c + 2, finish(sumBytes(buf, c, plen, pseudoHeaderSum(buf, o, AF_INET6, IPPROTO_ICMPV6, plen))));
  return 14 + 40 + plen;
}
