/**
 * The master side: encode the collector's pending connections as v1 messages of at most maxlen bytes
 * (conn/sync-record.ts SyncWriter) and hand each finished message to `send`; and the paged bulk
 * resync (lvsd only) that walks the whole table in bounded steps.
 *
 * Flushing (ipvs-reference §6.4: messages go out when full or after a flush time): a message is sent
 * as soon as it is full; a partial message is sent once its oldest record has waited flushMs
 * (lvsd: 1 s, at most one worker tick late; the kernel waits about 2 s).
 * Encoding happens at drain time, so a record carries the conn's state when it leaves, which is
 * never older than when it was queued.
 */
import type { ConnTable } from '../conn/table.js';
import {
  connToRecord,
  isSyncable,
  SYNC_HEADER_V1,
  SYNC_REC_V6,
  SyncConn,
  SyncWriter,
} from '../conn/sync-record.js';
import { CONN_F_TEMPLATE } from '../conn/flags.js';
import type { SyncCollector } from './collector.js';

export const DEFAULT_FLUSH_MS = 1000;
/** The smallest maxlen the master can work with: one IPv6 record. */
export const MIN_MASTER_MAXLEN = SYNC_HEADER_V1 + SYNC_REC_V6;

export interface MasterCounts {
  messages: number;
  conns: number;
  bytes: number;
  /** handles that could not be carried (FullNAT, mixed family: isSyncable) */
  unsyncable: number;
}

/** Encodes records into messages; `send` gets a copy it may keep. */
export class SyncEncoder {
  private readonly w: SyncWriter;
  private readonly rec = new SyncConn();
  /** monotonic ms when the oldest record of the open message was queued, -1 when it is empty */
  openSince = -1;
  readonly counts: MasterCounts = { messages: 0, conns: 0, bytes: 0, unsyncable: 0 };

  /** the message size limit in use: at least MIN_MASTER_MAXLEN */
  readonly maxlen: number;

  constructor(
    maxlen: number,
    private syncid: number,
    private readonly send: (msg: Buffer, oldestQueuedAt: number) => void,
  ) {
    this.maxlen = Math.max(MIN_MASTER_MAXLEN, Math.min(0xffff, maxlen));
    this.w = new SyncWriter(this.maxlen);
    this.w.begin(syncid);
  }

  /** Append conn h; a full message is sent first. False when h is not syncable. */
  add(table: ConnTable, h: number, nowMs: number, queuedAt: number): boolean {
    if (!isSyncable(table, h)) {
      this.counts.unsyncable++;
      return false;
    }
    connToRecord(table, h, nowMs, this.rec);
    if (!this.w.add(this.rec)) {
      this.flush();
      this.w.add(this.rec); // an empty message always holds one record (maxlen >= MIN_MASTER_MAXLEN)
    }
    if (this.openSince < 0 || queuedAt < this.openSince) this.openSince = queuedAt;
    this.counts.conns++;
    return true;
  }

  get openCount(): number {
    return this.w.count;
  }

  /** Send the open message if it holds any record. */
  flush(): void {
    if (this.w.count === 0) return;
    const len = this.w.finish();
    const msg = Buffer.from(this.w.buf.subarray(0, len));
    const since = this.openSince;
    this.w.begin(this.syncid);
    this.openSince = -1;
    this.counts.messages++;
    this.counts.bytes += len;
    this.send(msg, since);
  }
}

/**
 * Drain the collector into the encoder (every worker tick); send a partial message whose oldest
 * record is flushMs old. Returns conns encoded.
 */
export function pumpMaster(
  collector: SyncCollector,
  enc: SyncEncoder,
  table: ConnTable,
  nowMs: number,
  flushMs: number = DEFAULT_FLUSH_MS,
): number {
  const n = collector.drain((h, queuedAt) => {
    enc.add(table, h, nowMs, queuedAt);
    return true;
  });
  if (enc.openCount > 0 && nowMs - enc.openSince >= flushMs) enc.flush();
  return n;
}

/**
 * A bulk resync in progress: templates first (so the backup can link conns to them), then conns,
 * in handle order, at most `budget` handles examined per step. The encoder sends full messages;
 * the last step flushes.
 */
export class ResyncCursor {
  private pass = 0;
  private h = 0;
  records = 0;
  done = false;

  constructor(
    private readonly table: ConnTable,
    private readonly enc: SyncEncoder,
  ) {}

  /**
   * Examine up to `budget` handles, stopping early once `maxMessages` messages went out (pacing, so
   * a backup's socket buffer is not overrun); returns true when the whole table has been sent.
   */
  step(nowMs: number, budget: number, maxMessages = Infinity): boolean {
    if (this.done) return true;
    const t = this.table;
    const sent0 = this.enc.counts.messages;
    let left = budget;
    while (left > 0 && this.pass < 2 && this.enc.counts.messages - sent0 < maxMessages) {
      if (this.h >= t.capacity) {
        this.pass++;
        this.h = 0;
        continue;
      }
      const h = this.h++;
      left--;
      if (t.af[h] === 0) continue;
      const template = (t.flags[h]! & CONN_F_TEMPLATE) !== 0;
      if (template !== (this.pass === 0)) continue;
      if (this.enc.add(t, h, nowMs, nowMs)) this.records++;
    }
    if (this.pass >= 2) {
      this.enc.flush();
      this.done = true;
    }
    return this.done;
  }
}
