/**
 * bin/ipvsadm as a process, without a daemon: read-only commands answer from an empty table exactly
 * as IPVS with no services; validation errors keep ipvsadm's codes; unprivileged users are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'bin/ipvsadm');

function ipvsadm(...args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(bin, args, { encoding: 'utf8', input: '' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const EMPTY =
  'IP Virtual Server version 1.2.1 (size=4096)\n' +
  'Prot LocalAddress:Port Scheduler Flags\n' +
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';

test('bin/ipvsadm without a daemon: empty listings, errors with their exit codes', () => {
  assert.deepEqual(ipvsadm('-L', '-n'), { stdout: EMPTY, stderr: '', status: 0 });
  assert.deepEqual(ipvsadm(), { stdout: EMPTY, stderr: '', status: 0 });
  assert.deepEqual(ipvsadm('-S', '-n'), { stdout: '', stderr: '', status: 0 });
  assert.deepEqual(ipvsadm('-L', '--timeout'), {
    stdout: 'Timeout (tcp tcpfin udp): 900 120 300\n',
    stderr: '',
    status: 0,
  });
  assert.deepEqual(ipvsadm('-v'), {
    stdout: 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n',
    stderr: '',
    status: 0,
  });
  assert.deepEqual(ipvsadm('--bogus'), {
    stdout: '',
    stderr: "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    status: 255,
  });
  assert.deepEqual(ipvsadm('-A', '-t', '10.0.0.1'), {
    stdout: '',
    stderr: 'Zero port specified for non-persistent service\n',
    status: 2,
  });
});

// A table change would start a daemon in this (the host's) namespace, so it is exercised by the
// namespace end-to-end tests; here only the unprivileged refusal, which changes nothing.
test('bin/ipvsadm as an unprivileged user says root is needed', { skip: process.getuid?.() !== 0 }, () => {
  const r = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', bin, '-A', '-t', '10.0.0.1:80'],
    {
      encoding: 'utf8',
    },
  );
  if (r.error) return; // no setpriv: nothing to check
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    "Can't initialize ipvs: Permission denied (you must be root)\n" +
      'Are you sure that IP Virtual Server is built in the kernel or as module?\n',
  );
});
