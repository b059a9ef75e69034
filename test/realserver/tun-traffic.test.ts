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
const VIP6 = 'fd00:79:9::9';
const CLIENT6 = 'fd00:79:1::1';
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
    // IPv6: the same shape
    inNs(dir, 'ip', ['-6', 'addr', 'add', 'fd00:79::1/64', 'dev', 'td0', 'nodad']);
    inNs(rs, 'ip', ['-6', 'addr', 'add', 'fd00:79::2/64', 'dev', 'tr0', 'nodad']);
    inNs(dir, 'ip', ['-6', 'addr', 'add', `${CLIENT6}/128`, 'dev', 'lo']);
    inNs(dir, 'ip', ['-6', 'route', 'add', `${VIP6}/128`, 'dev', 'cli0', 'src', CLIENT6]);
    inNs(rs, 'ip', ['-6', 'route', 'add', 'fd00:79:1::/64', 'via', 'fd00:79::1']);
    inNs(dir, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
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

  interface Case {
    tunType: 'ipip' | 'gue' | 'gre';
    csum?: boolean;
    /** IPv6 VIP and client (inner IPv6) */
    inner6?: boolean;
    /** IPv6 outer header */
    outer6?: boolean;
  }

  function inNsArgs(ns: string, args: string[]): string[] {
    return ['netns', 'exec', ns, ...args];
  }

  async function roundTrip(c: Case): Promise<void> {
    const vip = c.inner6 ? VIP6 : VIP;
    const client = c.inner6 ? CLIENT6 : CLIENT;
    const br = (a: string): string => (c.inner6 ? `[${a}]` : a);
    const fam = c.inner6 ? '6' : '4';
    const extra = c.tunType === 'gue' ? ['--port', '6080'] : [];
    if (c.csum) extra.push('--csum');
    const outer = c.outer6
      ? ['--src', 'fd00:79:2::1', '--dst', 'fd00:79::2']
      : ['--src', '10.79.2.1', '--dst', '10.79.0.2'];
    const director = spawn(
      'ip',
      inNsArgs(dir, [
        process.execPath,
        MINI_DIRECTOR,
        '--run',
        '--in',
        'cli0',
        '--out',
        'out0',
        '--tun-type',
        c.tunType,
        ...outer,
        ...extra,
      ]),
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(director);
    await waitFor(director, 'ready', 10000);
    const upArgs = ['realserver', 'up', '--vip', vip, '--mode', 'tun', '--tun-type', c.tunType];
    if (c.tunType === 'gue') upArgs.push('--tun-port', '6080');
    const up = lvsd(rs, upArgs, env);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /userspace decapsulation agent/);
    type Status = { tun: { agent: { pid: number; running: boolean; stats: { injected: number } | null } } };
    const status = (): Status =>
      JSON.parse(lvsd(rs, ['realserver', 'status', '--json'], env).stdout) as Status;
    const pid = status().tun.agent.pid;
    // idempotent: the same `up` again keeps the running agent
    assert.equal(lvsd(rs, upArgs, env).status, 0);
    assert.equal(status().tun.agent.pid, pid);
    const tag = `${c.tunType}-${fam}-${c.outer6 ? 6 : 4}`;
    const servers: ChildProcess[] = [];
    try {
      const tcpOut = `${tmp}/tcp-${tag}`;
      const udpOut = `${tmp}/udp-${tag}`;
      const server = (args: string[]): void => {
        const ch = spawn('ip', inNsArgs(rs, ['timeout', '10', 'socat', ...args]), { stdio: 'ignore' });
        children.push(ch);
        servers.push(ch);
      };
      server(['-T', '5', `TCP${fam}-LISTEN:8080,bind=${br(vip)},reuseaddr`, `SYSTEM:tee ${tcpOut}`]);
      server(['-T', '2', `UDP${fam}-RECVFROM:8081,bind=${br(vip)}`, `SYSTEM:tee ${udpOut}`]);
      server(['-T', '5', `TCP${fam}-LISTEN:8082,bind=${br(vip)},reuseaddr`, 'SYSTEM:cat']);
      await sleep(400);

      const client_ = (
        args: string[],
        input?: Buffer,
      ): { status: number | null; stdout: Buffer; stderr: Buffer } =>
        spawnSync('ip', inNsArgs(dir, ['timeout', '8', 'socat', '-t', '2', ...args]), {
          input,
          encoding: 'buffer',
        });

      const data = randomBytes(32);
      writeFileSync(`${tmp}/in`, data);
      const tcp = client_([`OPEN:${tmp}/in`, `TCP${fam}:${br(vip)}:8080,bind=${br(client)}`]);
      assert.equal(tcp.status, 0, `tcp client: ${tcp.stderr.toString()}`);
      assert.deepEqual(readFileSync(tcpOut), data, 'TCP bytes at the real server');

      const udpData = randomBytes(32);
      const udp = client_(['-', `UDP${fam}:${br(vip)}:8081,bind=${br(client)}:40001`], udpData);
      assert.equal(udp.status, 0, `udp client: ${udp.stderr.toString()}`);
      assert.deepEqual(readFileSync(udpOut), udpData, 'UDP bytes at the real server');
      assert.deepEqual(udp.stdout, udpData, 'the echo reached the client directly by routing');

      const echo = client_(['-', `TCP${fam}:${br(vip)}:8082,bind=${br(client)}`], data);
      assert.equal(echo.status, 0, `tcp echo client: ${echo.stderr.toString()}`);
      assert.deepEqual(echo.stdout, data, 'TCP echo back to the client');

      await sleep(1100); // the agent flushes its counters once a second
      const st = status();
      assert.equal(st.tun.agent.running, true);
      assert.ok((st.tun.agent.stats?.injected ?? 0) >= 6, JSON.stringify(st.tun.agent.stats));
    } finally {
      for (const ch of servers) if (ch.exitCode === null) ch.kill();
      director.kill('SIGTERM');
      const down = lvsd(rs, ['realserver', 'down'], env);
      assert.equal(down.status, 0, down.stderr);
    }
    assert.ok(!links(rs).includes('lvsdtun0'), 'down removed the TUN device');
    assert.equal(spawnSync('ip', ['netns', 'pids', rs], { encoding: 'utf8' }).stdout.trim(), '');
  }

  test('IPIP: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip({ tunType: 'ipip' });
  });

  test('GUE: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip({ tunType: 'gue' });
  });

  test('GRE with checksum: TCP and UDP through the agent, replies by routing', async () => {
    await roundTrip({ tunType: 'gre', csum: true });
  });

  test('IPv6 VIP: IPv6-in-IPv4 (ipip) and IPv6-in-IPv6 (ipip, outer IPv6)', async () => {
    await roundTrip({ tunType: 'ipip', inner6: true });
    await roundTrip({ tunType: 'ipip', inner6: true, outer6: true });
  });

  test('IPv4 VIP over an IPv6 outer header: IPIP and GRE', async () => {
    await roundTrip({ tunType: 'ipip', outer6: true });
    await roundTrip({ tunType: 'gre', outer6: true });
  });
});
