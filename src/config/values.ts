/**
 * Value parsing with keepalived's messages (reference §1.1, §5): numbers ("invalid number 'abc'",
 * "negative number '-1'", "number 'X' outside range [MIN, MAX]"), timers (seconds with fractions at
 * microsecond resolution), booleans, addresses (canonical strings) and scripts.
 */
import { formatAddress, parseAddress } from '../packet/addr.js';
import { AF_INET6 } from '../packet/view.js';
import type { Family, ScriptSpec, SourceLocation } from './model.js';
import type { Diags } from './diags.js';

export const UINT_MAX = 4294967295;
/** keepalived's TIMER range printout: 1 us .. (2^64-2) us */
export const TIMER_MAX = 18446744073709.55;
export const TIMER_MAX_TEXT = '18446744073709.551614';

/** Unsigned or signed integer in [min, max]; undefined (with a message) otherwise. */
export function parseInteger(
  text: string | undefined,
  min: number,
  max: number,
  diags: Diags,
  loc: SourceLocation,
): number | undefined {
  if (text === undefined || text === '') {
    diags.error('missing number', loc);
    return undefined;
  }
  if (!/^[-+]?\d+$/.test(text)) {
    diags.error(`invalid number '${text}'`, loc);
    return undefined;
  }
  const v = Number(text);
  if (v < 0 && min >= 0) {
    diags.error(`negative number '${text}'`, loc);
    return undefined;
  }
  if (v < min || v > max) {
    diags.error(`number '${text}' outside range [${min}, ${max}]`, loc);
    return undefined;
  }
  return v;
}

/** A TIMER in seconds (float, microsecond resolution) in [minSec, TIMER_MAX]. */
export function parseTimer(
  text: string | undefined,
  minSec: number,
  diags: Diags,
  loc: SourceLocation,
): number | undefined {
  if (text === undefined || text === '') {
    diags.error('missing number', loc);
    return undefined;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(text)) {
    diags.error(`invalid number '${text}'`, loc);
    return undefined;
  }
  const v = Number(text);
  if (v < 0 && minSec >= 0) {
    diags.error(`negative number '${text}'`, loc);
    return undefined;
  }
  if (v < minSec || v > TIMER_MAX) {
    diags.error(`number '${text}' outside range [${minSec.toFixed(6)}, ${TIMER_MAX_TEXT}]`, loc);
    return undefined;
  }
  return Math.round(v * 1e6) / 1e6;
}

/** keepalived <BOOL>: on|off|true|false|yes|no; a bare keyword is true. */
export function parseBool(text: string | undefined, diags: Diags, loc: SourceLocation): boolean {
  if (text === undefined) return true;
  const t = text.toLowerCase();
  if (t === 'on' || t === 'true' || t === 'yes') return true;
  if (t === 'off' || t === 'false' || t === 'no') return false;
  diags.error(`Invalid boolean value '${text}' - assuming true`, loc);
  return true;
}

export interface Addr {
  address: string;
  family: Family;
}

/** Canonical address string and family, or null (IPv6 zone ids and prefixes are not addresses). */
export function canonAddress(text: string | undefined): Addr | null {
  if (text === undefined) return null;
  const p = parseAddress(text);
  if (!p) return null;
  return { address: formatAddress(p.af, p.words), family: p.af === AF_INET6 ? 6 : 4 };
}

/** A port 0..65535 given as a plain decimal number, or null. */
export function portNumber(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return null;
  const v = Number(text);
  return v <= 65535 ? v : null;
}

/**
 * Split a command into argv on unquoted white space, honouring '...' and "..." inside it and
 * backslash escapes (keepalived splits script strings the same way, reference §1.1).
 */
export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  let cur: string | null = null;
  let quote = '';
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"' && i + 1 < command.length) cur += command[++i]!;
      else cur += c;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (cur !== null) argv.push(cur);
      cur = null;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur ??= '';
    } else if (c === '\\' && i + 1 < command.length) {
      cur = (cur ?? '') + command[++i]!;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== null) argv.push(cur);
  return argv;
}

export function scriptSpec(command: string, user?: string, group?: string): ScriptSpec {
  const s: ScriptSpec = { command, argv: splitCommand(command) };
  if (user !== undefined) s.user = user;
  if (group !== undefined) s.group = group;
  return s;
}

/** Decode a hex string (even length, optional 0x) into bytes, or null. */
export function hexBytes(text: string): Uint8Array | null {
  let t = text.replace(/^0x/i, '');
  if (t.length % 2 === 1) t = '0' + t;
  if (t.length === 0 || !/^[0-9a-fA-F]+$/.test(t)) return null;
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}
