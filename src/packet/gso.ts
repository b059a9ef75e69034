/**
 * Software TCP segmentation of a GSO super-frame (virtio-net gso_type TCPV4 / TCPV6, gso_size = MSS =
 * payload bytes per segment), for when the super-frame must be tunnelled, sent where no offload exists,
 * or checked against a path MTU per segment.
 *
 * Each segment = the original link + IP + TCP headers with: IPv4 total length / IPv6 payload length
 * fixed, IPv4 id + k (RFC 6864 leaves it to the sender; this is what TSO engines do), sequence number +
 * payload offset, FIN and PSH only on the last segment, CWR only on the first (RFC 3168 §6.1.2: CWR
 * is set once), and full IPv4 header and TCP checksums (computed even when the input was partial).
 *
 * No allocation: segments go into slots taken with batch.alloc(), which are consecutive, so on success
 * they occupy [batch.total - count, batch.total). The original slot is untouched (the caller drops it).
 */
import { AF_INET, AF_INET6, IPPROTO_TCP, TCP_FIN, TCP_PSH } from './view.js';
import type { PacketView } from './view.js';
import { FrameBatch, GSO_ECN, GSO_TCPV4, GSO_TCPV6, HEADROOM } from './frame.js';
import { Drop } from './drop-reasons.js';
import { finish, ipv4SetHeaderChecksum, pseudoHeaderSum, sumBytes } from './checksum.js';

const TCP_CWR = 0x80;

/** L3 length (IP header + TCP header + payload) of the largest segment a super-frame yields. */
export function gsoMaxSegmentL3Length(v: PacketView, gsoSize: number): number {
  const hdr = v.l4Off - v.l3Off + v.l4HeaderLen;
  const payload = v.l3End - (v.l4Off + v.l4HeaderLen);
  return hdr + (payload < gsoSize ? payload : gsoSize);
}

/** Size on the wire (link headers included) of the largest segment. */
export function gsoWireLength(v: PacketView, gsoSize: number): number {
  return v.l3Off - v.frameStart + gsoMaxSegmentL3Length(v, gsoSize);
}

/** Number of segments the super-frame yields (0 if gsoSize is 0). */
export function gsoSegmentCount(v: PacketView, gsoSize: number): number {
  if (gsoSize <= 0) return 0;
  const payload = v.l3End - (v.l4Off + v.l4HeaderLen);
  return payload <= 0 ? 1 : Math.ceil(payload / gsoSize);
}

function w16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/**
 * Segment the super-frame in slot (parsed into v). Returns the segment count or -Drop:
 * BadGsoMetadata (gsoSize 0, type/family mismatch, not TCP, segment larger than a slot),
 * GsoUnsupported (UDP GSO types), FramePoolExhausted (not enough free slots; nothing allocated).
 */
export function gsoSegment(batch: FrameBatch, slot: number, v: PacketView): number {
  const gtype = batch.gsoType[slot]! & ~GSO_ECN;
  const mss = batch.gsoSize[slot]!;
  if (gtype !== GSO_TCPV4 && gtype !== GSO_TCPV6) return -Drop.GsoUnsupported;
  if (mss === 0 || v.proto !== IPPROTO_TCP || v.l4Off < 0 || v.isFragment) return -Drop.BadGsoMetadata;
  if ((gtype === GSO_TCPV4) !== (v.af === AF_INET)) return -Drop.BadGsoMetadata;
  const buf = batch.buf;
  const fs = v.frameStart;
  const payOff = v.l4Off + v.l4HeaderLen;
  const hdrLen = payOff - fs;
  const payload = v.l3End - payOff;
  if (hdrLen + mss > batch.slotSize - HEADROOM) return -Drop.BadGsoMetadata;
  const n = payload <= 0 ? 1 : Math.ceil(payload / mss);
  if (batch.capacity - batch.total < n) return -Drop.FramePoolExhausted;
  const l3Rel = v.l3Off - fs;
  const l4Rel = v.l4Off - fs;
  const l4ToL3 = v.l4Off - v.l3Off;
  const seq0 =
    ((buf[v.l4Off + 4]! << 24) | (buf[v.l4Off + 5]! << 16) | (buf[v.l4Off + 6]! << 8) | buf[v.l4Off + 7]!) >>>
    0;
  const flags0 = buf[v.l4Off + 13]!;
  const id0 = v.af === AF_INET ? v.fragId : 0;
  for (let k = 0; k < n; k++) {
    const s = batch.alloc();
    const o = batch.start[s]!;
    const off = k * mss;
    const chunk = payload - off < mss ? payload - off : mss;
    buf.copyWithin(o, fs, payOff);
    if (chunk > 0) buf.copyWithin(o + hdrLen, payOff + off, payOff + off + chunk);
    const l3 = o + l3Rel;
    const l4 = o + l4Rel;
    const l4Len = v.l4HeaderLen + (chunk > 0 ? chunk : 0);
    if (v.af === AF_INET) {
      w16(buf, l3 + 2, l4ToL3 + l4Len);
      w16(buf, l3 + 4, (id0 + k) & 0xffff);
      ipv4SetHeaderChecksum(buf, l3);
    } else {
      w16(buf, l3 + 4, l4ToL3 - 40 + l4Len);
    }
    const seq = (seq0 + off) >>> 0;
    buf[l4 + 4] = seq >>> 24;
    buf[l4 + 5] = (seq >>> 16) & 0xff;
    buf[l4 + 6] = (seq >>> 8) & 0xff;
    buf[l4 + 7] = seq & 0xff;
    let f = flags0;
    if (k !== n - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (k !== 0) f &= ~TCP_CWR;
    buf[l4 + 13] = f;
    w16(buf, l4 + 16, 0);
    const af = v.af === AF_INET ? AF_INET : AF_INET6;
    w16(buf, l4 + 16, finish(sumBytes(buf, l4, l4Len, pseudoHeaderSum(buf, l3, af, IPPROTO_TCP, l4Len))));
    batch.len[s] = hdrLen + (chunk > 0 ? chunk : 0);
    batch.ifindex[s] = batch.ifindex[slot]!;
    batch.outIfindex[s] = batch.outIfindex[slot]!;
    batch.vlanTci[s] = batch.vlanTci[slot]!;
    batch.outVlanTci[s] = batch.outVlanTci[slot]!;
    batch.queue[s] = batch.queue[slot]!;
    batch.verdict[s] = batch.verdict[slot]!;
  }
  return n;
}
