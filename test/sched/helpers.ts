/** Test fixtures for schedulers: dest lists over a DestLive, flows, and a deterministic PRNG. */
import { DestLive } from '../../src/conn/dest-live.js';
import type { SchedDests, SchedFlow } from '../../src/sched/types.js';

export interface DestSpec {
  id: number;
  weight: number;
  /** defaults to weight */
  lastWeight?: number;
  /** IPv4 u32, or 4 words for IPv6; defaults to 10.0.(id>>8).(id&255) */
  addr?: number | readonly number[];
  port?: number;
}

/** A DestLive whose ids 0..capacity-1 are all reset (AVAILABLE, no thresholds). */
export function newLive(capacity = 4096): DestLive {
  const live = new DestLive(capacity);
  for (let i = 0; i < capacity; i++) live.reset(i, 0, 0);
  return live;
}

export function makeDests(live: DestLive, specs: readonly DestSpec[]): SchedDests {
  const n = specs.length;
  const d = {
    count: n,
    id: new Int32Array(n),
    weight: new Int32Array(n),
    lastWeight: new Int32Array(n),
    af: new Uint8Array(n),
    addr: new Uint32Array(n * 4),
    port: new Uint16Array(n),
    live,
  };
  specs.forEach((s, i) => {
    d.id[i] = s.id;
    d.weight[i] = s.weight;
    d.lastWeight[i] = s.lastWeight ?? s.weight;
    const a = s.addr ?? ((10 << 24) | s.id) >>> 0;
    if (typeof a === 'number') {
      d.af[i] = 4;
      d.addr[i * 4] = a;
    } else {
      d.af[i] = 6;
      for (let k = 0; k < 4; k++) d.addr[i * 4 + k] = a[k]!;
    }
    d.port[i] = s.port ?? 80;
  });
  return d;
}

/** Dests with ids 0..n-1 and the given weights. */
export function dests(live: DestLive, weights: readonly number[]): SchedDests {
  return makeDests(
    live,
    weights.map((weight, id) => ({ id, weight })),
  );
}

export interface MutableFlow extends SchedFlow {
  af: number;
  proto: number;
  sport: number;
  dport: number;
}

export function flow4(saddr: number, daddr = 0xc0a80001, sport = 40000, proto = 6): MutableFlow {
  const f: MutableFlow = {
    af: 4,
    proto,
    saddr: new Uint32Array(4),
    daddr: new Uint32Array(4),
    sport,
    dport: 80,
  };
  f.saddr[0] = saddr >>> 0;
  f.daddr[0] = daddr >>> 0;
  return f;
}

export function flow6(
  saddr: readonly number[],
  daddr: readonly number[],
  sport = 40000,
  proto = 6,
): MutableFlow {
  const f = flow4(0, 0, sport, proto);
  f.af = 6;
  for (let k = 0; k < 4; k++) {
    f.saddr[k] = saddr[k]! >>> 0;
    f.daddr[k] = daddr[k]! >>> 0;
  }
  return f;
}

/** Deterministic u32 PRNG (xorshift32) for reproducible random tests. */
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Set a dest's counters directly (bypassing thresholds). */
export function setConns(live: DestLive, id: number, active: number, inactive = 0): void {
  live.active[id] = active;
  live.inactive[id] = inactive;
}

export function setOverload(live: DestLive, id: number, on: boolean): void {
  if (on) live.flags[id] = live.flags[id]! | 2;
  else live.flags[id] = live.flags[id]! & ~2;
}
