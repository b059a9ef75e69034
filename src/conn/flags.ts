/**
 * Connection flags: the kernel's IP_VS_CONN_F_* values (ABI, carried verbatim in sync v1 records,
 * ipvs-reference §6.2), plus lvsd's FULLNAT forwarding method in the FWD_MASK field.
 */
export const CONN_F_FWD_MASK = 0x0007;
export const CONN_F_MASQ = 0x0000;
export const CONN_F_LOCALNODE = 0x0001;
export const CONN_F_TUNNEL = 0x0002;
export const CONN_F_DROUTE = 0x0003;
export const CONN_F_BYPASS = 0x0004;
/** lvsd only (DPVS-style FullNAT); never sent to a kernel peer as a forwarding method it knows */
export const CONN_F_FULLNAT = 0x0005;
export const CONN_F_SYNC = 0x0020;
export const CONN_F_HASHED = 0x0040;
export const CONN_F_NOOUTPUT = 0x0080;
export const CONN_F_INACTIVE = 0x0100;
export const CONN_F_OUT_SEQ = 0x0200;
export const CONN_F_IN_SEQ = 0x0400;
export const CONN_F_NO_CPORT = 0x0800;
export const CONN_F_TEMPLATE = 0x1000;
export const CONN_F_ONE_PACKET = 0x2000;

/** Forwarding methods whose replies come back through the director (OUT index, full TCP state). */
export function fwdSeesReplies(flags: number): boolean {
  const fwd = flags & CONN_F_FWD_MASK;
  return fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT;
}
