/**
 * keepalived's `dynamic_interfaces` (global_defs): a vrrp_instance on an interface that does not
 * exist yet waits in FAULT instead of failing the start, and runs once the interface comes (with an
 * address). Without the keyword the same file does not start VRRP: the interface is an error, as
 * keepalived's "Non-existent interface specified in configuration".
 *
 *   director ns: eth0 10.97.0.1 (a veth to a client ns); eth1 created later (veth to a peer ns),
 *   10.97.1.1/24, the instance's VIP 10.97.1.100
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { e2eUnavailable, Lab, until, type Netns } from '../helpers/netns.js';

const VIP = '10.97.1.100';

let lab: Lab;
let director: Netns;
let peer: Netns;

function conf(dynamic: boolean): string {
  const file = lab.file(`dyn-${dynamic}.conf`);
  fs.writeFileSync(
    file,
    [
      ...(dynamic ? ['global_defs {', '  dynamic_interfaces', '}'] : []),
      'vrrp_instance VI_LATE {',
      '  state BACKUP',
      '  interface eth1',
      '  virtual_router_id 62',
      '  priority 100',
      '  advert_int 1',
      '  virtual_ipaddress {',
      `    ${VIP}/24 dev eth1`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return file;
}

function vrrpStates(): string {
  const r = director.run('lvsd status --json', { timeoutMs: 10000 });
  if (r.status !== 0) return '';
  const s = JSON.parse(r.stdout) as { keepalived?: { vrrp?: { instance: string; state: string }[] } };
  return (s.keepalived?.vrrp ?? []).map((v) => `${v.instance}=${v.state}`).join(' ');
}

describe('VRRP dynamic_interfaces', { skip: e2eUnavailable() ?? false, timeout: 120000 }, () => {
  before(() => {
    lab = new Lab('vdy');
    const client = lab.ns('cl');
    director = lab.ns('dir');
    peer = lab.ns('pe');
    lab.veth(client, 'eth0', director, 'eth0');
    director.sh('ip link set eth0 up; ip addr add 10.97.0.1/24 dev eth0');
  });

  after(async () => {
    director?.run('lvsd stop', { timeoutMs: 15000 });
    await lab?.cleanup();
  });

  it('without dynamic_interfaces a missing vrrp_instance interface is an error', () => {
    const r = director.run(`lvsd -f ${conf(false)} -n -l`, { timeoutMs: 30000 });
    assert.notEqual(r.status, 0, `lvsd started with VRRP on a missing interface:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /eth1/);
    assert.equal(director.run('lvsd status').status === 0, false, 'a daemon is still running');
  });

  it('with dynamic_interfaces the instance waits in FAULT, then runs when the interface comes', async () => {
    const started = director.run(`lvsd -f ${conf(true)}`, { timeoutMs: 30000 });
    assert.equal(started.status, 0, started.stdout + started.stderr);
    await until('the waiting instance in lvsd status', () => vrrpStates() === 'VI_LATE=FAULT', 15000);
    // the interface arrives (a veth to another namespace), then its address, then it goes up
    lab.veth(director, 'eth1', peer, 'eth0');
    director.sh('ip addr add 10.97.1.1/24 dev eth1; ip link set eth1 up');
    peer.sh('ip link set eth0 up');
    // alone on the link: MASTER after the master-down interval, and the VIP on eth1
    await until('VI_LATE MASTER', () => vrrpStates() === 'VI_LATE=MASTER', 20000);
    await until(
      'the VIP on eth1',
      () => director.sh('ip -4 -o addr show dev eth1').includes(` ${VIP}/24`),
      10000,
    );
    // it advertises on the new interface
    const s = JSON.parse(director.sh('lvsd status --json')) as {
      keepalived: { vrrp: { instance: string; interface: string; advertsSent: number }[] };
    };
    const late = s.keepalived.vrrp.find((v) => v.instance === 'VI_LATE');
    assert.equal(late?.interface, 'eth1');
    assert.ok((late?.advertsSent ?? 0) > 0, JSON.stringify(late));
  });
});
