import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/** A child that writes `bytes` to stdout and then exits through exitAfterFlush (as bin/lvsd does). */
function child(bytes: number, code: number) {
  const url = new URL('../../src/cli/exit.js', import.meta.url).href;
  return spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { exitAfterFlush } from ${JSON.stringify(url)};
       process.stdout.write('x'.repeat(${bytes}));
       exitAfterFlush(${code});`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

test('exitAfterFlush: 1 MiB to a pipe whose reader is late arrives whole, with the exit code', async () => {
  const c = child(1 << 20, 3);
  c.stdout.pause(); // the pipe fills up: the rest of the write is queued in the child
  await new Promise((r) => setTimeout(r, 300));
  let got = 0;
  c.stdout.on('data', (d: Buffer) => (got += d.length));
  c.stdout.resume();
  const code = await new Promise<number | null>((r) => c.on('close', (x) => r(x)));
  assert.equal(got, 1 << 20);
  assert.equal(code, 3);
});

test('exitAfterFlush: a reader that goes away does not keep the process or crash it', async () => {
  const c = child(1 << 20, 0);
  c.stdout.destroy();
  const code = await new Promise<number | null>((r) => c.on('close', (x) => r(x)));
  assert.ok(code === 0 || code === null, String(code));
});
