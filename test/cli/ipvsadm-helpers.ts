/** Shared pieces of the ipvsadm tests: the name tables of make-fixtures.py and a runner. */
import assert from 'node:assert/strict';
import { executeIpvsadm, namesFrom, type IpvsadmContext } from '../../src/cli/ipvsadm/index.js';
import { parseAnyAddress } from '../../src/cli/ipvsadm/addr.js';

/** The same name tables make-fixtures.py uses. */
export const NAMES = namesFrom(
  [
    'http 80/tcp www',
    'https 443/tcp',
    'domain 53/udp',
    'sip 5060/udp',
    'smtp 25/tcp mail',
    'mysql 3306/tcp',
    'http-alt 8080/tcp webcache',
  ].join('\n'),
  [
    '10.0.0.100 a-very-long-virtual-ip-name.example.com vip',
    '172.16.0.2 rs1.example',
    '172.16.0.3 realserver-number-three.example.org rs3',
    '2001:db8:2::3 rs6-3.example',
  ].join('\n'),
  parseAnyAddress,
);

export function run(ctx: IpvsadmContext, line: string): string {
  const r = executeIpvsadm(line === '' ? [] : line.split(' '), ctx);
  assert.equal(r.stderr, '', `ipvsadm ${line}: no error`);
  assert.equal(r.code, 0, `ipvsadm ${line}: exit 0`);
  return r.stdout;
}
