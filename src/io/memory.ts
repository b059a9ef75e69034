/**
 * MemoryWire: an in-memory driver (a virtual wire) that runs the whole engine without root or
 * sockets. Tests inject frames as if they arrived on an interface, with the metadata a real socket
 * would deliver out of band (VLAN tag, virtio-net header), then read back what the engine sent,
 * handed to the kernel, or dropped.
 */
import type { PacketDriver } from './driver.js';
import { FrameBatch, VERDICT_DROP, VERDICT_KERNEL, VERDICT_TX } from '../packet/frame.js';

export interface WireMeta {
  vlanTci?: number;
  queue?: number;
  vnetFlags?: number;
  gsoType?: number;
  gsoSize?: number;
  hdrLen?: number;
  csumStart?: number;
  csumOffset?: number;
}

export interface WireFrame extends Required<WireMeta> {
  ifindex: number;
  bytes: Uint8Array;
}

export interface DroppedFrame {
  ifindex: number;
  reason: number;
  bytes: Uint8Array;
}

export class MemoryWire implements PacketDriver {
  readonly name = 'memory';
  private readonly pending: WireFrame[] = [];
  /** frames the engine transmitted (outIfindex, outVlanTci as ifindex/vlanTci) */
  readonly sent: WireFrame[] = [];
  /** frames handed back to the kernel */
  readonly toKernel: WireFrame[] = [];
  readonly dropped: DroppedFrame[] = [];
  /** drop counts by reason */
  readonly dropCounts = new Map<number, number>();
  /** keep copies of dropped frames (turn off for fuzzing to save memory) */
  keepDropped = true;

  inject(ifindex: number, bytes: Uint8Array, meta: WireMeta = {}): void {
    this.pending.push({
      ifindex,
      bytes,
      vlanTci: meta.vlanTci ?? -1,
      queue: meta.queue ?? 0,
      vnetFlags: meta.vnetFlags ?? 0,
      gsoType: meta.gsoType ?? 0,
      gsoSize: meta.gsoSize ?? 0,
      hdrLen: meta.hdrLen ?? 0,
      csumStart: meta.csumStart ?? 0,
      csumOffset: meta.csumOffset ?? 0,
    });
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  receive(batch: FrameBatch): number {
    let n = 0;
    while (this.pending.length > 0 && batch.count < batch.rxCapacity) {
      const f = this.pending[0]!;
      const i = batch.push(f.bytes, f.ifindex);
      if (i < 0) {
        // larger than a slot: the real driver would have truncated it; count it as dropped
        this.pending.shift();
        this.countDrop(0, f.ifindex, f.bytes);
        continue;
      }
      this.pending.shift();
      batch.vlanTci[i] = f.vlanTci;
      batch.queue[i] = f.queue;
      batch.vnetFlags[i] = f.vnetFlags;
      batch.gsoType[i] = f.gsoType;
      batch.gsoSize[i] = f.gsoSize;
      batch.hdrLen[i] = f.hdrLen;
      batch.csumStart[i] = f.csumStart;
      batch.csumOffset[i] = f.csumOffset;
      n++;
    }
    return n;
  }

  complete(batch: FrameBatch): void {
    for (let i = 0; i < batch.total; i++) {
      const v = batch.verdict[i];
      if (v === VERDICT_TX) {
        this.sent.push(this.capture(batch, i, batch.outIfindex[i]!, batch.outVlanTci[i]!));
      } else if (v === VERDICT_KERNEL) {
        this.toKernel.push(this.capture(batch, i, batch.ifindex[i]!, batch.vlanTci[i]!));
      } else if (v === VERDICT_DROP) {
        this.countDrop(batch.reason[i]!, batch.ifindex[i]!, this.keepDropped ? batch.frameBytes(i) : EMPTY);
      }
    }
  }

  /** Take and forget everything sent/handed/dropped so far. */
  drain(): { sent: WireFrame[]; toKernel: WireFrame[]; dropped: DroppedFrame[] } {
    const out = {
      sent: this.sent.splice(0),
      toKernel: this.toKernel.splice(0),
      dropped: this.dropped.splice(0),
    };
    return out;
  }

  close(): void {
    this.pending.length = 0;
  }

  private countDrop(reason: number, ifindex: number, bytes: Uint8Array): void {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    if (this.keepDropped) this.dropped.push({ ifindex, reason, bytes });
  }

  private capture(batch: FrameBatch, i: number, ifindex: number, vlanTci: number): WireFrame {
    return {
      ifindex,
      bytes: batch.frameBytes(i),
      vlanTci,
      queue: batch.queue[i]!,
      vnetFlags: batch.vnetFlags[i]!,
      gsoType: batch.gsoType[i]!,
      gsoSize: batch.gsoSize[i]!,
      hdrLen: batch.hdrLen[i]!,
      csumStart: batch.csumStart[i]!,
      csumOffset: batch.csumOffset[i]!,
    };
  }
}

const EMPTY = new Uint8Array(0);
