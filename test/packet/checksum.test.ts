import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  sumBytes,
  fold,
  finish,
  csumReplace16,
  csumReplace32,
  ipv4HeaderChecksum,
  ipv4SetHeaderChecksum,
  ipv4VerifyHeaderChecksum,
  ipv4ReplaceAddress,
  ipv4DecrementTtl,
  l4ChecksumCompute,
  l4ChecksumVerify,
  l4ChecksumSetPartial,
  finalizePartial,
  updateL4ForAddressChange,
  updateL4ForPortChange,
} from '../../src/packet/checksum.js';
import { parseFrame } from '../../src/packet/parse.js';
import { PacketView, AF_INET, AF_INET6, IPPROTO_UDP } from '../../src/packet/view.js';
import { readAddr, writeAddr, parseAddress, formatAddress } from '../../src/packet/addr.js';
import { eth, ipv4, ipv6, tcp, udp, icmp6, bytesOf, diffBytes } from '../../src/packet/builder.js';

test('RFC 1071 §3 example: sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2', () => {
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(fold(sumBytes(b, 0, 8, 0)), 0xddf2);
  assert.equal(finish(sumBytes(b, 0, 8, 0)), 0x220d);
  // odd length pads with zero; offset honoured
  const odd = new Uint8Array([0xff, 0x12, 0x34, 0x56]);
  assert.equal(fold(sumBytes(odd, 1, 3, 0)), (0x1234 + 0x5600) & 0xffff);
  // fold handles sums beyond 32 bits
  assert.equal(fold(0x1_0000_0000 * 3 + 5), fold(3 + 5));
});

test('IPv4 header checksum: known header (RFC 1071 style example)', () => {
  // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7 — well-known example, checksum b861
  const h = new Uint8Array([
    0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7,
  ]);
  assert.equal(ipv4HeaderChecksum(h, 0, 20), 0xb861);
  assert.ok(ipv4VerifyHeaderChecksum(h, 0, 20));
  h[10] = 0;
  h[11] = 0;
  ipv4SetHeaderChecksum(h, 0);
  assert.equal((h[10]! << 8) | h[11]!, 0xb861);
  h[8] = 0x3f;
  assert.ok(!ipv4VerifyHeaderChecksum(h, 0, 20));
  h[8] = 0x40;
  ipv4DecrementTtl(h, 0);
  assert.equal(h[8], 0x3f);
  assert.ok(ipv4VerifyHeaderChecksum(h, 0, 20));
  ipv4ReplaceAddress(h, 0, 16, 0x0a000001);
  assert.ok(ipv4VerifyHeaderChecksum(h, 0, 20));
  assert.equal(h[16], 10);
});

test('RFC 1624 incremental 16/32-bit equals recompute', () => {
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(40);
    for (let j = 0; j < 40; j++) b[j] = rnd() & 0xff;
    const c0 = finish(sumBytes(b, 0, 40, 0));
    const o = (rnd() % 19) * 2;
    const old16 = (b[o]! << 8) | b[o + 1]!;
    const new16 = rnd() & 0xffff;
    b[o] = new16 >>> 8;
    b[o + 1] = new16 & 0xff;
    assert.equal(csumReplace16(c0, old16, new16), finish(sumBytes(b, 0, 40, 0)));
    const c1 = finish(sumBytes(b, 0, 40, 0));
    const old32 = ((b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!) >>> 0;
    const new32 = rnd();
    b[8] = new32 >>> 24;
    b[9] = (new32 >>> 16) & 0xff;
    b[10] = (new32 >>> 8) & 0xff;
    b[11] = new32 & 0xff;
    assert.equal(csumReplace32(c1, old32, new32), finish(sumBytes(b, 0, 40, 0)));
  }
});

test('address helpers: parse/format round trips, RFC 5952 canonical form', () => {
  const cases: [string, string][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ];
  for (const [input, want] of cases) {
    const a = parseAddress(input);
    assert.ok(a, input);
    assert.equal(formatAddress(a.af, a.words), want, input);
  }
  assert.deepEqual(Array.from(parseAddress('10.0.0.1')!.words), [0x0a000001, 0, 0, 0]);
  for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', ':::', '1:2:3:4:5:6:7:8:9', 'g::1', '']) {
    assert.equal(parseAddress(bad), null, bad);
  }
  const w = new Uint32Array(8);
  const b = new Uint8Array(20);
  const a6 = parseAddress('2001:db8::abcd')!;
  writeAddr(b, 2, AF_INET6, a6.words, 0);
  readAddr(b, 2, AF_INET6, w, 4);
  assert.equal(formatAddress(AF_INET6, w, 4), '2001:db8::abcd');
});

// ---------------------------------------------------------------------------------------------
// Property: incremental NAT rewrite == full recompute, for v4/v6, TCP/UDP, full and partial checksums.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

function randAddr(r: () => number, v6: boolean): string {
  if (!v6) return `${(r() % 223) + 1}.${r() & 0xff}.${r() & 0xff}.${(r() % 254) + 1}`;
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(((r() & 1 ? 0 : r()) & 0xffff).toString(16));
  g[0] = '2001';
  return g.join(':');
}

function rewrite(
  frame: Uint8Array,
  v: PacketView,
  which: 'saddr' | 'daddr',
  newAddr: Uint32Array,
  newPort: number,
  partial: boolean,
): void {
  const af = v.af;
  const isUdp4 = af === AF_INET && v.proto === IPPROTO_UDP;
  const addrOff =
    af === AF_INET ? v.l3Off + (which === 'saddr' ? 12 : 16) : v.l3Off + (which === 'saddr' ? 8 : 24);
  const old = which === 'saddr' ? v.saddr : v.daddr;
  writeAddr(frame, addrOff, af, newAddr, 0);
  if (af === AF_INET) ipv4SetHeaderChecksum(frame, v.l3Off);
  updateL4ForAddressChange(frame, v.l4CsumOff, old, newAddr, af, partial, isUdp4);
  const portOff = v.l4Off + (which === 'saddr' ? 0 : 2);
  const oldPort = (frame[portOff]! << 8) | frame[portOff + 1]!;
  frame[portOff] = newPort >>> 8;
  frame[portOff + 1] = newPort & 0xff;
  updateL4ForPortChange(frame, v.l4CsumOff, oldPort, newPort, partial, isUdp4);
}

test('property: incremental address+port rewrite equals full recompute (v4/v6 x TCP/UDP x full/partial)', () => {
  const r = rng(99);
  const v = new PacketView();
  const v2 = new PacketView();
  let n = 0;
  for (let i = 0; i < 800; i++) {
    const v6 = (i & 1) === 1;
    const isTcp = (i & 2) === 2;
    const partial = (i & 4) === 4;
    const payload = bytesOf(r() % 300, r() & 0xff);
    const l4 = isTcp
      ? tcp({
          sport: r() & 0xffff,
          dport: r() & 0xffff,
          seq: r(),
          ack: r(),
          payload,
          csum: partial ? 'partial' : 'good',
        })
      : udp({ sport: r() & 0xffff, dport: r() & 0xffff, payload, csum: partial ? 'partial' : 'good' });
    const ip = v6
      ? ipv6({ src: randAddr(r, true), dst: randAddr(r, true) }, l4)
      : ipv4({ src: randAddr(r, false), dst: randAddr(r, false) }, l4);
    const frame = eth({}, ip);
    assert.equal(parseFrame(frame, 0, frame.length, v), 0);
    const na = parseAddress(randAddr(r, v6))!.words;
    const np = r() & 0xffff;
    const which = r() & 1 ? 'saddr' : 'daddr';
    rewrite(frame, v, which, na, np, partial);
    assert.equal(parseFrame(frame, 0, frame.length, v2), 0);
    if (!partial) {
      const full = l4ChecksumCompute(frame, v2);
      const stored = (frame[v2.l4CsumOff]! << 8) | frame[v2.l4CsumOff + 1]!;
      assert.equal(stored, full, `row ${i} v6=${v6} tcp=${isTcp}`);
      assert.ok(l4ChecksumVerify(frame, v2));
    } else {
      // the stored value must equal the pseudo-header-only sum of the rewritten packet...
      const expectPartial = frame.slice();
      l4ChecksumSetPartial(expectPartial, v2);
      assert.equal(diffBytes(frame, expectPartial), '', `row ${i} partial field`);
      // ...and finishing it (as the NIC would) must give a valid full checksum
      finalizePartial(frame, v2.l4Off, v2.l4CsumOff - v2.l4Off, v2.l3End);
      assert.ok(l4ChecksumVerify(frame, v2), `row ${i} finalized partial verifies`);
      const full = l4ChecksumCompute(frame, v2);
      const stored = (frame[v2.l4CsumOff]! << 8) | frame[v2.l4CsumOff + 1]!;
      const norm = (x: number): number => (x === 0 ? 0xffff : x);
      assert.equal(norm(stored), norm(full), `row ${i} finalized == full`);
    }
    n++;
  }
  assert.equal(n, 800);
});

test('UDP/IPv4 zero checksum stays zero through rewrite; computed zero becomes 0xffff', () => {
  const v = new PacketView();
  const frame = eth(
    {},
    ipv4(
      { src: '10.0.0.1', dst: '10.0.0.2' },
      udp({ sport: 1, dport: 2, payload: bytesOf(10), csum: 'zero' }),
    ),
  );
  parseFrame(frame, 0, frame.length, v);
  rewrite(frame, v, 'daddr', parseAddress('10.9.9.9')!.words, 99, false);
  assert.equal((frame[v.l4CsumOff]! << 8) | frame[v.l4CsumOff + 1]!, 0);
  assert.ok(l4ChecksumVerify(frame, v));
  // find a port change that makes the incremental result 0 and check it is stored as 0xffff
  const f2 = eth(
    {},
    ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, udp({ sport: 1, dport: 2, payload: bytesOf(10) })),
  );
  parseFrame(f2, 0, f2.length, v);
  const c = (f2[v.l4CsumOff]! << 8) | f2[v.l4CsumOff + 1]!;
  // new checksum = ~(~c + ~old + new) = 0  <=>  ~c + ~old + new == 0xffff  <=>  new = c + old (mod 0xffff)
  let np = (c + 1) % 0xffff;
  if (np === 0) np = 0xffff;
  updateL4ForPortChange(f2, v.l4CsumOff, 1, np, false, true);
  f2[v.l4Off] = np >>> 8;
  f2[v.l4Off + 1] = np & 0xff;
  assert.equal((f2[v.l4CsumOff]! << 8) | f2[v.l4CsumOff + 1]!, 0xffff);
  assert.ok(l4ChecksumVerify(f2, v));
});

test('ICMPv6 checksum covers the pseudo-header (address change updates it)', () => {
  const v = new PacketView();
  const frame = eth(
    {},
    ipv6(
      { src: '2001:db8::1', dst: '2001:db8::2' },
      icmp6({ type: 128, rest: 0x10001, payload: bytesOf(33) }),
    ),
  );
  assert.equal(parseFrame(frame, 0, frame.length, v), 0);
  assert.ok(l4ChecksumVerify(frame, v));
  const na = parseAddress('2001:db8:99::77')!.words;
  writeAddr(frame, v.l3Off + 24, AF_INET6, na, 0);
  assert.ok(!l4ChecksumVerify(frame, v));
  updateL4ForAddressChange(frame, v.l4CsumOff, v.daddr, na, AF_INET6, false, false);
  assert.ok(l4ChecksumVerify(frame, v));
  frame[v.l4Off + 10] ^= 1;
  assert.ok(!l4ChecksumVerify(frame, v));
});
