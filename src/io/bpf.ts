/**
 * Classic-BPF socket filter compiled from the steering spec (src/io/steering.ts): lvsd's AF_PACKET
 * sockets copy up only what lvsd steers, plus ARP (lvsd learns neighbours from replies) and ICMPv6
 * neighbour advertisements; everything else stays with the kernel and costs lvsd nothing.
 *
 * Program format (linux/filter.h): an array of struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; },
 * 8 bytes each in host byte order (little-endian here), at most BPF_MAXINSNS (4096) instructions,
 * only forward jumps; conditional offsets are 8-bit (the assembler below turns a longer one into a
 * `ja`, whose offset is 32-bit). Packet loads are big-endian and read the frame from its Ethernet
 * header; on AF_PACKET the kernel has already moved a VLAN tag into the packet's metadata (auxdata),
 * so the ethertype is at 12 and the network header at 14. An out-of-range load ends the program
 * with 0 (reject). The return value is the number of bytes to keep: 0x40000 keeps a whole frame
 * (GSO super-frames are up to 64 KiB), 0 drops it for this socket only (the kernel still has it).
 *
 * IPv6 with extension headers or fragments: cBPF cannot walk the header chain in a bounded program
 * cheaply, so such packets are accepted when their destination is a VIP / pool address or their
 * source a NAT real server (the engine re-checks everything it receives), rejected otherwise.
 *
 * When the exact program exceeds the instruction limit the compiler falls back to a coarser one
 * (by addresses only, then all IP) and says so in `level`; the nft drops stay exact either way.
 */
import { parseAddress } from '../packet/addr.js';
import type { AddrEntry, PortTuple, PrefixTuple, SteeringSpec } from './steering.js';

export const BPF_MAXINSNS = 4096;
/** Keep the whole frame: larger than any GSO super-frame (64 KiB) plus headers. */
export const BPF_ACCEPT = 0x40000;

// linux/bpf_common.h, linux/filter.h
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MSH = 0xa0;
export const BPF_AND = 0x50;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;

const LD_W_ABS = BPF_LD | BPF_W | BPF_ABS;
const LD_H_ABS = BPF_LD | BPF_H | BPF_ABS;
const LD_B_ABS = BPF_LD | BPF_B | BPF_ABS;
const LD_H_IND = BPF_LD | BPF_H | BPF_IND;
const LD_B_IND = BPF_LD | BPF_B | BPF_IND;
const LDX_MSH = BPF_LDX | BPF_B | BPF_MSH;
const LDX_IMM = BPF_LDX | BPF_W | BPF_IMM;
const AND_K = BPF_ALU | BPF_AND | BPF_K;
const JA = BPF_JMP | BPF_JA;
const JEQ = BPF_JMP | BPF_JEQ | BPF_K;
const JGT = BPF_JMP | BPF_JGT | BPF_K;
const JGE = BPF_JMP | BPF_JGE | BPF_K;
const JSET = BPF_JMP | BPF_JSET | BPF_K;
const RET_K = BPF_RET | BPF_K;

const ETH_HLEN = 14;
const IP4_FRAG = ETH_HLEN + 6;
const IP4_PROTO = ETH_HLEN + 9;
const IP4_SADDR = ETH_HLEN + 12;
const IP4_DADDR = ETH_HLEN + 16;
const IP6_NEXT = ETH_HLEN + 6;
const IP6_SADDR = ETH_HLEN + 8;
const IP6_DADDR = ETH_HLEN + 24;
const IP6_HLEN = 40;
/** With X = IP header length: L4 fields at [x + ETH_HLEN + n] */
const L4_SPORT = ETH_HLEN;
const L4_DPORT = ETH_HLEN + 2;
const L4_TYPE = ETH_HLEN;
const L4_TCP_FLAGS = ETH_HLEN + 13;
/** TCP FIN | SYN | RST (RFC 793 header flags) */
const TCP_FIN_SYN_RST = 0x07;

// ---------------------------------------------------------------- assembler

/** A jump target: a label, or null for the next instruction. */
type Target = string | null;

interface Ins {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
}

const REJECT = 'reject';
const ACCEPT = 'accept';

/** Emits instructions with symbolic forward targets; assemble() resolves them. */
export class BpfAssembler {
  private readonly ins: Ins[] = [];
  private readonly labels = new Map<string, number>();
  private n = 0;

  fresh(prefix: string): string {
    return `${prefix}.${this.n++}`;
  }

  label(name: string): void {
    if (this.labels.has(name)) throw new Error(`duplicate label ${name}`);
    this.labels.set(name, this.ins.length);
  }

  emit(code: number, k: number, jt: Target = null, jf: Target = null): void {
    this.ins.push({ code, k: k >>> 0, jt, jf });
  }

  get length(): number {
    return this.ins.length;
  }

  /**
   * Lay out with far-jump expansion: a conditional jump whose target is more than 255 instructions
   * away becomes `jcond 0,1; ja T; ja F`. Expansion only grows the program, so iterating to a fixed
   * point terminates. Returns the instructions as sock_filter bytes (little-endian host order).
   */
  assemble(): Uint8Array {
    const N = this.ins.length;
    const expanded = new Uint8Array(N);
    const pos = new Int32Array(N + 1);
    const target = (i: number, t: Target): number => {
      if (t === null) return i + 1;
      const j = this.labels.get(t);
      if (j === undefined) throw new Error(`undefined label ${t}`);
      if (j <= i) throw new Error(`backward jump to ${t}`);
      return j;
    };
    for (;;) {
      let p = 0;
      for (let i = 0; i < N; i++) {
        pos[i] = p;
        p += expanded[i] ? 3 : 1;
      }
      pos[N] = p;
      let grew = false;
      for (let i = 0; i < N; i++) {
        const x = this.ins[i]!;
        if (!isCond(x.code) || expanded[i]) continue;
        const far =
          pos[target(i, x.jt)]! - (pos[i]! + 1) > 255 || pos[target(i, x.jf)]! - (pos[i]! + 1) > 255;
        if (far) {
          expanded[i] = 1;
          grew = true;
        }
      }
      if (!grew) break;
    }
    const total = pos[N]!;
    const out = new Uint8Array(total * 8);
    const dv = new DataView(out.buffer);
    let o = 0;
    const put = (code: number, jt: number, jf: number, k: number): void => {
      dv.setUint16(o, code, true);
      dv.setUint8(o + 2, jt);
      dv.setUint8(o + 3, jf);
      dv.setUint32(o + 4, k >>> 0, true);
      o += 8;
    };
    for (let i = 0; i < N; i++) {
      const x = this.ins[i]!;
      const here = pos[i]!;
      if (x.code === JA) {
        put(JA, 0, 0, pos[target(i, x.jt)]! - (here + 1));
      } else if (!isCond(x.code)) {
        put(x.code, 0, 0, x.k);
      } else if (!expanded[i]) {
        put(x.code, pos[target(i, x.jt)]! - (here + 1), pos[target(i, x.jf)]! - (here + 1), x.k);
      } else {
        put(x.code, 0, 1, x.k);
        put(JA, 0, 0, pos[target(i, x.jt)]! - (here + 2));
        put(JA, 0, 0, pos[target(i, x.jf)]! - (here + 3));
      }
    }
    return out;
  }
}

function isCond(code: number): boolean {
  return (code & 0x07) === BPF_JMP && (code & 0xf0) !== BPF_JA;
}

// ---------------------------------------------------------------- spec -> program

export type FilterLevel = 'exact' | 'addresses' | 'all-ip';

export interface SocketFilterOptions {
  /** accept return value (bytes kept), default BPF_ACCEPT */
  readonly accept?: number;
  /** instruction limit, default BPF_MAXINSNS */
  readonly maxInsns?: number;
  /**
   * TCP flows the kernel forwards itself (offloaded DR flows, core/offload.ts): their frames without
   * SYN/FIN/RST are rejected, so lvsd does not copy them up. Exact program only (the coarse ones
   * accept them: the engine then drops the copies it still gets).
   */
  readonly exclude?: readonly ExcludedFlow[];
}

/** A TCP flow from client caddr:cport to vaddr:vport. */
export interface ExcludedFlow {
  readonly af: 4 | 6;
  readonly caddr: string;
  readonly cport: number;
  readonly vaddr: string;
  readonly vport: number;
}

export interface SocketFilter {
  /** struct sock_filter[] bytes, for SO_ATTACH_FILTER */
  readonly program: Uint8Array;
  /** number of instructions (program.length / 8) */
  readonly count: number;
  /** 'exact' = the spec; else a coarser fallback because the exact program was too big */
  readonly level: FilterLevel;
}

function words(af: 4 | 6, text: string): Uint32Array {
  const p = parseAddress(text);
  if (!p || p.af !== af) throw new Error(`bad address ${text}`);
  return p.words;
}

interface Fam {
  af: 4 | 6;
  saddr: number;
  daddr: number;
  proto: number;
}

const F4: Fam = { af: 4, saddr: IP4_SADDR, daddr: IP4_DADDR, proto: IP4_PROTO };
const F6: Fam = { af: 6, saddr: IP6_SADDR, daddr: IP6_DADDR, proto: IP6_NEXT };

/** Compare the address at `off` with `addr`: to `match`, else to `fail` (IPv6: four words). */
function cmpAddr(a: BpfAssembler, f: Fam, off: number, addr: string, match: Target, fail: Target): void {
  const w = words(f.af, addr);
  const n = f.af === 4 ? 1 : 4;
  for (let i = 0; i < n; i++) {
    a.emit(LD_W_ABS, off + 4 * i);
    a.emit(JEQ, w[i]!, i === n - 1 ? match : null, fail);
  }
}

/** Address in one of `list`: to `match`; falls through when none matches. */
function anyAddr(a: BpfAssembler, f: Fam, off: number, list: readonly string[], match: Target): void {
  if (f.af === 4) {
    if (list.length > 0) a.emit(LD_W_ABS, off);
    for (const x of list) a.emit(JEQ, words(4, x)[0]!, match, null);
    return;
  }
  for (const x of list) {
    const next = a.fresh('next');
    cmpAddr(a, f, off, x, match, next);
    a.label(next);
  }
}

/** Destination in prefix `t`: to `match`, else to `fail`. */
function inPrefix(a: BpfAssembler, f: Fam, t: PrefixTuple, match: Target, fail: Target): void {
  const w = words(f.af, t.addr);
  const n = f.af === 4 ? 1 : 4;
  let last = -1;
  for (let i = 0; i < n; i++) if (Math.min(32, t.prefixLen - 32 * i) > 0) last = i;
  if (last < 0) {
    a.emit(JA, 0, match);
    return;
  }
  for (let i = 0; i <= last; i++) {
    const bits = Math.min(32, t.prefixLen - 32 * i);
    a.emit(LD_W_ABS, f.daddr + 4 * i);
    if (bits < 32) a.emit(AND_K, (0xffffffff << (32 - bits)) >>> 0);
    a.emit(JEQ, w[i]! >>> 0, i === last ? match : null, fail);
  }
}

/** Port (already in A) in [lo, hi]: to `match`; falls through otherwise. */
function portIn(a: BpfAssembler, lo: number, hi: number, match: Target): void {
  if (lo === hi) {
    a.emit(JEQ, lo, match, null);
    return;
  }
  const next = a.fresh('port');
  a.emit(JGE, lo, null, next);
  a.emit(JGT, hi, next, match);
  a.label(next);
}

/**
 * Tuples grouped by address then protocol: address compare once, protocol once, then the ports.
 * A packet's address matches at most one group, so a group that fails goes straight to `fail`.
 */
function tupleGroups(
  a: BpfAssembler,
  f: Fam,
  addrOff: number,
  portOff: number,
  tuples: readonly PortTuple[],
  match: Target,
  fail: string,
): void {
  const byAddr = new Map<string, Map<number, PortTuple[]>>();
  for (const t of tuples) {
    if (t.af !== f.af) continue;
    let m = byAddr.get(t.addr);
    if (!m) byAddr.set(t.addr, (m = new Map()));
    let l = m.get(t.proto);
    if (!l) m.set(t.proto, (l = []));
    l.push(t);
  }
  for (const [addr, protos] of byAddr) {
    const next = a.fresh('grp');
    const hit = a.fresh('addr');
    cmpAddr(a, f, addrOff, addr, hit, next);
    a.label(hit);
    a.emit(LD_B_ABS, f.proto);
    const labels: [string, PortTuple[]][] = [];
    for (const [p, l] of protos) {
      const lp = a.fresh('proto');
      labels.push([lp, l]);
      a.emit(JEQ, p, lp, null);
    }
    a.emit(JA, 0, fail);
    for (const [lp, l] of labels) {
      a.label(lp);
      if (l.some((t) => t.portLo === 0 && t.portHi === 65535)) {
        a.emit(JA, 0, match);
        continue;
      }
      a.emit(LD_H_IND, portOff);
      for (const t of l) portIn(a, t.portLo, t.portHi, match);
      a.emit(JA, 0, fail);
    }
    a.label(next);
  }
}

function list(af: 4 | 6, entries: readonly AddrEntry[]): string[] {
  return entries.filter((e) => e.af === af).map((e) => e.addr);
}

/** Every destination lvsd steers, and every source (for the coarse filters and the v6 ext path). */
function steeredDsts(spec: SteeringSpec, af: 4 | 6): string[] {
  const s = new Set<string>();
  for (const t of spec.services) if (t.af === af) s.add(t.addr);
  for (const t of spec.fullnatReturn) if (t.af === af) s.add(t.addr);
  for (const x of list(af, spec.icmpTo)) s.add(x);
  for (const x of list(af, spec.fragTo)) s.add(x);
  return [...s].sort();
}

function steeredSrcs(spec: SteeringSpec, af: 4 | 6): string[] {
  const s = new Set<string>();
  for (const t of spec.natReturn) if (t.af === af) s.add(t.addr);
  for (const x of list(af, spec.icmpFrom)) s.add(x);
  return [...s].sort();
}

/**
 * Offloaded flows (X = IP header length, A free): a TCP frame without SYN/FIN/RST whose client port,
 * service port and both addresses match one of `flows` is rejected; anything else goes on to `kept`.
 * Each flow costs two instructions for a frame that is not its own (the client port differs).
 */
function excludeFlows(a: BpfAssembler, f: Fam, flows: readonly ExcludedFlow[], kept: string): void {
  const mine = flows.filter((x) => x.af === f.af);
  if (mine.length === 0) return;
  a.emit(LD_B_ABS, f.proto);
  a.emit(JEQ, 6, null, kept);
  if (f.af === 4) {
    // fragments stay with lvsd (the nft rule does not take them either)
    a.emit(LD_H_ABS, IP4_FRAG);
    a.emit(JSET, 0x3fff, kept, null);
  }
  a.emit(LD_B_IND, L4_TCP_FLAGS);
  a.emit(JSET, TCP_FIN_SYN_RST, kept, null);
  for (const x of mine) {
    const next = a.fresh('flow');
    a.emit(LD_H_IND, L4_SPORT);
    a.emit(JEQ, x.cport, null, next);
    a.emit(LD_H_IND, L4_DPORT);
    a.emit(JEQ, x.vport, null, next);
    const saddrOk = a.fresh('saddr');
    cmpAddr(a, f, f.saddr, x.caddr, saddrOk, next);
    a.label(saddrOk);
    cmpAddr(a, f, f.daddr, x.vaddr, REJECT, next);
    a.label(next);
  }
}

function prologue(a: BpfAssembler, v4: string, v6: string): void {
  a.emit(LD_H_ABS, 12);
  a.emit(JEQ, 0x0806, ACCEPT, null); // ARP
  a.emit(JEQ, 0x0800, v4, null);
  a.emit(JEQ, 0x86dd, v6, REJECT);
}

function epilogue(a: BpfAssembler, accept: number): void {
  a.label(REJECT);
  a.emit(RET_K, 0);
  a.label(ACCEPT);
  a.emit(RET_K, accept);
}

/** The exact filter: the nft rules' categories, same order and exceptions. */
function exactProgram(spec: SteeringSpec, accept: number, exclude: readonly ExcludedFlow[]): BpfAssembler {
  const a = new BpfAssembler();
  prologue(a, 'v4', 'v6');
  for (const f of [F4, F6]) {
    const p = `v${f.af}`;
    const notOwn = `${p}.notown`;
    const icmpErr = `${p}.icmperr`;
    const dst = `${p}.dst`;
    const mark = `${p}.mark`;
    const src = `${p}.src`;
    a.label(p);
    if (f.af === 4) {
      a.emit(LDX_MSH, ETH_HLEN); // X = IPv4 header length
      // (e) fragments: to a VIP -> accept
      a.emit(LD_H_ABS, IP4_FRAG);
      a.emit(JSET, 0x3fff, null, `${p}.l4`);
      anyAddr(a, f, f.daddr, list(4, spec.fragTo), ACCEPT);
      // (f) non-first fragments from NAT real servers (replies' later fragments), not to us
      a.emit(LD_H_ABS, IP4_FRAG);
      a.emit(JSET, 0x1fff, `${p}.later`, `${p}.l4`);
      a.label(`${p}.later`);
      anyAddr(a, f, f.saddr, list(4, spec.icmpFrom), notOwn);
      a.emit(JA, 0, REJECT);
      a.label(`${p}.l4`);
      a.emit(LD_B_ABS, IP4_PROTO);
      a.emit(JEQ, 1, null, dst);
      a.emit(LD_B_IND, L4_TYPE);
      for (const t of [3, 11, 12]) a.emit(JEQ, t, icmpErr, null);
      a.emit(JA, 0, REJECT);
    } else {
      a.emit(LDX_IMM, IP6_HLEN);
      a.emit(LD_B_ABS, IP6_NEXT);
      a.emit(JEQ, 58, `${p}.icmp`, null);
      for (const pr of [6, 17, 132]) a.emit(JEQ, pr, dst, null);
      // extension headers (fragments included): unsure -> accept for steered addresses
      anyAddr(a, f, f.daddr, steeredDsts(spec, 6), ACCEPT);
      for (const t of spec.fwmark)
        if (t.af === 6) {
          const next = a.fresh('next');
          inPrefix(a, f, t, ACCEPT, next);
          a.label(next);
        }
      anyAddr(a, f, f.saddr, steeredSrcs(spec, 6), ACCEPT);
      a.emit(JA, 0, REJECT);
      a.label(`${p}.icmp`);
      a.emit(LD_B_ABS, ETH_HLEN + IP6_HLEN);
      a.emit(JEQ, 136, ACCEPT, null); // neighbour advertisement (RFC 4861 §4.4)
      for (const t of [1, 2, 3, 4]) a.emit(JEQ, t, icmpErr, null);
      a.emit(JA, 0, REJECT);
    }
    // (d) ICMP errors
    a.label(icmpErr);
    anyAddr(a, f, f.daddr, list(f.af, spec.icmpTo), ACCEPT);
    anyAddr(a, f, f.saddr, list(f.af, spec.icmpFrom), notOwn);
    a.emit(JA, 0, REJECT);
    // (a) services and (c) FullNAT return: by destination
    a.label(dst);
    excludeFlows(a, f, exclude, `${p}.kept`);
    a.label(`${p}.kept`);
    const dstTuples = [...spec.services, ...spec.fullnatReturn].filter((t) => t.af === f.af);
    tupleGroups(a, f, f.daddr, L4_DPORT, dstTuples, ACCEPT, mark);
    a.label(mark);
    for (const t of spec.fwmark) {
      if (t.af !== f.af) continue;
      const next = a.fresh('mark');
      const hit = a.fresh('net');
      inPrefix(a, f, t, hit, next);
      a.label(hit);
      a.emit(LD_B_ABS, f.proto);
      a.emit(JEQ, t.proto, null, next);
      a.emit(LD_H_IND, L4_DPORT);
      portIn(a, t.portLo, t.portHi, ACCEPT);
      a.label(next);
    }
    // (b) NAT return: by source, then not to an own address
    a.label(src);
    tupleGroups(a, f, f.saddr, L4_SPORT, spec.natReturn, notOwn, REJECT);
    a.emit(JA, 0, REJECT);
    a.label(notOwn);
    anyAddr(a, f, f.daddr, list(f.af, spec.own), REJECT);
    a.emit(JA, 0, ACCEPT);
  }
  epilogue(a, accept);
  return a;
}

/** Coarse: IP to any steered destination or from any steered source, ARP, neighbour adverts. */
function addressProgram(spec: SteeringSpec, accept: number): BpfAssembler {
  const a = new BpfAssembler();
  prologue(a, 'v4', 'v6');
  for (const f of [F4, F6]) {
    a.label(`v${f.af}`);
    if (f.af === 6) {
      const notNa = a.fresh('na');
      a.emit(LD_B_ABS, IP6_NEXT);
      a.emit(JEQ, 58, null, notNa);
      a.emit(LD_B_ABS, ETH_HLEN + IP6_HLEN);
      a.emit(JEQ, 136, ACCEPT, null);
      a.label(notNa);
    }
    anyAddr(a, f, f.daddr, steeredDsts(spec, f.af), ACCEPT);
    for (const t of spec.fwmark)
      if (t.af === f.af) {
        const next = a.fresh('next');
        inPrefix(a, f, t, ACCEPT, next);
        a.label(next);
      }
    anyAddr(a, f, f.saddr, steeredSrcs(spec, f.af), ACCEPT);
    a.emit(JA, 0, REJECT);
  }
  epilogue(a, accept);
  return a;
}

/** Coarsest: ARP and all IPv4/IPv6. */
function allIpProgram(accept: number): BpfAssembler {
  const a = new BpfAssembler();
  prologue(a, ACCEPT, ACCEPT);
  epilogue(a, accept);
  return a;
}

/**
 * Compile the socket filter for `spec`. Never throws for size: falls back to a coarser filter
 * (`level`) when the exact one exceeds the limit.
 */
export function compileSocketFilter(spec: SteeringSpec, opts: SocketFilterOptions = {}): SocketFilter {
  const accept = opts.accept ?? BPF_ACCEPT;
  const max = opts.maxInsns ?? BPF_MAXINSNS;
  const tries: [FilterLevel, () => BpfAssembler][] = [
    ['exact', () => exactProgram(spec, accept, opts.exclude ?? [])],
    ['addresses', () => addressProgram(spec, accept)],
    ['all-ip', () => allIpProgram(accept)],
  ];
  for (const [level, build] of tries) {
    const program = build().assemble();
    const count = program.length / 8;
    if (count <= max || level === 'all-ip') return { program, count, level };
  }
  throw new Error('unreachable');
}
