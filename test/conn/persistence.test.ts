import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONN_F_DROUTE, CONN_F_ONE_PACKET } from '../../src/conn/flags.js';
import {
  TemplateKey,
  buildTemplateKey,
  createTemplate,
  lookupValidTemplate,
  maskClient,
  refreshTemplate,
  releaseOnePacket,
  v4Netmask,
} from '../../src/conn/persistence.js';
import { ip4, ip6, mk, mkTable } from './helpers.js';

const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');

test('maskClient v4 netmask and v6 prefix', () => {
  const out = new Uint32Array(4);
  maskClient(4, ip4('10.1.2.3'), 0, v4Netmask(24), 128, out, 0);
  assert.deepEqual([...out], [...ip4('10.1.2.0')]);
  maskClient(6, ip6('2001:db8:aaaa:bbbb:cccc::1'), 0, 0, 56, out, 0);
  assert.deepEqual([...out], [...ip6('2001:db8:aaaa:bb00::')]);
  maskClient(6, ip6('2001:db8::1'), 0, 0, 128, out, 0);
  assert.deepEqual([...out], [...ip6('2001:db8::1')]);
  assert.equal(v4Netmask(32), 0xffffffff);
  assert.equal(v4Netmask(0), 0);
});

test('template key: normal, port-0/FTP and fwmark services', () => {
  const k = new TemplateKey();
  buildTemplateKey(k, 4, 6, ip4('10.0.0.7'), 0, V, 0, 80, 0, 0xffffffff, 128);
  assert.equal(k.proto, 6);
  assert.equal(k.vport, 80);
  assert.equal(k.vaddr[0], V[0]);
  buildTemplateKey(k, 4, 6, ip4('10.0.0.7'), 0, V, 0, 21, 0, 0xffffffff, 128);
  assert.equal(k.vport, 0);
  buildTemplateKey(k, 4, 17, ip4('10.0.0.7'), 0, V, 0, 53, 42, 0xffffff00, 128);
  assert.equal(k.proto, 0);
  assert.deepEqual([...k.vaddr], [42, 0, 0, 0]);
  assert.equal(k.vport, 0);
  assert.deepEqual([...k.caddr], [...ip4('10.0.0.0')]);
});

test('persistence sequence: one template, refreshed, sticky; invalid when dest unavailable or quiesced', () => {
  const { t, live } = mkTable({ tickMs: 1000 });
  const k = new TemplateKey();
  const P = 360_000;
  buildTemplateKey(k, 4, 6, ip4('10.0.0.7'), 0, V, 0, 80, 0, v4Netmask(24), 128);
  assert.equal(lookupValidTemplate(t, k, false, null, 0), -1);
  const tm = createTemplate(t, k, 0, 0, 3, 4, D, 0, 80, CONN_F_DROUTE, P, 0);
  assert.ok(tm >= 0);
  assert.equal(live.persist[3], 1);
  // another client in the same /24 finds it
  buildTemplateKey(k, 4, 6, ip4('10.0.0.99'), 0, V, 0, 80, 0, v4Netmask(24), 128);
  assert.equal(lookupValidTemplate(t, k, false, null, 1000), tm);
  const h = mk(
    t,
    {
      flags: CONN_F_DROUTE,
      c: ip4('10.0.0.99'),
      cport: 5,
      v: V,
      vport: 80,
      d: D,
      dport: 80,
      destId: t.destId[tm]!,
      control: tm,
    },
    1000,
  );
  refreshTemplate(t, tm, 100_000);
  assert.equal(t.expiry[tm], 100_000 + P);
  assert.equal(t.nControl[tm], 1);
  // quiesced but expire_quiescent_template=0: still valid
  assert.equal(
    lookupValidTemplate(t, k, false, (d) => d === 3, 2000),
    tm,
  );
  // quiesced with expire_quiescent_template=1: invalidated (unhashed), lives on while it controls h
  assert.equal(
    lookupValidTemplate(t, k, true, (d) => d === 3, 2000),
    -1,
  );
  assert.equal(lookupValidTemplate(t, k, false, null, 2000), -1, 'unhashed');
  assert.ok(t.inUse(tm));
  t.wheel.advance(3000);
  assert.ok(t.inUse(tm), 're-armed while controlling');
  t.free(h);
  t.wheel.advance(3000 + 60_000);
  assert.ok(!t.inUse(tm));
  assert.equal(live.persist[3], 0);
  // dest unavailable
  const tm2 = createTemplate(t, k, 0, 0, 3, 4, D, 0, 80, CONN_F_DROUTE, P, 70_000);
  assert.equal(lookupValidTemplate(t, k, false, null, 70_000), tm2);
  live.setAvailable(3, false);
  assert.equal(lookupValidTemplate(t, k, false, null, 70_000), -1);
  t.wheel.advance(71_000);
  assert.equal(t.templateCount, 0);
});

test('one-packet conn: bound, unhashed, released right after use', () => {
  const { t, live } = mkTable();
  const h = mk(t, {
    proto: 17,
    flags: CONN_F_DROUTE | CONN_F_ONE_PACKET,
    c: ip4('10.0.0.1'),
    cport: 53,
    v: V,
    vport: 53,
    d: D,
    dport: 53,
    destId: 4,
  });
  assert.equal(live.inactive[4], 1);
  assert.equal(t.lookupIn(17, 4, ip4('10.0.0.1'), 0, 53, V, 0, 53), -1);
  releaseOnePacket(t, h);
  assert.equal(live.inactive[4], 0);
  assert.equal(t.count, 0);
});
