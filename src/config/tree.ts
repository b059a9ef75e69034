/**
 * Logical lines -> a tree of keyword nodes, and keyword-table dispatch (reference §1.1).
 *
 * A `{` line opens a block for the keyword line right before it. Brace problems get keepalived's
 * messages: "Unexpected '{' - ignoring" (a `{` with no keyword before it, or after a keyword that
 * takes no block: its contents are read at the current level), "Extra '}' found",
 * "There are N missing '}'s or extra '{'s", and "Missing '{' at beginning of configuration block"
 * (a block keyword without one).
 */
import type { SourceLocation } from './model.js';
import type { Line, Word } from './lexer.js';
import type { Diags } from './diags.js';

export interface Node {
  keyword: string;
  args: Word[];
  loc: SourceLocation;
  /** present when the keyword was followed by `{`; contents up to the matching `}` */
  block?: Node[];
}

export function buildTree(lines: Line[], diags: Diags): Node[] {
  const root: Node[] = [];
  /** open blocks; `anon` = a `{` without a keyword, whose contents are spliced into the parent */
  const stack: { nodes: Node[]; anon: boolean }[] = [{ nodes: root, anon: false }];
  let last: Node | null = null;
  for (const line of lines) {
    const w0 = line.words[0]!;
    if (line.words.length === 1 && !w0.quoted && w0.text === '{') {
      if (last && last.block === undefined) {
        last.block = [];
        stack.push({ nodes: last.block, anon: false });
      } else {
        diags.error("Unexpected '{' - ignoring", line.loc);
        stack.push({ nodes: [], anon: true });
      }
      last = null;
      continue;
    }
    if (line.words.length === 1 && !w0.quoted && w0.text === '}') {
      if (stack.length === 1) diags.error("Extra '}' found", line.loc);
      else {
        const top = stack.pop()!;
        if (top.anon) appendAll(stack[stack.length - 1]!.nodes, top.nodes);
      }
      last = null;
      continue;
    }
    const node: Node = { keyword: w0.text, args: line.words.slice(1), loc: line.loc };
    stack[stack.length - 1]!.nodes.push(node);
    last = node;
  }
  if (stack.length > 1) {
    const missing = stack.length - 1;
    diags.error(`There are ${missing} missing '}'s or extra '{'s`);
    // keep what was read: splice anonymous groups so their contents are not lost
    while (stack.length > 1) {
      const top = stack.pop()!;
      if (top.anon) appendAll(stack[stack.length - 1]!.nodes, top.nodes);
    }
  }
  return root;
}

/**
 * `to.push(...from)` passes every element as a call argument, which overflows the stack for
 * arrays of a few hundred thousand entries (a huge file read as a configuration); copy in a loop.
 */
function appendAll<T>(to: T[], from: readonly T[]): void {
  for (const x of from) to.push(x);
}

/** A keyword handler; `block` says whether the keyword opens a `{ }` block. */
export interface Keyword<C> {
  block?: boolean;
  fn: (node: Node, ctx: C) => void;
}

export type KeywordTable<C> = Record<string, Keyword<C>>;

/**
 * Run each node's handler. Unknown keywords get "Unknown keyword 'X'" and are skipped with their
 * block. A block keyword without `{` still runs its handler with an empty block.
 */
export function dispatch<C>(nodes: Node[] | undefined, table: KeywordTable<C>, ctx: C, diags: Diags): void {
  if (!nodes) return;
  for (const node of nodes) {
    const kw = Object.prototype.hasOwnProperty.call(table, node.keyword) ? table[node.keyword] : undefined;
    if (!kw) {
      diags.warn(`Unknown keyword '${node.keyword}'`, node.loc);
      continue;
    }
    if (kw.block) {
      if (node.block === undefined) {
        diags.error("Missing '{' at beginning of configuration block", node.loc);
        node.block = [];
      }
      kw.fn(node, ctx);
    } else {
      kw.fn(node, ctx);
      if (node.block !== undefined) {
        diags.error("Unexpected '{' - ignoring", node.loc);
        dispatch(node.block, table, ctx, diags);
      }
    }
  }
}

/** The raw words of a list block (`notification_email { a b }`, `group { VI_1 VI_2 }`), one per line. */
export function listItems(node: Node): Node[] {
  return node.block ?? [];
}

/** Location of a word on a node's line. */
export function wordLoc(node: Node, w: Word): SourceLocation {
  return { file: node.loc.file, line: node.loc.line, column: w.column };
}
