/**
 * DestLive: the counters of every destination that the data plane changes and the scheduler and the
 * control plane read, indexed by the destination's stable id (never by position in a service, so a
 * snapshot swap or a reload keeps them).
 *
 * Backed by SharedArrayBuffer and updated with Atomics: several data-plane workers bind and unbind
 * connections to the same destination, and schedulers in every worker must see the global counts,
 * as kernel schedulers do. These updates happen per connection event, never per packet.
 *
 * Semantics follow the kernel (ipvs-reference §3 "Thresholds and quiescing", §4.2):
 *  - bind: templates count in persist; normal connections in inactive (they are created INACTIVE)
 *    or active. Then, if uThreshold != 0 and active + inactive >= uThreshold, set OVERLOAD.
 *  - unbind: the mirror decrement, then clear OVERLOAD when total < lThreshold (if set), else when
 *    total * 4 < uThreshold * 3 (if uThreshold set), else unconditionally.
 *  - TCP/SCTP move a connection between inactive and active on entering/leaving ESTABLISHED.
 */

export const DEST_F_AVAILABLE = 0x0001;
export const DEST_F_OVERLOAD = 0x0002;

export class DestLive {
  readonly capacity: number;
  readonly active: Int32Array;
  readonly inactive: Int32Array;
  readonly persist: Int32Array;
  readonly flags: Int32Array;
  readonly uThreshold: Int32Array;
  readonly lThreshold: Int32Array;

  /** Pass `buffer` (from another DestLive's `.buffer`) to share counters with another thread. */
  constructor(capacity: number, buffer?: SharedArrayBuffer) {
    this.capacity = capacity;
    const sab = buffer ?? new SharedArrayBuffer(capacity * 4 * 6);
    if (sab.byteLength < capacity * 4 * 6) throw new RangeError('DestLive buffer too small');
    this.active = new Int32Array(sab, 0, capacity);
    this.inactive = new Int32Array(sab, capacity * 4, capacity);
    this.persist = new Int32Array(sab, capacity * 8, capacity);
    this.flags = new Int32Array(sab, capacity * 12, capacity);
    this.uThreshold = new Int32Array(sab, capacity * 16, capacity);
    this.lThreshold = new Int32Array(sab, capacity * 20, capacity);
  }

  get buffer(): SharedArrayBuffer {
    return this.active.buffer as SharedArrayBuffer;
  }

  /** Fresh state for a newly allocated dest id (control plane). */
  reset(id: number, uThreshold: number, lThreshold: number): void {
    Atomics.store(this.active, id, 0);
    Atomics.store(this.inactive, id, 0);
    Atomics.store(this.persist, id, 0);
    Atomics.store(this.flags, id, DEST_F_AVAILABLE);
    Atomics.store(this.uThreshold, id, uThreshold);
    Atomics.store(this.lThreshold, id, lThreshold);
  }

  /** Edit thresholds; re-evaluates OVERLOAD at once, as editing a dest does in the kernel. */
  setThresholds(id: number, uThreshold: number, lThreshold: number): void {
    Atomics.store(this.uThreshold, id, uThreshold);
    Atomics.store(this.lThreshold, id, lThreshold);
    if (uThreshold === 0) Atomics.and(this.flags, id, ~DEST_F_OVERLOAD);
    else if (this.total(id) >= uThreshold) Atomics.or(this.flags, id, DEST_F_OVERLOAD);
  }

  total(id: number): number {
    return Atomics.load(this.active, id) + Atomics.load(this.inactive, id);
  }

  /** Kernel ip_vs_dest_conn_overhead: active * 256 + inactive. */
  overhead(id: number): number {
    return Atomics.load(this.active, id) * 256 + Atomics.load(this.inactive, id);
  }

  // Readers use plain loads: an aligned Int32 read cannot tear, the kernel reads dest->flags the same
  // way, and these run per packet (isAvailable) where Atomics.load costs many times more. Writers
  // stay atomic because several workers update the same word.
  isOverloaded(id: number): boolean {
    return (this.flags[id]! & DEST_F_OVERLOAD) !== 0;
  }

  isAvailable(id: number): boolean {
    return (this.flags[id]! & DEST_F_AVAILABLE) !== 0;
  }

  setAvailable(id: number, available: boolean): void {
    if (available) Atomics.or(this.flags, id, DEST_F_AVAILABLE);
    else Atomics.and(this.flags, id, ~DEST_F_AVAILABLE);
  }

  /** ip_vs_bind_dest. `inactive` is the connection's INACTIVE flag at bind time. */
  bind(id: number, template: boolean, inactive: boolean): void {
    if (template) Atomics.add(this.persist, id, 1);
    else if (inactive) Atomics.add(this.inactive, id, 1);
    else Atomics.add(this.active, id, 1);
    const u = Atomics.load(this.uThreshold, id);
    if (u !== 0 && this.total(id) >= u) Atomics.or(this.flags, id, DEST_F_OVERLOAD);
  }

  /** ip_vs_unbind_dest. */
  unbind(id: number, template: boolean, inactive: boolean): void {
    if (template) Atomics.sub(this.persist, id, 1);
    else if (inactive) Atomics.sub(this.inactive, id, 1);
    else Atomics.sub(this.active, id, 1);
    const l = Atomics.load(this.lThreshold, id);
    const u = Atomics.load(this.uThreshold, id);
    const total = this.total(id);
    if (l !== 0) {
      if (total < l) Atomics.and(this.flags, id, ~DEST_F_OVERLOAD);
    } else if (u !== 0) {
      if (total * 4 < u * 3) Atomics.and(this.flags, id, ~DEST_F_OVERLOAD);
    } else {
      Atomics.and(this.flags, id, ~DEST_F_OVERLOAD);
    }
  }

  /** A connection entered ESTABLISHED: inactive -> active. */
  toActive(id: number): void {
    Atomics.sub(this.inactive, id, 1);
    Atomics.add(this.active, id, 1);
  }

  /** A connection left ESTABLISHED: active -> inactive. */
  toInactive(id: number): void {
    Atomics.sub(this.active, id, 1);
    Atomics.add(this.inactive, id, 1);
  }
}
