/**
 * ICMP errors about connections (ipvs-reference §5.6), VLAN metadata, and "no destination"
 * (ip_vs_leave: ICMP port unreachable), byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eth, icmp4, icmp6, ipv4, ipv6, raw, tcp, udp, type L4 } from '../../src/packet/builder.js';
import { FWD_DROUTE, FWD_MASQ, FWD_TUNNEL, TUN_F_NOCSUM, TUN_IPIP } from '../../src/core/services.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import {
  describe,
  ETH0_VLAN100,
  expectTunnel,
  makeFwdTopo,
  MAC,
  MAC6,
  one,
  run1,
  sameBytes,
  w,
} from '../helpers/fwd.js';
import { ADDR, type Af, fromClient, fromRs, ip, PROTO, toClient, toRs } from '../helpers/pkts.js';
import type { Topo } from '../helpers/topo.js';

const ipHl = (af: Af): number => (af === 4 ? 20 : 40);

/** An ICMP / ICMPv6 error of the given kind quoting `quote`. */
function icmpErr(af: Af, kind: 'unreach' | 'toobig', quote: Uint8Array, mtu = 1400): L4 {
  if (af === 4)
    return icmp4({
      type: 3,
      code: kind === 'unreach' ? 3 : 4,
      rest: kind === 'toobig' ? mtu : 0,
      payload: quote,
    });
  return kind === 'unreach'
    ? icmp6({ type: 1, code: 4, payload: quote })
    : icmp6({ type: 2, code: 0, rest: mtu, payload: quote });
}

function natTopo(af: Af, fwd = FWD_MASQ, rs: string = ADDR[af].rs, daf: Af = af): Topo {
  const t = makeFwdTopo();
  const A = ADDR[af];
  const key = { af, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, {
    af: daf,
    addr: w(rs),
    port: fwd === FWD_MASQ ? 8080 : 80,
    fwd,
    ...(fwd === FWD_TUNNEL ? { tunType: TUN_IPIP, tunFlags: TUN_F_NOCSUM } : {}),
  });
  one(
    run1(
      t,
      1,
      fromClient(
        ip(af, { src: A.client, dst: A.vip, ttl: 57 }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
      ),
    ),
    fwd === FWD_TUNNEL ? 3 : 2,
    'SYN',
  );
  return t;
}

// ------------------------------------------------------------------ RS -> client about a NAT conn

for (const af of [4, 6] as const)
  for (const kind of ['unreach', 'toobig'] as const)
    for (const truncated of [false, true]) {
      test(`ICMP ${af} ${kind} from the RS (quote ${truncated ? 'IP+8' : 'whole'}): outer src VIP, quote VIP:vport`, () => {
        const t = natTopo(af);
        const A = ADDR[af];
        const q = (dst: string, dport: number): Uint8Array => {
          const p = ip(af, { src: A.client, dst, ttl: 57 }, tcp({ sport: 40000, dport, flags: TCP_SYN }));
          return truncated ? p.subarray(0, ipHl(af) + 8) : p;
        };
        const input = fromRs(ip(af, { src: A.rs, dst: A.client, ttl: 64 }, icmpErr(af, kind, q(A.rs, 8080))));
        const expected = toClient(
          ip(af, { src: A.vip, dst: A.client, ttl: 63 }, icmpErr(af, kind, q(A.vip, 80))),
        );
        sameBytes(one(run1(t, 2, input, {}, 1001), 1).bytes, expected, 'translated error');
      });
    }

// ------------------------------------------------------------------ outside -> VIP about a conn

for (const af of [4, 6] as const) {
  const A = ADDR[af];
  const quoteOf = (src: string, sport: number): Uint8Array =>
    ip(af, { src, dst: A.client, ttl: 63 }, tcp({ sport, dport: 40000, flags: TCP_SYN | TCP_ACK }));
  const fromRouter = (quote: Uint8Array): Uint8Array =>
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ip(af, { src: A.router, dst: A.vip, ttl: 250 }, icmpErr(af, 'toobig', quote)),
    );

  test(`ICMP ${af} from outside about a NAT conn: to the RS, inner rewritten to RS:rport`, () => {
    const t = natTopo(af);
    const input = fromRouter(quoteOf(A.vip, 80));
    const expected = toRs(
      ip(af, { src: A.router, dst: A.rs, ttl: 250 }, icmpErr(af, 'toobig', quoteOf(A.rs, 8080))),
    );
    sameBytes(one(run1(t, 1, input, {}, 1001), 2).bytes, expected, 'NAT');
  });

  test(`ICMP ${af} from outside about a DR conn: untouched, to the RS MAC`, () => {
    const t = natTopo(af, FWD_DROUTE, A.rs2);
    const input = fromRouter(quoteOf(A.vip, 80));
    sameBytes(one(run1(t, 1, input, {}, 1001), 2).bytes, toRs(input.subarray(14), MAC.rs2), 'DR');
  });

  test(`ICMP ${af} from outside about a TUN conn: encapsulated to the RS`, () => {
    const rs = '198.51.100.10';
    const t = natTopo(af, FWD_TUNNEL, rs, 4);
    const input = fromRouter(quoteOf(A.vip, 80));
    const o = one(run1(t, 1, input, {}, 1001), 3);
    const row = { daf: 4 as const, rs, tunType: TUN_IPIP, tunFlags: 0, tunPort: 0 };
    sameBytes(o.bytes, expectTunnel(row, input.subarray(14), o.bytes, af), 'TUN');
  });

  test(`ICMP ${af} about unknown flows -> VERDICT_KERNEL, untouched`, () => {
    const t = natTopo(af);
    const rows = [
      fromRouter(quoteOf(A.vip, 81)), // VIP, other port
      fromRouter(ip(af, { src: A.vip, dst: A.remoteClient }, tcp({ sport: 80, dport: 40000 }))), // other client
      fromRs(
        ip(
          af,
          { src: A.rs, dst: A.client },
          icmpErr(af, 'unreach', ip(af, { src: A.client, dst: A.rs }, udp({ sport: 40000, dport: 8080 }))),
        ),
      ), // udp, no conn
    ];
    for (const f of rows) {
      const r = run1(t, 1, f, {}, 1001);
      assert.equal(r.toKernel.length, 1, describe(r));
      sameBytes(r.toKernel[0]!.bytes, f, 'to kernel');
    }
  });

  test(`ICMP ${af} with garbage quotes: counted drops, never a throw`, () => {
    const t = natTopo(af);
    const good = ip(af, { src: A.client, dst: A.rs }, tcp({ sport: 40000, dport: 8080 }));
    const T = Drop.IcmpInnerTruncated;
    const M = Drop.IcmpInnerMalformed;
    const garbage: Array<[Uint8Array, number]> = [
      [good.subarray(0, 10), T], // cut inside the IP header
      [Uint8Array.from(good, (b, i) => (i === 0 ? (b & 0x0f) | 0x50 : b)), M], // version 5
      [new Uint8Array(0), T],
      [new Uint8Array(64).fill(0xff), M],
    ];
    if (af === 4) garbage.push([Uint8Array.from(good, (b, i) => (i === 0 ? 0x42 : b)), M]); // IHL 2
    const icmpProto = af === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const before = t.d.engine.drops[T]! + t.d.engine.drops[M]!;
    for (const [q, reason] of garbage) {
      const f = fromRs(ip(af, { src: A.rs, dst: A.client }, icmpErr(af, 'unreach', q)));
      const r = run1(t, 2, f, {}, 1001);
      assert.equal(r.sent.length + r.toKernel.length, 0, describe(r));
      assert.deepEqual(
        r.dropped.map((d) => d.reason),
        [reason],
      );
    }
    assert.equal(t.d.engine.drops[T]! + t.d.engine.drops[M]!, before + garbage.length, 'counted');
    // a truncated ICMP header itself
    const short = fromRs(ip(af, { src: A.rs, dst: A.client }, raw(icmpProto, new Uint8Array([3, 3, 0]))));
    const r = run1(t, 2, short, {}, 1001);
    assert.equal(r.sent.length, 0, describe(r));
  });
}

// ------------------------------------------------------------------ VLAN

test('VLAN: out-of-band tag in, plain egress interface out: outVlanTci -1', () => {
  const t = natTopo(4);
  const A = ADDR[4];
  const p = (dst: string, dport: number): Uint8Array =>
    ip(4, { src: A.client, dst }, tcp({ sport: 40001, dport, flags: TCP_SYN }));
  const o = one(run1(t, 1, fromClient(p(A.vip, 80)), { vlanTci: 100 }, 1001), 2);
  assert.equal(o.vlanTci, -1);
  sameBytes(o.bytes, toRs(p(A.rs, 8080)), 'NAT');
});

test('VLAN: egress on a VLAN sub-interface leaves on the parent with outVlanTci = its id; replies too', () => {
  const t = makeFwdTopo();
  const A = ADDR[4];
  const key = { af: 4, proto: PROTO.udp, addr: w(A.vip), port: 53 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w('172.16.20.2'), port: 53, fwd: FWD_MASQ });
  const q = (src: string, dst: string, sp: number, dp: number, ttl = 64): Uint8Array =>
    ip(4, { src, dst, ttl }, udp({ sport: sp, dport: dp, payload: new Uint8Array([1, 2, 3]) }));
  const o = one(run1(t, 1, fromClient(q(A.client, A.vip, 5000, 53)), { vlanTci: 100 }), 2);
  assert.equal(o.vlanTci, 200);
  sameBytes(
    o.bytes,
    eth({ src: MAC.eth1, dst: MAC6.rsVlan }, q(A.client, '172.16.20.2', 5000, 53)),
    'to RS on VLAN',
  );
  // reply: out-of-band tag 200 on the parent, and the same reply tagged in band
  const reply = q('172.16.20.2', A.client, 53, 5000);
  const expected = toClient(q(A.vip, A.client, 53, 5000, 63));
  const r1 = one(run1(t, 2, eth({ src: MAC6.rsVlan, dst: MAC.eth1 }, reply), { vlanTci: 200 }, 1001), 1);
  assert.equal(r1.vlanTci, -1);
  sameBytes(r1.bytes, expected, 'reply (out-of-band tag)');
  const inband = eth({ src: MAC6.rsVlan, dst: MAC.eth1, vlans: [{ tci: 200 }] }, reply);
  const r2 = one(run1(t, 2, inband, {}, 1002), 1);
  assert.equal(r2.vlanTci, -1);
  sameBytes(r2.bytes, expected, 'reply (in-band tag)');
});

for (const af of [4, 6] as const) {
  test(`VLAN ${af}: an in-band tagged client frame is handled and leaves untagged`, () => {
    const t = natTopo(af);
    const A = ADDR[af];
    const p = (dst: string, dport: number): Uint8Array =>
      ip(af, { src: A.client, dst }, tcp({ sport: 40002, dport, flags: TCP_SYN }));
    const input = eth({ src: MAC.client, dst: MAC.eth0, vlans: [{ tci: 0x2064 }] }, p(A.vip, 80));
    const o = one(run1(t, 1, input, {}, 1001), 2);
    assert.equal(o.vlanTci, -1);
    sameBytes(o.bytes, toRs(p(A.rs, 8080)), 'in-band');
  });
}

// VLAN ingress (kernel __netif_receive_skb_core / vlan_do_receive): a tag selects the VLAN
// sub-interface of the interface it arrived on; VLAN id 0 is a priority tag only; an id with no up
// sub-interface makes the frame PACKET_OTHERHOST, which IP drops, so no connection may come of it.
for (const af of [4, 6] as const) {
  const A = ADDR[af];
  const syn = (sport: number): Uint8Array =>
    ip(af, { src: A.client, dst: A.vip }, tcp({ sport, dport: 80, flags: TCP_SYN }));
  const rows: { name: string; frame: (sport: number) => Uint8Array; meta: { vlanTci?: number } }[] = [
    { name: 'out-of-band tag 7', frame: (p) => fromClient(syn(p)), meta: { vlanTci: 7 } },
    {
      name: 'in-band tag 7',
      frame: (p) => eth({ src: MAC.client, dst: MAC.eth0, vlans: [{ tci: 7 }] }, syn(p)),
      meta: {},
    },
    {
      name: 'QinQ in band, outer 100 known, inner 9 not',
      frame: (p) => eth({ src: MAC.client, dst: MAC.eth0, vlans: [{ tci: 100 }, { tci: 9 }] }, syn(p)),
      meta: {},
    },
    {
      name: 'out-of-band 100 then in-band 9',
      frame: (p) => eth({ src: MAC.client, dst: MAC.eth0, vlans: [{ tci: 9 }] }, syn(p)),
      meta: { vlanTci: 100 },
    },
    {
      name: 'tag 200 on eth0 (VLAN 200 lives on eth1)',
      frame: (p) => fromClient(syn(p)),
      meta: { vlanTci: 200 },
    },
  ];
  for (const [k, row] of rows.entries())
    test(`VLAN ${af}: ${row.name}: dropped as unknown_vlan, no connection`, () => {
      const t = natTopo(af);
      const before = t.d.conns.count;
      const r = run1(t, 1, row.frame(41000 + k), row.meta, 1001);
      assert.equal(r.sent.length, 0, describe(r));
      assert.deepEqual(
        r.dropped.map((d) => d.reason),
        [Drop.UnknownVlan],
      );
      assert.equal(t.d.conns.count, before);
    });

  test(`VLAN ${af}: priority tags (VLAN id 0) in and out of band are untagged traffic`, () => {
    const t = natTopo(af);
    for (const [k, meta, vlans] of [
      [0, { vlanTci: 0x6000 }, []],
      [1, {}, [{ tci: 0xa000 }]],
      [2, {}, [{ tci: 0x2000 }, { tci: 100 }]],
    ] as const) {
      const input = eth({ src: MAC.client, dst: MAC.eth0, vlans: [...vlans] }, syn(41100 + k));
      const o = one(run1(t, 1, input, meta, 1001 + k), 2, `priority ${k}`);
      sameBytes(
        o.bytes,
        toRs(ip(af, { src: A.client, dst: A.rs }, tcp({ sport: 41100 + k, dport: 8080, flags: TCP_SYN }))),
        `priority ${k}`,
      );
    }
  });
}

test('VLAN: a down sub-interface receives nothing; up again, it does', () => {
  const t = natTopo(4);
  const A = ADDR[4];
  const sub = ETH0_VLAN100;
  const frame = (sport: number): Uint8Array =>
    fromClient(ip(4, { src: A.client, dst: A.vip }, tcp({ sport, dport: 80, flags: TCP_SYN })));
  t.d.net.setInterface({ ...sub, up: false });
  const r = run1(t, 1, frame(41200), { vlanTci: 100 }, 1001);
  assert.deepEqual(
    r.dropped.map((d) => d.reason),
    [Drop.UnknownVlan],
  );
  t.d.net.setInterface({ ...sub, up: true });
  one(run1(t, 1, frame(41201), { vlanTci: 100 }, 1002), 2, 'up');
  // removed: the id is unknown again
  t.d.net.removeInterface(6);
  const gone = run1(t, 1, frame(41202), { vlanTci: 100 }, 1003);
  assert.deepEqual(
    gone.dropped.map((d) => d.reason),
    [Drop.UnknownVlan],
  );
});

test('VLAN: a client on a VLAN sub-interface is learnt there, so the first NAT reply reaches it tagged', () => {
  const t = natTopo(4);
  const A = ADDR[4];
  const client = '10.100.0.50';
  const clientMac = '02:00:00:00:64:32';
  const syn = ip(4, { src: client, dst: A.vip }, tcp({ sport: 41300, dport: 80, flags: TCP_SYN }));
  one(run1(t, 1, eth({ src: clientMac, dst: MAC.eth0 }, syn), { vlanTci: 100 }, 1001), 2, 'SYN');
  const synAck = ip(
    4,
    { src: A.rs, dst: client },
    tcp({ sport: 8080, dport: 41300, flags: TCP_SYN | TCP_ACK }),
  );
  const o = one(run1(t, 2, fromRs(synAck), {}, 1002), 1, 'SYN-ACK');
  assert.equal(o.vlanTci, 100, 'leaves the parent tagged 100');
  sameBytes(
    o.bytes,
    eth(
      { src: MAC.eth0, dst: clientMac },
      ip(4, { src: A.vip, dst: client, ttl: 63 }, tcp({ sport: 80, dport: 41300, flags: TCP_SYN | TCP_ACK })),
    ),
    'reply to the learnt MAC',
  );
});

// ------------------------------------------------------------------ no destination

function portUnreach(af: Af, orig: Uint8Array): Uint8Array {
  const A = ADDR[af];
  const l3 = orig.subarray(14);
  return af === 4
    ? toClient(
        ipv4(
          { src: A.vip, dst: A.client, ttl: 64, tos: 0xc0, id: 0 },
          icmp4({ type: 3, code: 3, payload: l3 }),
        ),
      )
    : toClient(ipv6({ src: A.vip, dst: A.client, hopLimit: 64 }, icmp6({ type: 1, code: 4, payload: l3 })));
}

for (const af of [4, 6] as const)
  for (const proto of ['tcp', 'udp'] as const) {
    test(`no destination ${af} ${proto} (all weight 0): NoDestination + ICMP port unreachable, same VLAN`, () => {
      const t = makeFwdTopo();
      const A = ADDR[af];
      const key = { af, proto: PROTO[proto], addr: w(A.vip), port: 80 };
      t.d.services.addService(key, { scheduler: 'wlc' });
      t.d.services.addDest(key, { addr: w(A.rs), port: 80, fwd: FWD_MASQ, weight: 0 });
      t.d.services.addDest(key, { addr: w(A.rs2), port: 80, fwd: FWD_DROUTE, weight: 0 });
      const l4 =
        proto === 'tcp'
          ? tcp({ sport: 40000, dport: 80, flags: TCP_SYN })
          : udp({ sport: 40000, dport: 80, payload: new Uint8Array(20) });
      const input = fromClient(ip(af, { src: A.client, dst: A.vip }, l4));
      const r = run1(t, 1, input, { vlanTci: 100 });
      const o = one(r, 1, 'ICMP');
      assert.equal(o.vlanTci, 100, 'the ICMP goes back on the VLAN it came from');
      sameBytes(o.bytes, portUnreach(af, input), 'port unreachable');
      assert.deepEqual(
        r.dropped.map((d) => d.reason),
        [Drop.NoDestination],
      );
      assert.equal(t.d.engine.drops[Drop.NoDestination], 1);
      assert.equal(t.d.conns.count, 0);
      // a non-SYN TCP segment does not schedule and gets no ICMP
      if (proto === 'tcp') {
        const ack = fromClient(
          ip(af, { src: A.client, dst: A.vip }, tcp({ sport: 40000, dport: 80, flags: TCP_ACK })),
        );
        const r2 = run1(t, 1, ack, {}, 1001);
        assert.equal(r2.sent.length, 0);
        assert.deepEqual(
          r2.dropped.map((d) => d.reason),
          [Drop.NotConnectionStart],
        );
      }
    });
  }
