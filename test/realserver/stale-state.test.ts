/**
 * The kernel reuses the inode of a deleted network namespace, and with it /run/lvsd/<inode>/: a state
 * file left by a namespace that died without `lvsd realserver down` must not be taken for this one's
 * (it named a TUN device that does not exist here, so `up --mode tun` failed on its rp_filter sysctl),
 * and its agent pid is no process of this namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { RealServerState } from '../../src/realserver/setup.js';
import { delNs, inNs, lvsd, makeNs, netnsUsable } from './netns.js';

function state(vips: string[]): RealServerState {
  return {
    version: 1,
    netns: 1,
    vips: vips.map((addr) => ({ addr, family: 4, added: true })),
    sysctls: { 'net.ipv4.conf.all.arp_ignore': '0' },
    loBroughtUp: false,
    tun: {
      type: 'ipip',
      port: null,
      impl: 'agent',
      device: 'lvsdtun0',
      deviceCreated: true,
      broughtUp: ['lvsdtun0'],
      fouPort: null,
    },
  } as RealServerState;
}

const skip = netnsUsable();
let ns = '';
let runDir = '';

before(() => {
  if (skip) return;
  runDir = mkdtempSync(`${tmpdir()}/lvsd-stale-`);
  ns = makeNs('lvst');
  inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
});

after(() => {
  if (ns) {
    lvsd(ns, ['realserver', 'down'], { LVSD_RUN_DIR: runDir });
    delNs(ns);
  }
  if (runDir) rmSync(runDir, { recursive: true, force: true });
});

test(
  'up --mode tun ignores the state of a dead namespace with the same inode',
  { skip: skip ?? false },
  () => {
    const env = { LVSD_RUN_DIR: runDir };
    const inode = inNs(ns, 'stat', ['-L', '-c', '%i', '/proc/self/ns/net']).trim();
    const dir = `${runDir}/${inode}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/realserver.json`, JSON.stringify(state(['10.77.3.3'])));
    writeFileSync(`${dir}/realserver-agent.pid`, '999999\n');

    const up = lvsd(
      ns,
      ['realserver', 'up', '--vip', '10.77.4.4', '--mode', 'tun', '--tun-impl', 'agent'],
      env,
    );
    assert.equal(up.status, 0, up.stderr);
    const st = JSON.parse(lvsd(ns, ['realserver', 'status', '--json'], env).stdout) as {
      vips: { addr: string; onLo: boolean }[];
      tun: { device: string; agent: { running: boolean } | null } | null;
    };
    assert.ok(
      st.vips.some((v) => v.addr === '10.77.4.4' && v.onLo),
      JSON.stringify(st),
    );
    assert.equal(st.tun?.agent?.running, true, JSON.stringify(st));
    assert.match(inNs(ns, 'ip', ['link', 'show', 'dev', st.tun.device]), /UP/);
    assert.equal(inNs(ns, 'sysctl', ['-n', `net.ipv4.conf.${st.tun.device}.rp_filter`]).trim(), '0');
    const down = lvsd(ns, ['realserver', 'down'], env);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(existsSync(`${dir}/realserver.json`), false);
  },
);
