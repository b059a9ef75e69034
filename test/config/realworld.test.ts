/**
 * Patterns seen in keepalived.conf files from the field (an audit of public configurations); each
 * test uses its own minimal text reproducing one pattern.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from './helpers.js';

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
