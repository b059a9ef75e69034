/**
 * A small glob for keepalived's `include` (reference §1.1): `*`, `?`, `[...]` (with `!`/`^` negation
 * and ranges) within one path component, and `{a,b}` alternatives (expanded first, nested allowed),
 * like glob(3) with GLOB_BRACE. As in glob(3), `*` and `?` do not match a leading `.`; results of each
 * alternative are sorted; directories are listed through the injected `readDir`.
 */

/** True if the pattern has a wildcard that needs a directory listing. */
export function hasWildcard(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Expand `{a,b}` alternatives (nested, left to right); a pattern without braces is returned alone. */
export function expandBraces(pattern: string): string[] {
  const open = findBraceOpen(pattern);
  if (open < 0) return [pattern];
  // find the matching close and the top-level commas inside
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  if (close < 0 || commas.length === 0) {
    // unbalanced or `{x}` without alternatives: literal brace, continue after it
    const head = pattern.slice(0, open + 1);
    return expandBraces(pattern.slice(open + 1)).map((t) => head + t);
  }
  const prefix = pattern.slice(0, open);
  const suffix = pattern.slice(close + 1);
  const out: string[] = [];
  let start = open + 1;
  for (const c of [...commas, close]) {
    const alt = pattern.slice(start, c);
    for (const e of expandBraces(prefix + alt + suffix)) out.push(e);
    start = c + 1;
  }
  return out;
}

function findBraceOpen(p: string): number {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === '{') return i;
  }
  return -1;
}

/** Translate one path component's pattern into an anchored RegExp. */
export function componentRegExp(component: string): RegExp {
  let re = '^';
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = component.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = component.slice(i + 1, end);
      let neg = false;
      if (body[0] === '!' || body[0] === '^') {
        neg = true;
        body = body.slice(1);
      }
      body = body.replace(/[\\\]^]/g, (m) => '\\' + m);
      re += `[${neg ? '^' : ''}${body}]`;
      i = end;
    } else if (c === '\\' && i + 1 < component.length) {
      re += escapeRe(component[++i]!);
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$');
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}

/**
 * Paths matching an absolute pattern without braces. Components without wildcards are taken as
 * they are (existence is checked by the reader); wildcard components list the directory.
 */
export function matchPattern(absPattern: string, readDir: (dir: string) => string[]): string[] {
  const parts = absPattern.split('/');
  let current: string[] = [parts[0] === '' ? '' : parts[0]!];
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k]!;
    if (part === '') continue;
    const next: string[] = [];
    if (!hasWildcard(part)) {
      for (const base of current) next.push(`${base}/${part}`);
    } else {
      const re = componentRegExp(part);
      const dotOk = part[0] === '.';
      for (const base of current) {
        let names: string[];
        try {
          names = readDir(base === '' ? '/' : base);
        } catch {
          continue;
        }
        for (const n of names.slice().sort()) {
          if (n[0] === '.' && !dotOk) continue;
          if (re.test(n)) next.push(`${base}/${n}`);
        }
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current.map((p) => (p === '' ? '/' : p));
}
