/**
 * ipvsadm 1.31 command-line parsing and validation (ipvs-reference §1), as a pure function.
 *
 * Shape of the original, kept here because messages and exit codes depend on it:
 *  - popt-style scanning: short clusters (-Ln), `-sARG`, `-s=ARG`, `--long ARG`, `--long=ARG`, `-p` with
 *    an optional argument (taken only when the next word does not start with '-'), `--` ends options,
 *    non-option words are collected (only `--set` consumes three of them).
 *  - The first option must be a command; otherwise "Try `ipvsadm -h' ..." and exit 255. A later
 *    command (or -h/-v) is "invalid option `<word>'", exit 2, as ipvsadm's option loop reports it.
 *  - Option values are checked as they are read: the first bad one fails with exit 2 (`fail`).
 *  - A scanning error after the command (unknown option, missing argument) prints
 *    "<word>: <popt error>" and returns -1 (exit 255) without exiting: inside -R the next line runs.
 *  - Then the command/option matrix (required / illegal / exclusive), then per-command checks.
 *
 * Result: `ParsedIpvsadm`. `error.abort` tells -R whether the original would have exited the whole
 * process (fail/tryhelp/usage) or only returned from this line.
 */
import { atoi, inetAton, inetPton6, parseAnyAddress, stringToNumber, strtoulWhole } from './addr.js';
import { systemNames, type NameResolver } from './names.js';

export const PROGRAM = 'ipvsadm';
export const TRY_HELP = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";

/** IPVS_SVC_PERSISTENT_TIMEOUT (§1.4) */
const DEFAULT_PERSISTENT_TIMEOUT = 360;
/** MAX_TIMEOUT = 31 days (§1.2 --set, §1.4 -p) */
const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 0x7fffffff;

export type IpvsadmCommand =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'delete-server'
  | 'edit-server'
  | 'set'
  | 'start-daemon'
  | 'stop-daemon'
  | 'restore'
  | 'save'
  | 'zero';

/** Command order of the legality matrix rows (§1.8 command names in messages). */
const COMMANDS: readonly IpvsadmCommand[] = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
];

/** Option names in messages, in matrix column order. */
export const OPT_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
  // lvsd extensions (after the 1.31 columns so 1.31 messages keep their order)
  'laddr',
] as const;
export type OptName = (typeof OPT_NAMES)[number];

/**
 * The legality matrix (ipvsadm commands_v_options, ipvs-reference §1.8): '+' required, 'x' illegal,
 * '1' mutually exclusive, ' ' optional. Every option not named for a command is illegal with it.
 */
function row(spec: Partial<Record<OptName, '+' | '1' | ' '>>): string {
  return OPT_NAMES.map((n) => spec[n] ?? 'x').join('');
}
const SVC_OPTS = {
  'service-address': '+',
  scheduler: ' ',
  persistent: ' ',
  netmask: ' ',
  ops: ' ',
  pe: ' ',
  'sched-flags': ' ',
  laddr: ' ',
} as const;
const DEST_OPTS = {
  'service-address': '+',
  'real-server': '+',
  'forwarding-method': ' ',
  weight: ' ',
  'u-threshold': ' ',
  'l-threshold': ' ',
  'tun-type': ' ',
  'tun-port': ' ',
  'tun-nocsum': ' ',
  'tun-csum': ' ',
  'tun-remcsum': ' ',
} as const;
const MATRIX: Record<IpvsadmCommand, string> = {
  'add-service': row(SVC_OPTS),
  'edit-service': row(SVC_OPTS),
  'delete-service': row({ 'service-address': '+' }),
  flush: row({}),
  list: row({
    numeric: ' ',
    connection: '1',
    'service-address': '1',
    timeout: '1',
    daemon: '1',
    stats: ' ',
    rate: ' ',
    thresholds: ' ',
    'persistent-conn': ' ',
    nosort: ' ',
    syncid: ' ', // accepted and ignored, as in ipvsadm's table
    exact: ' ',
    'tun-info': ' ',
  }),
  'add-server': row(DEST_OPTS),
  'delete-server': row({ 'service-address': '+', 'real-server': '+' }),
  'edit-server': row(DEST_OPTS),
  set: row({}),
  'start-daemon': row({
    'mcast-interface': ' ',
    syncid: ' ',
    'mcast-group': ' ',
    'mcast-port': ' ',
    'mcast-ttl': ' ',
    'sync-maxlen': ' ',
  }),
  'stop-daemon': row({ syncid: ' ' }),
  restore: row({}),
  save: row({ numeric: ' ' }),
  zero: row({ 'service-address': ' ' }),
};

/** Tunnel type x tunnel option legality (ipvs-reference §1.5 table), columns tun-port..tun-remcsum. */
const TUN_TYPES = ['ipip', 'gue', 'gre'] as const;
// prettier-ignore
const TUN_MATRIX: readonly string[] = [
  /* ipip */ 'xxxx',
  /* gue  */ '+111',
  /* gre  */ 'x11x',
];
const TUN_COLS: readonly OptName[] = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];

export const FMT_NUMERIC = 0x1;
export const FMT_RULE = 0x2;
export const FMT_STATS = 0x4;
export const FMT_RATE = 0x8;
export const FMT_THRESHOLDS = 0x10;
export const FMT_PERSISTENTCONN = 0x20;
export const FMT_NOSORT = 0x40;
export const FMT_EXACT = 0x80;
export const FMT_TUN_INFO = 0x100;

/** Forwarding methods as ipvsadm stores them (uapi IP_VS_CONN_F_*; FULLNAT is lvsd's). */
export const FWD_MASQ = 0;
export const FWD_TUNNEL = 2;
export const FWD_DROUTE = 3;
export const FWD_FULLNAT = 5;

export interface ParsedService {
  /** 4 or 6 (0 until a selector is seen) */
  af: number;
  /** 6 TCP, 17 UDP, 132 SCTP */
  proto: number;
  /** 4 big-endian words */
  addr: Uint32Array;
  port: number;
  fwmark: number;
  scheduler: string;
  flags: number;
  timeout: number;
  /** IPv4: u32 mask; IPv6: prefix length */
  netmask: number;
  pe: string;
  /** lvsd FullNAT local addresses (--laddr) */
  localAddrs: { af: number; addr: Uint32Array }[];
}

export interface ParsedDest {
  af: number;
  addr: Uint32Array;
  port: number;
  fwd: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
}

export interface ParsedDaemon {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  syncMaxlen: number;
  mcastGroup: string;
  mcastPort: number;
  mcastTtl: number;
}

export interface ParsedIpvsadm {
  ok: boolean;
  /** nothing in the table changes (listing, save, help, version, errors, sync daemon requests) */
  readOnly: boolean;
  /** -R: the commands come from stdin */
  needsStdin: boolean;
  help: boolean;
  version: boolean;
  /** stderr text (with newlines) and exit code of a parse or validation failure */
  error?: { stderr: string; code: number; abort: boolean };
  /** undefined with no arguments at all (ipvsadm alone lists, names resolved) */
  command?: IpvsadmCommand;
  /** option columns given (OPT_NAMES indexes) */
  options: ReadonlySet<OptName>;
  format: number;
  svc: ParsedService;
  dest: ParsedDest;
  timeouts: { tcp: number; tcpfin: number; udp: number };
  daemon: ParsedDaemon;
}

/** A fail()/tryhelp exit inside parsing. */
class Exit {
  constructor(
    readonly stderr: string,
    readonly code: number,
    readonly abort: boolean,
    readonly stdout = '',
  ) {}
}

function fail(msg: string): never {
  throw new Exit(`${msg}\n`, 2, true);
}

type ArgKind = 'none' | 'string' | 'optional';
interface OptDef {
  long: string;
  short?: string;
  arg: ArgKind;
  tag: string;
}

/** The popt option table of ipvsadm 1.31 (plus lvsd's --fullnat and --laddr). */
const TABLE: readonly OptDef[] = [
  { long: 'add-service', short: 'A', arg: 'none', tag: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', tag: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', tag: 'D' },
  { long: 'clear', short: 'C', arg: 'none', tag: 'C' },
  { long: 'list', short: 'L', arg: 'none', tag: 'L' },
  { long: 'list', short: 'l', arg: 'none', tag: 'L' },
  { long: 'zero', short: 'Z', arg: 'none', tag: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', tag: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', tag: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', tag: 'd' },
  { long: 'set', arg: 'none', tag: 'set' },
  { long: 'help', short: 'h', arg: 'none', tag: 'h' },
  { long: 'version', short: 'v', arg: 'none', tag: 'v' },
  { long: 'restore', short: 'R', arg: 'none', tag: 'R' },
  { long: 'save', short: 'S', arg: 'none', tag: 'S' },
  { long: 'start-daemon', arg: 'string', tag: 'start-daemon' },
  { long: 'stop-daemon', arg: 'string', tag: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'string', tag: 't' },
  { long: 'udp-service', short: 'u', arg: 'string', tag: 'u' },
  { long: 'sctp-service', arg: 'string', tag: 'sctp' },
  { long: 'fwmark-service', short: 'f', arg: 'string', tag: 'f' },
  { long: 'scheduler', short: 's', arg: 'string', tag: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', tag: 'p' },
  { long: 'netmask', short: 'M', arg: 'string', tag: 'M' },
  { long: 'real-server', short: 'r', arg: 'string', tag: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', tag: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', tag: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', tag: 'g' },
  { long: 'weight', short: 'w', arg: 'string', tag: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'string', tag: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'string', tag: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', tag: 'n' },
  { long: 'connection', short: 'c', arg: 'none', tag: 'c' },
  { long: 'mcast-interface', arg: 'string', tag: 'mcast-interface' },
  { long: 'syncid', arg: 'string', tag: 'syncid' },
  { long: 'timeout', arg: 'none', tag: 'timeout' },
  { long: 'daemon', arg: 'none', tag: 'daemon' },
  { long: 'stats', arg: 'none', tag: 'stats' },
  { long: 'rate', arg: 'none', tag: 'rate' },
  { long: 'thresholds', arg: 'none', tag: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', tag: 'persistent-conn' },
  { long: 'tun-info', arg: 'none', tag: 'tun-info' },
  { long: 'nosort', arg: 'none', tag: 'nosort' },
  { long: 'sort', arg: 'none', tag: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', tag: 'exact' },
  { long: 'ipv6', short: '6', arg: 'none', tag: '6' },
  { long: 'ops', short: 'o', arg: 'none', tag: 'o' },
  { long: 'pe', arg: 'string', tag: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'string', tag: 'b' },
  { long: 'mcast-group', arg: 'string', tag: 'mcast-group' },
  { long: 'mcast-port', arg: 'string', tag: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'string', tag: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'string', tag: 'sync-maxlen' },
  { long: 'tun-type', arg: 'string', tag: 'tun-type' },
  { long: 'tun-port', arg: 'string', tag: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', tag: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', tag: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', tag: 'tun-remcsum' },
  // lvsd: FullNAT forwarding (-a/-e) and its local address pool (-A/-E), as DPVS offers them
  { long: 'fullnat', arg: 'none', tag: 'fullnat' },
  { long: 'laddr', arg: 'string', tag: 'laddr' },
];

const BY_LONG = new Map(TABLE.map((d) => [d.long, d]));
const BY_SHORT = new Map(TABLE.filter((d) => d.short).map((d) => [d.short!, d]));

const POPT_BADOPT = 'unknown option';
const POPT_NOARG = 'missing argument';
const POPT_UNWANTEDARG = 'option does not take an argument';

interface Scanned {
  tag: string;
  arg: string | null;
}

/** popt's scanner over argv (argv excludes the program name). */
class Scanner {
  private i = 0;
  private cluster = '';
  private clusterWord = '';
  readonly leftovers: string[] = [];
  private ended = false;
  /** the last argv word consumed (popt's poptBadOption: argv[next - 1]) */
  lastWord = '';

  constructor(private readonly argv: readonly string[]) {}

  /** Next option, null at the end; throws a popt error string (word: message) on a bad one. */
  next(): Scanned | null {
    for (;;) {
      if (this.cluster !== '') return this.fromCluster();
      if (this.i >= this.argv.length) return null;
      const a = this.argv[this.i++]!;
      this.lastWord = a;
      if (this.ended) {
        this.leftovers.push(a);
        continue;
      }
      if (a === '--') {
        this.ended = true;
        continue;
      }
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
        const def = BY_LONG.get(name);
        if (!def) throw new PoptError(a, POPT_BADOPT);
        if (def.arg === 'none') {
          if (eq >= 0) throw new PoptError(a, POPT_UNWANTEDARG);
          return { tag: def.tag, arg: null };
        }
        if (eq >= 0) return { tag: def.tag, arg: a.slice(eq + 1) };
        return { tag: def.tag, arg: this.takeArg(def, a) };
      }
      if (a.startsWith('-') && a.length > 1) {
        this.cluster = a.slice(1);
        this.clusterWord = a;
        continue;
      }
      this.leftovers.push(a);
    }
  }

  private fromCluster(): Scanned {
    const c = this.cluster[0]!;
    this.cluster = this.cluster.slice(1);
    const def = BY_SHORT.get(c);
    if (!def) {
      this.cluster = '';
      throw new PoptError(this.clusterWord, POPT_BADOPT);
    }
    if (def.arg === 'none') {
      // popt: `-n=x` is an argument given to an option that takes none
      if (this.cluster.startsWith('=')) {
        this.cluster = '';
        throw new PoptError(this.clusterWord, POPT_UNWANTEDARG);
      }
      return { tag: def.tag, arg: null };
    }
    if (this.cluster !== '') {
      // popt skips one '=' between a short option and its argument: `-s=rr` is `-s rr`
      const v = this.cluster.startsWith('=') ? this.cluster.slice(1) : this.cluster;
      this.cluster = '';
      return { tag: def.tag, arg: v };
    }
    return { tag: def.tag, arg: this.takeArg(def, this.clusterWord) };
  }

  private takeArg(def: OptDef, word: string): string | null {
    const nextWord = this.argv[this.i];
    if (def.arg === 'optional') {
      // popt takes an optional argument only if the next word does not start with '-' (not even "-")
      if (nextWord === undefined || nextWord.startsWith('-')) return null;
      this.i++;
      this.lastWord = nextWord;
      return nextWord;
    }
    if (nextWord === undefined) throw new PoptError(word, POPT_NOARG);
    this.i++;
    this.lastWord = nextWord;
    return nextWord;
  }

  /** The remaining non-option words in order (poptGetArg), after next() returned null. */
  takeLeftover(): string | undefined {
    return this.leftovers.shift();
  }
}

class PoptError {
  constructor(
    readonly word: string,
    readonly message: string,
  ) {}
}

function emptyService(): ParsedService {
  return {
    af: 0,
    proto: 0,
    addr: new Uint32Array(4),
    port: 0,
    fwmark: 0,
    scheduler: '',
    flags: 0,
    timeout: 0,
    netmask: 0xffffffff,
    pe: '',
    localAddrs: [],
  };
}

function emptyDest(): ParsedDest {
  return {
    af: 0,
    addr: new Uint32Array(4),
    port: 0,
    fwd: FWD_DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: 0,
    tunPort: 0,
    tunFlags: 0,
  };
}

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_SCHED1 = 0x8;
const SVC_F_SCHED2 = 0x10;
const SVC_F_SCHED3 = 0x20;

const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

function protoName(proto: number): string {
  return proto === 17 ? 'udp' : proto === 132 ? 'sctp' : 'tcp';
}

/**
 * ipvsadm parse_service: `host[:port]`, `[v6]:port` or a bare IPv6 address. Sets af/addr/port of
 * `into` (IPv6 also sets netmask 128, as the original does on the service). Returns the SERVICE_*
 * bits (0 = not an address).
 */
function parseServiceArg(buf: string, into: ParsedService, names: NameResolver): number {
  if (/^\d+$/.test(buf)) return 0; // str_is_digit: "16909060" is not an address here
  let s = buf;
  let portStr: string | null = null;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return 0;
    if (s[close + 1] !== ':') return 0;
    portStr = s.slice(close + 2);
    s = s.slice(1, close);
  }
  const v6 = inetPton6(s);
  if (v6) {
    into.addr = v6;
    into.af = 6;
    into.netmask = 128;
  } else {
    // as the original: the port of "[v4]:port" is lost here (strrchr finds no ':' any more)
    const colon = s.lastIndexOf(':');
    portStr = colon >= 0 ? s.slice(colon + 1) : null;
    if (colon >= 0) s = s.slice(0, colon);
    let v = inetAton(s);
    if (v === null) v = names.hostAddr(s) ?? null;
    if (v === null) return 0;
    into.addr = new Uint32Array([v, 0, 0, 0]);
    into.af = 4;
  }
  let result = SERVICE_ADDR;
  if (portStr !== null) {
    result |= SERVICE_PORT;
    let p = stringToNumber(portStr, 0, 65535);
    if (p === -1) p = names.portByName(portStr, protoName(into.proto)) ?? -1;
    if (p === -1) return 0;
    into.port = p;
  }
  return result;
}

/** ipvsadm parse_sched_flags (§1.4 -b). An absent scheduler checks against wlc. */
function parseSchedFlags(sched: string, arg: string): number {
  const s = sched !== '' ? sched : 'wlc';
  let flags = 0;
  for (const flag of arg.split(',').filter((f) => f !== '')) {
    if (flag === 'flag-1') flags |= SVC_F_SCHED1;
    else if (flag === 'flag-2') flags |= SVC_F_SCHED2;
    else if (flag === 'flag-3') flags |= SVC_F_SCHED3;
    else if (flag === 'sh-fallback' || flag === 'sh-port') {
      if (s !== 'sh') fail(`incompatible scheduler flag \`${flag}'`);
      flags |= flag === 'sh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
    } else if (flag === 'mh-fallback' || flag === 'mh-port') {
      if (s !== 'mh') fail(`incompatible scheduler flag \`${flag}'`);
      flags |= flag === 'mh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
    } else fail(`invalid scheduler flag \`${flag}'`);
  }
  return flags;
}

function parseTimeout(arg: string | null, min: number, max: number): number {
  if (arg === null) return DEFAULT_PERSISTENT_TIMEOUT;
  const v = stringToNumber(arg, min, max);
  if (v === -1) fail(`invalid timeout value \`${arg}' specified`);
  return v;
}

function parseFwmark(arg: string): number {
  const v = strtoulWhole(arg);
  if (v === null || v <= 0 || v > 0xffffffff) fail(`invalid fwmark value \`${arg}' specified`);
  return v;
}

const COMMAND_TAGS: Record<string, IpvsadmCommand> = {
  A: 'add-service',
  E: 'edit-service',
  D: 'delete-service',
  C: 'flush',
  L: 'list',
  Z: 'zero',
  a: 'add-server',
  e: 'edit-server',
  d: 'delete-server',
  set: 'set',
  R: 'restore',
  S: 'save',
  'start-daemon': 'start-daemon',
  'stop-daemon': 'stop-daemon',
};

function isMulticast4(v: number): boolean {
  return v >>> 28 === 0xe;
}

function base(): ParsedIpvsadm {
  return {
    ok: true,
    readOnly: true,
    needsStdin: false,
    help: false,
    version: false,
    options: new Set(),
    format: 0,
    svc: emptyService(),
    dest: emptyDest(),
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: {
      state: 'master',
      mcastIfn: '',
      syncid: 0,
      syncMaxlen: 0,
      mcastGroup: '',
      mcastPort: 0,
      mcastTtl: 0,
    },
  };
}

/** Parse an ipvsadm command line (argv without the program name). Never throws. */
export function parseIpvsadm(
  argv: readonly string[],
  names: NameResolver = systemNames(parseAnyAddress),
): ParsedIpvsadm {
  const r = base();
  if (argv.length === 0) return r; // ipvsadm alone: list everything, names resolved
  try {
    parseInto(argv, r, names);
    check(r);
  } catch (e) {
    if (e instanceof Exit) {
      r.ok = false;
      r.readOnly = true;
      r.needsStdin = false;
      r.error = { stderr: e.stderr, code: e.code, abort: e.abort };
      return r;
    }
    // a bug, not an input error: still a result, never an exception (the daemon runs this)
    r.ok = false;
    r.readOnly = true;
    r.needsStdin = false;
    r.error = {
      stderr: `ipvsadm: internal error: ${e instanceof Error ? e.message : String(e)}\n`,
      code: 255,
      abort: true,
    };
    return r;
  }
  const c = r.command;
  r.readOnly =
    r.help ||
    r.version ||
    c === 'list' ||
    c === 'save' ||
    // the table does not change; --start-daemon is not read-only: it needs the daemon to run in
    c === 'stop-daemon';
  r.needsStdin = c === 'restore';
  return r;
}

function parseInto(argv: readonly string[], r: ParsedIpvsadm, names: NameResolver): void {
  const sc = new Scanner(argv);
  const opts = r.options as Set<OptName>;
  const setOption = (o: OptName): void => {
    if (opts.has(o)) fail(`multiple '${o}' options specified`);
    opts.add(o);
  };
  const svc = r.svc;
  const dest = r.dest;
  const d = r.daemon;
  let schedFlagsArg = '';

  let first: Scanned | null;
  try {
    first = sc.next();
  } catch (e) {
    if (e instanceof PoptError) throw new Exit(TRY_HELP, 255, true);
    throw e;
  }
  if (first === null) throw new Exit(TRY_HELP, 255, true);
  if (first.tag === 'h') {
    r.help = true;
    return;
  }
  if (first.tag === 'v') {
    r.version = true;
    return;
  }
  const cmd = COMMAND_TAGS[first.tag];
  if (cmd === undefined) throw new Exit(TRY_HELP, 255, true);
  r.command = cmd;
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    if (first.arg === 'master' || first.arg === 'backup') d.state = first.arg;
    else
      fail(
        cmd === 'start-daemon'
          ? 'illegal start-daemon parameter specified'
          : 'illegal start_daemon specified', // sic: ipvsadm's text for --stop-daemon
      );
  }

  for (;;) {
    let o: Scanned | null;
    try {
      o = sc.next();
    } catch (e) {
      if (e instanceof PoptError) throw new Exit(`${e.word}: ${e.message}\n`, 255, false);
      throw e;
    }
    if (o === null) break;
    const arg = o.arg ?? '';
    switch (o.tag) {
      case 't':
      case 'u':
      case 'sctp': {
        setOption('service-address');
        svc.proto = o.tag === 't' ? 6 : o.tag === 'u' ? 17 : 132;
        if ((parseServiceArg(arg, svc, names) & SERVICE_ADDR) === 0)
          fail('illegal virtual server address[:port] specified');
        break;
      }
      case 'f':
        setOption('service-address');
        // the protocol is set to a sane value though a fwmark service does not use it
        svc.af = 4;
        svc.proto = 6;
        svc.fwmark = parseFwmark(arg);
        break;
      case 's':
        setOption('scheduler');
        svc.scheduler = arg.slice(0, 15); // IP_VS_SCHEDNAME_MAXLEN - 1
        break;
      case 'p':
        setOption('persistent');
        svc.flags |= SVC_F_PERSISTENT;
        svc.timeout = parseTimeout(o.arg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption('netmask');
        if (svc.af !== 6) {
          let v = inetAton(arg);
          if (v === null) v = names.hostAddr(arg) ?? null;
          if (v === null) fail('illegal virtual server persistent mask specified');
          svc.netmask = v;
        } else {
          const v = atoi(arg);
          if (v < 1 || v > 128) fail('illegal ipv6 netmask specified');
          svc.netmask = v;
        }
        break;
      case 'r': {
        setOption('real-server');
        const t: ParsedService = { ...svc, addr: svc.addr.slice() };
        const parse = parseServiceArg(arg, t, names);
        dest.af = t.af;
        dest.addr = t.addr;
        dest.port = t.port;
        if ((parse & SERVICE_ADDR) === 0) fail('illegal real server address[:port] specified');
        if (parse === SERVICE_ADDR) dest.port = svc.port; // copy vport to dport if not specified
        break;
      }
      case 'i':
        setOption('forwarding-method');
        dest.fwd = FWD_TUNNEL;
        break;
      case 'g':
        setOption('forwarding-method');
        dest.fwd = FWD_DROUTE;
        break;
      case 'm':
        setOption('forwarding-method');
        dest.fwd = FWD_MASQ;
        break;
      case 'fullnat':
        setOption('forwarding-method');
        dest.fwd = FWD_FULLNAT;
        break;
      case 'w': {
        setOption('weight');
        const v = stringToNumber(arg, 0, 65535);
        if (v === -1) fail('illegal weight specified');
        dest.weight = v;
        break;
      }
      case 'x': {
        setOption('u-threshold');
        const v = stringToNumber(arg, 0, INT_MAX);
        if (v === -1) fail('illegal u_threshold specified');
        dest.uThreshold = v;
        break;
      }
      case 'y': {
        setOption('l-threshold');
        const v = stringToNumber(arg, 0, INT_MAX);
        if (v === -1) fail('illegal l_threshold specified');
        dest.lThreshold = v;
        break;
      }
      case 'c':
        setOption('connection');
        break;
      case 'n':
        setOption('numeric');
        r.format |= FMT_NUMERIC;
        break;
      case 'mcast-interface':
        setOption('mcast-interface');
        d.mcastIfn = arg.slice(0, 15); // IP_VS_IFNAME_MAXLEN - 1
        break;
      case 'syncid': {
        setOption('syncid');
        const v = stringToNumber(arg, 0, 255);
        if (v === -1) fail('illegal syncid specified');
        d.syncid = v;
        break;
      }
      case 'timeout':
        setOption('timeout');
        break;
      case 'daemon':
        setOption('daemon');
        break;
      case 'stats':
        setOption('stats');
        r.format |= FMT_STATS;
        break;
      case 'rate':
        setOption('rate');
        r.format |= FMT_RATE;
        break;
      case 'thresholds':
        setOption('thresholds');
        r.format |= FMT_THRESHOLDS;
        break;
      case 'persistent-conn':
        setOption('persistent-conn');
        r.format |= FMT_PERSISTENTCONN;
        break;
      case 'tun-info':
        setOption('tun-info');
        r.format |= FMT_TUN_INFO;
        break;
      case 'nosort':
        setOption('nosort');
        r.format |= FMT_NOSORT;
        break;
      case 'sort':
        break; // sorting is the default; kept for compatibility
      case 'exact':
        setOption('exact');
        r.format |= FMT_EXACT;
        break;
      case '6':
        if (svc.fwmark !== 0) {
          svc.af = 6;
          svc.netmask = 128;
        } else fail('-6 used before -f');
        break;
      case 'o':
        setOption('ops');
        svc.flags |= SVC_F_ONEPACKET;
        break;
      case 'pe':
        setOption('pe');
        svc.pe = arg.slice(0, 32);
        break;
      case 'b':
        setOption('sched-flags');
        schedFlagsArg = arg;
        break;
      case 'mcast-group': {
        setOption('mcast-group');
        if (arg.includes(':')) {
          const w = inetPton6(arg);
          if (w === null || w[0]! >>> 24 !== 0xff) fail(`invalid IPv6 mcast-group \`${arg}'`);
        } else {
          const v = /^\d+\.\d+\.\d+\.\d+$/.test(arg) ? inetAton(arg) : null;
          if (v === null || !isMulticast4(v)) fail(`invalid IPv4 mcast-group \`${arg}'`);
        }
        d.mcastGroup = arg;
        break;
      }
      case 'mcast-port': {
        setOption('mcast-port');
        const v = stringToNumber(arg, 1, 65535);
        if (v === -1) fail('illegal mcast-port specified');
        d.mcastPort = v;
        break;
      }
      case 'mcast-ttl': {
        setOption('mcast-ttl');
        const v = stringToNumber(arg, 1, 255);
        if (v === -1) fail('illegal mcast-ttl specified');
        d.mcastTtl = v;
        break;
      }
      case 'sync-maxlen': {
        setOption('sync-maxlen');
        const v = stringToNumber(arg, 1, 65535 - 20 - 8);
        if (v === -1) fail('illegal sync-maxlen specified');
        d.syncMaxlen = v;
        break;
      }
      case 'tun-type': {
        setOption('tun-type');
        const t = (TUN_TYPES as readonly string[]).indexOf(arg);
        if (t < 0) fail('illegal tunnel type specified');
        dest.tunType = t;
        break;
      }
      case 'tun-port': {
        setOption('tun-port');
        const v = stringToNumber(arg, 1, 65535);
        if (v === -1) fail('illegal tunnel port specified');
        dest.tunPort = v;
        break;
      }
      case 'tun-nocsum':
        setOption('tun-nocsum');
        break;
      case 'tun-csum':
        setOption('tun-csum');
        dest.tunFlags |= 1;
        break;
      case 'tun-remcsum':
        setOption('tun-remcsum');
        dest.tunFlags |= 2;
        break;
      case 'laddr': {
        setOption('laddr');
        for (const a of arg.split(',')) {
          const w6 = inetPton6(a);
          const v4 = w6 ? null : /^\d+\.\d+\.\d+\.\d+$/.test(a) ? inetAton(a) : null;
          if (!w6 && v4 === null) fail(`illegal local address \`${a}' specified`);
          svc.localAddrs.push(w6 ? { af: 6, addr: w6 } : { af: 4, addr: new Uint32Array([v4!, 0, 0, 0]) });
        }
        break;
      }
      default:
        // A second command, or -h / -v after the command. ipvsadm's option loop has no case for
        // them, so popt's last word is reported (set_command's "multiple commands specified" is
        // only reachable for the first option, where it cannot trigger).
        fail(`invalid option \`${sc.lastWord}'`);
    }
  }

  if (r.command === 'set') {
    const a = sc.takeLeftover();
    const b = sc.takeLeftover();
    const c = sc.takeLeftover();
    if (a === undefined || b === undefined || c === undefined) fail('--set option requires 3 timeout values');
    r.timeouts = {
      tcp: parseTimeout(a, 0, MAX_TIMEOUT),
      tcpfin: parseTimeout(b, 0, MAX_TIMEOUT),
      udp: parseTimeout(c, 0, MAX_TIMEOUT),
    };
  }
  const extra = sc.takeLeftover();
  if (extra !== undefined) fail(`unexpected argument ${extra}`);
  if (schedFlagsArg !== '') svc.flags |= parseSchedFlags(svc.scheduler, schedFlagsArg);
}

/** generic_opt_check, then the per-command checks of process_options. */
function check(r: ParsedIpvsadm): void {
  const cmd = r.command;
  if (cmd === undefined) return; // help / version
  const row = MATRIX[cmd];
  const opts = r.options;
  let last = -1;
  for (let j = 0; j < OPT_NAMES.length; j++) {
    const name = OPT_NAMES[j]!;
    const legal = row[j]!;
    if (!opts.has(name)) {
      if (legal === '+') fail(`You need to supply the '${name}' option for the '${cmd}' command`);
    } else {
      if (legal === 'x') fail(`Illegal '${name}' option with the '${cmd}' command`);
      if (legal === '1') {
        if (last < 0) last = j;
        else
          fail(`The option '${name}' conflicts with the '${OPT_NAMES[last]}' option in the '${cmd}' command`);
      }
    }
  }
  const svc = r.svc;
  const dest = r.dest;
  if (cmd === 'add-service' || cmd === 'edit-service') {
    if (svc.fwmark === 0 && svc.port === 0 && (svc.flags & SVC_F_PERSISTENT) === 0)
      fail('Zero port specified for non-persistent service');
    if ((svc.flags & SVC_F_ONEPACKET) !== 0 && svc.fwmark === 0 && svc.proto !== 17)
      fail('One-Packet Scheduling is only for UDP virtual services');
    if (svc.scheduler === '') svc.scheduler = 'wlc';
  }
  if (cmd === 'start-daemon' && r.daemon.mcastIfn === '') r.daemon.mcastIfn = 'eth0';
  if (cmd === 'add-server' || cmd === 'edit-server') {
    // DR and TUN cannot remap ports: the destination port is the service port (not for fwmark)
    if (svc.fwmark === 0 && (dest.fwd === FWD_TUNNEL || dest.fwd === FWD_DROUTE)) dest.port = svc.port;
    if (dest.af !== svc.af && dest.fwd !== FWD_TUNNEL)
      fail('Different address family is allowed only for tunneling servers');
    const tunOpts: OptName[] = ['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];
    if (tunOpts.some((o) => opts.has(o)) && dest.fwd !== FWD_TUNNEL)
      fail('Tunnel options conflict with forward method');
    if (dest.fwd === FWD_TUNNEL) {
      const tname = TUN_TYPES[dest.tunType]!;
      const trow = TUN_MATRIX[dest.tunType]!;
      let tlast = -1;
      for (let j = 0; j < TUN_COLS.length; j++) {
        const name = TUN_COLS[j]!;
        const legal = trow[j]!;
        if (!opts.has(name)) {
          if (legal === '+') fail(`You need to supply the '${name}' option for the '${tname}' tunnel type`);
        } else {
          if (legal === 'x') fail(`Illegal '${name}' option with the '${tname}' tunnel type`);
          if (legal === '1') {
            if (tlast < 0) tlast = j;
            else
              fail(
                `The option '${name}' conflicts with the '${TUN_COLS[tlast]}' option in the '${tname}' tunnel type`,
              );
          }
        }
      }
    }
  }
  if (cmd === 'list') {
    const special = opts.has('connection') || opts.has('timeout') || opts.has('daemon');
    const shapes = opts.has('stats') || opts.has('rate') || opts.has('thresholds') || opts.has('tun-info');
    if (special && shapes) fail('options conflicts in the list command');
    if ((opts.has('timeout') || opts.has('daemon')) && opts.has('persistent-conn'))
      fail('options conflicts in the list command');
  }
}

/**
 * -R line splitting as ipvsadm's config_stream_read: words separated by spaces, tabs and CRs (no
 * quoting), and every word that is exactly `ipvsadm` dropped, wherever it stands.
 */
export function splitLine(line: string): string[] {
  return line.split(/[ \t\r]+/).filter((w) => w !== '' && w !== 'ipvsadm');
}

/** Used by the save formatter for `-p`: mirrors protoName for service-name lookups. */
export function serviceProtoName(proto: number): string {
  return protoName(proto);
}

export { COMMANDS };
