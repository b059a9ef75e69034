/**
 * ConnTable: the connection table (kernel ip_vs_conn_tab, ipvs-reference §4.1) as struct-of-arrays
 * typed arrays on ONE SharedArrayBuffer, so a control thread can `attach` to it and read connections
 * and counters without stopping the data plane (DESIGN: "connection tables live in
 * SharedArrayBuffer, one shard per data-plane worker"). One writer per table (its worker); readers
 * tolerate torn multi-field reads (they are for listing, never for decisions).
 *
 * Handles are ints 0..capacity-1 (capacity a power of two). `gen[h]` increments every time h is
 * freed, so caches that hold (handle, gen) detect reuse. A slot is free iff af[h] === 0.
 *
 * Units: every time is in milliseconds of the caller's monotonic clock (`nowMs`); `timeout[h]` is the
 * current timeout in ms (Uint32: up to 49 days, more than the 2678400 s maximum); `expiry[h]` is the
 * absolute expiry in ms (Float64).
 *
 * Addresses (see src/packet/view.ts): 4 big-endian u32 words; IPv4 uses word 0. Word 0 of every
 * address lives in a per-slot array (c0 v0 d0 l0); words 1..3 of all four addresses of an IPv6
 * connection (af or daf 6) live in a 12-word block of a separate pool (`ext[h]`, -1 for IPv4-only).
 * This keeps an IPv4 connection at ~100 bytes including both hash indexes; the pool holds
 * `v6Capacity` IPv6 connections (default capacity/4; create returns -1 when it is exhausted, and the
 * caller counts Drop.ConnTableFull exactly as for maxConns).
 *
 * Keys (both chained hash indexes, multiply-xorshift mixing keyed by a per-table random seed against
 * hash flooding):
 *  - IN  (proto, af, caddr, cport, vaddr, vport): every hashed conn and template. Templates are keyed
 *    (proto | 0 for fwmark, caddr masked, cport 0, VIP | fwmark as word 0, vport | 0) — persistence.ts.
 *    lookupIn finds only non-templates; lookupTemplate only templates.
 *  - OUT (proto, daf, daddr, dport, laddr, lport): only MASQ/FULLNAT conns. For NAT laddr/lport equal
 *    caddr/cport (the reply goes to the client), for FullNAT the local address and port.
 * ONE_PACKET conns are in neither index. Insertion is at the chain head; the caller looks up before
 * creating, so a duplicate key only occurs by intent (conn reuse), and the newest wins.
 *
 * Tagged links (the hot-path trick): a chain link (inHead/outHead bucket, nextIn/nextOut of a node) is
 * -1 or `tag << HB | h` with HB = log2(capacity), so the link that leads to h also carries bits of
 * h's key hash (IN: plus the exact TEMPLATE bit). A probe reads only link words until a tag matches
 * and touches the key arrays of a node only then (false match 2^-(30-HB): 1/1024 at 1M conns), so
 * a miss is usually one bucket read and a hit one bucket read plus one key compare. Capacity is
 * therefore limited to 2^29. A free slot's nextIn is the plain free-list link.
 * Buckets: capacity for each index (load <= 1; OUT holds only NAT/FullNAT conns).
 */
import { DestLive } from './dest-live.js';
import {
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_TEMPLATE,
  fwdSeesReplies,
} from './flags.js';
import { TimerWheel } from './timer-wheel.js';

const AF6 = 6;
const MAGIC = 0x4c565343; // 'LVSC'

/** Header words (Int32) at the start of the buffer; readers use count/templateCount. */
const H_MAGIC = 0;
const H_CAPACITY = 1;
const H_V6CAP = 2;
const H_INBUCKETS = 3;
const H_OUTBUCKETS = 4;
const H_COUNT = 5;
const H_TEMPLATES = 6;
const H_SEED = 7;
const H_FREE = 8;
const H_V6FREE = 9;
const H_MAXCONNS = 10;
const H_V6COUNT = 11;
const HEADER_WORDS = 16;

/** Which address readAddr/writeAddr refer to. */
export const ADDR_C = 0;
export const ADDR_V = 1;
export const ADDR_D = 2;
export const ADDR_L = 3;

export interface ConnTableOptions {
  /** connections allowed at once (create returns -1 beyond); capacity = next power of two */
  maxConns: number;
  /** IPv6 connections allowed at once (default capacity / 4, at least 1) */
  v6Capacity?: number;
  /** hash seed (default random); tests may fix it */
  seed?: number;
  /** timer wheel tick in ms (default 100) and slots (power of two, default 4096: ~410 s horizon) */
  tickMs?: number;
  wheelSlots?: number;
  /** the clock's current value, in ms, for the wheel's origin (default 0) */
  nowMs?: number;
}

interface Layout {
  capacity: number;
  v6Capacity: number;
  inBuckets: number;
  outBuckets: number;
  bytes: number;
  off: Record<string, number>;
}

function nextPow2(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}

// Field lists by element size, laid out largest first so every array is naturally aligned.
const F64 = ['expiry'] as const;
const U32 = ['c0', 'v0', 'd0', 'l0', 'flags', 'fwmark', 'timeout', 'inPkts', 'gen'] as const;
const I32 = [
  'ext',
  'destId',
  'svcId',
  'control',
  'nControl',
  'neigh',
  'nextIn',
  'nextOut',
  'wNext',
  'wPrev',
] as const;
const U16 = ['cport', 'vport', 'dport', 'lport'] as const;
const U8 = ['af', 'daf', 'proto', 'state'] as const;

function layout(capacity: number, v6Capacity: number): Layout {
  // Bucket counts: both at load factor <= 1 (a 4 MB index per 1M conns stays TLB/L3-friendlier than 8 MB).
  const inBuckets = capacity;
  const outBuckets = capacity;
  const off: Record<string, number> = {};
  let o = HEADER_WORDS * 4;
  o = (o + 7) & ~7;
  for (const f of F64) {
    off[f] = o;
    o += capacity * 8;
  }
  for (const f of U32) {
    off[f] = o;
    o += capacity * 4;
  }
  for (const f of I32) {
    off[f] = o;
    o += capacity * 4;
  }
  off.inHead = o;
  o += inBuckets * 4;
  off.outHead = o;
  o += outBuckets * 4;
  off.v6 = o;
  o += v6Capacity * 12 * 4;
  for (const f of U16) {
    off[f] = o;
    o += capacity * 2;
  }
  for (const f of U8) {
    off[f] = o;
    o += capacity;
  }
  o = (o + 7) & ~7;
  return { capacity, v6Capacity, inBuckets, outBuckets, bytes: o, off };
}

/** One absorb round: bijective in k for a fixed h (xor, odd multiply, xorshift). */
function mix(h: number, k: number): number {
  h = Math.imul(h ^ k, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** Words 1..3 of two IPv6 addresses (kept out of line so the IPv4 lookup stays small enough to inline). */
function mix6(h: number, a: Uint32Array, aOff: number, b: Uint32Array, bOff: number): number {
  h = mix(h, a[aOff + 1]!);
  h = mix(h, a[aOff + 2]!);
  h = mix(h, a[aOff + 3]!);
  h = mix(h, b[bOff + 1]!);
  h = mix(h, b[bOff + 2]!);
  return mix(h, b[bOff + 3]!);
}

/** Final avalanche so the low (bucket) bits depend on every input bit; result is an int32. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return h ^ (h >>> 13);
}

export class ConnTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly mask: number;
  readonly v6Capacity: number;
  readonly maxConns: number;
  readonly inBuckets: number;
  readonly outBuckets: number;
  /** null for a reader attached without counters */
  readonly live: DestLive | null;
  readonly wheel: TimerWheel;
  readonly seed: number;
  /** log2(capacity): handle bits of a tagged link */
  private readonly hb: number;
  private readonly seedOut: number;

  private readonly header: Int32Array;
  /** absolute expiry, ms */
  readonly expiry: Float64Array;
  /** word 0 of caddr / vaddr / daddr / laddr */
  readonly c0: Uint32Array;
  readonly v0: Uint32Array;
  readonly d0: Uint32Array;
  readonly l0: Uint32Array;
  /** IP_VS_CONN_F_* (flags.ts) */
  readonly flags: Uint32Array;
  readonly fwmark: Uint32Array;
  /** current timeout, ms; every packet re-arms expiry = now + timeout */
  readonly timeout: Uint32Array;
  /** packets client->server, for the sync threshold (wraps at 2^32) */
  readonly inPkts: Uint32Array;
  /** incremented on free */
  readonly gen: Uint32Array;
  /** index into v6 (12 words per block), -1 none */
  readonly ext: Int32Array;
  /** DestLive id, -1 none */
  readonly destId: Int32Array;
  readonly svcId: Int32Array;
  /** controlling template handle, -1 none */
  readonly control: Int32Array;
  /** conns this one controls (templates) */
  readonly nControl: Int32Array;
  /** neighbour index, -1 none */
  readonly neigh: Int32Array;
  /** IN chain next (tagged link) / free-list next (plain handle) */
  readonly nextIn: Int32Array;
  readonly nextOut: Int32Array;
  readonly wNext: Int32Array;
  readonly wPrev: Int32Array;
  readonly inHead: Int32Array;
  readonly outHead: Int32Array;
  /** words 1..3 of caddr, vaddr, daddr, laddr (12 per block) */
  readonly v6: Uint32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  readonly lport: Uint16Array;
  /** 4 / 6 client-side family; 0 = free slot */
  readonly af: Uint8Array;
  /** 4 / 6 destination-side family (tunnels may differ from af; laddr is on this side) */
  readonly daf: Uint8Array;
  readonly proto: Uint8Array;
  /** TCP state (state.ts), 0 for UDP (printed UDP) and templates (printed NONE) */
  readonly state: Uint8Array;

  /** scratch for recomputing hashes of stored conns */
  private readonly sa = new Uint32Array(4);
  private readonly sb = new Uint32Array(4);

  /** Bytes the table needs for these options (for sizing and the bench). */
  static bytesFor(opts: ConnTableOptions): number {
    const cap = nextPow2(Math.max(2, opts.maxConns));
    return layout(cap, opts.v6Capacity ?? Math.max(1, cap >>> 2)).bytes;
  }

  /** A reader view on another thread's table. Never call mutating methods on it. */
  static attach(buffer: SharedArrayBuffer, live: DestLive | null = null): ConnTable {
    const h = new Int32Array(buffer, 0, HEADER_WORDS);
    if (h[H_MAGIC] !== MAGIC) throw new RangeError('not a ConnTable buffer');
    return new ConnTable({ maxConns: h[H_MAXCONNS]!, v6Capacity: h[H_V6CAP]! }, live, buffer);
  }

  constructor(opts: ConnTableOptions, live: DestLive | null, attachTo?: SharedArrayBuffer) {
    const maxConns = Math.max(1, Math.floor(opts.maxConns));
    const cap = nextPow2(Math.max(2, maxConns));
    const v6Cap = Math.max(1, Math.floor(opts.v6Capacity ?? cap >>> 2));
    if (cap > 1 << 29) throw new RangeError('ConnTable capacity above 2^29');
    const L = layout(cap, v6Cap);
    this.capacity = cap;
    this.hb = 31 - Math.clz32(cap);
    this.mask = cap - 1;
    this.v6Capacity = v6Cap;
    this.maxConns = maxConns;
    this.inBuckets = L.inBuckets;
    this.outBuckets = L.outBuckets;
    this.live = live;
    const sab = attachTo ?? new SharedArrayBuffer(L.bytes);
    if (sab.byteLength < L.bytes) throw new RangeError('ConnTable buffer too small');
    this.buffer = sab;
    this.header = new Int32Array(sab, 0, HEADER_WORDS);
    const o = L.off;
    this.expiry = new Float64Array(sab, o.expiry!, cap);
    this.c0 = new Uint32Array(sab, o.c0!, cap);
    this.v0 = new Uint32Array(sab, o.v0!, cap);
    this.d0 = new Uint32Array(sab, o.d0!, cap);
    this.l0 = new Uint32Array(sab, o.l0!, cap);
    this.flags = new Uint32Array(sab, o.flags!, cap);
    this.fwmark = new Uint32Array(sab, o.fwmark!, cap);
    this.timeout = new Uint32Array(sab, o.timeout!, cap);
    this.inPkts = new Uint32Array(sab, o.inPkts!, cap);
    this.gen = new Uint32Array(sab, o.gen!, cap);
    this.ext = new Int32Array(sab, o.ext!, cap);
    this.destId = new Int32Array(sab, o.destId!, cap);
    this.svcId = new Int32Array(sab, o.svcId!, cap);
    this.control = new Int32Array(sab, o.control!, cap);
    this.nControl = new Int32Array(sab, o.nControl!, cap);
    this.neigh = new Int32Array(sab, o.neigh!, cap);
    this.nextIn = new Int32Array(sab, o.nextIn!, cap);
    this.nextOut = new Int32Array(sab, o.nextOut!, cap);
    this.wNext = new Int32Array(sab, o.wNext!, cap);
    this.wPrev = new Int32Array(sab, o.wPrev!, cap);
    this.inHead = new Int32Array(sab, o.inHead!, L.inBuckets);
    this.outHead = new Int32Array(sab, o.outHead!, L.outBuckets);
    this.v6 = new Uint32Array(sab, o.v6!, v6Cap * 12);
    this.cport = new Uint16Array(sab, o.cport!, cap);
    this.vport = new Uint16Array(sab, o.vport!, cap);
    this.dport = new Uint16Array(sab, o.dport!, cap);
    this.lport = new Uint16Array(sab, o.lport!, cap);
    this.af = new Uint8Array(sab, o.af!, cap);
    this.daf = new Uint8Array(sab, o.daf!, cap);
    this.proto = new Uint8Array(sab, o.proto!, cap);
    this.state = new Uint8Array(sab, o.state!, cap);
    this.wheel = new TimerWheel(this, opts.tickMs ?? 100, opts.wheelSlots ?? 4096, opts.nowMs ?? 0);
    if (attachTo !== undefined) {
      this.seed = this.header[H_SEED]!;
      this.seedOut = this.seed ^ 0x5bd1e995;
      return;
    }
    this.seed = (opts.seed ?? Math.floor(Math.random() * 0x100000000)) | 0;
    this.seedOut = this.seed ^ 0x5bd1e995;
    const hd = this.header;
    hd[H_MAGIC] = MAGIC;
    hd[H_CAPACITY] = cap;
    hd[H_V6CAP] = v6Cap;
    hd[H_INBUCKETS] = L.inBuckets;
    hd[H_OUTBUCKETS] = L.outBuckets;
    hd[H_SEED] = this.seed;
    hd[H_MAXCONNS] = maxConns;
    this.inHead.fill(-1);
    this.outHead.fill(-1);
    this.wNext.fill(-1);
    this.wPrev.fill(-1);
    this.ext.fill(-1);
    this.destId.fill(-1);
    this.control.fill(-1);
    this.neigh.fill(-1);
    this.nextOut.fill(-1);
    // Free list through nextIn, lowest handle first.
    for (let i = 0; i < cap; i++) this.nextIn[i] = i + 1 < cap ? i + 1 : -1;
    hd[H_FREE] = 0;
    // v6 pool free list (head index or -1) through word 0 of each block, stored +1 (0 = end).
    for (let i = 0; i < v6Cap; i++) this.v6[i * 12] = i + 1 < v6Cap ? i + 2 : 0;
    hd[H_V6FREE] = 0;
  }

  /** Live connections including templates. */
  get count(): number {
    return this.header[H_COUNT]!;
  }
  get templateCount(): number {
    return this.header[H_TEMPLATES]!;
  }
  get v6Count(): number {
    return this.header[H_V6COUNT]!;
  }

  inUse(h: number): boolean {
    return h >= 0 && h < this.capacity && this.af[h] !== 0;
  }

  // ---------------------------------------------------------------- hashing

  /**
   * IN key hash (int32); words of v4 addresses beyond word 0 are not mixed (they are 0 by
   * convention). Bucket = low bits, tag = high bits (see the tagged-links note at the top).
   */
  hashIn(
    proto: number,
    af: number,
    caddr: Uint32Array,
    caOff: number,
    cport: number,
    vaddr: Uint32Array,
    vaOff: number,
    vport: number,
  ): number {
    let h = mix(this.seed, caddr[caOff]!);
    h = mix(h, (cport << 16) | vport);
    h = mix(h, vaddr[vaOff]!);
    h = mix(h, proto | (af << 8));
    if (af === AF6) h = mix6(h, caddr, caOff, vaddr, vaOff);
    return fmix(h);
  }

  hashOut(
    proto: number,
    daf: number,
    daddr: Uint32Array,
    daOff: number,
    dport: number,
    laddr: Uint32Array,
    laOff: number,
    lport: number,
  ): number {
    let h = mix(this.seedOut, laddr[laOff]!);
    h = mix(h, (lport << 16) | dport);
    h = mix(h, daddr[daOff]!);
    h = mix(h, proto | (daf << 8));
    if (daf === AF6) h = mix6(h, daddr, daOff, laddr, laOff);
    return fmix(h);
  }

  /** IN link tag (already shifted to the link's tag bits): 30-HB hash bits, then the TEMPLATE bit. */
  private tagIn(hash: number, tmpl: number): number {
    const hb = this.hb;
    return (((hash >>> (hb + 2)) << 1) | (tmpl === 0 ? 0 : 1)) << hb;
  }

  /** OUT link tag: 31-HB hash bits above the bucket bits. */
  private tagOut(hash: number): number {
    const hb = this.hb;
    return (hash >>> (hb + 1)) << hb;
  }

  // ---------------------------------------------------------------- lookups (hot path, no allocation)

  private findIn(
    tmpl: number,
    proto: number,
    af: number,
    caddr: Uint32Array,
    caOff: number,
    cport: number,
    vaddr: Uint32Array,
    vaOff: number,
    vport: number,
  ): number {
    const hash = this.hashIn(proto, af, caddr, caOff, cport, vaddr, vaOff, vport);
    const hmask = this.mask;
    const want = this.tagIn(hash, tmpl);
    const next = this.nextIn;
    let link = this.inHead[hash & (this.inBuckets - 1)]!;
    // Tags are non-negative and -1 (end) never passes `(link ^ want) <= hmask` (it is negative).
    while (link >= 0) {
      if ((link ^ want) <= hmask) {
        const h = link & hmask;
        // One combined test: the loads are independent, so their misses overlap.
        if (
          ((this.c0[h]! ^ caddr[caOff]!) |
            (((this.cport[h]! << 16) | this.vport[h]!) ^ ((cport << 16) | vport)) |
            (this.v0[h]! ^ vaddr[vaOff]!) |
            (this.proto[h]! ^ proto) |
            (this.af[h]! ^ af)) ===
          0
        ) {
          if (af !== AF6 || this.v6In(h, caddr, caOff, vaddr, vaOff)) return h;
        }
      }
      link = next[link & hmask]!;
    }
    return -1;
  }

  private v6In(h: number, caddr: Uint32Array, caOff: number, vaddr: Uint32Array, vaOff: number): boolean {
    const x = this.ext[h]! * 12;
    const w = this.v6;
    return (
      w[x] === caddr[caOff + 1] &&
      w[x + 1] === caddr[caOff + 2] &&
      w[x + 2] === caddr[caOff + 3] &&
      w[x + 3] === vaddr[vaOff + 1] &&
      w[x + 4] === vaddr[vaOff + 2] &&
      w[x + 5] === vaddr[vaOff + 3]
    );
  }

  private v6Out(h: number, daddr: Uint32Array, daOff: number, laddr: Uint32Array, laOff: number): boolean {
    const x = this.ext[h]! * 12;
    const w = this.v6;
    return (
      w[x + 6] === daddr[daOff + 1] &&
      w[x + 7] === daddr[daOff + 2] &&
      w[x + 8] === daddr[daOff + 3] &&
      w[x + 9] === laddr[laOff + 1] &&
      w[x + 10] === laddr[laOff + 2] &&
      w[x + 11] === laddr[laOff + 3]
    );
  }

  /** Client->server packet: the connection (never a template) or -1. */
  lookupIn(
    proto: number,
    af: number,
    caddr: Uint32Array,
    caOff: number,
    cport: number,
    vaddr: Uint32Array,
    vaOff: number,
    vport: number,
  ): number {
    return this.findIn(0, proto, af, caddr, caOff, cport, vaddr, vaOff, vport);
  }

  /** Persistence template by its key (see persistence.ts for building the key) or -1. */
  lookupTemplate(
    proto: number,
    af: number,
    caddr: Uint32Array,
    caOff: number,
    cport: number,
    vaddr: Uint32Array,
    vaOff: number,
    vport: number,
  ): number {
    return this.findIn(CONN_F_TEMPLATE, proto, af, caddr, caOff, cport, vaddr, vaOff, vport);
  }

  /** Server->client packet of a NAT/FullNAT conn: src = daddr:dport, dst = laddr:lport. */
  lookupOut(
    proto: number,
    daf: number,
    daddr: Uint32Array,
    daOff: number,
    dport: number,
    laddr: Uint32Array,
    laOff: number,
    lport: number,
  ): number {
    const hash = this.hashOut(proto, daf, daddr, daOff, dport, laddr, laOff, lport);
    const hmask = this.mask;
    const want = this.tagOut(hash);
    const next = this.nextOut;
    let link = this.outHead[hash & (this.outBuckets - 1)]!;
    while (link >= 0) {
      if ((link ^ want) <= hmask) {
        const h = link & hmask;
        if (
          ((this.d0[h]! ^ daddr[daOff]!) |
            (((this.lport[h]! << 16) | this.dport[h]!) ^ ((lport << 16) | dport)) |
            (this.l0[h]! ^ laddr[laOff]!) |
            (this.proto[h]! ^ proto) |
            (this.daf[h]! ^ daf)) ===
          0
        ) {
          if (daf !== AF6 || this.v6Out(h, daddr, daOff, laddr, laOff)) return h;
        }
      }
      link = next[link & hmask]!;
    }
    return -1;
  }

  // ---------------------------------------------------------------- address access

  /** Copy address `which` (ADDR_C/V/D/L) of h into out[off..off+3]. */
  readAddr(h: number, which: number, out: Uint32Array, off: number): void {
    const w0 = which === ADDR_C ? this.c0 : which === ADDR_V ? this.v0 : which === ADDR_D ? this.d0 : this.l0;
    out[off] = w0[h]!;
    const x = this.ext[h]!;
    if (x < 0) {
      out[off + 1] = 0;
      out[off + 2] = 0;
      out[off + 3] = 0;
    } else {
      const b = x * 12 + which * 3;
      out[off + 1] = this.v6[b]!;
      out[off + 2] = this.v6[b + 1]!;
      out[off + 3] = this.v6[b + 2]!;
    }
  }

  // ---------------------------------------------------------------- create / free

  /**
   * Create a connection or template; returns the handle, or -1 when maxConns (or the IPv6 pool) is
   * exhausted (caller counts Drop.ConnTableFull). No allocation.
   *
   * flags: the forwarding method (CONN_F_FWD_MASK) plus TEMPLATE / ONE_PACKET / SYNC / NO_CPORT as
   * needed. create adds, for non-templates, INACTIVE (kernel: every dest's conn_flags include it,
   * §4.2) and, unless the method sees replies (MASQ, FULLNAT), NOOUTPUT (§4.3).
   * State starts at 0 (NONE); timeoutMs is 3000 (NEW_CONN_TIMEOUT_MS) for a new conn, the
   * persistence timeout for a template. If destId >= 0 the dest is bound (DestLive.bind); if control
   * >= 0 (a live template) its nControl is incremented.
   * laddr/lport: FullNAT local address; for NAT pass caddr/cport; ignored for templates and DR/TUN
   * (pass caddr/cport).
   */
  create(
    af: number,
    daf: number,
    proto: number,
    flags: number,
    caddr: Uint32Array,
    caOff: number,
    cport: number,
    vaddr: Uint32Array,
    vaOff: number,
    vport: number,
    daddr: Uint32Array,
    daOff: number,
    dport: number,
    laddr: Uint32Array,
    laOff: number,
    lport: number,
    fwmark: number,
    svcId: number,
    destId: number,
    control: number,
    timeoutMs: number,
    nowMs: number,
  ): number {
    const hd = this.header;
    if (hd[H_COUNT]! >= this.maxConns) return -1;
    const h = hd[H_FREE]!;
    if (h < 0) return -1;
    let x = -1;
    if (af === AF6 || daf === AF6) {
      x = hd[H_V6FREE]!;
      if (x < 0) return -1;
      const b = x * 12;
      hd[H_V6FREE] = this.v6[b]! - 1;
      hd[H_V6COUNT] = hd[H_V6COUNT]! + 1;
      const w = this.v6;
      w[b] = af === AF6 ? caddr[caOff + 1]! : 0;
      w[b + 1] = af === AF6 ? caddr[caOff + 2]! : 0;
      w[b + 2] = af === AF6 ? caddr[caOff + 3]! : 0;
      w[b + 3] = af === AF6 ? vaddr[vaOff + 1]! : 0;
      w[b + 4] = af === AF6 ? vaddr[vaOff + 2]! : 0;
      w[b + 5] = af === AF6 ? vaddr[vaOff + 3]! : 0;
      w[b + 6] = daf === AF6 ? daddr[daOff + 1]! : 0;
      w[b + 7] = daf === AF6 ? daddr[daOff + 2]! : 0;
      w[b + 8] = daf === AF6 ? daddr[daOff + 3]! : 0;
      w[b + 9] = daf === AF6 ? laddr[laOff + 1]! : 0;
      w[b + 10] = daf === AF6 ? laddr[laOff + 2]! : 0;
      w[b + 11] = daf === AF6 ? laddr[laOff + 3]! : 0;
    }
    hd[H_FREE] = this.nextIn[h]!;
    const template = (flags & CONN_F_TEMPLATE) !== 0;
    if (!template) {
      flags |= CONN_F_INACTIVE;
      if (!fwdSeesReplies(flags)) flags |= CONN_F_NOOUTPUT;
    }
    flags &= ~CONN_F_HASHED;
    this.ext[h] = x;
    this.af[h] = af;
    this.daf[h] = daf;
    this.proto[h] = proto;
    this.state[h] = 0;
    this.c0[h] = caddr[caOff]!;
    this.v0[h] = vaddr[vaOff]!;
    this.d0[h] = daddr[daOff]!;
    this.l0[h] = laddr[laOff]!;
    this.cport[h] = cport;
    this.vport[h] = vport;
    this.dport[h] = dport;
    this.lport[h] = lport;
    this.fwmark[h] = fwmark;
    this.svcId[h] = svcId;
    this.destId[h] = destId;
    this.control[h] = -1;
    this.nControl[h] = 0;
    this.neigh[h] = -1;
    this.inPkts[h] = 0;
    this.timeout[h] = timeoutMs;
    this.expiry[h] = nowMs + timeoutMs;
    this.nextIn[h] = -1;
    this.nextOut[h] = -1;
    if ((flags & CONN_F_ONE_PACKET) === 0) {
      flags |= CONN_F_HASHED;
      const hi = this.hashIn(proto, af, caddr, caOff, cport, vaddr, vaOff, vport);
      const bi = hi & (this.inBuckets - 1);
      this.nextIn[h] = this.inHead[bi]!;
      this.inHead[bi] = this.tagIn(hi, template ? 1 : 0) | h;
      if (!template && fwdSeesReplies(flags)) {
        const ho = this.hashOut(proto, daf, daddr, daOff, dport, laddr, laOff, lport);
        const bo = ho & (this.outBuckets - 1);
        this.nextOut[h] = this.outHead[bo]!;
        this.outHead[bo] = this.tagOut(ho) | h;
      }
    }
    this.flags[h] = flags;
    if (control >= 0 && this.inUse(control)) {
      this.control[h] = control;
      this.nControl[control] = this.nControl[control]! + 1;
    }
    if (destId >= 0 && this.live !== null) this.live.bind(destId, template, (flags & CONN_F_INACTIVE) !== 0);
    hd[H_COUNT] = hd[H_COUNT]! + 1;
    if (template) hd[H_TEMPLATES] = hd[H_TEMPLATES]! + 1;
    this.wheel.link(h);
    return h;
  }

  /**
   * Remove h from both indexes (clears HASHED). Used by free and to invalidate a template: it stays
   * alive (still controls its conns, still expires) but new lookups miss it.
   */
  unhash(h: number): void {
    const f = this.flags[h]!;
    if ((f & CONN_F_HASHED) === 0) return;
    this.readAddr(h, ADDR_C, this.sa, 0);
    this.readAddr(h, ADDR_V, this.sb, 0);
    const bi =
      this.hashIn(this.proto[h]!, this.af[h]!, this.sa, 0, this.cport[h]!, this.sb, 0, this.vport[h]!) &
      (this.inBuckets - 1);
    unlinkChain(this.inHead, this.nextIn, bi, h, this.mask);
    if ((f & CONN_F_TEMPLATE) === 0 && fwdSeesReplies(f)) {
      this.readAddr(h, ADDR_D, this.sa, 0);
      this.readAddr(h, ADDR_L, this.sb, 0);
      const bo =
        this.hashOut(this.proto[h]!, this.daf[h]!, this.sa, 0, this.dport[h]!, this.sb, 0, this.lport[h]!) &
        (this.outBuckets - 1);
      unlinkChain(this.outHead, this.nextOut, bo, h, this.mask);
    }
    this.nextIn[h] = -1;
    this.nextOut[h] = -1;
    this.flags[h] = f & ~CONN_F_HASHED;
  }

  /**
   * Free h: unhash, leave the wheel, unbind the dest, drop the controlling template's nControl,
   * bump gen. A template freed while it still controls conns (flush) detaches them first: O(capacity),
   * control plane only. Returns false if h was not in use.
   */
  free(h: number): boolean {
    if (!this.inUse(h)) return false;
    const f = this.flags[h]!;
    const template = (f & CONN_F_TEMPLATE) !== 0;
    this.unhash(h);
    this.wheel.unlink(h);
    const d = this.destId[h]!;
    if (d >= 0 && this.live !== null) this.live.unbind(d, template, (f & CONN_F_INACTIVE) !== 0);
    const c = this.control[h]!;
    if (c >= 0) this.nControl[c] = this.nControl[c]! - 1;
    if (this.nControl[h]! > 0) {
      for (let i = 0; i < this.capacity; i++)
        if (this.af[i] !== 0 && this.control[i] === h) this.control[i] = -1;
    }
    const x = this.ext[h]!;
    const hd = this.header;
    if (x >= 0) {
      const cur = hd[H_V6FREE]!;
      this.v6[x * 12] = cur < 0 ? 0 : cur + 1;
      hd[H_V6FREE] = x;
      hd[H_V6COUNT] = hd[H_V6COUNT]! - 1;
      this.ext[h] = -1;
    }
    this.af[h] = 0;
    this.flags[h] = 0;
    this.control[h] = -1;
    this.nControl[h] = 0;
    this.destId[h] = -1;
    this.gen[h] = (this.gen[h]! + 1) >>> 0;
    this.nextIn[h] = hd[H_FREE]!;
    hd[H_FREE] = h;
    hd[H_COUNT] = hd[H_COUNT]! - 1;
    if (template) hd[H_TEMPLATES] = hd[H_TEMPLATES]! - 1;
    return true;
  }

  // ---------------------------------------------------------------- timers

  /**
   * Set the absolute expiry. Extending is one store (lazy: the wheel re-files when the slot comes
   * round); shortening re-files now so expiry is never late by more than a tick.
   */
  setExpiry(h: number, expiryMs: number): void {
    const old = this.expiry[h]!;
    this.expiry[h] = expiryMs;
    if (expiryMs < old) {
      this.wheel.unlink(h);
      this.wheel.link(h);
    }
  }

  /** Re-arm to the current timeout (every packet, ipvs-reference §4.1). */
  touch(h: number, nowMs: number): void {
    this.setExpiry(h, nowMs + this.timeout[h]!);
  }

  /** expire_nodest_conn / conn reuse: expire at the next advance (onExpire then sees it). */
  expireNow(h: number, nowMs: number): void {
    if (this.inUse(h)) this.setExpiry(h, nowMs);
  }

  /** Remaining ms before expiry (>= 0), for listings and sync. */
  remainingMs(h: number, nowMs: number): number {
    const r = this.expiry[h]! - nowMs;
    return r > 0 ? r : 0;
  }

  // ---------------------------------------------------------------- iteration (control plane)

  /** Call fn for every live handle, in handle order. fn must not create; it may free the handle it got. */
  forEach(fn: (h: number) => void): void {
    for (let h = 0; h < this.capacity; h++) if (this.af[h] !== 0) fn(h);
  }
}

/** Unlink h from a tagged chain: the link to h is replaced by h's own link (which tags h's successor). */
function unlinkChain(head: Int32Array, next: Int32Array, bucket: number, h: number, hmask: number): void {
  let p = head[bucket]!;
  if (p >= 0 && (p & hmask) === h) {
    head[bucket] = next[h]!;
    return;
  }
  while (p >= 0) {
    const pi = p & hmask;
    const n = next[pi]!;
    if (n >= 0 && (n & hmask) === h) {
      next[pi] = next[h]!;
      return;
    }
    p = n;
  }
}
