/**
 * Spoofed and martian sources never create a connection: the kernel drops them in routing
 * (ip_route_input_slow "martian source", fib_validate_source for a local source address,
 * ip6_rcv_core for IPv6) before IPVS schedules, and lvsd has taken the packet at ingress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w } from '../helpers/topo.js';
import { cTcp, cUdp, drops } from '../helpers/flows.js';
import { FWD_MASQ } from '../../src/core/services.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { isMartianSource, parseAddress } from '../../src/packet/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP, TCP_SYN } from '../../src/packet/view.js';

function setup() {
  const t = makeTopo();
  for (const [af, vip, rs] of [
    [4, '10.0.0.100', '172.16.0.2'],
    [6, '2001:db8:1::100', '2001:db8:2::2'],
  ] as const) {
    for (const proto of [IPPROTO_TCP, IPPROTO_UDP]) {
      const key = { af, proto, addr: w(vip), port: proto === IPPROTO_TCP ? 80 : 53 };
      t.d.services.addService(key, { scheduler: 'rr' });
      t.d.services.addDest(key, { addr: w(rs), port: key.port, fwd: FWD_MASQ });
    }
  }
  return t;
}

test('isMartianSource: the kernel martian ranges, nothing else', () => {
  const m = (s: string): boolean => {
    const a = parseAddress(s)!;
    return isMartianSource(a.af, a.words, 0);
  };
  for (const s of [
    '0.0.0.0',
    '0.1.2.3',
    '127.0.0.1',
    '127.255.0.9',
    '224.0.0.5',
    '239.1.1.1',
    '255.255.255.255',
  ])
    assert.equal(m(s), true, s);
  for (const s of ['ff02::1', 'ff0e::9', '::1', '::', '::ffff:10.0.0.2']) assert.equal(m(s), true, s);
  for (const s of ['10.0.0.2', '1.0.0.0', '126.255.255.255', '128.0.0.1', '223.255.255.255', '240.0.0.1'])
    assert.equal(m(s), false, s);
  for (const s of ['2001:db8::1', '::2', 'fe80::1', '::10.0.0.2', 'fd00::1', '64:ff9b::a00:2'])
    assert.equal(m(s), false, s);
});

test('SYNs and datagrams from martian, VIP or director sources are counted drops, no connection', () => {
  const t = setup();
  const v4 = ['127.0.0.1', '0.0.0.0', '224.0.0.5', '255.255.255.255'];
  const v6 = ['::1', 'ff02::1', '::ffff:10.0.0.2', '::'];
  for (const [i, src] of [...v4, ...v6].entries()) {
    t.wire.inject(1, cTcp(src, 1000 + i, { flags: TCP_SYN }));
    t.wire.inject(1, cUdp(src, 2000 + i));
  }
  // the VIP itself, and the director's other addresses
  t.wire.inject(1, cTcp('10.0.0.100', 3000, { flags: TCP_SYN }));
  t.wire.inject(1, cTcp('2001:db8:1::100', 3001, { flags: TCP_SYN }));
  t.wire.inject(1, cUdp('10.0.0.100', 3002));
  t.wire.inject(1, cTcp('10.0.0.1', 3003, { flags: TCP_SYN }));
  t.wire.inject(1, cTcp('172.16.0.1', 3004, { flags: TCP_SYN }));
  t.wire.inject(1, cUdp('2001:db8:1::1', 3005));
  t.run(1000);
  assert.equal(t.d.conns.count, 0);
  assert.equal(t.wire.sent.length, 0);
  const d = drops(t);
  assert.equal(d[Drop.MartianSource], 2 * (v4.length + v6.length) + 3, JSON.stringify(d));
  assert.equal(d[Drop.SourceIsVip], 3, JSON.stringify(d));
  assert.equal(t.d.engine.drops[Drop.MartianSource], d[Drop.MartianSource]);
  // a real client still gets through
  t.wire.inject(1, cTcp('10.0.0.2', 4000, { flags: TCP_SYN }));
  t.wire.inject(1, cTcp('2001:db8:1::2', 4001, { flags: TCP_SYN }));
  t.run(1001);
  assert.equal(t.d.conns.count, 2);
  assert.equal(t.wire.sent.length, 2);
});
