/**
 * `lvsd realserver up|down|status|agent`: the real-server helper (src/realserver/setup.ts) on the
 * command line. Exit status: 0 done, 1 failure, 2 usage error.
 */
import { LvsError } from '../errors.js';
import { parseVipList, realserverDown, realserverStatus, realserverUp } from '../realserver/setup.js';
import type { Mode, RealServerStatus, TunImpl, Vip } from '../realserver/setup.js';
import type { TunType } from '../realserver/kernel-tunnel.js';

export const REALSERVER_USAGE = `Usage:
  lvsd realserver up --vip ADDR[,ADDR...] [--mode dr|tun] [--tun-type ipip|gue|gre]
                     [--tun-port PORT] [--tun-impl auto|kernel|agent] [--dev IFACE[,IFACE...]]
  lvsd realserver down [--vip ADDR[,ADDR...]]
  lvsd realserver status [--json]

Prepares this host (its network namespace) as an LVS real server for direct routing (dr, the default)
or tunnelling (tun):
  - each VIP as a host address on lo (/32, IPv6 /128 nodad);
  - net.ipv4.conf.{all,lo}.arp_ignore=1 and arp_announce=2, so the VIP is never announced by ARP;
  - tun: rp_filter=0 on all, the receiving interfaces (--dev, default every up interface with an
    IPv4 address) and the tunnel device; the kernel's tunl0 / fou / gre0 when the kernel has the
    module, else a userspace decapsulation agent writing into the TUN device lvsdtun0.
    --tun-type gue needs --tun-port (the director's --tun-port).
'up' is idempotent; 'down' removes what 'up' added and restores the sysctls it changed (state in
/run/lvsd/<netns inode>/realserver.json). Without --vip, 'down' removes everything.
`;

class UsageError extends Error {}

interface Parsed {
  flags: Map<string, string>;
  bools: Set<string>;
}

const VALUE_OPTS = new Set([
  '--vip',
  '--mode',
  '--tun-type',
  '--tun-port',
  '--tun-impl',
  '--dev',
  '--state-dir',
]);
const BOOL_OPTS = new Set(['--json', '--help', '-h']);

function parseArgs(args: string[], allowed: string[]): Parsed {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    if (BOOL_OPTS.has(a) && (allowed.includes(a) || a === '--help' || a === '-h')) {
      bools.add(a === '-h' ? '--help' : a);
      continue;
    }
    if (!VALUE_OPTS.has(a) || !allowed.includes(a)) throw new UsageError(`unknown option '${args[i]}'`);
    if (val === undefined) {
      val = args[++i];
      if (val === undefined) throw new UsageError(`option '${a}' needs a value`);
    }
    if (flags.has(a)) throw new UsageError(`option '${a}' given twice`);
    flags.set(a, val);
  }
  return { flags, bools };
}

function oneOf<T extends string>(name: string, v: string | undefined, options: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(options as readonly string[]).includes(v)) {
    throw new UsageError(`${name} must be one of ${options.join(', ')} (got '${v}')`);
  }
  return v as T;
}

function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) {
    throw new UsageError(`--tun-port must be a port number 1-65535 (got '${v}')`);
  }
  return Number(v);
}

function vipsOf(v: string | undefined): Vip[] {
  try {
    return parseVipList(v!);
  } catch (e) {
    if (e instanceof LvsError) throw new UsageError(e.message);
    throw e;
  }
}

function formatStatus(s: RealServerStatus): string {
  const lines: string[] = [];
  lines.push(`network namespace ${s.netns} (state ${s.stateDir})`);
  if (!s.configured) {
    lines.push('not configured: run `lvsd realserver up --vip ADDR`');
    return lines.join('\n') + '\n';
  }
  lines.push(
    `mode: ${s.tun ? `tun (${s.tun.type}${s.tun.port !== null ? ` port ${s.tun.port}` : ''})` : 'dr'}`,
  );
  lines.push('VIPs:');
  for (const v of s.vips) {
    const prefix = v.family === 4 ? 32 : 128;
    lines.push(
      `  ${`${v.addr}/${prefix}`.padEnd(44)} on lo: ${v.onLo ? 'yes' : 'NO'}${v.added ? '' : ' (present before lvsd)'}`,
    );
  }
  lines.push('sysctls:');
  for (const c of s.sysctls) {
    lines.push(`  ${c.name.padEnd(40)} = ${c.value ?? '(missing)'}${c.ok ? '' : `  (want ${c.want})`}`);
  }
  if (s.tun) {
    lines.push(`tunnel: ${s.tun.impl === 'kernel' ? 'kernel' : 'userspace agent'}, device ${s.tun.device}`);
    const a = s.tun.agent;
    if (a) {
      lines.push(`agent: ${a.running ? `running, pid ${a.pid}` : 'NOT running'} (log ${a.log})`);
      if (a.stats) {
        const drops = Object.entries(a.stats.dropped)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
        lines.push(
          `  received ${a.stats.received}, injected ${a.stats.injected}, write errors ${a.stats.writeErrors}` +
            `, dropped: ${drops || 'none'}`,
        );
      }
    }
  }
  return lines.join('\n') + '\n';
}

export async function realserverMain(argv: string[]): Promise<number> {
  const sub = argv[0];
  const rest = argv.slice(1);
  try {
    switch (sub) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(REALSERVER_USAGE);
        return sub === undefined ? 2 : 0;
      case 'up': {
        const p = parseArgs(rest, ['--vip', '--mode', '--tun-type', '--tun-port', '--tun-impl', '--dev']);
        if (p.bools.has('--help')) return help();
        if (!p.flags.has('--vip')) throw new UsageError('up needs --vip ADDR[,ADDR...]');
        const mode = oneOf<Mode>('--mode', p.flags.get('--mode'), ['dr', 'tun'], 'dr');
        const tunType = oneOf<TunType>(
          '--tun-type',
          p.flags.get('--tun-type'),
          ['ipip', 'gue', 'gre'],
          'ipip',
        );
        const tunImpl = oneOf<TunImpl>(
          '--tun-impl',
          p.flags.get('--tun-impl'),
          ['auto', 'kernel', 'agent'],
          'auto',
        );
        const tunPort = parsePort(p.flags.get('--tun-port'));
        if (
          mode !== 'tun' &&
          (p.flags.has('--tun-type') || p.flags.has('--tun-port') || p.flags.has('--tun-impl'))
        ) {
          throw new UsageError('--tun-type, --tun-port and --tun-impl need --mode tun');
        }
        if (mode === 'tun' && tunType === 'gue' && tunPort === undefined) {
          throw new UsageError('--tun-type gue needs --tun-port PORT (the director uses the same port)');
        }
        if (tunType !== 'gue' && tunPort !== undefined)
          throw new UsageError('--tun-port is for --tun-type gue');
        const devices = p.flags
          .get('--dev')
          ?.split(',')
          .filter((d) => d !== '');
        if (devices) {
          for (const d of devices) {
            if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(d)) throw new UsageError(`invalid interface name '${d}'`);
          }
        }
        const vips = vipsOf(p.flags.get('--vip'));
        requireRoot();
        const r = await realserverUp({ vips, mode, tunType, tunPort, tunImpl, devices });
        for (const n of r.notes) process.stdout.write(`${n}\n`);
        process.stdout.write(`real server ready: ${r.state.vips.map((v) => v.addr).join(', ')}\n`);
        return 0;
      }
      case 'down': {
        const p = parseArgs(rest, ['--vip']);
        if (p.bools.has('--help')) return help();
        const vips = p.flags.has('--vip') ? vipsOf(p.flags.get('--vip')) : null;
        requireRoot();
        const r = await realserverDown({ vips });
        for (const n of r.notes) process.stdout.write(`${n}\n`);
        return 0;
      }
      case 'status': {
        const p = parseArgs(rest, ['--json']);
        if (p.bools.has('--help')) return help();
        const s = realserverStatus();
        process.stdout.write(p.bools.has('--json') ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
        return 0;
      }
      case 'agent': {
        // internal: started detached by `up --mode tun`
        const p = parseArgs(rest, ['--vip', '--tun-type', '--tun-port', '--dev', '--state-dir']);
        const { runAgent } = await import('../realserver/agent.js');
        const tunType = oneOf<TunType>(
          '--tun-type',
          p.flags.get('--tun-type'),
          ['ipip', 'gue', 'gre'],
          'ipip',
        );
        if (!p.flags.has('--vip') || !p.flags.has('--dev'))
          throw new UsageError('agent needs --vip and --dev');
        return await runAgent({
          vips: vipsOf(p.flags.get('--vip')).map((v) => v.addr),
          tunType,
          tunPort: parsePort(p.flags.get('--tun-port')),
          device: p.flags.get('--dev')!,
          stateDir: p.flags.get('--state-dir') ?? null,
        });
      }
      default:
        throw new UsageError(`unknown realserver command '${sub}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(
        `lvsd realserver: ${e.message}\nTry 'lvsd realserver --help' for more information.\n`,
      );
      return 2;
    }
    if (e instanceof LvsError) {
      process.stderr.write(`lvsd realserver: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function help(): number {
  process.stdout.write(REALSERVER_USAGE);
  return 0;
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LvsError('ERR_LVS_SYSTEM', 'must be run as root (it changes addresses and sysctls)', 1);
  }
}
