/**
 * Forwarding methods, byte for byte (ipvs-reference §5.2-5.5), Katran style: every row is an input
 * frame and the exact frame expected out, built independently with the packet builder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcp, udp, type CsumMode, type L4 } from '../../src/packet/builder.js';
import {
  FWD_DROUTE,
  FWD_FULLNAT,
  FWD_MASQ,
  FWD_TUNNEL,
  TUN_F_CSUM,
  TUN_F_NOCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from '../../src/core/services.js';
import { TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import { expectTunnel, makeFwdTopo, MAC, one, rd16, run1, sameBytes, describe, w } from '../helpers/fwd.js';
import { ADDR, type Af, fromClient, fromRs, ip, PROTO, toClient, toRs } from '../helpers/pkts.js';

type Proto = 'tcp' | 'udp';

function l4(proto: Proto, sport: number, dport: number, flags: number, csum: CsumMode = 'good'): L4 {
  return proto === 'tcp'
    ? tcp({ sport, dport, flags, seq: 1000, ack: flags & TCP_ACK ? 5 : 0, csum })
    : udp({ sport, dport, payload: new Uint8Array([1, 2, 3, 4, 5, 6, 7]), csum });
}

// ------------------------------------------------------------------ NAT in and out

interface NatRow {
  af: Af;
  proto: Proto;
  csum: CsumMode;
  vport: number;
  rport: number;
}

const natRows: NatRow[] = [];
for (const af of [4, 6] as const) {
  for (const proto of ['tcp', 'udp'] as const) {
    natRows.push({ af, proto, csum: 'good', vport: 80, rport: 8080 });
    natRows.push({ af, proto, csum: 'good', vport: 53, rport: 53 });
  }
}
natRows.push({ af: 4, proto: 'udp', csum: 'zero', vport: 53, rport: 5353 });

for (const r of natRows) {
  test(`NAT ${r.af} ${r.proto} csum=${r.csum} ${r.vport}->${r.rport}: DNAT in, SNAT out, every byte`, () => {
    const t = makeFwdTopo();
    const A = ADDR[r.af];
    const key = { af: r.af, proto: PROTO[r.proto], addr: w(A.vip), port: r.vport };
    t.d.services.addService(key, { scheduler: 'rr' });
    t.d.services.addDest(key, { addr: w(A.rs), port: r.rport, fwd: FWD_MASQ });
    const first = r.proto === 'tcp' ? TCP_SYN : 0;
    const input = fromClient(
      ip(r.af, { src: A.client, dst: A.vip, ttl: 57, tos: 0x10 }, l4(r.proto, 40000, r.vport, first, r.csum)),
    );
    const expectIn = toRs(
      ip(r.af, { src: A.client, dst: A.rs, ttl: 57, tos: 0x10 }, l4(r.proto, 40000, r.rport, first, r.csum)),
    );
    const o1 = one(run1(t, 1, input), 2, 'in');
    sameBytes(o1.bytes, expectIn, 'inbound DNAT');
    assert.equal(o1.vlanTci, -1);

    const reply = fromRs(
      ip(r.af, { src: A.rs, dst: A.client, ttl: 64 }, l4(r.proto, r.rport, 40000, first | TCP_ACK, r.csum)),
    );
    const expectOut = toClient(
      ip(r.af, { src: A.vip, dst: A.client, ttl: 63 }, l4(r.proto, r.vport, 40000, first | TCP_ACK, r.csum)),
    );
    const o2 = one(run1(t, 2, reply, {}, 1001), 1, 'out');
    sameBytes(o2.bytes, expectOut, 'outbound SNAT');
    if (r.csum === 'zero') assert.equal(rd16(o2.bytes, 14 + 20 + 6), 0, 'UDP/IPv4 checksum 0 stays 0');
  });
}

test('NAT: a reply with TTL 1 is not forwarded (TtlExceeded), the wire sees nothing', () => {
  const t = makeFwdTopo();
  const A = ADDR[4];
  const key = { af: 4, proto: PROTO.udp, addr: w(A.vip), port: 53 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w(A.rs), port: 53, fwd: FWD_MASQ });
  one(run1(t, 1, fromClient(ip(4, { src: A.client, dst: A.vip }, l4('udp', 1, 53, 0)))), 2);
  const r = run1(t, 2, fromRs(ip(4, { src: A.rs, dst: A.client, ttl: 1 }, l4('udp', 53, 1, 0))));
  assert.equal(r.sent.length, 0, describe(r));
  assert.equal(r.dropped.length, 1);
});

// ------------------------------------------------------------------ DR

for (const af of [4, 6] as const) {
  for (const proto of ['tcp', 'udp'] as const) {
    test(`DR ${af} ${proto}: IP bytes unchanged, only the MACs (to the RS on eth1)`, () => {
      const t = makeFwdTopo();
      const A = ADDR[af];
      const key = { af, proto: PROTO[proto], addr: w(A.vip), port: 80 };
      t.d.services.addService(key, { scheduler: 'rr' });
      t.d.services.addDest(key, { addr: w(A.rs2), port: 80, fwd: FWD_DROUTE });
      const pkt = ip(af, { src: A.client, dst: A.vip, ttl: 9, tos: 0xb8 }, l4(proto, 40000, 80, TCP_SYN));
      const o = one(run1(t, 1, fromClient(pkt)), 2);
      sameBytes(o.bytes, toRs(pkt, MAC.rs2), 'DR');
      // the next packet of the connection goes the same way
      const pkt2 = ip(af, { src: A.client, dst: A.vip }, l4(proto, 40000, 80, TCP_ACK));
      sameBytes(one(run1(t, 1, fromClient(pkt2), {}, 1001), 2).bytes, toRs(pkt2, MAC.rs2), 'DR 2nd');
    });
  }
}

// ------------------------------------------------------------------ TUN

interface TunRow {
  name: string;
  af: Af; // service (inner) family
  daf: Af; // real server (outer) family
  rs: string;
  tunType: number;
  tunFlags: number;
  tunPort: number;
}

const tunRows: TunRow[] = [];
for (const af of [4, 6] as const) {
  const outers: Array<[Af, string]> = [
    [4, '198.51.100.10'],
    [6, '2001:db8:100::10'],
  ];
  for (const [daf, rs] of outers) {
    tunRows.push({ name: 'ipip', af, daf, rs, tunType: TUN_IPIP, tunFlags: TUN_F_NOCSUM, tunPort: 0 });
    tunRows.push({ name: 'gue', af, daf, rs, tunType: TUN_GUE, tunFlags: TUN_F_NOCSUM, tunPort: 6080 });
    tunRows.push({ name: 'gue+csum', af, daf, rs, tunType: TUN_GUE, tunFlags: TUN_F_CSUM, tunPort: 6080 });
    tunRows.push({ name: 'gre', af, daf, rs, tunType: TUN_GRE, tunFlags: TUN_F_NOCSUM, tunPort: 0 });
    tunRows.push({ name: 'gre+csum', af, daf, rs, tunType: TUN_GRE, tunFlags: TUN_F_CSUM, tunPort: 0 });
  }
}

for (const r of tunRows) {
  test(`TUN ${r.name} inner IPv${r.af} outer IPv${r.daf}: inner unchanged, exact outer header`, () => {
    const t = makeFwdTopo();
    const A = ADDR[r.af];
    const key = { af: r.af, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
    t.d.services.addService(key, { scheduler: 'rr' });
    t.d.services.addDest(key, {
      af: r.daf,
      addr: w(r.rs),
      port: 80,
      fwd: FWD_TUNNEL,
      tunType: r.tunType,
      tunFlags: r.tunFlags,
      ...(r.tunPort ? { tunPort: r.tunPort } : {}),
    });
    let gueSport = -1;
    const rows: Array<[number, boolean, number]> = [
      [TCP_SYN, true, 0x28],
      [TCP_ACK, false, 0x00],
    ];
    for (const [flags, df, tos] of rows) {
      const inner = ip(
        r.af,
        { src: A.client, dst: A.vip, ttl: 61, tos, df },
        tcp({ sport: 40000, dport: 80, flags, payload: new Uint8Array([9, 8, 7]) }),
      );
      const o = one(run1(t, 1, fromClient(inner)), 3, r.name);
      sameBytes(o.bytes, expectTunnel(r, inner, o.bytes, r.af), `${r.name} flags ${flags}`);
      if (r.tunType === TUN_GUE) {
        const sp = rd16(o.bytes, 14 + (r.daf === 4 ? 20 : 40));
        if (gueSport >= 0) assert.equal(sp, gueSport, 'one flow keeps one GUE source port');
        gueSport = sp;
      }
    }
  });
}

// ------------------------------------------------------------------ FullNAT

for (const af of [4, 6] as const) {
  for (const proto of ['tcp', 'udp'] as const) {
    test(`FullNAT ${af} ${proto}: DNAT+SNAT to the local pool in, reverse out`, () => {
      const t = makeFwdTopo();
      const A = ADDR[af];
      const key = { af, proto: PROTO[proto], addr: w(A.vip), port: 80 };
      t.d.services.addService(key, { scheduler: 'rr', localAddrs: [{ af, addr: w(A.laddr) }] });
      t.d.services.addDest(key, { addr: w(A.rs), port: 8080, fwd: FWD_FULLNAT });
      const first = proto === 'tcp' ? TCP_SYN : 0;
      const input = fromClient(ip(af, { src: A.client, dst: A.vip, ttl: 50 }, l4(proto, 40000, 80, first)));
      const o = one(run1(t, 1, input), 2);
      const lport = rd16(o.bytes, 14 + (af === 4 ? 20 : 40));
      assert.ok(lport >= 1024 && lport <= 65535, `local port ${lport}`);
      sameBytes(
        o.bytes,
        toRs(ip(af, { src: A.laddr, dst: A.rs, ttl: 50 }, l4(proto, lport, 8080, first))),
        'FullNAT in',
      );
      const reply = fromRs(
        ip(af, { src: A.rs, dst: A.laddr, ttl: 64 }, l4(proto, 8080, lport, first | TCP_ACK)),
      );
      sameBytes(
        one(run1(t, 2, reply, {}, 1001), 1).bytes,
        toClient(ip(af, { src: A.vip, dst: A.client, ttl: 63 }, l4(proto, 80, 40000, first | TCP_ACK))),
        'FullNAT out',
      );
      // a second client gets another local port
      const input2 = fromClient(ip(af, { src: A.client, dst: A.vip }, l4(proto, 40001, 80, first)));
      const o2 = one(run1(t, 1, input2, {}, 1002), 2);
      assert.notEqual(rd16(o2.bytes, 14 + (af === 4 ? 20 : 40)), lport);
    });
  }
}

// ------------------------------------------------------------------ Local

for (const af of [4, 6] as const) {
  test(`Local ${af}: RS address is the director's -> VERDICT_KERNEL, frame untouched`, () => {
    const t = makeFwdTopo();
    const A = ADDR[af];
    const key = { af, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
    t.d.services.addService(key, { scheduler: 'rr' });
    t.d.services.addDest(key, { addr: w(A.local), port: 80, fwd: FWD_MASQ });
    const input = fromClient(ip(af, { src: A.client, dst: A.vip }, l4('tcp', 40000, 80, TCP_SYN)));
    const r = run1(t, 1, input);
    assert.equal(r.sent.length, 0, describe(r));
    assert.equal(r.toKernel.length, 1, describe(r));
    assert.equal(r.toKernel[0]!.ifindex, 1);
    sameBytes(r.toKernel[0]!.bytes, input, 'local');
    assert.equal(t.d.conns.count, 1, 'the connection is still tracked');
  });
}
