/**
 * The daemon's life in a namespace: started by the first table change, captures interfaces that
 * appear later, removes its nftables table on `lvsd stop` and on SIGTERM, replaces a stale table at
 * start, refuses non-root peers, and exits by itself when the namespace has no interface left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RX_RING_FRAMES } from '../../src/io/afpacket.js';
import fs from 'node:fs';
import { Lab, netnsUnavailable, sleep, type Netns } from '../helpers/netns.js';
import { stateDir } from '../../src/daemon/paths.js';
import { allowedCpus, parseCpuList } from '../../src/daemon/cpus.js';

const skip = netnsUnavailable();

async function until(what: string, f: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function daemonPids(ns: Netns): number[] {
  return ns.pids().filter((p) => {
    try {
      return ns.sh(`cat /proc/${p}/cmdline | tr '\\0' ' '`).includes('bin/lvsd');
    } catch {
      return false;
    }
  });
}

function captured(ns: Netns): string[] {
  const st = JSON.parse(ns.sh('lvsd status --json')) as { dataplane: { captured: { name: string }[] } };
  return st.dataplane.captured.map((c) => c.name).sort();
}

test(
  'daemon lifecycle: auto-start, later interfaces, clean stop, stale table, exit without interfaces',
  { skip: skip ?? false, timeout: 120000 },
  async () => {
    const lab = new Lab('life');
    try {
      const d = lab.ns('d');
      const p = lab.ns('p');
      lab.veth(d, 'eth0', p, 'eth0');
      d.sh('ip link set eth0 up; ip addr add 10.71.0.1/24 dev eth0; ip addr add 10.71.0.100/32 dev eth0');
      // a stale table from a crashed run must be replaced, not duplicated
      d.sh('nft add table netdev lvsd; nft add chain netdev lvsd stale');

      assert.match(d.sh('ipvsadm -L -n'), /^IP Virtual Server version/, 'read-only: no daemon needed');
      assert.deepEqual(daemonPids(d), [], 'ipvsadm -L does not start a daemon');
      d.sh('ipvsadm -A -t 10.71.0.100:80 -s rr');
      assert.equal(daemonPids(d).length, 1, 'the first table change starts exactly one daemon');
      assert.deepEqual(captured(d), ['eth0']);
      const tables = d.sh('nft list table netdev lvsd');
      assert.doesNotMatch(tables, /chain stale/, 'stale table replaced');
      assert.match(tables, /10\.71\.0\.100 \. tcp \. 80/);

      // an interface that appears later is captured and steered
      lab.veth(d, 'eth1', p, 'eth1');
      d.sh('ip link set eth1 up');
      await until('eth1 captured', () => captured(d).includes('eth1'));
      await until('eth1 steered', () => d.sh('nft list table netdev lvsd').includes('"eth1"'));

      // only root may drive it
      const r = d.run('setpriv --reuid=65534 --regid=65534 --clear-groups lvsd status');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /you must be root|Permission denied/);

      // lvsd stop: nothing left
      d.sh('lvsd stop');
      assert.deepEqual(daemonPids(d), []);
      assert.equal(d.sh('nft list tables'), '');
      assert.match(d.run('lvsd status').stderr, /not running/);

      // SIGTERM: the same. The table outlived the stop (restart.test.ts): `lvsd start` brings it back.
      d.sh('lvsd start');
      assert.match(d.sh('ipvsadm -S -n'), /^-A -t 10\.71\.0\.100:80 -s rr$/m, 'table restored');
      const [pid] = daemonPids(d);
      assert.ok(pid);
      process.kill(pid, 'SIGTERM');
      await until('daemon gone after SIGTERM', () => daemonPids(d).length === 0);
      assert.equal(d.sh('nft list tables'), '');

      // no non-loopback interface left: the daemon exits by itself
      d.sh('lvsd start');
      assert.equal(daemonPids(d).length, 1);
      d.sh('ip link del eth0; ip link del eth1');
      await until('daemon exits without interfaces', () => daemonPids(d).length === 0);
      assert.equal(d.sh('nft list tables'), '');
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'ipvsadm -S, restore into a fresh daemon with -R, save again: identical',
  { skip: skip ?? false, timeout: 90000 },
  async () => {
    const lab = new Lab('save');
    try {
      const d = lab.ns('d');
      const p = lab.ns('p');
      lab.veth(d, 'eth0', p, 'eth0');
      d.sh(
        'ip link set eth0 up; ip addr add 10.72.0.1/24 dev eth0; ip addr add 10.72.0.100/32 dev eth0; ip addr add fd00:72::1/64 dev eth0 nodad',
      );
      d.sh(
        [
          'ipvsadm -A -t 10.72.0.100:80 -s wrr',
          'ipvsadm -a -t 10.72.0.100:80 -r 10.72.0.11:8080 -m -w 3',
          'ipvsadm -a -t 10.72.0.100:80 -r 10.72.0.12:8080 -m -w 1',
          'ipvsadm -A -u 10.72.0.100:53 -s sh -b sh-port -o',
          'ipvsadm -a -u 10.72.0.100:53 -r 10.72.0.13 -g',
          'ipvsadm -A -t 10.72.0.100:0 -s wlc -p 600 -M 255.255.255.0',
          'ipvsadm -a -t 10.72.0.100:0 -r 10.72.0.14 -i --tun-type gue --tun-port 6080 --tun-csum',
          'ipvsadm -A -t [fd00:72::100]:443 -s mh',
          'ipvsadm -a -t [fd00:72::100]:443 -r [fd00:72::11]:443 -m -x 100 -y 50',
          'ipvsadm -A -f 7 -s lc',
          'ipvsadm -a -f 7 -r 10.72.0.15:0 -g -w 0',
          'ipvsadm --set 1000 100 200',
        ].join('\n'),
      );
      const saved = d.sh('ipvsadm -S -n');
      assert.match(saved, /-A -t 10\.72\.0\.100:80 -s wrr/);
      const timeouts = d.sh('ipvsadm -L --timeout');
      d.sh('lvsd stop');
      assert.equal(d.sh('ipvsadm -S -n'), '', 'no daemon: empty table');
      // a fresh daemon: the saved table (which `lvsd stop` keeps) removed, as after a reboot
      const savedState = `${stateDir(fs.statSync(`/run/netns/${d.name}`).ino)}/table.json`;
      assert.ok(fs.existsSync(savedState), savedState);
      fs.rmSync(savedState);
      d.sh('ipvsadm -R', { input: saved });
      assert.equal(d.sh('ipvsadm -S -n'), saved);
      assert.equal(
        d.sh('ipvsadm -L --timeout'),
        'Timeout (tcp tcpfin udp): 900 120 300\n',
        'timeouts are not part of -S',
      );
      assert.equal(timeouts, 'Timeout (tcp tcpfin udp): 1000 100 200\n');
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'lvsd --rx-ring: each captured interface receives through a mapped ring by default, --rx-ring 0 through the socket queue',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const lab = new Lab('ring');
    try {
      const d = lab.ns('d');
      const p = lab.ns('p');
      lab.veth(d, 'eth0', p, 'eth0');
      lab.veth(d, 'eth1', p, 'eth1');
      d.sh('ip link set eth0 up; ip link set eth1 up; ip addr add 10.73.0.1/24 dev eth0');
      p.sh('ip link set eth0 up; ip addr add 10.73.0.2/24 dev eth0');
      const ringMaps = (pid: number): number =>
        fs
          .readFileSync(`/proc/${pid}/maps`, 'utf8')
          .split('\n')
          .filter((l) => / socket:\[\d+\]$/.test(l)).length;
      for (const [args, rings, shown] of [
        ['', 2, `(receive ring: ${DEFAULT_RX_RING_FRAMES} frames per interface)`],
        ['--rx-ring 0', 0, '(recvmmsg)'],
      ] as const) {
        assert.match(d.sh(`lvsd start ${args}`), /lvsd started/);
        const [pid] = daemonPids(d);
        assert.ok(pid);
        const status = d.sh('lvsd status');
        assert.ok(status.includes(`driver:      afpacket ${shown}`), status);
        assert.equal(ringMaps(pid), rings, status);
        // service frames still reach lvsd (a SYN to a service without real servers: counted, dropped)
        d.sh('ipvsadm -A -t 10.73.0.1:80 -s rr');
        p.run('curl -s --max-time 1 http://10.73.0.1/');
        assert.ok(Number(/frames received: (\d+)/.exec(d.sh('lvsd status'))?.[1]) > 0, d.sh('lvsd status'));
        d.sh('ipvsadm -C');
        d.sh('lvsd stop');
      }
    } finally {
      await lab.cleanup();
    }
  },
);

test(
  'lvsd --dataplane-cpu: the data-plane thread runs alone on its CPU, every other thread on the rest',
  {
    skip: skip ?? (!(allowedCpus() ?? []).includes(1) ? 'needs CPU 1' : false),
    timeout: 60000,
  },
  async () => {
    const lab = new Lab('cpu');
    try {
      const d = lab.ns('d');
      const p = lab.ns('p');
      lab.veth(d, 'eth0', p, 'eth0');
      d.sh('ip link set eth0 up; ip addr add 10.72.0.1/24 dev eth0');
      assert.match(d.sh('lvsd start --dataplane-cpu 1'), /lvsd started/);
      const [pid] = daemonPids(d);
      assert.ok(pid);
      const threads = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
        const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        return {
          name: fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
          cpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)![1],
        };
      });
      const dataplane = threads.filter((t) => t.name === 'lvsd-dataplane');
      assert.equal(dataplane.length, 1, JSON.stringify(threads));
      assert.equal(dataplane[0]!.cpus, '1');
      for (const t of threads.filter((x) => x.name !== 'lvsd-dataplane'))
        assert.ok(!(parseCpuList(t.cpus!) ?? [1]).includes(1), `${t.name} stays off CPU 1: ${t.cpus}`);
      assert.match(d.sh('lvsd status'), /data-plane CPUs: 1$/m);
      assert.deepEqual(
        (JSON.parse(d.sh('lvsd status --json')) as { dataplane: { cpus: number[] } }).dataplane.cpus,
        [1],
      );
      d.sh('lvsd stop');
    } finally {
      await lab.cleanup();
    }
  },
);
