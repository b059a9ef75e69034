/** A service table and director addresses covering every steering category (steering and bpf tests). */
import { parseAddress } from '../../src/packet/addr.js';
import {
  FWD_DROUTE,
  FWD_FULLNAT,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_PERSISTENT,
  ServiceTable,
} from '../../src/core/services.js';
import type { SteeringInput } from '../../src/io/steering.js';

export const w = (s: string): Uint32Array => parseAddress(s)!.words;

/** A table with every category: local VIPs (v4 + v6), a non-local VIP, NAT, DR, TUN, FullNAT, fwmark. */
export function sampleTable(): ServiceTable {
  const t = new ServiceTable({ isScheduler: () => true });
  const vip = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 80 };
  t.addService(vip);
  t.addDest(vip, { addr: w('172.16.0.2'), port: 8080, fwd: FWD_MASQ });
  t.addDest(vip, { addr: w('172.16.0.3'), port: 8080, fwd: FWD_DROUTE });
  t.addDest(vip, { addr: w('172.16.0.4'), fwd: FWD_TUNNEL });
  const udp = { af: 4, proto: IPPROTO_UDP, addr: w('10.0.0.100'), port: 53 };
  t.addService(udp);
  t.addDest(udp, { addr: w('172.16.0.2'), fwd: FWD_MASQ });
  // persistent any-port service, NAT dest without port
  const any = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.101'), port: 0 };
  t.addService(any, { flags: SVC_F_PERSISTENT });
  t.addDest(any, { addr: w('172.16.0.5'), fwd: FWD_MASQ });
  // VIP not configured on this director (VRRP backup)
  const remote = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.200'), port: 443 };
  t.addService(remote);
  t.addDest(remote, { addr: w('172.16.0.6'), port: 443, fwd: FWD_MASQ });
  // FullNAT with a local pool
  const fn = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.102'), port: 8443 };
  t.addService(fn, { localAddrs: [{ af: 4, addr: w('172.16.0.200') }] });
  t.addDest(fn, { addr: w('172.16.0.7'), port: 443, fwd: FWD_FULLNAT });
  // IPv6
  const v6 = { af: 6, proto: IPPROTO_SCTP, addr: w('2001:db8:1::100'), port: 5000 };
  t.addService(v6);
  t.addDest(v6, { af: 6, addr: w('2001:db8:2::2'), port: 5001, fwd: FWD_MASQ });
  // fwmark service with a NAT dest
  t.addService({ af: 4, fwmark: 7 });
  t.addDest({ af: 4, fwmark: 7 }, { addr: w('172.16.0.8'), port: 80, fwd: FWD_MASQ });
  return t;
}

export const sampleInput: SteeringInput = {
  local: {
    addrs4: ['10.0.0.1', '10.0.0.100', 0x0a000065 /* 10.0.0.101 */, '10.0.0.102', '172.16.0.1'],
    addrs6: ['2001:db8:1::1', [0x20010db8, 0x00010000, 0, 0x100]],
  },
  interfaces: ['eth1', 'eth0', 'eth0'],
  fwmarkRules: [
    { af: 4, addr: '10.0.5.77/24', proto: IPPROTO_TCP, portLo: 80, portHi: 90, mark: 7 },
    { af: 4, addr: '10.0.6.1', proto: IPPROTO_UDP, mark: 99 }, // no service with mark 99
  ],
  fullnatPorts: { lo: 40000, hi: 40999 },
};
