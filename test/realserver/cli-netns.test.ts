/**
 * `lvsd realserver up|down|status` in fresh network namespaces (root): addresses and sysctls as
 * expected, idempotence, `down` restoring exactly the previous values, status output, usage errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { addrsOn, delNs, inNs, links, lvsd, makeNs, netnsUsable, sh, sysctl } from './netns.js';

const skip = netnsUsable();

describe('lvsd realserver in a namespace', { skip: skip ?? false }, () => {
  let ns = '';
  let runDir = '';
  let env: Record<string, string> = {};

  before(() => {
    runDir = mkdtempSync(`${tmpdir()}/lvsd-rs-`);
    env = { LVSD_RUN_DIR: runDir };
    ns = makeNs('lvrs');
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNs(ns, 'ip', ['link', 'add', 'rsv0', 'type', 'veth', 'peer', 'name', 'rsv1']);
    inNs(ns, 'ip', ['link', 'set', 'rsv0', 'up']);
    inNs(ns, 'ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'rsv0']);
    // a non-default value the helper must put back exactly
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_announce=1']);
  });

  after(() => {
    if (ns) delNs(ns);
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  test('up (DR): VIPs on lo, the four ARP sysctls; idempotent; down restores exactly', () => {
    inNs(ns, 'ip', ['addr', 'add', '10.77.9.8/32', 'dev', 'lo']); // present before lvsd: must survive down
    const before = {
      lo: addrsOn(ns, 'lo'),
      ignoreAll: sysctl(ns, 'net.ipv4.conf.all.arp_ignore'),
      annAll: sysctl(ns, 'net.ipv4.conf.all.arp_announce'),
      ignoreLo: sysctl(ns, 'net.ipv4.conf.lo.arp_ignore'),
      annLo: sysctl(ns, 'net.ipv4.conf.lo.arp_announce'),
    };
    assert.equal(before.annAll, '1');

    const r = lvsd(ns, ['realserver', 'up', '--vip', '10.77.9.9,fd00:77::9,10.77.9.8'], env);
    assert.equal(r.status, 0, r.stderr);
    const lo = addrsOn(ns, 'lo');
    assert.ok(lo.includes('10.77.9.9/32'), lo.join(' '));
    assert.ok(lo.includes('fd00:77::9/128'), lo.join(' '));
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '1');
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_announce'), '2');
    assert.equal(sysctl(ns, 'net.ipv4.conf.lo.arp_ignore'), '1');
    assert.equal(sysctl(ns, 'net.ipv4.conf.lo.arp_announce'), '2');
    const v6 = JSON.parse(inNs(ns, 'ip', ['-j', '-6', 'addr', 'show', 'dev', 'lo'])) as Array<{
      addr_info: Array<{ local: string; nodad?: boolean }>;
    }>;
    assert.equal(v6[0]!.addr_info.find((a) => a.local === 'fd00:77::9')?.nodad, true);

    // idempotent: the same again changes nothing and still succeeds
    const r2 = lvsd(ns, ['realserver', 'up', '--vip', '10.77.9.9'], env);
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(addrsOn(ns, 'lo').sort(), lo.slice().sort());

    const d = lvsd(ns, ['realserver', 'down'], env);
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(addrsOn(ns, 'lo').sort(), before.lo.slice().sort());
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_ignore'), before.ignoreAll);
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_announce'), before.annAll);
    assert.equal(sysctl(ns, 'net.ipv4.conf.lo.arp_ignore'), before.ignoreLo);
    assert.equal(sysctl(ns, 'net.ipv4.conf.lo.arp_announce'), before.annLo);
    assert.ok(addrsOn(ns, 'lo').includes('10.77.9.8/32'), 'a VIP present before up stays');
    // state removed
    assert.equal(readdirSync(runDir).length, 0, readdirSync(runDir).join(' '));
  });

  test('down --vip removes just that VIP; the sysctls stay until the last one goes', () => {
    assert.equal(lvsd(ns, ['realserver', 'up', '--vip', '10.77.9.1,10.77.9.2'], env).status, 0);
    const d = lvsd(ns, ['realserver', 'down', '--vip', '10.77.9.1'], env);
    assert.equal(d.status, 0, d.stderr);
    const lo = addrsOn(ns, 'lo');
    assert.ok(!lo.includes('10.77.9.1/32'));
    assert.ok(lo.includes('10.77.9.2/32'));
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '1');
    assert.equal(lvsd(ns, ['realserver', 'down', '--vip', '10.77.9.2'], env).status, 0);
    assert.ok(!addrsOn(ns, 'lo').includes('10.77.9.2/32'));
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.arp_announce'), '1');
  });

  test('status: human and --json', () => {
    const none = lvsd(ns, ['realserver', 'status'], env);
    assert.equal(none.status, 0);
    assert.match(none.stdout, /not configured/);
    assert.equal(lvsd(ns, ['realserver', 'up', '--vip', '10.77.9.3'], env).status, 0);
    try {
      const s = lvsd(ns, ['realserver', 'status'], env);
      assert.equal(s.status, 0, s.stderr);
      assert.match(s.stdout, /mode: dr/);
      assert.match(s.stdout, /10\.77\.9\.3\/32\s+on lo: yes/);
      assert.match(s.stdout, /net\.ipv4\.conf\.all\.arp_ignore\s+= 1\n/);
      const j = JSON.parse(lvsd(ns, ['realserver', 'status', '--json'], env).stdout) as {
        configured: boolean;
        vips: Array<{ addr: string; onLo: boolean; added: boolean }>;
        sysctls: Array<{ ok: boolean }>;
      };
      assert.equal(j.configured, true);
      assert.deepEqual(j.vips, [{ addr: '10.77.9.3', family: 4, added: true, onLo: true }]);
      assert.ok(j.sysctls.length === 4 && j.sysctls.every((c) => c.ok));
      // someone removes the VIP behind lvsd's back: status says so
      inNs(ns, 'ip', ['addr', 'del', '10.77.9.3/32', 'dev', 'lo']);
      assert.match(lvsd(ns, ['realserver', 'status'], env).stdout, /on lo: NO/);
    } finally {
      assert.equal(lvsd(ns, ['realserver', 'down'], env).status, 0);
    }
  });

  test('usage errors exit 2 with a clear message; nothing is changed', () => {
    const cases: Array<[string[], RegExp]> = [
      [['realserver', 'up'], /needs --vip/],
      [['realserver', 'up', '--vip', '10.1.2'], /invalid VIP address '10\.1\.2'/],
      [['realserver', 'up', '--vip', '10.1.2.3/24'], /plain addresses/],
      [['realserver', 'up', '--vip', '127.0.0.5'], /cannot be a VIP/],
      [['realserver', 'up', '--vip', '10.1.2.3', '--mode', 'nat'], /--mode must be one of dr, tun/],
      [['realserver', 'up', '--vip', '10.1.2.3', '--mode', 'tun', '--tun-type', 'gue'], /needs --tun-port/],
      [
        [
          'realserver',
          'up',
          '--vip',
          '10.1.2.3',
          '--mode',
          'tun',
          '--tun-type',
          'gue',
          '--tun-port',
          '70000',
        ],
        /1-65535/,
      ],
      [['realserver', 'up', '--vip', '10.1.2.3', '--tun-type', 'ipip'], /need --mode tun/],
      [['realserver', 'up', '--vip', '10.1.2.3', '--bogus'], /unknown option '--bogus'/],
      [['realserver', 'frobnicate'], /unknown realserver command/],
    ];
    const lo = addrsOn(ns, 'lo');
    for (const [args, re] of cases) {
      const r = lvsd(ns, args, env);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.deepEqual(addrsOn(ns, 'lo'), lo);
    const h = lvsd(ns, ['realserver', '--help'], env);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /lvsd realserver up --vip/);
    // down with nothing configured is fine
    assert.equal(lvsd(ns, ['realserver', 'down'], env).status, 0);
  });

  test('--tun-impl kernel without the kernel module is refused before anything changes', (t) => {
    const probe = spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'add', 'lvprobe0', 'type', 'ipip']);
    if (probe.status === 0) {
      inNs(ns, 'ip', ['link', 'del', 'lvprobe0']);
      t.skip('this kernel has ipip');
      return;
    }
    const lo = addrsOn(ns, 'lo');
    const r = lvsd(
      ns,
      ['realserver', 'up', '--vip', '10.77.9.5', '--mode', 'tun', '--tun-impl', 'kernel'],
      env,
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot decapsulate ipip \(module missing\)/);
    assert.deepEqual(addrsOn(ns, 'lo'), lo);
    assert.equal(readdirSync(runDir).length, 0);
  });

  test('TUN without the addon or with it: rp_filter relaxed, device made, all undone by down', () => {
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.conf.rsv0.rp_filter=2']);
    const r = lvsd(
      ns,
      ['realserver', 'up', '--vip', '10.77.9.4', '--mode', 'tun', '--tun-impl', 'agent'],
      env,
    );
    try {
      // with the addon the agent runs (exit 0); without, up reports the failure (exit 1) but leaves a
      // state that down can undo
      assert.ok(r.status === 0 || r.status === 1, r.stderr);
      if (r.status === 1) assert.match(r.stderr, /agent did not start|addon/);
      assert.ok(links(ns).includes('lvsdtun0'));
      assert.equal(sysctl(ns, 'net.ipv4.conf.all.rp_filter'), '0');
      assert.equal(sysctl(ns, 'net.ipv4.conf.lvsdtun0.rp_filter'), '0');
      assert.equal(sysctl(ns, 'net.ipv4.conf.rsv0.rp_filter'), '0');
      const s = lvsd(ns, ['realserver', 'status'], env);
      assert.match(s.stdout, /mode: tun \(ipip\)/);
      assert.match(s.stdout, r.status === 0 ? /agent: running, pid \d+/ : /agent: NOT running/);
    } finally {
      const d = lvsd(ns, ['realserver', 'down'], env);
      assert.equal(d.status, 0, d.stderr);
    }
    assert.ok(!links(ns).includes('lvsdtun0'));
    assert.equal(sysctl(ns, 'net.ipv4.conf.all.rp_filter'), '1');
    assert.equal(sysctl(ns, 'net.ipv4.conf.rsv0.rp_filter'), '2');
    assert.equal(sh('ip', ['netns', 'pids', ns]).trim(), '', 'no process left in the namespace');
    assert.ok(!existsSync(`${runDir}/${readdirSync(runDir)[0] ?? 'none'}/realserver.json`));
  });

  test('TUN state left by an earlier namespace with the same inode (device gone) is set up again', () => {
    const up = () =>
      lvsd(ns, ['realserver', 'up', '--vip', '10.77.9.5', '--mode', 'tun', '--tun-impl', 'agent'], env);
    const r = up();
    try {
      assert.ok(r.status === 0 || r.status === 1, r.stderr);
      // what a namespace deleted without `down` leaves to the next one that gets its inode: the state
      // file, but neither the device nor the agent
      for (const p of sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean))
        process.kill(Number(p), 'SIGKILL');
      inNs(ns, 'ip', ['link', 'del', 'lvsdtun0']);
      const again = up();
      assert.equal(again.status, r.status, `second up: ${again.stderr}`);
      assert.ok(links(ns).includes('lvsdtun0'), 'the device is made again');
      assert.equal(sysctl(ns, 'net.ipv4.conf.lvsdtun0.rp_filter'), '0');
    } finally {
      const d = lvsd(ns, ['realserver', 'down'], env);
      assert.equal(d.status, 0, d.stderr);
    }
    assert.ok(!links(ns).includes('lvsdtun0'));
  });
});
