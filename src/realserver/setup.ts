/**
 * `lvsd realserver up|down|status`: configure a real server for DR or TUN (reference §5.3, §5.4, §8.1,
 * §8.2; the seed tutorial's real-server steps):
 *  - every VIP as a host address on lo (/32, IPv6 /128 nodad), so the server accepts packets to it;
 *  - arp_ignore=1, arp_announce=2 on `all` and `lo` (the seed's four sysctls): the server neither
 *    answers ARP for the VIP nor uses it as an ARP source;
 *  - TUN: rp_filter 0 on `all`, the receiving interfaces and the tunnel device (the kernel applies
 *    max(all, dev)); the kernel's tunnel device (tunl0 / fou / gre0) when the kernel has the module,
 *    else the userspace decapsulation agent writing into a TUN device.
 *
 * Idempotent; what `up` changed is remembered in /run/lvsd/<netns inode>/realserver.json (the original
 * value of each sysctl the first time it is changed, which VIPs were added, which devices made), so that
 * `down` restores exactly that and nothing else.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LvsError } from '../errors.js';
import { AF_INET6 } from '../packet/view.js';
import { formatAddress, parseAddress } from '../packet/addr.js';
import {
  isUp,
  listLinks,
  netnsInode,
  pidAlive,
  readPidFile,
  readSysctl,
  run,
  stateDirFor,
  tryRun,
  writeSysctl,
} from './system.js';
import type { LinkInfo } from './system.js';
import { detectKernelTunnels, kernelCanDecap, kernelTunnelDevice } from './kernel-tunnel.js';
import type { KernelTunnels, TunType } from './kernel-tunnel.js';
import { AGENT_LOG_FILE, AGENT_PID_FILE, AGENT_READY_FILE, AGENT_STATS_FILE } from './agent.js';
import type { AgentStats } from './agent.js';

export const STATE_FILE = 'realserver.json';
/** The TUN device the agent writes into. */
export const AGENT_TUN_DEVICE = 'lvsdtun0';

/** The seed tutorial's four ARP sysctls (reference §5.3, §8.1). */
export const ARP_SYSCTLS: ReadonlyArray<readonly [string, string]> = [
  ['net.ipv4.conf.lo.arp_ignore', '1'],
  ['net.ipv4.conf.lo.arp_announce', '2'],
  ['net.ipv4.conf.all.arp_ignore', '1'],
  ['net.ipv4.conf.all.arp_announce', '2'],
];

export type Mode = 'dr' | 'tun';
export type TunImpl = 'auto' | 'kernel' | 'agent';

export interface Vip {
  /** canonical text form */
  addr: string;
  family: 4 | 6;
}

export interface UpOptions {
  vips: Vip[];
  mode: Mode;
  tunType: TunType;
  tunPort?: number;
  /** TUN: how to decapsulate; auto = the kernel's device when it has the module, else the agent */
  tunImpl?: TunImpl;
  /** TUN: receiving interfaces whose rp_filter is relaxed (default: every up non-lo IPv4 interface) */
  devices?: string[];
}

export interface TunState {
  type: TunType;
  port: number | null;
  impl: 'kernel' | 'agent';
  device: string;
  /** we created the device (agent TUN device) */
  deviceCreated: boolean;
  /** devices we set up that were down (restored on down) */
  broughtUp: string[];
  /** `ip fou add port N gue` done by us */
  fouPort: number | null;
}

export interface RealServerState {
  version: 1;
  netns: number;
  vips: Array<Vip & { added: boolean }>;
  /** sysctl name -> value before lvsd first changed it (insertion order = order of change) */
  sysctls: Record<string, string>;
  /** lo was down and we brought it up */
  loBroughtUp: boolean;
  tun: TunState | null;
}

/** Parse `--vip a,b,...` into canonical addresses; throws ERR_LVS_INVALID_ARGUMENT. */
export function parseVipList(text: string): Vip[] {
  const out: Vip[] = [];
  for (const raw of text.split(',')) {
    const s = raw.trim();
    if (s === '') throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `empty address in --vip '${text}'`);
    const slash = s.indexOf('/');
    if (slash >= 0) {
      throw new LvsError(
        'ERR_LVS_INVALID_ARGUMENT',
        `--vip takes plain addresses ('${s}'): a VIP is always a host address (/32, /128) on lo`,
      );
    }
    const a = parseAddress(s);
    if (!a) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `invalid VIP address '${s}'`);
    const family = a.af === AF_INET6 ? 6 : 4;
    const addr = formatAddress(a.af, a.words);
    if (family === 4 && (a.words[0] === 0 || a.words[0]! >>> 24 === 127 || a.words[0]! >>> 28 >= 14)) {
      throw new LvsError(
        'ERR_LVS_INVALID_ARGUMENT',
        `'${s}' cannot be a VIP (unspecified, loopback or multicast)`,
      );
    }
    if (family === 6 && (addr === '::' || addr === '::1' || addr.startsWith('ff'))) {
      throw new LvsError(
        'ERR_LVS_INVALID_ARGUMENT',
        `'${s}' cannot be a VIP (unspecified, loopback or multicast)`,
      );
    }
    if (!out.some((v) => v.addr === addr)) out.push({ addr, family });
  }
  return out;
}

// ------------------------------------------------------------------ state

export function statePath(dir = stateDirFor()): string {
  return `${dir}/${STATE_FILE}`;
}

export function loadState(dir = stateDirFor()): RealServerState | null {
  const p = statePath(dir);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as RealServerState;
  } catch {
    throw new LvsError('ERR_LVS_SYSTEM', `${p} is corrupt; remove it and reconfigure by hand`, 1);
  }
}

function saveState(dir: string, st: RealServerState): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(statePath(dir), JSON.stringify(st, null, 2) + '\n');
}

/** Set a sysctl, remembering its value before lvsd first touched it. */
function setSysctl(st: RealServerState, name: string, value: string): void {
  const cur = readSysctl(name);
  if (cur === null) throw new LvsError('ERR_LVS_SYSTEM', `sysctl ${name} does not exist`, 1);
  if (cur === value) return;
  if (!(name in st.sysctls)) st.sysctls[name] = cur;
  writeSysctl(name, value);
}

function vipOnLo(links: LinkInfo[], v: Vip): boolean {
  const lo = links.find((l) => l.ifname === 'lo');
  return !!lo && lo.addr_info.some((a) => a.local === v.addr);
}

/** Up non-loopback interfaces carrying an IPv4 address: where the director's tunnel packets arrive. */
function receivingInterfaces(links: LinkInfo[], exclude: string[]): string[] {
  return links
    .filter(
      (l) =>
        l.ifname !== 'lo' &&
        isUp(l) &&
        !exclude.includes(l.ifname) &&
        l.addr_info.some((a) => a.family === 'inet'),
    )
    .map((l) => l.ifname);
}

// ------------------------------------------------------------------ up

export interface UpResult {
  state: RealServerState;
  /** human-readable notes (what was done, warnings) */
  notes: string[];
}

export async function realserverUp(opts: UpOptions, kernel?: KernelTunnels): Promise<UpResult> {
  if (opts.vips.length === 0) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'no VIP given (--vip)');
  if (opts.mode === 'tun' && opts.tunType === 'gue' && !opts.tunPort) {
    throw new LvsError(
      'ERR_LVS_INVALID_ARGUMENT',
      '--tun-type gue needs --tun-port (as ipvsadm: no default)',
    );
  }
  const dir = stateDirFor();
  const st: RealServerState = loadState(dir) ?? {
    version: 1,
    netns: netnsInode(),
    vips: [],
    sysctls: {},
    loBroughtUp: false,
    tun: null,
  };
  const notes: string[] = [];
  if (st.tun && !listLinks().some((l) => l.ifname === st.tun!.device)) {
    // The recorded tunnel device is not here: removed by hand, or the state was left by a namespace
    // that died without `down` and whose inode the kernel reused for this one. Set the tunnel up anew.
    st.tun = null;
  }
  // Decide the tunnel implementation before changing anything, so a refusal (GRE owned by ip_gre,
  // --tun-impl kernel without the module) leaves the host as it was.
  let plannedImpl: 'kernel' | 'agent' | null = null;
  if (opts.mode === 'tun') {
    const same =
      st.tun &&
      st.tun.type === opts.tunType &&
      st.tun.port === (opts.tunType === 'gue' ? (opts.tunPort ?? null) : null);
    if (!same)
      plannedImpl = chooseImpl(opts.tunType, opts.tunImpl ?? 'auto', kernel ?? detectKernelTunnels());
  }
  try {
    let links = listLinks();
    const lo = links.find((l) => l.ifname === 'lo');
    if (lo && !isUp(lo)) {
      run('ip', ['link', 'set', 'lo', 'up']);
      st.loBroughtUp = true;
      notes.push('brought lo up');
    }
    let vipsChanged = false;
    for (const v of opts.vips) {
      const known = st.vips.find((x) => x.addr === v.addr);
      if (vipOnLo(links, v)) {
        if (!known) {
          st.vips.push({ ...v, added: false });
          vipsChanged = true;
          notes.push(`${v.addr} already on lo (left as is on down)`);
        }
        continue;
      }
      if (v.family === 4) run('ip', ['addr', 'add', `${v.addr}/32`, 'dev', 'lo']);
      else run('ip', ['-6', 'addr', 'add', `${v.addr}/128`, 'dev', 'lo', 'nodad']);
      if (known) known.added = true;
      else st.vips.push({ ...v, added: true });
      vipsChanged = true;
      notes.push(`added ${v.addr}/${v.family === 4 ? 32 : 128} on lo`);
      const elsewhere = links.find((l) => l.ifname !== 'lo' && l.addr_info.some((a) => a.local === v.addr));
      if (elsewhere) {
        notes.push(
          `warning: ${v.addr} is also on ${elsewhere.ifname}: this server will answer ARP/ND for it ` +
            `(fix: ip addr del ${v.addr} dev ${elsewhere.ifname})`,
        );
      }
    }
    if (st.vips.some((v) => v.family === 4)) {
      for (const [name, value] of ARP_SYSCTLS) setSysctl(st, name, value);
    }
    if (opts.mode === 'tun') {
      const want = { type: opts.tunType, port: opts.tunType === 'gue' ? (opts.tunPort ?? null) : null };
      if (st.tun && (st.tun.type !== want.type || st.tun.port !== want.port)) {
        notes.push(`replacing the ${st.tun.type} tunnel setup`);
        teardownTun(dir, st);
      }
      if (!st.tun) {
        const impl = plannedImpl!;
        st.tun = {
          type: opts.tunType,
          port: want.port,
          impl,
          device: impl === 'kernel' ? kernelTunnelDevice(opts.tunType) : AGENT_TUN_DEVICE,
          deviceCreated: false,
          broughtUp: [],
          fouPort: null,
        };
        saveState(dir, st);
        if (impl === 'kernel') setupKernelTunnel(st, st.tun);
        else setupAgentDevice(st.tun);
        notes.push(
          impl === 'kernel'
            ? `kernel ${opts.tunType} decapsulation on ${st.tun.device}`
            : `userspace decapsulation agent (${opts.tunType}) into ${st.tun.device}`,
        );
        vipsChanged = true;
      }
      links = listLinks();
      setSysctl(st, 'net.ipv4.conf.all.rp_filter', '0');
      setSysctl(st, `net.ipv4.conf.${st.tun.device}.rp_filter`, '0');
      for (const dev of opts.devices ?? receivingInterfaces(links, [st.tun.device])) {
        setSysctl(st, `net.ipv4.conf.${dev}.rp_filter`, '0');
      }
      if (st.tun.impl === 'agent' && (vipsChanged || !agentRunning(dir))) {
        saveState(dir, st);
        await restartAgent(dir, st);
        notes.push(`agent running (pid ${readPidFile(`${dir}/${AGENT_PID_FILE}`)})`);
      }
    }
  } finally {
    saveState(dir, st);
  }
  return { state: st, notes };
}

/** Which decapsulation serves tunType, given what the kernel has; throws when the request is refused. */
export function chooseImpl(t: TunType, impl: TunImpl, k: KernelTunnels): 'kernel' | 'agent' {
  if (impl === 'kernel') {
    if (!kernelCanDecap(t, k)) {
      throw new LvsError('ERR_LVS_UNSUPPORTED', `this kernel cannot decapsulate ${t} (module missing)`, 1);
    }
    return 'kernel';
  }
  if (impl === 'agent') {
    if (t === 'gre' && k.greLoaded) {
      throw new LvsError(
        'ERR_LVS_UNSUPPORTED',
        "the kernel's ip_gre module owns IP protocol 47 here, so a userspace GRE agent would see every " +
          'packet twice; use --tun-impl kernel (gre0)',
        1,
      );
    }
    return 'agent';
  }
  if (kernelCanDecap(t, k)) return 'kernel';
  if (t === 'gre' && k.greLoaded) return 'kernel';
  return 'agent';
}

function bringUp(tun: TunState, dev: string): void {
  const l = listLinks().find((x) => x.ifname === dev);
  if (!l) throw new LvsError('ERR_LVS_SYSTEM', `device ${dev} does not exist`, 1);
  if (!isUp(l)) {
    run('ip', ['link', 'set', dev, 'up']);
    tun.broughtUp.push(dev);
  }
}

/** The kernel path: the fallback tunnel device (tunl0 / gre0) up; fou port for GUE (reference §7.3). */
function setupKernelTunnel(st: RealServerState, tun: TunState): void {
  if (!listLinks().some((l) => l.ifname === tun.device)) {
    // No fallback device in this namespace (net.core.fb_tunnels_only_for_init_net): a collect-metadata
    // ("external") device receives every packet of its protocol instead.
    const dev = tun.type === 'gre' ? 'lvsdgre0' : 'lvsdipip0';
    run('ip', ['link', 'add', dev, 'type', tun.type === 'gre' ? 'gre' : 'ipip', 'external']);
    tun.device = dev;
    tun.deviceCreated = true;
  }
  bringUp(tun, tun.device);
  if (tun.type === 'gue') {
    const shown = run('ip', ['fou', 'show']);
    if (!new RegExp(`port ${tun.port}\\b`).test(shown)) {
      run('ip', ['fou', 'add', 'port', String(tun.port), 'gue']);
      tun.fouPort = tun.port;
    }
  }
  // IPv6 inner packets: sit0 (IPv6-in-IPv4) and ip6tnl0 (IPv6 outer) when the modules made them
  if (st.vips.some((v) => v.family === 6) || tun.type !== 'gre') {
    for (const dev of ['sit0', 'ip6tnl0']) {
      if (listLinks().some((l) => l.ifname === dev)) bringUp(tun, dev);
    }
  }
}

function setupAgentDevice(tun: TunState): void {
  const exists = listLinks().some((l) => l.ifname === tun.device);
  if (!exists) {
    // persistent, IFF_TUN | IFF_NO_PI (iproute2 default): the agent attaches to it; `down` deletes it
    run('ip', ['tuntap', 'add', 'dev', tun.device, 'mode', 'tun']);
    tun.deviceCreated = true;
  }
  bringUp(tun, tun.device);
}

// ------------------------------------------------------------------ the agent process

function lvsdBin(): string {
  return fileURLToPath(new URL('../../../bin/lvsd', import.meta.url));
}

function agentRunning(dir: string): boolean {
  const pid = readPidFile(`${dir}/${AGENT_PID_FILE}`);
  return pid !== null && isOurAgent(pid);
}

function isOurAgent(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // an agent of another namespace (pids are global, the state dir is per namespace) is not ours
    return (
      cmd.includes('realserver') &&
      cmd.includes('agent') &&
      statSync(`/proc/${pid}/ns/net`).ino === netnsInode()
    );
  } catch {
    return false;
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** (Re)start the agent with the current VIP set; waits until it reports ready (or fails). */
async function restartAgent(dir: string, st: RealServerState): Promise<void> {
  const tun = st.tun!;
  stopAgent(dir);
  mkdirSync(dir, { recursive: true });
  const logPath = `${dir}/${AGENT_LOG_FILE}`;
  const logFd = openSync(logPath, 'a');
  const args = [
    lvsdBin(),
    'realserver',
    'agent',
    '--vip',
    st.vips.map((v) => v.addr).join(','),
    '--tun-type',
    tun.type,
    '--dev',
    tun.device,
    '--state-dir',
    dir,
  ];
  if (tun.port !== null) args.push('--tun-port', String(tun.port));
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? 1;
  });
  writeFileSync(`${dir}/${AGENT_PID_FILE}`, `${child.pid}\n`);
  for (let i = 0; i < 100; i++) {
    if (existsSync(`${dir}/${AGENT_READY_FILE}`)) {
      child.unref();
      return;
    }
    if (exited !== null) break;
    await sleepMs(50);
  }
  if (exited === null) {
    child.kill('SIGKILL');
  }
  child.unref();
  rmSync(`${dir}/${AGENT_PID_FILE}`, { force: true });
  const tail = existsSync(logPath)
    ? readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join('\n')
    : '';
  throw new LvsError('ERR_LVS_SYSTEM', `the decapsulation agent did not start (log ${logPath}):\n${tail}`, 1);
}

// ------------------------------------------------------------------ down

function teardownTun(dir: string, st: RealServerState): void {
  const tun = st.tun;
  if (!tun) return;
  if (tun.impl === 'agent') stopAgent(dir);
  if (tun.fouPort !== null) tryRun('ip', ['fou', 'del', 'port', String(tun.fouPort)]);
  for (const dev of [...tun.broughtUp].reverse()) {
    if (!(tun.deviceCreated && dev === tun.device)) tryRun('ip', ['link', 'set', dev, 'down']);
  }
  if (tun.deviceCreated) {
    tryRun('ip', ['link', 'del', tun.device]);
    // its sysctls are gone with it
    for (const name of Object.keys(st.sysctls)) {
      if (name.startsWith(`net.ipv4.conf.${tun.device}.`)) delete st.sysctls[name];
    }
  }
  st.tun = null;
}

/** Synchronous variant for teardown paths (SIGTERM then bounded wait, SIGKILL). */
export function stopAgent(dir: string): boolean {
  const pidFile = `${dir}/${AGENT_PID_FILE}`;
  const pid = readPidFile(pidFile);
  let stopped = false;
  if (pid !== null && isOurAgent(pid)) {
    process.kill(pid, 'SIGTERM');
    const sab = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 60 && pidAlive(pid) && isOurAgent(pid); i++) Atomics.wait(sab, 0, 0, 50);
    if (isOurAgent(pid)) process.kill(pid, 'SIGKILL');
    stopped = true;
  }
  rmSync(pidFile, { force: true });
  rmSync(`${dir}/${AGENT_READY_FILE}`, { force: true });
  return stopped;
}

export interface DownOptions {
  /** null: everything lvsd configured */
  vips: Vip[] | null;
}

export async function realserverDown(opts: DownOptions): Promise<{ notes: string[]; remaining: number }> {
  const dir = stateDirFor();
  const st = loadState(dir);
  const notes: string[] = [];
  if (!st) {
    notes.push('nothing configured by lvsd realserver in this namespace');
    return { notes, remaining: 0 };
  }
  const targets = opts.vips ?? st.vips.map((v) => ({ addr: v.addr, family: v.family }));
  for (const v of targets) {
    const i = st.vips.findIndex((x) => x.addr === v.addr);
    if (i < 0) {
      notes.push(`${v.addr} was not configured by lvsd realserver; left alone`);
      continue;
    }
    const rec = st.vips[i]!;
    if (rec.added) {
      const len = rec.family === 4 ? 32 : 128;
      tryRun('ip', [rec.family === 4 ? '-4' : '-6', 'addr', 'del', `${rec.addr}/${len}`, 'dev', 'lo']);
      notes.push(`removed ${rec.addr}/${len} from lo`);
    } else {
      notes.push(`${rec.addr} was on lo before lvsd; left in place`);
    }
    st.vips.splice(i, 1);
  }
  if (st.vips.length > 0) {
    saveState(dir, st);
    if (st.tun?.impl === 'agent') await restartAgent(dir, st);
    return { notes, remaining: st.vips.length };
  }
  // Last VIP gone: undo everything, newest change first.
  if (st.tun) {
    notes.push(st.tun.impl === 'agent' ? 'stopped the decapsulation agent' : `released ${st.tun.device}`);
    teardownTun(dir, st);
  }
  for (const name of Object.keys(st.sysctls).reverse()) {
    const old = st.sysctls[name]!;
    if (readSysctl(name) === null) continue; // device gone
    writeSysctl(name, old);
    notes.push(`restored ${name}=${old}`);
  }
  st.sysctls = {};
  if (st.loBroughtUp) {
    tryRun('ip', ['link', 'set', 'lo', 'down']);
    notes.push('set lo down again');
  }
  for (const f of [STATE_FILE, AGENT_STATS_FILE, AGENT_PID_FILE, AGENT_READY_FILE, AGENT_LOG_FILE]) {
    rmSync(`${dir}/${f}`, { force: true });
  }
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    /* shared with the daemon */
  }
  return { notes, remaining: 0 };
}

// ------------------------------------------------------------------ status

export interface RealServerStatus {
  netns: number;
  stateDir: string;
  configured: boolean;
  vips: Array<Vip & { added: boolean; onLo: boolean }>;
  sysctls: Array<{ name: string; want: string; value: string | null; ok: boolean }>;
  tun:
    | (TunState & {
        agent: { pid: number | null; running: boolean; stats: AgentStats | null; log: string } | null;
      })
    | null;
}

export function realserverStatus(): RealServerStatus {
  const dir = stateDirFor();
  const st = loadState(dir);
  const links = listLinks();
  const status: RealServerStatus = {
    netns: netnsInode(),
    stateDir: dir,
    configured: st !== null,
    vips: [],
    sysctls: [],
    tun: null,
  };
  if (!st) return status;
  status.vips = st.vips.map((v) => ({ ...v, onLo: vipOnLo(links, v) }));
  const wants: Array<[string, string]> = st.vips.some((v) => v.family === 4)
    ? ARP_SYSCTLS.map((x) => [...x])
    : [];
  if (st.tun) {
    wants.push(['net.ipv4.conf.all.rp_filter', '0'], [`net.ipv4.conf.${st.tun.device}.rp_filter`, '0']);
  }
  for (const [name, want] of wants) {
    const value = readSysctl(name);
    status.sysctls.push({ name, want, value, ok: value === want });
  }
  if (st.tun) {
    let agent = null;
    if (st.tun.impl === 'agent') {
      const pid = readPidFile(`${dir}/${AGENT_PID_FILE}`);
      let stats: AgentStats | null = null;
      try {
        stats = JSON.parse(readFileSync(`${dir}/${AGENT_STATS_FILE}`, 'utf8')) as AgentStats;
      } catch {
        stats = null;
      }
      agent = { pid, running: pid !== null && isOurAgent(pid), stats, log: `${dir}/${AGENT_LOG_FILE}` };
    }
    status.tun = { ...st.tun, agent };
  }
  return status;
}
