/**
 * How CLIs reach the daemon of the current network namespace: connect to `@lvsd`; when nobody
 * listens and the command needs a daemon, start one detached (logging to the namespace's log file)
 * and wait until it answers, as kernel IPVS is "just there" when ipvsadm is typed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient, isNoDaemon } from '../control/client.js';
import { CONTROL_ADDRESS, type PingResult } from '../control/protocol.js';
import { logFile } from '../daemon/paths.js';

/** bin/lvsd of this checkout or installation */
export function lvsdBinPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/lvsd');
}

/** The running daemon's client, or null when no daemon listens in this namespace. */
export async function connectIfRunning(address = CONTROL_ADDRESS): Promise<ControlClient | null> {
  try {
    return await ControlClient.connect(address);
  } catch (e) {
    if (isNoDaemon(e)) return null;
    throw e;
  }
}

/**
 * Start `lvsd` detached in this namespace (stdout/stderr to the log file) and wait until it answers a
 * ping. Returns a connected client. Throws with the log's tail when the daemon does not come up.
 */
export async function startDaemon(
  opts: {
    address?: string;
    timeoutMs?: number;
    extraArgs?: string[];
    /** the daemon that answers must pass this (lvsd restart: not the old one) */
    accept?: (p: PingResult) => boolean;
  } = {},
): Promise<ControlClient> {
  const address = opts.address ?? CONTROL_ADDRESS;
  const log = logFile();
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [lvsdBinPath(), ...(opts.extraArgs ?? [])], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: process.env,
  });
  fs.closeSync(fd);
  let exitCode: number | null = null;
  child.on('exit', (c) => (exitCode = c ?? 1));
  child.unref();
  const deadline = Date.now() + (opts.timeoutMs ?? 15000);
  for (;;) {
    const c = await connectIfRunning(address).catch(() => null);
    if (c) {
      try {
        const p = await c.request<PingResult>('ping', undefined, 5000);
        if (!opts.accept || opts.accept(p)) return c;
        c.close();
      } catch {
        c.close();
      }
    }
    if (exitCode !== null || Date.now() > deadline) {
      let tail = '';
      try {
        tail = fs.readFileSync(log, 'utf8').split('\n').slice(-6).join('\n');
      } catch {
        /* no log */
      }
      throw new Error(
        `could not start lvsd${exitCode !== null ? ` (exit status ${exitCode})` : ' (timed out)'}; log ${log}:\n${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The daemon's client, starting the daemon first when none runs. */
export async function ensureDaemon(address = CONTROL_ADDRESS): Promise<ControlClient> {
  return (await connectIfRunning(address)) ?? startDaemon({ address });
}
