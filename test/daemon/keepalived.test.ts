/**
 * keepalived mode on a memory-driver Daemon: services per virtual-server kind, the health actions as
 * ipvsadm commands, reload ordering and its no-change guarantee on failure, status and control.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeepalivedConfig } from '../../src/config/model.js';
import { requestOnce } from '../../src/control/client.js';
import { destOptions, savedServiceKeys, serviceOptions, servicesOf } from '../../src/daemon/keepalived.js';
import { allowedCpus, controlCpus, parseCpuList } from '../../src/daemon/cpus.js';
import { parseDaemonArgs } from '../../src/daemon/main.js';
import { DEFAULT_RX_RING_FRAMES } from '../../src/io/afpacket.js';
import { config, harness, ipTarget, rs, vs } from './keepalived-fixtures.js';

test('services per virtual-server kind: ip:port, IPv6, fwmark (v4/v6), group entries', () => {
  assert.deepEqual(
    servicesOf(vs(ipTarget('10.0.0.1', 80)), []).map((s) => s.target),
    [['-t', '10.0.0.1:80']],
  );
  assert.deepEqual(
    servicesOf(vs(ipTarget('fd00::1', 53), { protocol: 'UDP' }), []).map((s) => s.target),
    [['-u', '[fd00::1]:53']],
  );
  assert.deepEqual(
    servicesOf(vs(ipTarget('10.0.0.1', 80), { protocol: 'SCTP' }), []).map((s) => s.target),
    [['--sctp-service', '10.0.0.1:80']],
  );
  assert.deepEqual(
    servicesOf(vs({ type: 'fwmark', mark: 5, family: 4 }), []).map((s) => s.target),
    [['-f', '5']],
  );
  assert.deepEqual(
    servicesOf(vs({ type: 'fwmark', mark: 7, family: 6 }), []).map((s) => s.target),
    [['-f', '7', '-6']],
  );
  const group = {
    loc: { file: 'f', line: 1, column: 1 },
    name: 'web',
    addresses: [
      { address: '10.0.0.1', port: 80, family: 4 as const },
      { address: '10.0.0.2', port: 8080, family: 4 as const },
    ],
    fwmarks: [{ mark: 9 }],
  };
  const g = servicesOf(vs({ type: 'group', group: 'web' }, { protocol: 'TCP', scheduler: 'rr' }), [group]);
  assert.deepEqual(
    g.map((s) => s.target),
    [
      ['-t', '10.0.0.1:80'],
      ['-t', '10.0.0.2:8080'],
      ['-f', '9'],
    ],
  );
  assert.ok(g.every((s) => s.vsName === 'web' && s.options.join(' ') === '-s rr'));
  // an unknown group has no service (the parser drops such a VS; nothing is created for it)
  assert.deepEqual(servicesOf(vs({ type: 'group', group: 'nope' }), [group]), []);
});

test('service options: scheduler, -b flags, persistence -p/-M, --pe, -o only for UDP', () => {
  assert.deepEqual(serviceOptions(vs(ipTarget('10.0.0.1', 80))), ['-s', 'wlc']);
  assert.deepEqual(
    serviceOptions(
      vs(ipTarget('10.0.0.1', 80), {
        scheduler: 'sh',
        schedFlags: ['sh-port', 'sh-fallback'],
        persistenceTimeout: 300,
        persistenceGranularity: '255.255.255.0',
        persistenceEngine: 'sip',
      }),
    ),
    ['-s', 'sh', '-b', 'sh-port,sh-fallback', '-p', '300', '-M', '255.255.255.0', '--pe', 'sip'],
  );
  assert.deepEqual(serviceOptions(vs(ipTarget('10.0.0.1', 53), { protocol: 'UDP', ops: true })), [
    '-s',
    'wlc',
    '-o',
  ]);
  assert.deepEqual(serviceOptions(vs(ipTarget('10.0.0.1', 53), { protocol: 'TCP', ops: true })), [
    '-s',
    'wlc',
  ]);
});

test('destination words: method, tunnel options, weight (clamped to ipvsadm range), thresholds', () => {
  assert.deepEqual(destOptions(rs('10.0.1.1', 80), 3), ['-r', '10.0.1.1:80', '-m', '-w', '3']);
  assert.deepEqual(destOptions(rs('10.0.1.1', 80, { method: 'DR' }), 0), [
    '-r',
    '10.0.1.1:80',
    '-g',
    '-w',
    '0',
  ]);
  assert.deepEqual(
    destOptions(
      rs('10.0.1.1', 80, { method: 'TUN', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } }),
      70000,
    ),
    ['-r', '10.0.1.1:80', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-remcsum', '-w', '65535'],
  );
  assert.deepEqual(
    destOptions(rs('fd00::5', 0, { method: 'DR', upperThreshold: 100, lowerThreshold: 10 }), 2),
    ['-r', 'fd00::5', '-g', '-w', '2', '-x', '100', '-y', '10'],
  );
  assert.deepEqual(destOptions(rs('fd00::5', 443), 1).slice(0, 2), ['-r', '[fd00::5]:443']);
});

test('-S -n service keys parse back to the runtime targets', () => {
  const keys = savedServiceKeys(
    '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n-A -f 5 -6 -s wlc -p 100 -M 64\n' +
      '-A -u [fd00::1]:53 -s rr -o\n',
  );
  assert.deepEqual([...keys].sort(), ['-f 5 -6', '-t 10.0.0.1:80', '-u [fd00::1]:53']);
});

test('start creates every service and the health checker installs destinations in one -R', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), {
    scheduler: 'rr',
    realServers: [rs('10.0.1.1', 80, { weight: 2 }), rs('10.0.1.2', 80, { method: 'DR' })],
  });
  const mark = vs(
    { type: 'fwmark', mark: 5, family: 4 },
    { realServers: [rs('10.0.1.3', 0, { method: 'DR' })] },
  );
  const group = vs(
    { type: 'group', group: 'g1' },
    { protocol: 'UDP', scheduler: 'sh', realServers: [rs('10.0.2.1', 53)] },
  );
  const groups = [
    {
      loc: web.loc,
      name: 'g1',
      addresses: [
        { address: '10.0.0.5', port: 53, family: 4 as const },
        { address: '10.0.0.6', port: 53, family: 4 as const },
      ],
      fwmarks: [],
    },
  ];
  const h = await harness(
    config([web, mark, group], { groups, global: { lvsTimeouts: { tcp: 900, udp: 60 } } }),
  );
  try {
    const save = await h.save();
    for (const line of [
      '-A -t 10.0.0.1:80 -s rr',
      '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 2',
      '-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 1',
      '-A -f 5 -s wlc',
      '-a -f 5 -r 10.0.1.3:0 -g -w 1',
      '-A -u 10.0.0.5:53 -s sh',
      '-A -u 10.0.0.6:53 -s sh',
      '-a -u 10.0.0.5:53 -r 10.0.2.1:53 -m -w 1',
      '-a -u 10.0.0.6:53 -r 10.0.2.1:53 -m -w 1',
    ])
      assert.ok(save.split('\n').includes(line), `missing '${line}' in\n${save}`);
    const timeout = (await h.daemon.ipvsadm(['-L', '--timeout'])).stdout;
    assert.match(timeout, /\): 900 120 60$/m);
    // one -R for the services, one for the destinations: 4 services + the --set, 5 destinations
    assert.equal(h.sent.filter((l) => l.startsWith('-A')).length, 4);
    assert.equal(h.sent.filter((l) => l.startsWith('-a')).length, 5);
    assert.ok(!h.logs.some((l) => JSON.parse(l).level === 'error'), h.logs.join(''));
  } finally {
    await h.stop();
  }
});

test('lvs_flush clears the table first; without it an existing service is edited, not refused', async () => {
  const cfg = (flush: boolean) =>
    config([vs(ipTarget('10.0.0.1', 80), { scheduler: 'rr', realServers: [rs('10.0.1.1', 80)] })], {
      global: { lvsFlush: flush },
    });
  // the daemon runs first with a table of its own (as ipvsadm left it); then the runtime starts
  for (const flush of [false, true]) {
    const h = await harness(cfg(flush), { attach: false });
    try {
      await h.daemon.ipvsadm(['-A', '-t', '10.9.9.9:80']);
      await h.daemon.ipvsadm(['-A', '-t', '10.0.0.1:80', '-s', 'wlc']);
      await h.runtime.start();
      const save = await h.save();
      assert.match(save, /-A -t 10\.0\.0\.1:80 -s rr/, save);
      assert.ok(save.includes('-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1'), save);
      assert.equal(/10\.9\.9\.9/.test(save), !flush, save);
      assert.ok(h.sent.includes(flush ? '-C' : '-E -t 10.0.0.1:80 -s rr'), h.sent.join('\n'));
    } finally {
      await h.runtime.stop();
      await h.stop();
    }
  }
});

test('a table restored before start (lvsd restart) is upserted: existing destinations edited, stale ones removed', async () => {
  const cfg = config([
    vs(ipTarget('10.0.0.1', 80), {
      scheduler: 'rr',
      realServers: [rs('10.0.1.1', 80, { weight: 3 }), rs('10.0.1.2', 80)],
    }),
  ]);
  const h = await harness(cfg, { attach: false });
  try {
    // what the restored table holds: one destination still in the file (old weight), one removed from it
    await h.daemon.ipvsadm(['-A', '-t', '10.0.0.1:80', '-s', 'rr']);
    await h.daemon.ipvsadm(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1:80', '-m', '-w', '1']);
    await h.daemon.ipvsadm(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.9:80', '-m', '-w', '1']);
    await h.runtime.start();
    const save = await h.save();
    assert.ok(save.includes('-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3'), save);
    assert.ok(save.includes('-a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 1'), save);
    assert.ok(!save.includes('10.0.1.9'), save);
  } finally {
    await h.runtime.stop();
    await h.stop();
  }
});

test('health actions: add/edit/delete reach every service of a group virtual server', async () => {
  const group = vs({ type: 'group', group: 'g' }, { scheduler: 'rr', realServers: [rs('10.0.1.1', 80)] });
  const groups = [
    {
      loc: group.loc,
      name: 'g',
      addresses: [
        { address: '10.0.0.1', port: 80, family: 4 as const },
        { address: '10.0.0.2', port: 80, family: 4 as const },
      ],
      fwmarks: [{ mark: 3 }],
    },
  ];
  const h = await harness(config([group], { groups }));
  try {
    const actions = h.health().actions;
    const tun = rs('10.0.1.9', 80, { method: 'TUN', tunnel: { type: 'ipip' } });
    await actions.addDest(group, tun, 4);
    let save = await h.save();
    for (const svc of ['-t 10.0.0.1:80', '-t 10.0.0.2:80', '-f 3'])
      assert.ok(save.includes(`-a ${svc} -r 10.0.1.9:80 -i -w 4`), save);
    // inhibit_on_failure: weight 0 keeps the forwarding method (ipvsadm -e alone would reset it to -g)
    await actions.editDest(group, tun, 0);
    save = await h.save();
    for (const svc of ['-t 10.0.0.1:80', '-t 10.0.0.2:80', '-f 3'])
      assert.ok(save.includes(`-a ${svc} -r 10.0.1.9:80 -i -w 0`), save);
    await actions.delDest(group, tun);
    save = await h.save();
    assert.doesNotMatch(save, /10\.0\.1\.9/);
    // an action the table refuses (dest deleted by hand) rejects, so the checker can log it
    await h.daemon.ipvsadm(['-d', '-t', '10.0.0.1:80', '-r', '10.0.1.1:80']);
    await assert.rejects(actions.delDest(group, rs('10.0.1.1', 80)), /No such destination/);
    const st = h.runtime.status() as { virtualServers: { destinations: unknown[] }[] };
    assert.deepEqual(st.virtualServers[0]!.destinations, []);
  } finally {
    await h.stop();
  }
});

test('reload: new services exist before the destination update, removed ones are deleted after', async () => {
  const keep = vs(ipTarget('10.0.0.1', 80), {
    scheduler: 'rr',
    realServers: [rs('10.0.1.1', 80), rs('10.0.1.2', 80)],
  });
  const gone = vs(ipTarget('10.0.0.2', 80), { realServers: [rs('10.0.1.3', 80)] });
  const h = await harness(config([keep, gone]));
  try {
    await h.daemon.ipvsadm(['-Z']);
    const sentBefore = h.sent.length;
    const added = vs(ipTarget('10.0.0.3', 443), { scheduler: 'lc', realServers: [rs('10.0.1.4', 443)] });
    const keep2 = vs(ipTarget('10.0.0.1', 80), {
      scheduler: 'rr',
      realServers: [rs('10.0.1.1', 80), rs('10.0.1.5', 80, { weight: 3 })],
    });
    let atUpdate = '';
    h.health().onUpdate = async () => {
      atUpdate = await h.save();
    };
    h.setLoad(config([keep2, added]));
    const r = await h.runtime.reload();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.added, ['-t 10.0.0.3:443']);
    assert.deepEqual(r.removed, ['-t 10.0.0.2:80']);
    assert.deepEqual(r.edited, []);
    assert.match(atUpdate, /-A -t 10\.0\.0\.3:443 -s lc/, 'new service missing during update');
    assert.match(atUpdate, /-A -t 10\.0\.0\.2:80/, 'removed service gone before update');
    const save = await h.save();
    assert.doesNotMatch(save, /10\.0\.0\.2:80/);
    for (const line of [
      '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1',
      '-a -t 10.0.0.1:80 -r 10.0.1.5:80 -m -w 3',
      '-a -t 10.0.0.3:443 -r 10.0.1.4:443 -m -w 1',
    ])
      assert.ok(save.includes(line), save);
    assert.doesNotMatch(save, /10\.0\.1\.2:80/);
    // the unchanged service and server were not touched at all (they keep conns and counters)
    const reloadLines = h.sent.slice(sentBefore);
    assert.ok(
      !reloadLines.some(
        (l) => / -t 10\.0\.0\.1:80 .*-r 10\.0\.1\.1:80/.test(l) || /^-[AED] -t 10\.0\.0\.1:80/.test(l),
      ),
      reloadLines.join('\n'),
    );
    // order: create, then destinations, then delete
    const idx = (re: RegExp): number => reloadLines.findIndex((l) => re.test(l));
    assert.ok(
      idx(/^-A -t 10\.0\.0\.3:443/) < idx(/^-a -t 10\.0\.0\.1:80 -r 10\.0\.1\.5/),
      reloadLines.join('\n'),
    );
    assert.ok(
      idx(/^-d -t 10\.0\.0\.1:80 -r 10\.0\.1\.2/) < idx(/^-D -t 10\.0\.0\.2:80/),
      reloadLines.join('\n'),
    );
  } finally {
    await h.stop();
  }
});

test('reload: changed service attributes are edited in place (-E); a group entry gets the existing servers', async () => {
  const groupsA = [
    {
      loc: { file: 'f', line: 1, column: 1 },
      name: 'g',
      addresses: [{ address: '10.0.0.1', port: 80, family: 4 as const }],
      fwmarks: [],
    },
  ];
  const groupsB = [
    {
      ...groupsA[0]!,
      addresses: [...groupsA[0]!.addresses, { address: '10.0.0.9', port: 80, family: 4 as const }],
    },
  ];
  const a = vs({ type: 'group', group: 'g' }, { scheduler: 'rr', realServers: [rs('10.0.1.1', 80)] });
  const b = vs(
    { type: 'group', group: 'g' },
    { scheduler: 'wrr', persistenceTimeout: 60, realServers: [rs('10.0.1.1', 80)] },
  );
  const h = await harness(config([a], { groups: groupsA }));
  try {
    h.setLoad(config([b], { groups: groupsB }));
    const r = await h.runtime.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.edited, ['-t 10.0.0.1:80']);
    assert.deepEqual(r.added, ['-t 10.0.0.9:80']);
    const save = await h.save();
    assert.match(save, /-A -t 10\.0\.0\.1:80 -s wrr -p 60/, save);
    assert.match(save, /-A -t 10\.0\.0\.9:80 -s wrr -p 60/, save);
    assert.ok(save.includes('-a -t 10.0.0.9:80 -r 10.0.1.1:80 -m -w 1'), save);
  } finally {
    await h.stop();
  }
});

test('a reload whose file does not load (or carries VIPs without --no-vrrp) changes nothing', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const h = await harness(config([web]));
  try {
    const before = await h.save();
    const sentBefore = h.sent.length;
    h.setLoad({
      config: null,
      diagnostics: [{ severity: 'error', message: "There are 1 missing '}'s or extra '{'s" }],
      exitCode: 4,
    });
    const r = await h.runtime.reload();
    assert.equal(r.ok, false);
    assert.match(r.error!, /missing '}'s.*unchanged/);
    assert.deepEqual(r.diagnostics, ["There are 1 missing '}'s or extra '{'s"]);
    assert.equal(await h.save(), before);
    assert.equal(h.sent.length, sentBefore);
    assert.equal(h.health().updates, 0);
    // the same through the control socket: `lvsd reload` gets ok false
    const viaSocket = await requestOnce<{ ok: boolean }>('reload', undefined, { address: h.address });
    assert.equal(viaSocket.ok, false);
    const st = await requestOnce<{ keepalived: { lastReload: { ok: boolean; error: string } } }>(
      'status',
      undefined,
      { address: h.address },
    );
    assert.equal(st.keepalived.lastReload.ok, false);
    // a file that loads but has vrrp_instance VIPs while --no-vrrp was not given
    h.setLoad(config([web, vs(ipTarget('10.0.0.2', 80), { realServers: [rs('10.0.1.2', 80)] })]));
    h.setVrrp(true);
    const v = await h.runtime.reload();
    assert.equal(v.ok, false);
    assert.match(v.error!, /--no-vrrp/);
    assert.equal(await h.save(), before);
    assert.equal(h.health().updates, 0);
  } finally {
    await h.stop();
  }
});

test('reload_check_config: a file with errors is not applied; without it what survives the errors is', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const more = vs(ipTarget('10.0.0.2', 80), { realServers: [rs('10.0.1.2', 80)] });
  const h = await harness(config([web], { global: { other: { reload_check_config: [] } } }));
  try {
    const before = await h.save();
    const withErrors = {
      config: config([web, more], { global: { other: { reload_check_config: [] } } }),
      diagnostics: [
        {
          severity: 'error' as const,
          message: "Unknown keyword 'bogus'",
          loc: { file: 'k.conf', line: 3, column: 1 },
        },
      ],
      exitCode: 5 as const,
    };
    h.setLoad(withErrors);
    const r = await h.runtime.reload();
    assert.equal(r.ok, false);
    assert.deepEqual(r.diagnostics, ["(k.conf: Line 3) Unknown keyword 'bogus'"]);
    assert.match(r.error!, /reload_check_config.*unchanged/);
    assert.equal(await h.save(), before);
    // the same errors in a file without reload_check_config (running or new): applied, as keepalived
    h.setLoad({ ...withErrors, config: config([web, more]) });
    const first = await h.runtime.reload();
    assert.equal(first.ok, false, 'the running file still has reload_check_config');
    h.setLoad(config([web]));
    assert.equal((await h.runtime.reload()).ok, true);
    h.setLoad({ ...withErrors, config: config([web, more]) });
    const applied = await h.runtime.reload();
    assert.equal(applied.ok, true, JSON.stringify(applied));
    assert.deepEqual(applied.added, ['-t 10.0.0.2:80']);
  } finally {
    await h.stop();
  }
});

test('VIPs without --no-vrrp: the daemon refuses to start and says why; with it, it runs', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const refused = await harness(config([web]), { vrrp: true, start: false });
  await assert.rejects(refused.daemon.start(), /does not run VRRP.*--no-vrrp/s);
  await refused.daemon.stopped;
  const h = await harness(config([web]), { vrrp: true, noVrrp: true });
  try {
    assert.match(await h.save(), /-A -t 10\.0\.0\.1:80/);
  } finally {
    await h.stop();
  }
});

test('stop for a hand-over (lvsd restart): the table stays, lvs_flush_on_stop is not applied', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const h = await harness(config([web], { global: { lvsFlushOnStop: true } }), { attach: false });
  try {
    await h.runtime.start();
    const before = await h.save();
    await h.runtime.stop({ handover: true });
    assert.equal(h.sent.includes('-C'), false, h.sent.join('\n'));
    assert.equal(await h.save(), before);
    assert.match(before, /-a -t 10\.0\.0\.1:80 -r 10\.0\.1\.1:80/);
  } finally {
    await h.stop();
  }
});

test('stop: health checker stopped (omega), lvs_flush_on_stop clears the table', async () => {
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const h = await harness(config([web], { global: { lvsFlushOnStop: true } }));
  const health = h.health();
  await h.stop();
  assert.equal(health.stopped, true);
  assert.ok(h.sent.includes('-C'), h.sent.join('\n'));
});

test('1,000 real servers load in a handful of table commands', async () => {
  const many = Array.from({ length: 10 }, (_, v) =>
    vs(ipTarget(`10.0.0.${v + 1}`, 80), {
      realServers: Array.from({ length: 100 }, (_, i) => rs(`10.1.${v}.${i + 1}`, 80)),
    }),
  );
  const t0 = Date.now();
  const h = await harness(config(many));
  try {
    const ms = Date.now() - t0;
    const save = await h.save();
    assert.equal(save.split('\n').filter((l) => l.startsWith('-a')).length, 1000);
    assert.ok(ms < 10000, `start took ${ms} ms`);
  } finally {
    await h.stop();
  }
});

test('command line: keepalived options (getopt style) enter keepalived mode; lvsd options still work', () => {
  const p = parseDaemonArgs(['-f', '/tmp/k.conf', '-n', '-lD', '--pid=/run/x.pid', '-iweb1', '--no-vrrp']);
  assert.ok(typeof p === 'object');
  assert.equal(p.keepalived, true);
  assert.equal(p.file, '/tmp/k.conf');
  assert.equal(p.dontFork, true);
  assert.equal(p.logDetail, true);
  assert.equal(p.pidFile, '/run/x.pid');
  assert.equal(p.configId, 'web1');
  assert.equal(p.noVrrp, true);
  const t = parseDaemonArgs(['--config-test=/tmp/log', '--use-file', 'a.conf']);
  assert.ok(typeof t === 'object' && t.configTest && t.configTestLog === '/tmp/log' && t.file === 'a.conf');
  const t2 = parseDaemonArgs(['-t']);
  assert.ok(typeof t2 === 'object' && t2.configTest && t2.configTestLog === null);
  assert.equal(
    (parseDaemonArgs(['--dont-fork']) as { file: string }).file,
    '/etc/keepalived/keepalived.conf',
  );
  const plain = parseDaemonArgs(['--driver', 'memory', '--stay', '--log-level', 'warn']);
  assert.ok(typeof plain === 'object' && !plain.keepalived && plain.driver === 'memory' && plain.stay);
  assert.match(parseDaemonArgs(['-f']) as string, /requires an argument/);
  assert.match(parseDaemonArgs(['-Q']) as string, /invalid option/);
  assert.match(parseDaemonArgs(['--dont-fork=1']) as string, /doesn't allow an argument/);
});

/** A VRRP stand-in: records how it was started; `masters` is what masterInstances() answers. */
class RecordingVrrp {
  resumed: string[] | null = null;
  constructor(private readonly masters: string[]) {}
  start(opts: { resumeMaster?: ReadonlySet<string> } = {}): Promise<void> {
    this.resumed = [...(opts.resumeMaster ?? [])].sort();
    return Promise.resolve();
  }
  masterInstances(): string[] {
    return this.masters;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  status(): unknown {
    return null;
  }
}

test('a hand-over records the MASTER instances before answering; the successor resumes them, once, in the same namespace only', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsd-vrrp-ho-'));
  const file = path.join(dir, 'vrrp-handover.json');
  const web = vs(ipTarget('10.0.0.1', 80), { realServers: [rs('10.0.1.1', 80)] });
  const withVrrp = {
    ...config([web]),
    vrrpInstances: [{ name: 'VI_1' } as KeepalivedConfig['vrrpInstances'][0]],
  };
  const run = async (vrrp: RecordingVrrp, cookie: string, handover: boolean): Promise<void> => {
    const h = await harness(withVrrp, {
      vrrp: true,
      createVrrp: () => vrrp,
      vrrpHandoverFile: file,
      netnsCookie: cookie,
      attach: false,
    });
    try {
      await h.runtime.start();
      if (handover) h.runtime.prepareHandover(); // Daemon.handOver calls it before answering the successor
      await h.runtime.stop({ handover });
    } finally {
      await h.stop();
    }
  };
  try {
    const old = new RecordingVrrp(['VI_1', 'VI_2']);
    await run(old, 'c1', true);
    assert.deepEqual(old.resumed, []);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).masters, ['VI_1', 'VI_2']);
    const next = new RecordingVrrp([]);
    await run(next, 'c1', false);
    assert.deepEqual(next.resumed, ['VI_1', 'VI_2'], 'the successor resumes the masters');
    assert.equal(fs.existsSync(file), false, 'the record is consumed');
    // another namespace that reuses the inode (another cookie) does not resume
    await run(new RecordingVrrp(['VI_1']), 'c1', true);
    const other = new RecordingVrrp([]);
    await run(other, 'c2', false);
    assert.deepEqual(other.resumed, []);
    // a stale record is ignored
    fs.writeFileSync(
      file,
      JSON.stringify({ netnsCookie: 'c1', at: Date.now() - 3_600_000, masters: ['VI_1'] }),
    );
    const late = new RecordingVrrp([]);
    await run(late, 'c1', false);
    assert.deepEqual(late.resumed, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('command line: DR fast-path threshold, data-plane nice and CPUs, with their range checks and environment default', () => {
  const saved = process.env['LVSD_OFFLOAD_THRESHOLD'];
  const savedRing = process.env['LVSD_RX_RING'];
  try {
    delete process.env['LVSD_OFFLOAD_THRESHOLD'];
    const d = parseDaemonArgs([]);
    assert.ok(typeof d === 'object');
    assert.equal(d.offloadThreshold, 1000);
    assert.equal(d.dataplaneNice, 0);
    const p = parseDaemonArgs(['--offload-threshold', '50', '--dataplane-nice', '-5']);
    assert.ok(typeof p === 'object' && p.offloadThreshold === 50 && p.dataplaneNice === -5);
    assert.equal((parseDaemonArgs(['--no-offload']) as { offloadThreshold: number }).offloadThreshold, 0);
    assert.match(parseDaemonArgs(['--offload-threshold', '-1']) as string, /--offload-threshold must be/);
    assert.match(parseDaemonArgs(['--dataplane-nice', '20']) as string, /--dataplane-nice must be/);
    assert.equal(d.dataplaneCpus, null);
    assert.deepEqual(
      (parseDaemonArgs(['--dataplane-cpu', '3,1-2']) as { dataplaneCpus: number[] }).dataplaneCpus,
      [1, 2, 3],
    );
    assert.match(parseDaemonArgs(['--dataplane-cpu', '2-1']) as string, /--dataplane-cpu must be a CPU list/);
    assert.match(parseDaemonArgs(['--dataplane-cpu']) as string, /--dataplane-cpu must be a CPU list/);
    assert.equal((parseDaemonArgs([]) as { rxRingFrames: number }).rxRingFrames, DEFAULT_RX_RING_FRAMES);
    assert.equal((parseDaemonArgs(['--rx-ring', '0']) as { rxRingFrames: number }).rxRingFrames, 0);
    assert.equal((parseDaemonArgs(['--rx-ring', '512']) as { rxRingFrames: number }).rxRingFrames, 512);
    for (const bad of ['-1', '1.5', 'many', String(2 ** 23)])
      assert.match(parseDaemonArgs(['--rx-ring', bad]) as string, /--rx-ring must be an integer from 0 to/);
    process.env['LVSD_OFFLOAD_THRESHOLD'] = '0';
    assert.equal((parseDaemonArgs([]) as { offloadThreshold: number }).offloadThreshold, 0);
    process.env['LVSD_OFFLOAD_THRESHOLD'] = 'junk';
    assert.equal((parseDaemonArgs([]) as { offloadThreshold: number }).offloadThreshold, 1000);
    process.env['LVSD_RX_RING'] = '0';
    assert.equal((parseDaemonArgs([]) as { rxRingFrames: number }).rxRingFrames, 0);
    process.env['LVSD_RX_RING'] = 'junk';
    assert.equal((parseDaemonArgs([]) as { rxRingFrames: number }).rxRingFrames, DEFAULT_RX_RING_FRAMES);
  } finally {
    if (savedRing === undefined) delete process.env['LVSD_RX_RING'];
    else process.env['LVSD_RX_RING'] = savedRing;
    if (saved === undefined) delete process.env['LVSD_OFFLOAD_THRESHOLD'];
    else process.env['LVSD_OFFLOAD_THRESHOLD'] = saved;
  }
});

test('CPU lists: parseCpuList takes taskset -c lists and refuses anything else; the control plane gets the rest', () => {
  assert.deepEqual(parseCpuList('1'), [1]);
  assert.deepEqual(parseCpuList('0,2'), [0, 2]);
  assert.deepEqual(parseCpuList('2-5,7, 3'), [2, 3, 4, 5, 7]);
  assert.deepEqual(allowedCpus('Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n'), [0, 1]);
  assert.equal(allowedCpus('Name:\tnode\n'), null);
  assert.ok((allowedCpus() ?? []).length >= 1, 'this thread may run somewhere');
  assert.deepEqual(controlCpus([0, 1, 2, 3], [1]), [0, 2, 3]);
  assert.equal(controlCpus([1], [1]), null);
  for (const bad of ['', 'a', '1-', '-1', '3-2', '1,,2', '1024', '0-1024', '1.5'])
    assert.equal(parseCpuList(bad), null, bad);
});
