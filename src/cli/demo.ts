/**
 * `lvsd demo` (`npm run demo`, root): a small LVS lab in network namespaces with real HTTP traffic.
 *
 *   client 10.0.0.2 ──┐ front 10.0.0.0/24              back 172.16.0.0/24 ┌── rs1 172.16.0.11
 *                     ├── eth0 10.0.0.1  director  eth1 172.16.0.1 ───────┼── rs2 172.16.0.12
 *   (rsN eth1) ───────┘      VIP 10.0.0.100:80                            └── rs3 172.16.0.13
 *
 * The bridges live in a sixth namespace (the "switch"). Each real server runs an HTTP server that
 * answers its own name (nginx when installed, else node:http). The director is set up with the
 * ipvsadm commands an LVS tutorial would type, printed as they run; the client makes N curl requests
 * for NAT (replies return through the director: the real servers' default route), DR and TUN (real
 * servers prepared with `lvsd realserver up`; replies leave by their own front interface, eth1,
 * straight to the client), prints the split and `ipvsadm -L -n --stats`, and tears the mode down
 * before the next. Everything it made (namespaces, processes, the daemon's state and log) is removed
 * at the end, also on errors and on SIGINT/SIGTERM. Namespaces are named lvsdemo-<pid>-<role>; ones
 * left by a demo whose process no longer exists (e.g. killed with SIGKILL) are removed at start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logFile, stateDir } from '../daemon/paths.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(REPO, 'bin');

const VIP = '10.0.0.100';
const PORT = 80;
const CLIENT_ADDR = '10.0.0.2';
const DIRECTOR_FRONT = '10.0.0.1';
const DIRECTOR_BACK = '172.16.0.1';
const SERVERS = [1, 2, 3].map((k) => ({ name: `rs${k}`, back: `172.16.0.1${k}`, front: `10.0.0.1${k}` }));
const NS_PREFIX_RE = /^lvsdemo-(\d+)-/;

export const DEMO_USAGE = `Usage: lvsd demo [--requests N] [--verbose]

Builds a client, a director and three real servers in network namespaces (lvsdemo-<pid>-*), and
balances real HTTP traffic through the VIP ${VIP}:${PORT} in NAT, DR and TUN in turn, printing the
ipvsadm commands as they run, the per-server split and 'ipvsadm -L -n --stats'. Removes everything
it made at the end (also on Ctrl-C). Needs root; 'lvsd simulate' is the in-memory demo without root.

  --requests N   curl requests per mode (default 30)
  --verbose      also print the commands that build the namespaces and links
`;

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

class Interrupted extends Error {}

interface ModeSpec {
  title: string;
  /** ipvsadm's forwarding flag for -a */
  flag: '-m' | '-g' | '-i';
  /** ipvsadm -L's name for it */
  column: 'Masq' | 'Route' | 'Tunnel';
  about: string;
  rsUp: (rs: (typeof SERVERS)[number]) => string[];
  rsDown: (rs: (typeof SERVERS)[number]) => string[];
}

const MODES: ModeSpec[] = [
  {
    title: 'NAT',
    flag: '-m',
    column: 'Masq',
    about: 'the director rewrites the destination to a real server; replies come back through it',
    rsUp: () => [`ip route add default via ${DIRECTOR_BACK}`],
    rsDown: () => [`ip route del default via ${DIRECTOR_BACK}`],
  },
  {
    title: 'DR',
    flag: '-g',
    column: 'Route',
    about: 'the director only changes the MAC address; real servers own the VIP on lo and reply directly',
    rsUp: (rs) => [`lvsd realserver up --vip ${VIP} --mode dr`, `ip addr add ${rs.front}/24 dev eth1`],
    rsDown: (rs) => [`ip addr del ${rs.front}/24 dev eth1`, `lvsd realserver down --vip ${VIP}`],
  },
  {
    title: 'TUN',
    flag: '-i',
    column: 'Tunnel',
    about: 'the director wraps each packet in IPIP; real servers decapsulate and reply directly',
    rsUp: (rs) => [`lvsd realserver up --vip ${VIP} --mode tun`, `ip addr add ${rs.front}/24 dev eth1`],
    rsDown: (rs) => [`ip addr del ${rs.front}/24 dev eth1`, `lvsd realserver down --vip ${VIP}`],
  },
];

function out(s: string): void {
  process.stdout.write(s);
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function netnsPids(name: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** TERM every process in the namespaces, KILL what is left after 3 s, then delete the namespaces. */
async function removeNamespaces(names: string[]): Promise<void> {
  for (const n of names) for (const p of netnsPids(n)) kill(p, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && names.some((n) => netnsPids(n).length > 0)) await sleep(50);
  for (const n of names) for (const p of netnsPids(n)) kill(p, 'SIGKILL');
  for (const n of names) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
}

function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

class Demo {
  readonly prefix = `lvsdemo-${process.pid}-`;
  private readonly made: { name: string; inode: number }[] = [];
  private readonly scratch = fs.mkdtempSync(path.join(os.tmpdir(), this.prefix));
  /** commands in flight (killed on SIGINT/SIGTERM) */
  private readonly running = new Set<ChildProcess>();
  interrupted: NodeJS.Signals | null = null;
  private daemonStarted = false;

  constructor(
    private readonly requests: number,
    private readonly verbose: boolean,
  ) {}

  ns(role: string): string {
    return `${this.prefix}${role}`;
  }

  /** Kill the commands in flight (if any); the step that awaits it then sees `interrupted`. */
  interrupt(sig: NodeJS.Signals): void {
    this.interrupted = sig;
    for (const c of this.running) c.kill('SIGTERM');
  }

  private check(): void {
    if (this.interrupted) throw new Interrupted(this.interrupted);
  }

  /** Run `sh -c cmd` in a namespace with the checkout's bin/ first on PATH. */
  run(role: string, cmd: string, opts: { echo?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    this.check();
    if (opts.echo) out(`${`[${role}]`.padEnd(11)}$ ${cmd}\n`);
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', this.ns(role), 'sh', '-c', cmd], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}` },
      });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
      child.on('error', (e) => (stderr += String(e)));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.running.delete(child);
        resolve({ status: code ?? (signal ? 128 : -1), stdout, stderr });
      });
    });
  }

  /** Run and require exit status 0; prints the command first when echo is set. */
  async sh(role: string, cmd: string, echo = false): Promise<string> {
    const r = await this.run(role, cmd, { echo });
    this.check();
    if (r.status !== 0)
      throw new Error(`[${role}] '${cmd}' exited ${r.status}\n${r.stdout}${r.stderr}`.trimEnd());
    return r.stdout;
  }

  private host(args: string[]): void {
    this.check();
    if (this.verbose) out(`[host]     $ ip ${args.join(' ')}\n`);
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`'ip ${args.join(' ')}' exited ${r.status}: ${r.stderr}`.trimEnd());
  }

  private async addNs(role: string): Promise<void> {
    const name = this.ns(role);
    this.host(['netns', 'add', name]);
    this.made.push({ name, inode: fs.statSync(`/run/netns/${name}`).ino });
    await this.sh(role, 'ip link set lo up', this.verbose);
  }

  private link(a: string, ifa: string, b: string, ifb: string): void {
    this.host([
      'link',
      'add',
      ifa,
      'netns',
      this.ns(a),
      'type',
      'veth',
      'peer',
      'name',
      ifb,
      'netns',
      this.ns(b),
    ]);
  }

  async build(): Promise<void> {
    out(`Building the lab in network namespaces ${this.prefix}{client,director,rs1,rs2,rs3,switch}:\n\n`);
    out(
      `  client ${CLIENT_ADDR} ── front 10.0.0.0/24 ── ${DIRECTOR_FRONT} director ${DIRECTOR_BACK} ── back 172.16.0.0/24\n`,
    );
    out(`                          VIP ${VIP}:${PORT} on the director's eth0\n`);
    out(`  real servers rs1..rs3: eth0 ${SERVERS.map((s) => s.back).join(', ')} (back),\n`);
    out(
      `                         eth1 on the front segment (their direct path to the client in DR and TUN)\n\n`,
    );
    for (const role of ['switch', 'client', 'director', ...SERVERS.map((s) => s.name)])
      await this.addNs(role);
    await this.sh(
      'switch',
      'ip link add front type bridge && ip link add back type bridge && ip link set front up && ip link set back up',
      this.verbose,
    );
    const ports: [string, string, string, string][] = [
      ['client', 'eth0', 'cl-eth0', 'front'],
      ['director', 'eth0', 'dir-eth0', 'front'],
      ['director', 'eth1', 'dir-eth1', 'back'],
      ...SERVERS.flatMap((s): [string, string, string, string][] => [
        [s.name, 'eth0', `${s.name}-eth0`, 'back'],
        [s.name, 'eth1', `${s.name}-eth1`, 'front'],
      ]),
    ];
    for (const [role, ifname, port, bridge] of ports) {
      this.link(role, ifname, 'switch', port);
      await this.sh('switch', `ip link set ${port} master ${bridge} && ip link set ${port} up`, this.verbose);
      await this.sh(role, `ip link set ${ifname} up`, this.verbose);
    }
    await this.sh('client', `ip addr add ${CLIENT_ADDR}/24 dev eth0`, this.verbose);
    await this.sh('director', `ip addr add ${DIRECTOR_FRONT}/24 dev eth0`, this.verbose);
    await this.sh('director', `ip addr add ${DIRECTOR_BACK}/24 dev eth1`, this.verbose);
    for (const s of SERVERS) await this.sh(s.name, `ip addr add ${s.back}/24 dev eth0`, this.verbose);
    await this.startHttpServers();

    out('The director: the VIP as an alias of eth0, and forwarding on (NAT needs it):\n');
    await this.sh('director', `ip addr add ${VIP}/24 dev eth0 label eth0:0`, true);
    await this.sh('director', 'sysctl -w net.ipv4.ip_forward=1', true);
    out('\n');
  }

  /** Each real server answers GET / with its own name: nginx when installed, else node:http. */
  private async startHttpServers(): Promise<void> {
    const nginx = hasCommand('nginx');
    out(
      `Real servers: ${nginx ? 'nginx' : 'a node:http server'} on port ${PORT} answering its own name.\n\n`,
    );
    for (const s of SERVERS) {
      if (nginx) {
        const dir = path.join(this.scratch, s.name);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(
          path.join(dir, 'nginx.conf'),
          `worker_processes 1;
user root;
daemon on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${PORT};
    location / { default_type text/plain; return 200 "${s.name}\\n"; }
  }
}
`,
        );
        await this.sh(s.name, `nginx -p ${dir} -e ${dir}/error.log -c ${dir}/nginx.conf`, this.verbose);
      } else {
        const js =
          `require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');` +
          `s.end(${JSON.stringify(s.name + '\n')})}).listen(${PORT})`;
        const child = spawn('ip', ['netns', 'exec', this.ns(s.name), process.execPath, '-e', js], {
          stdio: 'ignore',
          detached: true,
        });
        child.unref();
      }
    }
    // Ready when each answers on its own address (from inside its namespace).
    for (const s of SERVERS) {
      const url = `http://${s.back}:${PORT}/`;
      for (let i = 0; ; i++) {
        const r = await this.run(s.name, `curl -s --max-time 1 ${url}`);
        if (r.stdout.trim() === s.name) break;
        if (i >= 50) throw new Error(`the HTTP server of ${s.name} did not answer on ${url}`);
        await sleep(100);
      }
    }
  }

  /** Print every real server's commands, then run them: in order on each, the servers in parallel. */
  private async onServers(cmds: (rs: (typeof SERVERS)[number]) => string[]): Promise<void> {
    for (const s of SERVERS) for (const c of cmds(s)) out(`${`[${s.name}]`.padEnd(11)}$ ${c}\n`);
    const results = await Promise.allSettled(
      SERVERS.map(async (s) => {
        for (const c of cmds(s)) await this.sh(s.name, c);
      }),
    );
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /** One mode end to end; returns the per-server counts (and 'failed'). */
  async mode(m: ModeSpec, n: number): Promise<Record<string, number>> {
    out(`${'='.repeat(100)}\n${n}. ${m.title}: ${m.about}\n${'='.repeat(100)}\n`);
    out('Real servers (each runs its commands in order; the three in parallel):\n');
    await this.onServers(m.rsUp);
    out('Director:\n');
    this.daemonStarted = true; // the first table change starts the namespace's lvsd daemon
    await this.sh('director', `ipvsadm -A -t ${VIP}:${PORT} -s rr`, true);
    for (const s of SERVERS)
      await this.sh('director', `ipvsadm -a -t ${VIP}:${PORT} -r ${s.back}:${PORT} ${m.flag}`, true);
    out(await this.sh('director', 'ipvsadm -L -n', true));
    // zero the counters so that --stats below shows this mode's traffic only (the previous mode's
    // connections may still be in the table, and re-added real servers keep their counters)
    await this.sh('director', 'ipvsadm -Z', true);
    out('Client:\n');
    const loop = `for i in $(seq 1 ${this.requests}); do curl -s --max-time 5 http://${VIP}/ || echo FAILED; done`;
    const r = await this.run('client', loop, { echo: true, timeoutMs: 10000 + this.requests * 3000 });
    this.check();
    const counts: Record<string, number> = Object.fromEntries(SERVERS.map((s) => [s.name, 0]));
    counts['failed'] = 0;
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const k = line.trim() in counts && line.trim() !== 'failed' ? line.trim() : 'failed';
      counts[k] = (counts[k] ?? 0) + 1;
    }
    counts['failed']! += Math.max(0, this.requests - Object.values(counts).reduce((a, b) => a + b, 0));
    const width = Math.max(...SERVERS.map((s) => counts[s.name]!));
    out(`Split of ${this.requests} requests:\n`);
    for (const s of SERVERS) {
      const c = counts[s.name]!;
      out(
        `  ${s.name} (${s.back})  ${String(c).padStart(3)}  ${'#'.repeat(width > 40 ? Math.round((c * 40) / width) : c)}\n`,
      );
    }
    if (counts['failed']) out(`  failed             ${String(counts['failed']).padStart(3)}\n`);
    out(
      `${m.title} split: ${SERVERS.map((s) => `${s.name}=${counts[s.name]}`).join(' ')} failed=${counts['failed']}\n`,
    );
    out(await this.sh('director', 'ipvsadm -L -n --stats', true));
    if (counts['failed']) out(await this.sh('director', 'lvsd status', true));
    out(`Tear ${m.title} down:\n`);
    await this.sh('director', 'ipvsadm -C', true);
    await this.onServers(m.rsDown);
    out('\n');
    return counts;
  }

  /** Remove everything this run made; never throws. Keeps the daemon's log when `keepLog`. */
  async cleanup(keepLog: boolean): Promise<void> {
    for (const c of this.running) c.kill('SIGKILL');
    const director = this.made.find((m) => m.name === this.ns('director'));
    if (director && this.daemonStarted) {
      // an ordered stop removes the daemon's nftables steering (inside the namespace anyway)
      spawnSync('ip', ['netns', 'exec', director.name, process.execPath, path.join(BIN, 'lvsd'), 'stop'], {
        stdio: 'ignore',
        timeout: 5000,
      });
    }
    await removeNamespaces(this.made.map((m) => m.name));
    for (const m of this.made) {
      fs.rmSync(stateDir(m.inode), { recursive: true, force: true });
      if (!(keepLog && m === director)) fs.rmSync(logFile(m.inode), { force: true });
    }
    if (keepLog && director && fs.existsSync(logFile(director.inode)))
      out(`The director's lvsd log is kept at ${logFile(director.inode)}\n`);
    fs.rmSync(this.scratch, { recursive: true, force: true });
    const left = listNamespaces().filter((n) => n.startsWith(this.prefix));
    if (left.length) out(`lvsd demo: could not delete ${left.join(', ')}\n`);
    else out(`Removed the namespaces ${this.prefix}* and everything in them.\n`);
  }
}

/** Namespaces of earlier demo runs whose process is gone (e.g. killed with SIGKILL). */
async function removeStale(): Promise<void> {
  const stale = listNamespaces().filter((n) => {
    const m = NS_PREFIX_RE.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  if (stale.length === 0) return;
  out(`Removing namespaces left by an earlier demo that did not finish: ${stale.join(' ')}\n`);
  await removeNamespaces(stale);
}

export async function demoMain(argv: string[]): Promise<number> {
  let requests = 30;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--requests' && argv[i + 1] !== undefined) requests = Number(argv[++i]);
    else if (a === '--verbose') verbose = true;
    else if (a === '-h' || a === '--help') {
      out(DEMO_USAGE);
      return 0;
    } else {
      process.stderr.write(`lvsd demo: unknown option '${a}'\n${DEMO_USAGE}`);
      return 2;
    }
  }
  if (!Number.isInteger(requests) || requests < 3 || requests > 1000) {
    process.stderr.write('lvsd demo: --requests must be 3..1000\n');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'lvsd demo needs root: it creates network namespaces, veth links and a director daemon.\n' +
        'Run it as root (sudo npm run demo), or try the in-memory demo that needs no privileges:\n' +
        '  lvsd simulate        (from a checkout: node bin/lvsd simulate)\n',
    );
    return 1;
  }
  const missing = ['ip', 'curl', 'nft'].filter((c) => !hasCommand(c));
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) missing.push('ip netns');
  if (missing.length) {
    process.stderr.write(
      `lvsd demo: needs ${missing.join(', ')} (not found); 'lvsd simulate' needs nothing\n`,
    );
    return 1;
  }

  await removeStale();
  const demo = new Demo(requests, verbose);
  const onSignal = (sig: NodeJS.Signals): void => {
    if (demo.interrupted) return;
    out(`\n${sig}: stopping; removing what the demo made...\n`);
    demo.interrupt(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failed = false;
  let status = 0;
  try {
    await demo.build();
    const results: [string, Record<string, number>][] = [];
    for (const [k, m] of MODES.entries()) results.push([m.title, await demo.mode(m, k + 1)]);
    out('Summary:\n');
    for (const [title, c] of results) {
      const ok = c['failed'] === 0 && SERVERS.every((s) => c[s.name]! > 0);
      if (!ok) failed = true;
      out(
        `  ${title.padEnd(4)} ${SERVERS.map((s) => `${s.name} ${c[s.name]}`).join(', ')}${c['failed'] ? `, failed ${c['failed']}` : ''}  ${ok ? 'ok' : 'FAILED'}\n`,
      );
    }
    status = failed ? 1 : 0;
  } catch (e) {
    failed = true;
    if (e instanceof Interrupted || demo.interrupted) {
      status = demo.interrupted === 'SIGTERM' ? 143 : 130;
    } else {
      process.stderr.write(`lvsd demo: ${(e as Error).message}\n`);
      status = 1;
    }
  } finally {
    await demo.cleanup(failed && status === 1);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return status;
}
