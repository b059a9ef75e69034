/**
 * Packet builder for TESTS and tools (allocates freely; never on the hot path). Builds Ethernet (+VLAN),
 * IPv4 (+options, fragments), IPv6 (+extension headers, fragment header), TCP (+MSS and raw options),
 * UDP, SCTP, ICMP/ICMPv6 (echo, errors quoting another built packet), IPIP/GUE/GRE, with correct
 * checksums by default and knobs for bad / zero / partial (pseudo-header-only, as an offloading stack
 * leaves it) checksums. Also hexdump/diff helpers for readable assertion messages.
 */
import { parseAddress, parseMac } from './addr.js';
import {
  AF_INET6,
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_IP,
  ETH_P_IPV6,
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './view.js';
import { finish, fold, sumBytes } from './checksum.js';
import { crc32c } from './sctp.js';

/** good (default), bad (good ^ 0x5555), zero (0), partial (pseudo-header sum, non-inverted) */
export type CsumMode = 'good' | 'bad' | 'zero' | 'partial';

/** An L4 segment waiting for its IP header (which supplies the pseudo-header). */
export interface L4 {
  proto: number;
  bytes: Uint8Array;
  /** offset of the 16-bit checksum inside bytes, -1 for none (SCTP uses crc32c at 8) */
  csumOff: number;
  csum: CsumMode;
}

function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesOf(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + 7) & 0xff;
  return b;
}

export interface TcpOpts {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** flag bits (TCP_SYN | TCP_ACK ...); CWR 0x80, ECE 0x40 */
  flags?: number;
  window?: number;
  urg?: number;
  /** MSS option (kind 2) value; placed first */
  mss?: number;
  /** raw option bytes appended after MSS; padded with NOP..EOL to a multiple of 4 */
  options?: Uint8Array;
  payload?: Uint8Array;
  csum?: CsumMode;
}

export function tcp(o: TcpOpts): L4 {
  const optParts: number[] = [];
  if (o.mss !== undefined) optParts.push(2, 4, (o.mss >>> 8) & 0xff, o.mss & 0xff);
  if (o.options) optParts.push(...o.options);
  while (optParts.length % 4 !== 0) optParts.push(0);
  const hl = 20 + optParts.length;
  const pl = o.payload ?? new Uint8Array(0);
  const b = new Uint8Array(hl + pl.length);
  w16(b, 0, o.sport);
  w16(b, 2, o.dport);
  w32(b, 4, o.seq ?? 1000);
  w32(b, 8, o.ack ?? 0);
  b[12] = (hl / 4) << 4;
  b[13] = o.flags ?? 0x10;
  w16(b, 14, o.window ?? 65535);
  w16(b, 18, o.urg ?? 0);
  b.set(optParts, 20);
  b.set(pl, hl);
  return { proto: IPPROTO_TCP, bytes: b, csumOff: 16, csum: o.csum ?? 'good' };
}

export interface UdpOpts {
  sport: number;
  dport: number;
  payload?: Uint8Array;
  /** override the UDP length field */
  length?: number;
  csum?: CsumMode;
}

export function udp(o: UdpOpts): L4 {
  const pl = o.payload ?? new Uint8Array(0);
  const b = new Uint8Array(8 + pl.length);
  w16(b, 0, o.sport);
  w16(b, 2, o.dport);
  w16(b, 4, o.length ?? b.length);
  b.set(pl, 8);
  return { proto: IPPROTO_UDP, bytes: b, csumOff: 6, csum: o.csum ?? 'good' };
}

export interface SctpOpts {
  sport: number;
  dport: number;
  vtag?: number;
  /** chunks; default one INIT-like chunk */
  payload?: Uint8Array;
  csum?: CsumMode;
}

export function sctp(o: SctpOpts): L4 {
  const pl = o.payload ?? new Uint8Array([1, 0, 0, 4]);
  const b = new Uint8Array(12 + pl.length);
  w16(b, 0, o.sport);
  w16(b, 2, o.dport);
  w32(b, 4, o.vtag ?? 0);
  b.set(pl, 12);
  return { proto: IPPROTO_SCTP, bytes: b, csumOff: -1, csum: o.csum ?? 'good' };
}

export interface IcmpOpts {
  type: number;
  code?: number;
  /** 32-bit word after the checksum (echo id/seq, MTU, pointer) */
  rest?: number;
  payload?: Uint8Array;
  csum?: CsumMode;
}

function icmpCommon(proto: number, o: IcmpOpts): L4 {
  const pl = o.payload ?? new Uint8Array(0);
  const b = new Uint8Array(8 + pl.length);
  b[0] = o.type;
  b[1] = o.code ?? 0;
  w32(b, 4, o.rest ?? 0);
  b.set(pl, 8);
  return { proto, bytes: b, csumOff: 2, csum: o.csum ?? 'good' };
}

export function icmp4(o: IcmpOpts): L4 {
  return icmpCommon(IPPROTO_ICMP, o);
}

export function icmp6(o: IcmpOpts): L4 {
  return icmpCommon(IPPROTO_ICMPV6, o);
}

/** Arbitrary payload for protocol proto (no checksum maintained). */
export function raw(proto: number, bytes: Uint8Array): L4 {
  return { proto, bytes, csumOff: -1, csum: 'good' };
}

function addrBytes(s: string, want6: boolean): Uint8Array {
  const a = parseAddress(s);
  if (!a || (a.af === AF_INET6) !== want6) throw new Error(`bad ${want6 ? 'IPv6' : 'IPv4'} address ${s}`);
  const n = want6 ? 4 : 1;
  const b = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) w32(b, 4 * i, a.words[i]!);
  return b;
}

/** Fill the L4 checksum given the pseudo-header sum (unfolded); l4 is a copy inside pkt at off. */
function fillL4(pkt: Uint8Array, off: number, l4: L4, pseudo: number): void {
  const len = l4.bytes.length;
  if (l4.proto === IPPROTO_SCTP) {
    if (len < 12) return;
    pkt.fill(0, off + 8, off + 12);
    let c = crc32c(pkt, off, len);
    if (l4.csum === 'bad') c ^= 0x5555;
    if (l4.csum === 'zero') c = 0;
    pkt[off + 8] = c & 0xff;
    pkt[off + 9] = (c >>> 8) & 0xff;
    pkt[off + 10] = (c >>> 16) & 0xff;
    pkt[off + 11] = c >>> 24;
    return;
  }
  if (l4.csumOff < 0 || len < l4.csumOff + 2) return;
  const co = off + l4.csumOff;
  w16(pkt, co, 0);
  const ps = l4.proto === IPPROTO_ICMP ? 0 : pseudo;
  let c: number;
  switch (l4.csum) {
    case 'zero':
      c = 0;
      break;
    case 'partial':
      c = fold(ps);
      break;
    default:
      c = finish(sumBytes(pkt, off, len, ps));
      if (c === 0 && l4.proto === IPPROTO_UDP) c = 0xffff;
      if (l4.csum === 'bad') c ^= 0x5555;
  }
  w16(pkt, co, c);
}

export interface Ipv4Opts {
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** fragment offset in bytes (multiple of 8) */
  fragOffset?: number;
  /** raw option bytes (padded to a multiple of 4 with EOL) */
  options?: Uint8Array;
  /** override header fields for malformed rows */
  ihl?: number;
  totalLength?: number;
  version?: number;
  /** protocol override (defaults to l4.proto) */
  proto?: number;
  ipCsum?: 'good' | 'bad';
  /**
   * L4 length for the pseudo-header when l4 holds only part of the datagram (fragments); defaults to
   * l4 length. Only the first fragment's L4 checksum is meaningful.
   */
  pseudoLen?: number;
}

export function ipv4(o: Ipv4Opts, l4: L4): Uint8Array {
  const opt = o.options ? Array.from(o.options) : [];
  while (opt.length % 4 !== 0) opt.push(0);
  const hl = 20 + opt.length;
  const p = new Uint8Array(hl + l4.bytes.length);
  p[0] = ((o.version ?? 4) << 4) | ((o.ihl ?? hl / 4) & 0x0f);
  p[1] = o.tos ?? 0;
  w16(p, 2, o.totalLength ?? p.length);
  w16(p, 4, o.id ?? 0x1234);
  w16(p, 6, (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) >>> 3));
  p[8] = o.ttl ?? 64;
  p[9] = o.proto ?? l4.proto;
  p.set(addrBytes(o.src, false), 12);
  p.set(addrBytes(o.dst, false), 16);
  p.set(opt, 20);
  w16(p, 10, finish(sumBytes(p, 0, hl, 0)) ^ (o.ipCsum === 'bad' ? 0x5555 : 0));
  p.set(l4.bytes, hl);
  const len = o.pseudoLen ?? l4.bytes.length;
  const pseudo = sumBytes(p, 12, 8, 0) + l4.proto + len;
  fillL4(p, hl, l4, pseudo);
  return p;
}

export type Ipv6Ext =
  | { type: 'hop' | 'dst' | 'routing'; /** total bytes, multiple of 8, >= 8 */ len?: number }
  | { type: 'frag'; offset?: number; mf?: boolean; id?: number }
  | { type: 'ah'; /** total bytes, multiple of 4, >= 12 */ len?: number };

export interface Ipv6Opts {
  src: string;
  dst: string;
  hopLimit?: number;
  tc?: number;
  flowLabel?: number;
  ext?: Ipv6Ext[];
  payloadLength?: number;
  version?: number;
  /** next header override after all ext headers (defaults to l4.proto) */
  proto?: number;
  pseudoLen?: number;
}

const EXT_NH: Record<string, number> = { hop: 0, routing: 43, frag: 44, ah: 51, dst: 60 };

export function ipv6(o: Ipv6Opts, l4: L4): Uint8Array {
  const exts = o.ext ?? [];
  const extBytes: Uint8Array[] = [];
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i]!;
    const next = i + 1 < exts.length ? EXT_NH[exts[i + 1]!.type]! : (o.proto ?? l4.proto);
    let b: Uint8Array;
    if (e.type === 'frag') {
      b = new Uint8Array(8);
      b[0] = next;
      w16(b, 2, (e.offset ?? 0) | (e.mf ? 1 : 0));
      w32(b, 4, e.id ?? 0xabcd);
    } else if (e.type === 'ah') {
      const len = e.len ?? 16;
      b = new Uint8Array(len);
      b[0] = next;
      b[1] = len / 4 - 2;
    } else {
      const len = e.len ?? 8;
      b = new Uint8Array(len);
      b[0] = next;
      b[1] = len / 8 - 1;
      if (e.type !== 'routing' && len > 2) {
        // PadN option filling the rest (RFC 8200 §4.2)
        b[2] = 1;
        b[3] = len - 4;
      }
    }
    extBytes.push(b);
  }
  const ext = concat(...extBytes);
  const p = new Uint8Array(40 + ext.length + l4.bytes.length);
  const tc = o.tc ?? 0;
  w32(p, 0, ((o.version ?? 6) << 28) | (tc << 20) | (o.flowLabel ?? 0));
  w16(p, 4, o.payloadLength ?? ext.length + l4.bytes.length);
  p[6] = exts.length ? EXT_NH[exts[0]!.type]! : (o.proto ?? l4.proto);
  p[7] = o.hopLimit ?? 64;
  p.set(addrBytes(o.src, true), 8);
  p.set(addrBytes(o.dst, true), 24);
  p.set(ext, 40);
  const off = 40 + ext.length;
  p.set(l4.bytes, off);
  const len = o.pseudoLen ?? l4.bytes.length;
  const pseudo = sumBytes(p, 8, 32, 0) + l4.proto + (len >>> 16) + (len & 0xffff);
  fillL4(p, off, l4, pseudo);
  return p;
}

export interface EthOpts {
  src?: string;
  dst?: string;
  /** in-band tags, outermost first; tpid defaults to 0x8100 (0x88a8 for the outer of two) */
  vlans?: { tci: number; tpid?: number }[];
  ethType?: number;
  /** bytes of trailing padding / FCS */
  pad?: number;
}

export const MAC_A = '02:00:00:00:00:0a';
export const MAC_B = '02:00:00:00:00:0b';

export function eth(o: EthOpts, l3: Uint8Array): Uint8Array {
  const vl = o.vlans ?? [];
  const et = o.ethType ?? (l3.length > 0 && l3[0]! >>> 4 === 6 ? ETH_P_IPV6 : ETH_P_IP);
  const h = new Uint8Array(14 + 4 * vl.length);
  h.set(parseMac(o.dst ?? MAC_B)!, 0);
  h.set(parseMac(o.src ?? MAC_A)!, 6);
  let off = 12;
  for (let i = 0; i < vl.length; i++) {
    const t = vl[i]!;
    w16(h, off, t.tpid ?? (vl.length > 1 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q));
    w16(h, off + 2, t.tci);
    off += 4;
  }
  w16(h, off, et);
  return concat(h, l3, new Uint8Array(o.pad ?? 0));
}

// ---------------------------------------------------------------- tunnels

export function ipip(outer: Ipv4Opts | Ipv6Opts, inner: Uint8Array): Uint8Array {
  const proto = inner[0]! >>> 4 === 6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
  return isV6Opts(outer) ? ipv6(outer, raw(proto, inner)) : ipv4(outer, raw(proto, inner));
}

function isV6Opts(o: Ipv4Opts | Ipv6Opts): o is Ipv6Opts {
  return o.src.includes(':');
}

export interface GueOpts {
  sport: number;
  dport: number;
  /** remote checksum offload field (start, offset relative to the inner packet) */
  remcsum?: { start: number; offset: number };
  csum?: CsumMode;
}

export function gue(outer: Ipv4Opts | Ipv6Opts, o: GueOpts, inner: Uint8Array): Uint8Array {
  const ext = o.remcsum ? 8 : 0;
  const g = new Uint8Array(4 + ext);
  g[0] = ext >>> 2;
  g[1] = inner[0]! >>> 4 === 6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
  if (o.remcsum) {
    w16(g, 2, 1);
    w32(g, 4, 0x80000000);
    w16(g, 8, o.remcsum.start);
    w16(g, 10, o.remcsum.offset);
  }
  const u = udp({ sport: o.sport, dport: o.dport, payload: concat(g, inner), csum: o.csum ?? 'zero' });
  return isV6Opts(outer) ? ipv6(outer, u) : ipv4(outer, u);
}

export interface GreOpts {
  csum?: boolean;
  key?: number;
  seq?: number;
}

export function gre(outer: Ipv4Opts | Ipv6Opts, o: GreOpts, inner: Uint8Array): Uint8Array {
  const flags =
    (o.csum ? 0x8000 : 0) | (o.key !== undefined ? 0x2000 : 0) | (o.seq !== undefined ? 0x1000 : 0);
  const n = 4 + (o.csum ? 4 : 0) + (o.key !== undefined ? 4 : 0) + (o.seq !== undefined ? 4 : 0);
  const h = new Uint8Array(n);
  w16(h, 0, flags);
  w16(h, 2, inner[0]! >>> 4 === 6 ? ETH_P_IPV6 : ETH_P_IP);
  let q = 4 + (o.csum ? 4 : 0);
  if (o.key !== undefined) {
    w32(h, q, o.key);
    q += 4;
  }
  if (o.seq !== undefined) w32(h, q, o.seq);
  const body = concat(h, inner);
  if (o.csum) w16(body, 4, finish(sumBytes(body, 0, body.length, 0)));
  const l4 = raw(IPPROTO_GRE, body);
  return isV6Opts(outer) ? ipv6(outer, l4) : ipv4(outer, l4);
}

// ---------------------------------------------------------------- diagnostics

/** Classic 16-bytes-per-line hex dump with offsets. */
export function hexdump(b: Uint8Array, start = 0, end = b.length): string {
  const lines: string[] = [];
  for (let o = start; o < end; o += 16) {
    const row: string[] = [];
    for (let i = o; i < Math.min(o + 16, end); i++) row.push(b[i]!.toString(16).padStart(2, '0'));
    lines.push(`${(o - start).toString(16).padStart(4, '0')}  ${row.join(' ')}`);
  }
  return lines.join('\n');
}

/** '' when equal, else a message naming the first differing offset with both dumps around it. */
export function diffBytes(actual: Uint8Array, expected: Uint8Array): string {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  if (i === n && actual.length === expected.length) return '';
  const from = Math.max(0, (i & ~15) - 16);
  return (
    `first difference at byte ${i} (0x${i.toString(16)}); lengths ${actual.length} vs ${expected.length}\n` +
    `actual:\n${hexdump(actual, from, Math.min(actual.length, from + 64))}\n` +
    `expected:\n${hexdump(expected, from, Math.min(expected.length, from + 64))}`
  );
}
