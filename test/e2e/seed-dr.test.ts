/**
 * The seed tutorial's DR deployment (../shared/seed/lvs-tutorial.zh.md), typed as it is written:
 * one L2 segment 192.168.1.0/24 (a bridge in its own namespace), the director with the VIP on eth0
 * (`label eth0:0`), ip_forward, `ipvsadm -A -t VIP:80 -s rr` and two `-g` real servers; each real
 * server with the VIP on lo, `ifconfig lo up` and the four ARP sysctls. A client on the segment makes
 * 100 HTTP requests with curl: rr splits them 50/50, and `ipvsadm -L -n` / `--stats` show it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eUnavailable, Lab, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';

const skip = e2eUnavailable('curl', 'nginx', 'ifconfig');

test(
  'seed tutorial: DR with two real servers, verbatim commands, 100 requests split 50/50',
  { skip: skip ?? false, timeout: 120000 },
  async () => {
    const lab = new Lab('seed');
    try {
      const sw = lab.ns('sw');
      const hosts: Record<string, Netns> = {
        client: lab.ns('cl'),
        director: lab.ns('dir'),
        rs1: lab.ns('rs1'),
        rs2: lab.ns('rs2'),
      };
      sw.sh('ip link add br0 type bridge; ip link set br0 up');
      const ips: Record<string, string> = {
        client: '192.168.1.50',
        director: '192.168.1.10',
        rs1: '192.168.1.101',
        rs2: '192.168.1.102',
      };
      let k = 0;
      for (const [name, ns] of Object.entries(hosts)) {
        const port = `p${k++}`;
        lab.veth(ns, 'eth0', sw, port);
        sw.sh(`ip link set ${port} master br0; ip link set ${port} up`);
        ns.sh(`ip link set eth0 up; ip addr add ${ips[name]}/24 dev eth0`);
      }
      const { director, rs1, rs2, client } = hosts as Record<'client' | 'director' | 'rs1' | 'rs2', Netns>;

      // Real servers (seed: VIP on lo, lo up, the four ARP sysctls), each serving its own name.
      for (const [name, rs] of [
        ['rs1', rs1],
        ['rs2', rs2],
      ] as const) {
        rs.sh(
          [
            'ip addr add 192.168.1.100/32 dev lo',
            'ifconfig lo up',
            'echo 1 > /proc/sys/net/ipv4/conf/lo/arp_ignore',
            'echo 2 > /proc/sys/net/ipv4/conf/lo/arp_announce',
            'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
            'echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce',
          ].join('\n'),
        );
        startNginx(lab, rs, { listen: ['192.168.1.100:80', `${ips[name]}:80`], body: name });
      }

      // Director (seed, "method 1": the VIP as eth0:0), then the LVS commands.
      director.sh(
        [
          'ip addr add 192.168.1.100/24 dev eth0 label eth0:0',
          'echo 1 > /proc/sys/net/ipv4/ip_forward',
          'ipvsadm -A -t 192.168.1.100:80 -s rr',
          'ipvsadm -a -t 192.168.1.100:80 -r 192.168.1.101:80 -g',
          'ipvsadm -a -t 192.168.1.100:80 -r 192.168.1.102:80 -g',
        ].join('\n'),
      );

      const counts: Record<string, number> = {};
      const out = client.sh(
        'for i in $(seq 1 100); do curl -s --max-time 3 http://192.168.1.100/ || echo FAIL; done',
        { timeoutMs: 90000 },
      );
      for (const line of out.trim().split('\n')) counts[line] = (counts[line] ?? 0) + 1;
      const diag = `${JSON.stringify(counts)}\n${director.run('ipvsadm -L -n --stats; lvsd status').stdout}`;
      assert.deepEqual(counts, { rs1: 50, rs2: 50 }, diag);

      const list = director.sh('ipvsadm -L -n');
      assert.match(list, /^IP Virtual Server version 1\.2\.1 \(size=4096\)\n/);
      assert.match(list, /\nTCP {2}192\.168\.1\.100:80 rr\n/);
      assert.match(list, /\n {2}-> 192\.168\.1\.101:80 {13}Route {3}1 {6}\d+ {10}\d+ *\n/);
      assert.match(list, /\n {2}-> 192\.168\.1\.102:80 {13}Route {3}1 {6}\d+ {10}\d+ *\n/);

      const stats = director.sh('ipvsadm -L -n --stats');
      const svc = stats.match(/\nTCP {2}192\.168\.1\.100:80 +(\d+) +(\d+) +(\d+)/);
      assert.ok(svc, stats);
      assert.equal(Number(svc[1]), 100, stats);
      const dests = [...stats.matchAll(/\n {2}-> 192\.168\.1\.10[12]:80 +(\d+) +(\d+) +(\d+)/g)].map((m) =>
        Number(m[1]),
      );
      assert.deepEqual(dests, [50, 50], stats);
      // DR: replies bypass the director, so it counts only inbound packets and bytes
      assert.equal(Number(svc[3]), 0, stats);
    } finally {
      await lab.cleanup();
    }
  },
);
