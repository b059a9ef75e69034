/**
 * sd_notify(3) for running under systemd (Type=notify, WatchdogSec=): one datagram per state change
 * to the AF_UNIX SOCK_DGRAM socket named by $NOTIFY_SOCKET (a path, or '@name' for an abstract
 * address). Node's dgram module has no unix datagram sockets, so the addon sends them.
 *
 * Watchdog: systemd kills a service that does not send WATCHDOG=1 within WatchdogSec
 * ($WATCHDOG_USEC). lvsd pings at half that interval from the control thread, and only after the
 * data-plane worker answered a request since the previous ping: a worker stuck in a loop (or
 * deadlocked) stops the pings and systemd restarts the daemon. $WATCHDOG_PID, when set, must be ours
 * (sd_watchdog_enabled(3)).
 */
export interface NotifyTransport {
  send(path: string, msg: Uint8Array): void;
}

export class SdNotifier {
  private timer: NodeJS.Timeout | null = null;
  private readonly path: string | null;
  /** WatchdogSec in microseconds, 0 when systemd did not ask for one */
  readonly watchdogUsec: number;
  sent = 0;
  errors = 0;
  lastError = '';

  constructor(
    private readonly transport: NotifyTransport,
    env: NodeJS.ProcessEnv = process.env,
    pid = process.pid,
  ) {
    const p = env['NOTIFY_SOCKET'];
    this.path = p !== undefined && p !== '' && (p.startsWith('/') || p.startsWith('@')) ? p : null;
    const usec = Number(env['WATCHDOG_USEC'] ?? 0);
    const wpid = env['WATCHDOG_PID'];
    this.watchdogUsec =
      this.path !== null && Number.isFinite(usec) && usec > 0 && (wpid === undefined || Number(wpid) === pid)
        ? usec
        : 0;
  }

  get enabled(): boolean {
    return this.path !== null;
  }

  /** Send "KEY=VALUE\n..." lines; never throws (a missing socket must not stop the daemon). */
  notify(state: string): boolean {
    if (this.path === null) return false;
    try {
      this.transport.send(this.path, Buffer.from(state, 'utf8'));
      this.sent++;
      return true;
    } catch (e) {
      this.errors++;
      this.lastError = (e as Error).message;
      return false;
    }
  }

  /**
   * Ping WATCHDOG=1 every WATCHDOG_USEC/2 while `alive()` resolves true within that interval.
   * `alive` is called once per interval; a ping is skipped (and so, after two, systemd acts) when it
   * has not answered by the next tick.
   */
  startWatchdog(alive: () => Promise<boolean>): void {
    if (this.watchdogUsec === 0 || this.timer) return;
    const everyMs = Math.max(10, Math.floor(this.watchdogUsec / 2000));
    let pending = false;
    this.timer = setInterval(() => {
      if (pending) return; // the previous check has not answered: no ping
      pending = true;
      alive()
        .then((ok) => {
          if (ok && pending) this.notify('WATCHDOG=1');
        })
        .catch(() => {})
        .finally(() => {
          pending = false;
        });
    }, everyMs);
    this.timer.unref();
  }

  stopWatchdog(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
