import type { LocalAddresses } from '../io/steering.js';
import type { TableContent } from './persist.js';

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
  | { t: 'handover-restore'; id: number; data: Uint8Array };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'reply'; id: number; ok: true; result: unknown }
  | { t: 'reply'; id: number; ok: false; error: { code: string; message: string } }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

export interface WorkerOptions {
  driver: 'afpacket' | 'memory';
  maxConns: number;
  batchSize: number;
  /** JIT warm-up before the first packet (default true; skipped when connections wait to be taken over) */
  warmup?: boolean;
}
