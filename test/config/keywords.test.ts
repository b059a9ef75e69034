/**
 * Keyword coverage (test/fixtures/keepalived/keywords): every NAME.conf is parsed and the parts of
 * the model named in the hand-written NAME.json are compared deep-equal, with the diagnostics and
 * exit status. Locations are checked separately here on a few nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fixture, load, messages, withoutLoc } from './helpers.js';

interface Expected {
  exit: number;
  diagnostics: string[];
  model: Record<string, unknown>;
}

test('keyword coverage files match their hand-written models', async (t) => {
  const names = readdirSync(fixture('keywords')).filter((n) => n.endsWith('.conf'));
  assert.ok(names.length >= 5);
  for (const name of names) {
    await t.test(name, () => {
      const want = JSON.parse(
        readFileSync(fixture('keywords', name.replace(/\.conf$/, '.json')), 'utf8'),
      ) as Expected;
      const r = load(fixture('keywords', name));
      assert.deepEqual(messages(r), want.diagnostics);
      assert.equal(r.exitCode, want.exit);
      assert.ok(r.config);
      const got = withoutLoc(r.config) as Record<string, unknown>;
      for (const [key, value] of Object.entries(want.model)) assert.deepEqual(got[key], value, key);
    });
  }
});

test('locations: file, line and column of blocks and checkers', () => {
  const file = fixture('keywords', 'lvs.conf');
  const c = load(file).config!;
  const vs = c.virtualServers[0]!;
  assert.deepEqual(vs.loc, { file, line: 16, column: 1 });
  assert.deepEqual(vs.realServers[1]!.loc, { file, line: 61, column: 5 });
  assert.deepEqual(vs.realServers[1]!.checkers[0]!.loc, { file, line: 67, column: 9 });
  assert.deepEqual(c.virtualServerGroups[1]!.loc, { file, line: 12, column: 1 });
});
