import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsError } from '../../src/errors.js';
import {
  FWD_MASQ,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_PERSISTENT,
  ServiceTable,
} from '../../src/core/services.js';
import { deriveSteering, emptySteering, type SteeringInput } from '../../src/io/steering.js';
import { sampleInput, sampleTable, w } from '../helpers/steering-sample.js';
import {
  createScript,
  deviceChainName,
  diffSteering,
  additionsScript,
  removalsScript,
  nftElements,
  NftSteering,
  LOCAL_PORT_RANGE_PATH,
  offloadChainName,
  parseOffloadCounters,
  type CommandRunner,
} from '../../src/io/nft.js';
import type { OffloadFlow } from '../../src/core/offload.js';

test('derive: every category from a table', () => {
  const s = deriveSteering(sampleTable(), sampleInput);
  assert.deepEqual(s.interfaces, ['eth0', 'eth1']);
  // (a) local VIPs only; 10.0.0.200 is not local; port 0 -> any port
  assert.deepEqual(s.services, [
    { af: 4, addr: '10.0.0.100', proto: 17, portLo: 53, portHi: 53 },
    { af: 4, addr: '10.0.0.100', proto: 6, portLo: 80, portHi: 80 },
    { af: 4, addr: '10.0.0.101', proto: 6, portLo: 0, portHi: 65535 },
    { af: 4, addr: '10.0.0.102', proto: 6, portLo: 8443, portHi: 8443 },
    { af: 6, addr: '2001:db8:1::100', proto: 132, portLo: 5000, portHi: 5000 },
  ]);
  // fwmark rules: only marks with a service; network address normalised
  assert.deepEqual(s.fwmark, [{ af: 4, addr: '10.0.5.0', prefixLen: 24, proto: 6, portLo: 80, portHi: 90 }]);
  // (b) NAT dests only (not DR/TUN/FullNAT); every NAT dest, also of the non-local VIP; fwmark: all protos
  assert.deepEqual(
    s.natReturn.map((t) => `${t.addr}/${t.proto}/${t.portLo}-${t.portHi}`),
    [
      '172.16.0.2/17/53-53',
      '172.16.0.2/6/8080-8080',
      '172.16.0.5/6/0-65535',
      '172.16.0.6/6/443-443',
      '172.16.0.8/132/80-80',
      '172.16.0.8/17/80-80',
      '172.16.0.8/6/80-80',
      '2001:db8:2::2/132/5001-5001',
    ],
  );
  // (c) FullNAT pool with the port range, and the reservation
  assert.deepEqual(s.fullnatReturn, [
    { af: 4, addr: '172.16.0.200', proto: 6, portLo: 40000, portHi: 40999 },
  ]);
  assert.equal(s.reservedPorts, '40000-40999');
  // own addresses, canonical
  assert.deepEqual(
    s.own.map((a) => a.addr),
    ['10.0.0.1', '10.0.0.100', '10.0.0.101', '10.0.0.102', '172.16.0.1', '2001:db8:1::1', '2001:db8:1::100'],
  );
  // (d) from NAT/FullNAT real servers; to local VIPs and pool addresses
  assert.deepEqual(
    s.icmpFrom.map((a) => a.addr),
    ['172.16.0.2', '172.16.0.5', '172.16.0.6', '172.16.0.7', '172.16.0.8', '2001:db8:2::2'],
  );
  assert.deepEqual(
    s.icmpTo.map((a) => a.addr),
    ['10.0.0.100', '10.0.0.101', '10.0.0.102', '172.16.0.200', '2001:db8:1::100'],
  );
  // (e) fragments to local VIPs
  assert.deepEqual(
    s.fragTo.map((a) => a.addr),
    ['10.0.0.100', '10.0.0.101', '10.0.0.102', '2001:db8:1::100'],
  );
  // plain data: survives JSON
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  // snapshot and table give the same spec
  const t = sampleTable();
  assert.deepEqual(deriveSteering(t.snapshot(), sampleInput), deriveSteering(t, sampleInput));
});

test('derive: VIP becomes local -> its service appears; not local -> nothing but NAT return', () => {
  const t = new ServiceTable({ isScheduler: () => true });
  const k = { af: 4, proto: IPPROTO_TCP, addr: w('10.9.0.1'), port: 80 };
  t.addService(k);
  t.addDest(k, { addr: w('10.8.0.2'), fwd: FWD_MASQ });
  const off = deriveSteering(t, { local: { addrs4: ['10.9.0.2'] }, interfaces: [] });
  assert.deepEqual(off.services, []);
  assert.deepEqual(off.fragTo, []);
  assert.deepEqual(off.icmpTo, []);
  assert.equal(off.natReturn.length, 1);
  const on = deriveSteering(t, { local: { addrs4: ['10.9.0.2', '10.9.0.1'] }, interfaces: [] });
  assert.deepEqual(on.services, [{ af: 4, addr: '10.9.0.1', proto: 6, portLo: 80, portHi: 80 }]);
  assert.equal(on.reservedPorts, '');
});

test('derive: an any-port service subsumes exact ports of the same VIP and protocol', () => {
  const t = new ServiceTable({ isScheduler: () => true });
  t.addService({ af: 4, proto: IPPROTO_TCP, addr: w('10.9.0.1'), port: 80 });
  t.addService({ af: 4, proto: IPPROTO_TCP, addr: w('10.9.0.1'), port: 0 }, { flags: SVC_F_PERSISTENT });
  t.addService({ af: 4, proto: IPPROTO_UDP, addr: w('10.9.0.1'), port: 80 });
  const s = deriveSteering(t, { local: { addrs4: ['10.9.0.1'] }, interfaces: [] });
  assert.deepEqual(
    s.services.map((x) => `${x.proto}/${x.portLo}-${x.portHi}`),
    ['17/80-80', '6/0-65535'],
  );
});

test('derive: bad input is an LvsError', () => {
  const t = sampleTable();
  const bad: SteeringInput[] = [
    { local: { addrs4: ['300.1.1.1'] }, interfaces: [] },
    { local: { addrs6: ['10.0.0.1'] }, interfaces: [] },
    { local: {}, interfaces: ['bad name'] },
    { local: {}, interfaces: [], fullnatPorts: { lo: 5, hi: 4 } },
    { local: {}, interfaces: [], fwmarkRules: [{ af: 4, addr: '10.0.0.0/33', proto: 6, mark: 7 }] },
    { local: {}, interfaces: [], fwmarkRules: [{ af: 4, addr: '10.0.0.0', proto: 1, mark: 7 }] },
  ];
  for (const input of bad)
    assert.throws(
      () => deriveSteering(t, input),
      (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_INVALID_ARGUMENT',
      JSON.stringify(input),
    );
});

test('nft: elements per set and the create script', () => {
  const s = deriveSteering(sampleTable(), sampleInput);
  const e = nftElements(s);
  assert.deepEqual(e.svc4, ['10.0.0.100 . udp . 53', '10.0.0.100 . tcp . 80', '10.0.0.102 . tcp . 8443']);
  assert.deepEqual(e.svcany4, ['10.0.0.101 . tcp']);
  assert.deepEqual(e.svc6, ['2001:db8:1::100 . sctp . 5000']);
  assert.deepEqual(e.mark4, ['10.0.5.0/24 . tcp . 80-90']);
  assert.deepEqual(e.fnat4, ['172.16.0.200 . tcp . 40000-40999']);
  assert.deepEqual(e.natany4, ['172.16.0.5 . tcp']);
  assert.ok(e.nat4.includes('172.16.0.2 . tcp . 8080'));
  assert.deepEqual(e.nat6, ['2001:db8:2::2 . sctp . 5001']);
  assert.deepEqual(e.frag6, ['2001:db8:1::100']);
  const script = createScript(s);
  const lines = script.split('\n');
  // stale table removed in the same transaction, before the new one
  assert.deepEqual(lines.slice(0, 3), [
    'add table netdev lvsd',
    'delete table netdev lvsd',
    'add table netdev lvsd',
  ]);
  assert.ok(
    lines.includes(
      'add set netdev lvsd fnat4 { type ipv4_addr . inet_proto . inet_service; flags interval; }',
    ),
  );
  assert.ok(lines.includes('add set netdev lvsd own6 { type ipv6_addr; }'));
  assert.ok(lines.includes('add element netdev lvsd svcany4 { 10.0.0.101 . tcp }'));
  assert.ok(
    lines.includes(
      'add rule netdev lvsd steer ip daddr != @own4 ip saddr . meta l4proto . th sport @nat4 counter drop',
    ),
  );
  // fragments before any rule that reads ports
  const firstFrag = lines.findIndex((l) => l.includes('@frag4'));
  const firstPort = lines.findIndex((l) => l.includes('th dport'));
  assert.ok(firstFrag >= 0 && firstFrag < firstPort);
  assert.equal(deviceChainName('eth0.100'), 'dev_eth0_2e100');
});

test('nft: diff is element by element and split into removals and additions', () => {
  const t = sampleTable();
  const a = deriveSteering(t, sampleInput);
  t.addService({ af: 4, proto: IPPROTO_UDP, addr: w('10.0.0.102'), port: 123 });
  t.deleteService({ af: 4, proto: IPPROTO_UDP, addr: w('10.0.0.100'), port: 53 });
  const b = deriveSteering(t, { ...sampleInput, interfaces: ['eth0', 'eth2'] });
  const d = diffSteering(a, b);
  assert.deepEqual(d.add.svc4, ['10.0.0.102 . udp . 123']);
  assert.deepEqual(d.remove.svc4, ['10.0.0.100 . udp . 53']);
  // the UDP NAT dest of the deleted service goes too; the TCP one of the same RIP stays
  assert.deepEqual(d.remove.nat4, ['172.16.0.2 . udp . 53']);
  assert.deepEqual(d.add.nat4, []);
  assert.deepEqual(d.addDevices, ['eth2']);
  assert.deepEqual(d.removeDevices, ['eth1']);
  assert.equal(additionsScript(d), 'add element netdev lvsd svc4 { 10.0.0.102 . udp . 123 }\n');
  assert.equal(
    removalsScript(d),
    'delete element netdev lvsd svc4 { 10.0.0.100 . udp . 53 }\n' +
      'delete element netdev lvsd nat4 { 172.16.0.2 . udp . 53 }\n',
  );
  assert.equal(additionsScript(diffSteering(b, b)), '');
});

/** Records every command; answers like nft and a sysctl file would. */
function fakeRunner(fail?: (argv: readonly string[], stdin: string) => string | null): {
  run: CommandRunner;
  calls: { argv: readonly string[]; stdin: string }[];
  sysctl: { value: string };
} {
  const calls: { argv: readonly string[]; stdin: string }[] = [];
  const sysctl = { value: '8080\n' };
  const run: CommandRunner = async (argv, stdin) => {
    calls.push({ argv, stdin });
    const err = fail?.(argv, stdin) ?? null;
    if (err !== null) return { code: 1, stdout: '', stderr: err };
    if (argv[0] === 'cat' && argv[1] === LOCAL_PORT_RANGE_PATH)
      return { code: 0, stdout: '32768\t60999\n', stderr: '' };
    if (argv[0] === 'cat') return { code: 0, stdout: sysctl.value, stderr: '' };
    if (argv[0] === 'sh') sysctl.value = stdin;
    return { code: 0, stdout: '', stderr: '' };
  };
  return { run, calls, sysctl };
}

test('NftSteering: order of transactions, removals and additions apart, ports reserved and restored', async () => {
  const f = fakeRunner();
  const n = new NftSteering({ run: f.run, nft: '/usr/sbin/nft' });
  const a = deriveSteering(sampleTable(), sampleInput);
  await n.start(a);
  assert.equal(f.calls[0]!.argv.join(' '), '/usr/sbin/nft -f -');
  assert.equal(f.calls[0]!.stdin, createScript(a));
  assert.ok(f.calls.some((c) => c.stdin.includes('device "eth1" priority -500')));
  assert.equal(f.sysctl.value, '8080,40000-40999\n');
  assert.deepEqual(n.state().elements.svcany4, ['10.0.0.101 . tcp']);

  const t2 = sampleTable();
  t2.deleteService({ af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.102'), port: 8443 }); // the FullNAT one
  t2.addService({ af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 443 });
  const b = deriveSteering(t2, sampleInput);
  f.calls.length = 0;
  await n.applyRemovals(b);
  assert.equal(f.calls.length, 2); // one nft transaction, one sysctl restore
  assert.match(f.calls[0]!.stdin, /^delete element netdev lvsd svc4 \{ 10\.0\.0\.102 \. tcp \. 8443 \}$/m);
  assert.doesNotMatch(f.calls[0]!.stdin, /add /);
  assert.equal(f.sysctl.value, '8080\n');
  assert.ok(!n.state().elements.svc4!.includes('10.0.0.102 . tcp . 8443'));
  assert.ok(!n.state().elements.svc4!.includes('10.0.0.100 . tcp . 443'));
  f.calls.length = 0;
  await n.applyAdditions(b);
  assert.equal(f.calls.length, 1);
  assert.equal(f.calls[0]!.stdin, 'add element netdev lvsd svc4 { 10.0.0.100 . tcp . 443 }\n');
  // idempotent: nothing left to do
  f.calls.length = 0;
  await n.apply(b);
  assert.equal(f.calls.length, 0);
  await n.stop();
  assert.equal(f.calls[0]!.stdin, 'add table netdev lvsd\ndelete table netdev lvsd\n');
  assert.equal(f.sysctl.value, '8080\n');
  assert.equal(n.started, false);
});

test('NftSteering: nft errors become LvsError with nft stderr; a bad device does not block the others', async () => {
  const f = fakeRunner((_argv, stdin) =>
    stdin.includes('add element') && stdin.includes('udp . 123')
      ? 'Error: Could not process rule: No such file'
      : null,
  );
  const n = new NftSteering({ run: f.run });
  await n.start(emptySteering());
  const t = new ServiceTable({ isScheduler: () => true });
  t.addService({ af: 4, proto: IPPROTO_UDP, addr: w('10.0.0.1'), port: 123 });
  const s = deriveSteering(t, { local: { addrs4: ['10.0.0.1'] }, interfaces: [] });
  await assert.rejects(n.applyAdditions(s), (e: unknown) => {
    return e instanceof LvsError && e.code === 'ERR_LVS_STEERING' && /Could not process rule/.test(e.message);
  });
  // failed additions are not recorded as held
  assert.deepEqual(n.state().elements.svc4, []);

  const g = fakeRunner((_argv, stdin) => (stdin.includes('"bad0"') ? 'Error: bad0 broken' : null));
  const m = new NftSteering({ run: g.run, reservePorts: false });
  await assert.rejects(
    m.start({ ...emptySteering(), interfaces: ['bad0', 'eth0'] }),
    (e: unknown) => e instanceof LvsError && /attach bad0/.test(e.message) && /bad0 broken/.test(e.message),
  );
  assert.deepEqual(m.state().interfaces, ['eth0']);
  assert.ok(!g.calls.some((c) => c.argv[0] === 'cat' || c.argv[0] === 'sh'));
  await assert.rejects(new NftSteering({ run: g.run }).applyAdditions(emptySteering()), /not started/);
});

test('NftSteering: warns when the FullNAT range would reserve every ephemeral port', async () => {
  const f = fakeRunner();
  const warnings: string[] = [];
  const n = new NftSteering({ run: f.run, onWarning: (m) => warnings.push(m) });
  await n.start(deriveSteering(sampleTable(), sampleInput)); // 40000-40999: fine
  assert.deepEqual(warnings, []);
  await n.apply(deriveSteering(sampleTable(), { ...sampleInput, fullnatPorts: { lo: 1024, hi: 65535 } }));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /32768-60999/);
  assert.equal(f.sysctl.value, '8080,1024-65535\n');
});

const FLOW_A: OffloadFlow = {
  key: '4|203.0.113.9|5555|10.0.0.100|80',
  af: 4,
  caddr: '203.0.113.9',
  cport: 5555,
  vaddr: '10.0.0.100',
  vport: 80,
  dev: 'eth1',
  srcMac: '02:00:00:00:01:01',
  dstMac: '02:00:00:00:02:02',
};
const FLOW_B: OffloadFlow = { ...FLOW_A, key: '4|203.0.113.9|5556|10.0.0.100|80', cport: 5556 };
const FLOW_6: OffloadFlow = {
  ...FLOW_A,
  key: '6|2001:db8:77::9|7777|2001:db8:1::100|443',
  af: 6,
  caddr: '2001:db8:77::9',
  cport: 7777,
  vaddr: '2001:db8:1::100',
  vport: 443,
  dev: 'eth-2.x',
};

test('nft: the offload maps and rules come first in steer, without counters', () => {
  const s = createScript(deriveSteering(sampleTable(), sampleInput));
  assert.match(
    s,
    /^add map netdev lvsd off4 \{ type ipv4_addr \. inet_service \. ipv4_addr \. inet_service : verdict; counter; \}$/m,
  );
  assert.match(s, /^add map netdev lvsd off6 \{ type ipv6_addr /m);
  const rules = s.split('\n').filter((l) => l.startsWith('add rule netdev lvsd steer '));
  assert.match(
    rules[0]!,
    /tcp flags & \(fin\|syn\|rst\) == 0 ip saddr \. tcp sport \. ip daddr \. tcp dport vmap @off4$/,
  );
  assert.match(rules[0]!, /ip frag-off & 0x3fff == 0/);
  assert.match(rules[1]!, /ip6 saddr \. tcp sport \. ip6 daddr \. tcp dport vmap @off6$/);
  assert.ok(!rules[0]!.includes('counter') && !rules[1]!.includes('counter'));
  assert.equal(offloadChainName('eth-2.x', '02:00:00:00:02:02'), 'fwd_eth_2d2_2ex_020000000202');
});

test('NftSteering: offloaded flows share a next-hop chain; the last withdrawal deletes it', async () => {
  const f = fakeRunner();
  const n = new NftSteering({ run: f.run, nft: 'nft' });
  await n.start(deriveSteering(sampleTable(), sampleInput));
  f.calls.length = 0;
  assert.deepEqual(await n.offloadAdd([FLOW_A, FLOW_B, FLOW_6]), []);
  assert.equal(f.calls.length, 1, 'one transaction');
  const add = f.calls[0]!.stdin;
  const chainA = offloadChainName('eth1', FLOW_A.dstMac);
  const chain6 = offloadChainName('eth-2.x', FLOW_6.dstMac);
  assert.equal(add.split(`add chain netdev lvsd ${chainA}\n`).length, 2, 'chain created once');
  assert.match(
    add,
    new RegExp(
      `^add rule netdev lvsd ${chainA} ether saddr set 02:00:00:00:01:01 ether daddr set 02:00:00:00:02:02 fwd to "eth1"$`,
      'm',
    ),
  );
  assert.match(add, /fwd to "eth-2\.x"$/m);
  assert.match(
    add,
    new RegExp(
      `^add element netdev lvsd off4 \\{ 203\\.0\\.113\\.9 \\. 5555 \\. 10\\.0\\.0\\.100 \\. 80 : goto ${chainA}, 203\\.0\\.113\\.9 \\. 5556 \\. 10\\.0\\.0\\.100 \\. 80 : goto ${chainA} \\}$`,
      'm',
    ),
  );
  assert.match(
    add,
    new RegExp(
      `^add element netdev lvsd off6 \\{ 2001:db8:77::9 \\. 7777 \\. 2001:db8:1::100 \\. 443 : goto ${chain6} \\}$`,
      'm',
    ),
  );
  assert.equal(n.offloadedFlows().length, 3);
  // again: nothing to do
  f.calls.length = 0;
  assert.deepEqual(await n.offloadAdd([FLOW_A]), []);
  assert.equal(f.calls.length, 0);

  // withdrawing one of two flows keeps the chain; the hook runs after the flow left the list
  let seenInHook = -1;
  await n.offloadDelete([FLOW_A], async () => {
    seenInHook = n.offloadedFlows().length;
  });
  assert.equal(seenInHook, 2);
  assert.equal(f.calls.length, 1);
  assert.equal(
    f.calls[0]!.stdin,
    'delete element netdev lvsd off4 { 203.0.113.9 . 5555 . 10.0.0.100 . 80 }\n',
  );
  f.calls.length = 0;
  await n.offloadDelete([FLOW_B, FLOW_6]);
  assert.equal(f.calls.length, 2);
  assert.match(f.calls[1]!.stdin, new RegExp(`^delete chain netdev lvsd ${chainA}$`, 'm'));
  assert.match(f.calls[1]!.stdin, new RegExp(`^delete chain netdev lvsd ${chain6}$`, 'm'));
  assert.equal(n.offloadedFlows().length, 0);
});

test('NftSteering: a refused offload transaction reports every flow as not installed', async () => {
  const f = fakeRunner((_argv, stdin) =>
    stdin.includes('fwd to') ? 'Error: Could not process rule: No such file or directory' : null,
  );
  const warnings: string[] = [];
  const n = new NftSteering({ run: f.run, onWarning: (m) => warnings.push(m) });
  await n.start(deriveSteering(sampleTable(), sampleInput));
  assert.deepEqual(await n.offloadAdd([FLOW_A, FLOW_6]), [FLOW_A.key, FLOW_6.key]);
  assert.equal(n.offloadedFlows().length, 0);
  assert.match(warnings.join('\n'), /offloading 2 flow\(s\) failed: Error: Could not process rule/);
});

test('nft: kernel counters of offloaded flows are read from nft -j list map', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      {
        map: {
          family: 'netdev',
          name: 'off6',
          table: 'lvsd',
          map: 'verdict',
          elem: [
            [
              {
                elem: {
                  val: { concat: ['2001:0db8:77::9', 7777, '2001:db8:1::100', 443] },
                  counter: { packets: 12, bytes: 34567 },
                },
              },
              { goto: { target: 'fwd_x' } },
            ],
            [
              { elem: { val: { concat: ['bogus', 1, '::1', 2] }, counter: { packets: 1, bytes: 1 } } },
              { goto: { target: 'fwd_x' } },
            ],
          ],
        },
      },
    ],
  });
  assert.deepEqual(parseOffloadCounters(json, 6), [{ key: FLOW_6.key, packets: 12, bytes: 34567 }]);
  assert.deepEqual(parseOffloadCounters('not json', 4), []);
});
