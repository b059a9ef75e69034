/**
 * keepalived mode end to end: `lvsd -f keepalived.conf -n -l` in a director namespace, NAT to three
 * nginx real servers, HTTP_GET health checks, and what keepalived promises around them
 * (keepalived-reference.md §2): a failed server leaves the table within delay_loop x (retry + 1) +
 * connect_timeout and comes back on its first success; inhibit_on_failure keeps it at weight 0;
 * losing the quorum swaps the real servers for the sorry server; SIGHUP adds and removes servers
 * without disturbing the others' connections or counters.
 *
 *   client ns (10.93.0.2) --- director eth0 10.93.0.1, VIP 10.93.0.100/24
 *                             director eth1 172.29.0.1 --- bridge (switch ns)
 *                                rs1 172.29.0.11, rs2 .12, rs3 .13, sorry .14 (default via .1)
 *
 * Each test writes its own file, starts its own daemon and stops it (`lvsd stop`) at the end.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { e2eUnavailable, Lab, sleep, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';

const VIP = '10.93.0.100';
const CLIENT = '10.93.0.2';
const RS = ['172.29.0.11', '172.29.0.12', '172.29.0.13'] as const;
const NAMES = ['rs1', 'rs2', 'rs3'] as const;
const SORRY = '172.29.0.14';
/** keepalived's bound for a failed server to leave: delay_loop x (retry + 1) + connect_timeout (s) */
const DELAY_LOOP = 1;
const RETRY = 1;
const CONNECT_TIMEOUT = 1;
const LEAVE_BOUND_MS = (DELAY_LOOP * (RETRY + 1) + CONNECT_TIMEOUT) * 1000;
/** scheduling jitter on a loaded 2-core machine; the change's time comes from lvsd's own log */
const SLACK_MS = 1000;
/** how long to poll `ipvsadm -L -n` (a node start each, ~1 s under load) for a change */
const POLL_MS = LEAVE_BOUND_MS + 8000;

const skip = e2eUnavailable('curl', 'nginx', 'wrk');

let lab: Lab;
let client: Netns;
let director: Netns;
/** nginx prefix dirs by real server index (3 = the sorry server) */
const nginxDirs: string[] = [];
let daemon: { child: ChildProcess; output: string[] } | null = null;
let confSeq = 0;

function diag(): string {
  const r = director.run('ipvsadm -L -n --stats; lvsd status', { timeoutMs: 10000 });
  const out = daemon ? daemon.output.join('').split('\n').slice(-30).join('\n') : '';
  return `${r.stdout}${r.stderr}\n--- lvsd log (tail) ---\n${out}`;
}

async function withDiag(fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error) e.stack = `${e.stack}\n--- director ---\n${diag()}`;
    throw e;
  }
}

interface ConfOptions {
  servers?: readonly number[];
  inhibit?: boolean;
  quorum?: number;
  sorry?: boolean;
}

/** keepalived.conf for one NAT virtual server on VIP:80 with HTTP_GET on each real server. */
function conf(o: ConfOptions = {}): string {
  const servers = o.servers ?? [0, 1, 2];
  const rs = servers
    .map(
      (i) => `    real_server ${RS[i]} 80 {
        weight 1
${o.inhibit ? '        inhibit_on_failure\n' : ''}        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout ${CONNECT_TIMEOUT}
            retry ${RETRY}
            delay_before_retry 1
        }
    }`,
    )
    .join('\n');
  return `! lvsd keepalived-mode end-to-end test
global_defs {
    router_id lvsd_e2e
}

virtual_server ${VIP} 80 {
    delay_loop ${DELAY_LOOP}
    lb_algo rr
    lb_kind NAT
    protocol TCP
${o.quorum !== undefined ? `    quorum ${o.quorum}\n` : ''}${o.sorry ? `    sorry_server ${SORRY} 80\n` : ''}
${rs}
}
`;
}

function writeConf(text: string, file?: string): string {
  const f = file ?? lab.file(`keepalived-${confSeq++}.conf`);
  fs.writeFileSync(f, text);
  return f;
}

interface KaStatus {
  pid: number;
  keepalived?: { loadedAt: string | null; lastReload: { at: string; ok: boolean } | null };
}

function status(): KaStatus | null {
  const r = director.run('lvsd status --json', { timeoutMs: 10000 });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout) as KaStatus;
}

async function until<T>(what: string, f: () => T | null | false | undefined, ms = 10000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}\n${diag()}`);
    await sleep(100);
  }
}

/** Start `lvsd -f FILE -n -l` in the director and wait until its configuration runs. */
async function startKeepalived(file: string): Promise<KaStatus> {
  const child = director.spawn(`exec lvsd -f ${file} -n -l`);
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  daemon = { child, output };
  return until('lvsd to run the configuration', () => {
    const s = status();
    return s?.keepalived?.loadedAt ? s : null;
  });
}

async function stopKeepalived(): Promise<void> {
  if (!daemon) return;
  const { child } = daemon;
  const exited = new Promise((r) => {
    if (child.exitCode !== null) r(null);
    else child.once('exit', r);
  });
  director.run('lvsd stop', { timeoutMs: 15000 });
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
  daemon = null;
}

/**
 * When lvsd applied a table change whose argv matches `re` (its "table changed" log line, -l),
 * in ms since the epoch; null if it did not.
 */
function tableChangeAt(re: RegExp): number | null {
  for (const line of (daemon?.output.join('') ?? '').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { time: string; msg: string; argv?: string[] };
      if (rec.msg === 'table changed' && rec.argv && re.test(rec.argv.join(' '))) return Date.parse(rec.time);
    } catch {
      /* a partial line */
    }
  }
  return null;
}

/** lvsd's log lines that mention `what` */
function logLines(what: string): string {
  return (daemon?.output.join('') ?? '')
    .split('\n')
    .filter((l) => l.includes(what))
    .join('\n');
}

/** The real servers of VIP:80 in `ipvsadm -L -n` with their weights. */
function table(): Map<string, number> {
  const text = director.sh('ipvsadm -L -n', { timeoutMs: 10000 });
  const m = new Map<string, number>();
  let inVs = false;
  for (const line of text.split('\n')) {
    if (/^(TCP|UDP|FWM|SCTP)/.test(line)) inVs = line.startsWith(`TCP  ${VIP}:80`);
    const d = /^ +-> (\S+):80 +\S+ +(\d+)/.exec(line);
    if (inVs && d) m.set(d[1]!, Number(d[2]));
  }
  return m;
}

function stopNginx(i: number): void {
  const ns = i === 3 ? 'sorry' : `r${i + 1}`;
  nsOf(ns).sh(`nginx -p ${nginxDirs[i]} -c ${nginxDirs[i]}/nginx.conf -s stop`);
  // -s stop signals the master; wait until the port is closed
  const addr = i === 3 ? SORRY : RS[i];
  const end = Date.now() + 5000;
  while (Date.now() < end && nsOf(ns).run(`curl -s --max-time 1 http://${addr}/`).status === 0) {
    /* nginx still answers */
  }
}

function startNginxAgain(i: number): void {
  const ns = i === 3 ? 'sorry' : `r${i + 1}`;
  nsOf(ns).sh(`nginx -p ${nginxDirs[i]} -c ${nginxDirs[i]}/nginx.conf`);
}

const spaces = new Map<string, Netns>();
function nsOf(short: string): Netns {
  return spaces.get(short)!;
}

/**
 * Continuous HTTP from the client: one request at a time, each a new connection, logging
 * "<start ns> <body or FAIL>" per request.
 */
/**
 * One curl after another from the client (t = its start). --max-time 3: a SYN the loaded 2-core
 * machine delays is retransmitted after 1 s; that is a slow request, not a failed one.
 */
function traffic(name: string): { stop: () => Promise<{ t: number; body: string }[]> } {
  const out = lab.file(`${name}.log`);
  const child = client.spawn(
    `exec sh -c 'while :; do t=$(date +%s%N); b=$(curl -s --max-time 3 -H "Connection: close" http://${VIP}/ || echo FAIL); echo "$t \${b:-FAIL}"; sleep 0.05; done' > ${out}`,
  );
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      return fs
        .readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => /^\d+ \S+$/.test(l))
        .map((l) => {
          const [t, body] = l.split(' ');
          return { t: Number(BigInt(t!) / 1000000n), body: body! };
        });
    },
  };
}

function tally(names: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return c;
}

describe('keepalived mode: lvsd -f keepalived.conf', { skip: skip ?? false, timeout: 240000 }, () => {
  before(() => {
    lab = new Lab('ka');
    client = lab.ns('cl');
    director = lab.ns('dir');
    const sw = lab.ns('sw');
    sw.sh('ip link add br0 type bridge; ip link set br0 up');
    lab.veth(client, 'eth0', director, 'eth0');
    lab.veth(director, 'eth1', sw, 'p0');
    sw.sh('ip link set p0 master br0; ip link set p0 up');
    client.sh(`ip link set eth0 up; ip addr add ${CLIENT}/24 dev eth0`);
    director.sh(
      [
        'ip link set eth0 up',
        'ip addr add 10.93.0.1/24 dev eth0',
        `ip addr add ${VIP}/24 dev eth0`,
        'ip link set eth1 up',
        'ip addr add 172.29.0.1/24 dev eth1',
        'echo 1 > /proc/sys/net/ipv4/ip_forward',
      ].join('\n'),
    );
    const all = [...RS, SORRY];
    for (const [i, addr] of all.entries()) {
      const short = i === 3 ? 'sorry' : `r${i + 1}`;
      const ns = lab.ns(short);
      spaces.set(short, ns);
      lab.veth(ns, 'eth0', sw, `p${i + 1}`);
      sw.sh(`ip link set p${i + 1} master br0; ip link set p${i + 1} up`);
      ns.sh(`ip link set eth0 up; ip addr add ${addr}/24 dev eth0; ip route add default via 172.29.0.1`);
      nginxDirs.push(startNginx(lab, ns, { listen: [`${addr}:80`], body: i === 3 ? 'sorry' : NAMES[i]! }));
    }
  });

  afterEach(async () => {
    await stopKeepalived();
    // every real server answers again for the next test
    for (let i = 0; i < 4; i++) {
      const addr = i === 3 ? SORRY : RS[i]!;
      const ns = nsOf(i === 3 ? 'sorry' : `r${i + 1}`);
      if (ns.run(`curl -s --max-time 1 http://${addr}/`).status !== 0) startNginxAgain(i);
    }
  });

  after(async () => {
    await stopKeepalived();
    await lab?.cleanup();
  });

  it('HTTP_GET: a stopped server leaves within delay_loop x (retry+1) + connect_timeout, then no request fails; it returns', async () => {
    await startKeepalived(writeConf(conf()));
    await until('all three servers in the table', () => table().size === 3);
    const flow = traffic('fail-a');
    await sleep(1000);
    const stoppedAt = Date.now();
    stopNginx(1);
    await until('rs2 to leave the table', () => !table().has(RS[1]), POLL_MS);
    const goneAt = Date.now();
    await sleep(3000);
    startNginxAgain(1);
    const restartedAt = Date.now();
    await until('rs2 to return', () => table().get(RS[1]) === 1, 10000);
    const returnedAfter = Date.now() - restartedAt;
    await sleep(1500);
    const reqs = await flow.stop();
    // read after the waits: the log pipe is drained by this process's event loop
    const leftAfter = (tableChangeAt(/^-d -t 10\.93\.0\.100:80 -r 172\.29\.0\.12:80/) ?? goneAt) - stoppedAt;
    await withDiag(() => {
      assert.ok(
        leftAfter <= LEAVE_BOUND_MS + SLACK_MS,
        `rs2 left after ${leftAfter} ms (bound ${LEAVE_BOUND_MS} + ${SLACK_MS} ms); stopped at ` +
          `${new Date(stoppedAt).toISOString()}\n${logLines(RS[1])}`,
      );
      const afterGone = reqs.filter((r) => r.t >= goneAt);
      assert.ok(afterGone.length >= 5, `only ${afterGone.length} requests after removal`);
      const failed = afterGone.filter((r) => r.body === 'FAIL');
      assert.equal(
        failed.length,
        0,
        `failed after rs2 left: ${JSON.stringify(tally(afterGone.map((r) => r.body)))}`,
      );
      // while rs2 was out nobody got it; once back, it answers again
      const whileOut = afterGone.filter((r) => r.t < restartedAt).map((r) => r.body);
      assert.equal(whileOut.includes('rs2'), false, JSON.stringify(tally(whileOut)));
      const back = reqs.filter((r) => r.t >= restartedAt + returnedAfter).map((r) => r.body);
      assert.ok(back.includes('rs2'), `rs2 not answering after its return: ${JSON.stringify(tally(back))}`);
      const st = JSON.parse(director.sh('lvsd status --json')) as {
        keepalived: {
          health: {
            probeThread: boolean;
            virtualServers: { realServers: { address: string; checkers: { checks: number }[] }[] }[];
          };
        };
      };
      const rs2 = st.keepalived.health.virtualServers[0]!.realServers.find((r) => r.address === RS[1])!;
      assert.ok(rs2.checkers[0]!.checks >= 3, JSON.stringify(rs2));
      // these HTTP_GET checks ran on the addon's probe thread, and the text status says so
      assert.equal(st.keepalived.health.probeThread, true);
      assert.match(director.sh('lvsd status'), /TCP\/HTTP checks on the probe thread/);
    });
  });

  it('inhibit_on_failure: the failed server stays at weight 0, then returns to its weight', async () => {
    await startKeepalived(writeConf(conf({ inhibit: true })));
    await until('all three servers at weight 1', () => [...table().values()].join() === '1,1,1');
    const flow = traffic('inhibit');
    await sleep(500);
    const stoppedAt = Date.now();
    stopNginx(0);
    await until('rs1 at weight 0', () => table().get(RS[0]) === 0, POLL_MS);
    const inhibitedAt = Date.now();
    await sleep(3000);
    const inhibitedAfter =
      (tableChangeAt(/^-e -t 10\.93\.0\.100:80 -r 172\.29\.0\.11:80 -m -w 0/) ?? inhibitedAt) - stoppedAt;
    await withDiag(() => {
      const t = table();
      assert.equal(t.size, 3, 'inhibited server was removed instead of weight 0');
      assert.ok(inhibitedAfter <= LEAVE_BOUND_MS + SLACK_MS, `weight 0 after ${inhibitedAfter} ms`);
    });
    startNginxAgain(0);
    await until('rs1 back at weight 1', () => table().get(RS[0]) === 1, 10000);
    const reqs = await flow.stop();
    await withDiag(() => {
      const mid = reqs.filter((r) => r.t >= inhibitedAt && r.t < inhibitedAt + 3000).map((r) => r.body);
      assert.ok(mid.length >= 4, JSON.stringify(tally(mid)));
      assert.deepEqual(
        Object.keys(tally(mid)).sort(),
        ['rs2', 'rs3'],
        `while rs1 had weight 0: ${JSON.stringify(tally(mid))}`,
      );
    });
  });

  it('quorum: losing it swaps the real servers for the sorry server; regaining it swaps back', async () => {
    await startKeepalived(writeConf(conf({ quorum: 2, sorry: true })));
    await until('all three servers in the table', () => table().size === 3);
    await withDiag(() => assert.equal(table().has(SORRY), false, 'sorry server in the table with quorum up'));
    stopNginx(0);
    await until('rs1 to leave', () => !table().has(RS[0]), POLL_MS);
    // weight 2 of quorum 2 alive: still up, no sorry server
    await withDiag(() => assert.equal(table().has(SORRY), false));
    stopNginx(1);
    const t = await until(
      'the sorry server alone in the table',
      () => {
        const m = table();
        return m.size === 1 && m.has(SORRY) ? m : null;
      },
      POLL_MS,
    );
    await withDiag(() => {
      assert.deepEqual([...t.entries()], [[SORRY, 1]]);
      const bodies = client.sh(`for i in 1 2 3; do curl -s --max-time 2 http://${VIP}/; done`);
      assert.equal(bodies, 'sorry\nsorry\nsorry\n');
    });
    startNginxAgain(0);
    startNginxAgain(1);
    await until('the real servers back, sorry server gone', () => {
      const m = table();
      return m.size === 3 && !m.has(SORRY);
    });
    await withDiag(() => {
      const bodies = client.sh(`for i in 1 2 3 4 5 6; do curl -s --max-time 2 http://${VIP}/; done`);
      assert.deepEqual(tally(bodies.trim().split('\n')), { rs1: 2, rs2: 2, rs3: 2 });
    });
  });

  it('SIGHUP adds and removes a real server under wrk: no failed request, the others keep their counters', async () => {
    const file = writeConf(conf({ servers: [0, 1] }));
    const st = await startKeepalived(file);
    await until('rs1 and rs2 in the table', () => table().size === 2);
    // keep-alive connections, opened at wrk's start over rs1 and rs2
    const wrkOut: string[] = [];
    const wrk = client.spawn(`exec wrk -t2 -c16 -d9s --timeout 2s http://${VIP}/`);
    wrk.stdout?.on('data', (d: Buffer) => wrkOut.push(d.toString()));
    wrk.stderr?.on('data', (d: Buffer) => wrkOut.push(d.toString()));
    const wrkDone = new Promise<number>((r) => wrk.once('exit', (c) => r(c ?? -1)));
    await sleep(1500);
    const before = director.sh('ipvsadm -L -n --stats');
    writeConf(conf({ servers: [0, 1, 2] }), file);
    process.kill(st.pid, 'SIGHUP');
    await until('rs3 added by the reload', () => table().size === 3);
    // new connections reach the added server
    const bodies = client.sh(
      `for i in 1 2 3 4 5 6; do curl -s --max-time 2 -H 'Connection: close' http://${VIP}/; done`,
    );
    writeConf(conf({ servers: [0, 1] }), file);
    process.kill(st.pid, 'SIGHUP');
    await until('rs3 removed by the reload', () => !table().has(RS[2]));
    const afterReloads = director.sh('ipvsadm -L -n --stats');
    const code = await wrkDone;
    const out = wrkOut.join('');
    await withDiag(() => {
      assert.ok(bodies.split('\n').includes('rs3'), `rs3 got no new connection: ${bodies}`);
      assert.equal(code, 0, out);
      const requests = /(\d+) requests in/.exec(out);
      assert.ok(requests && Number(requests[1]) > 100, out);
      assert.doesNotMatch(out, /Non-2xx or 3xx responses/, out);
      assert.doesNotMatch(out, /Socket errors/, out);
      // the unchanged servers' counters only grew (nothing was re-created)
      const conns = (text: string, addr: string): number[] => {
        const m = new RegExp(`-> ${addr.replaceAll('.', '\\.')}:80 +(\\d+) +(\\d+) +(\\d+)`).exec(text);
        assert.ok(m, `${addr} not in\n${text}`);
        return [Number(m[1]), Number(m[2]), Number(m[3])];
      };
      for (const addr of [RS[0], RS[1]]) {
        const [c0, in0] = conns(before, addr);
        const [c1, in1] = conns(afterReloads, addr);
        assert.ok(c0! > 0 && c1! >= c0!, `${addr} Conns ${c0} -> ${c1}\n${before}\n${afterReloads}`);
        assert.ok(in1! > in0!, `${addr} InPkts ${in0} -> ${in1}\n${before}\n${afterReloads}`);
      }
      const s = status();
      assert.equal(s?.keepalived?.lastReload?.ok, true);
    });
  });

  it('without -n lvsd detaches and runs; lvsd reload of a broken file changes nothing; vrrp_instance VIPs are run by VRRP', async () => {
    // a missing file: the daemon does not start, exit 1 with the reason
    const missing = director.run(`lvsd -f ${lab.file('nope.conf')} -n`, { timeoutMs: 30000 });
    assert.equal(missing.status, 1, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /nope\.conf/);
    const file = writeConf(conf());
    const pidFile = lab.file('lvsd.pid');
    const started = director.run(`lvsd -f ${file} -p ${pidFile}`, { timeoutMs: 30000 });
    assert.equal(started.status, 0, started.stderr);
    const s = await until('the detached daemon to answer', () => status());
    daemon = null; // stopped by `lvsd stop` below
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${s.pid}\n`);
    await until('the servers in the table', () => table().size === 3);
    const listed = director.sh('ipvsadm -L -n');
    // a file that is gone, and a broken one under reload_check_config: lvsd reload fails with the
    // diagnostics and the table is as it was
    fs.renameSync(file, `${file}.moved`);
    const gone = director.run('lvsd reload', { timeoutMs: 30000 });
    fs.writeFileSync(
      file,
      conf({ servers: [0] }).replace('router_id lvsd_e2e', 'router_id lvsd_e2e\n    reload_check_config') +
        '\nbogus_keyword 1\n',
    );
    const broken = director.run('lvsd reload', { timeoutMs: 30000 });
    await withDiag(() => {
      assert.equal(gone.status, 1, gone.stdout + gone.stderr);
      assert.match(gone.stderr, /does not exist[^]*unchanged/);
      assert.equal(broken.status, 1, broken.stdout + broken.stderr);
      assert.match(broken.stderr, /Line \d+\) Unknown keyword 'bogus_keyword'[^]*unchanged/);
      assert.equal(director.sh('ipvsadm -L -n'), listed);
    });
    assert.equal(director.run('lvsd stop', { timeoutMs: 15000 }).status, 0);
    await until('the daemon to exit', () => {
      try {
        process.kill(s.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    assert.equal(fs.existsSync(pidFile), false, 'pid file left behind');
    // a vrrp_instance with VIPs: lvsd runs VRRP itself and, alone on the segment, becomes MASTER
    // after the master-down interval (3 x advert + skew, keepalived-reference.md §3.4), adds the
    // VIP with its label, and removes it again on a clean stop (after a priority-0 advert)
    const VIP2 = '10.93.0.101';
    const vrrp = writeConf(
      conf() +
        'vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n' +
        `  advert_int 1\n  virtual_ipaddress {\n    ${VIP2}/24 dev eth0 label eth0:vip\n  }\n}\n`,
    );
    const withVrrp = director.run(`lvsd -f ${vrrp}`, { timeoutMs: 30000 });
    assert.equal(withVrrp.status, 0, withVrrp.stdout + withVrrp.stderr);
    const hasVip2 = (): boolean => director.sh('ip -4 addr show dev eth0').includes(`${VIP2}/24`);
    assert.equal(hasVip2(), false, 'the VIP is added before the instance is MASTER');
    await withDiag(async () => {
      await until(
        'VRRP to take the VIP',
        () => hasVip2() && /eth0:vip/.test(director.sh('ip -4 addr show dev eth0')),
        15000,
      );
    });
    const vs = director.run('lvsd status --json', { timeoutMs: 10000 });
    const vrrpStatus = (
      JSON.parse(vs.stdout) as { keepalived: { vrrp: { instance: string; state: string }[] } }
    ).keepalived.vrrp;
    assert.deepEqual(
      vrrpStatus.map((v) => [v.instance, v.state]),
      [['VI_1', 'MASTER']],
    );
    assert.equal(director.run('lvsd stop', { timeoutMs: 15000 }).status, 0);
    await until('the VIP to be removed at stop', () => !hasVip2(), 10000);
    // --no-vrrp: the instance does not run; the address stays unmanaged
    const noVrrp = director.run(`lvsd -f ${vrrp} --no-vrrp`, { timeoutMs: 30000 });
    assert.equal(noVrrp.status, 0, noVrrp.stdout + noVrrp.stderr);
    await sleep(4500);
    assert.equal(hasVip2(), false, '--no-vrrp added the VIP');
    assert.equal(director.run('lvsd stop', { timeoutMs: 15000 }).status, 0);
  });

  it('started before the namespace has interfaces, it keeps running and captures them when they come', async () => {
    const bare = lab.ns('bare');
    const file = writeConf(conf());
    const child = bare.spawn(`exec lvsd -f ${file} -n -l`);
    const output: string[] = [];
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    try {
      const answers = (): boolean => bare.run('lvsd status --json', { timeoutMs: 10000 }).status === 0;
      await until('the daemon in the bare namespace to answer', answers);
      await sleep(2000);
      assert.ok(answers() && child.exitCode === null, `lvsd exited without interfaces:\n${output.join('')}`);
      assert.match(bare.sh('ipvsadm -L -n'), /TCP +10\.93\.0\.100:80 rr/);
      // an interface appears: it is captured
      lab.veth(bare, 'late0', lab.ns('peer'), 'eth0');
      bare.sh('ip link set late0 up');
      await until('late0 to be captured', () => /late0\(/.test(bare.sh('lvsd status')));
    } finally {
      bare.run('lvsd stop', { timeoutMs: 15000 });
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
