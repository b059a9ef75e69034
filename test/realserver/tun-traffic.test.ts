/**
 * TUN end to end with the real addon (root): a "director" namespace encapsulates a real client's
 * packets as lvsd's director does (mini-director.ts: IPIP or GUE) and sends them to a real-server
 * namespace prepared with `lvsd realserver up --mode tun`, whose decapsulation agent hands them to
 * socat servers on the VIP. The bytes must arrive intact and the servers' echo must reach the client
 * address directly by routing (not through the tunnel).
 *
 *   director ns: lo 10.79.1.1 (client), cli0 (TUN; route to VIP), out0 (TUN; encapsulated packets in),
 *                td0 10.79.0.1/24  --veth--  tr0 10.79.0.2/24 :real-server ns (VIP 10.79.9.9 on lo,
 *                                                             route 10.79.1.0/24 via 10.79.0.1)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { delNs, inNs, links, lvsd, makeNs, netnsUsable } from './netns.js';

const VIP = '10.79.9.9';
const CLIENT = '10.79.1.1';
const MINI_DIRECTOR = fileURLToPath(new URL('./mini-director.js', import.meta.url));

async function addonSkip(): Promise<string | null> {
  const why = netnsUsable();
  if (why) return why;
  try {
    const m = (await import(new URL('../../src/io/native.js', import.meta.url).href)) as {
      nativeAvailable?: boolean;
    };
    if (m.nativeAvailable === false) return 'the packet I/O addon is not built';
  } catch {
    return 'src/io/native is not present (native branch not merged)';
  }
  const socat = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  if (socat.status !== 0) return 'socat is not installed';
  return null;
}

const skip = await addonSkip();

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait for a line on a child's stdout (or its exit). */
function waitFor(child: ChildProcess, text: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for '${text}': ${out}`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code} before '${text}': ${out}`));
    });
  });
}

describe('TUN real server with the decapsulation agent', { skip: skip ?? false }, () => {
  let dir = '';
  let rs = '';
  let tmp = '';
  let env: Record<string, string> = {};
  const children: ChildProcess[] = [];

  before(() => {
    tmp = mkdtempSync(`${tmpdir()}/lvsd-tun-`);
    env = { LVSD_RUN_DIR: `${tmp}/run` };
    dir = makeNs('lvtd');
    rs = makeNs('lvtr');
    inNs(dir, 'ip', ['link', 'add', 'td0', 'type', 'veth', 'peer', 'name', 'tr0', 'netns', rs]);
    for (const [ns, dev, addr] of [
      [dir, 'td0', '10.79.0.1/24'],
      [rs, 'tr0', '10.79.0.2/24'],
    ] as const) {
      inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
      inNs(ns, 'ip', ['link', 'set', dev, 'up']);
      inNs(ns, 'ip', ['addr', 'add', addr, 'dev', dev]);
    }
    inNs(dir, 'ip', ['addr', 'add', `${CLIENT}/32`, 'dev', 'lo']);
    for (const t of ['cli0', 'out0']) {
      inNs(dir, 'ip', ['tuntap', 'add', 'dev', t, 'mode', 'tun']);
      inNs(dir, 'ip', ['link', 'set', t, 'up']);
    }
    inNs(dir, 'ip', ['route', 'add', `${VIP}/32`, 'dev', 'cli0', 'src', CLIENT]);
    inNs(dir, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    inNs(dir, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0']);
    inNs(dir, 'sysctl', ['-qw', 'net.ipv4.conf.out0.rp_filter=0']);
    inNs(dir, 'sysctl', ['-qw', 'net.ipv4.conf.td0.rp_filter=0']);
    inNs(rs, 'ip', ['route', 'add', '10.79.1.0/24', 'via', '10.79.0.1']);
    // strict reverse-path filtering on the real server: `up --mode tun` must relax it
    inNs(rs, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (rs) {
      lvsd(rs, ['realserver', 'down'], env);
      delNs(rs);
    }
    if (dir) delNs(dir);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function roundTrip(tunType: 'ipip' | 'gue' | 'gre', csum = false): Promise<void> {
    const port = tunType === 'gue' ? ['--port', '6080'] : [];
    if (csum) port.push('--csum');
    const director = spawn(
      'ip',
      [
        'netns',
        'exec',
        dir,
        process.execPath,
        MINI_DIRECTOR,
        '--run',
        '--in',
        'cli0',
        '--out',
        'out0',
        '--tun-type',
        tunType,
        '--src',
        '10.79.2.1',
        '--dst',
        '10.79.0.2',
        ...port,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(director);
    await waitFor(director, 'ready', 10000);
    const upArgs = ['realserver', 'up', '--vip', VIP, '--mode', 'tun', '--tun-type', tunType];
    if (tunType === 'gue') upArgs.push('--tun-port', '6080');
    const up = lvsd(rs, upArgs, env);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /userspace decapsulation agent/);
    try {
      const tcpOut = `${tmp}/tcp-${tunType}`;
      const udpOut = `${tmp}/udp-${tunType}`;
      const tcpServer = spawn(
        'ip',
        [
          'netns',
          'exec',
          rs,
          'timeout',
          '10',
          'socat',
          '-T',
          '5',
          `TCP4-LISTEN:8080,bind=${VIP},reuseaddr`,
          `SYSTEM:tee ${tcpOut}`,
        ],
        { stdio: 'ignore' },
      );
      const udpServer = spawn(
        'ip',
        [
          'netns',
          'exec',
          rs,
          'timeout',
          '10',
          'socat',
          '-T',
          '2',
          `UDP4-RECVFROM:8081,bind=${VIP}`,
          `SYSTEM:tee ${udpOut}`,
        ],
        { stdio: 'ignore' },
      );
      children.push(tcpServer, udpServer);
      await sleep(400);

      const data = randomBytes(32);
      writeFileSync(`${tmp}/in`, data);
      const tcp = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          dir,
          'timeout',
          '8',
          'socat',
          '-t',
          '2',
          `OPEN:${tmp}/in`,
          `TCP4:${VIP}:8080,bind=${CLIENT}`,
        ],
        { encoding: 'buffer' },
      );
      assert.equal(tcp.status, 0, `tcp client: ${tcp.stderr.toString()}`);
      assert.deepEqual(readFileSync(tcpOut), data, 'TCP bytes at the real server');

      const udpData = randomBytes(32);
      const udp = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          dir,
          'timeout',
          '8',
          'socat',
          '-t',
          '2',
          '-',
          `UDP4:${VIP}:8081,bind=${CLIENT}:40001`,
        ],
        { input: udpData, encoding: 'buffer' },
      );
      assert.equal(udp.status, 0, `udp client: ${udp.stderr.toString()}`);
      assert.deepEqual(readFileSync(udpOut), udpData, 'UDP bytes at the real server');
      assert.deepEqual(udp.stdout, udpData, 'the echo reached the client directly by routing');

      // the echo path: a TCP echo client reads its own bytes back
      const tcpServer2 = spawn(
        'ip',
        [
          'netns',
          'exec',
          rs,
          'timeout',
          '10',
          'socat',
          '-T',
          '5',
          `TCP4-LISTEN:8082,bind=${VIP},reuseaddr`,
          'SYSTEM:cat',
        ],
        { stdio: 'ignore' },
      );
      children.push(tcpServer2);
      await sleep(300);
      const echo = spawnSync(
        'ip',
        ['netns', 'exec', dir, 'timeout', '8', 'socat', '-t', '2', '-', `TCP4:${VIP}:8082,bind=${CLIENT}`],
        { input: data, encoding: 'buffer' },
      );
      assert.equal(echo.status, 0, `tcp echo client: ${echo.stderr.toString()}`);
      assert.deepEqual(echo.stdout, data, 'TCP echo back to the client');

      const st = JSON.parse(lvsd(rs, ['realserver', 'status', '--json'], env).stdout) as {
        tun: { agent: { running: boolean; stats: { injected: number } | null } };
      };
      assert.equal(st.tun.agent.running, true);
      await sleep(1100); // stats are flushed once a second
      const st2 = JSON.parse(lvsd(rs, ['realserver', 'status', '--json'], env).stdout) as typeof st;
      assert.ok((st2.tun.agent.stats?.injected ?? 0) >= 6, JSON.stringify(st2.tun.agent.stats));
      for (const c of [tcpServer, udpServer, tcpServer2]) if (c.exitCode === null) c.kill();
    } finally {
      director.kill('SIGTERM');
      const down = lvsd(rs, ['realserver', 'down'], env);
      assert.equal(down.status, 0, down.stderr);
    }
    assert.ok(!links(rs).includes('lvsdtun0'), 'down removed the TUN device');
    assert.equal(spawnSync('ip', ['netns', 'pids', rs], { encoding: 'utf8' }).stdout.trim(), '');
  }

  test('IPIP: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip('ipip');
  });

  test('GUE: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip('gue');
  });

  test('GRE with checksum: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip('gre', true);
  });
});
