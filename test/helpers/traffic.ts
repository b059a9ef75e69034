/**
 * Client traffic for end-to-end tests: count which real server answered a series of HTTP requests,
 * fetch a file and compare it byte for byte, wait for IPv6 addresses to leave the tentative state.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { sleep, type Netns } from './netns.js';

/**
 * `n` sequential curl requests from `client` to `url` (one new connection each); returns how often
 * each response body (trimmed) came back. A failed request counts as 'FAIL'.
 */
export function curlSplit(client: Netns, url: string, n: number, curlOpts = ''): Record<string, number> {
  const out = client.sh(
    `for i in $(seq 1 ${n}); do curl -s --max-time 3 ${curlOpts} '${url}' || echo FAIL; echo; done`,
    { timeoutMs: 15000 + n * 4000 },
  );
  const counts: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const body = line.trim();
    if (body !== '') counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}

/** `curl url -o outFile` from `client`; returns curl's exit status and stderr. */
export function curlFetch(
  client: Netns,
  url: string,
  outFile: string,
  curlOpts = '',
): { status: number; err: string } {
  const r = client.run(`curl -sS --max-time 10 ${curlOpts} -o '${outFile}' '${url}'`, { timeoutMs: 20000 });
  return { status: r.status, err: r.stderr };
}

export function sha256(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Wait until no IPv6 address in `ns` is tentative (DAD finished), at most `ms`. */
export async function waitNoTentative(ns: Netns, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const t = ns.run('ip -6 addr show tentative').stdout.trim();
    if (t === '') return;
    if (Date.now() > deadline) throw new Error(`[${ns.name}] addresses still tentative:\n${t}`);
    await sleep(100);
  }
}

/** The director's view for assertion messages. */
export function directorDiag(director: Netns): string {
  return director.run('ipvsadm -L -n --stats; ipvsadm -L -n -c; lvsd status').stdout;
}

/**
 * assert.deepEqual whose message is built only on failure (diagnostics run ipvsadm and lvsd status,
 * which take seconds).
 */
export function expectEqual<T>(actual: T, expected: T, diag: () => string): void {
  if (!isDeepStrictEqual(actual, expected)) assert.deepEqual(actual, expected, diag());
}

/** assert.ok with a message built only on failure. */
export function expectOk(cond: unknown, diag: () => string): asserts cond {
  if (!cond) assert.fail(diag());
}

/** Fetch `url` with curl from `client` into `outFile` and require exactly `expected` back. */
export function expectFetch(
  client: Netns,
  url: string,
  outFile: string,
  expected: Uint8Array,
  diag: () => string,
  curlOpts = '',
): void {
  const r = curlFetch(client, url, outFile, curlOpts);
  expectOk(r.status === 0, () => `curl ${url} exited ${r.status}: ${r.err}\n${diag()}`);
  const got = fs.readFileSync(outFile);
  expectOk(
    sha256(got) === sha256(expected),
    () => `${url}: ${got.length} bytes differ from the ${expected.length} served\n${diag()}`,
  );
}

/**
 * What the real server's decapsulation agent (`lvsd realserver up --mode tun` without kernel tunnel
 * modules) reports: its tunnel type and how many inner packets it injected. Polls up to `ms` for the
 * count to reach `atLeast` (the agent writes its stats once a second).
 */
export async function agentInjected(
  rs: Netns,
  atLeast: number,
  ms = 3000,
): Promise<{ type: string; injected: number; status: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = rs.sh('lvsd realserver status --json');
    const st = JSON.parse(status) as {
      tun: { type: string; agent: { stats: { injected: number } | null } | null } | null;
    };
    const injected = st.tun?.agent?.stats?.injected ?? 0;
    if (injected >= atLeast || Date.now() > deadline) return { type: st.tun?.type ?? '', injected, status };
    await sleep(200);
  }
}
