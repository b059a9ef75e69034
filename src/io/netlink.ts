/**
 * rtnetlink message encoding and decoding (control plane; allocates freely).
 *
 * Layouts follow the Linux uapi headers (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h,
 * if_addr.h, neighbour.h):
 *  - struct nlmsghdr  16 bytes: u32 len, u16 type, u16 flags, u32 seq, u32 pid
 *  - struct ifinfomsg 16 bytes: u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change
 *  - struct ifaddrmsg  8 bytes: u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index
 *  - struct rtmsg     12 bytes: u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags
 *  - struct ndmsg     12 bytes: u8 family, u8 pad, u16 pad, i32 ifindex, u16 state, u8 flags, u8 type
 *  - struct rtattr     4 bytes: u16 len, u16 type, then the payload; attributes and messages are
 *    aligned to 4 bytes (NLMSG_ALIGN / RTA_ALIGN).
 *  - struct rtnexthop  8 bytes: u16 len, u8 flags, u8 hops, i32 ifindex, then attributes.
 * Integers are in host byte order (netlink is a local protocol); addresses in attributes are in
 * network byte order. Decoded addresses are text (formatAddress), families are lvsd's AF_INET (4) /
 * AF_INET6 (6), so the decoded values are plain, serialisable data.
 */
import { endianness } from 'node:os';
import { AF_INET, AF_INET6 } from '../packet/view.js';
import { formatAddress, formatMac, parseAddress, parseMac } from '../packet/addr.js';

// ---- socket constants (sys/socket.h, linux/netlink.h, linux/rtnetlink.h)
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const NETLINK_ROUTE = 0;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

/** kernel address families (linux/socket.h) */
export const KAF_UNSPEC = 0;
export const KAF_INET = 2;
export const KAF_INET6 = 10;

// ---- nlmsghdr
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** NEW requests and notifications: an existing object was replaced */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_CREATE = 0x400;

// ---- message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

// ---- struct sizes
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const NDMSG_LEN = 12;
export const RTNEXTHOP_LEN = 8;

// ---- link attributes and flags (if_link.h, if.h)
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_VLAN_ID = 1;
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_LOWER_UP = 0x10000;
/** RFC 2863 operational states (IF_OPER_*) */
export const OPERSTATE_NAMES = [
  'UNKNOWN',
  'NOTPRESENT',
  'DOWN',
  'LOWERLAYERDOWN',
  'TESTING',
  'DORMANT',
  'UP',
];

// ---- address attributes and flags (if_addr.h)
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

// ---- route attributes and values (rtnetlink.h)
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTAX_MTU = 2;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

// ---- neighbour attributes and states (neighbour.h)
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
/** States in which the kernel's link-layer address is valid (NUD_VALID in the kernel). */
export const NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;

const LE = endianness() === 'LE';

export const align4 = (n: number): number => (n + 3) & ~3;

// ------------------------------------------------------------------ decoded forms (plain data)

export interface LinkInfo {
  ifindex: number;
  name: string;
  /** IFF_* */
  flags: number;
  /** ARPHRD_* (ifi_type) */
  hwType: number;
  /** "aa:bb:cc:dd:ee:ff", or null when the link has no 6-byte hardware address */
  mac: string | null;
  mtu: number;
  /** ifindex of the bridge/bond/vrf this link is enslaved to, 0 if none */
  master: number;
  /** IFLA_LINK: the lower device (VLAN parent, veth peer), 0 if none */
  link: number;
  /** IF_OPER_* */
  operstate: number;
  /** IFLA_INFO_KIND ("vlan", "bridge", "bond", "veth", "dummy", ...), "" if none */
  kind: string;
  /** 802.1Q id for kind "vlan", else -1 */
  vlanId: number;
}

export interface AddrInfo {
  ifindex: number;
  af: number;
  prefixLen: number;
  /** IFA_LOCAL when present (the address itself on point-to-point links), else IFA_ADDRESS */
  address: string;
  /** IFA_ADDRESS when it differs from the local address (the peer of a point-to-point link) */
  peer: string | null;
  /** IFA_F_* (IFA_FLAGS when present: it carries the bits above 8) */
  flags: number;
  scope: number;
  label: string;
}

export interface RouteInfo {
  af: number;
  /** destination prefix text ("0.0.0.0" / "::" for the default route) */
  dst: string;
  dstLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  /** RTN_* */
  type: number;
  /** next hop, null when on-link; for multipath routes the first hop's */
  gateway: string | null;
  /** output interface; for multipath routes the first hop's */
  oif: number;
  prefsrc: string | null;
  priority: number;
  /** RTAX_MTU, 0 if unset */
  mtu: number;
  /** number of hops of an RTA_MULTIPATH route (0 for a single-path route) */
  hops: number;
}

export interface NeighInfo {
  af: number;
  ifindex: number;
  dst: string;
  lladdr: string | null;
  /** NUD_* */
  state: number;
  flags: number;
  type: number;
}

export type NetlinkMessage =
  | { type: typeof RTM_NEWLINK | typeof RTM_DELLINK; flags: number; seq: number; pid: number; link: LinkInfo }
  | { type: typeof RTM_NEWADDR | typeof RTM_DELADDR; flags: number; seq: number; pid: number; addr: AddrInfo }
  | {
      type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE;
      flags: number;
      seq: number;
      pid: number;
      route: RouteInfo;
    }
  | {
      type: typeof RTM_NEWNEIGH | typeof RTM_DELNEIGH;
      flags: number;
      seq: number;
      pid: number;
      neigh: NeighInfo;
    }
  | { type: typeof NLMSG_DONE; flags: number; seq: number; pid: number }
  | { type: typeof NLMSG_ERROR; flags: number; seq: number; pid: number; error: number }
  | { type: -1; flags: number; seq: number; pid: number; rawType: number };

// ------------------------------------------------------------------ helpers

function kafToAf(kaf: number): number {
  return kaf === KAF_INET ? AF_INET : kaf === KAF_INET6 ? AF_INET6 : 0;
}

function afToKaf(af: number): number {
  return af === AF_INET ? KAF_INET : af === AF_INET6 ? KAF_INET6 : KAF_UNSPEC;
}

function addrText(b: Uint8Array, off: number, len: number, af: number): string | null {
  const words = new Uint32Array(4);
  if (af === AF_INET && len === 4) {
    words[0] = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    return formatAddress(AF_INET, words);
  }
  if (af === AF_INET6 && len === 16) {
    for (let i = 0; i < 4; i++) {
      const o = off + 4 * i;
      words[i] = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    }
    return formatAddress(AF_INET6, words);
  }
  return null;
}

function cString(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('utf8');
}

/** Visit the rtattrs in b[off, end): cb(type without NLA_F_* bits, payload offset, payload length). */
export function forEachAttr(
  dv: DataView,
  off: number,
  end: number,
  cb: (type: number, p: number, len: number) => void,
): void {
  while (off + 4 <= end) {
    const len = dv.getUint16(off, LE);
    if (len < 4 || off + len > end) return; // malformed: stop rather than read past the message
    cb(dv.getUint16(off + 2, LE) & 0x3fff, off + 4, len - 4);
    off += align4(len);
  }
}

// ------------------------------------------------------------------ decoding

function decodeLink(b: Uint8Array, dv: DataView, p: number, end: number): LinkInfo {
  const link: LinkInfo = {
    ifindex: dv.getInt32(p + 4, LE),
    name: '',
    flags: dv.getUint32(p + 8, LE),
    hwType: dv.getUint16(p + 2, LE),
    mac: null,
    mtu: 0,
    master: 0,
    link: 0,
    operstate: 0,
    kind: '',
    vlanId: -1,
  };
  forEachAttr(dv, p + IFINFOMSG_LEN, end, (t, a, len) => {
    if (t === IFLA_IFNAME) link.name = cString(b, a, len);
    else if (t === IFLA_ADDRESS && len === 6) link.mac = formatMac(b, a);
    else if (t === IFLA_MTU && len >= 4) link.mtu = dv.getUint32(a, LE);
    else if (t === IFLA_MASTER && len >= 4) link.master = dv.getUint32(a, LE);
    else if (t === IFLA_LINK && len >= 4) link.link = dv.getUint32(a, LE);
    else if (t === IFLA_OPERSTATE && len >= 1) link.operstate = b[a]!;
    else if (t === IFLA_LINKINFO) {
      forEachAttr(dv, a, a + len, (it, ia, ilen) => {
        if (it === IFLA_INFO_KIND) link.kind = cString(b, ia, ilen);
        else if (it === IFLA_INFO_DATA) {
          forEachAttr(dv, ia, ia + ilen, (dt, da, dlen) => {
            // IFLA_INFO_DATA is kind-specific; IFLA_VLAN_ID (u16) only means the VLAN id for "vlan"
            if (dt === IFLA_VLAN_ID && dlen >= 2) link.vlanId = dv.getUint16(da, LE);
          });
        }
      });
    }
  });
  if (link.kind !== 'vlan') link.vlanId = -1;
  return link;
}

function decodeAddr(b: Uint8Array, dv: DataView, p: number, end: number): AddrInfo {
  const af = kafToAf(b[p]!);
  let address: string | null = null;
  let local: string | null = null;
  const info: AddrInfo = {
    ifindex: dv.getUint32(p + 4, LE),
    af,
    prefixLen: b[p + 1]!,
    address: '',
    peer: null,
    flags: b[p + 2]!,
    scope: b[p + 3]!,
    label: '',
  };
  forEachAttr(dv, p + IFADDRMSG_LEN, end, (t, a, len) => {
    if (t === IFA_ADDRESS) address = addrText(b, a, len, af);
    else if (t === IFA_LOCAL) local = addrText(b, a, len, af);
    else if (t === IFA_LABEL) info.label = cString(b, a, len);
    else if (t === IFA_FLAGS && len >= 4) info.flags = dv.getUint32(a, LE);
  });
  // rtnetlink(7): IFA_LOCAL is the local address; IFA_ADDRESS is the peer on point-to-point links
  // and equal to IFA_LOCAL otherwise. IPv6 sends only IFA_ADDRESS unless a peer is configured.
  info.address = local ?? address ?? '';
  if (local !== null && address !== null && address !== local) info.peer = address;
  return info;
}

function decodeRoute(b: Uint8Array, dv: DataView, p: number, end: number): RouteInfo {
  const af = kafToAf(b[p]!);
  const r: RouteInfo = {
    af,
    dst: af === AF_INET6 ? '::' : '0.0.0.0',
    dstLen: b[p + 1]!,
    tos: b[p + 3]!,
    table: b[p + 4]!,
    protocol: b[p + 5]!,
    scope: b[p + 6]!,
    type: b[p + 7]!,
    gateway: null,
    oif: 0,
    prefsrc: null,
    priority: 0,
    mtu: 0,
    hops: 0,
  };
  forEachAttr(dv, p + RTMSG_LEN, end, (t, a, len) => {
    if (t === RTA_DST) r.dst = addrText(b, a, len, af) ?? r.dst;
    else if (t === RTA_GATEWAY) r.gateway = addrText(b, a, len, af);
    else if (t === RTA_OIF && len >= 4) r.oif = dv.getUint32(a, LE);
    else if (t === RTA_PREFSRC) r.prefsrc = addrText(b, a, len, af);
    else if (t === RTA_PRIORITY && len >= 4) r.priority = dv.getUint32(a, LE);
    else if (t === RTA_TABLE && len >= 4)
      r.table = dv.getUint32(a, LE); // tables above 255
    else if (t === RTA_METRICS) {
      forEachAttr(dv, a, a + len, (mt, ma, mlen) => {
        if (mt === RTAX_MTU && mlen >= 4) r.mtu = dv.getUint32(ma, LE);
      });
    } else if (t === RTA_MULTIPATH) {
      // a sequence of rtnexthop, each followed by its own attributes; lvsd takes the first hop
      let o = a;
      const mend = a + len;
      while (o + RTNEXTHOP_LEN <= mend) {
        const nhLen = dv.getUint16(o, LE);
        if (nhLen < RTNEXTHOP_LEN || o + nhLen > mend) break;
        if (r.hops === 0) {
          r.oif = dv.getInt32(o + 4, LE);
          forEachAttr(dv, o + RTNEXTHOP_LEN, o + nhLen, (nt, na, nlen) => {
            if (nt === RTA_GATEWAY) r.gateway = addrText(b, na, nlen, af);
          });
        }
        r.hops++;
        o += align4(nhLen);
      }
    }
  });
  return r;
}

function decodeNeigh(b: Uint8Array, dv: DataView, p: number, end: number): NeighInfo {
  const af = kafToAf(b[p]!);
  const n: NeighInfo = {
    af,
    ifindex: dv.getInt32(p + 4, LE),
    dst: '',
    lladdr: null,
    state: dv.getUint16(p + 8, LE),
    flags: b[p + 10]!,
    type: b[p + 11]!,
  };
  forEachAttr(dv, p + NDMSG_LEN, end, (t, a, len) => {
    if (t === NDA_DST) n.dst = addrText(b, a, len, af) ?? '';
    else if (t === NDA_LLADDR && len === 6) n.lladdr = formatMac(b, a);
  });
  return n;
}

/**
 * Decode every netlink message in buf[off, off+len) (one datagram may hold many). Messages of
 * families other than IPv4/IPv6 (addresses, routes, neighbours of AF_BRIDGE, AF_MPLS, ...) and
 * unknown types are returned as type -1 so the caller can ignore them; truncated messages end the walk.
 */
export function decodeMessages(buf: Uint8Array, off = 0, len = buf.length - off): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = off + len;
  let o = off;
  while (o + NLMSG_HDRLEN <= end) {
    const mlen = dv.getUint32(o, LE);
    if (mlen < NLMSG_HDRLEN || o + mlen > end) break;
    const type = dv.getUint16(o + 4, LE);
    const flags = dv.getUint16(o + 6, LE);
    const seq = dv.getUint32(o + 8, LE);
    const pid = dv.getUint32(o + 12, LE);
    const p = o + NLMSG_HDRLEN;
    const mend = o + mlen;
    const plen = mlen - NLMSG_HDRLEN;
    const other = { type: -1 as const, flags, seq, pid, rawType: type };
    switch (type) {
      case NLMSG_DONE:
        out.push({ type, flags, seq, pid });
        break;
      case NLMSG_ERROR:
        out.push({ type, flags, seq, pid, error: plen >= 4 ? dv.getInt32(p, LE) : 0 });
        break;
      case RTM_NEWLINK:
      case RTM_DELLINK:
        out.push(
          plen >= IFINFOMSG_LEN ? { type, flags, seq, pid, link: decodeLink(buf, dv, p, mend) } : other,
        );
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        out.push(
          plen >= IFADDRMSG_LEN && kafToAf(buf[p]!) !== 0
            ? { type, flags, seq, pid, addr: decodeAddr(buf, dv, p, mend) }
            : other,
        );
        break;
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        out.push(
          plen >= RTMSG_LEN && kafToAf(buf[p]!) !== 0
            ? { type, flags, seq, pid, route: decodeRoute(buf, dv, p, mend) }
            : other,
        );
        break;
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        out.push(
          plen >= NDMSG_LEN && kafToAf(buf[p]!) !== 0
            ? { type, flags, seq, pid, neigh: decodeNeigh(buf, dv, p, mend) }
            : other,
        );
        break;
      default:
        out.push(other);
    }
    o += align4(mlen);
  }
  return out;
}

// ------------------------------------------------------------------ encoding

/** Builds one netlink message: header, fixed struct, attributes (nesting via begin/end). */
export class MessageWriter {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  private len = 0;
  private readonly nests: number[] = [];

  constructor(type: number, flags: number, seq: number, pid = 0) {
    this.ensure(NLMSG_HDRLEN);
    this.dv.setUint16(4, type, LE);
    this.dv.setUint16(6, flags, LE);
    this.dv.setUint32(8, seq, LE);
    this.dv.setUint32(12, pid, LE);
    this.len = NLMSG_HDRLEN;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra + 64));
    b.set(this.buf);
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }

  /** Append zeroed bytes (the fixed struct) and return their offset for the caller to fill. */
  reserve(n: number): number {
    const n4 = align4(n);
    this.ensure(n4);
    const at = this.len;
    this.buf.fill(0, at, at + n4);
    this.len += n4;
    return at;
  }

  u8(at: number, v: number): void {
    this.buf[at] = v;
  }
  u16(at: number, v: number): void {
    this.dv.setUint16(at, v, LE);
  }
  u32(at: number, v: number): void {
    this.dv.setUint32(at, v >>> 0, LE);
  }

  attr(type: number, payload: Uint8Array): void {
    const at = this.reserve(4 + payload.length);
    this.dv.setUint16(at, 4 + payload.length, LE);
    this.dv.setUint16(at + 2, type, LE);
    this.buf.set(payload, at + 4);
  }

  attrU32(type: number, v: number): void {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, v >>> 0, LE);
    this.attr(type, p);
  }

  attrU16(type: number, v: number): void {
    const p = new Uint8Array(2);
    new DataView(p.buffer).setUint16(0, v, LE);
    this.attr(type, p);
  }

  attrString(type: number, s: string): void {
    const bytes = Buffer.from(s + '\0', 'utf8');
    this.attr(type, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  /** Start a nested attribute (or an rtnexthop when headerLen = 8); returns its offset. */
  begin(type: number, headerLen = 4): number {
    const at = this.reserve(headerLen);
    if (headerLen === 4) this.dv.setUint16(at + 2, type, LE);
    this.nests.push(at);
    return at;
  }

  /** Close the innermost nest: write its length (unaligned, as the kernel does). */
  end(): void {
    const at = this.nests.pop()!;
    this.dv.setUint16(at, this.len - at, LE);
  }

  /** The finished message (its length written into the header). */
  finish(): Uint8Array {
    this.dv.setUint32(0, this.len, LE);
    return this.buf.slice(0, this.len);
  }
}

function addrBytes(af: number, text: string): Uint8Array {
  const a = parseAddress(text);
  if (!a || a.af !== af) throw new RangeError(`not an ${af === AF_INET ? 'IPv4' : 'IPv6'} address: ${text}`);
  const n = af === AF_INET ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (a.words[i >>> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
  return out;
}

function macBytes(text: string): Uint8Array {
  const m = parseMac(text);
  if (!m) throw new RangeError(`not a MAC address: ${text}`);
  return m;
}

const DUMP_HEADER_LEN: Record<number, number> = {
  [RTM_GETLINK]: IFINFOMSG_LEN,
  [RTM_GETADDR]: IFADDRMSG_LEN,
  [RTM_GETROUTE]: RTMSG_LEN,
  [RTM_GETNEIGH]: NDMSG_LEN,
};

/**
 * A dump request (NLM_F_REQUEST | NLM_F_DUMP) for RTM_GETLINK/GETADDR/GETROUTE/GETNEIGH, carrying the
 * full zeroed family header (the kernel's strict dump checking wants the whole struct), family
 * AF_UNSPEC (every family) unless given.
 */
export function encodeDumpRequest(type: number, seq: number, kernelFamily = KAF_UNSPEC): Uint8Array {
  const hdr = DUMP_HEADER_LEN[type];
  if (hdr === undefined) throw new RangeError(`not a dump request type: ${type}`);
  const w = new MessageWriter(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  const p = w.reserve(hdr);
  w.u8(p, kernelFamily);
  return w.finish();
}

/** Kernel-format RTM_NEWLINK/DELLINK (tests and tools; the mirror only decodes). */
export function encodeLink(type: number, flags: number, seq: number, l: LinkInfo): Uint8Array {
  const w = new MessageWriter(type, flags, seq);
  const p = w.reserve(IFINFOMSG_LEN);
  w.u16(p + 2, l.hwType);
  w.u32(p + 4, l.ifindex);
  w.u32(p + 8, l.flags);
  w.attrString(IFLA_IFNAME, l.name);
  if (l.mac !== null) w.attr(IFLA_ADDRESS, macBytes(l.mac));
  w.attrU32(IFLA_MTU, l.mtu);
  if (l.link) w.attrU32(IFLA_LINK, l.link);
  if (l.master) w.attrU32(IFLA_MASTER, l.master);
  w.attr(IFLA_OPERSTATE, Uint8Array.of(l.operstate));
  if (l.kind !== '') {
    w.begin(IFLA_LINKINFO);
    w.attrString(IFLA_INFO_KIND, l.kind);
    if (l.vlanId >= 0) {
      w.begin(IFLA_INFO_DATA);
      w.attrU16(IFLA_VLAN_ID, l.vlanId);
      w.end();
    }
    w.end();
  }
  return w.finish();
}

export function encodeAddr(type: number, flags: number, seq: number, a: AddrInfo): Uint8Array {
  const w = new MessageWriter(type, flags, seq);
  const p = w.reserve(IFADDRMSG_LEN);
  w.u8(p, afToKaf(a.af));
  w.u8(p + 1, a.prefixLen);
  w.u8(p + 2, a.flags & 0xff);
  w.u8(p + 3, a.scope);
  w.u32(p + 4, a.ifindex);
  w.attr(IFA_ADDRESS, addrBytes(a.af, a.peer ?? a.address));
  if (a.af === AF_INET || a.peer !== null) w.attr(IFA_LOCAL, addrBytes(a.af, a.address));
  if (a.label !== '') w.attrString(IFA_LABEL, a.label);
  w.attrU32(IFA_FLAGS, a.flags);
  return w.finish();
}

export function encodeRoute(
  type: number,
  flags: number,
  seq: number,
  r: RouteInfo,
  extraHops: Array<{ gateway: string | null; oif: number }> = [],
): Uint8Array {
  const w = new MessageWriter(type, flags, seq);
  const p = w.reserve(RTMSG_LEN);
  w.u8(p, afToKaf(r.af));
  w.u8(p + 1, r.dstLen);
  w.u8(p + 3, r.tos);
  w.u8(p + 4, r.table < 256 ? r.table : 252 /* RT_TABLE_COMPAT */);
  w.u8(p + 5, r.protocol);
  w.u8(p + 6, r.scope);
  w.u8(p + 7, r.type);
  w.attrU32(RTA_TABLE, r.table);
  if (r.dstLen > 0) w.attr(RTA_DST, addrBytes(r.af, r.dst));
  if (r.priority) w.attrU32(RTA_PRIORITY, r.priority);
  if (r.prefsrc !== null) w.attr(RTA_PREFSRC, addrBytes(r.af, r.prefsrc));
  if (r.mtu) {
    w.begin(RTA_METRICS);
    w.attrU32(RTAX_MTU, r.mtu);
    w.end();
  }
  if (r.hops > 0) {
    w.begin(RTA_MULTIPATH);
    for (const hop of [{ gateway: r.gateway, oif: r.oif }, ...extraHops]) {
      const at = w.begin(0, RTNEXTHOP_LEN);
      w.u32(at + 4, hop.oif);
      if (hop.gateway !== null) w.attr(RTA_GATEWAY, addrBytes(r.af, hop.gateway));
      w.end();
    }
    w.end();
  } else {
    if (r.gateway !== null) w.attr(RTA_GATEWAY, addrBytes(r.af, r.gateway));
    if (r.oif) w.attrU32(RTA_OIF, r.oif);
  }
  return w.finish();
}

export function encodeNeigh(type: number, flags: number, seq: number, n: NeighInfo): Uint8Array {
  const w = new MessageWriter(type, flags, seq);
  const p = w.reserve(NDMSG_LEN);
  w.u8(p, afToKaf(n.af));
  w.u32(p + 4, n.ifindex);
  w.u16(p + 8, n.state);
  w.u8(p + 10, n.flags);
  w.u8(p + 11, n.type);
  w.attr(NDA_DST, addrBytes(n.af, n.dst));
  if (n.lladdr !== null) w.attr(NDA_LLADDR, macBytes(n.lladdr));
  return w.finish();
}

/** NLMSG_DONE (dump end), as the kernel sends it: a 4-byte int payload. */
export function encodeDone(seq: number, flags = NLM_F_MULTI): Uint8Array {
  const w = new MessageWriter(NLMSG_DONE, flags, seq);
  w.reserve(4);
  return w.finish();
}

/** NLMSG_ERROR carrying -errno and the offending request's header. */
export function encodeError(seq: number, errno: number, request: Uint8Array): Uint8Array {
  const w = new MessageWriter(NLMSG_ERROR, 0, seq);
  const p = w.reserve(4 + NLMSG_HDRLEN);
  w.u32(p, -errno);
  for (let i = 0; i < NLMSG_HDRLEN; i++) w.u8(p + 4 + i, request[i] ?? 0);
  return w.finish();
}

/** Concatenate messages into one datagram (each is already 4-aligned). */
export function concatMessages(msgs: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const m of msgs) n += m.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const m of msgs) {
    out.set(m, o);
    o += m.length;
  }
  return out;
}
