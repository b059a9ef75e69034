/**
 * The addon's probe thread (native/probe.c via StreamProber) against real listeners on loopback:
 * connect-only and request/response probes, every way a probe ends, cancellation, batches, and that
 * an idle prober does not keep the process alive.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { StreamProber, probeThreadCan } from '../../src/health/checkers/stream-prober.js';
import { nativeAvailable } from '../../src/io/native.js';

const skip = !nativeAvailable && 'needs the native addon';
const never = new AbortController().signal;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const prober = nativeAvailable ? new StreamProber() : null;

after(() => {
  prober?.close();
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

/** A listener on host whose connections get `onConn`; returns its port. */
async function serve(onConn: (s: net.Socket) => void, host = '127.0.0.1'): Promise<number> {
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((r) =>
    s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)),
  );
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Answers with `reply` once the request's blank line arrived; closes only when `close`. */
function replier(reply: string, close: boolean): (s: net.Socket) => void {
  return (s) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      if (close) s.end(reply);
      else s.write(reply);
    });
  };
}

const GET = Buffer.from('GET / HTTP/1.0\r\n\r\n', 'latin1');

test('connect-only probe: success, refused, IPv6, bound source address', { skip }, async () => {
  let remote = '';
  const port = await serve((s) => {
    remote = s.remoteAddress ?? '';
    s.destroy();
  }, '0.0.0.0');
  const ok = await prober!.run({ host: '127.0.0.1', port, timeoutMs: 2000 }, never);
  assert.equal(ok.code, null);
  assert.equal(ok.phase, 'connect');
  assert.ok(ok.latencyMs > 0 && ok.latencyMs < 2000, String(ok.latencyMs));
  assert.equal(ok.data, null);

  const bound = await prober!.run({ host: '127.0.0.1', port, bindHost: '127.0.0.3', timeoutMs: 2000 }, never);
  assert.equal(bound.code, null);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(remote, '127.0.0.3');

  const refused = await prober!.run({ host: '127.0.0.1', port: await closedPort(), timeoutMs: 2000 }, never);
  assert.equal(refused.code, 'ECONNREFUSED');
  assert.equal(refused.phase, 'connect');
  assert.match(refused.message, /refused/i);

  const port6 = await serve((s) => s.destroy(), '::1');
  const ok6 = await prober!.run({ host: '::1', port: port6, timeoutMs: 2000 }, never);
  assert.equal(ok6.code, null);
});

test('request probe: complete by Content-Length (no close), by last chunk, by EOF', { skip }, async () => {
  const byLength = await serve(replier('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', false));
  const a = await prober!.run(
    { host: '127.0.0.1', port: byLength, timeoutMs: 2000, request: GET, maxResponse: 1 << 20, http: true },
    never,
  );
  assert.equal(a.code, null);
  assert.equal(a.eof, false, 'ended by the length, not by a close the server never sent');
  assert.equal(a.data?.toString('latin1'), 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');

  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nheal\r\n3\r\nthy\r\n0\r\n\r\n';
  const byChunk = await serve(replier(chunked, false));
  const b = await prober!.run(
    { host: '127.0.0.1', port: byChunk, timeoutMs: 2000, request: GET, maxResponse: 1 << 20, http: true },
    never,
  );
  assert.equal(b.code, null);
  assert.equal(b.eof, false);
  assert.equal(b.data?.toString('latin1'), chunked);

  const eofBody = 'HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody to the end';
  const byEof = await serve(replier(eofBody, true));
  const c = await prober!.run(
    { host: '127.0.0.1', port: byEof, timeoutMs: 2000, request: GET, maxResponse: 1 << 20, http: true },
    never,
  );
  assert.equal(c.code, null);
  assert.equal(c.eof, true);
  assert.equal(c.data?.toString('latin1'), eofBody);

  // without http, a length does not end the probe: it waits for the close (here: the deadline)
  const d = await prober!.run(
    { host: '127.0.0.1', port: byLength, timeoutMs: 300, request: GET, maxResponse: 1 << 20 },
    never,
  );
  assert.equal(d.code, 'ETIMEDOUT');
  assert.equal(d.phase, 'read');
});

test('request probe: too large, silent server times out in the read phase, reset', { skip }, async () => {
  const big = await serve(replier(`HTTP/1.0 200 OK\r\n\r\n${'x'.repeat(100_000)}`, true));
  const a = await prober!.run(
    { host: '127.0.0.1', port: big, timeoutMs: 2000, request: GET, maxResponse: 4096, http: true },
    never,
  );
  assert.equal(a.code, 'EMSGSIZE');

  const silent = await serve(() => {});
  const t0 = performance.now();
  const b = await prober!.run(
    { host: '127.0.0.1', port: silent, timeoutMs: 250, request: GET, maxResponse: 4096, http: true },
    never,
  );
  const took = performance.now() - t0;
  assert.equal(b.code, 'ETIMEDOUT');
  assert.equal(b.phase, 'read');
  assert.ok(took >= 240 && took < 1500, `deadline kept: ${took} ms`);

  const reset = await serve((s) => s.on('data', () => s.resetAndDestroy()));
  const c = await prober!.run(
    { host: '127.0.0.1', port: reset, timeoutMs: 2000, request: GET, maxResponse: 4096, http: true },
    never,
  );
  assert.equal(c.code, 'ECONNRESET');
});

test('abort closes the probe at once; a bad spec is an outcome, not a throw', { skip }, async () => {
  let closedByPeer = false;
  const port = await serve((s) => s.resume().once('end', () => (closedByPeer = true)));
  const ac = new AbortController();
  const p = prober!.run(
    { host: '127.0.0.1', port, timeoutMs: 5000, request: GET, maxResponse: 4096, http: true },
    ac.signal,
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(prober!.inFlight, 1);
  ac.abort();
  const o = await p;
  assert.equal(o.code, 'ECANCELED');
  assert.equal(prober!.inFlight, 0);
  for (let i = 0; i < 50 && !closedByPeer; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(closedByPeer, true, 'the cancelled probe closed its socket');

  const bad = await prober!.run({ host: 'not-an-address', port: 80, timeoutMs: 100 }, never);
  assert.equal(bad.code, 'ERR_INVALID_ARG_TYPE');
  const badPort = await prober!.run({ host: '127.0.0.1', port: 70000, timeoutMs: 100 }, never);
  assert.equal(badPort.code, 'ERR_OUT_OF_RANGE');
  const already = await prober!.run({ host: '127.0.0.1', port, timeoutMs: 100 }, AbortSignal.abort());
  assert.equal(already.code, 'ECANCELED');
});

test('500 concurrent probes all finish, each with its own result', { skip }, async () => {
  const good = await serve((s) => s.destroy());
  const refused = await closedPort();
  const runs = Array.from({ length: 500 }, (_, i) =>
    prober!.run(
      { host: '127.0.0.1', port: i % 2 === 0 ? good : refused, timeoutMs: 5000 },
      new AbortController().signal,
    ),
  );
  const res = await Promise.all(runs);
  res.forEach((o, i) => assert.equal(o.code, i % 2 === 0 ? null : 'ECONNREFUSED', `probe ${i}`));
});

test('close() ends pending probes; an idle prober does not keep the process alive', { skip }, async () => {
  const own = new StreamProber();
  const port = await serve(() => {});
  const p = own.run({ host: '127.0.0.1', port, timeoutMs: 5000, request: GET, maxResponse: 10 }, never);
  await new Promise((r) => setTimeout(r, 50));
  own.close();
  assert.equal((await p).code, 'ECANCELED');
  assert.equal((await own.run({ host: '127.0.0.1', port, timeoutMs: 100 }, never)).code, 'ECANCELED');

  // a child that runs one probe and then has nothing left to do must exit by itself
  const mod = fileURLToPath(new URL('../../src/health/checkers/stream-prober.js', import.meta.url));
  const script = `
    const { StreamProber } = await import(${JSON.stringify(mod)});
    const net = await import('node:net');
    const srv = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1', async () => {
      const p = new StreamProber();
      const o = await p.run({ host: '127.0.0.1', port: srv.address().port, timeoutMs: 2000 }, new AbortController().signal);
      srv.close();
      console.log(o.code === null ? 'probed' : 'failed ' + o.code);
    });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.signal, null, 'the child exited by itself');
  assert.equal(r.stdout.trim(), 'probed', r.stderr);
});

test('scoped IPv6 addresses stay with Node sockets (the probe thread takes literals only)', () => {
  assert.equal(probeThreadCan({ connectIp: '192.0.2.1' }), true);
  assert.equal(probeThreadCan({ connectIp: '2001:db8::1', bindTo: '2001:db8::2' }), true);
  assert.equal(probeThreadCan({ connectIp: 'fe80::1%eth0' }), false);
  assert.equal(probeThreadCan({ connectIp: '2001:db8::1', bindTo: 'fe80::2%eth0' }), false);
});
