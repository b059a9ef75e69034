/**
 * The real checkers against real servers on 127.0.0.1 that the tests start (node:net/http/https/
 * dgram, child processes): each both succeeding and failing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type {
  DnsChecker,
  FileChecker,
  HttpChecker,
  SmtpChecker,
  UdpChecker,
} from '../../src/config/model.js';
import {
  DnsCheck,
  FileCheck,
  HttpCheck,
  MiscCheck,
  PingCheck,
  SmtpCheck,
  TcpCheck,
  UdpCheck,
} from '../../src/health/checkers/index.js';
import { buildHttpRequest, parseHttpResponse } from '../../src/health/checkers/http.js';
import { buildDnsQuery } from '../../src/health/checkers/dns.js';
import { findExecutable } from '../../src/health/checkers/ping.js';
import { resolveScriptIds } from '../../src/health/scripts.js';
import { compileReplyPattern, matchReply } from '../../src/health/checkers/udp.js';
import { streamProber } from '../../src/health/checkers/stream-prober.js';
import { nativeAvailable } from '../../src/io/native.js';
import { http as httpCfg, tcp, misc } from './helpers.js';

const LO = '127.0.0.1';
// TCP_CHECK and HTTP_GET run on the addon's probe thread when there is one, else on Node sockets:
// both must give the same results.
const backends = [
  { name: 'probe thread', prober: streamProber() },
  { name: 'Node sockets', prober: null },
] as const;
after(() => streamProber()?.close());
const signal = new AbortController().signal;
const dir = mkdtempSync(join(tmpdir(), 'lvsd-health-'));
const closers: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function listen(server: net.Server, host = LO): Promise<number> {
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
    closers.push(
      () =>
        new Promise<void>((r) => {
          server.close(() => r());
          for (const s of open) s.destroy();
        }),
    );
  });
}

/** A port nobody listens on (bound then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((r) => s.listen(0, LO, () => r((s.address() as AddressInfo).port)));
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---- TCP_CHECK ------------------------------------------------------------------------------

for (const { name, prober } of backends)
  test(
    `TCP_CHECK (${name}): connect succeeds; refused port fails; bindto is the source address`,
    { skip: name === 'probe thread' && !nativeAvailable },
    async () => {
      let remote = '';
      const server = net.createServer((s) => {
        remote = s.remoteAddress ?? '';
        s.destroy();
      });
      const port = await listen(server, '0.0.0.0');
      const okRes = await new TcpCheck(tcp(LO, port), prober).run(signal);
      assert.equal(okRes.ok, true, okRes.reason);
      assert.ok(okRes.latencyMs >= 0);
      const bound = await new TcpCheck(tcp(LO, port, { bindTo: '127.0.0.2' }), prober).run(signal);
      assert.equal(bound.ok, true, bound.reason);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(remote, '127.0.0.2');
      const refused = await new TcpCheck(tcp(LO, await closedPort()), prober).run(signal);
      assert.equal(refused.ok, false);
      assert.equal(refused.reason, 'connection refused');
    },
  );

// ---- HTTP_GET / SSL_GET ---------------------------------------------------------------------

test("HTTP request bytes are exactly keepalived's for 1.0 / 1.0C / 1.1, vhost precedence and IPv6", () => {
  const c = httpCfg(LO, 8080, ['/x']);
  assert.equal(
    buildHttpRequest(c, c.urls[0]!),
    'GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:8080\r\n\r\n',
  );
  const c11: HttpChecker = { ...httpCfg(LO, 80, ['/y']), httpProtocol: '1.1', virtualhost: 'rs.example' };
  assert.equal(
    buildHttpRequest(c11, c11.urls[0]!),
    'GET /y HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: rs.example\r\n\r\n',
  );
  const c10c: HttpChecker = { ...httpCfg('fd00::1', 8080, ['/z']), httpProtocol: '1.0C' };
  const url = { ...c10c.urls[0]!, virtualhost: 'url.example' };
  assert.equal(
    buildHttpRequest(c10c, url),
    'GET /z HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: url.example:8080\r\n\r\n',
  );
  assert.match(buildHttpRequest(c10c, c10c.urls[0]!), /Host: \[fd00::1\]:8080\r\n/);
  const ssl: HttpChecker = { ...httpCfg(LO, 443, ['/']), kind: 'SSL_GET' };
  assert.match(buildHttpRequest(ssl, ssl.urls[0]!), /Host: 127\.0\.0\.1\r\n\r\n$/);
});

test('HTTP response parser: content-length, chunked, EOF-delimited, malformed', () => {
  const cl = parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef'), false);
  assert.deepEqual(cl !== 'incomplete' && cl !== 'malformed' && cl.body.toString(), 'abc');
  const ch = parseHttpResponse(
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n'),
    false,
  );
  assert.deepEqual(ch !== 'incomplete' && ch !== 'malformed' && ch.body.toString(), 'abcde');
  assert.equal(parseHttpResponse(Buffer.from('HTTP/1.0 200 OK\r\n\r\nabc'), false), 'incomplete');
  const eof = parseHttpResponse(Buffer.from('HTTP/1.0 200 OK\r\n\r\nabc'), true);
  assert.deepEqual(eof !== 'incomplete' && eof !== 'malformed' && eof.body.toString(), 'abc');
  assert.equal(parseHttpResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), true), 'malformed');
});

for (const { name, prober } of backends)
  test(
    `HTTP_GET (${name}) against a real server: status ranges, digest, regex, virtualhost, wrong status, timeout, refused`,
    { skip: name === 'probe thread' && !nativeAvailable },
    async () => {
      const requests: string[] = [];
      const body = 'healthy: yes\n';
      const server = http.createServer((req, res) => {
        requests.push(`${req.method} ${req.url} ${req.headers['host']} ${req.headers['user-agent']}`);
        if (req.url === '/ok') res.end(body);
        else if (req.url === '/chunked') {
          res.write('heal');
          res.end('thy: yes\n');
        } else if (req.url === '/down') {
          res.statusCode = 503;
          res.end('no');
        } else if (req.url === '/hang') {
          /* never answers */
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
      const port = await listen(server);
      const md5 = createHash('md5').update(body).digest('hex');
      const run = (
        paths: string[],
        o: Partial<HttpChecker> = {},
        url: Partial<HttpChecker['urls'][0]> = {},
      ) => {
        const c = httpCfg(LO, port, paths, { connectTimeout: 0.5, ...o });
        c.urls = c.urls.map((u) => ({ ...u, ...url }));
        return new HttpCheck(c, prober).run(signal, 0);
      };
      const good = await run(['/ok'], {}, { digest: md5, regex: '^healthy: (yes|ok)' });
      assert.equal(good.ok, true, good.reason);
      assert.equal(requests.at(-1), `GET /ok 127.0.0.1:${port} KeepAliveClient`);
      const chunked = await run(
        ['/chunked'],
        { httpProtocol: '1.1', virtualhost: 'svc.example' },
        { digest: md5 },
      );
      assert.equal(chunked.ok, true, chunked.reason);
      assert.equal(requests.at(-1), `GET /chunked svc.example:${port} KeepAliveClient`);
      const badDigest = await run(['/ok'], {}, { digest: '0'.repeat(32) });
      assert.equal(badDigest.ok, false);
      assert.match(badDigest.reason, /digest mismatch/);
      const noMatch = await run(['/ok'], {}, { regex: 'healthy', regexNoMatch: true });
      assert.equal(noMatch.ok, false);
      const regexMiss = await run(['/ok'], {}, { regex: 'unhealthy' });
      assert.equal(regexMiss.ok, false);
      const s503 = await run(['/down']);
      assert.equal(s503.ok, false);
      assert.equal(s503.reason, 'status code 503');
      const s503ok = await run(
        ['/down'],
        {},
        {
          statusCodes: [
            [200, 299],
            [500, 503],
          ],
        },
      );
      assert.equal(s503ok.ok, true, s503ok.reason);
      const s404 = await run(['/missing']);
      assert.equal(s404.ok, false);
      const hang = await run(['/hang']);
      assert.equal(hang.ok, false);
      assert.equal(hang.reason, 'timeout');
      const refused = await new HttpCheck(httpCfg(LO, await closedPort(), ['/']), prober).run(signal, 0);
      assert.equal(refused.reason, 'connection refused');
    },
  );

test('SSL_GET: self-signed certificate accepted (no verification), SNI sent only with enable_sni', async (t) => {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=lvsd-test',
      ],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    t.skip('openssl not available to make a test certificate');
    return;
  }
  const sni: (string | false)[] = [];
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    sni.push((req.socket as import('node:tls').TLSSocket).servername ?? false);
    res.statusCode = req.url === '/ok' ? 200 : 500;
    res.end('tls ok');
  });
  const port = await listen(server);
  const base: HttpChecker = { ...httpCfg(LO, port, ['/ok']), kind: 'SSL_GET', connectTimeout: 2 };
  const plain = await new HttpCheck(base).run(signal, 0);
  assert.equal(plain.ok, true, plain.reason);
  const withSni = await new HttpCheck({ ...base, enableSni: true, sniName: 'sni.example' }).run(signal, 0);
  assert.equal(withSni.ok, true, withSni.reason);
  assert.deepEqual(sni, [false, 'sni.example']);
  const bad = await new HttpCheck({
    ...base,
    urls: [{ path: '/nope', statusCodes: [[200, 299]], regexNoMatch: false }],
  }).run(signal, 0);
  assert.equal(bad.ok, false);
  // SSL_GET against a plain-text server fails
  const plainServer = net.createServer((s) => s.end('HTTP/1.0 200 OK\r\n\r\n'));
  const pport = await listen(plainServer);
  const notTls = await new HttpCheck({ ...base, connectPort: pport }).run(signal, 0);
  assert.equal(notTls.ok, false);
});

// ---- MISC_CHECK -----------------------------------------------------------------------------

test('MISC_CHECK: exit 0 ok, 1 fail, 2..255 fail without / weight with misc_dynamic, timeout fails', async () => {
  const sh = (code: string, o = {}) =>
    new MiscCheck({ ...misc('sh'), script: { command: code, argv: ['sh', '-c', code] }, timeout: 5, ...o });
  const r0 = await sh('exit 0').run(signal);
  assert.equal(r0.ok, true);
  assert.equal(r0.dynamicWeight, undefined);
  assert.equal((await sh('exit 0', { dynamic: true }).run(signal)).dynamicWeight, null);
  const r1 = await sh('exit 1', { dynamic: true }).run(signal);
  assert.equal(r1.ok, false);
  assert.equal(r1.reason, 'exit 1');
  assert.equal((await sh('exit 7').run(signal)).ok, false);
  const dyn = await sh('exit 7', { dynamic: true }).run(signal);
  assert.equal(dyn.ok, true);
  assert.equal(dyn.dynamicWeight, 5);
  assert.equal((await sh('exit 255', { dynamic: true }).run(signal)).dynamicWeight, 253);
  const slow = await sh('sleep 5', { timeout: 0.2 }).run(signal);
  assert.equal(slow.ok, false);
  assert.match(slow.reason, /timeout/);
  assert.ok(slow.latencyMs < 2000, `SIGTERM ends sleep at once (${slow.latencyMs} ms)`);
  const missing = await new MiscCheck({
    ...misc('x'),
    script: { command: '/nonexistent/check', argv: ['/nonexistent/check'] },
  }).run(signal);
  assert.equal(missing.ok, false);
  assert.match(missing.reason, /cannot run/);
});

test('MISC_CHECK: a script ignoring SIGTERM is SIGKILLed 2 s after the timeout and counts as failure', async () => {
  const r = await new MiscCheck({
    ...misc('sh'),
    script: { command: 'trap', argv: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'] },
    timeout: 0.2,
  }).run(signal);
  assert.equal(r.ok, false);
  assert.match(r.reason, /timeout.*SIGKILL/);
  assert.ok(r.latencyMs >= 2000);
});

test('MISC_CHECK runs the script as its user [group] (names from /etc/passwd, /etc/group)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to switch user');
    return;
  }
  const ids = resolveScriptIds('nobody');
  assert.ok(ids.uid > 0);
  assert.throws(() => resolveScriptIds('no-such-user-lvsd'), /unknown user/);
  const check = (user?: string, group?: string) =>
    new MiscCheck({
      ...misc('sh'),
      script: { command: 'id', argv: ['sh', '-c', `test "$(id -u)" = ${ids.uid}`], user, group },
      timeout: 5,
    }).run(signal);
  assert.equal((await check('nobody')).ok, true);
  assert.equal((await check()).ok, false, 'without a user it runs as root');
  const viaGlobal = await new MiscCheck(
    {
      ...misc('sh'),
      script: { command: 'id', argv: ['sh', '-c', `test "$(id -u)" = ${ids.uid}`] },
      timeout: 5,
    },
    { user: 'nobody' },
  ).run(signal);
  assert.equal(viaGlobal.ok, true, viaGlobal.reason);
  const unknown = await check('no-such-user-lvsd');
  assert.match(unknown.reason, /unknown user/);
});

// ---- DNS_CHECK ------------------------------------------------------------------------------

function dnsCfg(port: number, o: Partial<DnsChecker> = {}): DnsChecker {
  return { ...tcp(LO, port), kind: 'DNS_CHECK', type: 'SOA', name: '.', connectTimeout: 0.5, ...o };
}

test('DNS_CHECK: query format; NOERROR with an answer ok; NXDOMAIN, no answer, silence, refused fail', async () => {
  const q = buildDnsQuery(0x1234, 'www.example.com', 'A');
  assert.equal(q.toString('hex'), '12340100000100000000000003777777076578616d706c6503636f6d0000010001');
  assert.equal(
    buildDnsQuery(1, '.', 'SOA').toString('hex'),
    '000101000001000000000000' + '00' + '0006' + '0001',
  );
  let mode: 'ok' | 'nx' | 'empty' | 'silent' = 'ok';
  const seen: string[] = [];
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    seen.push(msg.subarray(12).toString('hex'));
    if (mode === 'silent') return;
    const reply = Buffer.concat([
      msg,
      mode === 'ok' ? Buffer.from('c00c000600010000000a0000', 'hex') : Buffer.alloc(0),
    ]);
    reply.writeUInt16BE(0x8180 | (mode === 'nx' ? 3 : 0), 2);
    reply.writeUInt16BE(mode === 'ok' ? 1 : 0, 6);
    sock.send(reply, rinfo.port, rinfo.address);
  });
  const port = await new Promise<number>((r) => sock.bind(0, LO, () => r(sock.address().port)));
  closers.push(() => new Promise<void>((r) => sock.close(() => r())));
  const good = await new DnsCheck(dnsCfg(port, { name: 'example.org', type: 'MX' })).run(signal);
  assert.equal(good.ok, true, good.reason);
  assert.equal(
    seen[0],
    Buffer.concat([
      Buffer.from('076578616d706c65036f726700', 'hex'),
      Buffer.from('000f0001', 'hex'),
    ]).toString('hex'),
  );
  mode = 'nx';
  const nx = await new DnsCheck(dnsCfg(port)).run(signal);
  assert.equal(nx.ok, false);
  assert.equal(nx.reason, 'DNS rcode 3');
  mode = 'empty';
  assert.equal((await new DnsCheck(dnsCfg(port)).run(signal)).reason, 'DNS reply has no answer');
  mode = 'silent';
  assert.match((await new DnsCheck(dnsCfg(port)).run(signal)).reason, /timeout/);
  const refused = await new DnsCheck(dnsCfg(await closedUdpPort())).run(signal);
  assert.equal(refused.ok, false);
  assert.equal(refused.reason, 'connection refused');
});

async function closedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  const port = await new Promise<number>((r) => s.bind(0, LO, () => r(s.address().port)));
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---- UDP_CHECK ------------------------------------------------------------------------------

function udpCfg(port: number, o: Partial<UdpChecker> = {}): UdpChecker {
  return {
    ...tcp(LO, port),
    kind: 'UDP_CHECK',
    connectTimeout: 0.3,
    minReplyLength: 0,
    maxReplyLength: 255,
    ...o,
  };
}

test('UDP_CHECK: reply pattern with X wildcards, length limits, silence, ICMP port unreachable', async () => {
  const pat = compileReplyPattern('0aX1ff');
  assert.equal(matchReply(pat, Uint8Array.from([0x0a, 0x51, 0xff, 0x00])), true);
  assert.equal(matchReply(pat, Uint8Array.from([0x0a, 0x52, 0xff])), false);
  assert.equal(matchReply(pat, Uint8Array.from([0x0a, 0x51])), false);
  assert.throws(() => compileReplyPattern('abc'));
  let silent = false;
  const payloads: string[] = [];
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    payloads.push(msg.toString('hex'));
    if (!silent) sock.send(Buffer.from('PONG:' + msg.toString()), rinfo.port, rinfo.address);
  });
  const port = await new Promise<number>((r) => sock.bind(0, LO, () => r(sock.address().port)));
  closers.push(() => new Promise<void>((r) => sock.close(() => r())));
  const payload = Uint8Array.from(Buffer.from('ping'));
  const pong = Buffer.from('PONG').toString('hex').toUpperCase();
  const good = await new UdpCheck(udpCfg(port, { payload, requireReply: pong.slice(0, 6) + 'XX' })).run(
    signal,
  );
  assert.equal(good.ok, true, good.reason);
  assert.equal(payloads[0], Buffer.from('ping').toString('hex'));
  const wrong = await new UdpCheck(udpCfg(port, { payload, requireReply: '00' })).run(signal);
  assert.equal(wrong.reason, 'reply does not match');
  const tooShort = await new UdpCheck(udpCfg(port, { payload, minReplyLength: 50 })).run(signal);
  assert.match(tooShort.reason, /too short/);
  const tooLong = await new UdpCheck(udpCfg(port, { payload, maxReplyLength: 4 })).run(signal);
  assert.match(tooLong.reason, /too long/);
  silent = true;
  const quiet = await new UdpCheck(udpCfg(port, { payload })).run(signal);
  assert.equal(quiet.ok, true, 'no reply and no ICMP error is success without require_reply');
  const quietRequired = await new UdpCheck(udpCfg(port, { payload, requireReply: '50' })).run(signal);
  assert.equal(quietRequired.ok, false);
  const unreachable = await new UdpCheck(udpCfg(await closedUdpPort(), { payload })).run(signal);
  assert.equal(unreachable.ok, false);
  assert.equal(unreachable.reason, 'connection refused');
});

// ---- SMTP_CHECK -----------------------------------------------------------------------------

function smtpCfg(port: number, o: Partial<SmtpChecker> = {}): SmtpChecker {
  return {
    ...tcp(LO, port),
    kind: 'SMTP_CHECK',
    heloName: 'smtpchecker.keepalived.org',
    hosts: [],
    connectTimeout: 0.5,
    ...o,
  };
}

test('SMTP_CHECK: 2xx banner + HELO 250 + QUIT ok; bad banner, HELO refused, silence fail; legacy hosts are steps', async () => {
  const dialog: string[] = [];
  const mk = (banner: string | null, heloReply: string) =>
    net.createServer((s) => {
      if (banner !== null) s.write(banner);
      s.on('data', (d) => {
        for (const line of d.toString().split('\r\n').filter(Boolean)) {
          dialog.push(line);
          if (line.startsWith('HELO')) s.write(heloReply);
          if (line === 'QUIT') s.end('221 bye\r\n');
        }
      });
      s.on('error', () => {});
    });
  const good = await listen(mk('220-mx.example ESMTP\r\n220 ready\r\n', '250 mx.example\r\n'));
  const res = await new SmtpCheck(smtpCfg(good)).run(signal, 0);
  assert.equal(res.ok, true, res.reason);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(dialog, ['HELO smtpchecker.keepalived.org', 'QUIT']);
  const badBanner = await listen(mk('554 go away\r\n', '250 x\r\n'));
  assert.match((await new SmtpCheck(smtpCfg(badBanner)).run(signal, 0)).reason, /bad banner: 554/);
  const heloNo = await listen(mk('220 hi\r\n', '501 no\r\n'));
  assert.match((await new SmtpCheck(smtpCfg(heloNo)).run(signal, 0)).reason, /HELO refused: 501/);
  const silent = await listen(mk(null, ''));
  assert.equal((await new SmtpCheck(smtpCfg(silent)).run(signal, 0)).reason, 'timeout');
  const loc = { file: 't', line: 1, column: 1 };
  const legacy = new SmtpCheck(
    smtpCfg(0, {
      hosts: [
        { connectIp: LO, connectPort: good, family: 4, loc },
        { connectIp: LO, connectPort: badBanner, family: 4, loc },
      ],
    }),
  );
  assert.equal(legacy.steps, 2);
  assert.equal((await legacy.run(signal, 0)).ok, true);
  assert.equal((await legacy.run(signal, 1)).ok, false);
});

// ---- FILE_CHECK / PING_CHECK ----------------------------------------------------------------

test('FILE_CHECK: weight 0 -> up iff value 0; weight/reverse; dynamic weight; missing file reads 0', async () => {
  const f = join(dir, 'track');
  const cfg = (o: Partial<FileChecker> = {}) => ({
    trackFile: f,
    weight: 0,
    reverse: false,
    dynamic: false,
    ...o,
  });
  writeFileSync(f, '0\n');
  assert.equal((await new FileCheck(cfg(), 10).run(signal)).ok, true);
  writeFileSync(f, '3\n');
  assert.equal((await new FileCheck(cfg(), 10).run(signal)).ok, false);
  assert.equal((await new FileCheck(cfg({ weight: 2 }), 10).run(signal)).ok, true);
  assert.equal((await new FileCheck(cfg({ weight: 2, reverse: true }), 10).run(signal)).ok, false);
  const dyn = await new FileCheck(cfg({ weight: 2, dynamic: true }), 10).run(signal);
  assert.equal(dyn.ok, true);
  assert.equal(dyn.dynamicWeight, 16);
  writeFileSync(f, '-8');
  const neg = await new FileCheck(cfg({ weight: 2, dynamic: true }), 10).run(signal);
  assert.equal(neg.ok, false);
  writeFileSync(f, 'garbage');
  assert.equal((await new FileCheck(cfg(), 10).run(signal)).ok, false);
  assert.equal((await new FileCheck(cfg({ trackFile: join(dir, 'missing') }), 10).run(signal)).ok, true);
});

test('PING_CHECK: without a ping binary every attempt fails as unsupported; with one, loopback answers', async (t) => {
  const none = await new PingCheck({ connectIp: LO, family: 4, connectTimeout: 1 }, null).run(signal);
  assert.equal(none.ok, false);
  assert.match(none.reason, /PING_CHECK unsupported/);
  if (!findExecutable('ping')) {
    t.skip('no ping binary (iputils-ping) installed');
    return;
  }
  const v4 = await new PingCheck({ connectIp: LO, family: 4, connectTimeout: 1 }).run(signal);
  assert.equal(v4.ok, true, v4.reason);
  const v6 = await new PingCheck({ connectIp: '::1', family: 6, connectTimeout: 1 }).run(signal);
  assert.equal(v6.ok, true, v6.reason);
  // bindto an address this host does not have: ping cannot bind -> failure
  const bad = await new PingCheck({ connectIp: LO, family: 4, connectTimeout: 1, bindTo: '192.0.2.77' }).run(
    signal,
  );
  assert.equal(bad.ok, false);
  assert.match(bad.reason, /ping exit 2/);
});
