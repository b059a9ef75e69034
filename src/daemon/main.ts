/**
 * `lvsd` with no subcommand: run the director daemon of this network namespace in the foreground
 * until SIGTERM/SIGINT or `lvsd stop`. Options are few on purpose; the table comes from ipvsadm (and
 * keepalived.conf in a later issue).
 */
import { Daemon, DEFAULT_DAEMON_OPTIONS, type DaemonParts } from './daemon.js';
import { Logger, type LogLevel } from './log.js';
import { buildParts } from './parts.js';
import { stateDir } from './paths.js';
import { SdNotifier } from './sd-notify.js';
import { native } from '../io/native.js';

export const DAEMON_USAGE = `Usage: lvsd [options]

Run the lvsd director for this network namespace in the foreground (one per namespace).
Control it with ipvsadm and 'lvsd status|stop'.

Options:
  --driver afpacket|memory   packet driver (default afpacket; memory = no packet I/O, for tests)
  --max-conns N              connection table capacity (default 1048576)
  --log-level LEVEL          debug, info, warn or error (default info)
  --no-steering              do not install nftables steering (the kernel also sees service traffic)
  --stay                     keep running when the namespace has no non-loopback interface
  --takeover                 take table and connections over from the running daemon, which
                             then exits (what 'lvsd restart' starts)
  --no-persist               do not save or restore the table (nor hand connections over)

Signals: SIGTERM/SIGINT stop (steering removed, saved table kept); SIGUSR2 hands the connections
over to the state directory and exits with status 75 without removing steering, for a supervisor
(systemd: RestartForceExitStatus=75) to start the successor, which takes them over.
  -h, --help                 show this text
`;

interface Parsed {
  driver: 'afpacket' | 'memory';
  maxConns: number;
  level: LogLevel;
  steering: boolean;
  stay: boolean;
  takeover: boolean;
  persist: boolean;
}

function parse(argv: string[]): Parsed | string {
  const p: Parsed = {
    driver: 'afpacket',
    maxConns: DEFAULT_DAEMON_OPTIONS.maxConns,
    level: 'info',
    steering: true,
    stay: false,
    takeover: false,
    persist: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    switch (a) {
      case '--driver': {
        const v = val();
        if (v !== 'afpacket' && v !== 'memory') return `--driver must be afpacket or memory`;
        p.driver = v;
        break;
      }
      case '--max-conns': {
        const v = Number(val());
        if (!Number.isInteger(v) || v < 1024 || v > 1 << 26)
          return '--max-conns must be an integer from 1024 to 67108864';
        p.maxConns = v;
        break;
      }
      case '--log-level': {
        const v = val();
        if (v !== 'debug' && v !== 'info' && v !== 'warn' && v !== 'error')
          return '--log-level must be debug, info, warn or error';
        p.level = v;
        break;
      }
      case '--no-steering':
        p.steering = false;
        break;
      case '--stay':
        p.stay = true;
        break;
      case '--takeover':
        p.takeover = true;
        break;
      case '--no-persist':
        p.persist = false;
        break;
      default:
        return `unknown option '${a}'`;
    }
  }
  return p;
}

export async function runDaemon(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  const p = parse(argv);
  if (typeof p === 'string') {
    process.stderr.write(`lvsd: ${p}\nTry 'lvsd --help' for more information.\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('lvsd: must be run as root (it needs packet sockets and nftables)\n');
    return 1;
  }
  const logger = new Logger(p.level);
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
      exitWhenNoInterfaces: !p.stay && p.driver !== 'memory',
      logger,
      stateDir: persist ? stateDir() : null,
      netnsCookie: cookie,
      takeover: p.takeover,
      notifier: notifier.enabled ? notifier : null,
    },
    parts,
  );
  const onSignal = (sig: string): void => {
    logger.info('signal', { signal: sig });
    void daemon.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => logger.info('SIGHUP: nothing to reload (no configuration file in use)'));
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
  await daemon.stopped;
  return daemon.exitCode;
}
