/**
 * SyncInstaller: the backup side. Checks a received datagram as a kernel backup does (wire.ts
 * checkSyncHeader), decodes its v1 or v0 records (conn/sync-record.ts) and installs each connection
 * in the ConnTable flagged IP_VS_CONN_F_SYNC, bound to the local destination with the record's
 * address and port, so that the established flow continues here once the VIP moves (ipvs-reference
 * §6: "a backup receives and creates connections flagged IP_VS_CONN_F_SYNC").
 *
 * Timeouts: v1 records carry the remaining timeout (seconds), which the conn gets; v0 records carry
 * none, so the state table's timeout is used (a template: its service's persistence timeout).
 * An existing conn with the record's key gets the record's state and timeout (kernel: updated in
 * place). A TCP state moves through setTcpState, so the destination's active/inactive counters are
 * right when the flow later runs here.
 * lvsd differs from the kernel in one point (by design): a record whose service or destination is
 * not in the local table is dropped and counted (`no_service`, `no_dest`) instead of creating an
 * unbound conn that could only drop packets.
 * Never throws on input: every malformation is a counted drop; the message is validated in full
 * before the first record is installed, so a bad datagram changes nothing.
 */
import type { Director } from '../core/director.js';
import { decodeSyncMessage, SyncConn } from '../conn/sync-record.js';
import {
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
} from '../conn/flags.js';
import { buildTemplateKey, TemplateKey } from '../conn/persistence.js';
import { setTcpState, TCP_S_COUNT } from '../conn/state.js';
import { DEST_IN_SERVICE } from '../core/snapshot.js';
import { checkSyncHeader, type SyncDropReason } from './wire.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const SVC_F_PERSISTENT = 0x1;
const FTP_PORT = 21;

export interface InstallCounts {
  messages: number;
  /** records decoded from accepted messages */
  conns: number;
  created: number;
  updated: number;
  /** datagrams and records not installed, by reason */
  drops: Partial<Record<SyncDropReason, number>>;
}

export class SyncInstaller {
  readonly counts: InstallCounts = { messages: 0, conns: 0, created: 0, updated: 0, drops: {} };
  private readonly rec = new SyncConn();
  private readonly key = new TemplateKey();
  private readonly noop = (): void => {};
  private nowMs = 0;
  private readonly onRecord = (r: SyncConn): void => this.install(r);

  /** syncid: the backup's (0 accepts any, §1.7) */
  constructor(
    private readonly director: Director,
    public syncid: number,
  ) {}

  drop(reason: SyncDropReason, n = 1): void {
    this.counts.drops[reason] = (this.counts.drops[reason] ?? 0) + n;
  }

  /** Install one datagram buf[0, len) at nowMs (the engine's clock). False when it was dropped. */
  receive(buf: Uint8Array, len: number, nowMs: number): boolean {
    const why = checkSyncHeader(buf, len, this.syncid);
    if (why !== null) {
      this.drop(why);
      return false;
    }
    try {
      decodeSyncMessage(buf, 0, len, this.noop, this.rec);
    } catch {
      this.drop('malformed');
      return false;
    }
    this.counts.messages++;
    this.nowMs = nowMs;
    // the table adopts pending service changes first, so lookups below see the current snapshot
    this.director.sync();
    decodeSyncMessage(buf, 0, len, this.onRecord, this.rec);
    return true;
  }

  /** Service index in the engine's snapshot for a record, or -1. */
  private serviceOf(r: SyncConn, template: boolean): number {
    const snap = this.director.engine.snapshot;
    if (snap === null) return -1;
    if (r.fwmark !== 0) {
      const i = snap.findService(r.af, IPPROTO_TCP, r.vaddr, 0, r.fwmark);
      if (i >= 0 && snap.services[i]!.fwmark === r.fwmark) return i;
      return -1;
    }
    const i = snap.findService(r.af, r.protocol, r.vaddr, r.vport, 0);
    // a template of an FTP service is keyed with port 0 (persistence.ts)
    if (i < 0 && template && r.vport === 0) return snap.findService(r.af, r.protocol, r.vaddr, FTP_PORT, 0);
    return i;
  }

  /** Dest id of the service's destination at daddr:dport, or -1. */
  private destOf(si: number, r: SyncConn): number {
    const snap = this.director.engine.snapshot!;
    const dests = snap.services[si]!.dests;
    for (let k = 0; k < dests.count; k++) {
      const id = dests.id[k]!;
      if (snap.destState[id] !== DEST_IN_SERVICE || snap.destAf[id] !== r.af) continue;
      const o = id * 4;
      const a = snap.destAddr;
      if (
        a[o] !== r.daddr[0] ||
        a[o + 1] !== r.daddr[1] ||
        a[o + 2] !== r.daddr[2] ||
        a[o + 3] !== r.daddr[3]
      )
        continue;
      const port = snap.destPort[id]!;
      if (port === 0 || port === r.dport) return id;
    }
    return -1;
  }

  private install(r: SyncConn): void {
    this.counts.conns++;
    const d = this.director;
    const table = d.conns;
    const now = this.nowMs;
    const template = (r.flags & CONN_F_TEMPLATE) !== 0;
    const fwd = r.flags & CONN_F_FWD_MASK;
    if (fwd === CONN_F_FULLNAT || fwd > CONN_F_FULLNAT || (r.flags & CONN_F_ONE_PACKET) !== 0) {
      this.drop('unsupported_conn');
      return;
    }
    const si = this.serviceOf(r, template);
    if (si < 0) {
      this.drop('no_service');
      return;
    }
    const svc = d.engine.snapshot!.services[si]!;
    const destId = this.destOf(si, r);
    if (destId < 0) {
      this.drop('no_dest');
      return;
    }
    let timeoutMs = r.timeout * 1000;
    if (r.timeout === 0) {
      // v0: the state table's timeout (§6.4)
      if (template) timeoutMs = svc.timeout * 1000;
      else if (r.protocol === IPPROTO_TCP && r.state < TCP_S_COUNT) timeoutMs = d.timeouts.tcpMs(r.state);
      else if (r.protocol === IPPROTO_UDP) timeoutMs = d.timeouts.udpMs();
      else timeoutMs = d.timeouts.otherMs();
    }
    let h = template
      ? table.lookupTemplate(r.protocol, r.af, r.caddr, 0, r.cport, r.vaddr, 0, r.vport)
      : table.lookupIn(r.protocol, r.af, r.caddr, 0, r.cport, r.vaddr, 0, r.vport);
    if (h >= 0) {
      this.counts.updated++;
    } else {
      let control = -1;
      if (!template && (svc.flags & SVC_F_PERSISTENT) !== 0) {
        const k = this.key;
        buildTemplateKey(
          k,
          r.af,
          r.protocol,
          r.caddr,
          0,
          r.vaddr,
          0,
          svc.port,
          svc.fwmark,
          svc.af === 6 ? 0 : svc.netmask,
          svc.af === 6 ? svc.netmask : 0,
        );
        control = table.lookupTemplate(k.proto, k.af, k.caddr, 0, 0, k.vaddr, 0, k.vport);
      }
      const flags =
        (r.flags & ~(CONN_F_HASHED | CONN_F_INACTIVE | CONN_F_NOOUTPUT | CONN_F_ONE_PACKET)) | CONN_F_SYNC;
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
        svc.id,
        destId,
        control,
        timeoutMs,
        now,
      );
      if (h < 0) {
        this.drop('table_full');
        return;
      }
      // a DR/TUN conn the master has seen replies for would not have NOOUTPUT; keep the master's view
      if (!template) table.flags[h] = (table.flags[h]! & ~CONN_F_NOOUTPUT) | (r.flags & CONN_F_NOOUTPUT);
      this.counts.created++;
    }
    // timeout[h] keeps its local meaning (what a packet re-arms: the state's timeout, a template's
    // persistence timeout); the expiry is the record's remaining time
    if (template) table.timeout[h] = svc.timeout > 0 ? svc.timeout * 1000 : timeoutMs;
    else if (r.protocol === IPPROTO_TCP && r.state < TCP_S_COUNT)
      setTcpState(table, d.timeouts, h, r.state, now);
    else {
      table.state[h] = 0;
      table.timeout[h] = r.protocol === IPPROTO_UDP ? d.timeouts.udpMs() : d.timeouts.otherMs();
    }
    table.setExpiry(h, now + timeoutMs);
  }
}
