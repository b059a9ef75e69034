/**
 * Network-namespace scaffolding for end-to-end tests (root only). Every namespace gets a unique name
 * (prefix, pid, counter) and is removed by cleanup(), which first stops every process still inside
 * it (a daemon keeps a namespace alive after `ip netns del`). Traffic stays inside these namespaces.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logFile, stateDir } from '../../src/daemon/paths.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(REPO, 'bin');

let counter = 0;

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return 'ip netns is not available';
  return null;
}

export function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Why an end-to-end test that needs namespaces and these programs cannot run here (the programs
 * missing are named), or null when it can: the `skip` option of every e2e test.
 */
export function e2eUnavailable(...programs: string[]): string | null {
  const ns = netnsUnavailable();
  if (ns !== null) return ns;
  const missing = programs.filter((c) => !which(c));
  if (missing.length === 0) return null;
  const list =
    missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  return `${list} ${missing.length === 1 ? 'is' : 'are'} needed`;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export class Netns {
  constructor(readonly name: string) {}

  /** Run a shell command inside the namespace; throws with its output unless it exits 0. */
  sh(cmd: string, opts: { timeoutMs?: number; input?: string } = {}): string {
    const r = this.run(cmd, opts);
    if (r.status !== 0)
      throw new Error(`[${this.name}] '${cmd}' exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** Run and return status and output, whatever the status. */
  run(cmd: string, opts: { timeoutMs?: number; input?: string } = {}): RunResult {
    const r = spawnSync('ip', ['netns', 'exec', this.name, 'sh', '-c', cmd], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30000,
      input: opts.input,
      env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}` },
    });
    return {
      status: r.status ?? -1,
      stdout: r.stdout ?? '',
      stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
    };
  }

  /** Start a background process in the namespace (killed by cleanup at the latest). */
  spawn(cmd: string): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, 'sh', '-c', cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}` },
    });
  }

  pids(): number[] {
    const r = spawnSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8' });
    return (r.stdout ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((p) => p !== process.pid);
  }
}

export class Lab {
  readonly prefix: string;
  private readonly spaces: Netns[] = [];
  readonly dir: string;

  constructor(tag: string) {
    this.prefix = `lt${tag}${process.pid % 100000}x${counter++}`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
  }

  ns(short: string): Netns {
    const n = new Netns(`${this.prefix}${short}`);
    execFileSync('ip', ['netns', 'add', n.name]);
    this.spaces.push(n);
    n.sh('ip link set lo up');
    return n;
  }

  /** veth pair a:ifa <-> b:ifb, created directly inside the two namespaces. */
  veth(a: Netns, ifa: string, b: Netns, ifb: string): void {
    execFileSync('ip', [
      'link',
      'add',
      ifa,
      'netns',
      a.name,
      'type',
      'veth',
      'peer',
      'name',
      ifb,
      'netns',
      b.name,
    ]);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Stop every process in the namespaces (TERM, then KILL), delete them and the scratch dir. */
  async cleanup(): Promise<void> {
    for (const n of this.spaces) for (const p of n.pids()) safeKill(p, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && this.spaces.some((n) => n.pids().length > 0))
      await new Promise((r) => setTimeout(r, 50));
    for (const n of this.spaces) for (const p of n.pids()) safeKill(p, 'SIGKILL');
    for (const n of this.spaces) {
      // state and logs of lvsd and lvsd realserver are keyed by the namespace's inode, which the
      // kernel reuses: remove them with the namespace so no later test inherits them
      let ino = 0;
      try {
        ino = fs.statSync(`/run/netns/${n.name}`).ino;
      } catch {
        /* already gone */
      }
      spawnSync('ip', ['netns', 'del', n.name]);
      if (ino > 0) {
        fs.rmSync(stateDir(ino), { recursive: true, force: true });
        fs.rmSync(logFile(ino), { force: true });
      }
    }
    this.spaces.length = 0;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function safeKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `f` every 100 ms until it returns something truthy (returned), or fail after `ms`. */
export async function until<T>(what: string, f: () => T | null | false | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * The smallest NAT director: client c (`${front}.2`, default via the director), director d
 * (`${front}.1` and the VIP `${front}.100` on eth0, `${back}.1` on eth1, ip_forward=1) and one real
 * server r (`${back}.2`, default via the director). front/back are /24 prefixes like '10.61.0'.
 */
export function natTriangle(lab: Lab, front: string, back: string): { c: Netns; d: Netns; r: Netns } {
  const c = lab.ns('c');
  const d = lab.ns('d');
  const r = lab.ns('r');
  lab.veth(c, 'eth0', d, 'eth0');
  lab.veth(d, 'eth1', r, 'eth0');
  c.sh(`ip link set eth0 up; ip addr add ${front}.2/24 dev eth0; ip route add default via ${front}.1`);
  d.sh(
    `ip link set eth0 up; ip addr add ${front}.1/24 dev eth0; ip addr add ${front}.100/32 dev eth0; ` +
      `ip link set eth1 up; ip addr add ${back}.1/24 dev eth1; sysctl -qw net.ipv4.ip_forward=1`,
  );
  r.sh(`ip link set eth0 up; ip addr add ${back}.2/24 dev eth0; ip route add default via ${back}.1`);
  return { c, d, r };
}
