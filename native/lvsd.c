/*
 * lvsd.node: the small N-API addon behind src/io/native.ts.
 *
 * Plain C, context-aware (NAPI_MODULE_INIT): every Node environment (main thread or worker_thread)
 * gets its own instance state (its own uv_poll handles on its own loop). Nothing here keeps global
 * mutable state.
 *
 * Two layers:
 *  - thin system-call wrappers (socket, bind, recv/send, read/write, setsockopt, SO_PEERCRED, TUN,
 *    socket filters, uv_poll readiness callbacks) for the control plane and the helpers;
 *  - batched AF_PACKET I/O for the data plane: packetRecv fills many FrameBatch slots from many
 *    sockets with recvmmsg(2) in one call, packetSend transmits many slots with sendmmsg(2) per
 *    socket in one call (hot-path rule 8: one native call moves a whole batch).
 * The health checker's probe thread (probeOpen ... probeClose) is in probe.c; the error and
 * argument helpers both files use are in napi-util.h.
 *
 * Errors: system-call failures throw a Node-style SystemError-like Error: message
 * "<fn>: <syscall> <CODE> (<strerror>)", .code = errno name, .errno = -errno (as Node does),
 * .syscall. Data-plane entry points (packetRecv/packetSend) never throw for I/O errors: they count
 * them in a Float64Array the caller owns.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* include/uapi/linux/if_packet.h, Linux 4.20 */
#endif
#ifndef TP_STATUS_VLAN_VALID
#define TP_STATUS_VLAN_VALID (1 << 4)
#endif

/* Counter slots of the Float64Array passed to packetRecv/packetSend (mirrored in native.ts). */
enum {
  C_RX_FRAMES = 0,
  C_RX_BYTES = 1,
  C_RX_TRUNCATED = 2,
  C_RX_ERRORS = 3,
  C_RX_OTHERHOST = 4,
  C_TX_FRAMES = 5,
  C_TX_BYTES = 6,
  C_TX_ERRORS = 7,
  C_TX_ENOBUFS = 8,
  C_TX_AGAIN = 9,
  C_RX_LAST_ERRNO = 10,
  C_TX_LAST_ERRNO = 11,
  C_COUNT = 12
};

/* recvmmsg/sendmmsg chunk: bounded stack use per system call. */
#define CHUNK 64
#define VNET_LEN ((int)sizeof(struct virtio_net_hdr))

/* ------------------------------------------------------------------------------------------ */
/* per-environment state                                                                        */

typedef struct poll_entry {
  uv_poll_t handle; /* first member: the uv handle pointer is the entry pointer */
  int fd;
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  struct poll_entry *next;
} poll_entry;

/*
 * A TPACKET_V2 receive ring (packet(7), Documentation/networking/packet_mmap.rst) of one socket:
 * RING_FRAME-byte frames tiling page-sized blocks, so frame i is at map + i * RING_FRAME. Frames
 * that do not fit a ring frame (GSO super-frames, jumbo frames) leave a truncated copy marked
 * TP_STATUS_COPY in the ring and the whole frame on the socket's receive queue (PACKET_COPY_THRESH),
 * read there with recvmsg in ring order.
 */
typedef struct ring_entry {
  int fd;
  uint8_t *map;
  size_t map_len;
  uint32_t frame_nr;
  uint32_t head; /* the next frame to look at; frames before it are handed back to the kernel */
  struct ring_entry *next;
} ring_entry;

typedef struct {
  poll_entry *polls;
  ring_entry *rings;
} instance_state;

static instance_state *get_state(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (instance_state *)data;
}

/* errors and argument helpers (shared with probe.c) */
#include "napi-util.h"

/* ------------------------------------------------------------------------------------------ */
/* plain system-call wrappers                                                                   */

#undef FN
#define FN "socket"
static napi_value js_socket(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT_ARG(0, domain);
  INT_ARG(1, type);
  INT_ARG(2, protocol);
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, FN, "socket", NULL, errno);
  return make_i32(env, fd);
}

#undef FN
#define FN "bindNetlink"
static napi_value js_bind_netlink(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(0, fd);
  uint32_t groups;
  if (!get_u32(env, argv[1], &groups)) return throw_type(env, FN, "groups must be a number");
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_pid = 0; /* the kernel assigns a unique port id */
  sa.nl_groups = groups;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return throw_errno(env, FN, "bind", NULL, errno);
  return make_undefined(env);
}

static void poll_remove(napi_env env, int fd);
static void ring_remove(napi_env env, int fd);

#undef FN
#define FN "close"
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT_ARG(0, fd);
  /* epoll must forget the fd before it is closed (and possibly reused) */
  poll_remove(env, fd);
  ring_remove(env, fd);
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, FN, "close", NULL, errno);
  return make_undefined(env);
}

/* recv/send/read/write share one shape: (fd, buf, offset, length) -> bytes, -1 on EAGAIN */
enum io_kind { IO_RECV, IO_SEND, IO_READ, IO_WRITE };

static napi_value do_io(napi_env env, napi_callback_info info, const char *fn, enum io_kind kind) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, fn, "missing arguments");
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, fn, "fd must be a number");
  uint8_t *p;
  size_t n;
  if (!get_range(env, fn, argv + 1, &p, &n)) return NULL;
  ssize_t r;
  const char *sc;
  for (;;) {
    switch (kind) {
    case IO_RECV: r = recv(fd, p, n, MSG_DONTWAIT); sc = "recv"; break;
    case IO_SEND: r = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL); sc = "send"; break;
    case IO_READ: r = read(fd, p, n); sc = "read"; break;
    default: r = write(fd, p, n); sc = "write"; break;
    }
    if (r >= 0) return make_i32(env, (int32_t)r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_i32(env, -1);
    return throw_errno(env, fn, sc, NULL, errno);
  }
}

static napi_value js_recv(napi_env env, napi_callback_info info) { return do_io(env, info, "recv", IO_RECV); }
static napi_value js_send(napi_env env, napi_callback_info info) { return do_io(env, info, "send", IO_SEND); }
static napi_value js_read(napi_env env, napi_callback_info info) { return do_io(env, info, "read", IO_READ); }
static napi_value js_write(napi_env env, napi_callback_info info) { return do_io(env, info, "write", IO_WRITE); }

#undef FN
#define FN "setsockoptInt"
static napi_value js_setsockopt_int(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT_ARG(0, fd);
  INT_ARG(1, level);
  INT_ARG(2, name);
  INT_ARG(3, value);
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof v) < 0) return throw_errno(env, FN, "setsockopt", NULL, errno);
  return make_undefined(env);
}

#undef FN
#define FN "getsockoptInt"
static napi_value js_getsockopt_int(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT_ARG(0, fd);
  INT_ARG(1, level);
  INT_ARG(2, name);
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return throw_errno(env, FN, "getsockopt", NULL, errno);
  return make_i32(env, v);
}

/* ------------------------------------------------------------------------------------------ */
/* inet sockets: bind/sendto/recvmsg with addresses as raw bytes (4 = IPv4, 16 = IPv6)          */

/* sockaddr_in / sockaddr_in6 from address bytes (network order), port (host order), scope id */
static int make_sockaddr(napi_env env, const char *fn, napi_value addr_v, napi_value port_v,
                         napi_value scope_v, struct sockaddr_storage *ss, socklen_t *sl) {
  uint8_t *a;
  size_t alen;
  int32_t port, scope;
  if (!get_bytes(env, addr_v, &a, &alen) || (alen != 4 && alen != 16)) {
    throw_type(env, fn, "address must be a Uint8Array of 4 or 16 bytes");
    return 0;
  }
  if (!get_i32(env, port_v, &port) || !get_i32(env, scope_v, &scope)) {
    throw_type(env, fn, "port and scopeId must be numbers");
    return 0;
  }
  if (port < 0 || port > 65535) {
    throw_range(env, fn, "port outside 0..65535");
    return 0;
  }
  memset(ss, 0, sizeof *ss);
  if (alen == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    memcpy(&sin->sin_addr, a, 4);
    *sl = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    memcpy(&sin6->sin6_addr, a, 16);
    sin6->sin6_scope_id = (uint32_t)scope;
    *sl = sizeof *sin6;
  }
  return 1;
}

#undef FN
#define FN "bindInet"
static napi_value js_bind_inet(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT_ARG(0, fd);
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!make_sockaddr(env, FN, argv[1], argv[2], argv[3], &ss, &sl)) return NULL;
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) return throw_errno(env, FN, "bind", NULL, errno);
  return make_undefined(env);
}

#undef FN
#define FN "setsockoptBytes"
static napi_value js_setsockopt_bytes(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT_ARG(0, fd);
  INT_ARG(1, level);
  INT_ARG(2, name);
  uint8_t *v;
  size_t len;
  if (!get_bytes(env, argv[3], &v, &len)) return throw_type(env, FN, "value must be a Uint8Array");
  if (setsockopt(fd, level, name, v, (socklen_t)len) < 0) return throw_errno(env, FN, "setsockopt", NULL, errno);
  return make_undefined(env);
}

#undef FN
#define FN "sendTo"
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  ARGS(7);
  INT_ARG(0, fd);
  uint8_t *p;
  size_t n;
  if (!get_range(env, FN, argv + 1, &p, &n)) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!make_sockaddr(env, FN, argv[4], argv[5], argv[6], &ss, &sl)) return NULL;
  for (;;) {
    ssize_t r = sendto(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
    if (r >= 0) return make_i32(env, (int32_t)r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_i32(env, -1);
    return throw_errno(env, FN, "sendto", NULL, errno);
  }
}

/*
 * recvFrom(fd, buf, offset, length, meta): recvmsg(MSG_DONTWAIT) with the ancillary data an inet
 * raw/datagram socket can deliver. meta (a Uint8Array of at least RECV_META_LEN bytes) receives:
 *   [0, 16)  source address (4 bytes for IPv4, rest zero)
 *   [16, 32) destination address from IP_PKTINFO / IPV6_PKTINFO (zero when not enabled)
 *   [32, 36) int32 host order: ifindex from the pktinfo (0 when not enabled)
 *   [36, 40) int32 host order: TTL / hop limit from IP_TTL / IPV6_HOPLIMIT (-1 when not enabled)
 *   [40, 44) int32 host order: address family of the source (AF_INET / AF_INET6)
 *   [44, 48) int32 host order: MSG_TRUNC when the datagram was longer than length, else 0
 * Returns the bytes received, or -1 on EAGAIN.
 */
#define RECV_META_LEN 48
#undef FN
#define FN "recvFrom"
static napi_value js_recv_from(napi_env env, napi_callback_info info) {
  ARGS(5);
  INT_ARG(0, fd);
  uint8_t *p;
  size_t n;
  if (!get_range(env, FN, argv + 1, &p, &n)) return NULL;
  uint8_t *meta;
  size_t mlen;
  if (!get_bytes(env, argv[4], &meta, &mlen) || mlen < RECV_META_LEN)
    return throw_type(env, FN, "meta must be a Uint8Array of at least 48 bytes");
  struct sockaddr_storage ss;
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)) +
             2 * CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {p, n};
  struct msghdr mh;
  ssize_t r;
  for (;;) {
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &ss;
    mh.msg_namelen = sizeof ss;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    r = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (r >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_i32(env, -1);
    return throw_errno(env, FN, "recvmsg", NULL, errno);
  }
  int32_t ifindex = 0, ttl = -1, family = ss.ss_family, trunc = (mh.msg_flags & MSG_TRUNC) ? MSG_TRUNC : 0;
  memset(meta, 0, RECV_META_LEN);
  if (ss.ss_family == AF_INET) memcpy(meta, &((struct sockaddr_in *)&ss)->sin_addr, 4);
  else if (ss.ss_family == AF_INET6) memcpy(meta, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memcpy(meta + 16, &pi.ipi_addr, 4);
      ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memcpy(meta + 16, &pi.ipi6_addr, 16);
      ifindex = (int32_t)pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    }
  }
  memcpy(meta + 32, &ifindex, 4);
  memcpy(meta + 36, &ttl, 4);
  memcpy(meta + 40, &family, 4);
  memcpy(meta + 44, &trunc, 4);
  return make_i32(env, (int32_t)r);
}

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

#undef FN
#define FN "peerCred"
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT_ARG(0, fd);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return throw_errno(env, FN, "getsockopt", "SO_PEERCRED", errno);
  napi_value obj;
  napi_create_object(env, &obj);
  set_num(env, obj, "pid", cred.pid);
  set_num(env, obj, "uid", cred.uid);
  set_num(env, obj, "gid", cred.gid);
  return obj;
}

#undef FN
#define FN "tunOpen"
static napi_value js_tun_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IFNAMSIZ + 1];
  size_t nlen = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok)
    return throw_type(env, FN, "name must be a string");
  if (nlen >= IFNAMSIZ) return throw_range(env, FN, "name longer than 15 bytes");
  INT_ARG(1, flags);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, FN, "open", "/dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nlen);
  ifr.ifr_flags = (short)flags;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, FN, "ioctl", "TUNSETIFF", e);
  }
  napi_value obj, fd_v, name_v;
  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &fd_v);
  napi_set_named_property(env, obj, "fd", fd_v);
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_v);
  napi_set_named_property(env, obj, "name", name_v);
  return obj;
}

/* Attach a classic BPF program (struct sock_filter[], 8 bytes each, host order); an empty program
 * detaches the current one (SO_DETACH_FILTER; "none attached" is not an error). Returns errno or 0. */
static int attach_filter(int fd, const uint8_t *prog, size_t len) {
  if (len == 0) {
    int dummy = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) < 0 && errno != ENOENT)
      return errno;
    return 0;
  }
  struct sock_fprog fprog;
  fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
  fprog.filter = (struct sock_filter *)prog; /* the kernel copies the program */
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0) return errno;
  return 0;
}

static int check_prog(napi_env env, const char *fn, napi_value v, uint8_t **prog, size_t *len) {
  if (!get_bytes(env, v, prog, len)) {
    throw_type(env, fn, "prog must be a Uint8Array");
    return 0;
  }
  if (*len % sizeof(struct sock_filter) != 0 || *len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    throw_range(env, fn, "prog must be 0..4096 instructions of 8 bytes");
    return 0;
  }
  return 1;
}

#undef FN
#define FN "setFilter"
static napi_value js_set_filter(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(0, fd);
  uint8_t *prog;
  size_t len;
  if (!check_prog(env, FN, argv[1], &prog, &len)) return NULL;
  int e = attach_filter(fd, prog, len);
  if (e != 0) return throw_errno(env, FN, "setsockopt", len ? "SO_ATTACH_FILTER" : "SO_DETACH_FILTER", e);
  return make_undefined(env);
}

#undef FN
#define FN "packetStats"
static napi_value js_packet_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT_ARG(0, fd);
  struct tpacket_stats st;
  socklen_t len = sizeof st;
  /* the kernel resets its counters on every read; tp_packets already includes tp_drops */
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
    return throw_errno(env, FN, "getsockopt", "PACKET_STATISTICS", errno);
  napi_value obj;
  napi_create_object(env, &obj);
  set_num(env, obj, "packets", st.tp_packets);
  set_num(env, obj, "drops", st.tp_drops);
  return obj;
}

#undef FN
#define FN "ifIndex"
static napi_value js_if_index(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IFNAMSIZ + 1];
  size_t nlen = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok)
    return throw_type(env, FN, "name must be a string");
  if (nlen >= IFNAMSIZ) return throw_errno(env, FN, "if_nametoindex", name, ENODEV);
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, FN, "if_nametoindex", name, errno ? errno : ENODEV);
  return make_i32(env, (int32_t)idx);
}

/* ------------------------------------------------------------------------------------------ */
/* restart support: the network namespace's cookie and sd_notify datagrams                      */

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* include/uapi/asm-generic/socket.h, Linux 5.14 */
#endif

#undef FN
#define FN "netnsCookie"
/* SO_NETNS_COOKIE of a throw-away socket: a u64 the kernel never reuses for another namespace
 * (unlike the namespace's inode). Returned as a decimal string (JS numbers lose bits above 2^53). */
static napi_value js_netns_cookie(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, FN, "socket", NULL, errno);
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  int r = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int e = errno;
  close(fd);
  if (r < 0) return throw_errno(env, FN, "getsockopt", "SO_NETNS_COOKIE", e);
  char text[24];
  snprintf(text, sizeof text, "%llu", (unsigned long long)cookie);
  napi_value v;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
  return v;
}

#undef FN
#define FN "setThreadNice"
/* setThreadNice(nice): the calling thread's nice value (setpriority(2) with PRIO_PROCESS and the
 * thread id: on Linux the nice value is per thread). Used by the data-plane worker so that under CPU
 * contention packet forwarding runs ahead of the control plane's health checks, as the kernel's IPVS
 * runs in softirq ahead of every process. A negative value needs CAP_SYS_NICE (EACCES otherwise). */
static napi_value js_set_thread_nice(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t nice_value = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &nice_value) != napi_ok)
    return throw_type(env, FN, "nice must be an integer");
  if (nice_value < -20 || nice_value > 19) return throw_range(env, FN, "nice must be from -20 to 19");
  pid_t tid = (pid_t)syscall(SYS_gettid);
  if (setpriority(PRIO_PROCESS, (id_t)tid, nice_value) < 0) return throw_errno(env, FN, "setpriority", NULL, errno);
  return make_i32(env, (int32_t)tid);
}

#undef FN
#define FN "setThreadAffinity"
/* sched_setaffinity(2) of one thread: cpus is an array of CPU numbers; tid (optional, 0) is a thread
 * of this process, 0 the calling one. Returns the tid. */
static napi_value js_set_thread_affinity(napi_env env, napi_callback_info info) {
  ARGS_MIN(2, 1);
  int32_t target = 0;
  if (argc >= 2 && !get_i32(env, argv[1], &target)) return throw_type(env, FN, "tid must be a number");
  bool is_array = false;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array)
    return throw_type(env, FN, "cpus must be an array of CPU numbers");
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  if (n == 0) return throw_range(env, FN, "cpus must name at least one CPU");
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    uint32_t cpu;
    napi_get_element(env, argv[0], i, &v);
    if (!get_u32(env, v, &cpu)) return throw_type(env, FN, "cpus must be an array of CPU numbers");
    if (cpu >= CPU_SETSIZE) return throw_range(env, FN, "CPU number out of range");
    CPU_SET(cpu, &set);
  }
  pid_t tid = target > 0 ? (pid_t)target : (pid_t)syscall(SYS_gettid);
  if (sched_setaffinity(tid, sizeof set, &set) < 0) return throw_errno(env, FN, "sched_setaffinity", NULL, errno);
  return make_i32(env, (int32_t)tid);
}

#undef FN
#define FN "setThreadName"
/* prctl(PR_SET_NAME) of the calling thread: what top -H and /proc/<pid>/task/<tid>/comm show (15 bytes). */
static napi_value js_set_thread_name(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok)
    return throw_type(env, FN, "name must be a string");
  if (prctl(PR_SET_NAME, name, 0, 0, 0) < 0) return throw_errno(env, FN, "prctl", NULL, errno);
  return make_undefined(env);
}

#undef FN
#define FN "unixDgramSend"
/* One datagram to an AF_UNIX SOCK_DGRAM address (sd_notify(3) protocol): path, or '@name' for an
 * abstract address (unix(7): sun_path[0] = 0, length counts the name bytes only). */
static napi_value js_unix_dgram_send(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  char path[sizeof sa.sun_path + 1];
  size_t plen = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok)
    return throw_type(env, FN, "path must be a string");
  if (plen == 0 || plen > sizeof sa.sun_path - (path[0] == '@' ? 0 : 1))
    return throw_range(env, FN, "path empty or too long for sockaddr_un");
  memcpy(sa.sun_path, path, plen);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '@' ? 0 : 1));
  uint8_t *data;
  size_t dlen;
  if (!get_bytes(env, argv[1], &data, &dlen)) return throw_type(env, FN, "msg must be a Uint8Array");
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, FN, "socket", NULL, errno);
  ssize_t n = sendto(fd, data, dlen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
  int e = errno;
  close(fd);
  if (n < 0) return throw_errno(env, FN, "sendto", path, e);
  return make_i32(env, (int32_t)n);
}

/* ------------------------------------------------------------------------------------------ */
/* readiness: uv_poll in the calling environment's loop                                         */

static void poll_on_event(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  poll_entry *e = (poll_entry *)handle;
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result;
  if (napi_get_reference_value(env, e->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
    /* status < 0 (e.g. EBADF) is reported as readability too: the caller's read will surface it */
    napi_status st = napi_make_callback(env, e->async_context, recv, cb, 0, NULL, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void poll_on_close(uv_handle_t *handle) { free(handle); }

/* Unlink, stop and close the poll of fd (if any). */
static void poll_remove(napi_env env, int fd) {
  instance_state *st = get_state(env);
  if (st == NULL) return;
  poll_entry **pp = &st->polls;
  while (*pp != NULL) {
    poll_entry *e = *pp;
    if (e->fd == fd) {
      *pp = e->next;
      uv_poll_stop(&e->handle);
      napi_delete_reference(env, e->callback);
      napi_async_destroy(env, e->async_context);
      uv_close((uv_handle_t *)&e->handle, poll_on_close);
      return;
    }
    pp = &e->next;
  }
}

#undef FN
#define FN "pollStart"
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(0, fd);
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) return throw_type(env, FN, "onReadable must be a function");
  instance_state *st = get_state(env);
  for (poll_entry *e = st->polls; e != NULL; e = e->next) {
    if (e->fd == fd) { /* replace the callback of an existing poll */
      napi_delete_reference(env, e->callback);
      napi_create_reference(env, argv[1], 1, &e->callback);
      return make_undefined(env);
    }
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, FN, "no event loop");
  poll_entry *e = calloc(1, sizeof *e);
  if (e == NULL) return throw_errno(env, FN, "calloc", NULL, ENOMEM);
  int r = uv_poll_init(loop, &e->handle, fd);
  if (r < 0) {
    free(e);
    return throw_errno(env, FN, "uv_poll_init", NULL, -r);
  }
  e->fd = fd;
  e->env = env;
  napi_value name;
  napi_create_string_utf8(env, "lvsd:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &e->async_context);
  napi_create_reference(env, argv[1], 1, &e->callback);
  r = uv_poll_start(&e->handle, UV_READABLE, poll_on_event);
  if (r < 0) {
    napi_delete_reference(env, e->callback);
    napi_async_destroy(env, e->async_context);
    uv_close((uv_handle_t *)&e->handle, poll_on_close);
    return throw_errno(env, FN, "uv_poll_start", NULL, -r);
  }
  e->next = st->polls;
  st->polls = e;
  return make_undefined(env);
}

#undef FN
#define FN "pollStop"
static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT_ARG(0, fd);
  poll_remove(env, fd);
  return make_undefined(env);
}

/* ------------------------------------------------------------------------------------------ */
/* AF_PACKET                                                                                    */

static int setopt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* Ring frame size: a 1500-byte-MTU frame with a VLAN tag, its virtio-net header and the tpacket2
 * header fit (macoff is 76 with PACKET_VNET_HDR); two frames per 4 KiB page. */
#define RING_FRAME 2048

static ring_entry *ring_find(instance_state *st, int fd) {
  for (ring_entry *r = st->rings; r != NULL; r = r->next)
    if (r->fd == fd) return r;
  return NULL;
}

static void ring_remove(napi_env env, int fd) {
  instance_state *st = get_state(env);
  for (ring_entry **pp = &st->rings; *pp != NULL; pp = &(*pp)->next) {
    ring_entry *r = *pp;
    if (r->fd != fd) continue;
    *pp = r->next;
    munmap(r->map, r->map_len);
    free(r);
    return;
  }
}

/* Set up and map a receive ring of about `frames` frames on fd (before bind); errno on failure. */
static int ring_setup(instance_state *st, int fd, int32_t frames, const char **what) {
  long page = sysconf(_SC_PAGESIZE);
  if (page < RING_FRAME || page % RING_FRAME != 0) page = 4096;
  uint32_t per_block = (uint32_t)(page / RING_FRAME);
  uint32_t blocks = ((uint32_t)frames + per_block - 1) / per_block;
  struct tpacket_req req = {
      .tp_block_size = (unsigned)page,
      .tp_block_nr = blocks,
      .tp_frame_size = RING_FRAME,
      .tp_frame_nr = blocks * per_block,
  };
  if (setopt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2) < 0) { *what = "PACKET_VERSION"; return errno; }
  if (setopt(fd, SOL_PACKET, PACKET_COPY_THRESH, 1) < 0) { *what = "PACKET_COPY_THRESH"; return errno; }
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { *what = "PACKET_RX_RING"; return errno; }
  size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { *what = "mmap"; return errno; }
  ring_entry *r = calloc(1, sizeof *r);
  if (r == NULL) { munmap(map, len); *what = "calloc"; return ENOMEM; }
  r->fd = fd;
  r->map = (uint8_t *)map;
  r->map_len = len;
  r->frame_nr = req.tp_frame_nr;
  r->next = st->rings;
  st->rings = r;
  return 0;
}

/*
 * packetOpen(ifindex, rcvbuf, sndbuf, prog, ringFrames = 0) -> fd
 * One AF_PACKET SOCK_RAW socket bound to ETH_P_ALL on ifindex (packet(7)): it sees every frame
 * before tc/netfilter netdev ingress. Options, set before bind so no frame arrives unconfigured:
 *  PACKET_VNET_HDR (a struct virtio_net_hdr precedes every frame both ways: GSO and partial checksum
 *  metadata), PACKET_AUXDATA (VLAN TCI the device stripped), PACKET_IGNORE_OUTGOING (frames this
 *  host transmits are not looped back), PACKET_QDISC_BYPASS (send straight to the driver; a full
 *  device queue returns ENOBUFS), SO_RCVBUFFORCE/SO_SNDBUFFORCE (fall back to the capped
 *  SO_RCVBUF/SO_SNDBUF without CAP_NET_ADMIN). The socket is created with protocol 0, so it
 *  receives nothing until bind; prog (may be empty) is attached before bind for the same reason.
 *  ringFrames > 0: frames arrive in a TPACKET_V2 receive ring of that many RING_FRAME-byte frames
 *  (rounded up to whole pages) instead of the socket queue; packetRecv reads either kind.
 */
#undef FN
#define FN "packetOpen"
static napi_value js_packet_open(napi_env env, napi_callback_info info) {
  ARGS_MIN(5, 4);
  INT_ARG(0, ifindex);
  INT_ARG(1, rcvbuf);
  INT_ARG(2, sndbuf);
  int32_t ring_frames = 0;
  if (argc >= 5 && !get_i32(env, argv[4], &ring_frames)) return throw_type(env, FN, "ringFrames must be a number");
  if (ring_frames < 0 || ring_frames > (1 << 22)) return throw_range(env, FN, "ringFrames out of range");
  uint8_t *prog;
  size_t prog_len;
  if (!check_prog(env, FN, argv[3], &prog, &prog_len)) return NULL;
  if (ifindex <= 0) return throw_errno(env, FN, "bind", NULL, ENODEV);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, FN, "socket", NULL, errno);
  const char *what = NULL;
  const char *sc = "setsockopt";
  int e = 0;
  int ringed = 0;
  if (setopt(fd, SOL_PACKET, PACKET_VNET_HDR, 1) < 0) { what = "PACKET_VNET_HDR"; goto fail; }
  if (setopt(fd, SOL_PACKET, PACKET_AUXDATA, 1) < 0) { what = "PACKET_AUXDATA"; goto fail; }
  if (setopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) < 0) { what = "PACKET_IGNORE_OUTGOING"; goto fail; }
  if (setopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1) < 0) { what = "PACKET_QDISC_BYPASS"; goto fail; }
  if (rcvbuf > 0 && setopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) < 0 &&
      setopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf) < 0) { what = "SO_RCVBUF"; goto fail; }
  if (sndbuf > 0 && setopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, sndbuf) < 0 &&
      setopt(fd, SOL_SOCKET, SO_SNDBUF, sndbuf) < 0) { what = "SO_SNDBUF"; goto fail; }
  if (prog_len > 0 && (e = attach_filter(fd, prog, prog_len)) != 0) {
    what = "SO_ATTACH_FILTER";
    goto fail_e;
  }
  /* the virtio-net header option must precede the ring (the kernel refuses it afterwards) */
  if (ring_frames > 0) {
    if ((e = ring_setup(get_state(env), fd, ring_frames, &what)) != 0) {
      if (strcmp(what, "mmap") == 0 || strcmp(what, "calloc") == 0) {
        sc = what;
        what = NULL;
      }
      goto fail_e;
    }
    ringed = 1;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    sc = "bind";
    what = NULL;
    goto fail;
  }
  return make_i32(env, fd);
fail:
  e = errno;
fail_e:
  if (ringed) ring_remove(env, fd);
  close(fd);
  return throw_errno(env, FN, sc, what, e);
}

/* Typed-array views of a FrameBatch, fetched once per call. */
typedef struct {
  uint8_t *buf;
  size_t buf_len;
  int32_t *start, *len, *ifindex, *vlan;
  uint8_t *flags, *gso_type;
  uint16_t *hdr_len, *gso_size, *csum_start, *csum_offset;
  size_t cap; /* smallest element count of the metadata arrays */
} batch_view;

/* argv: buf, start, len, ifindex, vlanTci, vnetFlags, gsoType, hdrLen, gsoSize, csumStart, csumOffset */
static int get_batch(napi_env env, const char *fn, napi_value *argv, batch_view *b) {
  size_t n;
  void *p;
  if (!get_bytes(env, argv[0], &b->buf, &b->buf_len)) goto bad;
  b->cap = (size_t)-1;
#define TA(i, type, field, ctype)                                                               \
  if (!get_typed(env, argv[i], type, &p, &n)) goto bad;                                         \
  b->field = (ctype *)p;                                                                        \
  if (n < b->cap) b->cap = n;
  TA(1, napi_int32_array, start, int32_t)
  TA(2, napi_int32_array, len, int32_t)
  TA(3, napi_int32_array, ifindex, int32_t)
  TA(4, napi_int32_array, vlan, int32_t)
  TA(5, napi_uint8_array, flags, uint8_t)
  TA(6, napi_uint8_array, gso_type, uint8_t)
  TA(7, napi_uint16_array, hdr_len, uint16_t)
  TA(8, napi_uint16_array, gso_size, uint16_t)
  TA(9, napi_uint16_array, csum_start, uint16_t)
  TA(10, napi_uint16_array, csum_offset, uint16_t)
#undef TA
  return 1;
bad:
  throw_type(env, fn, "batch arrays have the wrong types (buf, start, len, ifindex, vlanTci, vnetFlags, "
                      "gsoType, hdrLen, gsoSize, csumStart, csumOffset)");
  return 0;
}

static int get_counters(napi_env env, const char *fn, napi_value v, double **c) {
  size_t n;
  void *p;
  if (!get_typed(env, v, napi_float64_array, &p, &n) || n < C_COUNT) {
    throw_type(env, fn, "counters must be a Float64Array of at least 12 elements");
    return 0;
  }
  *c = (double *)p;
  return 1;
}

/* Fill slot `slot` from one frame's parts; the caller has checked that flen fits the slot's room. */
static void fill_slot(batch_view *b, size_t slot, size_t at, size_t flen, int ifindex, int32_t tci,
                      const struct virtio_net_hdr *vnet, double *ctr) {
  b->start[slot] = (int32_t)at;
  b->len[slot] = (int32_t)flen;
  b->ifindex[slot] = ifindex;
  b->vlan[slot] = tci;
  /* virtio-net header fields are little-endian on the wire of a packet socket, which is
   * host order on every little-endian host (vio_le() in net/packet/af_packet.c) */
  b->flags[slot] = vnet->flags;
  b->gso_type[slot] = vnet->gso_type;
  b->hdr_len[slot] = vnet->hdr_len;
  b->gso_size[slot] = vnet->gso_size;
  b->csum_start[slot] = vnet->csum_start;
  b->csum_offset[slot] = vnet->csum_offset;
  ctr[C_RX_BYTES] += (double)flen;
}

/* Frames not for this host's stack (promiscuous capture, or our own transmissions looped back). */
static inline int not_for_us(const struct sockaddr_ll *sll) {
  return sll->sll_pkttype == PACKET_OTHERHOST || sll->sll_pkttype == PACKET_OUTGOING;
}

static inline struct tpacket2_hdr *ring_frame(const ring_entry *r, uint32_t i) {
  return (struct tpacket2_hdr *)(r->map + (size_t)i * RING_FRAME);
}

/* The link-layer address the kernel stores after the tpacket2 header. */
static inline const struct sockaddr_ll *ring_addr(const struct tpacket2_hdr *h) {
  return (const struct sockaddr_ll *)((const uint8_t *)h + TPACKET_ALIGN(sizeof *h));
}

static inline int32_t ring_vlan(const struct tpacket2_hdr *h, uint32_t status) {
  return (status & TP_STATUS_VLAN_VALID) ? (int32_t)h->tp_vlan_tci : -1;
}

/* Hand the head frame back to the kernel (release: after the copy out) and move on. */
static inline void ring_release_head(ring_entry *r, struct tpacket2_hdr *h) {
  __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  r->head = r->head + 1 == r->frame_nr ? 0 : r->head + 1;
}

/*
 * The frames at the ring's head that are marked TP_STATUS_COPY (too large for a ring frame; the
 * whole frame waits on the socket queue, in ring order): one recvmmsg for the run of them, each into
 * its slot; their ring frames go back to the kernel. Returns the new got. A failed read releases one
 * ring frame, so a copy the kernel could not queue never stalls the ring.
 */
static size_t ring_read_copies(ring_entry *r, int fd, batch_view *b, size_t got, size_t limit,
                               size_t slot_size, size_t headroom, double *ctr) {
  struct mmsghdr msgs[CHUNK];
  struct iovec iov[CHUNK][2];
  struct virtio_net_hdr vnet[CHUNK];
  const size_t room = slot_size - headroom;
  size_t k = 0;
  for (uint32_t i = r->head; k < CHUNK && got + k < limit; k++) {
    uint32_t st = __atomic_load_n(&ring_frame(r, i)->tp_status, __ATOMIC_ACQUIRE);
    if ((st & (TP_STATUS_USER | TP_STATUS_COPY)) != (TP_STATUS_USER | TP_STATUS_COPY)) break;
    iov[k][0].iov_base = &vnet[k];
    iov[k][0].iov_len = sizeof vnet[k];
    iov[k][1].iov_base = b->buf + (got + k) * slot_size + headroom;
    iov[k][1].iov_len = room;
    memset(&msgs[k], 0, sizeof msgs[k]);
    msgs[k].msg_hdr.msg_iov = iov[k];
    msgs[k].msg_hdr.msg_iovlen = 2;
    i = i + 1 == r->frame_nr ? 0 : i + 1;
  }
  int n;
  do n = recvmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    ctr[C_RX_ERRORS] += 1;
    ctr[C_RX_LAST_ERRNO] = n < 0 ? errno : EAGAIN;
    n = 1; /* release the head frame below */
    msgs[0].msg_len = 0;
    msgs[0].msg_hdr.msg_flags = MSG_TRUNC; /* nothing to keep */
  }
  size_t w = 0; /* frames kept, compacted towards got */
  for (size_t j = 0; j < (size_t)n; j++) {
    struct tpacket2_hdr *h = ring_frame(r, r->head);
    const struct sockaddr_ll *sll = ring_addr(h);
    if ((msgs[j].msg_hdr.msg_flags & MSG_TRUNC) || msgs[j].msg_len < (unsigned)VNET_LEN) {
      if (msgs[j].msg_len > 0) ctr[C_RX_TRUNCATED] += 1;
    } else if (not_for_us(sll)) {
      ctr[C_RX_OTHERHOST] += 1;
    } else {
      size_t flen = msgs[j].msg_len - (unsigned)VNET_LEN;
      size_t at = (got + w) * slot_size + headroom;
      if (w != j) memmove(b->buf + at, iov[j][1].iov_base, flen); /* rare: after a skipped frame */
      fill_slot(b, got + w, at, flen, sll->sll_ifindex, ring_vlan(h, h->tp_status), &vnet[j], ctr);
      w++;
    }
    ring_release_head(r, h);
  }
  ctr[C_RX_FRAMES] += (double)w;
  return got + w;
}

/*
 * Read ready frames of ring r into slots got, got+1, ... < limit; returns the new got. A frame is
 * ready while its tp_status has TP_STATUS_USER (acquire: the kernel wrote the frame before the
 * status). TP_STATUS_COPY frames are read whole from the socket queue; their address is in the ring
 * frame (the queued copy's is cleared by the kernel).
 */
static size_t ring_read(ring_entry *r, int fd, batch_view *b, size_t got, size_t limit, size_t slot_size,
                        size_t headroom, double *ctr) {
  const size_t room = slot_size - headroom;
  while (got < limit) {
    struct tpacket2_hdr *h = ring_frame(r, r->head);
    uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    if (status & TP_STATUS_COPY) {
      got = ring_read_copies(r, fd, b, got, limit, slot_size, headroom, ctr);
      continue;
    }
    const struct sockaddr_ll *sll = ring_addr(h);
    if (h->tp_snaplen < h->tp_len || h->tp_mac < VNET_LEN || h->tp_snaplen > room ||
        (size_t)h->tp_mac + h->tp_snaplen > RING_FRAME) {
      ctr[C_RX_TRUNCATED] += 1; /* no room on the receive queue for the whole frame */
    } else if (not_for_us(sll)) {
      ctr[C_RX_OTHERHOST] += 1;
    } else {
      const uint8_t *mac = (const uint8_t *)h + h->tp_mac;
      struct virtio_net_hdr vnet;
      memcpy(&vnet, mac - VNET_LEN, sizeof vnet);
      size_t at = got * slot_size + headroom;
      memcpy(b->buf + at, mac, h->tp_snaplen);
      fill_slot(b, got, at, h->tp_snaplen, sll->sll_ifindex, ring_vlan(h, status), &vnet, ctr);
      got++;
      ctr[C_RX_FRAMES] += 1;
    }
    ring_release_head(r, h);
  }
  return got;
}

/*
 * packetRecv(fds: Int32Array, nfds, first, slotBase, maxFrames, slotSize, headroom,
 *            buf, start, len, ifindex, vlanTci, vnetFlags, gsoType, hdrLen, gsoSize, csumStart,
 *            csumOffset, counters: Float64Array) -> frames received
 *
 * Fills slots slotBase, slotBase+1, ... (at most maxFrames) with recvmmsg(MSG_DONTWAIT) from the
 * sockets fds[first], fds[first+1], ... (wrapping), draining each before moving on, and returns at
 * once when every socket would block. Frame i's bytes land at i*slotSize + headroom; its virtio-net
 * header is decoded into the metadata arrays; vlanTci comes from PACKET_AUXDATA (-1 = untagged);
 * ifindex from the source address. Truncated frames (bigger than a slot) and frames addressed to
 * other hosts (PACKET_OTHERHOST, promiscuous mode) are counted and skipped; errors are counted,
 * never thrown.
 */
#undef FN
#define FN "packetRecv"
static napi_value js_packet_recv(napi_env env, napi_callback_info info) {
  ARGS(19);
  int32_t *fds;
  size_t fds_len;
  {
    void *p;
    if (!get_typed(env, argv[0], napi_int32_array, &p, &fds_len)) return throw_type(env, FN, "fds must be an Int32Array");
    fds = (int32_t *)p;
  }
  INT_ARG(1, nfds);
  INT_ARG(2, first);
  INT_ARG(3, slot_base);
  INT_ARG(4, max_frames);
  INT_ARG(5, slot_size);
  INT_ARG(6, headroom);
  batch_view b;
  if (!get_batch(env, FN, argv + 7, &b)) return NULL;
  double *ctr;
  if (!get_counters(env, FN, argv[18], &ctr)) return NULL;
  if (nfds < 0 || (size_t)nfds > fds_len || slot_base < 0 || max_frames < 0 || headroom < 0 ||
      slot_size <= headroom + VNET_LEN)
    return throw_range(env, FN, "bad nfds/slotBase/maxFrames/slotSize/headroom");
  size_t limit = (size_t)slot_base + (size_t)max_frames;
  if (limit > b.cap) limit = b.cap;
  if (limit > b.buf_len / (size_t)slot_size) limit = b.buf_len / (size_t)slot_size;
  size_t got = (size_t)slot_base;
  if (nfds == 0 || got >= limit) return make_i32(env, 0);

  struct mmsghdr msgs[CHUNK];
  struct iovec iov[CHUNK][2];
  struct virtio_net_hdr vnet[CHUNK];
  struct sockaddr_ll names[CHUNK];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
  } ctl[CHUNK];
  const size_t room = (size_t)(slot_size - headroom);
  if (first < 0) first = 0;

  instance_state *st = get_state(env);
  for (int s = 0; s < nfds && got < limit; s++) {
    int fd = fds[(first + s) % nfds];
    ring_entry *ring = st->rings != NULL ? ring_find(st, fd) : NULL;
    if (ring != NULL) {
      got = ring_read(ring, fd, &b, got, limit, (size_t)slot_size, (size_t)headroom, ctr);
      continue;
    }
    while (got < limit) {
      size_t want = limit - got;
      if (want > CHUNK) want = CHUNK;
      for (size_t j = 0; j < want; j++) {
        iov[j][0].iov_base = &vnet[j];
        iov[j][0].iov_len = sizeof vnet[j];
        iov[j][1].iov_base = b.buf + (got + j) * (size_t)slot_size + (size_t)headroom;
        iov[j][1].iov_len = room;
        memset(&msgs[j].msg_hdr, 0, sizeof msgs[j].msg_hdr);
        msgs[j].msg_hdr.msg_name = &names[j];
        msgs[j].msg_hdr.msg_namelen = sizeof names[j];
        msgs[j].msg_hdr.msg_iov = iov[j];
        msgs[j].msg_hdr.msg_iovlen = 2;
        msgs[j].msg_hdr.msg_control = ctl[j].buf;
        msgs[j].msg_hdr.msg_controllen = sizeof ctl[j].buf;
        msgs[j].msg_len = 0;
      }
      int r = recvmmsg(fd, msgs, (unsigned)want, MSG_DONTWAIT, NULL);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          /* e.g. ENETDOWN once when the device goes down: counted, the socket stays usable */
          ctr[C_RX_ERRORS] += 1;
          ctr[C_RX_LAST_ERRNO] = errno;
        }
        break;
      }
      size_t w = 0; /* frames kept, compacted towards got */
      for (size_t j = 0; j < (size_t)r; j++) {
        struct msghdr *h = &msgs[j].msg_hdr;
        if ((h->msg_flags & MSG_TRUNC) || msgs[j].msg_len < (unsigned)VNET_LEN) {
          ctr[C_RX_TRUNCATED] += 1;
          continue;
        }
        if (not_for_us(&names[j])) {
          ctr[C_RX_OTHERHOST] += 1;
          continue;
        }
        size_t flen = msgs[j].msg_len - (unsigned)VNET_LEN;
        size_t slot = got + w;
        size_t at = slot * (size_t)slot_size + (size_t)headroom;
        if (w != j) memmove(b.buf + at, iov[j][1].iov_base, flen); /* rare: after a skipped frame */
        int32_t tci = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
          if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
              c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
            struct tpacket_auxdata aux;
            memcpy(&aux, CMSG_DATA(c), sizeof aux);
            if (aux.tp_status & TP_STATUS_VLAN_VALID) tci = aux.tp_vlan_tci;
          }
        }
        fill_slot(&b, slot, at, flen, names[j].sll_ifindex, tci, &vnet[j], ctr);
        w++;
      }
      got += w;
      ctr[C_RX_FRAMES] += (double)w;
      if ((size_t)r < want) break; /* this socket is drained (for now) */
    }
  }
  return make_i32(env, (int32_t)(got - (size_t)slot_base));
}

/*
 * packetSend(slots: Int32Array, fds: Int32Array, n, buf, start, len, outIfindex, vlanTci (unused,
 *            pass outVlanTci), vnetFlags, gsoType, hdrLen, gsoSize, csumStart, csumOffset,
 *            counters) -> frames sent
 *
 * Transmits frame slots[k] (k < n) on socket fds[k] towards outIfindex[slots[k]], each preceded by
 * a virtio-net header built from the metadata (GSO frames stay GSO: the kernel or the device
 * segments them; partial checksums stay partial). Frames of the same socket go out together with
 * sendmmsg(MSG_DONTWAIT). ENOBUFS (device queue full, qdisc bypassed) and EAGAIN (send buffer full)
 * are counted separately from other errors; a failed frame is skipped, never retried.
 */
#undef FN
#define FN "packetSend"
static napi_value js_packet_send(napi_env env, napi_callback_info info) {
  ARGS(15);
  int32_t *slots, *sfds;
  size_t slots_len, sfds_len;
  {
    void *p;
    if (!get_typed(env, argv[0], napi_int32_array, &p, &slots_len)) return throw_type(env, FN, "slots must be an Int32Array");
    slots = (int32_t *)p;
    if (!get_typed(env, argv[1], napi_int32_array, &p, &sfds_len)) return throw_type(env, FN, "fds must be an Int32Array");
    sfds = (int32_t *)p;
  }
  INT_ARG(2, n);
  batch_view b;
  /* reuse get_batch: argv[3..13] = buf, start, len, outIfindex (as "ifindex"), vlan, flags, ... */
  if (!get_batch(env, FN, argv + 3, &b)) return NULL;
  double *ctr;
  if (!get_counters(env, FN, argv[14], &ctr)) return NULL;
  if (n < 0 || (size_t)n > slots_len || (size_t)n > sfds_len) return throw_range(env, FN, "bad n");

  struct mmsghdr msgs[CHUNK];
  struct iovec iov[CHUNK][2];
  struct virtio_net_hdr vnet[CHUNK];
  struct sockaddr_ll names[CHUNK];
  int32_t sent = 0;
  /* sfds[k] is set to -1 once frame k has been handled */
  for (int32_t k0 = 0; k0 < n; k0++) {
    int fd = sfds[k0];
    if (fd < 0) continue;
    int32_t k = k0;
    while (k < n) {
      size_t m = 0;
      for (; k < n && m < CHUNK; k++) {
        if (sfds[k] != fd) continue;
        sfds[k] = -1;
        int32_t i = slots[k];
        if (i < 0 || (size_t)i >= b.cap) { ctr[C_TX_ERRORS] += 1; continue; }
        int32_t st = b.start[i], ln = b.len[i];
        if (st < 0 || ln < ETH_HLEN || (size_t)st + (size_t)ln > b.buf_len) { ctr[C_TX_ERRORS] += 1; continue; }
        uint8_t *frame = b.buf + st;
        memset(&vnet[m], 0, sizeof vnet[m]);
        vnet[m].flags = b.flags[i];
        vnet[m].gso_type = b.gso_type[i];
        vnet[m].hdr_len = b.hdr_len[i];
        vnet[m].gso_size = b.gso_size[i];
        vnet[m].csum_start = b.csum_start[i];
        vnet[m].csum_offset = b.csum_offset[i];
        memset(&names[m], 0, sizeof names[m]);
        names[m].sll_family = AF_PACKET;
        names[m].sll_ifindex = b.ifindex[i];
        /* skb->protocol: the outermost ethertype as it is in the frame (already network order) */
        memcpy(&names[m].sll_protocol, frame + 12, 2);
        iov[m][0].iov_base = &vnet[m];
        iov[m][0].iov_len = sizeof vnet[m];
        iov[m][1].iov_base = frame;
        iov[m][1].iov_len = (size_t)ln;
        memset(&msgs[m].msg_hdr, 0, sizeof msgs[m].msg_hdr);
        msgs[m].msg_hdr.msg_name = &names[m];
        msgs[m].msg_hdr.msg_namelen = sizeof names[m];
        msgs[m].msg_hdr.msg_iov = iov[m];
        msgs[m].msg_hdr.msg_iovlen = 2;
        msgs[m].msg_len = 0;
        m++;
      }
      size_t off = 0;
      while (off < m) {
        int r = sendmmsg(fd, msgs + off, (unsigned)(m - off), MSG_DONTWAIT);
        if (r < 0) {
          int e = errno;
          if (e == EINTR) continue;
          if (e == ENOBUFS) ctr[C_TX_ENOBUFS] += 1;
          else if (e == EAGAIN || e == EWOULDBLOCK) ctr[C_TX_AGAIN] += 1;
          else { ctr[C_TX_ERRORS] += 1; ctr[C_TX_LAST_ERRNO] = e; }
          off++; /* sendmmsg reports the error of the first unsent message: skip it */
          continue;
        }
        for (int j = 0; j < r; j++) ctr[C_TX_BYTES] += (double)iov[off + (size_t)j][1].iov_len;
        ctr[C_TX_FRAMES] += r;
        sent += r;
        off += (size_t)r;
      }
    }
  }
  return make_i32(env, sent);
}

/* ------------------------------------------------------------------------------------------ */
/* module                                                                                       */

static void cleanup_env(void *arg) {
  instance_state *st = (instance_state *)arg;
  while (st->polls != NULL) {
    poll_entry *e = st->polls;
    st->polls = e->next;
    uv_poll_stop(&e->handle);
    uv_close((uv_handle_t *)&e->handle, poll_on_close);
  }
  while (st->rings != NULL) {
    ring_entry *r = st->rings;
    st->rings = r->next;
    munmap(r->map, r->map_len);
    free(r);
  }
}

static void finalize_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void export_const(napi_env env, napi_value obj, const char *name, double v) {
  set_num(env, obj, name, v);
}

NAPI_MODULE_INIT() {
  instance_state *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  napi_set_instance_data(env, st, finalize_state, NULL);
  napi_add_env_cleanup_hook(env, cleanup_env, st);

  export_fn(env, exports, "socket", js_socket);
  export_fn(env, exports, "bindNetlink", js_bind_netlink);
  export_fn(env, exports, "close", js_close);
  export_fn(env, exports, "recv", js_recv);
  export_fn(env, exports, "send", js_send);
  export_fn(env, exports, "read", js_read);
  export_fn(env, exports, "write", js_write);
  export_fn(env, exports, "pollStart", js_poll_start);
  export_fn(env, exports, "pollStop", js_poll_stop);
  export_fn(env, exports, "setsockoptInt", js_setsockopt_int);
  export_fn(env, exports, "getsockoptInt", js_getsockopt_int);
  export_fn(env, exports, "peerCred", js_peer_cred);
  export_fn(env, exports, "tunOpen", js_tun_open);
  export_fn(env, exports, "setFilter", js_set_filter);
  export_fn(env, exports, "packetStats", js_packet_stats);
  export_fn(env, exports, "ifIndex", js_if_index);
  export_fn(env, exports, "setThreadNice", js_set_thread_nice);
  export_fn(env, exports, "setThreadAffinity", js_set_thread_affinity);
  export_fn(env, exports, "setThreadName", js_set_thread_name);
  export_fn(env, exports, "packetOpen", js_packet_open);
  export_fn(env, exports, "packetRecv", js_packet_recv);
  export_fn(env, exports, "packetSend", js_packet_send);
  export_fn(env, exports, "bindInet", js_bind_inet);
  export_fn(env, exports, "setsockoptBytes", js_setsockopt_bytes);
  export_fn(env, exports, "sendTo", js_send_to);
  export_fn(env, exports, "recvFrom", js_recv_from);
  export_fn(env, exports, "netnsCookie", js_netns_cookie);
  export_fn(env, exports, "unixDgramSend", js_unix_dgram_send);
  probe_register(env, exports);

  /* the values native.ts hard-codes, from the system headers, so a test can compare them */
  napi_value c;
  napi_create_object(env, &c);
  export_const(env, c, "AF_UNIX", AF_UNIX);
  export_const(env, c, "AF_INET", AF_INET);
  export_const(env, c, "AF_INET6", AF_INET6);
  export_const(env, c, "AF_NETLINK", AF_NETLINK);
  export_const(env, c, "AF_PACKET", AF_PACKET);
  export_const(env, c, "SOCK_STREAM", SOCK_STREAM);
  export_const(env, c, "SOCK_DGRAM", SOCK_DGRAM);
  export_const(env, c, "SOCK_RAW", SOCK_RAW);
  export_const(env, c, "NETLINK_ROUTE", NETLINK_ROUTE);
  export_const(env, c, "SOL_SOCKET", SOL_SOCKET);
  export_const(env, c, "SOL_PACKET", SOL_PACKET);
  export_const(env, c, "SOL_NETLINK", SOL_NETLINK);
  export_const(env, c, "SO_RCVBUF", SO_RCVBUF);
  export_const(env, c, "SO_SNDBUF", SO_SNDBUF);
  export_const(env, c, "SO_RCVBUFFORCE", SO_RCVBUFFORCE);
  export_const(env, c, "SO_SNDBUFFORCE", SO_SNDBUFFORCE);
  export_const(env, c, "SO_MARK", SO_MARK);
  export_const(env, c, "NETLINK_ADD_MEMBERSHIP", NETLINK_ADD_MEMBERSHIP);
  export_const(env, c, "NETLINK_NO_ENOBUFS", NETLINK_NO_ENOBUFS);
  export_const(env, c, "NETLINK_EXT_ACK", NETLINK_EXT_ACK);
  export_const(env, c, "IFF_TUN", IFF_TUN);
  export_const(env, c, "IFF_TAP", IFF_TAP);
  export_const(env, c, "IFF_NO_PI", IFF_NO_PI);
  export_const(env, c, "IFF_VNET_HDR", IFF_VNET_HDR);
  export_const(env, c, "IFF_MULTI_QUEUE", IFF_MULTI_QUEUE);
  export_const(env, c, "ETH_P_ALL", ETH_P_ALL);
  export_const(env, c, "PACKET_STATISTICS", PACKET_STATISTICS);
  export_const(env, c, "COUNTERS", C_COUNT);
  export_const(env, c, "VNET_HDR_LEN", VNET_LEN);
  export_const(env, c, "IP_PKTINFO", IP_PKTINFO);
  export_const(env, c, "IP_RECVTTL", IP_RECVTTL);
  export_const(env, c, "IP_MULTICAST_IF", IP_MULTICAST_IF);
  export_const(env, c, "IP_MULTICAST_TTL", IP_MULTICAST_TTL);
  export_const(env, c, "IP_MULTICAST_LOOP", IP_MULTICAST_LOOP);
  export_const(env, c, "IP_ADD_MEMBERSHIP", IP_ADD_MEMBERSHIP);
  export_const(env, c, "IP_TTL", IP_TTL);
  export_const(env, c, "IPV6_RECVPKTINFO", IPV6_RECVPKTINFO);
  export_const(env, c, "IPV6_RECVHOPLIMIT", IPV6_RECVHOPLIMIT);
  export_const(env, c, "IPV6_MULTICAST_IF", IPV6_MULTICAST_IF);
  export_const(env, c, "IPV6_MULTICAST_HOPS", IPV6_MULTICAST_HOPS);
  export_const(env, c, "IPV6_MULTICAST_LOOP", IPV6_MULTICAST_LOOP);
  export_const(env, c, "IPV6_UNICAST_HOPS", IPV6_UNICAST_HOPS);
  export_const(env, c, "IPV6_JOIN_GROUP", IPV6_ADD_MEMBERSHIP);
  export_const(env, c, "SO_BINDTODEVICE", SO_BINDTODEVICE);
  export_const(env, c, "RECV_META_LEN", RECV_META_LEN);
  napi_set_named_property(env, exports, "constants", c);
  return exports;
}
