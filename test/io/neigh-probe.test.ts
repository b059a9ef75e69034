import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighProber } from '../../src/io/neigh-probe.js';
import { emitToNeighbour } from '../../src/fwd/l2.js';
import { Director } from '../../src/core/director.js';
import {
  NEIGH_F_PERMANENT,
  NEIGH_FAILED,
  NEIGH_INCOMPLETE,
  NEIGH_REACHABLE,
  NEIGH_STALE,
  type NetState,
} from '../../src/core/netstate.js';
import { FrameBatch, VERDICT_TX } from '../../src/packet/frame.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  ArpView,
  buildArp,
  buildNeighborAdvert,
  ND_NA_F_SOLICITED,
  parseArp,
} from '../../src/packet/arp.js';
import { parseFrame } from '../../src/packet/parse.js';
import { ETH_P_ARP, IPPROTO_ICMPV6, PacketView } from '../../src/packet/view.js';
import { formatAddress, formatMac, parseAddress, parseMac, readAddr } from '../../src/packet/addr.js';
import { l4ChecksumVerify } from '../../src/packet/checksum.js';

const W = (s: string): Uint32Array => parseAddress(s)!.words;
const MAC = (s: string): Uint8Array => parseMac(s)!;
const ETH0 = '02:00:00:00:00:02';
const ROUTER = '02:00:00:00:fe:01';
const ROUTER6 = '02:00:00:00:fe:06';

function director(): Director {
  const d = new Director({ seed: 1 });
  const net = d.net;
  net.setInterface({
    ifindex: 2,
    name: 'eth0',
    mac: MAC(ETH0),
    mtu: 1500,
    addresses: [
      { af: 4, words: W('10.1.0.1'), prefixLen: 24 },
      { af: 6, words: W('2001:db8:1::1'), prefixLen: 64 },
    ],
  });
  net.setInterface({
    ifindex: 5,
    name: 'eth0.100',
    mac: MAC(ETH0),
    mtu: 1500,
    parentIfindex: 2,
    vlanId: 100,
    addresses: [{ af: 4, words: W('10.5.0.1'), prefixLen: 24 }],
  });
  net.setInterface({ ifindex: 6, name: 'noaddr', mac: MAC('02:00:00:00:00:06'), mtu: 1500 });
  net.addRoute({ af: 4, dst: W('10.1.0.0'), prefixLen: 24, ifindex: 2 });
  net.addRoute({ af: 4, dst: W('10.5.0.0'), prefixLen: 24, ifindex: 5 });
  net.addRoute({ af: 4, dst: W('10.6.0.0'), prefixLen: 24, ifindex: 6 });
  net.addRoute({ af: 6, dst: W('2001:db8:6::'), prefixLen: 64, ifindex: 6 });
  net.addRoute({ af: 4, dst: W('0.0.0.0'), prefixLen: 0, gateway: W('10.1.0.254'), ifindex: 2 });
  net.addRoute({ af: 6, dst: W('2001:db8:1::'), prefixLen: 64, ifindex: 2 });
  net.addRoute({ af: 6, dst: W('::'), prefixLen: 0, gateway: W('2001:db8:1::fe'), ifindex: 2 });
  return d;
}

interface Probe {
  kind: 'arp' | 'ns';
  ethDst: string;
  ethSrc: string;
  outIfindex: number;
  outVlanTci: number;
  src: string;
  target: string;
  ipDst?: string;
}

/** Parse every generated frame of the batch back (parse.ts / arp.ts). */
function probes(batch: FrameBatch): Probe[] {
  const out: Probe[] = [];
  const v = new PacketView();
  const a = new ArpView();
  for (let i = batch.count; i < batch.total; i++) {
    assert.equal(batch.verdict[i], VERDICT_TX);
    const s = batch.start[i]!;
    assert.equal(parseFrame(batch.buf, s, batch.len[i]!, v), 0);
    const common = {
      ethDst: formatMac(batch.buf, s),
      ethSrc: formatMac(batch.buf, s + 6),
      outIfindex: batch.outIfindex[i]!,
      outVlanTci: batch.outVlanTci[i]!,
    };
    if (v.ethType === ETH_P_ARP) {
      assert.equal(parseArp(batch.buf, v.l3Off, v.frameEnd, a), 0);
      assert.equal(a.op, ARP_REQUEST);
      assert.equal(formatMac(a.senderMac), common.ethSrc);
      assert.equal(formatMac(a.targetMac), '00:00:00:00:00:00');
      out.push({
        kind: 'arp',
        ...common,
        src: formatAddress(4, Uint32Array.of(a.senderIp, 0, 0, 0)),
        target: formatAddress(4, Uint32Array.of(a.targetIp, 0, 0, 0)),
      });
    } else {
      assert.equal(v.af, 6);
      assert.equal(v.proto, IPPROTO_ICMPV6);
      assert.equal(v.icmpType, 135);
      assert.equal(v.ttl, 255, 'RFC 4861 hop limit');
      assert.ok(l4ChecksumVerify(batch.buf, v));
      const t = new Uint32Array(4);
      readAddr(batch.buf, v.l4Off + 8, 6, t, 0);
      // source link-layer address option
      assert.equal(batch.buf[v.l4Off + 24], 1);
      assert.equal(formatMac(batch.buf, v.l4Off + 26), common.ethSrc);
      out.push({
        kind: 'ns',
        ...common,
        src: formatAddress(6, v.saddr),
        target: formatAddress(6, t),
        ipDst: formatAddress(6, v.daddr),
      });
    }
  }
  return out;
}

function runAt(p: NeighProber, now: number): Probe[] {
  const b = new FrameBatch(4);
  p.run(b, now);
  return probes(b);
}

function arpReply(from: string, fromMac: string, to: string): Uint8Array {
  const b = new Uint8Array(60);
  buildArp(b, 0, ARP_REPLY, MAC(fromMac), W(from)[0]!, MAC(ETH0), W(to)[0]!, MAC(ETH0));
  return b;
}

function naFrame(target: string, tmac: string, hopLimit = 255): Uint8Array {
  const b = new Uint8Array(128);
  const n = buildNeighborAdvert(
    b,
    0,
    MAC(tmac),
    W(target),
    W('2001:db8:1::1'),
    MAC(ETH0),
    W(target),
    ND_NA_F_SOLICITED,
  );
  b[14 + 7] = hopLimit;
  return b.slice(0, n);
}

function receive(d: Director, frame: Uint8Array, ifindex: number, now: number): void {
  d.batch.reset();
  d.batch.push(frame, ifindex);
  d.engine.processBatch(d.batch, now);
}

const neighOf = (net: NetState, af: number, a: string, ifindex: number): number =>
  net.findNeighbour(af, W(a), 0, ifindex);

test('INCOMPLETE in use: broadcast ARP from our address, 1/s, FAILED after 3, retried later; the engine learns the reply', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net);
  const n = net.resolve(4, W('198.51.100.7'), 0);
  assert.equal(net.nState[n], NEIGH_INCOMPLETE);
  const first = runAt(p, 0);
  assert.deepEqual(first, [
    {
      kind: 'arp',
      ethDst: 'ff:ff:ff:ff:ff:ff',
      ethSrc: ETH0,
      outIfindex: 2,
      outVlanTci: -1,
      src: '10.1.0.1',
      target: '10.1.0.254',
    },
  ]);
  assert.equal(runAt(p, 500).length, 0, 'rate limited to one per second');
  assert.equal(runAt(p, 1000).length, 1);
  assert.equal(runAt(p, 2000).length, 1);
  assert.equal(net.nState[n], NEIGH_INCOMPLETE);
  assert.equal(runAt(p, 3000).length, 0);
  assert.equal(net.nState[n], NEIGH_FAILED);
  assert.equal(p.failures, 1);
  assert.ok(!net.neighUsable(n));
  assert.equal(runAt(p, 5000).length, 0, 'waits failedRetryMs');
  assert.equal(runAt(p, 8000).length, 1, 'a new cycle');
  assert.equal(p.sentArp, 4);
  // the reply arrives: the engine refreshes the entry, probing stops
  receive(d, arpReply('10.1.0.254', ROUTER, '10.1.0.1'), 2, 8100);
  assert.equal(net.nState[n], NEIGH_REACHABLE);
  assert.equal(formatMac(net.nMac, n * 6), ROUTER);
  assert.equal(net.nUpdated[n], 8100);
  assert.equal(runAt(p, 9100).length, 0);
  assert.equal(runAt(p, 20000).length, 0);
});

test('REACHABLE in use and not refreshed for reachableMs: STALE (still usable), unicast probes, then FAILED and broadcast', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net, { reachableMs: 30000 });
  const n = net.resolve(4, W('198.51.100.7'), 0);
  net.setNeighbour(4, W('10.1.0.254'), 2, MAC(ROUTER), 0);
  assert.equal(runAt(p, 0).length, 0);
  assert.equal(runAt(p, 30000).length, 0, 'not yet');
  const u = runAt(p, 30100);
  assert.equal(u.length, 1);
  assert.equal(u[0]!.ethDst, ROUTER, 'unicast to the known MAC');
  assert.equal(u[0]!.target, '10.1.0.254');
  assert.equal(net.nState[n], NEIGH_STALE);
  assert.ok(net.neighUsable(n));
  assert.equal(runAt(p, 31100)[0]?.ethDst, ROUTER);
  assert.equal(runAt(p, 32100)[0]?.ethDst, ROUTER);
  const b = runAt(p, 33100);
  assert.equal(net.nState[n], NEIGH_FAILED);
  assert.equal(b.length, 1);
  assert.equal(b[0]!.ethDst, 'ff:ff:ff:ff:ff:ff', 'the MAC may have moved: broadcast at once');
  // an answer (even from a new MAC) makes it REACHABLE again
  receive(d, arpReply('10.1.0.254', '02:00:00:00:fe:99', '10.1.0.1'), 2, 33500);
  assert.equal(net.nState[n], NEIGH_REACHABLE);
  assert.equal(formatMac(net.nMac, n * 6), '02:00:00:00:fe:99');
});

test('not in use, seeded only, or static: no probes; in use again: probed', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net, { idleMs: 60000 });
  // seeded (as from the kernel table) but never resolved
  const seeded = net.setNeighbour(4, W('10.1.0.50'), 2, MAC('02:00:00:00:00:50'), 0);
  // static kernel entry, in use
  const stat = net.setNeighbour(4, W('10.1.0.51'), 2, MAC('02:00:00:00:00:51'), 0);
  net.nFlags[stat]! |= NEIGH_F_PERMANENT;
  net.resolve(4, W('10.1.0.51'), 0);
  // resolved once, then idle
  const idle = net.resolve(4, W('10.1.0.52'), 0);
  net.setNeighbour(4, W('10.1.0.52'), 2, MAC('02:00:00:00:00:52'), 0);
  assert.equal(runAt(p, 0).length, 0);
  assert.equal(runAt(p, 100000).length, 0, 'stale in time, but idle, seeded or static');
  assert.equal(net.nState[seeded], NEIGH_REACHABLE);
  assert.equal(net.nState[stat], NEIGH_REACHABLE);
  assert.equal(net.nState[idle], NEIGH_REACHABLE);
  net.resolve(4, W('10.1.0.52'), 0);
  net.resolve(4, W('10.1.0.51'), 0);
  const r = runAt(p, 100200);
  assert.deepEqual(
    r.map((x) => `${x.target} ${x.ethDst}`),
    ['10.1.0.52 02:00:00:00:00:52'],
  );
});

test('IPv6: NS to the solicited-node group from our address; unicast NS when stale; the engine learns NAs', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net);
  const n = net.resolve(6, W('2001:db8:99::1'), 0);
  const [ns] = runAt(p, 0);
  assert.deepEqual(ns, {
    kind: 'ns',
    ethDst: '33:33:ff:00:00:fe',
    ethSrc: ETH0,
    outIfindex: 2,
    outVlanTci: -1,
    src: '2001:db8:1::1',
    target: '2001:db8:1::fe',
    ipDst: 'ff02::1:ff00:fe',
  });
  // an NA with a hop limit other than 255 is not valid (RFC 4861 §7.1.2)
  receive(d, naFrame('2001:db8:1::fe', ROUTER6, 64), 2, 100);
  assert.equal(net.nState[n], NEIGH_INCOMPLETE);
  // an NA for an address lvsd does not use creates nothing
  receive(d, naFrame('2001:db8:1::77', ROUTER6), 2, 100);
  assert.equal(neighOf(net, 6, '2001:db8:1::77', 2), -1);
  receive(d, naFrame('2001:db8:1::fe', ROUTER6), 2, 200);
  assert.equal(net.nState[n], NEIGH_REACHABLE);
  assert.equal(formatMac(net.nMac, n * 6), ROUTER6);
  assert.equal(
    d.engine.drops.reduce((a, b) => a + b, 0),
    0,
    'NAs go on to the kernel',
  );
  assert.equal(runAt(p, 1000).length, 0);
  net.resolve(6, W('2001:db8:99::1'), 0);
  const [u] = runAt(p, 30201);
  assert.equal(u?.ethDst, ROUTER6);
  assert.equal(u?.ipDst, '2001:db8:1::fe', 'unicast solicitation to the neighbour itself');
  assert.equal(p.sentNs, 2);
});

test('VLAN sub-interface: the probe leaves on the parent with the tag out of band, from the VLAN address', () => {
  const d = director();
  const p = new NeighProber(d.net);
  d.net.resolve(4, W('10.5.0.9'), 0);
  const [x] = runAt(p, 0);
  assert.equal(x?.outIfindex, 2);
  assert.equal(x?.outVlanTci, 100);
  assert.equal(x?.src, '10.5.0.1');
  assert.equal(x?.target, '10.5.0.9');
});

test('no address on the interface: ARP from 0.0.0.0 (RFC 5227 probe); no IPv6 solicitation, the attempt still counts', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net);
  const n4 = net.resolve(4, W('10.6.0.9'), 0);
  const n6 = net.resolve(6, W('2001:db8:6::9'), 0);
  const r = runAt(p, 0);
  assert.deepEqual(
    r.map((x) => `${x.kind} ${x.src} ${x.target}`),
    ['arp 0.0.0.0 10.6.0.9'],
  );
  runAt(p, 1000);
  runAt(p, 2000);
  runAt(p, 3000);
  assert.equal(net.nState[n4], NEIGH_FAILED);
  assert.equal(net.nState[n6], NEIGH_FAILED);
});

test('a full frame pool stops the run; the rest is sent on the next one', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net);
  for (const a of ['10.1.0.11', '10.1.0.12', '10.1.0.13']) net.resolve(4, W(a), 0);
  // no received frames: the whole capacity (1 + 1 reserved) is the pool
  const small = new FrameBatch(1, undefined, false, 1);
  assert.equal(p.run(small, 0), 2);
  assert.equal(p.poolExhausted, 1);
  assert.deepEqual(
    probes(small).map((x) => x.target),
    ['10.1.0.11', '10.1.0.12'],
  );
  const next = runAt(p, 100);
  assert.deepEqual(
    next.map((x) => x.target),
    ['10.1.0.13'],
  );
});

test('frames sent through a cached next hop keep the entry in use (fwd/l2 marks it)', () => {
  const d = director();
  const net = d.net;
  const p = new NeighProber(net, { idleMs: 60000 });
  const n = net.resolve(4, W('10.1.0.40'), 0); // resolved once, then cached by the engine
  net.setNeighbour(4, W('10.1.0.40'), 2, MAC('02:00:00:00:00:40'), 0);
  assert.equal(runAt(p, 0).length, 0);
  // 100 s later, the engine is still forwarding to it through its cache
  const b = new FrameBatch(1);
  b.push(new Uint8Array(60), 2);
  assert.equal(emitToNeighbour(b, 0, b.start[0]! + 14, b.start[0]! + 60, 0x0800, net, n), 0);
  const r = runAt(p, 100000);
  assert.deepEqual(
    r.map((x) => `${x.target} ${x.ethDst}`),
    ['10.1.0.40 02:00:00:00:00:40'],
  );
  // and a FAILED entry the engine keeps trying to use is probed again (broadcast)
  net.nState[n] = NEIGH_FAILED;
  emitToNeighbour(b, 0, b.start[0]! + 14, b.start[0]! + 60, 0x0800, net, n);
  assert.equal(runAt(p, 200000).length, 1);
});
