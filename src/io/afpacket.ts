/**
 * AfPacketDriver: the PacketDriver over AF_PACKET sockets (packet(7)), one per captured interface.
 *
 * Each socket is SOCK_RAW bound to ETH_P_ALL on its ifindex, so it sees frames before tc and nft
 * netdev ingress (the steering rules drop service traffic there after it has been captured), with:
 *  - PACKET_VNET_HDR both ways: a local stack on veth/virtio hands over TCP as GSO super-frames with
 *    a partial checksum; the virtio-net header carries that metadata in and out, so GSO frames leave
 *    as GSO frames (the kernel segments them) and partial checksums stay partial;
 *  - PACKET_AUXDATA: the VLAN TCI a device stripped (TP_STATUS_VLAN_VALID) -> batch.vlanTci;
 *  - PACKET_IGNORE_OUTGOING: frames this host transmits (the kernel's and ours) are not received;
 *  - PACKET_QDISC_BYPASS: transmit straight to the device; a full queue is ENOBUFS, counted;
 *  - a large SO_RCVBUFFORCE;
 *  - by default a TPACKET_V2 receive ring (rxRingFrames 2 KiB frames, packet_mmap): frames are read
 *    from shared memory with no system call and no skb queued per frame; a frame larger than a ring
 *    frame (GSO super-frame, jumbo) leaves a marker in the ring and arrives whole on the socket queue
 *    (PACKET_COPY_THRESH). TPACKET_V3 is not used: a V3 block reaches user space only when it fills or
 *    its retire timer (>= 1 ms) fires, which at moderate rates is added latency on every frame.
 *
 * Cycle (src/io/driver.ts): batch.reset(); receive(batch); engine; complete(batch). receive() is one
 * native call that drains the sockets round-robin (ring, or recvmmsg) into the batch's slots (at slot
 * base + HEADROOM); complete() is one native call that sends every VERDICT_TX frame with sendmmsg, grouped
 * per outgoing socket. No per-packet JS callback: onReadable(cb) runs cb when any socket is readable.
 * VERDICT_KERNEL needs no action: an ETH_P_ALL socket receives a copy, the kernel keeps the original
 * (whether it then survives ingress is the steering's decision).
 */
import type { PacketDriver } from './driver.js';
import {
  FrameBatch,
  HEADROOM,
  SLOT_SIZE_GSO,
  VERDICT_DROP,
  VERDICT_KERNEL,
  VERDICT_TX,
  VNET_F_NEEDS_CSUM,
  GSO_NONE,
} from '../packet/frame.js';
import {
  native,
  COUNTER_COUNT,
  COUNTER_RX_BYTES,
  COUNTER_RX_ERRORS,
  COUNTER_RX_FRAMES,
  COUNTER_RX_LAST_ERRNO,
  COUNTER_RX_OTHERHOST,
  COUNTER_RX_TRUNCATED,
  COUNTER_TX_AGAIN,
  COUNTER_TX_BYTES,
  COUNTER_TX_ENOBUFS,
  COUNTER_TX_ERRORS,
  COUNTER_TX_FRAMES,
  COUNTER_TX_LAST_ERRNO,
  ETH_P_8021Q,
} from './native.js';

export interface AfPacketOptions {
  /** SO_RCVBUFFORCE per socket in bytes (default 64 MiB: 1000 GSO super-frames). */
  rcvbuf?: number;
  /** SO_SNDBUFFORCE per socket in bytes (default 16 MiB: a batch of 64 super-frames, twice). */
  sndbuf?: number;
  /**
   * Receive through a TPACKET_V2 ring of this many 2 KiB frames per socket (0 = the socket queue
   * with recvmmsg). Frames larger than a ring frame (GSO super-frames) still come whole through the
   * socket queue, so rcvbuf stays in use.
   */
  rxRingFrames?: number;
}

export interface AfPacketSocketStats {
  ifindex: number;
  name: string;
  fd: number;
  /** PACKET_STATISTICS accumulated since the socket opened: frames seen (incl. drops) and drops. */
  kernelPackets: number;
  kernelDrops: number;
}

export interface AfPacketCounters {
  rx: number;
  rxBytes: number;
  /** frames larger than a slot (never with SLOT_SIZE_GSO on a 64 KiB GSO device) */
  rxTruncated: number;
  /** recvmmsg errors other than EAGAIN (ENETDOWN when a device goes down) */
  rxErrors: number;
  rxLastErrno: number;
  /** frames to other hosts (promiscuous mode), skipped */
  rxOtherHost: number;
  tx: number;
  txBytes: number;
  /** send errors other than ENOBUFS/EAGAIN, plus frames with no socket or no room for the VLAN tag */
  txErrors: number;
  txLastErrno: number;
  /** device queue full (qdisc bypassed): the frame is lost, as a qdisc drop would lose it */
  enobufs: number;
  /** socket send buffer full */
  txAgain: number;
  /** VERDICT_KERNEL frames (left to the kernel, nothing sent) */
  toKernel: number;
  /** VERDICT_DROP frames */
  dropped: number;
  /** VERDICT_DROP frames by reason (src/packet/drop-reasons.ts), only reasons seen */
  dropsByReason: Record<number, number>;
  /** receive-ring frames per socket (0: recvmmsg from the socket queue) */
  rxRingFrames: number;
  sockets: AfPacketSocketStats[];
}

interface SocketEntry {
  ifindex: number;
  name: string;
  fd: number;
  kernelPackets: number;
  kernelDrops: number;
  onPoll: () => void;
}

const DEFAULT_RCVBUF = 64 << 20;
const DEFAULT_SNDBUF = 16 << 20;
const EMPTY_PROG = new Uint8Array(0);
/** drop reasons are small dense ints; larger ones share the last bucket */
const MAX_REASON = 1024;

/**
 * Receive-ring frames per socket by default (lvsd --rx-ring; 0 = recvmmsg from the socket queue):
 * 16 MiB of 2 KiB frames per captured interface.
 */
export const DEFAULT_RX_RING_FRAMES = 8192;

/** Received frames per batch: 64 (node-packet-io.md: batch 64 is where per-call cost stops mattering). */
export const AFPACKET_BATCH = 64;

export class AfPacketDriver implements PacketDriver {
  readonly name = 'afpacket';

  /**
   * A FrameBatch sized for this driver: AFPACKET_BATCH received frames in slots that hold a 64 KiB
   * GSO super-frame (SLOT_SIZE_GSO), plus the default pool for generated frames.
   */
  static createBatch(shared = false): FrameBatch {
    return new FrameBatch(AFPACKET_BATCH, SLOT_SIZE_GSO, shared);
  }

  private readonly rcvbuf: number;
  private readonly sndbuf: number;
  private readonly rxRingFrames: number;
  private readonly sockets = new Map<number, SocketEntry>();
  /** fds in receive order; rebuilt on add/remove (control plane) */
  private fds = new Int32Array(0);
  private cursor = 0;
  private filter: Uint8Array = EMPTY_PROG;
  private readableCb: (() => void) | null = null;
  private readonly ctr = new Float64Array(COUNTER_COUNT);
  private readonly dropsByReason = new Float64Array(MAX_REASON);
  private toKernel = 0;
  private dropped = 0;
  private noRoom = 0;
  private txSlots = new Int32Array(0);
  private txFds = new Int32Array(0);
  private closed = false;

  constructor(options: AfPacketOptions = {}) {
    this.rcvbuf = options.rcvbuf ?? DEFAULT_RCVBUF;
    this.sndbuf = options.sndbuf ?? DEFAULT_SNDBUF;
    this.rxRingFrames = options.rxRingFrames ?? DEFAULT_RX_RING_FRAMES;
  }

  /** Open and bind the socket of an interface (idempotent). Throws the native coded error. */
  addInterface(ifindex: number, name: string): void {
    if (this.closed) throw new Error('AfPacketDriver is closed');
    if (this.sockets.has(ifindex)) return;
    const fd = native.packetOpen(ifindex, this.rcvbuf, this.sndbuf, this.filter, this.rxRingFrames);
    const entry: SocketEntry = {
      ifindex,
      name,
      fd,
      kernelPackets: 0,
      kernelDrops: 0,
      onPoll: () => this.readableCb?.(),
    };
    this.sockets.set(ifindex, entry);
    this.rebuildFds();
    if (this.readableCb !== null) {
      try {
        native.pollStart(fd, entry.onPoll);
      } catch (e) {
        this.removeInterface(ifindex);
        throw e;
      }
    }
  }

  /** Close the socket of an interface (no-op when not captured). */
  removeInterface(ifindex: number): void {
    const entry = this.sockets.get(ifindex);
    if (entry === undefined) return;
    this.sockets.delete(ifindex);
    this.rebuildFds();
    native.close(entry.fd); // also stops its poll
  }

  hasInterface(ifindex: number): boolean {
    return this.sockets.has(ifindex);
  }

  /** Captured interfaces. */
  interfaces(): { ifindex: number; name: string; fd: number }[] {
    return [...this.sockets.values()].map((s) => ({ ifindex: s.ifindex, name: s.name, fd: s.fd }));
  }

  /**
   * Attach a classic-BPF socket filter (struct sock_filter[], 8 bytes each, host order) to every
   * socket, current and future; null removes it. A program must return the whole frame length
   * (e.g. 0x40000) for accepted frames, or GSO super-frames are cut and counted as truncated.
   * Frames already queued before the call are not re-filtered.
   */
  setFilter(prog: Uint8Array | null): void {
    const p = prog === null ? EMPTY_PROG : prog.slice();
    for (const s of this.sockets.values()) native.setFilter(s.fd, p);
    this.filter = p;
  }

  /**
   * Run cb (no arguments) whenever any socket is readable, in this thread's event loop (level
   * triggered: it runs again while frames remain). Replaces an earlier callback.
   */
  onReadable(cb: () => void): void {
    const first = this.readableCb === null;
    this.readableCb = cb;
    if (first) for (const s of this.sockets.values()) native.pollStart(s.fd, s.onPoll);
  }

  /**
   * Fill batch slots [count, count+n) with received frames from all sockets (round-robin start, so
   * one busy interface cannot starve the others); returns n, 0 when nothing is pending. Never blocks.
   */
  receive(batch: FrameBatch): number {
    const nfds = this.fds.length;
    const base = batch.count;
    if (nfds === 0 || base !== batch.total) return 0;
    const max = batch.rxCapacity - base;
    if (max <= 0) return 0;
    const n = native.packetRecv(
      this.fds,
      nfds,
      this.cursor,
      base,
      max,
      batch.slotSize,
      HEADROOM,
      batch.buf,
      batch.start,
      batch.len,
      batch.ifindex,
      batch.vlanTci,
      batch.vnetFlags,
      batch.gsoType,
      batch.hdrLen,
      batch.gsoSize,
      batch.csumStart,
      batch.csumOffset,
      this.ctr,
    );
    this.cursor = this.cursor + 1 >= nfds ? 0 : this.cursor + 1;
    if (n > 0) {
      const end = base + n;
      batch.outIfindex.fill(0, base, end);
      batch.queue.fill(0, base, end);
      batch.outVlanTci.fill(-1, base, end);
      batch.verdict.fill(VERDICT_DROP, base, end);
      batch.reason.fill(0, base, end);
      batch.count = end;
      batch.total = end;
    }
    return n;
  }

  /**
   * Act on every frame in [0, batch.total): VERDICT_TX frames are sent on outIfindex (VLAN tag
   * outVlanTci >= 0 written into the bytes in front of the MAC addresses' end, using headroom),
   * VERDICT_KERNEL frames are left to the kernel, VERDICT_DROP frames counted by reason.
   */
  complete(batch: FrameBatch): void {
    const total = batch.total;
    if (this.txSlots.length < total) {
      this.txSlots = new Int32Array(batch.capacity);
      this.txFds = new Int32Array(batch.capacity);
    }
    const verdict = batch.verdict;
    const slots = this.txSlots;
    const fds = this.txFds;
    const anyFd = this.fds.length > 0 ? this.fds[0]! : -1;
    let nTx = 0;
    for (let i = 0; i < total; i++) {
      const v = verdict[i];
      if (v === VERDICT_TX) {
        const out = batch.outIfindex[i]!;
        // the socket of the outgoing interface; else any socket (the destination address names the
        // interface, AF_PACKET can send on any device)
        const fd = this.sockets.get(out)?.fd ?? anyFd;
        if (fd < 0 || (batch.outVlanTci[i]! >= 0 && !this.insertVlan(batch, i))) {
          this.noRoom++;
          continue;
        }
        slots[nTx] = i;
        fds[nTx] = fd;
        nTx++;
      } else if (v === VERDICT_KERNEL) {
        this.toKernel++;
      } else if (v === VERDICT_DROP) {
        const r = batch.reason[i]!;
        this.dropsByReason[r < MAX_REASON ? r : MAX_REASON - 1]!++;
        this.dropped++;
      }
    }
    if (nTx > 0) {
      native.packetSend(
        slots,
        fds,
        nTx,
        batch.buf,
        batch.start,
        batch.len,
        batch.outIfindex,
        batch.outVlanTci,
        batch.vnetFlags,
        batch.gsoType,
        batch.hdrLen,
        batch.gsoSize,
        batch.csumStart,
        batch.csumOffset,
        this.ctr,
      );
    }
  }

  /**
   * Write an 802.1Q tag after the MAC addresses: the addresses move 4 bytes into the headroom, the
   * original ethertype stays where it was. The virtio-net offsets (relative to the frame start) grow
   * by 4. False when the slot has no headroom left.
   */
  private insertVlan(batch: FrameBatch, i: number): boolean {
    const s = batch.start[i]!;
    if (s - 4 < batch.slotBase(i) || batch.len[i]! < 14) return false;
    batch.buf.copyWithin(s - 4, s, s + 12);
    const dv = batch.dv;
    dv.setUint16(s + 8, ETH_P_8021Q);
    dv.setUint16(s + 10, batch.outVlanTci[i]! & 0xffff);
    batch.start[i] = s - 4;
    batch.len[i] = batch.len[i]! + 4;
    if ((batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) !== 0) batch.csumStart[i] = batch.csumStart[i]! + 4;
    if (batch.gsoType[i] !== GSO_NONE || batch.hdrLen[i] !== 0) batch.hdrLen[i] = batch.hdrLen[i]! + 4;
    return true;
  }

  /** Counters as a plain object; reads (and accumulates) each socket's PACKET_STATISTICS. */
  counters(): AfPacketCounters {
    const c = this.ctr;
    const byReason: Record<number, number> = {};
    for (let r = 0; r < MAX_REASON; r++) if (this.dropsByReason[r]! > 0) byReason[r] = this.dropsByReason[r]!;
    const sockets: AfPacketSocketStats[] = [];
    for (const s of this.sockets.values()) {
      try {
        const st = native.packetStats(s.fd);
        s.kernelPackets += st.packets;
        s.kernelDrops += st.drops;
      } catch {
        // the socket's statistics are unavailable (should not happen on an open AF_PACKET fd)
      }
      sockets.push({
        ifindex: s.ifindex,
        name: s.name,
        fd: s.fd,
        kernelPackets: s.kernelPackets,
        kernelDrops: s.kernelDrops,
      });
    }
    return {
      rx: c[COUNTER_RX_FRAMES]!,
      rxBytes: c[COUNTER_RX_BYTES]!,
      rxTruncated: c[COUNTER_RX_TRUNCATED]!,
      rxErrors: c[COUNTER_RX_ERRORS]!,
      rxLastErrno: c[COUNTER_RX_LAST_ERRNO]!,
      rxOtherHost: c[COUNTER_RX_OTHERHOST]!,
      tx: c[COUNTER_TX_FRAMES]!,
      txBytes: c[COUNTER_TX_BYTES]!,
      txErrors: c[COUNTER_TX_ERRORS]! + this.noRoom,
      txLastErrno: c[COUNTER_TX_LAST_ERRNO]!,
      enobufs: c[COUNTER_TX_ENOBUFS]!,
      txAgain: c[COUNTER_TX_AGAIN]!,
      toKernel: this.toKernel,
      dropped: this.dropped,
      dropsByReason: byReason,
      rxRingFrames: this.rxRingFrames,
      sockets,
    };
  }

  /** Close every socket (stopping its poll). Idempotent. */
  close(): void {
    this.closed = true;
    for (const ifindex of [...this.sockets.keys()]) this.removeInterface(ifindex);
    this.readableCb = null;
  }

  private rebuildFds(): void {
    this.fds = Int32Array.from([...this.sockets.values()].map((s) => s.fd));
    this.cursor = 0;
  }
}
