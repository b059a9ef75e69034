/**
 * VRRP notify scripts: a missing or non-executable script is reported once per path, not on every
 * state transition, and runs as soon as it exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotifyScripts, scriptProblem } from '../../src/vrrp/manager.js';

function spec(command: string) {
  return { command, argv: command.split(' ') };
}

test('a missing notify script is logged once per path and runs once it appears', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-notify-'));
  try {
    const script = path.join(dir, 'notify.sh');
    const other = path.join(dir, 'other.sh');
    const runs: string[][] = [];
    const logs: string[] = [];
    const n = new NotifyScripts(
      async (argv) => {
        runs.push(argv);
        return 0;
      },
      (level, m) => logs.push(`${level} ${m}`),
    );
    for (let i = 0; i < 5; i++) n.run(spec(script), ['INSTANCE', 'VI_1', i % 2 ? 'MASTER' : 'BACKUP', '100']);
    n.run(spec(other), []);
    n.run(spec(other), []);
    assert.deepEqual(runs, []);
    assert.deepEqual(logs, [
      `warn notify script ${script} does not exist: not run (reported once; it runs once it is there)`,
      `warn notify script ${other} does not exist: not run (reported once; it runs once it is there)`,
    ]);

    // present but not executable: still the one report for this path
    fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    assert.equal(scriptProblem(script), 'is not executable');
    n.run(spec(script), []);
    assert.deepEqual(runs, []);
    assert.equal(logs.length, 2);

    fs.chmodSync(script, 0o755);
    n.run(spec(`${script} arg`), ['INSTANCE', 'VI_1', 'MASTER', '100']);
    assert.deepEqual(runs, [[script, 'arg', 'INSTANCE', 'VI_1', 'MASTER', '100']]);
    assert.equal(logs.length, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a script that runs and fails is reported on each failure (its exit status)', async () => {
  const logs: string[] = [];
  const n = new NotifyScripts(
    async () => 3,
    (_l, m) => logs.push(m),
    () => null,
  );
  n.run(spec('/bin/notify'), ['INSTANCE', 'VI_1', 'FAULT', '0']);
  n.run(spec('/bin/notify'), ['INSTANCE', 'VI_1', 'BACKUP', '0']);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(logs, [
    'notify script /bin/notify INSTANCE VI_1 FAULT 0 exited 3',
    'notify script /bin/notify INSTANCE VI_1 BACKUP 0 exited 3',
  ]);
});

test('scriptProblem: bare names are looked up on PATH, directories are no scripts', () => {
  assert.equal(scriptProblem('sh'), null);
  assert.equal(scriptProblem('lvsd-no-such-program-here'), 'is not found on PATH');
  assert.equal(scriptProblem(os.tmpdir()), 'is not a regular file');
});
