import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encapsulate,
  EncapParams,
  tunnelOverhead,
  gueApplyRemcsum,
  greVerifyChecksum,
  TUN_F_CSUM,
  TUN_F_REMCSUM,
} from '../../src/packet/encap.js';
import {
  parseFrame,
  parseL3,
  parseTunnel,
  TunnelView,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from '../../src/packet/parse.js';
import {
  PacketView,
  AF_INET,
  AF_INET6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
} from '../../src/packet/view.js';
import { FrameBatch, HEADROOM, SLOT_SIZE_SMALL } from '../../src/packet/frame.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { parseAddress } from '../../src/packet/addr.js';
import { ipv4VerifyHeaderChecksum, l4ChecksumVerify } from '../../src/packet/checksum.js';
import { crc32c, sctpUpdateChecksum, sctpVerifyChecksum } from '../../src/packet/sctp.js';
import {
  sendIcmpError,
  icmpErrorAllowed,
  IcmpRateLimiter,
  ICMP_KIND_TOO_BIG,
  ICMP_KIND_PORT_UNREACH,
} from '../../src/packet/icmp-build.js';
import { eth, ipv4, ipv6, tcp, udp, sctp, bytesOf, diffBytes, icmp4 } from '../../src/packet/builder.js';

const W = (s: string): Uint32Array => parseAddress(s)!.words;

test('tunnelOverhead matches the reference table', () => {
  assert.equal(tunnelOverhead(TUN_IPIP, AF_INET, 0), 20);
  assert.equal(tunnelOverhead(TUN_IPIP, AF_INET6, 0), 40);
  assert.equal(tunnelOverhead(TUN_GUE, AF_INET, 0), 32);
  assert.equal(tunnelOverhead(TUN_GUE, AF_INET, TUN_F_REMCSUM), 40);
  assert.equal(tunnelOverhead(TUN_GRE, AF_INET, 0), 24);
  assert.equal(tunnelOverhead(TUN_GRE, AF_INET, TUN_F_CSUM), 28);
  assert.equal(tunnelOverhead(TUN_GRE, AF_INET6, TUN_F_CSUM), 48);
});

function place(inner: Uint8Array): { buf: Uint8Array; off: number } {
  const buf = new Uint8Array(HEADROOM + inner.length + 16);
  buf.set(inner, HEADROOM);
  return { buf, off: HEADROOM };
}

const inner4 = ipv4(
  { src: '192.0.2.1', dst: '198.51.100.1', df: true, tos: 0x2e },
  tcp({ sport: 999, dport: 80, payload: bytesOf(77) }),
);
const inner6 = ipv6(
  { src: '2001:db8::1', dst: '2001:db8:1::1', tc: 0xa1 },
  udp({ sport: 999, dport: 53, payload: bytesOf(31) }),
);

test('encap/decap round trips: every tunnel type x outer family x inner family x flags', () => {
  const v = new PacketView();
  const t = new TunnelView();
  const p = new EncapParams();
  for (const tunType of [TUN_IPIP, TUN_GUE, TUN_GRE]) {
    for (const outerAf of [AF_INET, AF_INET6]) {
      for (const inner of [inner4, inner6]) {
        for (const flags of [0, TUN_F_CSUM]) {
          const name = `type=${tunType} outer=${outerAf} inner=${inner[0]! >>> 4} flags=${flags}`;
          const { buf, off } = place(inner);
          p.tunType = tunType;
          p.outerAf = outerAf;
          p.saddr.set(W(outerAf === AF_INET ? '10.0.0.1' : 'fd00::1'));
          p.daddr.set(W(outerAf === AF_INET ? '10.0.0.2' : 'fd00::2'));
          p.ttl = 33;
          p.ipId = 0x12345;
          p.tunPort = 6080;
          p.srcPort = 40001;
          p.flags = flags;
          p.innerCsumStart = -1;
          const o = encapsulate(buf, off, inner.length, inner[0]! >>> 4 === 4 ? AF_INET : AF_INET6, p);
          assert.equal(off - o, tunnelOverhead(tunType, outerAf, flags), name);
          assert.equal(parseTunnel(buf, o, off + inner.length, v, t, 6080), 0, name);
          assert.equal(v.ttl, 33, name);
          assert.equal(v.tos, inner === inner4 ? 0x2e : 0xa1, `${name} tos copied`);
          if (outerAf === AF_INET) {
            assert.ok(ipv4VerifyHeaderChecksum(buf, o, 20), name);
            assert.equal(v.fragId, 0x2345, name);
            assert.equal(v.dontFragment, 1, `${name} DF copied`);
          }
          assert.equal(t.type, tunType, name);
          assert.equal(t.innerL3Off, off, name);
          if (tunType === TUN_IPIP) assert.equal(v.proto, inner === inner4 ? IPPROTO_IPIP : IPPROTO_IPV6);
          if (tunType === TUN_GUE) {
            assert.equal(v.proto, IPPROTO_UDP);
            assert.equal(v.sport, 40001);
            assert.equal(v.dport, 6080);
            const stored = (buf[v.l4CsumOff]! << 8) | buf[v.l4CsumOff + 1]!;
            if (flags & TUN_F_CSUM) assert.ok(l4ChecksumVerify(buf, v), `${name} UDP csum`);
            else assert.equal(stored, outerAf === AF_INET ? 0 : 0);
          }
          if (tunType === TUN_GRE && flags & TUN_F_CSUM) {
            assert.ok(greVerifyChecksum(buf, o + (outerAf === AF_INET ? 20 : 40), off + inner.length), name);
          }
          assert.equal(diffBytes(buf.slice(t.innerL3Off, t.innerEnd), inner), '', name);
          assert.equal(parseL3(buf, t.innerL3Off, t.innerEnd, v), 0);
          assert.equal(v.sport, 999);
        }
      }
    }
  }
});

test('encap: pmtuDisc off clears DF; IPv6 inner sets DF when on', () => {
  const v = new PacketView();
  const p = new EncapParams();
  p.saddr.set(W('10.0.0.1'));
  p.daddr.set(W('10.0.0.2'));
  p.pmtuDisc = false;
  let { buf, off } = place(inner4);
  let o = encapsulate(buf, off, inner4.length, AF_INET, p);
  parseL3(buf, o, off + inner4.length, v);
  assert.equal(v.dontFragment, 0);
  p.pmtuDisc = true;
  ({ buf, off } = place(inner6));
  o = encapsulate(buf, off, inner6.length, AF_INET6, p);
  parseL3(buf, o, off + inner6.length, v);
  assert.equal(v.dontFragment, 1);
});

test('GUE remote checksum offload: inner stays partial, decapsulator finishes it', () => {
  const v = new PacketView();
  const t = new TunnelView();
  const pin = ipv4(
    { src: '192.0.2.1', dst: '198.51.100.1' },
    tcp({ sport: 1, dport: 80, payload: bytesOf(101), csum: 'partial' }),
  );
  const { buf, off } = place(pin);
  const p = new EncapParams();
  p.tunType = TUN_GUE;
  p.saddr.set(W('10.0.0.1'));
  p.daddr.set(W('10.0.0.2'));
  p.tunPort = 6080;
  p.flags = TUN_F_REMCSUM | TUN_F_CSUM;
  p.innerCsumStart = off + 20;
  p.innerCsumOffset = 16;
  const o = encapsulate(buf, off, pin.length, AF_INET, p);
  assert.equal(p.outPartial, false);
  assert.equal(off - o, 40);
  assert.equal(parseTunnel(buf, o, off + pin.length, v, t, 6080), 0);
  assert.ok(l4ChecksumVerify(buf, v), 'outer UDP checksum over the partial inner');
  assert.equal(t.remcsumStart, 20);
  assert.equal(t.remcsumOffset, 36);
  assert.equal(parseL3(buf, t.innerL3Off, t.innerEnd, v), 0);
  assert.ok(!l4ChecksumVerify(buf, v), 'inner still partial');
  assert.ok(gueApplyRemcsum(buf, t));
  assert.ok(l4ChecksumVerify(buf, v), 'inner finished by decap');
});

test('encap with partial inner and outer checksum finishes the inner first', () => {
  const v = new PacketView();
  const t = new TunnelView();
  const pin = ipv6(
    { src: '2001:db8::1', dst: '2001:db8::2' },
    udp({ sport: 1, dport: 2, payload: bytesOf(40), csum: 'partial' }),
  );
  const { buf, off } = place(pin);
  const p = new EncapParams();
  p.tunType = TUN_GRE;
  p.outerAf = AF_INET6;
  p.saddr.set(W('fd00::1'));
  p.daddr.set(W('fd00::2'));
  p.flags = TUN_F_CSUM;
  p.innerCsumStart = off + 40;
  p.innerCsumOffset = 6;
  const o = encapsulate(buf, off, pin.length, AF_INET6, p);
  assert.equal(p.outPartial, false);
  assert.ok(greVerifyChecksum(buf, o + 40, off + pin.length));
  parseTunnel(buf, o, off + pin.length, v, t);
  assert.equal(t.type, TUN_GRE);
  parseL3(buf, t.innerL3Off, t.innerEnd, v);
  assert.ok(l4ChecksumVerify(buf, v));
  // without an outer checksum the inner stays partial for the device
  const b2 = place(pin);
  p.flags = 0;
  p.innerCsumStart = b2.off + 40;
  encapsulate(b2.buf, b2.off, pin.length, AF_INET6, p);
  assert.equal(p.outPartial, true);
});

// ------------------------------------------------------------------------------------------- SCTP

test('CRC32c known vectors (RFC 3720 B.4)', () => {
  assert.equal(crc32c(new Uint8Array(32), 0, 32), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff), 0, 32), 0x62a8ab43);
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(crc32c(inc, 0, 32), 0x46dd794e);
  const dec = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  assert.equal(crc32c(dec, 0, 32), 0x113fdb5c);
  assert.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283);
  // chaining and odd offsets/lengths
  assert.equal(crc32c(inc, 13, 19, crc32c(inc, 0, 13)), 0x46dd794e);
});

test('SCTP checksum: builder output verifies; port rewrite + recompute verifies', () => {
  const v = new PacketView();
  const f = eth(
    {},
    ipv4(
      { src: '10.0.0.1', dst: '10.0.0.2' },
      sctp({ sport: 5000, dport: 80, vtag: 0xabcdef, payload: bytesOf(37) }),
    ),
  );
  assert.equal(parseFrame(f, 0, f.length, v), 0);
  assert.ok(sctpVerifyChecksum(f, v.l4Off, v.l3End));
  f[v.l4Off + 3] = 81;
  assert.ok(!sctpVerifyChecksum(f, v.l4Off, v.l3End));
  sctpUpdateChecksum(f, v.l4Off, v.l3End);
  assert.ok(sctpVerifyChecksum(f, v.l4Off, v.l3End));
});

// ------------------------------------------------------------------------------------------- ICMP

function pushFrame(batch: FrameBatch, f: Uint8Array): number {
  return batch.push(f, 3);
}

test('ICMPv4 frag needed: fields, quote (IP header + data up to 576), checksums', () => {
  const batch = new FrameBatch(4, SLOT_SIZE_SMALL, false, 0);
  const big = eth(
    { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    ipv4(
      { src: '192.0.2.9', dst: '198.51.100.1', df: true },
      tcp({ sport: 1234, dport: 80, payload: bytesOf(1400) }),
    ),
  );
  const s = pushFrame(batch, big);
  batch.vlanTci[s] = 42;
  const v = new PacketView();
  assert.equal(parseFrame(batch.buf, batch.start[s]!, batch.len[s]!, v), 0);
  assert.ok(icmpErrorAllowed(v));
  const e = sendIcmpError(batch, s, v, ICMP_KIND_TOO_BIG, 1480, W('198.51.100.1'), 64);
  assert.ok(e > s);
  assert.equal(batch.outVlanTci[e], 42);
  assert.equal(batch.outIfindex[e], 3);
  const out = batch.frameBytes(e);
  assert.equal(out.length, 14 + 576);
  const ev = new PacketView();
  assert.equal(parseFrame(out, 0, out.length, ev), 0);
  assert.equal(ev.icmpType, 3);
  assert.equal(ev.icmpCode, 4);
  assert.equal((out[34 + 6]! << 8) | out[34 + 7]!, 1480);
  assert.ok(ipv4VerifyHeaderChecksum(out, 14, 20));
  assert.ok(l4ChecksumVerify(out, ev));
  assert.equal(ev.innerSport, 1234);
  assert.equal(ev.innerDport, 80);
  assert.deepEqual(Array.from(out.slice(0, 6)), [2, 0, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(out.slice(6, 12)), [2, 0, 0, 0, 0, 2]);
  assert.equal(diffBytes(out.slice(42), big.slice(14, 14 + 548)), '');
  // the error itself must not trigger another error
  assert.ok(!icmpErrorAllowed(ev));
  // MTU clamp to 68
  const e2 = sendIcmpError(batch, s, v, ICMP_KIND_TOO_BIG, 20, W('198.51.100.1'), 64);
  const out2 = batch.frameBytes(e2);
  assert.equal((out2[40]! << 8) | out2[41]!, 68);
});

test('ICMPv4 port unreachable for a small UDP packet quotes all of it', () => {
  const batch = new FrameBatch(2, SLOT_SIZE_SMALL, false, 0);
  const f = eth(
    {},
    ipv4({ src: '192.0.2.9', dst: '198.51.100.1' }, udp({ sport: 5, dport: 53, payload: bytesOf(3) })),
  );
  const s = pushFrame(batch, f);
  const v = new PacketView();
  parseFrame(batch.buf, batch.start[s]!, batch.len[s]!, v);
  const e = sendIcmpError(batch, s, v, ICMP_KIND_PORT_UNREACH, 0, W('198.51.100.1'), 64);
  const out = batch.frameBytes(e);
  const ev = new PacketView();
  assert.equal(parseFrame(out, 0, out.length, ev), 0);
  assert.equal(ev.icmpType, 3);
  assert.equal(ev.icmpCode, 3);
  assert.equal(out.length, 14 + 28 + 31);
  assert.ok(l4ChecksumVerify(out, ev));
  // pool exhausted
  assert.equal(
    sendIcmpError(batch, s, v, ICMP_KIND_PORT_UNREACH, 0, W('198.51.100.1'), 64),
    -Drop.FramePoolExhausted,
  );
});

test('ICMPv6 packet too big: MTU >= 1280, quote fits in 1280, checksum; port unreachable 1/4', () => {
  const batch = new FrameBatch(3, SLOT_SIZE_SMALL, false, 0);
  const f = eth(
    {},
    ipv6(
      { src: '2001:db8::9', dst: '2001:db8:1::1' },
      tcp({ sport: 1234, dport: 443, payload: bytesOf(1500) }),
    ),
  );
  const s = pushFrame(batch, f);
  const v = new PacketView();
  assert.equal(parseFrame(batch.buf, batch.start[s]!, batch.len[s]!, v), 0);
  const e = sendIcmpError(batch, s, v, ICMP_KIND_TOO_BIG, 1000, W('2001:db8:1::1'), 255);
  const out = batch.frameBytes(e);
  assert.equal(out.length, 14 + 1280);
  const ev = new PacketView();
  assert.equal(parseFrame(out, 0, out.length, ev), 0);
  assert.equal(ev.icmpType, 2);
  assert.equal(((out[58]! << 24) | (out[59]! << 16) | (out[60]! << 8) | out[61]!) >>> 0, 1280);
  assert.ok(l4ChecksumVerify(out, ev));
  assert.equal(ev.innerSport, 1234);
  const e2 = sendIcmpError(batch, s, v, ICMP_KIND_PORT_UNREACH, 0, W('2001:db8:1::1'), 255);
  const out2 = batch.frameBytes(e2);
  parseFrame(out2, 0, out2.length, ev);
  assert.equal(ev.icmpType, 1);
  assert.equal(ev.icmpCode, 4);
  assert.ok(l4ChecksumVerify(out2, ev));
});

test('icmpErrorAllowed refuses errors, non-first fragments, multicast/broadcast', () => {
  const v = new PacketView();
  const cases: [Uint8Array, boolean][] = [
    [eth({}, ipv4({ src: '192.0.2.1', dst: '224.0.0.1' }, udp({ sport: 1, dport: 2 }))), false],
    [eth({}, ipv4({ src: '0.0.0.0', dst: '10.0.0.1' }, udp({ sport: 1, dport: 2 }))), false],
    [eth({}, ipv4({ src: '192.0.2.1', dst: '10.0.0.1', fragOffset: 8 }, udp({ sport: 1, dport: 2 }))), false],
    [eth({}, ipv4({ src: '192.0.2.1', dst: '10.0.0.1' }, icmp4({ type: 8 }))), true],
    [eth({}, ipv6({ src: '2001:db8::1', dst: 'ff02::1' }, udp({ sport: 1, dport: 2 }))), false],
    [eth({}, ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }, udp({ sport: 1, dport: 2 }))), true],
  ];
  for (const [f, want] of cases) {
    parseFrame(f, 0, f.length, v);
    assert.equal(icmpErrorAllowed(v), want);
  }
});

test('IcmpRateLimiter: global burst 50 then 1/ms; per-destination burst 6 then 1/s', () => {
  const rl = new IcmpRateLimiter();
  const a = new Uint32Array(4);
  let ok = 0;
  for (let i = 0; i < 100; i++) {
    a[0] = i; // distinct destinations: only the global bucket applies
    if (rl.allow(AF_INET, a, 0)) ok++;
  }
  assert.equal(ok, 50);
  // after 10 ms, 10 more tokens
  ok = 0;
  for (let i = 0; i < 100; i++) {
    a[0] = 1000 + i;
    if (rl.allow(AF_INET, a, 10)) ok++;
  }
  assert.equal(ok, 10);
  const rl2 = new IcmpRateLimiter();
  a[0] = 0x0a000001;
  let same = 0;
  for (let i = 0; i < 20; i++) if (rl2.allow(AF_INET, a, 1000 + i)) same++;
  assert.equal(same, 6);
  assert.equal(rl2.allow(AF_INET, a, 1500), false);
  assert.equal(rl2.allow(AF_INET, a, 2100), true);
});
