import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import {
  concatMessages,
  decodeMessages,
  encodeAddr,
  encodeDone,
  encodeDumpRequest,
  encodeError,
  encodeLink,
  encodeNeigh,
  encodeRoute,
  IFF_LOWER_UP,
  IFF_UP,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NUD_PERMANENT,
  NUD_REACHABLE,
  RT_TABLE_MAIN,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_STATIC,
  type AddrInfo,
  type LinkInfo,
  type NeighInfo,
  type RouteInfo,
} from '../../src/io/netlink.js';

const LE = endianness() === 'LE';

/**
 * A hand-written byte builder that knows nothing of the codec: host-order integers as the kernel
 * writes them, rtattrs padded to 4 bytes.
 */
class Bytes {
  readonly b: number[] = [];
  u8(...v: number[]): this {
    this.b.push(...v);
    return this;
  }
  u16(v: number): this {
    const x = [v & 0xff, (v >>> 8) & 0xff];
    this.b.push(...(LE ? x : x.reverse()));
    return this;
  }
  u32(v: number): this {
    const x = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.b.push(...(LE ? x : x.reverse()));
    return this;
  }
  pad(): this {
    while (this.b.length % 4) this.b.push(0);
    return this;
  }
  attr(type: number, payload: number[]): this {
    this.u16(4 + payload.length)
      .u16(type)
      .u8(...payload);
    return this.pad();
  }
  bytes(): number[] {
    return this.b;
  }
}

function nlmsg(type: number, flags: number, seq: number, body: number[]): Uint8Array {
  const h = new Bytes()
    .u32(16 + body.length)
    .u16(type)
    .u16(flags)
    .u32(seq)
    .u32(4242);
  return Uint8Array.from([...h.bytes(), ...body]);
}

const str = (s: string): number[] => [...Buffer.from(s + '\0')];

test('dump requests: nlmsghdr (16) + zeroed family header of the right size, NLM_F_REQUEST|NLM_F_DUMP', () => {
  for (const [type, hdr] of [
    [RTM_GETLINK, 16],
    [RTM_GETADDR, 8],
    [RTM_GETROUTE, 12],
    [RTM_GETNEIGH, 12],
  ] as const) {
    const m = encodeDumpRequest(type, 77);
    const expect = nlmsg(type, NLM_F_REQUEST | NLM_F_DUMP, 77, new Array(hdr).fill(0));
    // the header's pid is 0 in requests
    expect.set([0, 0, 0, 0], 12);
    assert.deepEqual([...m], [...expect], `type ${type}`);
  }
  assert.throws(() => encodeDumpRequest(RTM_NEWLINK, 1), RangeError);
});

test('decode a kernel-format RTM_NEWLINK: ifinfomsg 16 bytes, name, MAC, MTU, master, link, operstate, vlan', () => {
  const body = new Bytes()
    .u8(0, 0) // ifi_family AF_UNSPEC, pad
    .u16(1) // ARPHRD_ETHER
    .u32(7) // index
    .u32(IFF_UP | IFF_LOWER_UP) // flags
    .u32(0xffffffff) // change
    .attr(3, str('eth0.100'))
    .attr(4, new Bytes().u32(1496).bytes())
    .attr(1, [0x02, 0, 0, 0, 0xaa, 0x01])
    .attr(2, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) // IFLA_BROADCAST: ignored
    .attr(10, new Bytes().u32(9).bytes())
    .attr(5, new Bytes().u32(3).bytes())
    .attr(16, [6]);
  // IFLA_LINKINFO { IFLA_INFO_KIND "vlan", IFLA_INFO_DATA { IFLA_VLAN_ID 100 } }
  const kind = new Bytes().attr(1, str('vlan')).bytes();
  const data = new Bytes().attr(2, new Bytes().attr(1, new Bytes().u16(100).bytes()).bytes()).bytes();
  body.attr(18 | 0x8000 /* NLA_F_NESTED */, [...kind, ...data]);
  const [m] = decodeMessages(nlmsg(RTM_NEWLINK, 0, 0, body.bytes()));
  assert.ok(m && m.type === RTM_NEWLINK);
  assert.deepEqual(m.link, {
    ifindex: 7,
    name: 'eth0.100',
    flags: IFF_UP | IFF_LOWER_UP,
    hwType: 1,
    mac: '02:00:00:00:aa:01',
    mtu: 1496,
    master: 9,
    link: 3,
    operstate: 6,
    kind: 'vlan',
    vlanId: 100,
  });
  assert.equal(m.pid, 4242);
});

test('decode RTM_NEWADDR: ifaddrmsg 8 bytes; IFA_LOCAL is the address, IFA_ADDRESS the peer; IPv6 with IFA_ADDRESS only', () => {
  const v4 = new Bytes()
    .u8(2, 24, 0x80, 0) // AF_INET, /24, IFA_F_PERMANENT, scope universe
    .u32(5)
    .attr(1, [10, 1, 2, 3])
    .attr(2, [10, 1, 2, 3])
    .attr(3, str('eth0:0'))
    .attr(8, new Bytes().u32(0x80).bytes());
  const v6 = new Bytes()
    .u8(10, 64, 0, 253)
    .u32(5)
    .attr(1, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    .attr(8, new Bytes().u32(0x200 | 0x80).bytes()); // IFA_F_NOPREFIXROUTE lives above 8 bits
  const ptp = new Bytes().u8(2, 32, 0, 0).u32(6).attr(1, [192, 168, 9, 2]).attr(2, [192, 168, 9, 1]);
  const msgs = decodeMessages(
    concatMessages([
      nlmsg(RTM_NEWADDR, NLM_F_MULTI, 3, v4.bytes()),
      nlmsg(RTM_NEWADDR, NLM_F_MULTI, 3, v6.bytes()),
      nlmsg(RTM_NEWADDR, NLM_F_MULTI, 3, ptp.bytes()),
    ]),
  );
  assert.equal(msgs.length, 3);
  const [a, b, c] = msgs.map((m) => (m.type === RTM_NEWADDR ? m.addr : null));
  assert.deepEqual(a, {
    ifindex: 5,
    af: 4,
    prefixLen: 24,
    address: '10.1.2.3',
    peer: null,
    flags: 0x80,
    scope: 0,
    label: 'eth0:0',
  });
  assert.deepEqual(b, {
    ifindex: 5,
    af: 6,
    prefixLen: 64,
    address: 'fe80::1',
    peer: null,
    flags: 0x280,
    scope: 253,
    label: '',
  });
  assert.equal(c?.address, '192.168.9.1');
  assert.equal(c?.peer, '192.168.9.2');
});

test('decode RTM_NEWROUTE: rtmsg 12 bytes, table, metrics MTU, multipath takes the first hop', () => {
  const mp = new Bytes()
    .u16(16)
    .u8(0, 0)
    .u32(4) // rtnexthop: len, flags, hops, ifindex 4
    .attr(5, [192, 168, 1, 254])
    .u16(16)
    .u8(0, 0)
    .u32(5)
    .attr(5, [192, 168, 2, 254]);
  const body = new Bytes()
    .u8(2, 16, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST)
    .u32(0)
    .attr(15, new Bytes().u32(RT_TABLE_MAIN).bytes())
    .attr(1, [10, 20, 0, 0])
    .attr(6, new Bytes().u32(100).bytes())
    .attr(7, [192, 168, 1, 1])
    .attr(8, new Bytes().attr(2, new Bytes().u32(1400).bytes()).bytes())
    .attr(9, mp.bytes());
  const [m] = decodeMessages(nlmsg(RTM_NEWROUTE, 0, 0, body.bytes()));
  assert.ok(m && m.type === RTM_NEWROUTE);
  assert.deepEqual(m.route, {
    af: 4,
    dst: '10.20.0.0',
    dstLen: 16,
    tos: 0,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_STATIC,
    scope: 0,
    type: RTN_UNICAST,
    gateway: '192.168.1.254',
    oif: 4,
    prefsrc: '192.168.1.1',
    priority: 100,
    mtu: 1400,
    hops: 2,
  });
  // a default route has no RTA_DST
  const def = new Bytes()
    .u8(10, 0, 0, 0, RT_TABLE_MAIN, 3, 0, RTN_UNICAST)
    .u32(0)
    .attr(5, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    .attr(4, new Bytes().u32(2).bytes());
  const [d] = decodeMessages(nlmsg(RTM_NEWROUTE, 0, 0, def.bytes()));
  assert.ok(d && d.type === RTM_NEWROUTE);
  assert.equal(d.route.dst, '::');
  assert.equal(d.route.dstLen, 0);
  assert.equal(d.route.gateway, 'fe80::1');
  assert.equal(d.route.oif, 2);
  assert.equal(d.route.hops, 0);
});

test('decode RTM_NEWNEIGH: ndmsg 12 bytes, state, MAC', () => {
  const body = new Bytes()
    .u8(2, 0)
    .u16(0)
    .u32(3)
    .u16(NUD_REACHABLE)
    .u8(0, 1)
    .attr(1, [10, 0, 0, 9])
    .attr(2, [2, 0, 0, 0, 0, 9]);
  const [m] = decodeMessages(nlmsg(RTM_NEWNEIGH, 0, 0, body.bytes()));
  assert.ok(m && m.type === RTM_NEWNEIGH);
  assert.deepEqual(m.neigh, {
    af: 4,
    ifindex: 3,
    dst: '10.0.0.9',
    lladdr: '02:00:00:00:00:09',
    state: NUD_REACHABLE,
    flags: 0,
    type: 1,
  });
});

test('DONE, ERROR, other families and truncation', () => {
  const req = encodeDumpRequest(RTM_GETROUTE, 5);
  const bridgeNeigh = new Bytes()
    .u8(7, 0)
    .u16(0)
    .u32(3)
    .u16(NUD_PERMANENT)
    .u8(2, 0)
    .attr(2, [2, 0, 0, 0, 0, 1]);
  const dgram = concatMessages([
    nlmsg(RTM_NEWNEIGH, NLM_F_MULTI, 5, bridgeNeigh.bytes()), // AF_BRIDGE fdb entry
    encodeError(5, 22, req),
    encodeDone(5),
  ]);
  const msgs = decodeMessages(dgram);
  assert.deepEqual(
    msgs.map((m) => m.type),
    [-1, NLMSG_ERROR, NLMSG_DONE],
  );
  const e = msgs[1]!;
  assert.ok(e.type === NLMSG_ERROR);
  assert.equal(e.error, -22);
  // a message whose length runs past the datagram ends the walk; the complete one before it stays
  const cut = dgram.slice(0, dgram.length - 2);
  assert.equal(decodeMessages(cut).length, 2);
  // an attribute whose length runs past its message is ignored, not read out of bounds
  const bad = new Bytes().u8(2, 0).u16(0).u32(3).u16(2).u8(0, 0).u16(40).u16(1).u8(10, 0, 0, 1);
  const [n] = decodeMessages(nlmsg(RTM_NEWNEIGH, 0, 0, bad.bytes()));
  assert.ok(n && n.type === RTM_NEWNEIGH);
  assert.equal(n.neigh.dst, '');
});

test('round trips through the encoders', () => {
  const link: LinkInfo = {
    ifindex: 12,
    name: 'br0',
    flags: IFF_UP,
    hwType: 1,
    mac: 'de:ad:be:ef:00:01',
    mtu: 9000,
    master: 0,
    link: 0,
    operstate: 6,
    kind: 'bridge',
    vlanId: -1,
  };
  const addr: AddrInfo = {
    ifindex: 12,
    af: 6,
    prefixLen: 64,
    address: '2001:db8::5',
    peer: null,
    flags: 0x80,
    scope: 0,
    label: '',
  };
  const route: RouteInfo = {
    af: 6,
    dst: '2001:db8:77::',
    dstLen: 48,
    tos: 0,
    table: 1000,
    protocol: RTPROT_STATIC,
    scope: 0,
    type: RTN_UNICAST,
    gateway: 'fe80::1',
    oif: 12,
    prefsrc: '2001:db8::5',
    priority: 1024,
    mtu: 1280,
    hops: 0,
  };
  const multi: RouteInfo = { ...route, table: RT_TABLE_MAIN, hops: 3 };
  const neigh: NeighInfo = {
    af: 6,
    ifindex: 12,
    dst: 'fe80::1',
    lladdr: '02:11:22:33:44:55',
    state: NUD_REACHABLE,
    flags: 0x80,
    type: 1,
  };
  const msgs = decodeMessages(
    concatMessages([
      encodeLink(RTM_NEWLINK, 0, 1, link),
      encodeAddr(RTM_NEWADDR, 0, 2, addr),
      encodeRoute(RTM_DELROUTE, 0, 3, route),
      encodeRoute(RTM_NEWROUTE, 0, 4, multi, [
        { gateway: 'fe80::2', oif: 13 },
        { gateway: null, oif: 14 },
      ]),
      encodeNeigh(RTM_NEWNEIGH, 0, 5, neigh),
    ]),
  );
  assert.equal(msgs.length, 5);
  const [l, a, r, mr, n] = msgs;
  assert.ok(l?.type === RTM_NEWLINK && a?.type === RTM_NEWADDR && n?.type === RTM_NEWNEIGH);
  assert.ok(r?.type === RTM_DELROUTE && mr?.type === RTM_NEWROUTE);
  assert.deepEqual(l.link, link);
  assert.deepEqual(a.addr, addr);
  assert.deepEqual(r.route, route);
  assert.deepEqual(mr.route, multi);
  assert.deepEqual(n.neigh, neigh);
  assert.deepEqual(
    msgs.map((m) => m.seq),
    [1, 2, 3, 4, 5],
  );
});
