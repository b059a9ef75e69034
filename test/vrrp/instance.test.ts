/**
 * The VRRP state machine against a fake clock: exact RFC timings (Master_Down_Interval =
 * 3 x Master_Adver_Interval + Skew_Time, v2 and v3 skew, the v3 learned interval), the owner,
 * priority-0 release, preemption / nopreempt / preempt_delay, the equal-priority tie on the
 * address, tracker weights and faults, GARP bursts, notify order, sync groups, instance-level
 * rejections, and the vrrp_script rise/fall tracker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncGroup, VrrpInstanceMachine, type InstanceParams } from '../../src/vrrp/instance.js';
import { ScriptTracker } from '../../src/vrrp/script.js';
import { passwordAuthData, type VrrpAdvert } from '../../src/vrrp/packet.js';
import { addressBytes } from '../../src/vrrp/io.js';
import { FakeClock } from './fake-clock.js';
import { script } from './config.js';

const b = (s: string): Uint8Array => addressBytes(s)!;
const VIP = b('10.0.0.100');

interface Rig {
  clock: FakeClock;
  m: VrrpInstanceMachine;
  events: string[];
  adverts: { t: number; prio: number }[];
}

function rig(over: Partial<InstanceParams> = {}, clock = new FakeClock()): Rig {
  const events: string[] = [];
  const adverts: { t: number; prio: number }[] = [];
  const params: InstanceParams = {
    name: 'VI_1',
    vrid: 51,
    version: 2,
    family: 4,
    priority: 100,
    advertInt: 1,
    initialState: 'BACKUP',
    nopreempt: false,
    preemptDelay: 0,
    primaryAddress: b('10.0.0.2'),
    addresses: [VIP],
    authType: 0,
    authData: new Uint8Array(8),
    garpMasterDelay: 5,
    garpMasterRepeat: 5,
    garpMasterRefresh: 0,
    garpMasterRefreshRepeat: 1,
    trackInterfaces: [],
    trackScripts: [],
    ...over,
  };
  const m = new VrrpInstanceMachine(params, clock, {
    sendAdvert: (prio) => {
      adverts.push({ t: clock.now(), prio });
      events.push(`advert ${prio}`);
    },
    addVips: () => events.push('addVips'),
    removeVips: () => events.push('removeVips'),
    gratuitous: (n) => events.push(`garp ${n} @${clock.now()}`),
    notify: (s, p) => events.push(`notify ${s} ${p}`),
  });
  return { clock, m, events, adverts };
}

function adv(over: Partial<VrrpAdvert> = {}): VrrpAdvert {
  return {
    version: 2,
    vrid: 51,
    priority: 100,
    intervalCs: 100,
    addresses: [VIP],
    authType: 0,
    authData: new Uint8Array(8),
    ...over,
  };
}

const PEER = b('10.0.0.9');
const LOWER_PEER = b('10.0.0.1');

test('v2 backup becomes master at exactly 3 x advert + (256 - p)/256 s', () => {
  const { clock, m, events } = rig();
  m.start();
  assert.equal(m.state, 'BACKUP');
  assert.deepEqual(events, ['notify BACKUP 100']);
  const down = 3000 + ((256 - 100) * 1000) / 256; // 3609.375 ms
  assert.equal(m.masterDownMs(), down);
  clock.to(down - 0.001);
  assert.equal(m.state, 'BACKUP');
  clock.to(down);
  assert.equal(m.state, 'MASTER');
  // VIPs, then the advert, then the first GARP burst, then notify (reference §3.4)
  assert.deepEqual(events.slice(1), ['addVips', 'advert 100', `garp 5 @${down}`, 'notify MASTER 100']);
  clock.advance(5000);
  assert.ok(events.includes(`garp 5 @${down + 5000}`), 'second burst after garp_master_delay');
  assert.equal(events.filter((e) => e.startsWith('garp')).length, 2, 'no refresh by default');
});

test('v3 skew scales with the advert interval and a backup learns the master interval', () => {
  const { clock, m } = rig({ version: 3, advertInt: 2 });
  m.start();
  assert.equal(m.masterDownMs(), 6000 + ((256 - 100) * 200 * 10) / 256); // 7218.75
  clock.advance(100);
  assert.equal(m.receive(adv({ version: 3, priority: 200, intervalCs: 50 }), PEER), null);
  assert.equal(m.masterAdverIntervalCs, 50);
  const down = 1500 + ((256 - 100) * 50 * 10) / 256; // 1804.6875
  assert.equal(m.masterDownMs(), down);
  assert.equal(m.timerDue, 100 + down);
  clock.to(100 + down - 0.01);
  assert.equal(m.state, 'BACKUP');
  clock.to(100 + down);
  assert.equal(m.state, 'MASTER');
  assert.equal(m.masterAdverIntervalCs, 200, 'a master advertises its own interval');
});

test('owner (255) is master at once and advertises every interval', () => {
  const { clock, m, events, adverts } = rig({ priority: 255, initialState: 'MASTER' });
  m.start();
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(events, ['addVips', 'advert 255', 'garp 5 @0', 'notify MASTER 255']);
  clock.advance(3000);
  assert.deepEqual(
    adverts.map((a) => a.t),
    [0, 1000, 2000, 3000],
  );
});

test('state MASTER below 255 still waits for the down timer', () => {
  const { clock, m } = rig({ initialState: 'MASTER', priority: 200 });
  m.start();
  assert.equal(m.state, 'BACKUP');
  clock.to(3000 + (56 * 1000) / 256);
  assert.equal(m.state, 'MASTER');
});

test('priority 0 from the master: the backup takes over after Skew_Time only', () => {
  const { clock, m } = rig();
  m.start();
  clock.to(1000);
  m.receive(adv({ priority: 200 }), PEER);
  clock.to(1500);
  m.receive(adv({ priority: 0 }), PEER);
  assert.equal(m.counters.priorityZeroReceived, 1);
  const skew = (156 * 1000) / 256; // 609.375
  assert.equal(m.timerDue, 1500 + skew);
  clock.to(1500 + skew - 0.01);
  assert.equal(m.state, 'BACKUP');
  clock.to(1500 + skew);
  assert.equal(m.state, 'MASTER');
});

test('preemption: a higher-priority backup discards lower adverts and takes over on its timer', () => {
  const { clock, m } = rig({ priority: 150 });
  m.start();
  const down = 3000 + (106 * 1000) / 256; // 3414.0625
  for (let t = 100; t < down; t += 1000) {
    clock.to(t);
    assert.equal(m.receive(adv({ priority: 100 }), PEER), 'lower_priority');
  }
  clock.to(down);
  assert.equal(m.state, 'MASTER');
  assert.equal(m.counters.drops.lower_priority, 4);
});

test('nopreempt: lower-priority adverts are accepted while they come', () => {
  const { clock, m } = rig({ priority: 150, nopreempt: true });
  m.start();
  for (let t = 100; t <= 10100; t += 1000) {
    clock.to(t);
    assert.equal(m.receive(adv({ priority: 100 }), PEER), null);
  }
  clock.to(10100 + 3414);
  assert.equal(m.state, 'BACKUP');
  clock.to(10100 + 3414.0625);
  assert.equal(m.state, 'MASTER');
});

test('preempt_delay: lower adverts are accepted for that long after startup, then preemption', () => {
  const { clock, m } = rig({ priority: 150, preemptDelay: 2 });
  m.start();
  const results: (string | null)[] = [];
  for (const t of [500, 1500, 2500, 3500, 4500, 4900]) {
    clock.to(t);
    results.push(m.receive(adv({ priority: 100 }), PEER));
  }
  assert.deepEqual(results.slice(0, 2), [null, null]);
  assert.equal(results[2], 'lower_priority');
  // the last accepted advert (t=1500) armed the down timer: master at 1500 + 3414.0625
  assert.equal(m.state, 'BACKUP');
  clock.to(1500 + 3414.0625);
  assert.equal(m.state, 'MASTER');
  const rig2 = rig({ priority: 150, preemptDelay: 2 });
  rig2.m.start();
  rig2.clock.to(500);
  rig2.m.receive(adv({ priority: 100 }), PEER);
  rig2.clock.to(1500);
  rig2.m.receive(adv({ priority: 100 }), PEER);
  rig2.clock.to(1500 + 3414.0625 - 0.01);
  assert.equal(rig2.m.state, 'BACKUP');
  rig2.clock.to(1500 + 3414.0625);
  assert.equal(rig2.m.state, 'MASTER');
});

test('master yields to a higher priority, and to an equal priority from a higher address', () => {
  const owner = rig();
  owner.m.start();
  owner.clock.to(4000);
  assert.equal(owner.m.state, 'MASTER');
  owner.events.length = 0;
  owner.m.receive(adv({ priority: 101 }), LOWER_PEER);
  assert.equal(owner.m.state, 'BACKUP');
  assert.deepEqual(owner.events, ['removeVips', 'notify BACKUP 100']);

  const tie = rig();
  tie.m.start();
  tie.clock.to(4000);
  tie.events.length = 0;
  tie.m.receive(adv({ priority: 100 }), LOWER_PEER); // 10.0.0.1 < our 10.0.0.2: we stay
  assert.equal(tie.m.state, 'MASTER');
  assert.deepEqual(
    tie.events,
    ['advert 100'],
    'a lower (or tied, lower-address) master is answered with an advert',
  );
  tie.m.receive(adv({ priority: 100 }), PEER); // 10.0.0.9 > ours: we yield
  assert.equal(tie.m.state, 'BACKUP');
  assert.deepEqual(tie.m.masterAddress, PEER);
});

test('stop: a master sends priority 0 and releases the VIPs', () => {
  const { clock, m, events } = rig({ priority: 255 });
  m.start();
  clock.advance(1500);
  events.length = 0;
  m.stop();
  assert.deepEqual(events, ['advert 0', 'removeVips', 'notify STOP 255']);
  assert.equal(m.counters.priorityZeroSent, 1);
  clock.advance(10000);
  assert.deepEqual(events.length, 3, 'no timer survives stop');
});

test('track_script weights: +/- weight, clamped to [1, 254]; weight 0 means FAULT; owners fixed', () => {
  const { clock, m, events } = rig({
    trackScripts: [
      { name: 'minus', weight: -60 },
      { name: 'plus', weight: 20 },
      { name: 'hard', weight: 0 },
    ],
  });
  m.start();
  assert.equal(m.effectivePriority, 120, 'positive weight counts while OK');
  m.setScriptState('minus', false);
  assert.equal(m.effectivePriority, 60);
  m.setScriptState('plus', false);
  assert.equal(m.effectivePriority, 40);
  assert.equal(m.masterDownMs(), 3000 + (216 * 1000) / 256, 'skew follows the effective priority');
  clock.advance(100);
  events.length = 0;
  m.setScriptState('hard', false);
  assert.equal(m.state, 'FAULT');
  assert.deepEqual(events, ['notify FAULT 40']);
  clock.advance(10000);
  assert.equal(m.state, 'FAULT', 'no timers in FAULT');
  m.setScriptState('hard', true);
  assert.equal(m.state, 'BACKUP');

  assert.equal(rig({ priority: 250, trackScripts: [{ name: 'p', weight: 20 }] }).m.effectivePriority, 254);
  const low = rig({ priority: 10, trackScripts: [{ name: 'm', weight: -50 }] }).m;
  low.setScriptState('m', false);
  assert.equal(low.effectivePriority, 1);
  const own = rig({ priority: 255, trackScripts: [{ name: 'm', weight: -50 }] }).m;
  own.setScriptState('m', false);
  assert.equal(own.effectivePriority, 255);
});

test('track_interface: weight 0 down means FAULT (a master releases); weights adjust priority', () => {
  const { clock, m, events } = rig({
    trackInterfaces: [
      { name: 'eth1', weight: 0 },
      { name: 'eth2', weight: -30 },
    ],
  });
  m.start();
  clock.to(4000);
  assert.equal(m.state, 'MASTER');
  m.setInterfaceState('eth2', false);
  assert.equal(m.effectivePriority, 70);
  events.length = 0;
  m.setInterfaceState('eth1', false);
  assert.equal(m.state, 'FAULT');
  assert.deepEqual(events, ['removeVips', 'notify FAULT 70']);
  m.setInterfaceState('eth1', true);
  assert.equal(m.state, 'BACKUP');
  // the instance's own interface going down is a fault too
  m.setInterfaceState('eth0', false, true);
  assert.equal(m.state, 'FAULT');
});

test('instance-level rejections are counted by reason', () => {
  const { m } = rig({ authType: 1, authData: passwordAuthData('pw') });
  m.start();
  const auth = { authType: 1, authData: passwordAuthData('pw') };
  assert.equal(m.receive(adv({ ...auth, vrid: 52 }), PEER), 'unknown_vrid');
  assert.equal(m.receive(adv({ ...auth }), b('10.0.0.2')), 'own_packet');
  assert.equal(m.receive(adv({}), PEER), 'auth_type_mismatch');
  assert.equal(m.receive(adv({ authType: 1, authData: passwordAuthData('other') }), PEER), 'auth_mismatch');
  assert.equal(m.receive(adv({ ...auth, intervalCs: 200 }), PEER), 'interval_mismatch');
  assert.equal(m.receive(adv({ ...auth, addresses: [b('10.0.0.101')] }), PEER), 'addr_mismatch');
  assert.equal(m.receive(adv({ ...auth, addresses: [] }), PEER), 'addr_mismatch');
  assert.equal(m.receive(adv({ ...auth, version: 3 }), PEER), 'bad_version');
  assert.equal(m.receive(adv({ ...auth, priority: 200 }), PEER), null);
  assert.deepEqual(m.counters.drops, {
    unknown_vrid: 1,
    own_packet: 1,
    auth_type_mismatch: 1,
    auth_mismatch: 1,
    interval_mismatch: 1,
    addr_mismatch: 2,
    bad_version: 1,
  });
  assert.equal(m.counters.advertsReceived, 1);
  const skip = rig({ skipCheckAdvAddr: true }).m;
  skip.start();
  assert.equal(skip.receive(adv({ addresses: [] }), PEER), null);
});

test('sync group: one member fault holds the others; MASTER only when every member timer expired', () => {
  const clock = new FakeClock();
  const a = rig({ name: 'A', vrid: 1, trackScripts: [{ name: 's', weight: 0 }] }, clock);
  const bb = rig({ name: 'B', vrid: 2 }, clock);
  const g = new SyncGroup('G', [a.m, bb.m]);
  a.m.start();
  bb.m.start();
  g.start();
  // B keeps hearing its master until 2000, so A (expired at 3609) must wait for B
  clock.to(1000);
  bb.m.receive(adv({ vrid: 2, priority: 100 }), LOWER_PEER);
  clock.to(3609.375);
  assert.equal(a.m.state, 'BACKUP');
  assert.equal(a.m.downExpired, true);
  clock.to(1000 + 3609.375);
  assert.equal(a.m.state, 'MASTER');
  assert.equal(bb.m.state, 'MASTER');
  // B sees a higher-priority master: the whole group goes BACKUP
  bb.m.receive(adv({ vrid: 2, priority: 200 }), PEER);
  assert.equal(bb.m.state, 'BACKUP');
  assert.equal(a.m.state, 'BACKUP');
  // A's script fails: B is held in FAULT too, and released with it
  a.m.setScriptState('s', false);
  assert.equal(a.m.state, 'FAULT');
  assert.equal(bb.m.state, 'FAULT');
  a.m.setScriptState('s', true);
  assert.equal(a.m.state, 'BACKUP');
  assert.equal(bb.m.state, 'BACKUP');
});

test('vrrp_script tracker: first result decides, then rise/fall consecutive results', async () => {
  const clock = new FakeClock();
  const changes: boolean[] = [];
  const codes = [1, 0, 1, 0, 0, 0, 1, 1];
  const t = new ScriptTracker(
    script({ name: 's', argv: ['x'], rise: 3, fall: 2 }),
    clock,
    () => Promise.resolve(codes.shift() ?? 0),
    (ok) => changes.push(ok),
  );
  t.start();
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
  }
  await new Promise((r) => setImmediate(r));
  t.stop();
  // 1 -> KO at once; 0,1 no rise; 0,0,0 -> OK after 3; 1,1 -> KO after 2
  assert.deepEqual(changes, [false, true, false]);
  assert.equal(t.runs, 9, 'one run at start, one per interval');
});

test('resumeMaster (graceful restart of a MASTER): MASTER at once without the down timer; a fault still wins', () => {
  const { clock, m, events, adverts } = rig({ priority: 150 });
  m.resumeMaster();
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(events, ['addVips', 'advert 150', 'garp 5 @0', 'notify MASTER 150']);
  clock.advance(2000);
  assert.deepEqual(
    adverts.map((a) => a.t),
    [0, 1000, 2000],
  );
  // a higher-priority peer still takes over as usual
  m.receive(adv({ priority: 200 }), PEER);
  assert.equal(m.state, 'BACKUP');

  const down = rig({ priority: 150 });
  down.m.setInterfaceState('eth0', false, true);
  down.m.resumeMaster();
  assert.equal(down.m.state, 'FAULT');
  assert.ok(!down.events.includes('addVips'), down.events.join(', '));
});
