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

test('requests wait until start() has installed steering (a ping answer means ready)', async () => {
  const addr = address();
  let releaseSteering!: () => void;
  const steeringGate = new Promise<void>((r) => (releaseSteering = r));
  let steeringUp = false;
  const ipvsadmSawSteering: boolean[] = [];
  const d = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: 'memory',
      maxConns: 4096,
      controlAddress: addr,
      exitWhenNoInterfaces: false,
      logger: quietLogger(),
    },
    {
      steering: {
        start: async () => {
          await steeringGate;
          steeringUp = true;
        },
        applyRemovals: async () => {
          ipvsadmSawSteering.push(steeringUp);
        },
        applyAdditions: async () => {
          ipvsadmSawSteering.push(steeringUp);
        },
        stop: async () => {
          steeringUp = false;
        },
        status: () => ({}),
        socketFilter: () => null,
      },
      net: null,
      checkPeer: () => null,
    },
  );
  const started = d.start();
  try {
    // the control socket listens before steering is up
    let client: ControlClient | null = null;
    for (let i = 0; i < 200 && client === null; i++) {
      client = await ControlClient.connect(addr).catch(() => null);
      if (client === null) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(client, 'control socket never listened');
    client.close();
    let answered = false;
    const ping = requestOnce<PingResult>('ping', undefined, { address: addr }).then((p) => {
      answered = true;
      return p;
    });
    const add = requestOnce<{ code: number }>(
      'ipvsadm',
      { argv: ['-A', '-t', '10.0.0.100:80', '-s', 'rr'] },
      { address: addr },
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, 'ping answered before steering was installed');
    releaseSteering();
    await started;
    assert.equal((await ping).pid, process.pid);
    assert.equal((await add).code, 0);
    assert.ok(ipvsadmSawSteering.length > 0 && ipvsadmSawSteering.every(Boolean), String(ipvsadmSawSteering));
  } finally {
    releaseSteering();
    await started.catch(() => undefined);
    await d.stop();
  }
});
