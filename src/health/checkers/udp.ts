/**
 * UDP_CHECK (reference §1.6): send `payload` (empty datagram when none) on a connected UDP socket.
 * - An ICMP port/host unreachable comes back as an error on the connected socket -> failure.
 * - A reply must be min_reply_length..max_reply_length bytes long and, with require_reply, match
 *   the pattern from its first byte (hex, 'X' = any nibble).
 * - No reply within connect_timeout: success without require_reply (nothing said "unreachable";
 *   keepalived relies on ICMP errors, hence its advice of a connect_timeout >= 4 s), failure with it.
 */
import type { UdpChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { fail, ok, udpExchange } from './util.js';

/** Compile "0AX1..." into value/mask nibble arrays; throws on odd length or non-hex. */
export function compileReplyPattern(hex: string): { value: Uint8Array; mask: Uint8Array } {
  const h = hex.replace(/\s+/g, '').toUpperCase();
  if (h.length % 2 !== 0 || !/^[0-9A-FX]*$/.test(h)) throw new RangeError(`invalid require_reply ${hex}`);
  const value = new Uint8Array(h.length / 2);
  const mask = new Uint8Array(h.length / 2);
  for (let i = 0; i < h.length; i++) {
    const ch = h[i]!;
    const shift = i % 2 === 0 ? 4 : 0;
    if (ch === 'X') continue;
    value[i >> 1]! |= parseInt(ch, 16) << shift;
    mask[i >> 1]! |= 0xf << shift;
  }
  return { value, mask };
}

export function matchReply(pattern: { value: Uint8Array; mask: Uint8Array }, reply: Uint8Array): boolean {
  if (reply.length < pattern.value.length) return false;
  for (let i = 0; i < pattern.value.length; i++) {
    if ((reply[i]! & pattern.mask[i]!) !== pattern.value[i]) return false;
  }
  return true;
}

export class UdpCheck implements Probe {
  readonly steps = 1;
  private readonly pattern: { value: Uint8Array; mask: Uint8Array } | null;
  private readonly payload: Buffer;

  constructor(private readonly cfg: UdpChecker) {
    this.pattern = cfg.requireReply !== undefined ? compileReplyPattern(cfg.requireReply) : null;
    this.payload = cfg.payload ? Buffer.from(cfg.payload) : Buffer.alloc(0);
  }

  run(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    return udpExchange(
      {
        ...c,
        timeoutMs: c.connectTimeout * 1000,
        payload: this.payload,
        onReply: (msg) => {
          if (msg.length < c.minReplyLength) return fail(start, `reply too short (${msg.length} bytes)`);
          if (msg.length > c.maxReplyLength) return fail(start, `reply too long (${msg.length} bytes)`);
          if (this.pattern && !matchReply(this.pattern, msg)) return fail(start, 'reply does not match');
          return ok(start, 'reply');
        },
        // without require_reply, silence (no ICMP error) within connect_timeout is success
        onTimeout: () => (this.pattern ? fail(start, 'no reply (timeout)') : ok(start, 'no ICMP error')),
      },
      start,
      signal,
    );
  }
}
