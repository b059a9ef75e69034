/**
 * TCP_CHECK: success = the TCP handshake completes within connect_timeout (reference §1.6). The
 * socket is closed at once after connecting.
 */
import net from 'node:net';
import type { TcpChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { deadline, describeError, fail, ok, tcpConnectOptions } from './util.js';

export class TcpCheck implements Probe {
  readonly steps = 1;
  constructor(
    private readonly cfg: Pick<
      TcpChecker,
      'connectIp' | 'connectPort' | 'bindTo' | 'bindPort' | 'connectTimeout'
    >,
  ) {}

  run(signal: AbortSignal): Promise<CheckResult> {
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
