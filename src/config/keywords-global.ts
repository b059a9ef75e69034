/**
 * Top-level blocks, global_defs (reference §1.2) and virtual_server_group (§1.3).
 */
import { parseAddress } from '../packet/addr.js';
import type { GlobalDefs, LvsSyncDaemon } from './model.js';
import type { ParseState, RawGroup, RawTrackFile } from './raw.js';
import { dispatch, type KeywordTable, type Node } from './tree.js';
import { canonAddress, parseBool, parseInteger, parseTimer, portNumber, UINT_MAX } from './values.js';
import { parseVirtualServer, virtualServerTable } from './keywords-lvs.js';
import { parseSyncGroup, parseVrrpInstance, parseVrrpScript, vrrpInstanceTable } from './keywords-vrrp.js';
import { formatAddress } from '../packet/addr.js';
import { AF_INET6 } from '../packet/view.js';

const arg = (n: Node, i: number): string | undefined => n.args[i]?.text;

export function defaultGlobalDefs(): GlobalDefs {
  return {
    notificationEmail: [],
    smtpConnectTimeout: 30,
    enableScriptSecurity: false,
    checkerLogAllFailures: false,
    rsInitNotifies: false,
    lvsFlush: false,
    lvsFlushOnStop: false,
    vrrpMcastGroup4: '224.0.0.18',
    vrrpMcastGroup6: 'ff02::12',
    vrrpVersion: 2,
    vrrpGarpMasterDelay: 5,
    vrrpGarpMasterRepeat: 5,
    vrrpGarpMasterRefresh: 0,
    vrrpGarpMasterRefreshRepeat: 1,
    vrrpGarpInterval: 0,
    vrrpGnaInterval: 0,
    vrrpStrict: false,
    vrrpCheckUnicastSrc: false,
    vrrpSkipCheckAdvAddr: false,
    vrrpHigherPrioSendAdvert: false,
    vrrpLowerPrioNoAdvert: false,
    other: {},
  };
}

/** Real global_defs keywords the model does not carry: accepted into `other` (reference §1.2). */
const GLOBAL_OTHER = [
  'smtp_helo_name',
  'smtp_alert',
  'smtp_alert_vrrp',
  'smtp_alert_checker',
  'no_email_faults',
  'no_checker_emails',
  'notify_fifo',
  'notify_fifo_script',
  'vrrp_notify_fifo',
  'vrrp_notify_fifo_script',
  'lvs_notify_fifo',
  'lvs_notify_fifo_script',
  'startup_script',
  'startup_script_timeout',
  'shutdown_script',
  'shutdown_script_timeout',
  'vrrp_garp_lower_prio_delay',
  'vrrp_garp_lower_prio_repeat',
  'vrrp_min_garp',
  'vrrp_iptables',
  'vrrp_ipsets',
  'nftables',
  'nftables_priority',
  'nftables_ifindex',
  'nftables_counters',
  'default_interface',
  'vrrp_startup_delay',
  'vrrp_delay_after_boot',
  'dynamic_interfaces',
  'vmac_prefix',
  'vmac_addr_prefix',
  'vrrp_no_swap',
  'vrrp_priority',
  'vrrp_rt_priority',
  'vrrp_cpu_affinity',
  'vrrp_rlimit_rttime',
  'checker_priority',
  'checker_rt_priority',
  'checker_no_swap',
  'checker_cpu_affinity',
  'checker_rlimit_rttime',
  'bfd_priority',
  'bfd_rt_priority',
  'bfd_no_swap',
  'bfd_cpu_affinity',
  'bfd_rlimit_rttime',
  'max_auto_priority',
  'min_auto_priority_delay',
  'enable_snmp_vrrp',
  'enable_snmp_keepalived',
  'enable_snmp_checker',
  'enable_snmp_rfc',
  'enable_snmp_rfcv2',
  'enable_snmp_rfcv3',
  'enable_traps',
  'snmp_socket',
  'enable_dbus',
  'enable_dbus_instance',
  'process_names',
  'process_name',
  'vrrp_process_name',
  'checker_process_name',
  'bfd_process_name',
  'reload_check_config',
  'reload_time_file',
  'reload_repeat',
  'reload_file',
  'config_save_dir',
  'tmp_config_directory',
  'state_dump_file',
  'stats_dump_file',
  'json_dump_file',
  'json_version',
  'nftables_ipvs',
  'nftables_ipvs_priority',
  'nftables_ipvs_start_fwmark',
  'net_namespace',
  'net_namespace_ipvs',
  'namespace_with_ipsets',
  'instance',
  'include_check',
  'vrrp_netlink_cmd_rcv_bufs',
  'vrrp_netlink_cmd_rcv_bufs_force',
  'vrrp_netlink_monitor_rcv_bufs',
  'vrrp_netlink_monitor_rcv_bufs_force',
  'lvs_netlink_cmd_rcv_bufs',
  'lvs_netlink_cmd_rcv_bufs_force',
  'lvs_netlink_monitor_rcv_bufs',
  'lvs_netlink_monitor_rcv_bufs_force',
  'vrrp_rx_bufs_policy',
  'vrrp_rx_bufs_multiplier',
  'vrrp_garp_extra_if',
  'vrrp_down_timer_adverts',
  'vrrp_skip_check_adv_addr_off',
  'vrrp_track_process',
  'vrrp_dont_track_primary',
  'vrrp_notify_priority_changes',
  'use_pid_dir',
  'use_symlink_paths',
  'linkbeat_use_polling',
  'umask',
  'random_seed',
  'fifo_write_vrrp_states_on_reload',
  'disable_local_igmp',
  'data_use_instance',
  'remove_unexpected_address',
  'vrrp_owner_ignore_adverts',
  'sync_group_tracking_weight',
  'checker_log_all_failures_off',
  'script_timeout',
  'no_checker_emails_off',
];

/** scripts that global_defs itself can run (for the script-security check) */
const GLOBAL_SCRIPT_KEYWORDS = new Set([
  'notify_fifo_script',
  'vrrp_notify_fifo_script',
  'lvs_notify_fifo_script',
  'startup_script',
  'shutdown_script',
]);

function globalTable(st: ParseState): KeywordTable<GlobalDefs> {
  const d = st.diags;
  const flag = (key: keyof GlobalDefs): KeywordTable<GlobalDefs>[string] => ({
    fn: (n, g) => void ((g as unknown as Record<string, boolean>)[key] = parseBool(arg(n, 0), d, n.loc)),
  });
  const uint = (key: keyof GlobalDefs, min: number, max: number): KeywordTable<GlobalDefs>[string] => ({
    fn: (n, g) => {
      const v = parseInteger(arg(n, 0), min, max, d, n.loc);
      if (v !== undefined) (g as unknown as Record<string, number>)[key] = v;
    },
  });
  const table: KeywordTable<GlobalDefs> = {
    router_id: { fn: (n, g) => void (arg(n, 0) !== undefined && (g.routerId = arg(n, 0)!)) },
    notification_email: {
      block: true,
      fn: (n, g) => {
        for (const item of n.block ?? [])
          g.notificationEmail.push(item.keyword, ...item.args.map((w) => w.text));
      },
    },
    notification_email_from: {
      fn: (n, g) => void (arg(n, 0) !== undefined && (g.notificationEmailFrom = arg(n, 0)!)),
    },
    smtp_server: {
      fn: (n, g) => {
        const host = arg(n, 0);
        if (host === undefined) return;
        const port = arg(n, 1) === undefined ? 25 : portNumber(arg(n, 1));
        if (port === null) {
          d.error(`Invalid smtp_server port '${arg(n, 1)}' - ignoring`, n.loc);
          return;
        }
        g.smtpServer = { host: canonAddress(host)?.address ?? host, port };
      },
    },
    smtp_connect_timeout: {
      fn: (n, g) =>
        void (g.smtpConnectTimeout = parseTimer(arg(n, 0), 0.000001, d, n.loc) ?? g.smtpConnectTimeout),
    },
    script_user: {
      fn: (n, g) => {
        const u = arg(n, 0);
        if (u === undefined) return;
        g.scriptUser = arg(n, 1) !== undefined ? { user: u, group: arg(n, 1)! } : { user: u };
      },
    },
    enable_script_security: flag('enableScriptSecurity'),
    checker_log_all_failures: flag('checkerLogAllFailures'),
    rs_init_notifies: flag('rsInitNotifies'),
    lvs_timeouts: {
      fn: (n, g) => {
        const t: { tcp?: number; tcpfin?: number; udp?: number } = {};
        for (let i = 0; i < n.args.length; i += 2) {
          const k = n.args[i]!.text;
          if (k !== 'tcp' && k !== 'tcpfin' && k !== 'udp') {
            d.error(`Unknown option ${k} specified for lvs_timeouts`, n.loc);
            i--;
            continue;
          }
          const v = parseInteger(arg(n, i + 1), 0, 86400 * 31, d, n.loc);
          if (v !== undefined) t[k] = v;
        }
        g.lvsTimeouts = t;
      },
    },
    lvs_flush: flag('lvsFlush'),
    lvs_flush_on_stop: { fn: (_n, g) => void (g.lvsFlushOnStop = true) },
    lvs_flush_onstop: { fn: (_n, g) => void (g.lvsFlushOnStop = true) },
    lvs_sync_daemon: { fn: (n, g) => syncDaemon(n, g, st) },
    vrrp_mcast_group4: {
      fn: (n, g) => {
        const a = canonAddress(arg(n, 0));
        if (!a || a.family !== 4) d.error(`Invalid vrrp_mcast_group4 '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else g.vrrpMcastGroup4 = a.address;
      },
    },
    vrrp_mcast_group6: {
      fn: (n, g) => {
        const a = canonAddress(arg(n, 0));
        if (!a || a.family !== 6) d.error(`Invalid vrrp_mcast_group6 '${arg(n, 0) ?? ''}' - ignoring`, n.loc);
        else g.vrrpMcastGroup6 = a.address;
      },
    },
    vrrp_version: {
      fn: (n, g) => {
        const v = arg(n, 0);
        if (v === '2' || v === '3') g.vrrpVersion = Number(v) as 2 | 3;
        else d.error('VRRP version must be either 2 or 3', n.loc);
      },
    },
    vrrp_garp_master_delay: uint('vrrpGarpMasterDelay', 0, 65535),
    vrrp_garp_master_repeat: uint('vrrpGarpMasterRepeat', 1, 65535),
    vrrp_garp_master_refresh: uint('vrrpGarpMasterRefresh', 0, 65535),
    vrrp_garp_master_refresh_repeat: uint('vrrpGarpMasterRefreshRepeat', 1, 65535),
    vrrp_garp_interval: {
      fn: (n, g) => void (g.vrrpGarpInterval = parseTimer(arg(n, 0), 0, d, n.loc) ?? g.vrrpGarpInterval),
    },
    vrrp_gna_interval: {
      fn: (n, g) => void (g.vrrpGnaInterval = parseTimer(arg(n, 0), 0, d, n.loc) ?? g.vrrpGnaInterval),
    },
    vrrp_strict: flag('vrrpStrict'),
    vrrp_check_unicast_src: flag('vrrpCheckUnicastSrc'),
    vrrp_skip_check_adv_addr: flag('vrrpSkipCheckAdvAddr'),
    vrrp_higher_prio_send_advert: flag('vrrpHigherPrioSendAdvert'),
    vrrp_lower_prio_no_advert: flag('vrrpLowerPrioNoAdvert'),
  };
  for (const k of GLOBAL_OTHER) {
    table[k] = {
      fn: (n, g) => {
        g.other[k] = n.args.map((w) => w.text);
        if (GLOBAL_SCRIPT_KEYWORDS.has(k) && n.args.length > 0) st.globalScripts++;
      },
    };
  }
  return table;
}

/** `lvs_sync_daemon IF [[inst] VRRP_INSTANCE] [id 0-255] [maxlen N] [port N] [ttl N] [group IP]` */
function syncDaemon(n: Node, g: GlobalDefs, st: ParseState): void {
  const d = st.diags;
  const ifname = arg(n, 0);
  if (ifname === undefined) {
    d.error('lvs_sync_daemon requires interface', n.loc);
    return;
  }
  const sd: LvsSyncDaemon = { interface: ifname, port: 8848, group: '224.0.0.81' };
  for (let i = 1; i < n.args.length; i++) {
    const k = n.args[i]!.text;
    const v = arg(n, i + 1);
    switch (k) {
      case 'inst':
        if (v !== undefined) sd.vrrpInstance = v;
        i++;
        break;
      case 'id':
        sd.syncId = parseInteger(v, 0, 255, d, n.loc) ?? sd.syncId;
        if (sd.syncId === undefined) delete sd.syncId;
        st.syncDaemonIdSet = sd.syncId !== undefined;
        i++;
        break;
      case 'maxlen':
        sd.maxlen = parseInteger(v, 1, 65535 - 20 - 8, d, n.loc) ?? sd.maxlen;
        if (sd.maxlen === undefined) delete sd.maxlen;
        i++;
        break;
      case 'port':
        sd.port = parseInteger(v, 1, 65535, d, n.loc) ?? sd.port;
        i++;
        break;
      case 'ttl':
        sd.ttl = parseInteger(v, 1, 255, d, n.loc) ?? sd.ttl;
        if (sd.ttl === undefined) delete sd.ttl;
        i++;
        break;
      case 'group': {
        const a = canonAddress(v);
        if (!a) d.error(`Invalid lvs_sync_daemon group '${v ?? ''}' - ignoring`, n.loc);
        else sd.group = a.address;
        i++;
        break;
      }
      default:
        if (i === 1) sd.vrrpInstance = k;
        else d.error(`Unknown option ${k} specified for lvs_sync_daemon`, n.loc);
    }
  }
  g.lvsSyncDaemon = sd;
}

/**
 * virtual_server_group entries (reference §1.3): `IP [PORT]`, last-octet/last-hextet range
 * `A.B.C.D-E`, full range `A-B`, CIDR `A/N`, `fwmark N [inet|inet6]`. Expansion is bounded.
 */
const MAX_GROUP_ADDRESSES = 65536;

function parseGroup(node: Node, st: ParseState): void {
  const d = st.diags;
  const name = arg(node, 0);
  if (name === undefined) {
    d.error('virtual_server_group has no name - skipping', node.loc);
    return;
  }
  const g: RawGroup = { loc: node.loc, name, addresses: [], fwmarks: [] };
  for (const item of node.block ?? []) {
    if (item.keyword === 'fwmark') {
      const mark = parseInteger(arg(item, 0), 0, UINT_MAX, d, item.loc);
      if (mark === undefined) continue;
      const fam = arg(item, 1);
      if (fam === 'inet') g.fwmarks.push({ mark, family: 4 });
      else if (fam === 'inet6') g.fwmarks.push({ mark, family: 6 });
      else if (fam === undefined) g.fwmarks.push({ mark });
      else d.error(`unknown address family ${fam} for fwmark ${mark} - ignoring`, item.loc);
      continue;
    }
    const port = arg(item, 0) === undefined ? 0 : portNumber(arg(item, 0));
    const range = expandGroupAddress(item.keyword);
    if (!range || port === null) {
      d.error(
        `Invalid virtual server group ip address/port ${item.keyword}/${arg(item, 0) ?? ''} - skipping`,
        item.loc,
      );
      continue;
    }
    if (range.length > MAX_GROUP_ADDRESSES) {
      d.error(`virtual server group range ${item.keyword} too large - skipping`, item.loc);
      continue;
    }
    for (const a of range) g.addresses.push({ address: a.address, port, family: a.family });
  }
  st.groups.push(g);
}

/** Big-integer helpers over addresses (IPv4: 32 bits, IPv6: 128 bits). */
function addrToBig(text: string): { v: bigint; fam: 4 | 6 } | null {
  const p = parseAddress(text);
  if (!p) return null;
  const fam = p.af === AF_INET6 ? 6 : 4;
  if (fam === 4) return { v: BigInt(p.words[0]!), fam };
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(p.words[i]!);
  return { v, fam };
}

function bigToAddr(v: bigint, fam: 4 | 6): { address: string; family: 4 | 6 } {
  const words = new Uint32Array(4);
  if (fam === 4) words[0] = Number(v);
  else for (let i = 3; i >= 0; i--) words[i] = Number((v >> BigInt(32 * (3 - i))) & 0xffffffffn);
  return { address: formatAddress(fam === 4 ? 4 : AF_INET6, words), family: fam };
}

function expandGroupAddress(text: string): { address: string; family: 4 | 6 }[] | null {
  let lo: bigint;
  let hi: bigint;
  let fam: 4 | 6;
  const slash = text.indexOf('/');
  const dash = text.lastIndexOf('-');
  if (slash >= 0) {
    const base = addrToBig(text.slice(0, slash));
    const lenText = text.slice(slash + 1);
    if (!base || !/^\d+$/.test(lenText)) return null;
    const bits = base.fam === 4 ? 32 : 128;
    const len = Number(lenText);
    if (len > bits) return null;
    const host = (1n << BigInt(bits - len)) - 1n;
    if (host >= BigInt(MAX_GROUP_ADDRESSES)) return new Array(MAX_GROUP_ADDRESSES + 1);
    lo = base.v & ~host;
    hi = lo | host;
    fam = base.fam;
  } else if (dash >= 0) {
    const start = addrToBig(text.slice(0, dash));
    if (!start) return null;
    const endText = text.slice(dash + 1);
    const full = addrToBig(endText);
    if (full && full.fam === start.fam) hi = full.v;
    else if (start.fam === 4 && /^\d{1,3}$/.test(endText) && Number(endText) <= 255)
      hi = (start.v & ~0xffn) | BigInt(endText);
    else if (start.fam === 6 && /^[0-9a-fA-F]{1,4}$/.test(endText))
      hi = (start.v & ~0xffffn) | BigInt(parseInt(endText, 16));
    else return null;
    lo = start.v;
    fam = start.fam;
    if (hi < lo) return null;
    if (hi - lo >= BigInt(MAX_GROUP_ADDRESSES)) return new Array(MAX_GROUP_ADDRESSES + 1);
  } else {
    const a = addrToBig(text);
    if (!a) return null;
    lo = hi = a.v;
    fam = a.fam;
  }
  const out: { address: string; family: 4 | 6 }[] = [];
  for (let v = lo; v <= hi; v++) out.push(bigToAddr(v, fam));
  return out;
}

function parseTrackFile(node: Node, st: ParseState): void {
  const d = st.diags;
  const name = arg(node, 0);
  if (name === undefined) {
    d.error('track_file has no name - skipping', node.loc);
    return;
  }
  const tf: RawTrackFile = { loc: node.loc, name, weight: 1, reverse: false };
  dispatch(
    node.block,
    {
      file: { fn: (n) => void (arg(n, 0) !== undefined && (tf.file = arg(n, 0)!)) },
      weight: {
        fn: (n) => {
          tf.weight = parseInteger(arg(n, 0), -254, 254, d, n.loc) ?? tf.weight;
          if (arg(n, 1) === 'reverse') tf.reverse = true;
        },
      },
      init_file: { fn: () => {} },
    },
    undefined,
    d,
  );
  st.trackFiles.push(tf);
}

/** keyword tables of the top-level blocks the model does not carry (reference §1.1) */
const IGNORED_KEYWORD_BLOCKS: Record<string, string[]> = {
  vrrp_track_process: [
    'process',
    'param_match',
    'weight',
    'quorum',
    'quorum_max',
    'fork_delay',
    'terminate_delay',
    'full_command',
  ],
  garp_group: ['garp_interval', 'gna_interval', 'interface', 'interfaces'],
  track_group: ['group'],
  bfd_instance: [
    'source_ip',
    'neighbor_ip',
    'min_rx',
    'min_tx',
    'idle_tx',
    'multiplier',
    'passive',
    'ttl',
    'max_hops',
    'weight',
    'disabled',
    'vrf',
  ],
  SSL: ['password', 'ca', 'certificate', 'key'],
};
/** top-level list blocks whose contents are data lines, not keywords */
const IGNORED_LIST_BLOCKS = [
  'linkbeat_interfaces',
  'interface_up_down_delays',
  'static_ipaddress',
  'static_routes',
  'static_rules',
];

export function topLevelTable(st: ParseState): KeywordTable<ParseState> {
  const gTable = globalTable(st);
  const vsTable = virtualServerTable(st);
  const viTable = vrrpInstanceTable(st);
  const table: KeywordTable<ParseState> = {
    global_defs: { block: true, fn: (n, s) => dispatch(n.block, gTable, s.global, s.diags) },
    virtual_server_group: { block: true, fn: (n, s) => parseGroup(n, s) },
    virtual_server: { block: true, fn: (n, s) => parseVirtualServer(n, s, vsTable) },
    vrrp_instance: { block: true, fn: (n, s) => parseVrrpInstance(n, s, viTable) },
    vrrp_script: { block: true, fn: (n, s) => parseVrrpScript(n, s) },
    vrrp_sync_group: { block: true, fn: (n, s) => parseSyncGroup(n, s) },
    track_file: { block: true, fn: (n, s) => parseTrackFile(n, s) },
  };
  for (const [block, kws] of Object.entries(IGNORED_KEYWORD_BLOCKS)) {
    const inner: KeywordTable<ParseState> = {};
    for (const k of kws) inner[k] = { fn: () => {} };
    // sub-blocks inside these (interfaces { }, group { }) are accepted as blocks
    if (block === 'garp_group') inner['interfaces'] = { block: true, fn: () => {} };
    if (block === 'track_group') inner['group'] = { block: true, fn: () => {} };
    table[block] = { block: true, fn: (n, s) => dispatch(n.block, inner, s, s.diags) };
  }
  for (const b of IGNORED_LIST_BLOCKS) table[b] = { block: true, fn: () => {} };
  return table;
}
