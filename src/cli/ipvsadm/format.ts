/**
 * ipvsadm 1.31 output, byte for byte (ipvs-reference §2): the version header, the title lines of
 * every listing shape, service and destination lines, print_largenum, the default sort, the save
 * (-S) rules, the connection list (-c), --timeout and --daemon.
 *
 * Pure: works on plain records (ListService / ListConn) that execute.ts builds from the Director.
 */
import { ntop, v4String } from './addr.js';
import {
  FMT_EXACT,
  FMT_NOSORT,
  FMT_NUMERIC,
  FMT_PERSISTENTCONN,
  FMT_RATE,
  FMT_RULE,
  FMT_STATS,
  FMT_THRESHOLDS,
  FMT_TUN_INFO,
  FWD_FULLNAT,
  FWD_MASQ,
  FWD_TUNNEL,
} from './parse.js';
import type { NameResolver } from './names.js';

/** IP_VS_VERSION_CODE 1.2.1 as ipvsadm prints it. */
export const IPVS_VERSION = '1.2.1';
/**
 * The `size=` of the header: the kernel's connection hash size, 2^conn_tab_bits with the default
 * 12 bits. lvsd prints the stock value so listings match IPVS transcripts; its own connection table
 * is sized by `lvsd` options and is not a limit either way (ipvs-reference §4.1).
 */
export const IPVS_CONN_TAB_SIZE = 4096;

export interface Counters {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}
export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface ListDest {
  af: number;
  addr: Uint32Array;
  port: number;
  /** FWD_* including LOCALNODE (1) */
  fwd: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  active: number;
  inactive: number;
  persist: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
  stats: Counters;
  rates: Rates;
}

export interface ListService {
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
  localAddrs: readonly { af: number; addr: Uint32Array }[];
  stats: Counters;
  rates: Rates;
  dests: ListDest[];
}

export interface ListConn {
  proto: number;
  af: number;
  daf: number;
  caddr: Uint32Array;
  cport: number;
  vaddr: Uint32Array;
  vport: number;
  daddr: Uint32Array;
  dport: number;
  state: string;
  /** whole seconds left, as /proc/net/ip_vs_conn prints them */
  expires: number;
  peName: string;
  peData: string;
}

export interface SyncDaemonStatus {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_SCHED1 = 0x8;
const SVC_F_SCHED2 = 0x10;
const SVC_F_SCHED3 = 0x20;
const SVC_F_SCHED_ANY = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/** printf %-Ns */
export function padR(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
/** printf %Ns */
export function padL(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/** Unsigned decimal of a counter (integers up to 2^53 in a double). */
function u(v: number): string {
  return Math.max(0, Math.floor(v)).toString();
}

/** print_largenum (ipvs-reference §2.4): decimal K/M/G/T in 9-character fields, or exact. */
export function largenum(v: number, format: number): string {
  const i = Math.max(0, Math.floor(v));
  if ((format & FMT_EXACT) !== 0) {
    const s = u(i);
    return padL(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000) return padL(u(i), 9);
  if (i < 1000000000) return padL(u(i / 1000), 8) + 'K';
  if (i < 100000000000) return padL(u(i / 1000000), 8) + 'M';
  if (i < 100000000000000) return padL(u(i / 1000000000), 8) + 'G';
  return padL(u(i / 1000000000000), 8) + 'T';
}

export function protoName(proto: number): string {
  switch (proto) {
    case 0:
      return 'IP';
    case 6:
      return 'TCP';
    case 17:
      return 'UDP';
    case 132:
      return 'SCTP';
    case 1:
      return 'ICMP';
    case 58:
      return 'ICMPv6';
    default:
      return `IP_${proto}`;
  }
}

function servProto(proto: number): string | null {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : null;
}

/**
 * addrport_to_anyname: `addr:port`, IPv6 in brackets; names unless FMT_NUMERIC. The original
 * formats into a 60-byte buffer, so at most 59 characters survive.
 */
export function addrPort(
  af: number,
  addr: Uint32Array,
  port: number,
  proto: number,
  format: number,
  names: NameResolver,
): string {
  const [l, r] = af === 4 ? ['', ''] : ['[', ']'];
  let s: string;
  if ((format & FMT_NUMERIC) !== 0) {
    s = `${l}${ntop(af, addr)}${r}:${port}`;
  } else {
    // ipvsadm's addr_to_host passes sizeof(struct in_addr) as the length for either family, so
    // the resolver refuses every IPv6 lookup and IPv6 addresses always print numerically.
    const host = (af === 4 ? names.hostName(af, addr) : undefined) ?? ntop(af, addr);
    const sp = servProto(proto);
    const pname = sp !== null ? names.portName(port, sp) : undefined;
    s = `${l}${host}${r}:${pname ?? String(port)}`;
  }
  return s.length > 59 ? s.slice(0, 59) : s;
}

/** int subtraction of two u32 values, as the original comparators do (§2.5). */
function isub(a: number, b: number): number {
  return ((a >>> 0) - (b >>> 0)) | 0;
}

/** ipvs_cmp_services (§2.5). */
export function cmpServices(a: ListService, b: ListService): number {
  let r = isub(a.fwmark, b.fwmark);
  if (r !== 0) return r;
  r = a.af - b.af;
  if (r !== 0) return r;
  r = a.proto - b.proto;
  if (r !== 0) return r;
  if (a.af === 6) {
    for (let i = 0; r === 0 && i < 4; i++) r = isub(a.addr[i]!, b.addr[i]!);
  } else r = isub(a.addr[0]!, b.addr[0]!);
  if (r !== 0) return r;
  return a.port - b.port;
}

/** ipvs_cmp_dests (§2.5): address (in the first one's family), then port. */
export function cmpDests(a: ListDest, b: ListDest): number {
  let r = 0;
  if (a.af === 6) {
    for (let i = 0; r === 0 && i < 4; i++) r = isub(a.addr[i]!, b.addr[i]!);
  } else r = isub(a.addr[0]!, b.addr[0]!);
  if (r !== 0) return r;
  return a.port - b.port;
}

export function versionHeader(size = IPVS_CONN_TAB_SIZE): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${size})\n`;
}

/** print_title (§2.1). */
export function title(format: number): string {
  const prot = 'Prot LocalAddress:Port';
  const rs = '  -> RemoteAddress:Port\n';
  if ((format & FMT_STATS) !== 0)
    return `${padR(prot, 33)} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((s) => padL(s, 8)).join(' ')}\n${rs}`;
  if ((format & FMT_RATE) !== 0)
    return `${padR(prot, 33)} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((s) => padL(s, 8)).join(' ')}\n${rs}`;
  if ((format & FMT_THRESHOLDS) !== 0)
    return `${padR(prot, 33)} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((s) => padR(s, 10)).join(' ')}\n${rs}`;
  if ((format & FMT_PERSISTENTCONN) !== 0)
    return `${padR(prot, 33)} ${padR('Weight', 9)} ${padR('PersistConn', 11)} ${padR('ActiveConn', 10)} ${padR('InActConn', 10)}\n${rs}`;
  if ((format & FMT_TUN_INFO) !== 0)
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  if ((format & FMT_RULE) === 0)
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
    );
  return '';
}

/** Scheduler flag names: sh-*, mh-* for those schedulers, flag-N otherwise (§2.2). */
export function schedFlagNames(sched: string, flags: number): string {
  const out: string[] = [];
  const pfx = sched === 'sh' || sched === 'mh' ? sched : '';
  if ((flags & SVC_F_SCHED1) !== 0) out.push(pfx ? `${pfx}-fallback` : 'flag-1');
  if ((flags & SVC_F_SCHED2) !== 0) out.push(pfx ? `${pfx}-port` : 'flag-2');
  if ((flags & SVC_F_SCHED3) !== 0) out.push('flag-3');
  return out.join(',');
}

/** fwd_name: the Forward column. FullNAT (lvsd, as DPVS) is `FullNat`. */
export function fwdName(fwd: number): string {
  switch (fwd & 7) {
    case FWD_MASQ:
      return 'Masq';
    case 1:
      return 'Local';
    case FWD_TUNNEL:
      return 'Tunnel';
    case 3:
      return 'Route';
    case FWD_FULLNAT:
      return 'FullNat';
    default:
      return '';
  }
}

/** fwd_switch: the save option. Local saves as -g (§2.7). */
function fwdSwitch(fwd: number): string {
  switch (fwd & 7) {
    case FWD_MASQ:
      return '-m';
    case FWD_TUNNEL:
      return '-i';
    case FWD_FULLNAT:
      return '--fullnat';
    default:
      return '-g';
  }
}

const TUN_NAMES = ['ipip', 'gue', 'gre'];
const CSUM_SHORT = ['-c', '+c', 'r+c'];
const CSUM_OPT = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];

function tunInfo(d: ListDest): string {
  if ((d.fwd & 7) !== FWD_TUNNEL) return 'n/a';
  if (d.tunType === 1) return `gue:${d.tunPort}:${CSUM_SHORT[d.tunFlags] ?? '-c'}`;
  if (d.tunType === 2) return `gre:${CSUM_SHORT[d.tunFlags] ?? '-c'}`;
  return 'ipip';
}

function maskText(s: ListService): string {
  if (s.af === 6) return s.netmask !== 128 ? String(s.netmask) : '';
  return s.netmask >>> 0 !== 0xffffffff ? v4String(s.netmask >>> 0) : '';
}

/** print_service_entry: the service line and its destination lines (§2.2, §2.3, §2.7). */
export function serviceEntry(s: ListService, format: number, names: NameResolver): string {
  const rule = (format & FMT_RULE) !== 0;
  let name: string;
  if (s.fwmark !== 0) {
    // printf "%d" of the u32 mark, as ipvsadm (marks above 2^31 print negative there too)
    name = rule ? `-f ${s.fwmark | 0}` : `FWM  ${s.fwmark | 0}`;
    if (s.af === 6) name += rule ? ' -6' : ' IPv6';
  } else {
    const v = addrPort(s.af, s.addr, s.port, s.proto, format, names);
    if (rule) name = `${s.proto === 6 ? '-t' : s.proto === 17 ? '-u' : '--sctp-service'} ${v}`;
    else {
      name = `${padR(protoName(s.proto), 4)} ${v}`;
      if (s.af !== 6) name = name.slice(0, 33);
    }
  }
  let out = '';
  if (rule) {
    out += `-A ${name} -s ${s.scheduler}`;
    if ((s.flags & SVC_F_PERSISTENT) !== 0) {
      out += ` -p ${s.timeout}`;
      const m = maskText(s);
      if (m !== '') out += ` -M ${m}`;
    }
    if (s.pe !== '') out += ` --pe ${s.pe}`;
    if ((s.flags & SVC_F_ONEPACKET) !== 0) out += ' -o';
    if ((s.flags & SVC_F_SCHED_ANY) !== 0) out += ` -b ${schedFlagNames(s.scheduler, s.flags)}`;
    if (s.localAddrs.length > 0) out += ` --laddr ${s.localAddrs.map((l) => ntop(l.af, l.addr)).join(',')}`;
  } else if ((format & FMT_STATS) !== 0) {
    const c = s.stats;
    out += padR(name, 33);
    for (const v of [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes]) out += largenum(v, format);
  } else if ((format & FMT_RATE) !== 0) {
    const r = s.rates;
    out += padR(name, 33);
    for (const v of [r.cps, r.inpps, r.outpps, r.inbps, r.outbps]) out += largenum(v, format);
  } else {
    out += `${name} ${s.scheduler}`;
    if ((s.flags & SVC_F_SCHED_ANY) !== 0) out += ` (${schedFlagNames(s.scheduler, s.flags)})`;
    if ((s.flags & SVC_F_PERSISTENT) !== 0) {
      out += ` persistent ${s.timeout}`;
      const m = maskText(s);
      if (m !== '') out += ` mask ${m}`;
      if (s.pe !== '') out += ` pe ${s.pe}`;
    }
    if ((s.flags & SVC_F_ONEPACKET) !== 0) out += ' ops';
  }
  out += '\n';

  const dests = s.dests.slice();
  if ((format & FMT_NOSORT) === 0) dests.sort(cmpDests);
  for (const d of dests) {
    let dname = addrPort(d.af, d.addr, d.port, s.proto, format, names);
    if (!rule && d.af !== 6) dname = dname.slice(0, 28);
    if (rule) {
      out += `-a ${name} -r ${dname} ${fwdSwitch(d.fwd)} -w ${d.weight}`;
      if ((d.fwd & 7) === FWD_TUNNEL) {
        out += ` --tun-type ${TUN_NAMES[d.tunType] ?? 'ipip'}`;
        if (d.tunType === 1) out += ` --tun-port ${d.tunPort}`;
        if (d.tunType === 1 || d.tunType === 2) out += ` ${CSUM_OPT[d.tunFlags] ?? CSUM_OPT[0]}`;
      }
      out += '\n';
    } else if ((format & FMT_STATS) !== 0) {
      const c = d.stats;
      out += `  -> ${padR(dname, 28)}`;
      for (const v of [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes]) out += largenum(v, format);
      out += '\n';
    } else if ((format & FMT_RATE) !== 0) {
      const r = d.rates;
      out += `  -> ${padR(dname, 28)} ${padL(u(r.cps), 8)} ${padL(u(r.inpps), 8)} ${padL(u(r.outpps), 8)}`;
      out += largenum(r.inbps, format) + largenum(r.outbps, format) + '\n';
    } else if ((format & FMT_THRESHOLDS) !== 0) {
      out += `  -> ${padR(dname, 28)} ${[d.uThreshold, d.lThreshold, d.active, d.inactive].map((v) => padR(u(v), 10)).join(' ')}\n`;
    } else if ((format & FMT_PERSISTENTCONN) !== 0) {
      out += `  -> ${padR(dname, 28)} ${padR(u(d.weight), 9)} ${padR(u(d.persist), 11)} ${padR(u(d.active), 10)} ${padR(u(d.inactive), 10)}\n`;
    } else if ((format & FMT_TUN_INFO) !== 0) {
      out += `  -> ${padR(dname, 28)} ${padR(fwdName(d.fwd), 7)} ${padR(tunInfo(d), 13)} ${padR(String(d.weight), 6)} ${padR(u(d.active), 10)} ${padR(u(d.inactive), 10)}\n`;
    } else {
      out += `  -> ${padR(dname, 28)} ${padR(fwdName(d.fwd), 7)} ${padR(String(d.weight), 6)} ${padR(u(d.active), 10)} ${padR(u(d.inactive), 10)}\n`;
    }
  }
  return out;
}

/** list_all: header (not for -S), title, every service sorted unless --nosort. */
export function listAll(services: readonly ListService[], format: number, names: NameResolver): string {
  let out = (format & FMT_RULE) === 0 ? versionHeader() : '';
  const list = services.slice();
  if ((format & FMT_NOSORT) === 0) list.sort(cmpServices);
  out += title(format);
  for (const s of list) out += serviceEntry(s, format, names);
  return out;
}

/** list_service: title and the one service, no version header. */
export function listOne(s: ListService, format: number, names: NameResolver): string {
  return title(format) + serviceEntry(s, format, names);
}

/** list_conn (§2.8). */
export function listConns(conns: readonly ListConn[], format: number, names: NameResolver): string {
  let out = 'IPVS connection entries\n';
  const pc = (format & FMT_PERSISTENTCONN) !== 0;
  if (pc)
    out += `pro expire ${padR('state', 11)} ${padR('source', 18)} ${padR('virtual', 18)} ${padR('destination', 18)} ${padR('pe name', 16)} pe_data\n`;
  else out += `pro expire ${padR('state', 11)} ${padR('source', 18)} ${padR('virtual', 18)} destination\n`;
  for (const c of conns) {
    const p = protoName(c.proto);
    const cn = addrPort(c.af, c.caddr, c.cport, c.proto, format, names);
    const vn = addrPort(c.af, c.vaddr, c.vport, c.proto, format, names);
    const dn = addrPort(c.daf, c.daddr, c.dport, c.proto, format, names);
    const mm = Math.floor(c.expires / 60);
    const ss = c.expires % 60;
    const exp = `${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
    const head = `${padR(p, 3)} ${padR(exp, 6)} ${padR(c.state, 11)} ${padR(cn, 18)} ${padR(vn, 18)}`;
    if (pc) out += `${head} ${padR(dn, 18)} ${padR(c.peName, 16)} ${c.peData}\n`;
    else out += `${head} ${dn}\n`;
  }
  return out;
}

export function listTimeout(t: { tcp: number; tcpfin: number; udp: number }): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

/** list_daemon (§2.9): master first, then backup; nothing when none runs. */
export function listDaemons(ds: readonly SyncDaemonStatus[]): string {
  let out = '';
  for (const state of ['master', 'backup'] as const) {
    for (const d of ds) {
      if (d.state !== state) continue;
      out += `${state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid}`;
      if (d.maxlen !== undefined) out += `, maxlen=${d.maxlen}`;
      if (d.group !== undefined) out += `, group=${d.group}`;
      if (d.port !== undefined) out += `, port=${d.port}`;
      if (d.ttl !== undefined) out += `, ttl=${d.ttl}`;
      out += ')\n';
    }
  }
  return out;
}
