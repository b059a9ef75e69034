/**
 * Broken configurations (test/fixtures/keepalived/broken): each file's leading `# EXIT n` and
 * `# DIAG ...` comment lines give the exact diagnostics (text, line) and exit status expected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fixture, load, messages } from './helpers.js';

function expectations(file: string, name: string): { exit: number; diags: string[] } {
  let exit = -1;
  const diags: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const e = /^# EXIT (\d)$/.exec(line);
    if (e) exit = Number(e[1]);
    const d = /^# DIAG(?: Line (\d+))?: (.*)$/.exec(line);
    if (d) diags.push(d[1] ? `(${name}: Line ${d[1]}) ${d[2]}` : d[2]!);
  }
  return { exit, diags };
}

test('broken configurations give the expected diagnostics and exit status', async (t) => {
  const names = readdirSync(fixture('broken')).filter((n) => n.endsWith('.conf'));
  assert.ok(names.length >= 7);
  for (const name of names) {
    await t.test(name, () => {
      const file = fixture('broken', name);
      const want = expectations(file, name);
      assert.notEqual(want.exit, -1, 'fixture has an # EXIT line');
      const r = load(file);
      assert.deepEqual(messages(r), want.diags);
      assert.equal(r.exitCode, want.exit);
    });
  }
});

test('a missing main file: no config, exit 4, a message naming the file', () => {
  const r = load(fixture('broken', 'does-not-exist.conf'));
  assert.equal(r.config, null);
  assert.equal(r.exitCode, 4);
  assert.equal(r.diagnostics.length, 1);
  assert.match(r.diagnostics[0]!.message, /does-not-exist\.conf' does not exist$/);
});
