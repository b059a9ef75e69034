import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFrame,
  parseL3,
  parseTunnel,
  TunnelView,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
  TUN_NONE,
} from '../../src/packet/parse.js';
import {
  PacketView,
  AF_INET,
  AF_INET6,
  ETH_P_ARP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_SCTP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  TCP_SYN,
  TCP_ACK,
} from '../../src/packet/view.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { formatAddress } from '../../src/packet/addr.js';
import { ipv4SetHeaderChecksum } from '../../src/packet/checksum.js';
import {
  eth,
  ipv4,
  ipv6,
  tcp,
  udp,
  sctp,
  icmp4,
  icmp6,
  raw,
  ipip,
  gue,
  gre,
  bytesOf,
} from '../../src/packet/builder.js';

const C4 = '192.0.2.10';
const V4 = '198.51.100.1';
const C6 = '2001:db8::10';
const V6 = '2001:db8:1::1';

function parse(frame: Uint8Array, v = new PacketView()): { r: number; v: PacketView } {
  const buf = new Uint8Array(frame.length + 8);
  buf.set(frame, 8);
  const r = parseFrame(buf, 8, frame.length, v);
  return { r, v };
}

interface Row {
  name: string;
  frame: Uint8Array;
  r?: number;
  expect?: Partial<Record<keyof PacketView, number | string>>;
}

const tcp4 = eth(
  {},
  ipv4({ src: C4, dst: V4, df: true }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN, mss: 1460 })),
);
const orig4 = ipv4({ src: V4, dst: C4 }, tcp({ sport: 80, dport: 40000, payload: bytesOf(100) }));
const orig6 = ipv6({ src: V6, dst: C6 }, udp({ sport: 53, dport: 5353, payload: bytesOf(50) }));

const rows: Row[] = [
  {
    name: 'TCP/IPv4 SYN with MSS, DF',
    frame: tcp4,
    expect: {
      af: AF_INET,
      proto: IPPROTO_TCP,
      saddr: C4,
      daddr: V4,
      sport: 40000,
      dport: 80,
      tcpFlags: TCP_SYN,
      l4HeaderLen: 24,
      l3HeaderLen: 20,
      dontFragment: 1,
      l3Off: 22,
      l4Off: 42,
      l4CsumOff: 58,
      ttl: 64,
    },
  },
  {
    name: 'UDP/IPv4 with padding (frame longer than IP)',
    frame: eth({ pad: 20 }, ipv4({ src: C4, dst: V4 }, udp({ sport: 1, dport: 53 }))),
    expect: { proto: IPPROTO_UDP, l3End: 8 + 14 + 28, l4CsumOff: 8 + 34 + 6 },
  },
  {
    name: '802.1Q tag',
    frame: eth({ vlans: [{ tci: 0x2064 }] }, ipv4({ src: C4, dst: V4 }, udp({ sport: 1, dport: 2 }))),
    expect: { vlanTci: 0x2064, l3Off: 8 + 18, sport: 1, dport: 2 },
  },
  {
    name: 'QinQ 802.1ad + 802.1Q',
    frame: eth(
      { vlans: [{ tci: 100 }, { tci: 200 }] },
      ipv4({ src: C4, dst: V4 }, udp({ sport: 1, dport: 2 })),
    ),
    expect: { vlanTci: 100, l3Off: 8 + 22 },
  },
  {
    name: 'ARP',
    frame: eth({ ethType: ETH_P_ARP }, new Uint8Array(28)),
    expect: { ethType: ETH_P_ARP, af: 0 },
  },
  {
    name: 'unknown ethertype',
    frame: eth({ ethType: 0x88cc }, new Uint8Array(40)),
    r: -Drop.UnknownEthertype,
  },
  {
    name: 'IPv4 options (NOP, RR)',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4, options: new Uint8Array([1, 7, 7, 4, 0, 0, 0, 0]) },
        udp({ sport: 5, dport: 6 }),
      ),
    ),
    expect: { l3HeaderLen: 28, sport: 5 },
  },
  {
    name: 'IPv4 bad option length',
    frame: eth(
      {},
      ipv4({ src: C4, dst: V4, options: new Uint8Array([7, 9, 4, 0]) }, udp({ sport: 5, dport: 6 })),
    ),
    r: -Drop.BadIpv4Options,
  },
  {
    name: 'IPv4 IHL < 5',
    frame: eth({}, ipv4({ src: C4, dst: V4, ihl: 4 }, udp({ sport: 1, dport: 2 }))),
    r: -Drop.BadIpv4HeaderLength,
  },
  {
    name: 'IPv4 total length > frame',
    frame: eth({}, ipv4({ src: C4, dst: V4, totalLength: 200 }, udp({ sport: 1, dport: 2 }))),
    r: -Drop.BadIpv4TotalLength,
  },
  {
    name: 'IPv4 total length < IHL',
    frame: eth({}, ipv4({ src: C4, dst: V4, totalLength: 12 }, udp({ sport: 1, dport: 2 }))),
    r: -Drop.BadIpv4TotalLength,
  },
  {
    // ip_rcv drops it before IPVS sees it; so must lvsd, which took the kernel's copy
    name: 'IPv4 bad header checksum',
    frame: eth({}, ipv4({ src: C4, dst: V4, ipCsum: 'bad' }, tcp({ sport: 1, dport: 80, flags: TCP_SYN }))),
    r: -Drop.BadIpv4Checksum,
  },
  {
    name: 'IPv4 bad header checksum with options',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4, ipCsum: 'bad', options: new Uint8Array([1, 1, 1, 1]) },
        udp({ sport: 5, dport: 6 }),
      ),
    ),
    r: -Drop.BadIpv4Checksum,
  },
  {
    name: 'version mismatch',
    frame: eth({ ethType: 0x0800 }, ipv4({ src: C4, dst: V4, version: 6 }, udp({ sport: 1, dport: 2 }))),
    r: -Drop.BadIpVersion,
  },
  {
    name: 'IPv4 first fragment (MF)',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4, mf: true, id: 77 },
        udp({ sport: 9, dport: 10, payload: bytesOf(16), length: 100 }),
      ),
    ),
    expect: { isFragment: 1, moreFragments: 1, fragOffset: 0, fragId: 77, sport: 9 },
  },
  {
    name: 'IPv4 non-first fragment',
    frame: eth({}, ipv4({ src: C4, dst: V4, fragOffset: 1480, id: 77 }, raw(IPPROTO_UDP, bytesOf(30)))),
    expect: { isFragment: 1, fragOffset: 1480, l4Off: -1, proto: IPPROTO_UDP, sport: 0 },
  },
  {
    name: 'TCP data offset < 5',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4 },
        (() => {
          const t = tcp({ sport: 1, dport: 2 });
          t.bytes[12] = 0x40;
          return t;
        })(),
      ),
    ),
    r: -Drop.BadTcpDataOffset,
  },
  {
    name: 'TCP data offset beyond packet',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4 },
        (() => {
          const t = tcp({ sport: 1, dport: 2 });
          t.bytes[12] = 0xf0;
          return t;
        })(),
      ),
    ),
    r: -Drop.BadTcpDataOffset,
  },
  {
    name: 'UDP length mismatch',
    frame: eth({}, ipv4({ src: C4, dst: V4 }, udp({ sport: 1, dport: 2, length: 20 }))),
    r: -Drop.BadUdpLength,
  },
  {
    name: 'UDP length < 8',
    frame: eth({}, ipv4({ src: C4, dst: V4 }, udp({ sport: 1, dport: 2, length: 4 }))),
    r: -Drop.BadUdpLength,
  },
  {
    name: 'SCTP',
    frame: eth({}, ipv4({ src: C4, dst: V4 }, sctp({ sport: 3868, dport: 3869 }))),
    expect: { proto: IPPROTO_SCTP, sport: 3868, dport: 3869, l4CsumOff: -1, l4HeaderLen: 12 },
  },
  {
    name: 'ICMP echo',
    frame: eth({}, ipv4({ src: C4, dst: V4 }, icmp4({ type: 8, rest: 0x00010002 }))),
    expect: { proto: IPPROTO_ICMP, icmpType: 8, icmpCode: 0, innerL3Off: -1, l4CsumOff: 8 + 34 + 2 },
  },
  {
    name: 'ICMP frag needed quoting TCP',
    frame: eth(
      {},
      ipv4(
        { src: '203.0.113.1', dst: V4 },
        icmp4({ type: 3, code: 4, rest: 1400, payload: orig4.slice(0, 28) }),
      ),
    ),
    expect: {
      icmpType: 3,
      icmpCode: 4,
      innerAf: AF_INET,
      innerProto: IPPROTO_TCP,
      innerSaddr: V4,
      innerDaddr: C4,
      innerSport: 80,
      innerDport: 40000,
      innerL3Off: 8 + 42,
      innerL4Off: 8 + 62,
      innerL3HeaderLen: 20,
    },
  },
  {
    name: 'ICMP error short quote: no ports',
    frame: eth({}, ipv4({ src: '203.0.113.1', dst: V4 }, icmp4({ type: 11, payload: orig4.slice(0, 24) }))),
    expect: { innerAf: AF_INET, innerL4Off: -1, innerSport: 0, innerSaddr: V4 },
  },
  {
    name: 'ICMP error quote shorter than IP header',
    frame: eth({}, ipv4({ src: C4, dst: V4 }, icmp4({ type: 3, payload: orig4.slice(0, 12) }))),
    r: -Drop.IcmpInnerTruncated,
  },
  {
    name: 'ICMP error garbage quote',
    frame: eth(
      {},
      ipv4(
        { src: C4, dst: V4 },
        icmp4({ type: 3, payload: bytesOf(40, 9).map((x, i) => (i === 0 ? 0x95 : x)) }),
      ),
    ),
    r: -Drop.IcmpInnerMalformed,
  },
  {
    name: 'TCP/IPv6',
    frame: eth(
      {},
      ipv6({ src: C6, dst: V6, tc: 0xb8 }, tcp({ sport: 5000, dport: 443, flags: TCP_SYN | TCP_ACK })),
    ),
    expect: {
      af: AF_INET6,
      proto: IPPROTO_TCP,
      saddr: C6,
      daddr: V6,
      sport: 5000,
      dport: 443,
      tos: 0xb8,
      l3HeaderLen: 40,
      dontFragment: 1,
      tcpFlags: 0x12,
    },
  },
  {
    name: 'IPv6 hop + dst + routing ext headers',
    frame: eth(
      {},
      ipv6(
        { src: C6, dst: V6, ext: [{ type: 'hop' }, { type: 'dst', len: 16 }, { type: 'routing' }] },
        udp({ sport: 7, dport: 8 }),
      ),
    ),
    expect: { l3HeaderLen: 40 + 32, proto: IPPROTO_UDP, sport: 7, dport: 8 },
  },
  {
    name: 'IPv6 AH',
    frame: eth({}, ipv6({ src: C6, dst: V6, ext: [{ type: 'ah', len: 24 }] }, tcp({ sport: 7, dport: 8 }))),
    expect: { l3HeaderLen: 64, proto: IPPROTO_TCP },
  },
  {
    name: 'IPv6 first fragment',
    frame: eth(
      {},
      ipv6(
        { src: C6, dst: V6, ext: [{ type: 'frag', mf: true, id: 0xdeadbeef }] },
        udp({ sport: 7, dport: 8, payload: bytesOf(16), length: 2000 }),
      ),
    ),
    expect: { isFragment: 1, moreFragments: 1, fragId: 0xdeadbeef, fragHeaderOff: 8 + 54, sport: 7 },
  },
  {
    name: 'IPv6 non-first fragment',
    frame: eth(
      {},
      ipv6({ src: C6, dst: V6, ext: [{ type: 'frag', offset: 1448, id: 5 }] }, raw(IPPROTO_UDP, bytesOf(16))),
    ),
    expect: { isFragment: 1, moreFragments: 0, fragOffset: 1448, l4Off: -1 },
  },
  {
    name: 'IPv6 atomic fragment is a whole packet',
    frame: eth({}, ipv6({ src: C6, dst: V6, ext: [{ type: 'frag' }] }, udp({ sport: 1, dport: 2 }))),
    expect: { isFragment: 0, sport: 1 },
  },
  {
    name: 'IPv6 8 ext headers ok',
    frame: eth(
      {},
      ipv6(
        { src: C6, dst: V6, ext: Array.from({ length: 8 }, () => ({ type: 'dst' as const })) },
        udp({ sport: 1, dport: 2 }),
      ),
    ),
    expect: { l3HeaderLen: 40 + 64, sport: 1 },
  },
  {
    name: 'IPv6 9 ext headers too long',
    frame: eth(
      {},
      ipv6(
        { src: C6, dst: V6, ext: Array.from({ length: 9 }, () => ({ type: 'dst' as const })) },
        udp({ sport: 1, dport: 2 }),
      ),
    ),
    r: -Drop.Ipv6ExtHeaderChainTooLong,
  },
  {
    name: 'IPv6 payload length > frame',
    frame: eth({}, ipv6({ src: C6, dst: V6, payloadLength: 500 }, udp({ sport: 1, dport: 2 }))),
    r: -Drop.BadIpv6PayloadLength,
  },
  {
    name: 'ICMPv6 packet too big quoting UDP',
    frame: eth({}, ipv6({ src: '2001:db8:ff::1', dst: V6 }, icmp6({ type: 2, rest: 1280, payload: orig6 }))),
    expect: {
      proto: IPPROTO_ICMPV6,
      icmpType: 2,
      innerAf: AF_INET6,
      innerProto: IPPROTO_UDP,
      innerSaddr: V6,
      innerDaddr: C6,
      innerSport: 53,
      innerDport: 5353,
      innerL3HeaderLen: 40,
    },
  },
  {
    name: 'ICMPv6 error quoting a packet with ext headers',
    frame: eth(
      {},
      ipv6(
        { src: '2001:db8:ff::1', dst: V6 },
        icmp6({
          type: 1,
          code: 4,
          payload: ipv6({ src: V6, dst: C6, ext: [{ type: 'dst' }] }, tcp({ sport: 443, dport: 999 })),
        }),
      ),
    ),
    expect: { innerProto: IPPROTO_TCP, innerL3HeaderLen: 48, innerSport: 443, innerDport: 999 },
  },
  {
    name: 'ICMPv6 echo request',
    frame: eth({}, ipv6({ src: C6, dst: V6 }, icmp6({ type: 128 }))),
    expect: { icmpType: 128, innerL3Off: -1 },
  },
  {
    name: 'ICMPv6 error garbage',
    frame: eth(
      {},
      ipv6(
        { src: C6, dst: V6 },
        icmp6({ type: 1, payload: bytesOf(48, 3).map((x, i) => (i === 0 ? 0x45 : x)) }),
      ),
    ),
    r: -Drop.IcmpInnerMalformed,
  },
];

function fieldValue(v: PacketView, k: keyof PacketView): number | string {
  const x = v[k];
  if (x instanceof Uint32Array) return formatAddress(k.startsWith('inner') ? v.innerAf : v.af, x);
  return x as number;
}

for (const row of rows) {
  test(`parseFrame: ${row.name}`, () => {
    const { r, v } = parse(row.frame);
    assert.equal(r, row.r ?? 0, `return code (${r})`);
    for (const [k, want] of Object.entries(row.expect ?? {})) {
      assert.equal(fieldValue(v, k as keyof PacketView), want, `field ${k}`);
    }
  });
}

test('parseFrame: every truncation of every valid row gives a negative Drop and never throws', () => {
  const v = new PacketView();
  let checked = 0;
  for (const row of rows) {
    if (
      (row.r ?? 0) !== 0 ||
      row.name.includes('padding') ||
      row.name === 'ARP' ||
      row.name.includes('short quote')
    )
      continue;
    for (let n = 0; n < row.frame.length; n++) {
      const buf = row.frame.slice(0, n);
      const r = parseFrame(buf, 0, n, v);
      assert.ok(r < 0, `${row.name}: truncated to ${n} bytes gave ${r}`);
      checked++;
    }
  }
  assert.ok(checked > 1000);
});

test('parseFrame: random garbage never throws and returns 0 or a known Drop', () => {
  const v = new PacketView();
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 3000; i++) {
    const base = rows[i % rows.length]!.frame.slice();
    const flips = 1 + (i % 6);
    for (let f = 0; f < flips; f++) base[14 + (rnd() % Math.max(1, base.length - 14))] = rnd();
    const r = parseFrame(base, 0, base.length, v);
    assert.ok(r === 0 || (r < 0 && -r < Drop.Count), `row ${i}: ${r}`);
  }
});

test('parseFrame: length beyond buffer is truncated ethernet', () => {
  const v = new PacketView();
  assert.equal(parseFrame(tcp4, 0, tcp4.length + 1, v), -Drop.TruncatedEthernet);
});

test('parseL3 parses a bare IP packet and keeps frame-level fields', () => {
  const v = new PacketView();
  const { r } = parse(tcp4, v);
  assert.equal(r, 0);
  const inner = ipv6({ src: C6, dst: V6 }, udp({ sport: 11, dport: 12 }));
  assert.equal(parseL3(inner, 0, inner.length, v), 0);
  assert.equal(v.af, AF_INET6);
  assert.equal(v.sport, 11);
  assert.equal(v.frameStart, 8);
  assert.equal(parseL3(new Uint8Array([0x15, 0]), 0, 2, v), -Drop.BadIpVersion);
});

test('parseTunnel: IPIP, IPv6-in-IPv4, GRE (+csum/key/seq), GUE (+remcsum), IP6IP6, non-tunnel', () => {
  const v = new PacketView();
  const t = new TunnelView();
  const inner4 = ipv4({ src: C4, dst: V4 }, tcp({ sport: 1234, dport: 80 }));
  const inner6 = ipv6({ src: C6, dst: V6 }, tcp({ sport: 1234, dport: 80 }));
  const outer4 = { src: '10.0.0.1', dst: '10.0.0.2' };
  const outer6 = { src: 'fd00::1', dst: 'fd00::2' };
  const cases: [string, Uint8Array, number, number, number, number][] = [
    ['ipip', ipip(outer4, inner4), TUN_IPIP, AF_INET, 20, 0],
    ['6in4', ipip(outer4, inner6), TUN_IPIP, AF_INET6, 20, 0],
    ['ip6ip6', ipip(outer6, inner6), TUN_IPIP, AF_INET6, 40, 0],
    ['4in6', ipip(outer6, inner4), TUN_IPIP, AF_INET, 40, 0],
    ['gre', gre(outer4, {}, inner4), TUN_GRE, AF_INET, 24, 4],
    ['gre csum key seq', gre(outer4, { csum: true, key: 7, seq: 9 }, inner6), TUN_GRE, AF_INET6, 36, 16],
    ['gue', gue(outer4, { sport: 5555, dport: 6080 }, inner4), TUN_GUE, AF_INET, 32, 12],
    [
      'gue6 remcsum',
      gue(outer6, { sport: 5555, dport: 6080, remcsum: { start: 20, offset: 36 } }, inner4),
      TUN_GUE,
      AF_INET,
      60,
      20,
    ],
    ['udp to other port', gue(outer4, { sport: 5555, dport: 6081 }, inner4), TUN_NONE, 0, -1, 0],
    ['plain', inner4, TUN_NONE, 0, -1, 0],
  ];
  for (const [name, pkt, type, af, innerOff, hdr] of cases) {
    assert.equal(parseTunnel(pkt, 0, pkt.length, v, t, 6080), 0, name);
    assert.equal(t.type, type, name);
    if (type === TUN_NONE) continue;
    assert.equal(t.innerAf, af, name);
    assert.equal(t.innerL3Off, innerOff, name);
    assert.equal(t.tunHeaderLen, hdr, name);
    assert.equal(parseL3(pkt, t.innerL3Off, t.innerEnd, v), 0, name);
    assert.equal(v.sport, 1234, name);
  }
  const g = gre(outer4, { key: 0xabcdef01, seq: 3 }, inner4);
  parseTunnel(g, 0, g.length, v, t);
  assert.equal(t.greKey, 0xabcdef01);
  assert.equal(t.greSeq, 3);
  const r = gue(outer4, { sport: 1, dport: 6080, remcsum: { start: 20, offset: 36 } }, inner4);
  parseTunnel(r, 0, r.length, v, t, 6080);
  assert.equal(t.remcsumStart, 20);
  assert.equal(t.remcsumOffset, 36);
  // GRE with an unknown protocol / version bits is malformed
  const bad = gre(outer4, {}, inner4);
  bad[23] = 0x01;
  assert.equal(parseTunnel(bad, 0, bad.length, v, t), -Drop.DecapMalformed);
  // IPIP whose payload is not IPv4
  const bad2 = ipip(outer4, inner6);
  bad2[9] = 4;
  ipv4SetHeaderChecksum(bad2, 0); // the outer header itself stays valid
  assert.equal(parseTunnel(bad2, 0, bad2.length, v, t), -Drop.DecapMalformed);
});
