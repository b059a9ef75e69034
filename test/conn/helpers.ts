import { DestLive } from '../../src/conn/dest-live.js';
import { ConnTable } from '../../src/conn/table.js';
import type { ConnTableOptions } from '../../src/conn/table.js';
import { NEW_CONN_TIMEOUT_MS } from '../../src/conn/state.js';

export function ip4(s: string): Uint32Array {
  const p = s.split('.').map(Number);
  return Uint32Array.of(((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0, 0, 0, 0);
}

/** Minimal IPv6 parser for tests: full or '::' forms. */
export function ip6(s: string): Uint32Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t].map((g) =>
    parseInt(g || '0', 16),
  );
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return w;
}

export function mkTable(
  opts: Partial<ConnTableOptions> = {},
  destCap = 16,
): { t: ConnTable; live: DestLive } {
  const live = new DestLive(destCap);
  for (let i = 0; i < destCap; i++) live.reset(i, 0, 0);
  const t = new ConnTable({ maxConns: 1024, seed: 12345, ...opts }, live);
  return { t, live };
}

export interface ConnSpec {
  af?: number;
  daf?: number;
  proto?: number;
  flags?: number;
  c: Uint32Array;
  cport: number;
  v: Uint32Array;
  vport: number;
  d: Uint32Array;
  dport: number;
  l?: Uint32Array;
  lport?: number;
  fwmark?: number;
  destId?: number;
  control?: number;
  timeoutMs?: number;
}

export function mk(t: ConnTable, s: ConnSpec, now = 0): number {
  const af = s.af ?? 4;
  return t.create(
    af,
    s.daf ?? af,
    s.proto ?? 6,
    s.flags ?? 0,
    s.c,
    0,
    s.cport,
    s.v,
    0,
    s.vport,
    s.d,
    0,
    s.dport,
    s.l ?? s.c,
    0,
    s.lport ?? s.cport,
    s.fwmark ?? 0,
    0,
    s.destId ?? 0,
    s.control ?? -1,
    s.timeoutMs ?? NEW_CONN_TIMEOUT_MS,
    now,
  );
}
