/**
 * The lvsd daemon's control thread: ordered start and stop of its parts, the control socket, and the
 * order in which table changes reach steering and the engine.
 *
 * Start: control socket (refuses a second daemon in the namespace) -> network mirror -> data-plane
 * worker (gets the mirror's model and the interfaces to capture) -> steering (stale table removed,
 * fresh table installed). Stop runs the same list backwards, so steering is gone before the data plane
 * stops taking packets: nothing is left in the kernel, and service traffic returns to the kernel.
 *
 * A table change: worker applies it with the engine's snapshot held -> steering removes what the
 * change dropped -> worker commits (engine adopts) -> steering adds what the change introduced.
 */
import { readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type net from 'node:net';
import { ControlServer } from '../control/server.js';
import { isNoDaemon } from '../control/client.js';
import {
  CONTROL_ADDRESS,
  type ControlRequest,
  type IpvsadmArgs,
  type IpvsadmResult,
  type PingResult,
} from '../control/protocol.js';
import { LvsError } from '../errors.js';
import { canonicalAddressText, formatAddress } from '../packet/addr.js';
import { Logger } from './log.js';
import { allowedCpus, controlCpus } from './cpus.js';
import { native } from '../io/native.js';
import { netnsInode } from './paths.js';
import type { FromWorker, ToWorker, WorkerOptions } from './worker-protocol.js';
import type { LocalAddresses, SteeringSpec } from '../io/steering.js';
import { HANDOVER_EXIT_STATUS, RestartController, noStateError, type HandoverReply } from './restart.js';
import type { SdNotifier } from './sd-notify.js';
import type { OffloadCounterRow, OffloadFlow } from '../core/offload.js';

export const LVSD_VERSION = '0.1.0';

/** Steering backend as the daemon drives it (nftables now); specs come from the data plane. */
export interface SteeringBackend {
  /** Remove a stale table and install `spec`. */
  start(spec: SteeringSpec): Promise<void>;
  /** Remove what `next` no longer contains. */
  applyRemovals(next: SteeringSpec): Promise<void>;
  /** Add what `next` contains that is not installed yet (devices included). */
  applyAdditions(next: SteeringSpec): Promise<void>;
  stop(): Promise<void>;
  status(): unknown;
  /** The socket filter for the same spec, or null to capture everything. */
  socketFilter(spec: SteeringSpec): Uint8Array | null;
  /** start() replacing a stale table and its device chains in one transaction (restart.ts) */
  replace?(spec: SteeringSpec, handover?: unknown): Promise<void>;
  /** what the next daemon's replace() needs when this one hands over without removing steering */
  handoverState?(): Record<string, unknown>;
  /** packets the steering rules dropped so far (-1 unknown) */
  droppedPackets?(): Promise<number>;
  /** kernel fast path for established DR flows (core/offload.ts), when the backend has one */
  offload?: OffloadBackend;
}

export interface OffloadBackend {
  /** install; resolves with the keys that were NOT installed */
  add(flows: readonly OffloadFlow[]): Promise<string[]>;
  /** withdraw: the flows leave the filter's exclusions, `beforeKernel` runs, then the kernel forgets them */
  remove(flows: readonly OffloadFlow[], beforeKernel?: () => Promise<void>): Promise<void>;
  counters(): Promise<OffloadCounterRow[]>;
  /** flows installed now */
  count(): number;
  /** the socket filter for the last spec with the current exclusions (null before the first) */
  filter(): Uint8Array | null;
}

/** Source of the network model (rtnetlink mirror). */
export interface NetSource {
  start(onChange: () => void): Promise<void>;
  model(): unknown;
  /** Interfaces to capture: up, non-loopback, not a bridge/bond slave. */
  capture(): { ifindex: number; name: string }[];
  /** Non-loopback interfaces that exist at all (the daemon exits when none is left). */
  nonLoopbackCount(): number;
  /** Local addresses, for steering's "VIP is configured here" and the own-address exception. */
  local(): LocalAddresses;
  stop(): void;
}

export interface DaemonParts {
  steering: SteeringBackend | null;
  net: NetSource | null;
  /** SO_PEERCRED check; returns a refusal text or null */
  checkPeer(socket: net.Socket): string | null;
}

export interface DaemonOptions {
  driver: WorkerOptions['driver'];
  maxConns: number;
  batchSize: number;
  controlAddress: string;
  /** exit when the namespace has no non-loopback interface left */
  exitWhenNoInterfaces: boolean;
  logger: Logger;
  /** save the table here and hand connections over through it (restart.ts); null: neither */
  stateDir?: string | null;
  /** SO_NETNS_COOKIE of the namespace, guarding the saved state against inode reuse */
  netnsCookie?: string;
  /** `lvsd --takeover`: take table and connections over from the daemon that runs now */
  takeover?: boolean;
  /** systemd notifications (READY, STOPPING, WATCHDOG) */
  notifier?: SdNotifier | null;
  /** client packets after which an established DR flow is forwarded by the kernel (0: never) */
  offloadThreshold?: number;
  /** nice value of the data-plane thread (default DEFAULT_DATAPLANE_NICE; 0 leaves it) */
  dataplaneNice?: number;
  /** CPUs the data-plane thread runs on (sched_setaffinity); absent: wherever the process may */
  dataplaneCpus?: number[];
  /** receive-ring frames per AF_PACKET socket (--rx-ring; 0 = recvmmsg; absent = the driver's default) */
  rxRingFrames?: number;
}

/**
 * Nice value of the data plane's thread by default: 0, the same as the control plane. Measured with
 * 1,000 health checks per second on a saturated 2-vCPU box (bench/README.md), -5 changed little:
 * most of the checks' cost is kernel TCP work in softirq, which no thread priority orders.
 */
export const DEFAULT_DATAPLANE_NICE = 0;

/**
 * Something the daemon runs on top of its table (keepalived mode): started after the data plane and
 * steering are up and before the daemon answers requests, stopped first while the data plane still
 * runs. Its table changes go through Daemon.ipvsadm.
 */
export interface DaemonExtension {
  start(): Promise<void>;
  /**
   * handover: the process exits so that a successor takes table and connections over (lvsd restart,
   * SIGUSR2): leave the table and the addresses as they are (no flush, no omega, no VRRP release)
   */
  stop(opts?: { handover?: boolean }): Promise<void>;
  /**
   * A hand-over is starting: record what the successor needs (keepalived mode: the VRRP instances
   * that are MASTER) before the successor is answered, so it finds the record when it starts.
   */
  prepareHandover?(): void;
  /** `lvsd reload` */
  reload(): Promise<unknown>;
  /** added to `lvsd status` as `keepalived` */
  status(): unknown;
}

export const DEFAULT_DAEMON_OPTIONS: Omit<DaemonOptions, 'logger'> = {
  driver: 'afpacket',
  maxConns: 1 << 20,
  batchSize: 64,
  controlAddress: CONTROL_ADDRESS,
  exitWhenNoInterfaces: true,
};

/** After this many refused install transactions in a row the daemon stops offloading. */
const OFFLOAD_MAX_REFUSALS = 3;

export class Daemon {
  private server: ControlServer | null = null;
  private worker: Worker | null = null;
  /** the CPUs lvsd's threads but the data plane's run on (--dataplane-cpu); null: not pinned */
  private controlCpus: number[] | null = null;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextCall = 1;
  private stopping: Promise<void> | null = null;
  private readonly startedAt = new Date().toISOString();
  private netSync: Promise<void> = Promise.resolve();
  private steeringUp = false;
  /** table changes (control requests and the extension's) run one at a time, in order */
  private tableQueue: Promise<unknown> = Promise.resolve();
  private extension: DaemonExtension | null = null;
  private hadInterfaces = false;
  /** restart support (null without a state directory) */
  private readonly restart: RestartController | null;
  /** capture waits until table and connections are restored */
  private captureHeld = false;
  private handingOver = false;
  /** DR flow offload: kernel changes run one at a time; counters are polled every second */
  private offloadQueue: Promise<void> = Promise.resolve();
  private offloadTimer: NodeJS.Timeout | null = null;
  /** consecutive install transactions the kernel refused */
  private offloadRefusals = 0;
  /** called after every network change the mirror reports (localAddresses() may differ) */
  private readonly netListeners = new Set<() => void>();
  /** canonical addresses VRRP is adding: steered as if local (expectLocalAddresses) */
  private readonly expectedLocal = new Set<string>();
  /** process exit status the daemon asks for (HANDOVER_EXIT_STATUS after a SIGUSR2 hand-over) */
  exitCode = 0;
  readonly log: Logger;
  /** resolves when the daemon has fully stopped */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  /** settles when start() finished; requests wait for it so none sees a half-started daemon */
  private readonly ready: Promise<void>;
  private markReady!: (ok: boolean) => void;

  constructor(
    private readonly opts: DaemonOptions,
    private readonly parts: DaemonParts,
  ) {
    this.log = opts.logger;
    this.stopped = new Promise((r) => (this.markStopped = r));
    this.ready = new Promise<boolean>((r) => (this.markReady = r)).then((ok) => {
      if (!ok) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'lvsd failed to start; see its log');
    });
    this.ready.catch(() => {});
    const dir = opts.stateDir ?? null;
    this.restart = dir
      ? new RestartController(
          { call: (m) => this.call(m), log: this.log, steering: parts.steering },
          dir,
          opts.netnsCookie ?? '',
        )
      : null;
    this.captureHeld = this.restart !== null;
  }

  /** Attach the extension before start(). */
  setExtension(ext: DaemonExtension): void {
    this.extension = ext;
  }

  async start(): Promise<void> {
    const log = this.log;
    log.info('starting', { pid: process.pid, netns: netnsInode(), driver: this.opts.driver });
    const takeover = this.opts.takeover === true && this.restart !== null;
    // the control socket is the one-daemon lock; a takeover binds it once the old daemon let go
    if (!takeover) await this.listen(0);
    try {
      await this.startWorker();
      if (this.parts.net) {
        await this.parts.net.start(() => this.onNetChange());
        await this.pushNet();
      }
      let steeringHandover: unknown;
      if (this.restart) {
        await this.restart.restoreTable();
        let reply: HandoverReply | null = null;
        if (takeover) {
          try {
            reply = await this.restart.requestHandover(this.opts.controlAddress);
          } catch (e) {
            if (!isNoDaemon(e)) throw e;
            log.info('no running daemon to take over from; starting afresh');
          }
          await this.listen(10000);
        }
        steeringHandover = await this.restart.takeConnections(reply);
        this.captureHeld = false;
        if (this.parts.net) await this.pushNet();
        await this.restart.captureStarted();
      }
      if (this.parts.steering) {
        const st = this.parts.steering;
        const spec = (await this.call({ t: 'spec', id: 0 })) as SteeringSpec;
        if (st.replace) await st.replace(spec, steeringHandover);
        else await st.start(spec);
        this.steeringUp = true;
        await this.call({ t: 'filter', id: 0, prog: st.socketFilter(spec) });
        if (st.offload && this.opts.offloadThreshold) {
          this.offloadTimer = setInterval(() => this.pollOffload(), 1000);
          this.offloadTimer.unref();
        }
      }
      if (this.restart) await this.restart.persist();
      if (this.extension) await this.extension.start();
    } catch (e) {
      log.error('start failed', { error: String(e) });
      this.markReady(false);
      await this.stop();
      throw e;
    }
    this.markReady(true);
    log.info('started', { control: this.opts.controlAddress.replace('\0', '@') });
    const n = this.opts.notifier;
    if (n?.enabled) {
      n.notify(`READY=1\nMAINPID=${process.pid}\nSTATUS=lvsd running`);
      n.startWatchdog(() => this.workerAlive(n.watchdogUsec / 2000));
    }
  }

  /**
   * The data plane asks to install (add) or withdraw (del) kernel fast-path flows (core/offload.ts).
   * Order, so that no frame is lost: on install the kernel element comes first (lvsd drops the
   * copies it still sees), then the socket filter stops copying; on withdrawal the socket filter lets
   * the frames up again first (the worker already forwards them), then the element goes.
   */
  private offloadRequest(add: OffloadFlow[], del: OffloadFlow[]): void {
    const off = this.parts.steering?.offload;
    this.offloadQueue = this.offloadQueue
      .then(async () => {
        if (!off || !this.steeringUp || this.stopping || this.handingOver) {
          if (add.length)
            await this.call({ t: 'offload-installed', id: 0, keys: [], failed: add.map((f) => f.key) });
          return;
        }
        if (del.length) {
          // their last kernel counters first, so a flow's final second is not lost from the stats
          const rows = await off.counters();
          await this.call({ t: 'offload-counters', id: 0, rows, retire: del.map((f) => f.key) });
        }
        if (del.length)
          await off.remove(del, async () => {
            await this.call({ t: 'filter', id: 0, prog: off.filter() });
          });
        if (add.length && this.offloadRefusals >= OFFLOAD_MAX_REFUSALS) {
          // the kernel refused every attempt (e.g. no nft_fwd_netdev): stop asking it
          await this.call({ t: 'offload-installed', id: 0, keys: [], failed: add.map((f) => f.key) });
          return;
        }
        if (add.length) {
          const failed = await off.add(add);
          if (failed.length === add.length) {
            if (++this.offloadRefusals === OFFLOAD_MAX_REFUSALS)
              this.log.warn('the kernel refused the DR fast path every time; DR flows stay in lvsd');
          } else this.offloadRefusals = 0;
          const bad = new Set(failed);
          await this.call({
            t: 'offload-installed',
            id: 0,
            keys: add.filter((f) => !bad.has(f.key)).map((f) => f.key),
            failed,
          });
          if (failed.length < add.length) await this.call({ t: 'filter', id: 0, prog: off.filter() });
        }
      })
      .catch((e: unknown) => this.log.warn('offload update failed', { error: String(e) }));
  }

  /** Kernel counters of offloaded flows into the data plane's statistics (every second). */
  private pollOffload(): void {
    const off = this.parts.steering?.offload;
    if (!off || off.count() === 0) return;
    this.offloadQueue = this.offloadQueue
      .then(async () => {
        if (this.stopping || this.handingOver) return;
        const rows: OffloadCounterRow[] = await off.counters();
        if (rows.length) await this.call({ t: 'offload-counters', id: 0, rows });
      })
      .catch((e: unknown) => this.log.warn('offload counters failed', { error: String(e) }));
  }

  /** Bind the control socket; with waitMs > 0 retry while another daemon (the one handing over) holds it. */
  private async listen(waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const server = new ControlServer((r) => this.handle(r), this.parts.checkPeer, this.opts.controlAddress);
      try {
        await server.listen();
        this.server = server;
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
        if (Date.now() >= deadline)
          throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'lvsd is already running in this network namespace');
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** The data plane answered within ms (watchdog). */
  private async workerAlive(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([this.call({ t: 'status', id: 0 }).then(() => true), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Graceful restart, old side: stop capturing, dump connections and table to the state directory and
   * stop WITHOUT removing steering (restart.ts). `signal`: SIGUSR2, exit with HANDOVER_EXIT_STATUS so
   * a supervisor starts the successor.
   */
  async handOver(reason: 'request' | 'signal'): Promise<HandoverReply> {
    if (!this.restart) throw noStateError();
    if (this.handingOver || this.stopping) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'lvsd is stopping');
    await this.ready;
    this.handingOver = true;
    this.opts.notifier?.notify('STOPPING=1\nSTATUS=handing over');
    try {
      this.extension?.prepareHandover?.();
      const reply = await this.restart.handOver();
      this.server?.unlisten(); // the successor may bind @lvsd while we answer and stop
      if (reason === 'signal') this.exitCode = HANDOVER_EXIT_STATUS;
      setImmediate(() => void this.stop({ keepSteering: true }));
      return reply;
    } catch (e) {
      // nothing was handed over: keep serving is impossible (capture stopped), so stop cleanly
      this.log.error('hand-over failed', { error: String(e) });
      setImmediate(() => void this.stop());
      throw e;
    }
  }

  /**
   * `--dataplane-cpu`: this (the control) thread moves to the other CPUs before it starts the worker,
   * so the threads it starts later (the health checks' probe thread, libuv's pool) stay off the
   * data plane's CPUs too; the worker then pins itself to them (dataplane-worker.ts).
   */
  private keepOffDataplaneCpus(dataplane: number[]): void {
    const allowed = allowedCpus();
    const rest = allowed ? controlCpus(allowed, dataplane) : null;
    if (rest === null) {
      this.log.warn('no CPU left for the control plane besides --dataplane-cpu: it shares them', {
        dataplane,
        allowed,
      });
      return;
    }
    try {
      native.setThreadAffinity(rest);
      this.controlCpus = rest;
      this.log.info('control plane kept off the data-plane CPUs', { control: rest, dataplane });
    } catch (e) {
      this.log.warn('control plane CPUs not set', { cpus: rest, error: String(e) });
    }
  }

  /**
   * The threads that existed before the control thread moved (V8's platform workers, which run
   * both isolates' concurrent GC; libuv's pool) follow it: every thread of the process but the
   * data plane's gets the control plane's CPUs.
   */
  private moveThreadsOffDataplane(dataplaneTid: number): void {
    if (this.controlCpus === null) return;
    let moved = 0;
    for (const name of readdirSync('/proc/self/task')) {
      const tid = Number(name);
      if (tid === dataplaneTid) continue;
      try {
        native.setThreadAffinity(this.controlCpus, tid);
        moved++;
      } catch {
        // a thread that exited meanwhile
      }
    }
    this.log.debug('threads kept off the data-plane CPUs', { moved, dataplaneTid, cpus: this.controlCpus });
  }

  private startWorker(): Promise<void> {
    if (this.opts.dataplaneCpus && this.opts.driver !== 'memory')
      this.keepOffDataplaneCpus(this.opts.dataplaneCpus);
    const workerOpts: WorkerOptions = {
      driver: this.opts.driver,
      maxConns: this.opts.maxConns,
      batchSize: this.opts.batchSize,
      // the kernel fast path needs the nft backend
      offloadThreshold: this.parts.steering?.offload ? (this.opts.offloadThreshold ?? 0) : 0,
      dataplaneNice: this.opts.dataplaneNice ?? DEFAULT_DATAPLANE_NICE,
      ...(this.opts.dataplaneCpus ? { dataplaneCpus: this.opts.dataplaneCpus } : {}),
      ...(this.opts.rxRingFrames !== undefined ? { rxRingFrames: this.opts.rxRingFrames } : {}),
      // connections handed over by a daemon that already exited (SIGUSR2) wait with nothing
      // capturing: start capturing sooner, with a cold JIT, rather than warm up first
      ...(this.restart?.handoverPending() && !this.opts.takeover ? { warmup: false } : {}),
    };
    const w = new Worker(new URL('./dataplane-worker.js', import.meta.url), { workerData: workerOpts });
    this.worker = w;
    return new Promise((resolve, reject) => {
      w.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          if (m.tid !== undefined) this.moveThreadsOffDataplane(m.tid);
          resolve();
        } else if (m.t === 'log') this.log.log(m.level, m.msg, m.fields);
        else if (m.t === 'offload') this.offloadRequest(m.add, m.del);
        else if (m.t === 'reply') {
          const c = this.calls.get(m.id);
          if (!c) return;
          this.calls.delete(m.id);
          if (m.ok) c.resolve(m.result);
          else c.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        }
      });
      w.on('error', (e) => {
        this.log.error('data plane worker failed', { error: String(e) });
        reject(e);
        void this.stop();
      });
      w.on('exit', (code) => {
        for (const c of this.calls.values()) c.reject(new Error('data plane worker exited'));
        this.calls.clear();
        this.worker = null;
        if (!this.stopping) {
          this.log.error('data plane worker exited unexpectedly', { code });
          reject(new Error(`data plane worker exited with ${code}`));
          void this.stop();
        }
      });
    });
  }

  private call(m: ToWorker): Promise<unknown> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error('data plane is not running'));
    const id = this.nextCall++;
    const msg = { ...m, id } as ToWorker;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      w.postMessage(msg);
    });
  }

  /**
   * Addresses about to be added (expected = true) count as local for steering from now on, and stop
   * counting once removed (false); resolves when steering was brought up to date. VRRP calls it
   * before it adds a VIP and after it removed one: the moment the kernel holds a VIP it answers for
   * it (a peer director forwards the VIP's traffic to it as soon as the address exists), so its
   * service traffic must already be steered, or the kernel resets every connection to those ports.
   */
  async expectLocalAddresses(addresses: string[], expected: boolean): Promise<void> {
    for (const a of addresses) {
      const key = canonicalAddressText(a);
      if (expected) this.expectedLocal.add(key);
      else this.expectedLocal.delete(key);
    }
    await this.queueNetPush();
  }

  /** The mirror's local addresses plus those VRRP is about to add (expectLocalAddresses). */
  private steeringLocal(l: LocalAddresses): LocalAddresses {
    if (this.expectedLocal.size === 0) return l;
    // duplicates are harmless: deriveSteering canonicalises and de-duplicates the list
    const v4: (string | number)[] = [...(l.addrs4 ?? [])];
    const v6: (string | ArrayLike<number>)[] = [...(l.addrs6 ?? [])];
    for (const a of this.expectedLocal) (a.includes(':') ? v6 : v4).push(a);
    return { addrs4: v4, addrs6: v6 };
  }

  /**
   * Resolve true once the network mirror has every address of `addresses` and the steering update
   * that followed it is applied (VRRP announces a VIP only then), or false after `timeoutMs`.
   */
  async waitLocalAddresses(addresses: string[], timeoutMs = 2000): Promise<boolean> {
    if (!this.parts.net) return true;
    const wanted = addresses.map(canonicalAddressText);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const have = new Set((this.localAddresses() ?? []).map(canonicalAddressText));
      if (wanted.every((a) => have.has(a))) {
        // the change that brought them queued its steering update on netSync
        await this.netSync;
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Every address configured in this namespace now (the mirror's view); null without a mirror. */
  localAddresses(): string[] | null {
    const net = this.parts.net;
    if (!net) return null;
    const l = net.local();
    const v4 = (a: string | number): string =>
      typeof a === 'string' ? a : formatAddress(4, Uint32Array.of(a));
    const v6 = (a: string | ArrayLike<number>): string =>
      typeof a === 'string' ? a : formatAddress(6, Uint32Array.from(a));
    return [...(l.addrs4 ?? []).map(v4), ...(l.addrs6 ?? []).map(v6)];
  }

  /** Run `fn` after every network change (links, addresses, routes, neighbours); returns the unsubscribe. */
  onNetworkChange(fn: () => void): () => void {
    this.netListeners.add(fn);
    return () => this.netListeners.delete(fn);
  }

  private onNetChange(): void {
    for (const fn of this.netListeners) {
      try {
        fn();
      } catch (e) {
        this.log.warn('network change listener failed', { error: String(e) });
      }
    }
    void this.queueNetPush();
  }

  /** Push the network model (and the steering that follows from it) after those queued before. */
  private queueNetPush(): Promise<void> {
    this.netSync = this.netSync
      .then(() => this.pushNet())
      .catch((e: unknown) => this.log.warn('network update failed', { error: String(e) }));
    return this.netSync;
  }

  /** Send the mirror's model to the data plane, then follow up steering for changed local addresses. */
  private async pushNet(): Promise<void> {
    const net = this.parts.net;
    if (!net || this.stopping || this.handingOver) return;
    // "left": a daemon started before the namespace got its interfaces waits for them
    const count = net.nonLoopbackCount();
    if (count > 0) this.hadInterfaces = true;
    if (this.opts.exitWhenNoInterfaces && count === 0 && this.hadInterfaces) {
      this.log.info('no non-loopback interface left in the namespace; exiting');
      void this.stop({ removeState: true });
      return;
    }
    const capture = this.captureHeld ? [] : net.capture();
    const spec = (await this.call({
      t: 'net',
      id: 0,
      model: net.model(),
      capture,
      local: this.steeringLocal(net.local()),
    })) as SteeringSpec;
    // before steering has started (daemon start) the spec is installed by start()
    if (this.parts.steering && this.steeringUp) await this.applySpec(spec);
  }

  /** Bring steering to `spec` (both directions) and update the socket filter. */
  private async applySpec(spec: SteeringSpec): Promise<void> {
    const st = this.parts.steering;
    if (!st) return;
    await st.applyRemovals(spec);
    await st.applyAdditions(spec);
    await this.call({ t: 'filter', id: 0, prog: st.socketFilter(spec) });
  }

  private async handle(req: ControlRequest): Promise<unknown> {
    if (req.cmd === 'handover') return this.handOver('request');
    await this.ready;
    if (this.handingOver)
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'lvsd is handing over to a new process; try again');
    switch (req.cmd) {
      case 'ping': {
        const r: PingResult = {
          pid: process.pid,
          version: LVSD_VERSION,
          netns: netnsInode(),
          startedAt: this.startedAt,
        };
        return r;
      }
      case 'ipvsadm':
        return this.exclusive(() => this.tableCommand('ipvsadm', req.args as IpvsadmArgs));
      case 'fwmark':
        return this.exclusive(() => this.tableCommand('fwmark', req.args as IpvsadmArgs));
      case 'reload':
        if (!this.extension)
          throw new LvsError(
            'ERR_LVS_INVALID_ARGUMENT',
            'lvsd runs without a configuration file; nothing to reload',
          );
        return this.extension.reload();
      case 'status':
        return {
          pid: process.pid,
          version: LVSD_VERSION,
          netns: netnsInode(),
          startedAt: this.startedAt,
          control: { rejected: this.server?.rejected ?? 0 },
          dataplane: await this.call({ t: 'status', id: 0 }),
          steering: this.parts.steering?.status() ?? null,
          ...(this.restart ? { restart: this.restart.status() } : {}),
          ...(this.extension ? { keepalived: this.extension.status() } : {}),
        };
      case 'services':
        return this.call({ t: 'services', id: 0 });
      case 'stop':
        setImmediate(() => void this.stop());
        return { stopping: true };
      default:
        throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `unsupported command '${req.cmd}'`);
    }
  }

  /** Run f after every table change queued before it, and before any queued after it. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const p = this.tableQueue.then(f);
    this.tableQueue = p.catch(() => {});
    return p;
  }

  /**
   * The internal ipvsadm entry point (keepalived mode): the same path as a control request, queued
   * with them. `stdin` is for -R.
   */
  ipvsadm(argv: string[], stdin?: string): Promise<IpvsadmResult> {
    return this.exclusive(() =>
      this.tableCommand('ipvsadm', { argv, ...(stdin !== undefined ? { stdin } : {}) }),
    );
  }

  /** An ipvsadm or fwmark command: applied in the data plane, steering ordered around the commit. */
  private async tableCommand(kind: 'ipvsadm' | 'fwmark', args: IpvsadmArgs): Promise<IpvsadmResult> {
    if (!args || !Array.isArray(args.argv) || !args.argv.every((a) => typeof a === 'string'))
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `${kind}: argv must be an array of strings`);
    if (args.stdin !== undefined && typeof args.stdin !== 'string')
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `${kind}: stdin must be a string`);
    const out = (await this.call({
      t: kind,
      id: 0,
      argv: args.argv,
      ...(args.stdin !== undefined ? { stdin: args.stdin } : {}),
    })) as { result: IpvsadmResult & { changed: boolean }; spec: SteeringSpec };
    const r = out.result;
    if (r.changed) {
      const st = this.parts.steering;
      try {
        if (st) await st.applyRemovals(out.spec);
      } finally {
        await this.call({ t: 'commit', id: 0 });
      }
      if (st) {
        await st.applyAdditions(out.spec);
        await this.call({ t: 'filter', id: 0, prog: st.socketFilter(out.spec) });
      }
      this.log.info('table changed', { argv: args.argv, code: r.code });
      await this.restart?.persist();
    }
    return { stdout: r.stdout, stderr: r.stderr, code: r.code };
  }

  /**
   * Ordered stop; safe to call more than once and from any state. keepSteering: a hand-over leaves
   * the nftables table to the successor; removeState: the namespace is gone, forget the saved table.
   */
  stop(opts: { keepSteering?: boolean; removeState?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping', opts);
      this.opts.notifier?.stopWatchdog();
      if (this.offloadTimer) clearInterval(this.offloadTimer);
      this.offloadTimer = null;
      if (!opts.keepSteering) this.opts.notifier?.notify('STOPPING=1');
      if (opts.removeState) this.restart?.removeState();
      const step = async (name: string, f: () => Promise<unknown> | unknown): Promise<void> => {
        try {
          await f();
        } catch (e) {
          this.log.warn(`stop: ${name} failed`, { error: String(e) });
        }
      };
      await step('keepalived', () => this.extension?.stop({ handover: opts.keepSteering === true }));
      await step('control socket', () => this.server?.close());
      await step('steering', () =>
        this.steeringUp && !opts.keepSteering ? this.parts.steering?.stop() : undefined,
      );
      this.steeringUp = false;
      await step('data plane', async () => {
        if (!this.worker) return;
        const w = this.worker;
        const exited = new Promise((r) => w.once('exit', r));
        await Promise.race([this.call({ t: 'stop', id: 0 }), new Promise((r) => setTimeout(r, 2000))]);
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
        if (this.worker) await w.terminate();
      });
      await step('network mirror', () => this.parts.net?.stop());
      this.log.info('stopped');
      this.markStopped();
    })();
    return this.stopping;
  }
}
