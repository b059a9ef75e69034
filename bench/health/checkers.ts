/**
 * Health-checker cost on the control plane: 1,000 real servers (500 TCP_CHECK, 500 HTTP_GET, each a
 * distinct 127.0.0.1 port served by a child process) with delay_loop 1 for DURATION seconds.
 * Reports completed checks/s, this process's CPU % (user+sys over wall time; the servers' CPU is in
 * the child and not counted) and the main-thread event-loop delay (perf_hooks
 * monitorEventLoopDelay, 10 ms resolution): p50 / p99 / max.
 * Usage: npm run build && node dist/bench/health/checkers.js [DURATION_S=20] [RS=1000] [MAX_CONCURRENT=256]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Checker, KeepalivedConfig, RealServer, VirtualServer } from '../../src/config/model.js';
import type { IpvsActions } from '../../src/health/actions.js';
import { HealthManager } from '../../src/health/index.js';

const durationS = Number(process.argv[2] ?? 20);
const total = Number(process.argv[3] ?? 1000);
const maxConcurrent = Number(process.argv[4] ?? 256);
const LOC = { file: 'bench', line: 1, column: 1 };

const here = path.dirname(fileURLToPath(import.meta.url));
const child = spawn(process.execPath, [path.join(here, 'servers.js'), String(Math.ceil(total / 2))], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const first = await new Promise<string>((resolve) =>
  createInterface({ input: child.stdout! }).once('line', resolve),
);
const ports = JSON.parse(first) as { tcp: number[]; http: number[] };

const common = {
  loc: LOC,
  connectIp: '127.0.0.1',
  family: 4 as const,
  connectTimeout: 2,
  retry: 1,
  delayBeforeRetry: 1,
  delayLoop: 1,
  warmup: 1,
  alpha: false,
  logAllFailures: false,
};
function server(port: number, checker: Checker): RealServer {
  return {
    loc: LOC,
    address: '127.0.0.1',
    port,
    family: 4,
    weight: 1,
    method: 'NAT',
    inhibitOnFailure: false,
    alpha: false,
    upperThreshold: 0,
    lowerThreshold: 0,
    checkers: [checker],
  };
}
const realServers: RealServer[] = [];
for (const port of ports.tcp)
  realServers.push(server(port, { ...common, kind: 'TCP_CHECK', connectPort: port }));
for (const port of ports.http)
  realServers.push(
    server(port, {
      ...common,
      kind: 'HTTP_GET',
      connectPort: port,
      delayBeforeRetry: 3,
      httpProtocol: '1.0',
      fastRecovery: false,
      enableSni: false,
      tlsCompliant: false,
      urls: [{ path: '/health', statusCodes: [[200, 299]], regexNoMatch: false }],
    }),
  );
const okDigest = createHash('md5').update('ok\n').digest('hex');
for (const r of realServers)
  for (const c of r.checkers) if (c.kind === 'HTTP_GET') c.urls[0]!.digest = okDigest;

const vs: VirtualServer = {
  loc: LOC,
  name: 'BENCH',
  target: { type: 'ip', address: '10.0.0.1', port: 80, family: 4 },
  protocol: 'TCP',
  scheduler: 'wlc',
  schedFlags: [],
  ops: false,
  method: 'NAT',
  persistenceTimeout: 0,
  quorum: 1,
  hysteresis: 0,
  sorryServerInhibit: false,
  alpha: false,
  omega: false,
  haSuspend: false,
  realServers: realServers.slice(0, total),
};
const cfg = {
  global: { rsInitNotifies: false, checkerLogAllFailures: false },
  virtualServers: [vs],
} as unknown as KeepalivedConfig;
let actionCount = 0;
const actions: IpvsActions = {
  addDest: async () => void actionCount++,
  editDest: async () => void actionCount++,
  delDest: async () => void actionCount++,
};
let warnings = 0;
const hm = new HealthManager({
  actions,
  maxConcurrent,
  log: (l) => void (l === 'warn' || l === 'error' ? warnings++ : 0),
});

// Baseline: the same measurement with no checks running, to separate machine contention (other
// processes on the host) from the checker's own cost.
const base = monitorEventLoopDelay({ resolution: 10 });
const baseCpu0 = process.cpuUsage();
base.enable();
await new Promise((r) => setTimeout(r, 3000));
base.disable();
const baseCpu = process.cpuUsage(baseCpu0);

await hm.start(cfg);
const installed = actionCount;
// Let warmup (0..1 s) spread the first round, then measure a steady window.
await new Promise((r) => setTimeout(r, 2000));
const sum = () => {
  let checks = 0;
  let fails = 0;
  for (const r of hm.status().virtualServers[0]!.realServers)
    for (const c of r.checkers) {
      checks += c.checks;
      fails += c.failures;
    }
  return { checks, fails };
};
const h = monitorEventLoopDelay({ resolution: 10 });
const c0 = sum();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
h.enable();
await new Promise((r) => setTimeout(r, durationS * 1000));
h.disable();
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const c1 = sum();
await hm.stop();
child.stdin!.end();

const checks = c1.checks - c0.checks;
const ms = (ns: number) => (ns / 1e6).toFixed(2);
const alive = hm.status().virtualServers[0]!.realServers.filter((r) => r.alive).length;
console.log(
  JSON.stringify(
    {
      realServers: vs.realServers.length,
      maxConcurrent,
      durationS: Number(wall.toFixed(1)),
      checksPerS: Math.round(checks / wall),
      failedChecks: c1.fails - c0.fails,
      aliveAtEnd: alive,
      installedAtStart: installed,
      laterActions: actionCount - installed,
      warnings,
      cpuPercent: Number((((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(1)),
      cpuUsPerCheck: Math.round((cpu.user + cpu.system) / checks),
      eventLoopDelayMs: {
        p50: ms(h.percentile(50)),
        p99: ms(h.percentile(99)),
        max: ms(h.max),
        mean: ms(h.mean),
      },
      idleBaseline: {
        cpuPercent: Number((((baseCpu.user + baseCpu.system) / 1e6 / 3) * 100).toFixed(1)),
        eventLoopDelayMs: { p50: ms(base.percentile(50)), p99: ms(base.percentile(99)), max: ms(base.max) },
      },
      loadAverage: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(2))),
      node: process.version,
    },
    null,
    2,
  ),
);
