/**
 * The 16 LVS sample features of keepalived's doc/samples (reference §4), in our own files under
 * test/fixtures/keepalived/samples: config-test exit status, exact diagnostics and the resolved
 * values each sample exists to exercise (legacy lb_algo/lb_kind spellings, reference defaults).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpChecker, KeepalivedConfig, MiscChecker, SmtpChecker } from '../../src/config/model.js';
import { fixture, load, messages } from './helpers.js';

interface Case {
  file: string;
  exit: number;
  diags: string[];
  check: (c: KeepalivedConfig) => void;
}

const F = 'keepalived.conf.';

const cases: Case[] = [
  {
    file: 'sample',
    exit: 0,
    diags: [],
    check: (c) => {
      assert.deepEqual(c.global.notificationEmail, ['ops@example.org', 'noc@example.org']);
      assert.deepEqual(c.global.smtpServer, { host: '192.168.200.1', port: 25 });
      assert.equal(c.global.routerId, 'LVS_DEVEL');
      assert.equal(c.vrrpInstances.length, 1);
      assert.equal(c.vrrpInstances[0]!.nopreempt, true);
      assert.deepEqual(c.vrrpInstances[0]!.authentication, { type: 'PASS', pass: '1111' });
      const vs = c.virtualServers[0]!;
      assert.equal(vs.name, '[10.10.10.2]:tcp:1358');
      assert.equal(vs.scheduler, 'rr');
      assert.equal(vs.method, 'NAT');
      assert.equal(vs.persistenceTimeout, 50);
      assert.deepEqual(vs.sorryServer, { address: '192.168.200.200', port: 1358, family: 4, method: 'NAT' });
      const ck = vs.realServers[0]!.checkers[0] as HttpChecker;
      assert.equal(ck.kind, 'HTTP_GET');
      assert.equal(ck.urls.length, 2);
      assert.equal(ck.urls[0]!.digest, '640205b7b0fc66c1ea91c463fac6334d');
      assert.deepEqual([ck.connectTimeout, ck.retry, ck.delayBeforeRetry, ck.delayLoop], [3, 3, 3, 6]);
    },
  },
  {
    file: 'HTTP_GET.port',
    exit: 0,
    diags: [],
    check: (c) => {
      const vs = c.virtualServers[0]!;
      assert.equal(vs.name, '[192.168.200.100]:tcp:443');
      assert.equal(vs.persistenceTimeout, 360);
      const ck = vs.realServers[0]!.checkers[0] as HttpChecker;
      assert.equal(ck.kind, 'SSL_GET');
      assert.equal(ck.connectPort, 8443);
      assert.equal(ck.connectIp, '192.168.100.2');
      // digests are kept lower case
      assert.equal(ck.urls[0]!.digest, '0123456789abcdef0123456789abcdef');
      assert.equal(ck.delayBeforeRetry, 2);
    },
  },
  {
    file: 'IPv6',
    exit: 0,
    diags: [],
    check: (c) => {
      assert.equal(c.virtualServerGroups[0]!.addresses.length, 8);
      assert.deepEqual(c.virtualServerGroups[0]!.addresses[0], { address: 'ae00::2', port: 80, family: 6 });
      assert.deepEqual(c.virtualServerGroups[0]!.addresses[7], { address: 'ae00::9', port: 80, family: 6 });
      const [v6, grp] = c.virtualServers;
      assert.deepEqual(v6!.target, { type: 'ip', address: 'ae00::1', port: 80, family: 6 });
      assert.equal(v6!.name, '[ae00::1]:tcp:80');
      const smtp = v6!.realServers[0]!.checkers[0] as SmtpChecker;
      assert.equal(smtp.heloName, 'lb.example.org');
      assert.equal(smtp.connectPort, 25);
      assert.equal(smtp.family, 6);
      assert.deepEqual(grp!.target, { type: 'group', group: 'IPV6_GRP' });
      assert.equal(grp!.name, 'IPV6_GRP');
    },
  },
  {
    file: 'PING_CHECK',
    exit: 0,
    diags: [],
    check: (c) => {
      const vs = c.virtualServers[0]!;
      assert.equal(vs.protocol, 'UDP');
      assert.equal(vs.persistenceTimeout, 30);
      assert.deepEqual(
        vs.realServers.map((r) => [r.weight, r.checkers[0]!.kind, r.checkers[0]!.retry]),
        [
          [2, 'PING_CHECK', 2],
          [1, 'PING_CHECK', 1],
        ],
      );
    },
  },
  {
    file: 'SMTP_CHECK',
    exit: 0,
    diags: [],
    check: (c) => {
      const ck = c.virtualServers[0]!.realServers[0]!.checkers[0] as SmtpChecker;
      assert.equal(ck.heloName, 'foo.example.org');
      assert.deepEqual([ck.retry, ck.delayBeforeRetry, ck.connectTimeout], [2, 5, 10]);
      assert.deepEqual(
        ck.hosts.map((h) => [h.connectIp, h.connectPort, h.bindTo]),
        [
          ['192.168.201.20', 25, '192.168.200.1'],
          ['192.168.201.21', 2525, undefined],
        ],
      );
    },
  },
  {
    file: 'SSL_GET',
    exit: 5,
    diags: ['(VI_1) Initial state master is incompatible with AH authentication - clearing'],
    check: (c) => {
      assert.equal(c.vrrpInstances[0]!.state, 'BACKUP');
      assert.deepEqual(
        c.virtualServers.map((v) => v.name),
        ['[192.168.200.10]:tcp:443', '[192.168.200.10]:tcp:80'],
      );
      const ssl = c.virtualServers[0]!.realServers[0]!.checkers[0] as HttpChecker;
      const http = c.virtualServers[1]!.realServers[0]!.checkers[0] as HttpChecker;
      assert.equal(ssl.kind, 'SSL_GET');
      // built-in HTTP/SSL defaults: retry 1, delay_before_retry 3 s
      assert.deepEqual([ssl.retry, ssl.delayBeforeRetry], [1, 3]);
      assert.deepEqual(
        http.urls.map((u) => u.path),
        ['/', '/mrtg/'],
      );
    },
  },
  {
    file: 'UDP_CHECK',
    exit: 0,
    diags: [],
    check: (c) => {
      const ck = c.virtualServers[0]!.realServers[0]!.checkers[0]!;
      assert.equal(ck.kind, 'UDP_CHECK');
      assert.equal(ck.kind === 'UDP_CHECK' && ck.requireReply, undefined);
      assert.equal(ck.kind === 'UDP_CHECK' && ck.maxReplyLength, 255);
      assert.equal(c.virtualServers[0]!.realServers[0]!.weight, 1);
    },
  },
  {
    file: 'fwmark',
    exit: 5,
    diags: ['(keepalived.conf.fwmark: Line 7) protocol specified for fwmark - protocol will be ignored'],
    check: (c) => {
      const vs = c.virtualServers[0]!;
      assert.equal(vs.name, 'FWM 1');
      assert.deepEqual(vs.target, { type: 'fwmark', mark: 1, family: 4 });
      assert.equal(vs.persistenceTimeout, 900);
      // DR real servers of a fwmark service have port 0; the check port comes from connect_port
      assert.deepEqual(
        vs.realServers.map((r) => [r.address, r.port, r.checkers[0]!.connectPort]),
        [
          ['192.168.200.2', 0, 80],
          ['192.168.200.3', 0, 80],
        ],
      );
    },
  },
  {
    file: 'inhibit',
    exit: 0,
    diags: [],
    check: (c) => {
      assert.deepEqual(
        c.virtualServers[0]!.realServers.map((r) => [r.weight, r.inhibitOnFailure]),
        [
          [3, true],
          [1, false],
        ],
      );
    },
  },
  {
    file: 'misc_check',
    exit: 6,
    diags: ['SECURITY VIOLATION - scripts are being executed but script_security not enabled.'],
    check: (c) => {
      const ck = c.virtualServers[0]!.realServers[0]!.checkers[0] as MiscChecker;
      assert.deepEqual(ck.script.argv, ['/usr/local/bin/smb_check.sh']);
      // MISC defaults: retry 0, timeout = delay_loop
      assert.deepEqual([ck.retry, ck.timeout, ck.dynamic], [0, 6, false]);
    },
  },
  {
    file: 'misc_check_arg',
    exit: 0,
    diags: [],
    check: (c) => {
      const ck = c.virtualServers[0]!.realServers[0]!.checkers[0] as MiscChecker;
      assert.equal(ck.script.command, "/usr/local/bin/smb_check.sh 192.168.200.9 'share name'");
      assert.deepEqual(ck.script.argv, ['/usr/local/bin/smb_check.sh', '192.168.200.9', 'share name']);
      assert.deepEqual([ck.timeout, ck.dynamic], [5, true]);
    },
  },
  {
    file: 'quorum',
    exit: 0,
    diags: [],
    check: (c) => {
      const vs = c.virtualServers[0]!;
      assert.deepEqual(
        [vs.alpha, vs.omega, vs.quorum, vs.hysteresis, vs.scheduler],
        [true, true, 7, 2, 'wrr'],
      );
      assert.deepEqual(vs.quorumUp?.argv, ['/usr/local/bin/quorum.sh', 'up']);
      assert.deepEqual(vs.quorumDown?.argv, ['/usr/local/bin/quorum.sh', 'down']);
      assert.equal(vs.realServers.length, 10);
      // alpha inherited by real servers and checkers
      assert.ok(
        vs.realServers.every((r) => r.alpha && r.checkers[0]!.alpha && r.checkers[0]!.connectPort === 80),
      );
    },
  },
  {
    file: 'status_code',
    exit: 0,
    diags: [],
    check: (c) => {
      const ck = c.virtualServers[0]!.realServers[0]!.checkers[0] as HttpChecker;
      assert.deepEqual(ck.urls[0]!.statusCodes, [
        [200, 200],
        [301, 302],
        [404, 404],
      ]);
      assert.equal(ck.urls[0]!.digest, undefined);
    },
  },
  {
    file: 'virtual_server_group',
    exit: 0,
    diags: [],
    check: (c) => {
      const g = c.virtualServerGroups[0]!;
      assert.equal(g.name, 'VSG_1');
      assert.deepEqual(
        g.addresses.map((a) => a.address),
        ['192.168.200.1', ...[3, 4, 5, 6, 7, 8, 9, 10].map((i) => `192.168.200.${i}`)],
      );
      assert.deepEqual(g.fwmarks, [{ mark: 1 }, { mark: 2 }]);
      assert.deepEqual(c.virtualServers[0]!.target, { type: 'group', group: 'VSG_1' });
    },
  },
  {
    file: 'virtualhost',
    exit: 0,
    diags: [],
    check: (c) => {
      const vs = c.virtualServers[0]!;
      assert.equal(vs.virtualhost, 'www.example.org');
      const a = vs.realServers[0]!.checkers[0] as HttpChecker;
      const b = vs.realServers[1]!.checkers[0] as HttpChecker;
      assert.equal(a.virtualhost, 'www.example.org'); // from the VS
      assert.equal(b.virtualhost, 'secure.example.org'); // the checker's own
      assert.equal(b.urls[1]!.virtualhost, 'other.example.org');
    },
  },
  {
    file: 'vrrp.lvs_syncd',
    exit: 5,
    diags: [
      "(keepalived.conf.vrrp.lvs_syncd: Line 3) Unknown keyword 'VI_1'",
      "(keepalived.conf.vrrp.lvs_syncd: Line 4) Unknown keyword 'VI_2'",
      '(keepalived.conf.vrrp.lvs_syncd: Line 10) Please use global lvs_sync_daemon',
      'Sync group VG1 has only 0 virtual router(s)',
    ],
    check: (c) => {
      assert.equal(c.vrrpSyncGroups.length, 0);
      assert.deepEqual(c.global.lvsSyncDaemon, {
        interface: 'eth0',
        vrrpInstance: 'VI_1',
        port: 8848,
        group: '224.0.0.81',
        syncId: 61,
      });
      assert.equal(c.virtualServers[0]!.realServers[0]!.checkers[0]!.kind, 'TCP_CHECK');
    },
  },
];

test('16 LVS sample features: exit status, diagnostics and resolved values', async (t) => {
  assert.equal(cases.length, 16);
  for (const c of cases) {
    await t.test(c.file, () => {
      const r = load(fixture('samples', F + c.file));
      assert.deepEqual(messages(r), c.diags);
      assert.equal(r.exitCode, c.exit);
      assert.ok(r.config);
      c.check(r.config);
    });
  }
});
