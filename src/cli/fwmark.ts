/**
 * `lvsd fwmark`: lvsd's own firewall-mark rules for `ipvsadm -f MARK` services (src/core/fwmark.ts
 * says why the host's iptables/nftables marks cannot be used). The executor runs in the daemon's
 * data plane, like ipvsadm's; `list` prints rules as re-runnable commands, like `ipvsadm -S`.
 */
import type { Director } from '../core/director.js';
import { LvsError } from '../errors.js';
import type { FwmarkRule } from '../core/fwmark.js';
import { parseAddress } from '../packet/addr.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/view.js';
import { connectIfRunning, ensureDaemon } from './daemon-client.js';
import type { IpvsadmResult } from '../control/protocol.js';

export const FWMARK_USAGE = `Usage:
  lvsd fwmark add --mark N --dst ADDR[/LEN] --proto tcp|udp|sctp [--dport PORT[-PORT]]
  lvsd fwmark del --mark N --dst ADDR[/LEN] --proto tcp|udp|sctp [--dport PORT[-PORT]]
  lvsd fwmark list
  lvsd fwmark flush

Marks traffic to ADDR[/LEN] (IPv4 or IPv6), protocol and destination ports with N, for services
added with 'ipvsadm -A -f N'. lvsd takes service packets before the kernel's PREROUTING, where
iptables/nftables marks are set, so -f services use these rules instead. First match wins.
`;

const PROTOS: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
const PROTO_NAMES: Record<number, string> = {
  [IPPROTO_TCP]: 'tcp',
  [IPPROTO_UDP]: 'udp',
  [IPPROTO_SCTP]: 'sctp',
};

export interface FwmarkCommand {
  op: 'add' | 'del' | 'list' | 'flush' | 'help';
  rule?: FwmarkRule;
}

function usageError(msg: string): LvsError {
  return new LvsError('ERR_LVS_INVALID_ARGUMENT', `${msg}\nTry 'lvsd fwmark --help' for more information.`);
}

/** Parse `lvsd fwmark ...` arguments (without the leading 'fwmark'). Throws LvsError on bad input. */
export function parseFwmark(argv: readonly string[]): FwmarkCommand {
  const op = argv[0];
  if (op === undefined || op === '-h' || op === '--help' || op === 'help') return { op: 'help' };
  if (op === 'list' || op === 'flush') {
    if (argv.length > 1) throw usageError(`fwmark ${op}: unexpected argument '${argv[1]}'`);
    return { op };
  }
  if (op !== 'add' && op !== 'del') throw usageError(`fwmark: unknown operation '${op}'`);
  let mark: number | undefined;
  let dst: string | undefined;
  let proto: number | undefined;
  let portLo: number | undefined;
  let portHi: number | undefined;
  for (let i = 1; i < argv.length; i++) {
    const opt = argv[i]!;
    const val = argv[++i];
    if (val === undefined) throw usageError(`fwmark: option '${opt}' needs a value`);
    switch (opt) {
      case '--mark':
        if (!/^\d+$/.test(val)) throw usageError(`fwmark: bad mark '${val}'`);
        mark = Number(val);
        break;
      case '--dst':
        dst = val;
        break;
      case '--proto':
      case '-p':
        proto = PROTOS[val.toLowerCase()];
        if (proto === undefined) throw usageError(`fwmark: protocol must be tcp, udp or sctp, not '${val}'`);
        break;
      case '--dport': {
        const m = /^(\d+)(?:[-:](\d+))?$/.exec(val);
        if (!m) throw usageError(`fwmark: bad port or range '${val}'`);
        portLo = Number(m[1]);
        portHi = m[2] !== undefined ? Number(m[2]) : portLo;
        break;
      }
      default:
        throw usageError(`fwmark: unknown option '${opt}'`);
    }
  }
  if (mark === undefined) throw usageError('fwmark: --mark is required');
  if (dst === undefined) throw usageError('fwmark: --dst is required');
  if (proto === undefined) throw usageError('fwmark: --proto is required');
  const host = dst.split('/')[0]!;
  const p = parseAddress(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
  if (!p) throw usageError(`fwmark: bad address '${dst}'`);
  const rule: FwmarkRule = {
    af: p.af,
    addr: dst.replace(/^\[|\](?=\/|$)/g, ''),
    proto,
    mark,
    ...(portLo !== undefined ? { portLo, portHi: portHi! } : {}),
  };
  return { op, rule };
}

export function formatRule(r: FwmarkRule): string {
  const ports =
    r.portLo === undefined || (r.portLo === 0 && r.portHi === 65535)
      ? ''
      : r.portLo === r.portHi
        ? ` --dport ${r.portLo}`
        : ` --dport ${r.portLo}-${r.portHi}`;
  return `lvsd fwmark add --mark ${r.mark} --dst ${r.addr} --proto ${PROTO_NAMES[r.proto] ?? r.proto}${ports}`;
}

/** Run a parsed-or-not fwmark command against a Director (in the daemon). */
export function executeFwmark(
  argv: readonly string[],
  director: Director,
): { stdout: string; stderr: string; code: number; changed: boolean } {
  try {
    const c = parseFwmark(argv);
    const t = director.fwmarks;
    switch (c.op) {
      case 'help':
        return { stdout: FWMARK_USAGE, stderr: '', code: 0, changed: false };
      case 'list':
        return {
          stdout: t
            .list()
            .map((r) => formatRule(r) + '\n')
            .join(''),
          stderr: '',
          code: 0,
          changed: false,
        };
      case 'flush':
        t.flush();
        return { stdout: '', stderr: '', code: 0, changed: true };
      case 'add':
        t.add(c.rule!);
        return { stdout: '', stderr: '', code: 0, changed: true };
      case 'del':
        t.delete(c.rule!);
        return { stdout: '', stderr: '', code: 0, changed: true };
    }
  } catch (e) {
    if (e instanceof LvsError) return { stdout: '', stderr: `lvsd: ${e.message}\n`, code: 2, changed: false };
    throw e;
  }
}

export async function fwmarkMain(argv: string[]): Promise<number> {
  let cmd: FwmarkCommand;
  try {
    cmd = parseFwmark(argv);
  } catch (e) {
    process.stderr.write(`lvsd: ${(e as Error).message}\n`);
    return 2;
  }
  if (cmd.op === 'help') {
    process.stdout.write(FWMARK_USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('lvsd fwmark: permission denied (you must be root)\n');
    return 1;
  }
  const client = cmd.op === 'list' ? await connectIfRunning() : await ensureDaemon();
  if (!client) return 0; // no daemon: no rules
  try {
    const r = await client.request<IpvsadmResult>('fwmark', { argv });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  } catch (e) {
    process.stderr.write(`lvsd fwmark: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
