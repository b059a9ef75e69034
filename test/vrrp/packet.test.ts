/**
 * VRRP codec: known-answer checksums computed by hand (RFC 1071 one's-complement sums, shown in
 * the comments), round trips for v2 / v3 over IPv4 and IPv6, and every wire-level rejection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  advertLength,
  decodeAdvert,
  decodeIpv4Advert,
  encodeAdvert,
  passwordAuthData,
  vrrpChecksum,
  type VrrpAdvert,
} from '../../src/vrrp/packet.js';
import { addressBytes, formatBytes } from '../../src/vrrp/io.js';

const b = (s: string): Uint8Array => addressBytes(s)!;

function advert(over: Partial<VrrpAdvert>): VrrpAdvert {
  return {
    version: 2,
    vrid: 51,
    priority: 100,
    intervalCs: 100,
    addresses: [b('10.0.0.100')],
    authType: 0,
    authData: new Uint8Array(8),
    ...over,
  };
}

test('v2 known answer: header, address, 8 zero auth bytes, checksum 0x7066', () => {
  // words: 0x2133 (v2, type 1, VRID 51) + 0x6401 (prio 100, 1 addr) + 0x0001 (auth 0, 1 s)
  //      + 0x0a00 + 0x0064 (10.0.0.100) = 0x8f99; ~0x8f99 = 0x7066
  const m = encodeAdvert(advert({}), 4, b('10.0.0.1'), b('224.0.0.18'));
  assert.deepEqual([...m], [0x21, 51, 100, 1, 0, 1, 0x70, 0x66, 10, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(m.length, advertLength(2, 4, 1));
});

test('v3 IPv4 known answer includes the pseudo-header: checksum 0x7573', () => {
  // VRRP: 0x3133 + 0x6401 + 0x0064 (100 cs) + 0x0a00 + 0x0064 = 0x9ffc
  // pseudo: 10.0.0.1 (0x0a00 0x0001) + 224.0.0.18 (0xe000 0x0012) + proto 0x0070 + len 0x000c
  // total 0x18a8b -> fold 0x8a8c -> ~ 0x7573
  const m = encodeAdvert(advert({ version: 3 }), 4, b('10.0.0.1'), b('224.0.0.18'));
  assert.deepEqual([...m], [0x31, 51, 100, 1, 0, 100, 0x75, 0x73, 10, 0, 0, 100]);
});

test('v3 IPv6 known answer: checksum 0xd477', () => {
  // VRRP: 0x3101 + 0xff01 + 0x0064 + fd00::1 (0xfd00 + 0x0001) ; pseudo: fe80::1 (0xfe80 + 0x0001)
  // + ff02::12 (0xff02 + 0x0012) + length 24 (0x0018) + next header 0x0070 = 0x42b84
  // fold 0x2b88 -> ~ 0xd477
  const m = encodeAdvert(
    advert({ version: 3, vrid: 1, priority: 255, addresses: [b('fd00::1')] }),
    6,
    b('fe80::1'),
    b('ff02::12'),
  );
  assert.equal(m.length, 24);
  assert.equal((m[6]! << 8) | m[7]!, 0xd477);
});

test('round trips: v2 PASS auth, v3 IPv4 with several addresses, v3 IPv6', () => {
  const src4 = b('10.0.0.1');
  const dst4 = b('224.0.0.18');
  const a2 = advert({
    authType: 1,
    authData: passwordAuthData('secret-too-long'),
    addresses: [b('10.0.0.100'), b('10.0.0.101')],
  });
  const m2 = encodeAdvert(a2, 4, src4, dst4);
  const d2 = decodeAdvert(m2, 0, m2.length, 4, src4, dst4, 255);
  assert.ok(typeof d2 !== 'string', String(d2));
  assert.equal(d2.version, 2);
  assert.equal(d2.authType, 1);
  assert.equal(new TextDecoder().decode(d2.authData), 'secret-t', 'PASS is truncated to 8 bytes');
  assert.deepEqual(d2.addresses.map(formatBytes), ['10.0.0.100', '10.0.0.101']);
  assert.equal(d2.intervalCs, 100);

  const a3 = advert({
    version: 3,
    intervalCs: 4095,
    priority: 0,
    addresses: [b('10.0.0.100'), b('10.1.0.1'), b('10.2.0.1')],
  });
  const m3 = encodeAdvert(a3, 4, src4, dst4);
  const d3 = decodeAdvert(m3, 0, m3.length, 4, src4, dst4, 255);
  assert.ok(typeof d3 !== 'string', String(d3));
  assert.equal(d3.intervalCs, 4095);
  assert.equal(d3.priority, 0);
  assert.equal(d3.addresses.length, 3);

  const src6 = b('fe80::1');
  const dst6 = b('ff02::12');
  const a6 = advert({ version: 3, vrid: 200, intervalCs: 25, addresses: [b('fd00::100'), b('fd00::101')] });
  const m6 = encodeAdvert(a6, 6, src6, dst6);
  const d6 = decodeAdvert(m6, 0, m6.length, 6, src6, dst6, 255);
  assert.ok(typeof d6 !== 'string', String(d6));
  assert.equal(d6.vrid, 200);
  assert.equal(d6.intervalCs, 25);
  assert.deepEqual(d6.addresses.map(formatBytes), ['fd00::100', 'fd00::101']);
  // the v3 pseudo-header binds the checksum to the addresses: another source fails
  assert.equal(decodeAdvert(m6, 0, m6.length, 6, b('fe80::2'), dst6, 255), 'bad_checksum');
});

test('v2 interval is whole seconds on the wire; v3 caps at the 12-bit field', () => {
  const m = encodeAdvert(advert({ intervalCs: 250 }), 4, b('10.0.0.1'), b('224.0.0.18'));
  assert.equal(m[5], 3);
  const m3 = encodeAdvert(advert({ version: 3, intervalCs: 10000 }), 4, b('10.0.0.1'), b('224.0.0.18'));
  assert.equal(((m3[4]! & 0x0f) << 8) | m3[5]!, 0xfff);
  assert.throws(() => encodeAdvert(advert({}), 6, b('fe80::1'), b('ff02::12')), RangeError);
});

test('every wire-level rejection has its reason', () => {
  const src = b('10.0.0.1');
  const dst = b('224.0.0.18');
  const good = encodeAdvert(advert({ version: 3 }), 4, src, dst);
  const dec = (m: Uint8Array, ttl = 255, fam: 4 | 6 = 4, len = m.length): unknown =>
    decodeAdvert(m, 0, len, fam, src, dst, ttl);
  const fix = (m: Uint8Array): Uint8Array => {
    const c = vrrpChecksum(m, 0, m.length, (m[0]! >> 4) as 2 | 3, 4, src, dst);
    m[6] = c >> 8;
    m[7] = c & 0xff;
    return m;
  };
  assert.equal(typeof dec(good), 'object');
  assert.equal(dec(good, 255, 4, 7), 'truncated');
  const v1 = good.slice();
  v1[0] = 0x11;
  assert.equal(dec(fix(v1)), 'bad_version');
  const v2on6 = encodeAdvert(advert({}), 4, src, dst);
  assert.equal(decodeAdvert(v2on6, 0, v2on6.length, 6, b('fe80::1'), b('ff02::12'), 255), 'bad_version');
  const t2 = good.slice();
  t2[0] = 0x32;
  assert.equal(dec(fix(t2)), 'bad_type');
  assert.equal(dec(good, 254), 'bad_ttl');
  assert.equal(typeof dec(good, -1), 'object', 'TTL check off (unicast)');
  const z = good.slice();
  z[1] = 0;
  assert.equal(dec(fix(z)), 'bad_vrid');
  const cnt = good.slice();
  cnt[3] = 2;
  assert.equal(dec(fix(cnt)), 'bad_length', 'count says 2 addresses, only 1 present');
  const longer = new Uint8Array(good.length + 4);
  longer.set(good);
  assert.equal(dec(longer), 'bad_length', 'v3 length must be exact');
  const bad = good.slice();
  bad[9] ^= 1;
  assert.equal(dec(bad), 'bad_checksum');
});

test('decodeIpv4Advert reads TTL and addresses from the IP header', () => {
  const src = b('10.0.0.1');
  const dst = b('224.0.0.18');
  const m = encodeAdvert(advert({}), 4, src, dst);
  const ip = new Uint8Array(20 + m.length);
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = ip.length;
  ip[8] = 255;
  ip[9] = 112;
  ip.set(src, 12);
  ip.set(dst, 16);
  ip.set(m, 20);
  const r = decodeIpv4Advert(ip, ip.length);
  assert.ok(typeof r !== 'string', String(r));
  assert.equal(formatBytes(r.src), '10.0.0.1');
  assert.equal(r.ttl, 255);
  ip[8] = 64;
  assert.equal(decodeIpv4Advert(ip, ip.length), 'bad_ttl');
  assert.equal(typeof decodeIpv4Advert(ip, ip.length, false), 'object');
  assert.equal(decodeIpv4Advert(ip, 19), 'truncated');
  ip[0] = 0x65;
  assert.equal(decodeIpv4Advert(ip, ip.length), 'bad_version');
});
