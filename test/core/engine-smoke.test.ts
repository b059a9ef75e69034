import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, MAC } from '../helpers/topo.js';
import { eth, ipv4, tcp } from '../../src/packet/builder.js';
import { parseFrame } from '../../src/packet/parse.js';
import { PacketView, TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import { formatAddress, formatMac, parseMac } from '../../src/packet/addr.js';
import { l4ChecksumVerify, ipv4VerifyHeaderChecksum } from '../../src/packet/checksum.js';
import { FWD_MASQ, FWD_TUNNEL } from '../../src/core/services.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { IPPROTO_TCP } from '../../src/packet/view.js';

function parsed(bytes: Uint8Array): PacketView {
  const v = new PacketView();
  assert.equal(parseFrame(bytes, 0, bytes.length, v), 0);
  return v;
}

test('NAT v4: SYN is DNATed to the real server, SYN-ACK SNATed back, ACK establishes', () => {
  const t = makeTopo();
  const key = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w('172.16.0.2'), port: 8080, fwd: FWD_MASQ });
  const syn = eth(
    { src: MAC.client, dst: MAC.eth0 },
    ipv4(
      { src: '10.0.0.2', dst: '10.0.0.100', ttl: 64 },
      tcp({ sport: 40000, dport: 80, flags: TCP_SYN, seq: 1 }),
    ),
  );
  t.wire.inject(1, syn);
  t.run(1000);
  assert.equal(t.wire.sent.length, 1, `dropped: ${JSON.stringify([...t.wire.dropCounts])}`);
  const out = t.wire.sent[0]!;
  assert.equal(out.ifindex, 2);
  const v = parsed(out.bytes);
  assert.equal(formatAddress(4, v.daddr), '172.16.0.2');
  assert.equal(v.dport, 8080);
  assert.equal(formatAddress(4, v.saddr), '10.0.0.2');
  assert.equal(v.ttl, 64, 'inbound keeps its TTL (LOCAL_IN)');
  assert.equal(formatMac(out.bytes, 0), MAC.rs1);
  assert.equal(formatMac(out.bytes, 6), MAC.eth1);
  assert.ok(ipv4VerifyHeaderChecksum(out.bytes, v.l3Off, v.l3HeaderLen));
  assert.ok(l4ChecksumVerify(out.bytes, v));

  const synack = eth(
    { src: MAC.rs1, dst: MAC.eth1 },
    ipv4(
      { src: '172.16.0.2', dst: '10.0.0.2', ttl: 64 },
      tcp({ sport: 8080, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 2 }),
    ),
  );
  t.wire.inject(2, synack);
  t.run(1001);
  assert.equal(t.wire.sent.length, 2);
  const back = t.wire.sent[1]!;
  assert.equal(back.ifindex, 1);
  const b = parsed(back.bytes);
  assert.equal(formatAddress(4, b.saddr), '10.0.0.100');
  assert.equal(b.sport, 80);
  assert.equal(b.ttl, 63, 'a reply is forwarded: one hop');
  assert.equal(formatMac(back.bytes, 0), MAC.client);
  assert.ok(l4ChecksumVerify(back.bytes, b));

  const ack = eth(
    { src: MAC.client, dst: MAC.eth0 },
    ipv4(
      { src: '10.0.0.2', dst: '10.0.0.100' },
      tcp({ sport: 40000, dport: 80, flags: TCP_ACK, seq: 2, ack: 10 }),
    ),
  );
  t.wire.inject(1, ack);
  t.run(1002);
  assert.equal(t.wire.sent.length, 3);
  const destId = t.d.services.getService(key)!.dests[0]!.id;
  assert.equal(t.d.live.active[destId], 1);
  assert.equal(t.d.live.inactive[destId], 0);
  assert.equal(t.d.conns.count, 1);
});

test('ARP: a reply refreshes a neighbour lvsd uses; unsolicited ARP creates none', () => {
  const t = makeTopo();
  const net = t.d.net;
  const before = net.neighCount;
  const arp = (senderIp: string, senderMac: string): Uint8Array => {
    const b = new Uint8Array(42);
    b.set(parseMac('ff:ff:ff:ff:ff:ff')!, 0);
    b.set(parseMac(senderMac)!, 6);
    b[12] = 0x08;
    b[13] = 0x06;
    b.set([0, 1, 8, 0, 6, 4, 0, 2], 14); // Ethernet/IPv4, reply
    b.set(parseMac(senderMac)!, 22);
    b.set(senderIp.split('.').map(Number), 28);
    return b;
  };
  t.wire.inject(2, arp('172.16.0.2', '02:00:00:00:00:99'));
  t.wire.inject(2, arp('172.16.0.77', '02:00:00:00:00:77'));
  t.run(1000);
  assert.equal(t.wire.toKernel.length, 2, 'ARP always stays with the kernel too');
  assert.equal(net.neighCount, before, 'no entry created for 172.16.0.77');
  const n = net.findNeighbour(4, w('172.16.0.2'), 0, 2);
  assert.ok(n >= 0);
  assert.equal(formatMac(net.nMac, n * 6), '02:00:00:00:00:99');
  assert.equal(net.findNeighbour(4, w('172.16.0.77'), 0, 2), -1);
});

test('TUN: a real server reached by a route with no source address of ours is a counted drop', () => {
  const t = makeTopo();
  // 203.0.113.0/24 via an interface that has no IPv4 address
  t.d.net.setInterface({ ifindex: 4, name: 'eth3', mac: parseMac('02:00:00:00:04:01')!, mtu: 1500 });
  t.d.net.addRoute({ af: 4, dst: w('203.0.113.0'), prefixLen: 24, ifindex: 4 });
  t.d.net.setNeighbour(4, w('203.0.113.5'), 4, parseMac('02:00:00:00:04:05')!);
  const key = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w('203.0.113.5'), fwd: FWD_TUNNEL });
  t.wire.inject(
    1,
    eth(
      { src: MAC.client, dst: MAC.eth0 },
      ipv4({ src: '10.0.0.2', dst: '10.0.0.100' }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
    ),
  );
  t.run(1000);
  assert.equal(t.wire.sent.length, 0);
  assert.equal(t.wire.dropCounts.get(Drop.NoRoute), 1);
});
