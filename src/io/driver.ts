/**
 * The batch interface every packet driver implements (AF_PACKET, AF_XDP later, the in-memory wire).
 * One call moves a whole batch across the boundary (hot-path rule 8); the engine never knows which
 * driver feeds it.
 *
 * Cycle: batch.reset(); n = driver.receive(batch); engine.processBatch(batch, now);
 * driver.complete(batch). complete() transmits every frame in [0, total) whose verdict is
 * VERDICT_TX on outIfindex (re-inserting outVlanTci, passing the virtio-net metadata), hands
 * VERDICT_KERNEL frames back to the kernel, and counts VERDICT_DROP frames by reason.
 */
import type { FrameBatch } from '../packet/frame.js';

export interface PacketDriver {
  readonly name: string;
  /** Fill [0, n) of the batch with received frames; returns n (0 when nothing is pending). */
  receive(batch: FrameBatch): number;
  /** Act on the verdicts of every frame in [0, batch.total). */
  complete(batch: FrameBatch): void;
  close(): void;
}
