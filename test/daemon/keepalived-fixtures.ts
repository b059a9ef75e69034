/**
 * Hand-made keepalived.conf models for the runtime's tests (the parser is tested on its own), a
 * memory-driver Daemon to run them on, and a scripted health checker.
 */
import { defaultGlobalDefs } from '../../src/config/keywords-global.js';
import type {
  GlobalDefs,
  KeepalivedConfig,
  LoadResult,
  RealServer,
  VirtualServer,
  VirtualServerGroup,
} from '../../src/config/model.js';
import type { IpvsActions } from '../../src/health/actions.js';
import { Daemon, DEFAULT_DAEMON_OPTIONS } from '../../src/daemon/daemon.js';
import { Logger } from '../../src/daemon/log.js';
import { KeepalivedRuntime, type HealthLike, type KeepalivedDeps } from '../../src/daemon/keepalived.js';

const LOC = { file: '/etc/keepalived/keepalived.conf', line: 1, column: 1 };

export function rs(address: string, port: number, o: Partial<RealServer> = {}): RealServer {
  return {
    loc: LOC,
    address,
    port,
    family: address.includes(':') ? 6 : 4,
    weight: 1,
    method: 'NAT',
    inhibitOnFailure: false,
    alpha: false,
    upperThreshold: 0,
    lowerThreshold: 0,
    checkers: [],
    ...o,
  };
}

export function vs(target: VirtualServer['target'], o: Partial<VirtualServer> = {}): VirtualServer {
  const protocol = o.protocol ?? 'TCP';
  const name =
    target.type === 'ip'
      ? `[${target.address}]:${protocol.toLowerCase()}:${target.port}`
      : target.type === 'fwmark'
        ? `FWM ${target.mark}`
        : target.group;
  return {
    loc: LOC,
    name,
    target,
    protocol,
    scheduler: 'wlc',
    schedFlags: [],
    ops: false,
    method: 'NAT',
    persistenceTimeout: 0,
    quorum: 1,
    hysteresis: 0,
    sorryServerInhibit: false,
    alpha: false,
    omega: false,
    haSuspend: false,
    realServers: [],
    ...o,
  };
}

export function ipTarget(address: string, port: number): VirtualServer['target'] {
  return { type: 'ip', address, port, family: address.includes(':') ? 6 : 4 };
}

export function globalDefs(o: Partial<GlobalDefs> = {}): GlobalDefs {
  return { ...defaultGlobalDefs(), ...o };
}

export function config(
  virtualServers: VirtualServer[],
  o: { groups?: VirtualServerGroup[]; global?: Partial<GlobalDefs> } = {},
): KeepalivedConfig {
  return {
    files: [LOC.file],
    global: globalDefs(o.global),
    virtualServerGroups: o.groups ?? [],
    virtualServers,
    vrrpInstances: [],
    vrrpScripts: [],
    vrrpSyncGroups: [],
  };
}

/**
 * A health checker that does what the real one does at start/update without checking anything:
 * every real server is up, so it is added with its weight; update adds new, deletes removed and
 * re-weights changed real servers. `onUpdate` runs first in update (to look at the table then).
 */
export class ScriptedHealth implements HealthLike {
  running: KeepalivedConfig | null = null;
  updates = 0;
  stopped = false;
  onUpdate: (() => Promise<void>) | null = null;
  constructor(readonly actions: IpvsActions) {}

  async start(c: KeepalivedConfig): Promise<void> {
    for (const v of c.virtualServers)
      for (const r of v.realServers) await this.actions.addDest(v, r, r.weight);
    this.running = c;
  }

  async update(c: KeepalivedConfig): Promise<void> {
    this.updates++;
    if (this.onUpdate) await this.onUpdate();
    const old = this.running!;
    const key = (r: RealServer): string => `${r.address}|${r.port}`;
    for (const v of c.virtualServers) {
      const was = old.virtualServers.find((x) => x.name === v.name);
      for (const r of v.realServers) {
        const prev = was?.realServers.find((x) => key(x) === key(r));
        if (!prev) await this.actions.addDest(v, r, r.weight);
        else if (prev.weight !== r.weight) await this.actions.editDest(v, r, r.weight);
      }
      for (const r of was?.realServers ?? [])
        if (!v.realServers.some((x) => key(x) === key(r))) await this.actions.delDest(v, r);
    }
    for (const v of old.virtualServers)
      if (!c.virtualServers.some((x) => x.name === v.name))
        for (const r of v.realServers) await this.actions.delDest(v, r);
    this.running = c;
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  status(): unknown {
    return { virtualServers: this.running?.virtualServers.map((v) => ({ name: v.name, state: 'up' })) ?? [] };
  }
}

let seq = 0;

export interface Harness {
  daemon: Daemon;
  runtime: KeepalivedRuntime;
  health: () => ScriptedHealth;
  /** what the next load returns */
  setLoad(r: LoadResult | KeepalivedConfig): void;
  /** what hasVrrpAddresses answers from now on */
  setVrrp(v: boolean): void;
  /** every ipvsadm command line the runtime sent (-R stdin split into lines) */
  sent: string[];
  logs: string[];
  save(): Promise<string>;
  list(): Promise<string>;
  address: string;
  stop(): Promise<void>;
}

/** A memory-driver Daemon with a keepalived runtime whose loader returns what the test sets. */
export async function harness(
  first: LoadResult | KeepalivedConfig,
  o: {
    noVrrp?: boolean;
    vrrp?: boolean;
    start?: boolean;
    attach?: boolean;
    createVrrp?: KeepalivedDeps['createVrrp'];
    vrrpHandoverFile?: string;
    netnsCookie?: string;
  } = {},
): Promise<Harness> {
  const address = `\0lvsd-ka-test-${process.pid}-${seq++}`;
  const logs: string[] = [];
  const logger = new Logger('debug', (l) => logs.push(l));
  const daemon = new Daemon(
    {
      ...DEFAULT_DAEMON_OPTIONS,
      driver: 'memory',
      maxConns: 4096,
      controlAddress: address,
      exitWhenNoInterfaces: false,
      logger,
    },
    { steering: null, net: null, checkPeer: () => null },
  );
  const asLoad = (r: LoadResult | KeepalivedConfig): LoadResult =>
    'exitCode' in r ? r : { config: r, diagnostics: [], exitCode: 0 };
  let next = asLoad(first);
  let health: ScriptedHealth | null = null;
  let vrrp = o.vrrp ?? false;
  const deps: KeepalivedDeps = {
    load: () => next,
    hasVrrpAddresses: () => vrrp,
    createHealth: (actions) => (health = new ScriptedHealth(actions)),
    ...(o.createVrrp ? { createVrrp: o.createVrrp } : {}),
  };
  const sent: string[] = [];
  const table = {
    ipvsadm: (argv: string[], stdin?: string) => {
      if (argv[0] === '-R') sent.push(...(stdin ?? '').split('\n').filter((l) => l !== ''));
      else if (argv[0] !== '-S') sent.push(argv.join(' '));
      return daemon.ipvsadm(argv, stdin);
    },
  };
  const runtime = new KeepalivedRuntime(
    {
      file: '/etc/keepalived/keepalived.conf',
      noVrrp: o.noVrrp ?? false,
      ...(o.vrrpHandoverFile ? { vrrpHandoverFile: o.vrrpHandoverFile } : {}),
      ...(o.netnsCookie !== undefined ? { netnsCookie: o.netnsCookie } : {}),
    },
    deps,
    table,
    logger,
  );
  if (o.attach !== false) daemon.setExtension(runtime);
  if (o.start !== false) await daemon.start();
  return {
    daemon,
    runtime,
    health: () => health!,
    setLoad: (r) => (next = asLoad(r)),
    setVrrp: (v) => (vrrp = v),
    sent,
    logs,
    save: async () => (await daemon.ipvsadm(['-S', '-n'])).stdout,
    list: async () => (await daemon.ipvsadm(['-L', '-n'])).stdout,
    address,
    stop: () => daemon.stop(),
  };
}
