/**
 * ipvsadm 1.31 messages and exit codes: scanning (popt), option values, the command/option legality
 * matrix, per-command checks, kernel refusals (libipvs ipvs_strerror) and -R semantics.
 * Sources: ipvs-reference §1.1-§1.10.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  executeIpvsadm,
  ipvsStrerror,
  parseIpvsadm,
  START_DAEMON_UNSUPPORTED,
  type IpvsadmContext,
} from '../../src/cli/ipvsadm/index.js';
import { Director } from '../../src/core/director.js';
import { NAMES, run } from './ipvsadm-helpers.js';

const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";
const RS = ['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8'];

/** [argv, stderr, exit code] on an empty director; nothing may change. */
const CASES: [string[], string, number][] = [
  // §1.1: the first option must be a command
  [['--foo'], TRY, 255],
  [['-t', '1.2.3.4:80'], TRY, 255],
  [['foo'], TRY, 255],
  [['-n', '-L'], TRY, 255],
  // one command, each option once
  // a later command is not a case of ipvsadm's option loop: popt's last word is reported
  [['-A', '-t', '1.2.3.4:80', '-D'], "invalid option `-D'\n", 2],
  [['-L', '-n', '-S'], "invalid option `-S'\n", 2],
  [['-L', '-nS'], "invalid option `-nS'\n", 2],
  [['-L', '--start-daemon', 'master'], "invalid option `master'\n", 2],
  [['-L', '-h'], "invalid option `-h'\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-u', '1.2.3.4:80'], "multiple 'service-address' options specified\n", 2],
  [[...RS, '-m', '-g'], "multiple 'forwarding-method' options specified\n", 2],
  [['-L', '-n', '--numeric'], "multiple 'numeric' options specified\n", 2],
  // popt scanning errors after the command: "<word>: <error>", exit 255
  [['-A', '-t', '1.2.3.4:80', '--foo'], '--foo: unknown option\n', 255],
  [['-A', '-t', '1.2.3.4:80', '-Q'], '-Q: unknown option\n', 255],
  [['-A', '-t'], '-t: missing argument\n', 255],
  [['-L', '--stats=1'], '--stats=1: option does not take an argument\n', 255],
  [['-L', '-n=1'], '-n=1: option does not take an argument\n', 255],
  // -p takes no value from a word starting with '-' (not even "-"), which is then a leftover
  [['-A', '-t', '1.2.3.4:80', '-p', '-'], 'unexpected argument -\n', 2],
  // §1.8 legality matrix: required, illegal, exclusive
  [['-A', '-s', 'rr'], "You need to supply the 'service-address' option for the 'add-service' command\n", 2],
  [['-E'], "You need to supply the 'service-address' option for the 'edit-service' command\n", 2],
  [
    ['-a', '-t', '1.2.3.4:80'],
    "You need to supply the 'real-server' option for the 'add-server' command\n",
    2,
  ],
  [
    ['-e', '-t', '1.2.3.4:80', '-w', '2'],
    "You need to supply the 'real-server' option for the 'edit-server' command\n",
    2,
  ],
  [
    ['-d', '-r', '5.6.7.8'],
    "You need to supply the 'service-address' option for the 'delete-server' command\n",
    2,
  ],
  [['-A', '-t', '1.2.3.4:80', '-w', '2'], "Illegal 'weight' option with the 'add-service' command\n", 2],
  [
    ['-A', '-t', '1.2.3.4:80', '-m'],
    "Illegal 'forwarding-method' option with the 'add-service' command\n",
    2,
  ],
  [
    ['-D', '-t', '1.2.3.4:80', '-s', 'rr'],
    "Illegal 'scheduler' option with the 'delete-service' command\n",
    2,
  ],
  [['-C', '-n'], "Illegal 'numeric' option with the 'flush' command\n", 2],
  [['-R', '-n'], "Illegal 'numeric' option with the 'restore' command\n", 2],
  [['-S', '-c'], "Illegal 'connection' option with the 'save' command\n", 2],
  [['-S', '-t', '1.2.3.4:80'], "Illegal 'service-address' option with the 'save' command\n", 2],
  [['-Z', '-n'], "Illegal 'numeric' option with the 'zero' command\n", 2],
  [[...RS, '-s', 'rr'], "Illegal 'scheduler' option with the 'add-server' command\n", 2],
  [[...RS, '-o'], "Illegal 'ops' option with the 'add-server' command\n", 2],
  [
    ['-d', '-t', '1.2.3.4:80', '-r', '5.6.7.8', '-w', '1'],
    "Illegal 'weight' option with the 'delete-server' command\n",
    2,
  ],
  [['-L', '-s', 'rr'], "Illegal 'scheduler' option with the 'list' command\n", 2],
  [['-L', '-x', '1'], "Illegal 'u-threshold' option with the 'list' command\n", 2],
  [['-L', '--mcast-port', '1'], "Illegal 'mcast-port' option with the 'list' command\n", 2],
  [['--set', '1', '2', '3', '-n'], "Illegal 'numeric' option with the 'set' command\n", 2],
  [
    ['--stop-daemon', 'master', '--mcast-interface', 'eth1'],
    "Illegal 'mcast-interface' option with the 'stop-daemon' command\n",
    2,
  ],
  [['--start-daemon', 'master', '-n'], "Illegal 'numeric' option with the 'start-daemon' command\n", 2],
  [['-A', '-t', '1.2.3.4:80', '--tun-info'], "Illegal 'tun-info' option with the 'add-service' command\n", 2],
  [
    ['-L', '-c', '-t', '1.2.3.4:80'],
    "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n",
    2,
  ],
  [
    ['-L', '--timeout', '--daemon'],
    "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n",
    2,
  ],
  [
    ['-L', '-c', '--timeout'],
    "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n",
    2,
  ],
  // §1.6 list exclusions
  [['-L', '-c', '--rate'], 'options conflicts in the list command\n', 2],
  [['-L', '--daemon', '--thresholds'], 'options conflicts in the list command\n', 2],
  [['-L', '--timeout', '--stats'], 'options conflicts in the list command\n', 2],
  [['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command\n', 2],
  // --set and arguments
  [['--set', '1', '2'], '--set option requires 3 timeout values\n', 2],
  [['--set', '1', '2', '3', '4'], 'unexpected argument 4\n', 2],
  [['--set', '1', '2', 'x'], "invalid timeout value `x' specified\n", 2],
  [['--set', '2678401', '0', '0'], "invalid timeout value `2678401' specified\n", 2],
  [['--set', '-1', '0', '0'], '-1: unknown option\n', 255],
  [['-L', 'extra'], 'unexpected argument extra\n', 2],
  // §1.3 selectors
  [['-A', '-t', '1.2.3.4'], 'Zero port specified for non-persistent service\n', 2],
  [['-E', '-u', '1.2.3.4:0', '-s', 'rr'], 'Zero port specified for non-persistent service\n', 2],
  [['-A', '-t', '80'], 'illegal virtual server address[:port] specified\n', 2],
  [['-A', '-t', '1.2.3.4:99999'], 'illegal virtual server address[:port] specified\n', 2],
  [['-A', '-t', '1.2.3.4:nosuchservice'], 'illegal virtual server address[:port] specified\n', 2],
  [['-A', '-t', 'nosuchhost:80'], 'illegal virtual server address[:port] specified\n', 2],
  [['-A', '-t', '[2001:db8::1]'], 'illegal virtual server address[:port] specified\n', 2],
  [['-A', '-f', '0'], "invalid fwmark value `0' specified\n", 2],
  [['-A', '-f', '4294967296'], "invalid fwmark value `4294967296' specified\n", 2],
  [['-A', '-f', '12abc'], "invalid fwmark value `12abc' specified\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-6'], '-6 used before -f\n', 2],
  [['-A', '-6', '-f', '1'], '-6 used before -f\n', 2],
  // §1.4 service options
  [['-A', '-t', '1.2.3.4:53', '-o'], 'One-Packet Scheduling is only for UDP virtual services\n', 2],
  [['-A', '-t', '1.2.3.4:80', '-p', '0'], "invalid timeout value `0' specified\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-p', '2678401'], "invalid timeout value `2678401' specified\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-M', 'bogus'], 'illegal virtual server persistent mask specified\n', 2],
  [['-A', '-f', '1', '-6', '-M', '129'], 'illegal ipv6 netmask specified\n', 2],
  [['-A', '-t', '[2001:db8::1]:80', '-M', 'x'], 'illegal ipv6 netmask specified\n', 2],
  [['-A', '-t', '1.2.3.4:80', '-b', 'flag-9'], "invalid scheduler flag `flag-9'\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-s', 'rr', '-b', 'sh-port'], "incompatible scheduler flag `sh-port'\n", 2],
  [['-A', '-t', '1.2.3.4:80', '-b', 'mh-fallback'], "incompatible scheduler flag `mh-fallback'\n", 2],
  // §1.5 real-server options
  [['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8:70000'], 'illegal real server address[:port] specified\n', 2],
  [[...RS, '-w', '65536'], 'illegal weight specified\n', 2],
  [[...RS, '-w', '-1'], 'illegal weight specified\n', 2],
  [[...RS, '-w', '1.5'], 'illegal weight specified\n', 2],
  [[...RS, '-x', 'x'], 'illegal u_threshold specified\n', 2],
  [[...RS, '-y', '2147483648'], 'illegal l_threshold specified\n', 2],
  [
    ['-a', '-t', '1.2.3.4:80', '-r', '[2001:db8::1]:80', '-m'],
    'Different address family is allowed only for tunneling servers\n',
    2,
  ],
  [
    ['-a', '-f', '1', '-r', '[2001:db8::1]:0'],
    'Different address family is allowed only for tunneling servers\n',
    2,
  ],
  [[...RS, '-m', '--tun-type', 'gue'], 'Tunnel options conflict with forward method\n', 2],
  [[...RS, '--tun-nocsum'], 'Tunnel options conflict with forward method\n', 2],
  [[...RS, '-i', '--tun-type', 'vxlan'], 'illegal tunnel type specified\n', 2],
  [[...RS, '-i', '--tun-port', '0'], 'illegal tunnel port specified\n', 2],
  [
    [...RS, '-i', '--tun-type', 'gue'],
    "You need to supply the 'tun-port' option for the 'gue' tunnel type\n",
    2,
  ],
  [[...RS, '-i', '--tun-port', '80'], "Illegal 'tun-port' option with the 'ipip' tunnel type\n", 2],
  [[...RS, '-i', '--tun-csum'], "Illegal 'tun-csum' option with the 'ipip' tunnel type\n", 2],
  [
    [...RS, '-i', '--tun-type', 'gre', '--tun-remcsum'],
    "Illegal 'tun-remcsum' option with the 'gre' tunnel type\n",
    2,
  ],
  [
    [...RS, '-i', '--tun-type', 'gre', '--tun-port', '5'],
    "Illegal 'tun-port' option with the 'gre' tunnel type\n",
    2,
  ],
  [
    [...RS, '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum', '--tun-remcsum'],
    "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n",
    2,
  ],
  [
    [...RS, '-i', '--tun-type', 'gre', '--tun-nocsum', '--tun-csum'],
    "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n",
    2,
  ],
  // §1.7 daemon
  [['--start-daemon', 'primary'], 'illegal start-daemon parameter specified\n', 2],
  [['--stop-daemon', 'x'], 'illegal start_daemon specified\n', 2],
  [['--start-daemon'], TRY, 255],
  [['--start-daemon', 'master', '--mcast-group', '10.0.0.1'], "invalid IPv4 mcast-group `10.0.0.1'\n", 2],
  [
    ['--start-daemon', 'master', '--mcast-group', '2001:db8::1'],
    "invalid IPv6 mcast-group `2001:db8::1'\n",
    2,
  ],
  [['--start-daemon', 'master', '--mcast-port', '0'], 'illegal mcast-port specified\n', 2],
  [['--start-daemon', 'master', '--mcast-ttl', '256'], 'illegal mcast-ttl specified\n', 2],
  [['--start-daemon', 'master', '--sync-maxlen', '65508'], 'illegal sync-maxlen specified\n', 2],
  [['--start-daemon', 'master', '--syncid', '256'], 'illegal syncid specified\n', 2],
  [
    ['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '5', '--mcast-group', 'ff02::81'],
    START_DAEMON_UNSUPPORTED,
    255,
  ],
  [
    ['--start-daemon', 'master', '--mcast-port', '8848', '--mcast-ttl', '2', '--sync-maxlen', '1400'],
    START_DAEMON_UNSUPPORTED,
    255,
  ],
  [['--stop-daemon', 'backup', '--syncid', '3'], 'No daemon is running\n', 255],
  // kernel answers on an empty table
  [['-E', '-t', '1.2.3.4:80'], 'No such service\n', 255],
  [['-D', '-t', '1.2.3.4:80'], 'No such service\n', 255],
  [['-Z', '-t', '1.2.3.4:80'], 'No such service\n', 255],
  [['-L', '-t', '1.2.3.4:80'], 'No such service\n', 1],
  [RS, 'Service not defined\n', 255],
  [['-e', '-t', '1.2.3.4:80', '-r', '5.6.7.8'], 'Service not defined\n', 255],
  [['-d', '-t', '1.2.3.4:80', '-r', '5.6.7.8'], 'Service not defined\n', 255],
  [['-A', '-t', '1.2.3.4:80', '-s', 'nosuch'], 'Scheduler or persistence engine not found\n', 255],
  [['-A', '-u', '1.2.3.4:5060', '-p', '--pe', 'nosuch'], 'Scheduler or persistence engine not found\n', 255],
];

test('every sampled message and exit code; nothing changes', () => {
  for (const [argv, stderr, code] of CASES) {
    const d = new Director();
    const r = executeIpvsadm(argv, { director: d, nowMs: 0, names: NAMES });
    assert.deepEqual(
      { stderr: r.stderr, code: r.code, stdout: r.stdout, changed: r.changed },
      { stderr, code, stdout: '', changed: false },
      `ipvsadm ${argv.join(' ')}`,
    );
    assert.equal(d.services.serviceCount, 0);
    const p = parseIpvsadm(argv, NAMES);
    if (code === 2 || stderr === TRY || /^-[^ ]*: /.test(stderr)) {
      assert.equal(p.ok, false, `parse fails: ${argv.join(' ')}`);
      assert.equal(p.error?.stderr, stderr);
      assert.equal(p.error?.code, code);
    } else assert.equal(p.ok, true, `parse succeeds: ${argv.join(' ')}`);
  }
});

test('kernel refusals on a populated table', () => {
  const ctx: IpvsadmContext = { director: new Director(), nowMs: 0, names: NAMES };
  run(ctx, '-A -t 1.2.3.4:80 -s rr');
  run(ctx, '-a -t 1.2.3.4:80 -r 5.6.7.8 -m');
  const refuse = (line: string, msg: string): void => {
    const g = ctx.director.services.generation;
    const r = executeIpvsadm(line.split(' '), ctx);
    assert.deepEqual(r, { stdout: '', stderr: `${msg}\n`, code: 255, changed: false }, line);
    assert.equal(ctx.director.services.generation, g);
  };
  refuse('-A -t 1.2.3.4:80', 'Service already exists');
  refuse('-a -t 1.2.3.4:80 -r 5.6.7.8 -m -w 3', 'Destination already exists');
  refuse('-e -t 1.2.3.4:80 -r 5.6.7.9', 'No such destination');
  refuse('-d -t 1.2.3.4:80 -r 5.6.7.9', 'No such destination');
  // -d does not force the port: the DR dest below is 5.6.7.10:80, not :8080
  run(ctx, '-a -t 1.2.3.4:80 -r 5.6.7.10:8080 -g');
  refuse('-d -t 1.2.3.4:80 -r 5.6.7.10:8080', 'No such destination');
  run(ctx, '-d -t 1.2.3.4:80 -r 5.6.7.10');
  // the kernel refuses l_threshold > u_threshold (ERANGE, strerror text)
  refuse('-e -t 1.2.3.4:80 -r 5.6.7.8 -m -x 5 -y 10', 'Numerical result out of range');
  refuse('-E -t 1.2.3.4:80 -s nosuch', 'Scheduler or persistence engine not found');
});

test('ipvs_strerror: per-call texts, then the generic table, then strerror', () => {
  assert.equal(ipvsStrerror('add-service', 17), 'Service already exists');
  assert.equal(ipvsStrerror('add-server', 17), 'Destination already exists');
  assert.equal(ipvsStrerror('delete-service', 3), 'No such service');
  assert.equal(ipvsStrerror('delete-server', 3), 'Service not defined');
  assert.equal(ipvsStrerror('add-server', 2), 'No such file or directory', 'ENOENT has no add-dest text');
  assert.equal(ipvsStrerror('flush', 1), 'Permission denied (you must be root)');
  assert.equal(ipvsStrerror('add-service', 12), 'Memory allocation problem');
  assert.equal(ipvsStrerror('add-server', 97), 'Operation not supported with specified address family');
  assert.equal(
    ipvsStrerror('edit-server', 22),
    'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  );
});

test('-E and -e replace every option (absent ones take their defaults), as the kernel edit does', () => {
  const ctx: IpvsadmContext = { director: new Director(), nowMs: 0, names: NAMES };
  run(ctx, '-A -t 1.2.3.4:80 -s rr -p 100');
  run(ctx, '-a -t 1.2.3.4:80 -r 5.6.7.8 -m -w 5 -x 10');
  run(ctx, '-E -t 1.2.3.4:80');
  run(ctx, '-e -t 1.2.3.4:80 -r 5.6.7.8 -m');
  assert.equal(run(ctx, '-S -n'), '-A -t 1.2.3.4:80 -s wlc\n-a -t 1.2.3.4:80 -r 5.6.7.8:80 -m -w 1\n');
  run(ctx, '-D -t 1.2.3.4:80');
  assert.equal(run(ctx, '-S -n'), '');
});

test('popt spellings: clusters, attached and = arguments, -p with and without a value, --', () => {
  const ctx: IpvsadmContext = { director: new Director(), nowMs: 0, names: NAMES };
  run(ctx, '-A -t 1.2.3.4:0 -p -s rr');
  run(ctx, '-At 1.2.3.5:80 -srr -p100');
  run(ctx, '--add-service --udp-service=1.2.3.6:53 --scheduler=sh --persistent 30 --ops');
  run(ctx, '-A -t 1.2.3.7:80 -p --');
  run(ctx, '-A -f 16 -s rr');
  run(ctx, '-a -f 16 -r 9.9.9.9 -w 0');
  run(ctx, '-A --sctp-service 1.2.3.8:9 -M 255.255.0.0 -p 9');
  // popt skips one '=' between a short option and its attached argument
  run(ctx, '-A -t=1.2.3.9:80 -s=wrr -p=50');
  assert.equal(
    run(ctx, '-S -n'),
    [
      '-A -t 1.2.3.4:0 -s rr -p 360',
      '-A -t 1.2.3.5:80 -s rr -p 100',
      '-A -t 1.2.3.7:80 -s wlc -p 360',
      '-A -t 1.2.3.9:80 -s wrr -p 50',
      '-A -u 1.2.3.6:53 -s sh -p 30 -o',
      '-A --sctp-service 1.2.3.8:9 -s wlc -p 9 -M 255.255.0.0',
      '-A -f 16 -s rr',
      '-a -f 16 -r 9.9.9.9:0 -g -w 0',
      '',
    ].join('\n'),
  );
  // a mark above 2^31 prints as ipvsadm's printf("%d") prints it
  run(ctx, '-A -f 4294967295 -s rr');
  assert.match(run(ctx, '-L -n'), /\nFWM {2}-1 rr\n/);
  run(ctx, '-D -f 4294967295');
  // inet_aton forms for -M, as ipvsadm accepts them
  run(ctx, '-E -t 1.2.3.4:0 -p -M 0xffffff00');
  assert.match(
    run(ctx, '-L -n -t 1.2.3.4:0'),
    /TCP {2}1\.2\.3\.4:0 wlc persistent 360 mask 255\.255\.255\.0\n/,
  );
});

test('parseIpvsadm flags: readOnly, needsStdin, help, version', () => {
  const p = (s: string) => parseIpvsadm(s === '' ? [] : s.split(' '), NAMES);
  for (const s of [
    '',
    '-L',
    '-l -n -c',
    '-S -n',
    '-L --timeout',
    '-L --daemon',
    '-L --syncid 5',
    '--stop-daemon master',
  ]) {
    assert.equal(p(s).ok, true, s);
    assert.equal(p(s).readOnly, true, s);
  }
  for (const s of ['-A -t 1.2.3.4:80', '-C', '-Z', '--set 1 2 3', '-a -t 1.2.3.4:80 -r 1.1.1.1']) {
    assert.equal(p(s).readOnly, false, s);
    assert.equal(p(s).needsStdin, false, s);
  }
  assert.equal(p('-R').needsStdin, true);
  assert.equal(p('-R').readOnly, false);
  assert.equal(p('-h').help, true);
  assert.equal(p('--help').readOnly, true);
  assert.equal(p('-v').version, true);
  assert.equal(p('--version -x').version, true, 'version exits before the rest is read');
  assert.equal(p('-A -t 1.2.3.4').readOnly, true, 'an invalid command changes nothing');
  const r = executeIpvsadm(['-v'], { director: new Director(), nowMs: 0, names: NAMES });
  assert.equal(r.stdout, 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
  const h = executeIpvsadm(['-h'], { director: new Director(), nowMs: 0, names: NAMES });
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^ipvsadm v1\.31 2019\/12\/24 .*\nUsage:\n {2}ipvsadm -A\|E virtual-service/);
});

test('-R: a refused line continues, a validation failure ends the restore, the code is the last line’s', () => {
  const restore = (stdin: string) => {
    const d = new Director();
    const r = executeIpvsadm(['-R'], { director: d, nowMs: 0, names: NAMES, stdin });
    const saved = executeIpvsadm(['-S', '-n'], { director: d, nowMs: 0, names: NAMES }).stdout;
    return { ...r, saved };
  };
  let r = restore(
    '-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n\n   \n# comment\n-A\t-t 1.2.3.5:80 ipvsadm -s rr\r\n',
  );
  assert.equal(r.stderr, 'Service already exists\n');
  assert.equal(r.code, 0);
  assert.equal(r.saved, '-A -t 1.2.3.4:80 -s wlc\n-A -t 1.2.3.5:80 -s rr\n');
  r = restore('-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n');
  assert.equal(r.code, 255, 'the last line was refused');
  r = restore('-A -t 1.2.3.4:80\nipvsadm -A -t 1.2.3.5\n-A -t 1.2.3.6:80 -s rr\n');
  assert.equal(r.stderr, 'Zero port specified for non-persistent service\n');
  assert.equal(r.code, 2);
  assert.equal(r.saved, '-A -t 1.2.3.4:80 -s wlc\n', 'nothing after the failing line');
  r = restore('-A -t 1.2.3.4:80 --bogus\n-A -t 1.2.3.9:80\n');
  assert.equal(r.stderr, '--bogus: unknown option\n');
  assert.equal(r.code, 0, 'a popt error returns -1 for that line only');
  assert.equal(r.saved, '-A -t 1.2.3.9:80 -s wlc\n');
  r = restore('-A -t 1.2.3.4:80\n-R\n-A -t 1.2.3.5:80\n');
  assert.equal(r.stderr, TRY);
  assert.equal(r.code, 255);
  assert.equal(r.saved, '-A -t 1.2.3.4:80 -s wlc\n');
  // no quoting in -R lines (config_stream_read splits on white space only)
  r = restore('-A -t 1.2.3.4:80 -s "rr"\n');
  assert.equal(r.stderr, 'Scheduler or persistence engine not found\n');
  r = restore('-L -n\n');
  assert.equal(
    r.stdout,
    'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n',
  );
  assert.equal(r.changed, false);
});
