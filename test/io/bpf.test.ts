import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eth, icmp4, icmp6, ipv4, ipv6, raw, sctp, tcp, udp } from '../../src/packet/builder.js';
import { FWD_DROUTE, IPPROTO_TCP, ServiceTable } from '../../src/core/services.js';
import { deriveSteering, type SteeringSpec } from '../../src/io/steering.js';
import { BPF_ACCEPT, BPF_MAXINSNS, BpfAssembler, compileSocketFilter } from '../../src/io/bpf.js';
import { checkProgram, decodeProgram, runCbpf } from '../helpers/cbpf.js';
import { sampleInput, sampleTable, w } from '../helpers/steering-sample.js';

const t4 = (src: string, dst: string, sport: number, dport: number): Uint8Array =>
  eth({}, ipv4({ src, dst }, tcp({ sport, dport, flags: 0x02 })));
const u4 = (src: string, dst: string, sport: number, dport: number): Uint8Array =>
  eth({}, ipv4({ src, dst }, udp({ sport, dport, payload: new Uint8Array(8) })));
const quoted4 = ipv4({ src: '10.0.0.100', dst: '203.0.113.9' }, tcp({ sport: 80, dport: 5555 }));
const icmpErr4 = (src: string, dst: string, type: number): Uint8Array =>
  eth({}, ipv4({ src, dst }, icmp4({ type, code: 0, payload: quoted4.subarray(0, 28) })));
const quoted6 = ipv6({ src: '2001:db8:1::100', dst: '2001:db8:77::9' }, sctp({ sport: 5000, dport: 9 }));
const icmpErr6 = (src: string, dst: string, type: number): Uint8Array =>
  eth({}, ipv6({ src, dst }, icmp6({ type, payload: quoted6.subarray(0, 48) })));

/** [name, frame, accepted?] for the sample spec (test/helpers/steering-sample.ts). */
function rows(): [string, Uint8Array, boolean][] {
  const C = '203.0.113.9';
  const C6 = '2001:db8:77::9';
  return [
    ['ARP', eth({ ethType: 0x0806 }, new Uint8Array(28)), true],
    ['LLDP', eth({ ethType: 0x88cc }, new Uint8Array(40)), false],
    // (a)
    ['tcp to VIP:80', t4(C, '10.0.0.100', 5555, 80), true],
    ['udp to VIP:53', u4(C, '10.0.0.100', 5555, 53), true],
    ['tcp to VIP:81', t4(C, '10.0.0.100', 5555, 81), false],
    ['udp to VIP:80 (service is tcp)', u4(C, '10.0.0.100', 5555, 80), false],
    ['tcp to own non-VIP:80', t4(C, '10.0.0.1', 5555, 80), false],
    ['tcp to non-local VIP', t4(C, '10.0.0.200', 5555, 443), false],
    ['tcp to any-port VIP', t4(C, '10.0.0.101', 5555, 12345), true],
    ['udp to any-port tcp VIP', u4(C, '10.0.0.101', 5555, 12345), false],
    [
      'sctp to v6 VIP',
      eth({}, ipv6({ src: C6, dst: '2001:db8:1::100' }, sctp({ sport: 9, dport: 5000 }))),
      true,
    ],
    [
      'sctp to v6 VIP other port',
      eth({}, ipv6({ src: C6, dst: '2001:db8:1::100' }, sctp({ sport: 9, dport: 5001 }))),
      false,
    ],
    [
      'tcp to v6 VIP port 5000',
      eth({}, ipv6({ src: C6, dst: '2001:db8:1::100' }, tcp({ sport: 9, dport: 5000 }))),
      false,
    ],
    ['fwmark net, port in range', t4(C, '10.0.5.200', 5555, 85), true],
    ['fwmark net, port above range', t4(C, '10.0.5.200', 5555, 91), false],
    ['fwmark net, wrong protocol', u4(C, '10.0.5.200', 5555, 85), false],
    ['outside fwmark net', t4(C, '10.0.6.1', 5555, 85), false],
    // (b)
    ['NAT return', t4('172.16.0.2', C, 8080, 5555), true],
    ['NAT return to the director', t4('172.16.0.2', '172.16.0.1', 8080, 5555), false],
    ['NAT return to a VIP (own)', t4('172.16.0.2', '10.0.0.100', 8080, 5555), false],
    ['RS, other source port', t4('172.16.0.2', C, 22, 5555), false],
    ['NAT any-port dest', t4('172.16.0.5', C, 1234, 5555), true],
    ['DR real server reply', t4('172.16.0.3', C, 8080, 5555), false],
    ['fwmark NAT dest udp', u4('172.16.0.8', C, 80, 5555), true],
    [
      'v6 NAT return',
      eth({}, ipv6({ src: '2001:db8:2::2', dst: C6 }, sctp({ sport: 5001, dport: 9 }))),
      true,
    ],
    [
      'v6 NAT return to own',
      eth({}, ipv6({ src: '2001:db8:2::2', dst: '2001:db8:1::1' }, sctp({ sport: 5001, dport: 9 }))),
      false,
    ],
    // (c)
    ['FullNAT return in range', t4('172.16.0.7', '172.16.0.200', 443, 40500), true],
    ['FullNAT return range end', t4('172.16.0.7', '172.16.0.200', 443, 40999), true],
    ['FullNAT return below range', t4('172.16.0.7', '172.16.0.200', 443, 39999), false],
    ['FullNAT return above range', t4('172.16.0.7', '172.16.0.200', 443, 41000), false],
    // (d)
    ['ICMP unreachable to VIP', icmpErr4('192.0.2.1', '10.0.0.100', 3), true],
    ['ICMP time exceeded to pool', icmpErr4('192.0.2.1', '172.16.0.200', 11), true],
    ['ICMP param problem from RS to client', icmpErr4('172.16.0.2', C, 12), true],
    ['ICMP unreachable from RS to the director', icmpErr4('172.16.0.2', '172.16.0.1', 3), false],
    ['ICMP unreachable from elsewhere to client', icmpErr4('192.0.2.1', C, 3), false],
    ['ICMP echo to VIP', eth({}, ipv4({ src: C, dst: '10.0.0.100' }, icmp4({ type: 8 }))), false],
    ['ICMPv6 too big to VIP', icmpErr6('2001:db8:99::1', '2001:db8:1::100', 2), true],
    ['ICMPv6 unreachable from RS to client', icmpErr6('2001:db8:2::2', C6, 1), true],
    ['ICMPv6 unreachable from RS to own', icmpErr6('2001:db8:2::2', '2001:db8:1::1', 1), false],
    ['ICMPv6 echo to VIP', eth({}, ipv6({ src: C6, dst: '2001:db8:1::100' }, icmp6({ type: 128 }))), false],
    [
      'ICMPv6 neighbour advert',
      eth({}, ipv6({ src: 'fe80::1', dst: 'fe80::2' }, icmp6({ type: 136 }))),
      true,
    ],
    [
      'ICMPv6 neighbour solicit',
      eth({}, ipv6({ src: 'fe80::1', dst: 'ff02::1:ff00:1' }, icmp6({ type: 135 }))),
      false,
    ],
    // (e)
    [
      'v4 first fragment to VIP, other port',
      eth(
        {},
        ipv4(
          { src: C, dst: '10.0.0.100', mf: true },
          udp({ sport: 1, dport: 9999, payload: new Uint8Array(64) }),
        ),
      ),
      true,
    ],
    [
      'v4 later fragment to VIP',
      eth({}, ipv4({ src: C, dst: '10.0.0.100', fragOffset: 1480 }, raw(17, new Uint8Array(64)))),
      true,
    ],
    [
      'v4 later fragment elsewhere',
      eth({}, ipv4({ src: C, dst: '10.0.0.1', fragOffset: 1480 }, raw(17, new Uint8Array(64)))),
      false,
    ],
    [
      // (f) a NAT real server's reply fragment: the engine follows its first fragment's connection
      'v4 later fragment from a NAT RS to a client',
      eth({}, ipv4({ src: '172.16.0.2', dst: C, fragOffset: 8, mf: true }, raw(6, new Uint8Array(64)))),
      true,
    ],
    [
      'v4 later fragment from a NAT RS to the director itself',
      eth({}, ipv4({ src: '172.16.0.2', dst: '10.0.0.1', fragOffset: 8 }, raw(17, new Uint8Array(64)))),
      false,
    ],
    [
      'v4 later fragment from a host that is not a real server',
      eth({}, ipv4({ src: '172.16.0.99', dst: C, fragOffset: 8 }, raw(17, new Uint8Array(64)))),
      false,
    ],
    [
      'v6 fragment to VIP',
      eth(
        {},
        ipv6(
          { src: C6, dst: '2001:db8:1::100', ext: [{ type: 'frag', offset: 1448 }] },
          raw(132, new Uint8Array(32)),
        ),
      ),
      true,
    ],
    [
      'v6 hop-by-hop to VIP (unsure: accept)',
      eth(
        {},
        ipv6({ src: C6, dst: '2001:db8:1::100', ext: [{ type: 'hop' }] }, sctp({ sport: 9, dport: 1 })),
      ),
      true,
    ],
    [
      'v6 hop-by-hop elsewhere',
      eth({}, ipv6({ src: C6, dst: '2001:db8:1::1', ext: [{ type: 'hop' }] }, tcp({ sport: 9, dport: 22 }))),
      false,
    ],
    ['truncated IPv4 to VIP', t4(C, '10.0.0.100', 5555, 80).subarray(0, 14 + 20), false],
  ];
}

const spec = (): SteeringSpec => deriveSteering(sampleTable(), sampleInput);

test('bpf: exact filter accepts exactly the steered categories', () => {
  const f = compileSocketFilter(spec());
  assert.equal(f.level, 'exact');
  assert.equal(f.count, f.program.length / 8);
  checkProgram(f.program);
  for (const [name, frame, accepted] of rows()) {
    const r = runCbpf(f.program, frame);
    assert.equal(r.ret, accepted ? BPF_ACCEPT : 0, `${name}: got ${r.ret}`);
  }
});

test('bpf: an empty spec still takes ARP and neighbour adverts, nothing else', () => {
  const f = compileSocketFilter(
    deriveSteering(new ServiceTable({ isScheduler: () => true }), { local: {}, interfaces: [] }),
  );
  checkProgram(f.program);
  for (const [name, frame] of rows()) {
    const keep = name === 'ARP' || name === 'ICMPv6 neighbour advert';
    assert.equal(runCbpf(f.program, frame).ret, keep ? BPF_ACCEPT : 0, name);
  }
});

test('bpf: too big -> coarser filters, flagged', () => {
  const exact = compileSocketFilter(spec());
  const byAddr = compileSocketFilter(spec(), { maxInsns: exact.count - 1 });
  assert.equal(byAddr.level, 'addresses');
  checkProgram(byAddr.program);
  const verdict = (p: Uint8Array, f: Uint8Array): number => runCbpf(p, f).ret;
  // addresses: any port of a VIP, but still nothing for unrelated addresses
  assert.equal(verdict(byAddr.program, t4('203.0.113.9', '10.0.0.100', 1, 81)), BPF_ACCEPT);
  assert.equal(verdict(byAddr.program, t4('203.0.113.9', '10.0.0.1', 1, 80)), 0);
  assert.equal(verdict(byAddr.program, t4('172.16.0.2', '203.0.113.9', 22, 1)), BPF_ACCEPT);
  // every frame the exact filter keeps, the coarse one keeps too
  for (const [name, frame, accepted] of rows())
    if (accepted) assert.equal(verdict(byAddr.program, frame), BPF_ACCEPT, name);
  const all = compileSocketFilter(spec(), { maxInsns: 10 });
  assert.equal(all.level, 'all-ip');
  assert.equal(verdict(all.program, t4('203.0.113.9', '10.0.0.1', 1, 80)), BPF_ACCEPT);
  assert.equal(verdict(all.program, eth({ ethType: 0x88cc }, new Uint8Array(40))), 0);
});

test('bpf: far jumps (many ports on one VIP) stay exact and correct', () => {
  const t = new ServiceTable({ isScheduler: () => true });
  for (let p = 1000; p < 1600; p++)
    t.addService({ af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: p });
  const s = deriveSteering(t, { local: { addrs4: ['10.0.0.100'] }, interfaces: [] });
  const f = compileSocketFilter(s);
  assert.equal(f.level, 'exact');
  assert.ok(f.count > 600 && f.count <= BPF_MAXINSNS, String(f.count));
  checkProgram(f.program);
  // the conditional jumps that reach the far accept went through `ja`
  assert.ok(decodeProgram(f.program).some((i) => i.code === 0x05 && i.k > 255));
  for (const p of [1000, 1299, 1599])
    assert.equal(runCbpf(f.program, t4('203.0.113.9', '10.0.0.100', 1, p)).ret, BPF_ACCEPT, String(p));
  for (const p of [999, 1600, 80])
    assert.equal(runCbpf(f.program, t4('203.0.113.9', '10.0.0.100', 1, p)).ret, 0, String(p));
  // ~4000 services do not fit: coarse, flagged
  for (let p = 2000; p < 4500; p++)
    t.addService({ af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: p });
  const big = compileSocketFilter(deriveSteering(t, { local: { addrs4: ['10.0.0.100'] }, interfaces: [] }));
  assert.equal(big.level, 'addresses');
  assert.ok(big.count <= BPF_MAXINSNS);
});

test('bpf assembler: labels resolve forward only, offsets relative to the next instruction', () => {
  const a = new BpfAssembler();
  a.emit(0x28, 12); // ldh [12]
  a.emit(0x15, 0x800, 'yes', 'no');
  a.label('no');
  a.emit(0x06, 0);
  a.label('yes');
  a.emit(0x06, 1);
  const ins = decodeProgram(a.assemble());
  assert.deepEqual(ins[1], { code: 0x15, jt: 1, jf: 0, k: 0x800 });
  const b = new BpfAssembler();
  b.label('back');
  b.emit(0x15, 0, 'back', null);
  b.emit(0x06, 0);
  assert.throws(() => b.assemble(), /backward/);
});

test('bpf: offloaded flows are excluded for plain segments only, exactly by their 4-tuple', () => {
  const C = '203.0.113.9';
  const C6 = '2001:db8:77::9';
  const flows = [
    { af: 4 as const, caddr: C, cport: 5555, vaddr: '10.0.0.100', vport: 80 },
    { af: 4 as const, caddr: C, cport: 6666, vaddr: '10.0.0.100', vport: 80 },
    { af: 6 as const, caddr: C6, cport: 7777, vaddr: '2001:db8:1::100', vport: 443 },
  ];
  // the sample plus an IPv6 TCP service, so that both families have frames the filter accepts
  const table = sampleTable();
  const v6 = { af: 6, proto: IPPROTO_TCP, addr: w('2001:db8:1::100'), port: 443 };
  table.addService(v6);
  table.addDest(v6, { addr: w('2001:db8:2::3'), port: 443, fwd: FWD_DROUTE });
  const withV6 = deriveSteering(table, sampleInput);
  const f = compileSocketFilter(withV6, { exclude: flows });
  assert.equal(f.level, 'exact');
  checkProgram(f.program);
  const seg = (src: string, dst: string, sport: number, dport: number, flags: number): Uint8Array =>
    src.includes(':')
      ? eth({}, ipv6({ src, dst }, tcp({ sport, dport, flags })))
      : eth({}, ipv4({ src, dst }, tcp({ sport, dport, flags })));
  const ACK = 0x10;
  const cases: [string, Uint8Array, number][] = [
    ['offloaded flow, ACK', seg(C, '10.0.0.100', 5555, 80, ACK), 0],
    ['second offloaded flow, ACK|PSH', seg(C, '10.0.0.100', 6666, 80, ACK | 0x08), 0],
    ['offloaded flow, FIN', seg(C, '10.0.0.100', 5555, 80, ACK | 0x01), BPF_ACCEPT],
    ['offloaded flow, SYN', seg(C, '10.0.0.100', 5555, 80, 0x02), BPF_ACCEPT],
    ['offloaded flow, RST', seg(C, '10.0.0.100', 5555, 80, 0x04), BPF_ACCEPT],
    ['other client port', seg(C, '10.0.0.100', 5556, 80, ACK), BPF_ACCEPT],
    ['other client address', seg('203.0.113.10', '10.0.0.100', 5555, 80, ACK), BPF_ACCEPT],
    ['UDP with the same ports', u4(C, '10.0.0.100', 5555, 53), BPF_ACCEPT],
  ];
  cases.push(
    ['IPv6 offloaded flow, ACK', seg(C6, '2001:db8:1::100', 7777, 443, ACK), 0],
    ['IPv6 offloaded flow, FIN', seg(C6, '2001:db8:1::100', 7777, 443, ACK | 0x01), BPF_ACCEPT],
    ['IPv6 other client port', seg(C6, '2001:db8:1::100', 7778, 443, ACK), BPF_ACCEPT],
  );
  for (const [name, frame, want] of cases) assert.equal(runCbpf(f.program, frame).ret, want, name);
  // a first fragment of an offloaded flow stays with lvsd (the kernel rule does not take fragments)
  const frag = eth(
    {},
    ipv4({ src: C, dst: '10.0.0.100', mf: true }, tcp({ sport: 5555, dport: 80, flags: ACK })),
  );
  assert.equal(runCbpf(f.program, frag).ret, BPF_ACCEPT, 'first fragment');
  // without exclusions everything of those flows is accepted
  const plain = compileSocketFilter(withV6);
  assert.equal(runCbpf(plain.program, seg(C, '10.0.0.100', 5555, 80, ACK)).ret, BPF_ACCEPT);
});
