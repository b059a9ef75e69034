/**
 * virtual_server, real_server and checker keywords (reference §1.4-§1.6), current and legacy
 * spellings (lb_algo = lvs_sched, lb_kind = lvs_method, nb_get_retry = retry in HTTP/SSL only).
 * Handlers only record what the block says; inheritance and post-parse checks are normalize.ts.
 */
import type { CheckerKind, HttpUrl, LvsMethod, SourceLocation, TunnelOptions } from './model.js';
import type { ParseState, RawChecker, RawRealServer, RawSmtpHost, RawVirtualServer, Timing } from './raw.js';
import { dispatch, wordLoc, type KeywordTable, type Node } from './tree.js';
import {
  canonAddress,
  hexBytes,
  parseBool,
  parseInteger,
  parseTimer,
  portNumber,
  scriptSpec,
  UINT_MAX,
} from './values.js';

/** IPVS schedulers keepalived accepts (reference §1.4) */
export const SCHEDULERS = new Set([
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'sh',
  'mh',
  'dh',
  'fo',
  'ovf',
  'lblcr',
  'sed',
  'nq',
  'twos',
]);

const SCHED_FLAGS = ['flag-1', 'flag-2', 'flag-3', 'sh-port', 'sh-fallback', 'mh-port', 'mh-fallback'];
const MAX_WEIGHT = 2147483647;
/** 31 days (reference §1.4) */
export const MAX_PERSISTENCE = 31 * 24 * 3600;

const arg = (n: Node, i: number): string | undefined => n.args[i]?.text;
const argLoc = (n: Node, i: number): SourceLocation => (n.args[i] ? wordLoc(n, n.args[i]!) : n.loc);

/**
 * `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`. Values are
 * case-sensitive (strcmp). Returns undefined (with keepalived's message) for an unknown method.
 */
export function parseMethod(
  node: Node,
  st: ParseState,
): { method: LvsMethod; tunnel?: TunnelOptions } | undefined {
  const m = arg(node, 0);
  if (m !== 'NAT' && m !== 'DR' && m !== 'TUN') {
    st.diags.error(`PARSER : unknown [${m ?? ''}] routing method for virtual server.`, node.loc);
    return undefined;
  }
  if (m !== 'TUN') return { method: m };
  const tunnel: TunnelOptions = { type: 'ipip' };
  let port: number | undefined;
  for (let i = 1; i < node.args.length; i++) {
    const w = node.args[i]!.text;
    if (w === 'type') {
      const t = arg(node, ++i);
      if (t === 'ipip' || t === 'gue' || t === 'gre') tunnel.type = t;
      else st.diags.error(`Unknown tunnel type '${t ?? ''}' - ignoring`, argLoc(node, i));
    } else if (w === 'port') {
      const p = portNumber(arg(node, ++i));
      if (p === null) st.diags.error(`Invalid gue port '${arg(node, i) ?? ''}'`, argLoc(node, i));
      else port = p;
    } else if (w === 'nocsum' || w === 'csum' || w === 'remcsum') tunnel.csum = w;
    else st.diags.error(`Unknown TUN option '${w}' - ignoring`, argLoc(node, i));
  }
  if ((tunnel.type === 'gue') !== (port !== undefined)) {
    st.diags.error('gue tunnels require port, otherwise cannot have port.', node.loc);
    if (tunnel.type === 'gue') return undefined;
    port = undefined;
  }
  if (port !== undefined) tunnel.port = port;
  if (tunnel.type === 'ipip' && tunnel.csum !== undefined) {
    st.diags.error('ipip tunnels do not support checksum options - ignoring', node.loc);
    delete tunnel.csum;
  }
  if (tunnel.type === 'gre' && tunnel.csum === 'remcsum') {
    st.diags.error('gre tunnels do not support remcsum - ignoring', node.loc);
    delete tunnel.csum;
  }
  return { method: 'TUN', tunnel };
}

/** notify_up / quorum_up style: `"script args" [user [group]]` */
function scriptArg(node: Node): ReturnType<typeof scriptSpec> | undefined {
  const cmd = arg(node, 0);
  if (cmd === undefined) return undefined;
  return scriptSpec(cmd, arg(node, 1), arg(node, 2));
}

/** delay_loop / connect_timeout / retry / delay_before_retry / warmup / alpha / virtualhost */
function timingKeywords<C>(
  get: (c: C) => Timing,
  st: ParseState,
  level: 'virtual server' | 'real server' | 'checker',
): KeywordTable<C> {
  const minRetry = level === 'checker' ? 0 : 1;
  return {
    delay_loop: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0.000001, st.diags, n.loc);
        if (v === undefined)
          st.diags.error(`${level} delay loop '${arg(n, 0) ?? ''}' invalid - ignoring`, n.loc);
        else get(c).delayLoop = v;
      },
    },
    connect_timeout: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0.000001, st.diags, n.loc);
        if (v === undefined)
          st.diags.error(`${level} connect_timeout '${arg(n, 0) ?? ''}' invalid - ignoring`, n.loc);
        else get(c).connectTimeout = v;
      },
    },
    retry: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), minRetry, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) get(c).retry = v;
      },
    },
    delay_before_retry: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0, st.diags, n.loc);
        if (v !== undefined) get(c).delayBeforeRetry = v;
      },
    },
    warmup: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0, st.diags, n.loc);
        if (v !== undefined) get(c).warmup = v;
      },
    },
    alpha: { fn: (n, c) => void (get(c).alpha = parseBool(arg(n, 0), st.diags, n.loc)) },
  };
}

interface CkCtx {
  ck: RawChecker;
}

function connectionKeywords(st: ParseState): KeywordTable<CkCtx> {
  return {
    connect_ip: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        if (!a) st.diags.error(`Invalid connect_ip address '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else c.ck.connectIp = a.address;
      },
    },
    connect_port: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, 65535, st.diags, n.loc);
        if (v !== undefined) c.ck.connectPort = v;
      },
    },
    bindto: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        if (!a) st.diags.error(`Invalid bindto address '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else c.ck.bindTo = a.address;
      },
    },
    bind_if: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.bindIf = arg(n, 0)!)) },
    bind_port: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, 65535, st.diags, n.loc);
        if (v !== undefined) c.ck.bindPort = v;
      },
    },
    fwmark: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) c.ck.fwmark = v;
      },
    },
  };
}

function commonCheckerKeywords(st: ParseState, withConnection: boolean): KeywordTable<CkCtx> {
  const timing = timingKeywords<CkCtx>((c) => c.ck.t, st, 'checker');
  const out: KeywordTable<CkCtx> = {
    retry: timing.retry!,
    delay_before_retry: timing.delay_before_retry!,
    warmup: timing.warmup!,
    delay_loop: timing.delay_loop!,
    alpha: timing.alpha!,
    log_all_failures: { fn: (n, c) => void (c.ck.logAllFailures = parseBool(arg(n, 0), st.diags, n.loc)) },
  };
  if (withConnection) {
    Object.assign(out, connectionKeywords(st));
    out.connect_timeout = timing.connect_timeout!;
  }
  return out;
}

function urlKeywords(st: ParseState): KeywordTable<{ url: HttpUrl; statusSet: boolean }> {
  const ignore = { fn: () => {} };
  return {
    path: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.url.path = arg(n, 0)!)) },
    digest: {
      fn: (n, c) => {
        const d = arg(n, 0) ?? '';
        if (d.length !== 32)
          st.diags.error(`digest '${d}' character length should be 32 rather than ${d.length}`, n.loc);
        else if (!/^[0-9a-fA-F]{32}$/.test(d))
          st.diags.error(`digest '${d}' is not a valid hex string`, n.loc);
        else c.url.digest = d.toLowerCase();
      },
    },
    status_code: {
      fn: (n, c) => {
        for (let i = 0; i < n.args.length; i++) {
          const w = n.args[i]!.text;
          const m = /^(\d+)(?:-(\d+))?$/.exec(w);
          const lo = m ? Number(m[1]) : NaN;
          const hi = m ? Number(m[2] ?? m[1]) : NaN;
          if (!m || lo < 100 || hi > 599 || lo > hi) {
            st.diags.error(`Invalid HTTP_GET status code '${w}'`, argLoc(n, i));
            continue;
          }
          if (!c.statusSet) {
            c.url.statusCodes = [];
            c.statusSet = true;
          }
          c.url.statusCodes.push([lo, hi]);
        }
      },
    },
    virtualhost: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.url.virtualhost = arg(n, 0)!)) },
    regex: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.url.regex = arg(n, 0)!)) },
    regex_no_match: { fn: (_n, c) => void (c.url.regexNoMatch = true) },
    regex_options: ignore,
    regex_min_offset: ignore,
    regex_max_offset: ignore,
    regex_stack: ignore,
  };
}

function httpKeywords(st: ParseState): KeywordTable<CkCtx> {
  const common = commonCheckerKeywords(st, true);
  const urlTable = urlKeywords(st);
  return {
    ...common,
    nb_get_retry: common.retry!,
    http_protocol: {
      fn: (n, c) => {
        const v = arg(n, 0);
        if (v === '1.0' || v === '1.0C' || v === '1.1') c.ck.httpProtocol = v;
        else if (v === '1.0c') c.ck.httpProtocol = '1.0C';
        else st.diags.error(`Invalid http_protocol '${v ?? ''}' - ignoring`, n.loc);
      },
    },
    virtualhost: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.t.virtualhost = arg(n, 0)!)) },
    fast_recovery: { fn: (n, c) => void (c.ck.fastRecovery = parseBool(arg(n, 0), st.diags, n.loc)) },
    enable_sni: { fn: (n, c) => void (c.ck.enableSni = parseBool(arg(n, 0), st.diags, n.loc)) },
    sni_name: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.sniName = arg(n, 0)!)) },
    tls_compliant: { fn: (n, c) => void (c.ck.tlsCompliant = parseBool(arg(n, 0), st.diags, n.loc)) },
    url: {
      block: true,
      fn: (n, c) => {
        const url: HttpUrl = { path: '', statusCodes: [[200, 299]], regexNoMatch: false };
        dispatch(n.block, urlTable, { url, statusSet: false }, st.diags);
        if (url.path === '') st.diags.error('url has no path - ignoring', n.loc);
        else c.ck.urls.push(url);
      },
    },
  };
}

function smtpKeywords(st: ParseState): KeywordTable<CkCtx> {
  const common = commonCheckerKeywords(st, true);
  const hostTable: KeywordTable<{ host: RawSmtpHost }> = {
    connect_ip: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        if (!a) st.diags.error(`Invalid connect_ip address '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else c.host.connectIp = a.address;
      },
    },
    connect_port: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, 65535, st.diags, n.loc);
        if (v !== undefined) c.host.connectPort = v;
      },
    },
    bindto: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        if (!a) st.diags.error(`Invalid bindto address '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else c.host.bindTo = a.address;
      },
    },
    bind_if: { fn: () => {} },
    bind_port: { fn: () => {} },
    fwmark: { fn: () => {} },
    connect_timeout: { fn: () => {} },
  };
  return {
    ...common,
    helo_name: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.heloName = arg(n, 0)!)) },
    host: {
      block: true,
      fn: (n, c) => {
        const host: RawSmtpHost = { loc: n.loc };
        dispatch(n.block, hostTable, { host }, st.diags);
        c.ck.hosts.push(host);
      },
    },
  };
}

const DNS_TYPES = new Set(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA']);

function checkerTable(kind: CheckerKind, st: ParseState): KeywordTable<CkCtx> {
  switch (kind) {
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return commonCheckerKeywords(st, true);
    case 'HTTP_GET':
    case 'SSL_GET':
      return httpKeywords(st);
    case 'SMTP_CHECK':
      return smtpKeywords(st);
    case 'DNS_CHECK':
      return {
        ...commonCheckerKeywords(st, true),
        type: {
          fn: (n, c) => {
            const t = (arg(n, 0) ?? '').toUpperCase();
            if (DNS_TYPES.has(t)) c.ck.dnsType = t as RawChecker['dnsType'];
            else st.diags.error(`Unknown DNS check type ${arg(n, 0) ?? ''} - ignoring`, n.loc);
          },
        },
        name: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.dnsName = arg(n, 0)!)) },
      };
    case 'MISC_CHECK':
      return {
        ...commonCheckerKeywords(st, false),
        misc_path: {
          fn: (n, c) => {
            if (n.args.length === 0) return;
            const cmd = n.args.length === 1 ? n.args[0]!.text : n.args.map((w) => w.text).join(' ');
            c.ck.script = scriptSpec(cmd);
            if (n.args.length > 1) c.ck.script.argv = n.args.map((w) => w.text);
          },
        },
        misc_timeout: {
          fn: (n, c) => {
            const v = parseTimer(arg(n, 0), 0.000001, st.diags, n.loc);
            if (v !== undefined) c.ck.miscTimeout = v;
          },
        },
        misc_dynamic: { fn: (n, c) => void (c.ck.miscDynamic = parseBool(arg(n, 0), st.diags, n.loc)) },
        user: {
          fn: (n, c) => {
            const u = arg(n, 0);
            if (u === undefined) return;
            c.ck.miscUser = arg(n, 1) !== undefined ? { user: u, group: arg(n, 1)! } : { user: u };
          },
        },
      };
    case 'UDP_CHECK':
      return {
        ...commonCheckerKeywords(st, true),
        payload: {
          fn: (n, c) => {
            const b = hexBytes(arg(n, 0) ?? '');
            if (!b) st.diags.error('Invalid hex string for UDP_CHECK payload', n.loc);
            else c.ck.payload = b;
          },
        },
        require_reply: {
          fn: (n, c) => {
            const t = (arg(n, 0) ?? '').replace(/^0x/i, '').toUpperCase();
            if (t !== '' && !/^[0-9A-FX]+$/.test(t))
              st.diags.error('Invalid hex string for UDP_CHECK require_reply', n.loc);
            else c.ck.requireReply = t;
          },
        },
        min_reply_length: {
          fn: (n, c) => {
            const v = parseInteger(arg(n, 0), 0, 65535, st.diags, n.loc);
            if (v !== undefined) c.ck.minReplyLength = v;
          },
        },
        max_reply_length: {
          fn: (n, c) => {
            const v = parseInteger(arg(n, 0), 0, 65535, st.diags, n.loc);
            if (v !== undefined) c.ck.maxReplyLength = v;
          },
        },
      };
    case 'FILE_CHECK':
      return {
        track_file: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.trackFile = arg(n, 0)!)) },
        file: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.trackFile = arg(n, 0)!)) },
        weight: {
          fn: (n, c) => {
            const v = parseInteger(arg(n, 0), -MAX_WEIGHT, MAX_WEIGHT, st.diags, n.loc);
            if (v !== undefined) c.ck.fileWeight = v;
            if (arg(n, 1) === 'reverse') c.ck.fileReverse = true;
          },
        },
        dynamic: { fn: (n, c) => void (c.ck.fileDynamic = parseBool(arg(n, 0), st.diags, n.loc)) },
      };
    case 'BFD_CHECK':
      return {
        name: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.ck.bfdName = arg(n, 0)!)) },
        alpha: commonCheckerKeywords(st, false).alpha!,
      };
  }
}

export const CHECKER_KINDS: CheckerKind[] = [
  'TCP_CHECK',
  'HTTP_GET',
  'SSL_GET',
  'MISC_CHECK',
  'DNS_CHECK',
  'UDP_CHECK',
  'PING_CHECK',
  'SMTP_CHECK',
  'FILE_CHECK',
  'BFD_CHECK',
];

interface RsCtx {
  rs: RawRealServer;
}

function realServerTable(st: ParseState): KeywordTable<RsCtx> {
  const timing = timingKeywords<RsCtx>((c) => c.rs.t, st, 'real server');
  const tables = new Map<CheckerKind, KeywordTable<CkCtx>>();
  const method = {
    fn: (n: Node, c: RsCtx) => {
      const m = parseMethod(n, st);
      if (!m) return;
      c.rs.method = m.method;
      if (m.tunnel) c.rs.tunnel = m.tunnel;
      else delete c.rs.tunnel;
    },
  };
  const notify = (which: 'notifyUp' | 'notifyDown', kw: string) => ({
    fn: (n: Node, c: RsCtx) => {
      if (c.rs[which]) {
        st.diags.error(`${kw} script already specified`, n.loc);
        return;
      }
      const s = scriptArg(n);
      if (s) c.rs[which] = s;
    },
  });
  const table: KeywordTable<RsCtx> = {
    ...timing,
    virtualhost: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.rs.t.virtualhost = arg(n, 0)!)) },
    weight: {
      fn: (n, c) => {
        const t = arg(n, 0) ?? '';
        if (/^-\d+$/.test(t)) st.diags.error(`negative number '${t}'`, n.loc);
        else if (!/^\d+$/.test(t)) st.diags.error(`invalid number '${t}'`, n.loc);
        const v = Number(t);
        if (!/^-?\d+$/.test(t) || v < 0 || v > MAX_WEIGHT) {
          st.diags.error(`Real server weight ${t} is outside range 0-${MAX_WEIGHT}`, n.loc);
          return;
        }
        c.rs.weight = v;
      },
    },
    lvs_method: method,
    lb_kind: method,
    inhibit_on_failure: {
      fn: (n, c) => void (c.rs.inhibitOnFailure = parseBool(arg(n, 0), st.diags, n.loc)),
    },
    notify_up: notify('notifyUp', 'notify_up'),
    notify_down: notify('notifyDown', 'notify_down'),
    uthreshold: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) c.rs.upperThreshold = v;
      },
    },
    lthreshold: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) c.rs.lowerThreshold = v;
      },
    },
    smtp_alert: { fn: (n) => void parseBool(arg(n, 0), st.diags, n.loc) },
    snmp_name: { fn: () => {} },
  };
  for (const kind of CHECKER_KINDS) {
    table[kind] = {
      block: true,
      fn: (n, c) => {
        let t = tables.get(kind);
        if (!t) tables.set(kind, (t = checkerTable(kind, st)));
        const ck: RawChecker = { kind, loc: n.loc, t: {}, urls: [], hosts: [] };
        dispatch(n.block, t, { ck }, st.diags);
        c.rs.checkers.push(ck);
      },
    };
  }
  return table;
}

interface VsCtx {
  vs: RawVirtualServer;
}

const PROTOCOLS: Record<string, 'TCP' | 'UDP' | 'SCTP'> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

export function virtualServerTable(st: ParseState): KeywordTable<VsCtx> {
  const timing = timingKeywords<VsCtx>((c) => c.vs.t, st, 'virtual server');
  const rsTable = realServerTable(st);
  const sched = {
    fn: (n: Node, c: VsCtx) => {
      const s = arg(n, 0) ?? '';
      if (!SCHEDULERS.has(s)) st.diags.error(`Invalid lvs_scheduler '${s}' - ignoring`, n.loc);
      else c.vs.scheduler = s;
    },
  };
  const method = {
    fn: (n: Node, c: VsCtx) => {
      const m = parseMethod(n, st);
      if (!m) return;
      c.vs.method = m.method;
      if (m.tunnel) c.vs.tunnel = m.tunnel;
      else delete c.vs.tunnel;
    },
  };
  const table: KeywordTable<VsCtx> = {
    ...timing,
    virtualhost: { fn: (n, c) => void (arg(n, 0) !== undefined && (c.vs.t.virtualhost = arg(n, 0)!)) },
    lvs_sched: sched,
    lb_algo: sched,
    lvs_method: method,
    lb_kind: method,
    hashed: { fn: () => {} },
    ops: { fn: (n, c) => void (c.vs.ops = parseBool(arg(n, 0), st.diags, n.loc)) },
    persistence_timeout: {
      fn: (n, c) => {
        if (n.args.length === 0) {
          c.vs.persistenceTimeout = 360;
          return;
        }
        const v = parseInteger(arg(n, 0), 0, MAX_PERSISTENCE, st.diags, n.loc);
        if (v === undefined) st.diags.error('persistence_timeout invalid', n.loc);
        else c.vs.persistenceTimeout = v;
      },
    },
    persistence_granularity: {
      fn: (n, c) => {
        const g = arg(n, 0) ?? '';
        if (!validGranularity(g)) st.diags.error(`invalid persistence_granularity '${g}' - ignoring`, n.loc);
        else c.vs.persistenceGranularity = g;
      },
    },
    persistence_engine: {
      fn: (n, c) => void (arg(n, 0) !== undefined && (c.vs.persistenceEngine = arg(n, 0)!)),
    },
    protocol: {
      fn: (n, c) => {
        const p = PROTOCOLS[(arg(n, 0) ?? '').toLowerCase()];
        if (c.vs.header.type === 'fwmark') {
          st.diags.error('protocol specified for fwmark - protocol will be ignored', n.loc);
          return;
        }
        if (!p) st.diags.error(`Unknown protocol ${arg(n, 0) ?? ''} - ignoring`, n.loc);
        else c.vs.protocol = p;
      },
    },
    ip_family: {
      fn: (n, c) => {
        const f = arg(n, 0);
        if (f === 'inet') c.vs.ipFamily = 4;
        else if (f === 'inet6') c.vs.ipFamily = 6;
        else st.diags.error(`unknown address family ${f ?? ''}`, n.loc);
      },
    },
    inhibit_on_failure: {
      fn: (n, c) => void (c.vs.inhibitOnFailure = parseBool(arg(n, 0), st.diags, n.loc)),
    },
    omega: { fn: (n, c) => void (c.vs.omega = parseBool(arg(n, 0), st.diags, n.loc)) },
    ha_suspend: { fn: (n, c) => void (c.vs.haSuspend = parseBool(arg(n, 0), st.diags, n.loc)) },
    quorum: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 1, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) c.vs.quorum = v;
      },
    },
    hysteresis: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, UINT_MAX, st.diags, n.loc);
        if (v !== undefined) c.vs.hysteresis = v;
      },
    },
    quorum_up: {
      fn: (n, c) => {
        if (c.vs.quorumUp) st.diags.error('quorum_up script already specified', n.loc);
        else c.vs.quorumUp = scriptArg(n);
        if (!c.vs.quorumUp) delete c.vs.quorumUp;
      },
    },
    quorum_down: {
      fn: (n, c) => {
        if (c.vs.quorumDown) st.diags.error('quorum_down script already specified', n.loc);
        else c.vs.quorumDown = scriptArg(n);
        if (!c.vs.quorumDown) delete c.vs.quorumDown;
      },
    },
    sorry_server: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        const p = arg(n, 1) === undefined ? undefined : portNumber(arg(n, 1));
        if (!a || p === null) {
          st.diags.error(
            `Invalid sorry server ip address/port ${arg(n, 0) ?? ''}/${arg(n, 1) ?? ''} - skipping`,
            n.loc,
          );
          return;
        }
        c.vs.sorry = p === undefined ? { ...a } : { ...a, port: p };
      },
    },
    sorry_server_inhibit: { fn: (n, c) => void (c.vs.sorryInhibit = parseBool(arg(n, 0), st.diags, n.loc)) },
    sorry_server_lvs_method: {
      fn: (n, c) => {
        const m = parseMethod(n, st);
        if (!m) return;
        c.vs.sorryMethod = m.method;
        if (m.tunnel) c.vs.sorryTunnel = m.tunnel;
      },
    },
    weight: {
      fn: (n, c) => {
        const v = parseInteger(arg(n, 0), 0, MAX_WEIGHT, st.diags, n.loc);
        if (v !== undefined) c.vs.weight = v;
      },
    },
    smtp_alert: { fn: (n) => void parseBool(arg(n, 0), st.diags, n.loc) },
    snmp_name: { fn: () => {} },
    real_server: {
      block: true,
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        const p = arg(n, 1) === undefined ? undefined : portNumber(arg(n, 1));
        if (!a || p === null) {
          st.diags.error(
            `Invalid real server ip address/port ${arg(n, 0) ?? ''}/${arg(n, 1) ?? ''} - skipping`,
            n.loc,
          );
          return;
        }
        const rs: RawRealServer = {
          loc: n.loc,
          address: a.address,
          family: a.family,
          t: {},
          upperThreshold: 0,
          lowerThreshold: 0,
          checkers: [],
        };
        if (p !== undefined) rs.port = p;
        dispatch(n.block, rsTable, { rs }, st.diags);
        c.vs.realServers.push(rs);
      },
    },
  };
  for (const f of SCHED_FLAGS) {
    table[f] = {
      fn: (n, c) => {
        if (!c.vs.schedFlags.some((x) => x.name === f)) c.vs.schedFlags.push({ name: f, loc: n.loc });
      },
    };
  }
  return table;
}

/** IPv4 dotted netmask (contiguous) or an IPv6 prefix length 1..128 (reference §1.4). */
function validGranularity(g: string): boolean {
  if (/^\d{1,3}$/.test(g)) return Number(g) >= 1 && Number(g) <= 128;
  const a = canonAddress(g);
  if (!a || a.family !== 4) return false;
  const n = a.address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const inv = ~n >>> 0;
  return (inv & (inv + 1)) === 0;
}

/** `virtual_server IP [PORT]`, `virtual_server fwmark N`, `virtual_server group NAME`. */
export function virtualServerHeader(node: Node, st: ParseState): RawVirtualServer['header'] | undefined {
  const a0 = arg(node, 0);
  if (a0 === 'fwmark') {
    const v = parseInteger(arg(node, 1), 0, UINT_MAX, st.diags, node.loc);
    return v === undefined ? undefined : { type: 'fwmark', mark: v };
  }
  if (a0 === 'group') {
    const g = arg(node, 1);
    if (g === undefined) {
      st.diags.error('virtual server group name missing - skipping', node.loc);
      return undefined;
    }
    return { type: 'group', group: g };
  }
  const a = canonAddress(a0);
  const p = arg(node, 1) === undefined ? 0 : portNumber(arg(node, 1));
  if (!a || p === null) {
    st.diags.error(
      `Invalid virtual server ip address/port ${a0 ?? ''}/${arg(node, 1) ?? ''} - skipping`,
      node.loc,
    );
    return undefined;
  }
  return { type: 'ip', address: a.address, port: p, family: a.family };
}

export function parseVirtualServer(node: Node, st: ParseState, table: KeywordTable<VsCtx>): void {
  const header = virtualServerHeader(node, st);
  if (!header) return;
  const vs: RawVirtualServer = {
    loc: node.loc,
    header,
    t: {},
    schedFlags: [],
    ops: false,
    quorum: 1,
    hysteresis: 0,
    sorryInhibit: false,
    inhibitOnFailure: false,
    omega: false,
    haSuspend: false,
    weight: 1,
    realServers: [],
  };
  dispatch(node.block, table, { vs }, st.diags);
  st.virtualServers.push(vs);
}
