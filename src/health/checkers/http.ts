/**
 * HTTP_GET / SSL_GET: one URL per attempt (step = url index). The request is written byte for byte
 * as reference §1.6 "HTTP request sent":
 *   GET <path> HTTP/1.<0|1>\r\nUser-Agent: KeepAliveClient\r\n[Connection: close\r\n]Host: <h>[:port]\r\n\r\n
 * http_protocol 1.0 sends no Connection header, 1.0C and 1.1 send "Connection: close"; the reply is
 * read to EOF (or to Content-Length / the last chunk). Host: url virtualhost, else the checker's
 * resolved virtualhost (checker > RS > VS, done by the parser), else the connect IP; IPv6 bracketed;
 * ":port" appended unless it is the scheme's default port (80 / 443).
 * Checks, in order: status code in one of the url's inclusive ranges (default 200-299), MD5 hex
 * digest of the body, regex (or regex_no_match). SSL: no certificate verification (keepalived
 * verifies nothing unless an SSL block gives a CA; lvsd never does); SNI only with enable_sni.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { HttpChecker, HttpUrl } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import {
  connectSpec,
  outcomeReason,
  probeThreadCan,
  streamProber,
  type StreamProber,
} from './stream-prober.js';
import { deadline, describeError, fail, ok, tcpConnectOptions } from './util.js';

/** Responses larger than this fail ("response too large"): a health page is small. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export function buildHttpRequest(cfg: HttpChecker, url: HttpUrl): string {
  const version = cfg.httpProtocol === '1.1' ? '1.1' : '1.0';
  const host = url.virtualhost ?? cfg.virtualhost ?? cfg.connectIp;
  const hostText = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const defaultPort = cfg.kind === 'SSL_GET' ? 443 : 80;
  const portText = cfg.connectPort === defaultPort ? '' : `:${cfg.connectPort}`;
  const conn = cfg.httpProtocol === '1.0' ? '' : 'Connection: close\r\n';
  return `GET ${url.path} HTTP/${version}\r\nUser-Agent: KeepAliveClient\r\n${conn}Host: ${hostText}${portText}\r\n\r\n`;
}

interface ParsedResponse {
  status: number;
  body: Buffer;
}

/**
 * Parse a complete HTTP/1.x response (RFC 9112): status line, headers, body by chunked coding,
 * Content-Length or EOF. Returns null while incomplete (when `eof` is false) or when malformed.
 */
export function parseHttpResponse(buf: Buffer, eof: boolean): ParsedResponse | 'incomplete' | 'malformed' {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return eof ? 'malformed' : 'incomplete';
  const head = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(head[0] ?? '');
  if (!m) return 'malformed';
  const status = Number(m[1]);
  let contentLength = -1;
  let chunked = false;
  for (const h of head.slice(1)) {
    const i = h.indexOf(':');
    if (i < 0) continue;
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h
      .slice(i + 1)
      .trim()
      .toLowerCase();
    if (name === 'content-length') contentLength = Number(value);
    else if (name === 'transfer-encoding' && value.split(',').some((v) => v.trim() === 'chunked'))
      chunked = true;
  }
  const raw = buf.subarray(headEnd + 4);
  if (chunked) {
    const parts: Buffer[] = [];
    let p = 0;
    for (;;) {
      const le = raw.indexOf('\r\n', p);
      if (le < 0) return eof ? 'malformed' : 'incomplete';
      const size = parseInt(raw.subarray(p, le).toString('latin1').split(';')[0]!, 16);
      if (!Number.isFinite(size) || size < 0) return 'malformed';
      if (size === 0) return { status, body: Buffer.concat(parts) };
      if (le + 2 + size + 2 > raw.length) return eof ? 'malformed' : 'incomplete';
      parts.push(raw.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
  }
  if (contentLength >= 0) {
    if (raw.length >= contentLength) return { status, body: raw.subarray(0, contentLength) };
    return eof ? 'malformed' : 'incomplete';
  }
  // No length: the body runs to EOF (Connection: close / HTTP/1.0); 1xx/204/304 have none.
  if (status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, body: Buffer.alloc(0) };
  return eof ? { status, body: raw } : 'incomplete';
}

/** Judge a parsed response against one url block; null = pass, else the failure reason. */
export function judgeResponse(url: HttpUrl, res: ParsedResponse): string | null {
  const ranges = url.statusCodes.length > 0 ? url.statusCodes : [[200, 299] as [number, number]];
  if (!ranges.some(([lo, hi]) => res.status >= lo && res.status <= hi)) return `status code ${res.status}`;
  if (url.digest) {
    const d = createHash('md5').update(res.body).digest('hex');
    if (d !== url.digest.toLowerCase()) return `digest mismatch (got ${d})`;
  }
  if (url.regex !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(url.regex);
    } catch {
      return `invalid regex ${JSON.stringify(url.regex)}`;
    }
    const matched = re.test(res.body.toString('latin1'));
    if (matched === url.regexNoMatch)
      return url.regexNoMatch ? 'regex matched (regex_no_match)' : 'regex did not match';
  }
  return null;
}

/** The verdict on a whole response (eof: it ran to the peer's close). */
function judge(url: HttpUrl, data: Buffer, eof: boolean): { ok: boolean; reason: string } | null {
  const parsed = parseHttpResponse(data, eof);
  if (parsed === 'incomplete') return null;
  if (parsed === 'malformed') return { ok: false, reason: 'malformed HTTP response' };
  const why = judgeResponse(url, parsed);
  return why === null ? { ok: true, reason: `status ${parsed.status}` } : { ok: false, reason: why };
}

export class HttpCheck implements Probe {
  readonly steps: number;
  private readonly requests: string[];
  private readonly requestBytes: Buffer[];
  /** the probe thread for HTTP_GET; SSL_GET always uses Node's TLS */
  private readonly prober: StreamProber | null;

  /** @param prober the probe thread to use; null: Node sockets (default: this thread's, if any) */
  constructor(
    private readonly cfg: HttpChecker,
    prober: StreamProber | null = cfg.kind === 'HTTP_GET' ? streamProber() : null,
  ) {
    this.steps = Math.max(1, cfg.urls.length);
    this.requests = cfg.urls.map((u) => buildHttpRequest(cfg, u));
    this.requestBytes = this.requests.map((r) => Buffer.from(r, 'latin1'));
    this.prober = cfg.kind === 'HTTP_GET' && probeThreadCan(cfg) ? prober : null;
  }

  run(signal: AbortSignal, step = 0): Promise<CheckResult> {
    const url = this.cfg.urls[step];
    if (!url) return Promise.resolve(fail(performance.now(), 'no url configured'));
    return this.prober !== null
      ? this.runNative(this.prober, signal, step, url)
      : this.runNode(signal, step, url);
  }

  private async runNative(
    prober: StreamProber,
    signal: AbortSignal,
    step: number,
    url: HttpUrl,
  ): Promise<CheckResult> {
    const o = await prober.run(
      {
        ...connectSpec(this.cfg),
        request: this.requestBytes[step]!,
        maxResponse: MAX_RESPONSE_BYTES,
        http: true,
      },
      signal,
    );
    const latencyMs = o.latencyMs;
    if (o.code !== null) return { ok: false, reason: outcomeReason(o, 'timeout'), latencyMs };
    // complete by length or by the peer's close: parse it as a whole message
    const v = judge(url, o.data ?? Buffer.alloc(0), true);
    return { ok: v?.ok ?? false, reason: v?.reason ?? 'malformed HTTP response', latencyMs };
  }

  private runNode(signal: AbortSignal, step: number, url: HttpUrl): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    const request = this.requests[step]!;
    const dl = deadline(c.connectTimeout * 1000, signal);
    return new Promise<CheckResult>((resolve) => {
      let done = false;
      const chunks: Buffer[] = [];
      let total = 0;
      const opts = tcpConnectOptions({
        host: c.connectIp,
        port: c.connectPort,
        localAddress: c.bindTo,
        localPort: c.bindPort,
      });
      let sock: net.Socket;
      if (c.kind === 'SSL_GET') {
        const servername = c.enableSni ? (c.sniName ?? url.virtualhost ?? c.virtualhost) : undefined;
        sock = tls.connect({
          ...(opts as tls.ConnectionOptions),
          rejectUnauthorized: false,
          ...(servername && net.isIP(servername) === 0 ? { servername } : {}),
        });
      } else {
        sock = net.connect(opts);
      }
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        dl.clear();
        sock.destroy();
        resolve(r);
      };
      const evaluate = (eof: boolean): void => {
        const v = judge(url, Buffer.concat(chunks, total), eof);
        if (v !== null) finish(v.ok ? ok(start, v.reason) : fail(start, v.reason));
      };
      sock.once(c.kind === 'SSL_GET' ? 'secureConnect' : 'connect', () => sock.write(request));
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        total += d.length;
        if (total > MAX_RESPONSE_BYTES) finish(fail(start, 'response too large'));
        else evaluate(false);
      });
      sock.once('end', () => evaluate(true));
      sock.once('close', () => evaluate(true));
      sock.once('error', (e) => finish(fail(start, describeError(e))));
      void dl.expired.then((why) => finish(fail(start, why === 'timeout' ? 'timeout' : why)));
    });
  }
}
