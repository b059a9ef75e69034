/**
 * Link-layer output: put an Ethernet header in front of the L3 packet at l3Off and address the frame
 * to a neighbour on its interface. VLAN tags leave out of band (FrameBatch.outVlanTci) on the parent
 * device, as AF_PACKET delivers and accepts them; an in-band tag the frame arrived with is dropped by
 * simply writing the new header right before L3.
 *
 * Invariant: the L3/L4 bytes do not move; only the frame start does. virtio csumStart/hdrLen are
 * relative to the frame start, so they shift by the same amount (virtio spec 5.1.6.2).
 */
import { Drop } from '../packet/drop-reasons.js';
import type { FrameBatch } from '../packet/frame.js';
import { VERDICT_TX, VNET_F_NEEDS_CSUM } from '../packet/frame.js';
import type { NetState } from '../core/netstate.js';

export const ETH_HLEN = 14;

/**
 * Address frame i to neighbour `neigh`. The packet occupies [l3Off, l3End) of batch.buf.
 * Returns 0 (verdict set to TX) or a negative Drop reason.
 */
export function emitToNeighbour(
  batch: FrameBatch,
  i: number,
  l3Off: number,
  l3End: number,
  ethType: number,
  net: NetState,
  neigh: number,
): number {
  if (neigh < 0) return -Drop.NoRoute;
  net.nUsed[neigh] = 1; // in use: the neighbour prober keeps it resolved
  if (!net.neighUsable(neigh)) return -Drop.NoNeighbour;
  const start = l3Off - ETH_HLEN;
  if (start < batch.slotBase(i)) return -Drop.TunnelHeadroomExhausted;
  const ifindex = net.nIf[neigh]!;
  const dv = batch.dv;
  const hdr = net.nHdr;
  const h = neigh * 3;
  dv.setUint32(start, hdr[h]!);
  dv.setUint32(start + 4, hdr[h + 1]!);
  dv.setUint32(start + 8, hdr[h + 2]!);
  dv.setUint16(start + 12, ethType);
  const shift = batch.start[i]! - start;
  if (shift !== 0 && (batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) !== 0) {
    batch.csumStart[i] = batch.csumStart[i]! + shift;
  }
  if (shift !== 0 && batch.hdrLen[i]! !== 0) batch.hdrLen[i] = batch.hdrLen[i]! + shift;
  batch.start[i] = start;
  batch.len[i] = l3End - start;
  batch.outIfindex[i] = net.ifParent[ifindex]!;
  batch.outVlanTci[i] = net.ifVlan[ifindex]!;
  batch.verdict[i] = VERDICT_TX;
  return 0;
}
