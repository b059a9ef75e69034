/**
 * SyncManager: lvsd's connection synchronisation daemon (kernel ip_vs_sync, ipvs-reference §6),
 * run inside the data-plane worker, which owns the ConnTable: the master's collector is the engine's
 * sync sink and its records are encoded from the table there; the backup's installer writes the
 * table there. Sending and receiving in the worker too (dgram works in workers) avoids a
 * postMessage hop and a copy per message and keeps the table single-writer; the worker serves
 * socket events between bounded packet turns, as it serves control messages.
 *
 * Roles (master and backup may run at once, as in the kernel):
 *  - master: engine -> SyncCollector ring -> every tick SyncEncoder (v1, maxlen) -> multicast
 *    group:port (default 224.0.0.81:8848, TTL 1) from the interface's address; after each flush an
 *    lvsd MARK (wall clock of the oldest change sent) for the backup's lag estimate. It also listens
 *    on the group for lvsd RESYNC_REQUESTs and answers with a paced dump of the whole table.
 *  - backup: listens on the group, SyncInstaller installs; sends a RESYNC_REQUEST when it starts
 *    and when the master is heard again after RESYNC_SILENCE_MS of silence.
 * ipvsadm semantics (§1.7, §1.10): a second start of a role: EEXIST ("Daemon has already run");
 * stopping a role that does not run: ESRCH; an unknown interface: ENODEV; one without an address of
 * the group's family: EADDRNOTAVAIL. Defaults: syncid 0, group 224.0.0.81, port 8848, ttl 1,
 * maxlen min(MTU, 1500) - 28 on a master, MTU - 28 on a backup (IPv6 group: - 48).
 */
import os from 'node:os';
import { randomInt } from 'node:crypto';
import { LvsError } from '../errors.js';
import type { Director } from '../core/director.js';
import { parseAddress } from '../packet/addr.js';
import { SyncCollector } from './collector.js';
import { SyncInstaller } from './installer.js';
import { DEFAULT_FLUSH_MS, MIN_MASTER_MAXLEN, pumpMaster, ResyncCursor, SyncEncoder } from './master.js';
import {
  decodeLvsdMessage,
  encodeLvsdMessage,
  LVSD_KIND_MARK,
  LVSD_KIND_RESYNC_DONE,
  LVSD_KIND_RESYNC_REQUEST,
  type LvsdMessage,
} from './wire.js';
import { dgramTransport, type SyncInterface, type SyncSocket, type SyncTransport } from './udp.js';

export const DEFAULT_MCAST_GROUP = '224.0.0.81';
export const DEFAULT_MCAST_GROUP6 = 'ff02::81';
export const DEFAULT_MCAST_PORT = 8848;
export const DEFAULT_MCAST_TTL = 1;
/** a backup asks for a bulk resync when the master is heard again after this much silence */
export const RESYNC_SILENCE_MS = 5000;
/** resync pacing: handles examined and messages sent per step, one step per RESYNC_STEP_MS */
export const RESYNC_HANDLES_PER_STEP = 16384;
export const RESYNC_MESSAGES_PER_STEP = 16;
export const RESYNC_STEP_MS = 10;

const ENODEV = 19;
const EEXIST = 17;
const ESRCH = 3;
const EADDRNOTAVAIL = 99;

/** One running role as `ipvsadm -L --daemon` prints it (cli/ipvsadm/format.ts SyncDaemonStatus). */
export interface SyncDaemonStatus {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** What `ipvsadm --start-daemon` asks for; 0 / '' = default. */
export interface SyncDaemonConfig {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  syncMaxlen: number;
  mcastGroup: string;
  mcastPort: number;
  mcastTtl: number;
}

export interface SyncManagerOptions {
  transport?: SyncTransport;
  /** interface by name for the group's family, or an errno (ENODEV, EADDRNOTAVAIL) */
  resolveInterface?: (name: string, family: 4 | 6) => SyncInterface | number;
  /** the engine's monotonic ms clock */
  clock?: () => number;
  wallClock?: () => number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  flushMs?: number;
  ringSize?: number;
}

interface Effective {
  state: 'master' | 'backup';
  family: 4 | 6;
  ifn: string;
  syncid: number;
  maxlen: number;
  group: string;
  port: number;
  ttl: number;
}

interface Role {
  cfg: Effective;
  sender: SyncSocket;
  listener: SyncSocket;
  sendErrors: number;
  lastSendError: string;
  notReady: number;
  internalErrors: number;
}

interface MasterRole extends Role {
  collector: SyncCollector;
  enc: SyncEncoder;
  resync: { cursor: ResyncCursor; enc: SyncEncoder; timer: NodeJS.Timeout | null } | null;
  resyncRequests: number;
  resyncsServed: number;
  resyncRecords: number;
  marks: number;
}

interface BackupRole extends Role {
  installer: SyncInstaller;
  lastHeard: number;
  resyncRequestsSent: number;
  resyncsCompleted: number;
  lagLastMs: number;
  lagMaxMs: number;
  lagSamples: number;
  lagSumMs: number;
  lvsdMessages: number;
}

function ipvsErr(errno: number, msg: string): LvsError {
  return new LvsError('ERR_LVS_INVALID_ARGUMENT', msg, errno);
}

/** Default interface lookup: the director's mirrored interfaces and the kernel's addresses. */
export function systemInterface(director: Director, name: string, family: 4 | 6): SyncInterface | number {
  const net = director.net;
  let mtu = 0;
  for (const [ifindex, n] of net.ifNames) if (n === name) mtu = net.ifMtu[ifindex]!;
  const addrs = os.networkInterfaces()[name];
  if (!addrs && mtu === 0) return ENODEV;
  const fam = (addrs ?? []).filter((a) => a.family === (family === 4 ? 'IPv4' : 'IPv6'));
  if (fam.length === 0) return EADDRNOTAVAIL;
  // not a VIP: a VIP moves to the other director, the interface's own address stays
  const snap = director.engine.snapshot;
  const own = fam.find((a) => {
    const w = parseAddress(a.address);
    return !(snap && w && snap.isVip(family, w.words));
  });
  const pick = family === 6 ? (fam.find((a) => a.address.startsWith('fe80')) ?? fam[0]!) : (own ?? fam[0]!);
  return { name, mtu: mtu || 1500, address: pick.address };
}

const byDirector = new WeakMap<Director, SyncManager>();

/** The sync daemon of a director, if one was made for it (the ipvsadm executor asks this). */
export function syncManagerOf(director: Director): SyncManager | undefined {
  return byDirector.get(director);
}

export class SyncManager {
  private master: MasterRole | null = null;
  private backup: BackupRole | null = null;
  private readonly transport: SyncTransport;
  private readonly clock: () => number;
  private readonly wall: () => number;
  private readonly flushMs: number;
  /** tells lvsd's own messages from a peer's (loopback is off, this is belt and braces) */
  readonly senderId = randomInt(1, 0xffffffff);

  constructor(
    private readonly director: Director,
    private readonly opts: SyncManagerOptions = {},
  ) {
    this.transport = opts.transport ?? dgramTransport;
    this.clock = opts.clock ?? (() => Math.floor(performance.now()));
    this.wall = opts.wallClock ?? (() => Date.now());
    this.flushMs = opts.flushMs ?? DEFAULT_FLUSH_MS;
    byDirector.set(director, this);
  }

  private log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }

  running(state: 'master' | 'backup'): boolean {
    return (state === 'master' ? this.master : this.backup) !== null;
  }

  /** `ipvsadm --start-daemon`; throws LvsError carrying the kernel's errno. */
  start(c: SyncDaemonConfig): void {
    if (this.running(c.state)) throw ipvsErr(EEXIST, `sync ${c.state} already runs`);
    const family: 4 | 6 = c.mcastGroup.includes(':') ? 6 : 4;
    const ifn = c.mcastIfn || 'eth0';
    const iface = (this.opts.resolveInterface ?? ((n, f) => systemInterface(this.director, n, f)))(
      ifn,
      family,
    );
    if (typeof iface === 'number') throw ipvsErr(iface, `mcast interface ${ifn}: errno ${iface}`);
    const hlen = family === 6 ? 48 : 28;
    const maxlen =
      c.syncMaxlen > 0
        ? Math.min(65535 - hlen, Math.max(c.syncMaxlen, c.state === 'master' ? MIN_MASTER_MAXLEN : 1))
        : (c.state === 'master' ? Math.min(iface.mtu, 1500) : Math.max(iface.mtu, 1500)) - hlen;
    const cfg: Effective = {
      state: c.state,
      family,
      ifn,
      syncid: c.syncid & 0xff,
      maxlen,
      group: c.mcastGroup || (family === 6 ? DEFAULT_MCAST_GROUP6 : DEFAULT_MCAST_GROUP),
      port: c.mcastPort || DEFAULT_MCAST_PORT,
      ttl: c.mcastTtl || DEFAULT_MCAST_TTL,
    };
    const sockOpts = { family, group: cfg.group, port: cfg.port, ttl: cfg.ttl, iface };
    const base = { cfg, sendErrors: 0, lastSendError: '', notReady: 0, internalErrors: 0 };
    const onError = (what: string) => (e: Error) =>
      this.log('warn', `sync ${c.state} ${what} socket error`, { error: String(e) });
    if (c.state === 'master') {
      const collector = new SyncCollector(this.director.conns, {
        clock: this.clock,
        ...(this.opts.ringSize !== undefined ? { ringSize: this.opts.ringSize } : {}),
      });
      const role: MasterRole = {
        ...base,
        sender: null as unknown as SyncSocket,
        listener: null as unknown as SyncSocket,
        collector,
        enc: null as unknown as SyncEncoder,
        resync: null,
        resyncRequests: 0,
        resyncsServed: 0,
        resyncRecords: 0,
        marks: 0,
      };
      role.enc = new SyncEncoder(maxlen, cfg.syncid, (msg, since) => {
        this.send(role, msg);
        this.sendMark(role, since);
      });
      role.sender = this.transport.sender(sockOpts, onError('send'));
      role.listener = this.transport.listener(
        { ...sockOpts, recvBuffer: 1 << 20 },
        (m) => this.guard(role, () => this.masterHeard(role, m)),
        onError('listen'),
      );
      this.master = role;
      this.director.engine.syncSink = collector;
    } else {
      const role: BackupRole = {
        ...base,
        sender: null as unknown as SyncSocket,
        listener: null as unknown as SyncSocket,
        installer: new SyncInstaller(this.director, cfg.syncid),
        lastHeard: -1,
        resyncRequestsSent: 0,
        resyncsCompleted: 0,
        lagLastMs: -1,
        lagMaxMs: 0,
        lagSamples: 0,
        lagSumMs: 0,
        lvsdMessages: 0,
      };
      role.sender = this.transport.sender(sockOpts, onError('send'));
      role.listener = this.transport.listener(
        { ...sockOpts, recvBuffer: 8 << 20 },
        (m) => this.guard(role, () => this.backupHeard(role, m)),
        onError('listen'),
      );
      this.backup = role;
      // ask as soon as the sender is bound (the first tick after start)
      role.resyncRequestsSent = 0;
    }
    this.log('info', `sync ${c.state} started`, { ...cfg });
  }

  /** `ipvsadm --stop-daemon`; throws ESRCH when that role does not run. */
  stop(state: 'master' | 'backup'): void {
    if (state === 'master') {
      const m = this.master;
      if (!m) throw ipvsErr(ESRCH, 'no sync master runs');
      this.director.engine.syncSink = null;
      pumpMaster(m.collector, m.enc, this.director.conns, this.clock(), 0); // what is pending still goes
      if (m.resync?.timer) clearTimeout(m.resync.timer);
      m.sender.close();
      m.listener.close();
      this.master = null;
    } else {
      const b = this.backup;
      if (!b) throw ipvsErr(ESRCH, 'no sync backup runs');
      b.sender.close();
      b.listener.close();
      this.backup = null;
    }
    this.log('info', `sync ${state} stopped`);
  }

  /** For `ipvsadm -L --daemon`: master first, then backup. */
  list(): SyncDaemonStatus[] {
    const out: SyncDaemonStatus[] = [];
    for (const r of [this.master, this.backup]) {
      if (!r) continue;
      const c = r.cfg;
      out.push({
        state: c.state,
        mcastIfn: c.ifn,
        syncid: c.syncid,
        maxlen: c.maxlen,
        group: c.group,
        port: c.port,
        ttl: c.ttl,
      });
    }
    return out;
  }

  /** A datagram handler never takes the worker down: an unexpected error is counted and logged. */
  private guard(r: Role, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      r.internalErrors++;
      if (r.internalErrors <= 10)
        this.log('warn', `sync ${r.cfg.state}: datagram handler failed`, { error: String(e) });
    }
  }

  private send(r: Role, msg: Buffer): void {
    if (!r.sender.ready) {
      r.notReady++;
      return;
    }
    r.sender.send(msg, (e) => {
      r.sendErrors++;
      r.lastSendError = String(e);
    });
  }

  private lvsd(r: Role, kind: number, count: number, wallMs: number): void {
    this.send(r, encodeLvsdMessage({ kind, syncid: r.cfg.syncid, sender: this.senderId, count, wallMs }));
  }

  private sendMark(m: MasterRole, oldestQueuedAt: number): void {
    if (oldestQueuedAt < 0) return;
    m.marks++;
    this.lvsd(m, LVSD_KIND_MARK, m.enc.counts.messages, this.wall() - (this.clock() - oldestQueuedAt));
  }

  /** Every worker tick (100 ms): drain the collector, flush old partial messages, backup requests. */
  tick(nowMs: number = this.clock()): void {
    const m = this.master;
    if (m) pumpMaster(m.collector, m.enc, this.director.conns, nowMs, this.flushMs);
    const b = this.backup;
    if (b && b.resyncRequestsSent === 0 && b.sender.ready) this.requestResync(b);
  }

  private requestResync(b: BackupRole): void {
    b.resyncRequestsSent++;
    this.lvsd(b, LVSD_KIND_RESYNC_REQUEST, 0, this.wall());
  }

  private masterHeard(m: MasterRole, buf: Buffer): void {
    const msg = decodeLvsdMessage(buf, buf.length);
    if (!msg || msg.sender === this.senderId || msg.kind !== LVSD_KIND_RESYNC_REQUEST) return;
    if (msg.syncid !== 0 && m.cfg.syncid !== 0 && msg.syncid !== m.cfg.syncid) return;
    m.resyncRequests++;
    if (m.resync) return; // one at a time: the running dump serves this request too
    this.startResync(m);
  }

  private startResync(m: MasterRole): void {
    const enc = new SyncEncoder(m.cfg.maxlen, m.cfg.syncid, (msg) => this.send(m, msg));
    const cursor = new ResyncCursor(this.director.conns, enc);
    const run = { cursor, enc, timer: null as NodeJS.Timeout | null };
    m.resync = run;
    const step = (): void => {
      run.timer = null;
      if (this.master !== m) return;
      const done = cursor.step(this.clock(), RESYNC_HANDLES_PER_STEP, RESYNC_MESSAGES_PER_STEP);
      if (!done) {
        run.timer = setTimeout(step, RESYNC_STEP_MS);
        return;
      }
      m.resyncsServed++;
      m.resyncRecords += cursor.records;
      m.resync = null;
      this.lvsd(m, LVSD_KIND_RESYNC_DONE, cursor.records, this.wall());
      this.log('info', 'sync bulk resync sent', { records: cursor.records, messages: enc.counts.messages });
    };
    step();
  }

  private backupHeard(b: BackupRole, buf: Buffer): void {
    const now = this.clock();
    const msg: LvsdMessage | null = decodeLvsdMessage(buf, buf.length);
    if (msg) {
      if (msg.sender === this.senderId) return;
      if (b.cfg.syncid !== 0 && msg.syncid !== b.cfg.syncid) return;
      b.lvsdMessages++;
      if (msg.kind === LVSD_KIND_MARK) {
        const lag = Math.max(0, this.wall() - msg.wallMs);
        b.lagLastMs = lag;
        b.lagMaxMs = Math.max(b.lagMaxMs, lag);
        b.lagSamples++;
        b.lagSumMs += lag;
      } else if (msg.kind === LVSD_KIND_RESYNC_DONE) b.resyncsCompleted++;
      return;
    }
    const silent = b.lastHeard >= 0 && now - b.lastHeard > RESYNC_SILENCE_MS;
    if (b.installer.receive(buf, buf.length, now)) {
      b.lastHeard = now;
      if (silent) this.requestResync(b);
    }
  }

  status(): Record<string, unknown> {
    const now = this.clock();
    const out: Record<string, unknown> = {};
    const m = this.master;
    if (m) {
      const oldest = m.collector.oldestQueuedAt();
      const open = m.enc.openSince;
      const first = oldest < 0 ? open : open < 0 ? oldest : Math.min(oldest, open);
      out['master'] = {
        ...this.list()[0],
        messagesSent: m.enc.counts.messages,
        connsSent: m.enc.counts.conns,
        bytesSent: m.enc.counts.bytes,
        queued: m.collector.queuedTotal,
        pending: m.collector.pending + m.enc.openCount,
        oldestPendingMs: first < 0 ? 0 : now - first,
        drops: {
          ring_full: m.collector.ringFull,
          unsyncable: m.enc.counts.unsyncable,
          send_error: m.sendErrors,
          socket_not_ready: m.notReady,
          internal_error: m.internalErrors,
        },
        lastSendError: m.lastSendError || undefined,
        resync: {
          requests: m.resyncRequests,
          served: m.resyncsServed,
          records: m.resyncRecords,
          active: m.resync !== null,
        },
      };
    }
    const b = this.backup;
    if (b) {
      const c = b.installer.counts;
      out['backup'] = {
        ...this.list()[m ? 1 : 0],
        messagesReceived: c.messages,
        connsReceived: c.conns,
        created: c.created,
        updated: c.updated,
        drops: {
          ...c.drops,
          send_error: b.sendErrors,
          socket_not_ready: b.notReady,
          internal_error: b.internalErrors,
        },
        lvsdMessages: b.lvsdMessages,
        lastHeardMsAgo: b.lastHeard < 0 ? null : now - b.lastHeard,
        resync: { requestsSent: b.resyncRequestsSent, completed: b.resyncsCompleted },
        lagMs: {
          last: b.lagLastMs < 0 ? null : b.lagLastMs,
          max: b.lagMaxMs,
          avg: b.lagSamples > 0 ? Math.round(b.lagSumMs / b.lagSamples) : null,
          samples: b.lagSamples,
        },
      };
    }
    return out;
  }

  close(): void {
    if (this.master) this.stop('master');
    if (this.backup) this.stop('backup');
  }
}
