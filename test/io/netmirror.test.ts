import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyNetModel,
  capturedLinks,
  createNetSource,
  MIRROR_GROUPS,
  NetMirror,
  type NetChange,
  type NetlinkSocketApi,
  type NetModel,
} from '../../src/io/netmirror.js';
import {
  AF_NETLINK,
  concatMessages,
  decodeMessages,
  encodeAddr,
  encodeDone,
  encodeError,
  encodeLink,
  encodeNeigh,
  encodeRoute,
  IFA_F_PERMANENT,
  IFA_F_SECONDARY,
  IFF_LOOPBACK,
  IFF_UP,
  NETLINK_ROUTE,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NUD_PERMANENT,
  NUD_REACHABLE,
  NUD_STALE,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_LOCAL,
  RTN_UNICAST,
  SOCK_RAW,
  type AddrInfo,
  type LinkInfo,
  type NeighInfo,
  type RouteInfo,
} from '../../src/io/netlink.js';
import {
  NetState,
  NEIGH_F_PERMANENT,
  NEIGH_INCOMPLETE,
  NEIGH_REACHABLE,
  NEIGH_STALE,
} from '../../src/core/netstate.js';
import { formatAddress, formatMac, parseAddress } from '../../src/packet/addr.js';

/** A fake netlink socket: records what the mirror sends, delivers queued datagrams when told. */
class FakeSocket implements NetlinkSocketApi {
  sent: Uint8Array[] = [];
  queue: Array<Uint8Array | 'ENOBUFS'> = [];
  onReadable: (() => void) | null = null;
  opened: number[] = [];
  groups = -1;
  closed = false;
  socket(domain: number, type: number, protocol: number): number {
    this.opened = [domain, type, protocol];
    return 42;
  }
  bindNetlink(_fd: number, groups: number): void {
    this.groups = groups;
  }
  sockopts: number[][] = [];
  setsockoptInt(_fd: number, level: number, name: number, value: number): void {
    this.sockopts.push([level, name, value]);
  }
  recv(_fd: number, buf: Uint8Array, offset: number, length: number): number {
    const d = this.queue.shift();
    if (d === undefined) return -1;
    if (d === 'ENOBUFS') throw Object.assign(new Error('No buffer space available'), { code: 'ENOBUFS' });
    assert.ok(d.length <= length);
    buf.set(d, offset);
    return d.length;
  }
  send(_fd: number, buf: Uint8Array, offset: number, length: number): number {
    this.sent.push(buf.slice(offset, offset + length));
    return length;
  }
  pollStart(_fd: number, cb: () => void): void {
    this.onReadable = cb;
  }
  pollStop(): void {
    this.onReadable = null;
  }
  close(): void {
    this.closed = true;
  }
  /** deliver datagrams and signal readability */
  deliver(...dgrams: Array<Uint8Array | 'ENOBUFS'>): void {
    this.queue.push(...dgrams);
    this.onReadable!();
  }
  /** the last request: [type, seq] */
  lastRequest(): [number, number] {
    const m = this.sent[this.sent.length - 1]!;
    const dv = new DataView(m.buffer, m.byteOffset);
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    return [dv.getUint16(4, le), dv.getUint32(8, le)];
  }
}

const link = (ifindex: number, name: string, over: Partial<LinkInfo> = {}): LinkInfo => ({
  ifindex,
  name,
  flags: IFF_UP,
  hwType: 1,
  mac: `02:00:00:00:00:${ifindex.toString(16).padStart(2, '0')}`,
  mtu: 1500,
  master: 0,
  link: 0,
  operstate: 6,
  kind: '',
  vlanId: -1,
  ...over,
});
const addr = (ifindex: number, a: string, prefixLen: number, over: Partial<AddrInfo> = {}): AddrInfo => ({
  ifindex,
  af: a.includes(':') ? 6 : 4,
  prefixLen,
  address: a,
  peer: null,
  flags: IFA_F_PERMANENT,
  scope: 0,
  label: '',
  ...over,
});
const route = (dst: string, dstLen: number, oif: number, over: Partial<RouteInfo> = {}): RouteInfo => ({
  af: dst.includes(':') ? 6 : 4,
  dst,
  dstLen,
  tos: 0,
  table: RT_TABLE_MAIN,
  protocol: 4,
  scope: 0,
  type: RTN_UNICAST,
  gateway: null,
  oif,
  prefsrc: null,
  priority: 0,
  mtu: 0,
  hops: 0,
  ...over,
});
const neigh = (ifindex: number, dst: string, mac: string | null, state: number): NeighInfo => ({
  af: dst.includes(':') ? 6 : 4,
  ifindex,
  dst,
  lladdr: mac,
  state,
  flags: 0,
  type: 1,
});

const W = (s: string): Uint32Array => parseAddress(s)!.words;

/** Answer the dump in flight with these messages (one datagram) and DONE. */
function answer(sock: FakeSocket, msgs: (seq: number) => Uint8Array[]): void {
  const [, seq] = sock.lastRequest();
  sock.deliver(concatMessages([...msgs(seq), encodeDone(seq)]));
}

const L1 = link(1, 'lo', { flags: IFF_UP | IFF_LOOPBACK, mac: '00:00:00:00:00:00' });
const L2 = link(2, 'eth0');
const L3 = link(3, 'eth1');

async function startedMirror(): Promise<{ sock: FakeSocket; m: NetMirror; model: NetModel }> {
  const sock = new FakeSocket();
  const m = new NetMirror(sock);
  const ready = m.start();
  assert.deepEqual(sock.opened, [AF_NETLINK, SOCK_RAW, NETLINK_ROUTE]);
  assert.equal(sock.groups, MIRROR_GROUPS);
  assert.deepEqual(sock.sockopts, [[1, 33, 4 * 1024 * 1024]], 'SO_RCVBUFFORCE 4 MiB');
  assert.equal(sock.sent.length, 1, 'one dump at a time');
  assert.equal(sock.lastRequest()[0], RTM_GETLINK);
  answer(sock, (s) => [L1, L2, L3].map((l) => encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, l)));
  assert.equal(sock.sent.length, 2);
  assert.equal(sock.lastRequest()[0], RTM_GETADDR);
  answer(sock, (s) => [
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.1', 24)),
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(3, '10.2.0.1', 24)),
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(3, '2001:db8:2::1', 64)),
  ]);
  assert.equal(sock.lastRequest()[0], RTM_GETROUTE);
  answer(sock, (s) => [
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('10.1.0.0', 24, 2, { protocol: 2, scope: 253 })),
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('10.2.0.0', 24, 3, { protocol: 2, scope: 253 })),
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('0.0.0.0', 0, 2, { gateway: '10.1.0.254' })),
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('2001:db8:2::', 64, 3, { priority: 256 })),
    encodeRoute(
      RTM_NEWROUTE,
      NLM_F_MULTI,
      s,
      route('::', 0, 3, { gateway: '2001:db8:2::fe', priority: 1024 }),
    ),
    encodeRoute(
      RTM_NEWROUTE,
      NLM_F_MULTI,
      s,
      route('10.1.0.1', 32, 2, { table: RT_TABLE_LOCAL, type: RTN_LOCAL, scope: 254 }),
    ),
  ]);
  assert.equal(sock.lastRequest()[0], RTM_GETNEIGH);
  let changes = 0;
  m.on('change', () => changes++);
  answer(sock, (s) => [
    encodeNeigh(RTM_NEWNEIGH, NLM_F_MULTI, s, neigh(2, '10.1.0.254', '02:00:00:00:fe:01', NUD_REACHABLE)),
    encodeNeigh(RTM_NEWNEIGH, NLM_F_MULTI, s, neigh(3, '10.2.0.9', '02:00:00:00:09:01', NUD_PERMANENT)),
    encodeNeigh(RTM_NEWNEIGH, NLM_F_MULTI, s, neigh(3, '2001:db8:2::fe', '02:00:00:00:fe:02', NUD_STALE)),
  ]);
  const model = await ready;
  assert.equal(changes, 1, 'one change event for the whole initial dump');
  assert.equal(sock.sent.length, 4, 'no further requests');
  return { sock, m, model };
}

test('NetMirror: dumps links, addresses, routes, neighbours one at a time; the model is plain and sorted', async () => {
  const { model, m, sock } = await startedMirror();
  assert.deepEqual(
    model.links.map((l) => l.name),
    ['lo', 'eth0', 'eth1'],
  );
  assert.equal(model.addrs.length, 3);
  assert.equal(model.routes.length, 5, 'main table only');
  assert.ok(model.routes.every((r) => r.table === RT_TABLE_MAIN));
  assert.equal(model.neighbours.length, 3);
  assert.deepEqual(structuredClone(model), model, 'survives postMessage');
  assert.deepEqual(
    m.captured().map((l) => l.name),
    ['eth0', 'eth1'],
  );
  m.stop();
  assert.ok(sock.closed);
  assert.equal(sock.onReadable, null);
});

test('NetMirror: events update the model and emit one change per datagram, saying what changed', async () => {
  const { m, sock } = await startedMirror();
  const seen: Array<{ model: NetModel; what: NetChange }> = [];
  m.on('change', (model: NetModel, what: NetChange) => seen.push({ model, what }));
  const r = route('192.168.7.0', 24, 3, { gateway: '10.2.0.254' });
  sock.deliver(encodeRoute(RTM_NEWROUTE, 0, 0, r));
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.what, { links: false, addrs: false, routes: true, neighbours: false });
  assert.ok(seen[0]!.model.routes.some((x) => x.dst === '192.168.7.0'));
  // the same route again changes nothing
  sock.deliver(encodeRoute(RTM_NEWROUTE, 0, 0, r));
  assert.equal(seen.length, 1);
  // routes of other tables are not mirrored
  sock.deliver(encodeRoute(RTM_NEWROUTE, 0, 0, { ...r, table: 100 }));
  assert.equal(seen.length, 1);
  sock.deliver(encodeRoute(RTM_DELROUTE, 0, 0, r));
  assert.equal(seen.length, 2);
  assert.ok(!seen[1]!.model.routes.some((x) => x.dst === '192.168.7.0'));
  // link down: flags change
  sock.deliver(encodeLink(RTM_NEWLINK, 0, 0, { ...L3, flags: 0 }));
  assert.deepEqual(seen[2]!.what, { links: true, addrs: false, routes: false, neighbours: false });
  assert.deepEqual(
    capturedLinks(seen[2]!.model).map((l) => l.name),
    ['eth0'],
  );
  // link deleted: its neighbours go too
  sock.deliver(encodeLink(RTM_DELLINK, 0, 0, L3));
  const last = seen[seen.length - 1]!;
  assert.ok(last.what.links && last.what.neighbours);
  assert.ok(!last.model.neighbours.some((n) => n.ifindex === 3));
  m.stop();
});

test('NetMirror: a dump interrupted by changes (NLM_F_DUMP_INTR) is repeated', async () => {
  const sock = new FakeSocket();
  const m = new NetMirror(sock);
  const ready = m.start();
  const [, seq] = sock.lastRequest();
  sock.deliver(
    concatMessages([
      encodeLink(RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, seq, L2),
      encodeDone(seq, NLM_F_MULTI),
    ]),
  );
  assert.equal(sock.sent.length, 2);
  assert.equal(sock.lastRequest()[0], RTM_GETLINK, 'the link dump again');
  assert.notEqual(sock.lastRequest()[1], seq);
  answer(sock, (s) => [encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, L2)]);
  assert.equal(sock.lastRequest()[0], RTM_GETADDR);
  for (let i = 0; i < 3; i++) answer(sock, () => []);
  const model = await ready;
  assert.deepEqual(
    model.links.map((l) => l.ifindex),
    [2],
  );
  m.stop();
});

test('NetMirror: after an overrun (ENOBUFS) it re-dumps and drops what vanished meanwhile', async () => {
  const { m, sock } = await startedMirror();
  const seen: NetModel[] = [];
  m.on('change', (model: NetModel) => seen.push(model));
  const before = sock.sent.length;
  sock.deliver('ENOBUFS');
  assert.equal(m.overruns, 1);
  assert.equal(sock.sent.length, before + 1);
  assert.equal(sock.lastRequest()[0], RTM_GETLINK);
  // eth1 vanished while events were lost
  answer(sock, (s) => [L1, L2].map((l) => encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, l)));
  answer(sock, (s) => [encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.1', 24))]);
  // an event that arrives during the route dump survives the sweep
  const [, rseq] = sock.lastRequest();
  sock.deliver(
    concatMessages([
      encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, rseq, route('10.1.0.0', 24, 2)),
      encodeRoute(RTM_NEWROUTE, 0, 0, route('10.9.0.0', 16, 2, { gateway: '10.1.0.254' })),
      encodeDone(rseq),
    ]),
  );
  answer(sock, () => []);
  const model = seen[seen.length - 1]!;
  assert.deepEqual(
    model.links.map((l) => l.name),
    ['lo', 'eth0'],
  );
  assert.deepEqual(
    model.routes.map((r) => `${r.dst}/${r.dstLen}`),
    ['10.1.0.0/24', '10.9.0.0/16'],
  );
  assert.equal(model.neighbours.length, 0);
  assert.equal(m.dumps, 2);
  m.stop();
});

test('NetMirror: a refused dump is reported and the others go on', async () => {
  const sock = new FakeSocket();
  const m = new NetMirror(sock);
  const errors: unknown[] = [];
  const ready = m.start();
  m.on('error', (e) => errors.push(e));
  answer(sock, (s) => [encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, L2)]);
  const [, seq] = sock.lastRequest();
  sock.deliver(encodeError(seq, 22, sock.sent[sock.sent.length - 1]!));
  assert.equal(sock.lastRequest()[0], RTM_GETROUTE);
  answer(sock, () => []);
  answer(sock, () => []);
  await assert.rejects(ready); // start() rejects on the first error
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as { code: string }).code, 'ERR_LVS_INVALID_ARGUMENT');
  assert.ok(m.ready);
  m.stop();
});

test('capturedLinks: up, not loopback, not enslaved (bridge/bond masters yes, their ports no), no VLAN sub-interfaces', () => {
  const model: NetModel = {
    links: [
      L1,
      L2,
      link(4, 'down0', { flags: 0 }),
      link(5, 'br0', { kind: 'bridge' }),
      link(6, 'veth-br', { master: 5, kind: 'veth' }),
      link(7, 'bond0', { kind: 'bond' }),
      link(8, 'ens1', { master: 7 }),
      link(9, 'eth0.100', { kind: 'vlan', link: 2, vlanId: 100 }),
      link(10, 'dummy0', { kind: 'dummy' }),
    ],
    addrs: [],
    routes: [],
    neighbours: [],
  };
  assert.deepEqual(
    capturedLinks(model).map((l) => l.name),
    ['eth0', 'br0', 'bond0', 'dummy0'],
  );
});

test('applyNetModel: NetState resolves interface, gateway and neighbour from the model', async () => {
  const { model, m } = await startedMirror();
  m.stop();
  const net = new NetState(64);
  const res = applyNetModel(net, structuredClone(model), 5000);
  assert.equal(res.interfaces, 3);
  assert.equal(res.routes, 5);
  assert.equal(net.ifNames.get(2), 'eth0');
  assert.equal(formatMac(net.ifMac, 2 * 6), '02:00:00:00:00:02');
  assert.ok(net.isLocal(4, W('10.1.0.1'), 0));
  // off-link destination: default route via 10.1.0.254 on eth0, neighbour seeded REACHABLE
  let n = net.resolve(4, W('198.51.100.7'), 0);
  assert.ok(n >= 0);
  assert.equal(net.lastIfindex, 2);
  assert.equal(formatAddress(4, net.nAddr, n * 4), '10.1.0.254');
  assert.equal(formatMac(net.nMac, n * 6), '02:00:00:00:fe:01');
  assert.equal(net.nState[n], NEIGH_REACHABLE);
  assert.equal(net.nUpdated[n], 5000);
  assert.equal(formatAddress(4, net.lastSrc), '10.1.0.1');
  // on-link destination with a permanent kernel entry
  n = net.resolve(4, W('10.2.0.9'), 0);
  assert.equal(net.lastIfindex, 3);
  assert.equal(formatMac(net.nMac, n * 6), '02:00:00:00:09:01');
  assert.ok(net.nFlags[n]! & NEIGH_F_PERMANENT);
  // IPv6 default route via a STALE kernel entry: usable, marked stale for lvsd's prober
  n = net.resolve(6, W('2001:db8:99::1'), 0);
  assert.equal(net.lastIfindex, 3);
  assert.equal(formatAddress(6, net.nAddr, n * 4), '2001:db8:2::fe');
  assert.equal(net.nState[n], NEIGH_STALE);
  assert.ok(net.neighUsable(n));
  // on-link destination without a kernel entry: INCOMPLETE, for the prober
  n = net.resolve(4, W('10.1.0.77'), 0);
  assert.equal(net.nState[n], NEIGH_INCOMPLETE);
  // no route
  const empty = new NetState(8);
  applyNetModel(empty, { links: model.links, addrs: [], routes: [], neighbours: [] }, 0);
  assert.equal(empty.resolve(4, W('10.1.0.5'), 0), -1);
});

test('applyNetModel: VLAN sub-interfaces receive their tagged frames only while up and present', () => {
  const net = new NetState(8);
  const sub = link(9, 'eth0.100', { kind: 'vlan', link: 2, vlanId: 100 });
  const model = (links: LinkInfo[]): NetModel => ({ links, addrs: [], routes: [], neighbours: [] });
  applyNetModel(net, model([L2, sub]), 0);
  assert.equal(net.vlanInterface(2, 100), 9);
  assert.equal(net.vlanInterface(2, 101), 0);
  assert.equal(net.vlanInterface(9, 100), 0, 'keyed by the parent');
  applyNetModel(net, model([L2, { ...sub, flags: 0 }]), 1);
  assert.equal(net.vlanInterface(2, 100), 0, 'down');
  applyNetModel(net, model([L2, { ...sub, vlanId: 200 }]), 2);
  assert.equal(net.vlanInterface(2, 100), 0, 'renumbered: the old id is gone');
  assert.equal(net.vlanInterface(2, 200), 9);
  applyNetModel(net, model([L2]), 3);
  assert.equal(net.vlanInterface(2, 200), 0, 'deleted');
});

test('applyNetModel: rebuilds only what changed; neighbours never bump the generation', () => {
  const net = new NetState(64);
  const model: NetModel = {
    links: [L2, L3],
    addrs: [
      addr(2, '10.1.0.100', 32), // a VIP first in the kernel's order
      addr(2, '10.1.0.1', 24),
      addr(2, '10.1.0.2', 24, { flags: IFA_F_SECONDARY }),
      addr(3, 'fe80::1', 64, { scope: 253 }),
      addr(3, '2001:db8:2::1', 64),
    ],
    routes: [
      route('10.1.0.0', 24, 2),
      route('0.0.0.0', 0, 2, { gateway: '10.1.0.254', mtu: 1400 }),
      route('10.66.0.0', 16, 0, { type: RTN_BLACKHOLE }),
    ],
    neighbours: [],
  };
  const r = applyNetModel(net, model, 0);
  assert.equal(r.skippedRoutes, 1);
  assert.equal(net.routes, 2);
  // source address choice: the primary subnet address, not the /32 VIP nor the secondary
  assert.equal(formatAddress(4, net.ifAddr4, 2 * 4), '10.1.0.1');
  assert.equal(formatAddress(6, net.ifAddr6, 3 * 4), '2001:db8:2::1');
  net.resolve(4, W('8.8.8.8'), 0);
  assert.equal(net.lastMtu, 1400);
  const gen = net.generation;
  applyNetModel(
    net,
    { ...model, neighbours: [neigh(2, '10.1.0.254', '02:00:00:00:fe:01', NUD_REACHABLE)] },
    10,
  );
  assert.equal(net.generation, gen, 'a neighbour change keeps next-hop caches');
  // a route deleted from the model disappears from NetState
  applyNetModel(net, { ...model, routes: model.routes.slice(0, 1) }, 20);
  assert.ok(net.generation > gen);
  assert.equal(net.resolve(4, W('8.8.8.8'), 0), -1);
  // an address removed from the model is no longer local; a link removed is no longer present
  applyNetModel(net, { ...model, links: [L2], addrs: model.addrs.slice(1, 2) }, 30);
  assert.ok(!net.isLocal(4, W('10.1.0.100'), 0));
  assert.ok(net.isLocal(4, W('10.1.0.1'), 0));
  assert.equal(net.ifPresent[3], 0);
  assert.equal(net.ifPresent[2], 1);
});

test('applyNetModel: an lvsd entry confirmed with the same MAC is kept; a moved MAC is taken as stale', () => {
  const net = new NetState(64);
  const base: NetModel = {
    links: [L2],
    addrs: [addr(2, '10.1.0.1', 24)],
    routes: [route('10.1.0.0', 24, 2)],
    neighbours: [],
  };
  applyNetModel(net, base, 0);
  const i = net.setNeighbour(4, W('10.1.0.5'), 2, new Uint8Array([2, 0, 0, 0, 5, 5]), 1000);
  applyNetModel(net, { ...base, neighbours: [neigh(2, '10.1.0.5', '02:00:00:00:05:05', NUD_STALE)] }, 2000);
  assert.equal(net.nState[i], NEIGH_REACHABLE);
  assert.equal(net.nUpdated[i], 1000);
  applyNetModel(net, { ...base, neighbours: [neigh(2, '10.1.0.5', '02:00:00:00:05:06', NUD_STALE)] }, 3000);
  assert.equal(net.nState[i], NEIGH_STALE);
  assert.equal(formatMac(net.nMac, i * 6), '02:00:00:00:05:06');
  // entries without a valid link-layer address are ignored
  applyNetModel(net, { ...base, neighbours: [neigh(2, '10.1.0.6', null, 0x20)] }, 4000);
  assert.equal(net.findNeighbour(4, W('10.1.0.6'), 0, 2), -1);
});

test('decodeMessages of the mirror requests: each is a valid dump request for AF_UNSPEC', async () => {
  const { sock, m } = await startedMirror();
  m.stop();
  const types = sock.sent.map((b) => {
    const dv = new DataView(b.buffer);
    assert.equal(dv.getUint32(0, true), b.length);
    assert.equal(b[16], 0, 'AF_UNSPEC');
    return decodeMessages(b)[0]!;
  });
  assert.deepEqual(
    types.map((t) => (t.type === -1 ? t.rawType : t.type)),
    [RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH],
  );
});

test('NetMirror: a link going down re-dumps addresses, routes and neighbours (IPv4 flushes routes silently)', async () => {
  const { m, sock } = await startedMirror();
  const seen: NetModel[] = [];
  m.on('change', (model: NetModel) => seen.push(model));
  const before = sock.sent.length;
  sock.deliver(encodeLink(RTM_NEWLINK, 0, 0, { ...L3, flags: 0 }));
  assert.equal(sock.sent.length, before + 1);
  assert.equal(sock.lastRequest()[0], RTM_GETADDR);
  // an overrun while the address dump is in flight: everything is queued again behind it, and the
  // address dump's DONE still sweeps addresses (not links)
  sock.deliver('ENOBUFS');
  assert.equal(sock.sent.length, before + 1, 'one dump at a time');
  answer(sock, (s) => [encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.1', 24))]);
  assert.equal(seen[seen.length - 1]!.links.length, 3, 'links untouched by the address sweep');
  assert.equal(sock.lastRequest()[0], RTM_GETLINK);
  answer(sock, (s) => [L1, L2, { ...L3, flags: 0 }].map((l) => encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, l)));
  answer(sock, (s) => [encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.1', 24))]);
  answer(sock, (s) => [
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('10.1.0.0', 24, 2)),
    encodeRoute(RTM_NEWROUTE, NLM_F_MULTI, s, route('0.0.0.0', 0, 2, { gateway: '10.1.0.254' })),
  ]);
  answer(sock, () => []);
  const last = seen[seen.length - 1]!;
  assert.ok(!last.routes.some((r) => r.oif === 3), 'routes through the downed link are gone');
  assert.ok(!last.addrs.some((a) => a.ifindex === 3));
  assert.equal(sock.sent.length, before + 5, 'and then quiet');
  m.stop();
});

test('NetMirror: one prefix on several devices stays several routes; a replace drops the replaced one and re-dumps', async () => {
  const { m, sock } = await startedMirror();
  const seen: NetModel[] = [];
  m.on('change', (model: NetModel) => seen.push(model));
  const ll = (oif: number): RouteInfo => route('fe80::', 64, oif, { priority: 256 });
  sock.deliver(
    concatMessages([encodeRoute(RTM_NEWROUTE, 0, 0, ll(2)), encodeRoute(RTM_NEWROUTE, 0, 0, ll(3))]),
  );
  assert.equal(seen[0]!.routes.filter((r) => r.dst === 'fe80::').length, 2);
  sock.deliver(encodeRoute(RTM_DELROUTE, 0, 0, ll(2)));
  assert.deepEqual(
    seen[1]!.routes.filter((r) => r.dst === 'fe80::').map((r) => r.oif),
    [3],
  );
  const before = sock.sent.length;
  const gw2 = route('0.0.0.0', 0, 2, { gateway: '10.1.0.253' });
  sock.deliver(encodeRoute(RTM_NEWROUTE, 0x100 /* NLM_F_REPLACE */, 0, gw2));
  const defaults = seen[2]!.routes.filter((r) => r.af === 4 && r.dstLen === 0);
  assert.deepEqual(
    defaults.map((r) => r.gateway),
    ['10.1.0.253'],
  );
  assert.equal(sock.sent.length, before + 1);
  assert.equal(sock.lastRequest()[0], RTM_GETROUTE);
  m.stop();
});

test('applyNetModel: a static kernel entry that disappears or turns dynamic is no longer exempt from probing', () => {
  const net = new NetState(16);
  const base: NetModel = {
    links: [L2],
    addrs: [addr(2, '10.1.0.1', 24)],
    routes: [route('10.1.0.0', 24, 2)],
    neighbours: [],
  };
  const perm = (dst: string): NeighInfo => neigh(2, dst, '02:00:00:00:00:77', NUD_PERMANENT);
  applyNetModel(net, { ...base, neighbours: [perm('10.1.0.7'), perm('10.1.0.8')] }, 0);
  const a = net.findNeighbour(4, W('10.1.0.7'), 0, 2);
  const b = net.findNeighbour(4, W('10.1.0.8'), 0, 2);
  assert.ok(net.nFlags[a]! & NEIGH_F_PERMANENT && net.nFlags[b]! & NEIGH_F_PERMANENT);
  // 10.1.0.7 deleted from the kernel, 10.1.0.8 replaced by a dynamic entry
  applyNetModel(net, { ...base, neighbours: [neigh(2, '10.1.0.8', '02:00:00:00:00:77', NUD_REACHABLE)] }, 10);
  assert.equal(net.nFlags[a]! & NEIGH_F_PERMANENT, 0);
  assert.equal(net.nState[a], NEIGH_STALE, 'kept usable, to be verified');
  assert.ok(net.neighUsable(a));
  assert.equal(net.nFlags[b]! & NEIGH_F_PERMANENT, 0);
  assert.equal(net.nState[b], NEIGH_REACHABLE);
});

test('NetMirror: start() closes the socket when setting up fails', () => {
  const sock = new FakeSocket();
  sock.send = () => {
    throw Object.assign(new Error('send failed'), { code: 'EPERM' });
  };
  const m = new NetMirror(sock);
  assert.throws(() => m.start(), { code: 'EPERM' });
  assert.ok(sock.closed);
  assert.equal(m.listenerCount('change'), 0);
});

test('createNetSource: the daemon-facing view (capture, local addresses, interface count, change callback)', async () => {
  const sock = new FakeSocket();
  const src = createNetSource(sock);
  let changes = 0;
  const started = src.start(() => changes++);
  answer(sock, (s) => [L1, L2, L3].map((l) => encodeLink(RTM_NEWLINK, NLM_F_MULTI, s, l)));
  answer(sock, (s) => [
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(1, '127.0.0.1', 8, { scope: 254 })),
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.1', 24)),
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(2, '10.1.0.100', 32)),
    encodeAddr(RTM_NEWADDR, NLM_F_MULTI, s, addr(3, '2001:db8:2::1', 64)),
  ]);
  answer(sock, () => []);
  answer(sock, () => []);
  await started;
  assert.equal(changes, 0, 'the first model is the start() result');
  assert.deepEqual(src.capture(), [
    { ifindex: 2, name: 'eth0' },
    { ifindex: 3, name: 'eth1' },
  ]);
  assert.equal(src.nonLoopbackCount(), 2);
  assert.deepEqual(src.local(), {
    addrs4: ['10.1.0.1', '10.1.0.100', '127.0.0.1'],
    addrs6: ['2001:db8:2::1'],
  });
  sock.deliver(encodeLink(RTM_DELLINK, 0, 0, L3));
  assert.equal(changes, 1);
  assert.equal(src.nonLoopbackCount(), 1);
  assert.deepEqual(src.capture(), [{ ifindex: 2, name: 'eth0' }]);
  assert.deepEqual(structuredClone(src.model()), src.model());
  src.stop();
  assert.ok(sock.closed);
});
