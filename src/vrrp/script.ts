/**
 * vrrp_script tracking (keepalived-reference §3.2): a script runs every `interval` seconds, is
 * killed after `timeout`; exit 0 is success, anything else (or a timeout) failure. The tracked
 * state turns KO after `fall` consecutive failures and OK after `rise` consecutive successes.
 *
 * Start state: unknown, counted as OK for priority and fault purposes; the first result decides at
 * once (keepalived starts a script in an INIT state that one result resolves). `init_fail` is not
 * in the model, so every script starts that way.
 */
import type { VrrpScript } from '../config/model.js';
import type { VrrpClock } from './instance.js';

/** Runs argv; resolves with the exit status (-1 for a timeout, a signal or a spawn error). */
export type ScriptExecutor = (argv: string[], timeoutMs: number) => Promise<number>;

export class ScriptTracker {
  /** null until the first result */
  ok: boolean | null = null;
  private successes = 0;
  private failures = 0;
  private timer: unknown = null;
  private running = false;
  private stopped = false;
  runs = 0;

  constructor(
    readonly script: VrrpScript,
    private readonly clock: VrrpClock,
    private readonly exec: ScriptExecutor,
    private readonly onChange: (ok: boolean) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Feed one result (exported for tests; the runner calls it). */
  result(success: boolean): void {
    if (success) {
      this.successes++;
      this.failures = 0;
    } else {
      this.failures++;
      this.successes = 0;
    }
    const rise = Math.max(1, this.script.rise);
    const fall = Math.max(1, this.script.fall);
    let next = this.ok;
    if (this.ok === null) next = success;
    else if (!this.ok && this.successes >= rise) next = true;
    else if (this.ok && this.failures >= fall) next = false;
    if (next !== this.ok) {
      this.ok = next;
      this.onChange(next!);
    }
  }

  private tick(): void {
    if (this.stopped) return;
    if (!this.running) {
      this.running = true;
      this.runs++;
      const timeoutMs = (this.script.timeout > 0 ? this.script.timeout : this.script.interval) * 1000;
      this.exec(this.script.script.argv, timeoutMs)
        .then(
          (code) => code === 0,
          () => false,
        )
        .then((success) => {
          this.running = false;
          if (!this.stopped) this.result(success);
        });
    }
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0.01, this.script.interval) * 1000);
  }
}
