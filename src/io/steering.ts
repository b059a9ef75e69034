/**
 * The steering specification: which packets lvsd takes away from the kernel, derived from the
 * service table (issue 3 "Packet I/O", DESIGN.md "Steering"). One plain, serialisable value with
 * several backends: nftables netdev ingress drops (src/io/nft.ts: the kernel must not also answer
 * or forward what lvsd forwards) and the AF_PACKET socket filter (src/io/bpf.ts: only this traffic
 * is copied to userspace); an XDP program later.
 *
 * Categories (issue 3, items a-e):
 *  (a) service traffic: (af, VIP, proto, port) of every service whose VIP is currently one of the
 *      director's addresses (a backup director without the VIP steers nothing for it); port 0
 *      (persistent any-port service) matches VIP + proto only. Fwmark services: lvsd's own mark
 *      rules (address or prefix, proto, port range) whose mark has a service.
 *  (b) NAT return traffic: (af, RIP, proto, port) of every masquerading destination, except packets
 *      addressed to one of the director's own addresses (health checks, ssh from the director).
 *  (c) FullNAT return traffic: (af, local pool address, proto, port range); the range is reserved
 *      in ip_local_reserved_ports so the kernel never picks such a port for its own sockets.
 *  (d) ICMP errors (dest-unreach, time-exceeded, param-problem; v6 also packet-too-big) from
 *      NAT/FullNAT real servers (to non-own addresses) and to VIPs and local pool addresses.
 *  (e) every IPv4/IPv6 fragment addressed to a VIP (only the first carries ports).
 *
 * Invariants: every list is sorted and free of duplicates (element keys compare as strings), so two
 * specs from the same inputs are deep-equal and a diff is a set difference. Addresses are canonical
 * text (formatAddress), which is what nft prints back.
 */
import { LvsError, ERRNO } from '../errors.js';
import { formatAddress, parseAddress, prefixMaskWord } from '../packet/addr.js';
import type { FwmarkRule } from '../core/fwmark.js';
import type { ServiceSnapshot } from '../core/snapshot.js';
import {
  AF_INET,
  AF_INET6,
  FWD_FULLNAT,
  FWD_MASQ,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ServiceTable,
} from '../core/services.js';

export type SteerAf = 4 | 6;

/** (af, address, proto, port range): (a), (c), and NAT return (b) with the source port. */
export interface PortTuple {
  readonly af: SteerAf;
  /** canonical address text */
  readonly addr: string;
  readonly proto: number;
  /** inclusive; 0..65535 means any port */
  readonly portLo: number;
  readonly portHi: number;
}

/** A prefix match: fwmark rules (a) select traffic by destination network. */
export interface PrefixTuple extends PortTuple {
  /** prefix length of addr (32 / 128 = one address) */
  readonly prefixLen: number;
}

export interface AddrEntry {
  readonly af: SteerAf;
  readonly addr: string;
}

export interface SteeringSpec {
  readonly version: 1;
  /** devices whose ingress carries the drops (sorted) */
  readonly interfaces: readonly string[];
  /** (a) destination VIP . proto . port (exact port; any-port services have 0..65535) */
  readonly services: readonly PortTuple[];
  /** (a) fwmark services: destination prefix . proto . port range of lvsd's mark rules */
  readonly fwmark: readonly PrefixTuple[];
  /** (b) source RIP . proto . port (0..65535 for port-0 dests) */
  readonly natReturn: readonly PortTuple[];
  /** (c) destination local pool address . proto . FullNAT port range */
  readonly fullnatReturn: readonly PortTuple[];
  /** the director's own addresses: (b) and (d)-from-real-server exceptions */
  readonly own: readonly AddrEntry[];
  /** (d) ICMP errors from these (NAT/FullNAT real servers), unless addressed to an own address */
  readonly icmpFrom: readonly AddrEntry[];
  /** (d) ICMP errors to these (local VIPs and FullNAT pool addresses) */
  readonly icmpTo: readonly AddrEntry[];
  /** (e) fragments to these (local VIPs) */
  readonly fragTo: readonly AddrEntry[];
  /** value for /proc/sys/net/ipv4/ip_local_reserved_ports ('' = none): the FullNAT range */
  readonly reservedPorts: string;
}

/** An `lvsd fwmark` rule (src/core/fwmark.ts). */
export type { FwmarkRule };

export interface LocalAddresses {
  /** IPv4 addresses as text or u32 */
  readonly addrs4?: readonly (string | number)[];
  /** IPv6 addresses as text or 4 big-endian u32 words */
  readonly addrs6?: readonly (string | ArrayLike<number>)[];
}

export interface SteeringInput {
  /** the director's own addresses now (VIPs configured on it included) */
  readonly local: LocalAddresses;
  /** devices to attach to */
  readonly interfaces: readonly string[];
  readonly fwmarkRules?: readonly FwmarkRule[];
  /** FullNAT local port range (the engine's fullnatPortLo/Hi); default 1024..65535 */
  readonly fullnatPorts?: { readonly lo: number; readonly hi: number };
}

const STEERED_PROTOS: readonly number[] = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP];

function bad(msg: string): LvsError {
  return new LvsError('ERR_LVS_INVALID_ARGUMENT', msg, ERRNO.EINVAL);
}

function addrText(af: number, words: ArrayLike<number>, off = 0): string {
  const w = new Uint32Array(4);
  for (let i = 0; i < (af === AF_INET ? 1 : 4); i++) w[i] = words[off + i]!;
  return formatAddress(af, w);
}

function canonical(af: SteerAf, a: string | number | ArrayLike<number>): string {
  if (typeof a === 'number') {
    if (af !== 4 || !Number.isInteger(a) || a < 0 || a > 0xffffffff) throw bad(`bad IPv4 address ${a}`);
    return addrText(AF_INET, [a]);
  }
  if (typeof a === 'string') {
    const p = parseAddress(a);
    if (!p || p.af !== af) throw bad(`bad IPv${af} address ${a}`);
    return formatAddress(af, p.words);
  }
  if (af !== 6 || a.length < 4) throw bad('an IPv6 address needs 4 words');
  return addrText(AF_INET6, a);
}

export function tupleKey(t: PortTuple | PrefixTuple): string {
  const pl = 'prefixLen' in t ? `/${t.prefixLen}` : '';
  return `${t.af}|${t.addr}${pl}|${t.proto}|${t.portLo}-${t.portHi}`;
}

export function addrKey(a: AddrEntry): string {
  return `${a.af}|${a.addr}`;
}

function uniqSorted<T>(items: Iterable<T>, key: (t: T) => string): T[] {
  const m = new Map<string, T>();
  for (const t of items) m.set(key(t), t);
  return [...m.keys()].sort().map((k) => m.get(k)!);
}

function checkRange(lo: number, hi: number, what: string): void {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi)
    throw bad(`bad ${what} port range ${lo}-${hi}`);
}

function isAnyPort(t: PortTuple): boolean {
  return t.portLo === 0 && t.portHi === 65535;
}

/**
 * An any-port tuple subsumes exact ports of the same (af, addr, proto): dropping those keeps every
 * backend's sets free of overlapping elements (nft interval sets reject overlaps).
 */
function dropSubsumed(list: readonly PortTuple[]): PortTuple[] {
  const key = (t: PortTuple): string => `${t.af}|${t.addr}|${t.proto}`;
  const any = new Set(list.filter(isAnyPort).map(key));
  return list.filter((t) => isAnyPort(t) || !any.has(key(t)));
}

/**
 * Derive the steering spec from the service table (or one of its snapshots) and the director's
 * current addresses. Pure; throws LvsError(ERR_LVS_INVALID_ARGUMENT) on malformed input.
 */
export function deriveSteering(source: ServiceSnapshot | ServiceTable, input: SteeringInput): SteeringSpec {
  const snap = source instanceof ServiceTable ? source.snapshot() : source;
  const fn = input.fullnatPorts ?? { lo: 1024, hi: 65535 };
  checkRange(fn.lo, fn.hi, 'FullNAT');
  if (fn.lo === 0) throw bad('FullNAT port range must start at 1 or above');

  const own: AddrEntry[] = [];
  for (const a of input.local.addrs4 ?? []) own.push({ af: 4, addr: canonical(4, a) });
  for (const a of input.local.addrs6 ?? []) own.push({ af: 6, addr: canonical(6, a) });
  const ownKeys = new Set(own.map(addrKey));

  const services: PortTuple[] = [];
  const fwmark: PrefixTuple[] = [];
  const natReturn: PortTuple[] = [];
  const fullnatReturn: PortTuple[] = [];
  const icmpFrom: AddrEntry[] = [];
  const icmpTo: AddrEntry[] = [];
  const fragTo: AddrEntry[] = [];
  const marks = new Set<number>();

  for (const s of snap.services) {
    const af = s.af as SteerAf;
    if (s.fwmark !== 0) marks.add(s.fwmark >>> 0);
    else {
      const vip = addrText(s.af, s.addr);
      // (a): only VIPs the director holds now (VRRP backup, or VIP not yet configured: nothing).
      if (ownKeys.has(addrKey({ af, addr: vip }))) {
        const any = s.port === 0;
        services.push({
          af,
          addr: vip,
          proto: s.proto,
          portLo: any ? 0 : s.port,
          portHi: any ? 65535 : s.port,
        });
        icmpTo.push({ af, addr: vip });
        fragTo.push({ af, addr: vip });
      }
    }
    // A fwmark service's traffic may be any of the steered protocols (the mark rules decide).
    const protos = s.fwmark !== 0 ? STEERED_PROTOS : [s.proto];
    const d = s.dests;
    let hasFullnat = false;
    for (let i = 0; i < d.count; i++) {
      const id = d.id[i]!;
      const fwd = snap.destFwd[id]!;
      if (fwd !== FWD_MASQ && fwd !== FWD_FULLNAT) continue;
      const daf = d.af[i]! as SteerAf;
      const rip = addrText(daf, d.addr, i * 4);
      icmpFrom.push({ af: daf, addr: rip });
      if (fwd === FWD_FULLNAT) {
        hasFullnat = true;
        continue;
      }
      const port = d.port[i]!;
      // (b): port 0 (persistent any-port or fwmark service without a port) = any source port.
      for (const proto of protos)
        natReturn.push({ af: daf, addr: rip, proto, portLo: port, portHi: port === 0 ? 65535 : port });
    }
    if (hasFullnat) {
      for (let j = 0; j < s.localCount; j++) {
        const laf = s.localAf[j]! as SteerAf;
        const laddr = addrText(laf, s.localAddr, j * 4);
        icmpTo.push({ af: laf, addr: laddr });
        for (const proto of protos)
          fullnatReturn.push({ af: laf, addr: laddr, proto, portLo: fn.lo, portHi: fn.hi });
      }
    }
  }

  for (const r of input.fwmarkRules ?? []) {
    if (!marks.has(r.mark >>> 0)) continue; // a mark without a service steers nothing
    if (r.af !== AF_INET && r.af !== AF_INET6) throw bad(`fwmark rule: bad family ${r.af}`);
    const af = r.af as SteerAf;
    if (!STEERED_PROTOS.includes(r.proto)) throw bad(`fwmark rule: protocol ${r.proto} not steerable`);
    const [a, pl] = r.addr.split('/');
    const max = af === 4 ? 32 : 128;
    const prefixLen = pl === undefined ? max : Number(pl);
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max)
      throw bad(`fwmark rule: bad prefix ${r.addr}`);
    const p = parseAddress(a!);
    if (!p || p.af !== af) throw bad(`fwmark rule: bad address ${r.addr}`);
    // Network address: host bits cleared (nft rejects a prefix element with host bits set).
    for (let i = 0; i < 4; i++) p.words[i] = (p.words[i]! & prefixMaskWord(prefixLen, i)) >>> 0;
    const portLo = r.portLo ?? 0;
    const portHi = r.portHi ?? (r.portLo === undefined ? 65535 : portLo);
    checkRange(portLo, portHi, 'fwmark rule');
    fwmark.push({ af, addr: formatAddress(af, p.words), prefixLen, proto: r.proto, portLo, portHi });
  }

  const svc = dropSubsumed(services);
  const nat = dropSubsumed(natReturn);

  const interfaces = [...new Set(input.interfaces)].sort();
  for (const i of interfaces)
    if (!/^[^\s/"'\\]{1,15}$/.test(i) || i === '.' || i === '..')
      throw bad(`bad interface name ${JSON.stringify(i)}`);

  return {
    version: 1,
    interfaces,
    services: uniqSorted(svc, tupleKey),
    fwmark: uniqSorted(fwmark, tupleKey),
    natReturn: uniqSorted(nat, tupleKey),
    fullnatReturn: uniqSorted(fullnatReturn, tupleKey),
    own: uniqSorted(own, addrKey),
    icmpFrom: uniqSorted(icmpFrom, addrKey),
    icmpTo: uniqSorted(icmpTo, addrKey),
    fragTo: uniqSorted(fragTo, addrKey),
    reservedPorts: fullnatReturn.length > 0 ? (fn.lo === fn.hi ? `${fn.lo}` : `${fn.lo}-${fn.hi}`) : '',
  };
}

/** An empty spec (nothing steered, no devices): the state before the first apply. */
export function emptySteering(): SteeringSpec {
  return {
    version: 1,
    interfaces: [],
    services: [],
    fwmark: [],
    natReturn: [],
    fullnatReturn: [],
    own: [],
    icmpFrom: [],
    icmpTo: [],
    fragTo: [],
    reservedPorts: '',
  };
}
