/**
 * Director: the composition of one shard's data plane with its control-side model, for the
 * single-threaded case (tests, `lvsd simulate`, the demo) and as the unit a worker thread will run.
 *
 *   ServiceTable (control) --snapshot()--> Engine.setSnapshot (between batches)
 *   driver.receive -> Engine.processBatch -> driver.complete;  Engine.tick expires connections
 *
 * The table, the connection table and the counters are the real ones; only the driver varies.
 */
import { DestLive } from '../conn/dest-live.js';
import { ConnTable } from '../conn/table.js';
import { Timeouts } from '../conn/state.js';
import { FrameBatch, SLOT_SIZE_SMALL } from '../packet/frame.js';
import type { PacketDriver } from '../io/driver.js';
import { schedulerNames } from '../sched/index.js';
import { Engine, type EngineSysctl } from './engine.js';
import { NetState } from './netstate.js';
import { ServiceTable } from './services.js';
import { KIND_DEST, KIND_SERVICE, StatsReader, StatsShard } from './stats.js';
import { FwmarkTable } from './fwmark.js';
import { RateEstimator } from './estimator.js';

export interface DirectorOptions {
  maxConns?: number;
  v6Capacity?: number;
  batchSize?: number;
  slotSize?: number;
  destCapacity?: number;
  serviceCapacity?: number;
  sysctl?: Partial<EngineSysctl>;
  /** hash seed for the connection table (tests fix it) */
  seed?: number;
  nowMs?: number;
}

export class Director {
  readonly live: DestLive;
  readonly services: ServiceTable;
  readonly conns: ConnTable;
  readonly timeouts: Timeouts;
  readonly net: NetState;
  readonly stats: StatsShard;
  /** counters as ipvsadm reads them (shard sums minus the -Z baseline) */
  readonly statsReader: StatsReader;
  /** the 2 s rate estimator over statsReader (ipvsadm --rate); ticked by step() */
  readonly rates: RateEstimator;
  readonly engine: Engine;
  /** lvsd's own firewall-mark rules for `-f` services (see fwmark.ts) */
  readonly fwmarks = new FwmarkTable();
  readonly batch: FrameBatch;
  private adopted = -1;
  /**
   * While true, table changes are not adopted by the engine. The daemon holds a change while it
   * removes steering for it first (steering then engine on delete; engine then steering on add).
   */
  holdSnapshot = false;

  constructor(opts: DirectorOptions = {}) {
    const destCapacity = opts.destCapacity ?? 4096;
    const serviceCapacity = opts.serviceCapacity ?? 1024;
    this.live = new DestLive(destCapacity);
    this.net = new NetState();
    const names = new Set(schedulerNames());
    this.stats = new StatsShard(serviceCapacity, destCapacity);
    this.statsReader = new StatsReader(serviceCapacity, destCapacity, [this.stats]);
    this.rates = new RateEstimator(this.statsReader);
    const reader = this.statsReader;
    const rates = this.rates;
    this.services = new ServiceTable({
      isScheduler: (n) => names.has(n),
      isLocalAddress: (af, words) => this.net.isLocal(af, Uint32Array.from(words), 0),
      destCapacity,
      serviceCapacity,
      live: this.live,
      hooks: {
        // A reused id starts from zero (kernel: a new ip_vs_service / ip_vs_dest has fresh stats).
        serviceAllocated: (id) => {
          reader.zero(KIND_SERVICE, id);
          rates.zero(KIND_SERVICE, id);
        },
        destAllocated: (id) => {
          reader.zero(KIND_DEST, id);
          rates.zero(KIND_DEST, id);
        },
        zero: (sids, dids, all) => {
          if (all) {
            reader.zeroAll();
            rates.zeroAll();
            return;
          }
          for (const id of sids) {
            reader.zero(KIND_SERVICE, id);
            rates.zero(KIND_SERVICE, id);
          }
          for (const id of dids) {
            reader.zero(KIND_DEST, id);
            rates.zero(KIND_DEST, id);
          }
        },
      },
    });
    this.conns = new ConnTable(
      {
        maxConns: opts.maxConns ?? 65536,
        ...(opts.v6Capacity !== undefined ? { v6Capacity: opts.v6Capacity } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        nowMs: opts.nowMs ?? 0,
      },
      this.live,
    );
    this.timeouts = new Timeouts();
    this.engine = new Engine({
      conns: this.conns,
      timeouts: this.timeouts,
      net: this.net,
      stats: this.stats,
      fwmark: (v) => this.fwmarks.classify(v),
      ...(opts.sysctl ? { sysctl: opts.sysctl } : {}),
    });
    this.batch = new FrameBatch(opts.batchSize ?? 64, opts.slotSize ?? SLOT_SIZE_SMALL);
  }

  /** Adopt the service table's current state if it changed (between batches). */
  sync(): void {
    if (this.holdSnapshot) return;
    const g = this.services.generation;
    if (g !== this.adopted) {
      this.engine.setSnapshot(this.services.snapshot());
      this.adopted = g;
      this.services.gc(g);
      const sids: number[] = [];
      const dids: number[] = [];
      for (const svc of this.services.list()) {
        sids.push(svc.id);
        for (const d of svc.dests) dids.push(d.id);
      }
      this.rates.sync(sids, dids);
    }
  }

  /**
   * Move pending frames of the driver through the engine, at most maxBatches batches (the daemon
   * bounds a turn so control messages are served under full load). Returns frames received.
   */
  step(driver: PacketDriver, nowMs: number, maxBatches = Infinity): number {
    this.sync();
    let total = 0;
    for (let b = 0; b < maxBatches; b++) {
      this.batch.reset();
      const n = driver.receive(this.batch);
      if (n === 0) break;
      // the engine yields mid-batch to send tunnelled GSO segments in order and to free the pool
      for (let from = 0; ;) {
        from = this.engine.processBatchFrom(this.batch, nowMs, from);
        driver.complete(this.batch);
        if (from >= this.batch.count) break;
        this.batch.retire(from);
      }
      total += n;
    }
    this.engine.tick(nowMs);
    this.rates.tick(nowMs);
    return total;
  }
}
