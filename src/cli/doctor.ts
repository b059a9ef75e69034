/**
 * `lvsd doctor`: checks a director or a real server for the classic LVS mistakes (reference §5, §8) and
 * prints each check as OK / WARN / FAIL with the command that fixes it. Exit status 0 when nothing
 * FAILs, 1 otherwise, 2 for a usage error.
 *
 * Real server: VIP on lo; VIP on no other interface; the ARP sysctls (effective value = max(all, dev),
 * as the kernel's IN_DEV_ARP_IGNORE / IN_DEV_ARP_ANNOUNCE); for TUN rp_filter 0 on the tunnel device
 * (effective max(all, dev)) and a decapsulator that is present (kernel device up or agent running).
 * Director: each VIP local on some interface (IPVS and lvsd both work on local VIPs, §8.4); ip_forward
 * for NAT; strict rp_filter; accept_local where the director is the real servers' gateway in DR (their
 * replies carry the VIP, a local address, as source); the tunnel MTU left for 1500-byte client packets;
 * and the kernel's own ip_vs holding no services (it would take packets before lvsd).
 *
 * The service table is plain data (DoctorService) so the daemon can inject it; without one, the checks
 * that need it use --vip / --mode or are skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { AF_INET, AF_INET6 } from '../packet/view.js';
import { formatAddress, parseAddress } from '../packet/addr.js';
import { TUN_GRE, TUN_GUE, TUN_IPIP, TUN_F_CSUM, TUN_F_REMCSUM, tunnelOverhead } from '../packet/encap.js';
import { listLinks, readPidFile, readSysctl, pidAlive, stateDirFor } from '../realserver/system.js';
import type { LinkInfo } from '../realserver/system.js';
import { loadState } from '../realserver/setup.js';
import type { RealServerState } from '../realserver/setup.js';
import { AGENT_PID_FILE } from '../realserver/agent.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface DoctorCheck {
  status: CheckStatus;
  /** short name of what was checked */
  check: string;
  detail: string;
  /** a shell command (or instruction) that fixes it; absent when OK */
  fix?: string;
}

/** A virtual service as the daemon knows it (only what the checks need). */
export interface DoctorService {
  protocol: 'tcp' | 'udp' | 'sctp' | 'fwmark';
  /** VIP (absent for fwmark services) */
  vip?: string;
  port?: number;
  dests: Array<{
    addr: string;
    port?: number;
    method: 'masq' | 'route' | 'tunnel' | 'local';
    tunType?: 'ipip' | 'gue' | 'gre';
    tunCsum?: boolean;
    tunRemcsum?: boolean;
  }>;
}

/** What the checks read; the default reads this namespace, tests inject fakes. */
export interface DoctorEnv {
  sysctl(name: string): string | null;
  links(): LinkInfo[];
  /** interface the kernel routes `addr` through, or null */
  routeDev(addr: string): string | null;
  /** /proc/net/ip_vs text, or null when the kernel's IPVS is absent */
  kernelIpvs(): string | null;
  realServerState(): RealServerState | null;
  agentRunning(): boolean;
}

export const systemEnv: DoctorEnv = {
  sysctl: readSysctl,
  links: listLinks,
  routeDev(addr: string): string | null {
    try {
      const out = execFileSync('ip', ['-j', 'route', 'get', addr], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const r = JSON.parse(out) as Array<{ dev?: string }>;
      return r[0]?.dev ?? null;
    } catch {
      return null;
    }
  },
  kernelIpvs(): string | null {
    return existsSync('/proc/net/ip_vs') ? readFileSync('/proc/net/ip_vs', 'utf8') : null;
  },
  realServerState(): RealServerState | null {
    try {
      return loadState();
    } catch {
      return null;
    }
  },
  agentRunning(): boolean {
    const pid = readPidFile(`${stateDirFor()}/${AGENT_PID_FILE}`);
    return pid !== null && pidAlive(pid);
  },
};

export interface DoctorOptions {
  role?: 'director' | 'realserver';
  vips?: string[];
  /** forwarding method to check for when no service table is given */
  mode?: 'dr' | 'tun' | 'nat';
  tunType?: 'ipip' | 'gue' | 'gre';
  services?: DoctorService[];
}

function num(v: string | null): number {
  return v === null ? 0 : Number(v) || 0;
}

function canonical(a: string): { addr: string; family: 4 | 6 } | null {
  const p = parseAddress(a);
  if (!p) return null;
  return { addr: formatAddress(p.af, p.words), family: p.af === AF_INET ? 4 : 6 };
}

function holders(links: LinkInfo[], addr: string): LinkInfo[] {
  return links.filter((l) => l.addr_info.some((a) => a.local === addr));
}

function isUpLink(l: LinkInfo): boolean {
  return l.flags.includes('UP');
}

// ------------------------------------------------------------------ real server

export function checkRealServer(env: DoctorEnv, opts: DoctorOptions): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const st = env.realServerState();
  const vipTexts = opts.vips ?? st?.vips.map((v) => v.addr) ?? [];
  const mode = opts.mode ?? (st?.tun ? 'tun' : 'dr');
  const links = env.links();
  if (vipTexts.length === 0) {
    out.push({
      status: 'FAIL',
      check: 'VIPs',
      detail: 'no VIP given and none configured by `lvsd realserver up`',
      fix: 'lvsd realserver up --vip VIP   (or pass --vip VIP to doctor)',
    });
    return out;
  }
  const vips = vipTexts.map((t) => ({ text: t, c: canonical(t) }));
  for (const { text, c } of vips) {
    if (!c) {
      out.push({ status: 'FAIL', check: `VIP ${text}`, detail: 'not a valid address' });
      continue;
    }
    const prefix = c.family === 4 ? 32 : 128;
    const on = holders(links, c.addr);
    const lo = on.find((l) => l.ifname === 'lo');
    if (lo) {
      out.push({
        status: 'OK',
        check: `VIP ${c.addr} on lo`,
        detail: `present${isUpLink(lo) ? '' : ' but lo is DOWN'}`,
      });
      if (!isUpLink(lo)) {
        out[out.length - 1]!.status = 'FAIL';
        out[out.length - 1]!.fix = 'ip link set lo up';
      }
    } else {
      out.push({
        status: 'FAIL',
        check: `VIP ${c.addr} on lo`,
        detail: 'missing: packets to the VIP are not accepted by this server',
        fix: `ip ${c.family === 6 ? '-6 ' : ''}addr add ${c.addr}/${prefix} dev lo${c.family === 6 ? ' nodad' : ''}`,
      });
    }
    for (const l of on.filter((x) => x.ifname !== 'lo')) {
      const a = l.addr_info.find((x) => x.local === c.addr)!;
      out.push({
        status: 'FAIL',
        check: `VIP ${c.addr} only on lo`,
        detail: `also on ${l.ifname}: this server answers ARP/ND for the VIP and steals traffic from the director`,
        fix: `ip addr del ${c.addr}/${a.prefixlen} dev ${l.ifname}`,
      });
    }
  }
  if (vips.some((v) => v.c?.family === 4)) out.push(...arpChecks(env, links));
  if (mode === 'tun') out.push(...tunChecks(env, links, st));
  return out;
}

/** arp_ignore >= 1 and arp_announce >= 2, effective max(all, dev) on each up non-lo interface. */
function arpChecks(env: DoctorEnv, links: LinkInfo[]): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const all = {
    ignore: num(env.sysctl('net.ipv4.conf.all.arp_ignore')),
    announce: num(env.sysctl('net.ipv4.conf.all.arp_announce')),
  };
  const bad: string[] = [];
  const badAnn: string[] = [];
  for (const l of links) {
    if (l.ifname === 'lo' || !isUpLink(l)) continue;
    const ig = Math.max(all.ignore, num(env.sysctl(`net.ipv4.conf.${l.ifname}.arp_ignore`)));
    const an = Math.max(all.announce, num(env.sysctl(`net.ipv4.conf.${l.ifname}.arp_announce`)));
    if (ig < 1) bad.push(l.ifname);
    if (an < 2) badAnn.push(l.ifname);
  }
  out.push(
    bad.length === 0
      ? {
          status: 'OK',
          check: 'arp_ignore',
          detail: `all=${all.ignore}; no interface answers ARP for addresses on lo`,
        }
      : {
          status: 'FAIL',
          check: 'arp_ignore',
          detail: `effective arp_ignore 0 on ${bad.join(', ')}: this server answers ARP for the VIP (the "ARP problem")`,
          fix: 'sysctl -w net.ipv4.conf.all.arp_ignore=1',
        },
  );
  out.push(
    badAnn.length === 0
      ? {
          status: 'OK',
          check: 'arp_announce',
          detail: `all=${all.announce}; the VIP is never used as an ARP source`,
        }
      : {
          status: 'FAIL',
          check: 'arp_announce',
          detail: `effective arp_announce < 2 on ${badAnn.join(', ')}: ARP requests may announce the VIP`,
          fix: 'sysctl -w net.ipv4.conf.all.arp_announce=2',
        },
  );
  // the seed's other two: lo itself (harmless when all is set, but what the tutorial asks for)
  for (const [name, want] of [
    ['net.ipv4.conf.lo.arp_ignore', 1],
    ['net.ipv4.conf.lo.arp_announce', 2],
  ] as const) {
    const v = num(env.sysctl(name));
    out.push(
      v >= want
        ? { status: 'OK', check: name, detail: String(v) }
        : {
            status: 'WARN',
            check: name,
            detail: `${v} (the tutorial sets ${want})`,
            fix: `sysctl -w ${name}=${want}`,
          },
    );
  }
  return out;
}

function tunChecks(env: DoctorEnv, links: LinkInfo[], st: RealServerState | null): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const names = links.map((l) => l.ifname);
  const dev =
    st?.tun?.device ?? (names.includes('tunl0') ? 'tunl0' : names.includes('lvsdtun0') ? 'lvsdtun0' : null);
  if (!dev) {
    out.push({
      status: 'FAIL',
      check: 'tunnel device',
      detail: 'no tunl0 (kernel ipip) and no lvsd decapsulation agent: tunnelled packets are dropped',
      fix: 'lvsd realserver up --vip VIP --mode tun',
    });
    return out;
  }
  const l = links.find((x) => x.ifname === dev);
  if (!l || !isUpLink(l)) {
    out.push({
      status: 'FAIL',
      check: `tunnel device ${dev}`,
      detail: l ? 'down' : 'missing',
      fix: l ? `ip link set ${dev} up` : 'lvsd realserver up --vip VIP --mode tun',
    });
  } else {
    out.push({ status: 'OK', check: `tunnel device ${dev}`, detail: 'up' });
  }
  if (st?.tun?.impl === 'agent') {
    out.push(
      env.agentRunning()
        ? { status: 'OK', check: 'decapsulation agent', detail: 'running' }
        : {
            status: 'FAIL',
            check: 'decapsulation agent',
            detail: 'not running: tunnelled packets are not decapsulated',
            fix: 'lvsd realserver down && lvsd realserver up --vip VIP --mode tun',
          },
    );
  }
  const all = num(env.sysctl('net.ipv4.conf.all.rp_filter'));
  const own = num(env.sysctl(`net.ipv4.conf.${dev}.rp_filter`));
  const eff = Math.max(all, own);
  if (eff === 0) {
    out.push({
      status: 'OK',
      check: `rp_filter on ${dev}`,
      detail: `effective 0 (all=${all}, ${dev}=${own})`,
    });
  } else {
    const fixes: string[] = [];
    if (all !== 0) fixes.push('sysctl -w net.ipv4.conf.all.rp_filter=0');
    if (own !== 0) fixes.push(`sysctl -w net.ipv4.conf.${dev}.rp_filter=${0}`);
    out.push({
      status: eff === 1 ? 'FAIL' : 'WARN',
      check: `rp_filter on ${dev}`,
      detail:
        `effective ${eff} (the kernel uses max(all=${all}, ${dev}=${own})): decapsulated packets come from the ` +
        `client via ${dev}` +
        (eff === 1
          ? ' and strict reverse-path filtering drops them'
          : '; loose mode passes only with a route back'),
      fix: fixes.join(' && '),
    });
  }
  return out;
}

// ------------------------------------------------------------------ director

export function checkDirector(env: DoctorEnv, opts: DoctorOptions): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const links = env.links();
  const services = opts.services ?? [];
  const vipTexts = new Set<string>(opts.vips ?? []);
  for (const s of services) if (s.vip) vipTexts.add(s.vip);
  const methods = new Set<string>();
  for (const s of services) for (const d of s.dests) methods.add(d.method);
  if (opts.mode === 'nat') methods.add('masq');
  if (opts.mode === 'dr') methods.add('route');
  if (opts.mode === 'tun') methods.add('tunnel');
  const firstIf = links.find((l) => l.ifname !== 'lo' && isUpLink(l))?.ifname ?? 'eth0';

  if (vipTexts.size === 0) {
    out.push({
      status: 'WARN',
      check: 'VIPs',
      detail: 'no service table and no --vip: VIP checks skipped',
      fix: 'lvsd doctor --role director --vip VIP',
    });
  }
  for (const t of vipTexts) {
    const c = canonical(t);
    if (!c) {
      out.push({ status: 'FAIL', check: `VIP ${t}`, detail: 'not a valid address' });
      continue;
    }
    const on = holders(links, c.addr);
    out.push(
      on.length > 0
        ? { status: 'OK', check: `VIP ${c.addr} local`, detail: `on ${on.map((l) => l.ifname).join(', ')}` }
        : {
            status: 'FAIL',
            check: `VIP ${c.addr} local`,
            detail:
              'not on any interface: the director must own the VIP (clients ARP for it, IPVS needs it local)',
            fix:
              c.family === 4
                ? `ip addr add ${c.addr}/24 dev ${firstIf} label ${firstIf}:0`
                : `ip -6 addr add ${c.addr}/64 dev ${firstIf} nodad`,
          },
    );
  }

  if (methods.has('masq')) {
    const v4 = num(env.sysctl('net.ipv4.ip_forward'));
    out.push(
      v4 === 1
        ? { status: 'OK', check: 'ip_forward', detail: '1 (the real servers route through this director)' }
        : {
            // lvsd forwards the service's replies itself; the real servers' other traffic (DNS,
            // updates, anything not a service reply) still needs the kernel to route it, as in LVS-NAT.
            status: 'WARN',
            check: 'ip_forward',
            detail:
              "0: service replies pass through lvsd, but the real servers' other traffic via this gateway is dropped",
            fix: 'sysctl -w net.ipv4.ip_forward=1',
          },
    );
    const has6 = [...vipTexts].some((t) => canonical(t)?.family === 6);
    if (has6 && num(env.sysctl('net.ipv6.conf.all.forwarding')) !== 1) {
      out.push({
        status: 'WARN',
        check: 'IPv6 forwarding',
        detail: '0 with an IPv6 NAT service',
        fix: 'sysctl -w net.ipv6.conf.all.forwarding=1',
      });
    }
  } else {
    out.push({
      status: 'OK',
      check: 'ip_forward',
      detail: `${env.sysctl('net.ipv4.ip_forward') ?? '?'} (only NAT needs it${services.length ? '' : '; no NAT service known'})`,
    });
  }

  // strict rp_filter: drops client packets arriving where the route back does not point (asymmetric
  // paths, a VIP reached through another interface) before anything else sees them
  const allRp = num(env.sysctl('net.ipv4.conf.all.rp_filter'));
  const strict = links
    .filter((l) => l.ifname !== 'lo' && isUpLink(l))
    .filter((l) => Math.max(allRp, num(env.sysctl(`net.ipv4.conf.${l.ifname}.rp_filter`))) === 1)
    .map((l) => l.ifname);
  out.push(
    strict.length === 0
      ? { status: 'OK', check: 'rp_filter', detail: `not strict on any interface (all=${allRp})` }
      : {
          status: 'WARN',
          check: 'rp_filter',
          detail: `strict on ${strict.join(', ')}: packets from clients (or real servers' replies) arriving on an interface the route back does not use are dropped`,
          fix: `sysctl -w net.ipv4.conf.all.rp_filter=2${strict.map((d) => ` net.ipv4.conf.${d}.rp_filter=2`).join('')}`,
        },
  );

  if (methods.has('route')) {
    // In DR the real servers' replies carry the VIP as source; when the director is their gateway those
    // replies arrive with a source address that is local here and are dropped as martians unless
    // accept_local=1 on the receiving interface.
    const gwIfs = new Set<string>();
    for (const s of services) {
      for (const d of s.dests)
        if (d.method === 'route') {
          const dev = env.routeDev(d.addr);
          if (dev) gwIfs.add(dev);
        }
    }
    if (gwIfs.size === 0) for (const l of links) if (l.ifname !== 'lo' && isUpLink(l)) gwIfs.add(l.ifname);
    const fwd = num(env.sysctl('net.ipv4.ip_forward')) === 1;
    const missing = [...gwIfs].filter(
      (d) =>
        Math.max(
          num(env.sysctl('net.ipv4.conf.all.accept_local')),
          num(env.sysctl(`net.ipv4.conf.${d}.accept_local`)),
        ) === 0,
    );
    if (missing.length === 0) {
      out.push({ status: 'OK', check: 'accept_local', detail: `set on ${[...gwIfs].join(', ')}` });
    } else {
      out.push({
        status: fwd ? 'WARN' : 'OK',
        check: 'accept_local',
        detail: fwd
          ? `0 on ${missing.join(', ')}: if the real servers use this director as their gateway, their DR replies (source = VIP, a local address here) are dropped as martians`
          : "ip_forward is 0, so this director is not the real servers' gateway; accept_local not needed",
        fix: fwd ? missing.map((d) => `sysctl -w net.ipv4.conf.${d}.accept_local=1`).join(' && ') : undefined,
      });
      if (!fwd) delete out[out.length - 1]!.fix;
    }
  }

  if (methods.has('tunnel')) out.push(...mtuChecks(env, links, services, opts));
  out.push(kernelIpvsCheck(env));
  return out;
}

function tunFlagsOf(csum?: boolean, remcsum?: boolean): number {
  return (csum ? TUN_F_CSUM : 0) | (remcsum ? TUN_F_REMCSUM : 0);
}

function mtuChecks(
  env: DoctorEnv,
  links: LinkInfo[],
  services: DoctorService[],
  opts: DoctorOptions,
): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const tunCode = (t?: string): number => (t === 'gue' ? TUN_GUE : t === 'gre' ? TUN_GRE : TUN_IPIP);
  const targets: Array<{ dev: string; overhead: number; what: string }> = [];
  for (const s of services) {
    for (const d of s.dests) {
      if (d.method !== 'tunnel') continue;
      const c = canonical(d.addr);
      const dev = env.routeDev(d.addr);
      if (!c || !dev) continue;
      const overhead = tunnelOverhead(
        tunCode(d.tunType),
        c.family === 6 ? AF_INET6 : AF_INET,
        tunFlagsOf(d.tunCsum, d.tunRemcsum),
      );
      targets.push({ dev, overhead, what: `${d.tunType ?? 'ipip'} to ${c.addr}` });
    }
  }
  if (targets.length === 0) {
    const overhead = tunnelOverhead(tunCode(opts.tunType), AF_INET, 0);
    for (const l of links) {
      if (l.ifname !== 'lo' && isUpLink(l))
        targets.push({ dev: l.ifname, overhead, what: `${opts.tunType ?? 'ipip'} via ${l.ifname}` });
    }
  }
  for (const t of targets) {
    const l = links.find((x) => x.ifname === t.dev);
    if (!l) continue;
    const room = l.mtu - t.overhead;
    out.push(
      room >= 1500
        ? {
            status: 'OK',
            check: `tunnel MTU (${t.what})`,
            detail: `${l.ifname} mtu ${l.mtu} - ${t.overhead} = ${room}: 1500-byte client packets fit`,
          }
        : {
            status: 'WARN',
            check: `tunnel MTU (${t.what})`,
            detail:
              `${l.ifname} mtu ${l.mtu} - ${t.overhead} bytes of encapsulation = ${room} < 1500: full-size client packets ` +
              'get ICMP fragmentation-needed; clients need working PMTUD, or clamp the MSS, or raise the MTU',
            fix: `ip link set dev ${l.ifname} mtu ${1500 + t.overhead}   (if the path to the real servers carries it)`,
          },
    );
  }
  return out;
}

/** The kernel's IPVS, if loaded, must hold no services: it would take packets at LOCAL_IN as well. */
function kernelIpvsCheck(env: DoctorEnv): DoctorCheck {
  const text = env.kernelIpvs();
  if (text === null) return { status: 'OK', check: "kernel's ip_vs", detail: 'not loaded' };
  const services = text.split('\n').filter((l) => /^(TCP|UDP|SCTP|FWM)\s/.test(l));
  return services.length === 0
    ? { status: 'OK', check: "kernel's ip_vs", detail: 'loaded, no services' }
    : {
        status: 'FAIL',
        check: "kernel's ip_vs",
        detail: `the kernel's own IPVS has ${services.length} service(s) (${services[0]!.trim()}${services.length > 1 ? ', ...' : ''}); they compete with lvsd for the same packets`,
        fix: "/sbin/ipvsadm -C (the kernel tool, not lvsd's) or: modprobe -r ip_vs",
      };
}

// ------------------------------------------------------------------ entry points

export function runDoctor(
  opts: DoctorOptions,
  env: DoctorEnv = systemEnv,
): { role: 'director' | 'realserver'; checks: DoctorCheck[] } {
  const role = opts.role ?? (env.realServerState() ? 'realserver' : 'director');
  return { role, checks: role === 'realserver' ? checkRealServer(env, opts) : checkDirector(env, opts) };
}

export function formatChecks(role: string, checks: DoctorCheck[]): string {
  const lines = [`lvsd doctor: ${role}`];
  for (const c of checks) {
    lines.push(`[${c.status === 'OK' ? ' OK ' : c.status}] ${c.check}: ${c.detail}`);
    if (c.fix && c.status !== 'OK') lines.push(`       fix: ${c.fix}`);
  }
  const n = (s: CheckStatus): number => checks.filter((c) => c.status === s).length;
  lines.push(`${n('OK')} ok, ${n('WARN')} warning(s), ${n('FAIL')} failure(s)`);
  return lines.join('\n') + '\n';
}

export const DOCTOR_USAGE = `Usage: lvsd doctor [--role director|realserver] [--vip ADDR[,ADDR...]] [--mode dr|tun|nat]
                   [--tun-type ipip|gue|gre] [--json]

Checks this host (network namespace) for the classic LVS mistakes and prints OK / WARN / FAIL with a
fix for each. The role defaults to realserver when \`lvsd realserver up\` configured this namespace,
else director. Exit status 0 when no check FAILs, 1 otherwise, 2 for a usage error.
`;

export async function doctorMain(argv: string[], services?: DoctorService[]): Promise<number> {
  const opts: DoctorOptions = { services };
  let json = false;
  const usage = (msg: string): number => {
    process.stderr.write(`lvsd doctor: ${msg}\nTry 'lvsd doctor --help' for more information.\n`);
    return 2;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    switch (a) {
      case '-h':
      case '--help':
        process.stdout.write(DOCTOR_USAGE);
        return 0;
      case '--json':
        json = true;
        break;
      case '--role': {
        const v = val();
        if (v !== 'director' && v !== 'realserver')
          return usage(`--role must be director or realserver (got '${v ?? ''}')`);
        opts.role = v;
        break;
      }
      case '--mode': {
        const v = val();
        if (v !== 'dr' && v !== 'tun' && v !== 'nat')
          return usage(`--mode must be dr, tun or nat (got '${v ?? ''}')`);
        opts.mode = v;
        break;
      }
      case '--tun-type': {
        const v = val();
        if (v !== 'ipip' && v !== 'gue' && v !== 'gre')
          return usage(`--tun-type must be ipip, gue or gre (got '${v ?? ''}')`);
        opts.tunType = v;
        break;
      }
      case '--vip': {
        const v = val();
        if (!v) return usage('--vip needs a value');
        const list = v.split(',');
        for (const x of list) if (!parseAddress(x.trim())) return usage(`invalid address '${x}'`);
        opts.vips = list.map((x) => x.trim());
        break;
      }
      default:
        return usage(`unknown option '${a}'`);
    }
  }
  const r = runDoctor(opts);
  process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : formatChecks(r.role, r.checks));
  return r.checks.some((c) => c.status === 'FAIL') ? 1 : 0;
}
