/**
 * NetMirror: the director's copy of the kernel's interfaces, addresses, routes and neighbours, kept
 * current from rtnetlink (rtnetlink(7)), in the control-plane thread. It keeps a plain serialisable
 * NetModel; the data-plane worker receives it by postMessage and rebuilds its NetState with
 * applyNetModel().
 *
 * Protocol: one NETLINK_ROUTE socket subscribed to the link, neighbour, IPv4/IPv6 address and route
 * multicast groups. At start (and after an overrun, ENOBUFS: events were lost) it dumps links,
 * addresses, routes and neighbours, one dump at a time (the kernel serves one dump per socket at a
 * time). Entries not seen in a completed dump and not touched by an event meanwhile are removed
 * (mark and sweep), so a re-dump also drops what was deleted while events were lost. A dump whose
 * messages carry NLM_F_DUMP_INTR (the table changed under the dump) is repeated.
 *
 * Routes: the main table only (RT_TABLE_MAIN); the local table's entries follow from the addresses.
 * Interfaces to capture (capturedLinks): administratively up, not loopback, not enslaved to a bridge,
 * bond or VRF (IFLA_MASTER set: the master's socket sees the frames, a second socket on the slave
 * would see every packet twice), and not an 802.1Q sub-interface (its frames arrive on the parent's
 * socket with the tag in the packet metadata).
 */
import { EventEmitter } from 'node:events';
import { LvsError } from '../errors.js';
import { AF_INET, AF_INET6 } from '../packet/view.js';
import { parseAddress, parseMac } from '../packet/addr.js';
import type { NetState } from '../core/netstate.js';
import { NEIGH_F_PERMANENT, NEIGH_REACHABLE, NEIGH_STALE } from '../core/netstate.js';
import {
  AF_NETLINK,
  decodeMessages,
  encodeDumpRequest,
  IFA_F_DADFAILED,
  IFA_F_DEPRECATED,
  IFA_F_SECONDARY,
  IFA_F_TENTATIVE,
  IFF_LOOPBACK,
  IFF_UP,
  NETLINK_ROUTE,
  NLM_F_DUMP_INTR,
  NLM_F_REPLACE,
  NLMSG_DONE,
  NLMSG_ERROR,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_REACHABLE,
  NUD_VALID,
  RT_TABLE_MAIN,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_IPV6_ROUTE,
  RTMGRP_LINK,
  RTMGRP_NEIGH,
  RTN_UNICAST,
  SOCK_RAW,
} from './netlink.js';
import type { AddrInfo, LinkInfo, NeighInfo, NetlinkMessage, RouteInfo } from './netlink.js';

/** The socket functions the mirror needs (src/io/native.ts provides them; tests inject fakes). */
export interface NetlinkSocketApi {
  socket(domain: number, type: number, protocol: number): number;
  bindNetlink(fd: number, groups: number): void;
  /** bytes read, or -1 when nothing is pending (EAGAIN); throws (e.g. code ENOBUFS) on errors */
  recv(fd: number, buf: Uint8Array, offset: number, length: number): number;
  send(fd: number, buf: Uint8Array, offset: number, length: number): number;
  pollStart(fd: number, onReadable: () => void): void;
  pollStop(fd: number): void;
  close(fd: number): void;
  /** optional: used to enlarge the receive buffer */
  setsockoptInt?(fd: number, level: number, name: number, value: number): void;
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

/** Plain data: survives structuredClone / postMessage. Arrays are sorted for stable comparison. */
export interface NetModel {
  links: LinkInfo[];
  addrs: AddrInfo[];
  routes: RouteInfo[];
  neighbours: NeighInfo[];
}

export interface NetChange {
  links: boolean;
  addrs: boolean;
  routes: boolean;
  neighbours: boolean;
}

export const MIRROR_GROUPS =
  RTMGRP_LINK |
  RTMGRP_NEIGH |
  RTMGRP_IPV4_IFADDR |
  RTMGRP_IPV6_IFADDR |
  RTMGRP_IPV4_ROUTE |
  RTMGRP_IPV6_ROUTE;

const DUMPS = [RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH] as const;
/** what a link going up, down or away can change silently */
const LINK_DEPENDENT = [RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH] as const;
type Part = keyof NetChange;
const PART_OF_DUMP: Record<number, Part> = {
  [RTM_GETLINK]: 'links',
  [RTM_GETADDR]: 'addrs',
  [RTM_GETROUTE]: 'routes',
  [RTM_GETNEIGH]: 'neighbours',
};

export const linkKey = (l: LinkInfo): string => `${l.ifindex}`;
export const addrKey = (a: AddrInfo): string =>
  `${a.ifindex}|${a.af}|${a.address}/${a.prefixLen}|${a.peer ?? ''}`;
/** Table, destination prefix, TOS and metric: what `ip route replace` matches on. */
export const routeBaseKey = (r: RouteInfo): string =>
  `${r.af}|${r.table}|${r.dst}/${r.dstLen}|${r.tos}|${r.priority}`;
/**
 * A route's identity in the model: the base key plus its first hop, since the same prefix and metric
 * may exist once per device (IPv6 puts fe80::/64 on every link) or per gateway (`ip route append`).
 */
export const routeKey = (r: RouteInfo): string => `${routeBaseKey(r)}|${r.oif}|${r.gateway ?? ''}`;
export const neighKey = (n: NeighInfo): string => `${n.af}|${n.ifindex}|${n.dst}`;

/** Is this route kept in the model? (main table; every type, so a blackhole is not mistaken for a gap) */
export function routeWanted(r: RouteInfo): boolean {
  return r.table === RT_TABLE_MAIN;
}

interface Entry<T> {
  value: T;
  /** dump generation in which it was last seen or changed */
  mark: number;
}

/** Which links lvsd captures on (see the header comment). */
export function capturedLinks(model: NetModel): LinkInfo[] {
  return model.links.filter(
    (l) => (l.flags & IFF_UP) !== 0 && (l.flags & IFF_LOOPBACK) === 0 && l.master === 0 && l.kind !== 'vlan',
  );
}

export interface NetMirrorOptions {
  /** receive buffer; a dump datagram is at most 32 KiB on current kernels */
  bufferSize?: number;
  /**
   * socket receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF) so bursts of events (a link flap
   * re-announcing thousands of neighbours) do not overrun it; an overrun still only costs a re-dump
   */
  socketRcvbuf?: number;
}

/**
 * Events: 'change' (model: NetModel, what: NetChange) once the first full dump is complete and then
 * after every received datagram that changed something; 'error' (err) for netlink errors it cannot
 * recover from by re-dumping (a refused dump, a failing socket). Attach an 'error' listener: an
 * unhandled 'error' event throws out of the socket's readiness callback.
 */
export class NetMirror extends EventEmitter {
  private readonly api: NetlinkSocketApi;
  private fd = -1;
  private readonly buf: Uint8Array;
  private readonly rcvbuf: number;
  private readonly parts = {
    links: new Map<string, Entry<LinkInfo>>(),
    addrs: new Map<string, Entry<AddrInfo>>(),
    routes: new Map<string, Entry<RouteInfo>>(),
    neighbours: new Map<string, Entry<NeighInfo>>(),
  };
  private seq = 1;
  /** dump request types still to send, after the one in flight (dumpType, dumpSeq; 0 = none) */
  private readonly dumpQueue: number[] = [];
  private dumpType = 0;
  private dumpSeq = 0;
  private dumpInterrupted = false;
  private mark = 1;
  private synced = false;
  private pending: NetChange = { links: false, addrs: false, routes: false, neighbours: false };
  /** completed full dumps (a resync after an overrun counts again) */
  dumps = 0;
  /** overruns (ENOBUFS) that forced a re-dump */
  overruns = 0;

  constructor(api: NetlinkSocketApi, opts: NetMirrorOptions = {}) {
    super();
    this.api = api;
    this.buf = new Uint8Array(opts.bufferSize ?? 256 * 1024);
    this.rcvbuf = opts.socketRcvbuf ?? 4 * 1024 * 1024;
  }

  /** Open, subscribe, start the dumps. Resolves once the first full dump is in the model. */
  start(): Promise<NetModel> {
    if (this.fd >= 0) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'netlink mirror already started');
    const fd = this.api.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    try {
      if (this.api.setsockoptInt !== undefined) {
        try {
          this.api.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, this.rcvbuf);
        } catch {
          this.api.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, this.rcvbuf); // without CAP_NET_ADMIN
        }
      }
      this.api.bindNetlink(fd, MIRROR_GROUPS);
    } catch (e) {
      this.api.close(fd);
      throw e;
    }
    const ready = new Promise<NetModel>((resolve, reject) => {
      const onChange = (m: NetModel): void => {
        this.off('error', onError);
        resolve(m);
      };
      const onError = (e: unknown): void => {
        this.off('change', onChange);
        reject(e);
      };
      this.once('change', onChange);
      this.once('error', onError);
    });
    this.fd = fd;
    try {
      this.api.pollStart(fd, () => this.onReadable());
      this.resync();
    } catch (e) {
      this.stop();
      this.removeAllListeners('change');
      this.removeAllListeners('error');
      throw e;
    }
    return ready;
  }

  stop(): void {
    if (this.fd < 0) return;
    this.api.pollStop(this.fd);
    this.api.close(this.fd);
    this.fd = -1;
  }

  get ready(): boolean {
    return this.synced;
  }

  /** A snapshot of the model (fresh arrays, sorted). */
  model(): NetModel {
    const vals = <T>(m: Map<string, Entry<T>>, key: (v: T) => string): T[] =>
      [...m.values()].map((e) => e.value).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return {
      links: [...this.parts.links.values()].map((e) => e.value).sort((a, b) => a.ifindex - b.ifindex),
      addrs: vals(this.parts.addrs, addrKey),
      routes: vals(this.parts.routes, routeKey),
      neighbours: vals(this.parts.neighbours, neighKey),
    };
  }

  /** Interfaces to capture on now. */
  captured(): LinkInfo[] {
    return capturedLinks(this.model());
  }

  /** Re-dump everything (start, and after events were lost). */
  resync(): void {
    this.dumpQueue.length = 0;
    this.redump(DUMPS);
  }

  /** Queue these dumps (unless already queued); they follow the one in flight, if any. */
  redump(types: readonly number[]): void {
    for (const t of types) if (!this.dumpQueue.includes(t)) this.dumpQueue.push(t);
    if (this.dumpSeq === 0) this.sendNextDump();
  }

  /** Send the dump of dumpType (a new sequence number and mark). */
  private sendDump(type: number): void {
    this.dumpType = type;
    this.dumpSeq = this.seq++;
    this.dumpInterrupted = false;
    this.mark++;
    const req = encodeDumpRequest(type, this.dumpSeq);
    this.api.send(this.fd, req, 0, req.length);
  }

  private sendNextDump(): void {
    const type = this.dumpQueue.shift();
    if (type === undefined) {
      this.dumpSeq = 0;
      this.dumpType = 0;
      return;
    }
    this.sendDump(type);
  }

  private onReadable(): void {
    for (;;) {
      if (this.fd < 0) return;
      let n: number;
      try {
        n = this.api.recv(this.fd, this.buf, 0, this.buf.length);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOBUFS') {
          // The socket's receive queue overflowed: events were lost. Re-dump (rtnetlink(7)).
          this.overruns++;
          this.resync();
          continue;
        }
        this.emit('error', e);
        return;
      }
      if (n < 0) break;
      if (n === 0) continue;
      this.handle(decodeMessages(this.buf, 0, n));
    }
    this.flush();
  }

  /** Feed decoded messages (what onReadable does with each datagram; also for tests). */
  handle(msgs: NetlinkMessage[]): void {
    for (const m of msgs) {
      const inDump = this.dumpSeq !== 0 && m.seq === this.dumpSeq;
      if (inDump && (m.flags & NLM_F_DUMP_INTR) !== 0) this.dumpInterrupted = true;
      switch (m.type) {
        case NLMSG_DONE:
          if (inDump) this.dumpDone();
          break;
        case NLMSG_ERROR:
          if (inDump && m.error !== 0) {
            // The kernel refused a dump: report it and go on with the others.
            this.emit(
              'error',
              new LvsError(
                'ERR_LVS_INVALID_ARGUMENT',
                `netlink dump ${this.dumpType} failed: errno ${-m.error}`,
              ),
            );
            this.dumpDone(true);
          }
          break;
        case RTM_NEWLINK: {
          const old = this.parts.links.get(linkKey(m.link));
          this.put('links', linkKey(m.link), m.link);
          // Taking a link down (or up) changes routes the kernel does not always report: IPv4 flushes
          // the routes through a downed device without RTM_DELROUTE (fib_sync_down_dev). Re-dump.
          if (old !== undefined && ((old.value.flags ^ m.link.flags) & IFF_UP) !== 0)
            this.redump(LINK_DEPENDENT);
          break;
        }
        case RTM_DELLINK:
          this.del('links', linkKey(m.link));
          this.redump(LINK_DEPENDENT);
          // the kernel drops the link's addresses, routes and neighbours with it; it reports the
          // addresses and routes, not always the neighbours
          for (const [k, e] of this.parts.neighbours) {
            if (e.value.ifindex === m.link.ifindex) this.del('neighbours', k);
          }
          break;
        case RTM_NEWADDR:
          this.put('addrs', addrKey(m.addr), m.addr);
          break;
        case RTM_DELADDR:
          this.del('addrs', addrKey(m.addr));
          break;
        case RTM_NEWROUTE:
          if (!routeWanted(m.route)) break;
          if ((m.flags & NLM_F_REPLACE) !== 0 && !inDump) {
            // `ip route replace/change`: the route it replaced is not reported. Drop the candidates
            // and re-dump the routes to get the exact set.
            const base = routeBaseKey(m.route);
            for (const [k, e] of this.parts.routes) if (routeBaseKey(e.value) === base) this.del('routes', k);
            this.redump([RTM_GETROUTE]);
          }
          this.put('routes', routeKey(m.route), m.route);
          break;
        case RTM_DELROUTE:
          this.del('routes', routeKey(m.route));
          break;
        case RTM_NEWNEIGH:
          this.put('neighbours', neighKey(m.neigh), m.neigh);
          break;
        case RTM_DELNEIGH:
          this.del('neighbours', neighKey(m.neigh));
          break;
        default:
          break;
      }
    }
  }

  private put<P extends Part>(part: P, key: string, value: NetModel[P][number]): void {
    const map = this.parts[part] as Map<string, Entry<NetModel[P][number]>>;
    const old = map.get(key);
    if (old === undefined || JSON.stringify(old.value) !== JSON.stringify(value)) this.pending[part] = true;
    map.set(key, { value, mark: this.mark });
  }

  private del(part: Part, key: string): void {
    if (this.parts[part].delete(key)) this.pending[part] = true;
  }

  private dumpDone(failed = false): void {
    const part = PART_OF_DUMP[this.dumpType]!;
    if (!failed && this.dumpInterrupted) {
      this.sendDump(this.dumpType); // the table changed under the dump: again
      return;
    }
    if (!failed) {
      // sweep: entries neither in this dump nor touched by an event since it started are gone
      const map = this.parts[part];
      for (const [k, e] of map) {
        if (e.mark < this.mark) {
          map.delete(k);
          this.pending[part] = true;
        }
      }
    }
    if (this.dumpQueue.length > 0) {
      this.sendNextDump();
      return;
    }
    this.dumpSeq = 0;
    this.dumpType = 0;
    this.dumps++;
    if (!this.synced) {
      this.synced = true;
      this.pending = { links: true, addrs: true, routes: true, neighbours: true };
    }
  }

  /** Emit 'change' if anything changed (only once the first dump completed). */
  flush(): void {
    if (!this.synced) return;
    const p = this.pending;
    if (!p.links && !p.addrs && !p.routes && !p.neighbours) return;
    this.pending = { links: false, addrs: false, routes: false, neighbours: false };
    this.emit('change', this.model(), p);
  }
}

/**
 * The mirror as the daemon's NetSource (src/daemon/daemon.ts): start(onChange) resolves after the
 * first full dump and then calls onChange after every change; capture() is capturedLinks; local()
 * lists every address of the namespace (VIPs included) for steering.
 */
export interface MirrorNetSource {
  readonly mirror: NetMirror;
  start(onChange: () => void): Promise<void>;
  model(): NetModel;
  capture(): { ifindex: number; name: string }[];
  nonLoopbackCount(): number;
  local(): { addrs4: string[]; addrs6: string[] };
  stop(): void;
}

export function createNetSource(api: NetlinkSocketApi, opts: NetMirrorOptions = {}): MirrorNetSource {
  const mirror = new NetMirror(api, opts);
  let current: NetModel = { links: [], addrs: [], routes: [], neighbours: [] };
  return {
    mirror,
    async start(onChange: () => void): Promise<void> {
      let first = true;
      mirror.on('change', (m: NetModel) => {
        current = m;
        if (!first) onChange(); // the first model is what start() resolves with
        first = false;
      });
      current = await mirror.start();
    },
    model: () => current,
    capture: () => capturedLinks(current).map((l) => ({ ifindex: l.ifindex, name: l.name })),
    nonLoopbackCount: () => current.links.filter((l) => (l.flags & IFF_LOOPBACK) === 0).length,
    local() {
      const a4 = new Set<string>();
      const a6 = new Set<string>();
      for (const a of current.addrs) (a.af === AF_INET ? a4 : a6).add(a.address);
      return { addrs4: [...a4].sort(), addrs6: [...a6].sort() };
    },
    stop: () => mirror.stop(),
  };
}

// ------------------------------------------------------------------ data-plane side

/** What applyNetModel did (for logs and tests). */
export interface ApplyResult {
  interfaces: number;
  routes: number;
  neighbours: number;
  /** links lvsd cannot index (ifindex beyond NetState's table) */
  skippedLinks: number;
  /** main-table routes NetState cannot express (blackhole, unreachable, prohibit, ...) */
  skippedRoutes: number;
}

interface Applied {
  links: string;
  addrs: string;
  routes: string;
}
const lastApplied = new WeakMap<NetState, Applied>();

/**
 * Address preference for an interface's source address (NetState keeps the first one added): usable
 * (not tentative, DAD-failed or deprecated), primary before secondary, global scope before link
 * scope, then the shortest prefix (a VIP is usually a /32 or /128 beside the subnet's address), then
 * the kernel's order.
 */
function addrRank(a: AddrInfo): number[] {
  const unusable = (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)) !== 0 ? 1 : 0;
  return [unusable, (a.flags & IFA_F_SECONDARY) !== 0 ? 1 : 0, a.scope, a.prefixLen];
}

function words(text: string, af: number): Uint32Array | null {
  const p = parseAddress(text);
  return p !== null && p.af === af ? p.words : null;
}

const ZERO_MAC = new Uint8Array(6);

/**
 * Rebuild the data plane's NetState from a model (in the worker, between batches). Interfaces and
 * addresses are rebuilt when links or addresses changed since the last call for this NetState, routes
 * when routes changed (each rebuild bumps NetState.generation, which flushes next-hop caches, so
 * neighbour-only changes must not cause one). Neighbours are merged, never removed (NetState's
 * neighbour indexes are stable): kernel entries with a valid link-layer address seed or refresh
 * lvsd's entry: REACHABLE/PERMANENT/NOARP as reachable now, STALE/DELAY/PROBE as stale (usable, and
 * probed by lvsd when in use); an lvsd entry that is reachable with the same MAC is left alone.
 */
export function applyNetModel(net: NetState, model: NetModel, nowMs: number): ApplyResult {
  const res: ApplyResult = { interfaces: 0, routes: 0, neighbours: 0, skippedLinks: 0, skippedRoutes: 0 };
  const prev = lastApplied.get(net);
  const cur: Applied = {
    links: JSON.stringify(model.links),
    addrs: JSON.stringify(model.addrs),
    routes: JSON.stringify(model.routes),
  };
  if (prev === undefined || prev.links !== cur.links || prev.addrs !== cur.addrs) {
    const byIf = new Map<number, AddrInfo[]>();
    for (const a of model.addrs) {
      let l = byIf.get(a.ifindex);
      if (l === undefined) byIf.set(a.ifindex, (l = []));
      l.push(a);
    }
    net.clearAddresses();
    const keep = new Set<number>();
    for (const l of model.links) {
      if (l.ifindex <= 0 || l.ifindex >= net.ifPresent.length) {
        res.skippedLinks++;
        continue;
      }
      keep.add(l.ifindex);
      const addrs = (byIf.get(l.ifindex) ?? [])
        .map((a, order) => ({ a, rank: [...addrRank(a), order] }))
        .sort((x, y) => {
          for (let i = 0; i < x.rank.length; i++) if (x.rank[i] !== y.rank[i]) return x.rank[i]! - y.rank[i]!;
          return 0;
        })
        .map((x) => x.a);
      const addresses: Array<{ af: number; words: Uint32Array; prefixLen: number }> = [];
      for (const a of addrs) {
        const w = words(a.address, a.af);
        if (w !== null) addresses.push({ af: a.af, words: w, prefixLen: a.prefixLen });
      }
      const vlan = l.kind === 'vlan' && l.vlanId >= 0 && l.link > 0;
      net.setInterface({
        ifindex: l.ifindex,
        name: l.name,
        mac: (l.mac !== null ? parseMac(l.mac) : null) ?? ZERO_MAC,
        mtu: l.mtu,
        parentIfindex: vlan ? l.link : l.ifindex,
        vlanId: vlan ? l.vlanId : -1,
        up: (l.flags & IFF_UP) !== 0,
        addresses,
      });
      res.interfaces++;
    }
    for (const i of [...net.ifNames.keys()]) if (!keep.has(i)) net.removeInterface(i);
  }
  if (prev === undefined || prev.routes !== cur.routes) {
    net.clearRoutes();
    for (const r of model.routes) {
      const dst = words(r.dst, r.af);
      const gw = r.gateway !== null ? words(r.gateway, r.af) : null;
      if (r.type !== RTN_UNICAST || dst === null || r.oif <= 0 || (r.gateway !== null && gw === null)) {
        res.skippedRoutes++;
        continue;
      }
      const src = r.prefsrc !== null ? words(r.prefsrc, r.af) : null;
      net.addRoute({
        af: r.af,
        dst,
        prefixLen: r.dstLen,
        gateway: gw ?? undefined,
        ifindex: r.oif,
        metric: r.priority,
        mtu: r.mtu || undefined,
        src: src ?? undefined,
      });
      res.routes++;
    }
  } else {
    res.routes = net.routes;
  }
  lastApplied.set(net, cur);
  const permanentNow = new Set<number>();
  for (const n of model.neighbours) {
    if ((n.state & NUD_VALID) === 0 || n.lladdr === null) continue;
    if (n.af !== AF_INET && n.af !== AF_INET6) continue;
    const dst = words(n.dst, n.af);
    const mac = parseMac(n.lladdr);
    if (dst === null || mac === null || n.ifindex <= 0 || n.ifindex >= net.ifPresent.length) continue;
    const permanent = (n.state & (NUD_PERMANENT | NUD_NOARP)) !== 0;
    const fresh = permanent || (n.state & NUD_REACHABLE) !== 0;
    const i = net.findNeighbour(n.af, dst, 0, n.ifindex);
    if (i >= 0 && !permanent && net.nState[i] === NEIGH_REACHABLE && sameMac(net.nMac, i * 6, mac)) {
      net.nFlags[i]! &= ~NEIGH_F_PERMANENT;
      continue;
    }
    const j = net.setNeighbour(n.af, dst, n.ifindex, mac, nowMs);
    if (j < 0) continue;
    if (!fresh) {
      net.nState[j] = NEIGH_STALE;
      net.nUpdated[j] = 0;
    }
    if (permanent) {
      net.nFlags[j]! |= NEIGH_F_PERMANENT;
      permanentNow.add(j);
    } else {
      net.nFlags[j]! &= ~NEIGH_F_PERMANENT;
    }
    res.neighbours++;
  }
  // a static entry the kernel no longer has: keep the MAC, but let lvsd's prober verify it
  for (let i = 0; i < net.neighCount; i++) {
    if ((net.nFlags[i]! & NEIGH_F_PERMANENT) !== 0 && !permanentNow.has(i)) {
      net.nFlags[i]! &= ~NEIGH_F_PERMANENT;
      net.nState[i] = NEIGH_STALE;
      net.nUpdated[i] = 0;
    }
  }
  return res;
}

function sameMac(a: Uint8Array, off: number, b: Uint8Array): boolean {
  for (let k = 0; k < 6; k++) if (a[off + k] !== b[k]) return false;
  return true;
}

export { AF_INET, AF_INET6 };
