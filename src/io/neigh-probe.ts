/**
 * lvsd's own neighbour probes (data-plane thread, between batches; no allocation).
 *
 * The kernel never confirms the neighbour entries lvsd uses (lvsd's packets bypass its stack), so
 * lvsd resolves and keeps alive the entries it hands out itself, following the kernel's neighbour
 * state machine (ip-neighbour(8), the neigh sysctls in Documentation/networking/ip-sysctl.rst):
 *  - unresolved (INCOMPLETE, or FAILED and due for a retry): `probes` broadcast ARP requests /
 *    Neighbor Solicitations to the solicited-node multicast group (RFC 4861 §7.2.2), one per
 *    `retransMs` (retrans_time_ms, 1 s); unanswered, the entry is FAILED (mcast_solicit = 3) and the
 *    cycle restarts after `failedRetryMs`;
 *  - REACHABLE for longer than `reachableMs` (base_reachable_time, 30 s) while in use: it becomes STALE
 *    (still usable) and is probed at once by unicast to the known MAC (RFC 1122 §2.3.2.1, RFC 4861
 *    §7.3.3: lvsd has no upper-layer confirmation, so there is no DELAY state), `probes` times one
 *    per `retransMs` (ucast_solicit = 3); unanswered, it is FAILED and the broadcast cycle starts;
 *  - "in use" means NetState.resolve() handed the entry out or a frame was addressed to it
 *    (NetState.nUsed) within `idleMs`;
 *    entries only seeded from the kernel are not probed; static kernel entries (NEIGH_F_PERMANENT)
 *    never are.
 * Replies are learnt by the engine (Engine.learnArp for ARP, Engine.learnNa for Neighbor
 * Advertisements): NetState.setNeighbour makes the entry REACHABLE again.
 *
 * Probes come from the director's own address on the entry's interface (NetState.ifAddr4/ifAddr6).
 * Without an IPv4 address the ARP request carries sender 0.0.0.0 (an RFC 5227 probe, which peers
 * answer); without an IPv6 address no solicitation is sent (RFC 4861 §7.2.2 allows the unspecified
 * source only for duplicate address detection), but the attempt still counts.
 *
 * Usage per batch: engine.processBatch(batch, now); prober.run(batch, now); driver.complete(batch).
 */
import type { NetState } from '../core/netstate.js';
import { NEIGH_F_PERMANENT, NEIGH_FAILED, NEIGH_REACHABLE, NEIGH_STALE } from '../core/netstate.js';
import type { FrameBatch } from '../packet/frame.js';
import { VERDICT_TX } from '../packet/frame.js';
import { ARP_REQUEST, buildArp, buildNeighborSolicit } from '../packet/arp.js';
import { AF_INET } from '../packet/view.js';

export interface NeighProbeOptions {
  /** time between probes of one entry (kernel retrans_time_ms) */
  retransMs?: number;
  /** probes per cycle before the entry is FAILED (kernel mcast_solicit / ucast_solicit) */
  probes?: number;
  /** a REACHABLE entry older than this is STALE and re-probed when in use (base_reachable_time) */
  reachableMs?: number;
  /** an entry resolve() has not handed out for this long is no longer in use */
  idleMs?: number;
  /** after a failed broadcast cycle, wait this long before the next */
  failedRetryMs?: number;
  /** the table is scanned at most this often */
  scanIntervalMs?: number;
}

export const NEIGH_PROBE_DEFAULTS: Required<NeighProbeOptions> = {
  retransMs: 1000,
  probes: 3,
  reachableMs: 30000,
  idleMs: 120000,
  failedRetryMs: 5000,
  scanIntervalMs: 100,
};

export class NeighProber {
  private readonly net: NetState;
  private readonly o: Required<NeighProbeOptions>;
  /** probes sent in the current cycle, per neighbour */
  readonly sentInCycle: Uint8Array;
  /** when the next probe (or the end of the cycle) is due */
  readonly nextAt: Float64Array;
  /** last time the entry was seen in use */
  readonly usedAt: Float64Array;
  private lastScan = -Infinity;
  /** probe frames emitted, ARP and NS */
  sentArp = 0;
  sentNs = 0;
  /** entries that went FAILED */
  failures = 0;
  /** probes that found no free slot in the batch (retried on the next run) */
  poolExhausted = 0;
  private readonly srcMac = new Uint8Array(6);
  private readonly dstMac = new Uint8Array(6);
  private readonly src = new Uint32Array(4);
  private readonly target = new Uint32Array(4);

  constructor(net: NetState, opts: NeighProbeOptions = {}) {
    this.net = net;
    this.o = { ...NEIGH_PROBE_DEFAULTS, ...opts };
    this.sentInCycle = new Uint8Array(net.neighCap);
    this.nextAt = new Float64Array(net.neighCap);
    this.usedAt = new Float64Array(net.neighCap).fill(-Infinity);
  }

  /** Scan the neighbour table and append due probes to the batch. Returns the frames added. */
  run(batch: FrameBatch, nowMs: number): number {
    if (nowMs - this.lastScan < this.o.scanIntervalMs) return 0;
    this.lastScan = nowMs;
    const net = this.net;
    const o = this.o;
    let added = 0;
    for (let i = 0; i < net.neighCount; i++) {
      if (net.nUsed[i] !== 0) {
        this.usedAt[i] = nowMs;
        net.nUsed[i] = 0;
      }
      const flags = net.nFlags[i]!;
      const state = net.nState[i]!;
      if (state === NEIGH_REACHABLE) this.sentInCycle[i] = 0; // answered (or refreshed from the kernel)
      if ((flags & NEIGH_F_PERMANENT) !== 0) continue;
      if (nowMs - this.usedAt[i]! > o.idleMs) continue;
      if (state === NEIGH_REACHABLE) {
        if (nowMs - net.nUpdated[i]! <= o.reachableMs) continue;
        net.nState[i] = NEIGH_STALE;
        this.nextAt[i] = nowMs;
      } else if (nowMs < this.nextAt[i]!) {
        continue;
      }
      // here the entry is STALE (unicast probing), INCOMPLETE or FAILED (broadcast probing)
      if (this.sentInCycle[i]! >= o.probes) {
        // the last probe of the cycle went unanswered for retransMs
        this.sentInCycle[i] = 0;
        this.failures++;
        const wasStale = net.nState[i] === NEIGH_STALE;
        net.nState[i] = NEIGH_FAILED;
        if (!wasStale) {
          this.nextAt[i] = nowMs + o.failedRetryMs;
          continue;
        }
        // a failed unicast cycle goes on broadcasting at once: the MAC may have moved
      }
      const r = this.emit(batch, i, net.nState[i] === NEIGH_STALE);
      if (r < 0) {
        this.poolExhausted++;
        return added; // no slot left: try again on the next run
      }
      added += r;
      this.sentInCycle[i]!++;
      this.nextAt[i] = nowMs + o.retransMs;
    }
    return added;
  }

  /** Append one probe for neighbour i. Returns 1 (sent), 0 (nothing to send from) or -1 (no slot). */
  private emit(batch: FrameBatch, i: number, unicast: boolean): number {
    const net = this.net;
    const ifindex = net.nIf[i]!;
    const af = net.nAf[i]!;
    const hasSrc = af === AF_INET ? net.ifHasAddr4[ifindex]! : net.ifHasAddr6[ifindex]!;
    if (af !== AF_INET && !hasSrc) return 0;
    if (!net.ifPresent[ifindex]) return 0;
    const slot = batch.alloc();
    if (slot < 0) return -1;
    for (let k = 0; k < 6; k++) {
      this.srcMac[k] = net.ifMac[ifindex * 6 + k]!;
      this.dstMac[k] = net.nMac[i * 6 + k]!;
    }
    const srcTable = af === AF_INET ? net.ifAddr4 : net.ifAddr6;
    for (let w = 0; w < 4; w++) {
      this.src[w] = hasSrc ? srcTable[ifindex * 4 + w]! : 0;
      this.target[w] = net.nAddr[i * 4 + w]!;
    }
    const at = batch.start[slot]!;
    let len: number;
    if (af === AF_INET) {
      len = buildArp(
        batch.buf,
        at,
        ARP_REQUEST,
        this.srcMac,
        this.src[0]!,
        null,
        this.target[0]!,
        unicast ? this.dstMac : null,
      );
      this.sentArp++;
    } else {
      len = buildNeighborSolicit(
        batch.buf,
        at,
        this.srcMac,
        this.src,
        this.target,
        unicast ? this.target : null,
        unicast ? this.dstMac : null,
      );
      this.sentNs++;
    }
    batch.len[slot] = len;
    batch.outIfindex[slot] = net.ifParent[ifindex]!;
    const vlan = net.ifVlan[ifindex]!;
    batch.outVlanTci[slot] = vlan >= 0 ? vlan : -1;
    batch.verdict[slot] = VERDICT_TX;
    return 1;
  }
}
