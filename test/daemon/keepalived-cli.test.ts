/**
 * `lvsd -t` (keepalived's --config-test) through the real binary: diagnostics in keepalived's
 * `(FILE: Line N) message` form and the exit status of keepalived-reference.md §5 (0 OK, 4 fatal /
 * missing file, 5 survivable errors, 6 script security). No daemon is started, no root is needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LVSD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/lvsd');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-ka-cli-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

const GOOD = `global_defs {
    router_id test
}
virtual_server 10.0.0.1 80 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 80 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
`;

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

function lvsd(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [LVSD, ...args], { encoding: 'utf8', timeout: 30000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('-t on a good file: exit 0, nothing printed', () => {
  const r = lvsd('-t', '-f', write('good.conf', GOOD));
  assert.deepEqual(r, { status: 0, stdout: '', stderr: '' });
});

test('-t on an unknown keyword: exit 5 and (FILE: Line N) Unknown keyword', () => {
  const f = write('bad.conf', GOOD.replace('router_id test', 'router_id test\n    bogus_kw 1'));
  const r = lvsd('--config-test', '--use-file', f);
  assert.equal(r.status, 5, r.stderr);
  assert.equal(r.stderr, `(${f}: Line 3) Unknown keyword 'bogus_kw'\n`);
});

test('-t on a missing file: exit 4', () => {
  const r = lvsd('-t', `-f${path.join(dir, 'missing.conf')}`);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /missing\.conf/);
});

test('-t on scripts without enable_script_security: exit 6', () => {
  const f = write(
    'misc.conf',
    GOOD.replace(
      'TCP_CHECK {\n            connect_timeout 2',
      'MISC_CHECK {\n            misc_path "/bin/true"',
    ),
  );
  const r = lvsd('-t', '-f', f);
  assert.equal(r.status, 6, r.stderr);
  assert.match(r.stderr, /SECURITY VIOLATION/);
});

test('--config-test=LOG writes the diagnostics to LOG instead of stderr', () => {
  const f = write('bad2.conf', GOOD + 'bogus_top 1\n');
  const log = path.join(dir, 'test.log');
  const r = lvsd(`--config-test=${log}`, '-f', f);
  assert.equal(r.status, 5);
  assert.equal(r.stderr, '');
  assert.equal(fs.readFileSync(log, 'utf8'), `(${f}: Line 15) Unknown keyword 'bogus_top'\n`);
});

test('-t on a file with VRRP addresses: clean (lvsd runs VRRP itself), as keepalived -t', () => {
  const f = write(
    'vrrp.conf',
    GOOD +
      'vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n' +
      '    priority 100\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n',
  );
  const r = lvsd('-t', '-f', f);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(lvsd('-t', '-f', f, '--no-vrrp').stderr, '');
});

test('keepalived -h / -v in keepalived mode, and a bad option exits 2', () => {
  assert.match(lvsd('-f', 'x.conf', '-h').stdout, /--use-file=FILE/);
  assert.match(lvsd('-n', '-v').stdout, /^lvsd \d/);
  const bad = lvsd('-n', '--bogus');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--bogus'/);
});
