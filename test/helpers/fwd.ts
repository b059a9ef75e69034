/**
 * Helpers for the table-driven forwarding tests (test/fwd): the standard topology of topo.ts extended
 * with an IPv6 tunnel side and a VLAN sub-interface, one-shot packet runs, and byte-exact asserts.
 *
 *   eth2 ifindex 3 also 2001:db8:50::1/64; remote IPv6 real servers 2001:db8:100::/64 via 2001:db8:50::fe
 *   198.51.100.128/25 via 192.168.50.254 with route MTU 1300 (small-MTU tunnel path)
 *   eth1.200 ifindex 5 (parent 2, VLAN 200) 172.16.20.1/24, real server 172.16.20.2
 *   eth0.100 ifindex 6 (parent 1, VLAN 100) 10.100.0.1/24: clients may arrive tagged 100 on eth0
 */
import assert from 'node:assert/strict';
import { makeTopo, MAC, w, type Topo } from './topo.js';
import type { DirectorOptions } from '../../src/core/director.js';
import { parseMac } from '../../src/packet/addr.js';
import { diffBytes, eth, gre, gue, hexdump, ipip } from '../../src/packet/builder.js';
import { TUN_F_CSUM, TUN_GRE, TUN_GUE } from '../../src/core/services.js';
import type { DroppedFrame, WireFrame, WireMeta } from '../../src/io/memory.js';
import { DROP_REASON_NAMES } from '../../src/packet/drop-reasons.js';

export { MAC, w };

export const MAC6 = {
  tunRouter6: '02:00:00:00:03:fd',
  rsVlan: '02:00:00:00:20:02',
} as const;

/** eth0.100: the VLAN sub-interface clients may arrive tagged on (its address added by makeFwdTopo). */
export const ETH0_VLAN100 = {
  ifindex: 6,
  name: 'eth0.100',
  mac: parseMac(MAC.eth0)!,
  mtu: 1500,
  parentIfindex: 1,
  vlanId: 100,
} as const;

export function makeFwdTopo(opts: DirectorOptions = {}): Topo {
  const t = makeTopo(opts);
  const net = t.d.net;
  net.addAddress(3, 6, w('2001:db8:50::1'));
  net.addRoute({ af: 6, dst: w('2001:db8:50::'), prefixLen: 64, ifindex: 3 });
  net.addRoute({ af: 6, dst: w('2001:db8:100::'), prefixLen: 64, gateway: w('2001:db8:50::fe'), ifindex: 3 });
  net.setNeighbour(6, w('2001:db8:50::fe'), 3, parseMac(MAC6.tunRouter6)!);
  net.addRoute({
    af: 4,
    dst: w('198.51.100.128'),
    prefixLen: 25,
    gateway: w('192.168.50.254'),
    ifindex: 3,
    mtu: 1300,
  });
  net.setInterface({
    ifindex: 5,
    name: 'eth1.200',
    mac: parseMac(MAC.eth1)!,
    mtu: 1500,
    parentIfindex: 2,
    vlanId: 200,
    addresses: [{ af: 4, words: w('172.16.20.1'), prefixLen: 24 }],
  });
  net.addRoute({ af: 4, dst: w('172.16.20.0'), prefixLen: 24, ifindex: 5 });
  net.setNeighbour(4, w('172.16.20.2'), 5, parseMac(MAC6.rsVlan)!);
  net.setInterface({ ...ETH0_VLAN100, addresses: [{ af: 4, words: w('10.100.0.1'), prefixLen: 24 }] });
  net.addRoute({ af: 4, dst: w('10.100.0.0'), prefixLen: 24, ifindex: 6 });
  return t;
}

export interface RunResult {
  sent: WireFrame[];
  toKernel: WireFrame[];
  dropped: DroppedFrame[];
}

/** Inject frames on ifindex, run one step, return what came out (and forget it). */
export function run1(
  t: Topo,
  ifindex: number,
  frames: Uint8Array | Uint8Array[],
  meta: WireMeta = {},
  now = 1000,
): RunResult {
  for (const f of Array.isArray(frames) ? frames : [frames]) t.wire.inject(ifindex, f, meta);
  t.run(now);
  return t.wire.drain();
}

export function dropName(r: number): string {
  return DROP_REASON_NAMES[r] ?? String(r);
}

export function describe(r: RunResult): string {
  return `sent ${r.sent.length} toKernel ${r.toKernel.length} dropped [${r.dropped
    .map((d) => dropName(d.reason))
    .join(',')}]`;
}

/** Exactly one frame transmitted, on outIf; returns it. */
export function one(r: RunResult, outIf: number, label = ''): WireFrame {
  assert.equal(r.sent.length, 1, `${label}: expected one frame sent; ${describe(r)}`);
  const f = r.sent[0]!;
  assert.equal(f.ifindex, outIf, `${label}: out interface`);
  return f;
}

/** Byte-exact comparison with a readable first-difference dump. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, label = ''): void {
  const d = diffBytes(actual, expected);
  if (d !== '') assert.fail(`${label}: ${d}\nfull actual:\n${hexdump(actual)}`);
}

export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** The expected tunnelled frame: outer from the director's eth2 address to the RS via the router. */
export function expectTunnel(
  r: { daf: 4 | 6; rs: string; tunType: number; tunFlags: number; tunPort: number },
  inner: Uint8Array,
  actual: Uint8Array,
  innerAf: 4 | 6,
): Uint8Array {
  const tos = innerAf === 4 ? inner[1]! : ((inner[0]! & 0x0f) << 4) | (inner[1]! >>> 4);
  const ttl = innerAf === 4 ? inner[8]! : inner[7]!;
  // DF copied from an inner IPv4 packet, always set for inner IPv6 (pmtu_disc=1)
  const df = innerAf === 4 ? (inner[6]! & 0x40) !== 0 : true;
  const outer =
    r.daf === 4
      ? { src: '192.168.50.1', dst: r.rs, ttl, tos, df, id: rd16(actual, 14 + 4) }
      : { src: '2001:db8:50::1', dst: r.rs, hopLimit: ttl, tc: tos };
  const ipLen = r.daf === 4 ? 20 : 40;
  let l3: Uint8Array;
  if (r.tunType === TUN_GUE) {
    const sport = rd16(actual, 14 + ipLen);
    assert.ok(sport >= 0xc000, `GUE source port ${sport} in the ephemeral flow-hash range`);
    l3 = gue(outer, { sport, dport: r.tunPort, csum: r.tunFlags & TUN_F_CSUM ? 'good' : 'zero' }, inner);
  } else if (r.tunType === TUN_GRE) {
    l3 = gre(outer, { csum: (r.tunFlags & TUN_F_CSUM) !== 0 }, inner);
  } else {
    l3 = ipip(outer, inner);
  }
  return eth({ src: MAC.eth2, dst: r.daf === 4 ? MAC.tunRouter : MAC6.tunRouter6 }, l3);
}
