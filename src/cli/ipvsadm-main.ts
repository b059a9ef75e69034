/**
 * `ipvsadm` entry: the drop-in CLI (src/cli/ipvsadm/). Read-only commands (-L/-l, -S, --timeout,
 * --daemon, -h, -v) and every parse or validation error are answered here against a fresh, empty
 * Director, which is exactly what IPVS shows with no services configured. Commands that change the
 * table need the lvsd daemon of this network namespace; until it is wired in they are refused.
 */
import { readFileSync } from 'node:fs';
import { Director } from '../core/director.js';
import { executeIpvsadm, parseIpvsadm } from './ipvsadm/index.js';

export { IPVSADM_USAGE, IPVSADM_VERSION } from './ipvsadm/index.js';

export async function main(argv: string[]): Promise<number> {
  const parsed = parseIpvsadm(argv);
  if (!parsed.ok || parsed.readOnly) {
    const director = new Director({ maxConns: 16, destCapacity: 16, serviceCapacity: 16 });
    const r = executeIpvsadm(argv, { director, nowMs: 0 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  }
  if (parsed.needsStdin) readFileSync(0); // consume stdin as ipvsadm -R would before refusing
  process.stderr.write(
    'ipvsadm: this command changes the IPVS table, which needs the lvsd daemon; it is not running in this network namespace\n',
  );
  return 2;
}
