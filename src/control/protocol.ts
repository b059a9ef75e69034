/**
 * The control protocol between `ipvsadm` / `lvsd <subcommand>` and the daemon: newline-delimited JSON
 * over the abstract unix socket `@lvsd`. Abstract addresses live in the network namespace (unix(7)),
 * so each namespace has its own daemon and its own control socket, as kernel IPVS tables are per
 * namespace. One request per line, one response per request, matched by id; a connection may carry
 * many requests in sequence.
 */

/** Abstract unix address (leading NUL): per network namespace, no file to clean up. */
export const CONTROL_ADDRESS = '\0lvsd';

/** A request line longer than this is refused (an -R restore of ~100k services still fits). */
export const MAX_LINE = 64 * 1024 * 1024;

export type ControlCommand =
  'ping' | 'ipvsadm' | 'status' | 'stop' | 'fwmark' | 'services' | 'reload' | 'handover';

export interface ControlRequest {
  id: number;
  cmd: ControlCommand;
  args?: unknown;
}

export interface ControlError {
  code: string;
  message: string;
}

export interface ControlResponse {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: ControlError;
}

export interface IpvsadmArgs {
  argv: string[];
  stdin?: string;
}

export interface IpvsadmResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface PingResult {
  pid: number;
  version: string;
  netns: number;
  startedAt: string;
}

const COMMANDS: ReadonlySet<string> = new Set([
  'ping',
  'ipvsadm',
  'status',
  'stop',
  'fwmark',
  'services',
  'reload',
  'handover',
]);

/** Validate one decoded request line; returns an error text or null. Never throws. */
export function checkRequest(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'request must be a JSON object';
  const r = v as Record<string, unknown>;
  if (typeof r['id'] !== 'number' || !Number.isSafeInteger(r['id'])) return 'request id must be an integer';
  if (typeof r['cmd'] !== 'string' || !COMMANDS.has(r['cmd']))
    return `unknown command ${JSON.stringify(r['cmd'])}`;
  return null;
}

/** Split a byte stream into lines; calls onLine for each complete line. Returns the carry-over. */
export class LineSplitter {
  private carry = '';
  overflow = false;

  push(chunk: string, onLine: (line: string) => void): void {
    let s = this.carry + chunk;
    let nl = s.indexOf('\n');
    while (nl >= 0) {
      const line = s.slice(0, nl);
      s = s.slice(nl + 1);
      if (line.length > 0) onLine(line);
      nl = s.indexOf('\n');
    }
    if (s.length > MAX_LINE) {
      this.overflow = true;
      s = '';
    }
    this.carry = s;
  }
}
