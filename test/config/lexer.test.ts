/**
 * Lexical grammar (reference §1.1): comments, quoting and escapes, brace splitting, include with
 * globs, $VAR parameters (multi-line, lazy, built-ins), @ID conditionals and ~SEQ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { MiscChecker } from '../../src/config/model.js';
import { componentRegExp, expandBraces } from '../../src/config/glob.js';
import { fixture, load, messages, parse } from './helpers.js';

const VS = (body: string): string =>
  `virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n${body}\n}\n`;

test('comments (# and !) end a line outside quotes only', () => {
  const r = parse(
    VS(
      `real_server 10.0.0.2 80 { # weight 9\n weight 4 ! weight 8\n MISC_CHECK {\n misc_path "/bin/echo #x !y"\n }\n}`,
    ) + 'global_defs {\n enable_script_security\n}\n',
  );
  assert.deepEqual(messages(r), []);
  const rs = r.config!.virtualServers[0]!.realServers[0]!;
  assert.equal(rs.weight, 4);
  assert.deepEqual((rs.checkers[0] as MiscChecker).script.argv, ['/bin/echo', '#x', '!y']);
});

test('braces split lines: a whole block on one line, and { on the next line', () => {
  const r = parse(
    'virtual_server 10.0.0.1 80 { lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.0.2 80 { weight 3 } real_server 10.0.0.3 80\n{\nweight 7\n}\n}',
  );
  assert.deepEqual(messages(r), []);
  assert.deepEqual(
    r.config!.virtualServers[0]!.realServers.map((x) => x.weight),
    [3, 7],
  );
});

test('one keyword per line: extra words are arguments and are ignored', () => {
  const r = parse(
    'global_defs {\n enable_script_security\n}\nvrrp_script s { script /bin/true interval 2 weight 30 }\n',
  );
  assert.deepEqual(messages(r), []);
  const s = r.config!.vrrpScripts[0]!;
  // `interval 2 weight 30` are extra arguments of `script`
  assert.deepEqual([s.interval, s.weight], [1, 0]);
  assert.deepEqual(s.script.argv, ['/bin/true', 'interval', '2', 'weight', '30']);
});

test('quoting: single and double quotes group words; escapes \\n \\t \\xHH \\nnn \\\\ \\"', () => {
  const r = parse(
    'global_defs {\n enable_script_security\n router_id "a b"\n notification_email_from \'c d\'\n}\n' +
      VS(`real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_path "/bin/x \\"q r\\" \\x41\\102\\t\\\\"\n }\n}`),
  );
  assert.deepEqual(messages(r), []);
  assert.equal(r.config!.global.routerId, 'a b');
  assert.equal(r.config!.global.notificationEmailFrom, 'c d');
  const ck = r.config!.virtualServers[0]!.realServers[0]!.checkers[0] as MiscChecker;
  assert.equal(ck.script.command, '/bin/x "q r" AB\t\\');
  assert.deepEqual(ck.script.argv, ['/bin/x', 'q r', 'AB', '\\']);
});

test('keywords are case-sensitive; protocol values are not', () => {
  const r = parse(VS('PROTOCOL udp\nprotocol udp\nreal_server 10.0.0.2 80 {\n tcp_check {\n }\n}'));
  assert.deepEqual(messages(r), [
    "(test.conf: Line 5) Unknown keyword 'PROTOCOL'",
    "(test.conf: Line 8) Unknown keyword 'tcp_check'",
  ]);
  assert.equal(r.config!.virtualServers[0]!.protocol, 'UDP');
  assert.equal(r.exitCode, 5);
});

test('$VAR definitions: plain, braces, lazy, recursive, multi-line; undefined left as is', () => {
  const text = [
    '$PORT=8080',
    '$RS=real_server 10.0.0.$N $PORT {\\',
    '   weight ${W} \\',
    '}',
    '$N=7',
    '$W=${N}',
    'virtual_server 10.0.0.1 $PORT {',
    ' lb_algo rr',
    ' lb_kind NAT',
    ' protocol TCP',
    ' $RS',
    ' $N=8',
    ' $RS',
    ' virtualhost "${UNDEFINED}"',
    ' persistence_engine $PORTx',
    '}',
  ].join('\n');
  const r = parse(text);
  assert.deepEqual(messages(r), []);
  const vs = r.config!.virtualServers[0]!;
  assert.equal(vs.name, '[10.0.0.1]:tcp:8080');
  assert.deepEqual(
    vs.realServers.map((x) => [x.address, x.port, x.weight]),
    [
      ['10.0.0.7', 8080, 7],
      ['10.0.0.8', 8080, 8],
    ],
  );
  assert.equal(vs.virtualhost, '${UNDEFINED}');
  assert.equal(vs.persistenceEngine, '$PORTx');
});

test('a recursive $VAR definition is cut off with a message instead of growing without bound', () => {
  const r = parse('$X=a $X $X\nglobal_defs {\n router_id $X\n}\n');
  assert.deepEqual(messages(r), [
    '(test.conf: Line 3) Parameter substitution too deep or too large (recursive definition?) - not expanded further',
  ]);
  assert.equal(r.config!.global.routerId, 'a');
});

test('built-in parameters: _PWD _INSTANCE _RANDOM _ENV _HASH _BANG', () => {
  const text =
    'global_defs {\n router_id ${_INSTANCE}\n notification_email_from ${_ENV LVSD_TEST}\n smtp_helo_name ${_HASH}x${_BANG}\n' +
    ' net_namespace ${_PWD}\n process_name ${_RANDOM 5 5}\n default_interface ${_RANDOM}\n}\n';
  const r = parseAt('/etc/lvsd/keepalived.conf', text, { instance: 'inst1' });
  assert.deepEqual(messages(r), []);
  const g = r.config!.global;
  assert.equal(g.routerId, 'inst1');
  assert.equal(g.notificationEmailFrom, 'from-env');
  assert.deepEqual(g.other['smtp_helo_name'], ['#x!']);
  assert.deepEqual(g.other['net_namespace'], ['/etc/lvsd']);
  assert.deepEqual(g.other['process_name'], ['5']);
  // random() = 0.5 in OPTS: 0 + floor(0.5 * 32768)
  assert.deepEqual(g.other['default_interface'], ['16384']);
});

function parseAt(file: string, text: string, opts = {}): ReturnType<typeof parse> {
  return parse(text, opts) && loadText(file, text, opts);
}

function loadText(file: string, text: string, opts = {}): ReturnType<typeof parse> {
  return load(file, {
    readFile: (f) => {
      if (f === file) return text;
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    ...opts,
  });
}

test('@ID and @^ID conditional lines follow the config id', () => {
  const text =
    'global_defs {\n@lb1 router_id one\n@lb2 router_id two\n@^lb1 smtp_helo_name not-one\n@^lb2 notification_email_from not-two\n}\n';
  const one = parse(text, { configId: 'lb1' }).config!.global;
  assert.deepEqual(
    [one.routerId, one.other['smtp_helo_name'], one.notificationEmailFrom],
    ['one', undefined, 'not-two'],
  );
  const two = parse(text, { configId: 'lb2' }).config!.global;
  assert.deepEqual(
    [two.routerId, two.other['smtp_helo_name'], two.notificationEmailFrom],
    ['two', ['not-one'], undefined],
  );
});

test('~SEQ and ~SEQx repeat a line; nested sequences; variables in the bounds', () => {
  const text = VS(
    '$LAST=3\n~SEQ(i, 1, 1, $LAST) real_server 10.0.1.$i 80 { weight $i }\n' +
      '~SEQx(h, 10, 2, 12) real_server 2001:db8::${h} 80 { }\n' +
      '~SEQ(a, 1, 1, 2) ~SEQ(b, 5, -1, 4) real_server 10.${a}.${b}.1 80 { }',
  ).replace('lb_kind NAT', 'lb_kind TUN');
  const r = parse(text);
  assert.deepEqual(messages(r), []);
  assert.deepEqual(
    r.config!.virtualServers[0]!.realServers.map((x) => `${x.address}/${x.weight}`),
    [
      '10.0.1.1/1',
      '10.0.1.2/2',
      '10.0.1.3/3',
      '2001:db8::a/1',
      '2001:db8::c/1',
      '10.1.5.1/1',
      '10.1.4.1/1',
      '10.2.5.1/1',
      '10.2.4.1/1',
    ],
  );
  const bad = parse('~SEQ(i, 1, 0, 3) bogus\n');
  assert.deepEqual(messages(bad), ["(test.conf: Line 1) Invalid ~SEQ definition '~SEQ(i, 1, 0, 3) bogus'"]);
});

test('include: globs relative to the including file, nested includes, hidden files skipped, missing file silent', () => {
  const main = fixture('include', 'main.conf');
  const r = load(main);
  assert.deepEqual(messages(r), ["(rs-y1.conf: Line 2) Unknown keyword 'bogus_in_include'"]);
  const c = r.config!;
  assert.equal(c.global.routerId, 'from-include');
  assert.deepEqual(
    c.virtualServers[0]!.realServers.map((x) => `${x.address}/${x.weight}`),
    ['10.9.1.1/11', '10.9.1.2/12', '10.9.1.3/13', '10.9.2.1/1', '10.9.3.1/1'],
  );
  const dir = path.dirname(main);
  assert.deepEqual(
    c.files.map((f) => path.relative(dir, f)),
    [
      'main.conf',
      'conf.d/10-global.conf',
      'sub/a.inc',
      'sub/nested.inc',
      'sub/b.inc',
      'vs/rs-1.conf',
      'vs/rs-y1.conf',
    ],
  );
  // the diagnostic names the included file and its own line
  assert.equal(r.diagnostics[0]!.loc!.file, path.join(dir, 'vs/rs-y1.conf'));
});

test('includer / includem / includew / includeb / includea report what is missing', () => {
  const dir = fixture('include');
  const file = path.join(dir, 'checks.conf');
  const text = [
    'includer nothing-here.conf',
    'includem none-*.conf',
    'includew conf.d/zz*.conf',
    'includeb sub/{a,zz}.inc',
    'include',
  ].join('\n');
  const r = load(file, {
    readFile: (f) => {
      if (f === file) return text;
      return f.endsWith('/sub/a.inc') ? 'global_defs {\n}\n' : fail(f);
    },
  });
  assert.deepEqual(messages(r), [
    `(checks.conf: Line 1) Unable to read include file '${dir}/nothing-here.conf'`,
    "(checks.conf: Line 2) No config files matched 'none-*.conf'",
    `(checks.conf: Line 3) No config files matched '${dir}/conf.d/zz*.conf'`,
    `(checks.conf: Line 4) No config files matched '${dir}/sub/zz.inc'`,
    '(checks.conf: Line 5) No include file specified',
  ]);
  assert.equal(r.exitCode, 5);
});

function fail(f: string): never {
  throw Object.assign(new Error(`ENOENT ${f}`), { code: 'ENOENT' });
}

test('an include loop stops at the depth limit with a message', () => {
  const file = '/cfg/loop.conf';
  const r = load(file, { readFile: (f) => (f === file ? 'include loop.conf\n' : fail(f)) });
  assert.equal(r.diagnostics.length, 1);
  assert.match(r.diagnostics[0]!.message, /^Include depth exceeds 32/);
  assert.equal(r.config!.files.length, 33);
});

test('glob helpers: brace expansion and component patterns', () => {
  assert.deepEqual(expandBraces('a{b,c{d,e}}f'), ['abf', 'acdf', 'acef']);
  assert.deepEqual(expandBraces('x{y}z'), ['x{y}z']);
  assert.deepEqual(expandBraces('p{1,2}q{3,4}'), ['p1q3', 'p1q4', 'p2q3', 'p2q4']);
  const re = componentRegExp('r[!0-4]?.c*');
  assert.ok(re.test('r5x.conf'));
  assert.ok(!re.test('r3x.conf'));
  assert.ok(!re.test('r5x-conf'));
  assert.ok(componentRegExp('a.b').test('a.b') && !componentRegExp('a.b').test('axb'));
});
