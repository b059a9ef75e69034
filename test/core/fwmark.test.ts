import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FwmarkTable } from '../../src/core/fwmark.js';
import { executeFwmark, formatRule, parseFwmark } from '../../src/cli/fwmark.js';
import { Director } from '../../src/core/director.js';
import { PacketView, IPPROTO_TCP, IPPROTO_UDP } from '../../src/packet/view.js';
import { parseAddress } from '../../src/packet/addr.js';
import { LvsError } from '../../src/errors.js';

function pkt(af: 4 | 6, dst: string, proto: number, dport: number): PacketView {
  const v = new PacketView();
  v.af = af;
  v.daddr.set(parseAddress(dst)!.words);
  v.proto = proto;
  v.dport = dport;
  return v;
}

test('classify: prefix, protocol and port range; first match wins; 0 when nothing matches', () => {
  const t = new FwmarkTable();
  t.add({ af: 4, addr: '10.0.0.0/24', proto: IPPROTO_TCP, portLo: 80, portHi: 81, mark: 7 });
  t.add({ af: 4, addr: '10.0.0.100', proto: IPPROTO_TCP, mark: 9 });
  t.add({ af: 6, addr: 'fd00::/64', proto: IPPROTO_UDP, portLo: 53, mark: 5 });
  assert.equal(t.classify(pkt(4, '10.0.0.5', IPPROTO_TCP, 80)), 7);
  assert.equal(t.classify(pkt(4, '10.0.0.100', IPPROTO_TCP, 81)), 7, 'first rule matches first');
  assert.equal(t.classify(pkt(4, '10.0.0.100', IPPROTO_TCP, 443)), 9);
  assert.equal(t.classify(pkt(4, '10.0.1.5', IPPROTO_TCP, 80)), 0, 'outside the prefix');
  assert.equal(t.classify(pkt(4, '10.0.0.5', IPPROTO_UDP, 80)), 0, 'other protocol');
  assert.equal(t.classify(pkt(6, 'fd00::1234', IPPROTO_UDP, 53)), 5);
  assert.equal(t.classify(pkt(6, 'fd00:0:0:1::1', IPPROTO_UDP, 53)), 0);
  t.delete({ af: 4, addr: '10.0.0.0/24', proto: IPPROTO_TCP, portLo: 80, portHi: 81, mark: 7 });
  assert.equal(t.classify(pkt(4, '10.0.0.100', IPPROTO_TCP, 81)), 9, 'deleting shifts the rest up');
  assert.equal(t.size, 2);
});

test('rules are canonical (host bits cleared) and duplicates, bad input are refused', () => {
  const t = new FwmarkTable();
  t.add({ af: 4, addr: '10.0.0.77/24', proto: IPPROTO_TCP, mark: 1 });
  assert.deepEqual(t.list(), [
    { af: 4, addr: '10.0.0.0/24', proto: IPPROTO_TCP, portLo: 0, portHi: 65535, mark: 1 },
  ]);
  assert.throws(() => t.add({ af: 4, addr: '10.0.0.0/24', proto: IPPROTO_TCP, mark: 1 }), /already exists/);
  assert.throws(() => t.add({ af: 4, addr: '10.0.0.0/33', proto: IPPROTO_TCP, mark: 1 }), LvsError);
  assert.throws(() => t.add({ af: 4, addr: 'fd00::1', proto: IPPROTO_TCP, mark: 1 }), LvsError);
  assert.throws(() => t.add({ af: 4, addr: '10.0.0.1', proto: 1, mark: 1 }), /tcp, udp or sctp/);
  assert.throws(() => t.add({ af: 4, addr: '10.0.0.1', proto: IPPROTO_TCP, mark: 0 }), /mark/);
  assert.throws(() => t.delete({ af: 4, addr: '10.0.0.9', proto: IPPROTO_TCP, mark: 1 }), /no such rule/);
});

test('lvsd fwmark: parse, list as re-runnable commands, errors with exit 2', () => {
  const d = new Director({ maxConns: 1024 });
  const add = ['add', '--mark', '3', '--dst', '10.1.0.0/16', '--proto', 'tcp', '--dport', '8000-8100'];
  assert.equal(executeFwmark(add, d).changed, true);
  assert.equal(executeFwmark(['add', '--mark', '4', '--dst', '[fd00::5]', '-p', 'udp'], d).code, 0);
  const list = executeFwmark(['list'], d);
  assert.equal(
    list.stdout,
    'lvsd fwmark add --mark 3 --dst 10.1.0.0/16 --proto tcp --dport 8000-8100\n' +
      'lvsd fwmark add --mark 4 --dst fd00::5/128 --proto udp\n',
  );
  // the listing parses back into the same rule
  const back = parseFwmark(list.stdout.split('\n')[0]!.split(' ').slice(2));
  assert.equal(formatRule(back.rule!), list.stdout.split('\n')[0]);
  const bad = executeFwmark(['add', '--mark', 'x', '--dst', '1.2.3.4', '--proto', 'tcp'], d);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad mark 'x'/);
  assert.equal(executeFwmark(['add', '--dst', '1.2.3.4', '--proto', 'tcp'], d).code, 2);
  assert.equal(executeFwmark(['frob'], d).code, 2);
  assert.equal(executeFwmark(['flush'], d).changed, true);
  assert.equal(executeFwmark(['list'], d).stdout, '');
});

test('the director engine classifies with its fwmark table', () => {
  const d = new Director({ maxConns: 1024 });
  d.fwmarks.add({ af: 4, addr: '192.0.2.10', proto: IPPROTO_TCP, portLo: 80, portHi: 80, mark: 11 });
  assert.equal(d.fwmarks.classify(pkt(4, '192.0.2.10', IPPROTO_TCP, 80)), 11);
});
