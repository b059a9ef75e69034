/**
 * SMTP_CHECK (reference §1.6, RFC 5321 §4.2): connect, expect a 2xx banner, send
 * "HELO <helo_name>", expect 250, send "QUIT" and close without waiting for the 221.
 * Legacy `host { }` blocks are steps: each attempt checks one host (like HTTP urls), so all of them
 * must pass for the checker to be up.
 */
import net from 'node:net';
import type { SmtpChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { ReplyReader, deadline, describeError, fail, ok, tcpConnectOptions } from './util.js';

export class SmtpCheck implements Probe {
  readonly steps: number;
  constructor(private readonly cfg: SmtpChecker) {
    this.steps = Math.max(1, cfg.hosts.length);
  }

  run(signal: AbortSignal, step = 0): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    const host = c.hosts[step];
    const target = {
      host: host?.connectIp ?? c.connectIp,
      port: host?.connectPort ?? c.connectPort,
      localAddress: host?.bindTo ?? c.bindTo,
      localPort: c.bindPort,
    };
    const dl = deadline(c.connectTimeout * 1000, signal);
    return new Promise<CheckResult>((resolve) => {
      let done = false;
      const sock = net.connect(tcpConnectOptions(target));
      const reader = new ReplyReader();
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        dl.clear();
        sock.destroy();
        reader.end();
        resolve(r);
      };
      sock.on('data', (d: Buffer) => reader.feed(d));
      sock.once('end', () => reader.end());
      sock.once('error', (e) => finish(fail(start, describeError(e))));
      void dl.expired.then((why) => finish(fail(start, why === 'timeout' ? 'timeout' : why)));
      sock.once('connect', () => {
        void (async () => {
          const banner = await reader.reply();
          if (done) return;
          if (banner === null) return finish(fail(start, 'connection closed before banner'));
          if (!/^2\d\d/.test(banner)) return finish(fail(start, `bad banner: ${banner.slice(0, 80)}`));
          sock.write(`HELO ${c.heloName}\r\n`);
          const helo = await reader.reply();
          if (done) return;
          if (helo === null) return finish(fail(start, 'connection closed after HELO'));
          if (!/^250/.test(helo)) return finish(fail(start, `HELO refused: ${helo.slice(0, 80)}`));
          // The verdict is in; QUIT is a courtesy, flushed before the socket is torn down.
          sock.write('QUIT\r\n', () => finish(ok(start, '250')));
        })();
      });
    });
  }
}
