/**
 * `lvsd` with no subcommand: run the director daemon of this network namespace until SIGTERM/SIGINT
 * or `lvsd stop`. Two modes:
 *  - plain (no keepalived option): the table comes from ipvsadm; runs in the foreground;
 *  - keepalived mode (any of keepalived's own options, keepalived(8)): the table comes from
 *    keepalived.conf (src/daemon/keepalived.ts), so swapping the keepalived binary for lvsd in a
 *    systemd unit or init script just works. Like keepalived it forks into the background unless
 *    -n/--dont-fork is given, reloads on SIGHUP and keeps running while the namespace has no
 *    interface yet. `-t` only checks the file (keepalived-reference.md §5 exit codes).
 */
import { parseCpuList } from './cpus.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OFFLOAD_DEFAULT_THRESHOLD } from '../core/offload.js';
import { DEFAULT_RX_RING_FRAMES } from '../io/afpacket.js';
import {
  Daemon,
  DEFAULT_DAEMON_OPTIONS,
  DEFAULT_DATAPLANE_NICE,
  LVSD_VERSION,
  type DaemonParts,
} from './daemon.js';
import { Logger, type LogLevel } from './log.js';
import { buildParts } from './parts.js';
import { logFile, stateDir } from './paths.js';
import { SdNotifier } from './sd-notify.js';
import { native } from '../io/native.js';
import { KeepalivedRuntime, type KeepalivedDeps } from './keepalived.js';
import {
  formatDiagnostic,
  hasVrrpAddresses,
  loadKeepalivedConfig,
  summarizeConfig,
  type KeepalivedConfig,
} from '../config/index.js';
import { HealthManager } from '../health/index.js';
import { VrrpManager } from '../vrrp/manager.js';
import { ControlClient, isNoDaemon } from '../control/client.js';
import type { PingResult } from '../control/protocol.js';

export const DEFAULT_KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';
/** how long a forking `lvsd -f` waits for its daemon to run the configuration */
const FORK_WAIT_MS = 120000;

export const DAEMON_USAGE = `Usage: lvsd [options]

Run the lvsd director for this network namespace (one per namespace).
Control it with ipvsadm and 'lvsd status|reload|stop'.

Options:
  --driver afpacket|memory   packet driver (default afpacket; memory = no packet I/O, for tests)
  --max-conns N              connection table capacity (default 1048576)
  --log-level LEVEL          debug, info, warn or error (default info)
  --no-steering              do not install nftables steering (the kernel also sees service traffic)
  --stay                     keep running when the namespace has no non-loopback interface
  --takeover                 take table and connections over from the running daemon, which
                             then exits (what 'lvsd restart' starts)
  --no-persist               do not save or restore the table (nor hand connections over)
  --offload-threshold N      after N client packets an established DR TCP flow is forwarded by the
                             kernel (nftables netdev fwd) instead of lvsd; its counters still count
                             (default ${OFFLOAD_DEFAULT_THRESHOLD}; 0 = never; environment LVSD_OFFLOAD_THRESHOLD)
  --no-offload               the same as --offload-threshold 0
  --dataplane-nice N         nice value of the data-plane thread (default ${DEFAULT_DATAPLANE_NICE}, as the rest of lvsd);
                             negative: under CPU contention packets go ahead of health checks and
                             control requests (needs CAP_SYS_NICE)
  --dataplane-cpu LIST       run the data-plane thread only on these CPUs (1 / 2,3 / 2-5) and lvsd's
                             other threads (control, health checks, VRRP) only on the rest
  --rx-ring N                receive through a TPACKET_V2 ring of N 2 KiB frames per captured
                             interface (default ${DEFAULT_RX_RING_FRAMES}; 0 = recvmmsg from the socket queue;
                             environment LVSD_RX_RING); larger frames still arrive through the queue

  -h, --help                 show this text

Signals: SIGTERM/SIGINT stop (steering removed, saved table kept); SIGHUP reloads keepalived.conf;
SIGUSR2 hands the connections over to the state directory and exits with status 75 without removing
steering, for a supervisor (systemd: RestartForceExitStatus=75) to start the successor, which takes
them over.

keepalived mode (any of these options): run keepalived.conf's virtual servers and health checks
  -f, --use-file=FILE        configuration file (default ${DEFAULT_KEEPALIVED_CONF})
  -t, --config-test[=LOG]    check the file, print its diagnostics (to LOG), exit 0/4/5/6; no daemon
  -n, --dont-fork            stay in the foreground (otherwise: detach, log to /var/log/lvsd/)
  -l, --log-console          log to the console (lvsd always logs to stderr)
  -D, --log-detail           detailed logs (--log-level debug)
  -p, --pid=FILE             write the daemon's pid to FILE (removed at exit)
  -i, --config-id=ID         id for @ID conditional lines (default: first part of the host name)
  -d, --dump-conf            log a summary of the configuration at start
  -v, --version              print the version
      --no-vrrp              do not run the file's vrrp_instance blocks (keepalived's --check mode):
                             their virtual addresses must then be configured another way
  Accepted and ignored: -S/--log-facility N, -R/--dont-respawn, -C/--check, -I/--dont-release-ipvs.
  SIGHUP or 'lvsd reload' re-reads the file; a file that does not load changes nothing.
`;

interface Parsed {
  driver: 'afpacket' | 'memory';
  maxConns: number;
  level: LogLevel | null;
  steering: boolean;
  stay: boolean;
  /** keepalived mode: some keepalived option was given */
  keepalived: boolean;
  file: string;
  configTest: boolean;
  configTestLog: string | null;
  dontFork: boolean;
  logDetail: boolean;
  pidFile: string | null;
  configId: string | undefined;
  dumpConf: boolean;
  noVrrp: boolean;
  help: boolean;
  version: boolean;
  takeover: boolean;
  persist: boolean;
  /** client packets before an established DR flow goes to the kernel fast path; 0 = never */
  offloadThreshold: number;
  dataplaneNice: number;
  dataplaneCpus: number[] | null;
  /** receive-ring frames per captured interface; 0 = recvmmsg */
  rxRingFrames: number;
}

/** LVSD_OFFLOAD_THRESHOLD (for daemons that ipvsadm starts); an invalid value keeps the default */
function envOffloadThreshold(): number {
  return uintValue(process.env['LVSD_OFFLOAD_THRESHOLD'], Infinity) ?? OFFLOAD_DEFAULT_THRESHOLD;
}

/** An integer from 0 to max written in s, else null (absent and empty are not numbers). */
function uintValue(s: string | undefined, max: number): number | null {
  const v = s === undefined || s === '' ? NaN : Number(s);
  return Number.isInteger(v) && v >= 0 && v <= max ? v : null;
}

/** Largest --rx-ring: 4 Mi frames, 8 GiB of ring per interface (the addon's limit). */
const MAX_RX_RING_FRAMES = 1 << 22;

/** LVSD_RX_RING (for daemons that ipvsadm starts); an invalid value keeps the default */
function envRxRing(): number {
  return uintValue(process.env['LVSD_RX_RING'], MAX_RX_RING_FRAMES) ?? DEFAULT_RX_RING_FRAMES;
}

/** option name -> [takes an argument: 'none' | 'required' | 'optional', canonical name] */
const KEEPALIVED_SHORT: Record<string, ['none' | 'required' | 'optional', string]> = {
  f: ['required', 'use-file'],
  t: ['optional', 'config-test'],
  n: ['none', 'dont-fork'],
  l: ['none', 'log-console'],
  D: ['none', 'log-detail'],
  p: ['required', 'pid'],
  i: ['required', 'config-id'],
  d: ['none', 'dump-conf'],
  h: ['none', 'help'],
  v: ['none', 'version'],
  S: ['required', 'log-facility'],
  R: ['none', 'dont-respawn'],
  C: ['none', 'check'],
  I: ['none', 'dont-release-ipvs'],
};
const KEEPALIVED_LONG: Record<string, 'none' | 'required' | 'optional'> = {
  'use-file': 'required',
  'config-test': 'optional',
  'dont-fork': 'none',
  'log-console': 'none',
  'log-detail': 'none',
  pid: 'required',
  'config-id': 'required',
  'dump-conf': 'none',
  help: 'none',
  version: 'none',
  'log-facility': 'required',
  'dont-respawn': 'none',
  check: 'none',
  'dont-release-ipvs': 'none',
  'no-vrrp': 'none',
};

/** Parse the command line (getopt_long style for keepalived's options: -fFILE, -nl, --pid=FILE). */
export function parseDaemonArgs(argv: string[]): Parsed | string {
  const p: Parsed = {
    driver: 'afpacket',
    maxConns: DEFAULT_DAEMON_OPTIONS.maxConns,
    offloadThreshold: envOffloadThreshold(),
    dataplaneNice: DEFAULT_DATAPLANE_NICE,
    dataplaneCpus: null,
    rxRingFrames: envRxRing(),
    level: null,
    steering: true,
    stay: false,
    keepalived: false,
    file: DEFAULT_KEEPALIVED_CONF,
    configTest: false,
    configTestLog: null,
    dontFork: false,
    logDetail: false,
    pidFile: null,
    configId: undefined,
    dumpConf: false,
    noVrrp: false,
    help: false,
    version: false,
    takeover: false,
    persist: true,
  };
  const apply = (name: string, arg: string | null): string | null => {
    if (name !== 'help' && name !== 'version') p.keepalived = true;
    switch (name) {
      case 'use-file':
        p.file = arg!;
        break;
      case 'config-test':
        p.configTest = true;
        p.configTestLog = arg;
        break;
      case 'dont-fork':
        p.dontFork = true;
        break;
      case 'log-detail':
        p.logDetail = true;
        break;
      case 'pid':
        p.pidFile = arg!;
        break;
      case 'config-id':
        p.configId = arg!;
        break;
      case 'dump-conf':
        p.dumpConf = true;
        break;
      case 'no-vrrp':
        p.noVrrp = true;
        break;
      case 'help':
        p.help = true;
        break;
      case 'version':
        p.version = true;
        break;
      // log-console (lvsd always logs to stderr), log-facility, dont-respawn, check,
      // dont-release-ipvs: accepted for compatibility, nothing to do
    }
    return null;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    switch (a) {
      case '--driver': {
        const v = val();
        if (v !== 'afpacket' && v !== 'memory') return `--driver must be afpacket or memory`;
        p.driver = v;
        continue;
      }
      case '--max-conns': {
        const v = Number(val());
        if (!Number.isInteger(v) || v < 1024 || v > 1 << 26)
          return '--max-conns must be an integer from 1024 to 67108864';
        p.maxConns = v;
        continue;
      }
      case '--log-level': {
        const v = val();
        if (v !== 'debug' && v !== 'info' && v !== 'warn' && v !== 'error')
          return '--log-level must be debug, info, warn or error';
        p.level = v;
        continue;
      }
      case '--no-steering':
        p.steering = false;
        continue;
      case '--stay':
        p.stay = true;
        continue;
      case '--takeover':
        p.takeover = true;
        continue;
      case '--no-persist':
        p.persist = false;
        continue;
      case '--dataplane-nice': {
        const v = Number(val());
        if (!Number.isInteger(v) || v < -20 || v > 19)
          return '--dataplane-nice must be an integer from -20 to 19';
        p.dataplaneNice = v;
        continue;
      }
      case '--dataplane-cpu': {
        const cpus = parseCpuList(val() ?? '');
        if (cpus === null) return '--dataplane-cpu must be a CPU list such as 1 or 2,3 or 2-5';
        p.dataplaneCpus = cpus;
        continue;
      }
      case '--rx-ring': {
        const v = uintValue(val(), MAX_RX_RING_FRAMES);
        if (v === null) return `--rx-ring must be an integer from 0 to ${MAX_RX_RING_FRAMES}`;
        p.rxRingFrames = v;
        continue;
      }
      case '--no-offload':
        p.offloadThreshold = 0;
        continue;
      case '--offload-threshold': {
        const v = Number(val());
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
          return '--offload-threshold must be an integer from 0 to 4294967295';
        p.offloadThreshold = v;
        continue;
      }
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const kind = KEEPALIVED_LONG[name];
      if (!kind) return `unknown option '${a}'`;
      let arg: string | null = eq < 0 ? null : a.slice(eq + 1);
      if (kind === 'none' && arg !== null) return `option '--${name}' doesn't allow an argument`;
      if (kind === 'required' && arg === null) {
        const v = val();
        if (v === undefined) return `option '--${name}' requires an argument`;
        arg = v;
      }
      const err = apply(name, arg);
      if (err) return err;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // a cluster of short options; one taking an argument ends it
      for (let j = 1; j < a.length; j++) {
        const spec = KEEPALIVED_SHORT[a[j]!];
        if (!spec) return `invalid option -- '${a[j]}'`;
        const [kind, name] = spec;
        let arg: string | null = null;
        if (kind !== 'none') {
          const rest = a.slice(j + 1);
          if (rest !== '') arg = rest;
          else if (kind === 'required') {
            const v = val();
            if (v === undefined) return `option requires an argument -- '${a[j]}'`;
            arg = v;
          }
          j = a.length;
        }
        const err = apply(name, arg);
        if (err) return err;
      }
      continue;
    }
    return `unexpected argument '${a}'`;
  }
  return p;
}

/** The parser and the health checker as the runtime uses them. */
export function keepalivedDeps(): KeepalivedDeps & { summarize: (c: KeepalivedConfig) => string } {
  return {
    load: (file, opts) => loadKeepalivedConfig(file, opts),
    hasVrrpAddresses: (c) => hasVrrpAddresses(c),
    createHealth: (actions, log) => new HealthManager({ actions, log }),
    summarize: (c) => summarizeConfig(c),
  };
}

/** An interface of this namespace (a name, never a path into /sys) */
function hostHasInterface(name: string): boolean {
  return !name.includes('/') && name !== '.' && name !== '..' && fs.existsSync(`/sys/class/net/${name}`);
}

/** -t: check the file like `keepalived -t`; diagnostics to stderr or LOG; the §5 exit status. */
export function configTest(p: Parsed): number {
  const deps = keepalivedDeps();
  const r = deps.load(p.file, {
    ...(p.configId !== undefined ? { configId: p.configId } : {}),
    // as keepalived -t: VRRP instances on interfaces this host lacks (the daemon would not start)
    ...(p.noVrrp ? {} : { interfaceExists: hostHasInterface }),
  });
  const lines = r.diagnostics.map((d) => formatDiagnostic(d) + '\n').join('');
  if (p.configTestLog) fs.writeFileSync(p.configTestLog, lines);
  else process.stderr.write(lines);
  return r.exitCode;
}

function lvsdBin(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/lvsd');
}

/**
 * Without -n: start the daemon detached (`lvsd ARGS -n`, output to the namespace's log file) and
 * exit 0 once its control socket answers (it answers only after the configuration is running), or 1
 * with the log's tail when it exits first.
 */
async function forkDaemon(argv: string[]): Promise<number> {
  const running = await ControlClient.connect().catch((e: unknown) =>
    isNoDaemon(e) ? null : Promise.reject(e),
  );
  if (running) {
    const ping = await running.request<PingResult>('ping').catch(() => null);
    running.close();
    process.stderr.write(
      `lvsd: lvsd is already running in this network namespace${ping ? ` (pid ${ping.pid})` : ''}\n`,
    );
    return 1;
  }
  const log = logFile();
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [lvsdBin(), ...argv, '--dont-fork'], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: process.env,
  });
  fs.closeSync(fd);
  let exitCode: number | null = null;
  child.on('exit', (c) => (exitCode = c ?? 1));
  // a large file with many checks may take a while on a loaded machine; not forever
  const deadline = Date.now() + FORK_WAIT_MS;
  for (;;) {
    if (exitCode !== null) break;
    if (Date.now() > deadline) {
      process.stderr.write(
        `lvsd: the daemon (pid ${child.pid}) did not answer within ${FORK_WAIT_MS / 1000} s; log ${logFile()}\n`,
      );
      child.unref();
      return 1;
    }
    const c = await ControlClient.connect().catch(() => null);
    if (c) {
      const ping = await c.request<PingResult>('ping', undefined, 60000).catch(() => null);
      c.close();
      if (ping && ping.pid === child.pid) {
        child.unref();
        return 0;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let tail = '';
  try {
    tail = fs.readFileSync(log, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    /* no log */
  }
  process.stderr.write(`lvsd: the daemon exited with status ${exitCode}; log ${log}:\n${tail}\n`);
  return exitCode || 1;
}

export async function runDaemon(argv: string[]): Promise<number> {
  const p = parseDaemonArgs(argv);
  if (typeof p === 'string') {
    process.stderr.write(`lvsd: ${p}\nTry 'lvsd --help' for more information.\n`);
    return 2;
  }
  if (p.help) {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  if (p.version) {
    process.stdout.write(`lvsd ${LVSD_VERSION} (IPVS 1.2.1 compatible; keepalived.conf mode)\n`);
    return 0;
  }
  if (p.keepalived && p.configTest) return configTest(p);
  if (process.getuid?.() !== 0) {
    process.stderr.write('lvsd: must be run as root (it needs packet sockets and nftables)\n');
    return 1;
  }
  if (p.keepalived && !p.dontFork) return forkDaemon(argv);
  const logger = new Logger(p.level ?? (p.logDetail ? 'debug' : 'info'));
  let runtime: KeepalivedRuntime | null = null;
  const deps = p.keepalived ? keepalivedDeps() : null;
  let parts: DaemonParts;
  try {
    parts = await buildParts({ driver: p.driver, steering: p.steering, logger });
  } catch (e) {
    logger.error('cannot initialise', { error: (e as Error).message });
    return 1;
  }
  // the memory driver is for tests: nothing of it is worth keeping
  const persist = p.persist && p.driver !== 'memory';
  let cookie = '';
  if (persist) {
    try {
      cookie = native.netnsCookie();
    } catch (e) {
      logger.warn('no SO_NETNS_COOKIE (Linux < 5.14?): saved state is guarded by the inode only', {
        error: (e as Error).message,
      });
    }
  }
  const notifier = new SdNotifier({ send: (path, msg) => native.unixDgramSend(path, msg) });
  const daemon = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: p.driver,
      maxConns: p.maxConns,
      // keepalived mode may start before the interfaces exist (boot), and must then stay
      exitWhenNoInterfaces: !p.stay && !p.keepalived && p.driver !== 'memory',
      logger,
      stateDir: persist ? stateDir() : null,
      netnsCookie: cookie,
      takeover: p.takeover,
      notifier: notifier.enabled ? notifier : null,
      offloadThreshold: p.steering ? p.offloadThreshold : 0,
      dataplaneNice: p.dataplaneNice,
      ...(p.dataplaneCpus ? { dataplaneCpus: p.dataplaneCpus } : {}),
      rxRingFrames: p.rxRingFrames,
    },
    parts,
  );
  if (deps) {
    // VRRP moves the VIPs; a VIP is announced only once steering takes its service traffic
    deps.createVrrp = (c) => {
      const m = new VrrpManager(c, {
        log: (level, message) => logger.log(level, message),
        // steered before the kernel holds them, unsteered only after it let them go
        beforeVipsAdded: (_instance, addresses) => daemon.expectLocalAddresses(addresses, true),
        afterVipsRemoved: (_instance, addresses) => daemon.expectLocalAddresses(addresses, false),
        afterVipsAdded: async (instance, addresses) => {
          if (!(await daemon.waitLocalAddresses(addresses)))
            logger.warn('VRRP: steering did not take the new VIPs within 2 s; announcing anyway', {
              instance,
              addresses,
            });
        },
      });
      m.onVipChange((instance, vips, held) => logger.info('VRRP addresses', { instance, vips, held }));
      return m;
    };
    // ha_suspend follows the namespace's addresses as the network mirror sees them
    deps.localAddresses = {
      list: () => daemon.localAddresses(),
      onChange: (fn) => daemon.onNetworkChange(fn),
    };
    const file = path.resolve(p.file);
    runtime = new KeepalivedRuntime(
      {
        file,
        ...(p.configId !== undefined ? { configId: p.configId } : {}),
        noVrrp: p.noVrrp,
        vrrpHandoverFile: persist ? path.join(stateDir(), 'vrrp-handover.json') : null,
        netnsCookie: cookie,
      },
      deps,
      daemon,
      logger,
    );
    daemon.setExtension(runtime);
    if (p.dumpConf) {
      const r = deps.load(file, p.configId !== undefined ? { configId: p.configId } : {});
      if (r.config) for (const line of deps.summarize(r.config).split('\n')) logger.info(`conf: ${line}`);
    }
  }
  const onSignal = (sig: string): void => {
    logger.info('signal', { signal: sig });
    void daemon.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => {
    if (!runtime) {
      logger.info('SIGHUP: nothing to reload (no configuration file in use)');
      return;
    }
    logger.info('signal', { signal: 'SIGHUP' });
    void runtime.reload().catch((e: unknown) => logger.error('reload failed', { error: String(e) }));
  });
  process.on('SIGUSR2', () => {
    logger.info('signal', { signal: 'SIGUSR2', action: 'hand over and exit 75' });
    daemon
      .handOver('signal')
      .catch((e: unknown) => logger.error('SIGUSR2 hand-over failed', { error: String(e) }));
  });
  try {
    await daemon.start();
  } catch (e) {
    logger.error('lvsd did not start', { error: (e as Error).message });
    process.stderr.write(`lvsd: ${(e as Error).message}\n`);
    return 1;
  }
  if (p.pidFile) writePidFile(p.pidFile, logger);
  await daemon.stopped;
  if (p.pidFile) removePidFile(p.pidFile);
  return daemon.exitCode;
}

function writePidFile(file: string, logger: Logger): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${process.pid}\n`);
  } catch (e) {
    logger.warn('cannot write the pid file', { file, error: (e as Error).message });
  }
}

/** Remove the pid file if it is still ours. */
function removePidFile(file: string): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    /* gone already */
  }
}
