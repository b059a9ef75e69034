/**
 * The sync daemon's sockets (node:dgram), as the kernel sets them up (ipvs-reference §6):
 *  - sender: bound to the mcast interface's address (the source the backup sees), multicast out of
 *    that interface, TTL as configured (default 1), multicast loopback off (a master and a backup
 *    in one director must not hear each other);
 *  - listener: bound to group:port (so it gets only that group's datagrams, whatever other sockets
 *    joined), joined on the interface, SO_REUSEADDR so a master's and a backup's listener coexist.
 * Node has no SO_BINDTODEVICE; binding to the interface's address and joining on it has the same
 * effect for multicast. Errors are reported, never thrown.
 */
import dgram from 'node:dgram';

export interface SyncInterface {
  name: string;
  mtu: number;
  /** the address to send from / join on: IPv4 dotted, or IPv6 with %scope */
  address: string;
}

export interface SyncSocketOptions {
  family: 4 | 6;
  group: string;
  port: number;
  ttl: number;
  iface: SyncInterface;
  /** receive buffer for a listener, bytes */
  recvBuffer?: number;
}

export interface SyncSocket {
  /** false until bound */
  readonly ready: boolean;
  send(msg: Buffer, onError: (e: Error) => void): void;
  close(): void;
}

/** How SyncManager opens sockets; tests plug in an in-memory bus. */
export interface SyncTransport {
  sender(opts: SyncSocketOptions, onError: (e: Error) => void): SyncSocket;
  listener(
    opts: SyncSocketOptions,
    onMessage: (msg: Buffer) => void,
    onError: (e: Error) => void,
  ): SyncSocket;
}

class DgramSocket implements SyncSocket {
  ready = false;
  constructor(
    readonly sock: dgram.Socket,
    private readonly opts: SyncSocketOptions,
  ) {}
  send(msg: Buffer, onError: (e: Error) => void): void {
    this.sock.send(msg, this.opts.port, this.opts.group, (e) => {
      if (e) onError(e);
    });
  }
  close(): void {
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }
}

function ifaceSpec(o: SyncSocketOptions): string {
  return o.family === 6 ? `::%${o.iface.name}` : o.iface.address;
}

export const dgramTransport: SyncTransport = {
  sender(opts, onError) {
    const sock = dgram.createSocket({ type: opts.family === 6 ? 'udp6' : 'udp4' });
    const s = new DgramSocket(sock, opts);
    sock.on('error', onError);
    sock.bind({ address: opts.family === 6 ? '::' : opts.iface.address, port: 0 }, () => {
      try {
        sock.setMulticastInterface(ifaceSpec(opts));
        sock.setMulticastTTL(opts.ttl);
        sock.setMulticastLoopback(false);
        s.ready = true;
      } catch (e) {
        onError(e as Error);
      }
    });
    return s;
  },
  listener(opts, onMessage, onError) {
    const sock = dgram.createSocket({ type: opts.family === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    const s = new DgramSocket(sock, opts);
    sock.on('error', onError);
    sock.on('message', (m) => onMessage(m));
    // an IPv6 link-local group needs the interface as the scope of the bound address (else EINVAL)
    const address = opts.family === 6 ? `${opts.group}%${opts.iface.name}` : opts.group;
    sock.bind({ address, port: opts.port }, () => {
      try {
        sock.addMembership(opts.group, ifaceSpec(opts));
        if (opts.recvBuffer) sock.setRecvBufferSize(opts.recvBuffer);
        s.ready = true;
      } catch (e) {
        onError(e as Error);
      }
    });
    return s;
  },
};
