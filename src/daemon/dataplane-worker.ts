/**
 * Entry of the data-plane worker thread: builds the driver and the DataPlane and serves the control
 * thread's messages (worker-protocol.ts). Nothing here runs per packet.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DataPlane, monotonicMs, type WakingDriver } from './dataplane.js';
import { planeDeps } from './plane-deps.js';
import { SyncManager } from '../sync/manager.js';
import { servicesView } from './services-view.js';
import { MemoryWire } from '../io/memory.js';
import { AfPacketDriver } from '../io/afpacket.js';
import { SLOT_SIZE_GSO } from '../packet/frame.js';
import type { FromWorker, ToWorker, WorkerOptions } from './worker-protocol.js';
import { warmUpDataPlane } from './warmup.js';
import { captureTable, restoreTable } from './persist.js';
import { dumpConnections, restoreConnections, restoreFullnat } from './handover.js';
import { FlowOffload } from '../core/offload.js';
import { native } from '../io/native.js';

function makeDriver(opts: WorkerOptions): WakingDriver {
  if (opts.driver === 'memory') return new MemoryWire();
  return new AfPacketDriver(opts.rxRingFrames !== undefined ? { rxRingFrames: opts.rxRingFrames } : {});
}

/**
 * The data-plane thread's OS settings (real interfaces only): its name (top -H, perf and
 * /proc/PID/task/TID/comm show lvsd-dataplane), its nice value (--dataplane-nice: ahead of the
 * control plane under CPU contention, as the kernel's IPVS runs in softirq ahead of every process;
 * a negative one needs CAP_SYS_NICE) and its CPUs (--dataplane-cpu). A setting the kernel refuses is
 * logged and left as it was. Returns the thread id when the thread was pinned.
 */
function tuneThread(opts: WorkerOptions, post: (m: FromWorker) => void): number | undefined {
  if (opts.driver === 'memory') return undefined;
  const apply = (what: string, fields: Record<string, unknown>, set: () => number): number | undefined => {
    try {
      const tid = set();
      post({ t: 'log', level: 'info', msg: `data-plane thread ${what} set`, fields: { tid, ...fields } });
      return tid;
    } catch (e) {
      post({
        t: 'log',
        level: 'warn',
        msg: `data-plane thread ${what} not set`,
        fields: { ...fields, error: String(e) },
      });
      return undefined;
    }
  };
  try {
    native.setThreadName('lvsd-dataplane');
  } catch {
    /* cosmetic */
  }
  const nice = opts.dataplaneNice ?? 0;
  if (nice !== 0) apply('priority', { nice }, () => native.setThreadNice(nice));
  const cpus = opts.dataplaneCpus;
  return cpus ? apply('CPUs', { cpus }, () => native.setThreadAffinity(cpus)) : undefined;
}

async function run(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('dataplane-worker must run in a worker thread');
  const opts = workerData as WorkerOptions;
  const post = (m: FromWorker): void => port.postMessage(m);
  // On real interfaces, have V8 compile the packet path before the first real packet (warmup.ts);
  // LVSD_NO_WARMUP=1 skips it (profiling the cold path). The in-memory driver is for tests: skipped.
  if (opts.driver !== 'memory' && opts.warmup !== false && process.env['LVSD_NO_WARMUP'] !== '1') {
    const w = warmUpDataPlane({ batchSize: opts.batchSize, slotSize: SLOT_SIZE_GSO });
    post({ t: 'log', level: 'debug', msg: 'data plane warmed up', fields: { ...w } });
  }
  const pinnedTid = tuneThread(opts, post);
  const driver = makeDriver(opts);
  const plane = new DataPlane(driver, planeDeps, {
    maxConns: opts.maxConns,
    batchSize: opts.batchSize,
    slotSize: opts.driver === 'memory' ? undefined : SLOT_SIZE_GSO,
  } as ConstructorParameters<typeof DataPlane>[2]);
  // the connection sync daemon lives here, next to the table it reads and writes (sync/manager.ts);
  // plane-deps finds it for ipvsadm and ticks it
  const sync = new SyncManager(plane.director, {
    log: (level, msg, fields) => post({ t: 'log', level, msg, ...(fields ? { fields } : {}) }),
  });

  // kernel fast path for established DR flows (core/offload.ts); requests go to the control thread
  if ((opts.offloadThreshold ?? 0) > 0) {
    const d = plane.director;
    const off = new FlowOffload(d.conns, d.net, { thresholdPkts: opts.offloadThreshold! });
    off.destUsable = (destId) => d.engine.destUsable(destId);
    d.engine.offload = off;
    plane.onOffload = (c) => post({ t: 'offload', add: c.add, del: c.del });
  }

  const handle = (m: ToWorker): unknown => {
    switch (m.t) {
      case 'ipvsadm':
        return plane.ipvsadm(m.argv, m.stdin);
      case 'fwmark':
        return plane.fwmark(m.argv);
      case 'commit':
        plane.commit();
        return null;
      case 'spec':
        return plane.currentSpec();
      case 'net':
        plane.setCapture(m.capture);
        plane.setLocal(m.local);
        plane.applyNet(m.model);
        return plane.currentSpec();
      case 'filter':
        plane.setFilter(m.prog);
        return null;
      case 'status':
        return {
          ...plane.status(),
          sync: sync.status(),
          cpus: pinnedTid !== undefined ? opts.dataplaneCpus : null,
        };
      case 'services':
        return servicesView(plane.director);
      case 'stop':
        sync.close();
        plane.close();
        return null;
      case 'table-save':
        return captureTable(plane.director);
      case 'table-restore': {
        const r = restoreTable(plane.director, m.content, monotonicMs());
        plane.commit();
        return r;
      }
      case 'handover-dump':
        plane.close(); // capture stops here: nothing moves after the dump
        return dumpConnections(plane.director, monotonicMs());
      case 'handover-restore': {
        const now = monotonicMs();
        const r = restoreConnections(plane.director, m.data, now);
        return m.fullnat ? { ...r, fullnat: restoreFullnat(plane.director, m.fullnat, now) } : r;
      }
      case 'offload-installed':
        plane.director.engine.offload?.installed(m.keys, m.failed, monotonicMs());
        return null;
      case 'offload-counters': {
        const engine = plane.director.engine;
        const now = monotonicMs();
        engine.offload?.applyCounters(m.rows, (h, p, b) => engine.creditOffloaded(h, p, b, now), m.retire);
        return null;
      }
    }
    return null;
  };

  port.on('message', (m: ToWorker) => {
    try {
      const result = handle(m);
      post({ t: 'reply', id: m.id, ok: true, result });
      if (m.t === 'stop') port.close();
    } catch (e) {
      const err = e as { code?: unknown; message?: unknown };
      post({
        t: 'reply',
        id: m.id,
        ok: false,
        error: {
          code: typeof err.code === 'string' ? err.code : 'ERR_LVS_INTERNAL',
          message: typeof err.message === 'string' ? err.message : String(e),
        },
      });
    }
  });
  plane.start();
  post(pinnedTid !== undefined ? { t: 'ready', tid: pinnedTid } : { t: 'ready' });
}

run().catch((e: unknown) => {
  parentPort?.postMessage({
    t: 'log',
    level: 'error',
    msg: 'data plane failed to start',
    fields: { error: String(e) },
  });
  process.exitCode = 1;
  parentPort?.close();
});
