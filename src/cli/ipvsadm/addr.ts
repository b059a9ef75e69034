/**
 * The C library address and number conversions ipvsadm relies on, with their exact acceptance rules:
 * inet_aton (IPv4 in the a, a.b, a.b.c, a.b.c.d forms, each part decimal, 0-octal or 0x-hex),
 * inet_pton(AF_INET6), inet_ntop (glibc spelling), strtol/strtoul-based string_to_number, atoi.
 */
import { parseAddress, formatAddress } from '../../packet/addr.js';

/** glibc inet_aton: the address as a u32, or null. Text after the address must start with a space. */
export function inetAton(s: string): number | null {
  const parts: number[] = [];
  let i = 0;
  for (;;) {
    const rest = s.slice(i);
    const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(rest);
    if (!m) return null;
    const t = m[1]!;
    let v: number;
    if (/^0[xX]/.test(t)) v = parseInt(t.slice(2), 16);
    else if (t.length > 1 && t[0] === '0') v = parseInt(t, 8);
    else v = parseInt(t, 10);
    if (!Number.isFinite(v) || v > 0xffffffff) return null;
    parts.push(v);
    i += t.length;
    const c = s[i];
    if (c === '.') {
      if (parts.length === 4) return null;
      i++;
      continue;
    }
    if (c !== undefined && !/\s/.test(c)) return null;
    break;
  }
  const [a, b, c, d] = parts as [number, number?, number?, number?];
  switch (parts.length) {
    case 1:
      return a >>> 0;
    case 2:
      if (a > 0xff || b! > 0xffffff) return null;
      return ((a << 24) | b!) >>> 0;
    case 3:
      if (a > 0xff || b! > 0xff || c! > 0xffff) return null;
      return ((a << 24) | (b! << 16) | c!) >>> 0;
    default:
      if (a > 0xff || b! > 0xff || c! > 0xff || d! > 0xff) return null;
      return ((a << 24) | (b! << 16) | (c! << 8) | d!) >>> 0;
  }
}

/** inet_pton(AF_INET6): 4 big-endian words, or null. */
export function inetPton6(s: string): Uint32Array | null {
  if (s.indexOf(':') < 0) return null;
  const p = parseAddress(s);
  return p && p.af === 6 ? p.words : null;
}

/** An address in either family as inet_pton / inet_aton in that order would take it (for /etc/hosts). */
export function parseAnyAddress(s: string): { af: number; words: Uint32Array } | null {
  const w6 = inetPton6(s);
  if (w6) return { af: 6, words: w6 };
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(s)) return null;
  const v = inetAton(s);
  if (v === null) return null;
  const words = new Uint32Array(4);
  words[0] = v;
  return { af: 4, words };
}

export function v4String(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * glibc inet_ntop: IPv4 dotted quad; IPv6 with the longest run (>= 2) of zero groups as `::`, and
 * the embedded-IPv4 forms `::a.b.c.d` (first 96 bits zero, not :: or ::1 style runs of 7) and
 * `::ffff:a.b.c.d`.
 */
export function ntop(af: number, w: ArrayLike<number>): string {
  const words = Uint32Array.from(w as ArrayLike<number>);
  if (af === 4) return v4String(words[0]!);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3]! >>> 16 !== 0) {
    // glibc: the best zero run is exactly groups 0..5 and group 6 is not zero
    return `::${v4String(words[3]!)}`;
  }
  return formatAddress(6, words, 0);
}

/**
 * ipvsadm string_to_number: strtol base 10 of the whole string (leading white space and a sign
 * allowed), then min <= n <= max; otherwise -1.
 */
export function stringToNumber(s: string, min: number, max: number): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)$/.exec(s);
  if (!m) return -1;
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n) || n < min || n > max) return -1;
  return n;
}

/** strtoul base 10 of the whole string, as ipvsadm parse_fwmark uses it: the value or null. */
export function strtoulWhole(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (!m) return null;
  let n = Number(m[2]);
  if (!Number.isFinite(n) || n >= 2 ** 64) return null; // ERANGE
  if (m[1] === '-' && n !== 0) n = 2 ** 64 - n; // strtoul negates in unsigned arithmetic
  return n;
}

/** C atoi: leading white space, optional sign, digits; 0 when there are none. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  return Number(m[1]) | 0;
}
