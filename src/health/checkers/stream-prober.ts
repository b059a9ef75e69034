/**
 * TCP_CHECK and HTTP_GET attempts run by the addon's probe thread (native/probe.c) instead of Node
 * sockets: the control thread's cost of a check drops to one promise and one row of a batch, and
 * the socket system calls run on a thread of their own (issue 4: 1,000 checks/s must not take the
 * CPU the data plane needs; bench/README.md has the figures).
 *
 * One StreamProber per thread (streamProber()); pending probes keep the loop alive, an idle prober
 * does not. Without the addon, or with LVSD_NODE_CHECKERS=1, streamProber() is null and the
 * checkers use Node sockets (the same results: test/health/checkers.test.ts runs both).
 */
import { getSystemErrorMap } from 'node:util';
import { native, nativeAvailable, type ProbeHandle, type ProbeRow } from '../../io/native.js';
import { describeCode } from './util.js';

export interface StreamProbeSpec {
  host: string;
  port: number;
  bindHost?: string | undefined;
  bindPort?: number | undefined;
  /** bounds the whole attempt: connect, request and response */
  timeoutMs: number;
  /** bytes to send once connected; without them the probe ends at the connect */
  request?: Uint8Array;
  /** response bytes beyond this end the probe with EMSGSIZE */
  maxResponse?: number;
  /** end as soon as the HTTP/1.x response is complete (else at EOF) */
  http?: boolean;
}

export type ProbePhase = 'connect' | 'write' | 'read';

export interface StreamProbeOutcome {
  /** null: success; else the errno name ('ECONNREFUSED', 'ETIMEDOUT', 'EMSGSIZE', 'ECANCELED', ...) */
  code: string | null;
  /** the error's text ('connection refused'), '' on success */
  message: string;
  phase: ProbePhase;
  /** the peer closed the connection (the response ran to EOF) */
  eof: boolean;
  latencyMs: number;
  /** the response (request probes), null when there was none */
  data: Buffer | null;
}

const PHASES: readonly ProbePhase[] = ['connect', 'connect', 'write', 'read'];
/** errno -> [name, libuv's text], as Node names system errors */
const SYSTEM_ERRORS = getSystemErrorMap();

/** An attempt that ended before the probe thread had it (cancelled, closed, refused spec). */
function endedEarly(code: string, message: string, latencyMs: number): StreamProbeOutcome {
  return { code, message, phase: 'connect', eof: false, latencyMs, data: null };
}

export class StreamProber {
  private readonly handle: ProbeHandle;
  private nextId = 1;
  private readonly pending = new Map<number, (o: StreamProbeOutcome) => void>();
  private keepingAlive = false;
  private closed = false;

  constructor() {
    this.handle = native.probeOpen(() => this.drain());
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** One attempt; never rejects (bad specs and aborts are outcomes too). */
  run(spec: StreamProbeSpec, signal: AbortSignal): Promise<StreamProbeOutcome> {
    const started = performance.now();
    const ended = (code: string, message = ''): StreamProbeOutcome =>
      endedEarly(code, message, performance.now() - started);
    if (signal.aborted || this.closed) return Promise.resolve(ended('ECANCELED'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<StreamProbeOutcome>((resolve) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        native.probeCancel(this.handle, id);
        this.keepAlive();
        resolve(ended('ECANCELED'));
      };
      this.pending.set(id, (o) => {
        signal.removeEventListener('abort', onAbort);
        resolve(o);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        native.probeStart(
          this.handle,
          id,
          spec.host,
          spec.port,
          spec.bindHost ?? '',
          spec.bindPort ?? 0,
          Math.max(1, Math.ceil(spec.timeoutMs)),
          spec.request ?? null,
          spec.maxResponse ?? 0,
          spec.http === true,
        );
      } catch (e) {
        this.pending.delete(id);
        signal.removeEventListener('abort', onAbort);
        resolve(ended((e as NodeJS.ErrnoException).code ?? 'EINVAL', (e as Error).message));
        return;
      }
      this.keepAlive();
    });
  }

  /** Stop the probe thread; pending attempts end as ECANCELED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.probeClose(this.handle);
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const done of waiting) done(endedEarly('ECANCELED', '', 0));
  }

  private drain(): void {
    if (this.closed) return;
    const rows: ProbeRow[] = native.probeDrain(this.handle);
    for (const [id, errno, phase, eof, latencyUs, data] of rows) {
      const done = this.pending.get(id);
      if (done === undefined) continue;
      this.pending.delete(id);
      const sys = errno === 0 ? undefined : SYSTEM_ERRORS.get(-errno);
      done({
        code: errno === 0 ? null : (sys?.[0] ?? `errno ${errno}`),
        message: sys?.[1] ?? '',
        phase: PHASES[phase] ?? 'connect',
        eof,
        latencyMs: latencyUs / 1000,
        data,
      });
    }
    this.keepAlive();
  }

  /** The loop stays alive exactly while attempts are pending (a daemon's timers do the rest). */
  private keepAlive(): void {
    const want = this.pending.size > 0;
    if (want === this.keepingAlive || this.closed) return;
    this.keepingAlive = want;
    native.probeRef(this.handle, want);
  }
}

/** The connect part of a probe spec from a TCP_CHECK / HTTP_GET checker's fields. */
export function connectSpec(c: {
  connectIp: string;
  connectPort: number;
  bindTo?: string | undefined;
  bindPort?: number | undefined;
  connectTimeout: number;
}): StreamProbeSpec {
  return {
    host: c.connectIp,
    port: c.connectPort,
    bindHost: c.bindTo,
    bindPort: c.bindPort,
    timeoutMs: c.connectTimeout * 1000,
  };
}

/**
 * Whether the probe thread can make this connection: plain IPv4/IPv6 literals only. A scoped IPv6
 * address (fe80::1%eth0) needs Node's resolution of the zone: Node sockets take it.
 */
export function probeThreadCan(c: { connectIp: string; bindTo?: string | undefined }): boolean {
  return !c.connectIp.includes('%') && !(c.bindTo ?? '').includes('%');
}

/** A failed outcome's reason, worded as the Node-socket checkers word it. */
export function outcomeReason(o: StreamProbeOutcome, timeoutReason: string): string {
  switch (o.code) {
    case 'ETIMEDOUT':
      return timeoutReason;
    case 'ECANCELED':
      return 'aborted';
    case 'EMSGSIZE':
      return 'response too large';
    default:
      return describeCode(o.code ?? 'EINVAL', o.message);
  }
}

let shared: StreamProber | null | undefined;

/** Whether TCP_CHECK and HTTP_GET use the probe thread here (the addon loads, no LVSD_NODE_CHECKERS=1). */
export function probeThreadEnabled(): boolean {
  return shared !== undefined
    ? shared !== null
    : nativeAvailable && process.env['LVSD_NODE_CHECKERS'] !== '1';
}

/** This thread's prober, or null when checks use Node sockets (no addon, LVSD_NODE_CHECKERS=1). */
export function streamProber(): StreamProber | null {
  if (shared !== undefined) return shared;
  shared = null;
  if (nativeAvailable && process.env['LVSD_NODE_CHECKERS'] !== '1') {
    try {
      shared = new StreamProber();
    } catch {
      shared = null; // no thread for it (EAGAIN...): Node sockets still work
    }
  }
  return shared;
}
