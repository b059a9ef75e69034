/**
 * Patterns seen in keepalived.conf files from the field (an audit of public configurations); each
 * test uses its own minimal text reproducing one pattern.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { messages, parse, root } from './helpers.js';

test('a huge file read as a configuration reports its problems instead of an internal error', () => {
  // 200,000 diagnostics (e.g. `-f` pointed at a log file) and 200,000 lines inside a stray `{`
  const manyUnknown = 'bogus_keyword x\n'.repeat(200_000);
  const r1 = parse(manyUnknown);
  assert.equal(r1.exitCode, 5);
  assert.equal(r1.diagnostics.length, 200_000);
  assert.ok(r1.diagnostics.every((d) => d.message === "Unknown keyword 'bogus_keyword'"));
  assert.equal(r1.diagnostics[199_999]!.loc?.line, 200_000);

  const strayBlock = '{\n' + 'bogus_keyword x\n'.repeat(200_000) + '}\nglobal_defs {\n router_id after\n}\n';
  const r2 = parse(strayBlock);
  assert.equal(r2.exitCode, 5);
  assert.ok(!r2.diagnostics.some((d) => d.message.startsWith('internal error')));
  assert.equal(r2.config?.global.routerId, 'after');
});

test('interfaceExists: a vrrp_instance on an interface this host lacks is reported as keepalived -t does', () => {
  const text =
    'vrrp_instance VI_1 {\n    interface eth9\n    virtual_router_id 7\n    virtual_ipaddress {\n' +
    '        10.9.9.9\n    }\n}\n' +
    'vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 8\n    virtual_ipaddress {\n' +
    '        10.9.9.8\n    }\n}\n';
  const asked: string[] = [];
  const hostHas = (name: string): boolean => {
    asked.push(name);
    return name === 'eth0';
  };
  const r = parse(text, { interfaceExists: hostHas });
  assert.deepEqual(asked, ['eth9', 'eth0']);
  assert.deepEqual(messages(r), [
    "(test.conf: Line 2) WARNING - interface eth9 for vrrp_instance VI_1 doesn't exist",
    'Non-existent interface specified in configuration',
  ]);
  assert.equal(r.exitCode, 5); // as Debian's keepalived 2.2.7 -t exits

  // dynamic_interfaces: keepalived waits for the interface; the warning stays, not fatal
  const dyn = parse('global_defs {\n    dynamic_interfaces\n}\n' + text, { interfaceExists: hostHas });
  assert.deepEqual(messages(dyn), [
    "(test.conf: Line 5) WARNING - interface eth9 for vrrp_instance VI_1 doesn't exist",
  ]);
  assert.equal(dyn.exitCode, 5);

  // without the option (the default: the file may be meant for another host) nothing is checked
  const plain = parse(text);
  assert.deepEqual(messages(plain), []);
  assert.equal(plain.exitCode, 0);
});

test('lvsd -t checks vrrp_instance interfaces on this host (not with --no-vrrp)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-ka-if-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'k.conf');
  const missing = `lvsdnone${process.pid % 100000}`;
  fs.writeFileSync(
    file,
    `vrrp_instance VI_1 {\n    interface ${missing}\n    virtual_router_id 7\n    virtual_ipaddress {\n` +
      '        10.9.9.9\n    }\n}\n',
  );
  const lvsd = (...args: string[]): { status: number | null; stderr: string } =>
    spawnSync(process.execPath, [path.join(root, 'bin/lvsd'), ...args], { encoding: 'utf8', timeout: 30000 });
  const r = lvsd('-t', '-f', file);
  assert.equal(r.status, 5, r.stderr);
  assert.equal(
    r.stderr,
    `(${file}: Line 2) WARNING - interface ${missing} for vrrp_instance VI_1 doesn't exist\n` +
      'Non-existent interface specified in configuration\n',
  );
  const noVrrp = lvsd('-t', '--no-vrrp', '-f', file);
  assert.equal(noVrrp.status, 0, noVrrp.stderr);
});

test('features lvsd does not implement and that change the table are reported by -t', () => {
  // BFD_CHECK: the checker always fails here, so the real server would silently stay down
  const bfd = parse(
    'bfd_instance b1 {\n    neighbor_ip 10.4.0.2\n}\n' +
      'virtual_server 10.4.0.100 80 {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n' +
      '    real_server 10.4.0.2 80 {\n        BFD_CHECK {\n            name b1\n        }\n    }\n}\n',
  );
  assert.deepEqual(messages(bfd), [
    '(test.conf: Line 9) BFD_CHECK b1: lvsd runs no BFD sessions - this checker always fails and keeps its real server down',
  ]);
  assert.equal(bfd.exitCode, 5);
  assert.equal(bfd.config?.virtualServers[0]?.realServers[0]?.checkers[0]?.kind, 'BFD_CHECK');

  // nftables_ipvs with a virtual_server_group: keepalived makes one fwmark service, lvsd one per entry
  const group =
    'virtual_server_group G {\n    10.4.0.1 80\n    10.4.0.2 80\n}\n' +
    'virtual_server group G {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n' +
    '    real_server 10.4.1.1 80 {\n    }\n}\n';
  const nft = parse('global_defs {\n    nftables_ipvs\n}\n' + group);
  assert.deepEqual(messages(nft), [
    'nftables_ipvs is not supported by lvsd - each virtual_server_group entry is its own IPVS service',
  ]);
  assert.equal(nft.exitCode, 5);
  // without a group, or without nftables_ipvs, nothing to say
  assert.deepEqual(messages(parse(group)), []);
  assert.deepEqual(
    messages(
      parse(
        'global_defs {\n    nftables_ipvs\n}\n' +
          group.replace(/virtual_server group G/, 'virtual_server 10.4.0.9 80'),
      ),
    ),
    [],
  );
});

test('a repeated notify_* line keeps the first script and is reported, as keepalived does', () => {
  const r = parse(
    'global_defs {\n    enable_script_security\n}\n' +
      'vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 9\n' +
      '    notify_master "/bin/echo master"\n    notify_master "/bin/echo backup"\n' +
      '    notify "/bin/echo any"\n    notify /bin/echo\n    virtual_ipaddress {\n        10.5.0.1\n    }\n}\n' +
      'vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 10\n    virtual_ipaddress {\n' +
      '        10.5.0.2\n    }\n}\n' +
      'vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n' +
      '    notify_fault "/bin/echo first"\n    notify_fault "/bin/echo second"\n}\n',
  );
  assert.deepEqual(messages(r), [
    '(test.conf: Line 8) (VI_1) notify_master script already specified - ignoring /bin/echo backup',
    '(test.conf: Line 10) (VI_1) notify script already specified - ignoring /bin/echo',
    '(test.conf: Line 28) vrrp group G: notify_fault script already specified - ignoring /bin/echo second',
  ]);
  const vi = r.config?.vrrpInstances.find((v) => v.name === 'VI_1');
  assert.deepEqual(vi?.notifyMaster?.argv, ['/bin/echo', 'master']);
  assert.deepEqual(vi?.notify?.argv, ['/bin/echo', 'any']);
  assert.deepEqual(r.config?.vrrpSyncGroups[0]?.notifyFault?.argv, ['/bin/echo', 'first']);
});
