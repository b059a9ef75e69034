/**
 * Kernel fast path for established direct-routing TCP flows ("elephant offload").
 *
 * Why: a DR director only rewrites the Ethernet header of client->server packets, yet in userspace
 * every frame costs two copies (AF_PACKET receive and send, 64 KiB for a GSO super-frame) plus the
 * skb work on the director's cores. Bulk flows are where that dominates (issue 3: DR iperf3). The
 * kernel can do the same rewrite itself in netdev ingress: an nftables verdict map keyed by the
 * connection's 4-tuple jumps to a chain that sets both MACs and `fwd`s the frame to the real server's
 * interface (src/io/nft.ts, maps off4/off6), and the socket filter stops copying those frames up
 * (src/io/bpf.ts exclusions). This is the same idea as the kernel's flowtable offload or a NIC flow
 * director: the slow path (lvsd) decides, the fast path repeats the decision for established packets.
 *
 * Invariants:
 *  - only TCP in DR, in state ESTABLISHED, after `thresholdPkts` client packets: short connections
 *    never pay the two control-thread round trips;
 *  - SYN, FIN and RST never take the fast path (the nft rule and the socket-filter exclusion both test
 *    the flags), so lvsd sees every state change; when the state leaves ESTABLISHED, the connection is
 *    freed or re-used, its dest is deleted, or its next hop changes, the entry is withdrawn within
 *    one tick;
 *  - frames lvsd still receives for an installed flow (until the socket filter excludes it) are
 *    forwarded as before: lvsd cannot tell the copies the kernel also forwarded (arrived after the nft
 *    element) from the frames it did not (queued in lvsd's socket before the element existed, which
 *    the steering rule dropped). A short burst of duplicates is harmless to TCP; dropping the
 *    copies would lose the frames queued before the switch;
 *  - counters: the kernel counts offloaded packets per element; the control thread reads them every
 *    second and they are added to the connection, dest and service statistics and refresh the
 *    connection's timer (applyCounters). Packets are counted as the kernel received them (a GSO
 *    super-frame is one packet), bytes as IP bytes;
 *  - at most `capacity` flows (the socket-filter exclusion is a linear list in classic BPF).
 *
 * Nothing here allocates per packet: onPacket reads typed arrays only; messages are built per tick.
 */
import type { ConnTable } from '../conn/table.js';
import { ADDR_C, ADDR_V } from '../conn/table.js';
import { TCP_S_ESTABLISHED } from '../conn/state.js';
import { CONN_F_DROUTE, CONN_F_FWD_MASK } from '../conn/flags.js';
import type { NetState } from './netstate.js';
import { formatAddress, formatMac } from '../packet/addr.js';
import { AF_INET } from '../packet/view.js';

/** One offloaded flow as the control thread needs it (plain data: crosses the worker boundary). */
export interface OffloadFlow {
  /** `${af}|${caddr}|${cport}|${vaddr}|${vport}`, unique among live flows */
  readonly key: string;
  readonly af: 4 | 6;
  readonly caddr: string;
  readonly cport: number;
  readonly vaddr: string;
  readonly vport: number;
  /** interface toward the real server, its MAC, and the real server's (next hop's) MAC */
  readonly dev: string;
  readonly srcMac: string;
  readonly dstMac: string;
}

export interface OffloadCounterRow {
  readonly key: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface OffloadStatus {
  enabled: boolean;
  thresholdPkts: number;
  capacity: number;
  pending: number;
  active: number;
  offloaded: number;
  withdrawn: number;
  failed: number;
  kernelPackets: number;
  kernelBytes: number;
}

const E_FREE = 0;
/** chosen in the packet path; the control thread has not been asked yet */
const E_NEW = 1;
/** asked to install; lvsd keeps forwarding */
const E_PENDING = 2;
/** installed: the kernel forwards; lvsd drops what it still sees without SYN/FIN/RST */
const E_ACTIVE = 3;

export const OFFLOAD_DEFAULT_THRESHOLD = 1000;
export const OFFLOAD_DEFAULT_CAPACITY = 64;
/** After a refused install the flow is not retried for this long (ms). */
const RETRY_AFTER_FAILURE_MS = 10_000;

/** Callback the engine uses to credit offloaded traffic to a connection (stats, timer, sync). */
export type CreditFn = (h: number, pkts: number, bytes: number) => void;

export class FlowOffload {
  readonly capacity: number;
  readonly thresholdPkts: number;
  /** entry+1 per connection handle (0 = none); validated against the entry's handle and gen */
  private readonly slotOf: Int32Array;
  private readonly eState: Uint8Array;
  private readonly eConn: Int32Array;
  private readonly eGen: Uint32Array;
  private readonly eNeigh: Int32Array;
  private readonly eBasePkts: Float64Array;
  private readonly eBaseBytes: Float64Array;
  /** the next hop's MAC when the entry was described: a change withdraws the entry */
  private readonly eMac: Uint8Array;
  private readonly eKey: (OffloadFlow | null)[];
  private readonly byKey = new Map<string, number>();
  /** withdrawals not yet sent to the control thread */
  private withdrawals: OffloadFlow[] = [];
  private noRetryUntil = 0;
  /** withdrawn active flows whose last kernel counters have not been read yet */
  private readonly retired = new Map<string, { h: number; gen: number; pkts: number; bytes: number }>();
  /** whether a connection's dest may still be forwarded to (the engine's test); null: always */
  destUsable: ((destId: number) => boolean) | null = null;
  offloaded = 0;
  withdrawn = 0;
  failed = 0;
  kernelPackets = 0;
  kernelBytes = 0;

  constructor(
    private readonly conns: ConnTable,
    private readonly net: NetState,
    opts: { thresholdPkts?: number; capacity?: number } = {},
  ) {
    this.capacity = opts.capacity ?? OFFLOAD_DEFAULT_CAPACITY;
    this.thresholdPkts = opts.thresholdPkts ?? OFFLOAD_DEFAULT_THRESHOLD;
    this.slotOf = new Int32Array(conns.capacity);
    this.eState = new Uint8Array(this.capacity);
    this.eConn = new Int32Array(this.capacity).fill(-1);
    this.eGen = new Uint32Array(this.capacity);
    this.eNeigh = new Int32Array(this.capacity);
    this.eBasePkts = new Float64Array(this.capacity);
    this.eBaseBytes = new Float64Array(this.capacity);
    this.eMac = new Uint8Array(this.capacity * 6);
    this.eKey = new Array<OffloadFlow | null>(this.capacity).fill(null);
  }

  /**
   * Packet path, for a DR connection past the threshold (the engine checks that first): a flow
   * without an entry gets one (described and offered at the next tick). The frame itself is always
   * forwarded by lvsd. `plain`: TCP, not a fragment, none of SYN/FIN/RST.
   */
  onPacket(h: number, plain: boolean, neigh: number, nowMs: number): void {
    const conns = this.conns;
    const s = this.slotOf[h]! - 1;
    if (s >= 0 && this.eConn[s] === h && this.eGen[s] === conns.gen[h]) return;
    if (!plain || conns.state[h] !== TCP_S_ESTABLISHED || neigh < 0 || nowMs < this.noRetryUntil) return;
    if ((conns.flags[h]! & CONN_F_FWD_MASK) !== CONN_F_DROUTE) return;
    // a free entry (linear: capacity is small and this runs once per flow)
    const st = this.eState;
    for (let e = 0; e < this.capacity; e++) {
      if (st[e] !== E_FREE) continue;
      st[e] = E_NEW;
      this.eConn[e] = h;
      this.eGen[e] = conns.gen[h]!;
      this.eNeigh[e] = neigh;
      this.slotOf[h] = e + 1;
      return;
    }
  }

  /**
   * Tick: withdraw entries whose connection ended, changed state or next hop, and describe new ones.
   * Returns the flows to install and to withdraw (null when there is nothing to say).
   */
  collect(): { add: OffloadFlow[]; del: OffloadFlow[] } | null {
    const conns = this.conns;
    const net = this.net;
    const add: OffloadFlow[] = [];
    for (let e = 0; e < this.capacity; e++) {
      const st = this.eState[e]!;
      if (st === E_FREE) continue;
      const h = this.eConn[e]!;
      const alive =
        conns.gen[h] === this.eGen[e] &&
        conns.af[h] !== 0 &&
        conns.state[h] === TCP_S_ESTABLISHED &&
        (this.destUsable === null || this.destUsable(conns.destId[h]!)) &&
        net.neighUsable(this.eNeigh[e]!) &&
        (st === E_NEW || this.sameMac(e));
      if (!alive) {
        this.release(e);
        continue;
      }
      if (st !== E_NEW) continue;
      const flow = this.describe(h, this.eNeigh[e]!);
      if (flow === null || this.byKey.has(flow.key)) {
        this.release(e);
        continue;
      }
      this.eState[e] = E_PENDING;
      this.eKey[e] = flow;
      const n6 = this.eNeigh[e]! * 6;
      for (let b = 0; b < 6; b++) this.eMac[e * 6 + b] = net.nMac[n6 + b]!;
      this.byKey.set(flow.key, e);
      this.eBasePkts[e] = 0;
      this.eBaseBytes[e] = 0;
      add.push(flow);
    }
    const del = this.withdrawals;
    if (add.length === 0 && del.length === 0) return null;
    this.withdrawals = [];
    return { add, del };
  }

  /** The control thread's answer to an install request. */
  installed(keys: readonly string[], failedKeys: readonly string[], nowMs: number): void {
    for (const k of keys) {
      const e = this.byKey.get(k);
      if (e === undefined || this.eState[e] !== E_PENDING) continue;
      this.eState[e] = E_ACTIVE;
      this.offloaded++;
    }
    for (const k of failedKeys) {
      const e = this.byKey.get(k);
      if (e === undefined) continue;
      this.failed++;
      this.noRetryUntil = nowMs + RETRY_AFTER_FAILURE_MS;
      // nothing was installed: forget it without asking for a removal
      this.byKey.delete(k);
      this.eKey[e] = null;
      this.clear(e);
    }
  }

  /**
   * Kernel counters (cumulative per element): credit the increase to the connection. Withdrawn flows
   * are credited too until `retire` names them (the control thread reads their counters one last
   * time before it deletes the elements).
   */
  applyCounters(rows: readonly OffloadCounterRow[], credit: CreditFn, retire: readonly string[] = []): void {
    for (const r of rows) {
      const old = this.retired.get(r.key);
      if (old !== undefined) {
        const dp = r.packets - old.pkts;
        if (dp > 0 && this.conns.gen[old.h] === old.gen) credit(old.h, dp, r.bytes - old.bytes);
        if (dp > 0) {
          this.kernelPackets += dp;
          this.kernelBytes += r.bytes - old.bytes;
          old.pkts = r.packets;
          old.bytes = r.bytes;
        }
        continue;
      }
      const e = this.byKey.get(r.key);
      if (e === undefined || this.eState[e] !== E_ACTIVE) continue;
      const dp = r.packets - this.eBasePkts[e]!;
      const db = r.bytes - this.eBaseBytes[e]!;
      if (dp <= 0) continue;
      this.eBasePkts[e] = r.packets;
      this.eBaseBytes[e] = r.bytes;
      this.kernelPackets += dp;
      this.kernelBytes += db;
      const h = this.eConn[e]!;
      if (this.conns.gen[h] === this.eGen[e]) credit(h, dp, db);
    }
    for (const k of retire) this.retired.delete(k);
  }

  /** Withdraw everything (disable, hand-over). */
  withdrawAll(): void {
    for (let e = 0; e < this.capacity; e++) if (this.eState[e] !== E_FREE) this.release(e);
  }

  get active(): number {
    let n = 0;
    for (let e = 0; e < this.capacity; e++) if (this.eState[e] === E_ACTIVE) n++;
    return n;
  }

  status(): OffloadStatus {
    let pending = 0;
    for (let e = 0; e < this.capacity; e++) {
      const s = this.eState[e]!;
      if (s === E_NEW || s === E_PENDING) pending++;
    }
    return {
      enabled: true,
      thresholdPkts: this.thresholdPkts,
      capacity: this.capacity,
      pending,
      active: this.active,
      offloaded: this.offloaded,
      withdrawn: this.withdrawn,
      failed: this.failed,
      kernelPackets: this.kernelPackets,
      kernelBytes: this.kernelBytes,
    };
  }

  private release(e: number): void {
    const flow = this.eKey[e];
    if (flow !== null && flow !== undefined) {
      this.byKey.delete(flow.key);
      this.withdrawals.push(flow);
      // PENDING too: the control thread may install it before it sees this withdrawal, and what the
      // kernel forwards in between is read from the element's counters before it is deleted
      const st = this.eState[e];
      if (st === E_ACTIVE) this.withdrawn++;
      if (st === E_ACTIVE || st === E_PENDING) {
        this.retired.set(flow.key, {
          h: this.eConn[e]!,
          gen: this.eGen[e]!,
          pkts: this.eBasePkts[e]!,
          bytes: this.eBaseBytes[e]!,
        });
      }
    }
    this.eKey[e] = null;
    this.clear(e);
  }

  private sameMac(e: number): boolean {
    const n6 = this.eNeigh[e]! * 6;
    const mac = this.net.nMac;
    for (let b = 0; b < 6; b++) if (this.eMac[e * 6 + b] !== mac[n6 + b]) return false;
    return true;
  }

  private clear(e: number): void {
    const h = this.eConn[e]!;
    if (h >= 0 && this.slotOf[h] === e + 1) this.slotOf[h] = 0;
    this.eState[e] = E_FREE;
    this.eConn[e] = -1;
  }

  /** The flow's addresses and its next hop's Ethernet header; null when it cannot be offloaded. */
  private describe(h: number, neigh: number): OffloadFlow | null {
    const conns = this.conns;
    const net = this.net;
    const ifindex = net.nIf[neigh]!;
    // VLAN sub-interfaces: the frame leaves tagged from the parent; keep those in userspace
    if (ifindex <= 0 || net.ifVlan[ifindex] !== -1) return null;
    const dev = net.ifNames.get(ifindex);
    if (dev === undefined) return null;
    const af = conns.af[h] === AF_INET ? 4 : 6;
    if (conns.daf[h] !== conns.af[h]) return null;
    const a = new Uint32Array(4);
    conns.readAddr(h, ADDR_C, a, 0);
    const caddr = formatAddress(af, a);
    conns.readAddr(h, ADDR_V, a, 0);
    const vaddr = formatAddress(af, a);
    const cport = conns.cport[h]!;
    const vport = conns.vport[h]!;
    return {
      key: `${af}|${caddr}|${cport}|${vaddr}|${vport}`,
      af,
      caddr,
      cport,
      vaddr,
      vport,
      dev,
      srcMac: formatMac(net.ifMac, ifindex * 6),
      dstMac: formatMac(net.nMac, neigh * 6),
    };
  }
}
