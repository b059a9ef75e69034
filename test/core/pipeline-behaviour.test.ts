/**
 * Whole-pipeline behaviour on the in-memory wire (ipvs-reference §3 thresholds/quiescing, §4
 * connections, persistence, reuse, dead destinations, timeouts, fragments, reload).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, type Topo } from '../helpers/topo.js';
import {
  RS4,
  RS6,
  VIP4,
  cTcp,
  cUdp,
  checkTable,
  destStats,
  drops,
  makeTopoWith,
  sTcp,
  seen,
  svcStats,
  clientMac,
} from '../helpers/flows.js';
import { eth, ipv4, raw, udp } from '../../src/packet/builder.js';
import { MAC } from '../helpers/topo.js';
import {
  FWD_MASQ,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  type DestSpec,
  type ServiceKey,
  type ServiceOptions,
} from '../../src/core/services.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/packet/view.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { stateName } from '../../src/conn/state.js';
import { CONN_F_TEMPLATE } from '../../src/conn/flags.js';
import type { EngineSysctl } from '../../src/core/engine.js';

const K4: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port: 80 };
const SYN = { flags: TCP_SYN };
const ACK = { flags: TCP_ACK };

function setup(
  opts: ServiceOptions,
  dests: Partial<DestSpec>[] = [{}, {}, {}],
  sysctl?: Partial<EngineSysctl>,
  key: ServiceKey = K4,
): { t: Topo; ids: number[]; svcId: number } {
  const t = sysctl ? makeTopoWith({ sysctl }) : makeTopo();
  const svcId = t.d.services.addService(key, { scheduler: 'rr', ...opts });
  const v6 = key.af === 6;
  const ids = dests.map((d, i) =>
    t.d.services.addDest(key, { addr: w(v6 ? RS6[i]! : RS4[i]!), port: 8080, fwd: FWD_MASQ, ...d }),
  );
  return { t, ids, svcId };
}

/** Inject frames (client frames on eth0, server frames on eth1) and run at now; return what was sent. */
function send(t: Topo, now: number, ...frames: [number, Uint8Array][]): ReturnType<typeof seen>[] {
  for (const [ifi, f] of frames) t.wire.inject(ifi, f);
  t.run(now);
  return t.wire.drain().sent.map(seen);
}

function rsIndex(addr: string): number {
  const i = (RS4 as readonly string[]).indexOf(addr);
  return i >= 0 ? i : (RS6 as readonly string[]).indexOf(addr);
}

function connOf(t: Topo, caddr: string, cport: number): number {
  let found = -1;
  const a = w(caddr);
  t.d.conns.forEach((h) => {
    const c = t.d.conns;
    if ((c.flags[h]! & CONN_F_TEMPLATE) === 0 && c.c0[h] === a[0] && c.cport[h] === cport) found = h;
  });
  return found;
}

// ------------------------------------------------------------------ persistence

test('persistence: a client sticks to its dest across new connections; one template per client; PersistConn', () => {
  const { t, ids } = setup({ flags: SVC_F_PERSISTENT, timeout: 300 });
  const a = '100.64.0.1';
  const b = '100.64.0.2';
  const firstA = send(t, 1000, [1, cTcp(a, 1000, SYN)])[0]!;
  for (let p = 1001; p < 1006; p++) {
    const s = send(t, 1000 + p, [1, cTcp(a, p, SYN)]);
    assert.equal(s[0]!.dst, firstA.dst, 'same client, same dest (scheduler not consulted)');
  }
  const firstB = send(t, 3000, [1, cTcp(b, 1000, SYN)])[0]!;
  assert.notEqual(firstB.dst, firstA.dst, 'rr moved on for the second client');
  assert.equal(t.d.conns.templateCount, 2);
  assert.equal(t.d.conns.count, 9, '6 + 1 conns, 2 templates');
  const da = ids[rsIndex(firstA.dst)]!;
  const db = ids[rsIndex(firstB.dst)]!;
  assert.equal(t.d.live.persist[da], 1);
  assert.equal(t.d.live.persist[db], 1);
  assert.equal(t.d.live.inactive[da], 6);
  checkTable(t.d);
});

test('persistence netmask (-M 255.255.255.0) groups a /24 of clients; IPv6 prefix /64 does the same', () => {
  const { t } = setup({ flags: SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00 });
  const x = send(t, 1000, [1, cTcp('100.64.1.1', 1000, SYN)])[0]!;
  const y = send(t, 1001, [1, cTcp('100.64.1.200', 1000, SYN)])[0]!;
  const z = send(t, 1002, [1, cTcp('100.64.2.1', 1000, SYN)])[0]!;
  assert.equal(y.dst, x.dst);
  assert.notEqual(z.dst, x.dst);
  assert.equal(t.d.conns.templateCount, 2);

  const K6: ServiceKey = { af: 6, proto: IPPROTO_TCP, addr: w('2001:db8:1::100'), port: 80 };
  const s6 = setup({ flags: SVC_F_PERSISTENT, timeout: 300, netmask: 64 }, [{}, {}, {}], undefined, K6);
  const p = send(s6.t, 1000, [1, cTcp('2001:db8:99:1::1', 1000, SYN)])[0]!;
  const q = send(s6.t, 1001, [1, cTcp('2001:db8:99:1::ffff', 2000, SYN)])[0]!;
  const r = send(s6.t, 1002, [1, cTcp('2001:db8:99:2::1', 1000, SYN)])[0]!;
  assert.equal(q.dst, p.dst);
  assert.notEqual(r.dst, p.dst);
  assert.ok(RS6.includes(p.dst as (typeof RS6)[number]));
  checkTable(s6.t.d);
});

test('port-0 persistent service: a client sticks across ports; dest port 0 keeps the packet port', () => {
  const k0: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port: 0 };
  const { t } = setup(
    { flags: SVC_F_PERSISTENT, timeout: 300 },
    [{ port: 0 }, { port: 0 }, { port: 0 }],
    undefined,
    k0,
  );
  const c = '100.64.0.9';
  const a = send(t, 1000, [1, cTcp(c, 1000, { flags: TCP_SYN, dport: 80 })])[0]!;
  const b = send(t, 1001, [1, cTcp(c, 1001, { flags: TCP_SYN, dport: 443 })])[0]!;
  const other = send(t, 1002, [1, cTcp('100.64.0.10', 1000, { flags: TCP_SYN, dport: 443 })])[0]!;
  assert.equal(b.dst, a.dst, 'same dest across ports');
  assert.equal(a.dport, 80);
  assert.equal(b.dport, 443);
  assert.notEqual(other.dst, a.dst);
  assert.equal(t.d.conns.templateCount, 2, 'one template per client (vport 0)');
  checkTable(t.d);
});

test('fwmark service (Engine fwmark option): persistent across ports that carry the mark', () => {
  const vip = w(VIP4)[0]!;
  const t = makeTopoWith({
    fwmark: (v) => (v.af === 4 && v.daddr[0] === vip && (v.dport === 80 || v.dport === 443) ? 7 : 0),
  });
  const key: ServiceKey = { af: 4, fwmark: 7 };
  t.d.services.addService(key, { scheduler: 'rr', flags: SVC_F_PERSISTENT, timeout: 300 });
  for (const rs of RS4) t.d.services.addDest(key, { addr: w(rs), port: 0, fwd: FWD_MASQ });
  const a = send(t, 1000, [1, cTcp('100.64.3.1', 1000, { flags: TCP_SYN, dport: 80 })])[0]!;
  const b = send(t, 1001, [1, cTcp('100.64.3.1', 1001, { flags: TCP_SYN, dport: 443 })])[0]!;
  const c = send(t, 1002, [1, cTcp('100.64.3.2', 1000, { flags: TCP_SYN, dport: 443 })])[0]!;
  assert.equal(b.dst, a.dst);
  assert.equal(b.dport, 443);
  assert.notEqual(c.dst, a.dst);
  // unmarked port: not a service, the kernel's
  t.wire.inject(1, cTcp('100.64.3.1', 1002, { flags: TCP_SYN, dport: 22 }));
  t.run(1003);
  assert.equal(t.wire.drain().toKernel.length, 1);
  assert.equal(t.d.conns.templateCount, 2);
  let proto = -1;
  t.d.conns.forEach((h) => {
    if ((t.d.conns.flags[h]! & CONN_F_TEMPLATE) !== 0) proto = t.d.conns.proto[h]!;
  });
  assert.equal(proto, 0, 'fwmark templates use IPPROTO_IP');
  checkTable(t.d);
});

test('template: refreshed by each new conn, outlives its conns, then expires; controlled conns keep it alive', () => {
  const { t, ids } = setup({ flags: SVC_F_PERSISTENT, timeout: 300 });
  const c = '100.64.4.1';
  const first = send(t, 1000, [1, cTcp(c, 1000, SYN)])[0]!;
  const d = ids[rsIndex(first.dst)]!;
  send(t, 200_000, [1, cTcp(c, 1001, SYN)]); // conn 1 expired at 61 s; conn 2 refreshes the template
  assert.equal(t.d.conns.count, 2, 'conn 1 gone, template + conn 2');
  assert.equal(t.d.live.persist[d], 1);
  t.run(260_100); // conn 2 (SYN_RECV, 60 s) gone
  assert.equal(t.d.conns.count, 1);
  assert.equal(t.d.live.inactive[d], 0);
  assert.equal(t.d.live.persist[d], 1, 'template outlives its conns');
  t.run(499_900);
  assert.equal(t.d.conns.templateCount, 1, 'template lives 300 s from the last new conn');
  t.run(500_100);
  assert.equal(t.d.conns.templateCount, 0);
  assert.equal(t.d.live.persist[d], 0);

  // -p 10 with an ESTABLISHED conn (900 s): the template is re-armed while it controls the conn
  const s2 = setup({ flags: SVC_F_PERSISTENT, timeout: 10 });
  send(s2.t, 1000, [1, cTcp(c, 1000, SYN)], [1, cTcp(c, 1000, ACK)]);
  s2.t.run(500_000);
  assert.equal(s2.t.d.conns.templateCount, 1, 'template kept while it controls a conn');
  s2.t.run(901_100); // conn expires at 901 s
  assert.equal(s2.t.d.conns.count, 1);
  s2.t.run(962_100); // template re-armed in 60 s steps: gone within 60 s after
  assert.equal(s2.t.d.conns.count, 0);
  checkTable(s2.t.d);
});

test('expire_quiescent_template: off keeps using a weight-0 dest for the client; on reschedules', () => {
  for (const eqt of [false, true]) {
    const { t, ids } = setup({ flags: SVC_F_PERSISTENT, timeout: 300 }, [{}, {}, {}], {
      expireQuiescentTemplate: eqt,
    });
    const c = '100.64.5.1';
    const a = send(t, 1000, [1, cTcp(c, 1000, SYN)])[0]!;
    const i = rsIndex(a.dst);
    t.d.services.editDest(K4, { addr: w(RS4[i]!), port: 8080, fwd: FWD_MASQ, weight: 0 });
    const b = send(t, 2000, [1, cTcp(c, 1001, SYN)])[0]!;
    if (!eqt) {
      assert.equal(b.dst, a.dst, 'template still used (expire_quiescent_template=0)');
      assert.equal(t.d.conns.templateCount, 1);
    } else {
      assert.notEqual(b.dst, a.dst, 'template invalidated, new dest scheduled');
      assert.equal(t.d.live.persist[ids[rsIndex(b.dst)]!], 1, 'new template on the new dest');
    }
    checkTable(t.d);
  }
});

// ------------------------------------------------------------------ quiescing and thresholds

test('weight 0 quiesces: existing connection keeps flowing, new ones go elsewhere', () => {
  const { t, ids } = setup({});
  const c = '100.64.6.1';
  const a = send(t, 1000, [1, cTcp(c, 1000, SYN)], [1, cTcp(c, 1000, ACK)]);
  assert.equal(a.length, 2);
  t.d.services.editDest(K4, { addr: w(RS4[0]), port: 8080, fwd: FWD_MASQ, weight: 0 });
  const more = send(t, 2000, [1, cTcp(c, 1000, { flags: TCP_ACK, payload: new Uint8Array(10) })]);
  assert.equal(more.length, 1);
  assert.equal(more[0]!.dst, RS4[0], 'existing conn still to the quiesced dest');
  const news: string[] = [];
  for (let p = 2000; p < 2010; p++) news.push(send(t, 3000, [1, cTcp(c, p, SYN)])[0]!.dst);
  assert.ok(!news.includes(RS4[0]), `new conns avoid the quiesced dest: ${news.join(',')}`);
  assert.equal(t.d.live.active[ids[0]!], 1);
  checkTable(t.d);
});

test('thresholds -x: OVERLOAD set at u, cleared below 3/4 of u; scheduler skips an overloaded dest', () => {
  const { t, ids } = setup({}, [{ uThreshold: 2 }, {}]);
  const [A, B] = [ids[0]!, ids[1]!];
  const d1 = send(t, 1000, [1, cTcp('100.64.7.1', 1, SYN)], [1, cTcp('100.64.7.1', 2, SYN)]);
  assert.deepEqual(
    d1.map((s) => s.dst),
    [RS4[0], RS4[1]],
  );
  send(t, 2000, [1, cTcp('100.64.7.1', 3, SYN)]);
  assert.equal(t.d.live.total(A), 2);
  assert.ok(t.d.live.isOverloaded(A), 'total >= u_threshold sets OVERLOAD');
  const d2 = send(
    t,
    3000,
    [1, cTcp('100.64.7.1', 4, SYN)],
    [1, cTcp('100.64.7.1', 5, SYN)],
    [1, cTcp('100.64.7.1', 6, SYN)],
  );
  assert.deepEqual(
    d2.map((s) => s.dst),
    [RS4[1], RS4[1], RS4[1]],
    'overloaded dest skipped',
  );
  t.run(61_050); // conns of t=1000 expire: A total 1, 1*4 < 2*3 -> cleared
  assert.equal(t.d.live.total(A), 1);
  assert.ok(!t.d.live.isOverloaded(A), 'OVERLOAD cleared');
  const d3 = send(t, 61_100, [1, cTcp('100.64.7.1', 7, SYN)], [1, cTcp('100.64.7.1', 8, SYN)]);
  assert.deepEqual(
    d3.map((s) => s.dst),
    [RS4[0], RS4[1]],
  );
  assert.ok(t.d.live.isOverloaded(A));
  assert.equal(t.d.live.total(B), 4);
  checkTable(t.d);
});

test('thresholds -y: OVERLOAD cleared only below the lower threshold; all overloaded -> NoDestination', () => {
  const { t, ids } = setup({}, [{ uThreshold: 2, lThreshold: 1 }]);
  const A = ids[0]!;
  send(t, 1000, [1, cTcp('100.64.8.1', 1, SYN)]);
  send(t, 2000, [1, cTcp('100.64.8.1', 2, SYN)]);
  assert.ok(t.d.live.isOverloaded(A));
  send(t, 2000, [1, cTcp('100.64.8.1', 3, SYN)]);
  assert.equal(t.wire.dropCounts.get(Drop.NoDestination), 1, 'only dest overloaded: no destination');
  t.run(61_050);
  assert.equal(t.d.live.total(A), 1);
  assert.ok(t.d.live.isOverloaded(A), 'total 1 is not below l_threshold 1');
  t.run(62_050);
  assert.equal(t.d.live.total(A), 0);
  assert.ok(!t.d.live.isOverloaded(A));
});

// ------------------------------------------------------------------ one-packet UDP

test('one-packet UDP (-o): every datagram scheduled on its own; nothing left in the table', () => {
  const ku: ServiceKey = { af: 4, proto: IPPROTO_UDP, addr: w(VIP4), port: 53 };
  const { t, ids, svcId } = setup(
    { flags: SVC_F_ONEPACKET },
    [{ port: 53 }, { port: 53 }, { port: 53 }],
    undefined,
    ku,
  );
  const out: string[] = [];
  for (let k = 0; k < 6; k++) out.push(...send(t, 1000 + k, [1, cUdp('100.64.9.1', 5353)]).map((s) => s.dst));
  assert.deepEqual(out, [RS4[0], RS4[1], RS4[2], RS4[0], RS4[1], RS4[2]]);
  assert.equal(t.d.conns.count, 0);
  for (const id of ids) assert.equal(t.d.live.inactive[id], 0);
  assert.equal(svcStats(t.d, svcId).conns, 6);
  assert.equal(svcStats(t.d, svcId).inpkts, 6);
  // without -o the same datagrams are one connection
  const s2 = setup({}, [{ port: 53 }, { port: 53 }], undefined, ku);
  const o2: string[] = [];
  for (let k = 0; k < 4; k++)
    o2.push(...send(s2.t, 1000 + k, [1, cUdp('100.64.9.1', 5353)]).map((s) => s.dst));
  assert.deepEqual(o2, [RS4[0], RS4[0], RS4[0], RS4[0]]);
  assert.equal(s2.t.d.conns.count, 1);
});

// ------------------------------------------------------------------ conn reuse

function closeNat(t: Topo, c: string, cp: number, rs: string, now: number): void {
  const s = send(
    t,
    now,
    [1, cTcp(c, cp, SYN)],
    [2, sTcp(rs, 8080, c, cp, { flags: TCP_SYN | TCP_ACK })],
    [1, cTcp(c, cp, ACK)],
    [2, sTcp(rs, 8080, c, cp, { flags: TCP_FIN | TCP_ACK })],
    [1, cTcp(c, cp, ACK)],
    [1, cTcp(c, cp, { flags: TCP_FIN | TCP_ACK })],
    [2, sTcp(rs, 8080, c, cp, ACK)],
  );
  assert.equal(s.length, 7, JSON.stringify(drops(t)));
}

test('conn_reuse_mode 1: a SYN hitting TIME_WAIT expires the old conn and is rescheduled; mode 0 reuses it', () => {
  const { t, ids } = setup({});
  const c = '100.64.10.1';
  closeNat(t, c, 4000, RS4[0], 1000);
  const h = connOf(t, c, 4000);
  assert.equal(stateName(t.d.conns, h), 'TIME_WAIT');
  const s = send(t, 2000, [1, cTcp(c, 4000, SYN)])[0]!;
  assert.equal(s.dst, RS4[1], 'rescheduled (rr moved on)');
  t.run(2200);
  assert.equal(t.d.conns.count, 1, 'the old conn expired');
  assert.equal(t.d.live.inactive[ids[0]!], 0);
  assert.equal(stateName(t.d.conns, connOf(t, c, 4000)), 'SYN_RECV');
  checkTable(t.d);

  const m0 = setup({}, [{}, {}, {}], { connReuseMode: 0 });
  closeNat(m0.t, c, 4000, RS4[0], 1000);
  const s0 = send(m0.t, 2000, [1, cTcp(c, 4000, SYN)])[0]!;
  assert.equal(s0.dst, RS4[0], 'mode 0: same conn, same dest');
  assert.equal(m0.t.d.conns.count, 1);
  assert.equal(stateName(m0.t.d.conns, connOf(m0.t, c, 4000)), 'SYN_RECV');
});

test('conn_reuse_mode 1: a SYN hitting a connection ended by a RST (CLOSE) is rescheduled; mode 0 reuses it', () => {
  const c = '100.64.10.2';
  for (const mode of [1, 0]) {
    const { t } = setup({}, [{}, {}, {}], { connReuseMode: mode });
    const open = send(
      t,
      1000,
      [1, cTcp(c, 4100, SYN)],
      [2, sTcp(RS4[0], 8080, c, 4100, { flags: TCP_SYN | TCP_ACK })],
      [1, cTcp(c, 4100, ACK)],
      [1, cTcp(c, 4100, { flags: TCP_RST })],
    );
    assert.equal(open.length, 4, JSON.stringify(drops(t)));
    assert.equal(stateName(t.d.conns, connOf(t, c, 4100)), 'CLOSE');
    const again = send(t, 2000, [1, cTcp(c, 4100, SYN)])[0]!;
    assert.equal(again.dst, mode === 1 ? RS4[1] : RS4[0], `mode ${mode}`);
    t.run(2200);
    assert.equal(t.d.conns.count, 1, `mode ${mode}: one conn for the port`);
    assert.equal(stateName(t.d.conns, connOf(t, c, 4100)), 'SYN_RECV');
    checkTable(t.d);
  }
});

test('expire_nodest_conn: a SYN hitting a live connection to a weight-0 dest is rescheduled, whatever conn_reuse_mode', () => {
  const c = '100.64.10.3';
  for (const [nodest, mode] of [
    [true, 0],
    [true, 1],
    [false, 1],
  ] as const) {
    const { t } = setup({}, [{}, {}, {}], { expireNodestConn: nodest, connReuseMode: mode });
    send(t, 1000, [1, cTcp(c, 4200, SYN)], [1, cTcp(c, 4200, ACK)]);
    t.d.services.editDest(K4, { addr: w(RS4[0]), port: 8080, fwd: FWD_MASQ, weight: 0 });
    const again = send(t, 2000, [1, cTcp(c, 4200, SYN)])[0]!;
    const label = `expire_nodest_conn=${nodest} conn_reuse_mode=${mode}`;
    // quiesced, not deleted: without expire_nodest_conn the connection's packets still reach it
    assert.equal(again.dst, nodest ? RS4[1] : RS4[0], label);
    t.run(2200);
    assert.equal(t.d.conns.count, 1, label);
    checkTable(t.d);
  }
});

// ------------------------------------------------------------------ deleted destinations

test('deleted dest: packets of its conns dropped (DestUnavailable); expire_nodest_conn expires and reschedules', () => {
  for (const nodest of [false, true]) {
    const { t, ids } = setup({}, [{}, {}, {}], { expireNodestConn: nodest });
    const c = '100.64.11.1';
    send(t, 1000, [1, cTcp(c, 5000, SYN)], [1, cTcp(c, 5000, ACK)]);
    t.d.services.deleteDest(K4, { addr: w(RS4[0]), port: 8080 });
    const s = send(t, 2000, [1, cTcp(c, 5000, { flags: TCP_ACK, payload: new Uint8Array(5) })]);
    assert.equal(s.length, 0);
    assert.equal(t.wire.dropCounts.get(Drop.DestUnavailable), 1);
    t.run(2100);
    if (!nodest) {
      assert.equal(t.d.conns.count, 1, 'conn kept (dropped silently)');
      assert.equal(t.d.live.active[ids[0]!], 1);
    } else {
      assert.equal(t.d.conns.count, 0, 'conn expired at once');
      assert.equal(t.d.live.active[ids[0]!], 0);
      const r = send(t, 3000, [1, cTcp(c, 5000, SYN)]);
      assert.equal(r.length, 1);
      assert.notEqual(r[0]!.dst, RS4[0], 'next SYN rescheduled to a live dest');
    }
    checkTable(t.d);
  }
});

test('non-SYN TCP without a conn: NotConnectionStart; sloppy_tcp creates the conn; RST never does', () => {
  const { t } = setup({});
  assert.equal(send(t, 1000, [1, cTcp('100.64.12.1', 1, ACK)]).length, 0);
  assert.equal(t.wire.dropCounts.get(Drop.NotConnectionStart), 1);
  assert.equal(t.d.conns.count, 0);
  const s = setup({}, [{}, {}, {}], { sloppyTcp: true });
  assert.equal(send(s.t, 1000, [1, cTcp('100.64.12.1', 1, ACK)]).length, 1);
  assert.equal(s.t.d.conns.count, 1);
  assert.equal(send(s.t, 1000, [1, cTcp('100.64.12.1', 2, { flags: TCP_RST })]).length, 0);
  assert.equal(s.t.wire.dropCounts.get(Drop.NotConnectionStart), 1);
});

// ------------------------------------------------------------------ timeouts

test('timeouts on a fake clock: SYN_RECV 60 s, ESTABLISHED 900 s, FIN_WAIT 120 s, UDP 300 s; counters back to 0', () => {
  const { t, ids } = setup({}, [{}]);
  const ku: ServiceKey = { af: 4, proto: IPPROTO_UDP, addr: w(VIP4), port: 53 };
  t.d.services.addService(ku, { scheduler: 'rr' });
  const u = t.d.services.addDest(ku, { addr: w(RS4[1]), port: 53, fwd: FWD_MASQ });
  const A = ids[0]!;
  const T = 10_000;
  send(
    t,
    T,
    [1, cTcp('100.64.13.1', 1, SYN)], // stays SYN_RECV
    [1, cTcp('100.64.13.2', 1, SYN)],
    [1, cTcp('100.64.13.2', 1, ACK)], // ESTABLISHED
    [1, cTcp('100.64.13.3', 1, SYN)],
    [1, cTcp('100.64.13.3', 1, ACK)],
    [2, sTcp(RS4[0], 8080, '100.64.13.3', 1, { flags: TCP_FIN | TCP_ACK })], // FIN_WAIT
    [1, cUdp('100.64.13.4', 999)],
  );
  const st = (c: string): string => stateName(t.d.conns, connOf(t, c, c.endsWith('.4') ? 999 : 1));
  assert.equal(st('100.64.13.1'), 'SYN_RECV');
  assert.equal(st('100.64.13.2'), 'ESTABLISHED');
  assert.equal(st('100.64.13.3'), 'FIN_WAIT');
  assert.equal(st('100.64.13.4'), 'UDP');
  assert.equal(t.d.live.active[A], 1);
  assert.equal(t.d.live.inactive[A], 2);
  assert.equal(t.d.live.inactive[u], 1);
  const alive = (): number => t.d.conns.count;
  t.run(T + 59_900);
  assert.equal(alive(), 4);
  t.run(T + 60_100);
  assert.equal(alive(), 3, 'SYN_RECV gone after 60 s');
  t.run(T + 119_900);
  assert.equal(alive(), 3);
  t.run(T + 120_100);
  assert.equal(alive(), 2, 'FIN_WAIT gone after 120 s');
  assert.equal(t.d.live.inactive[A], 0);
  t.run(T + 299_900);
  assert.equal(alive(), 2);
  t.run(T + 300_100);
  assert.equal(alive(), 1, 'UDP gone after 300 s');
  assert.equal(t.d.live.inactive[u], 0);
  t.run(T + 899_900);
  assert.equal(alive(), 1);
  t.run(T + 900_100);
  assert.equal(alive(), 0, 'ESTABLISHED gone after 900 s');
  assert.equal(t.d.live.active[A], 0);
  checkTable(t.d);
});

test('--set tcp tcpfin udp changes ESTABLISHED, FIN_WAIT and UDP timeouts of the pipeline', () => {
  const { t } = setup({}, [{}]);
  const ku: ServiceKey = { af: 4, proto: IPPROTO_UDP, addr: w(VIP4), port: 53 };
  t.d.services.addService(ku, { scheduler: 'rr' });
  t.d.services.addDest(ku, { addr: w(RS4[1]), port: 53, fwd: FWD_MASQ });
  t.d.timeouts.set(30, 20, 10);
  assert.deepEqual(t.d.timeouts.get(), { tcp: 30, tcpfin: 20, udp: 10 });
  const T = 5000;
  send(
    t,
    T,
    [1, cTcp('100.64.14.2', 1, SYN)],
    [1, cTcp('100.64.14.2', 1, ACK)],
    [1, cTcp('100.64.14.3', 1, SYN)],
    [1, cTcp('100.64.14.3', 1, ACK)],
    [2, sTcp(RS4[0], 8080, '100.64.14.3', 1, { flags: TCP_FIN | TCP_ACK })],
    [1, cUdp('100.64.14.4', 999)],
  );
  t.run(T + 9_900);
  assert.equal(t.d.conns.count, 3);
  t.run(T + 10_100);
  assert.equal(t.d.conns.count, 2, 'udp 10 s');
  t.run(T + 20_100);
  assert.equal(t.d.conns.count, 1, 'tcpfin 20 s');
  t.run(T + 29_900);
  assert.equal(t.d.conns.count, 1);
  t.run(T + 30_100);
  assert.equal(t.d.conns.count, 0, 'tcp 30 s');
  checkTable(t.d);
});

// ------------------------------------------------------------------ fragments

function udpFrags(client: string, id: number): { first: Uint8Array; later: Uint8Array } {
  const payload = new Uint8Array(40).map((_, i) => i);
  const whole = udp({ sport: 7000, dport: 53, payload });
  const head = whole.bytes.subarray(0, 24);
  const tail = whole.bytes.subarray(24);
  // UDP checksum over the whole datagram is computed by the builder from the full L4 first.
  const first = eth(
    { src: clientMac(client), dst: MAC.eth0 },
    ipv4({ src: client, dst: VIP4, id, mf: true, pseudoLen: whole.bytes.length }, { ...whole, bytes: head }),
  );
  const later = eth(
    { src: clientMac(client), dst: MAC.eth0 },
    ipv4({ src: client, dst: VIP4, id, fragOffset: 24 }, raw(IPPROTO_UDP, tail.slice())),
  );
  return { first, later };
}

test("fragments: later fragments follow the first fragment's conn; a later fragment first is dropped", () => {
  const ku: ServiceKey = { af: 4, proto: IPPROTO_UDP, addr: w(VIP4), port: 53 };
  const { t, ids, svcId } = setup({}, [{ port: 5353 }, { port: 5353 }], undefined, ku);
  const f = udpFrags('100.64.15.1', 0x5151);
  const s = send(t, 1000, [1, f.first], [1, f.later]);
  assert.equal(s.length, 2, JSON.stringify(drops(t)));
  assert.equal(s[0]!.dst, RS4[0]);
  assert.equal(s[0]!.dport, 5353);
  assert.equal(s[1]!.dst, RS4[0], 'later fragment DNATed to the same RS');
  assert.equal(s[1]!.ifindex, 2);
  assert.equal(svcStats(t.d, svcId).inpkts, 2);
  assert.equal(destStats(t.d, ids[0]!).inpkts, 2);

  const g = udpFrags('100.64.15.2', 0x5252);
  assert.equal(send(t, 2000, [1, g.later]).length, 0);
  assert.equal(t.wire.dropCounts.get(Drop.FragmentNoConnection), 1);
  checkTable(t.d);
});

// ------------------------------------------------------------------ reload

test('reload: delete + re-add of a dest, or a weight edit, keeps its id, its conns and its counters', () => {
  const { t, ids, svcId } = setup({}, [{}, {}]);
  const c = '100.64.16.1';
  send(t, 1000, [1, cTcp(c, 1, SYN)], [1, cTcp(c, 1, ACK)]);
  const A = ids[0]!;
  const before = destStats(t.d, A);
  assert.equal(before.inpkts, 2);
  t.d.services.deleteDest(K4, { addr: w(RS4[0]), port: 8080 });
  const again = t.d.services.addDest(K4, { addr: w(RS4[0]), port: 8080, fwd: FWD_MASQ });
  assert.equal(again, A, 'same dest id');
  const s = send(t, 2000, [1, cTcp(c, 1, { flags: TCP_ACK, payload: new Uint8Array(3) })]);
  assert.equal(s.length, 1, JSON.stringify(drops(t)));
  assert.equal(s[0]!.dst, RS4[0]);
  assert.equal(t.d.live.active[A], 1);
  assert.equal(destStats(t.d, A).inpkts, 3, 'counters kept across the reload');
  assert.equal(destStats(t.d, A).conns, 1);
  t.d.services.editDest(K4, { addr: w(RS4[0]), port: 8080, fwd: FWD_MASQ, weight: 5 });
  const s2 = send(t, 3000, [1, cTcp(c, 1, { flags: TCP_ACK, payload: new Uint8Array(3) })]);
  assert.equal(s2.length, 1);
  assert.equal(t.d.live.active[A], 1);
  assert.equal(svcStats(t.d, svcId).inpkts, 4);
  assert.equal(t.d.services.getService(K4)!.id, svcId);
  checkTable(t.d);
});
