import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FragCache } from '../../src/conn/frag-cache.js';
import { LocalPortAllocator, shardForClient, shardForLocalPort } from '../../src/conn/shard.js';
import { ip4, ip6, mk, mkTable } from './helpers.js';

const S = ip4('10.0.0.2');
const Dv = ip4('207.175.44.110');

test('frag cache: hit, miss for unseen datagrams, expiry, stale conn', () => {
  const { t } = mkTable();
  const h = mk(t, { proto: 17, c: S, cport: 1, v: Dv, vport: 53, d: ip4('172.16.0.2'), dport: 53 });
  const fc = new FragCache(64, 30_000, 'evict', 1);
  assert.equal(fc.lookup(4, S, 0, Dv, 0, 17, 77, 0, t), -1);
  assert.ok(fc.insert(4, S, 0, Dv, 0, 17, 77, h, t.gen[h]!, 0));
  assert.equal(fc.lookup(4, S, 0, Dv, 0, 17, 77, 1000, t), h);
  assert.equal(fc.lookup(4, S, 0, Dv, 0, 17, 78, 1000, t), -1, 'other id');
  assert.equal(fc.lookup(4, S, 0, Dv, 0, 6, 77, 1000, t), -1, 'other proto');
  assert.equal(fc.lookup(4, Dv, 0, S, 0, 17, 77, 1000, t), -1, 'swapped');
  assert.equal(fc.lookup(4, S, 0, Dv, 0, 17, 77, 30_000, t), -1, 'expired');
  // v6
  const s6 = ip6('2001:db8::1');
  const d6 = ip6('2001:db8::2');
  fc.insert(6, s6, 0, d6, 0, 17, 0xfffffff0, h, t.gen[h]!, 0);
  assert.equal(fc.lookup(6, s6, 0, d6, 0, 17, 0xfffffff0, 1, t), h);
  assert.equal(fc.lookup(6, s6, 0, ip6('2001:db8::3'), 0, 17, 0xfffffff0, 1, t), -1);
  // the conn is freed and its handle reused: the cache must not follow it
  t.free(h);
  const h2 = mk(t, { proto: 17, c: S, cport: 2, v: Dv, vport: 53, d: ip4('172.16.0.2'), dport: 53 });
  assert.equal(h2, h);
  assert.equal(fc.lookup(6, s6, 0, d6, 0, 17, 0xfffffff0, 2, t), -1);
});

test('frag cache overflow: evict oldest (counted) or fail (counted)', () => {
  const ev = new FragCache(4, 30_000, 'evict', 1); // one set of 4 ways
  for (let id = 0; id < 4; id++) assert.ok(ev.insert(4, S, 0, Dv, 0, 17, id, id, 0, id));
  assert.ok(ev.insert(4, S, 0, Dv, 0, 17, 100, 100, 0, 10));
  assert.equal(ev.evictions, 1);
  assert.equal(ev.lookup(4, S, 0, Dv, 0, 17, 0, 11, null), -1, 'oldest evicted');
  assert.equal(ev.lookup(4, S, 0, Dv, 0, 17, 1, 11, null), 1);
  assert.equal(ev.lookup(4, S, 0, Dv, 0, 17, 100, 11, null), 100);
  const fl = new FragCache(4, 30_000, 'fail', 1);
  for (let id = 0; id < 4; id++) assert.ok(fl.insert(4, S, 0, Dv, 0, 17, id, id, 0, 0));
  assert.equal(fl.insert(4, S, 0, Dv, 0, 17, 9, 9, 0, 1), false);
  assert.equal(fl.insertFailures, 1);
  // expired entries are reusable even under 'fail'
  assert.ok(fl.insert(4, S, 0, Dv, 0, 17, 9, 9, 0, 30_000));
  assert.equal(fl.size(30_000), 1);
});

test('shard steering: NAT reply (dst = client) lands on the request shard', () => {
  const reply = new Uint32Array(4);
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) {
    const c = ip4(`10.${(i >> 8) & 255}.${i & 255}.7`);
    const req = shardForClient(4, c, 0, 1024 + i, 4);
    reply.set(c);
    assert.equal(shardForClient(4, reply, 0, 1024 + i, 4), req);
    counts[req]++;
  }
  for (const n of counts) assert.ok(n > 800 && n < 1200, `balanced: ${counts}`);
  const c6 = ip6('2001:db8::9');
  const s = shardForClient(6, c6, 0, 5, 3);
  assert.ok(s >= 0 && s < 3);
  assert.equal(shardForClient(4, ip4('1.2.3.4'), 0, 1, 1), 0);
});

test('FullNAT local ports encode the shard; allocate/release/exhaustion', () => {
  const a = new LocalPortAllocator(1024, 1100, 2, 4);
  const got = new Set<number>();
  for (;;) {
    const p = a.allocate();
    if (p < 0) break;
    assert.equal(shardForLocalPort(p, 4), 2);
    assert.ok(p >= 1024 && p <= 1100);
    assert.ok(!got.has(p));
    got.add(p);
  }
  assert.equal(got.size, a.size);
  assert.equal(a.size, 19); // 1026..1098 step 4
  assert.equal(a.release(1026), true);
  assert.equal(a.release(1026), false);
  assert.equal(a.release(1027), false, 'not ours');
  assert.equal(a.allocate(), 1026);
  assert.ok(a.isUsed(1026));
});
