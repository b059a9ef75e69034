/**
 * The VRRP router state machine of one vrrp_instance (RFC 3768 §6.3-6.4, RFC 5798 §6.4) with the
 * keepalived behaviours of keepalived-reference §3 ("Backup receiving an advert", "Master receiving
 * an advert", "Becoming MASTER", "Fault state").
 *
 * Pure logic: time, timers and every side effect (sending adverts, VIPs, gratuitous ARP, notify
 * scripts) are injected, so tests drive it with a fake clock. Times are milliseconds.
 *
 * Invariants:
 * - exactly one of the master-down timer (BACKUP) and the advertisement timer (MASTER) is armed;
 *   none in INIT, FAULT and STOP;
 * - VIPs are held exactly while the state is MASTER (hooks.addVips on entry, removeVips on exit);
 * - the effective priority of an address owner (base 255) is always 255; any other is clamped to
 *   [1, 254] (reference §3.2); priority 0 is only ever sent by a master that is stopping.
 */
import type { VrrpAdvert, VrrpDropReason } from './packet.js';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

/** Milliseconds clock and one-shot timers (real: Date.now/setTimeout; tests: a fake). */
export interface VrrpClock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: VrrpClock = {
  now: () => performance.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Side effects of the machine; the manager implements them on real sockets and `ip`. */
export interface InstanceHooks {
  /** send one advertisement with this priority (the manager fills VRID, addresses, interval) */
  sendAdvert(priority: number): void;
  /** take the virtual addresses (entering MASTER) */
  addVips(): void;
  /** release the virtual addresses (leaving MASTER) */
  removeVips(): void;
  /** send `count` gratuitous ARPs / unsolicited NAs for every VIP */
  gratuitous(count: number): void;
  /** run the notify scripts for a state change (after the VIPs moved) */
  notify(state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP', priority: number): void;
}

/** What the state machine needs of a vrrp_instance (built from the config model by the manager). */
export interface InstanceParams {
  name: string;
  vrid: number;
  version: 2 | 3;
  family: 4 | 6;
  /** configured priority 1..255 */
  priority: number;
  /** configured advert_int, seconds */
  advertInt: number;
  /** configured initial state (keepalived: MASTER below 255 still waits for the down timer) */
  initialState: 'MASTER' | 'BACKUP';
  nopreempt: boolean;
  /** seconds, 0 = none */
  preemptDelay: number;
  /** our primary address on the interface (the advert source), network-order bytes */
  primaryAddress: Uint8Array;
  /** the addresses carried in adverts (virtual_ipaddress), network-order bytes */
  addresses: Uint8Array[];
  /** v2 auth: type (0 none, 1 PASS) and the 8 bytes of auth data */
  authType: number;
  authData: Uint8Array;
  /** keepalived down_timer_adverts, default 3 (RFC) */
  downTimerAdverts?: number;
  garpMasterDelay: number;
  garpMasterRepeat: number;
  garpMasterRefresh: number;
  garpMasterRefreshRepeat: number;
  skipCheckAdvAddr?: boolean;
  higherPrioSendAdvert?: boolean;
  lowerPrioNoAdvert?: boolean;
  /** track_interface entries: weight 0 = FAULT when down */
  trackInterfaces: { name: string; weight: number }[];
  /** track_script entries with their resolved weight (0 = FAULT when KO) */
  trackScripts: { name: string; weight: number }[];
}

/** Implemented by SyncGroup: members ask it before moving so the group moves together. */
export interface SyncCoordinator {
  /** a member's master-down timer expired: the group decides whether everyone becomes MASTER */
  wantMaster(member: VrrpInstanceMachine): void;
  /** a member must go BACKUP (higher-priority master seen) */
  toBackup(member: VrrpInstanceMachine): void;
  /** a member's own fault state changed */
  faultChanged(member: VrrpInstanceMachine): void;
}

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  becameMaster: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  drops: Partial<Record<VrrpDropReason, number>>;
}

/** Counters of an instance that has sent and received nothing yet. */
export function newInstanceCounters(): InstanceCounters {
  return {
    advertsSent: 0,
    advertsReceived: 0,
    becameMaster: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    drops: {},
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0;
}

export class VrrpInstanceMachine {
  state: VrrpState = 'INIT';
  /** master's advertisement interval in centiseconds (v3 learns it from the master's adverts) */
  masterAdverIntervalCs: number;
  /** the current master's address (ours while MASTER), null while unknown */
  masterAddress: Uint8Array | null = null;
  readonly counters: InstanceCounters = newInstanceCounters();
  /** set by SyncGroup */
  sync: SyncCoordinator | null = null;
  /** SyncGroup: held in FAULT because another member is faulty */
  groupFault = false;
  /** the master-down timer expired but the sync group has not let us become MASTER yet */
  downExpired = false;

  private timer: unknown = null;
  /** when the armed timer fires (ms on the clock); for status and tests */
  timerDue = 0;
  private garpTimer: unknown = null;
  private readonly ifUp = new Map<string, boolean>();
  private readonly scriptOk = new Map<string, boolean>();
  /** preempt_delay: lower-priority adverts are accepted until this time (0 = window not open) */
  private preemptUntil = 0;
  /** the instance's own interface is up */
  private linkUp = true;

  constructor(
    readonly params: InstanceParams,
    private readonly clock: VrrpClock,
    private readonly hooks: InstanceHooks,
  ) {
    this.masterAdverIntervalCs = Math.round(params.advertInt * 100);
    for (const t of params.trackInterfaces) this.ifUp.set(t.name, true);
    for (const s of params.trackScripts) this.scriptOk.set(s.name, true);
  }

  get name(): string {
    return this.params.name;
  }

  get isOwner(): boolean {
    return this.params.priority === 255;
  }

  /** Own advertisement interval in centiseconds (v2: whole seconds). */
  get ownIntervalCs(): number {
    const cs = Math.round(this.params.advertInt * 100);
    return this.params.version === 2
      ? Math.max(100, Math.round(cs / 100) * 100)
      : Math.max(1, Math.min(cs, 0xfff));
  }

  /** Priority after trackers: owners stay 255, others clamped to [1, 254]. */
  get effectivePriority(): number {
    const base = this.params.priority;
    if (base === 255) return 255;
    let p = base;
    for (const t of this.params.trackInterfaces) {
      if (t.weight === 0) continue;
      const up = this.ifUp.get(t.name) !== false;
      if (t.weight > 0 && up) p += t.weight;
      if (t.weight < 0 && !up) p += t.weight;
    }
    for (const s of this.params.trackScripts) {
      if (s.weight === 0) continue;
      const ok = this.scriptOk.get(s.name) !== false;
      if (s.weight > 0 && ok) p += s.weight;
      if (s.weight < 0 && !ok) p += s.weight;
    }
    return Math.min(254, Math.max(1, p));
  }

  /** True when a weight-0 tracker (or the instance's own interface) is down. */
  get ownFault(): boolean {
    if (!this.linkUp) return true;
    for (const t of this.params.trackInterfaces)
      if (t.weight === 0 && this.ifUp.get(t.name) === false) return true;
    for (const s of this.params.trackScripts)
      if (s.weight === 0 && this.scriptOk.get(s.name) === false) return true;
    return false;
  }

  get inFault(): boolean {
    return this.ownFault || this.groupFault;
  }

  /** Skew_Time in ms: v2 (256-p)/256 s; v3 ((256-p) x Master_Adver_Interval)/256. */
  skewMs(): number {
    const p = this.effectivePriority;
    if (this.params.version === 2) return ((256 - p) * 1000) / 256;
    return ((256 - p) * this.masterAdverIntervalCs * 10) / 256;
  }

  /** Master_Down_Interval in ms: down_timer_adverts (3) x Master_Adver_Interval + Skew_Time. */
  masterDownMs(): number {
    const n = this.params.downTimerAdverts ?? 3;
    return n * this.masterAdverIntervalCs * 10 + this.skewMs();
  }

  /** Startup (RFC 5798 §6.4.1): owner -> MASTER at once, else BACKUP with the down timer. */
  start(): void {
    if (this.state !== 'INIT' && this.state !== 'STOP') return;
    if (this.params.preemptDelay > 0) this.preemptUntil = this.clock.now() + this.params.preemptDelay * 1000;
    if (this.inFault) {
      this.enterFault();
      return;
    }
    if (this.isOwner) this.enterMaster();
    else this.enterBackup();
  }

  /**
   * Startup after a graceful restart of lvsd in which this instance was MASTER (the predecessor
   * handed over without priority 0 and left the VIPs): stay MASTER without the backup's wait, so
   * the peers see no gap in the adverts longer than the restart itself. A fault still wins.
   */
  resumeMaster(): void {
    if (this.state !== 'INIT' && this.state !== 'STOP') return;
    if (this.inFault) {
      this.enterFault();
      return;
    }
    this.enterMaster();
  }

  /** Shutdown: a master sends priority 0 and releases the VIPs (RFC 5798 §6.4.3). */
  stop(): void {
    const wasMaster = this.state === 'MASTER';
    this.clearTimers();
    if (wasMaster) {
      this.sendAdvert(0);
      this.counters.priorityZeroSent++;
      this.hooks.removeVips();
    }
    this.state = 'STOP';
    this.masterAddress = null;
    this.hooks.notify('STOP', this.effectivePriority);
  }

  /**
   * A valid advertisement for our VRID arrived (decoded by packet.ts). Instance-level checks here
   * (auth, v2 interval, address list, own packet) and the RFC receive rules. Returns the reason
   * when the advert was discarded (also counted), or null.
   */
  receive(adv: VrrpAdvert, src: Uint8Array): VrrpDropReason | null {
    const reason = this.check(adv, src);
    if (reason) {
      this.drop(reason);
      return reason;
    }
    this.counters.advertsReceived++;
    if (adv.priority === 0) this.counters.priorityZeroReceived++;
    switch (this.state) {
      case 'BACKUP':
        return this.backupReceive(adv, src);
      case 'MASTER':
        this.masterReceive(adv, src);
        return null;
      default:
        return null;
    }
  }

  /** A tracked interface (or, with name === own interface, the instance's interface) changed. */
  setInterfaceState(name: string, up: boolean, own = false): void {
    if (own) this.linkUp = up;
    if (this.ifUp.has(name)) this.ifUp.set(name, up);
    this.trackersChanged();
  }

  /** A tracked vrrp_script changed state (after its rise/fall). */
  setScriptState(name: string, ok: boolean): void {
    if (!this.scriptOk.has(name)) return;
    if (this.scriptOk.get(name) === ok) return;
    this.scriptOk.set(name, ok);
    this.trackersChanged();
  }

  /** SyncGroup: hold or release this member in FAULT for another member's fault. */
  setGroupFault(on: boolean): void {
    if (this.groupFault === on) return;
    this.groupFault = on;
    this.applyFault();
  }

  /** SyncGroup: move to MASTER now (the whole group is going). */
  forceMaster(): void {
    if (this.state === 'BACKUP' || this.state === 'INIT') this.enterMaster();
  }

  /** SyncGroup: move to BACKUP now (another member saw a higher-priority master). */
  forceBackup(): void {
    if (this.state === 'MASTER') this.leaveMasterTo('BACKUP');
  }

  private trackersChanged(): void {
    if (this.state === 'STOP' || this.state === 'INIT') return;
    this.applyFault();
    this.sync?.faultChanged(this);
  }

  private applyFault(): void {
    if (this.state === 'STOP' || this.state === 'INIT') return;
    if (this.inFault && this.state !== 'FAULT') {
      this.enterFault();
    } else if (!this.inFault && this.state === 'FAULT') {
      // leaving FAULT: an owner takes over at once, anyone else listens first (keepalived)
      if (this.isOwner) this.enterMaster();
      else this.enterBackup();
    }
  }

  private check(adv: VrrpAdvert, src: Uint8Array): VrrpDropReason | null {
    const p = this.params;
    if (adv.vrid !== p.vrid) return 'unknown_vrid';
    if (adv.version !== p.version) return 'bad_version';
    if (sameBytes(src, p.primaryAddress)) return 'own_packet';
    if (p.version === 2) {
      if (adv.authType !== p.authType) return 'auth_type_mismatch';
      if (p.authType === 1 && !sameBytes(adv.authData, p.authData)) return 'auth_mismatch';
      // RFC 3768 §7.1: a v2 advert with a different interval MUST be discarded
      if (adv.intervalCs !== this.ownIntervalCs) return 'interval_mismatch';
    }
    // keepalived: the address list must match unless vrrp_skip_check_adv_addr; priority 0
    // releases carry the same list, so they are checked too
    if (!p.skipCheckAdvAddr) {
      if (adv.addresses.length !== p.addresses.length) return 'addr_mismatch';
      for (const a of adv.addresses) if (!p.addresses.some((b) => sameBytes(a, b))) return 'addr_mismatch';
    }
    return null;
  }

  private drop(reason: VrrpDropReason): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  private backupReceive(adv: VrrpAdvert, src: Uint8Array): VrrpDropReason | null {
    const now = this.clock.now();
    if (adv.priority === 0) {
      // the master is leaving: take over after Skew_Time only
      this.armDown(this.skewMs());
      return null;
    }
    const own = this.effectivePriority;
    let accept = this.params.nopreempt || adv.priority >= own;
    if (!accept && this.params.preemptDelay > 0) {
      // keepalived preempt_delay: after startup, or after first seeing a lower-priority master,
      // keep accepting its adverts for preempt_delay seconds before preempting
      if (this.preemptUntil === 0) this.preemptUntil = now + this.params.preemptDelay * 1000;
      accept = now < this.preemptUntil;
    }
    if (!accept) {
      // lower priority with preemption: discard; the down timer keeps running and we preempt
      this.drop('lower_priority');
      return 'lower_priority';
    }
    if (adv.priority >= own) this.preemptUntil = 0;
    if (this.params.version === 3) this.masterAdverIntervalCs = Math.max(1, adv.intervalCs);
    this.masterAddress = src.slice();
    this.downExpired = false;
    this.armDown(this.masterDownMs());
    return null;
  }

  private masterReceive(adv: VrrpAdvert, src: Uint8Array): void {
    if (adv.priority === 0) {
      // another router released: re-assert at once
      this.sendAdvert(this.effectivePriority);
      this.armAdvert();
      return;
    }
    const own = this.effectivePriority;
    const higher =
      adv.priority > own || (adv.priority === own && compareBytes(src, this.params.primaryAddress) > 0);
    if (higher) {
      if (this.params.higherPrioSendAdvert) this.sendAdvert(own);
      if (this.params.version === 3) this.masterAdverIntervalCs = Math.max(1, adv.intervalCs);
      if (this.sync) this.sync.toBackup(this);
      if (this.state === 'MASTER') this.leaveMasterTo('BACKUP');
      this.masterAddress = src.slice();
      return;
    }
    // lower priority: stay master; keepalived re-asserts with an advert (lower_prio_no_advert: not)
    if (!this.params.lowerPrioNoAdvert) {
      this.sendAdvert(own);
      this.armAdvert();
    }
  }

  private sendAdvert(priority: number): void {
    this.counters.advertsSent++;
    this.hooks.sendAdvert(priority);
  }

  private clearTimers(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = 0;
    if (this.garpTimer !== null) this.clock.clearTimeout(this.garpTimer);
    this.garpTimer = null;
  }

  private arm(ms: number, fn: () => void): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timerDue = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timerDue = 0;
      fn();
    }, ms);
  }

  private armDown(ms: number): void {
    this.arm(ms, () => this.downTimerExpired());
  }

  private armAdvert(): void {
    this.arm(this.ownIntervalCs * 10, () => {
      if (this.state !== 'MASTER') return;
      this.sendAdvert(this.effectivePriority);
      this.armAdvert();
    });
  }

  private downTimerExpired(): void {
    if (this.state !== 'BACKUP') return;
    if (this.sync) {
      this.downExpired = true;
      this.sync.wantMaster(this);
      return;
    }
    this.enterMaster();
  }

  private enterBackup(): void {
    const from = this.state;
    this.clearTimers();
    this.state = 'BACKUP';
    this.downExpired = false;
    this.masterAdverIntervalCs = this.ownIntervalCs;
    this.armDown(this.masterDownMs());
    if (from !== 'BACKUP') this.hooks.notify('BACKUP', this.effectivePriority);
  }

  private enterMaster(): void {
    this.clearTimers();
    this.state = 'MASTER';
    this.downExpired = false;
    this.preemptUntil = 0;
    this.counters.becameMaster++;
    this.masterAdverIntervalCs = this.ownIntervalCs;
    this.masterAddress = this.params.primaryAddress.slice();
    // reference §3.4 "Becoming MASTER": VIPs, advert, gratuitous ARP burst (and a second after
    // garp_master_delay), then notify
    this.hooks.addVips();
    this.sendAdvert(this.effectivePriority);
    this.armAdvert();
    this.hooks.gratuitous(this.params.garpMasterRepeat);
    this.scheduleGarp();
    this.hooks.notify('MASTER', this.effectivePriority);
  }

  private scheduleGarp(): void {
    const p = this.params;
    let delayMs = 0;
    let repeat = 0;
    let next: (() => void) | null = null;
    if (p.garpMasterDelay > 0) {
      delayMs = p.garpMasterDelay * 1000;
      repeat = p.garpMasterRepeat;
      next = () => this.scheduleRefresh();
    } else if (p.garpMasterRefresh > 0) {
      this.scheduleRefresh();
      return;
    }
    if (!next) return;
    this.garpTimer = this.clock.setTimeout(() => {
      this.garpTimer = null;
      if (this.state !== 'MASTER') return;
      this.hooks.gratuitous(repeat);
      next!();
    }, delayMs);
  }

  private scheduleRefresh(): void {
    const p = this.params;
    if (p.garpMasterRefresh <= 0) return;
    this.garpTimer = this.clock.setTimeout(() => {
      this.garpTimer = null;
      if (this.state !== 'MASTER') return;
      this.hooks.gratuitous(p.garpMasterRefreshRepeat);
      this.scheduleRefresh();
    }, p.garpMasterRefresh * 1000);
  }

  private leaveMasterTo(to: 'BACKUP' | 'FAULT'): void {
    this.clearTimers();
    this.hooks.removeVips();
    if (to === 'BACKUP') {
      this.state = 'BACKUP';
      this.downExpired = false;
      // the master's interval was learnt (v3) just before; v2 uses our own (they must match)
      if (this.params.version === 2) this.masterAdverIntervalCs = this.ownIntervalCs;
      this.armDown(this.masterDownMs());
      this.hooks.notify('BACKUP', this.effectivePriority);
    } else {
      this.state = 'FAULT';
      this.masterAddress = null;
      this.hooks.notify('FAULT', this.effectivePriority);
    }
  }

  private enterFault(): void {
    if (this.state === 'MASTER') {
      this.leaveMasterTo('FAULT');
      return;
    }
    this.clearTimers();
    this.state = 'FAULT';
    this.masterAddress = null;
    this.hooks.notify('FAULT', this.effectivePriority);
  }
}

/**
 * vrrp_sync_group: members move together (reference §3.2). A member's FAULT holds every other
 * member in FAULT; a member going BACKUP pulls the masters with it; the group becomes MASTER only
 * when every member's master-down timer has expired (or it is an owner), so no member preempts a
 * VRID another router still masters.
 */
export class SyncGroup implements SyncCoordinator {
  private moving = false;

  constructor(
    readonly name: string,
    readonly members: VrrpInstanceMachine[],
    private readonly onGroupState?: (state: 'MASTER' | 'BACKUP' | 'FAULT') => void,
  ) {
    for (const m of members) m.sync = this;
  }

  /** Apply member faults present at start (call after the members started). */
  start(): void {
    this.faultChanged();
  }

  wantMaster(_member: VrrpInstanceMachine): void {
    if (this.moving) return;
    const ready = this.members.every(
      (m) => m.state === 'MASTER' || (m.state === 'BACKUP' && (m.downExpired || m.isOwner)),
    );
    if (!ready) return;
    this.moving = true;
    try {
      for (const m of this.members) m.forceMaster();
    } finally {
      this.moving = false;
    }
    this.onGroupState?.('MASTER');
  }

  toBackup(member: VrrpInstanceMachine): void {
    if (this.moving) return;
    this.moving = true;
    try {
      for (const m of this.members) if (m !== member) m.forceBackup();
    } finally {
      this.moving = false;
    }
    this.onGroupState?.('BACKUP');
  }

  faultChanged(_member?: VrrpInstanceMachine): void {
    if (this.moving) return;
    this.moving = true;
    const anyFault = this.members.some((m) => m.ownFault);
    let changed = false;
    try {
      for (const m of this.members) {
        const before = m.state;
        m.setGroupFault(anyFault && !m.ownFault);
        if (m.state !== before) changed = true;
      }
    } finally {
      this.moving = false;
    }
    if (changed) this.onGroupState?.(anyFault ? 'FAULT' : 'BACKUP');
  }
}
