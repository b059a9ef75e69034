/**
 * The parser's intermediate state: what each block said, with `undefined` for "not set", before
 * inheritance and post-parse normalisation (normalize.ts) turn it into the model.
 */
import type {
  CheckerKind,
  Family,
  GlobalDefs,
  HttpUrl,
  LvsMethod,
  Protocol,
  ScriptSpec,
  SourceLocation,
  TunnelOptions,
  VrrpAddress,
} from './model.js';
import type { Diags } from './diags.js';

/** Settings inherited checker <- real server <- virtual server <- built-in (reference §1.6). */
export interface Timing {
  delayLoop?: number;
  connectTimeout?: number;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  alpha?: boolean;
  virtualhost?: string;
}

export interface RawChecker {
  kind: CheckerKind;
  loc: SourceLocation;
  t: Timing;
  connectIp?: string;
  connectPort?: number;
  bindTo?: string;
  bindIf?: string;
  bindPort?: number;
  fwmark?: number;
  logAllFailures?: boolean;
  // HTTP_GET / SSL_GET
  httpProtocol?: '1.0' | '1.0C' | '1.1';
  fastRecovery?: boolean;
  enableSni?: boolean;
  sniName?: string;
  tlsCompliant?: boolean;
  urls: HttpUrl[];
  // SMTP_CHECK
  heloName?: string;
  hosts: RawSmtpHost[];
  // DNS_CHECK
  dnsType?: 'A' | 'NS' | 'CNAME' | 'SOA' | 'MX' | 'TXT' | 'AAAA';
  dnsName?: string;
  // MISC_CHECK
  script?: ScriptSpec;
  miscTimeout?: number;
  miscDynamic?: boolean;
  miscUser?: { user: string; group?: string };
  // UDP_CHECK
  payload?: Uint8Array;
  requireReply?: string;
  minReplyLength?: number;
  maxReplyLength?: number;
  // FILE_CHECK
  trackFile?: string;
  fileWeight?: number;
  fileReverse?: boolean;
  fileDynamic?: boolean;
  // BFD_CHECK
  bfdName?: string;
}

export interface RawSmtpHost {
  loc: SourceLocation;
  connectIp?: string;
  connectPort?: number;
  bindTo?: string;
}

export interface RawRealServer {
  loc: SourceLocation;
  address: string;
  family: Family;
  port?: number;
  t: Timing;
  weight?: number;
  method?: LvsMethod;
  tunnel?: TunnelOptions;
  inhibitOnFailure?: boolean;
  notifyUp?: ScriptSpec;
  notifyDown?: ScriptSpec;
  upperThreshold: number;
  lowerThreshold: number;
  checkers: RawChecker[];
}

export interface RawVirtualServer {
  loc: SourceLocation;
  header:
    | { type: 'ip'; address: string; port: number; family: Family }
    | { type: 'fwmark'; mark: number }
    | { type: 'group'; group: string };
  t: Timing;
  protocol?: Protocol;
  scheduler?: string;
  schedFlags: { name: string; loc: SourceLocation }[];
  ops: boolean;
  method?: LvsMethod;
  tunnel?: TunnelOptions;
  persistenceTimeout?: number;
  persistenceGranularity?: string;
  persistenceEngine?: string;
  ipFamily?: Family;
  quorum: number;
  hysteresis: number;
  quorumUp?: ScriptSpec;
  quorumDown?: ScriptSpec;
  sorry?: { address: string; port?: number; family: Family };
  sorryMethod?: LvsMethod;
  sorryTunnel?: TunnelOptions;
  sorryInhibit: boolean;
  inhibitOnFailure: boolean;
  omega: boolean;
  haSuspend: boolean;
  weight: number;
  realServers: RawRealServer[];
}

export interface RawGroup {
  loc: SourceLocation;
  name: string;
  addresses: { address: string; port: number; family: Family }[];
  fwmarks: { mark: number; family?: Family }[];
}

export interface RawVrrpInstance {
  loc: SourceLocation;
  name: string;
  state?: 'MASTER' | 'BACKUP';
  interface?: string;
  virtualRouterId?: number;
  priority?: number;
  advertInt?: number;
  advertIntLoc?: SourceLocation;
  version?: 2 | 3;
  family?: Family;
  authentication?: { type?: 'PASS' | 'AH'; pass?: string };
  virtualIpaddress: VrrpAddress[];
  virtualIpaddressExcluded: VrrpAddress[];
  nopreempt: boolean;
  preemptDelay: number;
  trackInterface: { name: string; weight: number }[];
  trackScript: { name: string; weight?: number; loc: SourceLocation }[];
  unicastSrcIp?: string;
  unicastPeers: string[];
  notifyMaster?: ScriptSpec;
  notifyBackup?: ScriptSpec;
  notifyFault?: ScriptSpec;
  notifyStop?: ScriptSpec;
  notify?: ScriptSpec;
  garpMasterDelay?: number;
  garpMasterRepeat?: number;
  garpMasterRefresh?: number;
  garpMasterRefreshRepeat?: number;
  useVmac: boolean;
  other: Record<string, string[]>;
}

export interface RawVrrpScript {
  loc: SourceLocation;
  name: string;
  script?: ScriptSpec;
  interval: number;
  timeout?: number;
  weight: number;
  weightReverse: boolean;
  rise: number;
  fall: number;
  user?: string;
}

export interface RawSyncGroup {
  loc: SourceLocation;
  name: string;
  instances: string[];
  notifyMaster?: ScriptSpec;
  notifyBackup?: ScriptSpec;
  notifyFault?: ScriptSpec;
  notify?: ScriptSpec;
  trackScript: { name: string; weight?: number }[];
}

export interface RawTrackFile {
  loc: SourceLocation;
  name: string;
  file?: string;
  weight: number;
  reverse: boolean;
}

/** Everything one parse collects. */
export interface ParseState {
  diags: Diags;
  global: GlobalDefs;
  /** lvs_sync_daemon's instance/id as written (the id defaults to the instance's VRID) */
  syncDaemonIdSet: boolean;
  groups: RawGroup[];
  virtualServers: RawVirtualServer[];
  vrrpInstances: RawVrrpInstance[];
  vrrpScripts: RawVrrpScript[];
  syncGroups: RawSyncGroup[];
  trackFiles: RawTrackFile[];
  /** scripts seen in global_defs (startup/shutdown/fifo scripts), for the script-security check */
  globalScripts: number;
  /** LoadOptions.interfaceExists: when set, vrrp_instance interfaces are checked against this host */
  interfaceExists?: (name: string) => boolean;
  /** a vrrp_instance named an interface interfaceExists() does not know */
  missingInterface?: boolean;
}
