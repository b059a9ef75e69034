/**
 * Helpers shared by the socket checkers: one attempt = one socket, bounded by a deadline, torn down
 * on every exit path. Results never reject.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { CheckResult } from '../types.js';

/** "[ip]:port" for IPv6, "ip:port" for IPv4 (keepalived's FMT_CHK style). */
export function formatTarget(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function ok(start: number, reason = 'ok', extra?: Partial<CheckResult>): CheckResult {
  return { ok: true, reason, latencyMs: performance.now() - start, ...extra };
}

export function fail(start: number, reason: string): CheckResult {
  return { ok: false, reason, latencyMs: performance.now() - start };
}

/** Human text for a socket error: "connection refused", "timeout", or the errno code. */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  return describeCode(code, err instanceof Error ? err.message : '');
}

/** Human text for an errno name, as describeError gives it for a Node socket error with that code. */
export function describeCode(code: string, message = ''): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return `${code}${message ? ` (${message})` : ''}`;
  }
}

export interface Deadline {
  /** resolves (never rejects) with the reason when the deadline passes or the signal aborts */
  readonly expired: Promise<string>;
  clear(): void;
}

/** A timer of `ms` raced against `signal`; clear() must be called on every exit path. */
export function deadline(ms: number, signal: AbortSignal): Deadline {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let onAbort: (() => void) | null = null;
  const expired = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(1, ms));
    if (signal.aborted) resolve('aborted');
    else {
      onAbort = () => resolve('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return {
    expired,
    clear() {
      if (timer) clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    },
  };
}

export interface ConnectOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
}

/** net.connect options honouring bindto / bind_port. */
export function tcpConnectOptions(o: ConnectOptions): net.NetConnectOpts {
  const opts: net.NetConnectOpts = { host: o.host, port: o.port, noDelay: true };
  if (o.localAddress) opts.localAddress = o.localAddress;
  if (o.localPort) opts.localPort = o.localPort;
  return opts;
}

/**
 * Line reader for text protocols (SMTP): collects CRLF/LF-terminated lines from a socket and hands
 * complete replies to `next()`. A multi-line SMTP reply is "NNN-..." lines ended by "NNN ..." (RFC 5321 §4.2).
 */
export class ReplyReader {
  private buf = '';
  private waiters: ((line: string | null) => void)[] = [];
  private lines: string[] = [];
  private ended = false;

  feed(chunk: Buffer): void {
    this.buf += chunk.toString('latin1');
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
    }
    this.flush();
    if (this.buf.length > 65536) this.end();
  }

  end(): void {
    this.ended = true;
    this.flush();
  }

  private flush(): void {
    while (this.waiters.length > 0 && (this.lines.length > 0 || this.ended)) {
      const w = this.waiters.shift()!;
      w(this.lines.length > 0 ? this.lines.shift()! : null);
    }
  }

  /** The next line, or null at end of stream. */
  line(): Promise<string | null> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.flush();
    });
  }

  /** The last line of the next (possibly multi-line) SMTP reply, or null at end of stream. */
  async reply(): Promise<string | null> {
    for (;;) {
      const l = await this.line();
      if (l === null) return null;
      if (/^\d{3}-/.test(l)) continue;
      return l;
    }
  }
}

export interface UdpExchange {
  family: 4 | 6;
  connectIp: string;
  connectPort: number;
  bindTo?: string | undefined;
  bindPort?: number | undefined;
  timeoutMs: number;
  payload: Uint8Array;
  /** a reply's verdict, or null to keep waiting (a stray datagram) */
  onReply(msg: Buffer): CheckResult | null;
  /** the verdict when nothing decided before the deadline */
  onTimeout(): CheckResult;
}

/**
 * One UDP exchange (DNS_CHECK, UDP_CHECK): a connected socket (so an ICMP error is reported as a
 * socket error), bound first when bindto / bind_port ask for it, one datagram sent, the first reply
 * that decides ends it; the socket is closed on every exit path.
 */
export function udpExchange(x: UdpExchange, start: number, signal: AbortSignal): Promise<CheckResult> {
  const dl = deadline(x.timeoutMs, signal);
  return new Promise<CheckResult>((resolve) => {
    let done = false;
    const sock = dgram.createSocket(x.family === 6 ? 'udp6' : 'udp4');
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      dl.clear();
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      resolve(r);
    };
    sock.on('error', (e) => finish(fail(start, describeError(e))));
    sock.on('message', (msg: Buffer) => {
      const r = x.onReply(msg);
      if (r !== null) finish(r);
    });
    const go = (): void =>
      sock.connect(x.connectPort, x.connectIp, () => {
        sock.send(x.payload, (err) => {
          if (err) finish(fail(start, describeError(err)));
        });
      });
    if (x.bindTo || x.bindPort) sock.bind({ address: x.bindTo, port: x.bindPort ?? 0 }, go);
    else go();
    void dl.expired.then((why) => finish(why === 'timeout' ? x.onTimeout() : fail(start, why)));
  });
}
