import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable, ADDR_C, ADDR_D, ADDR_L, ADDR_V } from '../../src/conn/table.js';
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_MASQ,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_TEMPLATE,
} from '../../src/conn/flags.js';
import { ip4, ip6, mk, mkTable } from './helpers.js';

const C = ip4('10.0.0.2');
const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');
const L = ip4('172.16.0.1');

test('create + lookupIn/lookupOut IPv4 NAT', () => {
  const { t, live } = mkTable();
  const h = mk(t, { flags: CONN_F_MASQ, c: C, cport: 40000, v: V, vport: 80, d: D, dport: 8080, destId: 3 });
  assert.ok(h >= 0);
  assert.equal(t.count, 1);
  assert.equal(t.lookupIn(6, 4, C, 0, 40000, V, 0, 80), h);
  assert.equal(t.lookupIn(17, 4, C, 0, 40000, V, 0, 80), -1);
  assert.equal(t.lookupIn(6, 4, C, 0, 40001, V, 0, 80), -1);
  assert.equal(t.lookupIn(6, 4, C, 0, 40000, V, 0, 81), -1);
  assert.equal(t.lookupIn(6, 6, C, 0, 40000, V, 0, 80), -1);
  // reply: src = RS, dst = client
  assert.equal(t.lookupOut(6, 4, D, 0, 8080, C, 0, 40000), h);
  assert.equal(t.lookupOut(6, 4, D, 0, 8081, C, 0, 40000), -1);
  const f = t.flags[h]!;
  assert.ok(f & CONN_F_INACTIVE);
  assert.ok(f & CONN_F_HASHED);
  assert.equal(f & CONN_F_NOOUTPUT, 0, 'NAT sees output');
  assert.equal(live.inactive[3], 1);
  assert.equal(live.active[3], 0);
  assert.ok(t.free(h));
  assert.equal(live.inactive[3], 0);
  assert.equal(t.count, 0);
  assert.equal(t.lookupIn(6, 4, C, 0, 40000, V, 0, 80), -1);
  assert.equal(t.lookupOut(6, 4, D, 0, 8080, C, 0, 40000), -1);
  assert.equal(t.free(h), false);
});

test('DR conns are NOOUTPUT and not in the OUT index', () => {
  const { t } = mkTable();
  const h = mk(t, { flags: CONN_F_DROUTE, c: C, cport: 1, v: V, vport: 80, d: D, dport: 80 });
  assert.ok(t.flags[h]! & CONN_F_NOOUTPUT);
  assert.equal(t.lookupOut(6, 4, D, 0, 80, C, 0, 1), -1);
  assert.equal(t.lookupIn(6, 4, C, 0, 1, V, 0, 80), h);
});

test('FullNAT OUT key uses laddr/lport', () => {
  const { t } = mkTable();
  const h = mk(t, {
    flags: CONN_F_FULLNAT,
    c: C,
    cport: 5000,
    v: V,
    vport: 80,
    d: D,
    dport: 80,
    l: L,
    lport: 20001,
  });
  assert.equal(t.lookupOut(6, 4, D, 0, 80, L, 0, 20001), h);
  assert.equal(t.lookupOut(6, 4, D, 0, 80, C, 0, 5000), -1);
  assert.equal(t.flags[h]! & CONN_F_NOOUTPUT, 0);
  const out = new Uint32Array(4);
  t.readAddr(h, ADDR_L, out, 0);
  assert.deepEqual([...out], [...L]);
});

test('IPv6 create/lookup both keys, addresses round trip, v6 pool accounting', () => {
  const { t } = mkTable();
  const c6 = ip6('2001:db8::2');
  const v6 = ip6('2001:db8:1::10');
  const d6 = ip6('2001:db8:2::2');
  const h = mk(t, { af: 6, flags: CONN_F_MASQ, c: c6, cport: 1234, v: v6, vport: 443, d: d6, dport: 8443 });
  assert.ok(h >= 0);
  assert.equal(t.v6Count, 1);
  assert.equal(t.lookupIn(6, 6, c6, 0, 1234, v6, 0, 443), h);
  assert.equal(t.lookupOut(6, 6, d6, 0, 8443, c6, 0, 1234), h);
  // differs only in a high word
  const c6b = ip6('2001:db9::2');
  assert.equal(t.lookupIn(6, 6, c6b, 0, 1234, v6, 0, 443), -1);
  const d6b = ip6('2001:db8:2::3');
  assert.equal(t.lookupOut(6, 6, d6b, 0, 8443, c6, 0, 1234), -1);
  const out = new Uint32Array(16);
  t.readAddr(h, ADDR_C, out, 0);
  t.readAddr(h, ADDR_V, out, 4);
  t.readAddr(h, ADDR_D, out, 8);
  t.readAddr(h, ADDR_L, out, 12);
  assert.deepEqual([...out], [...c6, ...v6, ...d6, ...c6]);
  // v4-in-v6 tunnel: client v4, dest v6
  const h2 = mk(t, { af: 4, daf: 6, flags: 2, c: C, cport: 9, v: V, vport: 80, d: d6, dport: 80 });
  t.readAddr(h2, ADDR_D, out, 0);
  assert.deepEqual([...out.subarray(0, 4)], [...d6]);
  t.readAddr(h2, ADDR_C, out, 0);
  assert.deepEqual([...out.subarray(0, 4)], [...C]);
  assert.equal(t.v6Count, 2);
  t.free(h);
  t.free(h2);
  assert.equal(t.v6Count, 0);
});

test('v6 pool exhaustion returns -1 and leaves the table consistent', () => {
  const { t } = mkTable({ maxConns: 16, v6Capacity: 2 });
  const d6 = ip6('2001:db8:2::2');
  const a = mk(t, { af: 6, c: ip6('::1'), cport: 1, v: ip6('::2'), vport: 1, d: d6, dport: 1 });
  const b = mk(t, { af: 6, c: ip6('::1'), cport: 2, v: ip6('::2'), vport: 1, d: d6, dport: 1 });
  assert.ok(a >= 0 && b >= 0);
  assert.equal(mk(t, { af: 6, c: ip6('::1'), cport: 3, v: ip6('::2'), vport: 1, d: d6, dport: 1 }), -1);
  assert.equal(t.count, 2);
  assert.ok(mk(t, { c: C, cport: 3, v: V, vport: 1, d: D, dport: 1 }) >= 0, 'v4 still fine');
  t.free(a);
  const c = mk(t, { af: 6, c: ip6('::1'), cport: 4, v: ip6('::2'), vport: 1, d: d6, dport: 1 });
  assert.ok(c >= 0);
  assert.equal(t.lookupIn(6, 6, ip6('::1'), 0, 4, ip6('::2'), 0, 1), c);
  assert.equal(t.lookupIn(6, 6, ip6('::1'), 0, 2, ip6('::2'), 0, 1), b);
});

test('hash collisions: every conn stays findable when all land in few buckets', () => {
  // 8 buckets for 8 conns + many more keys than buckets via a small table
  const { t } = mkTable({ maxConns: 8 });
  const hs: number[] = [];
  for (let i = 0; i < 8; i++)
    hs.push(mk(t, { flags: CONN_F_MASQ, c: C, cport: 1000 + i, v: V, vport: 80, d: D, dport: 80 }));
  assert.equal(mk(t, { c: C, cport: 2000, v: V, vport: 80, d: D, dport: 80 }), -1, 'maxConns');
  for (let i = 0; i < 8; i++) {
    assert.equal(t.lookupIn(6, 4, C, 0, 1000 + i, V, 0, 80), hs[i]);
    assert.equal(t.lookupOut(6, 4, D, 0, 80, C, 0, 1000 + i), hs[i]);
  }
  // free from the middle of chains, the rest remain findable
  for (let i = 0; i < 8; i += 2) t.free(hs[i]!);
  for (let i = 0; i < 8; i++) {
    assert.equal(t.lookupIn(6, 4, C, 0, 1000 + i, V, 0, 80), i % 2 ? hs[i] : -1);
    assert.equal(t.lookupOut(6, 4, D, 0, 80, C, 0, 1000 + i), i % 2 ? hs[i] : -1);
  }
});

test('free-list reuse bumps the generation', () => {
  const { t } = mkTable({ maxConns: 4 });
  const h = mk(t, { c: C, cport: 1, v: V, vport: 80, d: D, dport: 80 });
  const g = t.gen[h]!;
  t.free(h);
  assert.equal(t.gen[h], g + 1);
  const h2 = mk(t, { c: C, cport: 2, v: V, vport: 80, d: D, dport: 80 });
  assert.equal(h2, h, 'LIFO reuse');
  assert.notEqual(t.gen[h2], g);
});

test('maxConns not a power of two: capacity rounds up, limit is exact', () => {
  const { t } = mkTable({ maxConns: 5 });
  assert.equal(t.capacity, 8);
  for (let i = 0; i < 5; i++) assert.ok(mk(t, { c: C, cport: i + 1, v: V, vport: 80, d: D, dport: 80 }) >= 0);
  assert.equal(mk(t, { c: C, cport: 99, v: V, vport: 80, d: D, dport: 80 }), -1);
});

test('templates: separate from conns in IN lookups, counted, nControl linked and dropped', () => {
  const { t, live } = mkTable();
  const tmpl = mk(t, {
    flags: CONN_F_TEMPLATE | CONN_F_DROUTE,
    c: ip4('10.0.0.0'),
    cport: 0,
    v: V,
    vport: 80,
    d: D,
    dport: 80,
    destId: 1,
    timeoutMs: 360000,
  });
  assert.equal(t.templateCount, 1);
  assert.equal(live.persist[1], 1);
  assert.equal(live.inactive[1], 0);
  assert.equal(t.flags[tmpl]! & CONN_F_INACTIVE, 0, 'templates are not INACTIVE');
  assert.equal(t.lookupIn(6, 4, ip4('10.0.0.0'), 0, 0, V, 0, 80), -1);
  assert.equal(t.lookupTemplate(6, 4, ip4('10.0.0.0'), 0, 0, V, 0, 80), tmpl);
  const h = mk(t, {
    flags: CONN_F_DROUTE,
    c: C,
    cport: 5,
    v: V,
    vport: 80,
    d: D,
    dport: 80,
    destId: 1,
    control: tmpl,
  });
  assert.equal(t.control[h], tmpl);
  assert.equal(t.nControl[tmpl], 1);
  assert.equal(t.lookupTemplate(6, 4, C, 0, 5, V, 0, 80), -1);
  t.free(h);
  assert.equal(t.nControl[tmpl], 0);
  // a template freed while controlling (flush) detaches its conns
  const h2 = mk(t, { c: C, cport: 6, v: V, vport: 80, d: D, dport: 80, destId: 1, control: tmpl });
  t.free(tmpl);
  assert.equal(t.control[h2], -1);
  assert.equal(t.templateCount, 0);
  assert.equal(live.persist[1], 0);
  t.free(h2);
  assert.equal(live.inactive[1], 0);
});

test('ONE_PACKET conns are bound but not hashed', () => {
  const { t, live } = mkTable();
  const h = mk(t, {
    proto: 17,
    flags: CONN_F_MASQ | CONN_F_ONE_PACKET,
    c: C,
    cport: 53,
    v: V,
    vport: 53,
    d: D,
    dport: 53,
    destId: 2,
  });
  assert.ok(h >= 0);
  assert.equal(t.flags[h]! & CONN_F_HASHED, 0);
  assert.equal(t.lookupIn(17, 4, C, 0, 53, V, 0, 53), -1);
  assert.equal(t.lookupOut(17, 4, D, 0, 53, C, 0, 53), -1);
  assert.equal(live.inactive[2], 1);
  t.free(h);
  assert.equal(live.inactive[2], 0);
});

test('attach: a reader sees conns and counts through the shared buffer', () => {
  const { t } = mkTable();
  const h = mk(t, { flags: CONN_F_MASQ, c: C, cport: 7, v: V, vport: 80, d: D, dport: 8080 });
  const r = ConnTable.attach(t.buffer);
  assert.equal(r.capacity, t.capacity);
  assert.equal(r.count, 1);
  assert.equal(r.lookupIn(6, 4, C, 0, 7, V, 0, 80), h, 'same seed, same buckets');
  assert.equal(r.dport[h], 8080);
  mk(t, { c: C, cport: 8, v: V, vport: 80, d: D, dport: 8080 });
  assert.equal(r.count, 2);
  assert.throws(() => ConnTable.attach(new SharedArrayBuffer(1024)));
});

test('forEach visits live handles only', () => {
  const { t } = mkTable();
  const a = mk(t, { c: C, cport: 1, v: V, vport: 80, d: D, dport: 80 });
  const b = mk(t, { c: C, cport: 2, v: V, vport: 80, d: D, dport: 80 });
  t.free(a);
  const seen: number[] = [];
  t.forEach((h) => seen.push(h));
  assert.deepEqual(seen, [b]);
});

test('stress: 100k random inserts/frees keep counts, indexes and dest counters consistent', () => {
  const N = 100_000;
  const { t, live } = mkTable({ maxConns: 1 << 15, seed: 7 }, 4);
  // deterministic PRNG
  let s = 0x12345678;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  const handles: number[] = [];
  const keys = new Map<number, number>(); // handle -> cport|caddr key id
  const c = new Uint32Array(4);
  let full = 0;
  for (let i = 0; i < N; i++) {
    if (handles.length > 0 && (rnd() < 0.45 || handles.length >= t.maxConns)) {
      const k = Math.floor(rnd() * handles.length);
      const h = handles[k]!;
      handles[k] = handles[handles.length - 1]!;
      handles.pop();
      keys.delete(h);
      assert.ok(t.free(h));
    } else {
      c[0] = 0x0a000000 + i;
      const h = t.create(
        4,
        4,
        6,
        CONN_F_MASQ,
        c,
        0,
        i & 0xffff,
        V,
        0,
        80,
        D,
        0,
        80,
        c,
        0,
        i & 0xffff,
        0,
        0,
        i & 3,
        -1,
        3000,
        0,
      );
      if (h < 0) {
        full++;
        continue;
      }
      handles.push(h);
      keys.set(h, i);
    }
  }
  assert.equal(full, 0);
  assert.equal(t.count, handles.length);
  let inact = 0;
  for (let d = 0; d < 4; d++) inact += live.inactive[d]!;
  assert.equal(inact, handles.length);
  for (const [h, i] of keys) {
    c[0] = 0x0a000000 + i;
    assert.equal(t.lookupIn(6, 4, c, 0, i & 0xffff, V, 0, 80), h);
    assert.equal(t.lookupOut(6, 4, D, 0, 80, c, 0, i & 0xffff), h);
  }
  let n = 0;
  t.forEach(() => n++);
  assert.equal(n, handles.length);
  for (const h of handles) t.free(h);
  assert.equal(t.count, 0);
  for (let d = 0; d < 4; d++) assert.equal(live.inactive[d], 0);
  assert.ok(t.inHead.every((x) => x === -1));
  assert.ok(t.outHead.every((x) => x === -1));
  assert.ok(t.wheel.head.every((x) => x === -1));
});
