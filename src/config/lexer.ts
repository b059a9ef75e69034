/**
 * keepalived.conf reading and lexing (reference §1.1): physical lines are read file by file
 * (following `include`), comments stripped, `@ID`/`@^ID` conditional lines filtered, `$VAR=`
 * definitions recorded, `~SEQ` lines repeated, parameters substituted lazily, and the result cut
 * into logical lines: one keyword per line, with `{` and `}` outside quotes as lines of their own.
 * Every word keeps the file, line and column it came from.
 */
import path from 'node:path';
import type { SourceLocation } from './model.js';
import { expandBraces, hasWildcard, matchPattern } from './glob.js';
import type { Diags } from './diags.js';

export interface Word {
  /** the word after quote removal and escape processing */
  text: string;
  /** 1-based column of the word's first character in its source line */
  column: number;
  /** the word was (at least partly) quoted */
  quoted: boolean;
}

/** One logical line: a keyword with its arguments, or a lone `{` / `}`. */
export interface Line {
  words: Word[];
  loc: SourceLocation;
}

/** File access the lexer needs (injected for tests; default node:fs). */
export interface ConfigFs {
  readFile(file: string): string;
  readDir(dir: string): string[];
}

export interface LexOptions {
  /** `@ID` lines are kept when ID equals this (keepalived -i; default first label of the hostname) */
  configId: string;
  /** value of ${_INSTANCE} */
  instance: string;
  env: NodeJS.ProcessEnv;
  fs: ConfigFs;
  /** random source for ${_RANDOM} (tests inject a fixed one) */
  random: () => number;
}

/** include checks (reference §1.1): r readable, m match, w wildcard_match, b brace_match */
interface IncludeChecks {
  readable: boolean;
  match: boolean;
  wildcard: boolean;
  brace: boolean;
}

const MAX_INCLUDE_DEPTH = 32;
/** the (never mutated) parameter scope of lines outside ~SEQ */
const NO_LOCALS: ReadonlyMap<string, string> = new Map();
const MAX_SUBST_DEPTH = 32;
/** bound on variable expansions per logical line: `$X=$X $X` would otherwise grow as 2^depth */
const MAX_SUBST_STEPS = 1000;
/** bound on the lines a single ~SEQ (or nesting of them) may produce, against runaway configs */
const MAX_SEQ_LINES = 200_000;

interface FileCtx {
  file: string;
  dir: string;
}

/** Result of reading the main file: the logical lines and every file read in order. */
export interface LexResult {
  lines: Line[];
  files: string[];
}

export class Lexer {
  private readonly defs = new Map<string, string>();
  private readonly lines: Line[] = [];
  private readonly files: string[] = [];
  private defaultChecks: IncludeChecks = { readable: false, match: false, wildcard: false, brace: false };

  constructor(
    private readonly opts: LexOptions,
    private readonly diags: Diags,
  ) {}

  /** Lex a main file's text (already read). */
  lexMain(text: string, file: string): LexResult {
    this.files.push(file);
    this.lexText(text, { file, dir: path.dirname(path.resolve(file)) }, 0);
    return { lines: this.lines, files: this.files };
  }

  private lexText(text: string, fc: FileCtx, depth: number): void {
    const physical = text.split(/\r?\n/);
    for (let i = 0; i < physical.length; i++) {
      const lineNo = i + 1;
      const raw = stripComment(physical[i]!);
      const lead = raw.length - raw.trimStart().length;
      let body = raw.trim();
      if (body === '') continue;
      const loc = (column: number): SourceLocation => ({ file: fc.file, line: lineNo, column });

      // include lines are recognised before conditionals and parameters (reference §1.1)
      const inc = body.startsWith('include') ? /^include([rmwba]?)(?:\s+(.*))?$/s.exec(body) : null;
      if (inc) {
        this.include(inc[1]!, unquote(inc[2] ?? ''), fc, loc(lead + 1), depth);
        continue;
      }
      const incCheck =
        inc === null && body.startsWith('include_check') ? /^include_check(?:\s+(.*))?$/s.exec(body) : null;
      if (incCheck) this.setIncludeCheck(incCheck[1] ?? '');

      let col = lead + 1;
      // @ID / @^ID conditional lines
      if (body[0] === '@') {
        const m = /^@(\^?)(\S+)\s*(.*)$/s.exec(body)!;
        const neg = m[1] === '^';
        const match = m[2] === this.opts.configId;
        if (match === neg) continue;
        col += body.length - m[3]!.length;
        body = m[3]!;
        if (body === '') continue;
      }

      // $NAME=value definitions, continued with a trailing backslash
      const def = body[0] === '$' ? /^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(body) : null;
      if (def) {
        const parts: string[] = [];
        let value = def[2]!;
        while (value.endsWith('\\') && i + 1 < physical.length) {
          parts.push(value.slice(0, -1).trim());
          i++;
          value = stripComment(physical[i]!).trim();
        }
        parts.push(value.trim());
        this.defs.set(def[1]!, parts.filter((p) => p !== '').join('\n'));
        continue;
      }

      this.emitLogical(body, NO_LOCALS, fc, lineNo, col, { n: 0 });
    }
  }

  /** Expand ~SEQ, substitute parameters and tokenise one logical source line. */
  private emitLogical(
    body: string,
    locals: ReadonlyMap<string, string>,
    fc: FileCtx,
    lineNo: number,
    col: number,
    budget: { n: number },
  ): void {
    const seq = body[0] === '~' ? /^~SEQ(x?)\(([^)]*)\)\s*(.*)$/s.exec(body) : null;
    if (seq) {
      const hex = seq[1] === 'x';
      const args = this.substituteLine(seq[2]!, locals, fc, { file: fc.file, line: lineNo, column: col })
        .split(',')
        .map((s) => s.trim());
      const loc = { file: fc.file, line: lineNo, column: col };
      const name = args[0] ?? '';
      const nums = args.slice(1).map((a) => (/^-?(0x[0-9a-f]+|\d+)$/i.test(a) ? Number(a) : NaN));
      let start = 1;
      let step = 1;
      let end = NaN;
      if (nums.length === 1) end = nums[0]!;
      else if (nums.length === 2) [start, end] = [nums[0]!, nums[1]!];
      else if (nums.length === 3) [start, step, end] = [nums[0]!, nums[1]!, nums[2]!];
      if (
        !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ||
        nums.some((n) => Number.isNaN(n)) ||
        Number.isNaN(end) ||
        step === 0
      ) {
        this.diags.error(`Invalid ~SEQ definition '${body}'`, loc);
        return;
      }
      const rest = seq[3]!;
      const restCol = col + body.length - rest.length;
      for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
        if (++budget.n > MAX_SEQ_LINES) {
          this.diags.error(`~SEQ produces more than ${MAX_SEQ_LINES} lines - truncating`, loc);
          return;
        }
        const inner = new Map(locals);
        inner.set(name, hex ? v.toString(16) : String(v));
        this.emitLogical(rest, inner, fc, lineNo, restCol, budget);
      }
      return;
    }
    const text = body.includes('$')
      ? this.substituteLine(body, locals, fc, { file: fc.file, line: lineNo, column: col })
      : body;
    if (text.includes('\n')) {
      for (const sub of text.split('\n')) tokenize(sub, fc.file, lineNo, col, this.lines);
    } else tokenize(text, fc.file, lineNo, col, this.lines);
  }

  /** `$NAME` (followed by white space or end of line) and `${NAME}`; recursive, undefined left as is. */
  private substSteps = 0;
  private substOverflow = false;

  /** Substitute one logical line's parameters within the expansion budget. */
  private substituteLine(
    text: string,
    locals: ReadonlyMap<string, string>,
    fc: FileCtx,
    loc: SourceLocation,
  ): string {
    this.substSteps = MAX_SUBST_STEPS;
    this.substOverflow = false;
    const out = this.substitute(text, locals, fc, 0);
    if (this.substOverflow)
      this.diags.error(
        'Parameter substitution too deep or too large (recursive definition?) - not expanded further',
        loc,
      );
    return out;
  }

  private substitute(text: string, locals: ReadonlyMap<string, string>, fc: FileCtx, depth: number): string {
    if (!text.includes('$')) return text;
    if (depth > MAX_SUBST_DEPTH) {
      this.substOverflow = true;
      return text;
    }
    let out = '';
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c !== '$') {
        out += c;
        i++;
        continue;
      }
      if (text[i + 1] === '{') {
        const close = text.indexOf('}', i + 2);
        if (close < 0) {
          out += text.slice(i);
          break;
        }
        const inner = text.slice(i + 2, close);
        const value = this.lookup(inner, locals, fc, depth);
        out += value ?? text.slice(i, close + 1);
        i = close + 1;
        continue;
      }
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
      if (m) {
        const after = text[i + 1 + m[0].length];
        if (after === undefined || /\s/.test(after)) {
          const value = this.lookup(m[0], locals, fc, depth);
          if (value !== undefined) {
            out += value;
            i += 1 + m[0].length;
            continue;
          }
        }
      }
      out += c;
      i++;
    }
    return out;
  }

  private lookup(
    expr: string,
    locals: ReadonlyMap<string, string>,
    fc: FileCtx,
    depth: number,
  ): string | undefined {
    const parts = expr.trim().split(/\s+/);
    const name = parts[0] ?? '';
    switch (name) {
      case '_PWD':
        return fc.dir;
      case '_INSTANCE':
        return this.opts.instance;
      case '_HASH':
        return '#';
      case '_BANG':
        return '!';
      case '_ENV':
        return parts[1] !== undefined ? (this.opts.env[parts[1]] ?? '') : '';
      case '_RANDOM': {
        const min = parts[1] !== undefined && /^\d+$/.test(parts[1]) ? Number(parts[1]) : 0;
        const max = parts[2] !== undefined && /^\d+$/.test(parts[2]) ? Number(parts[2]) : 32767;
        const lo = Math.min(min, max);
        const hi = Math.max(min, max);
        return String(lo + Math.floor(this.opts.random() * (hi - lo + 1)));
      }
    }
    const v = locals.get(name) ?? this.defs.get(name);
    if (v === undefined || parts.length > 1) return undefined;
    if (--this.substSteps < 0) {
      this.substOverflow = true;
      return undefined;
    }
    return this.substitute(v, locals, fc, depth + 1);
  }

  private setIncludeCheck(args: string): void {
    const c: IncludeChecks = { readable: false, match: false, wildcard: false, brace: false };
    const words = args.split(/\s+/).filter((w) => w !== '');
    if (words.length === 0) c.readable = c.match = c.wildcard = c.brace = true;
    for (const w of words) {
      if (w === 'readable' || w === 'r') c.readable = true;
      else if (w === 'match' || w === 'm') c.match = true;
      else if (w === 'wildcard_match' || w === 'w') c.wildcard = true;
      else if (w === 'brace_match' || w === 'b') c.brace = true;
      else if (w === 'all' || w === 'a') c.readable = c.match = c.wildcard = c.brace = true;
    }
    this.defaultChecks = c;
  }

  private include(flag: string, pattern: string, fc: FileCtx, loc: SourceLocation, depth: number): void {
    if (pattern === '') {
      this.diags.error('No include file specified', loc);
      return;
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      this.diags.error(`Include depth exceeds ${MAX_INCLUDE_DEPTH} - not including '${pattern}'`, loc);
      return;
    }
    const checks: IncludeChecks =
      flag === ''
        ? this.defaultChecks
        : flag === 'a'
          ? { readable: true, match: true, wildcard: true, brace: true }
          : { readable: flag === 'r', match: flag === 'm', wildcard: flag === 'w', brace: flag === 'b' };
    const abs = path.isAbsolute(pattern) ? pattern : path.join(fc.dir, pattern);
    const all: string[] = [];
    for (const alt of expandBraces(abs)) {
      const wild = hasWildcard(alt);
      const found = wild ? matchPattern(path.normalize(alt), (d) => this.opts.fs.readDir(d)) : [alt];
      const readable: string[] = [];
      for (const f of found) {
        const text = this.tryRead(f);
        if (text === undefined) {
          if (checks.readable && (!wild || found.length > 0))
            this.diags.error(`Unable to read include file '${f}'`, loc);
          continue;
        }
        readable.push(f);
        all.push(f);
        this.files.push(f);
        this.lexText(text, { file: f, dir: path.dirname(f) }, depth + 1);
      }
      if (readable.length === 0) {
        if (wild && checks.wildcard) this.diags.error(`No config files matched '${alt}'`, loc);
        else if (abs !== alt && checks.brace) this.diags.error(`No config files matched '${alt}'`, loc);
      }
    }
    if (all.length === 0 && checks.match) this.diags.error(`No config files matched '${pattern}'`, loc);
  }

  private tryRead(file: string): string | undefined {
    try {
      return this.opts.fs.readFile(file);
    } catch {
      return undefined;
    }
  }
}

/** Remove a `#` or `!` comment outside quotes (reference §1.1). */
export function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' || c === '!') return line.slice(0, i);
  }
  return line;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return t;
}

/**
 * Decode the escape at text[i] (text[i] === '\\'); returns the characters and the index after it.
 * Shell-like (reference §1.1): \n \t \r \xHH \nnn (octal) \\ \" \'; others are kept verbatim.
 */
function decodeEscape(text: string, i: number): [string, number] {
  const n = text[i + 1];
  if (n === undefined) return ['\\', i + 1];
  if (n === 'n') return ['\n', i + 2];
  if (n === 't') return ['\t', i + 2];
  if (n === 'r') return ['\r', i + 2];
  if (n === '\\' || n === '"' || n === "'") return [n, i + 2];
  if (n === 'x') {
    const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2));
    if (m) return [String.fromCharCode(parseInt(m[0], 16)), i + 2 + m[0].length];
  }
  if (n >= '0' && n <= '7') {
    const m = /^[0-7]{1,3}/.exec(text.slice(i + 1))!;
    return [String.fromCharCode(parseInt(m[0], 8) & 0xff), i + 1 + m[0].length];
  }
  return ['\\' + n, i + 2];
}

/**
 * Cut one logical source line into words and push the resulting lines: braces outside quotes end
 * the current line and form lines of their own (keepalived's read_line residue, §1.1).
 */
export function tokenize(text: string, file: string, lineNo: number, col0: number, out: Line[]): void {
  let words: Word[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    const column = col0 + i;
    if (c === 123 || c === 125) {
      // { or }: ends the current line and is a line of its own
      if (words.length > 0) out.push({ words, loc: { file, line: lineNo, column: words[0]!.column } });
      words = [];
      out.push({ words: [{ text: text[i]!, column, quoted: false }], loc: { file, line: lineNo, column } });
      i++;
      continue;
    }
    // one word: plain runs, quoted parts and escapes until white space or a brace outside quotes
    let word = '';
    let quoted = false;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === 32 || d === 9 || d === 13 || d === 12 || d === 11 || d === 123 || d === 125) break;
      if (d === 34 || d === 39) {
        quoted = true;
        i++;
        let start = i;
        while (i < n && text.charCodeAt(i) !== d) {
          if (text.charCodeAt(i) === 92) {
            const [decoded, next] = decodeEscape(text, i);
            word += text.slice(start, i) + decoded;
            i = next;
            start = i;
          } else i++;
        }
        word += text.slice(start, i);
        i++; // closing quote (or end of text for an unterminated one)
      } else if (d === 92) {
        const [decoded, next] = decodeEscape(text, i);
        word += decoded;
        i = next;
      } else {
        let j = i + 1;
        while (j < n) {
          const e = text.charCodeAt(j);
          if (
            e === 32 ||
            e === 9 ||
            e === 13 ||
            e === 12 ||
            e === 11 ||
            e === 123 ||
            e === 125 ||
            e === 34 ||
            e === 39 ||
            e === 92
          )
            break;
          j++;
        }
        word += text.slice(i, j);
        i = j;
      }
    }
    words.push({ text: word, column, quoted });
  }
  if (words.length > 0) out.push({ words, loc: { file, line: lineNo, column: words[0]!.column } });
}
