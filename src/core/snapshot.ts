/**
 * ServiceSnapshot: the immutable, compiled view of the service table that the data plane swaps in
 * between batches (DESIGN.md "Services and destinations are immutable snapshots ... with stable ids").
 *
 * Invariants:
 *  - Nothing in a snapshot is written after build(); typed arrays are exposed for speed and must be
 *    treated as read-only. A later table change builds a new snapshot; an old one never changes.
 *  - Unchanged services are shared between consecutive snapshots (same CompiledService object, same
 *    SchedDests), so `dests !== prev.dests` iff `destsVersion` changed.
 *  - Versions are table generations, so they are unique and increase; a data plane compares them
 *    with what it last saw: destsVersion -> scheduler.update(dests, prevDests); schedVersion ->
 *    build a new scheduler (name, flags or scheduler options changed).
 *  - findService and isVip allocate nothing and use numbers only (hot-path rules 1, 3, 5).
 *
 * Lookup order is the kernel's ip_vs_service_find (ipvs-reference §1.3, §4.4): a fwmark service when
 * the packet has a mark and a service matches it, else the exact (af, proto, vaddr, vport) service,
 * else the port-0 (persistent) service (af, proto, vaddr, 0). The FTP-port fallback is not done
 * (no ip_vs_ftp, DESIGN.md "Where userspace differs").
 */
import type { DestLive } from '../conn/dest-live.js';
import type { SchedDests, SchedOptions } from '../sched/types.js';
import type { DestRec, ServiceRec } from './services.js';
import { FWD_MASQ } from './services.js';
import { prefixMaskWord } from '../packet/addr.js';

export interface CompiledService {
  readonly id: number;
  readonly af: number;
  /** IPPROTO_TCP for fwmark services (as ipvsadm sets it) */
  readonly proto: number;
  readonly addr: Uint32Array;
  readonly port: number;
  /** 0 = not a fwmark service */
  readonly fwmark: number;
  readonly flags: number;
  /** persistence timeout in seconds (0 unless SVC_F_PERSISTENT) */
  readonly timeout: number;
  /** IPv4: u32 mask; IPv6: prefix length */
  readonly netmask: number;
  /** the netmask as 4 big-endian words, ready to AND with a client address (persistence key) */
  readonly maskWords: Uint32Array;
  readonly pe: string;
  readonly scheduler: string;
  readonly schedOptions: SchedOptions;
  readonly schedVersion: number;
  readonly destsVersion: number;
  /** changes on any change of the service itself */
  readonly version: number;
  readonly dests: SchedDests;
  /** FullNAT local address pool: count, af by position, 4 words by position */
  readonly localCount: number;
  readonly localAf: Uint8Array;
  readonly localAddr: Uint32Array;
}

/** destState values */
export const DEST_NONE = 0;
export const DEST_IN_SERVICE = 1;
export const DEST_TRASH = 2;

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b);
  return h ^ (h >>> 15);
}

function fin(h: number): number {
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashAddrKey(af: number, proto: number, a: Uint32Array, o: number, port: number): number {
  let h = mix(0x12345 ^ ((af << 8) | proto), a[o]!);
  h = mix(h, a[o + 1]!);
  h = mix(h, a[o + 2]!);
  h = mix(h, a[o + 3]!);
  return fin(mix(h, port));
}

function hashFwm(af: number, fwmark: number): number {
  return fin(mix(0x6789 ^ af, fwmark));
}

function hashVip(af: number, a: Uint32Array, o: number): number {
  let h = mix(0x2468 ^ af, a[o]!);
  h = mix(h, a[o + 1]!);
  h = mix(h, a[o + 2]!);
  return fin(mix(h, a[o + 3]!));
}

function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n * 2) c <<= 1;
  return c;
}

function maskWordsOf(af: number, netmask: number): Uint32Array {
  const w = new Uint32Array(4);
  if (af === 4) {
    w[0] = netmask >>> 0;
    return w;
  }
  for (let i = 0; i < 4; i++) w[i] = prefixMaskWord(netmask, i);
  return w;
}

function compileDests(dests: readonly DestRec[], live: DestLive): SchedDests {
  const n = dests.length;
  const id = new Int32Array(n);
  const weight = new Int32Array(n);
  const lastWeight = new Int32Array(n);
  const af = new Uint8Array(n);
  const addr = new Uint32Array(n * 4);
  const port = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const d = dests[i]!;
    id[i] = d.id;
    weight[i] = d.weight;
    lastWeight[i] = d.lastWeight;
    af[i] = d.af;
    addr.set(d.addr, i * 4);
    port[i] = d.port;
  }
  return { count: n, id, weight, lastWeight, af, addr, port, live };
}

function compileService(s: ServiceRec, live: DestLive, prev: CompiledService | undefined): CompiledService {
  if (
    prev &&
    prev.version === s.version &&
    prev.destsVersion === s.destsVersion &&
    prev.schedVersion === s.schedVersion
  ) {
    return prev;
  }
  const dests = prev && prev.destsVersion === s.destsVersion ? prev.dests : compileDests(s.dests, live);
  const localCount = s.localAddrs.length;
  const localAf = new Uint8Array(localCount);
  const localAddr = new Uint32Array(localCount * 4);
  s.localAddrs.forEach((l, i) => {
    localAf[i] = l.af;
    localAddr.set(l.addr, i * 4);
  });
  return Object.freeze({
    id: s.id,
    af: s.af,
    proto: s.proto,
    addr: s.addr.slice(),
    port: s.port,
    fwmark: s.fwmark,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    maskWords: maskWordsOf(s.af, s.netmask),
    pe: s.pe,
    scheduler: s.scheduler,
    schedOptions: Object.freeze({ flags: s.flags, mhTableSize: s.mhTableSize }),
    schedVersion: s.schedVersion,
    destsVersion: s.destsVersion,
    version: s.version,
    dests: Object.freeze(dests),
    localCount,
    localAf,
    localAddr,
  });
}

export class ServiceSnapshot {
  /** the table generation this snapshot was built from */
  readonly generation: number;
  /** services in table (creation) order; findService returns an index into this */
  readonly services: readonly CompiledService[];
  readonly live: DestLive;

  // ---- per service index (struct of arrays for the lookup)
  private readonly svcAf: Uint8Array;
  private readonly svcProto: Uint8Array;
  private readonly svcAddr: Uint32Array;
  private readonly svcPort: Int32Array;
  private readonly svcFwmark: Uint32Array;
  /** open addressing: index + 1 per slot, 0 = empty */
  private readonly addrTab: Int32Array;
  private readonly addrMask: number;
  private readonly fwmTab: Int32Array;
  private readonly fwmMask: number;
  private readonly fwmCount: number;
  private readonly port0Count: number;
  private readonly vipTab: Int32Array;
  private readonly vipMask: number;

  /** service index by service id (-1 = absent); length serviceIdLimit */
  readonly serviceIndexById: Int32Array;

  // ---- forwarding info by dest id (length destIdLimit, x4 for addresses)
  /** one past the highest dest id present (in a service or in the trash) */
  readonly destIdLimit: number;
  /** DEST_NONE / DEST_IN_SERVICE / DEST_TRASH */
  readonly destState: Uint8Array;
  /** FWD_* of the dest (LOCALNODE when its address is local) */
  readonly destFwd: Uint8Array;
  readonly destAf: Uint8Array;
  readonly destAddr: Uint32Array;
  readonly destPort: Uint16Array;
  readonly destWeight: Int32Array;
  readonly destTunType: Uint8Array;
  readonly destTunPort: Uint16Array;
  readonly destTunFlags: Uint8Array;
  /** service id the dest belongs (or belonged, in the trash) to */
  readonly destServiceId: Int32Array;

  private constructor(
    generation: number,
    services: CompiledService[],
    svcs: readonly ServiceRec[],
    trash: readonly { rec: DestRec; svcId: number }[],
    live: DestLive,
  ) {
    this.generation = generation;
    this.services = Object.freeze(services);
    this.live = live;
    const n = services.length;
    this.svcAf = new Uint8Array(n);
    this.svcProto = new Uint8Array(n);
    this.svcAddr = new Uint32Array(n * 4);
    this.svcPort = new Int32Array(n);
    this.svcFwmark = new Uint32Array(n);
    let fwm = 0;
    let port0 = 0;
    let maxSvcId = 0;
    let maxDestId = 0;
    for (let i = 0; i < n; i++) {
      const s = services[i]!;
      this.svcAf[i] = s.af;
      this.svcProto[i] = s.proto;
      this.svcAddr.set(s.addr, i * 4);
      this.svcPort[i] = s.port;
      this.svcFwmark[i] = s.fwmark;
      if (s.fwmark !== 0) fwm++;
      else if (s.port === 0) port0++;
      if (s.id > maxSvcId) maxSvcId = s.id;
      for (let j = 0; j < s.dests.count; j++) maxDestId = Math.max(maxDestId, s.dests.id[j]!);
    }
    for (const t of trash) maxDestId = Math.max(maxDestId, t.rec.id);
    this.fwmCount = fwm;
    this.port0Count = port0;

    const addrCap = pow2AtLeast(n - fwm);
    this.addrTab = new Int32Array(addrCap);
    this.addrMask = addrCap - 1;
    const fwmCap = pow2AtLeast(fwm);
    this.fwmTab = new Int32Array(fwmCap);
    this.fwmMask = fwmCap - 1;
    const vipCap = pow2AtLeast(n - fwm);
    this.vipTab = new Int32Array(vipCap);
    this.vipMask = vipCap - 1;
    for (let i = 0; i < n; i++) {
      const s = services[i]!;
      if (s.fwmark !== 0) {
        let h = hashFwm(s.af, s.fwmark) & this.fwmMask;
        while (this.fwmTab[h] !== 0) h = (h + 1) & this.fwmMask;
        this.fwmTab[h] = i + 1;
        continue;
      }
      let h = hashAddrKey(s.af, s.proto, this.svcAddr, i * 4, s.port) & this.addrMask;
      while (this.addrTab[h] !== 0) h = (h + 1) & this.addrMask;
      this.addrTab[h] = i + 1;
      if (!this.isVip(s.af, s.addr)) {
        let v = hashVip(s.af, this.svcAddr, i * 4) & this.vipMask;
        while (this.vipTab[v] !== 0) v = (v + 1) & this.vipMask;
        this.vipTab[v] = i + 1;
      }
    }

    this.serviceIndexById = new Int32Array(maxSvcId + 1).fill(-1);
    for (let i = 0; i < n; i++) this.serviceIndexById[services[i]!.id] = i;

    const L = maxDestId + 1;
    this.destIdLimit = L;
    this.destState = new Uint8Array(L);
    this.destFwd = new Uint8Array(L);
    this.destAf = new Uint8Array(L);
    this.destAddr = new Uint32Array(L * 4);
    this.destPort = new Uint16Array(L);
    this.destWeight = new Int32Array(L);
    this.destTunType = new Uint8Array(L);
    this.destTunPort = new Uint16Array(L);
    this.destTunFlags = new Uint8Array(L);
    this.destServiceId = new Int32Array(L);
    const put = (d: DestRec, svcId: number, state: number): void => {
      const id = d.id;
      this.destState[id] = state;
      this.destFwd[id] = d.fwd;
      this.destAf[id] = d.af;
      this.destAddr.set(d.addr, id * 4);
      this.destPort[id] = d.port;
      this.destWeight[id] = d.weight;
      this.destTunType[id] = d.tunType;
      this.destTunPort[id] = d.tunPort;
      this.destTunFlags[id] = d.tunFlags;
      this.destServiceId[id] = svcId;
    };
    for (const t of trash) put(t.rec, t.svcId, DEST_TRASH);
    for (const s of svcs) for (const d of s.dests) put(d, s.id, DEST_IN_SERVICE);
  }

  /** @internal called by ServiceTable.snapshot() */
  static build(
    generation: number,
    svcs: readonly ServiceRec[],
    trash: readonly { rec: DestRec; svcId: number }[],
    live: DestLive,
    prev: ServiceSnapshot | null,
  ): ServiceSnapshot {
    const compiled: CompiledService[] = [];
    for (const s of svcs) {
      const pi = prev && s.id < prev.serviceIndexById.length ? prev.serviceIndexById[s.id]! : -1;
      compiled.push(compileService(s, live, pi >= 0 ? prev!.services[pi] : undefined));
    }
    return new ServiceSnapshot(generation, compiled, svcs, trash, live);
  }

  /**
   * Kernel ip_vs_service_find order. `daddr` holds 4 words (PacketView.daddr); `fwmark` is the
   * packet's mark (0 = none). Returns an index into `services`, or -1.
   */
  findService(af: number, proto: number, daddr: Uint32Array, dport: number, fwmark: number): number {
    if (fwmark !== 0 && this.fwmCount !== 0) {
      const m = fwmark >>> 0;
      let h = hashFwm(af, m) & this.fwmMask;
      for (;;) {
        const e = this.fwmTab[h]!;
        if (e === 0) break;
        const i = e - 1;
        if (this.svcFwmark[i] === m && this.svcAf[i] === af) return i;
        h = (h + 1) & this.fwmMask;
      }
    }
    const i = this.findAddr(af, proto, daddr, dport);
    if (i >= 0 || this.port0Count === 0 || dport === 0) return i;
    return this.findAddr(af, proto, daddr, 0);
  }

  private findAddr(af: number, proto: number, a: Uint32Array, port: number): number {
    let h = hashAddrKey(af, proto, a, 0, port) & this.addrMask;
    const sa = this.svcAddr;
    for (;;) {
      const e = this.addrTab[h]!;
      if (e === 0) return -1;
      const i = e - 1;
      const o = i * 4;
      if (
        this.svcPort[i] === port &&
        this.svcProto[i] === proto &&
        this.svcAf[i] === af &&
        sa[o] === a[0] &&
        sa[o + 1] === a[1] &&
        sa[o + 2] === a[2] &&
        sa[o + 3] === a[3]
      ) {
        return i;
      }
      h = (h + 1) & this.addrMask;
    }
  }

  /** Is (af, addr) the address of some non-fwmark service (any protocol or port)? For steering. */
  isVip(af: number, addr: Uint32Array): boolean {
    let h = hashVip(af, addr, 0) & this.vipMask;
    const sa = this.svcAddr;
    for (;;) {
      const e = this.vipTab[h]!;
      if (e === 0) return false;
      const o = (e - 1) * 4;
      if (
        this.svcAf[e - 1] === af &&
        sa[o] === addr[0] &&
        sa[o + 1] === addr[1] &&
        sa[o + 2] === addr[2] &&
        sa[o + 3] === addr[3]
      ) {
        return true;
      }
      h = (h + 1) & this.vipMask;
    }
  }

  /**
   * Is (af, addr, proto, port) the service port of a masquerading real server (steering rule (b): its
   * packets were taken from the kernel)? A port-0 dest matches every port. Linear in dests: only
   * packets no connection matched ask.
   */
  isNatSource(af: number, addr: Uint32Array, proto: number, port: number): boolean {
    const da = this.destAddr;
    for (let id = 1; id < this.destIdLimit; id++) {
      if (this.destState[id] !== DEST_IN_SERVICE || this.destFwd[id] !== FWD_MASQ || this.destAf[id] !== af)
        continue;
      const o = id * 4;
      if (da[o] !== addr[0] || da[o + 1] !== addr[1] || da[o + 2] !== addr[2] || da[o + 3] !== addr[3])
        continue;
      const dport = this.destPort[id]!;
      if (dport !== 0 && dport !== port) continue;
      const si = this.serviceIndex(this.destServiceId[id]!);
      if (si < 0) continue;
      const svc = this.services[si]!;
      if (svc.fwmark !== 0 || svc.proto === proto) return true;
    }
    return false;
  }

  /** Service index for a service id, or -1 (e.g. deleted since the connection was made). */
  serviceIndex(id: number): number {
    return id >= 0 && id < this.serviceIndexById.length ? this.serviceIndexById[id]! : -1;
  }
}
