import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gsoSegment, gsoWireLength, gsoMaxSegmentL3Length, gsoSegmentCount } from '../../src/packet/gso.js';
import { mssClamp } from '../../src/packet/mss.js';
import {
  buildArp,
  buildGratuitousArp,
  parseArp,
  ArpView,
  ARP_REPLY,
  ARP_REQUEST,
  buildNeighborSolicit,
  buildNeighborAdvert,
  ND_NA_F_SOLICITED,
} from '../../src/packet/arp.js';
import { parseFrame } from '../../src/packet/parse.js';
import { PacketView, AF_INET, ETH_P_ARP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/packet/view.js';
import {
  FrameBatch,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  SLOT_SIZE_GSO,
  VNET_F_NEEDS_CSUM,
} from '../../src/packet/frame.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { l4ChecksumVerify, ipv4VerifyHeaderChecksum } from '../../src/packet/checksum.js';
import { parseAddress, parseMac, formatAddress } from '../../src/packet/addr.js';
import { eth, ipv4, ipv6, tcp, bytesOf, concat, diffBytes } from '../../src/packet/builder.js';

const CWR = 0x80;

for (const [name, v6, payloadLen, mss, partial] of [
  ['TCPv4 10000/1448 partial', false, 10000, 1448, true],
  ['TCPv4 exact multiple', false, 4000, 1000, false],
  ['TCPv6 with ext header 5000/1440', true, 5000, 1440, true],
  ['TCPv4 smaller than mss', false, 500, 1448, false],
] as [string, boolean, number, number, boolean][]) {
  test(`gsoSegment: ${name}`, () => {
    const payload = bytesOf(payloadLen, 3);
    const l4 = tcp({
      sport: 1,
      dport: 80,
      seq: 0xfffff000,
      flags: TCP_ACK | TCP_PSH | TCP_FIN | CWR,
      payload,
      mss: undefined,
      options: new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
      csum: partial ? 'partial' : 'good',
    });
    const ip = v6
      ? ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: [{ type: 'dst' }] }, l4)
      : ipv4({ src: '10.0.0.1', dst: '10.0.0.2', id: 0xfffe, df: true }, l4);
    const f = eth({}, ip);
    const batch = new FrameBatch(12, SLOT_SIZE_GSO, false, 0);
    const s = batch.push(f, 2);
    batch.gsoType[s] = v6 ? GSO_TCPV6 : GSO_TCPV4;
    batch.gsoSize[s] = mss;
    if (partial) batch.vnetFlags[s] = VNET_F_NEEDS_CSUM;
    const v = new PacketView();
    assert.equal(parseFrame(batch.buf, batch.start[s]!, batch.len[s]!, v), 0);
    const hdr = v.l4Off - v.l3Off + v.l4HeaderLen;
    assert.equal(gsoMaxSegmentL3Length(v, mss), hdr + Math.min(mss, payloadLen));
    assert.equal(gsoWireLength(v, mss), 14 + hdr + Math.min(mss, payloadLen));
    const n = gsoSegment(batch, s, v);
    assert.equal(n, Math.ceil(payloadLen / mss));
    assert.equal(gsoSegmentCount(v, mss), n);
    const first = batch.total - n;
    const parts: Uint8Array[] = [];
    const sv = new PacketView();
    for (let k = 0; k < n; k++) {
      const seg = batch.frameBytes(first + k);
      assert.equal(parseFrame(seg, 0, seg.length, sv), 0, `seg ${k}`);
      assert.ok(l4ChecksumVerify(seg, sv), `seg ${k} tcp checksum`);
      if (!v6) {
        assert.ok(ipv4VerifyHeaderChecksum(seg, sv.l3Off, 20));
        assert.equal(sv.fragId, (0xfffe + k) & 0xffff);
        assert.equal(sv.dontFragment, 1);
      }
      const seq =
        ((seg[sv.l4Off + 4]! << 24) |
          (seg[sv.l4Off + 5]! << 16) |
          (seg[sv.l4Off + 6]! << 8) |
          seg[sv.l4Off + 7]!) >>>
        0;
      assert.equal(seq, (0xfffff000 + k * mss) >>> 0);
      assert.equal((sv.tcpFlags & (TCP_FIN | TCP_PSH)) !== 0, k === n - 1, `FIN/PSH seg ${k}`);
      assert.equal((sv.tcpFlags & CWR) !== 0, k === 0, `CWR seg ${k}`);
      assert.ok(sv.tcpFlags & TCP_ACK);
      assert.ok(seg.length <= gsoWireLength(v, mss));
      assert.equal(batch.ifindex[first + k], 2);
      parts.push(seg.slice(sv.l4Off + sv.l4HeaderLen, sv.l3End));
    }
    assert.equal(diffBytes(concat(...parts), payload), '');
  });
}

test('gsoSegment errors: UDP GSO unsupported, mss 0, family mismatch, pool exhausted', () => {
  const f = eth(
    {},
    ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 2, payload: bytesOf(5000) })),
  );
  const v = new PacketView();
  const mk = (cap: number, type: number, size: number): [FrameBatch, number] => {
    const b = new FrameBatch(cap, SLOT_SIZE_GSO, false, 0);
    const s = b.push(f, 1);
    b.gsoType[s] = type;
    b.gsoSize[s] = size;
    parseFrame(b.buf, b.start[s]!, b.len[s]!, v);
    return [b, s];
  };
  let [b, s] = mk(8, GSO_UDP_L4, 1000);
  assert.equal(gsoSegment(b, s, v), -Drop.GsoUnsupported);
  [b, s] = mk(8, GSO_TCPV4, 0);
  assert.equal(gsoSegment(b, s, v), -Drop.BadGsoMetadata);
  [b, s] = mk(8, GSO_TCPV6, 1000);
  assert.equal(gsoSegment(b, s, v), -Drop.BadGsoMetadata);
  [b, s] = mk(4, GSO_TCPV4, 1000);
  assert.equal(gsoSegment(b, s, v), -Drop.FramePoolExhausted);
  assert.equal(b.total, 1, 'nothing allocated on failure');
});

test('mssClamp: SYN MSS lowered, checksum stays valid (even and odd option offsets), partial untouched', () => {
  const v = new PacketView();
  for (const lead of [[], [1], [1, 1, 1]] as number[][]) {
    const opts = new Uint8Array([...lead, 2, 4, 0x05, 0xb4]);
    const f = eth(
      {},
      ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 2, flags: TCP_SYN, options: opts })),
    );
    parseFrame(f, 0, f.length, v);
    assert.equal(mssClamp(f, v, 1400, false), 1, `lead ${lead.length}`);
    const mo = v.l4Off + 20 + lead.length + 2;
    assert.equal((f[mo]! << 8) | f[mo + 1]!, 1400);
    assert.ok(l4ChecksumVerify(f, v), `lead ${lead.length}`);
    assert.equal(mssClamp(f, v, 1400, false), 0, 'already clamped');
  }
  const f6 = eth(
    {},
    ipv6(
      { src: '2001:db8::1', dst: '2001:db8::2' },
      tcp({ sport: 1, dport: 2, flags: TCP_SYN | TCP_ACK, mss: 1440, csum: 'partial' }),
    ),
  );
  parseFrame(f6, 0, f6.length, v);
  const before = f6.slice(v.l4CsumOff, v.l4CsumOff + 2);
  assert.equal(mssClamp(f6, v, 1200, true), 1);
  assert.deepEqual(f6.slice(v.l4CsumOff, v.l4CsumOff + 2), before);
  const ack = eth(
    {},
    ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 2, flags: TCP_ACK, mss: 1460 })),
  );
  parseFrame(ack, 0, ack.length, v);
  assert.equal(mssClamp(ack, v, 1000, false), 0, 'not a SYN');
});

test('ARP request/reply/gratuitous build and parse', () => {
  const buf = new Uint8Array(64);
  const me = parseMac('02:00:00:00:00:01')!;
  const peer = parseMac('02:00:00:00:00:02')!;
  const n = buildArp(buf, 0, ARP_REPLY, me, 0x0a000001, peer, 0x0a000002, peer);
  assert.equal(n, 42);
  const v = new PacketView();
  assert.equal(parseFrame(buf, 0, n, v), 0);
  assert.equal(v.ethType, ETH_P_ARP);
  const a = new ArpView();
  assert.equal(parseArp(buf, 14, n, a), 0);
  assert.equal(a.op, ARP_REPLY);
  assert.equal(a.senderIp, 0x0a000001);
  assert.equal(a.targetIp, 0x0a000002);
  assert.deepEqual(Array.from(a.senderMac), Array.from(me));
  buildGratuitousArp(buf, 0, me, 0xc0a80001);
  parseArp(buf, 14, 42, a);
  assert.equal(a.op, ARP_REQUEST);
  assert.equal(a.senderIp, a.targetIp);
  assert.deepEqual(Array.from(buf.slice(0, 6)), [255, 255, 255, 255, 255, 255]);
  assert.equal(parseArp(buf, 14, 30, a), -1);
});

test('NDP solicitation/advertisement: solicited-node multicast, options, checksum', () => {
  const buf = new Uint8Array(128);
  const me = parseMac('02:00:00:00:00:01')!;
  const src = parseAddress('2001:db8::1')!.words;
  const target = parseAddress('2001:db8::aa:bbcc:ddee')!.words;
  const n = buildNeighborSolicit(buf, 0, me, src, target, null, null);
  const v = new PacketView();
  assert.equal(parseFrame(buf, 0, n, v), 0);
  assert.equal(v.icmpType, 135);
  assert.equal(v.ttl, 255);
  assert.equal(formatAddress(v.af, v.daddr), 'ff02::1:ffcc:ddee');
  assert.deepEqual(Array.from(buf.slice(0, 6)), [0x33, 0x33, 0xff, 0xcc, 0xdd, 0xee]);
  assert.ok(l4ChecksumVerify(buf, v));
  assert.equal(buf[v.l4Off + 24], 1);
  const m = buildNeighborAdvert(buf, 0, me, target, src, me, target, ND_NA_F_SOLICITED);
  assert.equal(parseFrame(buf, 0, m, v), 0);
  assert.equal(v.icmpType, 136);
  assert.ok(l4ChecksumVerify(buf, v));
  assert.equal(buf[v.l4Off + 4], 0x40);
  assert.equal(buf[v.l4Off + 24], 2);
  assert.equal(v.af === AF_INET, false);
});
