/**
 * MISC_CHECK: run the script's argv (no shell), judge its exit status (reference §1.6):
 *   0 -> success, weight contribution reset (dynamicWeight null);
 *   1 -> failure;
 *   2..255 with misc_dynamic -> success, real server weight = status - 2 (0..253);
 *   any non-zero status without misc_dynamic, or death by signal -> failure.
 * Timeout (misc_timeout, default delay_loop): SIGTERM, SIGKILL 2 s later; counts as a failure and
 * leaves the dynamic weight alone (keepalived #2720 / PR #2721).
 */
import { spawn } from 'node:child_process';
import type { MiscChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { fail, ok } from './util.js';
import { scriptSpawnIds } from '../scripts.js';

export const MISC_KILL_GRACE_MS = 2000;

export class MiscCheck implements Probe {
  readonly steps = 1;
  constructor(
    private readonly cfg: Pick<MiscChecker, 'script' | 'timeout' | 'dynamic'>,
    private readonly scriptUser?: { user: string; group?: string },
  ) {}

  run(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const { script, dynamic } = this.cfg;
    const timeoutMs = Math.max(1, this.cfg.timeout * 1000);
    return new Promise<CheckResult>((resolve) => {
      let done = false;
      let timedOut = false;
      let killTimer: ReturnType<typeof setTimeout> | null = null;
      const [cmd, ...args] = script.argv;
      if (!cmd) return resolve(fail(start, 'empty misc_path'));
      let ids: { uid?: number; gid?: number };
      try {
        ids = scriptSpawnIds(script, this.scriptUser);
      } catch (e) {
        return resolve(fail(start, `cannot run ${cmd}: ${(e as Error).message}`));
      }
      const child = spawn(cmd, args, { stdio: 'ignore', ...ids });
      const terminate = (): void => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, MISC_KILL_GRACE_MS);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        terminate();
      }, timeoutMs);
      const onAbort = (): void => terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (killTimer) clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      child.once('error', (e) => finish(fail(start, `cannot run ${cmd}: ${e.message}`)));
      child.once('exit', (code, sig) => {
        if (timedOut)
          return finish(fail(start, `timeout after ${this.cfg.timeout} s (killed by ${sig ?? 'exit'})`));
        if (signal.aborted) return finish(fail(start, 'aborted'));
        if (code === null) return finish(fail(start, `killed by ${sig}`));
        if (code === 0) return finish(ok(start, 'exit 0', { dynamicWeight: dynamic ? null : undefined }));
        if (dynamic && code >= 2) return finish(ok(start, `exit ${code}`, { dynamicWeight: code - 2 }));
        finish(fail(start, `exit ${code}`));
      });
    });
  }
}
