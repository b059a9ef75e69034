import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SyncConn,
  SyncWriter,
  decodeSyncMessage,
  dumpTable,
  restoreMessage,
} from '../../src/conn/sync-record.js';
import type { RestoreResolver } from '../../src/conn/sync-record.js';
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_MASQ,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
} from '../../src/conn/flags.js';
import { DIR_INPUT, Timeouts, tcpStateTransition, udpTouch } from '../../src/conn/state.js';
import { buildTemplateKey, createTemplate, TemplateKey } from '../../src/conn/persistence.js';
import { LvsError } from '../../src/errors.js';
import { ip4, ip6, mk, mkTable } from './helpers.js';

function collect(buf: Uint8Array): SyncConn[] {
  const out: SyncConn[] = [];
  decodeSyncMessage(buf, 0, buf.length, (r) => {
    const c = new SyncConn();
    for (const k of [
      'af',
      'protocol',
      'flags',
      'state',
      'cport',
      'vport',
      'dport',
      'fwmark',
      'timeout',
      'version',
    ] as const)
      c[k] = r[k];
    c.caddr.set(r.caddr);
    c.vaddr.set(r.vaddr);
    c.daddr.set(r.daddr);
    out.push(c);
  });
  return out;
}

test('v1 encode/decode round trip, exact byte layout of an IPv4 record', () => {
  const w = new SyncWriter();
  w.begin(7);
  const r = new SyncConn();
  r.af = 4;
  r.protocol = 6;
  r.flags = 0x0183;
  r.state = 1;
  r.cport = 0x1234;
  r.vport = 80;
  r.dport = 8080;
  r.fwmark = 0;
  r.timeout = 900;
  r.caddr.set(ip4('10.0.0.2'));
  r.vaddr.set(ip4('207.175.44.110'));
  r.daddr.set(ip4('172.16.0.2'));
  assert.ok(w.add(r));
  const r6 = new SyncConn();
  r6.af = 6;
  r6.protocol = 17;
  r6.cport = 5;
  r6.timeout = 300;
  r6.caddr.set(ip6('2001:db8::1'));
  r6.vaddr.set(ip6('2001:db8::2'));
  r6.daddr.set(ip6('2001:db8::3'));
  assert.ok(w.add(r6));
  const len = w.finish();
  assert.equal(len, 8 + 36 + 72);
  const b = w.buf.subarray(0, len);
  assert.deepEqual([...b.subarray(0, 8)], [0, 7, 0, 116, 2, 1, 0, 0]);
  // record 1
  assert.deepEqual([...b.subarray(8, 12)], [0, 6, 0, 36]);
  assert.deepEqual([...b.subarray(12, 16)], [0, 0, 0x01, 0x83]);
  assert.deepEqual([...b.subarray(16, 24)], [0, 1, 0x12, 0x34, 0, 80, 0x1f, 0x90]);
  assert.deepEqual([...b.subarray(28, 32)], [0, 0, 0x03, 0x84]);
  assert.deepEqual([...b.subarray(32, 36)], [10, 0, 0, 2]);
  assert.deepEqual([...b.subarray(40, 44)], [172, 16, 0, 2]);
  assert.deepEqual([...b.subarray(44, 48)], [1, 17, 0, 72]);
  const recs = collect(b);
  assert.equal(recs.length, 2);
  assert.deepEqual({ ...recs[0]! }, { ...r });
  assert.deepEqual({ ...recs[1]! }, { ...r6 });
});

test('decode skips options and unknown-version records, honours alignment', () => {
  // header + v4 record with PE_NAME option "sip" (36 + 5 = 41 -> padded to 44) + plain v4 record
  const b = new Uint8Array(8 + 44 + 36 + 36);
  b.set([0, 1, 0, b.length, 3, 1, 0, 0]);
  b.set([0, 17, 0, 41], 8);
  b.set([3, 3, 0x73, 0x69, 0x70], 8 + 36);
  b.set([0, 6, 0, 36], 52);
  b[52 + 11] = 99; // cport 99
  b.set([0, 6, 0x10, 36], 88); // version nibble 1: skipped
  const got: number[] = [];
  const info = decodeSyncMessage(b, 0, b.length, (r) => got.push(r.protocol * 1000 + r.cport));
  assert.deepEqual(got, [17000, 6099]);
  assert.equal(info.delivered, 2);
  assert.equal(info.nrConns, 3);
});

test('v0 messages decode (IPv4, no timeout)', () => {
  const b = new Uint8Array(4 + 24);
  b.set([1, 5, 0, 28]);
  b.set([0, 6, 0, 1, 0, 80, 0, 80, 10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 3, 0, 3, 0, 1], 4);
  const got: SyncConn[] = [];
  const info = decodeSyncMessage(b, 0, b.length, (r) =>
    got.push(Object.assign(new SyncConn(), { flags: r.flags, state: r.state, version: r.version })),
  );
  assert.equal(info.version, 0);
  assert.equal(got[0]!.flags, 3);
  assert.equal(got[0]!.state, 1);
  assert.equal(got[0]!.version, 0);
});

test('malformed input: only LvsError ERR_LVS_BAD_RECORD, never another exception (fuzz)', () => {
  let s = 0x9e3779b9;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  // a valid seed message to mutate
  const w = new SyncWriter();
  w.begin(1);
  const r = new SyncConn();
  r.protocol = 6;
  for (let i = 0; i < 5; i++) w.add(r);
  const valid = w.buf.slice(0, w.finish());
  let errors = 0;
  let oks = 0;
  for (let i = 0; i < 20000; i++) {
    let b: Uint8Array;
    if (i % 2 === 0) {
      b = new Uint8Array(rnd() % 200);
      for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
      if (b.length >= 8 && i % 4 === 0) {
        b[0] = 0;
        b[5] = 1;
        b[2] = b.length >> 8;
        b[3] = b.length & 0xff;
      }
    } else {
      b = valid.slice(0, rnd() % (valid.length + 1));
      for (let k = rnd() % 4; k > 0; k--) if (b.length) b[rnd() % b.length] = rnd() & 0xff;
      if (b.length >= 4 && i % 3 === 0) {
        b[2] = b.length >> 8;
        b[3] = b.length & 0xff;
      }
    }
    try {
      decodeSyncMessage(b, 0, b.length, () => {});
      oks++;
    } catch (e) {
      assert.ok(e instanceof LvsError && e.code === 'ERR_LVS_BAD_RECORD', String(e));
      errors++;
    }
  }
  assert.ok(errors > 1000 && oks > 20, `${errors} ${oks}`);
  assert.throws(() => decodeSyncMessage(valid, 10, valid.length, () => {}), LvsError);
});

const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');

test('dump -> restore into an empty table gives identical records, dest counters and template links', () => {
  const { t, live } = mkTable({ maxConns: 4096 });
  const to = new Timeouts();
  const key = new TemplateKey();
  buildTemplateKey(key, 4, 6, ip4('10.0.0.5'), 0, V, 0, 80, 0, 0xffffff00, 128);
  const tm = createTemplate(t, key, 0, 0, 1, 4, D, 0, 80, CONN_F_DROUTE, 360_000, 0);
  for (let i = 0; i < 300; i++) {
    const c = ip4(`10.0.${i >> 6}.${i & 63}`);
    const nat = i % 3 === 0;
    const h = mk(
      t,
      {
        flags: nat ? CONN_F_MASQ : CONN_F_DROUTE,
        c,
        cport: 1000 + i,
        v: V,
        vport: 80,
        d: D,
        dport: 80,
        destId: i % 4,
        control: i < 64 ? tm : -1,
      },
      0,
    ); // 10.0.0.0/24 is persistent
    tcpStateTransition(t, to, h, DIR_INPUT, 0x02, 0);
    if (i % 2) tcpStateTransition(t, to, h, DIR_INPUT, 0x10, 0);
  }
  const u = mk(
    t,
    {
      proto: 17,
      flags: CONN_F_MASQ,
      c: ip6('2001:db8::7'),
      af: 6,
      cport: 53,
      v: ip6('2001:db8::1'),
      vport: 53,
      d: ip6('2001:db8::9'),
      dport: 53,
      destId: 2,
    },
    0,
  );
  udpTouch(t, to, u, 0);
  mk(t, {
    flags: CONN_F_FULLNAT,
    c: ip4('10.9.9.9'),
    cport: 1,
    v: V,
    vport: 80,
    d: D,
    dport: 80,
    l: ip4('172.16.0.1'),
    lport: 4000,
    destId: -1,
  });
  const now = 1500;
  const msgs: Uint8Array[] = [];
  const st = dumpTable(t, now, 3, (m) => msgs.push(m.slice()));
  assert.equal(st.records, 302);
  assert.equal(st.skipped, 1, 'FullNAT is not carried by v1');
  assert.ok(msgs.length > 1, 'split into several messages');
  for (const m of msgs) assert.ok(m.length <= 1472);

  const { t: t2, live: live2 } = mkTable({ maxConns: 4096, seed: 999 });
  // dest ids in dump order (templates first, then conns by handle), as the engine would resolve them
  const order: number[] = [];
  for (const want of [CONN_F_TEMPLATE, 0])
    t.forEach((h) => {
      const f = t.flags[h]!;
      if ((f & CONN_F_TEMPLATE) === want && (f & 7) !== CONN_F_FULLNAT) order.push(t.destId[h]!);
    });
  let next = 0;
  const resolver: RestoreResolver = {
    destId: () => order[next++]!,
    templateKey: (r, k) => {
      buildTemplateKey(k, r.af, r.protocol, r.caddr, 0, r.vaddr, 0, r.vport, r.fwmark, 0xffffff00, 128);
      return true;
    },
  };
  for (const m of msgs) {
    const r = restoreMessage(t2, to, m, 0, m.length, resolver, now, { markSync: false });
    assert.equal(r.failed, 0);
  }
  assert.equal(t2.count, 302);
  assert.equal(t2.templateCount, 1);
  const msgs2: Uint8Array[] = [];
  dumpTable(t2, now, 3, (m) => msgs2.push(m.slice()));
  assert.deepEqual(msgs2, msgs);
  for (let d = 0; d < 4; d++) {
    assert.equal(live2.active[d], live.active[d], `active ${d}`);
    assert.equal(live2.inactive[d], live.inactive[d], `inactive ${d}`);
    assert.equal(live2.persist[d], live.persist[d], `persist ${d}`);
  }
  const tm2 = t2.lookupTemplate(6, 4, ip4('10.0.0.0'), 0, 0, V, 0, 80);
  assert.ok(tm2 >= 0);
  assert.equal(t2.nControl[tm2], t.nControl[tm]);
  assert.equal(t2.nControl[tm2], 64);
  // a restore as backup marks SYNC, and a second restore updates instead of duplicating
  const { t: t3 } = mkTable({ maxConns: 4096 });
  next = 0;
  for (const m of msgs) restoreMessage(t3, to, m, 0, m.length, resolver, now);
  let synced = 0;
  t3.forEach((h) => (synced += t3.flags[h]! & CONN_F_SYNC ? 1 : 0));
  assert.equal(synced, 302);
  next = 0;
  const again = restoreMessage(t3, to, msgs[0]!, 0, msgs[0]!.length, resolver, now);
  assert.equal(again.created, 0);
  assert.ok(again.updated > 0);
  assert.equal(t3.count, 302);
  // malformed input changes nothing
  const broken = msgs[0]!.slice(0, msgs[0]!.length - 3);
  assert.throws(
    () => restoreMessage(t3, to, broken, 0, broken.length, resolver, now),
    (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_BAD_RECORD',
  );
  assert.equal(t3.count, 302);
});
