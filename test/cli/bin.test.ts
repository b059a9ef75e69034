import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('bin/ipvsadm -h prints ipvsadm usage and exits 0', () => {
  const out = execFileSync(path.join(root, 'bin/ipvsadm'), ['-h'], { encoding: 'utf8' });
  assert.match(out, /^ipvsadm v1\.31 2019\/12\/24/);
  assert.match(out, /ipvsadm -A\|E virtual-service/);
});

test('bin/lvsd --help prints usage; an unknown command exits 2', () => {
  const out = execFileSync(path.join(root, 'bin/lvsd'), ['--help'], { encoding: 'utf8' });
  assert.match(out, /Usage: lvsd/);
  const r = spawnSync(path.join(root, 'bin/lvsd'), ['frobnicate'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});
