#!/usr/bin/env node
// Runs every compiled micro-benchmark (dist/bench/*.bench.js) one after another, each in its own
// process (so one benchmark's heap and JIT state do not colour the next), and prints their tables.
// Usage: npm run bench            (all)
//        npm run bench -- conn    (those whose name contains "conn")
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'dist/bench');
const filter = process.argv[2] ?? '';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js') && f.includes(filter))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n## ${f.replace(/\.bench\.js$/, '')}\n\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
