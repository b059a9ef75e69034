/** Shared pieces of the config tests: fixture paths, loading, and loc-free model comparison. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatDiagnostic,
  loadKeepalivedConfig,
  parseKeepalivedText,
  type LoadOptions,
} from '../../src/config/index.js';
import type { LoadResult } from '../../src/config/model.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixtureDir = path.join(root, 'test/fixtures/keepalived');
export const fixture = (...parts: string[]): string => path.join(fixtureDir, ...parts);

/** Fixed options: config id "lb1", no environment, deterministic ${_RANDOM}. */
export const OPTS: LoadOptions = { configId: 'lb1', env: { LVSD_TEST: 'from-env' }, random: () => 0.5 };

export function load(file: string, opts: LoadOptions = {}): LoadResult {
  return loadKeepalivedConfig(file, { ...OPTS, ...opts });
}

export function parse(text: string, opts: LoadOptions = {}): LoadResult {
  return parseKeepalivedText(text, 'test.conf', { ...OPTS, readFile: noFile, readDir: noDir, ...opts });
}

function noFile(f: string): string {
  throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
}
function noDir(d: string): string[] {
  throw Object.assign(new Error(`ENOENT: ${d}`), { code: 'ENOENT' });
}

/** Diagnostics as keepalived prints them, with the file name reduced to its base name. */
export function messages(r: LoadResult): string[] {
  return r.diagnostics.map((d) =>
    formatDiagnostic(d.loc ? { ...d, loc: { ...d.loc, file: path.basename(d.loc.file) } } : d),
  );
}

/** Deep copy without `loc` keys (locations are tested separately), Uint8Array as number arrays. */
export function withoutLoc(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(withoutLoc);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'loc') o[k] = withoutLoc(x);
    return o;
  }
  return v;
}
