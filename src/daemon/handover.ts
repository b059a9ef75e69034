/**
 * Connection hand-over across a graceful restart or upgrade (`lvsd restart`, SIGUSR2).
 *
 * The old daemon stops capturing, dumps its connection table as ip_vs_sync v1 messages
 * (src/conn/sync-record.ts: the format a backup director restores from, so the hand-over needs no
 * format of its own) into `<stateDir>/handover.bin` and exits without removing its nftables steering
 * table: while no process captures, the kernel drops service traffic at netdev ingress instead of
 * answering it with resets. The new daemon restores the table (persist.ts) and the connections, starts
 * capturing, then replaces the steering table in one transaction.
 *
 * File: "LVSDHO1\n", u32 LE header length, header JSON (HandoverHeader), then messages, each a be16
 * length and a v1 sync message. The file is consumed (removed) by the first daemon that reads it,
 * whatever the outcome, so a hand-over is never applied twice.
 *
 * FullNAT connections, which v1 cannot carry (no local address field), travel in lvsd's own fixed
 * records (FULLNAT_RECORD bytes each, base64 in the header's `fullnat`, which an older daemon ignores)
 * and keep their local address and port, which the successor marks used in its port allocator.
 * What neither carries (mixed-family tunnels, one-packet entries) is counted as skipped; those
 * clients see the connection stall and reset.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Director } from '../core/director.js';
import { buildTemplateKey, type TemplateKey } from '../conn/persistence.js';
import {
  dumpTable,
  restoreConnState,
  restoreMessage,
  type RestoreResolver,
  type SyncConn,
} from '../conn/sync-record.js';
import { ADDR_C, ADDR_D, ADDR_L, ADDR_V } from '../conn/table.js';
import {
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_MASQ,
  CONN_F_ONE_PACKET,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
} from '../conn/flags.js';
import { SVC_F_PERSISTENT, type ServiceInfo } from '../core/services.js';
import { writeFileAtomic } from './persist.js';

export const HANDOVER_FILE = 'handover.bin';
export const HANDOVER_VERSION = 1;
const MAGIC = Buffer.from('LVSDHO1\n', 'latin1');
/** Bigger messages than on the wire (fewer of them); a v1 message holds at most 255 records. */
const DUMP_MAX_LEN = 0xffff;
/** A hand-over file older than this is stale (its connections have long been reset by their peers). */
export const HANDOVER_MAX_AGE_MS = 120_000;

export interface HandoverHeader {
  version: number;
  /** SO_NETNS_COOKIE of the writer's namespace */
  cookie: string;
  pid: number;
  /** Date.now() when capture stopped (the gap starts here) */
  stoppedAt: number;
  records: number;
  skipped: number;
  /** the steering backend's own hand-over data (e.g. the host's original reserved ports) */
  steering?: unknown;
  /** FullNAT connections: FULLNAT_RECORD-byte records, base64 */
  fullnat?: string;
}

export interface DumpResult {
  data: Uint8Array;
  records: number;
  skipped: number;
  /** FullNAT connections as FULLNAT_RECORD-byte records (counted in records, not in skipped) */
  fullnat: Uint8Array;
}

/**
 * One FullNAT connection: af u8, daf u8, proto u8, state u8, flags u32, remaining timeout ms u32,
 * cport u16, vport u16, dport u16, lport u16, fwmark u32, inPkts u32, 4 bytes zero, then caddr,
 * vaddr, daddr, laddr as four 32-bit words each (the table's word order), all little-endian.
 */
export const FULLNAT_RECORD = 96;

/** Every connection and template the v1 format carries, as length-prefixed messages (worker side). */
export function dumpConnections(d: Director, nowMs: number): DumpResult {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const st = dumpTable(
    d.conns,
    nowMs,
    0,
    (msg) => {
      const c = new Uint8Array(2 + msg.length);
      c[0] = msg.length >>> 8;
      c[1] = msg.length & 0xff;
      c.set(msg, 2);
      chunks.push(c);
      total += c.length;
    },
    DUMP_MAX_LEN,
  );
  const data = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    data.set(c, o);
    o += c.length;
  }
  const fullnat = dumpFullnat(d, nowMs);
  const n = fullnat.length / FULLNAT_RECORD;
  return { data, records: st.records + n, skipped: st.skipped - n, fullnat };
}

function isHandedFullnat(t: Director['conns'], h: number): boolean {
  const f = t.flags[h]!;
  return (f & CONN_F_FWD_MASK) === CONN_F_FULLNAT && (f & (CONN_F_TEMPLATE | CONN_F_ONE_PACKET)) === 0;
}

/** Every FullNAT connection as FULLNAT_RECORD-byte records (worker side). */
export function dumpFullnat(d: Director, nowMs: number): Uint8Array {
  const t = d.conns;
  let n = 0;
  t.forEach((h) => {
    if (isHandedFullnat(t, h)) n++;
  });
  const out = new Uint8Array(n * FULLNAT_RECORD);
  const dv = new DataView(out.buffer);
  const w = new Uint32Array(4);
  const which = [ADDR_C, ADDR_V, ADDR_D, ADDR_L];
  let o = 0;
  t.forEach((h) => {
    if (!isHandedFullnat(t, h)) return;
    out[o] = t.af[h]!;
    out[o + 1] = t.daf[h]!;
    out[o + 2] = t.proto[h]!;
    out[o + 3] = t.state[h]!;
    dv.setUint32(o + 4, t.flags[h]! & ~CONN_F_HASHED, true);
    dv.setUint32(o + 8, Math.max(0, Math.min(0xffffffff, Math.ceil(t.remainingMs(h, nowMs)))), true);
    dv.setUint16(o + 12, t.cport[h]!, true);
    dv.setUint16(o + 14, t.vport[h]!, true);
    dv.setUint16(o + 16, t.dport[h]!, true);
    dv.setUint16(o + 18, t.lport[h]!, true);
    dv.setUint32(o + 20, t.fwmark[h]!, true);
    dv.setUint32(o + 24, t.inPkts[h]!, true);
    for (let a = 0; a < 4; a++) {
      w.fill(0);
      t.readAddr(h, which[a]!, w, 0);
      for (let k = 0; k < 4; k++) dv.setUint32(o + 32 + a * 16 + k * 4, w[k]!, true);
    }
    o += FULLNAT_RECORD;
  });
  return out;
}

export interface FullnatRestoreResult {
  created: number;
  /** already in the table */
  existing: number;
  /** table full */
  failed: number;
  /** malformed records, or their service / local address is gone */
  bad: number;
}

/**
 * Recreate FullNAT connections from dumpFullnat records (worker side; after the table and its local
 * addresses are restored). Each keeps its local address and port, marked used in the allocator.
 * Never throws.
 */
export function restoreFullnat(d: Director, data: Uint8Array, nowMs: number): FullnatRestoreResult {
  const res: FullnatRestoreResult = { created: 0, existing: 0, failed: 0, bad: 0 };
  const t = d.conns;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const addr = [new Uint32Array(4), new Uint32Array(4), new Uint32Array(4), new Uint32Array(4)];
  const svcs = d.services.list();
  for (let o = 0; o + FULLNAT_RECORD <= data.length; o += FULLNAT_RECORD) {
    const af = data[o]!;
    const daf = data[o + 1]!;
    const proto = data[o + 2]!;
    const state = data[o + 3]!;
    const flags = dv.getUint32(o + 4, true);
    const remaining = dv.getUint32(o + 8, true) || 3000;
    const cport = dv.getUint16(o + 12, true);
    const vport = dv.getUint16(o + 14, true);
    const dport = dv.getUint16(o + 16, true);
    const lport = dv.getUint16(o + 18, true);
    const fwmark = dv.getUint32(o + 20, true);
    for (let a = 0; a < 4; a++)
      for (let k = 0; k < 4; k++) addr[a]![k] = dv.getUint32(o + 32 + a * 16 + k * 4, true);
    const [caddr, vaddr, daddr, laddr] = addr as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    if ((af !== 4 && af !== 6) || (daf !== 4 && daf !== 6) || (flags & CONN_F_FWD_MASK) !== CONN_F_FULLNAT) {
      res.bad++;
      continue;
    }
    if (t.lookupIn(proto, af, caddr, 0, cport, vaddr, 0, vport) >= 0) {
      res.existing++;
      continue;
    }
    const svc = findService(svcs, af, vaddr, vport, proto, fwmark);
    // its local port must be ours again, or a new connection could be given the same one
    if (!svc || !d.engine.reserveLocalPort(daf, laddr, lport)) {
      res.bad++;
      continue;
    }
    const h = t.create(
      af,
      daf,
      proto,
      flags & ~(CONN_F_HASHED | CONN_F_INACTIVE | CONN_F_SYNC),
      caddr,
      0,
      cport,
      vaddr,
      0,
      vport,
      daddr,
      0,
      dport,
      laddr,
      0,
      lport,
      fwmark,
      svc.id,
      findDest(svc, daf, daddr, dport)?.id ?? -1,
      -1,
      remaining,
      nowMs,
    );
    if (h < 0) {
      res.failed++;
      continue;
    }
    restoreConnState(t, d.timeouts, h, proto, state, remaining, nowMs);
    t.inPkts[h] = dv.getUint32(o + 24, true);
    res.created++;
  }
  return res;
}

function sameAddr(af: number, a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const n = af === 6 ? 4 : 1;
  for (let i = 0; i < n; i++) if (a[i]! >>> 0 !== b[i]! >>> 0) return false;
  return true;
}

/** The service a connection belongs to: by fwmark, else by address, protocol and port (exact before any-port). */
function findService(
  svcs: readonly ServiceInfo[],
  af: number,
  vaddr: ArrayLike<number>,
  vport: number,
  proto: number,
  fwmark: number,
): ServiceInfo | undefined {
  let portAny: ServiceInfo | undefined;
  for (const s of svcs) {
    if (s.af !== af) continue;
    if (fwmark !== 0) {
      if (s.fwmark === fwmark) return s;
      continue;
    }
    if (s.fwmark !== 0 || s.proto !== proto || !sameAddr(af, s.addr, vaddr)) continue;
    if (s.port === vport) return s;
    if (s.port === 0) portAny = s;
  }
  return portAny;
}

/** A service's destination at daddr:dport (a port-0 destination takes any port), if any. */
function findDest(
  svc: ServiceInfo,
  af: number,
  daddr: ArrayLike<number>,
  dport: number,
): ServiceInfo['dests'][number] | undefined {
  return svc.dests.find(
    (x) => x.af === af && sameAddr(af, x.addr, daddr) && (x.port === dport || x.port === 0),
  );
}

/**
 * How restored records find their service and destination in this daemon's table: by address, since
 * ids are per process. A record whose service or destination is gone gets no destination (-1), as a
 * kernel backup creates it unbound; the engine then treats its packets as for an unavailable dest.
 */
export function directorResolver(d: Director): RestoreResolver {
  const svcs = d.services.list();
  const find = (af: number, vaddr: Uint32Array, vport: number, proto: number, fwmark: number) =>
    findService(svcs, af, vaddr, vport, proto, fwmark);
  return {
    destId(af, daddr, dport, vaddr, vport, proto, fwmark) {
      const s = find(af, vaddr, vport, proto, fwmark);
      return s ? (findDest(s, af, daddr, dport)?.id ?? -1) : -1;
    },
    svcId(af, vaddr, vport, proto, fwmark) {
      return find(af, vaddr, vport, proto, fwmark)?.id ?? -1;
    },
    templateKey(r: SyncConn, key: TemplateKey) {
      const s = find(r.af, r.vaddr, r.vport, r.protocol, r.fwmark);
      if (!s || (s.flags & SVC_F_PERSISTENT) === 0) return false;
      const v4 = s.af === 4;
      buildTemplateKey(
        key,
        r.af,
        r.protocol,
        r.caddr,
        0,
        r.vaddr,
        0,
        s.port,
        s.fwmark,
        v4 ? s.netmask : 0,
        v4 ? 0 : s.netmask,
      );
      return true;
    },
  };
}

export interface RestoreResult {
  created: number;
  updated: number;
  /** table full */
  failed: number;
  /** malformed messages (skipped whole) */
  bad: number;
  /** FullNAT connections (header `fullnat`) */
  fullnat?: FullnatRestoreResult;
}

/** Restore length-prefixed messages from dumpConnections into d (worker side). Never throws. */
export function restoreConnections(d: Director, data: Uint8Array, nowMs: number): RestoreResult {
  const res: RestoreResult = { created: 0, updated: 0, failed: 0, bad: 0 };
  const resolver = directorResolver(d);
  let o = 0;
  while (o + 2 <= data.length) {
    const len = (data[o]! << 8) | data[o + 1]!;
    o += 2;
    if (o + len > data.length) {
      res.bad++;
      break;
    }
    try {
      const r = restoreMessage(d.conns, d.timeouts, data, o, len, resolver, nowMs, { markSync: false });
      res.created += r.created;
      res.updated += r.updated;
      res.failed += r.failed;
    } catch {
      res.bad++;
    }
    o += len;
  }
  // NAT replies go to the client: have its next hop resolved (probed) before its first reply
  // arrives, as the old daemon had learnt it from the client's first frame.
  const t = d.conns;
  const addr = new Uint32Array(4);
  const seen = new Set<string>();
  t.forEach((h) => {
    if ((t.flags[h]! & CONN_F_FWD_MASK) !== CONN_F_MASQ) return;
    t.readAddr(h, ADDR_C, addr, 0);
    const k = `${t.af[h]}:${addr.join('.')}`;
    if (seen.has(k)) return;
    seen.add(k);
    d.net.resolve(t.af[h]!, addr, 0);
  });
  return res;
}

/** Write the hand-over file (control thread). */
export function writeHandover(dir: string, header: HandoverHeader, data: Uint8Array): string {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.length, 0);
  const file = path.join(dir, HANDOVER_FILE);
  writeFileAtomic(file, Buffer.concat([MAGIC, len, h, data]));
  return file;
}

export type HandoverRead =
  | { kind: 'none' }
  | { kind: 'loaded'; header: HandoverHeader; data: Uint8Array }
  | { kind: 'rejected'; reason: string };

/**
 * Read and remove the hand-over file. Rejected (and removed): another namespace's (cookie), too old,
 * or malformed. Never throws.
 */
export function takeHandover(dir: string, cookie: string, nowMs = Date.now()): HandoverRead {
  const file = path.join(dir, HANDOVER_FILE);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'rejected', reason: `cannot read ${file}: ${(e as Error).message}` };
  }
  try {
    fs.rmSync(file, { force: true });
  } catch {
    /* read already; a leftover is rejected by age next time */
  }
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC))
    return { kind: 'rejected', reason: `${file}: not a hand-over file` };
  const hlen = buf.readUInt32LE(MAGIC.length);
  const hend = MAGIC.length + 4 + hlen;
  if (hend > buf.length) return { kind: 'rejected', reason: `${file}: truncated header` };
  let header: HandoverHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, hend).toString('utf8')) as HandoverHeader;
  } catch (e) {
    return { kind: 'rejected', reason: `${file}: bad header: ${(e as Error).message}` };
  }
  if (typeof header !== 'object' || header === null || header.version !== HANDOVER_VERSION)
    return { kind: 'rejected', reason: `${file}: unknown version` };
  if (header.cookie !== cookie) return { kind: 'rejected', reason: `${file}: written in another namespace` };
  if (typeof header.stoppedAt !== 'number' || nowMs - header.stoppedAt > HANDOVER_MAX_AGE_MS)
    return { kind: 'rejected', reason: `${file}: stale (written ${nowMs - header.stoppedAt} ms ago)` };
  return {
    kind: 'loaded',
    header,
    data: new Uint8Array(buf.buffer, buf.byteOffset + hend, buf.length - hend),
  };
}
