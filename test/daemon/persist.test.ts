/**
 * Restarts that lose nothing, without root: the saved table round-trips (services, thresholds,
 * fwmark rules, timeouts), a file from another namespace (cookie) or a corrupted one is never
 * restored and never stops a daemon, the connection hand-over restores connections that keep
 * forwarding to the same real server, and sd_notify's watchdog stops when the worker does not answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { makeTopo } from '../helpers/topo.js';
import { cTcp, seen, RS4, VIP4 } from '../helpers/flows.js';
import { executeIpvsadm } from '../../src/cli/ipvsadm/execute.js';
import { executeFwmark } from '../../src/cli/fwmark.js';
import type { Director } from '../../src/core/director.js';
import {
  TABLE_STATE_FILE,
  captureTable,
  loadTableState,
  restoreTable,
  saveTableState,
} from '../../src/daemon/persist.js';
import {
  FULLNAT_RECORD,
  HANDOVER_FILE,
  dumpConnections,
  restoreConnections,
  restoreFullnat,
  takeHandover,
  writeHandover,
} from '../../src/daemon/handover.js';
import { SdNotifier } from '../../src/daemon/sd-notify.js';
import { Daemon, DEFAULT_DAEMON_OPTIONS } from '../../src/daemon/daemon.js';
import { Logger } from '../../src/daemon/log.js';
import { requestOnce } from '../../src/control/client.js';
import type { IpvsadmResult } from '../../src/control/protocol.js';
import { native, nativeAvailable } from '../../src/io/native.js';
import { TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import { w } from '../helpers/topo.js';

const noNames = {
  portName: () => undefined,
  portByName: () => undefined,
  hostName: () => undefined,
  hostAddr: () => undefined,
};

function ipvsadm(d: Director, cmd: string, stdin?: string): string {
  const r = executeIpvsadm(cmd.split(' ').filter(Boolean), {
    director: d,
    nowMs: 1000,
    names: noNames,
    ...(stdin !== undefined ? { stdin } : {}),
  });
  assert.equal(r.code, 0, `ipvsadm ${cmd}: ${r.stderr}`);
  d.sync();
  return r.stdout;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-persist-'));
}

const TABLE = [
  '-A -t 10.0.0.100:80 -s wrr',
  '-a -t 10.0.0.100:80 -r 172.16.0.2:8080 -m -w 3 -x 100 -y 50',
  '-a -t 10.0.0.100:80 -r 172.16.0.3:8080 -m -w 1',
  '-A -u 10.0.0.100:53 -s sh -b sh-port -o',
  '-a -u 10.0.0.100:53 -r 172.16.0.4 -g',
  '-A -t 10.0.0.100:0 -s wlc -p 600 -M 255.255.255.0',
  '-a -t 10.0.0.100:0 -r 198.51.100.7 -i --tun-type gue --tun-port 6080 --tun-csum',
  '-A -t [2001:db8:1::100]:443 -s mh',
  '-a -t [2001:db8:1::100]:443 -r [2001:db8:2::2]:443 -m -x 7 -y 3',
  '-A -f 7 -s lc',
  '-a -f 7 -r 172.16.0.4:0 -g -w 0',
];

function fill(d: Director): void {
  for (const line of TABLE) ipvsadm(d, line);
  ipvsadm(d, '--set 1000 100 200');
  for (const rule of [
    'add --mark 7 --dst 10.0.0.0/24 --proto tcp --dport 8000-8100',
    'add --mark 7 --dst 2001:db8:1::/64 --proto udp',
  ])
    assert.equal(executeFwmark(rule.split(' '), d).code, 0);
}

function view(d: Director): string[] {
  return [
    ipvsadm(d, '-S -n'),
    ipvsadm(d, '-L -n --thresholds'),
    ipvsadm(d, '-L --timeout'),
    executeFwmark(['list'], d).stdout,
  ];
}

test('captureTable/restoreTable: services, thresholds, fwmark rules and timeouts survive; restore is idempotent', () => {
  const a = makeTopo().d;
  fill(a);
  const saved = captureTable(a);
  assert.match(saved.ipvsadm, /-r 172\.16\.0\.2:8080 -m -w 3 -x 100 -y 50\n/, 'thresholds ride on -a');
  const b = makeTopo().d;
  ipvsadm(b, '-A -t 10.0.0.100:81 -s rr'); // whatever was there before is replaced
  let rep = restoreTable(b, saved, 1000);
  b.sync();
  assert.equal(rep.errors, '');
  assert.equal(rep.services, 5);
  assert.equal(rep.fwmarkRules, 2);
  assert.deepEqual(view(b), view(a));
  rep = restoreTable(b, saved, 1000);
  b.sync();
  assert.equal(rep.errors, '');
  assert.deepEqual(view(b), view(a));
  // bad content is reported, not thrown
  const c = makeTopo().d;
  rep = restoreTable(c, { ...saved, fwmark: 'rm -rf /\n', ipvsadm: '-A -t nonsense\n' }, 1000);
  assert.match(rep.errors, /fwmark rule not understood/);
  assert.match(rep.errors, /ipvsadm -R/);
});

test('table state file: round trip, cookie guard, corrupted files are reported and never thrown', () => {
  const dir = tmpDir();
  try {
    assert.deepEqual(loadTableState(dir, '42'), { kind: 'none' });
    const d = makeTopo().d;
    fill(d);
    const content = captureTable(d);
    saveTableState(dir, '42', content);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp')),
      [],
      'no temporary file left behind',
    );
    const r = loadTableState(dir, '42');
    assert.equal(r.kind, 'loaded');
    assert.deepEqual(r.kind === 'loaded' ? r.content : null, content);

    // another namespace that got the same inode: not restored, and the file is gone
    const f = loadTableState(dir, '43');
    assert.deepEqual(f, { kind: 'foreign', cookie: '42' });
    assert.equal(fs.existsSync(path.join(dir, TABLE_STATE_FILE)), false);

    const file = path.join(dir, TABLE_STATE_FILE);
    const good = JSON.stringify({ version: 1, cookie: '42', savedAt: 'x', pid: 1, ...content });
    for (const [what, text] of [
      ['garbage', '\u0000\u0001not json at all'],
      ['truncated', good.slice(0, good.length >> 1)],
      ['wrong version', good.replace('"version":1', '"version":99')],
      ['array', '[1,2,3]'],
      ['missing fields', JSON.stringify({ version: 1, cookie: '42' })],
      ['bad timeouts', good.replace(/"tcp":\d+/, '"tcp":"x"')],
    ] as const) {
      fs.writeFileSync(file, text);
      const o = loadTableState(dir, '42');
      assert.equal(o.kind, 'invalid', what);
    }
    fs.writeFileSync(file, good);
    assert.equal(
      loadTableState(dir, '42').kind,
      'loaded',
      'the good text loads (the cases above were the cause)',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('connection hand-over: dumped connections forward to the same real server in the new director', () => {
  const a = makeTopo();
  ipvsadm(a.d, '-A -t 10.0.0.100:80 -s rr');
  for (const rs of RS4) ipvsadm(a.d, `-a -t 10.0.0.100:80 -r ${rs}:8080 -m`);
  ipvsadm(a.d, '-A -t 10.0.0.100:443 -s rr -p 300');
  for (const rs of RS4) ipvsadm(a.d, `-a -t 10.0.0.100:443 -r ${rs}:443 -m`);
  const clients: { addr: string; port: number; vport: number }[] = [];
  for (let i = 0; i < 30; i++)
    clients.push({ addr: `10.9.${i}.${i + 1}`, port: 40000 + i, vport: i % 2 ? 443 : 80 });
  for (const c of clients)
    a.wire.inject(1, cTcp(c.addr, c.port, { flags: TCP_SYN, seq: 100, dport: c.vport }));
  a.run(1000);
  const first = a.wire.drain().sent.map(seen);
  assert.equal(first.length, clients.length);
  const rsOf = new Map(first.map((s) => [`${s.src}:${s.sport}`, s.dst]));
  const conns = a.d.conns.count;
  assert.equal(conns, clients.length + 15, '30 connections and 15 persistence templates');

  const dump = dumpConnections(a.d, 1000);
  assert.equal(dump.records, conns);
  assert.equal(dump.skipped, 0);

  const b = makeTopo();
  restoreTable(b.d, captureTable(a.d), 5000);
  b.d.sync();
  const r = restoreConnections(b.d, dump.data, 5000);
  assert.deepEqual(r, { created: conns, updated: 0, failed: 0, bad: 0 });
  assert.equal(b.d.conns.count, conns);
  assert.equal(b.d.conns.templateCount, 15);
  // mid-stream segments (no SYN: a fresh director would drop them) reach the same real server
  for (const c of clients)
    b.wire.inject(1, cTcp(c.addr, c.port, { flags: TCP_ACK, seq: 101, ack: 501, dport: c.vport }));
  b.run(5000);
  const out = b.wire.drain();
  assert.equal(out.dropped.length, 0, JSON.stringify(out.dropped.slice(0, 3)));
  const after = out.sent.map(seen);
  assert.equal(after.length, clients.length);
  for (const s of after) assert.equal(s.dst, rsOf.get(`${s.src}:${s.sport}`), `${s.src}:${s.sport}`);
  // persistence: a new connection of a known client goes to its template's server
  const c1 = clients[1]!;
  b.wire.inject(1, cTcp(c1.addr, c1.port + 1000, { flags: TCP_SYN, seq: 1, dport: 443 }));
  b.run(5001);
  assert.equal(seen(b.wire.drain().sent[0]!).dst, rsOf.get(`${c1.addr}:${c1.port}`));
  // a corrupted dump restores what is intact and counts the rest
  const broken = dump.data.slice();
  broken[0] = 0xff; // first length points past the end
  assert.equal(restoreConnections(makeTopo().d, broken, 1).bad, 1);
  assert.equal(lookupVip(b.d, c1.addr, c1.port) >= 0, true);
});

function lookupVip(d: Director, caddr: string, cport: number): number {
  return d.conns.lookupIn(6, 4, w(caddr), 0, cport, w(VIP4), 0, 443);
}

test('hand-over file: consumed once; another namespace, stale or garbage files are rejected', () => {
  const dir = tmpDir();
  try {
    const data = Uint8Array.from([0, 3, 1, 2, 3]);
    const header = { version: 1, cookie: '7', pid: 123, stoppedAt: Date.now(), records: 1, skipped: 0 };
    writeHandover(dir, header, data);
    const r = takeHandover(dir, '7');
    assert.equal(r.kind, 'loaded');
    if (r.kind === 'loaded') {
      assert.deepEqual([...r.data], [...data]);
      assert.equal(r.header.pid, 123);
    }
    assert.deepEqual(takeHandover(dir, '7'), { kind: 'none' }, 'taken once');
    writeHandover(dir, header, data);
    assert.equal(takeHandover(dir, '8').kind, 'rejected');
    assert.equal(fs.existsSync(path.join(dir, HANDOVER_FILE)), false, 'a foreign file is removed');
    writeHandover(dir, { ...header, stoppedAt: Date.now() - 10 * 60_000 }, data);
    assert.equal(takeHandover(dir, '7').kind, 'rejected', 'stale');
    fs.writeFileSync(path.join(dir, HANDOVER_FILE), 'LVSDHO1\n\xff\xff\xff\xff');
    assert.equal(takeHandover(dir, '7').kind, 'rejected', 'truncated header');
    fs.writeFileSync(path.join(dir, HANDOVER_FILE), 'hello');
    assert.equal(takeHandover(dir, '7').kind, 'rejected', 'not a hand-over file');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

let seq = 0;
async function memDaemon(dir: string, cookie: string, lines: string[]): Promise<{ d: Daemon; addr: string }> {
  const addr = `\0lvsd-persist-${process.pid}-${seq++}`;
  const d = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: 'memory',
      maxConns: 4096,
      controlAddress: addr,
      exitWhenNoInterfaces: false,
      logger: new Logger('debug', (l) => lines.push(l)),
      stateDir: dir,
      netnsCookie: cookie,
    },
    { steering: null, net: null, checkPeer: () => null },
  );
  await d.start();
  return { d, addr };
}

async function run(addr: string, argv: string[], stdin?: string): Promise<IpvsadmResult> {
  return requestOnce<IpvsadmResult>(
    'ipvsadm',
    { argv, ...(stdin !== undefined ? { stdin } : {}) },
    { address: addr },
  );
}

test('daemon: the table survives a restart, not a namespace change; a corrupted file does not stop it', async () => {
  const dir = tmpDir();
  try {
    const lines: string[] = [];
    let { d, addr } = await memDaemon(dir, 'c1', lines);
    assert.equal((await run(addr, ['-R'], TABLE.join('\n') + '\n')).code, 0);
    assert.equal((await run(addr, ['--set', '1000', '100', '200'])).code, 0);
    const saved = (await run(addr, ['-S', '-n'])).stdout;
    assert.match(saved, /-A -t 10\.0\.0\.100:80 -s wrr/);
    await d.stop();

    ({ d, addr } = await memDaemon(dir, 'c1', lines));
    assert.equal((await run(addr, ['-S', '-n'])).stdout, saved);
    assert.equal((await run(addr, ['-L', '--timeout'])).stdout, 'Timeout (tcp tcpfin udp): 1000 100 200\n');
    assert.equal((await run(addr, ['-C'])).code, 0);
    await d.stop();
    ({ d, addr } = await memDaemon(dir, 'c1', lines));
    assert.equal((await run(addr, ['-S', '-n'])).stdout, '', 'ipvsadm -C is saved too');
    assert.equal((await run(addr, ['-A', '-t', '10.0.0.100:80'])).code, 0);
    await d.stop();

    // same inode, other namespace: an empty table
    ({ d, addr } = await memDaemon(dir, 'c2', lines));
    assert.equal((await run(addr, ['-S', '-n'])).stdout, '');
    assert.ok(lines.some((l) => /earlier namespace/.test(l)));
    await d.stop();

    fs.writeFileSync(path.join(dir, TABLE_STATE_FILE), '{"version":1,"cookie":"c2","ipvsadm":');
    lines.length = 0;
    ({ d, addr } = await memDaemon(dir, 'c2', lines));
    assert.equal((await run(addr, ['-S', '-n'])).stdout, '');
    assert.ok(
      lines.some((l) => JSON.parse(l).msg === 'saved table ignored'),
      lines.join('\n'),
    );
    assert.equal((await run(addr, ['-A', '-t', '10.0.0.100:80'])).code, 0, 'and it works on');
    // exiting because the namespace is gone forgets the table
    await d.stop({ removeState: true });
    assert.equal(fs.existsSync(path.join(dir, TABLE_STATE_FILE)), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sd_notify: READY and WATCHDOG only while the worker answers; no socket, no sends', async () => {
  const sent: string[] = [];
  const transport = { send: (_p: string, m: Uint8Array) => void sent.push(Buffer.from(m).toString()) };
  assert.equal(new SdNotifier(transport, {}).enabled, false);
  assert.equal(new SdNotifier(transport, { NOTIFY_SOCKET: 'relative' }).enabled, false);
  const other = new SdNotifier(
    transport,
    { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '1' },
    2,
  );
  assert.equal(other.watchdogUsec, 0, 'WATCHDOG_PID of another process: not ours');
  const n = new SdNotifier(transport, { NOTIFY_SOCKET: '@sd', WATCHDOG_USEC: '40000' });
  assert.equal(n.watchdogUsec, 40000);
  assert.ok(n.notify('READY=1'));
  let alive = true;
  n.startWatchdog(() => (alive ? Promise.resolve(true) : new Promise<boolean>(() => {})));
  await new Promise((r) => setTimeout(r, 150));
  const pings = sent.filter((s) => s === 'WATCHDOG=1').length;
  assert.ok(pings >= 3, `pings while alive: ${pings}`);
  alive = false;
  await new Promise((r) => setTimeout(r, 50));
  const stuckAt = sent.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(sent.length, stuckAt, 'a worker that does not answer stops the pings');
  n.stopWatchdog();
  const failing = new SdNotifier(
    {
      send: () => {
        throw new Error('ECONNREFUSED');
      },
    },
    { NOTIFY_SOCKET: '/x' },
  );
  assert.equal(failing.notify('READY=1'), false);
  assert.equal(failing.errors, 1);
});

const socat = spawnSync('sh', ['-c', 'command -v socat']).status === 0;
test(
  'native: unixDgramSend reaches path and abstract datagram sockets; netnsCookie is a stable u64',
  { skip: !nativeAvailable ? 'addon not built' : !socat ? 'socat is needed' : false },
  async () => {
    const cookie = native.netnsCookie();
    assert.match(cookie, /^[1-9]\d*$/);
    assert.equal(native.netnsCookie(), cookie);
    const dir = tmpDir();
    try {
      for (const addr of [path.join(dir, 'notify'), `@lvsd-test-notify-${process.pid}`]) {
        const spec = addr.startsWith('@') ? `ABSTRACT-RECV:${addr.slice(1)}` : `UNIX-RECV:${addr}`;
        const rx = spawn('socat', ['-u', spec, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let got = '';
        rx.stdout.on('data', (b: Buffer) => (got += b.toString()));
        try {
          const deadline = Date.now() + 5000;
          for (;;) {
            try {
              native.unixDgramSend(addr, Buffer.from('READY=1\n'));
              break;
            } catch (e) {
              if (Date.now() > deadline) throw e;
              await new Promise((r) => setTimeout(r, 20));
            }
          }
          while (!got.includes('READY=1') && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 20));
          assert.equal(got, 'READY=1\n', addr);
        } finally {
          rx.kill();
        }
      }
      assert.throws(() => native.unixDgramSend(path.join(dir, 'nobody'), Buffer.from('x')), /ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('connection hand-over: FullNAT connections keep their local address and port, which stay reserved', () => {
  const a = makeTopo();
  ipvsadm(a.d, '-A -t 10.0.0.100:80 -s rr --laddr 172.16.0.200,172.16.0.201');
  ipvsadm(a.d, '-a -t 10.0.0.100:80 -r 172.16.0.2:8080 --fullnat');
  ipvsadm(a.d, '-a -t 10.0.0.100:80 -r 172.16.0.3:8080 --fullnat');
  const clients = [40001, 40002, 40003, 40004].map((port) => ({ addr: '10.0.0.2', port }));
  for (const c of clients) a.wire.inject(1, cTcp(c.addr, c.port, { flags: TCP_SYN, seq: 100 }));
  a.run(1000);
  const first = a.wire.drain().sent.map(seen);
  assert.equal(first.length, clients.length);
  // the old director's view: local address:port it used -> real server
  const local = new Map(first.map((s) => [`${s.src}:${s.sport}`, s.dst]));
  assert.equal(local.size, clients.length, JSON.stringify(first));

  const dump = dumpConnections(a.d, 1000);
  assert.equal(dump.fullnat.length / FULLNAT_RECORD, clients.length);
  assert.equal(dump.skipped, 0, 'FullNAT connections are carried, not skipped');
  assert.equal(dump.records, clients.length);

  const b = makeTopo();
  restoreTable(b.d, captureTable(a.d), 5000);
  b.d.sync();
  restoreConnections(b.d, dump.data, 5000);
  assert.deepEqual(restoreFullnat(b.d, dump.fullnat, 5000), { created: 4, existing: 0, failed: 0, bad: 0 });
  // mid-stream segments leave from the same local address and port to the same real server
  for (const c of clients) b.wire.inject(1, cTcp(c.addr, c.port, { flags: TCP_ACK, seq: 101, ack: 501 }));
  b.run(5000);
  const after = b.wire.drain().sent.map(seen);
  assert.equal(after.length, clients.length);
  for (const s of after) assert.equal(local.get(`${s.src}:${s.sport}`), s.dst, JSON.stringify(s));
  // new connections never get a local port a restored one holds
  for (let p = 0; p < 20; p++) b.wire.inject(1, cTcp('10.0.0.2', 41000 + p, { flags: TCP_SYN, seq: 1 }));
  b.run(5001);
  for (const s of b.wire.drain().sent.map(seen))
    assert.equal(local.has(`${s.src}:${s.sport}`), false, `reused ${s.src}:${s.sport}`);
  // restoring twice changes nothing; garbage is counted, not thrown
  assert.equal(restoreFullnat(b.d, dump.fullnat, 5002).existing, 4);
  assert.equal(restoreFullnat(b.d, new Uint8Array(FULLNAT_RECORD).fill(9), 5002).bad, 1);
});
