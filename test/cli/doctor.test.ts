/**
 * `lvsd doctor` checks on injected host state (no root): the director's checks with an injected service
 * table, and the real-server checks' rules (effective sysctl = max(all, dev)).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDirector, checkRealServer, formatChecks, runDoctor } from '../../src/cli/doctor.js';
import type { DoctorCheck, DoctorEnv, DoctorService } from '../../src/cli/doctor.js';
import type { LinkInfo } from '../../src/realserver/system.js';
import type { RealServerState } from '../../src/realserver/setup.js';

function link(ifname: string, addrs: string[], mtu = 1500, up = true): LinkInfo {
  return {
    ifname,
    flags: up ? ['UP', 'LOWER_UP'] : [],
    mtu,
    addr_info: addrs.map((a) => {
      const [local, len] = a.split('/');
      return { family: local!.includes(':') ? 'inet6' : 'inet', local: local!, prefixlen: Number(len) };
    }),
  };
}

function env(over: {
  sysctls?: Record<string, string>;
  links?: LinkInfo[];
  ipvs?: string | null;
  state?: RealServerState | null;
  agent?: boolean;
  routes?: Record<string, string>;
}): DoctorEnv {
  const sys = over.sysctls ?? {};
  return {
    sysctl: (n) => sys[n] ?? '0',
    links: () => over.links ?? [link('lo', ['127.0.0.1/8']), link('eth0', ['10.0.0.1/24'])],
    routeDev: (a) => over.routes?.[a] ?? 'eth0',
    kernelIpvs: () => over.ipvs ?? null,
    realServerState: () => over.state ?? null,
    agentRunning: () => over.agent ?? false,
  };
}

function find(checks: DoctorCheck[], re: RegExp): DoctorCheck {
  const c = checks.find((x) => re.test(x.check));
  assert.ok(c, `no check matching ${re}: ${checks.map((x) => x.check).join(', ')}`);
  return c;
}

const natService: DoctorService = {
  protocol: 'tcp',
  vip: '10.0.0.100',
  port: 80,
  dests: [{ addr: '172.16.0.2', port: 80, method: 'masq' }],
};

test('director: NAT service without the VIP FAILs and without ip_forward WARNs, with fixes', () => {
  const checks = checkDirector(env({}), { services: [natService] });
  const vip = find(checks, /VIP 10\.0\.0\.100/);
  assert.equal(vip.status, 'FAIL');
  assert.equal(vip.fix, 'ip addr add 10.0.0.100/24 dev eth0 label eth0:0');
  const fwd = find(checks, /ip_forward/);
  assert.equal(fwd.status, 'WARN');
  assert.equal(fwd.fix, 'sysctl -w net.ipv4.ip_forward=1');
  assert.equal(find(checks, /kernel's ip_vs/).status, 'OK');
});

test('director: correct NAT setup is all OK', () => {
  const e = env({
    sysctls: { 'net.ipv4.ip_forward': '1' },
    links: [link('lo', ['127.0.0.1/8']), link('eth0', ['10.0.0.1/24', '10.0.0.100/24'])],
  });
  const checks = checkDirector(e, { services: [natService] });
  assert.deepEqual(
    checks.filter((c) => c.status !== 'OK'),
    [],
  );
});

test('director: strict rp_filter WARNs (effective max(all, dev))', () => {
  const checks = checkDirector(env({ sysctls: { 'net.ipv4.conf.eth0.rp_filter': '1' } }), {
    vips: ['10.0.0.1'],
  });
  const rp = find(checks, /^rp_filter/);
  assert.equal(rp.status, 'WARN');
  assert.match(rp.detail, /eth0/);
  const ok = checkDirector(env({ sysctls: { 'net.ipv4.conf.all.rp_filter': '2' } }), { vips: ['10.0.0.1'] });
  assert.equal(find(ok, /^rp_filter/).status, 'OK');
});

test('director: DR as the real servers gateway needs accept_local', () => {
  const dr: DoctorService = {
    protocol: 'tcp',
    vip: '10.0.0.1',
    port: 80,
    dests: [{ addr: '172.16.0.2', method: 'route' }],
  };
  const e = env({
    sysctls: { 'net.ipv4.ip_forward': '1' },
    links: [link('lo', []), link('eth0', ['10.0.0.1/24']), link('eth1', ['172.16.0.1/24'])],
    routes: { '172.16.0.2': 'eth1' },
  });
  const c = find(checkDirector(e, { services: [dr] }), /accept_local/);
  assert.equal(c.status, 'WARN');
  assert.equal(c.fix, 'sysctl -w net.ipv4.conf.eth1.accept_local=1');
  const fixed = env({
    sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.eth1.accept_local': '1' },
    links: [link('lo', []), link('eth0', ['10.0.0.1/24']), link('eth1', ['172.16.0.1/24'])],
    routes: { '172.16.0.2': 'eth1' },
  });
  assert.equal(find(checkDirector(fixed, { services: [dr] }), /accept_local/).status, 'OK');
});

test('director: tunnel MTU against 1500-byte client packets per encapsulation', () => {
  const svc = (tunType: 'ipip' | 'gue' | 'gre'): DoctorService => ({
    protocol: 'tcp',
    vip: '10.0.0.1',
    port: 80,
    dests: [{ addr: '172.16.0.2', method: 'tunnel', tunType }],
  });
  const small = env({ links: [link('lo', []), link('eth0', ['10.0.0.1/24'], 1500)] });
  const c = find(checkDirector(small, { services: [svc('gue')] }), /tunnel MTU/);
  assert.equal(c.status, 'WARN');
  assert.match(c.detail, /1500 - 32 bytes of encapsulation = 1468/);
  assert.equal(c.fix?.startsWith('ip link set dev eth0 mtu 1532'), true);
  const big = env({ links: [link('lo', []), link('eth0', ['10.0.0.1/24'], 1520)] });
  assert.equal(find(checkDirector(big, { services: [svc('ipip')] }), /tunnel MTU/).status, 'OK');
  assert.equal(find(checkDirector(big, { services: [svc('gre')] }), /tunnel MTU/).status, 'WARN');
});

test("director: services in the kernel's own ip_vs FAIL; an empty or absent one is fine", () => {
  const table =
    'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\nTCP  0A000064:0050 rr\n' +
    '  -> AC100002:0050      Masq    1      0          0\n';
  assert.equal(find(checkDirector(env({ ipvs: table }), {}), /kernel's ip_vs/).status, 'FAIL');
  const empty = table.split('\n').slice(0, 3).join('\n') + '\n';
  assert.equal(find(checkDirector(env({ ipvs: empty }), {}), /kernel's ip_vs/).status, 'OK');
});

test('realserver: effective arp_ignore/arp_announce, VIP on another interface, TUN rp_filter', () => {
  const e = env({
    sysctls: {
      'net.ipv4.conf.all.arp_ignore': '0',
      'net.ipv4.conf.eth0.arp_ignore': '1', // per-device is enough for eth0 ...
      'net.ipv4.conf.all.arp_announce': '2',
      'net.ipv4.conf.tunl0.rp_filter': '1',
    },
    links: [
      link('lo', ['127.0.0.1/8', '10.0.0.100/32']),
      link('eth0', ['10.0.0.2/24']),
      link('eth1', ['10.1.0.2/24', '10.0.0.100/24']), // ... but eth1 answers, and even holds the VIP
      link('tunl0', []),
    ],
  });
  const checks = checkRealServer(e, { vips: ['10.0.0.100'], mode: 'tun' });
  assert.equal(find(checks, /VIP 10\.0\.0\.100 on lo/).status, 'OK');
  const other = find(checks, /only on lo/);
  assert.equal(other.status, 'FAIL');
  assert.equal(other.fix, 'ip addr del 10.0.0.100/24 dev eth1');
  const ign = find(checks, /^arp_ignore/);
  assert.equal(ign.status, 'FAIL');
  assert.match(ign.detail, /on eth1/);
  assert.doesNotMatch(ign.detail, /eth0/);
  assert.equal(find(checks, /^arp_announce/).status, 'OK');
  const rp = find(checks, /rp_filter on tunl0/);
  assert.equal(rp.status, 'FAIL');
  assert.equal(rp.fix, 'sysctl -w net.ipv4.conf.tunl0.rp_filter=0');
});

test('runDoctor picks the real-server role from the saved state; formatChecks prints fixes', () => {
  const state: RealServerState = {
    version: 1,
    netns: 1,
    vips: [{ addr: '10.0.0.100', family: 4, added: true }],
    sysctls: {},
    loBroughtUp: false,
    tun: {
      type: 'ipip',
      port: null,
      impl: 'agent',
      device: 'lvsdtun0',
      deviceCreated: true,
      broughtUp: [],
      fouPort: null,
    },
  };
  const r = runDoctor({}, env({ state, links: [link('lo', ['10.0.0.100/32']), link('lvsdtun0', [])] }));
  assert.equal(r.role, 'realserver');
  const agent = find(r.checks, /decapsulation agent/);
  assert.equal(agent.status, 'FAIL');
  const text = formatChecks(r.role, r.checks);
  assert.match(text, /^lvsd doctor: realserver\n/);
  assert.match(text, /\[FAIL\] decapsulation agent: not running/);
  assert.match(text, /\n {7}fix: sysctl -w net\.ipv4\.conf\.all\.arp_ignore=1\n/);
  assert.match(text, /\d+ ok, \d+ warning\(s\), [1-9]\d* failure\(s\)\n$/);
});
