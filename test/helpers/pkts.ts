/**
 * Family-generic packet shorthands for the forwarding tables: the same row runs for IPv4 and IPv6.
 */
import { eth, ipv4, ipv6, type L4 } from '../../src/packet/builder.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/packet/view.js';
import { MAC } from './topo.js';

export type Af = 4 | 6;

export const ADDR = {
  4: {
    client: '10.0.0.2',
    vip: '10.0.0.100',
    rs: '172.16.0.2',
    rs2: '172.16.0.3',
    local: '10.0.0.1',
    laddr: '172.16.0.200',
    router: '10.0.0.254',
    remoteClient: '203.0.113.9',
  },
  6: {
    client: '2001:db8:1::2',
    vip: '2001:db8:1::100',
    rs: '2001:db8:2::2',
    rs2: '2001:db8:2::3',
    local: '2001:db8:1::1',
    laddr: '2001:db8:2::200',
    router: '2001:db8:1::fe',
    remoteClient: '2001:db8:77::9',
  },
} as const;

export interface IpOpts {
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  df?: boolean;
  id?: number;
}

/** IPv4 or IPv6 packet (ttl = hop limit, tos = traffic class; df and id only for IPv4). */
export function ip(af: Af, o: IpOpts, l4: L4): Uint8Array {
  if (af === 4) {
    return ipv4(
      {
        src: o.src,
        dst: o.dst,
        ttl: o.ttl ?? 64,
        tos: o.tos ?? 0,
        ...(o.df !== undefined ? { df: o.df } : {}),
        ...(o.id !== undefined ? { id: o.id } : {}),
      },
      l4,
    );
  }
  return ipv6({ src: o.src, dst: o.dst, hopLimit: o.ttl ?? 64, tc: o.tos ?? 0 }, l4);
}

/** Frame from the client (or the client-side router) to the director's eth0. */
export function fromClient(l3: Uint8Array, src: string = MAC.client): Uint8Array {
  return eth({ src, dst: MAC.eth0 }, l3);
}

/** Frame the director sends out of eth0 to the client. */
export function toClient(l3: Uint8Array, dst: string = MAC.client): Uint8Array {
  return eth({ src: MAC.eth0, dst }, l3);
}

/** Frame between the director's eth1 and a real server. */
export function toRs(l3: Uint8Array, rsMac: string = MAC.rs1): Uint8Array {
  return eth({ src: MAC.eth1, dst: rsMac }, l3);
}

export function fromRs(l3: Uint8Array, rsMac: string = MAC.rs1): Uint8Array {
  return eth({ src: rsMac, dst: MAC.eth1 }, l3);
}

export const PROTO = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP } as const;
