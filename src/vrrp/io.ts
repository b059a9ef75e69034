/**
 * VRRP on real interfaces: raw IPPROTO_VRRP sockets, interface facts, virtual addresses and
 * gratuitous ARP / unsolicited neighbour advertisements. Control plane only (one advert per
 * instance per second or so); allocation here is fine.
 *
 * Sockets per interface and family (keepalived does the same split):
 * - a receive socket: raw, protocol 112, SO_BINDTODEVICE, the VRRP group joined on the interface
 *   (IP_ADD_MEMBERSHIP with struct ip_mreqn / IPV6_JOIN_GROUP with struct ipv6_mreq), IP_PKTINFO /
 *   IPV6_RECVPKTINFO and (IPv6) IPV6_RECVHOPLIMIT. It is not bound to an address: a raw socket bound
 *   to a local address only receives datagrams addressed to that address (raw(7)), which would
 *   lose the multicast adverts;
 * - a send socket: bound to the advert source (the interface's primary address or unicast_src_ip),
 *   TTL / hop limit 255 for multicast and unicast, multicast interface set and loopback off, and a
 *   drop-everything socket filter so it never queues received copies.
 * IPv4 raw sockets deliver the IP header, so the TTL and addresses come from it; IPv6 raw sockets
 * deliver the payload only, so source (recvmsg name), destination (IPV6_PKTINFO) and hop limit
 * (IPV6_HOPLIMIT) come from ancillary data.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  native,
  AF_INET,
  AF_INET6,
  SOCK_RAW,
  SOL_SOCKET,
  SO_BINDTODEVICE,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IP_PKTINFO,
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_TTL,
  IP_MULTICAST_LOOP,
  IP_TTL,
  IPV6_JOIN_GROUP,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_LOOP,
  IPV6_UNICAST_HOPS,
  IPV6_RECVPKTINFO,
  IPV6_RECVHOPLIMIT,
  RECV_META_LEN,
} from '../io/native.js';
import { parseAddress, formatAddress } from '../packet/addr.js';
import { AF_INET as PKT_AF_INET, AF_INET6 as PKT_AF_INET6 } from '../packet/view.js';
import { buildGratuitousArp, buildNeighborAdvert, ND_NA_F_OVERRIDE } from '../packet/arp.js';
import { LvsError } from '../errors.js';
import { IPPROTO_VRRP } from './packet.js';

/** Network-order bytes of an address string (4 or 16 bytes), or null. */
export function addressBytes(text: string): Uint8Array | null {
  const p = parseAddress(text);
  if (!p) return null;
  // parseAddress uses the packet layer's family numbers (4 / 6), not the socket AF_* values
  const n = p.af === PKT_AF_INET ? 1 : 4;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const w = p.words[i]!;
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 0xff;
    out[i * 4 + 2] = (w >>> 8) & 0xff;
    out[i * 4 + 3] = w & 0xff;
  }
  return out;
}

/** The canonical string of 4 or 16 network-order bytes. */
export function formatBytes(b: Uint8Array): string {
  const words = new Uint32Array(4);
  for (let i = 0; i < b.length / 4; i++)
    words[i] = ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
  return formatAddress(b.length === 4 ? PKT_AF_INET : PKT_AF_INET6, words);
}

function wordsOf(b: Uint8Array): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < b.length / 4; i++)
    w[i] = ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
  return w;
}

/** What VRRP needs to know about an interface. */
export interface InterfaceInfo {
  name: string;
  ifindex: number;
  mac: Uint8Array;
  /** administratively up and carrier (IFF_UP and IFF_LOWER_UP) */
  up: boolean;
  /** first IPv4 address that is not secondary, as listed by the kernel */
  primary4: string | null;
  /** first link-local IPv6 address (RFC 5798 §5.1.2.1: v3 IPv6 adverts come from it) */
  linkLocal6: string | null;
  /** every address on the interface */
  addresses: string[];
}

interface IpJsonAddr {
  family: string;
  local: string;
  prefixlen: number;
  scope?: string;
  secondary?: boolean;
  tentative?: boolean;
}
interface IpJsonLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  address?: string;
  addr_info?: IpJsonAddr[];
}

/** Every interface of the current network namespace (`ip -j addr show`). */
export function readInterfaces(): Map<string, InterfaceInfo> {
  const out = new Map<string, InterfaceInfo>();
  let links: IpJsonLink[];
  try {
    links = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8' })) as IpJsonLink[];
  } catch (e) {
    throw new LvsError('ERR_LVS_SYSTEM', `ip -j addr show failed: ${(e as Error).message}`);
  }
  for (const l of links) {
    const mac = new Uint8Array(6);
    const parts = (l.address ?? '').split(':');
    if (parts.length === 6) for (let i = 0; i < 6; i++) mac[i] = parseInt(parts[i]!, 16) || 0;
    const addrs = l.addr_info ?? [];
    const v4 = addrs.find((a) => a.family === 'inet' && !a.secondary);
    const ll = addrs.find((a) => a.family === 'inet6' && a.local.startsWith('fe80'));
    out.set(l.ifname, {
      name: l.ifname,
      ifindex: l.ifindex,
      mac,
      up: l.flags.includes('UP') && l.flags.includes('LOWER_UP'),
      primary4: v4?.local ?? null,
      linkLocal6: ll?.local ?? null,
      addresses: addrs.map((a) => a.local),
    });
  }
  return out;
}

/** Run `ip ARGS`; resolves with stdout, rejects with an LvsError carrying stderr. */
export function runIp(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { encoding: 'utf8', timeout: 10000 }, (err, stdout, stderr) => {
      if (err)
        reject(new LvsError('ERR_LVS_SYSTEM', `ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** One received advert with its addressing, as the socket delivered it. */
export interface ReceivedDatagram {
  family: 4 | 6;
  /** IPv4: the whole IP datagram; IPv6: the VRRP message */
  data: Uint8Array;
  length: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** TTL / hop limit (-1 unknown) */
  ttl: number;
  ifindex: number;
}

const DROP_ALL = new Uint8Array([0x06, 0, 0, 0, 0, 0, 0, 0]); // BPF_RET|BPF_K 0: accept nothing

/** ip_mreqn { imr_multiaddr, imr_address, imr_ifindex } (uapi/linux/in.h), host-order ifindex. */
function ipMreqn(group: Uint8Array | null, ifindex: number): Uint8Array {
  const b = new Uint8Array(12);
  if (group) b.set(group, 0);
  new DataView(b.buffer).setInt32(8, ifindex, true);
  return b;
}

/** ipv6_mreq { ipv6mr_multiaddr, ipv6mr_interface } (uapi/linux/in6.h). */
function ipv6Mreq(group: Uint8Array, ifindex: number): Uint8Array {
  const b = new Uint8Array(20);
  b.set(group, 0);
  new DataView(b.buffer).setInt32(16, ifindex, true);
  return b;
}

function nameBytes(name: string): Uint8Array {
  const b = new Uint8Array(name.length + 1);
  b.set(new TextEncoder().encode(name));
  return b;
}

/**
 * The receive side for one interface and family: joins `group` (unless null: unicast only) and
 * calls onDatagram for every datagram (from the poll callback).
 */
export class VrrpReceiver {
  readonly fd: number;
  private readonly buf = new Uint8Array(65536);
  private readonly meta = new Uint8Array(RECV_META_LEN);
  private readonly meta32 = new Int32Array(this.meta.buffer);
  private closed = false;

  constructor(
    readonly family: 4 | 6,
    readonly ifname: string,
    readonly ifindex: number,
    group: string | null,
    private readonly onDatagram: (d: ReceivedDatagram) => void,
  ) {
    const af = family === 4 ? AF_INET : AF_INET6;
    this.fd = native.socket(af, SOCK_RAW, IPPROTO_VRRP);
    try {
      native.setsockoptBytes(this.fd, SOL_SOCKET, SO_BINDTODEVICE, nameBytes(ifname));
      if (family === 4) {
        native.setsockoptInt(this.fd, IPPROTO_IP, IP_PKTINFO, 1);
        if (group)
          native.setsockoptBytes(
            this.fd,
            IPPROTO_IP,
            IP_ADD_MEMBERSHIP,
            ipMreqn(addressBytes(group)!, ifindex),
          );
      } else {
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
        if (group)
          native.setsockoptBytes(
            this.fd,
            IPPROTO_IPV6,
            IPV6_JOIN_GROUP,
            ipv6Mreq(addressBytes(group)!, ifindex),
          );
      }
      native.pollStart(this.fd, () => this.drain());
    } catch (e) {
      native.close(this.fd);
      throw e;
    }
  }

  private drain(): void {
    for (let i = 0; i < 64 && !this.closed; i++) {
      let n: number;
      try {
        n = native.recvFrom(this.fd, this.buf, 0, this.buf.length, this.meta);
      } catch {
        return;
      }
      if (n < 0) return;
      const alen = this.family === 4 ? 4 : 16;
      this.onDatagram({
        family: this.family,
        data: this.buf,
        length: n,
        src: this.meta.slice(0, alen),
        dst: this.meta.slice(16, 16 + alen),
        ttl: this.meta32[9]!,
        ifindex: this.meta32[8]!,
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.fd);
  }
}

/** The send side: adverts leave from `source` on the interface with TTL / hop limit 255. */
/** linux/in.h, linux/in6.h */
const IP_FREEBIND = 15;
const IPV6_FREEBIND = 78;

export class VrrpSender {
  readonly fd: number;
  readonly source: Uint8Array;

  constructor(
    readonly family: 4 | 6,
    readonly ifname: string,
    readonly ifindex: number,
    source: string,
  ) {
    const src = addressBytes(source);
    if (!src || src.length !== (family === 4 ? 4 : 16))
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `bad VRRP source address ${source}`);
    this.source = src;
    const af = family === 4 ? AF_INET : AF_INET6;
    this.fd = native.socket(af, SOCK_RAW, IPPROTO_VRRP);
    try {
      native.setFilter(this.fd, DROP_ALL);
      native.setsockoptBytes(this.fd, SOL_SOCKET, SO_BINDTODEVICE, nameBytes(ifname));
      // IP_FREEBIND / IPV6_FREEBIND (Linux 4.15): bind even while the address is tentative (IPv6
      // DAD right after the link came up) or not yet assigned (boot order); adverts sent before
      // it is usable fail and are logged, later ones go out
      if (family === 4) native.setsockoptInt(this.fd, IPPROTO_IP, IP_FREEBIND, 1);
      else native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_FREEBIND, 1);
      native.bindInet(this.fd, src, 0, family === 6 ? ifindex : 0);
      if (family === 4) {
        native.setsockoptBytes(this.fd, IPPROTO_IP, IP_MULTICAST_IF, ipMreqn(null, ifindex));
        native.setsockoptInt(this.fd, IPPROTO_IP, IP_MULTICAST_TTL, 255);
        native.setsockoptInt(this.fd, IPPROTO_IP, IP_TTL, 255);
        native.setsockoptInt(this.fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
      } else {
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255);
        native.setsockoptInt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      }
    } catch (e) {
      native.close(this.fd);
      throw e;
    }
  }

  /** Send a VRRP message to dst; false when the kernel had no room (EAGAIN) or refused. */
  send(msg: Uint8Array, dst: Uint8Array): boolean {
    try {
      return (
        native.sendTo(this.fd, msg, 0, msg.length, dst, 0, this.family === 6 ? this.ifindex : 0) ===
        msg.length
      );
    } catch {
      return false;
    }
  }

  close(): void {
    native.close(this.fd);
  }
}

const VNET_HDR_LEN = 10;
const ALL_NODES = addressBytes('ff02::1')!;
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);

/**
 * Gratuitous ARP (RFC 5227 §3: a broadcast request with sender = target = the address) and
 * unsolicited Neighbor Advertisements (RFC 4861 §7.2.6: to all-nodes, Override set, Solicited
 * clear) through an AF_PACKET socket on one interface. The socket (the addon's packetOpen, with a
 * virtio-net header on every frame) has a filter that accepts nothing: it only sends.
 */
export class Announcer {
  private readonly fd: number;
  private readonly frame = new Uint8Array(VNET_HDR_LEN + 128);

  constructor(
    readonly ifindex: number,
    private readonly mac: Uint8Array,
  ) {
    this.fd = native.packetOpen(ifindex, 0, 0, DROP_ALL);
  }

  /** Announce one address (IPv4: gratuitous ARP; IPv6: unsolicited NA); false when not sent. */
  announce(address: Uint8Array): boolean {
    this.frame.fill(0, 0, VNET_HDR_LEN);
    let len: number;
    if (address.length === 4) {
      const ip = ((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0;
      len = buildGratuitousArp(this.frame, VNET_HDR_LEN, this.mac, ip);
    } else {
      const w = wordsOf(address);
      len = buildNeighborAdvert(
        this.frame,
        VNET_HDR_LEN,
        this.mac,
        w,
        wordsOf(ALL_NODES),
        ALL_NODES_MAC,
        w,
        ND_NA_F_OVERRIDE,
      );
    }
    try {
      return native.send(this.fd, this.frame, 0, VNET_HDR_LEN + len) > 0;
    } catch {
      return false;
    }
  }

  close(): void {
    native.close(this.fd);
  }
}
