import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, MAC } from '../helpers/topo.js';
import { FWD_MASQ, FWD_DROUTE } from '../../src/core/services.js';
import { eth, ipv4, tcp } from '../../src/packet/builder.js';
import { formatMac } from '../../src/packet/addr.js';
import { IPPROTO_TCP, TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import { Drop } from '../../src/packet/drop-reasons.js';

const NEW_CLIENT = '10.0.0.7'; // on-link on eth0, unknown to the neighbour table
const NEW_CLIENT_MAC = '02:00:00:00:00:77';

function synFrom(client: string, srcMac: string): Uint8Array {
  return eth(
    { src: srcMac, dst: MAC.eth0 },
    ipv4({ src: client, dst: '10.0.0.100' }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
  );
}

function synAck(client: string): Uint8Array {
  return eth(
    { src: MAC.rs1, dst: MAC.eth1 },
    ipv4(
      { src: '172.16.0.2', dst: client },
      tcp({ sport: 8080, dport: 40000, flags: TCP_SYN | TCP_ACK, ack: 1001 }),
    ),
  );
}

function setup(fwd: number) {
  const t = makeTopo();
  const key = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w('172.16.0.2'), port: 8080, fwd });
  return t;
}

test('NAT: the first reply reaches an on-link client the neighbour table did not know', () => {
  const t = setup(FWD_MASQ);
  t.wire.inject(1, synFrom(NEW_CLIENT, NEW_CLIENT_MAC));
  t.run(1000);
  assert.equal(t.wire.sent.length, 1, 'SYN forwarded to the real server');
  t.wire.sent.length = 0;
  t.wire.inject(2, synAck(NEW_CLIENT));
  t.run(1001);
  assert.equal(t.wire.sent.length, 1, 'SYN-ACK forwarded, not dropped for want of a neighbour');
  const out = t.wire.sent[0]!;
  assert.equal(out.ifindex, 1);
  assert.equal(formatMac(out.bytes.subarray(0, 6)), NEW_CLIENT_MAC);
  assert.equal(t.d.engine.drops[Drop.NoNeighbour], 0);
});

test('NAT: a client behind the router is not learned from the frame (the route has a gateway)', () => {
  const t = setup(FWD_MASQ);
  // pretend the router has not been resolved: remove knowledge by using a fresh gateway-routed client
  t.wire.inject(1, synFrom('192.0.2.9', '02:00:00:00:00:99'));
  t.run(1000);
  t.wire.sent.length = 0;
  t.wire.inject(2, synAck('192.0.2.9'));
  t.run(1001);
  assert.equal(t.wire.sent.length, 1);
  // the reply goes to the router's known MAC, not to the frame's source MAC
  assert.equal(formatMac(t.wire.sent[0]!.bytes.subarray(0, 6)), MAC.router);
});

test('DR: nothing is learned (replies do not pass the director)', () => {
  const t = setup(FWD_DROUTE);
  t.wire.inject(1, synFrom(NEW_CLIENT, NEW_CLIENT_MAC));
  t.run(1000);
  assert.equal(t.wire.sent.length, 1);
  assert.equal(t.d.net.findNeighbour(4, w(NEW_CLIENT), 0, 1), -1);
});
