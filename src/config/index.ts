/**
 * keepalived.conf loading (issue 4): read + lex (lexer.ts), tree (tree.ts), keyword handlers
 * (keywords-*.ts), post-parse normalisation (normalize.ts) -> the model in model.ts with keepalived's
 * diagnostics and config-test exit code (reference §5: 0 OK, 4 fatal, 5 config errors, 6 script
 * security). Pure apart from reading files; never throws for any input text.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Diagnostic, KeepalivedConfig, LoadResult } from './model.js';
import { Diags } from './diags.js';
import { Lexer, type ConfigFs } from './lexer.js';
import { buildTree, dispatch } from './tree.js';
import { defaultGlobalDefs, topLevelTable } from './keywords-global.js';
import { normalize } from './normalize.js';
import type { ParseState } from './raw.js';

export * from './model.js';
export { SECURITY_VIOLATION, virtualServerName } from './normalize.js';
export { summarizeConfig } from './summary.js';

export interface LoadOptions {
  /** `@ID` conditional lines match this (keepalived -i); default: first label of the hostname */
  configId?: string;
  /** ${_INSTANCE}; default the config id */
  instance?: string;
  /** ${_ENV X} source; default process.env */
  env?: NodeJS.ProcessEnv;
  /** file reader (default fs.readFileSync utf8); must throw when the file cannot be read */
  readFile?: (file: string) => string;
  /** directory lister for include globs (default fs.readdirSync) */
  readDir?: (dir: string) => string[];
  /** random source in [0, 1) for ${_RANDOM} (default Math.random) */
  random?: () => number;
  /**
   * Does this host have the network interface? Given (lvsd -t passes a /sys/class/net lookup), a
   * vrrp_instance `interface` it does not know is reported as keepalived -t does, and - unless
   * global_defs has dynamic_interfaces - "Non-existent interface specified in configuration" makes
   * the result fatal (exit 4): keepalived's VRRP process, like lvsd's, will not start on it.
   * Default: no check (the file may be meant for another host).
   */
  interfaceExists?: (name: string) => boolean;
}

function defaultConfigId(): string {
  return os.hostname().split('.')[0] ?? '';
}

function makeFs(opts: LoadOptions): ConfigFs {
  return {
    readFile: opts.readFile ?? ((f) => fs.readFileSync(f, 'utf8')),
    readDir: opts.readDir ?? ((d) => fs.readdirSync(d)),
  };
}

/** Parse a configuration given as text; `file` names it in diagnostics and resolves includes. */
export function parseKeepalivedText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const diags = new Diags();
  try {
    const configId = opts.configId ?? defaultConfigId();
    const lexer = new Lexer(
      {
        configId,
        instance: opts.instance ?? configId,
        env: opts.env ?? process.env,
        fs: makeFs(opts),
        random: opts.random ?? Math.random,
      },
      diags,
    );
    const { lines, files } = lexer.lexMain(text, file);
    const tree = buildTree(lines, diags);
    const st: ParseState = {
      diags,
      global: defaultGlobalDefs(),
      syncDaemonIdSet: false,
      groups: [],
      virtualServers: [],
      vrrpInstances: [],
      vrrpScripts: [],
      syncGroups: [],
      trackFiles: [],
      globalScripts: 0,
      ...(opts.interfaceExists ? { interfaceExists: opts.interfaceExists } : {}),
    };
    dispatch(tree, topLevelTable(st), st, diags);
    if (st.missingInterface && st.global.other['dynamic_interfaces'] === undefined) {
      // keepalived 2.2.7 (Debian's, checked with `keepalived -t -l`): this line, exit 5, not fatal
      diags.error('Non-existent interface specified in configuration');
    }
    sortParseDiagnostics(diags, files);
    const config = normalize(st, files);
    return { config, diagnostics: diags.list, exitCode: exitCode(diags) };
  } catch (e) {
    // a bug, not a config problem: report it as fatal rather than throwing at the caller
    diags.error(`internal error while parsing ${file}: ${(e as Error).message}`);
    return { config: null, diagnostics: diags.list, exitCode: 4 };
  }
}

/**
 * keepalived reports parse-time problems in one reading pass; ours come from the lexer, the tree
 * and the handlers in turn, so order them by reading position (file read order, line, column).
 */
function sortParseDiagnostics(d: Diags, files: string[]): void {
  const order = new Map(files.map((f, i) => [f, i] as const));
  const key = (x: Diagnostic): [number, number, number] =>
    x.loc ? [order.get(x.loc.file) ?? files.length, x.loc.line, x.loc.column] : [files.length + 1, 0, 0];
  const sorted = d.list
    .map((x, i) => ({ x, i, k: key(x) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2] || a.i - b.i)
    .map((e) => e.x);
  // element-wise: splice(0, n, ...sorted) overflows the stack with a few hundred thousand diagnostics
  for (let i = 0; i < sorted.length; i++) d.list[i] = sorted[i]!;
}

function exitCode(d: Diags): LoadResult['exitCode'] {
  if (d.fatal) return 4;
  if (d.securityViolation) return 6;
  return d.list.length > 0 ? 5 : 0;
}

/** Read and parse a configuration file. A main file that cannot be read gives config null, exit 4. */
export function loadKeepalivedConfig(file: string, opts: LoadOptions = {}): LoadResult {
  const read = opts.readFile ?? ((f: string) => fs.readFileSync(f, 'utf8'));
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (e as Error).message})`;
    return {
      config: null,
      diagnostics: [{ severity: 'error', message: `Configuration file '${file}' ${why}` }],
      exitCode: 4,
    };
  }
  return parseKeepalivedText(text, file, opts);
}

/** True if any vrrp_instance carries virtual_ipaddress entries (the daemon then needs VRRP). */
export function hasVrrpAddresses(c: KeepalivedConfig): boolean {
  return c.vrrpInstances.some((v) => v.virtualIpaddress.length > 0);
}
