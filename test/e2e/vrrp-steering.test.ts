/**
 * A VIP that VRRP adds is steered before the kernel holds it.
 *
 * The moment an address is configured the kernel answers for it: a peer director that just gave the
 * VIP up forwards the VIP's traffic to it (its ARP for the VIP is answered at once), a client that
 * resolves the VIP again reaches it. Until steering takes the VIP's service ports, the kernel has
 * no socket there and resets every connection it sees (seen in the failover test under load: all
 * 50 streams reset at preemption). So the steering element must exist when the address appears.
 *
 * A watcher loop in the director namespace, started before lvsd, lists the steering set the
 * instant the VIP shows up on the interface; the VIP's service must already be in it.
 *
 *   client ns (10.96.0.2) --- director eth0 10.96.0.1; VRRP VIP 10.96.0.101/32 (alone: MASTER)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { e2eUnavailable, Lab, until, type Netns } from '../helpers/netns.js';

const VIP = '10.96.0.101';

let lab: Lab;
let director: Netns;

describe('VRRP and steering', { skip: e2eUnavailable() ?? false, timeout: 90000 }, () => {
  before(() => {
    lab = new Lab('vst');
    const client = lab.ns('cl');
    director = lab.ns('dir');
    lab.veth(client, 'eth0', director, 'eth0');
    client.sh('ip link set eth0 up; ip addr add 10.96.0.2/24 dev eth0');
    director.sh('ip link set eth0 up; ip addr add 10.96.0.1/24 dev eth0');
  });

  after(async () => {
    director?.run('lvsd stop', { timeoutMs: 15000 });
    await lab?.cleanup();
  });

  it('the VIP service is in the steering set before the VIP is on the interface', async () => {
    const conf = lab.file('vrrp.conf');
    fs.writeFileSync(
      conf,
      [
        `virtual_server ${VIP} 80 {`,
        '  delay_loop 5',
        '  lb_algo rr',
        '  lb_kind NAT',
        '  protocol TCP',
        '  real_server 10.96.1.2 80 {',
        '    weight 1',
        '  }',
        '}',
        'vrrp_instance VI_1 {',
        '  state BACKUP',
        '  interface eth0',
        '  virtual_router_id 61',
        '  priority 100',
        '  advert_int 1',
        '  virtual_ipaddress {',
        `    ${VIP}/32 dev eth0`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    // lists the set as soon as the VIP is configured (a few ms per turn); gives up after 60 s
    const seen = lab.file('seen.txt');
    const watcher = director.spawn(
      `end=$(($(date +%s) + 60)); while [ $(date +%s) -lt $end ]; do ` +
        `if ip -4 -o addr show dev eth0 | grep -q ' ${VIP}/'; then ` +
        `nft list set netdev lvsd svc4 > ${seen} 2>&1; echo done >> ${seen}; exit 0; fi; done`,
    );
    const exited = new Promise<number | null>((r) => watcher.on('exit', (c) => r(c)));
    const started = director.run(`lvsd -f ${conf}`, { timeoutMs: 30000 });
    assert.equal(started.status, 0, started.stdout + started.stderr);
    // alone on the segment: MASTER after the master-down interval (3 x advert_int + skew)
    await until(
      'the VIP on eth0',
      () => director.sh('ip -4 -o addr show dev eth0').includes(` ${VIP}/`),
      20000,
    );
    assert.equal(await exited, 0, 'the watcher ended without seeing the VIP');
    const listed = fs.readFileSync(seen, 'utf8');
    assert.match(listed, /done/, listed);
    assert.match(
      listed,
      new RegExp(`${VIP.replaceAll('.', '\\.')} \\. tcp \\. 80`),
      `the VIP was on the interface before its service was steered:\n${listed}\n` +
        director.run('lvsd status').stdout,
    );
    // and it stays steered while held
    assert.match(
      director.sh('nft list set netdev lvsd svc4'),
      new RegExp(`${VIP.replaceAll('.', '\\.')} \\. tcp`),
    );
  });
});
