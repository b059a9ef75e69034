/**
 * Network-namespace helpers for the real-server and doctor tests: unique names, always deleted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LVSD_BIN = fileURLToPath(new URL('../../../bin/lvsd', import.meta.url));

let counter = 0;

/** Root and a working `ip netns`: else the caller skips. */
export function netnsUsable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return 'ip netns does not work here';
  return null;
}

/** Create a namespace with a unique name (prefix + pid + counter). */
export function makeNs(prefix: string): string {
  const name = `${prefix}${process.pid}x${counter++}`;
  sh('ip', ['netns', 'add', name]);
  return name;
}

export function delNs(name: string): void {
  // kill what still runs inside (an agent left behind by a failed test), then remove the namespace
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const p of pids.split('\n').filter((x) => x !== '')) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  spawnSync('ip', ['netns', 'del', name]);
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Run a command inside the namespace (throws unless it succeeds). */
export function inNs(ns: string, cmd: string, args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/** `lvsd ARGS` inside the namespace; returns status and output (never throws). */
export function lvsd(ns: string, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, LVSD_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function sysctl(ns: string, name: string): string {
  return inNs(ns, 'sysctl', ['-n', name]).trim();
}

/** Addresses on an interface in the namespace, as `addr/prefix`. */
export function addrsOn(ns: string, dev: string): string[] {
  const out = JSON.parse(inNs(ns, 'ip', ['-j', 'addr', 'show', 'dev', dev])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return (out[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export function links(ns: string): string[] {
  const out = JSON.parse(inNs(ns, 'ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  return out.map((l) => l.ifname);
}
