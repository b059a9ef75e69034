/**
 * Sync test scaffolding: directors on the in-memory wire with one NAT service, frames through the
 * real engine, and an in-memory multicast bus standing in for the dgram sockets.
 */
import { makeTopo, w, type Topo } from '../helpers/topo.js';
import { cTcp, cUdp, RS4, VIP4 } from '../helpers/flows.js';
import { FWD_MASQ, IPPROTO_TCP, IPPROTO_UDP, SVC_F_PERSISTENT } from '../../src/core/services.js';
import type { SyncSocket, SyncSocketOptions, SyncTransport } from '../../src/sync/udp.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/packet/view.js';
import { CONN_F_TEMPLATE } from '../../src/conn/flags.js';

export { w, VIP4, RS4 };

/** A director with TCP VIP:80 and UDP VIP:53 (rr, NAT to RS4[0..1]); persistent TCP if asked. */
export function director(opts: { persistent?: boolean; tcpPort?: number } = {}): Topo {
  const t = makeTopo({ maxConns: 4096 });
  const port = opts.tcpPort ?? 80;
  const tk = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port };
  t.d.services.addService(tk, {
    scheduler: 'rr',
    ...(opts.persistent ? { flags: SVC_F_PERSISTENT, timeout: 360 } : {}),
  });
  const uk = { af: 4, proto: IPPROTO_UDP, addr: w(VIP4), port: 53 };
  t.d.services.addService(uk, { scheduler: 'rr' });
  for (const rs of RS4.slice(0, 2)) {
    t.d.services.addDest(tk, { addr: w(rs), port: 8080, fwd: FWD_MASQ });
    t.d.services.addDest(uk, { addr: w(rs), port: 53, fwd: FWD_MASQ });
  }
  t.d.sync();
  return t;
}

/** Send client frames at now and discard the output. */
export function send(t: Topo, now: number, ...frames: Uint8Array[]): void {
  for (const f of frames) t.wire.inject(1, f);
  t.run(now);
  t.wire.drain();
}

export const SYN = { flags: TCP_SYN };
export const ACK = { flags: TCP_ACK };
export const FIN = { flags: TCP_FIN | TCP_ACK };

/** Client TCP handshake (as the director sees it: SYN, ACK) plus `data` data packets. */
export function tcpFlow(t: Topo, client: string, cport: number, data: number, now = 1000): void {
  send(t, now, cTcp(client, cport, SYN));
  send(t, now + 1, cTcp(client, cport, ACK));
  for (let i = 0; i < data; i++)
    send(t, now + 2 + i, cTcp(client, cport, { flags: TCP_ACK, payload: new Uint8Array([i & 0xff]) }));
}

export function udpPackets(t: Topo, client: string, cport: number, n: number, now = 1000): void {
  for (let i = 0; i < n; i++) send(t, now + i, cUdp(client, cport, 53));
}

/** The non-template conn of client:cport, or -1. */
export function connOf(t: Topo, client: string, cport: number): number {
  const a = w(client);
  let found = -1;
  t.d.conns.forEach((h) => {
    const c = t.d.conns;
    if ((c.flags[h]! & CONN_F_TEMPLATE) === 0 && c.c0[h] === a[0] && c.cport[h] === cport) found = h;
  });
  return found;
}

export function templates(t: Topo): number[] {
  const out: number[] = [];
  t.d.conns.forEach((h) => {
    if ((t.d.conns.flags[h]! & CONN_F_TEMPLATE) !== 0) out.push(h);
  });
  return out;
}

/**
 * An in-memory multicast segment: every datagram goes to every listener on the same group:port
 * except those of the sending member (multicast loopback is off). Delivery is synchronous.
 */
export class Bus {
  private readonly listeners: { member: number; o: SyncSocketOptions; fn: (m: Buffer) => void }[] = [];
  /** every datagram sent, with its sender */
  readonly log: { member: number; msg: Buffer }[] = [];
  private members = 0;

  transport(): SyncTransport {
    const member = this.members++;
    const listeners = this.listeners;
    const log = this.log;
    return {
      sender(o: SyncSocketOptions): SyncSocket {
        return {
          ready: true,
          send(msg: Buffer) {
            log.push({ member, msg });
            for (const l of [...listeners])
              if (l.member !== member && l.o.group === o.group && l.o.port === o.port) l.fn(msg);
          },
          close() {},
        };
      },
      listener(o: SyncSocketOptions, fn: (m: Buffer) => void): SyncSocket {
        const entry = { member, o, fn };
        listeners.push(entry);
        return {
          ready: true,
          send() {},
          close() {
            const i = listeners.indexOf(entry);
            if (i >= 0) listeners.splice(i, 1);
          },
        };
      },
    };
  }

  /** Deliver a raw datagram to every listener (a foreign sender). */
  inject(msg: Buffer, group = '224.0.0.81', port = 8848): void {
    for (const l of [...this.listeners]) if (l.o.group === group && l.o.port === port) l.fn(msg);
  }
}

/** resolveInterface for tests: eth1 with the given MTU; nosuch -> ENODEV; noaddr -> EADDRNOTAVAIL. */
export function ifaces(
  mtu = 1500,
): (name: string) => { name: string; mtu: number; address: string } | number {
  return (name) => {
    if (name === 'noaddr') return 99;
    if (name !== 'eth1' && name !== 'eth0') return 19;
    return { name, mtu, address: '172.16.0.1' };
  };
}
