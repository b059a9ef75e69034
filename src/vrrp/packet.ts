/**
 * VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5, IPv4 and IPv6).
 *
 * Wire layout (8-byte header, keepalived-reference §3.4):
 *   byte 0   version (high nibble: 2 or 3) | type (low nibble: 1 = ADVERTISEMENT)
 *   byte 1   VRID (1..255)
 *   byte 2   priority (0 = master releasing, 255 = address owner)
 *   byte 3   count of IP addresses
 *   v2: byte 4 auth type (0 none, 1 simple text password, 2 AH), byte 5 advert interval (s)
 *   v3: bytes 4-5: 4 reserved bits + 12-bit Max Advert Interval in centiseconds
 *   bytes 6-7 checksum
 *   then count x 4 (IPv4) or x 16 (IPv6) address bytes; v2 then 8 bytes of authentication data.
 *
 * Checksum: the Internet checksum (RFC 1071). v2 covers the VRRP message only (RFC 3768 §5.3.8);
 * v3 adds the IP pseudo-header (RFC 5798 §5.2.8: RFC 2460 §8.1 for IPv6; for IPv4 the RFC 768-style
 * pseudo-header src, dst, zero, protocol 112, VRRP length, which keepalived also uses by default).
 *
 * Rejections return a reason (a VrrpDropReason) and never throw: the receive path counts them.
 * Nothing here touches sockets; addresses are raw bytes (network order) as the socket layer
 * delivers them.
 */
import { sumBytes, finish } from '../packet/checksum.js';

export const IPPROTO_VRRP = 112;
export const VRRP_TYPE_ADVERTISEMENT = 1;
export const VRRP_HEADER_LEN = 8;
export const VRRP_V2_AUTH_LEN = 8;
export const VRRP_TTL = 255;
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
export const VRRP_AUTH_AH = 2;
/** 224.0.0.18 and ff02::12 (RFC 5798 §5.1.1.2 / §5.1.2.2) */
export const VRRP_MCAST4 = '224.0.0.18';
export const VRRP_MCAST6 = 'ff02::12';
/** v3: the 12-bit Max Advert Interval field, in centiseconds */
export const VRRP_V3_MAX_INTERVAL_CS = 0xfff;

/** Why a received packet was not accepted; every one is counted per instance or per socket. */
export type VrrpDropReason =
  /** shorter than the header (or the IP header, for IPv4) */
  | 'truncated'
  /** version nibble neither 2 nor 3, or v2 over IPv6 */
  | 'bad_version'
  /** type nibble is not 1 (ADVERTISEMENT) */
  | 'bad_type'
  /** TTL / hop limit is not 255 (RFC 3768 §7.1, RFC 5798 §7.1) */
  | 'bad_ttl'
  /** the VRRP checksum does not verify */
  | 'bad_checksum'
  /** the address count does not match the packet length */
  | 'bad_length'
  /** VRID 0 (invalid on the wire) */
  | 'bad_vrid'
  /** no local instance has this VRID on this interface/family */
  | 'unknown_vrid'
  /** auth type differs from the instance's (v2) */
  | 'auth_type_mismatch'
  /** simple password differs (v2 auth type 1) */
  | 'auth_mismatch'
  /** v2: the advert interval differs from the instance's (RFC 3768 §7.1 MUST discard) */
  | 'interval_mismatch'
  /** the address list differs from the instance's virtual addresses (vrrp_skip_check_adv_addr off) */
  | 'addr_mismatch'
  /** unicast: the source is not one of the configured peers (vrrp_check_unicast_src) */
  | 'unknown_peer'
  /** our own advert looped back */
  | 'own_packet'
  /** a backup with preemption discarded a lower-priority advert (keepalived's "discarding") */
  | 'lower_priority';

export const VRRP_DROP_REASONS: readonly VrrpDropReason[] = [
  'truncated',
  'bad_version',
  'bad_type',
  'bad_ttl',
  'bad_checksum',
  'bad_length',
  'bad_vrid',
  'unknown_vrid',
  'auth_type_mismatch',
  'auth_mismatch',
  'interval_mismatch',
  'addr_mismatch',
  'unknown_peer',
  'own_packet',
  'lower_priority',
];

/** A decoded (or to-be-encoded) advertisement. */
export interface VrrpAdvert {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /**
   * Advertisement interval in centiseconds: v2 carries whole seconds (encode rounds to seconds,
   * decode multiplies by 100), v3 the 12-bit centisecond field.
   */
  intervalCs: number;
  /** 4-byte (IPv4) or 16-byte (IPv6) addresses, network order */
  addresses: Uint8Array[];
  /** v2 only: 0 none, 1 PASS, 2 AH */
  authType: number;
  /** v2 only: the 8 bytes of authentication data (PASS: the password, zero padded) */
  authData: Uint8Array;
}

/** Length of the VRRP message for a version, family and address count. */
export function advertLength(version: 2 | 3, family: 4 | 6, count: number): number {
  return VRRP_HEADER_LEN + count * (family === 4 ? 4 : 16) + (version === 2 ? VRRP_V2_AUTH_LEN : 0);
}

/** Unfolded sum of the pseudo-header (RFC 2460 §8.1 for IPv6; src, dst, 0, 112, length for IPv4). */
function pseudoSum(family: 4 | 6, src: Uint8Array, dst: Uint8Array, length: number): number {
  const alen = family === 4 ? 4 : 16;
  let s = sumBytes(src, 0, alen, 0);
  s = sumBytes(dst, 0, alen, s);
  // IPv4: zero byte + protocol (one word), 16-bit length. IPv6: 32-bit length, 3 zero bytes + next header.
  return s + IPPROTO_VRRP + (length >>> 16) + (length & 0xffff);
}

/**
 * The checksum of a VRRP message in buf[off, off+len) with its checksum field taken as zero. v3
 * includes the pseudo-header (src/dst are the IP source and destination addresses).
 */
export function vrrpChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  version: 2 | 3,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
): number {
  let s = sumBytes(buf, off, len, 0);
  s -= (buf[off + 6]! << 8) | buf[off + 7]!;
  if (version === 3) s += pseudoSum(family, src, dst, len);
  return finish(s);
}

/** A PASS password as the 8 bytes of v2 authentication data (truncated to 8, zero padded). */
export function passwordAuthData(pass: string): Uint8Array {
  const out = new Uint8Array(VRRP_V2_AUTH_LEN);
  out.set(new TextEncoder().encode(pass).subarray(0, VRRP_V2_AUTH_LEN));
  return out;
}

/**
 * Encode an advertisement into a new buffer. src/dst are needed for the v3 pseudo-header (ignored
 * for v2). Throws only on programming errors (a bad field), never for received data.
 */
export function encodeAdvert(adv: VrrpAdvert, family: 4 | 6, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const alen = family === 4 ? 4 : 16;
  if (adv.version === 2 && family === 6) throw new RangeError('VRRPv2 is IPv4 only');
  if (adv.addresses.length > 255) throw new RangeError('at most 255 addresses');
  const len = advertLength(adv.version, family, adv.addresses.length);
  const b = new Uint8Array(len);
  b[0] = (adv.version << 4) | VRRP_TYPE_ADVERTISEMENT;
  b[1] = adv.vrid;
  b[2] = adv.priority;
  b[3] = adv.addresses.length;
  if (adv.version === 2) {
    b[4] = adv.authType;
    b[5] = Math.min(255, Math.max(1, Math.round(adv.intervalCs / 100)));
  } else {
    const cs = Math.min(VRRP_V3_MAX_INTERVAL_CS, Math.max(1, Math.round(adv.intervalCs)));
    b[4] = cs >>> 8;
    b[5] = cs & 0xff;
  }
  let o = VRRP_HEADER_LEN;
  for (const a of adv.addresses) {
    if (a.length !== alen) throw new RangeError(`address of ${a.length} bytes in an IPv${family} advert`);
    b.set(a, o);
    o += alen;
  }
  if (adv.version === 2) b.set(adv.authData.subarray(0, VRRP_V2_AUTH_LEN), o);
  const c = vrrpChecksum(b, 0, len, adv.version, family, src, dst);
  b[6] = c >>> 8;
  b[7] = c & 0xff;
  return b;
}

/**
 * Validate and decode the VRRP message in buf[off, off+len). ttl is the received IPv4 TTL / IPv6
 * hop limit (-1 = unknown: skip that check, as for unicast with the TTL check off). Returns the
 * advert or the reason it was rejected. Checks, in order: length, version, type, TTL, VRID != 0,
 * count vs length, checksum.
 */
export function decodeAdvert(
  buf: Uint8Array,
  off: number,
  len: number,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  ttl: number,
): VrrpAdvert | VrrpDropReason {
  if (len < VRRP_HEADER_LEN) return 'truncated';
  const version = buf[off]! >>> 4;
  if (version !== 2 && version !== 3) return 'bad_version';
  if (version === 2 && family === 6) return 'bad_version';
  if ((buf[off]! & 0x0f) !== VRRP_TYPE_ADVERTISEMENT) return 'bad_type';
  if (ttl >= 0 && ttl !== VRRP_TTL) return 'bad_ttl';
  const vrid = buf[off + 1]!;
  if (vrid === 0) return 'bad_vrid';
  const count = buf[off + 3]!;
  // IPv4 may carry padding after the message (RFC 3768 §5.3.8: the checksum covers the VRRP
  // message only), so a longer buffer is fine but a shorter one is not; the checksum runs over
  // the computed message length.
  const need = advertLength(version, family, count);
  if (len < need) return 'bad_length';
  if (version === 3 && len !== need) return 'bad_length';
  const stored = (buf[off + 6]! << 8) | buf[off + 7]!;
  if (vrrpChecksum(buf, off, need, version, family, src, dst) !== stored) return 'bad_checksum';
  const alen = family === 4 ? 4 : 16;
  const addresses: Uint8Array[] = [];
  let o = off + VRRP_HEADER_LEN;
  for (let i = 0; i < count; i++, o += alen) addresses.push(buf.slice(o, o + alen));
  if (version === 2) {
    return {
      version,
      vrid,
      priority: buf[off + 2]!,
      intervalCs: buf[off + 5]! * 100,
      addresses,
      authType: buf[off + 4]!,
      authData: buf.slice(o, o + VRRP_V2_AUTH_LEN),
    };
  }
  return {
    version,
    vrid,
    priority: buf[off + 2]!,
    intervalCs: ((buf[off + 4]! & 0x0f) << 8) | buf[off + 5]!,
    addresses,
    authType: 0,
    authData: new Uint8Array(0),
  };
}

/**
 * Decode an IPv4 datagram as a raw IPPROTO_VRRP socket delivers it (IP header included): checks
 * the header, takes TTL, source and destination from it, then decodeAdvert on the payload.
 * `ttlCheck` false skips the TTL check (unicast without vrrp_check_unicast_src semantics).
 */
export function decodeIpv4Advert(
  buf: Uint8Array,
  len: number,
  ttlCheck = true,
): { advert: VrrpAdvert; src: Uint8Array; dst: Uint8Array; ttl: number } | VrrpDropReason {
  if (len < 20) return 'truncated';
  if (buf[0]! >>> 4 !== 4) return 'bad_version';
  const ihl = (buf[0]! & 0x0f) * 4;
  if (ihl < 20 || len < ihl) return 'truncated';
  const total = (buf[2]! << 8) | buf[3]!;
  const end = total >= ihl && total <= len ? total : len;
  const ttl = buf[8]!;
  const src = buf.slice(12, 16);
  const dst = buf.slice(16, 20);
  const r = decodeAdvert(buf, ihl, end - ihl, 4, src, dst, ttlCheck ? ttl : -1);
  if (typeof r === 'string') return r;
  return { advert: r, src, dst, ttl };
}
