/**
 * Control server: accepts connections on `@lvsd`, authorises each peer (the daemon checks SO_PEERCRED
 * for uid 0), decodes request lines and answers each with the handler's result. Requests are applied
 * one at a time, in arrival order across all connections, so table changes never interleave (ipvsadm
 * commands against the kernel are serialised by the netlink mutex in the same way).
 * Malformed input gets an error response and never affects the daemon.
 */
import net from 'node:net';
import {
  CONTROL_ADDRESS,
  LineSplitter,
  checkRequest,
  type ControlRequest,
  type ControlResponse,
} from './protocol.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;
/** Return null to accept, or a reason to refuse the peer. */
export type PeerCheck = (socket: net.Socket) => string | null;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private queue: Promise<void> = Promise.resolve();
  /** requests refused as malformed or unauthorised */
  rejected = 0;

  constructor(
    private readonly handler: ControlHandler,
    private readonly checkPeer: PeerCheck,
    private readonly address = CONTROL_ADDRESS,
  ) {}

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => this.accept(s));
      server.once('error', reject);
      server.listen(this.address, () => {
        server.off('error', reject);
        server.on('error', () => {});
        this.server = server;
        resolve();
      });
    });
  }

  private accept(s: net.Socket): void {
    const refusal = this.checkPeer(s);
    if (refusal !== null) {
      this.rejected++;
      s.on('error', () => {});
      s.resume(); // read (and discard) until the peer's FIN so the socket can close
      s.end(JSON.stringify({ id: 0, ok: false, error: { code: 'EPERM', message: refusal } }) + '\n');
      return;
    }
    this.sockets.add(s);
    s.setEncoding('utf8');
    const lines = new LineSplitter();
    s.on('data', (chunk: string) => {
      lines.push(chunk, (line) => this.onLine(s, line));
      if (lines.overflow) {
        this.rejected++;
        s.destroy();
      }
    });
    s.on('error', () => {});
    s.on('close', () => this.sockets.delete(s));
  }

  private onLine(s: net.Socket, line: string): void {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      this.rejected++;
      this.reply(s, { id: 0, ok: false, error: { code: 'EBADMSG', message: 'request is not valid JSON' } });
      return;
    }
    const bad = checkRequest(req);
    if (bad !== null) {
      this.rejected++;
      const id = typeof (req as { id?: unknown }).id === 'number' ? (req as { id: number }).id : 0;
      this.reply(s, { id, ok: false, error: { code: 'EINVAL', message: bad } });
      return;
    }
    const r = req as ControlRequest;
    this.queue = this.queue.then(async () => {
      try {
        const result = await this.handler(r);
        this.reply(s, { id: r.id, ok: true, result });
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown };
        this.reply(s, {
          id: r.id,
          ok: false,
          error: {
            code: typeof err.code === 'string' ? err.code : 'ERR_LVS_INTERNAL',
            message: typeof err.message === 'string' ? err.message : String(e),
          },
        });
      }
    });
  }

  private reply(s: net.Socket, res: ControlResponse): void {
    if (!s.destroyed) s.write(JSON.stringify(res) + '\n');
  }

  /**
   * Stop accepting connections now (the address is free for another process at once); connections
   * already open are served on. A graceful restart frees `@lvsd` for its successor this way.
   */
  unlisten(): void {
    const server = this.server;
    this.server = null;
    server?.close();
  }

  /** Wait for queued requests to finish (their replies are written), then close everything. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    await this.queue;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    // replies are written; idle clients must not keep the daemon from stopping
    for (const s of this.sockets) s.destroySoon();
    this.sockets.clear();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
