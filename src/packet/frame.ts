/**
 * The frame contract between drivers (AF_PACKET, AF_XDP, the in-memory wire) and the engine.
 *
 * A FrameBatch is a struct of arrays over one byte buffer cut into fixed-size slots. Slot i starts at
 * i * slotSize; a received frame is written at slot base + HEADROOM so the engine can push
 * encapsulation headers (GUE over IPv6 plus a VLAN tag needs 4+40+8+4+4 = 60 bytes) in front of it
 * without copying. `start[i]`/`len[i]` always describe the frame as it is now.
 *
 * Metadata a socket delivers out of band travels beside the bytes:
 *  - ifindex / outIfindex / queue;
 *  - vlanTci: the 802.1Q TCI the driver stripped (-1 = untagged). The driver re-inserts it on transmit
 *    from outVlanTci (-1 = send untagged).
 *  - the virtio-net header (include/uapi/linux/virtio_net.h): flags (NEEDS_CSUM, DATA_VALID), gsoType,
 *    hdrLen, gsoSize, csumStart, csumOffset. csumStart is relative to the frame start, as in virtio;
 *    whoever moves `start` (encapsulation, VLAN insert) adjusts it.
 *
 * Slots [0, count) hold received frames. Slots [count, total) were taken with alloc() for frames the
 * engine generates (ICMP errors, ARP/NDP probes, GSO segments, sync). A driver fills at most
 * `rxCapacity` slots, so `capacity - rxCapacity` slots always remain for generated frames (at least
 * one GSO super-frame's worth of segments). Every frame in [0, total) carries
 * a verdict; the driver transmits VERDICT_TX frames, hands VERDICT_KERNEL frames back to the kernel and
 * counts VERDICT_DROP frames by reason.
 */

export const HEADROOM = 128;
/** A GSO super-frame is at most 64 KiB of IP packet plus link headers. */
export const MAX_SUPER_FRAME = 65536 + 64;
export const SLOT_SIZE_SMALL = 2048;
export const SLOT_SIZE_GSO = HEADROOM + MAX_SUPER_FRAME;

export const VERDICT_DROP = 0;
export const VERDICT_TX = 1;
export const VERDICT_KERNEL = 2;
/**
 * Nothing left to do for this slot: a super-frame the engine consumed (its segments leave instead), a
 * frame already completed by an earlier flush of the same batch, or one the engine has not reached yet
 * when it yields mid-batch. Drivers neither send nor count it.
 */
export const VERDICT_DONE = 3;

/** virtio_net_hdr flags */
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
/** virtio_net_hdr gso_type values */
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const GSO_ECN = 0x80;

export class FrameBatch {
  readonly capacity: number;
  /** received frames a driver may put in one batch; the rest is the generated-frame pool */
  readonly rxCapacity: number;
  readonly slotSize: number;
  readonly buf: Uint8Array;
  /** the same bytes for multi-byte big-endian stores (Ethernet header words) */
  readonly dv: DataView;
  /** received frames occupy [0, count) */
  count = 0;
  /** received plus generated frames occupy [0, total) */
  total = 0;
  readonly start: Int32Array;
  readonly len: Int32Array;
  readonly ifindex: Int32Array;
  readonly outIfindex: Int32Array;
  readonly queue: Int32Array;
  readonly vlanTci: Int32Array;
  readonly outVlanTci: Int32Array;
  readonly vnetFlags: Uint8Array;
  readonly gsoType: Uint8Array;
  readonly hdrLen: Uint16Array;
  readonly gsoSize: Uint16Array;
  readonly csumStart: Uint16Array;
  readonly csumOffset: Uint16Array;
  readonly verdict: Uint8Array;
  readonly reason: Uint16Array;

  /**
   * rxFrames: received frames per batch (rxCapacity); `reserve` more slots (default: as many again,
   * at least 64) form the pool for generated frames.
   */
  constructor(rxFrames: number, slotSize: number = SLOT_SIZE_SMALL, shared = false, reserve = -1) {
    if (!Number.isInteger(rxFrames) || rxFrames < 1)
      throw new RangeError('capacity must be a positive integer');
    if (slotSize < HEADROOM + 64) throw new RangeError(`slotSize must be at least ${HEADROOM + 64}`);
    const capacity = rxFrames + (reserve >= 0 ? reserve : Math.max(64, rxFrames));
    this.rxCapacity = rxFrames;
    this.capacity = capacity;
    this.slotSize = slotSize;
    const bytes = capacity * slotSize;
    this.buf = new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.dv = new DataView(this.buf.buffer);
    this.start = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.ifindex = new Int32Array(capacity);
    this.outIfindex = new Int32Array(capacity);
    this.queue = new Int32Array(capacity);
    this.vlanTci = new Int32Array(capacity).fill(-1);
    this.outVlanTci = new Int32Array(capacity).fill(-1);
    this.vnetFlags = new Uint8Array(capacity);
    this.gsoType = new Uint8Array(capacity);
    this.hdrLen = new Uint16Array(capacity);
    this.gsoSize = new Uint16Array(capacity);
    this.csumStart = new Uint16Array(capacity);
    this.csumOffset = new Uint16Array(capacity);
    this.verdict = new Uint8Array(capacity);
    this.reason = new Uint16Array(capacity);
  }

  /** Byte offset of slot i's first byte in buf. */
  slotBase(i: number): number {
    return i * this.slotSize;
  }

  /** Bytes available in slot i from its base (headroom + frame). */
  slotEnd(i: number): number {
    return (i + 1) * this.slotSize;
  }

  /** Forget all frames; called by the driver before it fills the batch again. */
  reset(): void {
    this.count = 0;
    this.total = 0;
  }

  /** Reset per-frame metadata of slot i to "plain untagged frame, no offload", data at base+HEADROOM. */
  clearSlot(i: number): void {
    this.start[i] = i * this.slotSize + HEADROOM;
    this.len[i] = 0;
    this.ifindex[i] = 0;
    this.outIfindex[i] = 0;
    this.queue[i] = 0;
    this.vlanTci[i] = -1;
    this.outVlanTci[i] = -1;
    this.vnetFlags[i] = 0;
    this.gsoType[i] = GSO_NONE;
    this.hdrLen[i] = 0;
    this.gsoSize[i] = 0;
    this.csumStart[i] = 0;
    this.csumOffset[i] = 0;
    this.verdict[i] = VERDICT_DROP;
    this.reason[i] = 0;
  }

  /**
   * After a mid-batch flush (the engine yielded at `upTo`, the driver completed the batch): received
   * frames [0, upTo) are finished and the generated-frame pool is free again for the rest.
   */
  retire(upTo: number): void {
    this.verdict.fill(VERDICT_DONE, 0, upTo);
    this.total = this.count;
  }

  /**
   * Take a slot for a generated frame. Returns its index, or -1 when the pool is exhausted (the caller
   * counts Drop.FramePoolExhausted). The slot is cleared and its data starts at base + HEADROOM.
   */
  alloc(): number {
    if (this.total >= this.capacity) return -1;
    const i = this.total++;
    this.clearSlot(i);
    return i;
  }

  /** Append a received frame (driver side and tests). Returns the slot or -1 when full. */
  push(bytes: Uint8Array, ifindex: number): number {
    if (this.total !== this.count) throw new Error('push after alloc: receive all frames first');
    if (this.count >= this.rxCapacity || bytes.length > this.slotSize - HEADROOM) return -1;
    const i = this.count++;
    this.total = this.count;
    this.clearSlot(i);
    this.buf.set(bytes, this.start[i]!);
    this.len[i] = bytes.length;
    this.ifindex[i] = ifindex;
    return i;
  }

  /** A copy of frame i's bytes (tests and control plane only; allocates). */
  frameBytes(i: number): Uint8Array {
    const s = this.start[i]!;
    return this.buf.slice(s, s + this.len[i]!);
  }
}
