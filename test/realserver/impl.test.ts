/**
 * Choosing between the kernel's tunnel devices and the userspace agent (pure; no root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseImpl, parseVipList } from '../../src/realserver/setup.js';

const none = { ipip: false, fou: false, greLoaded: false };
const all = { ipip: true, fou: true, greLoaded: true };

test('auto: the kernel device when the module exists, else the agent', () => {
  assert.equal(chooseImpl('ipip', 'auto', none), 'agent');
  assert.equal(chooseImpl('gue', 'auto', none), 'agent');
  assert.equal(chooseImpl('gre', 'auto', none), 'agent');
  assert.equal(chooseImpl('ipip', 'auto', all), 'kernel');
  assert.equal(chooseImpl('gue', 'auto', all), 'kernel');
  assert.equal(chooseImpl('gre', 'auto', all), 'kernel');
  // fou needs ipip for the inner packet: without fou, GUE goes to the agent even with ipip present
  assert.equal(chooseImpl('gue', 'auto', { ipip: true, fou: false, greLoaded: false }), 'agent');
});

test('a GRE agent is refused while ip_gre owns protocol 47; kernel without module refused', () => {
  assert.throws(() => chooseImpl('gre', 'agent', { ...none, greLoaded: true }), {
    code: 'ERR_LVS_UNSUPPORTED',
    message: /ip_gre module owns IP protocol 47/,
  });
  assert.equal(chooseImpl('ipip', 'agent', all), 'agent');
  assert.throws(() => chooseImpl('ipip', 'kernel', none), { code: 'ERR_LVS_UNSUPPORTED' });
});

test('parseVipList: canonical forms, duplicates folded, bad ones refused', () => {
  assert.deepEqual(parseVipList('10.0.0.1, FD00:0::1,10.0.0.1'), [
    { addr: '10.0.0.1', family: 4 },
    { addr: 'fd00::1', family: 6 },
  ]);
  for (const bad of [
    '',
    '10.0.0.1,',
    '10.0.0.256',
    '224.0.0.1',
    '0.0.0.0',
    '::1',
    'ff02::1',
    'fe80::1%eth0',
  ]) {
    assert.throws(() => parseVipList(bad), { code: 'ERR_LVS_INVALID_ARGUMENT' }, bad);
  }
});
