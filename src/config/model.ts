/**
 * The keepalived.conf model: what src/config's parser produces and what src/health, the daemon's
 * reconciler (and, in issue 5, src/vrrp and src/sync) consume. Facts: keepalived-reference.md §1-§3.
 *
 * Invariants the parser guarantees before anything else sees a model:
 * - Every value is *resolved*: inheritance (checker <- real server <- virtual server <- built-in
 *   default, reference §1.6) and post-parse normalisation (§4 "Post-parse normalisation": NAT port
 *   inheritance, DR/TUN port reset, fwmark port clearing, duplicate real servers removed, virtual
 *   servers without real servers dropped, quorum/hysteresis clamped, ops only for UDP, ...) are done.
 * - Addresses are canonical strings (IPv4 dotted quad, IPv6 RFC 5952 lower case, no brackets);
 *   times are seconds as floats (keepalived's TIMER: microsecond resolution); ports are 0-65535.
 * - Nothing here refers to runtime state; a model is a plain value (JSON-serialisable except
 *   Uint8Array payloads), so two models can be compared for a reload.
 */

/** Where a block or keyword came from: file path as given/resolved, 1-based line and column. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export type Severity = 'error' | 'warning';

/**
 * One parse or validation message. `message` is keepalived's own text where the reference quotes
 * it (§5), e.g. "Unknown keyword 'bogus_kw'"; formatDiagnostic() adds the `(FILE: Line N)` prefix.
 */
export interface Diagnostic {
  severity: Severity;
  message: string;
  loc?: SourceLocation;
}

export type Family = 4 | 6;
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type LvsMethod = 'NAT' | 'DR' | 'TUN';

/** `lvs_method TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]` (reference §1.4). */
export interface TunnelOptions {
  type: 'ipip' | 'gue' | 'gre';
  /** GUE destination port (required for gue, absent otherwise) */
  port?: number;
  csum?: 'nocsum' | 'csum' | 'remcsum';
}

/** A script with its argv (keepalived splits on unquoted spaces) and optional user/group. */
export interface ScriptSpec {
  /** the text as written (after quote processing), for logs */
  command: string;
  argv: string[];
  user?: string;
  group?: string;
}

export type CheckerKind =
  | 'TCP_CHECK'
  | 'HTTP_GET'
  | 'SSL_GET'
  | 'MISC_CHECK'
  | 'DNS_CHECK'
  | 'UDP_CHECK'
  | 'PING_CHECK'
  | 'SMTP_CHECK'
  | 'FILE_CHECK'
  | 'BFD_CHECK';

/** Options every checker has after inheritance (reference §1.6 common options, §4 defaults). */
export interface CheckerCommon {
  kind: CheckerKind;
  loc: SourceLocation;
  /** address/port to check; default the real server's (port: the real server's, or the VS port) */
  connectIp: string;
  connectPort: number;
  family: Family;
  bindTo?: string;
  bindIf?: string;
  bindPort?: number;
  /** SO_MARK on the check socket */
  fwmark?: number;
  /** seconds */
  connectTimeout: number;
  /** extra attempts before DOWN: DOWN after retry + 1 consecutive failures */
  retry: number;
  /** seconds between retries */
  delayBeforeRetry: number;
  /** seconds between checks */
  delayLoop: number;
  /** seconds: random 0..warmup before the first check; 0 = none */
  warmup: number;
  /** start DOWN; one success brings it UP */
  alpha: boolean;
  logAllFailures: boolean;
}

export interface TcpChecker extends CheckerCommon {
  kind: 'TCP_CHECK';
}

export interface HttpUrl {
  path: string;
  /** lower-case hex MD5 of the body (32 chars) */
  digest?: string;
  /** inclusive ranges; default [[200, 299]] */
  statusCodes: [number, number][];
  virtualhost?: string;
  regex?: string;
  regexNoMatch: boolean;
}

export interface HttpChecker extends CheckerCommon {
  kind: 'HTTP_GET' | 'SSL_GET';
  httpProtocol: '1.0' | '1.0C' | '1.1';
  /** resolved Host header source for urls without their own: checker, RS, VS (first wins) */
  virtualhost?: string;
  fastRecovery: boolean;
  enableSni: boolean;
  sniName?: string;
  tlsCompliant: boolean;
  urls: HttpUrl[];
}

export interface SmtpChecker extends CheckerCommon {
  kind: 'SMTP_CHECK';
  heloName: string;
  /** legacy `host { }` sub-blocks; each is checked in turn (connectIp/connectPort/bindTo override) */
  hosts: { connectIp: string; connectPort: number; family: Family; bindTo?: string; loc: SourceLocation }[];
}

export interface DnsChecker extends CheckerCommon {
  kind: 'DNS_CHECK';
  type: 'A' | 'NS' | 'CNAME' | 'SOA' | 'MX' | 'TXT' | 'AAAA';
  name: string;
}

export interface MiscChecker extends CheckerCommon {
  kind: 'MISC_CHECK';
  script: ScriptSpec;
  /** seconds; default the delay_loop */
  timeout: number;
  dynamic: boolean;
}

export interface UdpChecker extends CheckerCommon {
  kind: 'UDP_CHECK';
  payload?: Uint8Array;
  /** hex with 'X' nibble wildcards, as written (upper-cased) */
  requireReply?: string;
  minReplyLength: number;
  maxReplyLength: number;
}

export interface PingChecker extends CheckerCommon {
  kind: 'PING_CHECK';
}

export interface FileChecker extends CheckerCommon {
  kind: 'FILE_CHECK';
  trackFile: string;
  weight: number;
  reverse: boolean;
  dynamic: boolean;
}

export interface BfdChecker extends CheckerCommon {
  kind: 'BFD_CHECK';
  name: string;
}

export type Checker =
  | TcpChecker
  | HttpChecker
  | SmtpChecker
  | DnsChecker
  | MiscChecker
  | UdpChecker
  | PingChecker
  | FileChecker
  | BfdChecker;

export interface RealServer {
  loc: SourceLocation;
  address: string;
  /** resolved (NAT inherits the VS port; DR/TUN reset to the VS port; fwmark DR/TUN: 0) */
  port: number;
  family: Family;
  /** 0..2147483647 */
  weight: number;
  method: LvsMethod;
  tunnel?: TunnelOptions;
  inhibitOnFailure: boolean;
  alpha: boolean;
  notifyUp?: ScriptSpec;
  notifyDown?: ScriptSpec;
  /** ipvsadm -x / -y; 0 = none */
  upperThreshold: number;
  lowerThreshold: number;
  /** none = always up */
  checkers: Checker[];
}

export interface SorryServer {
  address: string;
  port: number;
  family: Family;
  method: LvsMethod;
  tunnel?: TunnelOptions;
}

/** The address(es) an IPVS service for this virtual server is created on. */
export type VirtualTarget =
  | { type: 'ip'; address: string; port: number; family: Family }
  | { type: 'fwmark'; mark: number; family: Family }
  | { type: 'group'; group: string };

export interface VirtualServer {
  loc: SourceLocation;
  /** keepalived's display name: "[10.0.0.1]:tcp:80", "FWM 5" or the group name; unique key */
  name: string;
  target: VirtualTarget;
  protocol: Protocol;
  /** rr wrr lc wlc lblc sh mh dh fo ovf lblcr sed nq twos; default wlc */
  scheduler: string;
  /** ipvsadm -b flags: flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback (as ipvsadm names them) */
  schedFlags: string[];
  /** one-packet scheduling (UDP only) */
  ops: boolean;
  method: LvsMethod;
  tunnel?: TunnelOptions;
  /** seconds; 0 = not persistent */
  persistenceTimeout: number;
  /** netmask (IPv4 dotted) or prefix length (IPv6) as written; absent = host */
  persistenceGranularity?: string;
  persistenceEngine?: string;
  quorum: number;
  hysteresis: number;
  quorumUp?: ScriptSpec;
  quorumDown?: ScriptSpec;
  sorryServer?: SorryServer;
  sorryServerInhibit: boolean;
  alpha: boolean;
  omega: boolean;
  haSuspend: boolean;
  virtualhost?: string;
  realServers: RealServer[];
}

/** A virtual_server_group expanded: every address:port and fwmark its entries name. */
export interface VirtualServerGroup {
  loc: SourceLocation;
  name: string;
  addresses: { address: string; port: number; family: Family }[];
  fwmarks: { mark: number; family?: Family }[];
}

export interface LvsSyncDaemon {
  interface: string;
  vrrpInstance?: string;
  syncId?: number;
  maxlen?: number;
  port: number;
  ttl?: number;
  group: string;
}

export interface GlobalDefs {
  routerId?: string;
  notificationEmail: string[];
  notificationEmailFrom?: string;
  smtpServer?: { host: string; port: number };
  smtpConnectTimeout: number;
  scriptUser?: { user: string; group?: string };
  enableScriptSecurity: boolean;
  checkerLogAllFailures: boolean;
  rsInitNotifies: boolean;
  lvsTimeouts?: { tcp?: number; tcpfin?: number; udp?: number };
  lvsFlush: boolean;
  lvsFlushOnStop: boolean;
  lvsSyncDaemon?: LvsSyncDaemon;
  vrrpMcastGroup4: string;
  vrrpMcastGroup6: string;
  vrrpVersion: 2 | 3;
  vrrpGarpMasterDelay: number;
  vrrpGarpMasterRepeat: number;
  vrrpGarpMasterRefresh: number;
  vrrpGarpMasterRefreshRepeat: number;
  vrrpGarpInterval: number;
  vrrpGnaInterval: number;
  vrrpStrict: boolean;
  vrrpCheckUnicastSrc: boolean;
  vrrpSkipCheckAdvAddr: boolean;
  vrrpHigherPrioSendAdvert: boolean;
  vrrpLowerPrioNoAdvert: boolean;
  /** every other recognised global keyword with its raw arguments (accepted, no effect here) */
  other: Record<string, string[]>;
}

/** `virtual_ipaddress` entry: `ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L] ...` */
export interface VrrpAddress {
  address: string;
  prefix: number;
  family: Family;
  dev?: string;
  label?: string;
  scope?: string;
  broadcast?: string;
  loc: SourceLocation;
}

export interface VrrpInstance {
  loc: SourceLocation;
  name: string;
  /** initial state; unknown values default to BACKUP */
  state: 'MASTER' | 'BACKUP';
  interface?: string;
  virtualRouterId: number;
  /** 1..255; default 100 (255 = address owner) */
  priority: number;
  /** seconds; default 1 */
  advertInt: number;
  version: 2 | 3;
  family: Family;
  authentication?: { type: 'PASS' | 'AH'; pass: string };
  virtualIpaddress: VrrpAddress[];
  virtualIpaddressExcluded: VrrpAddress[];
  nopreempt: boolean;
  /** seconds; 0 = none */
  preemptDelay: number;
  trackInterface: { name: string; weight: number }[];
  trackScript: { name: string; weight?: number }[];
  unicastSrcIp?: string;
  unicastPeers: string[];
  notifyMaster?: ScriptSpec;
  notifyBackup?: ScriptSpec;
  notifyFault?: ScriptSpec;
  notifyStop?: ScriptSpec;
  notify?: ScriptSpec;
  garpMasterDelay: number;
  garpMasterRepeat: number;
  garpMasterRefresh: number;
  garpMasterRefreshRepeat: number;
  useVmac: boolean;
  /** keywords accepted but not modelled, with raw arguments */
  other: Record<string, string[]>;
}

export interface VrrpScript {
  loc: SourceLocation;
  name: string;
  script: ScriptSpec;
  /** seconds; default 1 */
  interval: number;
  /** seconds; default = interval */
  timeout: number;
  /** 0 = failure means FAULT; otherwise added to (>0 on success) / subtracted from priority */
  weight: number;
  weightReverse: boolean;
  rise: number;
  fall: number;
  user?: string;
}

export interface VrrpSyncGroup {
  loc: SourceLocation;
  name: string;
  instances: string[];
  notifyMaster?: ScriptSpec;
  notifyBackup?: ScriptSpec;
  notifyFault?: ScriptSpec;
  notify?: ScriptSpec;
  trackScript: { name: string; weight?: number }[];
}

/** A top-level `track_file NAME { file PATH; weight N [reverse] }` (FILE_CHECK reads its value). */
export interface TrackFile {
  name: string;
  file?: string;
  /** default 1 */
  weight: number;
  reverse: boolean;
}

export interface KeepalivedConfig {
  /** the main file, then every included file in the order read */
  files: string[];
  global: GlobalDefs;
  virtualServerGroups: VirtualServerGroup[];
  virtualServers: VirtualServer[];
  vrrpInstances: VrrpInstance[];
  vrrpScripts: VrrpScript[];
  vrrpSyncGroups: VrrpSyncGroup[];
  /** top-level track_file blocks (additive field: absent when there are none) */
  trackFiles?: TrackFile[];
}

/**
 * keepalived's config-test exit status (reference §5): 0 OK; 4 file not found / fatal; 5 errors
 * keepalived survives (unknown keyword, invalid value, warnings through report_config_error);
 * 6 script security.
 */
export type ConfigTestExit = 0 | 4 | 5 | 6;

export interface LoadResult {
  /** null only for fatal problems (main file unreadable, unbalanced braces that lose a block) */
  config: KeepalivedConfig | null;
  diagnostics: Diagnostic[];
  exitCode: ConfigTestExit;
}

/** keepalived's parse-time message format: `(FILE: Line N) message`; validation messages have no location. */
export function formatDiagnostic(d: Diagnostic): string {
  return d.loc ? `(${d.loc.file}: Line ${d.loc.line}) ${d.message}` : d.message;
}
