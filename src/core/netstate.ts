/**
 * The director's view of its own network: interfaces, routes and neighbours, as typed arrays the data
 * plane reads without allocating. Issue 3 fills them from netlink (route and neighbour events) and
 * keeps neighbours fresh with lvsd's own ARP/NDP probes; tests fill them by hand.
 *
 * Invariants:
 *  - An interface is identified by its kernel ifindex (> 0). A VLAN sub-interface records its parent
 *    ifindex and VLAN id: frames leave on the parent with the tag delivered out of band.
 *  - Routes are matched longest prefix first; among equal prefixes, lower metric first, then the
 *    earliest added. A route has a gateway (next hop) or is on-link (gateway = the destination).
 *  - A neighbour entry is (af, address, ifindex) -> MAC. Its index is stable while it exists, so a
 *    connection can store it; `generation` is bumped on any route change so cached next hops are
 *    re-resolved.
 */
import { AF_INET, AF_INET6 } from '../packet/view.js';

export const NEIGH_INCOMPLETE = 0;
export const NEIGH_REACHABLE = 1;
export const NEIGH_STALE = 2;
export const NEIGH_FAILED = 3;

/** nFlags bit: a static kernel entry (NUD_PERMANENT / NUD_NOARP): lvsd never probes it */
export const NEIGH_F_PERMANENT = 1;

export interface InterfaceInfo {
  ifindex: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  /** parent ifindex for VLAN sub-interfaces, else the interface itself */
  parentIfindex?: number;
  /** 802.1Q VLAN id for sub-interfaces, else -1 */
  vlanId?: number;
  /** administratively up (IFF_UP); default true. A down VLAN sub-interface receives nothing. */
  up?: boolean;
  /** addresses configured on the interface: [af, words] */
  addresses?: Array<{ af: number; words: Uint32Array; prefixLen: number }>;
}

const MAX_IFINDEX = 4096;

function prefixMatches(
  addr: Uint32Array,
  aOff: number,
  net: Uint32Array,
  nOff: number,
  plen: number,
): boolean {
  let bits = plen;
  for (let w = 0; w < 4 && bits > 0; w++) {
    const mask = bits >= 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0;
    if (((addr[aOff + w]! ^ net[nOff + w]!) & mask) >>> 0 !== 0) return false;
    bits -= 32;
  }
  return true;
}

export class NetState {
  // ---- interfaces, indexed by ifindex
  readonly ifMac = new Uint8Array(MAX_IFINDEX * 6);
  readonly ifMtu = new Int32Array(MAX_IFINDEX);
  readonly ifParent = new Int32Array(MAX_IFINDEX);
  readonly ifVlan = new Int32Array(MAX_IFINDEX).fill(-1);
  readonly ifPresent = new Uint8Array(MAX_IFINDEX);
  readonly ifUp = new Uint8Array(MAX_IFINDEX);
  /** (parent ifindex * 4096 + VLAN id) -> sub-interface ifindex, for frames that arrive tagged */
  private readonly vlanSubIf = new Map<number, number>();
  /** first IPv4 / IPv6 address per interface (source for tunnels, ICMP and probes) */
  readonly ifAddr4 = new Uint32Array(MAX_IFINDEX * 4);
  readonly ifAddr6 = new Uint32Array(MAX_IFINDEX * 4);
  readonly ifHasAddr4 = new Uint8Array(MAX_IFINDEX);
  readonly ifHasAddr6 = new Uint8Array(MAX_IFINDEX);
  readonly ifNames = new Map<number, string>();
  /** every local address, for "is this the director's own address" checks */
  private readonly local: Array<{ af: number; words: Uint32Array }> = [];

  // ---- routes (small table, kept sorted by prefix length desc, metric asc)
  private routeCount = 0;
  private routeCap = 64;
  private rAf = new Uint8Array(this.routeCap);
  private rDst = new Uint32Array(this.routeCap * 4);
  private rPlen = new Uint8Array(this.routeCap);
  private rGw = new Uint32Array(this.routeCap * 4);
  private rHasGw = new Uint8Array(this.routeCap);
  private rIf = new Int32Array(this.routeCap);
  private rMetric = new Int32Array(this.routeCap);
  private rMtu = new Int32Array(this.routeCap);
  private rSrc = new Uint32Array(this.routeCap * 4);
  private rHasSrc = new Uint8Array(this.routeCap);

  // ---- neighbours
  readonly neighCap: number;
  neighCount = 0;
  readonly nAf: Uint8Array;
  readonly nAddr: Uint32Array;
  readonly nIf: Int32Array;
  readonly nMac: Uint8Array;
  readonly nState: Uint8Array;
  readonly nUpdated: Float64Array;
  /** NEIGH_F_* bits */
  readonly nFlags: Uint8Array;
  /**
   * 1 when resolve() handed the entry out or a frame was addressed to it (fwd/l2.ts) since the
   * neighbour prober (src/io/neigh-probe.ts) last looked; the prober clears it. A plain store on the
   * hot path: next hops are cached, so resolve() alone would not show that an entry is still in use.
   */
  readonly nUsed: Uint8Array;
  /**
   * The 12 MAC bytes of a frame to neighbour i (its MAC, then its interface's MAC) as three big-endian
   * words, kept current by setNeighbour/setInterface so output writes three words, not twelve bytes.
   */
  readonly nHdr: Uint32Array;
  /** open-addressing index over neighbours: slot -> neighbour index + 1 (0 = empty) */
  private readonly nIndex: Int32Array;
  private readonly nIndexMask: number;

  /** bumped on every route or interface change; caches of next hops compare it */
  generation = 1;

  /** scratch for lookups: the result of the last resolve() */
  lastIfindex = 0;
  /** the last resolve() reached its destination on-link (no gateway) */
  lastOnLink = 0;
  lastMtu = 0;
  readonly lastSrc = new Uint32Array(4);
  lastHasSrc = 0;
  /** result of the last neighSlot probe: the entry index or -1 */
  private lastNeighFound = -1;

  constructor(neighCapacity = 4096) {
    this.neighCap = neighCapacity;
    this.nAf = new Uint8Array(neighCapacity);
    this.nAddr = new Uint32Array(neighCapacity * 4);
    this.nIf = new Int32Array(neighCapacity);
    this.nMac = new Uint8Array(neighCapacity * 6);
    this.nState = new Uint8Array(neighCapacity);
    this.nUpdated = new Float64Array(neighCapacity);
    this.nFlags = new Uint8Array(neighCapacity);
    this.nUsed = new Uint8Array(neighCapacity);
    this.nHdr = new Uint32Array(neighCapacity * 3);
    let slots = 16;
    while (slots < neighCapacity * 2) slots *= 2;
    this.nIndex = new Int32Array(slots);
    this.nIndexMask = slots - 1;
  }

  private neighHash(af: number, addr: Uint32Array, off: number, ifindex: number): number {
    let h = Math.imul(af ^ ifindex, 0x9e3779b1);
    for (let w = 0; w < 4; w++) h = Math.imul(h ^ addr[off + w]!, 0x85ebca6b) ^ (h >>> 13);
    return (h ^ (h >>> 16)) & this.nIndexMask;
  }

  // ------------------------------------------------------------------ interfaces
  setInterface(info: InterfaceInfo): void {
    const i = info.ifindex;
    if (!Number.isInteger(i) || i <= 0 || i >= MAX_IFINDEX) throw new RangeError(`bad ifindex ${i}`);
    if (info.mac.length !== 6) throw new RangeError('mac must be 6 bytes');
    this.ifMac.set(info.mac, i * 6);
    this.ifMtu[i] = info.mtu;
    this.forgetVlan(i);
    this.ifParent[i] = info.parentIfindex ?? i;
    this.ifVlan[i] = info.vlanId ?? -1;
    if (this.ifVlan[i]! >= 0 && this.ifParent[i] !== i)
      this.vlanSubIf.set(this.ifParent[i]! * 4096 + this.ifVlan[i]!, i);
    this.ifPresent[i] = 1;
    this.ifUp[i] = info.up === false ? 0 : 1;
    this.ifNames.set(i, info.name);
    this.ifHasAddr4[i] = 0;
    this.ifHasAddr6[i] = 0;
    for (const a of info.addresses ?? []) this.addAddress(i, a.af, a.words);
    for (let n = 0; n < this.neighCount; n++) if (this.nIf[n] === i) this.refreshHeader(n);
    this.generation++;
  }

  removeInterface(ifindex: number): void {
    this.forgetVlan(ifindex);
    this.ifVlan[ifindex] = -1;
    this.ifPresent[ifindex] = 0;
    this.ifUp[ifindex] = 0;
    this.ifNames.delete(ifindex);
    this.generation++;
  }

  private forgetVlan(ifindex: number): void {
    const key = this.ifParent[ifindex]! * 4096 + this.ifVlan[ifindex]!;
    if (this.ifVlan[ifindex]! >= 0 && this.vlanSubIf.get(key) === ifindex) this.vlanSubIf.delete(key);
  }

  /**
   * The interface a frame tagged with VLAN `vid` on `parent` arrives on: its up VLAN sub-interface, or
   * 0 when there is none (the kernel then marks the frame PACKET_OTHERHOST and IP drops it).
   */
  vlanInterface(parent: number, vid: number): number {
    const sub = this.vlanSubIf.get(parent * 4096 + vid);
    return sub !== undefined && this.ifUp[sub] === 1 ? sub : 0;
  }

  addAddress(ifindex: number, af: number, words: Uint32Array): void {
    if (af === AF_INET && !this.ifHasAddr4[ifindex]) {
      this.ifAddr4.set(words.subarray(0, 4), ifindex * 4);
      this.ifHasAddr4[ifindex] = 1;
    } else if (af === AF_INET6 && !this.ifHasAddr6[ifindex]) {
      this.ifAddr6.set(words.subarray(0, 4), ifindex * 4);
      this.ifHasAddr6[ifindex] = 1;
    }
    if (!this.isLocal(af, words, 0)) this.local.push({ af, words: Uint32Array.from(words.subarray(0, 4)) });
  }

  /** Forget every address (before re-adding them from the kernel's current set). */
  clearAddresses(): void {
    this.local.length = 0;
    this.ifHasAddr4.fill(0);
    this.ifHasAddr6.fill(0);
    this.generation++;
  }

  /** Is (af, words) one of the director's own addresses? (control plane and per-connection use) */
  isLocal(af: number, words: Uint32Array, off: number): boolean {
    for (const l of this.local) {
      if (
        l.af === af &&
        l.words[0] === words[off] &&
        l.words[1] === words[off + 1] &&
        l.words[2] === words[off + 2] &&
        l.words[3] === words[off + 3]
      )
        return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ routes
  addRoute(r: {
    af: number;
    dst: Uint32Array;
    prefixLen: number;
    gateway?: Uint32Array;
    ifindex: number;
    metric?: number;
    mtu?: number;
    src?: Uint32Array;
  }): void {
    if (this.routeCount === this.routeCap) this.growRoutes();
    const maxLen = r.af === AF_INET ? 32 : 128;
    if (r.prefixLen < 0 || r.prefixLen > maxLen) throw new RangeError('bad prefix length');
    const metric = r.metric ?? 0;
    // insertion point: keep longest prefix first, then lowest metric, stable
    let at = this.routeCount;
    for (let i = 0; i < this.routeCount; i++) {
      if (r.prefixLen > this.rPlen[i]! || (r.prefixLen === this.rPlen[i]! && metric < this.rMetric[i]!)) {
        at = i;
        break;
      }
    }
    for (let i = this.routeCount; i > at; i--) this.copyRoute(i - 1, i);
    this.rAf[at] = r.af;
    for (let w = 0; w < 4; w++) this.rDst[at * 4 + w] = r.dst[w] ?? 0;
    this.rPlen[at] = r.prefixLen;
    this.rHasGw[at] = r.gateway ? 1 : 0;
    for (let w = 0; w < 4; w++) this.rGw[at * 4 + w] = r.gateway ? r.gateway[w]! : 0;
    this.rIf[at] = r.ifindex;
    this.rMetric[at] = metric;
    this.rMtu[at] = r.mtu ?? 0;
    this.rHasSrc[at] = r.src ? 1 : 0;
    for (let w = 0; w < 4; w++) this.rSrc[at * 4 + w] = r.src ? r.src[w]! : 0;
    this.routeCount++;
    this.generation++;
  }

  clearRoutes(): void {
    this.routeCount = 0;
    this.generation++;
  }

  get routes(): number {
    return this.routeCount;
  }

  private copyRoute(from: number, to: number): void {
    this.rAf[to] = this.rAf[from]!;
    this.rPlen[to] = this.rPlen[from]!;
    this.rHasGw[to] = this.rHasGw[from]!;
    this.rIf[to] = this.rIf[from]!;
    this.rMetric[to] = this.rMetric[from]!;
    this.rMtu[to] = this.rMtu[from]!;
    this.rHasSrc[to] = this.rHasSrc[from]!;
    this.rDst.copyWithin(to * 4, from * 4, from * 4 + 4);
    this.rGw.copyWithin(to * 4, from * 4, from * 4 + 4);
    this.rSrc.copyWithin(to * 4, from * 4, from * 4 + 4);
  }

  private growRoutes(): void {
    const cap = this.routeCap * 2;
    const grow8 = (a: Uint8Array) => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    const grow32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const growW = (a: Uint32Array) => {
      const b = new Uint32Array(cap * 4);
      b.set(a);
      return b;
    };
    this.rAf = grow8(this.rAf);
    this.rPlen = grow8(this.rPlen);
    this.rHasGw = grow8(this.rHasGw);
    this.rHasSrc = grow8(this.rHasSrc);
    this.rIf = grow32(this.rIf);
    this.rMetric = grow32(this.rMetric);
    this.rMtu = grow32(this.rMtu);
    this.rDst = growW(this.rDst);
    this.rGw = growW(this.rGw);
    this.rSrc = growW(this.rSrc);
    this.routeCap = cap;
  }

  /** Index of the best route for the address, or -1. */
  lookupRoute(af: number, addr: Uint32Array, off: number): number {
    for (let i = 0; i < this.routeCount; i++) {
      if (this.rAf[i] === af && prefixMatches(addr, off, this.rDst, i * 4, this.rPlen[i]!)) return i;
    }
    return -1;
  }

  /**
   * Resolve the next hop for a destination: route lookup, then the neighbour entry for the gateway
   * (or the destination itself when on-link), creating an INCOMPLETE entry if none exists (the I/O
   * layer probes those). Returns the neighbour index or -1 when there is no route or no room.
   * Side outputs: lastIfindex, lastMtu (route MTU or interface MTU), lastSrc/lastHasSrc.
   */
  resolve(af: number, addr: Uint32Array, off: number): number {
    const r = this.lookupRoute(af, addr, off);
    if (r < 0) return -1;
    const ifindex = this.rIf[r]!;
    this.lastIfindex = ifindex;
    this.lastOnLink = this.rHasGw[r] ? 0 : 1;
    this.lastMtu = this.rMtu[r]! || this.ifMtu[ifindex]! || 1500;
    if (this.rHasSrc[r]) {
      this.lastSrc.set(this.rSrc.subarray(r * 4, r * 4 + 4));
      this.lastHasSrc = 1;
    } else if (af === AF_INET ? this.ifHasAddr4[ifindex] : this.ifHasAddr6[ifindex]) {
      const src = af === AF_INET ? this.ifAddr4 : this.ifAddr6;
      for (let w = 0; w < 4; w++) this.lastSrc[w] = src[ifindex * 4 + w]!;
      this.lastHasSrc = 1;
    } else {
      this.lastHasSrc = 0;
    }
    const n = this.rHasGw[r]
      ? this.neighbour(af, this.rGw, r * 4, ifindex)
      : this.neighbour(af, addr, off, ifindex);
    if (n >= 0) this.nUsed[n] = 1;
    return n;
  }

  /**
   * Index slot of (af, addr, ifindex) in the open-addressing index: where the entry is, or the empty
   * slot where it would go. Sets lastNeighFound.
   */
  private neighSlot(af: number, addr: Uint32Array, off: number, ifindex: number): number {
    let slot = this.neighHash(af, addr, off, ifindex);
    for (;;) {
      const e = this.nIndex[slot]!;
      if (e === 0) {
        this.lastNeighFound = -1;
        return slot;
      }
      const i = e - 1;
      const b = i * 4;
      if (
        this.nAf[i] === af &&
        this.nIf[i] === ifindex &&
        this.nAddr[b] === addr[off] &&
        this.nAddr[b + 1] === addr[off + 1] &&
        this.nAddr[b + 2] === addr[off + 2] &&
        this.nAddr[b + 3] === addr[off + 3]
      ) {
        this.lastNeighFound = i;
        return slot;
      }
      slot = (slot + 1) & this.nIndexMask;
    }
  }

  /** The neighbour entry (af, addr, ifindex) if it exists, else -1 (never creates one). */
  findNeighbour(af: number, addr: Uint32Array, off: number, ifindex: number): number {
    this.neighSlot(af, addr, off, ifindex);
    return this.lastNeighFound;
  }

  /** Find or create the neighbour entry (af, addr, ifindex). -1 when the table is full. */
  neighbour(af: number, addr: Uint32Array, off: number, ifindex: number): number {
    const slot = this.neighSlot(af, addr, off, ifindex);
    if (this.lastNeighFound >= 0) return this.lastNeighFound;
    if (this.neighCount === this.neighCap) return -1;
    const i = this.neighCount++;
    this.nAf[i] = af;
    this.nIf[i] = ifindex;
    for (let w = 0; w < 4; w++) this.nAddr[i * 4 + w] = addr[off + w]!;
    this.nState[i] = NEIGH_INCOMPLETE;
    this.nIndex[slot] = i + 1;
    return i;
  }

  /** Learn or refresh a neighbour's MAC (from the kernel table, an ARP/NA reply, or a test). */
  setNeighbour(af: number, addr: Uint32Array, ifindex: number, mac: Uint8Array, now = 0): number {
    const i = this.neighbour(af, addr, 0, ifindex);
    if (i < 0) return -1;
    this.nMac.set(mac.subarray(0, 6), i * 6);
    this.refreshHeader(i);
    this.nState[i] = NEIGH_REACHABLE;
    this.nUpdated[i] = now;
    return i;
  }

  private refreshHeader(n: number): void {
    const m = this.nMac;
    const f = this.ifMac;
    const a = n * 6;
    const b = this.nIf[n]! * 6;
    const h = n * 3;
    this.nHdr[h] = ((m[a]! << 24) | (m[a + 1]! << 16) | (m[a + 2]! << 8) | m[a + 3]!) >>> 0;
    this.nHdr[h + 1] = ((m[a + 4]! << 24) | (m[a + 5]! << 16) | (f[b]! << 8) | f[b + 1]!) >>> 0;
    this.nHdr[h + 2] = ((f[b + 2]! << 24) | (f[b + 3]! << 16) | (f[b + 4]! << 8) | f[b + 5]!) >>> 0;
  }

  /** Can a frame be sent to neighbour i now? */
  neighUsable(i: number): boolean {
    const s = this.nState[i]!;
    return s === NEIGH_REACHABLE || s === NEIGH_STALE;
  }
}
