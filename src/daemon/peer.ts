/**
 * Who may drive the director: only root, checked with SO_PEERCRED on the accepted unix socket (the
 * kernel's IPVS netlink commands need CAP_NET_ADMIN in the same way).
 */
import type net from 'node:net';

/** Peer check for the control socket: only uid 0 may drive the director (SO_PEERCRED). */
export function rootPeerCheck(peerCred: (fd: number) => { uid: number }): (s: net.Socket) => string | null {
  return (s) => {
    const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return 'cannot verify the peer';
    try {
      return peerCred(fd).uid === 0 ? null : 'Permission denied (you must be root)';
    } catch {
      return 'cannot verify the peer';
    }
  };
}
