import type { LocalAddresses } from '../io/steering.js';
import type { TableContent } from './persist.js';
import type { OffloadCounterRow, OffloadFlow } from '../core/offload.js';

/**
 * Messages between the daemon's control thread and its data-plane worker. Every request carries an
 * id and gets exactly one reply with the same id.
 */
export type ToWorker =
  | { t: 'ipvsadm'; id: number; argv: string[]; stdin?: string }
  | { t: 'fwmark'; id: number; argv: string[] }
  | { t: 'commit'; id: number }
  | { t: 'spec'; id: number }
  | {
      t: 'net';
      id: number;
      model: unknown;
      capture: { ifindex: number; name: string }[];
      local: LocalAddresses;
    }
  | { t: 'filter'; id: number; prog: Uint8Array | null }
  | { t: 'status'; id: number }
  | { t: 'services'; id: number }
  | { t: 'stop'; id: number }
  // restarts (persist.ts, handover.ts)
  | { t: 'table-save'; id: number }
  | { t: 'table-restore'; id: number; content: TableContent }
  | { t: 'handover-dump'; id: number }
  | { t: 'handover-restore'; id: number; data: Uint8Array; fullnat?: Uint8Array }
  // DR flow offload (core/offload.ts): the answer to an 'offload' request, and kernel counters
  | { t: 'offload-installed'; id: number; keys: string[]; failed: string[] }
  | { t: 'offload-counters'; id: number; rows: OffloadCounterRow[]; retire?: string[] };

export type FromWorker =
  | { t: 'ready'; /** the data-plane thread's id when it pinned itself (--dataplane-cpu) */ tid?: number }
  | { t: 'reply'; id: number; ok: true; result: unknown }
  | { t: 'reply'; id: number; ok: false; error: { code: string; message: string } }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> }
  /** install `add` in the kernel fast path, withdraw `del` (answered with 'offload-installed') */
  | { t: 'offload'; add: OffloadFlow[]; del: OffloadFlow[] };

export interface WorkerOptions {
  driver: 'afpacket' | 'memory';
  maxConns: number;
  batchSize: number;
  /** JIT warm-up before the first packet (default true; skipped when connections wait to be taken over) */
  warmup?: boolean;
  /** client packets after which an established DR flow goes to the kernel fast path (0: never) */
  offloadThreshold?: number;
  /** nice value of the data-plane thread (0: leave it); see native setThreadNice */
  dataplaneNice?: number;
  /** CPUs the data-plane thread is pinned to (absent: not pinned); see native setThreadAffinity */
  dataplaneCpus?: number[];
  /** receive-ring frames per AF_PACKET socket (0: recvmmsg; absent: the driver's default) */
  rxRingFrames?: number;
}
