/**
 * Byte-exact listings of the drop-in ipvsadm against golden files made independently from the
 * reference printf formats (test/fixtures/ipvsadm/make-fixtures.py; every file checked by hand
 * against ipvs-reference §2), for a table with TCP/UDP/SCTP/fwmark services, IPv6, every forwarding
 * method and tunnel type, and injected counters and rates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { executeIpvsadm, type IpvsadmContext } from '../../src/cli/ipvsadm/index.js';
import { NAMES, run } from './ipvsadm-helpers.js';
import { Director } from '../../src/core/director.js';
import { makeTopo } from '../helpers/topo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixture = (name: string): string =>
  readFileSync(path.join(root, 'test/fixtures/ipvsadm', name), 'utf8');

/** The configuration of make-fixtures.py TABLE, as ipvsadm commands (some in non-canonical spellings). */
export const CONFIG: readonly string[] = [
  '-A -t 10.0.0.100:80 -s rr',
  '-a -t 10.0.0.100:80 -r 172.16.0.3:80 -m -w 2',
  '-a -t 10.0.0.100:80 -r 172.16.0.2 -m',
  '-a -t vip:www -r 10.0.0.1:80 -m -w 0',
  '-A -t 10.0.0.100:443 -p -M 255.255.255.0',
  '-a -t 10.0.0.100:443 -r 172.16.0.4:8443 -g -w 5',
  '-A -t 10.0.0.100:8080 -s lc',
  '-a -t 10.0.0.100:8080 -r 198.51.100.8 -i --tun-type gre --tun-csum -w 3',
  '--add-server --tcp-service 10.0.0.100:8080 --real-server=198.51.100.7:8080 --ipip',
  '-A -u 10.0.0.100:domain -s sh -b sh-fallback,sh-port -o',
  '-a -u 10.0.0.100:53 -r 172.16.0.3:5353 -m -x 100 -y 50',
  '-a -u 10.0.0.100:53 -r 172.16.0.2 -m -w 3',
  '-A --sctp-service 10.0.0.100:9999 -s rr',
  '-a --sctp-service 10.0.0.100:9999 -r 172.16.0.2:9999 -m',
  '-A -t [2001:db8:1::100]:80 -s mh -b mh-port',
  '-a -t [2001:db8:1::100]:80 -r [2001:db8:2::3]:8080 -m',
  '-a -t [2001:db8:1::100]:80 -r [2001:db8:2::4]:80 -g -w 4',
  '-a -t [2001:db8:1::100]:80 -r 198.51.100.9 -i --tun-type gue --tun-port 6080 --tun-remcsum',
  '-A -f 1 -s wlc -p 600',
  '-a -f 1 -r 172.16.0.4:0 -g',
  '-a -f 1 -r 198.51.100.10 -i -w 2',
  '-A -f 2 -6 -s rr -p 120 -M 64',
  '-a -f 2 -6 -r [2001:db8:2::2]:0 -g',
  '-A -u 10.0.0.100:5060 -s rr -p 30 --pe sip',
  '-a -u 10.0.0.100:5060 -r 172.16.0.2:5060 -m',
  '-A -t 10.0.0.100:25 -s wrr',
  '-A -t 10.0.0.100:3306 -s rr --laddr 192.168.50.1,192.168.50.2',
  '-a -t 10.0.0.100:3306 -r 172.16.0.4:3306 --fullnat',
];

/** The golden table with the counters of make-fixtures.py (ST_RS2, ST_RS3, one rate period). */
function goldenDirector(): { d: Director; ctx: IpvsadmContext } {
  const { d } = makeTopo();
  const ctx: IpvsadmContext = { director: d, nowMs: 1000, names: NAMES };
  for (const line of CONFIG) {
    const r = executeIpvsadm(line.split(' '), ctx);
    assert.equal(r.stderr, '', line);
    assert.equal(r.code, 0, line);
    assert.equal(r.changed, true, line);
  }
  const svc = d.services.getService({ af: 4, proto: 6, addr: [0x0a000064], port: 80 })!;
  const rs2 = svc.dests.find((x) => x.addr[0] === 0xac100002)!.id;
  const rs3 = svc.dests.find((x) => x.addr[0] === 0xac100003)!.id;
  const s = d.stats;
  // ST_RS2 = (3, 100000000, 5, 123456789, 98765432109)
  for (let i = 0; i < 3; i++) s.countConn(svc.id, rs2);
  s.countIn(svc.id, rs2, 123456789, 100000000);
  s.countOut(svc.id, rs2, 98765432109, 5);
  // ST_RS3 = (2, 7, 99999999, 123456789012345, 0)
  for (let i = 0; i < 2; i++) s.countConn(svc.id, rs3);
  s.countIn(svc.id, rs3, 123456789012345, 7);
  s.countOut(svc.id, rs3, 0, 99999999);
  // one estimator period with (100, 1000, 900, 1000000, 2000000) on rs2
  d.sync();
  d.rates.tick(1000);
  for (let i = 0; i < 100; i++) s.countConn(svc.id, rs2);
  s.countIn(svc.id, rs2, 1000000, 1000);
  s.countOut(svc.id, rs2, 2000000, 900);
  assert.equal(d.rates.tick(3000), true);
  return { d, ctx };
}

test('empty table: header lines only, as IPVS prints with no services', () => {
  const ctx: IpvsadmContext = { director: new Director(), nowMs: 0, names: NAMES };
  assert.equal(run(ctx, '-L -n'), fixture('empty-list.txt'));
  assert.equal(run(ctx, '-L'), fixture('empty-list.txt'));
  assert.equal(run(ctx, ''), fixture('empty-list.txt'), 'ipvsadm alone lists');
  assert.equal(run(ctx, '-l --stats'), fixture('empty-stats.txt'));
  assert.equal(run(ctx, '-S'), '');
  assert.equal(run(ctx, '-S -n'), '');
  assert.equal(run(ctx, '-L --timeout'), 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.equal(run(ctx, '-L --daemon'), '');
  assert.equal(
    run(ctx, '-L -c -n'),
    'IPVS connection entries\npro expire state       source             virtual            destination\n',
  );
});

test('golden listings: -L -n, names, --stats, --exact, --rate, --thresholds, --persistent-conn, --tun-info', () => {
  const { ctx } = goldenDirector();
  assert.equal(run(ctx, '-L -n'), fixture('list-n.txt'));
  assert.equal(run(ctx, '-Ln --sort'), fixture('list-n.txt'), '--sort is a no-op');
  assert.equal(run(ctx, '--list --numeric'), fixture('list-n.txt'));
  assert.equal(run(ctx, '-L'), fixture('list-names.txt'));
  assert.equal(run(ctx, ''), fixture('list-names.txt'));
  assert.equal(run(ctx, '-L -n --stats'), fixture('stats-n.txt'));
  assert.equal(run(ctx, '-L -n --stats --exact'), fixture('stats-exact-n.txt'));
  assert.equal(run(ctx, '-L -n --rate'), fixture('rate-n.txt'));
  assert.equal(run(ctx, '-L -n --thresholds'), fixture('thresholds-n.txt'));
  assert.equal(run(ctx, '-L -n --persistent-conn'), fixture('persistent-conn-n.txt'));
  assert.equal(run(ctx, '-L -n --tun-info'), fixture('tun-info-n.txt'));
  // output precedence stats > rate > thresholds > persistent-conn (§1.6)
  assert.equal(run(ctx, '-L -n --thresholds --rate --stats'), fixture('stats-n.txt'));
});

test('golden: one service (no version header), by number and by name', () => {
  const { ctx } = goldenDirector();
  assert.equal(run(ctx, '-L -n -t 10.0.0.100:80'), fixture('list-one-n.txt'));
  assert.equal(run(ctx, '-l -t vip:http --stats'), fixture('list-one-stats.txt'));
});

test('golden: -S -n and -S', () => {
  const { ctx } = goldenDirector();
  assert.equal(run(ctx, '-S -n'), fixture('save-n.txt'));
  assert.equal(run(ctx, '--save'), fixture('save-names.txt'));
});

test('save, restore into an empty director, save again: identical', () => {
  const { ctx } = goldenDirector();
  const saved = run(ctx, '-S -n');
  const { d: d2 } = makeTopo();
  const ctx2: IpvsadmContext = { director: d2, nowMs: 0, names: NAMES, stdin: saved };
  const r = executeIpvsadm(['-R'], ctx2);
  assert.deepEqual(r, { stdout: '', stderr: '', code: 0, changed: true });
  assert.equal(run(ctx2, '-S -n'), saved);
  assert.equal(run(ctx2, '-L -n'), fixture('list-n.txt'), 'the restored table lists as the original');
  // the name form restores too (IPv4 names resolve through the hosts table; ipvsadm-restore input
  // may also carry the program name)
  const ipv4Only = run(ctx, '-S')
    .split('\n')
    .filter((l) => !l.includes('['))
    .map((l) => (l === '' ? l : `ipvsadm ${l}`))
    .join('\n');
  const { d: d3 } = makeTopo();
  const ctx3: IpvsadmContext = { director: d3, nowMs: 0, names: NAMES, stdin: ipv4Only };
  assert.equal(executeIpvsadm(['--restore'], ctx3).code, 0);
  assert.equal(
    run(ctx3, '-S -n'),
    saved
      .split('\n')
      .filter((l) => !l.includes('['))
      .join('\n'),
  );
});

test('-Z zeroes counters and rates of one service or of all; the table is unchanged', () => {
  const { d, ctx } = goldenDirector();
  const g = d.services.generation;
  const z = executeIpvsadm(['-Z', '-t', '10.0.0.100:80'], ctx);
  assert.deepEqual(z, { stdout: '', stderr: '', code: 0, changed: false });
  assert.equal(d.services.generation, g);
  const stats = run(ctx, '-L -n --stats');
  assert.equal(stats.split('\n').filter((l) => /\s[1-9]/.test(l.slice(33))).length, 0, stats);
  assert.equal(
    run(ctx, '-L -n --rate')
      .split('\n')
      .filter((l) => /\s[1-9]/.test(l.slice(33))).length,
    0,
  );
  assert.equal(run(ctx, '-Z'), '');
});

test('--set changes the timeouts (0 keeps one) and --timeout shows them', () => {
  const ctx: IpvsadmContext = { director: new Director(), nowMs: 0, names: NAMES };
  const r = executeIpvsadm(['--set', '3600', '0', '60'], ctx);
  assert.deepEqual(r, { stdout: '', stderr: '', code: 0, changed: true });
  assert.equal(run(ctx, '-L --timeout'), 'Timeout (tcp tcpfin udp): 3600 120 60\n');
  assert.equal(executeIpvsadm(['--set', '0', '0', '0'], ctx).changed, false);
});

test('--daemon lists the sync daemons it is given (master first)', () => {
  const ctx: IpvsadmContext = {
    director: new Director(),
    nowMs: 0,
    names: NAMES,
    syncDaemons: [
      { state: 'backup', mcastIfn: 'eth1', syncid: 0 },
      { state: 'master', mcastIfn: 'eth0', syncid: 1, maxlen: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
    ],
  };
  assert.equal(
    run(ctx, '-L --daemon'),
    'master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=eth1, syncid=0)\n',
  );
});
