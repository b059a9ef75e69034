/**
 * Parser robustness: random bytes, random token soup and truncated corpus files never make the
 * parser throw, and always give a valid exit status. Plus one large generated file (10,000 real
 * servers) checked by counts only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fixtureDir, parse } from './helpers.js';
import { summarizeConfig, type LoadResult } from '../../src/config/index.js';

/** xorshift32: deterministic, so a failure reproduces */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

function checkResult(r: LoadResult): void {
  assert.ok([0, 4, 5, 6].includes(r.exitCode));
  if (r.exitCode !== 4) {
    assert.ok(r.config);
    assert.equal(typeof summarizeConfig(r.config), 'string');
  }
  for (const d of r.diagnostics) assert.ok(!d.message.startsWith('internal error'), d.message);
}

const VOCAB = [
  '{',
  '}',
  '{',
  '}',
  '\n',
  '\n',
  '\n',
  ' ',
  '"',
  "'",
  '#',
  '!',
  '\\',
  '$',
  '${',
  '$X=',
  '$X',
  '$X $X',
  '@lb1 ',
  '@^x ',
  '~SEQ(i,1,1,3)',
  '~SEQx(',
  'include ',
  'includea x*',
  'global_defs',
  'virtual_server',
  'virtual_server_group',
  'real_server',
  'fwmark',
  'group',
  'TCP_CHECK',
  'HTTP_GET',
  'SSL_GET',
  'MISC_CHECK',
  'SMTP_CHECK',
  'DNS_CHECK',
  'UDP_CHECK',
  'FILE_CHECK',
  'BFD_CHECK',
  'PING_CHECK',
  'url',
  'path',
  'digest',
  'status_code',
  'host',
  'vrrp_instance',
  'vrrp_script',
  'vrrp_sync_group',
  'track_file',
  'virtual_ipaddress',
  'authentication',
  'state',
  'MASTER',
  'priority',
  'virtual_router_id',
  'advert_int',
  'lb_algo',
  'lb_kind',
  'NAT',
  'DR',
  'TUN',
  'type',
  'gue',
  'port',
  'protocol',
  'TCP',
  'UDP',
  'quorum',
  'hysteresis',
  'weight',
  'delay_loop',
  'retry',
  'persistence_timeout',
  'sorry_server',
  'misc_path',
  'payload',
  'lvs_sync_daemon',
  'notify_up',
  'script',
  '10.0.0.1',
  '10.0.0.2-9',
  '10.0.0.0/28',
  'fe80::1',
  '::',
  '80',
  '0',
  '-1',
  '1.5',
  '999999999999',
  'abc',
  'rr',
  'sh-port',
  'ops',
  'alpha',
];

test('fuzz: random bytes never throw', () => {
  const rand = rng(0xc0ffee);
  for (let i = 0; i < 300; i++) {
    const len = Math.floor(rand() * 1500);
    let s = '';
    for (let j = 0; j < len; j++) s += String.fromCharCode(Math.floor(rand() * 256));
    checkResult(parse(s));
  }
});

test('fuzz: random token soup never throws', () => {
  const rand = rng(4242);
  for (let i = 0; i < 400; i++) {
    const n = Math.floor(rand() * 300);
    const parts: string[] = [];
    for (let j = 0; j < n; j++) {
      parts.push(VOCAB[Math.floor(rand() * VOCAB.length)]!);
      parts.push(rand() < 0.3 ? '\n' : ' ');
    }
    checkResult(parse(parts.join('')));
  }
});

function corpusFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out.push(...corpusFiles(p));
    else if (!n.endsWith('.json') && !n.endsWith('.md')) out.push(p);
  }
  return out;
}

test('fuzz: every corpus file truncated at random points never throws', () => {
  const rand = rng(7);
  const files = corpusFiles(fixtureDir);
  assert.ok(files.length > 30);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (let k = 0; k < 8; k++) checkResult(parse(text.slice(0, Math.floor(rand() * text.length))));
    // and with a random byte flipped
    const at = Math.floor(rand() * text.length);
    checkResult(
      parse(text.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + text.slice(at + 1)),
    );
  }
});

test('a generated file with 10,000 real servers parses completely', () => {
  const lines = ['global_defs {', '  enable_script_security', '}'];
  for (let v = 0; v < 10; v++) {
    lines.push(
      `virtual_server 10.100.0.${v + 1} 80 {`,
      '  lb_algo wrr',
      '  lb_kind DR',
      '  protocol TCP',
      '  quorum 500',
    );
    for (let r = 0; r < 1000; r++) {
      lines.push(
        `  real_server 10.${101 + v}.${r >> 8}.${r & 255} 80 {`,
        `    weight ${(r % 5) + 1}`,
        '    TCP_CHECK {',
        '      connect_timeout 3',
        '    }',
        '  }',
      );
    }
    lines.push('}');
  }
  const r = parse(lines.join('\n'));
  assert.deepEqual(r.diagnostics, []);
  const c = r.config!;
  assert.equal(c.virtualServers.length, 10);
  assert.equal(
    c.virtualServers.reduce((n, vs) => n + vs.realServers.length, 0),
    10_000,
  );
  assert.ok(c.virtualServers.every((vs) => vs.realServers.every((rs) => rs.checkers.length === 1)));
  assert.equal(c.virtualServers[9]!.realServers[999]!.address, '10.110.3.231');
});
