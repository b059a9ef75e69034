/** The C library conversions ipvsadm relies on (inet_aton, inet_ntop, strtol checks) and the name files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  atoi,
  inetAton,
  ntop,
  parseAnyAddress,
  stringToNumber,
  strtoulWhole,
} from '../../src/cli/ipvsadm/addr.js';
import { largenum } from '../../src/cli/ipvsadm/format.js';
import { FMT_EXACT } from '../../src/cli/ipvsadm/parse.js';
import { namesFrom } from '../../src/cli/ipvsadm/names.js';

test('inetAton accepts the a / a.b / a.b.c / a.b.c.d forms in decimal, octal and hex, as glibc', () => {
  assert.equal(inetAton('1.2.3.4'), 0x01020304);
  assert.equal(inetAton('255.255.255.0'), 0xffffff00);
  assert.equal(inetAton('0xffffff00'), 0xffffff00);
  assert.equal(inetAton('4294967040'), 0xffffff00);
  assert.equal(inetAton('10.1'), 0x0a000001);
  assert.equal(inetAton('10.1.258'), 0x0a010102);
  assert.equal(inetAton('010.0.0.1'), 0x08000001, 'a leading 0 is octal');
  assert.equal(inetAton('1.2.3.4 trailing'), 0x01020304, 'text after white space is ignored');
  for (const bad of ['', '1.2.3.4.5', '1.2.3.256', '1..2', '1.2.3.', '08.1.1.1', 'host', '1.2.3.4x', '0x']) {
    assert.equal(inetAton(bad), null, bad);
  }
});

test('ntop spells addresses as glibc inet_ntop', () => {
  const w6 = (s: string) => parseAnyAddress(s)!.words;
  assert.equal(ntop(4, [0x0a000064]), '10.0.0.100');
  assert.equal(ntop(6, w6('2001:0db8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
  assert.equal(ntop(6, w6('2001:db8:0:1:0:0:0:1')), '2001:db8:0:1::1');
  assert.equal(ntop(6, w6('::1')), '::1');
  assert.equal(ntop(6, w6('::')), '::');
  assert.equal(ntop(6, w6('::102:304')), '::1.2.3.4', 'IPv4-compatible form');
  assert.equal(ntop(6, w6('::ffff:1.2.3.4')), '::ffff:1.2.3.4');
  assert.equal(ntop(6, w6('1:0:1:0:1:0:1:0')), '1:0:1:0:1:0:1:0', 'no run of two zero groups');
});

test('string_to_number, strtoul and atoi edge cases', () => {
  assert.equal(stringToNumber('65535', 0, 65535), 65535);
  assert.equal(stringToNumber(' +7', 0, 10), 7);
  assert.equal(stringToNumber('65536', 0, 65535), -1);
  assert.equal(stringToNumber('-1', 0, 10), -1);
  assert.equal(stringToNumber('1x', 0, 10), -1);
  assert.equal(stringToNumber('', 0, 10), -1);
  assert.equal(strtoulWhole('4294967295'), 4294967295);
  assert.equal(strtoulWhole('-1'), 2 ** 64 - 1);
  assert.equal(strtoulWhole('1 '), null);
  assert.equal(atoi('64abc'), 64);
  assert.equal(atoi('abc'), 0);
});

test('print_largenum boundaries (decimal units, integer division, 9-character fields)', () => {
  assert.equal(largenum(0, 0), '        0');
  assert.equal(largenum(99999999, 0), ' 99999999');
  assert.equal(largenum(100000000, 0), '  100000K');
  assert.equal(largenum(999999999, 0), '  999999K');
  assert.equal(largenum(1000000000, 0), '    1000M');
  assert.equal(largenum(99999999999, 0), '   99999M');
  assert.equal(largenum(100000000000, 0), '     100G');
  assert.equal(largenum(99999999999999, 0), '   99999G');
  assert.equal(largenum(100000000000000, 0), '     100T');
  assert.equal(largenum(12345678, FMT_EXACT), ' 12345678');
  assert.equal(largenum(123456789, FMT_EXACT), ' 123456789');
  assert.equal(largenum(0, FMT_EXACT), '        0');
});

test('names: /etc/services and /etc/hosts parsing (first entry wins, aliases, comments)', () => {
  const n = namesFrom(
    '# comment\nhttp\t80/tcp\twww www-http # WorldWideWeb\nhttp 80/udp\nhttp-alt 8080/tcp\nbogus 99999/tcp\n',
    '127.0.0.1 localhost\n10.0.0.1 first.example alias1\n10.0.0.1 second.example\n::1 ip6-localhost\n# 10.0.0.2 x\n',
    parseAnyAddress,
  );
  assert.equal(n.portName(80, 'tcp'), 'http');
  assert.equal(n.portName(80, 'sctp'), undefined);
  assert.equal(n.portByName('www', 'tcp'), 80);
  assert.equal(n.portByName('bogus', 'tcp'), undefined);
  assert.equal(n.hostName(4, Uint32Array.of(0x0a000001, 0, 0, 0)), 'first.example');
  assert.equal(n.hostName(6, parseAnyAddress('::1')!.words), 'ip6-localhost');
  assert.equal(n.hostName(4, Uint32Array.of(0x0a000002, 0, 0, 0)), undefined);
  assert.equal(n.hostAddr('ALIAS1'), 0x0a000001);
  assert.equal(n.hostAddr('second.example'), 0x0a000001);
  assert.equal(n.hostAddr('ip6-localhost'), undefined, 'gethostbyname is IPv4 only');
});
