/**
 * The only importer of the N-API addon (native/lvsd.c, built to build/Release/lvsd.node by the
 * install script). Everything else imports `native` and the constants from here.
 *
 * The addon is context-aware: it loads in worker_threads, each worker with its own state (its own
 * uv_poll handles on its own loop).
 *
 * Errors from system calls are Node-style: an Error whose .code is the errno name ('EPERM'),
 * .errno the negative errno (as Node reports it), .syscall the call, and a message such as
 * `packetOpen: socket EPERM (Operation not permitted)`. Bad argument types throw TypeError
 * (code ERR_INVALID_ARG_TYPE), bad ranges RangeError (ERR_OUT_OF_RANGE).
 *
 * When the addon is not built, importing this module still works (pure-engine code and tests must
 * not need it): `nativeAvailable` is false and every function throws an Error with code
 * ERR_LVS_NO_ADDON naming the load failure.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An open probe engine (probeOpen); opaque. */
export type ProbeHandle = { readonly __probeHandle: unique symbol };
export type ProbeRow = [
  id: number,
  errno: number,
  phase: number,
  eof: boolean,
  latencyUs: number,
  response: Buffer | null,
];

export interface NativeAddon {
  /** socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC added to type; returns the fd. */
  socket(domain: number, type: number, protocol: number): number;
  /** bind a netlink socket: sockaddr_nl with nl_pid 0 (the kernel assigns a port id), nl_groups = groups. */
  bindNetlink(fd: number, groups: number): void;
  /** close(2); stops a poll on fd first. */
  close(fd: number): void;
  /** recv(MSG_DONTWAIT) into buf[offset, offset+length): bytes, or -1 on EAGAIN; throws otherwise. */
  recv(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** send(MSG_DONTWAIT|MSG_NOSIGNAL): bytes, or -1 on EAGAIN. */
  send(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** read(2) (TUN fds are non-blocking): bytes, or -1 on EAGAIN. */
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** write(2): bytes, or -1 on EAGAIN. */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /**
   * uv_poll(UV_READABLE) on fd in the calling thread's event loop; onReadable runs (level
   * triggered) whenever fd is readable. A second call for the same fd replaces the callback.
   * The poll keeps the loop alive until pollStop/close.
   */
  pollStart(fd: number, onReadable: () => void): void;
  /** Stop polling fd (no-op when not polled). */
  pollStop(fd: number): void;
  setsockoptInt(fd: number, level: number, name: number, value: number): void;
  getsockoptInt(fd: number, level: number, name: number): number;
  /** SO_PEERCRED of a connected unix socket fd. */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** Open /dev/net/tun (non-blocking) and TUNSETIFF with name ('' = kernel picks) and flags. */
  tunOpen(name: string, flags: number): { fd: number; name: string };
  /**
   * SO_ATTACH_FILTER with prog = struct sock_filter[] (8 bytes each, host order: u16 code, u8 jt,
   * u8 jf, u32 k). An empty prog detaches the current filter (SO_DETACH_FILTER).
   */
  setFilter(fd: number, prog: Uint8Array): void;
  /**
   * PACKET_STATISTICS of an AF_PACKET socket since the previous call (the kernel resets them on
   * every read): packets = frames queued plus dropped, drops = dropped for lack of buffer space.
   */
  packetStats(fd: number): { packets: number; drops: number };
  /** if_nametoindex(3); throws ENODEV when there is no such interface. */
  ifIndex(name: string): number;
  /**
   * An AF_PACKET SOCK_RAW socket bound to ETH_P_ALL on ifindex with PACKET_VNET_HDR,
   * PACKET_AUXDATA, PACKET_IGNORE_OUTGOING, PACKET_QDISC_BYPASS, SO_RCVBUFFORCE = rcvbuf,
   * SO_SNDBUFFORCE = sndbuf (0 = leave) and the socket filter prog (empty = none) attached before
   * bind, so no frame is received unfiltered. Non-blocking, close-on-exec. ringFrames > 0 receives
   * into a TPACKET_V2 ring of that many 2 KiB frames (rounded up to whole pages); frames larger than
   * a ring frame still arrive whole through the socket queue. packetRecv reads either kind.
   */
  packetOpen(ifindex: number, rcvbuf: number, sndbuf: number, prog: Uint8Array, ringFrames?: number): number;
  /**
   * Batched receive into FrameBatch slots (see AfPacketDriver.receive): from fds[first..] (wrapping,
   * nfds sockets) into slots slotBase.. (at most maxFrames), bytes at slot*slotSize + headroom,
   * metadata decoded into the arrays. Returns the number of frames; never blocks; I/O errors are
   * counted in counters (COUNTER_*), not thrown.
   */
  packetRecv(
    fds: Int32Array,
    nfds: number,
    first: number,
    slotBase: number,
    maxFrames: number,
    slotSize: number,
    headroom: number,
    buf: Uint8Array,
    start: Int32Array,
    len: Int32Array,
    ifindex: Int32Array,
    vlanTci: Int32Array,
    vnetFlags: Uint8Array,
    gsoType: Uint8Array,
    hdrLen: Uint16Array,
    gsoSize: Uint16Array,
    csumStart: Uint16Array,
    csumOffset: Uint16Array,
    counters: Float64Array,
  ): number;
  /**
   * Batched send: frame slots[k] on socket fds[k] (k < n) to outIfindex[slot] with a virtio-net
   * header from the metadata arrays; sendmmsg per socket. Sets fds[k] = -1 as it goes. Returns the
   * frames sent; ENOBUFS/EAGAIN/other errors are counted, not thrown.
   */
  packetSend(
    slots: Int32Array,
    fds: Int32Array,
    n: number,
    buf: Uint8Array,
    start: Int32Array,
    len: Int32Array,
    outIfindex: Int32Array,
    outVlanTci: Int32Array,
    vnetFlags: Uint8Array,
    gsoType: Uint8Array,
    hdrLen: Uint16Array,
    gsoSize: Uint16Array,
    csumStart: Uint16Array,
    csumOffset: Uint16Array,
    counters: Float64Array,
  ): number;
  /** bind(2) an AF_INET/AF_INET6 socket: address = 4 or 16 network-order bytes, host-order port. */
  bindInet(fd: number, address: Uint8Array, port: number, scopeId: number): void;
  /** setsockopt(2) with a byte buffer as the option value (struct ip_mreqn, ipv6_mreq, a name...). */
  setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array): void;
  /** sendto(MSG_DONTWAIT|MSG_NOSIGNAL) to address (4 or 16 bytes), port, scope id: bytes, or -1 on EAGAIN. */
  sendTo(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    address: Uint8Array,
    port: number,
    scopeId: number,
  ): number;
  /**
   * recvmsg(MSG_DONTWAIT) into buf[offset, offset+length): bytes, or -1 on EAGAIN. meta (at least
   * RECV_META_LEN bytes) gets the source address at [0,16), the IP_PKTINFO/IPV6_PKTINFO destination
   * at [16,32), and host-order int32s: ifindex at 32 (0 without pktinfo), TTL/hop limit at 36 (-1
   * without IP_RECVTTL/IPV6_RECVHOPLIMIT), source family at 40, MSG_TRUNC (or 0) at 44.
   */
  recvFrom(fd: number, buf: Uint8Array, offset: number, length: number, meta: Uint8Array): number;
  /**
   * SO_NETNS_COOKIE (Linux 5.14) of the calling thread's network namespace, as a decimal string: a
   * u64 never reused for another namespace, unlike the namespace's inode.
   */
  netnsCookie(): string;
  /**
   * Send one datagram to an AF_UNIX SOCK_DGRAM address: a path, or '@name' for an abstract one
   * (sd_notify's NOTIFY_SOCKET). Returns bytes sent; throws on errors (ECONNREFUSED, ENOENT...).
   */
  unixDgramSend(path: string, msg: Uint8Array): number;
  /**
   * setpriority(2) of the calling thread only (Linux nice values are per thread): -20..19. Returns
   * the thread id; throws EACCES without CAP_SYS_NICE for a negative value.
   */
  setThreadNice(nice: number): number;
  /**
   * sched_setaffinity(2) of one thread (tid, a thread of this process; default: the calling one) to
   * the CPUs listed. Returns the thread id.
   */
  setThreadAffinity(cpus: number[], tid?: number): number;
  /** The calling thread's name as top -H shows it (prctl PR_SET_NAME; at most 15 bytes are kept). */
  setThreadName(name: string): void;
  /**
   * Health-check stream probes (native/probe.c): one thread with an epoll set runs TCP connects and
   * request/response exchanges; onDone runs on this thread's loop when finished probes wait in
   * probeDrain (one call per batch). The handle does not keep the loop alive until probeRef(h, true).
   */
  probeOpen(onDone: () => void): ProbeHandle;
  /**
   * Start probe `id`: connect to host:port (IPv4 or IPv6 literal), from bindHost:bindPort when given
   * ('' / 0: none), write `request` if any and read the response (at most maxResponse bytes) to EOF,
   * or, with http, until the HTTP/1.x message is complete. timeoutMs bounds the whole probe.
   */
  probeStart(
    h: ProbeHandle,
    id: number,
    host: string,
    port: number,
    bindHost: string,
    bindPort: number,
    timeoutMs: number,
    request: Uint8Array | null,
    maxResponse: number,
    http: boolean,
  ): void;
  /** Abandon probe `id`: its socket is closed and it is never reported. */
  probeCancel(h: ProbeHandle, id: number): void;
  /** Finished probes in completion order: [id, errno (0 = ok), phase (1 connect, 2 write, 3 read), eof, latency us, response]. */
  probeDrain(h: ProbeHandle): ProbeRow[];
  /** Whether pending probes keep the event loop alive. */
  probeRef(h: ProbeHandle, keepAlive: boolean): void;
  /** Stop the thread; pending probes are dropped unreported. */
  probeClose(h: ProbeHandle): void;
  /** The constants below as the C headers define them (tests compare). */
  readonly constants: Readonly<Record<string, number>>;
}

// Linux ABI constants (include/linux/socket.h, uapi/linux/{netlink,rtnetlink,if_tun,if_ether}.h).
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_GRE = 47;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_RAW = 255;
export const NETLINK_ROUTE = 0;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;
export const SOL_SOCKET = 1;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const SOL_PACKET = 263;
export const SOL_NETLINK = 270;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_MARK = 36;
export const IP_HDRINCL = 3;
export const IPV6_HDRINCL = 36;
// uapi/linux/in.h, uapi/linux/in6.h, asm-generic/socket.h
export const IP_TTL = 2;
export const IP_PKTINFO = 8;
export const IP_RECVTTL = 12;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_JOIN_GROUP = 20;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_RECVHOPLIMIT = 51;
export const SO_BINDTODEVICE = 25;
/** Size of recvFrom's meta buffer. */
export const RECV_META_LEN = 48;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_NO_ENOBUFS = 5;
export const NETLINK_EXT_ACK = 11;
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_IPV6 = 0x86dd;

/** Slots of the counters Float64Array of packetRecv/packetSend. */
export const COUNTER_RX_FRAMES = 0;
export const COUNTER_RX_BYTES = 1;
export const COUNTER_RX_TRUNCATED = 2;
export const COUNTER_RX_ERRORS = 3;
export const COUNTER_RX_OTHERHOST = 4;
export const COUNTER_TX_FRAMES = 5;
export const COUNTER_TX_BYTES = 6;
export const COUNTER_TX_ERRORS = 7;
export const COUNTER_TX_ENOBUFS = 8;
export const COUNTER_TX_AGAIN = 9;
export const COUNTER_RX_LAST_ERRNO = 10;
export const COUNTER_TX_LAST_ERRNO = 11;
export const COUNTER_COUNT = 12;

/** Path of the built addon, relative to this module (dist/src/io/ or src/io/). */
const ADDON_URL = new URL('../../../build/Release/lvsd.node', import.meta.url);
const ADDON_URL_SRC = new URL('../../build/Release/lvsd.node', import.meta.url);

function load(): { addon: NativeAddon | null; error: Error | null } {
  const require = createRequire(import.meta.url);
  let first: Error | null = null;
  for (const url of [ADDON_URL, ADDON_URL_SRC]) {
    try {
      return { addon: require(fileURLToPath(url)) as NativeAddon, error: null };
    } catch (e) {
      first ??= e as Error;
    }
  }
  return { addon: null, error: first };
}

const loaded = load();

/** True when build/Release/lvsd.node loaded. */
export const nativeAvailable: boolean = loaded.addon !== null;
/** Why the addon did not load (null when it did). */
export const nativeLoadError: Error | null = loaded.error;

function missing(): NativeAddon {
  const fail = (): never => {
    const err = new Error(
      `lvsd native addon not available (run npm install to build it): ${loaded.error?.message ?? 'unknown error'}`,
    ) as Error & { code: string };
    err.code = 'ERR_LVS_NO_ADDON';
    throw err;
  };
  return new Proxy({} as NativeAddon, {
    get: (_t, prop) => (prop === 'constants' ? {} : fail),
  });
}

export const native: NativeAddon = loaded.addon ?? missing();
