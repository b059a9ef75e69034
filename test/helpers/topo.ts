/**
 * A director topology for engine tests on the in-memory wire (no root):
 *
 *   client side  eth0 ifindex 1  10.0.0.1/24, 2001:db8:1::1/64  (VIP 10.0.0.100, 2001:db8:1::100)
 *                clients 10.0.0.2 / 2001:db8:1::2 on-link; everything else via router 10.0.0.254 / 2001:db8:1::fe
 *   server side  eth1 ifindex 2  172.16.0.1/24, 2001:db8:2::1/64
 *                real servers 172.16.0.2..4 / 2001:db8:2::2..4 on-link
 *   tunnel side  eth2 ifindex 3  192.168.50.1/24; remote real servers 198.51.100.0/24 via 192.168.50.254
 */
import { Director, type DirectorOptions } from '../../src/core/director.js';
import { MemoryWire } from '../../src/io/memory.js';
import { parseAddress, parseMac } from '../../src/packet/addr.js';

export const MAC = {
  eth0: '02:00:00:00:01:01',
  eth1: '02:00:00:00:02:01',
  eth2: '02:00:00:00:03:01',
  client: '02:00:00:00:00:c1',
  router: '02:00:00:00:00:fe',
  tunRouter: '02:00:00:00:03:fe',
  rs1: '02:00:00:00:00:51',
  rs2: '02:00:00:00:00:52',
  rs3: '02:00:00:00:00:53',
} as const;

export function w(addr: string): Uint32Array {
  const p = parseAddress(addr);
  if (!p) throw new Error(`bad address ${addr}`);
  return p.words;
}

function mac(s: string): Uint8Array {
  return parseMac(s)!;
}

export interface Topo {
  d: Director;
  wire: MemoryWire;
  /** run every pending frame through the director at time now (ms) */
  run(now?: number): void;
}

export function makeTopo(opts: DirectorOptions = {}): Topo {
  const d = new Director({ seed: 12345, ...opts });
  const net = d.net;
  net.setInterface({
    ifindex: 1,
    name: 'eth0',
    mac: mac(MAC.eth0),
    mtu: 1500,
    addresses: [
      { af: 4, words: w('10.0.0.1'), prefixLen: 24 },
      { af: 6, words: w('2001:db8:1::1'), prefixLen: 64 },
      { af: 4, words: w('10.0.0.100'), prefixLen: 32 },
      { af: 6, words: w('2001:db8:1::100'), prefixLen: 128 },
    ],
  });
  net.setInterface({
    ifindex: 2,
    name: 'eth1',
    mac: mac(MAC.eth1),
    mtu: 1500,
    addresses: [
      { af: 4, words: w('172.16.0.1'), prefixLen: 24 },
      { af: 6, words: w('2001:db8:2::1'), prefixLen: 64 },
    ],
  });
  net.setInterface({
    ifindex: 3,
    name: 'eth2',
    mac: mac(MAC.eth2),
    mtu: 1500,
    addresses: [{ af: 4, words: w('192.168.50.1'), prefixLen: 24 }],
  });
  net.addRoute({ af: 4, dst: w('10.0.0.0'), prefixLen: 24, ifindex: 1 });
  net.addRoute({ af: 4, dst: w('172.16.0.0'), prefixLen: 24, ifindex: 2 });
  net.addRoute({ af: 4, dst: w('192.168.50.0'), prefixLen: 24, ifindex: 3 });
  net.addRoute({ af: 4, dst: w('198.51.100.0'), prefixLen: 24, gateway: w('192.168.50.254'), ifindex: 3 });
  net.addRoute({ af: 4, dst: w('0.0.0.0'), prefixLen: 0, gateway: w('10.0.0.254'), ifindex: 1 });
  net.addRoute({ af: 6, dst: w('2001:db8:1::'), prefixLen: 64, ifindex: 1 });
  net.addRoute({ af: 6, dst: w('2001:db8:2::'), prefixLen: 64, ifindex: 2 });
  net.addRoute({ af: 6, dst: w('::'), prefixLen: 0, gateway: w('2001:db8:1::fe'), ifindex: 1 });
  net.setNeighbour(4, w('10.0.0.2'), 1, mac(MAC.client));
  net.setNeighbour(4, w('10.0.0.254'), 1, mac(MAC.router));
  net.setNeighbour(4, w('192.168.50.254'), 3, mac(MAC.tunRouter));
  net.setNeighbour(4, w('172.16.0.2'), 2, mac(MAC.rs1));
  net.setNeighbour(4, w('172.16.0.3'), 2, mac(MAC.rs2));
  net.setNeighbour(4, w('172.16.0.4'), 2, mac(MAC.rs3));
  net.setNeighbour(6, w('2001:db8:1::2'), 1, mac(MAC.client));
  net.setNeighbour(6, w('2001:db8:1::fe'), 1, mac(MAC.router));
  net.setNeighbour(6, w('2001:db8:2::2'), 2, mac(MAC.rs1));
  net.setNeighbour(6, w('2001:db8:2::3'), 2, mac(MAC.rs2));
  net.setNeighbour(6, w('2001:db8:2::4'), 2, mac(MAC.rs3));
  const wire = new MemoryWire();
  return {
    d,
    wire,
    run(now = 1000) {
      d.step(wire, now);
    },
  };
}
