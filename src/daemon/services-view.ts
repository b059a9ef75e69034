/**
 * The service table as plain data for tools that check a director against it (`lvsd doctor`).
 */
import type { Director } from '../core/director.js';
import type { DoctorService } from '../cli/doctor.js';
import {
  FWD_LOCALNODE,
  FWD_MASQ,
  FWD_TUNNEL,
  TUN_GRE,
  TUN_GUE,
  TUN_F_CSUM,
  TUN_F_REMCSUM,
} from '../core/services.js';
import { formatAddress } from '../packet/addr.js';
import { IPPROTO_SCTP, IPPROTO_UDP } from '../packet/view.js';

export function servicesView(d: Director): DoctorService[] {
  return d.services.list().map((s) => ({
    protocol:
      s.fwmark !== 0 ? 'fwmark' : s.proto === IPPROTO_UDP ? 'udp' : s.proto === IPPROTO_SCTP ? 'sctp' : 'tcp',
    ...(s.fwmark === 0 ? { vip: formatAddress(s.af, s.addr), port: s.port } : {}),
    dests: s.dests.map((x) => ({
      addr: formatAddress(x.af, x.addr),
      port: x.port,
      method:
        x.fwd === FWD_MASQ
          ? 'masq'
          : x.fwd === FWD_TUNNEL
            ? 'tunnel'
            : x.fwd === FWD_LOCALNODE
              ? 'local'
              : 'route',
      ...(x.fwd === FWD_TUNNEL
        ? {
            tunType: x.tunType === TUN_GUE ? 'gue' : x.tunType === TUN_GRE ? 'gre' : 'ipip',
            tunCsum: x.tunFlags === TUN_F_CSUM,
            tunRemcsum: x.tunFlags === TUN_F_REMCSUM,
          }
        : {}),
    })),
  }));
}
