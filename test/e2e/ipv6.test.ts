/**
 * IPv6 services in NAT, DR and TUN (issue 3, end-to-end test 5). VIP fd00:100::1 on the director's lo;
 * two real servers fd00:a::11 and fd00:a::12 on a bridged segment with the director (fd00:a::1).
 *  - NAT: the client is on its own link to the director (fd00:1::/64) and the real servers route
 *    through the director; lvsd rewrites the destination and, on the way back, the source.
 *  - DR: the client shares the segment; the real servers hold the VIP on lo (`lvsd realserver up
 *    --mode dr`, /128 nodad) and answer the client directly. Linux answers neighbour solicitations only
 *    for addresses on the receiving interface, so the VIP on lo is never announced.
 *  - TUN: as DR, but the director encapsulates IPv6 in IPv6 (next header 41, ipvs-reference) toward the
 *    real server, whose `lvsd realserver up --mode tun` decapsulates.
 * Each case: HTTP requests with curl -6 split evenly by rr (each server answers its own name), a
 * 256 KiB random file arrives byte-exact, and `ipvsadm -L -n` lists [v6]:port.
 * Every address is added `nodad`; the test waits until none is tentative (the link-locals are).
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
  waitNoTentative,
} from '../helpers/traffic.js';

const VIP = 'fd00:100::1';
const RIPS = ['fd00:a::11', 'fd00:a::12'];
const skip = e2eUnavailable('curl', 'nginx');

type Mode = 'nat' | 'dr' | 'tun';

interface Site {
  lab: Lab;
  client: Netns;
  director: Netns;
  rs: Netns[];
}

/**
 * NAT: client eth0 fd00:1::2 -- director eth0 fd00:1::1. DR/TUN: client eth0 fd00:a::2 on the bridge.
 * Always: director eth1 fd00:a::1, rs1/rs2 eth0 fd00:a::11/12 on the bridge in namespace sw.
 */
async function setup(tag: string, mode: Mode): Promise<Site> {
  const lab = new Lab(tag);
  try {
    const client = lab.ns('cl');
    const director = lab.ns('dir');
    const sw = lab.ns('sw');
    const rs = [lab.ns('rs1'), lab.ns('rs2')];
    sw.sh('ip link add br0 type bridge; ip link set br0 up');
    const plug = (ns: Netns, port: string): void => {
      lab.veth(ns, ns === director ? 'eth1' : 'eth0', sw, port);
      sw.sh(`ip link set ${port} master br0; ip link set ${port} up`);
    };
    plug(director, 'pd');
    rs.forEach((r, i) => plug(r, `p${i}`));
    if (mode === 'nat') {
      lab.veth(client, 'eth0', director, 'eth0');
      client.sh('ip link set eth0 up; ip -6 addr add fd00:1::2/64 dev eth0 nodad');
      client.sh(`ip -6 route add ${VIP}/128 via fd00:1::1`);
      director.sh('ip link set eth0 up; ip -6 addr add fd00:1::1/64 dev eth0 nodad');
    } else {
      plug(client, 'pc');
      client.sh('ip link set eth0 up; ip -6 addr add fd00:a::2/64 dev eth0 nodad');
      client.sh(`ip -6 route add ${VIP}/128 via fd00:a::1`);
    }
    director.sh(
      'ip link set eth1 up; ip -6 addr add fd00:a::1/64 dev eth1 nodad; ' +
        'sysctl -qw net.ipv6.conf.all.forwarding=1; ' +
        `ip -6 addr add ${VIP}/128 dev lo nodad`,
    );
    rs.forEach((r, i) => {
      r.sh(`ip link set eth0 up; ip -6 addr add ${RIPS[i]}/64 dev eth0 nodad`);
      if (mode === 'nat') r.sh('ip -6 route add default via fd00:a::1');
      else r.sh(`lvsd realserver up --vip ${VIP} --mode ${mode}`);
    });
    await Promise.all([client, director, ...rs].map((n) => waitNoTentative(n)));
    return { lab, client, director, rs };
  } catch (e) {
    await lab.cleanup();
    throw e;
  }
}

async function v6Case(mode: Mode, flag: string, listed: string): Promise<void> {
  const site = await setup(`v6${mode}`, mode);
  try {
    const { lab, client, director, rs } = site;
    const blob = crypto.randomBytes(256 * 1024);
    rs.forEach((r, i) =>
      startNginx(lab, r, {
        listen: mode === 'nat' ? [`[${RIPS[i]}]:80`] : [`[${VIP}]:80`],
        body: `rs${i + 1}`,
        files: { blob },
      }),
    );
    director.sh(
      `ipvsadm -A -t [${VIP}]:80 -s rr; ` +
        RIPS.map((rip) => `ipvsadm -a -t [${VIP}]:80 -r [${rip}]:80 ${flag}`).join('; '),
    );
    const diag = (): string => directorDiag(director);
    const counts = curlSplit(client, `http://[${VIP}]/`, 10, '-6 -g');
    expectEqual(counts, { rs1: 5, rs2: 5 }, () => `${JSON.stringify(counts)}\n${diag()}`);
    expectFetch(client, `http://[${VIP}]/files/blob`, lab.file('fetched'), blob, diag, '-6 -g');

    const list = director.sh('ipvsadm -L -n');
    assert.match(list, /\nTCP {2}\[fd00:100::1\]:80 rr\n/, list);
    for (const rip of RIPS) assert.match(list, new RegExp(`\\n {2}-> \\[${rip}\\]:80 +${listed} +1 `), list);
    const stats = director.sh('ipvsadm -L -n --stats');
    const svc = stats.match(/\nTCP {2}\[fd00:100::1\]:80 +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)/);
    assert.ok(svc, stats);
    assert.equal(Number(svc[1]), 11, stats); // 10 requests + the file
    if (mode === 'nat')
      assert.ok(Number(svc[5]) > blob.length, stats); // the file came back through lvsd
    else assert.equal(Number(svc[3]), 0, stats); // replies went straight to the client
    if (mode === 'tun') {
      // each server decapsulated its share: at least SYN, ACK and request of 5 connections
      for (const r of rs) {
        const a = await agentInjected(r, 15);
        assert.equal(a.type, 'ipip', a.status);
        assert.ok(a.injected >= 15, a.status);
      }
    }
    if (mode !== 'nat') for (const r of rs) r.sh('lvsd realserver down');
  } finally {
    await site.lab.cleanup();
  }
}

test('IPv6 NAT: two real servers behind the director', { skip: skip ?? false, timeout: 60000 }, () =>
  v6Case('nat', '-m', 'Masq'),
);

test(
  'IPv6 DR: VIP on the real servers lo, replies straight to the client',
  { skip: skip ?? false, timeout: 60000 },
  () => v6Case('dr', '-g', 'Route'),
);

test('IPv6 TUN: IP6IP6 to lvsd realserver agents', { skip: skip ?? false, timeout: 60000 }, () =>
  v6Case('tun', '-i', 'Tunnel'),
);
