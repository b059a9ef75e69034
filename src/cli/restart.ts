/**
 * `lvsd restart` and `lvsd start`.
 *
 * restart: start `lvsd --takeover` next to the running daemon; it warms up while the old one still
 * serves, then takes the table and the live connections over (src/daemon/restart.ts describes the
 * sequence) and the old one exits. Running the new version's bin/lvsd makes this an upgrade. Under
 * systemd use `systemctl kill -s USR2 lvsd` instead (the successor must be the unit's process).
 *
 * start: start the namespace's daemon when none runs (it restores the saved table), as the first
 * table change would.
 */
import { connectIfRunning, startDaemon } from './daemon-client.js';
import type { PingResult } from '../control/protocol.js';
import type { HandoverInfo } from '../daemon/restart.js';

export const RESTART_USAGE = `Usage: lvsd restart [daemon options]
       lvsd start [daemon options]

restart: hand the running daemon's table and connections to a new lvsd process (this
installation's version) without resetting connections; starts one when none runs.
start:   start the daemon of this network namespace when none runs (it restores the saved table).
Daemon options are passed to the new process (see 'lvsd --help-daemon').
`;

function rootCheck(cmd: string): boolean {
  if (process.getuid?.() === 0) return true;
  process.stderr.write(`lvsd ${cmd}: permission denied (you must be root)\n`);
  return false;
}

async function pidGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

export async function startMain(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(RESTART_USAGE);
    return 0;
  }
  if (!rootCheck('start')) return 1;
  const running = await connectIfRunning();
  if (running) {
    const p = await running.request<PingResult>('ping').finally(() => running.close());
    process.stdout.write(`lvsd is already running (pid ${p.pid})\n`);
    return 0;
  }
  try {
    const c = await startDaemon({ extraArgs: argv });
    const p = await c.request<PingResult>('ping').finally(() => c.close());
    process.stdout.write(`lvsd started (pid ${p.pid})\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`lvsd start: ${(e as Error).message}\n`);
    return 1;
  }
}

export async function restartMain(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(RESTART_USAGE);
    return 0;
  }
  if (!rootCheck('restart')) return 1;
  const running = await connectIfRunning();
  if (!running) return startMain(argv);
  let old: PingResult;
  try {
    old = await running.request<PingResult>('ping');
  } catch (e) {
    process.stderr.write(`lvsd restart: ${(e as Error).message}\n`);
    return 1;
  } finally {
    running.close();
  }
  try {
    const c = await startDaemon({
      extraArgs: ['--takeover', ...argv],
      timeoutMs: 60000,
      accept: (p) => p.pid !== old.pid,
    });
    let st: { pid: number; restart?: { handover: HandoverInfo | null } };
    try {
      st = await c.request('status');
    } finally {
      c.close();
    }
    const gone = await pidGone(old.pid, 10000);
    const h = st.restart?.handover;
    process.stdout.write(
      `lvsd restarted: pid ${old.pid} -> ${st.pid}` +
        (h
          ? `; ${h.connections} connections handed over (${h.skipped} not transferable), ` +
            `capture gap ${h.gapMs} ms, ` +
            `${h.droppedInGap >= 0 ? h.droppedInGap : 'unknown'} service packets dropped in the gap\n`
          : '; no connections handed over\n'),
    );
    if (!gone) {
      process.stderr.write(`lvsd restart: old pid ${old.pid} is still running\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    process.stderr.write(`lvsd restart: ${(e as Error).message}\n`);
    return 1;
  }
}
