import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, MAC } from '../helpers/topo.js';
import { sUdp } from '../helpers/flows.js';
import { FWD_MASQ, FWD_DROUTE, SVC_F_ONEPACKET } from '../../src/core/services.js';
import { formatMac } from '../../src/packet/addr.js';
import { IPPROTO_UDP } from '../../src/packet/view.js';

function setup(fwd = FWD_MASQ) {
  const t = makeTopo();
  const key = { af: 4, proto: IPPROTO_UDP, addr: w('10.0.0.100'), port: 53 };
  t.d.services.addService(key, { scheduler: 'rr', flags: SVC_F_ONEPACKET });
  t.d.services.addDest(key, { addr: w('172.16.0.2'), port: 53, fwd });
  return t;
}

test('a NAT real server packet with no connection is routed unchanged, TTL - 1 (kernel: ip_forward, §5.2)', () => {
  const t = setup();
  const reply = sUdp('172.16.0.2', 53, '10.0.0.2', 40000, new Uint8Array([1, 2, 3]));
  t.wire.inject(2, reply);
  t.run(1000);
  assert.equal(t.wire.sent.length, 1, 'forwarded, not handed to the kernel (steering took its copy)');
  const out = t.wire.sent[0]!;
  assert.equal(out.ifindex, 1);
  assert.equal(formatMac(out.bytes.subarray(0, 6)), MAC.client);
  // IPv4 header: TTL one less, source and destination unchanged, header checksum still valid
  const ip = out.bytes.subarray(14);
  assert.equal(ip[8], reply[14 + 8]! - 1);
  assert.deepEqual([...ip.subarray(12, 20)], [...reply.subarray(14 + 12, 14 + 20)]);
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += (ip[k]! << 8) | ip[k + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(sum, 0xffff);
  assert.equal(t.d.engine.forwardedUnmatched, 1);
});

test('not forwarded: to the director itself, from another port or host, from a DR real server', () => {
  const t = setup();
  t.wire.inject(2, sUdp('172.16.0.2', 53, '172.16.0.1', 40000)); // to the director's own address
  t.wire.inject(2, sUdp('172.16.0.2', 54, '10.0.0.2', 40000)); // not the service port
  t.wire.inject(2, sUdp('172.16.0.3', 53, '10.0.0.2', 40000)); // not a real server
  t.run(1000);
  assert.equal(t.wire.sent.length, 0);
  assert.equal(t.wire.toKernel.length, 3);
  const dr = setup(FWD_DROUTE);
  dr.wire.inject(2, sUdp('172.16.0.2', 53, '10.0.0.2', 40000));
  dr.run(1000);
  assert.equal(dr.wire.sent.length, 0, 'DR replies are never steered; the kernel routes them');
});
