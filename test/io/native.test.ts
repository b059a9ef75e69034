/**
 * The addon's thin system-call layer: coded errors, SO_PEERCRED, netlink + uv_poll readiness,
 * loading in worker_threads (context-aware, one state per environment), TUN in a private netns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as nat from '../../src/io/native.js';
import { native, nativeAvailable } from '../../src/io/native.js';

const isRoot = process.getuid?.() === 0;

function netnsWorks(): boolean {
  if (!isRoot) return false;
  return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
}

interface CodedError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

function assertCoded(fn: () => unknown, code: string, syscall: string, errnoValue: number): void {
  assert.throws(fn, (e: unknown) => {
    const err = e as CodedError;
    assert.ok(err instanceof Error);
    assert.equal(err.code, code);
    assert.equal(err.errno, -errnoValue);
    assert.equal(err.syscall, syscall);
    assert.match(err.message, new RegExp(`: ${syscall} .*${code} \\(`));
    return true;
  });
}

test('the addon is built and loads', () => {
  assert.equal(nativeAvailable, true, String(nat.nativeLoadError));
});

test('constants in native.ts equal the C headers', () => {
  const c = native.constants;
  const mod = nat as unknown as Record<string, unknown>;
  let compared = 0;
  for (const [k, v] of Object.entries(c)) {
    if (k in mod) {
      assert.equal(mod[k], v, k);
      compared++;
    }
  }
  assert.ok(compared >= 25, `compared ${compared}`);
  assert.equal(c.VNET_HDR_LEN, 10);
  assert.equal(c.COUNTERS, nat.COUNTER_COUNT);
});

test('bad fds and bad calls throw Node-style coded errors', () => {
  assertCoded(() => native.close(-1), 'EBADF', 'close', 9);
  const buf = new Uint8Array(16);
  assertCoded(() => native.recv(1 << 20, buf, 0, 16), 'EBADF', 'recv', 9);
  assertCoded(() => native.write(1 << 20, buf, 0, 16), 'EBADF', 'write', 9);
  assertCoded(
    () => native.setsockoptInt(1 << 20, nat.SOL_SOCKET, nat.SO_RCVBUF, 1),
    'EBADF',
    'setsockopt',
    9,
  );
  assertCoded(() => native.peerCred(1 << 20), 'EBADF', 'getsockopt', 9);
  assertCoded(() => native.ifIndex('lvsd-no-such0'), 'ENODEV', 'if_nametoindex', 19);
  assertCoded(
    () => native.packetOpen(0x7ffffff0, 0, 0, new Uint8Array(0)),
    isRoot ? 'ENODEV' : 'EPERM',
    isRoot ? 'bind' : 'socket',
    isRoot ? 19 : 1,
  );
  assert.throws(() => native.packetOpen(1, 0, 0, new Uint8Array(0), -1), RangeError);
  assert.throws(() => native.packetOpen(1, 0, 0, new Uint8Array(0), 1 << 23), RangeError);
  if (isRoot) {
    // a receive ring is mapped with the socket and unmapped when it closes (loopback: always there)
    const mappedSockets = (): number =>
      fs
        .readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.includes('socket:[')).length;
    const before = mappedSockets();
    const rfd = native.packetOpen(1, 0, 0, new Uint8Array(0), 64);
    assert.equal(mappedSockets(), before + 1);
    native.close(rfd);
    assert.equal(mappedSockets(), before);
  }
  // an unconnected UDP socket has no destination
  const fd = native.socket(nat.AF_INET, nat.SOCK_DGRAM, 0);
  try {
    assertCoded(() => native.send(fd, buf, 0, 4), 'EDESTADDRREQ', 'send', 89);
    assert.equal(native.recv(fd, buf, 0, 16), -1, 'nothing queued: EAGAIN is -1');
    // a UDP socket is not a packet socket
    assert.throws(
      () => native.packetStats(fd),
      (e: unknown) => (e as CodedError).syscall === 'getsockopt',
    );
    assert.throws(() => native.setFilter(fd, new Uint8Array(7)), RangeError);
    assert.throws(() => native.recv(fd, buf, 10, 10), RangeError);
    assert.throws(() => native.recv(fd, 'x' as unknown as Uint8Array, 0, 1), TypeError);
  } finally {
    native.close(fd);
  }
});

test('peerCred: SO_PEERCRED of both ends of a unix connection is this process', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-cred-'));
  const sockPath = path.join(dir, 's');
  const server = net.createServer();
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(sockPath, resolve));
    const client = net.connect(sockPath);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const conn = await accepted;
    for (const s of [conn, client]) {
      const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
      assert.ok(fd > 2);
      const cred = native.peerCred(fd);
      assert.deepEqual(cred, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    }
    client.destroy();
    conn.destroy();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** RTM_GETLINK dump over NETLINK_ROUTE with pollStart; resolves with the message types seen. */
function netlinkDump(): Promise<number[]> {
  const fd = native.socket(nat.AF_NETLINK, nat.SOCK_RAW, nat.NETLINK_ROUTE);
  native.bindNetlink(fd, 0);
  const req = new Uint8Array(32);
  const dv = new DataView(req.buffer);
  dv.setUint32(0, 32, true); // nlmsg_len
  dv.setUint16(4, 18, true); // RTM_GETLINK
  dv.setUint16(6, 0x301, true); // NLM_F_REQUEST | NLM_F_DUMP
  dv.setUint32(8, 1, true); // seq
  req[16] = 0; // ifinfomsg.ifi_family = AF_UNSPEC
  const buf = new Uint8Array(65536);
  const bdv = new DataView(buf.buffer);
  const types: number[] = [];
  return new Promise((resolve, reject) => {
    native.pollStart(fd, () => {
      try {
        for (;;) {
          const n = native.recv(fd, buf, 0, buf.length);
          if (n < 0) return;
          for (let off = 0; off + 16 <= n;) {
            const len = bdv.getUint32(off, true);
            const type = bdv.getUint16(off + 4, true);
            types.push(type);
            if (type === 3 /* NLMSG_DONE */ || type === 2 /* NLMSG_ERROR */) {
              native.close(fd); // stops the poll too
              resolve(types);
              return;
            }
            off += (len + 3) & ~3;
          }
        }
      } catch (e) {
        native.close(fd);
        reject(e as Error);
      }
    });
    assert.equal(native.send(fd, req, 0, 32), 32);
  });
}

test('netlink socket + pollStart: RTM_GETLINK dump arrives through the event loop', async () => {
  const types = await netlinkDump();
  assert.ok(types.includes(16), `RTM_NEWLINK in ${types.join(',')}`);
  assert.equal(types.at(-1), 3);
});

test('the addon loads in worker_threads, each with its own polls', async () => {
  const nativeUrl = new URL('../../src/io/native.js', import.meta.url).href;
  const code = `
    import { parentPort } from 'node:worker_threads';
    const nat = await import(${JSON.stringify(nativeUrl)});
    const { native } = nat;
    const fd = native.socket(nat.AF_NETLINK, nat.SOCK_RAW, nat.NETLINK_ROUTE);
    native.bindNetlink(fd, 0);
    const req = new Uint8Array(32); const dv = new DataView(req.buffer);
    dv.setUint32(0, 32, true); dv.setUint16(4, 18, true); dv.setUint16(6, 0x301, true); dv.setUint32(8, 7, true);
    const buf = new Uint8Array(65536); const bdv = new DataView(buf.buffer);
    let messages = 0;
    native.pollStart(fd, () => {
      for (;;) {
        const n = native.recv(fd, buf, 0, buf.length);
        if (n < 0) return;
        for (let off = 0; off + 16 <= n; off += (bdv.getUint32(off, true) + 3) & ~3) {
          messages++;
          if (bdv.getUint16(off + 4, true) === 3) { native.close(fd); parentPort.postMessage({ messages, fd }); return; }
        }
      }
    });
    native.send(fd, req, 0, 32);
  `;
  const run = (): Promise<{ messages: number; fd: number }> =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
      w.once('message', (m) => {
        resolve(m as { messages: number; fd: number });
        void w.terminate();
      });
      w.once('error', reject);
    });
  const results = await Promise.all([run(), run()]);
  for (const r of results) assert.ok(r.messages >= 2, `messages ${r.messages}`);
  // and the main thread still works after the workers went away
  assert.ok((await netlinkDump()).includes(16));
});

test('tunOpen inside a private network namespace reads the packets routed to the device', (t) => {
  if (!netnsWorks() || !fs.existsSync('/dev/net/tun')) {
    t.skip('needs root, ip netns and /dev/net/tun');
    return;
  }
  const ns = `lvsdtun${process.pid}`;
  const dev = `lt${process.pid}`.slice(0, 15);
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const nativeUrl = new URL('../../src/io/native.js', import.meta.url).href;
    const script = `
      import { execFileSync } from 'node:child_process';
      import dgram from 'node:dgram';
      const nat = await import(${JSON.stringify(nativeUrl)});
      const { native } = nat;
      const tun = native.tunOpen(${JSON.stringify(dev)}, nat.IFF_TUN | nat.IFF_NO_PI);
      execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', tun.name]);
      execFileSync('ip', ['link', 'set', tun.name, 'up']);
      const buf = new Uint8Array(2048);
      const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(1); }, 5000);
      native.pollStart(tun.fd, () => {
        for (;;) {
          const n = native.read(tun.fd, buf, 0, buf.length);
          if (n < 0) return;
          // skip IPv6 router solicitations etc.; report the UDP datagram to 10.77.0.2
          if ((buf[0] >> 4) === 4 && buf[9] === 17) {
            clearTimeout(timer);
            native.close(tun.fd);
            console.log(JSON.stringify({ name: tun.name, n, dst: Array.from(buf.subarray(16, 20)).join('.'),
              payload: Buffer.from(buf.subarray(28, n)).toString() }));
            process.exit(0);
          }
        }
      });
      const s = dgram.createSocket('udp4');
      s.send('tun-payload', 4000, '10.77.0.2', () => s.close());
    `;
    const out = execFileSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 15000,
      },
    );
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      name: string;
      n: number;
      dst: string;
      payload: string;
    };
    assert.equal(r.name, dev);
    assert.equal(r.dst, '10.77.0.2');
    assert.equal(r.payload, 'tun-payload');
    assert.equal(r.n, 20 + 8 + 'tun-payload'.length);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('setThreadNice changes the calling thread only (Linux nice values are per thread)', async () => {
  const niceOf = (tid: number | string): number => {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // fields after the parenthesised comm: state is field 3, nice field 19
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  };
  const mainBefore = niceOf(process.pid);
  const url = new URL('../../src/io/native.js', import.meta.url).href;
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(url)}).then(({ native }) => parentPort.postMessage(native.setThreadNice(7)),
       (e) => parentPort.postMessage(String(e)));
     setInterval(() => {}, 1000);`,
    { eval: true },
  );
  try {
    const tid = await new Promise<unknown>((r) => w.once('message', r));
    assert.equal(typeof tid, 'number', String(tid));
    assert.equal(niceOf(tid as number), 7);
    assert.equal(niceOf(process.pid), mainBefore, 'the main thread keeps its nice value');
  } finally {
    await w.terminate();
  }
  assert.throws(() => native.setThreadNice(25), /from -20 to 19/);
});

test('setThreadAffinity and setThreadName change the calling thread only', async () => {
  const cpusOf = (tid: number | string): string =>
    /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1]!;
  const commOf = (tid: number | string): string =>
    fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
  const mainCpus = cpusOf(process.pid);
  const mainComm = commOf(process.pid);
  const url = new URL('../../src/io/native.js', import.meta.url).href;
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(url)}).then(({ native }) => {
       native.setThreadName('lvsd-test-thread-long-name');
       parentPort.postMessage(native.setThreadAffinity([0]));
     }, (e) => parentPort.postMessage(String(e)));
     setInterval(() => {}, 1000);`,
    { eval: true },
  );
  try {
    const tid = await new Promise<unknown>((r) => w.once('message', r));
    assert.equal(typeof tid, 'number', String(tid));
    assert.equal(cpusOf(tid as number), '0');
    assert.equal(commOf(tid as number), 'lvsd-test-threa', 'the kernel keeps 15 bytes');
    assert.equal(cpusOf(process.pid), mainCpus, 'the main thread keeps its CPUs');
    assert.equal(commOf(process.pid), mainComm);
  } finally {
    await w.terminate();
  }
  assert.throws(() => native.setThreadAffinity([]), /at least one CPU/);
  assert.throws(() => native.setThreadAffinity([5000]), /out of range/);
  assert.throws(
    () => native.setThreadAffinity([1000]),
    (e: NodeJS.ErrnoException) => e.code === 'EINVAL',
  );
});
