/**
 * ServiceTable: the control-plane model of virtual services and their real servers, with the
 * semantics of the kernel's ip_vs_ctl.c as seen through ipvsadm 1.31 (ipvs-reference §1.3-§1.5,
 * errors §1.10, trash §3 "Thresholds and quiescing").
 *
 * Invariants:
 *  - Every mutating operation validates everything first and then applies: it either fully applies
 *    (and bumps `generation` by exactly one) or throws an LvsError and changes nothing.
 *  - Service and dest ids are stable: an edit never changes an id; a deleted dest keeps its id in the
 *    trash while anything may still reference it, and re-adding the same (service key, af, addr, port)
 *    revives it with the same id (kernel ip_vs_trash_get_dest). Ids are never 0 (0 = "none").
 *  - An id is reused only after gc() reclaimed it: its live counts are 0 and every data-plane worker
 *    has adopted a snapshot at least as new as the deletion (`adoptedGeneration`), so no worker can
 *    still schedule to it from an old snapshot.
 *  - Dests are kept in insertion order (kernel svc->destinations; schedulers depend on it).
 *
 * The table is pure: the scheduler registry and the local-address test are injected.
 */
import { LvsError, ERRNO } from '../errors.js';
import { DestLive } from '../conn/dest-live.js';
import { ServiceSnapshot } from './snapshot.js';

export const AF_INET = 4;
export const AF_INET6 = 6;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** Service flags (uapi IP_VS_SVC_F_*). HASHED is kernel-internal and never stored here. */
export const SVC_F_PERSISTENT = 0x0001;
export const SVC_F_HASHED = 0x0002;
export const SVC_F_ONEPACKET = 0x0004;
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
const SVC_F_USER_MASK = SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/** Forwarding methods (uapi IP_VS_CONN_F_* & IP_VS_CONN_F_FWD_MASK; FULLNAT is lvsd's, as DPVS). */
export const FWD_MASQ = 0;
export const FWD_LOCALNODE = 1;
export const FWD_TUNNEL = 2;
export const FWD_DROUTE = 3;
export const FWD_FULLNAT = 5;

/** Tunnel types and checksum modes (uapi IP_VS_CONN_F_TUNNEL_TYPE_*, IP_VS_TUNNEL_ENCAP_FLAG_*). */
export const TUN_IPIP = 0;
export const TUN_GUE = 1;
export const TUN_GRE = 2;
export const TUN_F_NOCSUM = 0;
export const TUN_F_CSUM = 1;
export const TUN_F_REMCSUM = 2;

export const DEFAULT_SCHEDULER = 'wlc';
/** IPVS_SVC_PERSISTENT_TIMEOUT: `-p` without a value (ipvs-reference §1.4: 360, not the man page's 300). */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
export const MAX_PERSISTENT_TIMEOUT = 2678400;
/** ipvsadm 1.31 accepts weights 0..65535; the kernel (this table) accepts 0..INT_MAX. */
export const IPVSADM_MAX_WEIGHT = 65535;
export const MAX_WEIGHT = 0x7fffffff;
export const MAX_THRESHOLD = 0x7fffffff;
/** mh table sizes (ipvs-reference §3 mh; default 4093). */
export const MH_TABLE_SIZES: readonly number[] = [
  251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
export const DEFAULT_MH_TABLE_SIZE = 4093;

/** ipvsadm/libipvs texts (ipvs-reference §1.10 and §1.3-§1.5), for the CLI and for LvsError messages. */
export const MSG = {
  SERVICE_EXISTS: 'Service already exists',
  SCHED_NOT_FOUND: 'Scheduler or persistence engine not found',
  NO_SERVICE: 'No such service',
  SERVICE_NOT_DEFINED: 'Service not defined',
  DEST_EXISTS: 'Destination already exists',
  NO_DEST: 'No such destination',
  FAMILY_MISMATCH: 'Different address family is allowed only for tunneling servers',
  ZERO_PORT: 'Zero port specified for non-persistent service',
  ONEPACKET_UDP: 'One-Packet Scheduling is only for UDP virtual services',
  TUNNEL_CONFLICT: 'Tunnel options conflict with forward method',
  GUE_PORT: "You need to supply the 'tun-port' option for the 'gue' tunnel type",
  NO_MEMORY: 'Memory allocation problem',
} as const;

/** Selects a service: a fwmark service when `fwmark` is non-zero, else (af, proto, addr, port). */
export interface ServiceKey {
  readonly af: number;
  readonly proto?: number;
  /** 4 big-endian u32 words (IPv4 in word 0), or 1 word for IPv4 */
  readonly addr?: ArrayLike<number>;
  readonly port?: number;
  /** 1..2^32-1; 0 or absent = not a fwmark service */
  readonly fwmark?: number;
}

export interface LocalAddr {
  readonly af: number;
  readonly addr: ArrayLike<number>;
}

/** Service options; absent fields take ipvsadm's defaults (edit replaces all, as the kernel's edit). */
export interface ServiceOptions {
  readonly scheduler?: string;
  /** SVC_F_* bits (PERSISTENT, ONEPACKET, SCHED1..3) */
  readonly flags?: number;
  /** persistence timeout in seconds; defaults to 360 when PERSISTENT is set, else 0 */
  readonly timeout?: number;
  /** IPv4: mask as u32 (default 0xffffffff); IPv6: prefix length 1..128 (default 128) */
  readonly netmask?: number;
  /** persistence engine name ('' = none; the kernel has only 'sip') */
  readonly pe?: string;
  /** lvsd: mh table size, one of MH_TABLE_SIZES */
  readonly mhTableSize?: number;
  /** lvsd: FullNAT local address pool */
  readonly localAddrs?: readonly LocalAddr[];
}

export interface DestSpec {
  /** defaults to the service family */
  readonly af?: number;
  readonly addr: ArrayLike<number>;
  /** absent or 0: the service port (ipvsadm §1.5) */
  readonly port?: number;
  /** FWD_* (default DROUTE, ipvsadm -g); LOCALNODE is never accepted from the user */
  readonly fwd?: number;
  readonly weight?: number;
  readonly uThreshold?: number;
  readonly lThreshold?: number;
  readonly tunType?: number;
  readonly tunPort?: number;
  readonly tunFlags?: number;
}

/** Read-only copies handed to the control plane / CLI. */
export interface DestInfo {
  readonly id: number;
  readonly af: number;
  readonly addr: Uint32Array;
  readonly port: number;
  readonly fwd: number;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly tunType: number;
  readonly tunPort: number;
  readonly tunFlags: number;
}

export interface ServiceInfo {
  readonly id: number;
  readonly af: number;
  readonly proto: number;
  readonly addr: Uint32Array;
  readonly port: number;
  readonly fwmark: number;
  readonly scheduler: string;
  readonly flags: number;
  readonly timeout: number;
  readonly netmask: number;
  readonly pe: string;
  readonly mhTableSize: number;
  readonly localAddrs: readonly { readonly af: number; readonly addr: Uint32Array }[];
  readonly dests: readonly DestInfo[];
}

export interface ServiceTableHooks {
  /** a service was added (fresh id or revived from quarantine): reset its stats and estimator */
  serviceAllocated?(id: number): void;
  /** a fresh dest id was handed out (not a revival): reset its stats and estimator */
  destAllocated?(id: number): void;
  /** ipvsadm -Z: zero these services' and dests' counters and rates (and the totals when `all`) */
  zero?(serviceIds: readonly number[], destIds: readonly number[], all: boolean): void;
}

export interface ServiceTableOptions {
  /** is there a scheduler registered under this name (src/sched registry) */
  readonly isScheduler: (name: string) => boolean;
  /** is this address one of the director's own (kernel inet_addr_type == RTN_LOCAL) -> Local */
  readonly isLocalAddress?: (af: number, words: Uint32Array) => boolean;
  /** persistence engines known (kernel: 'sip') */
  readonly isPersistenceEngine?: (name: string) => boolean;
  /** dest id space (ids 1..destCapacity-1); default 65536 */
  readonly destCapacity?: number;
  /** service id space (ids 1..serviceCapacity-1); default 65536 */
  readonly serviceCapacity?: number;
  /** shared live counters; created with destCapacity when absent */
  readonly live?: DestLive;
  readonly hooks?: ServiceTableHooks;
}

/** @internal mutable record; exported for snapshot.ts only. */
export interface DestRec {
  id: number;
  af: number;
  addr: Uint32Array;
  port: number;
  fwd: number;
  weight: number;
  lastWeight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
}

/** @internal mutable record; exported for snapshot.ts only. */
export interface ServiceRec {
  id: number;
  af: number;
  proto: number;
  addr: Uint32Array;
  port: number;
  fwmark: number;
  scheduler: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
  mhTableSize: number;
  localAddrs: { af: number; addr: Uint32Array }[];
  dests: DestRec[];
  /** generation at which the dest list or a dest changed */
  destsVersion: number;
  /** generation at which scheduler name, flags or scheduler options changed */
  schedVersion: number;
  /** generation at which anything about the service itself changed */
  version: number;
}

interface TrashedDest {
  rec: DestRec;
  /** key string of the service it belonged to */
  svcKey: string;
  /** service id at deletion (for stats attribution while connections drain) */
  svcId: number;
  /** generation after the delete; reclaimable once every worker adopted it */
  deletedAt: number;
}

interface TrashedService {
  id: number;
  key: string;
  deletedAt: number;
}

function err(code: ConstructorParameters<typeof LvsError>[0], msg: string, errno: number): LvsError {
  return new LvsError(code, msg, errno);
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw err('ERR_LVS_INVALID_ARGUMENT', `${name} must be an integer`, ERRNO.EINVAL);
  }
  if (v < min || v > max) {
    throw err('ERR_LVS_RANGE', `${name} ${v} out of range ${min}..${max}`, ERRNO.EINVAL);
  }
}

/** 4 normalised words; IPv4 keeps word 0 only (PacketView convention). */
function toWords(af: number, addr: ArrayLike<number> | undefined, what: string): Uint32Array {
  const w = new Uint32Array(4);
  if (addr === undefined) return w;
  const n = af === AF_INET ? 1 : 4;
  if (addr.length < n)
    throw err('ERR_LVS_INVALID_ARGUMENT', `${what} address needs ${n} words`, ERRNO.EINVAL);
  for (let i = 0; i < n; i++) {
    const v = addr[i]!;
    if (!isU32(v))
      throw err('ERR_LVS_INVALID_ARGUMENT', `${what} address word ${i} is not a u32`, ERRNO.EINVAL);
    w[i] = v;
  }
  if (af === AF_INET)
    for (let i = 1; i < addr.length && i < 4; i++)
      if (addr[i] !== 0) {
        throw err('ERR_LVS_INVALID_ARGUMENT', `${what} IPv4 address has non-zero words 1..3`, ERRNO.EINVAL);
      }
  return w;
}

function checkAf(af: number): void {
  if (af !== AF_INET && af !== AF_INET6) {
    throw err('ERR_LVS_INVALID_ARGUMENT', `address family ${af} not supported`, ERRNO.EAFNOSUPPORT);
  }
}

interface NormKey {
  af: number;
  proto: number;
  addr: Uint32Array;
  port: number;
  fwmark: number;
  str: string;
}

function keyString(af: number, proto: number, addr: Uint32Array, port: number, fwmark: number): string {
  return fwmark !== 0
    ? `f${af}/${fwmark}`
    : `a${af}/${proto}/${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}/${port}`;
}

/** ipvsadm §1.3: a fwmark service is af + fwmark, protocol TCP internally, no address or port. */
function normKey(k: ServiceKey): NormKey {
  checkAf(k.af);
  const fwmark = k.fwmark ?? 0;
  if (fwmark !== 0) {
    checkInt('fwmark', fwmark, 1, 0xffffffff);
    const addr = new Uint32Array(4);
    return {
      af: k.af,
      proto: IPPROTO_TCP,
      addr,
      port: 0,
      fwmark,
      str: keyString(k.af, IPPROTO_TCP, addr, 0, fwmark),
    };
  }
  const proto = k.proto ?? IPPROTO_TCP;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_SCTP) {
    throw err('ERR_LVS_INVALID_ARGUMENT', `protocol ${proto} not supported`, ERRNO.EINVAL);
  }
  const port = k.port ?? 0;
  checkInt('port', port, 0, 65535);
  const addr = toWords(k.af, k.addr, 'virtual');
  return { af: k.af, proto, addr, port, fwmark: 0, str: keyString(k.af, proto, addr, port, 0) };
}

function destKey(af: number, addr: Uint32Array, port: number): string {
  return `${af}/${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}/${port}`;
}

interface NormSvcOpts {
  scheduler: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
  mhTableSize: number;
  localAddrs: { af: number; addr: Uint32Array }[];
}

export class ServiceTable {
  readonly live: DestLive;
  readonly destCapacity: number;
  readonly serviceCapacity: number;
  /** bumped by exactly one on every successful change */
  private gen = 0;
  private readonly isScheduler: (name: string) => boolean;
  private readonly isLocal: (af: number, words: Uint32Array) => boolean;
  private readonly isPe: (name: string) => boolean;
  private readonly hooks: ServiceTableHooks;
  /** services in creation order (listing sorts elsewhere) */
  private readonly svcs: ServiceRec[] = [];
  private readonly byKey = new Map<string, ServiceRec>();
  private readonly destFree: number[] = [];
  private readonly svcFree: number[] = [];
  private readonly destTrash: TrashedDest[] = [];
  private readonly svcTrash: TrashedService[] = [];
  private snap: ServiceSnapshot | null = null;

  constructor(opts: ServiceTableOptions) {
    this.destCapacity = opts.destCapacity ?? opts.live?.capacity ?? 65536;
    this.serviceCapacity = opts.serviceCapacity ?? 65536;
    if (opts.live && opts.live.capacity < this.destCapacity)
      throw new RangeError('DestLive smaller than destCapacity');
    this.live = opts.live ?? new DestLive(this.destCapacity);
    this.isScheduler = opts.isScheduler;
    this.isLocal = opts.isLocalAddress ?? (() => false);
    this.isPe = opts.isPersistenceEngine ?? ((n) => n === 'sip');
    this.hooks = opts.hooks ?? {};
    // Free lists are stacks popped from the end: lowest ids first keeps snapshots' id arrays compact.
    for (let id = this.destCapacity - 1; id >= 1; id--) this.destFree.push(id);
    for (let id = this.serviceCapacity - 1; id >= 1; id--) this.svcFree.push(id);
  }

  get generation(): number {
    return this.gen;
  }

  // ------------------------------------------------------------------ services

  addService(key: ServiceKey, opts: ServiceOptions = {}): number {
    const k = normKey(key);
    const o = this.normSvcOpts(k, opts);
    if (this.byKey.has(k.str)) throw err('ERR_LVS_SERVICE_EXISTS', MSG.SERVICE_EXISTS, ERRNO.EEXIST);
    this.checkSchedPe(o);
    // Revive a quarantined id for the same key (stable ids across reload-like delete+add).
    const ti = this.svcTrash.findIndex((t) => t.key === k.str);
    if (ti < 0 && this.svcFree.length === 0) throw err('ERR_LVS_TABLE_FULL', MSG.NO_MEMORY, ERRNO.ENOMEM);
    // ---- apply
    let id: number;
    if (ti >= 0) {
      id = this.svcTrash[ti]!.id;
      this.svcTrash.splice(ti, 1);
    } else {
      id = this.svcFree.pop()!;
    }
    const g = ++this.gen;
    const rec: ServiceRec = {
      id,
      af: k.af,
      proto: k.proto,
      addr: k.addr,
      port: k.port,
      fwmark: k.fwmark,
      ...o,
      dests: [],
      destsVersion: g,
      schedVersion: g,
      version: g,
    };
    this.svcs.push(rec);
    this.byKey.set(k.str, rec);
    // A re-added service is a new service to the kernel (fresh ip_vs_service, zero stats) even when
    // its id comes back from quarantine; only trashed dests come back with their counters.
    this.hooks.serviceAllocated?.(id);
    return id;
  }

  /** Kernel edit: the options replace the service's (absent ones take their defaults). */
  editService(key: ServiceKey, opts: ServiceOptions = {}): void {
    const k = normKey(key);
    const rec = this.byKey.get(k.str);
    // ipvsadm validates its own options before the kernel looks the service up; keep that order.
    const o = this.normSvcOpts(k, opts);
    if (!rec) throw err('ERR_LVS_NO_SERVICE', MSG.NO_SERVICE, ERRNO.ESRCH);
    this.checkSchedPe(o);
    if (o.scheduler === 'mh' && rec.dests.length > o.mhTableSize) {
      throw err('ERR_LVS_SCHED_FAILED', 'more destinations than mh table slots', ERRNO.EINVAL);
    }
    const g = ++this.gen;
    const schedChanged =
      o.scheduler !== rec.scheduler || o.flags !== rec.flags || o.mhTableSize !== rec.mhTableSize;
    Object.assign(rec, o);
    rec.version = g;
    if (schedChanged) rec.schedVersion = g;
  }

  deleteService(key: ServiceKey): void {
    const k = normKey(key);
    const rec = this.byKey.get(k.str);
    if (!rec) throw err('ERR_LVS_NO_SERVICE', MSG.NO_SERVICE, ERRNO.ESRCH);
    const g = ++this.gen;
    this.removeService(rec, g);
  }

  /** ipvsadm -C. */
  flush(): void {
    if (this.svcs.length === 0) return; // nothing to change: no generation bump
    const g = ++this.gen;
    for (const rec of this.svcs.slice()) this.removeService(rec, g);
  }

  /** ipvsadm -Z [service]: does not change the table (no generation bump). */
  zero(key?: ServiceKey): void {
    if (key === undefined) {
      const sids: number[] = [];
      const dids: number[] = [];
      for (const s of this.svcs) {
        sids.push(s.id);
        for (const d of s.dests) dids.push(d.id);
      }
      this.hooks.zero?.(sids, dids, true);
      return;
    }
    const rec = this.byKey.get(normKey(key).str);
    if (!rec) throw err('ERR_LVS_NO_SERVICE', MSG.NO_SERVICE, ERRNO.ESRCH);
    this.hooks.zero?.(
      [rec.id],
      rec.dests.map((d) => d.id),
      false,
    );
  }

  // ------------------------------------------------------------------ dests

  addDest(key: ServiceKey, spec: DestSpec): number {
    const k = normKey(key);
    const svc = this.byKey.get(k.str);
    if (!svc) throw err('ERR_LVS_SERVICE_NOT_DEFINED', MSG.SERVICE_NOT_DEFINED, ERRNO.ESRCH);
    const d = this.normDest(svc, spec);
    const dk = destKey(d.af, d.addr, d.port);
    if (svc.dests.some((x) => destKey(x.af, x.addr, x.port) === dk)) {
      throw err('ERR_LVS_DEST_EXISTS', MSG.DEST_EXISTS, ERRNO.EEXIST);
    }
    if (svc.scheduler === 'mh' && svc.dests.length + 1 > svc.mhTableSize) {
      throw err('ERR_LVS_SCHED_FAILED', 'more destinations than mh table slots', ERRNO.EINVAL);
    }
    const ti = this.destTrash.findIndex(
      (t) => t.svcKey === k.str && destKey(t.rec.af, t.rec.addr, t.rec.port) === dk,
    );
    if (ti < 0 && this.destFree.length === 0) throw err('ERR_LVS_TABLE_FULL', MSG.NO_MEMORY, ERRNO.ENOMEM);
    // ---- apply
    const g = ++this.gen;
    let rec: DestRec;
    if (ti >= 0) {
      // Kernel ip_vs_trash_get_dest: the same dest object (and id, and counters) comes back.
      rec = this.destTrash[ti]!.rec;
      this.destTrash.splice(ti, 1);
      const prevLast = rec.lastWeight;
      Object.assign(rec, d);
      rec.lastWeight = prevLast;
      this.live.setThresholds(rec.id, rec.uThreshold, rec.lThreshold);
      this.live.setAvailable(rec.id, true);
    } else {
      rec = { id: this.destFree.pop()!, ...d };
      this.live.reset(rec.id, rec.uThreshold, rec.lThreshold);
      this.hooks.destAllocated?.(rec.id);
    }
    if (rec.weight > 0) rec.lastWeight = rec.weight;
    svc.dests.push(rec);
    svc.destsVersion = g;
    return rec.id;
  }

  /** Kernel edit_dest: every field is replaced (absent ones take their defaults). */
  editDest(key: ServiceKey, spec: DestSpec): void {
    const k = normKey(key);
    const svc = this.byKey.get(k.str);
    if (!svc) throw err('ERR_LVS_SERVICE_NOT_DEFINED', MSG.SERVICE_NOT_DEFINED, ERRNO.ESRCH);
    const d = this.normDest(svc, spec);
    const rec = this.findDest(svc, d.af, d.addr, d.port);
    if (!rec) throw err('ERR_LVS_NO_DEST', MSG.NO_DEST, ERRNO.ENOENT);
    const g = ++this.gen;
    const lastWeight = d.weight > 0 ? d.weight : rec.lastWeight;
    Object.assign(rec, d);
    rec.lastWeight = lastWeight;
    this.live.setThresholds(rec.id, rec.uThreshold, rec.lThreshold);
    svc.destsVersion = g;
  }

  /** `spec` needs only af/addr/port; port rules as for add (absent = service port). */
  deleteDest(key: ServiceKey, spec: Pick<DestSpec, 'af' | 'addr' | 'port'>): void {
    const k = normKey(key);
    const svc = this.byKey.get(k.str);
    if (!svc) throw err('ERR_LVS_SERVICE_NOT_DEFINED', MSG.SERVICE_NOT_DEFINED, ERRNO.ESRCH);
    const af = spec.af ?? svc.af;
    checkAf(af);
    const addr = toWords(af, spec.addr, 'real server');
    const port = spec.port === undefined || spec.port === 0 ? svc.port : spec.port;
    checkInt('port', port, 0, 65535);
    const rec = this.findDest(svc, af, addr, port);
    if (!rec) throw err('ERR_LVS_NO_DEST', MSG.NO_DEST, ERRNO.ENOENT);
    const g = ++this.gen;
    svc.dests.splice(svc.dests.indexOf(rec), 1);
    svc.destsVersion = g;
    this.trashDest(rec, svc, k.str, g);
  }

  // ------------------------------------------------------------------ ids, trash, gc

  /**
   * Reclaim trashed dests whose live counts (active + inactive + persist) are 0 and which were
   * deleted at or before `adoptedGeneration` (the oldest snapshot generation any data-plane worker
   * still runs), then quarantined service ids no trashed dest refers to. Not a table change: no
   * generation bump. Returns the number of ids reclaimed.
   */
  gc(adoptedGeneration: number = this.gen): number {
    let n = 0;
    const live = this.live;
    for (let i = this.destTrash.length - 1; i >= 0; i--) {
      const t = this.destTrash[i]!;
      const id = t.rec.id;
      const refs =
        Atomics.load(live.active, id) + Atomics.load(live.inactive, id) + Atomics.load(live.persist, id);
      if (refs === 0 && t.deletedAt <= adoptedGeneration) {
        this.destTrash.splice(i, 1);
        this.destFree.push(id);
        n++;
      }
    }
    for (let i = this.svcTrash.length - 1; i >= 0; i--) {
      const t = this.svcTrash[i]!;
      if (t.deletedAt <= adoptedGeneration && !this.destTrash.some((d) => d.svcId === t.id)) {
        this.svcTrash.splice(i, 1);
        this.svcFree.push(t.id);
        n++;
      }
    }
    return n;
  }

  /** Dest ids in the trash (deleted, still possibly referenced). */
  trashedDestIds(): number[] {
    return this.destTrash.map((t) => t.rec.id);
  }

  // ------------------------------------------------------------------ reads

  getService(key: ServiceKey): ServiceInfo | undefined {
    const rec = this.byKey.get(normKey(key).str);
    return rec ? svcInfo(rec) : undefined;
  }

  /** Services in creation order, each with its dests in insertion order (copies). */
  list(): ServiceInfo[] {
    return this.svcs.map(svcInfo);
  }

  get serviceCount(): number {
    return this.svcs.length;
  }

  /**
   * The immutable snapshot for the data plane. Cached per generation: calling it twice without a
   * change returns the same object.
   */
  snapshot(): ServiceSnapshot {
    if (this.snap === null || this.snap.generation !== this.gen) {
      this.snap = ServiceSnapshot.build(
        this.gen,
        this.svcs,
        this.destTrash.map((t) => ({ rec: t.rec, svcId: t.svcId })),
        this.live,
        this.snap,
      );
    }
    return this.snap;
  }

  // ------------------------------------------------------------------ internals

  private normSvcOpts(k: NormKey, o: ServiceOptions): NormSvcOpts {
    const scheduler = o.scheduler ?? DEFAULT_SCHEDULER;
    const flags = o.flags ?? 0;
    checkInt('flags', flags, 0, 0xffffffff);
    if ((flags & ~SVC_F_USER_MASK) !== 0) {
      throw err('ERR_LVS_INVALID_ARGUMENT', `unknown service flags 0x${flags.toString(16)}`, ERRNO.EINVAL);
    }
    const persistent = (flags & SVC_F_PERSISTENT) !== 0;
    let timeout = o.timeout ?? (persistent ? DEFAULT_PERSISTENT_TIMEOUT : 0);
    if (persistent) checkInt('persistence timeout', timeout, 1, MAX_PERSISTENT_TIMEOUT);
    else {
      checkInt('persistence timeout', timeout, 0, MAX_PERSISTENT_TIMEOUT);
      timeout = 0; // only meaningful with PERSISTENT
    }
    let netmask: number;
    if (k.af === AF_INET6) {
      netmask = o.netmask ?? 128;
      checkInt('netmask', netmask, 1, 128);
    } else {
      netmask = o.netmask ?? 0xffffffff;
      checkInt('netmask', netmask, 0, 0xffffffff);
    }
    if (k.fwmark === 0 && k.port === 0 && !persistent) {
      throw err('ERR_LVS_INVALID_ARGUMENT', MSG.ZERO_PORT, ERRNO.EINVAL);
    }
    if ((flags & SVC_F_ONEPACKET) !== 0 && k.fwmark === 0 && k.proto !== IPPROTO_UDP) {
      throw err('ERR_LVS_INVALID_ARGUMENT', MSG.ONEPACKET_UDP, ERRNO.EINVAL);
    }
    const mhTableSize = o.mhTableSize ?? DEFAULT_MH_TABLE_SIZE;
    if (!MH_TABLE_SIZES.includes(mhTableSize)) {
      throw err(
        'ERR_LVS_RANGE',
        `mh table size ${mhTableSize} is not one of ${MH_TABLE_SIZES.join(', ')}`,
        ERRNO.EINVAL,
      );
    }
    const localAddrs = (o.localAddrs ?? []).map((l) => {
      checkAf(l.af);
      return { af: l.af, addr: toWords(l.af, l.addr, 'local') };
    });
    const pe = o.pe ?? '';
    return { scheduler, flags, timeout, netmask, pe, mhTableSize, localAddrs };
  }

  /** Kernel order: service lookup (EEXIST/ESRCH) first, then scheduler and persistence engine (ENOENT). */
  private checkSchedPe(o: NormSvcOpts): void {
    if (!this.isScheduler(o.scheduler))
      throw err('ERR_LVS_SCHED_NOT_FOUND', MSG.SCHED_NOT_FOUND, ERRNO.ENOENT);
    if (o.pe !== '' && !this.isPe(o.pe))
      throw err('ERR_LVS_SCHED_NOT_FOUND', MSG.SCHED_NOT_FOUND, ERRNO.ENOENT);
  }

  private normDest(svc: ServiceRec, s: DestSpec): Omit<DestRec, 'id'> {
    const af = s.af ?? svc.af;
    checkAf(af);
    const fwdIn = s.fwd ?? FWD_DROUTE;
    if (fwdIn !== FWD_MASQ && fwdIn !== FWD_TUNNEL && fwdIn !== FWD_DROUTE && fwdIn !== FWD_FULLNAT) {
      throw err('ERR_LVS_INVALID_ARGUMENT', `forwarding method ${fwdIn} not supported`, ERRNO.EINVAL);
    }
    const addr = toWords(af, s.addr, 'real server');
    // ipvs-reference §1.5: only tunnels may cross families.
    if (af !== svc.af && fwdIn !== FWD_TUNNEL) {
      throw err('ERR_LVS_FAMILY_MISMATCH', MSG.FAMILY_MISMATCH, ERRNO.EAFNOSUPPORT);
    }
    let port = s.port ?? 0;
    checkInt('port', port, 0, 65535);
    if (port === 0) port = svc.port; // "with no port, the service port is copied"
    // DR/TUN cannot remap ports: ipvsadm forces the service port (sharp edge 5); not for fwmark.
    if (svc.fwmark === 0 && (fwdIn === FWD_DROUTE || fwdIn === FWD_TUNNEL)) port = svc.port;
    const weight = s.weight ?? 1;
    checkInt('weight', weight, 0, MAX_WEIGHT);
    const uThreshold = s.uThreshold ?? 0;
    const lThreshold = s.lThreshold ?? 0;
    checkInt('upper threshold', uThreshold, 0, MAX_THRESHOLD);
    checkInt('lower threshold', lThreshold, 0, MAX_THRESHOLD);
    if (uThreshold !== 0 && lThreshold > uThreshold) {
      throw err('ERR_LVS_RANGE', 'lower threshold above upper threshold', ERRNO.ERANGE);
    }
    const tunType = s.tunType ?? TUN_IPIP;
    const tunPort = s.tunPort ?? 0;
    const tunFlags = s.tunFlags ?? TUN_F_NOCSUM;
    if (fwdIn !== FWD_TUNNEL) {
      if (s.tunType !== undefined || s.tunPort !== undefined || s.tunFlags !== undefined) {
        throw err('ERR_LVS_INVALID_ARGUMENT', MSG.TUNNEL_CONFLICT, ERRNO.EINVAL);
      }
    } else {
      checkInt('tunnel type', tunType, TUN_IPIP, TUN_GRE);
      checkInt('tunnel port', tunPort, 0, 65535);
      checkInt('tunnel flags', tunFlags, TUN_F_NOCSUM, TUN_F_REMCSUM);
      if (tunType === TUN_GUE && tunPort === 0)
        throw err('ERR_LVS_INVALID_ARGUMENT', MSG.GUE_PORT, ERRNO.EINVAL);
      if (tunType !== TUN_GUE && tunPort !== 0) {
        throw err('ERR_LVS_INVALID_ARGUMENT', 'tunnel port is only for gue', ERRNO.EINVAL);
      }
      if (tunType === TUN_IPIP && tunFlags !== TUN_F_NOCSUM) {
        throw err('ERR_LVS_INVALID_ARGUMENT', 'tunnel checksum options are not for ipip', ERRNO.EINVAL);
      }
      if (tunType === TUN_GRE && tunFlags === TUN_F_REMCSUM) {
        throw err('ERR_LVS_INVALID_ARGUMENT', 'remote checksum offload is only for gue', ERRNO.EINVAL);
      }
    }
    // Kernel __ip_vs_update_dest: a local address is served locally, whatever was asked.
    const fwd = this.isLocal(af, addr) ? FWD_LOCALNODE : fwdIn;
    return {
      af,
      addr,
      port,
      fwd,
      weight,
      lastWeight: weight,
      uThreshold,
      lThreshold,
      tunType,
      tunPort,
      tunFlags,
    };
  }

  private findDest(svc: ServiceRec, af: number, addr: Uint32Array, port: number): DestRec | undefined {
    for (const d of svc.dests) {
      if (
        d.af === af &&
        d.port === port &&
        d.addr[0] === addr[0] &&
        d.addr[1] === addr[1] &&
        d.addr[2] === addr[2] &&
        d.addr[3] === addr[3]
      ) {
        return d;
      }
    }
    return undefined;
  }

  private trashDest(rec: DestRec, svc: ServiceRec, svcKey: string, g: number): void {
    // Kernel __ip_vs_del_dest: clear AVAILABLE so persistence templates stop using it (§4.4).
    this.live.setAvailable(rec.id, false);
    this.destTrash.push({ rec, svcKey, svcId: svc.id, deletedAt: g });
  }

  private removeService(rec: ServiceRec, g: number): void {
    const key = keyString(rec.af, rec.proto, rec.addr, rec.port, rec.fwmark);
    for (const d of rec.dests) this.trashDest(d, rec, key, g);
    rec.dests = [];
    this.svcs.splice(this.svcs.indexOf(rec), 1);
    this.byKey.delete(key);
    this.svcTrash.push({ id: rec.id, key, deletedAt: g });
  }
}

function destInfo(d: DestRec): DestInfo {
  return {
    id: d.id,
    af: d.af,
    addr: d.addr.slice(),
    port: d.port,
    fwd: d.fwd,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunFlags: d.tunFlags,
  };
}

function svcInfo(s: ServiceRec): ServiceInfo {
  return {
    id: s.id,
    af: s.af,
    proto: s.proto,
    addr: s.addr.slice(),
    port: s.port,
    fwmark: s.fwmark,
    scheduler: s.scheduler,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.pe,
    mhTableSize: s.mhTableSize,
    localAddrs: s.localAddrs.map((l) => ({ af: l.af, addr: l.addr.slice() })),
    dests: s.dests.map(destInfo),
  };
}
