/**
 * keepalived mode, ha_suspend end to end (keepalived-reference.md §1, LVS table: "suspend checks
 * while the VIP is not local"): `lvsd -f keepalived.conf -n -l` in a director namespace whose VIP is
 * absent at start. Two NAT real servers with TCP_CHECK:
 *
 *   director eth0 172.31.0.1/24 --- rs ns: 172.31.0.11 (a TCP server that logs every connection)
 *                                          172.31.0.12 (nothing listens: its check would fail)
 *   VIP 10.94.0.100 on the director's eth0 only while the test puts it there (`ip addr add`)
 *
 * Suspended: the listening server sees no connection from the director and the dead server stays in
 * `ipvsadm -L -n` (no check ran, so nothing removed it). `ip addr add VIP`: checks start, the dead
 * server leaves within delay_loop x (retry + 1) + connect_timeout and the live one counts checks.
 * `ip addr del VIP`: the checks stop again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Lab, netnsUnavailable, sleep, type Netns } from '../helpers/netns.js';

const VIP = '10.94.0.100';
const LIVE = '172.31.0.11';
const DEAD = '172.31.0.12';
const PORT = 8080;

const skip = netnsUnavailable();

let lab: Lab;
let director: Netns;
let rsNs: Netns;
let daemon: { child: ChildProcess; output: string[] } | null = null;
let connLog = '';

function lvsdLog(): string {
  return daemon ? daemon.output.join('') : '';
}

function diag(): string {
  const r = director.run('ip -br addr; ipvsadm -L -n --stats; lvsd status', { timeoutMs: 10000 });
  const tail = lvsdLog().split('\n').slice(-30).join('\n');
  return `${r.stdout}${r.stderr}\n--- lvsd log (tail) ---\n${tail}`;
}

/** connections the live real server accepted from the director so far */
function checksSeen(): number {
  try {
    return fs
      .readFileSync(connLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('172.31.0.1 ')).length;
  } catch {
    return 0;
  }
}

/** real servers of VIP:PORT in `ipvsadm -L -n` */
function table(): string[] {
  const text = director.sh('ipvsadm -L -n', { timeoutMs: 10000 });
  const out: string[] = [];
  let inVs = false;
  for (const line of text.split('\n')) {
    if (/^(TCP|UDP|FWM|SCTP)/.test(line)) inVs = line.startsWith(`TCP  ${VIP}:${PORT}`);
    const d = /^ +-> (\S+):\d+ /.exec(line);
    if (inVs && d) out.push(d[1]!);
  }
  return out.sort();
}

async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}\n${diag()}`);
    await sleep(200);
  }
}

describe('keepalived mode: ha_suspend', { skip: skip ?? false, timeout: 120000 }, () => {
  before(() => {
    lab = new Lab('hs');
    director = lab.ns('dir');
    rsNs = lab.ns('rs');
    lab.veth(director, 'eth0', rsNs, 'eth0');
    director.sh('ip link set eth0 up; ip addr add 172.31.0.1/24 dev eth0');
    rsNs.sh(
      [
        'ip link set eth0 up',
        `ip addr add ${LIVE}/24 dev eth0`,
        `ip addr add ${DEAD}/24 dev eth0`,
        'ip route add default via 172.31.0.1',
      ].join('\n'),
    );
    // the live real server: accept, log the peer, close
    connLog = lab.file('connections.log');
    const server = lab.file('server.cjs');
    fs.writeFileSync(
      server,
      `const fs = require('fs');
require('net')
  .createServer((s) => {
    fs.appendFileSync(${JSON.stringify(connLog)}, s.remoteAddress + ' ' + Date.now() + '\\n');
    s.destroy();
  })
  .listen(${PORT}, ${JSON.stringify(LIVE)}, () => console.log('listening'));
`,
    );
    rsNs.spawn(`exec ${process.execPath} ${server}`);
  });

  after(async () => {
    if (daemon) {
      director.run('lvsd stop', { timeoutMs: 15000 });
      daemon = null;
    }
    await lab?.cleanup();
  });

  it('checks run only while the VIP is local; the table is left alone while suspended', async () => {
    // the server must be up before the director could check it
    await until(
      'the live real server to listen',
      () => rsNs.run(`ss -Htln 'sport = :${PORT}'`).stdout !== '',
      10000,
    );
    const file = lab.file('keepalived.conf');
    const rs = (addr: string): string => `    real_server ${addr} ${PORT} {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 0
            delay_before_retry 1
        }
    }`;
    fs.writeFileSync(
      file,
      `! lvsd ha_suspend end-to-end test
virtual_server ${VIP} ${PORT} {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    ha_suspend
${rs(LIVE)}
${rs(DEAD)}
}
`,
    );
    const child = director.spawn(`exec lvsd -f ${file} -n -l`);
    const output: string[] = [];
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    daemon = { child, output };
    await until(
      'lvsd to run the configuration',
      () => {
        const r = director.run('lvsd status --json', { timeoutMs: 10000 });
        if (r.status !== 0) return false;
        const s = JSON.parse(r.stdout) as { keepalived?: { loadedAt: string | null } };
        return !!s.keepalived?.loadedAt;
      },
      20000,
    );

    // suspended: 4 s = 4 delay_loops, long enough for the dead server to be removed twice over
    await sleep(4000);
    assert.equal(checksSeen(), 0, `a check reached the live server while suspended\n${diag()}`);
    assert.deepEqual(table(), [LIVE, DEAD], `the table changed while suspended\n${diag()}`);
    assert.match(
      lvsdLog(),
      new RegExp(`VIP ${VIP.replace(/\./g, '\\.')} is not local, health checks suspended`),
    );

    // the VIP arrives: the live server sees checks, the dead one leaves
    director.sh(`ip addr add ${VIP}/32 dev eth0`);
    const addedAt = Date.now();
    await until('the dead real server to leave the table', () => !table().includes(DEAD), 15000);
    await until('checks to reach the live server', () => checksSeen() >= 2, 10000);
    assert.deepEqual(table(), [LIVE], diag());
    assert.match(lvsdLog(), /is local, health checks resumed \(ha_suspend\)/, diag());
    const resumedAfter = Date.now() - addedAt;

    // the VIP leaves: no more checks (one in flight may still land)
    director.sh(`ip addr del ${VIP}/32 dev eth0`);
    await until(
      'lvsd to suspend the checks again',
      () => (lvsdLog().match(/health checks suspended \(ha_suspend\)/g) ?? []).length === 2,
      10000,
    );
    await sleep(500);
    const atSuspend = checksSeen();
    await sleep(3500);
    assert.equal(
      checksSeen(),
      atSuspend,
      `checks went on after the VIP was removed (resumed after ${resumedAfter} ms)\n${diag()}`,
    );
    assert.deepEqual(table(), [LIVE], diag());
  });
});
