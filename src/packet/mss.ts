/**
 * TCP MSS clamping (RFC 9293 §3.7.1, option kind 2 length 4) on SYN and SYN-ACK, e.g. so a tunnelled
 * connection's segments fit the tunnel MTU. The checksum is updated incrementally (RFC 1624); with a
 * partial checksum (offload) it is left alone because the option lies inside the range the final sum
 * covers. An option at an odd offset from the TCP header start contributes its bytes swapped to the
 * 16-bit sum, so the delta is swapped too.
 */
import { TCP_SYN, IPPROTO_TCP } from './view.js';
import type { PacketView } from './view.js';
import { applyChecksumDelta } from './checksum.js';

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Lower the MSS option of a SYN / SYN-ACK to maxMss. Returns 1 if changed, 0 if not (no SYN, no MSS
 * option, already small enough, malformed options: left untouched).
 */
export function mssClamp(buf: Uint8Array, v: PacketView, maxMss: number, partial: boolean): number {
  if (v.proto !== IPPROTO_TCP || v.l4Off < 0 || (v.tcpFlags & TCP_SYN) === 0) return 0;
  let p = v.l4Off + 20;
  const end = v.l4Off + v.l4HeaderLen;
  while (p < end) {
    const kind = buf[p]!;
    if (kind === 0) return 0;
    if (kind === 1) {
      p++;
      continue;
    }
    if (p + 2 > end) return 0;
    const len = buf[p + 1]!;
    if (len < 2 || p + len > end) return 0;
    if (kind === 2 && len === 4) {
      const o = p + 2;
      const old = (buf[o]! << 8) | buf[o + 1]!;
      if (old <= maxMss) return 0;
      const nw = maxMss & 0xffff;
      buf[o] = nw >>> 8;
      buf[o + 1] = nw & 0xff;
      if (!partial && v.l4CsumOff >= 0) {
        const odd = ((o - v.l4Off) & 1) === 1;
        const a = odd ? swap16(old) : old;
        const b = odd ? swap16(nw) : nw;
        applyChecksumDelta(buf, v.l4CsumOff, (~a & 0xffff) + b, false, false);
      }
      return 1;
    }
    p += len;
  }
  return 0;
}
