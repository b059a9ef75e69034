/**
 * The kernel ip_vs_sync wire format (ipvs-reference §6), version 1 (encode + decode) and version 0
 * (decode only), plus ConnTable dump/restore built on it (sync daemon payloads, and the table
 * hand-over across lvsd restarts).
 *
 * v1 message: 8-byte header {u8 reserved=0, u8 syncid, be16 size (whole message), u8 nr_conns,
 * s8 version=1, be16 spare=0}, then nr_conns records, each starting 32-bit aligned (relative to the
 * message start):
 *   u8 type (bit0 = IPv6), u8 protocol, be16 ver_size (version << 12 | size incl. options),
 *   be32 flags, be16 state, be16 cport, be16 vport, be16 dport, be32 fwmark, be32 timeout (s),
 *   caddr, vaddr, daddr (4 bytes each for IPv4: 36-byte record; 16 for IPv6: 72 bytes),
 *   then options {u8 type, u8 len, data}: 1 SEQ_DATA (24 bytes), 2 PE_DATA, 3 PE_NAME.
 * Decode skips options (bounds-checked) and records whose version nibble is not 0. Any malformed
 * input throws LvsError ERR_LVS_BAD_RECORD — never another error, never a read past the end.
 *
 * Control plane only (allocation is fine here): the records go through one reused SyncConn.
 */
import { LvsError } from '../errors.js';
import type { ConnTable } from './table.js';
import { ADDR_C, ADDR_D, ADDR_V } from './table.js';
import {
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
} from './flags.js';
import { TemplateKey } from './persistence.js';
import { setTcpState } from './state.js';
import type { Timeouts } from './state.js';

export const SYNC_HEADER_V1 = 8;
export const SYNC_HEADER_V0 = 4;
export const SYNC_REC_V4 = 36;
export const SYNC_REC_V6 = 72;
export const SYNC_REC_V0 = 24;
export const SYNC_OPT_SEQ_DATA = 1;
export const SYNC_OPT_PE_DATA = 2;
export const SYNC_OPT_PE_NAME = 3;
/** Kernel default sync_maxlen for a 1500-byte MTU (§6.4). */
export const SYNC_DEFAULT_MAXLEN = 1472;
const SEQ_MASK = 0x0600;

/** One decoded / to-be-encoded connection record. */
export class SyncConn {
  af = 4;
  protocol = 0;
  flags = 0;
  state = 0;
  cport = 0;
  vport = 0;
  dport = 0;
  fwmark = 0;
  /** seconds; 0 in v0 records (the receiver uses its state timeout) */
  timeout = 0;
  readonly caddr = new Uint32Array(4);
  readonly vaddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  /** protocol version the record came from (0 or 1) */
  version = 1;
}

function bad(msg: string): never {
  throw new LvsError('ERR_LVS_BAD_RECORD', `sync message: ${msg}`);
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function rdAddr(b: Uint8Array, o: number, n: number, out: Uint32Array): void {
  for (let i = 0; i < 4; i++) out[i] = i < n ? rd32(b, o + 4 * i) : 0;
}

export interface SyncMessageInfo {
  version: number;
  syncid: number;
  nrConns: number;
  /** records delivered (v1 records of unknown version are skipped) */
  delivered: number;
}

/**
 * Decode one message (buf[off, off+len)); onRecord gets `rec` (reused) per connection record.
 * Throws LvsError ERR_LVS_BAD_RECORD on any malformation.
 */
export function decodeSyncMessage(
  buf: Uint8Array,
  off: number,
  len: number,
  onRecord: (rec: SyncConn) => void,
  rec: SyncConn = new SyncConn(),
): SyncMessageInfo {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) bad('range outside buffer');
  if (len < SYNC_HEADER_V0) bad('too short');
  const end = off + len;
  if (buf[off] !== 0) {
    // v0: u8 nr_conns (non-zero), u8 syncid, be16 size
    const nr = buf[off]!;
    const syncid = buf[off + 1]!;
    if (rd16(buf, off + 2) !== len) bad('size field does not match length');
    let p = off + SYNC_HEADER_V0;
    for (let i = 0; i < nr; i++) {
      if (p + SYNC_REC_V0 > end) bad('truncated v0 record');
      rec.version = 0;
      rec.af = 4;
      rec.protocol = buf[p + 1]!;
      rec.cport = rd16(buf, p + 2);
      rec.vport = rd16(buf, p + 4);
      rec.dport = rd16(buf, p + 6);
      rdAddr(buf, p + 8, 1, rec.caddr);
      rdAddr(buf, p + 12, 1, rec.vaddr);
      rdAddr(buf, p + 16, 1, rec.daddr);
      rec.flags = rd16(buf, p + 20);
      rec.state = rd16(buf, p + 22);
      rec.fwmark = 0;
      rec.timeout = 0;
      p += SYNC_REC_V0;
      if ((rec.flags & SEQ_MASK) !== 0) {
        if (p + 24 > end) bad('truncated v0 seq options');
        p += 24;
      }
      onRecord(rec);
    }
    return { version: 0, syncid, nrConns: nr, delivered: nr };
  }
  if (len < SYNC_HEADER_V1) bad('too short for v1 header');
  const syncid = buf[off + 1]!;
  if (rd16(buf, off + 2) !== len) bad('size field does not match length');
  const nr = buf[off + 4]!;
  const version = buf[off + 5]!;
  if (version !== 1) bad(`unsupported version ${version}`);
  let p = off + SYNC_HEADER_V1;
  let delivered = 0;
  for (let i = 0; i < nr; i++) {
    if (p + 4 > end) bad('truncated record header');
    const type = buf[p]!;
    const vs = rd16(buf, p + 2);
    const size = vs & 0x0fff;
    const ver = vs >>> 12;
    const v6 = (type & 1) !== 0;
    const base = v6 ? SYNC_REC_V6 : SYNC_REC_V4;
    if (size < base) bad('record shorter than its base size');
    if (p + size > end) bad('record runs past the message');
    if (ver === 0) {
      // options: bounds-checked, skipped
      let q = p + base;
      const rend = p + size;
      while (q < rend) {
        if (q + 2 > rend) bad('truncated option header');
        const ot = buf[q]!;
        const ol = buf[q + 1]!;
        if (q + 2 + ol > rend) bad('option runs past the record');
        if (ot === SYNC_OPT_SEQ_DATA) {
          if (ol !== 24) bad('bad SEQ_DATA length');
        } else if (ot !== SYNC_OPT_PE_DATA && ot !== SYNC_OPT_PE_NAME) bad(`unknown option ${ot}`);
        q += 2 + ol;
      }
      const n = v6 ? 4 : 1;
      const a = v6 ? 16 : 4;
      rec.version = 1;
      rec.af = v6 ? 6 : 4;
      rec.protocol = buf[p + 1]!;
      rec.flags = rd32(buf, p + 4);
      rec.state = rd16(buf, p + 8);
      rec.cport = rd16(buf, p + 10);
      rec.vport = rd16(buf, p + 12);
      rec.dport = rd16(buf, p + 14);
      rec.fwmark = rd32(buf, p + 16);
      rec.timeout = rd32(buf, p + 20);
      rdAddr(buf, p + 24, n, rec.caddr);
      rdAddr(buf, p + 24 + a, n, rec.vaddr);
      rdAddr(buf, p + 24 + 2 * a, n, rec.daddr);
      onRecord(rec);
      delivered++;
    }
    p += size;
    p = off + ((p - off + 3) & ~3);
  }
  return { version: 1, syncid, nrConns: nr, delivered };
}

/** Builds v1 messages into a caller's buffer. */
export class SyncWriter {
  readonly buf: Uint8Array;
  private start = 0;
  private p = 0;
  private n = 0;
  private limit = 0;

  constructor(maxLen: number = SYNC_DEFAULT_MAXLEN) {
    if (maxLen < SYNC_HEADER_V1 + SYNC_REC_V4 || maxLen > 0xffff) throw new RangeError('bad sync maxLen');
    this.buf = new Uint8Array(maxLen);
    this.limit = maxLen;
  }

  begin(syncid: number): void {
    this.start = 0;
    this.n = 0;
    this.buf.fill(0, 0, SYNC_HEADER_V1);
    this.buf[1] = syncid & 0xff;
    this.buf[5] = 1;
    this.p = SYNC_HEADER_V1;
  }

  get count(): number {
    return this.n;
  }

  /** Append rec; false when it does not fit (or 255 records are already in). */
  add(rec: SyncConn): boolean {
    const v6 = rec.af === 6;
    const size = v6 ? SYNC_REC_V6 : SYNC_REC_V4;
    if (this.n >= 255 || this.p + size > this.limit) return false;
    const b = this.buf;
    const p = this.p;
    b[p] = v6 ? 1 : 0;
    b[p + 1] = rec.protocol;
    wr16(b, p + 2, size & 0x0fff);
    wr32(b, p + 4, rec.flags);
    wr16(b, p + 8, rec.state);
    wr16(b, p + 10, rec.cport);
    wr16(b, p + 12, rec.vport);
    wr16(b, p + 14, rec.dport);
    wr32(b, p + 16, rec.fwmark);
    wr32(b, p + 20, rec.timeout);
    const n = v6 ? 4 : 1;
    const a = v6 ? 16 : 4;
    for (let i = 0; i < n; i++) {
      wr32(b, p + 24 + 4 * i, rec.caddr[i]!);
      wr32(b, p + 24 + a + 4 * i, rec.vaddr[i]!);
      wr32(b, p + 24 + 2 * a + 4 * i, rec.daddr[i]!);
    }
    this.p = p + size; // sizes are multiples of 4: already aligned
    this.n++;
    return true;
  }

  /** Finish the header; returns the message length (buf[0, len)). */
  finish(): number {
    const len = this.p - this.start;
    wr16(this.buf, 2, len);
    this.buf[4] = this.n;
    return len;
  }
}

/** Fill rec from conn h (remaining timeout in whole seconds, rounded up). */
export function connToRecord(table: ConnTable, h: number, nowMs: number, rec: SyncConn): void {
  rec.version = 1;
  rec.af = table.af[h]!;
  rec.protocol = table.proto[h]!;
  rec.flags = table.flags[h]! & ~CONN_F_HASHED;
  rec.state = table.state[h]!;
  rec.cport = table.cport[h]!;
  rec.vport = table.vport[h]!;
  rec.dport = table.dport[h]!;
  rec.fwmark = table.fwmark[h]!;
  rec.timeout = Math.ceil(table.remainingMs(h, nowMs) / 1000);
  table.readAddr(h, ADDR_C, rec.caddr, 0);
  table.readAddr(h, ADDR_V, rec.vaddr, 0);
  table.readAddr(h, ADDR_D, rec.daddr, 0);
}

/**
 * Whether h can be carried by a v1 record: one family for all addresses (no mixed-family tunnel),
 * not FullNAT (laddr/lport have no field), not ONE_PACKET, not an invalidated (unhashed) template.
 */
export function isSyncable(table: ConnTable, h: number): boolean {
  const f = table.flags[h]!;
  if (table.af[h] !== table.daf[h]) return false;
  if ((f & CONN_F_FWD_MASK) === CONN_F_FULLNAT) return false;
  if ((f & CONN_F_ONE_PACKET) !== 0) return false;
  if ((f & CONN_F_TEMPLATE) !== 0 && (f & CONN_F_HASHED) === 0) return false;
  return true;
}

/**
 * Dump every syncable conn as v1 messages: templates first (so a restore can link conns to them),
 * then conns. onMessage gets a view valid only during the call. Returns {records, skipped}.
 */
export function dumpTable(
  table: ConnTable,
  nowMs: number,
  syncid: number,
  onMessage: (msg: Uint8Array) => void,
  maxLen: number = SYNC_DEFAULT_MAXLEN,
): { records: number; skipped: number } {
  const w = new SyncWriter(maxLen);
  const rec = new SyncConn();
  let records = 0;
  let skipped = 0;
  w.begin(syncid);
  for (let pass = 0; pass < 2; pass++) {
    const want = pass === 0 ? CONN_F_TEMPLATE : 0;
    for (let h = 0; h < table.capacity; h++) {
      if (table.af[h] === 0 || (table.flags[h]! & CONN_F_TEMPLATE) !== want) continue;
      if (!isSyncable(table, h)) {
        skipped++;
        continue;
      }
      connToRecord(table, h, nowMs, rec);
      if (!w.add(rec)) {
        onMessage(w.buf.subarray(0, w.finish()));
        w.begin(syncid);
        w.add(rec);
      }
      records++;
    }
  }
  if (w.count > 0) onMessage(w.buf.subarray(0, w.finish()));
  return { records, skipped };
}

/** How restore finds dests and templates (the engine knows services and their persistence masks). */
export interface RestoreResolver {
  /** DestLive id of the dest, or -1 (the conn is then created unbound, as a kernel backup does) */
  destId(
    af: number,
    daddr: Uint32Array,
    dport: number,
    vaddr: Uint32Array,
    vport: number,
    proto: number,
    fwmark: number,
  ): number;
  /** service id for the conn, or -1 */
  svcId?(af: number, vaddr: Uint32Array, vport: number, proto: number, fwmark: number): number;
  /** Fill key with the template key for a restored non-template conn; false if not persistent. */
  templateKey?(rec: SyncConn, key: TemplateKey): boolean;
}

export interface RestoreOptions {
  /** set IP_VS_CONN_F_SYNC on created conns (a backup does; a restart hand-over does not) */
  markSync?: boolean;
}

/**
 * Create (or update) conns from one message. Existing conns with the same key get the record's
 * state and timeout. Returns {created, updated, failed (table full)}. Throws ERR_LVS_BAD_RECORD on
 * malformed input, before touching the table (the message is validated first).
 */
export function restoreMessage(
  table: ConnTable,
  timeouts: Timeouts,
  buf: Uint8Array,
  off: number,
  len: number,
  resolver: RestoreResolver,
  nowMs: number,
  opts: RestoreOptions = {},
): { created: number; updated: number; failed: number } {
  decodeSyncMessage(buf, off, len, () => {}); // validate fully first: bad input changes nothing
  const key = new TemplateKey();
  let created = 0;
  let updated = 0;
  let failed = 0;
  decodeSyncMessage(buf, off, len, (r) => {
    const template = (r.flags & CONN_F_TEMPLATE) !== 0;
    const timeoutMs = r.timeout > 0 ? r.timeout * 1000 : -1;
    let h = template
      ? table.lookupTemplate(r.protocol, r.af, r.caddr, 0, r.cport, r.vaddr, 0, r.vport)
      : table.lookupIn(r.protocol, r.af, r.caddr, 0, r.cport, r.vaddr, 0, r.vport);
    if (h < 0) {
      const destId = resolver.destId(r.af, r.daddr, r.dport, r.vaddr, r.vport, r.protocol, r.fwmark);
      const svcId = resolver.svcId ? resolver.svcId(r.af, r.vaddr, r.vport, r.protocol, r.fwmark) : -1;
      let control = -1;
      if (!template && resolver.templateKey && resolver.templateKey(r, key)) {
        control = table.lookupTemplate(key.proto, key.af, key.caddr, 0, 0, key.vaddr, 0, key.vport);
      }
      let flags = r.flags & ~(CONN_F_HASHED | CONN_F_INACTIVE | CONN_F_NOOUTPUT | CONN_F_ONE_PACKET);
      if (opts.markSync !== false) flags |= CONN_F_SYNC;
      h = table.create(
        r.af,
        r.af,
        r.protocol,
        flags,
        r.caddr,
        0,
        r.cport,
        r.vaddr,
        0,
        r.vport,
        r.daddr,
        0,
        r.dport,
        r.caddr,
        0,
        r.cport,
        r.fwmark,
        svcId,
        destId,
        control,
        timeoutMs >= 0 ? timeoutMs : 3000,
        nowMs,
      );
      if (h < 0) {
        failed++;
        return;
      }
      if (!template) table.flags[h] = (table.flags[h]! & ~CONN_F_NOOUTPUT) | (r.flags & CONN_F_NOOUTPUT);
      created++;
    } else {
      updated++;
    }
    restoreConnState(table, timeouts, h, r.protocol, template ? -1 : r.state, timeoutMs, nowMs);
  });
  return { created, updated, failed };
}

/**
 * A restored connection's state and remaining timeout (sync records, hand-over records). A TCP
 * state of the kernel's numbering (below 11) goes through setTcpState, which keeps the active and
 * inactive counts right; state -1 leaves the state as it is (templates); timeoutMs -1 leaves the timer.
 */
export function restoreConnState(
  table: ConnTable,
  timeouts: Timeouts,
  h: number,
  protocol: number,
  state: number,
  timeoutMs: number,
  nowMs: number,
): void {
  if (state >= 0) {
    if (protocol === 6 && state < 11) setTcpState(table, timeouts, h, state, nowMs);
    else table.state[h] = state & 0xff;
  }
  if (timeoutMs >= 0) {
    table.timeout[h] = timeoutMs;
    table.setExpiry(h, nowMs + timeoutMs);
  }
}
