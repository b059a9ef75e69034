/**
 * The DR kernel fast path's decisions (core/offload.ts) on the in-memory wire: when a flow is
 * offered to the kernel, what lvsd does with the copies it still sees, when the flow is withdrawn,
 * and how the kernel's counters reach ipvsadm's statistics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, MAC, type Topo } from '../helpers/topo.js';
import { VIP4, VIP6, RS4, RS6, cTcp, destStats, svcStats } from '../helpers/flows.js';
import { FWD_DROUTE, FWD_MASQ, IPPROTO_TCP, type ServiceKey } from '../../src/core/services.js';
import { FlowOffload } from '../../src/core/offload.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/packet/view.js';
import { TCP_S_ESTABLISHED } from '../../src/conn/state.js';

const THRESHOLD = 5;
const CLIENT = '10.0.0.2';
const CLIENT6 = '2001:db8:1::2';

function setup(fwd: number, af: 4 | 6 = 4): { t: Topo; off: FlowOffload; svcId: number; destId: number } {
  const t = makeTopo();
  const key: ServiceKey = { af, proto: IPPROTO_TCP, addr: w(af === 4 ? VIP4 : VIP6), port: 80 };
  const svcId = t.d.services.addService(key, { scheduler: 'rr' });
  const destId = t.d.services.addDest(key, { addr: w(af === 4 ? RS4[0] : RS6[0]), port: 80, fwd });
  const off = new FlowOffload(t.d.conns, t.d.net, { thresholdPkts: THRESHOLD, capacity: 4 });
  t.d.engine.offload = off;
  return { t, off, svcId, destId };
}

/** Inject client frames at `now`; returns how many left the director. */
function send(t: Topo, now: number, client: string, cport: number, ...flags: number[]): number {
  for (const f of flags) t.wire.inject(1, cTcp(client, cport, { flags: f, payload: new Uint8Array(100) }));
  t.run(now);
  return t.wire.drain().sent.length;
}

/** SYN, ACK, then data until the flow is past the threshold. */
function establish(t: Topo, client = CLIENT, cport = 40000): void {
  assert.equal(send(t, 1000, client, cport, TCP_SYN), 1);
  assert.equal(
    send(t, 1001, client, cport, TCP_ACK, ...Array<number>(THRESHOLD).fill(TCP_ACK)),
    THRESHOLD + 1,
  );
}

test('an established DR flow past the threshold is offered once, with its next hop', () => {
  const { t, off } = setup(FWD_DROUTE);
  assert.equal(off.collect(), null, 'nothing before traffic');
  establish(t);
  // one more packet: the flow is chosen in the packet path, still forwarded by lvsd
  assert.equal(send(t, 1002, CLIENT, 40000, TCP_ACK), 1);
  const c = off.collect();
  assert.ok(c);
  assert.deepEqual(c.del, []);
  assert.equal(c.add.length, 1);
  assert.deepEqual(c.add[0], {
    key: `4|${CLIENT}|40000|${VIP4}|80`,
    af: 4,
    caddr: CLIENT,
    cport: 40000,
    vaddr: VIP4,
    vport: 80,
    dev: 'eth1',
    srcMac: MAC.eth1,
    dstMac: MAC.rs1,
  });
  // pending: lvsd keeps forwarding, and it is not offered again
  assert.equal(send(t, 1003, CLIENT, 40000, TCP_ACK), 1);
  assert.equal(off.collect(), null);
  assert.equal(off.status().pending, 1);
});

test('installed: copies lvsd still sees are forwarded (they may predate the element); FIN withdraws the flow', () => {
  const { t, off } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  const key = off.collect()!.add[0]!.key;
  off.installed([key], [], 1003);
  assert.equal(off.status().active, 1);
  // a frame queued in lvsd's socket before the nft element existed was dropped by the steering rule,
  // not forwarded by the kernel: lvsd must still forward it (a duplicate of a later one is harmless)
  assert.equal(send(t, 1004, CLIENT, 40000, TCP_ACK, TCP_ACK), 2);
  assert.equal(send(t, 1005, CLIENT, 40000, TCP_ACK | TCP_FIN), 1, 'FIN is forwarded by lvsd');
  // the state left ESTABLISHED: withdrawn at the next tick
  const c = off.collect();
  assert.ok(c);
  assert.deepEqual(
    c.del.map((f) => f.key),
    [key],
  );
  assert.equal(off.status().active, 0);
  assert.equal(off.status().withdrawn, 1);
  assert.equal(send(t, 1006, CLIENT, 40000, TCP_ACK), 1);
});

test('RST on an installed flow is forwarded and withdraws it', () => {
  const { t, off } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  off.installed([off.collect()!.add[0]!.key], [], 1003);
  assert.equal(send(t, 1004, CLIENT, 40000, TCP_RST), 1);
  assert.equal(off.collect()?.del.length, 1);
});

test('kernel counters are credited to connection, dest and service once, and refresh the timer', () => {
  const { t, off, svcId, destId } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  const key = off.collect()!.add[0]!.key;
  off.installed([key], [], 1003);
  let h = -1;
  t.d.conns.forEach((x) => (h = x));
  assert.equal(t.d.conns.state[h], TCP_S_ESTABLISHED);
  const dest0 = destStats(t.d, destId);
  const svc0 = svcStats(t.d, svcId);
  const in0 = t.d.conns.inPkts[h]!;
  const exp0 = t.d.conns.expiry[h]!;
  const credit = (x: number, p: number, b: number) => t.d.engine.creditOffloaded(x, p, b, 60_000);
  off.applyCounters([{ key, packets: 10, bytes: 15000 }], credit);
  off.applyCounters([{ key, packets: 10, bytes: 15000 }], credit); // same reading: nothing new
  off.applyCounters([{ key, packets: 25, bytes: 40000 }], credit);
  off.applyCounters([{ key: '4|192.0.2.1|1|10.0.0.100|80', packets: 99, bytes: 99 }], credit); // unknown
  const dest1 = destStats(t.d, destId);
  const svc1 = svcStats(t.d, svcId);
  assert.equal(dest1.inpkts - dest0.inpkts, 25);
  assert.equal(dest1.inbytes - dest0.inbytes, 40000);
  assert.equal(svc1.inpkts - svc0.inpkts, 25);
  assert.equal(t.d.conns.inPkts[h]! - in0, 25);
  assert.ok(t.d.conns.expiry[h]! > exp0, 'timer refreshed from the kernel counters');
  assert.equal(off.status().kernelPackets, 25);
  assert.equal(off.status().kernelBytes, 40000);
});

test('a refused install is not retried at once; the flow keeps going through lvsd', () => {
  const { t, off } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  const key = off.collect()!.add[0]!.key;
  off.installed([], [key], 1003);
  assert.equal(off.status().failed, 1);
  assert.equal(send(t, 1004, CLIENT, 40000, TCP_ACK), 1);
  assert.equal(off.collect(), null, 'not offered again within the retry delay');
  assert.equal(send(t, 20_000, CLIENT, 40000, TCP_ACK), 1);
  assert.equal(off.collect()?.add.length, 1, 'offered again later');
});

test('an expired connection is withdrawn; a re-used 4-tuple starts from scratch', () => {
  const { t, off } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  off.installed([off.collect()!.add[0]!.key], [], 1003);
  t.d.engine.tick(10_000_000); // far beyond the ESTABLISHED timeout
  assert.equal(t.d.conns.count, 0);
  assert.equal(off.collect()?.del.length, 1);
  assert.equal(off.status().active, 0);
});

test('a changed next-hop MAC withdraws the flow', () => {
  const { t, off } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  off.installed([off.collect()!.add[0]!.key], [], 1003);
  t.d.net.setNeighbour(4, w(RS4[0]), 2, new Uint8Array([2, 0, 0, 0, 0xbe, 0xef]));
  assert.equal(off.collect()?.del.length, 1);
});

test('NAT flows and DR flows below the threshold are never offered; capacity bounds the entries', () => {
  const nat = setup(FWD_MASQ);
  establish(nat.t);
  send(nat.t, 1002, CLIENT, 40000, TCP_ACK);
  assert.equal(nat.off.collect(), null);

  const dr = setup(FWD_DROUTE);
  assert.equal(send(dr.t, 1000, CLIENT, 40001, TCP_SYN), 1);
  assert.equal(send(dr.t, 1001, CLIENT, 40001, TCP_ACK, TCP_ACK), 2);
  assert.equal(dr.off.collect(), null, 'below the threshold');
  for (let p = 0; p < 6; p++) {
    establish(dr.t, CLIENT, 41000 + p);
    send(dr.t, 1002, CLIENT, 41000 + p, TCP_ACK);
  }
  assert.equal(dr.off.collect()?.add.length, 4, 'capacity 4');
});

test('IPv6 DR flows are offered with their addresses', () => {
  const { t, off } = setup(FWD_DROUTE, 6);
  establish(t, CLIENT6);
  send(t, 1002, CLIENT6, 40000, TCP_ACK);
  const f = off.collect()?.add[0];
  assert.equal(f?.key, `6|${CLIENT6}|40000|${VIP6}|80`);
  assert.equal(f?.dev, 'eth1');
  assert.equal(f?.dstMac, MAC.rs1);
});

test('a withdrawn flow is credited with its last kernel counters until retired', () => {
  const { t, off, destId } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  const key = off.collect()!.add[0]!.key;
  off.installed([key], [], 1003);
  const credit = (x: number, p: number, b: number) => t.d.engine.creditOffloaded(x, p, b, 2000);
  off.applyCounters([{ key, packets: 10, bytes: 1000 }], credit);
  send(t, 1005, CLIENT, 40000, TCP_ACK | TCP_FIN);
  assert.equal(off.collect()?.del.length, 1);
  const d0 = destStats(t.d, destId).inpkts;
  off.applyCounters([{ key, packets: 14, bytes: 1400 }], credit, [key]);
  assert.equal(destStats(t.d, destId).inpkts - d0, 4, 'the last 4 kernel packets are counted');
  off.applyCounters([{ key, packets: 20, bytes: 2000 }], credit);
  assert.equal(destStats(t.d, destId).inpkts - d0, 4, 'retired: nothing more');
});

test('a flow withdrawn while its install is pending is credited with what the kernel forwarded meanwhile', () => {
  const { t, off, destId } = setup(FWD_DROUTE);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  const key = off.collect()!.add[0]!.key; // sent for install, no answer yet
  send(t, 1003, CLIENT, 40000, TCP_ACK | TCP_FIN);
  assert.deepEqual(
    off.collect()?.del.map((f) => f.key),
    [key],
  );
  // the control thread installed it, the kernel forwarded 3 packets, then the withdrawal came:
  // it reads the counters before deleting the element
  const credit = (x: number, p: number, b: number) => t.d.engine.creditOffloaded(x, p, b, 2000);
  const d0 = destStats(t.d, destId).inpkts;
  off.applyCounters([{ key, packets: 3, bytes: 300 }], credit, [key]);
  assert.equal(destStats(t.d, destId).inpkts - d0, 3);
  off.installed([key], [], 2001); // the late answer changes nothing
  assert.equal(off.status().active, 0);
  off.applyCounters([{ key, packets: 9, bytes: 900 }], credit);
  assert.equal(destStats(t.d, destId).inpkts - d0, 3, 'retired: nothing more');
});

test('deleting the real server withdraws its offloaded flows', () => {
  const { t, off } = setup(FWD_DROUTE);
  off.destUsable = (d) => t.d.engine.destUsable(d);
  establish(t);
  send(t, 1002, CLIENT, 40000, TCP_ACK);
  off.installed([off.collect()!.add[0]!.key], [], 1003);
  assert.equal(off.collect(), null, 'still usable');
  const key: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port: 80 };
  t.d.services.deleteDest(key, { addr: w(RS4[0]), port: 80 });
  t.d.sync();
  assert.equal(off.collect()?.del.length, 1);
});
