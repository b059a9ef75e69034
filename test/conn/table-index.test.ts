/**
 * Index invariants of the tagged chain links (table.ts header): a differential check against a Map
 * model over IPv4/IPv6 conns and templates, near-miss keys (one field off), and frees from chain
 * middles; the template bit lives in the link tag, so a conn and a template with one key never mix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable } from '../../src/conn/table.js';
import { CONN_F_DROUTE, CONN_F_MASQ, CONN_F_TEMPLATE } from '../../src/conn/flags.js';
import { ip4, mk, mkTable } from './helpers.js';

const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');

test('a conn and a template with the same IN key stay apart in both directions', () => {
  const { t } = mkTable({ maxConns: 4 });
  const c = ip4('10.1.2.3');
  const tp = mk(t, { flags: CONN_F_TEMPLATE | CONN_F_MASQ, c, cport: 0, v: V, vport: 80, d: D, dport: 80 });
  const cn = mk(t, { flags: CONN_F_MASQ, c, cport: 0, v: V, vport: 80, d: D, dport: 80 });
  assert.equal(t.lookupIn(6, 4, c, 0, 0, V, 0, 80), cn);
  assert.equal(t.lookupTemplate(6, 4, c, 0, 0, V, 0, 80), tp);
  t.free(cn);
  assert.equal(t.lookupIn(6, 4, c, 0, 0, V, 0, 80), -1);
  assert.equal(t.lookupTemplate(6, 4, c, 0, 0, V, 0, 80), tp);
});

test('capacity above 2^29 is refused (handle bits + tag bits fit a non-negative int32)', () => {
  assert.throws(() => new ConnTable({ maxConns: 2 ** 29 + 1 }, null), RangeError);
});

function differential(collide: boolean): void {
  const { t } = mkTable({ maxConns: 256, v6Capacity: 256, seed: 7 });
  if (collide) {
    // Every key in one bucket with one tag: the full key compare decides every probe.
    t.hashIn = () => 0x5a5a5a5a;
    t.hashOut = () => 0x5a5a5a5a;
  }
  let rnd = 0x2545f491;
  const r = (n: number): number => {
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    return (rnd >>> 0) % n;
  };
  interface K {
    af: number;
    proto: number;
    c: Uint32Array;
    v: Uint32Array;
    cport: number;
    vport: number;
    tmpl: boolean;
    d: Uint32Array;
    dport: number;
  }
  // v6 addresses share word 0 with v4 ones, so only af and words 1..3 tell them apart.
  const addr = (af: number): Uint32Array =>
    Uint32Array.of((0x0a000000 + r(4)) >>> 0, af === 6 ? r(2) : 0, af === 6 ? r(2) : 0, 0);
  const VS = [V, ip4('207.175.44.111')];
  const live = new Map<number, K>();
  const inKey = (k: K): string =>
    `${k.tmpl}|${k.af}|${k.proto}|${k.c.join('.')}|${k.cport}|${k.v[0]}|${k.vport}`;
  const outKey = (k: K): string =>
    `${k.af}|${k.proto}|${k.d.join('.')}|${k.dport}|${k.c.join('.')}|${k.cport}`;
  const check = (k: K): void => {
    const wantIn = [...live].find(([, x]) => inKey(x) === inKey(k))?.[0] ?? -1;
    const gotIn = k.tmpl
      ? t.lookupTemplate(k.proto, k.af, k.c, 0, k.cport, k.v, 0, k.vport)
      : t.lookupIn(k.proto, k.af, k.c, 0, k.cport, k.v, 0, k.vport);
    assert.equal(gotIn, wantIn, inKey(k));
    if (k.tmpl) return;
    const wantOut =
      [...live].find(([, x]) => !x.tmpl && x.proto !== 17 && outKey(x) === outKey(k))?.[0] ?? -1;
    assert.equal(t.lookupOut(k.proto, k.af, k.d, 0, k.dport, k.c, 0, k.cport), wantOut, outKey(k));
  };
  for (let step = 0; step < 20000; step++) {
    const af = r(3) === 0 ? 6 : 4;
    const k: K = {
      af,
      proto: r(2) === 0 ? 6 : 17,
      c: addr(af),
      v: VS[r(2)]!,
      cport: r(6),
      vport: 80 + r(2),
      tmpl: r(5) === 0,
      d: af === 6 ? Uint32Array.of(0x20010db8, 1, 0, r(2)) : Uint32Array.of(0xac100000 + r(2), 0, 0, 0),
      dport: 8080,
    };
    check(k);
    const op = r(3);
    if (op === 0 && live.size > 0) {
      const hs = [...live.keys()];
      const h = hs[r(hs.length)]!;
      assert.ok(t.free(h));
      live.delete(h);
    } else if (op === 1 && ![...live.values()].some((x) => inKey(x) === inKey(k))) {
      // UDP conns go in as DR (IN index only), TCP as NAT (both indexes).
      const fwd = k.proto === 17 ? CONN_F_DROUTE : CONN_F_MASQ;
      const clash =
        !k.tmpl &&
        fwd === CONN_F_MASQ &&
        [...live.values()].some((x) => !x.tmpl && x.proto !== 17 && outKey(x) === outKey(k));
      if (clash) continue;
      const h = mk(t, {
        af,
        proto: k.proto,
        flags: fwd | (k.tmpl ? CONN_F_TEMPLATE : 0),
        c: k.c,
        cport: k.cport,
        v: k.v,
        vport: k.vport,
        d: k.d,
        dport: k.dport,
      });
      if (h >= 0) live.set(h, k);
    }
  }
  for (const k of live.values()) check(k);
  for (const h of [...live.keys()]) t.free(h);
  assert.ok(t.inHead.every((x) => x === -1));
  assert.ok(t.outHead.every((x) => x === -1));
}

test('differential vs a Map: random v4/v6 conns and templates, near misses, frees mid-chain', () => {
  differential(false);
});

test('differential with every hash equal: the key compare alone tells conns apart', () => {
  differential(true);
});
