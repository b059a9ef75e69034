/**
 * Engine: the director's data plane for one shard. It takes a FrameBatch from any driver, decides
 * every frame, and leaves verdicts (transmit, drop with a reason, hand to the kernel) plus any
 * generated frames (ICMP errors, GSO segments) in the batch. Pure and synchronous: no I/O, no
 * timers, no exceptions on packet data (DESIGN hot-path rules 1-11).
 *
 * Per frame (ipvs-reference §5):
 *   parse -> ICMP error about a connection?  -> translate and forward (§5.6)
 *         -> non-first fragment?              -> follow its datagram's connection (fragment cache)
 *         -> conn IN lookup (client -> VIP)   -> inbound: state, stats, transmit by method
 *         -> conn OUT lookup (RS -> client)   -> outbound (NAT/FullNAT replies)
 *         -> service lookup                    -> persistence template / scheduler -> new conn
 *         -> otherwise                         -> not ours: VERDICT_KERNEL
 *
 * Kernel behaviours kept on purpose:
 *  - inbound packets keep their TTL (IPVS takes them at LOCAL_IN, where no forwarding hop is
 *    counted); NAT/FullNAT replies are forwarded packets and lose one hop (TTL 1: counted drop);
 *  - new connections only from a TCP SYN (without RST; any TCP packet with sloppy_tcp), any UDP
 *    datagram, an SCTP INIT chunk;
 *  - no destination available: ICMP port unreachable to the client (ip_vs_leave), rate-limited;
 *  - a connection whose destination was removed: its packets are dropped, or with
 *    expire_nodest_conn the connection is expired at once;
 *  - conn_reuse_mode: a SYN that hits a TIME_WAIT or CLOSE (or, with bit 2, a DR/TUN FIN_WAIT)
 *    connection not controlled by a template expires it and is scheduled anew;
 *  - path MTU: a DF packet (any IPv6 packet) larger than the route MTU (minus tunnel overhead) gets
 *    ICMP frag-needed / packet-too-big and is dropped; GSO super-frames are measured by their largest
 *    segment.
 *
 * Single writer: one Engine per shard; its ConnTable and StatsShard are written only here. The
 * service snapshot is swapped with setSnapshot() between batches, never during one.
 */
import { Drop } from '../packet/drop-reasons.js';
import type { FrameBatch } from '../packet/frame.js';
import {
  GSO_NONE,
  VERDICT_DONE,
  VERDICT_DROP,
  VERDICT_KERNEL,
  VERDICT_TX,
  VNET_F_NEEDS_CSUM,
} from '../packet/frame.js';
import { parseFrame } from '../packet/parse.js';
import {
  AF_INET,
  AF_INET6,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PacketView,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from '../packet/view.js';
import { ipv4DecrementTtl, l4ChecksumSet } from '../packet/checksum.js';
import { EncapParams, encapsulate, tunnelOverhead, TUN_GRE, TUN_GUE, TUN_IPIP } from '../packet/encap.js';
import {
  ICMP_KIND_PORT_UNREACH,
  ICMP_KIND_TOO_BIG,
  IcmpRateLimiter,
  icmpErrorAllowed,
  sendIcmpError,
} from '../packet/icmp-build.js';
import { gsoMaxSegmentL3Length, gsoSegment, gsoSegmentCount } from '../packet/gso.js';
import { mssClamp } from '../packet/mss.js';
import { ArpView, ND_NA, parseArp } from '../packet/arp.js';
import { isMartianSource, readAddr } from '../packet/addr.js';
import type { ConnTable } from '../conn/table.js';
import { ADDR_C, ADDR_D, ADDR_L, ADDR_V } from '../conn/table.js';
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_LOCALNODE,
  CONN_F_MASQ,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_TEMPLATE,
  CONN_F_TUNNEL,
} from '../conn/flags.js';
import {
  DIR_INPUT,
  DIR_OUTPUT,
  NEW_CONN_TIMEOUT_MS,
  TCP_S_FIN_WAIT,
  TCP_S_TIME_WAIT,
  TCP_S_CLOSE,
  Timeouts,
  otherTouch,
  tcpStateTransition,
  udpTouch,
} from '../conn/state.js';
import {
  TemplateKey,
  buildTemplateKey,
  createTemplate,
  lookupValidTemplate,
  refreshTemplate,
} from '../conn/persistence.js';
import { FragCache } from '../conn/frag-cache.js';
import { LocalPortAllocator } from '../conn/shard.js';
import type { Scheduler } from '../sched/types.js';
import { createScheduler } from '../sched/index.js';
import type { CompiledService, ServiceSnapshot } from './snapshot.js';
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT } from './services.js';
import type { StatsShard } from './stats.js';
import type { NetState } from './netstate.js';
import { emitToNeighbour } from '../fwd/l2.js';
import { rewriteAddrPort } from '../fwd/rewrite.js';
import { rewriteInner } from '../fwd/icmp.js';
import type { FlowOffload } from './offload.js';

/** Director sysctls that change data-plane behaviour (/proc/sys/net/ipv4/vs/, ipvs-reference §4.5). */
export interface EngineSysctl {
  expireNodestConn: boolean;
  expireQuiescentTemplate: boolean;
  /** bit 0: reschedule a SYN hitting TIME_WAIT; bit 1: also FIN_WAIT of DR/TUN conns */
  connReuseMode: number;
  sloppyTcp: boolean;
  pmtuDisc: boolean;
  /** TTL of tunnel outer headers; 0 copies the inner TTL / hop limit */
  tunnelTtl: number;
  /** FullNAT local port range */
  fullnatPortLo: number;
  fullnatPortHi: number;
}

export const DEFAULT_SYSCTL: EngineSysctl = {
  expireNodestConn: false,
  expireQuiescentTemplate: false,
  connReuseMode: 1,
  sloppyTcp: false,
  pmtuDisc: true,
  tunnelTtl: 0,
  fullnatPortLo: 1024,
  fullnatPortHi: 65535,
};

export interface EngineOptions {
  conns: ConnTable;
  timeouts: Timeouts;
  net: NetState;
  stats: StatsShard;
  shardId?: number;
  shardCount?: number;
  sysctl?: Partial<EngineSysctl>;
  fragCache?: FragCache;
  icmpLimiter?: IcmpRateLimiter;
  /** fwmark classifier: lvsd's own mark rules (the kernel's PREROUTING marks never see stolen packets) */
  fwmark?: (v: PacketView) => number;
}

/**
 * Where the engine reports every client->server packet of a connection when a sync master runs
 * (kernel: ip_vs_in calls ip_vs_sync_conn with the conn's incremented in_pkts; pkts > 1 for a GSO
 * super-frame, which counts its segments). The sink decides
 * whether the conn is worth syncing (src/sync/collector.ts) and must not allocate.
 */
export interface ConnSyncSink {
  noteIn(h: number, inPkts: number, pkts: number): void;
}

/** ipvsadm tunnel types (services.ts TUN_*) -> packet-layer tunnel types (encap.ts TUN_*) */
const TUN_TYPE_MAP = Uint8Array.from([TUN_IPIP, TUN_GUE, TUN_GRE]);

interface SchedSlot {
  sched: Scheduler | null;
  schedVersion: number;
  destsVersion: number;
  svc: CompiledService;
}

const DIR_IN = 0;
const DIR_OUT = 1;

export class Engine {
  readonly conns: ConnTable;
  readonly timeouts: Timeouts;
  readonly net: NetState;
  readonly stats: StatsShard;
  readonly shardId: number;
  readonly shardCount: number;
  readonly sysctl: EngineSysctl;
  readonly fragCache: FragCache;
  readonly icmpLimiter: IcmpRateLimiter;
  /** drops by Drop reason (this shard) */
  readonly drops = new Float64Array(Drop.Count);
  /** packets from NAT real servers with no connection, routed unchanged (forwardUnmatched) */
  forwardedUnmatched = 0;
  /** frames handed to the kernel, transmitted, generated */
  passed = 0;
  transmitted = 0;
  /** set by tunnel() when the frame just processed was replaced by segments appended to the pool */
  private segmented = false;
  generated = 0;
  /** set while a sync master runs (null: one test per inbound packet) */
  syncSink: ConnSyncSink | null = null;
  /** kernel fast path for established DR flows (offload.ts); null = every frame through lvsd */
  offload: FlowOffload | null = null;

  private snap: ServiceSnapshot | null = null;
  /** the snapshot has a fwmark service: its packets may go to any address, not only a VIP */
  private anyFwmark = false;
  private schedById = new Map<number, SchedSlot>();
  /** by service index in the current snapshot */
  private scheds: Array<Scheduler | null> = [];
  /** FullNAT allocators by service index (one per local address), and by address key for release */
  private localAlloc: LocalPortAllocator[][] = [];
  private localCursor = new Int32Array(0);
  private allocByKey = new Map<string, LocalPortAllocator>();

  // per dest id: next-hop cache toward the real server
  private destNeigh = new Int32Array(0);
  private destMtu = new Int32Array(0);
  private destSrc = new Uint32Array(0);
  private destHasSrc = new Uint8Array(0);
  private destNeighGen = new Float64Array(0);
  private netGen = -1;
  /** MTU of the route to the client, set by clientNextHop */
  private clientMtu = 1500;

  private now = 0;
  private ipId = 1;
  private readonly fwmarkOf: ((v: PacketView) => number) | null;
  private readonly quiesced: (destId: number) => boolean;
  private readonly onExpire: (h: number) => void;

  // scratch (reused; hot-path rule 1)
  private readonly v = new PacketView();
  private readonly segView = new PacketView();
  private readonly key = new TemplateKey();
  private readonly encap = new EncapParams();
  private readonly arp = new ArpView();
  private readonly a = new Uint32Array(4);
  /** scratch: the link-layer address of a Neighbor Advertisement */
  private readonly naMac = new Uint8Array(6);
  private readonly b = new Uint32Array(4);
  private readonly c = new Uint32Array(4);
  private readonly macScratch = new Uint8Array(6);
  /** the interface the frame being decided arrived on: its VLAN sub-interface when it came tagged */
  private inIf = 0;

  constructor(opts: EngineOptions) {
    this.conns = opts.conns;
    this.timeouts = opts.timeouts;
    this.net = opts.net;
    this.stats = opts.stats;
    this.shardId = opts.shardId ?? 0;
    this.shardCount = opts.shardCount ?? 1;
    this.sysctl = { ...DEFAULT_SYSCTL, ...(opts.sysctl ?? {}) };
    this.fragCache = opts.fragCache ?? new FragCache();
    this.icmpLimiter = opts.icmpLimiter ?? new IcmpRateLimiter();
    this.fwmarkOf = opts.fwmark ?? null;
    this.quiesced = (d: number) =>
      this.snap !== null && d < this.snap.destIdLimit && this.snap.destWeight[d] === 0;
    this.onExpire = (h: number) => this.releaseLocalPort(h);
  }

  // ------------------------------------------------------------------ control side (between batches)

  /** Adopt a new service snapshot: schedulers are kept, updated or created per service version. */
  setSnapshot(s: ServiceSnapshot): void {
    const next = new Map<number, SchedSlot>();
    const scheds: Array<Scheduler | null> = [];
    const localAlloc: LocalPortAllocator[][] = [];
    for (const svc of s.services) {
      const old = this.schedById.get(svc.id);
      let slot: SchedSlot;
      if (old === undefined || old.schedVersion !== svc.schedVersion) {
        slot = { sched: null, schedVersion: svc.schedVersion, destsVersion: svc.destsVersion, svc };
        try {
          slot.sched = createScheduler(svc.scheduler, svc.schedOptions);
          slot.sched.update(svc.dests, null);
        } catch {
          slot.sched = null; // unknown scheduler or unschedulable list: NoDestination until fixed
        }
      } else {
        slot = old;
        if (old.destsVersion !== svc.destsVersion && old.sched !== null) {
          try {
            old.sched.update(svc.dests, old.svc.dests);
          } catch {
            slot.sched = null;
          }
        }
        slot.destsVersion = svc.destsVersion;
        slot.svc = svc;
      }
      next.set(svc.id, slot);
      scheds.push(slot.sched);
      const allocs: LocalPortAllocator[] = [];
      for (let k = 0; k < svc.localCount; k++) {
        const key = `${svc.localAf[k]}:${svc.localAddr.subarray(k * 4, k * 4 + 4).join('.')}`;
        let a = this.allocByKey.get(key);
        if (a === undefined) {
          a = new LocalPortAllocator(
            this.sysctl.fullnatPortLo,
            this.sysctl.fullnatPortHi,
            this.shardId,
            this.shardCount,
          );
          this.allocByKey.set(key, a);
        }
        allocs.push(a);
      }
      localAlloc.push(allocs);
    }
    this.schedById = next;
    this.scheds = scheds;
    this.localAlloc = localAlloc;
    this.localCursor = new Int32Array(s.services.length);
    if (this.destNeigh.length < s.destIdLimit) {
      const n = s.destIdLimit;
      this.destNeigh = new Int32Array(n).fill(-1);
      this.destMtu = new Int32Array(n);
      this.destSrc = new Uint32Array(n * 4);
      this.destHasSrc = new Uint8Array(n);
      this.destNeighGen = new Float64Array(n).fill(-1);
    } else {
      this.destNeighGen.fill(-1);
    }
    this.snap = s;
    this.anyFwmark = s.services.some((svc) => svc.fwmark !== 0);
  }

  get snapshot(): ServiceSnapshot | null {
    return this.snap;
  }

  /** Housekeeping once per batch or tick: expire connections, scheduler GC. */
  tick(nowMs: number): number {
    this.now = nowMs;
    const freed = this.conns.wheel.advance(nowMs, this.onExpire);
    for (let i = 0; i < this.scheds.length; i++) {
      const s = this.scheds[i];
      if (s) s.gc(nowMs);
    }
    return freed;
  }

  // ------------------------------------------------------------------ data plane

  /**
   * Decide every received frame of the batch in one pass; generated frames are appended. Tunnelled
   * GSO segments leave after every received frame and may run out of pool slots: a driver loop uses
   * processBatchFrom() instead.
   */
  processBatch(batch: FrameBatch, nowMs: number): void {
    this.run(batch, nowMs, 0, false);
  }

  /**
   * Decide received frames [from, count) and return where to resume (count when the batch is done).
   * It yields early, leaving [resume, count) as VERDICT_DONE, so the caller completes the batch (the
   * driver sends in slot order), calls batch.retire(resume) and calls again from there:
   *  - right after a frame whose segments were appended (tunnelled GSO super-frame), so that later
   *    frames of the same flow in this batch do not overtake them (receivers count reordering as loss:
   *    dup-ACKs, spurious retransmits);
   *  - before a GSO frame whose worst-case segment count does not fit the pool's free slots while the
   *    pool holds frames of earlier ones (a flush frees it; dropping as FramePoolExhausted lost whole
   *    64 KiB super-frames whenever two arrived in one batch).
   */
  processBatchFrom(batch: FrameBatch, nowMs: number, from: number): number {
    return this.run(batch, nowMs, from, true);
  }

  private run(batch: FrameBatch, nowMs: number, from: number, yieldable: boolean): number {
    this.now = nowMs;
    if (this.net.generation !== this.netGen) this.onNetChange();
    const n = batch.count;
    let resume = n;
    for (let i = from; i < n; i++) {
      if (yieldable && batch.total > n && batch.gsoType[i]! !== GSO_NONE) {
        const mss = batch.gsoSize[i]!;
        if (mss > 0 && batch.capacity - batch.total < Math.ceil(batch.len[i]! / mss)) {
          resume = i;
          break;
        }
      }
      this.segmented = false;
      const r = this.processFrame(batch, i);
      if (r < 0) {
        batch.verdict[i] = VERDICT_DROP;
        batch.reason[i] = -r;
        this.drops[-r]!++;
      } else if (batch.verdict[i] === VERDICT_KERNEL) {
        this.passed++;
      } else if (batch.verdict[i] === VERDICT_TX) {
        this.transmitted++;
      }
      if (yieldable && this.segmented && i + 1 < n) {
        resume = i + 1;
        break;
      }
    }
    if (resume < n) batch.verdict.fill(VERDICT_DONE, resume, n);
    for (let i = n; i < batch.total; i++) if (batch.verdict[i] === VERDICT_TX) this.generated++;
    return resume;
  }

  private onNetChange(): void {
    this.netGen = this.net.generation;
    this.destNeighGen.fill(-1);
    this.conns.neigh.fill(-1);
  }

  /** Returns 0 when a verdict was set, else a negative Drop reason. */
  private processFrame(batch: FrameBatch, i: number): number {
    const buf = batch.buf;
    const v = this.v;
    batch.verdict[i] = VERDICT_KERNEL;
    batch.reason[i] = 0;
    const r = parseFrame(buf, batch.start[i]!, batch.len[i]!, v);
    if (r < 0) {
      // Not IP: nothing of ours; the kernel keeps its own copy (ARP, LLDP, ...).
      if (r === -Drop.UnknownEthertype) return 0;
      return r;
    }
    this.inIf = batch.ifindex[i]!;
    if (batch.vlanTci[i]! >= 0 || v.vlanTci >= 0) {
      this.inIf = this.vlanIngress(batch, i);
      // IP on a VLAN the director is not on is dropped as the kernel does; anything else is the kernel's
      if (this.inIf === 0) return v.af === 0 ? 0 : -Drop.UnknownVlan;
    }
    if (v.af === 0) {
      if (v.ethType === ETH_P_ARP) this.learnArp(batch);
      return 0;
    }
    if (v.innerL3Off >= 0) return this.icmpError(batch, i);
    if (v.isFragment !== 0 && v.l4Off < 0) return this.laterFragment(batch, i);
    const proto = v.proto;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_SCTP) {
      // ICMP echo and other protocols to a VIP are the kernel's (schedule_icmp=0). Neighbor
      // Advertisements answer lvsd's probes (src/io/neigh-probe.ts); the kernel gets them too.
      if (proto === IPPROTO_ICMPV6 && v.icmpType === ND_NA) this.learnNa(batch);
      return 0;
    }
    const conns = this.conns;
    const snap = this.snap;
    // Client -> VIP packets can only be addressed to a VIP (or, with fwmark services, anywhere). The
    // VIP set is small and cache-hot; the IN probe it saves a reply is a cache miss at scale.
    let h = -1;
    if (snap === null || this.anyFwmark || snap.isVip(v.af, v.daddr)) {
      h = conns.lookupIn(proto, v.af, v.saddr, 0, v.sport, v.daddr, 0, v.dport);
    }
    if (h >= 0) {
      if (proto === IPPROTO_TCP && this.reuseExpected(h)) {
        conns.unhash(h);
        conns.expireNow(h, this.now);
        h = -1;
      } else {
        return this.inbound(batch, i, h);
      }
    }
    if (h < 0) {
      const o = conns.lookupOut(proto, v.af, v.saddr, 0, v.sport, v.daddr, 0, v.dport);
      if (o >= 0) return this.outbound(batch, i, o);
    }
    if (snap === null) return 0;
    const fwmark = this.fwmarkOf !== null ? this.fwmarkOf(v) : 0;
    const si = snap.findService(v.af, proto, v.daddr, v.dport, fwmark);
    if (si < 0) return this.forwardUnmatched(batch, i);
    return this.newConnection(batch, i, si, fwmark);
  }

  /**
   * A packet from a NAT real server's service port that no connection matches: the reply to a
   * one-packet (-o) UDP connection, already freed, or one whose connection expired. Kernel IPVS finds
   * no connection and lets it through ip_forward unchanged (ipvs-reference §5.2); steering took the
   * kernel's copy (rule (b)), so lvsd routes it the same way: TTL - 1, next hop, out. Packets to the
   * director itself were never steered and stay the kernel's.
   */
  private forwardUnmatched(batch: FrameBatch, i: number): number {
    const v = this.v;
    const net = this.net;
    const snap = this.snap!;
    if (!snap.isNatSource(v.af, v.saddr, v.proto, v.sport) || net.isLocal(v.af, v.daddr, 0)) return 0;
    if (v.ttl <= 1) return -Drop.TtlExceeded;
    const neigh = net.resolve(v.af, v.daddr, 0);
    if (neigh < 0) return -Drop.NoRoute;
    const l3Len = this.wireL3Len(batch, i);
    const mtu = net.lastMtu;
    if (this.mtuRefused(batch, i, l3Len, mtu)) return -Drop.MtuExceeded;
    const buf = batch.buf;
    if (v.af === AF_INET) ipv4DecrementTtl(buf, v.l3Off);
    else buf[v.l3Off + 7] = buf[v.l3Off + 7]! - 1;
    this.forwardedUnmatched++;
    return this.emitParsed(batch, i, neigh);
  }

  /**
   * The interface a tagged frame arrives on, 0 when the kernel would not accept it. Each tag, outermost
   * first (the one the device stripped, then the in-band ones), selects the VLAN sub-interface of the
   * interface so far; a tag with VLAN id 0 only carries a priority and selects nothing (802.1p). An id
   * with no up sub-interface makes the kernel mark the frame PACKET_OTHERHOST, which ip_rcv drops.
   */
  private vlanIngress(batch: FrameBatch, i: number): number {
    const v = this.v;
    const oob = batch.vlanTci[i]!;
    const first = oob >= 0 ? oob : v.vlanTci;
    const second = oob >= 0 ? v.vlanTci : v.vlanTci2;
    // a third tag behind two in-band ones leaves an unknown ethertype: parseFrame refused it already
    if (oob >= 0 && v.vlanTci2 >= 0) return 0;
    let ifindex = batch.ifindex[i]!;
    if ((first & 0xfff) !== 0) ifindex = this.net.vlanInterface(ifindex, first & 0xfff);
    if (ifindex !== 0 && second >= 0 && (second & 0xfff) !== 0)
      ifindex = this.net.vlanInterface(ifindex, second & 0xfff);
    return ifindex;
  }

  /**
   * Should this SYN replace the old connection and be scheduled anew (ip_vs_in, Linux >= 5.9 with the
   * 2021 fixes)? Never for a connection controlled by a template. Otherwise yes when expire_nodest_conn
   * is set and its destination has weight 0 (whatever conn_reuse_mode), or when conn_reuse_mode is on
   * and the old connection is over: TIME_WAIT, CLOSE (it ended with a RST), or with bit 2 a DR/TUN
   * FIN_WAIT (ipvs-reference §4.5).
   */
  private reuseExpected(h: number): boolean {
    const v = this.v;
    if ((v.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) return false;
    const conns = this.conns;
    if (conns.control[h]! >= 0) return false;
    if (this.sysctl.expireNodestConn && this.quiesced(conns.destId[h]!)) return true;
    const mode = this.sysctl.connReuseMode;
    if (mode === 0) return false;
    const st = conns.state[h]!;
    if (st === TCP_S_TIME_WAIT || st === TCP_S_CLOSE) return true;
    return (mode & 2) !== 0 && st === TCP_S_FIN_WAIT && (conns.flags[h]! & CONN_F_NOOUTPUT) !== 0;
  }

  private newConnection(batch: FrameBatch, i: number, si: number, fwmark: number): number {
    const v = this.v;
    const snap = this.snap!;
    const svc = snap.services[si]!;
    const proto = v.proto;
    // Routing drops these before IPVS schedules (martian source; a local source without
    // accept_local). Checked where a connection would be made, so established flows pay nothing.
    if (isMartianSource(v.af, v.saddr, 0)) return -Drop.MartianSource;
    if (snap.isVip(v.af, v.saddr)) return -Drop.SourceIsVip;
    if (this.net.isLocal(v.af, v.saddr, 0)) return -Drop.MartianSource;
    // Only a connection's first packet may create it (ip_vs_proto *_conn_schedule).
    if (proto === IPPROTO_TCP) {
      if (!this.sysctl.sloppyTcp && (v.tcpFlags & (TCP_SYN | TCP_RST)) !== TCP_SYN)
        return -Drop.NotConnectionStart;
      if ((v.tcpFlags & TCP_RST) !== 0) return -Drop.NotConnectionStart;
    } else if (proto === IPPROTO_SCTP) {
      const c = v.l4Off + 12;
      if (c >= v.l3End || batch.buf[c] !== 1) return -Drop.NotConnectionStart; // INIT chunk
    }
    const conns = this.conns;
    const dests = svc.dests;
    let destId = -1;
    let tpl = -1;
    if ((svc.flags & SVC_F_PERSISTENT) !== 0) {
      const isV4 = svc.af === AF_INET;
      buildTemplateKey(
        this.key,
        v.af,
        proto,
        v.saddr,
        0,
        v.daddr,
        0,
        svc.port,
        svc.fwmark,
        isV4 ? svc.netmask : 0,
        isV4 ? 0 : svc.netmask,
      );
      tpl = lookupValidTemplate(
        conns,
        this.key,
        this.sysctl.expireQuiescentTemplate,
        this.quiesced,
        this.now,
      );
      if (tpl >= 0) destId = conns.destId[tpl]!;
    }
    if (destId < 0) {
      const sched = this.scheds[si] ?? null;
      const pos = sched === null ? -1 : sched.schedule(v, this.now);
      if (pos < 0) {
        this.replyIcmp(batch, i, ICMP_KIND_PORT_UNREACH, 0);
        return -Drop.NoDestination;
      }
      destId = dests.id[pos]!;
    }
    const fwd = snap.destFwd[destId]!;
    const daf = snap.destAf[destId]!;
    const da = destId * 4;
    const dportCfg = snap.destPort[destId]!;
    const dport = dportCfg !== 0 ? dportCfg : v.dport;
    if (tpl < 0 && (svc.flags & SVC_F_PERSISTENT) !== 0) {
      tpl = createTemplate(
        conns,
        this.key,
        svc.fwmark,
        svc.id,
        destId,
        daf,
        snap.destAddr,
        da,
        dportCfg,
        fwd,
        svc.timeout * 1000,
        this.now,
      );
      if (tpl < 0) return -Drop.ConnTableFull;
    }
    let flags = fwd & CONN_F_FWD_MASK;
    const onePacket = (svc.flags & SVC_F_ONEPACKET) !== 0 && proto === IPPROTO_UDP;
    if (onePacket) flags |= CONN_F_ONE_PACKET;
    // local side of the connection: FullNAT takes a local address and port, others reuse the client's
    let laddr: Uint32Array = v.saddr;
    let laOff = 0;
    let lport = v.sport;
    if (fwd === CONN_F_FULLNAT) {
      const allocs = this.localAlloc[si]!;
      const n = allocs.length;
      if (n === 0) return -Drop.UnsupportedForwarding;
      let port = -1;
      let k = 0;
      for (let t = 0; t < n && port < 0; t++) {
        k = (this.localCursor[si]! + t) % n;
        port = allocs[k]!.allocate();
      }
      if (port < 0) return -Drop.ConnTableFull;
      this.localCursor[si] = (k + 1) % n;
      laddr = svc.localAddr;
      laOff = k * 4;
      lport = port;
    }
    const h = conns.create(
      v.af,
      daf,
      proto,
      flags,
      v.saddr,
      0,
      v.sport,
      v.daddr,
      0,
      v.dport,
      snap.destAddr,
      da,
      dport,
      laddr,
      laOff,
      lport,
      fwmark,
      svc.id,
      destId,
      tpl,
      NEW_CONN_TIMEOUT_MS,
      this.now,
    );
    if (h < 0) {
      if (fwd === CONN_F_FULLNAT) this.releasePort(svc.localAf[laOff >> 2]!, laddr, laOff, lport);
      return -Drop.ConnTableFull;
    }
    if (tpl >= 0) refreshTemplate(conns, tpl, this.now);
    this.stats.countConn(svc.id, destId);
    if (fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) this.learnClientMac(batch, i, h);
    const r = this.inbound(batch, i, h);
    if (onePacket) {
      this.releaseLocalPort(h);
      conns.free(h);
    }
    return r;
  }

  // ------------------------------------------------------------------ inbound: client -> real server

  private inbound(batch: FrameBatch, i: number, h: number): number {
    const v = this.v;
    const conns = this.conns;
    const snap = this.snap;
    const destId = conns.destId[h]!;
    if (snap === null || destId < 0 || !snap.live.isAvailable(destId)) {
      if (this.sysctl.expireNodestConn) {
        conns.unhash(h);
        conns.expireNow(h, this.now);
      }
      return -Drop.DestUnavailable;
    }
    const flags = conns.flags[h]!;
    const fwd = flags & CONN_F_FWD_MASK;
    if (fwd === CONN_F_LOCALNODE) {
      this.account(h, DIR_IN, batch, i);
      batch.verdict[i] = VERDICT_KERNEL;
      return 0;
    }
    const neigh = this.destNextHop(destId, conns.daf[h]!, h);
    if (neigh < 0) return -Drop.NoRoute;
    const partial = (batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) !== 0;
    const gso = batch.gsoType[i]! !== GSO_NONE && batch.gsoSize[i]! !== 0;
    const l3Len = this.wireL3Len(batch, i);
    let mtu = this.destMtu[destId]!;
    if (fwd === CONN_F_TUNNEL) {
      const tunType = TUN_TYPE_MAP[snap.destTunType[destId]!] ?? TUN_IPIP;
      mtu -= tunnelOverhead(tunType, conns.daf[h]!, snap.destTunFlags[destId]!);
      if (v.proto === IPPROTO_TCP && (v.tcpFlags & TCP_SYN) !== 0) {
        mssClamp(batch.buf, v, mtu - (v.af === AF_INET ? 40 : 60), partial);
      }
    }
    if (this.mtuRefused(batch, i, l3Len, mtu)) return -Drop.MtuExceeded;
    if (l3Len > mtu && fwd === CONN_F_TUNNEL) return -Drop.MtuExceeded; // outer fragmentation: not yet
    const off = this.offload;
    if (off !== null && fwd === CONN_F_DROUTE && conns.inPkts[h]! >= off.thresholdPkts) {
      const plain =
        v.proto === IPPROTO_TCP &&
        v.isFragment === 0 &&
        v.l4Off >= 0 &&
        (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) === 0;
      off.onPacket(h, plain, neigh, this.now);
    }
    this.account(h, DIR_IN, batch, i);
    if (v.isFragment !== 0) this.rememberFragment(h, DIR_IN);
    const buf = batch.buf;
    switch (fwd) {
      case CONN_F_MASQ:
      case CONN_F_FULLNAT:
        // DNAT to the real server; FullNAT also SNATs to its local address so the RS answers us
        conns.readAddr(h, ADDR_D, this.a, 0);
        rewriteAddrPort(buf, v, 1, this.a, 0, conns.dport[h]!, partial);
        if (fwd === CONN_F_FULLNAT) {
          conns.readAddr(h, ADDR_L, this.b, 0);
          rewriteAddrPort(buf, v, 0, this.b, 0, conns.lport[h]!, partial);
        }
        return this.emitParsed(batch, i, neigh);
      case CONN_F_DROUTE:
        return this.emitParsed(batch, i, neigh);
      case CONN_F_TUNNEL:
        return this.tunnel(batch, i, h, destId, neigh, gso);
      default:
        return -Drop.UnsupportedForwarding;
    }
  }

  /** Encapsulate toward the real server (segmenting a GSO super-frame first: tunnels cannot carry GSO metadata). */
  private tunnel(
    batch: FrameBatch,
    i: number,
    h: number,
    destId: number,
    neigh: number,
    gso: boolean,
  ): number {
    const v = this.v;
    if (!gso) return this.encapOne(batch, i, h, destId, neigh, v.l3Off, v.l3End, v.af);
    const first = batch.total;
    const n = gsoSegment(batch, i, v);
    if (n < 0) return n;
    // the super-frame itself is consumed: its segments leave instead
    let failed = 0;
    const seg = this.segView;
    for (let s = first; s < first + n; s++) {
      const r = parseFrame(batch.buf, batch.start[s]!, batch.len[s]!, seg);
      const e = r < 0 ? r : this.encapOne(batch, s, h, destId, neigh, seg.l3Off, seg.l3End, seg.af);
      if (e < 0) {
        batch.verdict[s] = VERDICT_DROP;
        batch.reason[s] = -e;
        this.drops[-e]!++;
        failed++;
      }
    }
    batch.verdict[i] = VERDICT_DONE;
    batch.reason[i] = 0;
    this.transmitted += n - failed;
    this.segmented = true;
    return 0;
  }

  private encapOne(
    batch: FrameBatch,
    i: number,
    h: number,
    destId: number,
    neigh: number,
    l3Off: number,
    l3End: number,
    innerAf: number,
  ): number {
    const snap = this.snap!;
    const conns = this.conns;
    const p = this.encap;
    const daf = conns.daf[h]!;
    p.tunType = TUN_TYPE_MAP[snap.destTunType[destId]!] ?? TUN_IPIP;
    p.outerAf = daf;
    p.flags = snap.destTunFlags[destId]!;
    p.tunPort = snap.destTunPort[destId]!;
    conns.readAddr(h, ADDR_D, p.daddr, 0);
    // no address of ours toward the RS (route without src, interface without an address): an outer
    // header from 0.0.0.0 / :: would be dropped or misrouted, so drop here and count it
    if (this.destHasSrc[destId] === 0) return -Drop.NoRoute;
    const s = destId * 4;
    p.saddr[0] = this.destSrc[s]!;
    p.saddr[1] = this.destSrc[s + 1]!;
    p.saddr[2] = this.destSrc[s + 2]!;
    p.saddr[3] = this.destSrc[s + 3]!;
    const buf = batch.buf;
    const innerTtl = innerAf === AF_INET ? buf[l3Off + 8]! : buf[l3Off + 7]!;
    p.ttl = this.sysctl.tunnelTtl || innerTtl;
    p.pmtuDisc = this.sysctl.pmtuDisc;
    p.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    // GUE source port: a flow hash so the fabric's ECMP keeps a flow on one path
    p.srcPort = 0xc000 | ((conns.c0[h]! ^ (conns.cport[h]! * 0x9e37)) & 0x3fff);
    const partial = (batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) !== 0;
    p.innerCsumStart = partial ? batch.start[i]! + batch.csumStart[i]! : -1;
    p.innerCsumOffset = batch.csumOffset[i]!;
    const over = tunnelOverhead(p.tunType, daf, p.flags);
    if (l3Off - over - 14 < batch.slotBase(i)) return -Drop.TunnelHeadroomExhausted;
    const outer = encapsulate(buf, l3Off, l3End - l3Off, innerAf, p);
    if (partial && !p.outPartial) batch.vnetFlags[i] = batch.vnetFlags[i]! & ~VNET_F_NEEDS_CSUM;
    return emitToNeighbour(batch, i, outer, l3End, daf === AF_INET ? ETH_P_IP : ETH_P_IPV6, this.net, neigh);
  }

  // ------------------------------------------------------------------ outbound: real server -> client

  private outbound(batch: FrameBatch, i: number, h: number): number {
    const v = this.v;
    const conns = this.conns;
    const buf = batch.buf;
    // a reply is forwarded: one hop (kernel ip_forward before the FORWARD hook)
    if (v.ttl <= 1) return -Drop.TtlExceeded;
    const neigh = this.clientNextHop(h);
    if (neigh < 0) return -Drop.NoRoute;
    const l3Len = this.wireL3Len(batch, i);
    const mtu = this.clientMtu;
    if (this.mtuRefused(batch, i, l3Len, mtu)) return -Drop.MtuExceeded;
    this.account(h, DIR_OUT, batch, i);
    if (v.isFragment !== 0) this.rememberFragment(h, DIR_OUT);
    const partial = (batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) !== 0;
    conns.readAddr(h, ADDR_V, this.a, 0);
    rewriteAddrPort(buf, v, 0, this.a, 0, conns.vport[h]!, partial, 1);
    if ((conns.flags[h]! & CONN_F_FWD_MASK) === CONN_F_FULLNAT) {
      conns.readAddr(h, ADDR_C, this.b, 0);
      rewriteAddrPort(buf, v, 1, this.b, 0, conns.cport[h]!, partial);
    }
    return this.emitParsed(batch, i, neigh);
  }

  // ------------------------------------------------------------------ fragments

  private rememberFragment(h: number, dir: number): void {
    const v = this.v;
    // Only the first fragment (offset 0, it carries the ports) establishes the mapping.
    if (v.fragOffset !== 0) return;
    this.fragCache.insert(
      v.af,
      v.saddr,
      0,
      v.daddr,
      0,
      v.proto | (dir << 8),
      v.fragId,
      h,
      this.conns.gen[h]!,
      this.now,
    );
  }

  private laterFragment(batch: FrameBatch, i: number): number {
    const v = this.v;
    let dir = DIR_IN;
    let h = this.fragCache.lookup(v.af, v.saddr, 0, v.daddr, 0, v.proto, v.fragId, this.now, this.conns);
    if (h < 0) {
      dir = DIR_OUT;
      h = this.fragCache.lookup(
        v.af,
        v.saddr,
        0,
        v.daddr,
        0,
        v.proto | (1 << 8),
        v.fragId,
        this.now,
        this.conns,
      );
    }
    if (h < 0) {
      // Fragments of datagrams that are not ours belong to the kernel; to a VIP they are ours.
      if (this.snap !== null && this.snap.isVip(v.af, v.daddr)) return -Drop.FragmentNoConnection;
      return 0;
    }
    return dir === DIR_IN ? this.inbound(batch, i, h) : this.outbound(batch, i, h);
  }

  // ------------------------------------------------------------------ ICMP errors about connections

  private icmpError(batch: FrameBatch, i: number): number {
    const v = this.v;
    const conns = this.conns;
    const ip = v.innerProto;
    if (v.innerL4Off < 0 || (ip !== IPPROTO_TCP && ip !== IPPROTO_UDP && ip !== IPPROTO_SCTP)) return 0;
    // Quoted packet went director -> RS (inner src = client or local addr, dst = RS): an error from the
    // RS side about a NAT/FullNAT connection; it travels to the client.
    let h = conns.lookupOut(ip, v.innerAf, v.innerDaddr, 0, v.innerDport, v.innerSaddr, 0, v.innerSport);
    if (h >= 0) return this.icmpToClient(batch, i, h);
    // Quoted packet went VIP -> client (our reply): an error from the client side; it goes to the RS.
    h = conns.lookupIn(ip, v.innerAf, v.innerDaddr, 0, v.innerDport, v.innerSaddr, 0, v.innerSport);
    if (h >= 0) return this.icmpToServer(batch, i, h);
    return 0;
  }

  private icmpToClient(batch: FrameBatch, i: number, h: number): number {
    const v = this.v;
    const conns = this.conns;
    const buf = batch.buf;
    if (v.ttl <= 1) return -Drop.TtlExceeded;
    const neigh = this.clientNextHop(h);
    if (neigh < 0) return -Drop.NoRoute;
    const fullnat = (conns.flags[h]! & CONN_F_FWD_MASK) === CONN_F_FULLNAT;
    // inner: RS address:port -> VIP:vport; FullNAT: local address:port -> client
    conns.readAddr(h, ADDR_V, this.a, 0);
    rewriteInner(buf, v, 1, this.a, 0, conns.vport[h]!);
    rewriteAddrPort(buf, v, 0, this.a, 0, -1, false, 1);
    if (fullnat) {
      conns.readAddr(h, ADDR_C, this.b, 0);
      rewriteInner(buf, v, 0, this.b, 0, conns.cport[h]!);
      rewriteAddrPort(buf, v, 1, this.b, 0, -1, false);
    }
    const r = l4ChecksumSet(buf, v);
    if (r < 0) return r;
    this.account(h, DIR_OUT, batch, i);
    return this.emitParsed(batch, i, neigh);
  }

  private icmpToServer(batch: FrameBatch, i: number, h: number): number {
    const v = this.v;
    const conns = this.conns;
    const snap = this.snap;
    const destId = conns.destId[h]!;
    if (snap === null || destId < 0 || !snap.live.isAvailable(destId)) return -Drop.DestUnavailable;
    const fwd = conns.flags[h]! & CONN_F_FWD_MASK;
    if (fwd === CONN_F_LOCALNODE) return 0;
    const neigh = this.destNextHop(destId, conns.daf[h]!, h);
    if (neigh < 0) return -Drop.NoRoute;
    const buf = batch.buf;
    this.account(h, DIR_IN, batch, i);
    if (fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) {
      if (conns.daf[h] !== v.af) return -Drop.UnsupportedForwarding;
      conns.readAddr(h, ADDR_D, this.a, 0);
      rewriteInner(buf, v, 0, this.a, 0, conns.dport[h]!);
      rewriteAddrPort(buf, v, 1, this.a, 0, -1, false);
      if (fwd === CONN_F_FULLNAT) {
        conns.readAddr(h, ADDR_L, this.b, 0);
        rewriteInner(buf, v, 1, this.b, 0, conns.lport[h]!);
        rewriteAddrPort(buf, v, 0, this.b, 0, -1, false);
      }
      const r = l4ChecksumSet(buf, v);
      if (r < 0) return r;
      return this.emitParsed(batch, i, neigh);
    }
    if (fwd === CONN_F_DROUTE) return this.emitParsed(batch, i, neigh);
    return this.encapOne(batch, i, h, destId, neigh, v.l3Off, v.l3End, v.af);
  }

  // ------------------------------------------------------------------ helpers

  /** Send the parsed packet (this.v, rewritten in place) as it now is to neighbour `neigh`. */
  /** Largest L3 packet frame i puts on the wire: itself, or a GSO super-frame's largest segment. */
  private wireL3Len(batch: FrameBatch, i: number): number {
    const v = this.v;
    if (batch.gsoType[i]! !== GSO_NONE && batch.gsoSize[i]! !== 0)
      return gsoMaxSegmentL3Length(v, batch.gsoSize[i]!);
    return v.l3End - v.l3Off;
  }

  /**
   * Path MTU: a packet larger than mtu that may not be fragmented (IPv4 DF, or IPv6) is refused with
   * ICMP fragmentation-needed / packet-too-big to its sender (rate-limited). True when refused.
   */
  private mtuRefused(batch: FrameBatch, i: number, l3Len: number, mtu: number): boolean {
    const v = this.v;
    if (l3Len <= mtu || (v.af !== AF_INET6 && v.dontFragment === 0)) return false;
    this.replyIcmp(batch, i, ICMP_KIND_TOO_BIG, mtu);
    return true;
  }

  private emitParsed(batch: FrameBatch, i: number, neigh: number): number {
    const v = this.v;
    return emitToNeighbour(
      batch,
      i,
      v.l3Off,
      v.l3End,
      v.af === AF_INET ? ETH_P_IP : ETH_P_IPV6,
      this.net,
      neigh,
    );
  }

  /** State machine, timers and counters for one packet of connection h in direction dir. */
  private account(h: number, dir: number, batch: FrameBatch, i: number): void {
    const v = this.v;
    const conns = this.conns;
    const proto = conns.proto[h]!;
    if (proto === IPPROTO_TCP && v.l4Off >= 0 && v.proto === IPPROTO_TCP) {
      tcpStateTransition(
        conns,
        this.timeouts,
        h,
        dir === DIR_IN ? DIR_INPUT : DIR_OUTPUT,
        v.tcpFlags,
        this.now,
      );
    } else if (proto === IPPROTO_UDP) {
      udpTouch(conns, this.timeouts, h, this.now);
    } else if (proto === IPPROTO_TCP) {
      conns.touch(h, this.now); // fragments and ICMP errors keep the state, refresh the timer
    } else {
      otherTouch(conns, this.timeouts, h, this.now);
    }
    let pkts = 1;
    let bytes = v.l3End - v.l3Off;
    if (batch.gsoType[i]! !== GSO_NONE && batch.gsoSize[i]! !== 0 && v.l4Off >= 0) {
      pkts = gsoSegmentCount(v, batch.gsoSize[i]!);
      bytes += (pkts - 1) * (v.l4Off + v.l4HeaderLen - v.l3Off);
    }
    const svcId = conns.svcId[h]!;
    const destId = conns.destId[h]!;
    if (dir === DIR_IN) {
      const inPkts = (conns.inPkts[h]! + pkts) >>> 0;
      conns.inPkts[h] = inPkts;
      this.stats.countIn(svcId, destId, bytes, pkts);
      if (this.syncSink !== null) this.syncSink.noteIn(h, inPkts, pkts);
    } else {
      this.stats.countOut(svcId, destId, bytes, pkts);
    }
  }

  /** Whether connections bound to destId may still be forwarded (inbound()'s test). */
  destUsable(destId: number): boolean {
    return this.snap !== null && destId >= 0 && this.snap.live.isAvailable(destId);
  }

  /**
   * Client->server traffic the kernel forwarded for an offloaded DR flow (offload.ts): the same
   * accounting as account() for pkts/bytes, and the connection's timer is refreshed.
   */
  creditOffloaded(h: number, pkts: number, bytes: number, nowMs: number): void {
    const conns = this.conns;
    const inPkts = (conns.inPkts[h]! + pkts) >>> 0;
    conns.inPkts[h] = inPkts;
    conns.touch(h, nowMs);
    this.stats.countIn(conns.svcId[h]!, conns.destId[h]!, bytes, pkts);
    if (this.syncSink !== null) this.syncSink.noteIn(h, inPkts, pkts);
  }

  /** Next hop toward the real server of destId (cached per dest, re-resolved on route changes). */
  private destNextHop(destId: number, daf: number, h: number): number {
    if (this.destNeighGen[destId] === this.netGen) return this.destNeigh[destId]!;
    this.conns.readAddr(h, ADDR_D, this.c, 0);
    const net = this.net;
    const n = net.resolve(daf, this.c, 0);
    this.destNeigh[destId] = n;
    this.destMtu[destId] = n >= 0 ? net.lastMtu : 0;
    const s = destId * 4;
    for (let w = 0; w < 4; w++) this.destSrc[s + w] = net.lastHasSrc ? net.lastSrc[w]! : 0;
    this.destHasSrc[destId] = net.lastHasSrc;
    this.destNeighGen[destId] = this.netGen;
    return n;
  }

  /**
   * Next hop toward the client of h; sets clientMtu to the route's MTU. Cached in the connection
   * (conns.neigh, reset on create and on every route/interface change, see onNetChange) when the route
   * MTU is the interface's, so it can be re-derived from the neighbour's interface; routes with their
   * own MTU are resolved on every packet. Neighbour indexes are stable (the table is append-only).
   */
  private clientNextHop(h: number): number {
    const conns = this.conns;
    const net = this.net;
    const cached = conns.neigh[h]!;
    if (cached >= 0) {
      this.clientMtu = net.ifMtu[net.nIf[cached]!]! || 1500;
      return cached;
    }
    conns.readAddr(h, ADDR_C, this.c, 0);
    const n = net.resolve(conns.af[h]!, this.c, 0);
    const mtu = net.lastMtu;
    this.clientMtu = mtu;
    conns.neigh[h] = n >= 0 && mtu === (net.ifMtu[net.lastIfindex]! || 1500) ? n : -1;
    return n;
  }

  /** Answer the sender of frame i with an ICMP error (source: the address it sent to), rate-limited. */
  private replyIcmp(batch: FrameBatch, i: number, kind: number, mtu: number): void {
    const v = this.v;
    if (!icmpErrorAllowed(v)) return;
    if (!this.icmpLimiter.allow(v.af, v.saddr, this.now)) {
      this.drops[Drop.IcmpRateLimited]!++;
      return;
    }
    const r = sendIcmpError(batch, i, v, kind, mtu, v.daddr, 64);
    if (r < 0) this.drops[-r]!++;
    else if (batch.outVlanTci[r]! < 0 && v.vlanTci >= 0) batch.outVlanTci[r] = v.vlanTci; // tag came in-band
  }

  /**
   * Replies of a NAT/FullNAT connection leave through lvsd toward the client. The kernel never saw the
   * client's frames (steering dropped them at ingress), so its neighbour table may not know the
   * client. When the client is on-link on the interface the frame came in on, its source MAC is the
   * client's: learn it, so the first reply is not dropped while a probe is in flight. Clients behind a
   * gateway are left to the gateway's entry (the frame's source MAC need not be the route's gateway).
   */
  private learnClientMac(batch: FrameBatch, i: number, h: number): void {
    const net = this.net;
    const n = this.clientNextHop(h);
    if (n < 0 || net.neighUsable(n) || !net.lastOnLink || net.lastIfindex !== this.inIf) return;
    const s = batch.start[i]! + 6;
    const mac = this.macScratch;
    for (let k = 0; k < 6; k++) mac[k] = batch.buf[s + k]!;
    net.setNeighbour(this.conns.af[h]!, this.c, net.lastIfindex, mac, this.now);
  }

  private learnArp(batch: FrameBatch): void {
    const v = this.v;
    const a = this.arp;
    if (parseArp(batch.buf, v.l3Off, v.frameEnd, a) < 0) return;
    // Refresh only entries lvsd already uses; never create neighbours from unsolicited ARP.
    this.a[0] = a.senderIp;
    this.a[1] = 0;
    this.a[2] = 0;
    this.a[3] = 0;
    const ifindex = this.inIf;
    if (this.net.findNeighbour(AF_INET, this.a, 0, ifindex) >= 0) {
      this.net.setNeighbour(AF_INET, this.a, ifindex, a.senderMac, this.now);
    }
  }

  /**
   * Refresh a neighbour lvsd already uses from a Neighbor Advertisement (RFC 4861 §7.2.5). Validity
   * (§7.1.2): hop limit 255, code 0, at least 24 bytes. The MAC is the target link-layer address
   * option (type 2); an answer to a unicast solicitation may omit it (§4.4), then the frame's source.
   */
  private learnNa(batch: FrameBatch): void {
    const v = this.v;
    const buf = batch.buf;
    const o = v.l4Off;
    if (v.ttl !== 255 || v.icmpCode !== 0 || v.l3End - o < 24) return;
    readAddr(buf, o + 8, AF_INET6, this.a, 0);
    let macOff = v.frameStart + 6;
    for (let p = o + 24; p + 8 <= v.l3End;) {
      const len = buf[p + 1]! * 8;
      if (len === 0) return; // §7.1.2: an option of length 0 invalidates the message
      if (buf[p] === 2) {
        macOff = p + 2;
        break;
      }
      p += len;
    }
    for (let k = 0; k < 6; k++) this.naMac[k] = buf[macOff + k]!;
    const ifindex = this.inIf;
    if (this.net.findNeighbour(AF_INET6, this.a, 0, ifindex) >= 0) {
      this.net.setNeighbour(AF_INET6, this.a, ifindex, this.naMac, this.now);
    }
  }

  private releaseLocalPort(h: number): void {
    const conns = this.conns;
    if ((conns.flags[h]! & CONN_F_FWD_MASK) !== CONN_F_FULLNAT) return;
    if ((conns.flags[h]! & CONN_F_TEMPLATE) !== 0) return; // templates hold no port
    conns.readAddr(h, ADDR_L, this.b, 0);
    this.releasePort(conns.daf[h]!, this.b, 0, conns.lport[h]!);
  }

  /**
   * A FullNAT connection taken over from another process (daemon/handover.ts) holds local port `port`
   * of local address addr: mark it used so that no new connection gets it. False when no service
   * has that local address or the port is outside its range or already used.
   */
  reserveLocalPort(af: number, addr: Uint32Array, port: number): boolean {
    const a = this.allocByKey.get(`${af}:${addr.subarray(0, 4).join('.')}`);
    return a !== undefined && a.reserve(port);
  }

  private releasePort(af: number, addr: Uint32Array, off: number, port: number): void {
    const key = `${af}:${addr.subarray(off, off + 4).join('.')}`;
    const a = this.allocByKey.get(key);
    if (a !== undefined) a.release(port);
  }
}
