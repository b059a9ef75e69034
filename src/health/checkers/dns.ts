/**
 * DNS_CHECK: one UDP query of `type` for `name` (RFC 1035 §4.1), recursion desired, class IN, to
 * connect_ip:connect_port (default 53 via the real server port). Success = a reply with the query's
 * id, QR set, RCODE 0 (NOERROR) and at least one answer record. ICMP port unreachable (a connected
 * UDP socket's ECONNREFUSED) and the timeout are failures.
 */
import { randomInt } from 'node:crypto';
import type { DnsChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { fail, ok, udpExchange } from './util.js';

/** RFC 1035 §3.2.2 / RFC 3596 TYPE values. */
export const DNS_TYPES: Record<DnsChecker['type'], number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
};

/** Encode a query: 12-byte header, QNAME labels (root "." = one zero byte), QTYPE, QCLASS IN. */
export function buildDnsQuery(id: number, name: string, type: DnsChecker['type']): Buffer {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  let qlen = 1;
  for (const l of labels) {
    const n = Buffer.byteLength(l);
    if (n === 0 || n > 63) throw new RangeError(`invalid DNS label in ${JSON.stringify(name)}`);
    qlen += 1 + n;
  }
  const b = Buffer.alloc(12 + qlen + 4);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x0100, 2); // RD
  b.writeUInt16BE(1, 4); // QDCOUNT
  let p = 12;
  for (const l of labels) {
    p = b.writeUInt8(Buffer.byteLength(l), p);
    p += b.write(l, p, 'latin1');
  }
  b[p++] = 0;
  b.writeUInt16BE(DNS_TYPES[type], p);
  b.writeUInt16BE(1, p + 2); // IN
  return b;
}

/** null = acceptable reply, else the reason it is not. */
export function judgeDnsReply(id: number, msg: Buffer): string | null {
  if (msg.length < 12) return 'short DNS reply';
  if (msg.readUInt16BE(0) !== id) return 'DNS reply id mismatch';
  const flags = msg.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return 'not a DNS response';
  const rcode = flags & 0x000f;
  if (rcode !== 0) return `DNS rcode ${rcode}`;
  if (msg.readUInt16BE(6) === 0) return 'DNS reply has no answer';
  return null;
}

export class DnsCheck implements Probe {
  readonly steps = 1;
  constructor(
    private readonly cfg: Pick<
      DnsChecker,
      'connectIp' | 'connectPort' | 'family' | 'bindTo' | 'bindPort' | 'connectTimeout' | 'name' | 'type'
    >,
  ) {}

  run(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    const id = randomInt(0, 0x10000);
    let query: Buffer;
    try {
      query = buildDnsQuery(id, c.name, c.type);
    } catch (e) {
      return Promise.resolve(fail(start, (e as Error).message));
    }
    return udpExchange(
      {
        ...c,
        timeoutMs: c.connectTimeout * 1000,
        payload: query,
        onReply: (msg) => {
          const why = judgeDnsReply(id, msg);
          // A stray datagram with another id is ignored (keep waiting); anything else decides.
          if (why === 'DNS reply id mismatch') return null;
          return why === null ? ok(start, 'DNS answer') : fail(start, why);
        },
        onTimeout: () => fail(start, 'no DNS reply (timeout)'),
      },
      start,
      signal,
    );
  }
}
