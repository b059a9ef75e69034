/**
 * Post-parse normalisation and validation (reference §1.3-§1.6, §3, "Post-parse normalisation"):
 * inheritance checker <- real server <- virtual server <- built-in, port inheritance/reset, defaults
 * with keepalived's warnings, duplicates, quorum/hysteresis clamps, VRRP checks, script security.
 * Post-parse messages carry no `(FILE: Line N)` prefix, as keepalived prints them (§5), except
 * where a message is about one keyword line (scheduler flags).
 */
import type {
  Checker,
  CheckerCommon,
  GlobalDefs,
  KeepalivedConfig,
  Protocol,
  RealServer,
  SorryServer,
  TrackFile,
  VirtualServer,
  VirtualServerGroup,
  VirtualTarget,
  VrrpInstance,
  VrrpScript,
  VrrpSyncGroup,
} from './model.js';
import type { ParseState, RawChecker, RawGroup, RawRealServer, RawVirtualServer } from './raw.js';
import { canonAddress } from './values.js';

export const SECURITY_VIOLATION =
  'SECURITY VIOLATION - scripts are being executed but script_security not enabled.';

const protoName = (p: Protocol | undefined): string => (p ? p.toLowerCase() : 'none');

/** keepalived's virtual server display name: "[10.0.0.1]:tcp:80", "FWM 5" or the group name. */
export function virtualServerName(vs: RawVirtualServer, proto: Protocol | undefined): string {
  const h = vs.header;
  if (h.type === 'ip') return `[${h.address}]:${protoName(proto)}:${h.port}`;
  if (h.type === 'fwmark') return `FWM ${h.mark}`;
  return h.group;
}

function normalizeGroups(st: ParseState): Map<string, VirtualServerGroup> {
  const out = new Map<string, VirtualServerGroup>();
  for (const g of st.groups) {
    if (out.has(g.name)) {
      st.diags.error(`virtual server group ${g.name} is duplicated - ignoring second`);
      continue;
    }
    if (g.addresses.length === 0 && g.fwmarks.length === 0) {
      st.diags.error(`virtual server group ${g.name} has no entries - removing`);
      continue;
    }
    if (!groupFamiliesOk(g)) {
      st.diags.error(
        `virtual server group ${g.name} mixes IPv4 and IPv6 addresses with a fwmark without an address family - removing`,
      );
      continue;
    }
    out.set(g.name, { loc: g.loc, name: g.name, addresses: g.addresses, fwmarks: g.fwmarks });
  }
  return out;
}

/** A fwmark without family takes the addresses' family; both families present makes it ambiguous. */
function groupFamiliesOk(g: RawGroup): boolean {
  const fams = new Set(g.addresses.map((a) => a.family));
  return !(fams.size > 1 && g.fwmarks.some((f) => f.family === undefined));
}

interface Ctx {
  st: ParseState;
  global: GlobalDefs;
  scripts: number;
}

function normalizeVirtualServer(
  vs: RawVirtualServer,
  groups: Map<string, VirtualServerGroup>,
  ctx: Ctx,
): VirtualServer | null {
  const d = ctx.st.diags;
  const h = vs.header;
  if (h.type === 'group' && !groups.has(h.group)) {
    d.error(
      `Virtual server group ${h.group} specified by virtual server is not defined - ignoring virtual server`,
    );
    return null;
  }
  if (vs.realServers.length === 0) {
    d.error(`Virtual server ${virtualServerName(vs, vs.protocol)} has no real servers - ignoring`);
    return null;
  }
  let protocol = vs.protocol;
  if (h.type === 'fwmark')
    protocol = 'TCP'; // not used by a fwmark service (reference §1.4)
  else if (!protocol) {
    d.warn(`Virtual server ${virtualServerName(vs, undefined)}: no protocol set - defaulting to UDP`);
    protocol = 'UDP';
  }
  const name = virtualServerName(vs, protocol);
  let scheduler = vs.scheduler;
  if (!scheduler) {
    d.warn(`Virtual server ${name}: no scheduler set, setting default 'wlc'`);
    scheduler = 'wlc';
  }
  let method = vs.method;
  if (!method) {
    d.warn(`Virtual server ${name}: no forwarding method set, setting default NAT`);
    method = 'NAT';
  }
  const schedFlags: string[] = [];
  for (const f of vs.schedFlags) {
    const need = f.name.startsWith('sh-') ? 'sh' : f.name.startsWith('mh-') ? 'mh' : null;
    if (need && scheduler !== need) d.error(`${f.name} only applies to ${need} scheduler - ignoring`, f.loc);
    else schedFlags.push(f.name);
  }
  let ops = vs.ops;
  if (ops && h.type !== 'fwmark' && protocol !== 'UDP') {
    d.warn(`Virtual server ${name}: one packet scheduling requires UDP - resetting`);
    ops = false;
  }
  let haSuspend = vs.haSuspend;
  if (haSuspend && h.type === 'fwmark') {
    d.warn(`Virtual server ${name}: cannot use ha_suspend with fwmarks - clearing ha_suspend`);
    haSuspend = false;
  }
  let persistenceTimeout = vs.persistenceTimeout ?? 0;
  if (persistenceTimeout === 0 && vs.persistenceGranularity !== undefined) persistenceTimeout = 360;
  if (h.type === 'ip' && h.port === 0 && persistenceTimeout === 0) {
    d.warn(`Virtual server ${name}: zero port only valid for persistent services - setting`);
    persistenceTimeout = 360;
  }

  let target: VirtualTarget;
  if (h.type === 'ip') target = { type: 'ip', address: h.address, port: h.port, family: h.family };
  else if (h.type === 'fwmark')
    target = { type: 'fwmark', mark: h.mark, family: vs.ipFamily ?? vs.realServers[0]?.family ?? 4 };
  else target = { type: 'group', group: h.group };
  const vsPort = h.type === 'ip' ? h.port : 0;

  const realServers: RealServer[] = [];
  const seen = new Set<string>();
  let totalWeight = 0;
  for (const raw of vs.realServers) {
    const rsMethod = raw.method ?? method;
    let port: number;
    if (h.type === 'fwmark') port = rsMethod === 'NAT' ? (raw.port ?? 0) : 0;
    else if (h.type === 'group') port = raw.port ?? 0;
    else if (rsMethod === 'NAT') port = raw.port ?? vsPort;
    else {
      if (raw.port !== undefined && raw.port !== vsPort)
        d.warn(
          `Virtual server ${name}: real server [${raw.address}]:${raw.port} port differs from the virtual server port with ${rsMethod} - resetting to ${vsPort}`,
        );
      port = vsPort;
    }
    if (h.type === 'ip' && rsMethod !== 'TUN' && raw.family !== h.family) {
      d.error(
        `Virtual server ${name}: real server [${raw.address}]:${port} address family must match the virtual server's unless tunnelled - removing`,
      );
      continue;
    }
    const key = `${raw.address}|${port}`;
    if (seen.has(key)) {
      d.warn(
        `VS ${name}: real server [${raw.address}]:${protoName(protocol)}:${port} is duplicated - removing second rs`,
      );
      continue;
    }
    seen.add(key);
    const rs = normalizeRealServer(raw, vs, port, rsMethod, ctx);
    totalWeight += rs.weight;
    realServers.push(rs);
  }
  if (realServers.length === 0) {
    d.error(`Virtual server ${name} has no real servers - ignoring`);
    return null;
  }

  let quorum = vs.quorum;
  let hysteresis = vs.hysteresis;
  if (quorum > totalWeight && totalWeight > 0) {
    d.warn(
      `Warning - quorum ${quorum} for ${name} exceeds total weight of real servers ${totalWeight}, reducing quorum to ${totalWeight}`,
    );
    quorum = totalWeight;
  }
  if (hysteresis >= quorum) {
    d.warn(
      `Virtual server ${name}: hysteresis ${hysteresis} >= quorum ${quorum}; setting hysteresis to ${quorum - 1}`,
    );
    hysteresis = quorum - 1;
  }

  const out: VirtualServer = {
    loc: vs.loc,
    name,
    target,
    protocol,
    scheduler,
    schedFlags,
    ops,
    method,
    persistenceTimeout,
    quorum,
    hysteresis,
    sorryServerInhibit: vs.sorryInhibit,
    alpha: vs.t.alpha ?? false,
    omega: vs.omega,
    haSuspend,
    realServers,
  };
  if (method === 'TUN' && vs.tunnel) out.tunnel = vs.tunnel;
  if (vs.persistenceGranularity !== undefined) out.persistenceGranularity = vs.persistenceGranularity;
  if (vs.persistenceEngine !== undefined) out.persistenceEngine = vs.persistenceEngine;
  if (vs.quorumUp) {
    out.quorumUp = vs.quorumUp;
    ctx.scripts++;
  }
  if (vs.quorumDown) {
    out.quorumDown = vs.quorumDown;
    ctx.scripts++;
  }
  if (vs.t.virtualhost !== undefined) out.virtualhost = vs.t.virtualhost;
  if (vs.sorry) {
    const sm = vs.sorryMethod ?? method;
    const sorry: SorryServer = {
      address: vs.sorry.address,
      port: h.type === 'fwmark' && sm !== 'NAT' ? 0 : sm === 'NAT' ? (vs.sorry.port ?? vsPort) : vsPort,
      family: vs.sorry.family,
      method: sm,
    };
    const tun = vs.sorryMethod ? vs.sorryTunnel : vs.tunnel;
    if (sm === 'TUN' && tun) sorry.tunnel = tun;
    out.sorryServer = sorry;
  }
  return out;
}

function normalizeRealServer(
  raw: RawRealServer,
  vs: RawVirtualServer,
  port: number,
  method: RealServer['method'],
  ctx: Ctx,
): RealServer {
  const rs: RealServer = {
    loc: raw.loc,
    address: raw.address,
    port,
    family: raw.family,
    weight: raw.weight ?? vs.weight,
    method,
    inhibitOnFailure: raw.inhibitOnFailure ?? vs.inhibitOnFailure,
    alpha: raw.t.alpha ?? vs.t.alpha ?? false,
    upperThreshold: raw.upperThreshold,
    lowerThreshold: raw.lowerThreshold,
    checkers: [],
  };
  const tunnel = raw.method ? raw.tunnel : vs.tunnel;
  if (method === 'TUN' && tunnel) rs.tunnel = tunnel;
  if (raw.notifyUp) {
    rs.notifyUp = raw.notifyUp;
    ctx.scripts++;
  }
  if (raw.notifyDown) {
    rs.notifyDown = raw.notifyDown;
    ctx.scripts++;
  }
  for (const ck of raw.checkers) {
    const c = normalizeChecker(ck, raw, rs, vs, ctx);
    if (c) rs.checkers.push(c);
  }
  return rs;
}

/** Built-in retry per checker (reference §1.6): 1; DNS 3; MISC 0. */
function builtinRetry(kind: RawChecker['kind']): number {
  return kind === 'DNS_CHECK' ? 3 : kind === 'MISC_CHECK' ? 0 : 1;
}

/** Built-in delay_before_retry: 1 s; HTTP/SSL 3 s; DNS = delay_loop. */
function builtinDelayBeforeRetry(kind: RawChecker['kind'], delayLoop: number): number {
  return kind === 'HTTP_GET' || kind === 'SSL_GET' ? 3 : kind === 'DNS_CHECK' ? delayLoop : 1;
}

function normalizeChecker(
  ck: RawChecker,
  raw: RawRealServer,
  rs: RealServer,
  vs: RawVirtualServer,
  ctx: Ctx,
): Checker | null {
  const d = ctx.st.diags;
  const pick = <K extends keyof RawChecker['t']>(k: K): RawChecker['t'][K] => ck.t[k] ?? raw.t[k] ?? vs.t[k];
  const delayLoop = pick('delayLoop') ?? 60;
  const connectIp = ck.connectIp ?? rs.address;
  const common: CheckerCommon = {
    kind: ck.kind,
    loc: ck.loc,
    connectIp,
    connectPort: ck.connectPort ?? rs.port,
    family: canonAddress(connectIp)?.family ?? rs.family,
    connectTimeout: pick('connectTimeout') ?? 5,
    retry: pick('retry') ?? builtinRetry(ck.kind),
    delayBeforeRetry: pick('delayBeforeRetry') ?? builtinDelayBeforeRetry(ck.kind, delayLoop),
    delayLoop,
    warmup: pick('warmup') ?? delayLoop,
    alpha: pick('alpha') ?? false,
    logAllFailures: ck.logAllFailures ?? ctx.global.checkerLogAllFailures,
  };
  if (ck.bindTo !== undefined) common.bindTo = ck.bindTo;
  if (ck.bindIf !== undefined) common.bindIf = ck.bindIf;
  if (ck.bindPort !== undefined) common.bindPort = ck.bindPort;
  if (ck.fwmark !== undefined) common.fwmark = ck.fwmark;
  switch (ck.kind) {
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return { ...common, kind: ck.kind };
    case 'HTTP_GET':
    case 'SSL_GET': {
      if (ck.urls.length === 0) {
        d.error(`${ck.kind} checker has no url - ignoring`, ck.loc);
        return null;
      }
      const c: Checker = {
        ...common,
        kind: ck.kind,
        httpProtocol: ck.httpProtocol ?? '1.0',
        fastRecovery: ck.fastRecovery ?? false,
        enableSni: ck.enableSni ?? false,
        tlsCompliant: ck.tlsCompliant ?? false,
        urls: ck.urls,
      };
      const vh = pick('virtualhost');
      if (vh !== undefined) c.virtualhost = vh;
      if (ck.sniName !== undefined) c.sniName = ck.sniName;
      return c;
    }
    case 'SMTP_CHECK':
      return {
        ...common,
        kind: 'SMTP_CHECK',
        heloName: ck.heloName ?? 'smtpchecker.keepalived.org',
        hosts: ck.hosts.map((h) => {
          const ip = h.connectIp ?? common.connectIp;
          const host: {
            connectIp: string;
            connectPort: number;
            family: 4 | 6;
            bindTo?: string;
            loc: typeof h.loc;
          } = {
            connectIp: ip,
            connectPort: h.connectPort ?? common.connectPort,
            family: canonAddress(ip)?.family ?? common.family,
            loc: h.loc,
          };
          if (h.bindTo !== undefined) host.bindTo = h.bindTo;
          return host;
        }),
      };
    case 'DNS_CHECK':
      return { ...common, kind: 'DNS_CHECK', type: ck.dnsType ?? 'SOA', name: ck.dnsName ?? '.' };
    case 'MISC_CHECK': {
      if (!ck.script) {
        d.error('MISC_CHECK has no misc_path - ignoring', ck.loc);
        return null;
      }
      const script = { ...ck.script };
      if (ck.miscUser) {
        script.user = ck.miscUser.user;
        if (ck.miscUser.group !== undefined) script.group = ck.miscUser.group;
      }
      ctx.scripts++;
      return {
        ...common,
        kind: 'MISC_CHECK',
        script,
        timeout: ck.miscTimeout ?? delayLoop,
        dynamic: ck.miscDynamic ?? false,
      };
    }
    case 'UDP_CHECK': {
      const c: Checker = {
        ...common,
        kind: 'UDP_CHECK',
        minReplyLength: ck.minReplyLength ?? 0,
        maxReplyLength: ck.maxReplyLength ?? 255,
      };
      if (ck.payload) c.payload = ck.payload;
      if (ck.requireReply !== undefined) c.requireReply = ck.requireReply;
      return c;
    }
    case 'FILE_CHECK': {
      const tf =
        ck.trackFile === undefined ? undefined : ctx.st.trackFiles.find((t) => t.name === ck.trackFile);
      if (ck.trackFile === undefined || !tf) {
        d.error(`FILE_CHECK track_file '${ck.trackFile ?? ''}' not configured - ignoring`, ck.loc);
        return null;
      }
      return {
        ...common,
        kind: 'FILE_CHECK',
        trackFile: ck.trackFile,
        weight: ck.fileWeight ?? tf.weight,
        // weight and reverse come together: the checker's own, else the track_file's
        reverse: ck.fileWeight !== undefined ? (ck.fileReverse ?? false) : tf.reverse,
        dynamic: ck.fileDynamic ?? false,
      };
    }
    case 'BFD_CHECK':
      if (ck.bfdName === undefined) {
        d.error('BFD_CHECK has no name - ignoring', ck.loc);
        return null;
      }
      // lvsd implements no BFD (reference §1.6): the probe always fails, which changes the table
      d.warn(
        `BFD_CHECK ${ck.bfdName}: lvsd runs no BFD sessions - this checker always fails and keeps its real server down`,
        ck.loc,
      );
      return { ...common, kind: 'BFD_CHECK', name: ck.bfdName };
  }
}

function normalizeVrrp(
  st: ParseState,
  ctx: Ctx,
): {
  instances: VrrpInstance[];
  scripts: VrrpScript[];
  syncGroups: VrrpSyncGroup[];
} {
  const d = st.diags;
  const g = st.global;
  const scripts: VrrpScript[] = [];
  for (const s of st.vrrpScripts) {
    if (!s.script) {
      d.error(`No script set for vrrp_script ${s.name} - removing`);
      continue;
    }
    const out: VrrpScript = {
      loc: s.loc,
      name: s.name,
      script: s.script,
      interval: s.interval,
      timeout: s.timeout ?? s.interval,
      weight: s.weight,
      weightReverse: s.weightReverse,
      rise: s.rise,
      fall: s.fall,
    };
    if (s.user !== undefined) out.user = s.user;
    scripts.push(out);
  }
  const scriptByName = new Map(scripts.map((s) => [s.name, s]));
  // sync group membership first: weighted trackers are ignored for members (reference §3.1)
  const syncGroups: VrrpSyncGroup[] = [];
  const names = new Set(st.vrrpInstances.filter((v) => v.virtualRouterId !== undefined).map((v) => v.name));
  const inSync = new Set<string>();
  for (const sg of st.syncGroups) {
    const members: string[] = [];
    for (const m of sg.instances) {
      if (!names.has(m))
        d.error(`Virtual router ${m} specified in sync group ${sg.name} doesn't exist - ignoring`);
      else if (!members.includes(m)) members.push(m);
    }
    if (members.length < 2) d.warn(`Sync group ${sg.name} has only ${members.length} virtual router(s)`);
    if (members.length === 0) continue;
    for (const m of members) inSync.add(m);
    const out: VrrpSyncGroup = {
      loc: sg.loc,
      name: sg.name,
      instances: members,
      trackScript: sg.trackScript,
    };
    for (const k of ['notifyMaster', 'notifyBackup', 'notifyFault', 'notify'] as const) {
      if (sg[k]) {
        out[k] = sg[k];
        ctx.scripts++;
      }
    }
    syncGroups.push(out);
  }

  const instances: VrrpInstance[] = [];
  for (const vi of st.vrrpInstances) {
    const tag = `(${vi.name})`;
    if (vi.virtualRouterId === undefined) {
      d.error(`${tag} the virtual router id must be set`);
      continue;
    }
    let state = vi.state;
    let priority = vi.priority;
    if (priority === undefined) priority = state === 'MASTER' ? 255 : 100;
    if (state === undefined) state = priority === 255 ? 'MASTER' : 'BACKUP';
    const family =
      vi.virtualIpaddress[0]?.family ??
      (vi.unicastSrcIp !== undefined ? canonAddress(vi.unicastSrcIp)?.family : undefined) ??
      (vi.unicastPeers[0] !== undefined ? canonAddress(vi.unicastPeers[0])?.family : undefined) ??
      4;
    const version: 2 | 3 = family === 6 ? 3 : (vi.version ?? g.vrrpVersion);
    let advertInt = vi.advertInt ?? 1;
    if (version === 2) {
      if (advertInt !== Math.floor(advertInt)) {
        d.warn(`${tag} VRRPv2 advertisement interval ${advertInt.toFixed(6)}s must be an integer. rounding`);
        advertInt = Math.max(1, Math.round(advertInt));
      }
      if (advertInt > 255) {
        d.warn(`${tag} VRRPv2 advertisement interval ${advertInt} too large - setting to 255`);
        advertInt = 255;
      }
    } else {
      advertInt = Math.max(0.01, Math.min(40.95, Math.round(advertInt * 100) / 100));
    }
    let nopreempt = vi.nopreempt;
    let preemptDelay = vi.preemptDelay;
    let auth = vi.authentication?.type
      ? { type: vi.authentication.type, pass: vi.authentication.pass ?? '' }
      : undefined;
    if (auth && version === 3) {
      d.warn(`${tag} authentication is not supported with VRRPv3 - ignoring`);
      auth = undefined;
    }
    if (auth?.type === 'AH' && state === 'MASTER') {
      d.warn(`${tag} Initial state master is incompatible with AH authentication - clearing`);
      state = 'BACKUP';
    }
    if (state === 'MASTER' && nopreempt) {
      d.warn(`${tag} Warning - nopreempt will not work with initial state MASTER - clearing`);
      nopreempt = false;
    }
    if (state === 'MASTER' && preemptDelay > 0) {
      d.warn(`${tag} Warning - preempt delay will not work with initial state MASTER - clearing`);
      preemptDelay = 0;
    }
    const trackScript: { name: string; weight?: number }[] = [];
    for (const t of vi.trackScript) {
      const s = scriptByName.get(t.name);
      if (!s) {
        d.error(`${tag} track script ${t.name} not found, ignoring...`, t.loc);
        continue;
      }
      if (inSync.has(vi.name) && (t.weight ?? s.weight) !== 0) {
        d.warn(`${tag} ignoring tracked script ${t.name} with weights due to SYNC group`);
        continue;
      }
      trackScript.push(t.weight !== undefined ? { name: t.name, weight: t.weight } : { name: t.name });
    }
    const out: VrrpInstance = {
      loc: vi.loc,
      name: vi.name,
      state,
      virtualRouterId: vi.virtualRouterId,
      priority,
      advertInt,
      version,
      family,
      virtualIpaddress: vi.virtualIpaddress,
      virtualIpaddressExcluded: vi.virtualIpaddressExcluded,
      nopreempt,
      preemptDelay,
      trackInterface: vi.trackInterface,
      trackScript,
      unicastPeers: vi.unicastPeers,
      garpMasterDelay: vi.garpMasterDelay ?? g.vrrpGarpMasterDelay,
      garpMasterRepeat: vi.garpMasterRepeat ?? g.vrrpGarpMasterRepeat,
      garpMasterRefresh: vi.garpMasterRefresh ?? g.vrrpGarpMasterRefresh,
      garpMasterRefreshRepeat: vi.garpMasterRefreshRepeat ?? g.vrrpGarpMasterRefreshRepeat,
      useVmac: vi.useVmac,
      other: vi.other,
    };
    if (vi.interface !== undefined) out.interface = vi.interface;
    if (auth) out.authentication = auth;
    if (vi.unicastSrcIp !== undefined) out.unicastSrcIp = vi.unicastSrcIp;
    for (const k of ['notifyMaster', 'notifyBackup', 'notifyFault', 'notifyStop', 'notify'] as const) {
      if (vi[k]) {
        out[k] = vi[k];
        ctx.scripts++;
      }
    }
    instances.push(out);
  }
  // scripts count once each if tracked by something (keepalived runs every configured vrrp_script)
  ctx.scripts += scripts.length;
  return { instances, scripts, syncGroups };
}

/** Turn a parse state into the model; adds post-parse diagnostics. */
export function normalize(st: ParseState, files: string[]): KeepalivedConfig {
  const ctx: Ctx = { st, global: st.global, scripts: st.globalScripts };
  const groups = normalizeGroups(st);
  const virtualServers: VirtualServer[] = [];
  const seen = new Set<string>();
  for (const raw of st.virtualServers) {
    const vs = normalizeVirtualServer(raw, groups, ctx);
    if (!vs) continue;
    const key = `${vs.name}|${vs.protocol}`;
    if (seen.has(key)) {
      st.diags.error(`Virtual server ${vs.name} is duplicated - removing second`);
      continue;
    }
    seen.add(key);
    virtualServers.push(vs);
  }
  // keepalived with nftables_ipvs marks a whole virtual_server_group's traffic and programs one
  // fwmark service (reference §1.2); lvsd programs one service per group entry, as keepalived
  // does without it, so the table differs (persistence and scheduling are per entry)
  if (
    st.global.other['nftables_ipvs'] !== undefined &&
    virtualServers.some((vs) => vs.target.type === 'group')
  )
    st.diags.warn(
      'nftables_ipvs is not supported by lvsd - each virtual_server_group entry is its own IPVS service',
    );
  const vrrp = normalizeVrrp(st, ctx);
  const sd = st.global.lvsSyncDaemon;
  if (sd && sd.syncId === undefined) {
    const inst =
      sd.vrrpInstance !== undefined ? vrrp.instances.find((i) => i.name === sd.vrrpInstance) : undefined;
    if (sd.vrrpInstance !== undefined && !inst)
      st.diags.error(`lvs_sync_daemon vrrp instance ${sd.vrrpInstance} not found - ignoring`);
    sd.syncId = inst ? inst.virtualRouterId : 0;
  }
  if (ctx.scripts > 0 && !st.global.enableScriptSecurity) {
    st.diags.error(SECURITY_VIOLATION);
    st.diags.securityViolation = true;
  }
  const config: KeepalivedConfig = {
    files,
    global: st.global,
    virtualServerGroups: [...groups.values()],
    virtualServers,
    vrrpInstances: vrrp.instances,
    vrrpScripts: vrrp.scripts,
    vrrpSyncGroups: vrrp.syncGroups,
  };
  if (st.trackFiles.length > 0)
    config.trackFiles = st.trackFiles.map((t) => {
      const o: TrackFile = { name: t.name, weight: t.weight, reverse: t.reverse };
      if (t.file !== undefined) o.file = t.file;
      return o;
    });
  return config;
}
