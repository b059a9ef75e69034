/**
 * executeIpvsadm: run one ipvsadm command line against a Director, as ipvsadm 1.31 against the kernel.
 *
 * A pure executor: no I/O except the optional /etc/services and /etc/hosts reads of names.ts (skipped
 * when ctx.names is given). Output, messages and exit codes are ipvsadm's (ipvs-reference §1, §2):
 *  - parse/validation failures: the message and exit 2 (255 for "Try `ipvsadm -h' ..." and popt
 *    scanning errors);
 *  - table operations that the kernel refuses: ipvs_strerror's text and exit 255 (libipvs returns -1);
 *  - listing one service that does not exist: "No such service", exit 1.
 * -R runs each stdin line as its own command; a line that fails validation ends the restore with its
 * exit code (ipvsadm's fail() exits), a refused table operation does not; the result is the last line's.
 *
 * Timing: `ctx.nowMs` must be the clock the Director's engine runs on (conn expiry for -c).
 */
import { ERRNO, LvsError } from '../../errors.js';
import type { Director } from '../../core/director.js';
import type { ServiceKey } from '../../core/services.js';
import { KIND_DEST, KIND_SERVICE } from '../../core/stats.js';
import { ADDR_C, ADDR_D, ADDR_V } from '../../conn/table.js';
import { CONN_F_HASHED } from '../../conn/flags.js';
import { stateName } from '../../conn/state.js';
import { parseAnyAddress } from './addr.js';
import {
  listAll,
  listConns,
  listDaemons,
  listOne,
  listTimeout,
  type ListConn,
  type ListService,
  type SyncDaemonStatus,
} from './format.js';
import { systemNames, type NameResolver } from './names.js';
import {
  FMT_RULE,
  FWD_TUNNEL,
  TRY_HELP,
  parseIpvsadm,
  splitLine,
  type IpvsadmCommand,
  type ParsedDaemon,
  type ParsedIpvsadm,
  type ParsedService,
} from './parse.js';
import { IPVSADM_OPTIONS_HELP, IPVSADM_USAGE, IPVSADM_VERSION } from './usage.js';

export interface IpvsadmContext {
  director: Director;
  /** the text of stdin, for -R */
  stdin?: string;
  /** now, in the ms clock of the Director's engine */
  nowMs: number;
  /** running sync daemons for `-L --daemon` when there is no `sync` (a fixed list, for tests) */
  syncDaemons?: readonly SyncDaemonStatus[];
  /** the connection sync daemon (the lvsd daemon's SyncManager); without it --start-daemon is refused */
  sync?: SyncControl;
  /** name lookups for output without -n and for host/service names in arguments (default: /etc files) */
  names?: NameResolver;
}

/**
 * --start-daemon / --stop-daemon / -L --daemon against lvsd's sync daemon (src/sync/manager.ts).
 * start and stop throw LvsError carrying the kernel's errno (EEXIST, ESRCH, ENODEV, ...).
 */
export interface SyncControl {
  start(d: ParsedDaemon): void;
  stop(state: 'master' | 'backup'): void;
  list(): readonly SyncDaemonStatus[];
}

export interface IpvsadmResult {
  stdout: string;
  stderr: string;
  code: number;
  /** the service table or the timeouts changed (the caller may persist or re-steer) */
  changed: boolean;
}

/** What ipvsadm prints for --start-daemon when run without lvsd's sync daemon (ctx.sync). */
export const START_DAEMON_UNSUPPORTED =
  'Connection synchronization is not implemented in lvsd yet: --start-daemon refused (no daemon started)\n';

interface Step extends IpvsadmResult {
  /** the original would have exited the process here (matters inside -R) */
  abort: boolean;
}

/** libipvs ipvs_strerror: per-call texts, then generic ones, then strerror (ipvs-reference §1.10). */
const CALL_ERRORS: Partial<Record<IpvsadmCommand, Record<number, string>>> = {
  'add-service': {
    [ERRNO.EEXIST]: 'Service already exists',
    [ERRNO.ENOENT]: 'Scheduler or persistence engine not found',
  },
  'edit-service': {
    [ERRNO.ESRCH]: 'No such service',
    [ERRNO.ENOENT]: 'Scheduler or persistence engine not found',
  },
  'delete-service': { [ERRNO.ESRCH]: 'No such service' },
  zero: { [ERRNO.ESRCH]: 'No such service' },
  'add-server': { [ERRNO.ESRCH]: 'Service not defined', [ERRNO.EEXIST]: 'Destination already exists' },
  'edit-server': { [ERRNO.ESRCH]: 'Service not defined', [ERRNO.ENOENT]: 'No such destination' },
  'delete-server': { [ERRNO.ESRCH]: 'Service not defined', [ERRNO.ENOENT]: 'No such destination' },
  'start-daemon': { [ERRNO.EEXIST]: 'Daemon has already run' },
  'stop-daemon': { [ERRNO.ESRCH]: 'No daemon is running' },
};
const ENOPROTOOPT = 92;
const EOPNOTSUPP = 95;
const EMSGSIZE = 90;
const GENERIC_ERRORS: Record<number, string> = {
  [ERRNO.EPERM]: 'Permission denied (you must be root)',
  [ERRNO.EINVAL]: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  [ENOPROTOOPT]: 'Protocol not available',
  [ERRNO.ENOMEM]: 'Memory allocation problem',
  [EOPNOTSUPP]: 'Operation not supported with IPv6',
  [ERRNO.EAFNOSUPPORT]: 'Operation not supported with specified address family',
  [EMSGSIZE]: 'Module is wrong version',
};
/** glibc strerror for the errnos lvsd's table can produce. */
const STRERROR: Record<number, string> = {
  [ERRNO.ENOENT]: 'No such file or directory',
  [ERRNO.ESRCH]: 'No such process',
  [ERRNO.EEXIST]: 'File exists',
  [ERRNO.ERANGE]: 'Numerical result out of range',
  19: 'No such device', // ENODEV: --start-daemon on an unknown --mcast-interface
  99: 'Cannot assign requested address', // EADDRNOTAVAIL: that interface has no address of the group's family
};

export function ipvsStrerror(call: IpvsadmCommand, errno: number): string {
  return CALL_ERRORS[call]?.[errno] ?? GENERIC_ERRORS[errno] ?? STRERROR[errno] ?? `Unknown error ${errno}`;
}

function out(stdout: string, code = 0, changed = false): Step {
  return { stdout, stderr: '', code, changed, abort: false };
}

function serviceKey(s: ParsedService): ServiceKey {
  return s.fwmark !== 0
    ? { af: s.af, fwmark: s.fwmark }
    : { af: s.af, proto: s.proto, addr: s.addr, port: s.port };
}

/** The Director's services as the listing records (counters, rates and live conn counts). */
export function listServices(d: Director): ListService[] {
  const live = d.live;
  return d.services.list().map((s) => ({
    af: s.af,
    proto: s.proto,
    addr: s.addr,
    port: s.port,
    fwmark: s.fwmark,
    scheduler: s.scheduler,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.pe,
    localAddrs: s.localAddrs,
    stats: d.statsReader.service(s.id),
    rates: d.rates.rates(KIND_SERVICE, s.id),
    dests: s.dests.map((x) => ({
      af: x.af,
      addr: x.addr,
      port: x.port,
      fwd: x.fwd,
      weight: x.weight,
      uThreshold: x.uThreshold,
      lThreshold: x.lThreshold,
      active: Atomics.load(live.active, x.id),
      inactive: Atomics.load(live.inactive, x.id),
      persist: Atomics.load(live.persist, x.id),
      tunType: x.tunType,
      tunPort: x.tunPort,
      tunFlags: x.tunFlags,
      stats: d.statsReader.dest(x.id),
      rates: d.rates.rates(KIND_DEST, x.id),
    })),
  }));
}

/**
 * The connection table as /proc/net/ip_vs_conn shows it: every hashed entry (connections and
 * persistence templates; one-packet conns and invalidated templates are not in the hash), in table
 * order, with whole seconds left.
 */
export function listConnections(d: Director, nowMs: number): ListConn[] {
  const t = d.conns;
  const rows: ListConn[] = [];
  t.forEach((h) => {
    if ((t.flags[h]! & CONN_F_HASHED) === 0) return;
    const caddr = new Uint32Array(4);
    const vaddr = new Uint32Array(4);
    const daddr = new Uint32Array(4);
    t.readAddr(h, ADDR_C, caddr, 0);
    t.readAddr(h, ADDR_V, vaddr, 0);
    t.readAddr(h, ADDR_D, daddr, 0);
    rows.push({
      proto: t.proto[h]!,
      af: t.af[h]!,
      daf: t.daf[h]!,
      caddr,
      cport: t.cport[h]!,
      vaddr,
      vport: t.vport[h]!,
      daddr,
      dport: t.dport[h]!,
      state: stateName(t, h),
      expires: Math.floor(t.remainingMs(h, nowMs) / 1000),
      peName: '',
      peData: '',
    });
  });
  return rows;
}

/** Apply a parsed table command. Returns the errno-bearing LvsError text on refusal. */
function apply(p: ParsedIpvsadm, ctx: IpvsadmContext): Step {
  const d = ctx.director;
  const cmd = p.command!;
  const svc = p.svc;
  const dest = p.dest;
  const g0 = d.services.generation;
  let changed = false;
  try {
    switch (cmd) {
      case 'add-service':
      case 'edit-service': {
        const opts = {
          scheduler: svc.scheduler,
          flags: svc.flags,
          ...((svc.flags & 1) !== 0 ? { timeout: svc.timeout } : {}),
          netmask: svc.netmask,
          pe: svc.pe,
          ...(svc.localAddrs.length > 0 ? { localAddrs: svc.localAddrs } : {}),
        };
        if (cmd === 'add-service') d.services.addService(serviceKey(svc), opts);
        else d.services.editService(serviceKey(svc), opts);
        break;
      }
      case 'delete-service':
        d.services.deleteService(serviceKey(svc));
        break;
      case 'flush':
        d.services.flush();
        break;
      case 'zero':
        if (p.options.has('service-address')) d.services.zero(serviceKey(svc));
        else d.services.zero();
        break;
      case 'add-server':
      case 'edit-server': {
        const tunnel = dest.fwd === FWD_TUNNEL;
        const spec = {
          af: dest.af,
          addr: dest.addr,
          port: dest.port,
          fwd: dest.fwd,
          weight: dest.weight,
          uThreshold: dest.uThreshold,
          lThreshold: dest.lThreshold,
          ...(tunnel ? { tunType: dest.tunType, tunPort: dest.tunPort, tunFlags: dest.tunFlags } : {}),
        };
        if (cmd === 'add-server') d.services.addDest(serviceKey(svc), spec);
        else d.services.editDest(serviceKey(svc), spec);
        break;
      }
      case 'delete-server':
        d.services.deleteDest(serviceKey(svc), { af: dest.af, addr: dest.addr, port: dest.port });
        break;
      case 'set': {
        const before = d.timeouts.get();
        d.timeouts.set(p.timeouts.tcp, p.timeouts.tcpfin, p.timeouts.udp);
        const after = d.timeouts.get();
        changed = before.tcp !== after.tcp || before.tcpfin !== after.tcpfin || before.udp !== after.udp;
        break;
      }
      case 'start-daemon':
        if (!ctx.sync)
          return { stdout: '', stderr: START_DAEMON_UNSUPPORTED, code: 255, changed: false, abort: false };
        ctx.sync.start(p.daemon);
        break;
      case 'stop-daemon':
        // without a sync daemon: truthfully what IPVS answers when none of that kind runs
        if (!ctx.sync) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'no sync daemon', ERRNO.ESRCH);
        ctx.sync.stop(p.daemon.state);
        break;
      default:
        break;
    }
  } catch (e) {
    if (e instanceof LvsError) {
      return {
        stdout: '',
        stderr: `${ipvsStrerror(cmd, e.errno)}\n`,
        code: 255,
        changed: false,
        abort: false,
      };
    }
    const msg = e instanceof Error ? e.message : String(e);
    return {
      stdout: '',
      stderr: `ipvsadm: internal error: ${msg}\n`,
      code: 255,
      changed: false,
      abort: false,
    };
  }
  return out('', 0, changed || d.services.generation !== g0);
}

function runOne(
  argv: readonly string[],
  ctx: IpvsadmContext,
  names: NameResolver,
  readingStdin: boolean,
): Step {
  const d = ctx.director;
  if (argv.length === 0) return out(listAll(listServices(d), 0, names));
  const p = parseIpvsadm(argv, names);
  if (!p.ok) {
    const e = p.error!;
    return { stdout: '', stderr: e.stderr, code: e.code, changed: false, abort: e.abort };
  }
  if (p.help) return { ...out(IPVSADM_USAGE + IPVSADM_OPTIONS_HELP), abort: true };
  if (p.version) return { ...out(`${IPVSADM_VERSION}\n`), abort: true };
  const opts = p.options;
  switch (p.command) {
    case 'list': {
      if (opts.has('connection')) return out(listConns(listConnections(d, ctx.nowMs), p.format, names));
      if (opts.has('service-address')) {
        const key = serviceKey(p.svc);
        const one = d.services.getService(key);
        if (!one) return { stdout: '', stderr: 'No such service\n', code: 1, changed: false, abort: true };
        const rec = listServices(d).find((s) => {
          return (
            s.af === one.af &&
            s.fwmark === one.fwmark &&
            s.proto === one.proto &&
            s.port === one.port &&
            s.addr.every((w, i) => w === one.addr[i])
          );
        })!;
        return out(listOne(rec, p.format, names));
      }
      if (opts.has('timeout')) return out(listTimeout(d.timeouts.get()));
      if (opts.has('daemon')) return out(listDaemons(ctx.sync?.list() ?? ctx.syncDaemons ?? []));
      return out(listAll(listServices(d), p.format, names));
    }
    case 'save':
      return out(listAll(listServices(d), p.format | FMT_RULE, names));
    case 'restore':
      if (readingStdin) return { stdout: '', stderr: TRY_HELP, code: 255, changed: false, abort: true };
      return restore(ctx, names);
    default:
      return apply(p, ctx);
  }
}

/** -R: one command per stdin line (ipvs-reference §1.9). */
function restore(ctx: IpvsadmContext, names: NameResolver): Step {
  let stdout = '';
  let stderr = '';
  let code = 0;
  let changed = false;
  for (const line of (ctx.stdin ?? '').split('\n')) {
    const words = splitLine(line);
    if (words.length === 0) continue; // with the program name, fewer than 2 words
    // lvsd: a line whose first word starts with '#' is a comment (ipvsadm would stop the restore
    // with "Try `ipvsadm -h' ..." on it)
    if (words[0]!.startsWith('#')) continue;
    const r = runOne(words, ctx, names, true);
    stdout += r.stdout;
    stderr += r.stderr;
    changed ||= r.changed;
    code = r.code;
    if (r.abort) return { stdout, stderr, code, changed, abort: true };
  }
  return { stdout, stderr, code, changed, abort: false };
}

/** Run one ipvsadm command line (argv without the program name) against ctx.director. */
export function executeIpvsadm(argv: readonly string[], ctx: IpvsadmContext): IpvsadmResult {
  const names = ctx.names ?? systemNames(parseAnyAddress);
  const r = runOne(argv, ctx, names, false);
  return { stdout: r.stdout, stderr: r.stderr, code: r.code, changed: r.changed };
}
