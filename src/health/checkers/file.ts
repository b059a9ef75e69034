/**
 * FILE_CHECK: the real server follows an integer in a track file (reference §1.6: `track_file`,
 * `weight N [reverse]`, `dynamic`). Semantics implemented (keepalived documents the shape, not every
 * corner; see the health README in the report):
 * - value v = the file's first integer; a missing file reads as 0 (keepalived creates track files
 *   with 0); an unreadable or non-numeric file is a failure.
 * - weight 0: up iff v == 0.
 * - weight w != 0: contribution c = v * w, negated with `reverse`.
 *   - not dynamic: up iff c >= 0 (a negative value switches the server off);
 *   - dynamic: up iff rsWeight + c >= 0, and the real server's weight becomes rsWeight + c.
 */
import { readFile } from 'node:fs/promises';
import type { FileChecker } from '../../config/model.js';
import type { CheckResult, Probe } from '../types.js';
import { fail, ok } from './util.js';

export function parseTrackValue(text: string): number | null {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : null;
}

export class FileCheck implements Probe {
  readonly steps = 1;
  constructor(
    private readonly cfg: Pick<FileChecker, 'trackFile' | 'weight' | 'reverse' | 'dynamic'>,
    private readonly rsWeight: number,
  ) {}

  async run(signal: AbortSignal): Promise<CheckResult> {
    const start = performance.now();
    const c = this.cfg;
    let v: number | null;
    try {
      v = parseTrackValue(await readFile(c.trackFile, { encoding: 'utf8', signal }));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT')
        return fail(start, `cannot read ${c.trackFile}: ${code ?? (e as Error).message}`);
      v = 0;
    }
    if (v === null) return fail(start, `${c.trackFile}: not an integer`);
    if (c.weight === 0) return v === 0 ? ok(start, 'value 0') : fail(start, `value ${v}`);
    const contribution = (c.reverse ? -v : v) * c.weight;
    if (!c.dynamic) return contribution >= 0 ? ok(start, `value ${v}`) : fail(start, `value ${v}`);
    const w = this.rsWeight + contribution;
    return w >= 0
      ? ok(start, `value ${v}, weight ${w}`, { dynamicWeight: w })
      : fail(start, `value ${v}, weight ${w} < 0`);
  }
}
