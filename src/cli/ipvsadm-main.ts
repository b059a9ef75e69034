/**
 * `ipvsadm` entry: the drop-in CLI (src/cli/ipvsadm/). Parse and validation errors, -h and -v are
 * answered here. Everything else goes to the lvsd daemon of this network namespace, which runs the
 * same executor on its live table. Without a daemon, read-only commands (-L/-l, -S, --timeout,
 * --daemon) are answered against a fresh empty Director, which is exactly what IPVS shows with no
 * services; a command that changes the table starts the daemon first, as kernel IPVS is simply there.
 */
import { readFileSync } from 'node:fs';
import { Director } from '../core/director.js';
import { executeIpvsadm, parseIpvsadm } from './ipvsadm/index.js';
import { connectIfRunning, ensureDaemon } from './daemon-client.js';
import type { ControlClient } from '../control/client.js';
import type { IpvsadmResult } from '../control/protocol.js';

export { IPVSADM_USAGE, IPVSADM_VERSION } from './ipvsadm/index.js';

function runLocally(argv: string[], stdin?: string): number {
  const director = new Director({ maxConns: 16, destCapacity: 16, serviceCapacity: 16 });
  const r = executeIpvsadm(argv, { director, nowMs: 0, ...(stdin !== undefined ? { stdin } : {}) });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseIpvsadm(argv);
  if (!parsed.ok || parsed.help || parsed.version) return runLocally(argv);
  if (process.getuid?.() !== 0) {
    // libipvs gets EPERM from the kernel for every IPVS command of an unprivileged user, already in
    // ipvs_init (its GET_INFO needs CAP_NET_ADMIN); after the modprobe retry ipvsadm fails with its
    // init message, the strerror text of EPERM and the module hint (ipvs-reference §1.1, §1.10)
    process.stderr.write(
      "Can't initialize ipvs: Permission denied (you must be root)\n" +
        'Are you sure that IP Virtual Server is built in the kernel or as module?\n',
    );
    return 2;
  }
  const stdin = parsed.needsStdin ? readFileSync(0, 'utf8') : undefined;
  let client: ControlClient | null;
  try {
    client = parsed.readOnly ? await connectIfRunning() : await ensureDaemon();
  } catch (e) {
    process.stderr.write(`ipvsadm: cannot reach lvsd: ${(e as Error).message}\n`);
    return 2;
  }
  if (!client) return runLocally(argv, stdin);
  try {
    const r = await client.request<IpvsadmResult>('ipvsadm', {
      argv,
      ...(stdin !== undefined ? { stdin } : {}),
    });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  } catch (e) {
    process.stderr.write(`ipvsadm: lvsd: ${(e as Error).message}\n`);
    return 2;
  } finally {
    client.close();
  }
}
