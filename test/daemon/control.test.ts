import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Daemon, DEFAULT_DAEMON_OPTIONS } from '../../src/daemon/daemon.js';
import { Logger } from '../../src/daemon/log.js';
import { ControlClient, requestOnce } from '../../src/control/client.js';
import type { PingResult } from '../../src/control/protocol.js';

let seq = 0;
function address(): string {
  return `\0lvsd-test-${process.pid}-${seq++}`;
}

function quietLogger(lines: string[] = []): Logger {
  return new Logger('debug', (l) => lines.push(l));
}

async function startDaemon(addr: string, checkPeer: (s: net.Socket) => string | null = () => null) {
  const lines: string[] = [];
  const d = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: 'memory',
      maxConns: 4096,
      controlAddress: addr,
      exitWhenNoInterfaces: false,
      logger: quietLogger(lines),
    },
    { steering: null, net: null, checkPeer },
  );
  await d.start();
  return { d, lines };
}

test('daemon answers ping and status over its control socket and stops cleanly', async () => {
  const addr = address();
  const { d, lines } = await startDaemon(addr);
  try {
    const ping = await requestOnce<PingResult>('ping', undefined, { address: addr });
    assert.equal(ping.pid, process.pid);
    assert.equal(typeof ping.netns, 'number');
    const st = await requestOnce<{ dataplane: { driver: string; connections: number } }>(
      'status',
      undefined,
      {
        address: addr,
      },
    );
    assert.equal(st.dataplane.driver, 'memory');
    assert.equal(st.dataplane.connections, 0);
  } finally {
    await d.stop();
  }
  await d.stopped;
  assert.ok(lines.some((l) => JSON.parse(l).msg === 'stopped'));
  // the address is free again: nobody listens
  await assert.rejects(ControlClient.connect(addr), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
});

test('a second daemon on the same control address is refused with a clear error', async () => {
  const addr = address();
  const { d } = await startDaemon(addr);
  try {
    await assert.rejects(startDaemon(addr), /already running in this network namespace/);
  } finally {
    await d.stop();
  }
});

test('malformed control input gets an error reply and leaves the daemon serving', async () => {
  const addr = address();
  const { d } = await startDaemon(addr);
  try {
    const replies = await new Promise<string[]>((resolve, reject) => {
      const s = net.connect(addr);
      const got: string[] = [];
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        const parts = buf.split('\n');
        buf = parts.pop()!;
        got.push(...parts);
        if (got.length === 4) {
          s.end();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.write('this is not json\n');
      s.write('[1,2,3]\n');
      s.write('{"id":7,"cmd":"format-disk"}\n');
      s.write('{"id":8,"cmd":"ipvsadm","args":{"argv":[1,2]}}\n');
    });
    const r = replies.map((l) => JSON.parse(l) as { id: number; ok: boolean; error: { code: string } });
    assert.deepEqual(
      r.map((x) => [x.id, x.ok, x.error.code]),
      [
        [0, false, 'EBADMSG'],
        [0, false, 'EINVAL'],
        [7, false, 'EINVAL'],
        [8, false, 'ERR_LVS_INVALID_ARGUMENT'],
      ],
    );
    const ping = await requestOnce<PingResult>('ping', undefined, { address: addr });
    assert.equal(ping.pid, process.pid);
  } finally {
    await d.stop();
  }
});

test('a refused peer gets EPERM and no command runs', async () => {
  const addr = address();
  const { d } = await startDaemon(addr, () => 'Permission denied (you must be root)');
  try {
    await assert.rejects(
      requestOnce('ping', undefined, { address: addr }),
      (e: { code: string; message: string }) => {
        assert.equal(e.code, 'EPERM');
        assert.match(e.message, /you must be root/);
        return true;
      },
    );
  } finally {
    await d.stop();
  }
});

test('the stop command stops the daemon after replying', async () => {
  const addr = address();
  const { d } = await startDaemon(addr);
  const r = await requestOnce<{ stopping: boolean }>('stop', undefined, { address: addr });
  assert.equal(r.stopping, true);
  await d.stopped;
});

test('a table change sent while the daemon is still starting waits until steering is up', async () => {
  const addr = address();
  const calls: string[] = [];
  let releaseStart!: () => void;
  const startGate = new Promise<void>((r) => (releaseStart = r));
  let started = false;
  const notStarted = (what: string) => {
    calls.push(what);
    if (!started) throw new Error(`${what} before start: steering not started`);
  };
  const steering = {
    async start() {
      calls.push('start');
      await startGate;
      started = true;
    },
    async applyRemovals() {
      notStarted('removals');
    },
    async applyAdditions() {
      notStarted('additions');
    },
    async stop() {
      started = false;
    },
    status: () => null,
    socketFilter: () => null,
  };
  const d = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: 'memory',
      maxConns: 4096,
      controlAddress: addr,
      exitWhenNoInterfaces: false,
      logger: quietLogger(),
    },
    { steering, net: null, checkPeer: () => null },
  );
  const starting = d.start();
  try {
    // the socket answers a ping as soon as it listens, i.e. while steering.start is still held
    for (let i = 0; calls.length === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls, ['start']);
    await requestOnce<PingResult>('ping', undefined, { address: addr });
    const change = requestOnce<{ code: number; stderr: string }>(
      'ipvsadm',
      { argv: ['-A', '-t', '10.0.0.1:80', '-s', 'rr'] },
      { address: addr },
    );
    await new Promise((r) => setTimeout(r, 50));
    releaseStart();
    await starting;
    const r = await change;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, ['start', 'removals', 'additions']);
  } finally {
    releaseStart();
    await starting.catch(() => undefined);
    await d.stop();
  }
});
