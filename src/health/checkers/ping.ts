/**
 * PING_CHECK: one ICMP echo. Node has no ICMP sockets (dgram is UDP only), so this runs iputils
 * `ping -c 1 -W <timeout> [-I bindto] <ip>` (which uses an unprivileged ICMP datagram socket where
 * ping_group_range allows, or its capability) and judges the exit status: 0 = echo reply.
 * Without a `ping` binary on PATH every attempt fails with reason "PING_CHECK unsupported: ...".
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { PingChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { fail, ok } from './util.js';

/** Absolute path of an executable on PATH, or null. */
export function findExecutable(name: string, path = process.env['PATH'] ?? '/usr/bin:/bin'): string | null {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export class PingCheck implements Probe {
  readonly steps = 1;
  private readonly pingPath: string | null;

  constructor(
    private readonly cfg: Pick<PingChecker, 'connectIp' | 'family' | 'bindTo' | 'connectTimeout'>,
    pingPath: string | null = findExecutable('ping'),
  ) {
    this.pingPath = pingPath;
  }

  run(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    if (!this.pingPath) {
      return Promise.resolve(fail(start, 'PING_CHECK unsupported: no ping binary (iputils-ping) on PATH'));
    }
    const args = [
      c.family === 6 ? '-6' : '-4',
      '-n',
      '-q',
      '-c',
      '1',
      '-W',
      String(Math.max(1, Math.ceil(c.connectTimeout))),
    ];
    if (c.bindTo) args.push('-I', c.bindTo);
    args.push(c.connectIp);
    return new Promise<CheckResult>((resolve) => {
      let done = false;
      const child = spawn(this.pingPath!, args, { stdio: 'ignore' });
      // ping's own -W bounds the wait; this guards against a wedged child.
      const guard = setTimeout(() => child.kill('SIGKILL'), c.connectTimeout * 1000 + 2000);
      const onAbort = (): void => {
        child.kill('SIGKILL');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        clearTimeout(guard);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      child.once('error', (e) => finish(fail(start, `cannot run ping: ${e.message}`)));
      child.once('exit', (code, sig) => {
        if (code === 0) finish(ok(start, 'echo reply'));
        else if (code === 1) finish(fail(start, 'no echo reply'));
        else finish(fail(start, sig ? `ping killed by ${sig}` : `ping exit ${code}`));
      });
    });
  }
}
