/**
 * The probe for a checker config: one class per keepalived checker kind. BFD_CHECK follows a BFD
 * session lvsd does not run (issue 5): its probe always fails with "unsupported".
 */
import type { Checker } from '../../config/model.js';
import type { Probe, ProbeContext } from '../types.js';
import { DnsCheck } from './dns.js';
import { FileCheck } from './file.js';
import { HttpCheck } from './http.js';
import { MiscCheck } from './misc.js';
import { PingCheck } from './ping.js';
import { SmtpCheck } from './smtp.js';
import { TcpCheck } from './tcp.js';
import { UdpCheck } from './udp.js';
import { fail } from './util.js';

export { DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, SmtpCheck, TcpCheck, UdpCheck };

export function createProbe(checker: Checker, ctx: ProbeContext): Probe {
  switch (checker.kind) {
    case 'TCP_CHECK':
      return new TcpCheck(checker);
    case 'HTTP_GET':
    case 'SSL_GET':
      return new HttpCheck(checker);
    case 'MISC_CHECK':
      return new MiscCheck(checker, ctx.scriptUser);
    case 'DNS_CHECK':
      return new DnsCheck(checker);
    case 'UDP_CHECK':
      return new UdpCheck(checker);
    case 'PING_CHECK':
      return new PingCheck(checker);
    case 'SMTP_CHECK':
      return new SmtpCheck(checker);
    case 'FILE_CHECK':
      return new FileCheck(checker, ctx.rsWeight);
    case 'BFD_CHECK':
      return {
        steps: 1,
        run: () =>
          Promise.resolve(fail(performance.now(), 'BFD_CHECK unsupported: lvsd runs no BFD sessions')),
      };
  }
}
