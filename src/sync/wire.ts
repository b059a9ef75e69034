/**
 * lvsd's own messages on the sync group (beyond kernel IPVS): a backup's bulk-resync request, the
 * master's "resync done" and the "mark" that carries the master's wall clock for the sync-lag
 * estimate. They share the kernel's 8-byte v1 header so that a kernel backup discards them:
 *
 *   u8 reserved=0, u8 syncid, be16 size, u8 nr_conns=0, s8 version=LVSD_VERSION (not 1), be16 spare=0
 *
 * A kernel backup (ipvs-reference §6.1, §6.3) handles a message whose version is not 1 as v0, whose
 * first byte is nr_conns: 0 here, so it installs nothing. A kernel master does not listen at all.
 * Body (24 bytes): be32 magic 'LVSD', u8 kind, u8 0, be16 0, be32 sender id, be32 count,
 * f64 wall-clock ms (big-endian). 32 bytes in all.
 */
import { SYNC_HEADER_V0, SYNC_HEADER_V1 } from '../conn/sync-record.js';

/** The version byte of lvsd's messages: anything but 1 makes a kernel receiver treat them as v0. */
export const LVSD_MSG_VERSION = 0x4c; // 'L'
export const LVSD_MSG_MAGIC = 0x4c565344; // 'LVSD'
export const LVSD_MSG_LEN = 32;

/** backup -> master: send me your whole table */
export const LVSD_KIND_RESYNC_REQUEST = 1;
/** master -> group, after each flush: wall clock of the oldest change in the flushed messages */
export const LVSD_KIND_MARK = 2;
/** master -> group: a bulk resync finished; count = records sent */
export const LVSD_KIND_RESYNC_DONE = 3;

export interface LvsdMessage {
  kind: number;
  syncid: number;
  sender: number;
  count: number;
  wallMs: number;
}

export function encodeLvsdMessage(m: LvsdMessage): Buffer {
  const b = Buffer.alloc(LVSD_MSG_LEN);
  b[1] = m.syncid & 0xff;
  b.writeUInt16BE(LVSD_MSG_LEN, 2);
  b[4] = 0;
  b[5] = LVSD_MSG_VERSION;
  b.writeUInt32BE(LVSD_MSG_MAGIC, 8);
  b[12] = m.kind;
  b.writeUInt32BE(m.sender >>> 0, 16);
  b.writeUInt32BE(m.count >>> 0, 20);
  b.writeDoubleBE(m.wallMs, 24);
  return b;
}

/** An lvsd message, or null when buf is not one (then it is kernel sync data or garbage). */
export function decodeLvsdMessage(buf: Uint8Array, len: number): LvsdMessage | null {
  if (len !== LVSD_MSG_LEN || buf.length < len) return null;
  if (buf[0] !== 0 || buf[4] !== 0 || buf[5] !== LVSD_MSG_VERSION) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  if (dv.getUint16(2) !== len || dv.getUint32(8) !== LVSD_MSG_MAGIC) return null;
  return {
    kind: buf[12]!,
    syncid: buf[1]!,
    sender: dv.getUint32(16),
    count: dv.getUint32(20),
    wallMs: dv.getFloat64(24),
  };
}

/** Why a received datagram is not installed (status keys of the backup's drop counters). */
export type SyncDropReason =
  | 'too_short'
  | 'bad_size'
  | 'syncid_mismatch'
  | 'bad_version'
  | 'malformed'
  | 'no_service'
  | 'no_dest'
  | 'unsupported_conn'
  | 'table_full'
  | 'too_large';

/**
 * The checks a kernel backup makes before it reads records (ipvs-reference §6): at least a v0
 * header, the size field equal to the datagram length, the syncid (a backup with syncid 0 accepts
 * any), and for v1 (first byte 0) version 1. Returns null when the records may be decoded.
 */
export function checkSyncHeader(buf: Uint8Array, len: number, backupSyncid: number): SyncDropReason | null {
  if (len < SYNC_HEADER_V0) return 'too_short';
  if (((buf[2]! << 8) | buf[3]!) !== len) return 'bad_size';
  if (backupSyncid !== 0 && buf[1] !== backupSyncid) return 'syncid_mismatch';
  if (buf[0] === 0) {
    if (len < SYNC_HEADER_V1) return 'too_short';
    if (buf[5] !== 1) return 'bad_version';
  }
  return null;
}
