/**
 * `lvsd doctor` on real namespaces (root): a misconfigured real server FAILs with fixes, the same one
 * after `lvsd realserver up` is OK; a director namespace without its VIP FAILs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delNs, inNs, lvsd, makeNs, netnsUsable } from '../realserver/netns.js';

const skip = netnsUsable();

describe('lvsd doctor in namespaces', { skip: skip ?? false }, () => {
  const made: string[] = [];
  let runDir = '';
  let env: Record<string, string> = {};

  before(() => {
    runDir = mkdtempSync(`${tmpdir()}/lvsd-doc-`);
    env = { LVSD_RUN_DIR: runDir };
  });

  after(() => {
    for (const ns of made) delNs(ns);
    rmSync(runDir, { recursive: true, force: true });
  });

  function realServerNs(): string {
    const ns = makeNs('lvdoc');
    made.push(ns);
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNs(ns, 'ip', ['link', 'add', 'dv0', 'type', 'veth', 'peer', 'name', 'dv1']);
    inNs(ns, 'ip', ['link', 'set', 'dv0', 'up']);
    inNs(ns, 'ip', ['addr', 'add', '10.78.0.2/24', 'dev', 'dv0']);
    return ns;
  }

  test('misconfigured real server: FAIL with fix commands, exit 1; after realserver up: OK, exit 0', () => {
    const ns = realServerNs();
    // the classic mistake: the VIP on the Ethernet interface, ARP sysctls untouched
    inNs(ns, 'ip', ['addr', 'add', '10.78.9.9/24', 'dev', 'dv0']);
    const bad = lvsd(ns, ['doctor', '--role', 'realserver', '--vip', '10.78.9.9'], env);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /\[FAIL\] VIP 10\.78\.9\.9 on lo: missing/);
    assert.match(bad.stdout, /fix: ip addr add 10\.78\.9\.9\/32 dev lo/);
    assert.match(bad.stdout, /\[FAIL\] VIP 10\.78\.9\.9 only on lo: also on dv0/);
    assert.match(bad.stdout, /fix: ip addr del 10\.78\.9\.9\/24 dev dv0/);
    assert.match(bad.stdout, /\[FAIL\] arp_ignore: .*dv0/);
    assert.match(bad.stdout, /\[FAIL\] arp_announce/);

    inNs(ns, 'ip', ['addr', 'del', '10.78.9.9/24', 'dev', 'dv0']);
    assert.equal(lvsd(ns, ['realserver', 'up', '--vip', '10.78.9.9'], env).status, 0);
    try {
      const good = lvsd(ns, ['doctor'], env); // role from the saved state
      assert.equal(good.status, 0, good.stdout);
      assert.match(good.stdout, /^lvsd doctor: realserver\n/);
      assert.doesNotMatch(good.stdout, /FAIL|WARN/);
      assert.match(good.stdout, /\[ OK \] VIP 10\.78\.9\.9 on lo/);
      const j = JSON.parse(lvsd(ns, ['doctor', '--json'], env).stdout) as {
        checks: Array<{ status: string }>;
      };
      assert.ok(j.checks.length >= 5 && j.checks.every((c) => c.status === 'OK'));
    } finally {
      lvsd(ns, ['realserver', 'down'], env);
    }
  });

  test('real server for TUN with strict rp_filter: FAIL on the tunnel device', () => {
    const ns = realServerNs();
    inNs(ns, 'ip', ['tuntap', 'add', 'dev', 'lvsdtun0', 'mode', 'tun']);
    inNs(ns, 'ip', ['link', 'set', 'lvsdtun0', 'up']);
    inNs(ns, 'ip', ['addr', 'add', '10.78.9.9/32', 'dev', 'lo']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']);
    const r = lvsd(ns, ['doctor', '--role', 'realserver', '--vip', '10.78.9.9', '--mode', 'tun'], env);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /\[FAIL\] rp_filter on lvsdtun0: effective 1/);
    assert.match(r.stdout, /fix: sysctl -w net\.ipv4\.conf\.all\.rp_filter=0/);
  });

  test('director without its VIP: FAIL naming the seed command; usage errors exit 2', () => {
    const ns = realServerNs();
    const r = lvsd(ns, ['doctor', '--role', 'director', '--vip', '10.78.0.100', '--mode', 'nat'], env);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /\[FAIL\] VIP 10\.78\.0\.100 local/);
    assert.match(r.stdout, /fix: ip addr add 10\.78\.0\.100\/24 dev dv0 label dv0:0/);
    assert.match(r.stdout, /\[WARN\] ip_forward/);
    inNs(ns, 'ip', ['addr', 'add', '10.78.0.100/24', 'dev', 'dv0', 'label', 'dv0:0']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const ok = lvsd(ns, ['doctor', '--role', 'director', '--vip', '10.78.0.100', '--mode', 'nat'], env);
    assert.equal(ok.status, 0, ok.stdout);
    assert.equal(lvsd(ns, ['doctor', '--role', 'nobody'], env).status, 2);
    assert.equal(lvsd(ns, ['doctor', '--vip', 'x.y'], env).status, 2);
  });
});
