/**
 * Restarts and upgrades that lose nothing (issue 5), on real interfaces in namespaces:
 *  (a) the table survives SIGKILL: an auto-started or `lvsd start`ed daemon has it back
 *      (`ipvsadm -S -n` identical, thresholds, fwmark rules, timeouts too), `lvsd stop` keeps it, a
 *      daemon whose namespace lost its interfaces forgets it;
 *  (b) `lvsd restart` while wrk (keep-alive and close) and 12 long TCP echo streams run through a NAT
 *      director with three nginx real servers: zero failed requests, every stream byte-exact, no RST
 *      reaches the client;
 *  (c) the same with SIGUSR2 and a supervisor loop standing in for systemd (restart on exit 75).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { e2eUnavailable, Lab, natTriangle, sleep, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';
import { curlSplit, directorDiag, expectEqual, expectOk } from '../helpers/traffic.js';
import { stateDir } from '../../src/daemon/paths.js';

const skip = e2eUnavailable('nginx', 'wrk', 'socat', 'curl', 'nft');

function daemonPid(d: Netns): number {
  return (JSON.parse(d.sh('lvsd status --json')) as { pid: number }).pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, f: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function inode(ns: Netns): number {
  return fs.statSync(`/run/netns/${ns.name}`).ino;
}

test(
  'restart (a): the table survives SIGKILL (auto-start or lvsd start): -S, thresholds, fwmark rules, timeouts',
  { skip: skip ?? false, timeout: 120000 },
  async () => {
    const lab = new Lab('rsta');
    try {
      const { c, d, r } = natTriangle(lab, '10.93.0', '172.29.0');
      startNginx(lab, r, { listen: ['172.29.0.2:80'], body: 'rs1' });
      d.sh('ipvsadm -R', {
        input: [
          '-A -t 10.93.0.100:80 -s wrr',
          '-a -t 10.93.0.100:80 -r 172.29.0.2:80 -m -w 3 -x 1000 -y 10',
          '-A -u 10.93.0.100:53 -s sh -b sh-port -o',
          '-a -u 10.93.0.100:53 -r 172.29.0.9 -m',
          '-A -f 9 -s lc -p 120',
          '-a -f 9 -r 172.29.0.2:0 -m',
        ].join('\n'),
      });
      d.sh(
        'lvsd fwmark add --mark 9 --dst 10.93.0.100 --proto tcp --dport 8000-8010; ipvsadm --set 1000 100 200',
      );
      const view = (): string =>
        d.sh('ipvsadm -S -n; ipvsadm -L -n --thresholds; ipvsadm -L --timeout; lvsd fwmark list');
      const before = d.sh('ipvsadm -S -n');
      const full = view();
      assert.deepEqual(curlSplit(c, 'http://10.93.0.100/', 2), { rs1: 2 });

      // SIGKILL: no clean stop at all. The nftables table stays (it drops service traffic meanwhile).
      let pid = daemonPid(d);
      process.kill(pid, 'SIGKILL');
      await until('daemon killed', () => !alive(pid));
      assert.match(d.sh('nft list tables'), /table netdev lvsd/);
      // the next table change auto-starts a daemon, which restores the table, then applies the change
      d.sh('ipvsadm -a -t 10.93.0.100:80 -r 172.29.0.3:80 -m -w 0');
      assert.equal(
        d.sh('ipvsadm -S -n'),
        before.replace(
          '-a -t 10.93.0.100:80 -r 172.29.0.2:80 -m -w 3\n',
          '-a -t 10.93.0.100:80 -r 172.29.0.2:80 -m -w 3\n-a -t 10.93.0.100:80 -r 172.29.0.3:80 -m -w 0\n',
        ),
        'after SIGKILL and auto-start',
      );
      d.sh('ipvsadm -d -t 10.93.0.100:80 -r 172.29.0.3:80');

      // SIGKILL again, `lvsd start`: identical, and it serves
      pid = daemonPid(d);
      process.kill(pid, 'SIGKILL');
      await until('daemon killed', () => !alive(pid));
      d.sh('lvsd start');
      assert.notEqual(daemonPid(d), pid);
      expectEqual(d.sh('ipvsadm -S -n'), before, () => directorDiag(d));
      assert.equal(view(), full);
      expectEqual(curlSplit(c, 'http://10.93.0.100/', 2), { rs1: 2 }, () => directorDiag(d));
      const st = JSON.parse(d.sh('lvsd status --json')) as { restart: { restored: { services: number } } };
      assert.equal(st.restart.restored.services, 3);
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'restart (a2): lvsd stop keeps the table, ipvsadm -C empties it, a namespace without interfaces forgets it',
  { skip: skip ?? false, timeout: 120000 },
  async () => {
    const lab = new Lab('rstk');
    try {
      const d = lab.ns('d');
      const p = lab.ns('p');
      lab.veth(d, 'eth0', p, 'eth0');
      lab.veth(d, 'eth1', p, 'eth1');
      d.sh('ip link set eth0 up; ip link set eth1 up; ip addr add 10.96.0.1/24 dev eth0');
      d.sh('ipvsadm -A -t 10.96.0.100:80 -s rr; ipvsadm -a -t 10.96.0.100:80 -r 10.96.0.5 -g');
      const before = d.sh('ipvsadm -S -n');
      // lvsd stop keeps the table (as the kernel keeps its own) but removes steering
      d.sh('lvsd stop');
      assert.equal(d.sh('nft list tables'), '', 'stop removes steering');
      assert.equal(d.sh('ipvsadm -S -n'), '', 'read-only commands do not start a daemon');
      d.sh('lvsd start');
      assert.equal(d.sh('ipvsadm -S -n'), before);
      d.sh('ipvsadm -C; lvsd stop; lvsd start');
      assert.equal(d.sh('ipvsadm -S -n'), '', 'ipvsadm -C is saved as well');
      d.sh('ipvsadm -A -t 10.96.0.100:80 -s rr');
      // the namespace loses its interfaces: the daemon exits and forgets the table
      const file = `${stateDir(inode(d))}/table.json`;
      assert.ok(fs.existsSync(file), file);
      const pid = daemonPid(d);
      d.sh('ip link del eth0; ip link del eth1');
      await until('daemon exits without interfaces', () => !alive(pid));
      assert.equal(fs.existsSync(file), false, 'saved table removed with the namespace');
    } finally {
      await lab.cleanup();
    }
  },
);

const STREAMS = 12;

/** A client that keeps `n` TCP echo streams busy for `seconds` and checks every byte that comes back. */
const STREAM_CLIENT = `
import net from 'node:net';
import crypto from 'node:crypto';
const [host, port, n, seconds] = process.argv.slice(2);
const results = [];
await Promise.all(Array.from({ length: Number(n) }, (_, i) => new Promise((resolve) => {
  const r = { i, sent: 0, received: 0, sentSha: '', receivedSha: '', error: null, done: false };
  results.push(r);
  const hs = crypto.createHash('sha256');
  const hr = crypto.createHash('sha256');
  const s = net.connect(Number(port), host);
  let timer = null;
  const end = Date.now() + Number(seconds) * 1000;
  s.on('connect', () => {
    timer = setInterval(() => {
      if (Date.now() >= end) {
        clearInterval(timer);
        s.end();
        return;
      }
      const b = crypto.randomBytes(2048 + ((i * 131) % 2048));
      hs.update(b);
      r.sent += b.length;
      s.write(b);
    }, 25);
  });
  s.on('data', (b) => { hr.update(b); r.received += b.length; });
  s.on('end', () => { r.done = true; });
  s.on('error', (e) => { r.error = e.code || String(e); });
  s.on('close', () => {
    clearInterval(timer);
    r.sentSha = hs.digest('hex');
    r.receivedSha = hr.digest('hex');
    resolve();
  });
  s.setTimeout(60000, () => { r.error = 'idle 60 s'; s.destroy(); });
})));
process.stdout.write(JSON.stringify(results));
`;

interface StreamResult {
  i: number;
  sent: number;
  received: number;
  sentSha: string;
  receivedSha: string;
  error: string | null;
  done: boolean;
}

function collect(p: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

interface Wrk {
  requests: number;
  failures: string[];
  text: string;
}

function parseWrk(text: string): Wrk {
  const m = /(\d+) requests in/.exec(text);
  const failures: string[] = [];
  for (const line of text.split('\n')) if (/Socket errors|Non-2xx/.test(line)) failures.push(line.trim());
  return { requests: m ? Number(m[1]) : 0, failures, text };
}

/**
 * NAT director d between client c and three nginx + echo real servers; `setup`: -R lines for :80 and
 * :9000. fullnat: the same in FullNAT (`--fullnat`, the local address 192.168.<tag>.1 on d's lo).
 */
function natLab(
  lab: Lab,
  tag: number,
  opts: { fullnat?: boolean } = {},
): { c: Netns; d: Netns; vip: string; setup: string[]; servers: Netns[] } {
  const front = `10.${tag}.0`;
  const servers: Netns[] = [];
  const c = lab.ns('c');
  const d = lab.ns('d');
  lab.veth(c, 'eth0', d, 'eth0');
  c.sh(`ip link set eth0 up; ip addr add ${front}.2/24 dev eth0; ip route add default via ${front}.1`);
  d.sh(
    `ip link set eth0 up; ip addr add ${front}.1/24 dev eth0; ip addr add ${front}.100/32 dev eth0; ` +
      'sysctl -qw net.ipv4.ip_forward=1',
  );
  const vip = `${front}.100`;
  const laddr = `192.168.${tag}.1`;
  if (opts.fullnat) d.sh(`ip addr add ${laddr}/32 dev lo`);
  const pool = opts.fullnat ? ` --laddr ${laddr}` : '';
  const method = opts.fullnat ? '--fullnat' : '-m';
  const cmds = [`-A -t ${vip}:80 -s rr${pool}`, `-A -t ${vip}:9000 -s rr${pool}`];
  for (let k = 1; k <= 3; k++) {
    const r = lab.ns(`r${k}`);
    servers.push(r);
    const back = `172.${tag - 60}.${k}`;
    lab.veth(d, `eth${k}`, r, 'eth0');
    d.sh(`ip link set eth${k} up; ip addr add ${back}.1/24 dev eth${k}`);
    r.sh(`ip link set eth0 up; ip addr add ${back}.2/24 dev eth0; ip route add default via ${back}.1`);
    startNginx(lab, r, { listen: [`${back}.2:80`], body: `rs${k}` });
    r.spawn(`exec socat TCP-LISTEN:9000,fork,reuseaddr EXEC:cat`);
    cmds.push(`-a -t ${vip}:80 -r ${back}.2:80 ${method}`, `-a -t ${vip}:9000 -r ${back}.2:9000 ${method}`);
  }
  // count every RST the client receives (from real servers, or from a director kernel that saw
  // service traffic lvsd should have taken)
  c.sh(
    "nft add table inet rstwatch; nft add chain inet rstwatch in '{ type filter hook input priority 0; }'; " +
      "nft add set inet rstwatch from '{ type ipv4_addr . inet_service . inet_service; flags dynamic; }'; " +
      "nft add rule inet rstwatch in 'tcp flags & rst != 0 counter add @from { ip saddr . tcp sport . tcp dport }'",
  );
  return { c, d, vip, setup: cmds, servers };
}

/** `lvsd restart` in d; its summary line (asserts it succeeded). */
async function lvsdRestart(d: Netns): Promise<string> {
  const out = await collect(d.spawn('lvsd restart'));
  expectOk(out.code === 0, () => `lvsd restart: ${out.out}${out.err}\n${directorDiag(d)}`);
  return out.out.trim();
}

/** TCP OutRsts (RSTs its stack sent) of each namespace, by name. */
function outRsts(nss: readonly Netns[]): Record<string, number> {
  const r: Record<string, number> = {};
  for (const ns of nss) {
    const tcp = ns
      .sh('cat /proc/net/snmp')
      .split('\n')
      .filter((l) => l.startsWith('Tcp:'))
      .map((l) => l.split(/\s+/));
    r[ns.name] = Number(tcp[1]![tcp[0]!.indexOf('OutRsts')]);
  }
  return r;
}

function rstSeen(c: Netns): number {
  const m = /counter packets (\d+)/.exec(c.sh('nft list chain inet rstwatch in'));
  return m ? Number(m[1]) : -1;
}

/** Who sent the RSTs: source address . source port . client port. */
function rstFrom(c: Netns): string {
  return /elements = \{([^}]*)\}/.exec(c.sh('nft list set inet rstwatch from'))?.[1]?.trim() ?? '-';
}

/**
 * Run wrk (keep-alive and close) and the echo streams for `seconds`, call `disrupt` after `atMs`,
 * and check that nothing failed.
 */
async function underLoad(
  lab: Lab,
  c: Netns,
  d: Netns,
  vip: string,
  disrupt: () => Promise<string>,
  servers: readonly Netns[] = [],
): Promise<string> {
  const seconds = 12;
  const script = lab.file('streams.mjs');
  fs.writeFileSync(script, STREAM_CLIENT);
  const sendersAtStart = outRsts([d, ...servers]);
  const streams = collect(c.spawn(`node ${script} ${vip} 9000 ${STREAMS} ${seconds}`));
  const wrkKa = collect(c.spawn(`wrk -t1 -c6 -d${seconds}s --timeout 10s http://${vip}/`));
  const wrkClose = collect(
    c.spawn(`wrk -t1 -c6 -d${seconds}s --timeout 10s -H 'Connection: close' http://${vip}/`),
  );
  await sleep(3500);
  const connsBefore = d.sh('ipvsadm -L -n -c').split('\n').length - 3;
  const rstBefore = rstSeen(c);
  // which stack sends a reset: the director's kernel (it has the VIP) or a real server's
  const sendersBefore = outRsts([d, ...servers]);
  const info = await disrupt();
  await sleep(1500); // retransmissions of what the gap dropped have reached the new daemon
  const rstAfter = rstSeen(c);
  const sendersAfter = outRsts([d, ...servers]);
  const [s, k, cl] = await Promise.all([streams, wrkKa, wrkClose]);
  const diag = (): string =>
    `${info}\nconnections before: ${connsBefore}\n${directorDiag(d)}\n` +
    `keep-alive wrk:\n${k.out}${k.err}\nclose wrk:\n${cl.out}${cl.err}\nstreams: ${s.out}${s.err}`;
  // collect every problem, then fail once with the director's view (diagnostics take seconds)
  const problems: string[] = [];
  const ka = parseWrk(k.out);
  const close = parseWrk(cl.out);
  if (ka.requests < 50 || close.requests < 20) problems.push(`wrk ran: ${ka.requests} / ${close.requests}`);
  problems.push(...ka.failures.map((f) => `keep-alive: ${f}`), ...close.failures.map((f) => `close: ${f}`));
  let results: StreamResult[] = [];
  try {
    results = JSON.parse(s.out) as StreamResult[];
  } catch {
    problems.push('stream client output is not JSON');
  }
  if (results.length !== STREAMS) problems.push(`${results.length} stream results`);
  for (const r of results) {
    if (r.error !== null) problems.push(`stream ${r.i}: ${r.error}`);
    if (!r.done || r.sent < 100000) problems.push(`stream ${r.i} did not run to its end (${r.sent} bytes)`);
    if (r.received !== r.sent) problems.push(`stream ${r.i}: ${r.received} of ${r.sent} bytes back`);
    if (r.receivedSha !== r.sentSha) problems.push(`stream ${r.i}: sha256 differs`);
  }
  // No RST may reach the client while the daemon restarts (and 1.5 s after, when what the gap
  // dropped has been retransmitted). A stray RST outside that window (seen rarely under this load:
  // from VIP:80 before any restart, from VIP:9000 when the echo streams close) is reported as a
  // diagnostic, not counted against the restart; it is a known open question (report of issue 5).
  const rst = rstSeen(c);
  if (rstAfter !== rstBefore)
    problems.push(
      `${rstAfter - rstBefore} RSTs seen by the client during the restart ` +
        `(${rstBefore} before it, ${rst} at the end), from ${rstFrom(c)}; RSTs sent in that window ` +
        `by namespace: ${JSON.stringify(Object.fromEntries(Object.entries(sendersAfter).map(([k, v]) => [k, v - sendersBefore[k]!])))}`,
    );
  if (problems.length > 0) assert.fail(`${problems.join('\n')}\n${diag()}`);
  const sendersAtEnd = outRsts([d, ...servers]);
  const sent = Object.entries(sendersAtEnd).map(([k, v]) => `${k} ${v - sendersAtStart[k]!}`);
  const stray =
    rst > 0
      ? `; ${rst} RST outside the restart (${rstBefore} before it) from ${rstFrom(c)}; RSTs sent by namespace ` +
        `over the whole run: ${sent.join(', ')}`
      : '';
  return `${info}${stray}; keep-alive ${ka.requests} requests, close ${close.requests} requests, ${STREAMS} streams intact`;
}

test(
  'restart (b): lvsd restart under wrk and long streams loses no request, byte or connection',
  { skip: skip ?? false, timeout: 150000 },
  async (t) => {
    const lab = new Lab('rstb');
    try {
      const { c, d, vip, setup, servers } = natLab(lab, 94);
      d.sh('ipvsadm -R', { input: setup.join('\n') });
      expectEqual(curlSplit(c, `http://${vip}/`, 3), { rs1: 1, rs2: 1, rs3: 1 }, () => directorDiag(d));
      const oldPid = daemonPid(d);
      const summary = await underLoad(lab, c, d, vip, () => lvsdRestart(d), servers);
      const st = JSON.parse(d.sh('lvsd status --json')) as {
        pid: number;
        restart: { handover: { connections: number; gapMs: number; droppedInGap: number } };
      };
      assert.notEqual(st.pid, oldPid);
      assert.equal(alive(oldPid), false);
      assert.ok(st.restart.handover.connections >= STREAMS, JSON.stringify(st.restart));
      t.diagnostic(`${summary}; hand-over ${JSON.stringify(st.restart.handover)}`);
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'restart (d): FullNAT connections keep their local address and port across lvsd restart under load',
  { skip: skip ?? false, timeout: 150000 },
  async (t) => {
    const lab = new Lab('rstd');
    try {
      const { c, d, vip, setup, servers } = natLab(lab, 95, { fullnat: true });
      d.sh('ipvsadm -R', { input: setup.join('\n') });
      expectEqual(curlSplit(c, `http://${vip}/`, 3), { rs1: 1, rs2: 1, rs3: 1 }, () => directorDiag(d));
      const summary = await underLoad(lab, c, d, vip, () => lvsdRestart(d), servers);
      const st = JSON.parse(d.sh('lvsd status --json')) as {
        restart: {
          handover: { connections: number; skipped: number; restore: { fullnat?: { created: number } } };
        };
      };
      const h = st.restart.handover;
      assert.ok((h.restore.fullnat?.created ?? 0) >= STREAMS, JSON.stringify(st.restart));
      t.diagnostic(`${summary}; hand-over ${JSON.stringify(h)}`);
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'restart (c): SIGUSR2 under a supervisor (restart on exit 75) loses no request, byte or connection',
  { skip: skip ?? false, timeout: 150000 },
  async (t) => {
    const lab = new Lab('rstc');
    try {
      const { c, d, vip, setup, servers } = natLab(lab, 95);
      // the supervisor: what systemd does with RestartForceExitStatus=75 and RestartSec=0
      const exits = lab.file('exits');
      const log = lab.file('lvsd.log');
      d.spawn(`while :; do lvsd >> ${log} 2>&1; s=$?; echo $s >> ${exits}; [ $s -eq 75 ] || exit $s; done`);
      await until('supervised daemon up', () => d.run('lvsd status').status === 0, 30000);
      d.sh('ipvsadm -R', { input: setup.join('\n') });
      expectEqual(curlSplit(c, `http://${vip}/`, 3), { rs1: 1, rs2: 1, rs3: 1 }, () => directorDiag(d));
      const oldPid = daemonPid(d);
      const summary = await underLoad(
        lab,
        c,
        d,
        vip,
        async () => {
          process.kill(oldPid, 'SIGUSR2');
          await until('old daemon gone', () => !alive(oldPid));
          await until('successor serving', () => d.run('lvsd status').status === 0, 30000);
          const st = JSON.parse(d.sh('lvsd status --json')) as {
            restart: { handover: { connections: number; gapMs: number; droppedInGap: number } | null };
          };
          const h = st.restart.handover;
          assert.ok(h, `no hand-over taken\n${fs.readFileSync(log, 'utf8')}`);
          return `SIGUSR2: ${h.connections} connections handed over, gap ${h.gapMs} ms, ${h.droppedInGap} packets dropped in the gap`;
        },
        servers,
      );
      assert.equal(fs.readFileSync(exits, 'utf8'), '75\n', 'the old daemon exited with 75');
      assert.notEqual(daemonPid(d), oldPid);
      t.diagnostic(summary);
    } finally {
      await lab.cleanup();
    }
  },
);
