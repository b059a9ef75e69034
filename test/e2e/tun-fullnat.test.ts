/**
 * TUN (ipip and gue) with real servers "anywhere", and FullNAT with a real server that has no route
 * back through the director (issue 3, end-to-end test 4).
 *
 * TUN topology: the real servers sit on 10.3.0.0/24 behind a router namespace; the director reaches
 * them only through a route via that router. The director encapsulates (ipvs-reference: IPIP, or GUE
 * over UDP port 6080) toward the real server's address; `lvsd realserver up --mode tun` decapsulates
 * there, and the reply (source VIP) goes by the real server's default route to the router and from it
 * straight to the client's second interface, never through the director: the director runs with
 * ip_forward=0 (it could not forward the replies even if they came), and its service counts no
 * outbound packets.
 *
 * FullNAT topology: the real servers share a segment with the director and have no route except their
 * own subnet, so they cannot reach the client. The director rewrites both addresses: the real server
 * sees the connection from one of the service's local addresses (--laddr, addresses of the director on
 * that segment) and answers it there. The same servers in NAT (-m) mode get no answer through: that
 * control shows the missing route is real.
 *
 * Each case: nginx on both real servers; a client makes HTTP requests (rr splits them evenly, each
 * server answering its own name) and fetches a 256 KiB random file compared byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { e2eUnavailable, Lab, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';
import {
  agentInjected,
  curlSplit,
  directorDiag,
  expectEqual,
  expectFetch,
  expectOk,
} from '../helpers/traffic.js';

const VIP = '10.200.0.100';
const skip = e2eUnavailable('curl', 'nginx');

interface Site {
  lab: Lab;
  client: Netns;
  director: Netns;
  rs: Netns[];
  blob: Buffer;
}

/** Turn off reverse-path filtering in ns (the kernel applies max(all, dev)). */
function noRpFilter(ns: Netns): void {
  ns.sh('for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done');
}

/** nginx on each real server: GET / answers the server's name (and, FullNAT, who connected). */
function serve(site: Site, listen: (i: number) => string[], body: (i: number) => string): void {
  site.rs.forEach((rs, i) =>
    startNginx(site.lab, rs, { listen: listen(i), body: body(i), files: { blob: site.blob } }),
  );
}

/** Requests split over the two servers and the random file arriving intact. */
function checkTraffic(site: Site, expect: Record<string, number>, requests: number): void {
  const counts = curlSplit(site.client, `http://${VIP}/`, requests);
  expectEqual(counts, expect, () => `${JSON.stringify(counts)}\n${directorDiag(site.director)}`);
  expectFetch(site.client, `http://${VIP}/files/blob`, site.lab.file('fetched'), site.blob, () =>
    directorDiag(site.director),
  );
}

/**
 * client eth0 10.1.0.2 -- director eth0 10.1.0.1 | director eth1 10.2.0.1 -- router eth0 10.2.0.2 |
 * router br0 10.3.0.1 (rs1 10.3.0.11, rs2 10.3.0.12) | router eth2 10.4.0.1 -- client eth1 10.4.0.2.
 */
function tunSite(tag: string): Site {
  const lab = new Lab(tag);
  const client = lab.ns('cl');
  const director = lab.ns('dir');
  const router = lab.ns('rt');
  const rs = [lab.ns('rs1'), lab.ns('rs2')];
  lab.veth(client, 'eth0', director, 'eth0');
  lab.veth(director, 'eth1', router, 'eth0');
  lab.veth(router, 'eth2', client, 'eth1');
  client.sh(
    'ip link set eth0 up; ip addr add 10.1.0.2/24 dev eth0; ip link set eth1 up; ip addr add 10.4.0.2/24 dev eth1; ' +
      `ip route add ${VIP}/32 via 10.1.0.1`,
  );
  // Replies from the VIP arrive on eth1 while the route to the VIP leaves by eth0.
  noRpFilter(client);
  director.sh(
    'ip link set eth0 up; ip addr add 10.1.0.1/24 dev eth0; ip link set eth1 up; ip addr add 10.2.0.1/24 dev eth1; ' +
      'ip route add 10.3.0.0/24 via 10.2.0.2; sysctl -qw net.ipv4.ip_forward=0; ' +
      `ip addr add ${VIP}/32 dev lo`,
  );
  router.sh(
    'ip link set eth0 up; ip addr add 10.2.0.2/24 dev eth0; ip link set eth2 up; ip addr add 10.4.0.1/24 dev eth2; ' +
      'ip link add br0 type bridge; ip link set br0 up; ip addr add 10.3.0.1/24 dev br0; ' +
      'ip route add 10.1.0.0/24 via 10.4.0.2; sysctl -qw net.ipv4.ip_forward=1',
  );
  noRpFilter(router);
  rs.forEach((r, i) => {
    lab.veth(r, 'eth0', router, `p${i}`);
    router.sh(`ip link set p${i} master br0; ip link set p${i} up`);
    r.sh(`ip link set eth0 up; ip addr add 10.3.0.1${i + 1}/24 dev eth0; ip route add default via 10.3.0.1`);
  });
  return { lab, client, director, rs, blob: crypto.randomBytes(256 * 1024) };
}

async function tunCase(tag: string, tunType: 'ipip' | 'gue', destOpts: [string, string]): Promise<void> {
  const rsUp = tunType === 'gue' ? ' --tun-type gue --tun-port 6080' : '';
  const site = tunSite(tag);
  try {
    for (const rs of site.rs) rs.sh(`lvsd realserver up --vip ${VIP} --mode tun${rsUp}`);
    serve(
      site,
      () => [`${VIP}:80`],
      (i) => `rs${i + 1}`,
    );
    site.director.sh(
      `ipvsadm -A -t ${VIP}:80 -s rr; ` +
        `ipvsadm -a -t ${VIP}:80 -r 10.3.0.11:80 -i ${destOpts[0]}; ` +
        `ipvsadm -a -t ${VIP}:80 -r 10.3.0.12:80 -i ${destOpts[1]}`,
    );
    checkTraffic(site, { rs1: 5, rs2: 5 }, 10);

    const list = site.director.sh('ipvsadm -L -n');
    assert.match(list, /\n {2}-> 10\.3\.0\.11:80 +Tunnel +1 /, list);
    assert.match(list, /\n {2}-> 10\.3\.0\.12:80 +Tunnel +1 /, list);
    const stats = site.director.sh('ipvsadm -L -n --stats');
    const svc = stats.match(/\nTCP {2}10\.200\.0\.100:80 +(\d+) +(\d+) +(\d+)/);
    assert.ok(svc, stats);
    assert.equal(Number(svc[1]), 11, stats); // 10 requests + the file
    assert.ok(Number(svc[2]) >= 11 * 3, stats); // at least SYN, ACK+request, FIN per connection
    // the replies went straight from the real servers to the client
    assert.equal(Number(svc[3]), 0, stats);
    // each real server decapsulated its share (at least SYN, ACK and request of 5 connections)
    for (const rs of site.rs) {
      const a = await agentInjected(rs, 15);
      assert.equal(a.type, tunType, a.status);
      assert.ok(a.injected >= 15, a.status);
    }
    for (const rs of site.rs) rs.sh('lvsd realserver down');
  } finally {
    await site.lab.cleanup();
  }
}

test(
  'TUN ipip: real servers behind a router, replies straight to the client',
  { skip: skip ?? false, timeout: 60000 },
  () => tunCase('tip', 'ipip', ['', '']),
);

test(
  'TUN gue (port 6080, one server with checksums, one without): real servers behind a router',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    await tunCase('tgue', 'gue', [
      '--tun-type gue --tun-port 6080 --tun-csum',
      '--tun-type gue --tun-port 6080 --tun-nocsum',
    ]);
  },
);

test(
  'FullNAT: a real server with no route to the client answers the director local addresses',
  { skip: skip ?? false, timeout: 60000 },
  async () => {
    const lab = new Lab('fnat');
    try {
      const client = lab.ns('cl');
      const director = lab.ns('dir');
      const sw = lab.ns('sw');
      const rs = [lab.ns('rs1'), lab.ns('rs2')];
      lab.veth(client, 'eth0', director, 'eth0');
      lab.veth(director, 'eth1', sw, 'pd');
      sw.sh('ip link add br0 type bridge; ip link set br0 up; ip link set pd master br0; ip link set pd up');
      client.sh(`ip link set eth0 up; ip addr add 10.1.0.2/24 dev eth0; ip route add ${VIP}/32 via 10.1.0.1`);
      // 10.3.0.100 and .101 are the FullNAT local addresses: the director's own, so its kernel answers
      // ARP for them; lvsd steers the real servers' replies to them away from the kernel.
      director.sh(
        'ip link set eth0 up; ip addr add 10.1.0.1/24 dev eth0; ip link set eth1 up; ip addr add 10.3.0.1/24 dev eth1; ' +
          'ip addr add 10.3.0.100/24 dev eth1; ip addr add 10.3.0.101/24 dev eth1; ' +
          `sysctl -qw net.ipv4.ip_forward=1; ip addr add ${VIP}/32 dev lo`,
      );
      rs.forEach((r, i) => {
        lab.veth(r, 'eth0', sw, `p${i}`);
        sw.sh(`ip link set p${i} master br0; ip link set p${i} up`);
        r.sh(`ip link set eth0 up; ip addr add 10.3.0.1${i + 1}/24 dev eth0`);
        const routes = r.sh('ip -4 route show');
        assert.equal(
          routes.trim(),
          `10.3.0.0/24 dev eth0 proto kernel scope link src 10.3.0.1${i + 1}`,
          routes,
        );
      });
      const site: Site = { lab, client, director, rs, blob: crypto.randomBytes(256 * 1024) };
      serve(
        site,
        (i) => [`10.3.0.1${i + 1}:80`],
        (i) => `rs${i + 1} from $remote_addr`,
      );

      // Control: plain NAT cannot work here, the real servers have no route to 10.1.0.2.
      director.sh(
        `ipvsadm -A -t ${VIP}:80 -s rr --laddr 10.3.0.100,10.3.0.101; ` +
          `ipvsadm -a -t ${VIP}:80 -r 10.3.0.11:80 -m; ipvsadm -a -t ${VIP}:80 -r 10.3.0.12:80 -m`,
      );
      const nat = client.run(`curl -s --max-time 2 http://${VIP}/`);
      expectOk(
        nat.status !== 0,
        () => `NAT answered without a route back: ${nat.stdout}\n${directorDiag(director)}`,
      );

      director.sh(
        `ipvsadm -e -t ${VIP}:80 -r 10.3.0.11:80 --fullnat; ipvsadm -e -t ${VIP}:80 -r 10.3.0.12:80 --fullnat`,
      );
      const counts = curlSplit(client, `http://${VIP}/`, 20);
      const diag = () => `${JSON.stringify(counts)}\n${directorDiag(director)}`;
      // rr alternates the servers and the local address pool alternates too: each request is one
      // server seeing one of the two local addresses, never the client.
      const perServer = [0, 0];
      const laddrs = new Set<string>();
      for (const [body, n] of Object.entries(counts)) {
        const m = body.match(/^rs([12]) from (10\.3\.0\.10[01])$/);
        expectOk(m, () => `unexpected answer '${body}'\n${diag()}`);
        perServer[Number(m[1]) - 1]! += n;
        laddrs.add(m[2]!);
      }
      expectEqual(perServer, [10, 10], diag);
      expectEqual([...laddrs].sort(), ['10.3.0.100', '10.3.0.101'], diag);
      expectFetch(client, `http://${VIP}/files/blob`, lab.file('fetched'), site.blob, () =>
        directorDiag(director),
      );

      const list = director.sh('ipvsadm -L -n');
      assert.match(list, /\n {2}-> 10\.3\.0\.11:80 +FullNat +1 /, list);
      const stats = director.sh('ipvsadm -L -n --stats');
      const svc = stats.match(/\nTCP {2}10\.200\.0\.100:80 +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)/);
      assert.ok(svc, stats);
      // both directions pass the director: the file alone is more than 256 KiB outbound
      assert.ok(Number(svc[3]) > 0 && Number(svc[5]) > 256 * 1024, stats);
    } finally {
      await lab.cleanup();
    }
  },
);
