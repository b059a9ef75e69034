/**
 * `ipvsadm -L -c` after real packets went through the engine: NAT TCP through the handshake, a
 * half-open TCP conn, persistent UDP (template + conn), IPv6, a fwmark template (protocol IP, the
 * mark as the virtual address), and one-packet UDP conns that never show. Expected rows are written
 * from the reference row format (§2.8: "%-3s %-6s %-11s %-18s %-18s %s"), the TCP state table (§4.3)
 * and the timeouts (§4.1, §4.3, §4.4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executeIpvsadm, type IpvsadmContext } from '../../src/cli/ipvsadm/index.js';
import { cTcp, cUdp, sTcp, makeTopoWith } from '../helpers/flows.js';
import { NAMES, run } from './ipvsadm-helpers.js';

const SYN = 0x02;
const ACK = 0x10;

/** printf("%-3s %-6s %-11s %-18s %-18s %s\n") */
function row(p: string, exp: string, st: string, c: string, v: string, d: string): string {
  return `${p.padEnd(3)} ${exp.padEnd(6)} ${st.padEnd(11)} ${c.padEnd(18)} ${v.padEnd(18)} ${d}\n`;
}

test('-L -c / -L -c -n / --persistent-conn after packets through the engine', () => {
  const t = makeTopoWith({
    fwmark: (v) => (v.af === 4 && v.daddr[0] === 0x0a000064 && v.dport === 8080 ? 7 : 0),
  });
  const ctx: IpvsadmContext = { director: t.d, nowMs: 1000, names: NAMES };
  for (const line of [
    '-A -t 10.0.0.100:80 -s rr',
    '-a -t 10.0.0.100:80 -r 172.16.0.2:80 -m',
    '-a -t 10.0.0.100:80 -r 172.16.0.3:80 -m',
    '-A -u 10.0.0.100:53 -s rr -p 300',
    '-a -u 10.0.0.100:53 -r 172.16.0.4:53 -m',
    '-A -u 10.0.0.100:514 -s rr -o',
    '-a -u 10.0.0.100:514 -r 172.16.0.4:514 -m',
    '-A -t [2001:db8:1::100]:80 -s rr',
    '-a -t [2001:db8:1::100]:80 -r [2001:db8:2::2]:80 -m',
    '-A -f 7 -s rr -p 60',
    '-a -f 7 -r 172.16.0.4:0 -g',
  ])
    run(ctx, line);

  // 1: full NAT handshake -> ESTABLISHED (rr: first dest in insertion order, 172.16.0.2)
  t.wire.inject(1, cTcp('10.0.0.2', 40000, { flags: SYN }));
  t.run(1000);
  t.wire.inject(2, sTcp('172.16.0.2', 80, '10.0.0.2', 40000, { flags: SYN | ACK }));
  t.run(1000);
  t.wire.inject(1, cTcp('10.0.0.2', 40000, { flags: ACK, seq: 2, ack: 2 }));
  // 2: a SYN only -> SYN_RECV, to the next dest 172.16.0.3
  t.wire.inject(1, cTcp('10.0.0.2', 40001, { flags: SYN }));
  // 3: persistent UDP: a template (NONE, client port 0) then the conn (UDP)
  t.wire.inject(1, cUdp('10.0.0.2', 5000, 53));
  // 4: one-packet UDP: scheduled, forwarded, never in the table
  t.wire.inject(1, cUdp('10.0.0.2', 5001, 514));
  // 5: IPv6 SYN -> SYN_RECV
  t.wire.inject(1, cTcp('2001:db8:1::2', 40002, { flags: SYN }));
  // 6: fwmark 7 (TCP to :8080): template IP 0.0.0.7:0, conn in DR to the packet's port
  t.wire.inject(1, cTcp('10.0.0.2', 40003, { flags: SYN, dport: 8080 }));
  t.run(1000);
  // SYN, SYN-ACK (NAT reply), ACK, SYN, UDP, one-packet UDP, IPv6 SYN, fwmark SYN: all forwarded
  assert.equal(t.wire.drain().sent.length, 8);

  // Listing 1 s later (nowMs 2000): whole seconds left, MM:SS.
  ctx.nowMs = 2000;
  const expected =
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            destination\n' +
    row('TCP', '14:59', 'ESTABLISHED', '10.0.0.2:40000', '10.0.0.100:80', '172.16.0.2:80') +
    row('TCP', '00:59', 'SYN_RECV', '10.0.0.2:40001', '10.0.0.100:80', '172.16.0.3:80') +
    row('UDP', '04:59', 'NONE', '10.0.0.2:0', '10.0.0.100:53', '172.16.0.4:53') +
    row('UDP', '04:59', 'UDP', '10.0.0.2:5000', '10.0.0.100:53', '172.16.0.4:53') +
    row('TCP', '00:59', 'SYN_RECV', '[2001:db8:1::2]:40002', '[2001:db8:1::100]:80', '[2001:db8:2::2]:80') +
    row('IP', '00:59', 'NONE', '10.0.0.2:0', '0.0.0.7:0', '172.16.0.4:0') +
    row('TCP', '00:59', 'SYN_RECV', '10.0.0.2:40003', '10.0.0.100:8080', '172.16.0.4:8080');
  const listed = run(ctx, '-L -c -n');
  // Rows come in table order (the kernel's is hash order); compare as sets, then exactly.
  assert.deepEqual(listed.split('\n').sort(), expected.split('\n').sort());
  assert.equal(listed, expected);

  // Without -n: names from the resolver (rs1.example is 172.16.0.2, vip is 10.0.0.100; http, domain)
  const named = run(ctx, '-L -c');
  assert.ok(
    named.includes(
      row(
        'TCP',
        '14:59',
        'ESTABLISHED',
        '10.0.0.2:40000',
        'a-very-long-virtual-ip-name.example.com:http',
        'rs1.example:http',
      ),
    ),
    named,
  );
  assert.ok(
    named.includes(
      row(
        'UDP',
        '04:59',
        'UDP',
        '10.0.0.2:5000',
        'a-very-long-virtual-ip-name.example.com:domain',
        '172.16.0.4:domain',
      ),
    ),
    named,
  );

  // --persistent-conn adds the pe name / pe_data columns (empty without a persistence engine)
  const pc = run(ctx, '-L -c -n --persistent-conn');
  assert.equal(
    pc.split('\n')[1],
    'pro expire state       source             virtual            destination        pe name          pe_data',
  );
  // printf("%-3s %-6s %-11s %-18s %-18s %-18s %-16s %s\n", ..., "", "")
  assert.equal(
    pc.split('\n')[2],
    'TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:80      ' +
      '172.16.0.2:80'.padEnd(18) +
      ' ' +
      ' '.repeat(16) +
      ' ',
  );

  // The service view counts them: TCP ES is active, SYN_RECV inactive; UDP inactive; templates persist.
  const list = run(ctx, '-L -n --persistent-conn');
  assert.ok(
    list.includes('  -> 172.16.0.2:80                1         0           1          0         \n'),
    list,
  );
  assert.ok(
    list.includes('  -> 172.16.0.3:80                1         0           0          1         \n'),
    list,
  );
  assert.ok(
    list.includes('  -> 172.16.0.4:53                1         1           0          1         \n'),
    list,
  );
  assert.ok(
    list.includes('  -> 172.16.0.4:0                 1         1           0          1         \n'),
    list,
  );

  // -C flushes the services; the connections stay until they expire (as IPVS)
  const r = executeIpvsadm(['-C'], ctx);
  assert.deepEqual(r, { stdout: '', stderr: '', code: 0, changed: true });
  assert.equal(run(ctx, '-L -c -n'), listed);
});

test('--rate after real packets: Director.step runs the 2 s estimator (kernel EWMA, ipvs-reference §4.6)', () => {
  const t = makeTopoWith({});
  const ctx: IpvsadmContext = { director: t.d, nowMs: 1000, names: NAMES };
  run(ctx, '-A -u 10.0.0.100:53 -s rr');
  run(ctx, '-a -u 10.0.0.100:53 -r 172.16.0.4 -m');
  // 10 new UDP conns of 28-byte IPv4 packets (20 IP + 8 UDP, no payload) at t = 1 s
  for (let i = 0; i < 10; i++) t.wire.inject(1, cUdp('10.0.0.2', 6000 + i, 53));
  t.run(1000);
  t.run(3000); // one estimator period later
  // cps = inpps = ((10 << 9) >> 2 + 0x1ff) >> 10 = 1; inbps = ((280 << 4) >> 2 + 0xf) >> 5 = 35
  const line = (name: string) =>
    name.padEnd(33) + [1, 1, 0, 35, 0].map((v) => String(v).padStart(9)).join('') + '\n';
  const rate = run(ctx, '-L -n --rate');
  assert.ok(rate.includes(line('UDP  10.0.0.100:53')), rate);
  assert.ok(
    rate.includes('  -> 172.16.0.4:53                       1        1        0       35        0\n'),
    rate,
  );
  const stats = run(ctx, '-L -n --stats');
  assert.ok(
    stats.includes(
      'UDP  10.0.0.100:53'.padEnd(33) + [10, 10, 0, 280, 0].map((v) => String(v).padStart(9)).join('') + '\n',
    ),
    stats,
  );
  // -Z: counters and rates of the service start again from zero
  run(ctx, '-Z -u 10.0.0.100:53');
  const zeroLine = 'UDP  10.0.0.100:53'.padEnd(33) + '        0'.repeat(5) + '\n';
  assert.ok(run(ctx, '-L -n --rate').includes(zeroLine));
  assert.ok(run(ctx, '-L -n --stats').includes(zeroLine));
});
