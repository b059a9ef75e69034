/**
 * vrrp_instance, vrrp_script and vrrp_sync_group keywords (reference §3.1-§3.2): parsed and
 * validated only (the VRRP engine is issue 5). Keywords keepalived knows but the model does not
 * carry go into `other` with their raw arguments.
 */
import type { ScriptSpec, SourceLocation, VrrpAddress } from './model.js';
import type { ParseState, RawSyncGroup, RawVrrpInstance, RawVrrpScript } from './raw.js';
import type { Diags } from './diags.js';
import { dispatch, type KeywordTable, type Node } from './tree.js';
import { canonAddress, parseInteger, parseTimer, scriptSpec } from './values.js';

const arg = (n: Node, i: number): string | undefined => n.args[i]?.text;

function notifyScript(n: Node): ReturnType<typeof scriptSpec> | undefined {
  const cmd = arg(n, 0);
  return cmd === undefined ? undefined : scriptSpec(cmd, arg(n, 1), arg(n, 2));
}

type NotifyField = 'notifyMaster' | 'notifyBackup' | 'notifyFault' | 'notifyStop' | 'notify';

/**
 * A notify_* line of a vrrp_instance or vrrp_sync_group. keepalived keeps the first script and
 * reports a repeat ("(VI_1) notify_master script already specified - ignoring X"), so a file that
 * lists notify_master three times runs the first one, not the last.
 */
function setNotify(
  obj: Partial<Record<NotifyField, ScriptSpec>>,
  field: NotifyField,
  n: Node,
  who: string,
  d: Diags,
): void {
  if (obj[field] !== undefined) {
    d.error(`${who} ${n.keyword} script already specified - ignoring ${arg(n, 0) ?? ''}`, n.loc);
    return;
  }
  const s = notifyScript(n);
  if (s) obj[field] = s;
}

/** vrrp_instance keywords accepted without a model field (reference §3.1) */
const INSTANCE_OTHER = [
  'mcast_src_ip',
  'mcast_dst_ip',
  'unicast_ttl',
  'unicast_fault_no_peer',
  'check_unicast_src',
  'track_src_ip',
  'dont_track_primary',
  'native_ipv6',
  'accept',
  'no_accept',
  'preempt',
  'promote_secondaries',
  'no_virtual_ipaddress',
  'strict_mode',
  'skip_check_adv_addr',
  'lower_prio_no_advert',
  'higher_prio_send_advert',
  'timer_expired_backup',
  'down_timer_adverts',
  'garp_lower_prio_delay',
  'garp_lower_prio_repeat',
  'garp_extra_if',
  'notify_deleted',
  'notify_master_rx_lower_pri',
  'notify_priority_changes',
  'smtp_alert',
  'vmac_xmit_base',
  'use_vmac_addr',
  'use_ipvlan',
  'debug',
  'kernel_rx_buf_size',
  'old_unicast_checksum',
  'v3_checksum_as_v2',
  'linkbeat_use_polling',
  'version',
];

/** vrrp_instance sub-blocks accepted without a model field (contents not interpreted) */
const INSTANCE_OTHER_BLOCKS = [
  'virtual_routes',
  'virtual_rules',
  'track_file',
  'track_process',
  'track_bfd',
  'auth_hmac',
];

/** `ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L] ...` */
function vrrpAddress(n: Node, st: ParseState): VrrpAddress | undefined {
  const [addrText, prefixText] = n.keyword.split('/');
  const a = canonAddress(addrText);
  const maxPrefix = a?.family === 6 ? 128 : 32;
  const prefix = prefixText === undefined ? maxPrefix : /^\d+$/.test(prefixText) ? Number(prefixText) : -1;
  if (!a || prefix < 0 || prefix > maxPrefix) {
    st.diags.error(`Invalid address '${n.keyword}' for VRRP - skipping`, n.loc);
    return undefined;
  }
  const out: VrrpAddress = { address: a.address, prefix, family: a.family, loc: n.loc };
  for (let i = 0; i < n.args.length; i++) {
    const w = n.args[i]!.text;
    const v = arg(n, i + 1);
    if ((w === 'brd' || w === 'broadcast') && v !== undefined) {
      out.broadcast = v;
      i++;
    } else if (w === 'dev' && v !== undefined) {
      out.dev = v;
      i++;
    } else if (w === 'scope' && v !== undefined) {
      out.scope = v;
      i++;
    } else if (w === 'label' && v !== undefined) {
      out.label = v;
      i++;
    } else if (w === 'peer' || w === 'preferred_lft' || w === 'track_group') i++;
  }
  return out;
}

function trackScriptList(n: Node, st: ParseState): { name: string; weight?: number; loc: SourceLocation }[] {
  const out: { name: string; weight?: number; loc: SourceLocation }[] = [];
  for (const item of n.block ?? []) {
    const entry: { name: string; weight?: number; loc: SourceLocation } = {
      name: item.keyword,
      loc: item.loc,
    };
    for (let i = 0; i < item.args.length; i++) {
      if (item.args[i]!.text === 'weight') {
        const w = parseInteger(arg(item, i + 1), -253, 253, st.diags, item.loc);
        if (w !== undefined) entry.weight = w;
        i++;
      }
    }
    out.push(entry);
  }
  return out;
}

export function vrrpInstanceTable(st: ParseState): KeywordTable<{ vi: RawVrrpInstance }> {
  const d = st.diags;
  const table: KeywordTable<{ vi: RawVrrpInstance }> = {
    state: {
      fn: (n, c) => {
        const s = arg(n, 0);
        if (s === 'MASTER' || s === 'BACKUP') c.vi.state = s;
        else {
          d.error(`(${c.vi.name}) unknown state '${s ?? ''}', defaulting to BACKUP`, n.loc);
          c.vi.state = 'BACKUP';
        }
      },
    },
    interface: {
      fn: (n, c) => {
        const i = arg(n, 0);
        if (i === 'lo')
          d.error(`(${c.vi.name}) cannot use a loopback interface (lo) for vrrp - ignoring`, n.loc);
        else if (i !== undefined) {
          c.vi.interface = i;
          // keepalived -t: "(Line N) WARNING - interface X for vrrp_instance Y doesn't exist"
          if (st.interfaceExists && !st.interfaceExists(i)) {
            d.error(`WARNING - interface ${i} for vrrp_instance ${c.vi.name} doesn't exist`, n.loc);
            st.missingInterface = true;
          }
        }
      },
    },
    virtual_router_id: {
      fn: (n, c) => {
        const t = arg(n, 0) ?? '';
        const v = /^\d+$/.test(t) ? Number(t) : NaN;
        if (!(v >= 1 && v <= 255))
          d.error(`(${c.vi.name}): VRID '${t}' not valid - must be between 1 & 255`, n.loc);
        else c.vi.virtualRouterId = v;
      },
    },
    priority: {
      fn: (n, c) => {
        const t = arg(n, 0) ?? '';
        const v = /^\d+$/.test(t) ? Number(t) : NaN;
        if (!(v >= 1 && v <= 255)) {
          d.error(`(${c.vi.name}) Priority not valid! must be between 1 & 255. Using default 100`, n.loc);
          c.vi.priority = 100;
        } else c.vi.priority = v;
      },
    },
    advert_int: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0.01, d, n.loc);
        if (v !== undefined) {
          c.vi.advertInt = v;
          c.vi.advertIntLoc = n.loc;
        }
      },
    },
    version: {
      fn: (n, c) => {
        const v = arg(n, 0);
        if (v === '2' || v === '3') c.vi.version = Number(v) as 2 | 3;
        else d.error(`(${c.vi.name}): Version must be either 2 or 3`, n.loc);
      },
    },
    authentication: {
      block: true,
      fn: (n, c) => {
        const auth: { type?: 'PASS' | 'AH'; pass?: string } = {};
        dispatch(
          n.block,
          {
            auth_type: {
              fn: (m) => {
                const t = arg(m, 0);
                if (t === 'PASS' || t === 'AH') auth.type = t;
                else d.error(`(${c.vi.name}) unknown authentication type '${t ?? ''}'`, m.loc);
              },
            },
            auth_pass: {
              fn: (m) => {
                let p = arg(m, 0) ?? '';
                if (p.length > 8) {
                  d.error('Truncating auth_pass to 8 characters', m.loc);
                  p = p.slice(0, 8);
                }
                auth.pass = p;
              },
            },
          },
          undefined,
          d,
        );
        c.vi.authentication = auth;
      },
    },
    virtual_ipaddress: {
      block: true,
      fn: (n, c) => {
        for (const item of n.block ?? []) {
          const a = vrrpAddress(item, st);
          if (!a) continue;
          const fam = c.vi.family ?? c.vi.virtualIpaddress[0]?.family;
          if (fam !== undefined && a.family !== fam) {
            d.error(
              `(${c.vi.name}) address family must match VRRP instance [${a.address}] - ignoring`,
              item.loc,
            );
            continue;
          }
          c.vi.virtualIpaddress.push(a);
        }
      },
    },
    virtual_ipaddress_excluded: {
      block: true,
      fn: (n, c) => {
        for (const item of n.block ?? []) {
          const a = vrrpAddress(item, st);
          if (a) c.vi.virtualIpaddressExcluded.push(a);
        }
      },
    },
    nopreempt: { fn: (_n, c) => void (c.vi.nopreempt = true) },
    preempt_delay: {
      fn: (n, c) => {
        const v = parseTimer(arg(n, 0), 0, d, n.loc);
        if (v === undefined) return;
        if (v > 1000) d.error(`(${c.vi.name}) preempt_delay must be between 0-1000 secs`, n.loc);
        else c.vi.preemptDelay = v;
      },
    },
    track_interface: {
      block: true,
      fn: (n, c) => {
        for (const item of n.block ?? []) {
          let weight = 0;
          const wi = item.args.findIndex((w) => w.text === 'weight');
          if (wi >= 0) weight = parseInteger(arg(item, wi + 1), -253, 253, d, item.loc) ?? 0;
          c.vi.trackInterface.push({ name: item.keyword, weight });
        }
      },
    },
    track_script: { block: true, fn: (n, c) => void c.vi.trackScript.push(...trackScriptList(n, st)) },
    unicast_src_ip: {
      fn: (n, c) => {
        const a = canonAddress(arg(n, 0));
        if (!a) d.error(`(${c.vi.name}) invalid unicast_src_ip '${arg(n, 0) ?? ''}'`, n.loc);
        else c.vi.unicastSrcIp = a.address;
      },
    },
    unicast_peer: {
      block: true,
      fn: (n, c) => {
        for (const item of n.block ?? []) {
          const a = canonAddress(item.keyword);
          if (!a) d.error(`(${c.vi.name}) invalid unicast peer '${item.keyword}' - ignoring`, item.loc);
          else c.vi.unicastPeers.push(a.address);
        }
      },
    },
    notify_master: { fn: (n, c) => setNotify(c.vi, 'notifyMaster', n, `(${c.vi.name})`, d) },
    notify_backup: { fn: (n, c) => setNotify(c.vi, 'notifyBackup', n, `(${c.vi.name})`, d) },
    notify_fault: { fn: (n, c) => setNotify(c.vi, 'notifyFault', n, `(${c.vi.name})`, d) },
    notify_stop: { fn: (n, c) => setNotify(c.vi, 'notifyStop', n, `(${c.vi.name})`, d) },
    notify: { fn: (n, c) => setNotify(c.vi, 'notify', n, `(${c.vi.name})`, d) },
    garp_master_delay: {
      fn: (n, c) =>
        void (c.vi.garpMasterDelay = parseInteger(arg(n, 0), 0, 65535, d, n.loc) ?? c.vi.garpMasterDelay),
    },
    garp_master_repeat: {
      fn: (n, c) =>
        void (c.vi.garpMasterRepeat = parseInteger(arg(n, 0), 1, 65535, d, n.loc) ?? c.vi.garpMasterRepeat),
    },
    garp_master_refresh: {
      fn: (n, c) =>
        void (c.vi.garpMasterRefresh = parseInteger(arg(n, 0), 0, 65535, d, n.loc) ?? c.vi.garpMasterRefresh),
    },
    garp_master_refresh_repeat: {
      fn: (n, c) =>
        void (c.vi.garpMasterRefreshRepeat =
          parseInteger(arg(n, 0), 1, 65535, d, n.loc) ?? c.vi.garpMasterRefreshRepeat),
    },
    use_vmac: {
      fn: (n, c) => void ((c.vi.useVmac = true), (c.vi.other['use_vmac'] = n.args.map((w) => w.text))),
    },
    lvs_sync_daemon_interface: {
      fn: (n, c) => {
        d.error('Please use global lvs_sync_daemon', n.loc);
        const ifname = arg(n, 0);
        if (ifname !== undefined && !st.global.lvsSyncDaemon)
          st.global.lvsSyncDaemon = {
            interface: ifname,
            vrrpInstance: c.vi.name,
            port: 8848,
            group: '224.0.0.81',
          };
      },
    },
  };
  // `version` is modelled; keep it out of the generic list
  for (const k of INSTANCE_OTHER) {
    if (table[k]) continue;
    table[k] = { fn: (n, c) => void (c.vi.other[k] = n.args.map((w) => w.text)) };
  }
  for (const k of INSTANCE_OTHER_BLOCKS) table[k] = { block: true, fn: (_n, c) => void (c.vi.other[k] = []) };
  return table;
}

export function parseVrrpInstance(
  node: Node,
  st: ParseState,
  table: ReturnType<typeof vrrpInstanceTable>,
): void {
  const name = arg(node, 0);
  if (name === undefined) {
    st.diags.error('vrrp_instance has no name - skipping', node.loc);
    return;
  }
  const vi: RawVrrpInstance = {
    loc: node.loc,
    name,
    virtualIpaddress: [],
    virtualIpaddressExcluded: [],
    nopreempt: false,
    preemptDelay: 0,
    trackInterface: [],
    trackScript: [],
    unicastPeers: [],
    useVmac: false,
    other: {},
  };
  dispatch(node.block, table, { vi }, st.diags);
  if (st.vrrpInstances.some((x) => x.name === name)) {
    st.diags.error(`vrrp_instance ${name} is duplicated - ignoring`, node.loc);
    return;
  }
  st.vrrpInstances.push(vi);
}

export function parseVrrpScript(node: Node, st: ParseState): void {
  const d = st.diags;
  const name = arg(node, 0);
  if (name === undefined) {
    d.error('vrrp_script has no name - skipping', node.loc);
    return;
  }
  const vs: RawVrrpScript = {
    loc: node.loc,
    name,
    interval: 1,
    weight: 0,
    weightReverse: false,
    rise: 1,
    fall: 1,
  };
  dispatch(
    node.block,
    {
      script: {
        fn: (n) => {
          if (n.args.length === 0) return;
          const cmd = n.args.length === 1 ? n.args[0]!.text : n.args.map((w) => w.text).join(' ');
          vs.script = scriptSpec(cmd);
          if (n.args.length > 1) vs.script.argv = n.args.map((w) => w.text);
        },
      },
      interval: { fn: (n) => void (vs.interval = parseTimer(arg(n, 0), 0.001, d, n.loc) ?? vs.interval) },
      timeout: {
        fn: (n) => {
          const v = parseTimer(arg(n, 0), 0.001, d, n.loc);
          if (v !== undefined) vs.timeout = v;
        },
      },
      weight: {
        fn: (n) => {
          vs.weight = parseInteger(arg(n, 0), -253, 253, d, n.loc) ?? vs.weight;
          if (arg(n, 1) === 'reverse') vs.weightReverse = true;
        },
      },
      rise: { fn: (n) => void (vs.rise = parseInteger(arg(n, 0), 1, 4294967295, d, n.loc) ?? vs.rise) },
      fall: { fn: (n) => void (vs.fall = parseInteger(arg(n, 0), 1, 4294967295, d, n.loc) ?? vs.fall) },
      user: {
        fn: (n) => {
          if (arg(n, 0) !== undefined) vs.user = arg(n, 0)!;
        },
      },
      init_fail: { fn: () => {} },
    },
    undefined,
    d,
  );
  st.vrrpScripts.push(vs);
}

export function parseSyncGroup(node: Node, st: ParseState): void {
  const d = st.diags;
  const name = arg(node, 0);
  if (name === undefined) {
    d.error('vrrp_sync_group has no name - skipping', node.loc);
    return;
  }
  const g: RawSyncGroup = { loc: node.loc, name, instances: [], trackScript: [] };
  const ignore = { fn: () => {} };
  dispatch(
    node.block,
    {
      group: { block: true, fn: (n) => void g.instances.push(...(n.block ?? []).map((i) => i.keyword)) },
      notify_master: { fn: (n) => setNotify(g, 'notifyMaster', n, `vrrp group ${g.name}:`, d) },
      notify_backup: { fn: (n) => setNotify(g, 'notifyBackup', n, `vrrp group ${g.name}:`, d) },
      notify_fault: { fn: (n) => setNotify(g, 'notifyFault', n, `vrrp group ${g.name}:`, d) },
      notify_stop: ignore,
      notify: { fn: (n) => setNotify(g, 'notify', n, `vrrp group ${g.name}:`, d) },
      track_script: {
        block: true,
        fn: (n) =>
          void g.trackScript.push(
            ...trackScriptList(n, st).map((t) => ({
              name: t.name,
              ...(t.weight !== undefined ? { weight: t.weight } : {}),
            })),
          ),
      },
      track_interface: { block: true, fn: () => {} },
      track_file: { block: true, fn: () => {} },
      track_process: { block: true, fn: () => {} },
      track_bfd: { block: true, fn: () => {} },
      smtp_alert: ignore,
      notify_priority_changes: ignore,
      global_tracking: ignore,
      sync_group_tracking_weight: ignore,
    },
    undefined,
    d,
  );
  st.syncGroups.push(g);
}
