/**
 * Public API of src/config: exit status precedence, missing/unreadable files, the default config
 * id, summarizeConfig and hasVrrpAddresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import {
  formatDiagnostic,
  hasVrrpAddresses,
  loadKeepalivedConfig,
  parseKeepalivedText,
  summarizeConfig,
} from '../../src/config/index.js';
import { fixture, load, parse } from './helpers.js';

const VS =
  'virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.0.2 80 {\n  notify_up /bin/true\n }\n}\n';

test('exit status: 0 clean, 5 config errors, 6 script security (wins over 5)', () => {
  assert.equal(parse('global_defs {\n enable_script_security\n}\n' + VS).exitCode, 0);
  assert.equal(parse('global_defs {\n enable_script_security\n}\nbogus\n' + VS).exitCode, 5);
  const r = parse('bogus\n' + VS);
  assert.equal(r.exitCode, 6);
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [
      "Unknown keyword 'bogus'",
      'SECURITY VIOLATION - scripts are being executed but script_security not enabled.',
    ],
  );
  // no scripts at all: nothing to violate
  assert.equal(parse(VS.replace(' notify_up /bin/true\n', '')).exitCode, 0);
});

test('formatDiagnostic: "(FILE: Line N) message" for parse-time, bare for post-parse', () => {
  const r = parse('bogus\nvirtual_server 10.0.0.1 80 {\n}\n');
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    "(test.conf: Line 1) Unknown keyword 'bogus'",
    'Virtual server [10.0.0.1]:none:80 has no real servers - ignoring',
  ]);
  assert.deepEqual(r.diagnostics[0]!.loc, { file: 'test.conf', line: 1, column: 1 });
  assert.equal(r.diagnostics[0]!.severity, 'warning');
  assert.equal(r.diagnostics[1]!.severity, 'error');
});

test('unreadable main file: config null, exit 4', () => {
  const r = loadKeepalivedConfig('/etc/lvsd/k.conf', {
    readFile: () => {
      throw Object.assign(new Error('denied'), { code: 'EACCES' });
    },
  });
  assert.deepEqual(r, {
    config: null,
    diagnostics: [
      { severity: 'error', message: "Configuration file '/etc/lvsd/k.conf' cannot be read (EACCES)" },
    ],
    exitCode: 4,
  });
});

test('the config id defaults to the first label of the host name', () => {
  const id = os.hostname().split('.')[0]!;
  const r = parseKeepalivedText(
    `global_defs {\n@${id} router_id mine\n@^${id} router_id other\n}\n`,
    'x.conf',
    {
      readFile: () => '',
    },
  );
  assert.equal(r.config!.global.routerId, 'mine');
});

test('hasVrrpAddresses: only instances with virtual_ipaddress entries count', () => {
  const noVip = parse('vrrp_instance A {\n virtual_router_id 1\n interface eth0\n}\n').config!;
  assert.equal(noVip.vrrpInstances.length, 1);
  assert.equal(hasVrrpAddresses(noVip), false);
  const excludedOnly = parse(
    'vrrp_instance A {\n virtual_router_id 1\n virtual_ipaddress_excluded {\n  10.0.0.9\n }\n}\n',
  ).config!;
  assert.equal(hasVrrpAddresses(excludedOnly), false);
  assert.equal(hasVrrpAddresses(load(fixture('samples', 'keepalived.conf.sample')).config!), true);
});

test('summarizeConfig names every virtual server, real server and checker', () => {
  const c = load(fixture('samples', 'keepalived.conf.quorum')).config!;
  const s = summarizeConfig(c);
  const lines = s.trimEnd().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('VS ')).length, 1);
  assert.equal(lines.filter((l) => l.startsWith('  RS ')).length, 10);
  assert.equal(lines.filter((l) => l.startsWith('    TCP_CHECK ')).length, 10);
  assert.match(s, /^VS \[192\.168\.200\.20\]:tcp:80 wrr DR quorum 7\/2 alpha omega$/m);
  assert.match(s, /^ {2}RS 192\.168\.201\.10:80 DR weight 1 alpha$/m);
  assert.match(s, /^1 virtual server\(s\), 0 vrrp instance\(s\)$/m);
});
