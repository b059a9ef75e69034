/**
 * Control client: one request, one response over `@lvsd`. `connectDaemon` tells "no daemon in this
 * namespace" (ECONNREFUSED/ENOENT) apart from real failures, so `ipvsadm` can print an empty table
 * or start a daemon.
 */
import net from 'node:net';
import { CONTROL_ADDRESS, LineSplitter, type ControlCommand, type ControlResponse } from './protocol.js';

export class ControlClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlClientError';
  }
}

/** Codes meaning "nobody listens on the control address". */
export function isNoDaemon(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT';
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ControlResponse) => void>();
  private closedError: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    const lines = new LineSplitter();
    socket.on('data', (chunk: string) =>
      lines.push(chunk, (line) => {
        let res: ControlResponse;
        try {
          res = JSON.parse(line) as ControlResponse;
        } catch {
          return;
        }
        const done = this.pending.get(res.id);
        if (done) {
          this.pending.delete(res.id);
          done(res);
        } else if (res.id === 0 && !res.ok) {
          // connection-level refusal (e.g. not root): fail every pending request
          this.failAll(new ControlClientError(res.error?.code ?? 'EPROTO', res.error?.message ?? 'refused'));
        }
      }),
    );
    socket.on('error', (e) => this.failAll(e));
    socket.on('close', () =>
      this.failAll(new ControlClientError('ECONNRESET', 'lvsd closed the connection')),
    );
  }

  private failAll(e: Error): void {
    this.closedError ??= e;
    for (const [id, done] of this.pending) {
      this.pending.delete(id);
      done({ id, ok: false, error: { code: (e as { code?: string }).code ?? 'EIO', message: e.message } });
    }
  }

  static connect(address = CONTROL_ADDRESS, timeoutMs = 2000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(address);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ControlClientError('ETIMEDOUT', 'timed out connecting to lvsd'));
      }, timeoutMs);
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new ControlClient(s));
      });
    });
  }

  /** Send one request; resolves with its result or rejects with the daemon's error. */
  request<T = unknown>(cmd: ControlCommand, args?: unknown, timeoutMs = 30000): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlClientError('ETIMEDOUT', `lvsd did not answer '${cmd}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (res) => {
        clearTimeout(timer);
        if (res.ok) resolve(res.result as T);
        else reject(new ControlClientError(res.error?.code ?? 'EIO', res.error?.message ?? 'error'));
      });
      this.socket.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }
}

/** Connect, send one request, close. */
export async function requestOnce<T = unknown>(
  cmd: ControlCommand,
  args?: unknown,
  opts: { address?: string; timeoutMs?: number } = {},
): Promise<T> {
  const c = await ControlClient.connect(opts.address ?? CONTROL_ADDRESS);
  try {
    return await c.request<T>(cmd, args, opts.timeoutMs);
  } finally {
    c.close();
  }
}
