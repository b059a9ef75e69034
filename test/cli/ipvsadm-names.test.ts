/**
 * Name files are re-read when they change: the lvsd daemon answers every ipvsadm command for the
 * life of the namespace, while real ipvsadm reads /etc/hosts and /etc/services on each invocation.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileNames } from '../../src/cli/ipvsadm/names.js';
import { parseAnyAddress } from '../../src/cli/ipvsadm/addr.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ipvsadm-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an edited hosts or services file is seen by the next lookup; an unchanged one is not re-parsed', () => {
  const services = path.join(dir, 'services');
  const hosts = path.join(dir, 'hosts');
  writeFileSync(services, 'http 80/tcp www\n');
  writeFileSync(hosts, '10.0.0.1 rs1\n');
  const first = fileNames(services, hosts, parseAnyAddress);
  assert.equal(first.hostAddr('rs1'), 0x0a000001);
  assert.equal(first.hostAddr('rs2'), undefined);
  assert.equal(first.portByName('telnet', 'tcp'), undefined);
  assert.equal(fileNames(services, hosts, parseAnyAddress), first, 'unchanged files: the same tables');

  writeFileSync(hosts, '10.0.0.1 rs1\n10.0.0.2 rs2\n');
  const second = fileNames(services, hosts, parseAnyAddress);
  assert.equal(second.hostAddr('rs2'), 0x0a000002);
  assert.equal(second.hostName(4, new Uint32Array([0x0a000002, 0, 0, 0])), 'rs2');

  writeFileSync(services, 'http 80/tcp www\ntelnet 23/tcp\n');
  const third = fileNames(services, hosts, parseAnyAddress);
  assert.equal(third.portByName('telnet', 'tcp'), 23);
  assert.equal(third.portName(23, 'tcp'), 'telnet');

  rmSync(hosts);
  assert.equal(
    fileNames(services, hosts, parseAnyAddress).hostAddr('rs1'),
    undefined,
    'a removed file is empty',
  );
});
