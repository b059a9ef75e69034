/**
 * TCP_CHECK: success = the TCP handshake completes within connect_timeout (reference §1.6). The
 * socket is closed at once after connecting. Runs on the addon's probe thread (stream-prober.ts)
 * when there is one, else on a Node socket.
 */
import net from 'node:net';
import type { TcpChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import {
  connectSpec,
  outcomeReason,
  probeThreadCan,
  streamProber,
  type StreamProber,
} from './stream-prober.js';
import { deadline, describeError, fail, ok, tcpConnectOptions } from './util.js';

type TcpCheckConfig = Pick<
  TcpChecker,
  'connectIp' | 'connectPort' | 'bindTo' | 'bindPort' | 'connectTimeout'
>;

export class TcpCheck implements Probe {
  readonly steps = 1;
  /** @param prober the probe thread to use; null: Node sockets (default: this thread's, if any) */
  private readonly prober: StreamProber | null;

  constructor(
    private readonly cfg: TcpCheckConfig,
    prober: StreamProber | null = streamProber(),
  ) {
    this.prober = probeThreadCan(cfg) ? prober : null;
  }

  run(signal: AbortSignal): Promise<CheckResult> {
    return this.prober !== null ? this.runNative(this.prober, signal) : this.runNode(signal);
  }

  private async runNative(prober: StreamProber, signal: AbortSignal): Promise<CheckResult> {
    const o = await prober.run(connectSpec(this.cfg), signal);
    if (o.code === null) return { ok: true, reason: 'ok', latencyMs: o.latencyMs };
    return { ok: false, reason: outcomeReason(o, 'connect timeout'), latencyMs: o.latencyMs };
  }

  private runNode(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    const dl = deadline(c.connectTimeout * 1000, signal);
    return new Promise<CheckResult>((resolve) => {
      let done = false;
      const sock = net.connect(
        tcpConnectOptions({
          host: c.connectIp,
          port: c.connectPort,
          localAddress: c.bindTo,
          localPort: c.bindPort,
        }),
      );
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        dl.clear();
        sock.destroy();
        resolve(r);
      };
      sock.once('connect', () => finish(ok(start)));
      sock.once('error', (e) => finish(fail(start, describeError(e))));
      void dl.expired.then((why) => finish(fail(start, why === 'timeout' ? 'connect timeout' : why)));
    });
  }
}
