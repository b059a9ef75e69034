/**
 * What a daemon does so that restarts and upgrades lose nothing: table persistence (persist.ts) and
 * the connection hand-over (handover.ts), driven from the control thread. The Daemon calls in at a few
 * points; everything else lives here.
 *
 * Graceful restart (`lvsd restart` starts `lvsd --takeover`; numbers are the order of events):
 *   new: 1 worker started and JIT-warmed, network mirrored, capture held; old still serves.
 *        2 saved table restored (persist.ts).
 *        3 asks the old daemon over @lvsd: {cmd: 'handover'}.
 *   old: 4 reads its steering drop counters, stops capturing and dumps its connections (one worker
 *          message: no packet is processed after the dump), saves the table, writes handover.bin,
 *          answers, releases @lvsd and exits WITHOUT removing its nftables table: from here the
 *          kernel drops service traffic at netdev ingress (counted) instead of answering it.
 *   new: 5 binds @lvsd (the socket is the one-daemon-per-namespace lock: bound before anything is
 *          captured, so no other daemon can take over meanwhile), 6 takes handover.bin (checks cookie
 *          and age), re-restores the table if it changed after step 2, restores the connections,
 *          reads the drop counters, 7 captures (the gap ends), 8 replaces the steering table and its
 *          device chains in one nft transaction, 9 ready (sd_notify READY=1, MAINPID).
 * SIGUSR2 (systemd): the old daemon does step 4 on its own and exits with HANDOVER_EXIT_STATUS; the
 * unit restarts it (RestartForceExitStatus=75, RestartSec=0) and the new daemon finds handover.bin at
 * start (steps 6-9). The gap then includes the process start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from './log.js';
import type { ToWorker } from './worker-protocol.js';
import type { SteeringBackend } from './daemon.js';
import {
  TABLE_STATE_FILE,
  loadTableState,
  removeState,
  saveTableState,
  type RestoreReport,
  type TableContent,
} from './persist.js';
import { HANDOVER_FILE, HANDOVER_VERSION, takeHandover, writeHandover, type DumpResult } from './handover.js';
import type { RestoreResult } from './handover.js';
import { ControlClient } from '../control/client.js';
import { LvsError } from '../errors.js';

/** Exit status of a daemon that handed over on SIGUSR2 (EX_TEMPFAIL, sysexits.h): "start me again". */
export const HANDOVER_EXIT_STATUS = 75;

export interface RestartHost {
  call(m: ToWorker): Promise<unknown>;
  readonly log: Logger;
  readonly steering: SteeringBackend | null;
}

/** The old daemon's answer to {cmd: 'handover'}. */
export interface HandoverReply {
  pid: number;
  file: string;
  table: TableContent;
  stoppedAt: number;
  records: number;
  skipped: number;
  /** steering drop counter total when capture stopped (-1 unknown) */
  droppedBefore: number;
}

/** What the new daemon reports in `lvsd status` about the hand-over it took. */
export interface HandoverInfo {
  fromPid: number;
  /** ms from the old daemon's last captured packet to our first capture */
  gapMs: number;
  connections: number;
  skipped: number;
  restore: RestoreResult;
  /** service packets the steering table dropped while nobody captured, at most (-1: not known) */
  droppedInGap: number;
  /** ms from the old daemon's stop to table and connections restored here */
  restoredAfterMs: number;
  /** the steering drop counter totals the count comes from: [old daemon before stopping, ours] */
  dropCounters?: [number, number];
}

export class RestartController {
  /** the content the table was last saved or restored with */
  private last: TableContent | null = null;
  private saving: Promise<void> = Promise.resolve();
  handover: HandoverInfo | null = null;
  restored: { services: number; fwmarkRules: number; savedAt: string } | null = null;
  saveErrors = 0;
  private stoppedAt = 0;
  private droppedBefore = -1;

  constructor(
    private readonly host: RestartHost,
    readonly stateDir: string,
    readonly cookie: string,
  ) {}

  /** Step 2 (and a plain start): restore the saved table into the worker. Never throws. */
  async restoreTable(): Promise<void> {
    const log = this.host.log;
    const r = loadTableState(this.stateDir, this.cookie);
    switch (r.kind) {
      case 'none':
        return;
      case 'foreign':
        log.warn('saved table belongs to an earlier namespace with the same inode; removed', {
          cookie: r.cookie,
          ours: this.cookie,
        });
        return;
      case 'invalid':
        log.error('saved table ignored', { reason: r.reason });
        return;
      case 'loaded':
        await this.apply(r.content);
        log.info('table restored', { ...this.restored, savedAt: r.savedAt });
        this.restored = { ...this.restored!, savedAt: r.savedAt };
    }
  }

  private async apply(content: TableContent): Promise<void> {
    try {
      const rep = (await this.host.call({ t: 'table-restore', id: 0, content })) as RestoreReport;
      if (rep.errors !== '') this.host.log.error('table restore incomplete', { errors: rep.errors });
      this.restored = { services: rep.services, fwmarkRules: rep.fwmarkRules, savedAt: '' };
      this.last = content;
    } catch (e) {
      this.host.log.error('table restore failed', { error: String(e) });
    }
  }

  /** A hand-over file from a daemon that already exited is waiting to be taken. */
  handoverPending(): boolean {
    return fs.existsSync(path.join(this.stateDir, HANDOVER_FILE));
  }

  /** After every committed change: save the table. Errors are logged and counted, never thrown. */
  persist(): Promise<void> {
    this.saving = this.saving.then(async () => {
      try {
        const c = (await this.host.call({ t: 'table-save', id: 0 })) as TableContent;
        saveTableState(this.stateDir, this.cookie, c);
        this.last = c;
      } catch (e) {
        this.saveErrors++;
        this.host.log.error('saving the table failed', { error: String(e), dir: this.stateDir });
      }
    });
    return this.saving;
  }

  /** Step 3: ask the running daemon to hand over. Throws when it cannot. */
  async requestHandover(address: string, timeoutMs = 30000): Promise<HandoverReply> {
    const c = await ControlClient.connect(address);
    try {
      return await c.request<HandoverReply>('handover', { pid: process.pid }, timeoutMs);
    } finally {
      c.close();
    }
  }

  /** Step 4 (old daemon): stop capturing, dump, write handover.bin. The caller then stops. */
  async handOver(): Promise<HandoverReply> {
    const st = this.host.steering;
    const droppedBefore = st?.droppedPackets ? await st.droppedPackets() : -1;
    const dump = (await this.host.call({ t: 'handover-dump', id: 0 })) as DumpResult;
    const stoppedAt = Date.now();
    const table = (await this.host.call({ t: 'table-save', id: 0 })) as TableContent;
    await this.saving;
    saveTableState(this.stateDir, this.cookie, table);
    const file = writeHandover(
      this.stateDir,
      {
        version: HANDOVER_VERSION,
        cookie: this.cookie,
        pid: process.pid,
        stoppedAt,
        records: dump.records,
        skipped: dump.skipped,
        steering: { ...(st?.handoverState?.() ?? {}), droppedBefore },
        ...(dump.fullnat.length > 0 ? { fullnat: Buffer.from(dump.fullnat).toString('base64') } : {}),
      },
      dump.data,
    );
    this.host.log.info('handed over', { records: dump.records, skipped: dump.skipped, file });
    return {
      pid: process.pid,
      file,
      table,
      stoppedAt,
      records: dump.records,
      skipped: dump.skipped,
      droppedBefore,
    };
  }

  /**
   * Step 6 (new daemon): take handover.bin when there is one, bring the table to what the old daemon
   * had at its end, restore the connections. Returns the steering hand-over data for replace().
   * Never throws: a bad file is logged and the daemon starts without connections.
   */
  async takeConnections(reply: HandoverReply | null): Promise<unknown> {
    const log = this.host.log;
    const r = takeHandover(this.stateDir, this.cookie);
    if (r.kind === 'none') {
      if (reply) log.error('hand-over file missing', { file: reply.file });
      return undefined;
    }
    if (r.kind === 'rejected') {
      log.error('hand-over ignored', { reason: r.reason });
      return undefined;
    }
    if (reply && !sameContent(reply.table, this.last)) {
      log.info('table changed during the hand-over; restoring the final one');
      await this.apply(reply.table);
    }
    this.stoppedAt = r.header.stoppedAt;
    const fullnat =
      typeof r.header.fullnat === 'string'
        ? new Uint8Array(Buffer.from(r.header.fullnat, 'base64'))
        : undefined;
    const restore = (await this.host.call({
      t: 'handover-restore',
      id: 0,
      data: r.data,
      ...(fullnat ? { fullnat } : {}),
    })) as RestoreResult;
    const steering = (r.header.steering ?? {}) as { droppedBefore?: number };
    this.droppedBefore = typeof steering.droppedBefore === 'number' ? steering.droppedBefore : -1;
    this.handover = {
      fromPid: r.header.pid,
      gapMs: 0,
      connections: r.header.records,
      skipped: r.header.skipped,
      restore,
      droppedInGap: -1,
      restoredAfterMs: Date.now() - this.stoppedAt,
    };
    return r.header.steering;
  }

  /**
   * Step 7 done: the gap ends (wall clock: both processes read the same one). Then the drop counters
   * are read, before replace() resets them: listing them takes tens of ms, too long to do inside the
   * gap, so the count is an upper bound (it includes what steering dropped in the few ms after
   * capture resumed, which lvsd did handle).
   */
  async captureStarted(): Promise<void> {
    const h = this.handover;
    if (!h) return;
    h.gapMs = Date.now() - this.stoppedAt;
    const st = this.host.steering;
    const now = st?.droppedPackets ? await st.droppedPackets() : -1;
    h.droppedInGap = this.droppedBefore >= 0 && now >= this.droppedBefore ? now - this.droppedBefore : -1;
    h.dropCounters = [this.droppedBefore, now];
    this.host.log.info('connections taken over', { ...h });
  }

  /** The namespace is going away: nothing to restore into it. */
  removeState(): void {
    try {
      removeState(this.stateDir, [TABLE_STATE_FILE, HANDOVER_FILE]);
    } catch (e) {
      this.host.log.warn('removing saved state failed', { error: String(e) });
    }
  }

  status(): Record<string, unknown> {
    return {
      stateDir: this.stateDir,
      restored: this.restored,
      handover: this.handover,
      saveErrors: this.saveErrors,
    };
  }
}

function sameContent(a: TableContent, b: TableContent | null): boolean {
  return (
    b !== null &&
    a.ipvsadm === b.ipvsadm &&
    a.fwmark === b.fwmark &&
    a.timeouts.tcp === b.timeouts.tcp &&
    a.timeouts.tcpfin === b.timeouts.tcpfin &&
    a.timeouts.udp === b.timeouts.udp
  );
}

export function noStateError(): LvsError {
  return new LvsError(
    'ERR_LVS_UNSUPPORTED',
    'this daemon keeps no state (started without a state directory)',
  );
}
