/**
 * The kernel's own IPVS self-test (tools/testing/selftests/net/netfilter/ipvs.sh; ipvs-reference §7),
 * topology and commands as the script runs them, against lvsd: ns0 client, ns1 director, ns2 real
 * server. Each mode carries 32 random bytes from the client through the VIP to the real server with
 * socat and compares them byte for byte. The VIP is private (10.200.44.110) instead of the script's
 * 207.175.44.110. Where the script loads the ipip module (absent here), the real server runs
 * `lvsd realserver up --mode tun`; the director needs no module at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { e2eUnavailable, Lab, sleep, type Netns } from '../helpers/netns.js';

const VIP = '10.200.44.110';
const skip = e2eUnavailable('socat');

interface Topo {
  lab: Lab;
  ns0: Netns;
  ns1: Netns;
  ns2: Netns;
}

function setup(tag: string): Topo {
  const lab = new Lab(tag);
  const ns0 = lab.ns('c');
  const ns1 = lab.ns('d');
  const ns2 = lab.ns('r');
  lab.veth(ns0, 'veth01', ns1, 'veth10');
  lab.veth(ns0, 'veth02', ns2, 'veth20');
  lab.veth(ns1, 'veth12', ns2, 'veth21');
  ns0.sh(
    'ip link set veth01 up; ip link set veth02 up; ip link add br0 type bridge; ' +
      'ip link set veth01 master br0; ip link set veth02 master br0; ip link set br0 up; ' +
      'ip addr add 10.0.0.2/24 dev br0',
  );
  ns1.sh(
    'ip link set veth10 up; ip addr add 10.0.0.1/24 dev veth10; ip link set veth12 up; ip addr add 172.16.0.1/24 dev veth12',
  );
  ns2.sh(
    'ip link set veth21 up; ip addr add 172.16.0.2/24 dev veth21; ip link set veth20 up; ip addr add 10.0.0.3/24 dev veth20',
  );
  return { lab, ns0, ns1, ns2 };
}

/** §7.4: server socat to a file, client socat from a file, cmp. */
async function check(t: Topo): Promise<void> {
  const infile = t.lab.file('in');
  const outfile = t.lab.file('out');
  fs.writeFileSync(infile, crypto.randomBytes(32));
  const server = t.ns2.spawn(`timeout 5 socat -u -4 TCP-LISTEN:8080,reuseaddr STDOUT > ${outfile}`);
  const serverDone = new Promise<number>((r) => server.on('exit', (c) => r(c ?? -1)));
  await sleep(200);
  const client = t.ns0.run(`timeout 2 socat -u -4 STDIN TCP:${VIP}:8080 < ${infile}`, { timeoutMs: 10000 });
  const status = await serverDone;
  const diag = () =>
    `client ${client.status} ${client.stderr}\nserver ${status}\n` +
    `director:\n${t.ns1.run('ipvsadm -L -n --stats; lvsd status').stdout}`;
  assert.equal(client.status, 0, diag());
  assert.deepEqual(fs.readFileSync(outfile), fs.readFileSync(infile), diag());
}

test('ipvs.sh: DR mode', { skip: skip ?? false, timeout: 60000 }, async () => {
  const t = setup('dr');
  try {
    t.ns0.sh(`ip route add ${VIP} via 10.0.0.1 dev br0`);
    t.ns1.sh(
      'sysctl -qw net.ipv4.ip_forward=1; ' +
        `ipvsadm -A -t ${VIP}:8080 -s rr; ipvsadm -a -t ${VIP}:8080 -r 172.16.0.2:8080; ` +
        `ip addr add ${VIP}/32 dev lo:1`,
    );
    t.ns2.sh(
      'sysctl -qw net.ipv4.conf.all.arp_ignore=1; sysctl -qw net.ipv4.conf.all.arp_announce=2; ' +
        'sysctl -qw net.ipv4.conf.all.rp_filter=0; sysctl -qw net.ipv4.conf.veth21.rp_filter=0; ' +
        `ip addr add ${VIP}/32 dev lo:1`,
    );
    await check(t);
  } finally {
    await t.lab.cleanup();
  }
});

test('ipvs.sh: NAT mode', { skip: skip ?? false, timeout: 60000 }, async () => {
  const t = setup('nat');
  try {
    t.ns0.sh(`ip route add ${VIP} via 10.0.0.1 dev br0`);
    t.ns1.sh(
      'sysctl -qw net.ipv4.ip_forward=1; ' +
        `ipvsadm -A -t ${VIP}:8080 -s rr; ipvsadm -a -m -t ${VIP}:8080 -r 172.16.0.2:8080; ` +
        `ip addr add ${VIP}/32 dev lo:1`,
    );
    t.ns2.sh('ip link del veth20; ip route add default via 172.16.0.1 dev veth21');
    await check(t);
  } finally {
    await t.lab.cleanup();
  }
});

test(
  'ipvs.sh: Tunnel mode (real server decapsulates with lvsd realserver)',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const t = setup('tun');
    try {
      t.ns0.sh(`ip route add ${VIP} via 10.0.0.1 dev br0`);
      // The script's `modprobe -q ipip; ip link set tunl0 up` on the director: lvsd encapsulates in
      // userspace and needs neither (the module is absent on this kernel, so tunl0 does not exist).
      t.ns1.run('modprobe -q ipip');
      t.ns1.sh(
        'sysctl -qw net.ipv4.ip_forward=0; sysctl -qw net.ipv4.conf.all.send_redirects=0; ' +
          'sysctl -qw net.ipv4.conf.default.send_redirects=0; ' +
          `ipvsadm -A -t ${VIP}:8080 -s rr; ipvsadm -a -i -t ${VIP}:8080 -r 172.16.0.2:8080; ` +
          `ip addr add ${VIP}/32 dev lo:1`,
      );
      t.ns2.sh(
        `lvsd realserver up --vip ${VIP} --mode tun; ` +
          'sysctl -qw net.ipv4.conf.all.arp_ignore=1; sysctl -qw net.ipv4.conf.all.arp_announce=2; ' +
          'sysctl -qw net.ipv4.conf.all.rp_filter=0; sysctl -qw net.ipv4.conf.veth21.rp_filter=0',
      );
      await check(t);
      t.ns2.sh(`lvsd realserver down --vip ${VIP}`);
    } finally {
      await t.lab.cleanup();
    }
  },
);
