/**
 * Addresses as numbers (DESIGN hot-path rule 3): four u32 words, big-endian as read from the wire
 * (10.0.0.1 is 0x0a000001). IPv4 uses word 0; words 1..3 are 0.
 *
 * parse/format functions allocate and are for control plane, CLI and tests. readAddr/writeAddr/
 * addrEquals/copyAddr are hot-path safe (no allocation).
 */
import { AF_INET, AF_INET6 } from './view.js';

export interface ParsedAddress {
  af: number;
  words: Uint32Array;
}

/** Read an address of family af at buf[off] into words[wordOff..]. Caller checked the bounds. */
export function readAddr(
  buf: Uint8Array,
  off: number,
  af: number,
  words: Uint32Array,
  wordOff: number,
): void {
  words[wordOff] = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  if (af === AF_INET6) {
    for (let i = 1; i < 4; i++) {
      const o = off + 4 * i;
      words[wordOff + i] = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
    }
  } else {
    words[wordOff + 1] = 0;
    words[wordOff + 2] = 0;
    words[wordOff + 3] = 0;
  }
}

/** Write words[wordOff..] as an address of family af at buf[off]. Caller checked the bounds. */
export function writeAddr(
  buf: Uint8Array,
  off: number,
  af: number,
  words: Uint32Array,
  wordOff: number,
): void {
  const n = af === AF_INET6 ? 4 : 1;
  for (let i = 0; i < n; i++) {
    const w = words[wordOff + i]!;
    const o = off + 4 * i;
    buf[o] = w >>> 24;
    buf[o + 1] = (w >>> 16) & 0xff;
    buf[o + 2] = (w >>> 8) & 0xff;
    buf[o + 3] = w & 0xff;
  }
}

/** Compare the address at a[aOff..] with b[bOff..] (4 words; IPv4 has zero words 1..3). */
export function addrEquals(a: Uint32Array, aOff: number, b: Uint32Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3]
  );
}

/**
 * A source address no host sends from, which the kernel drops before IPVS sees the packet. IPv4
 * (ip_route_input_slow, "martian source"): 0.0.0.0/8, 127.0.0.0/8 (arriving off loopback),
 * multicast 224.0.0.0/4 and the limited broadcast 255.255.255.255. IPv6 (ip6_rcv_core, RFC 4291
 * 2.5.2-2.5.5.2): multicast ff00::/8, loopback ::1, IPv4-mapped ::ffff:0:0/96, and the unspecified
 * :: (only Duplicate Address Detection sends from it, never TCP/UDP). Hot-path safe.
 */
export function isMartianSource(af: number, words: Uint32Array, off: number): boolean {
  const w0 = words[off]!;
  if (af !== AF_INET6) {
    const top = w0 >>> 24;
    return top === 0 || top === 127 || top >>> 4 === 0xe || w0 === 0xffffffff;
  }
  if (w0 >>> 24 === 0xff) return true;
  if (w0 !== 0 || words[off + 1] !== 0) return false;
  const w2 = words[off + 2]!;
  const w3 = words[off + 3]!;
  return w2 === 0xffff || (w2 === 0 && (w3 === 0 || w3 === 1));
}

export function copyAddr(dst: Uint32Array, dstOff: number, src: Uint32Array, srcOff: number): void {
  dst[dstOff] = src[srcOff]!;
  dst[dstOff + 1] = src[srcOff + 1]!;
  dst[dstOff + 2] = src[srcOff + 2]!;
  dst[dstOff + 3] = src[srcOff + 3]!;
}

function parseV4Into(s: string, out: Uint32Array, idx: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  let w = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return false;
    if (p.length > 1 && p[0] === '0') return false; // reject ambiguous octal-looking octets
    const n = Number(p);
    if (n > 255) return false;
    w = w * 256 + n;
  }
  out[idx] = w >>> 0;
  return true;
}

/** Parse IPv4 dotted quad or IPv6 (RFC 4291 §2.2 text forms incl. `::` and trailing dotted quad). */
export function parseAddress(str: string): ParsedAddress | null {
  const words = new Uint32Array(4);
  if (str.indexOf(':') < 0) {
    return parseV4Into(str, words, 0) ? { af: AF_INET, words } : null;
  }
  const groups = new Uint16Array(8);
  const s = str;
  // strip optional zone id (fe80::1%eth0) — not representable in words, rejected
  if (s.includes('%')) return null;
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  let head: string[];
  let tail: string[];
  if (dbl >= 0) {
    const h = s.slice(0, dbl);
    const t = s.slice(dbl + 2);
    head = h === '' ? [] : h.split(':');
    tail = t === '' ? [] : t.split(':');
  } else {
    head = s.split(':');
    tail = [];
  }
  // expand a trailing dotted quad into two groups
  const expand = (arr: string[]): string[] | null => {
    if (arr.length === 0) return arr;
    const last = arr[arr.length - 1]!;
    if (last.indexOf('.') < 0) return arr;
    const tmp = new Uint32Array(1);
    if (!parseV4Into(last, tmp, 0)) return null;
    const w = tmp[0]!;
    return arr.slice(0, -1).concat([(w >>> 16).toString(16), (w & 0xffff).toString(16)]);
  };
  if (dbl >= 0 && tail.length > 0) {
    const t = expand(tail);
    if (!t) return null;
    tail = t;
  } else {
    const h = expand(head);
    if (!h) return null;
    head = h;
  }
  if (dbl < 0 && head.length !== 8) return null;
  if (dbl >= 0 && head.length + tail.length > 7) return null;
  const hex = /^[0-9a-fA-F]{1,4}$/;
  for (let i = 0; i < head.length; i++) {
    if (!hex.test(head[i]!)) return null;
    groups[i] = parseInt(head[i]!, 16);
  }
  for (let i = 0; i < tail.length; i++) {
    if (!hex.test(tail[i]!)) return null;
    groups[8 - tail.length + i] = parseInt(tail[i]!, 16);
  }
  for (let i = 0; i < 4; i++) words[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return { af: AF_INET6, words };
}

/** The canonical text of an address (so "fd00::0:1" and "fd00::1" compare equal); unparsable: as is. */
export function canonicalAddressText(a: string): string {
  const p = parseAddress(a);
  return p ? formatAddress(p.af, p.words) : a;
}

/** Format an address; IPv6 in RFC 5952 canonical form (lowercase, longest zero run >= 2 as `::`). */
export function formatAddress(af: number, words: Uint32Array, off = 0): string {
  if (af === AF_INET) {
    const w = words[off]!;
    return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[off + i]!;
    g.push(w >>> 16, w & 0xffff);
  }
  // RFC 5952 §5: ::ffff:a.b.c.d for IPv4-mapped addresses
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const w = words[off + 3]!;
    return `::ffff:${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  // §4.2.3: the longest run of zero groups (first one on a tie), only if at least 2 long
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestLen = j - i;
      bestStart = i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const hex = (n: number): string => n.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  const left = g.slice(0, bestStart).map(hex).join(':');
  const right = g
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${left}::${right}`;
}

/** Parse "aa:bb:cc:dd:ee:ff" (also '-' separators) into 6 bytes, or null. */
export function parseMac(str: string): Uint8Array | null {
  const parts = str.split(/[:-]/);
  if (parts.length !== 6) return null;
  const mac = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(parts[i]!)) return null;
    mac[i] = parseInt(parts[i]!, 16);
  }
  return mac;
}

/** Format 6 bytes at mac[off] as lowercase "aa:bb:cc:dd:ee:ff". */
export function formatMac(mac: Uint8Array, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(mac[off + i]!.toString(16).padStart(2, '0'));
  return out.join(':');
}

/** Copy a 6-byte MAC (hot-path safe). */
export function writeMac(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  for (let i = 0; i < 6; i++) buf[off + i] = mac[macOff + i]!;
}

/**
 * Word w (0..3) of the network mask for a prefix length, words counted from the most significant.
 * IPv4 addresses live in word 0 and prefixes stop at 32, so the same rule gives their mask.
 */
export function prefixMaskWord(prefixLen: number, w: number): number {
  const bits = prefixLen - w * 32;
  return bits >= 32 ? 0xffffffff : bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}
