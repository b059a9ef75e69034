/**
 * Thin, synchronous access to the host configuration the real-server helper and `lvsd doctor` read and
 * change: sysctls (through /proc/sys, so they apply to the caller's network namespace), addresses and
 * links (through `ip -j`, iproute2's JSON output), the network-namespace identity, and the state dir.
 * Everything here is control plane; failures throw LvsError.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { LvsError } from '../errors.js';

/** `net.ipv4.conf.lo.arp_ignore` -> `/proc/sys/net/ipv4/conf/lo/arp_ignore` (device names keep dots). */
export function sysctlPath(name: string): string {
  const m = /^net\.(ipv4|ipv6)\.conf\.(.+)\.([a-z_0-9]+)$/.exec(name);
  if (m) return `/proc/sys/net/${m[1]}/conf/${m[2]}/${m[3]}`;
  return '/proc/sys/' + name.replace(/\./g, '/');
}

/** Read a sysctl as a trimmed string, or null when it does not exist (device gone, IPv6 off). */
export function readSysctl(name: string): string | null {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return null;
  }
}

export function writeSysctl(name: string, value: string): void {
  try {
    writeFileSync(sysctlPath(name), value + '\n');
  } catch (e) {
    throw new LvsError(
      'ERR_LVS_SYSTEM',
      `cannot set ${name}=${value}: ${(e as Error).message}`,
      (e as NodeJS.ErrnoException).errno ?? 1,
    );
  }
}

/** Run a command; throws LvsError with its stderr on failure. */
export function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const msg = (err.stderr ?? '').trim() || err.message;
    throw new LvsError('ERR_LVS_SYSTEM', `${cmd} ${args.join(' ')}: ${msg}`, 1);
  }
}

/** Like run but reports success instead of throwing. */
export function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface AddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  label?: string;
}

export interface LinkInfo {
  ifname: string;
  flags: string[];
  mtu: number;
  operstate?: string;
  link_type?: string;
  master?: string;
  addr_info: AddrInfo[];
}

/** `ip -j addr show`: every link with its addresses. */
export function listLinks(): LinkInfo[] {
  const out = run('ip', ['-j', 'addr', 'show']);
  const parsed = JSON.parse(out || '[]') as LinkInfo[];
  for (const l of parsed) l.addr_info = (l.addr_info ?? []).filter((a) => a.local !== undefined);
  return parsed;
}

export function isUp(l: LinkInfo): boolean {
  return l.flags.includes('UP');
}

/** Per-namespace state lives where the daemon's does: /run/lvsd/<netns inode>/ (src/daemon/paths.ts). */
export { netnsInode, RUN_ROOT as RUN_BASE, stateDir as stateDirFor } from '../daemon/paths.js';

/** Is a process alive (signal 0)? EPERM counts as alive. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Read a pid file; null when absent or garbage. */
export function readPidFile(path: string): number | null {
  if (!existsSync(path)) return null;
  const n = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : null;
}
