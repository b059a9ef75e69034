/**
 * Table persistence: the kernel's IPVS table outlives ipvsadm, so lvsd's table outlives its daemon.
 * After every committed change the daemon saves the table to `<stateDir>/table.json` (tmp file +
 * rename(2), which replaces atomically: a crash leaves the old or the new file, never half of one);
 * at start, before steering is installed and before the first packet is captured, it restores it.
 *
 * What is saved: the service table as `ipvsadm -S -n` rules (plus `-x`/`-y` on destinations with
 * thresholds, which -S does not print but -a accepts), the `lvsd fwmark` rules as `lvsd fwmark list`
 * prints them, and the `--set` timeouts. Connections are not (that is the hand-over's job,
 * handover.ts). The file lives under /run (tmpfs): it survives daemon crashes and restarts, not a
 * reboot, as the kernel's table does.
 *
 * Namespace identity: the state directory is keyed by the namespace's inode, which the kernel reuses
 * once a namespace is gone. The file therefore records the namespace's SO_NETNS_COOKIE (never
 * reused) and a file whose cookie differs belongs to a dead namespace: it is removed, not restored.
 * A file that cannot be read or parsed is logged and ignored (the daemon starts with an empty table);
 * it never stops the daemon from starting.
 *
 * captureTable / restoreTable run in the data-plane worker (they drive the ipvsadm and fwmark
 * executors against its Director); the file functions run in the control thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Director } from '../core/director.js';
import { executeIpvsadm, listServices } from '../cli/ipvsadm/execute.js';
import { cmpDests, cmpServices, serviceEntry } from '../cli/ipvsadm/format.js';
import { FMT_NUMERIC, FMT_RULE } from '../cli/ipvsadm/parse.js';
import { executeFwmark } from '../cli/fwmark.js';
import { splitLine } from '../cli/ipvsadm/parse.js';
import type { NameResolver } from '../cli/ipvsadm/names.js';

export const TABLE_STATE_FILE = 'table.json';
export const TABLE_STATE_VERSION = 1;

export interface Timeouts3 {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** The table's content, as the worker captures and restores it. */
export interface TableContent {
  /** `ipvsadm -S -n` rules, destinations with thresholds carrying `-x U -y L` */
  ipvsadm: string;
  /** `lvsd fwmark list` output (one `lvsd fwmark add ...` per line) */
  fwmark: string;
  timeouts: Timeouts3;
}

export interface TableStateFile extends TableContent {
  version: number;
  /** SO_NETNS_COOKIE of the namespace that wrote it ('' when the kernel has none) */
  cookie: string;
  savedAt: string;
  pid: number;
}

/** A resolver that knows no names: the saved rules are numeric (-n) and so are the restored ones. */
const NUMERIC_NAMES: NameResolver = {
  portName: () => undefined,
  portByName: () => undefined,
  hostName: () => undefined,
  hostAddr: () => undefined,
};

/** The Director's table as restorable text (worker side). */
export function captureTable(d: Director): TableContent {
  const fmt = FMT_RULE | FMT_NUMERIC;
  let ipvsadm = '';
  for (const s of listServices(d).sort(cmpServices)) {
    const lines = serviceEntry(s, fmt, NUMERIC_NAMES).split('\n');
    // serviceEntry prints the service line, then the dests in cmpDests order
    const dests = s.dests.slice().sort(cmpDests);
    for (let k = 0; k < dests.length; k++) {
      const x = dests[k]!;
      if (x.uThreshold !== 0 || x.lThreshold !== 0) lines[k + 1] += ` -x ${x.uThreshold} -y ${x.lThreshold}`;
    }
    ipvsadm += lines.join('\n');
  }
  const fw = executeFwmark(['list'], d);
  return { ipvsadm, fwmark: fw.stdout, timeouts: d.timeouts.get() };
}

export interface RestoreReport {
  /** services and fwmark rules in the table afterwards */
  services: number;
  fwmarkRules: number;
  /** what the executors complained about ('' when nothing) */
  errors: string;
}

/**
 * Replace the Director's table with `c` (worker side): flush, fwmark rules, `ipvsadm -R`, `--set`.
 * The caller commits (the engine adopts the table). Never throws for bad content: errors come back.
 */
export function restoreTable(d: Director, c: TableContent, nowMs: number): RestoreReport {
  let errors = '';
  const run = (argv: string[], stdin?: string): void => {
    const r = executeIpvsadm(argv, {
      director: d,
      nowMs,
      names: NUMERIC_NAMES,
      ...(stdin !== undefined ? { stdin } : {}),
    });
    if (r.code !== 0) errors += `ipvsadm ${argv.join(' ')}: ${r.stderr || `exit ${r.code}`}`;
  };
  run(['-C']);
  executeFwmark(['flush'], d);
  for (const line of c.fwmark.split('\n')) {
    const argv = splitLine(line);
    if (argv.length === 0) continue;
    if (argv[0] !== 'lvsd' || argv[1] !== 'fwmark') {
      errors += `fwmark rule not understood: ${line}\n`;
      continue;
    }
    const r = executeFwmark(argv.slice(2), d);
    if (r.code !== 0) errors += `${line}: ${r.stderr}`;
  }
  if (c.ipvsadm.trim() !== '') run(['-R'], c.ipvsadm);
  const t = c.timeouts;
  const cur = d.timeouts.get();
  if (t.tcp !== cur.tcp || t.tcpfin !== cur.tcpfin || t.udp !== cur.udp)
    run(['--set', String(t.tcp), String(t.tcpfin), String(t.udp)]);
  return { services: d.services.list().length, fwmarkRules: d.fwmarks.list().length, errors };
}

/** Write `data` to `file` atomically: tmp file in the same directory, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function saveTableState(dir: string, cookie: string, c: TableContent): void {
  const st: TableStateFile = {
    version: TABLE_STATE_VERSION,
    cookie,
    savedAt: new Date().toISOString(),
    pid: process.pid,
    ipvsadm: c.ipvsadm,
    fwmark: c.fwmark,
    timeouts: c.timeouts,
  };
  writeFileAtomic(path.join(dir, TABLE_STATE_FILE), JSON.stringify(st, null, 1) + '\n');
}

function isTimeouts(v: unknown): v is Timeouts3 {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Record<string, unknown>;
  return ['tcp', 'tcpfin', 'udp'].every((k) => Number.isInteger(t[k]) && (t[k] as number) >= 0);
}

export type LoadOutcome =
  | { kind: 'none' }
  | { kind: 'loaded'; content: TableContent; savedAt: string }
  | { kind: 'foreign'; cookie: string }
  | { kind: 'invalid'; reason: string };

/**
 * Read the saved table. A file from another namespace (cookie differs) is removed; an unreadable or
 * malformed one is left in place for inspection and reported. Never throws.
 */
export function loadTableState(dir: string, cookie: string): LoadOutcome {
  const file = path.join(dir, TABLE_STATE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'invalid', reason: `cannot read ${file}: ${(e as Error).message}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', reason: `${file} is not JSON: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { kind: 'invalid', reason: `${file}: not an object` };
  const s = v as Record<string, unknown>;
  if (s['version'] !== TABLE_STATE_VERSION)
    return { kind: 'invalid', reason: `${file}: unknown version ${JSON.stringify(s['version'])}` };
  if (typeof s['cookie'] !== 'string') return { kind: 'invalid', reason: `${file}: no namespace cookie` };
  if (s['cookie'] !== cookie) {
    try {
      fs.rmSync(file, { force: true });
    } catch {
      /* reported by the caller's log line anyway */
    }
    return { kind: 'foreign', cookie: s['cookie'] };
  }
  if (typeof s['ipvsadm'] !== 'string' || typeof s['fwmark'] !== 'string' || !isTimeouts(s['timeouts']))
    return { kind: 'invalid', reason: `${file}: missing or malformed fields` };
  return {
    kind: 'loaded',
    content: { ipvsadm: s['ipvsadm'], fwmark: s['fwmark'], timeouts: s['timeouts'] },
    savedAt: typeof s['savedAt'] === 'string' ? s['savedAt'] : '',
  };
}

/** Remove the saved table (and any hand-over file): the namespace is going away. */
export function removeState(dir: string, files: readonly string[] = [TABLE_STATE_FILE]): void {
  for (const f of files) fs.rmSync(path.join(dir, f), { force: true });
}
