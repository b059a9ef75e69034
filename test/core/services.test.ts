import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsError, ERRNO } from '../../src/errors.js';
import type { LvsErrorCode } from '../../src/errors.js';
import {
  ServiceTable,
  FWD_DROUTE,
  FWD_LOCALNODE,
  FWD_MASQ,
  FWD_TUNNEL,
  FWD_FULLNAT,
  IPPROTO_TCP,
  IPPROTO_UDP,
  MSG,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
  TUN_F_CSUM,
  TUN_F_REMCSUM,
} from '../../src/core/services.js';
import type { ServiceKey } from '../../src/core/services.js';
import { DEST_IN_SERVICE, DEST_NONE, DEST_TRASH } from '../../src/core/snapshot.js';

const SCHEDS = new Set(['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh']);
const ip4 = (s: string): number[] => [s.split('.').reduce((a, b) => a * 256 + Number(b), 0)];
const VIP = ip4('192.168.1.100');
const VIP2 = ip4('192.168.1.101');
const RIP1 = ip4('10.0.0.1');
const RIP2 = ip4('10.0.0.2');
const LOCAL = ip4('192.168.1.1');
const V6VIP = [0x20010db8, 0, 0, 1];
const V6RIP = [0x20010db8, 0, 0, 0x10];

const tcp80: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: VIP, port: 80 };
const udp53: ServiceKey = { af: 4, proto: IPPROTO_UDP, addr: VIP, port: 53 };
const tcp0: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: VIP, port: 0 };
const fwm1: ServiceKey = { af: 4, fwmark: 1 };
const v6tcp80: ServiceKey = { af: 6, proto: IPPROTO_TCP, addr: V6VIP, port: 80 };

function table(hooks = {}): ServiceTable {
  return new ServiceTable({
    isScheduler: (n) => SCHEDS.has(n),
    isLocalAddress: (af, w) => af === 4 && w[0] === LOCAL[0],
    destCapacity: 64,
    serviceCapacity: 16,
    hooks,
  });
}

function words(a: number[]): Uint32Array {
  const w = new Uint32Array(4);
  w.set(a);
  return w;
}

test('service defaults: wlc, no flags, /32, timeout 0; -p alone = 360 s; IPv6 netmask 128', () => {
  const t = table();
  t.addService(tcp80);
  const s = t.getService(tcp80)!;
  assert.equal(s.scheduler, 'wlc');
  assert.equal(s.flags, 0);
  assert.equal(s.timeout, 0);
  assert.equal(s.netmask, 0xffffffff);
  assert.equal(s.pe, '');
  t.addService(tcp0, { flags: SVC_F_PERSISTENT });
  assert.equal(t.getService(tcp0)!.timeout, 360);
  t.addService(v6tcp80);
  assert.equal(t.getService(v6tcp80)!.netmask, 128);
  // fwmark services are TCP internally, with no address or port (ipvsadm -f).
  t.addService({ af: 4, fwmark: 7, proto: IPPROTO_UDP, port: 99 });
  const f = t.getService({ af: 4, fwmark: 7 })!;
  assert.equal(f.proto, IPPROTO_TCP);
  assert.equal(f.port, 0);
  assert.equal(t.generation, 4);
});

test('dest defaults and port rules: DR/TUN forced to the service port, no port = service port, fwmark keeps', () => {
  const t = table();
  t.addService(tcp80);
  t.addService(fwm1);
  const cases: [string, ServiceKey, object, number, number][] = [
    ['DR default, port 8080 forced to 80', tcp80, { addr: RIP1, port: 8080 }, 80, FWD_DROUTE],
    ['TUN, port forced', tcp80, { addr: RIP2, port: 8080, fwd: FWD_TUNNEL }, 80, FWD_TUNNEL],
    ['NAT keeps its port', tcp80, { addr: RIP1, port: 8080, fwd: FWD_MASQ }, 8080, FWD_MASQ],
    [
      'NAT without port takes the service port',
      tcp80,
      { addr: ip4('10.0.0.3'), fwd: FWD_MASQ },
      80,
      FWD_MASQ,
    ],
    ['FullNAT keeps its port', tcp80, { addr: ip4('10.0.0.4'), port: 81, fwd: FWD_FULLNAT }, 81, FWD_FULLNAT],
    ['fwmark DR keeps the port', fwm1, { addr: RIP1, port: 8080 }, 8080, FWD_DROUTE],
    ['fwmark without port = 0 (use the packet dport)', fwm1, { addr: RIP2 }, 0, FWD_DROUTE],
    ['local address becomes Local', tcp80, { addr: LOCAL, fwd: FWD_MASQ, port: 8081 }, 8081, FWD_LOCALNODE],
  ];
  for (const [name, key, spec, port, fwd] of cases) {
    const id = t.addDest(key, spec as never);
    const d = t.getService(key)!.dests.find((x) => x.id === id)!;
    assert.equal(d.port, port, name);
    assert.equal(d.fwd, fwd, name);
    assert.equal(d.weight, 1, name);
    assert.equal(d.uThreshold, 0, name);
    assert.equal(d.lThreshold, 0, name);
  }
});

interface ErrCase {
  name: string;
  op: (t: ServiceTable) => unknown;
  code: LvsErrorCode;
  errno: number;
  message?: string;
}

function populated(): ServiceTable {
  const t = table();
  t.addService(tcp80, { scheduler: 'rr' });
  t.addService(udp53);
  t.addService(fwm1);
  t.addDest(tcp80, { addr: RIP1, fwd: FWD_MASQ, port: 8080, weight: 3 });
  t.addDest(tcp80, { addr: RIP2 });
  return t;
}

const errCases: ErrCase[] = [
  {
    name: 'add existing service',
    op: (t) => t.addService(tcp80),
    code: 'ERR_LVS_SERVICE_EXISTS',
    errno: ERRNO.EEXIST,
    message: MSG.SERVICE_EXISTS,
  },
  {
    name: 'add with unknown scheduler',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { scheduler: 'nope' }),
    code: 'ERR_LVS_SCHED_NOT_FOUND',
    errno: ERRNO.ENOENT,
    message: MSG.SCHED_NOT_FOUND,
  },
  {
    name: 'add with unknown pe',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { pe: 'xyz' }),
    code: 'ERR_LVS_SCHED_NOT_FOUND',
    errno: ERRNO.ENOENT,
  },
  {
    name: 'edit with unknown scheduler',
    op: (t) => t.editService(tcp80, { scheduler: 'nope' }),
    code: 'ERR_LVS_SCHED_NOT_FOUND',
    errno: ERRNO.ENOENT,
  },
  {
    name: 'edit missing service',
    op: (t) => t.editService({ ...tcp80, port: 81 }),
    code: 'ERR_LVS_NO_SERVICE',
    errno: ERRNO.ESRCH,
    message: MSG.NO_SERVICE,
  },
  {
    name: 'edit missing service beats unknown scheduler (kernel order)',
    op: (t) => t.editService({ ...tcp80, port: 81 }, { scheduler: 'nope' }),
    code: 'ERR_LVS_NO_SERVICE',
    errno: ERRNO.ESRCH,
  },
  {
    name: 'delete missing service',
    op: (t) => t.deleteService({ ...tcp80, port: 81 }),
    code: 'ERR_LVS_NO_SERVICE',
    errno: ERRNO.ESRCH,
  },
  {
    name: 'zero missing service',
    op: (t) => t.zero({ ...tcp80, port: 81 }),
    code: 'ERR_LVS_NO_SERVICE',
    errno: ERRNO.ESRCH,
  },
  {
    name: 'port 0 non-persistent',
    op: (t) => t.addService(tcp0),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
    message: MSG.ZERO_PORT,
  },
  {
    name: 'one-packet on TCP',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { flags: SVC_F_ONEPACKET }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
    message: MSG.ONEPACKET_UDP,
  },
  {
    name: 'persistence timeout 0',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { flags: SVC_F_PERSISTENT, timeout: 0 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'persistence timeout 2678401',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { flags: SVC_F_PERSISTENT, timeout: 2678401 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'fwmark 2^32',
    op: (t) => t.addService({ af: 4, fwmark: 2 ** 32 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'fwmark -1',
    op: (t) => t.addService({ af: 4, fwmark: -1 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'IPv6 netmask 129',
    op: (t) => t.addService(v6tcp80, { netmask: 129 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'IPv6 netmask 0',
    op: (t) => t.addService(v6tcp80, { netmask: 0 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'IPv4 netmask 2^32',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { netmask: 2 ** 32 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'unknown protocol',
    op: (t) => t.addService({ ...tcp80, proto: 1 }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'unknown family',
    op: (t) => t.addService({ ...tcp80, af: 5 }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EAFNOSUPPORT,
  },
  {
    name: 'bad mh table size',
    op: (t) => t.addService({ ...tcp80, port: 81 }, { scheduler: 'mh', mhTableSize: 1000 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'add dest to missing service',
    op: (t) => t.addDest({ ...tcp80, port: 81 }, { addr: RIP1 }),
    code: 'ERR_LVS_SERVICE_NOT_DEFINED',
    errno: ERRNO.ESRCH,
    message: MSG.SERVICE_NOT_DEFINED,
  },
  {
    name: 'edit dest of missing service',
    op: (t) => t.editDest({ ...tcp80, port: 81 }, { addr: RIP1 }),
    code: 'ERR_LVS_SERVICE_NOT_DEFINED',
    errno: ERRNO.ESRCH,
  },
  {
    name: 'delete dest of missing service',
    op: (t) => t.deleteDest({ ...tcp80, port: 81 }, { addr: RIP1 }),
    code: 'ERR_LVS_SERVICE_NOT_DEFINED',
    errno: ERRNO.ESRCH,
  },
  {
    name: 'add existing dest',
    op: (t) => t.addDest(tcp80, { addr: RIP2, weight: 5 }),
    code: 'ERR_LVS_DEST_EXISTS',
    errno: ERRNO.EEXIST,
    message: MSG.DEST_EXISTS,
  },
  {
    name: 'add existing dest (DR port forced onto the existing one)',
    op: (t) => t.addDest(tcp80, { addr: RIP2, port: 9999 }),
    code: 'ERR_LVS_DEST_EXISTS',
    errno: ERRNO.EEXIST,
  },
  {
    name: 'edit missing dest',
    op: (t) => t.editDest(tcp80, { addr: ip4('10.9.9.9') }),
    code: 'ERR_LVS_NO_DEST',
    errno: ERRNO.ENOENT,
    message: MSG.NO_DEST,
  },
  {
    name: 'edit dest: wrong port is another dest',
    op: (t) => t.editDest(tcp80, { addr: RIP1, port: 8081, fwd: FWD_MASQ }),
    code: 'ERR_LVS_NO_DEST',
    errno: ERRNO.ENOENT,
  },
  {
    name: 'delete missing dest',
    op: (t) => t.deleteDest(tcp80, { addr: ip4('10.9.9.9') }),
    code: 'ERR_LVS_NO_DEST',
    errno: ERRNO.ENOENT,
  },
  {
    name: 'weight -1',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), weight: -1 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'weight 1.5',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), weight: 1.5 }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'edit weight -1',
    op: (t) => t.editDest(tcp80, { addr: RIP2, weight: -1 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'l threshold > u threshold',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), uThreshold: 10, lThreshold: 11 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.ERANGE,
  },
  {
    name: 'negative threshold',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), uThreshold: -1 }),
    code: 'ERR_LVS_RANGE',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'family mismatch for NAT',
    op: (t) => t.addDest(tcp80, { af: 6, addr: V6RIP, fwd: FWD_MASQ }),
    code: 'ERR_LVS_FAMILY_MISMATCH',
    errno: ERRNO.EAFNOSUPPORT,
    message: MSG.FAMILY_MISMATCH,
  },
  {
    name: 'family mismatch for DR',
    op: (t) => t.addDest(tcp80, { af: 6, addr: V6RIP }),
    code: 'ERR_LVS_FAMILY_MISMATCH',
    errno: ERRNO.EAFNOSUPPORT,
  },
  {
    name: 'tunnel options with DR',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), tunType: TUN_GRE }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
    message: MSG.TUNNEL_CONFLICT,
  },
  {
    name: 'gue without port',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), fwd: FWD_TUNNEL, tunType: TUN_GUE }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
    message: MSG.GUE_PORT,
  },
  {
    name: 'ipip with port',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), fwd: FWD_TUNNEL, tunPort: 6080 }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'ipip with csum',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), fwd: FWD_TUNNEL, tunFlags: TUN_F_CSUM }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'gre with remcsum',
    op: (t) =>
      t.addDest(tcp80, { addr: ip4('10.0.0.9'), fwd: FWD_TUNNEL, tunType: TUN_GRE, tunFlags: TUN_F_REMCSUM }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'user may not ask for Local',
    op: (t) => t.addDest(tcp80, { addr: ip4('10.0.0.9'), fwd: FWD_LOCALNODE }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
  {
    name: 'IPv4 address with junk in words 1..3',
    op: (t) => t.addDest(tcp80, { addr: [RIP1[0]!, 1, 0, 0] }),
    code: 'ERR_LVS_INVALID_ARGUMENT',
    errno: ERRNO.EINVAL,
  },
];

for (const c of errCases) {
  test(`error: ${c.name} -> ${c.code}/${c.errno}, and nothing changes`, () => {
    const t = populated();
    const before = t.list();
    const gen = t.generation;
    const snap = t.snapshot();
    assert.throws(
      () => c.op(t),
      (e: unknown) => {
        assert.ok(e instanceof LvsError, String(e));
        assert.equal(e.code, c.code);
        assert.equal(e.errno, c.errno);
        if (c.message !== undefined) assert.equal(e.message, c.message);
        return true;
      },
    );
    assert.equal(t.generation, gen);
    assert.deepEqual(t.list(), before);
    assert.equal(t.snapshot(), snap);
    assert.deepEqual(t.trashedDestIds(), []);
  });
}

test('allowed edge cases: weight 0 and 65535, TUN across families, gue with port, one-packet on UDP and fwmark', () => {
  const t = populated();
  t.addDest(tcp80, { addr: ip4('10.0.0.5'), weight: 0 });
  t.addDest(tcp80, { addr: ip4('10.0.0.6'), weight: 65535 });
  const id = t.addDest(tcp80, {
    af: 6,
    addr: V6RIP,
    fwd: FWD_TUNNEL,
    tunType: TUN_GUE,
    tunPort: 6080,
    tunFlags: TUN_F_REMCSUM,
  });
  const d = t.getService(tcp80)!.dests.find((x) => x.id === id)!;
  assert.deepEqual([d.af, d.port, d.tunType, d.tunPort, d.tunFlags], [6, 80, TUN_GUE, 6080, TUN_F_REMCSUM]);
  t.addDest(tcp80, { addr: ip4('10.0.0.8'), uThreshold: 0, lThreshold: 5 }); // l > u allowed when u unset
  t.addService({ ...udp53, port: 54 }, { flags: SVC_F_ONEPACKET });
  t.addService({ af: 6, fwmark: 2 }, { flags: SVC_F_ONEPACKET });
  t.editDest(tcp80, { addr: RIP2, fwd: FWD_TUNNEL, tunType: TUN_IPIP });
});

test('edits keep ids, replace fields, and update DestLive thresholds', () => {
  const t = populated();
  const sid = t.getService(tcp80)!.id;
  const [d1, d2] = t.getService(tcp80)!.dests.map((d) => d.id);
  const g = t.generation;
  t.editService(tcp80, {
    scheduler: 'wrr',
    flags: SVC_F_PERSISTENT | SVC_F_SCHED1,
    timeout: 100,
    netmask: 0xffffff00,
  });
  assert.equal(t.generation, g + 1);
  t.editDest(tcp80, { addr: RIP1, port: 8080, fwd: FWD_MASQ, weight: 7, uThreshold: 100, lThreshold: 50 });
  assert.equal(t.generation, g + 2);
  const s = t.getService(tcp80)!;
  assert.equal(s.id, sid);
  assert.deepEqual(
    s.dests.map((d) => d.id),
    [d1, d2],
  );
  assert.equal(s.scheduler, 'wrr');
  assert.equal(s.timeout, 100);
  assert.equal(s.netmask, 0xffffff00);
  assert.equal(s.dests[0]!.weight, 7);
  assert.equal(t.live.uThreshold[d1!], 100);
  assert.equal(t.live.lThreshold[d1!], 50);
});

test('delete dest -> trash (AVAILABLE cleared, id kept); re-add revives the same id; gc waits for counts and adoption', () => {
  const allocated: number[] = [];
  const t = table({ destAllocated: (id: number) => allocated.push(id) });
  t.addService(tcp80);
  const id = t.addDest(tcp80, { addr: RIP1, weight: 4 });
  assert.deepEqual(allocated, [id]);
  t.live.bind(id, false, true); // one inactive connection
  t.deleteDest(tcp80, { addr: RIP1 });
  assert.equal(t.live.isAvailable(id), false);
  assert.deepEqual(t.trashedDestIds(), [id]);
  assert.equal(t.snapshot().destState[id], DEST_TRASH);
  // a different dest must not get the trashed id
  const other = t.addDest(tcp80, { addr: RIP2 });
  assert.notEqual(other, id);
  // revival: same id, counters kept, available again, no fresh allocation
  assert.equal(t.addDest(tcp80, { addr: RIP1, weight: 2 }), id);
  assert.equal(t.live.isAvailable(id), true);
  assert.equal(t.live.inactive[id], 1);
  assert.deepEqual(allocated, [id, other]);
  assert.equal(t.snapshot().destState[id], DEST_IN_SERVICE);
  // delete again; gc does not reclaim while a connection references it
  t.deleteDest(tcp80, { addr: RIP1 });
  const delGen = t.generation;
  assert.equal(t.gc(), 0);
  t.live.unbind(id, false, true);
  // ... nor before every worker adopted a snapshot that no longer has it
  assert.equal(t.gc(delGen - 1), 0);
  assert.ok(t.gc(delGen) >= 1);
  assert.deepEqual(t.trashedDestIds(), []);
  assert.equal(t.snapshot().destState[id], DEST_NONE);
  // now a fresh allocation (reset + hook), even for the same address
  t.live.bind(id, false, false);
  const again = t.addDest(tcp80, { addr: RIP1 });
  assert.equal(allocated.at(-1), again);
  assert.equal(t.live.active[again], 0);
  assert.equal(t.live.isAvailable(again), true);
});

test('reload-like delete+add of a service keeps service and dest ids', () => {
  const t = populated();
  const before = t.getService(tcp80)!;
  t.deleteService(tcp80);
  assert.equal(t.getService(tcp80), undefined);
  assert.equal(t.addService(tcp80, { scheduler: 'rr' }), before.id);
  const d1 = t.addDest(tcp80, { addr: RIP1, fwd: FWD_MASQ, port: 8080, weight: 3 });
  const d2 = t.addDest(tcp80, { addr: RIP2 });
  assert.deepEqual(
    [d1, d2],
    before.dests.map((d) => d.id),
  );
  // flush trashes everything too
  t.flush();
  assert.equal(t.serviceCount, 0);
  assert.equal(t.trashedDestIds().length, 2);
  assert.equal(t.gc(), 2 + 3);
});

test('zero: hook gets the service and its dests, or everything; not a table change', () => {
  const calls: unknown[] = [];
  const t = table({
    zero: (s: readonly number[], d: readonly number[], all: boolean) => calls.push([s, d, all]),
  });
  t.addService(tcp80);
  t.addService(udp53);
  const a = t.addDest(tcp80, { addr: RIP1 });
  const b = t.addDest(udp53, { addr: RIP2 });
  const g = t.generation;
  t.zero(tcp80);
  t.zero();
  assert.equal(t.generation, g);
  const s1 = t.getService(tcp80)!.id;
  const s2 = t.getService(udp53)!.id;
  assert.deepEqual(calls, [
    [[s1], [a], false],
    [[s1, s2], [a, b], true],
  ]);
});

test('mh: more dests than table slots is refused (kernel EINVAL), atomically', () => {
  const t = new ServiceTable({ isScheduler: (n) => SCHEDS.has(n), destCapacity: 600 });
  t.addService(tcp80, { scheduler: 'mh', mhTableSize: 251 });
  for (let i = 0; i < 251; i++) t.addDest(tcp80, { addr: [0x0a000100 + i] });
  const g = t.generation;
  assert.throws(() => t.addDest(tcp80, { addr: [0x0b000000] }), { code: 'ERR_LVS_SCHED_FAILED' });
  t.addService(udp53, { scheduler: 'rr' });
  for (let i = 0; i < 252; i++) t.addDest(udp53, { addr: [0x0a000100 + i] });
  assert.throws(() => t.editService(udp53, { scheduler: 'mh', mhTableSize: 251 }), {
    code: 'ERR_LVS_SCHED_FAILED',
  });
  assert.equal(t.getService(udp53)!.scheduler, 'rr');
  assert.equal(t.generation, g + 1 + 252);
});

test('id space exhausted: ERR_LVS_TABLE_FULL/ENOMEM, nothing changes', () => {
  const t = new ServiceTable({ isScheduler: (n) => SCHEDS.has(n), destCapacity: 3, serviceCapacity: 2 });
  t.addService(tcp80);
  assert.throws(() => t.addService(udp53), { code: 'ERR_LVS_TABLE_FULL', errno: ERRNO.ENOMEM });
  t.addDest(tcp80, { addr: RIP1 });
  t.addDest(tcp80, { addr: RIP2 });
  const g = t.generation;
  assert.throws(() => t.addDest(tcp80, { addr: ip4('10.0.0.3') }), {
    code: 'ERR_LVS_TABLE_FULL',
    errno: ERRNO.ENOMEM,
  });
  assert.equal(t.generation, g);
  assert.equal(t.getService(tcp80)!.dests.length, 2);
});

test('snapshot lookup order: fwmark > exact > port-0 persistent; isVip', () => {
  const t = table();
  t.addService(tcp80);
  t.addService(tcp0, { flags: SVC_F_PERSISTENT });
  t.addService(fwm1);
  t.addService(udp53);
  t.addService(v6tcp80);
  t.addService({ af: 6, fwmark: 1 });
  const snap = t.snapshot();
  const idx = (k: ServiceKey): number => snap.serviceIndex(t.getService(k)!.id);
  const vip = words(VIP);
  const v6 = words(V6VIP);
  assert.equal(snap.findService(4, IPPROTO_TCP, vip, 80, 1), idx(fwm1));
  assert.equal(snap.findService(4, IPPROTO_TCP, vip, 80, 0), idx(tcp80));
  assert.equal(snap.findService(4, IPPROTO_TCP, vip, 80, 99), idx(tcp80), 'unknown mark falls through');
  assert.equal(snap.findService(4, IPPROTO_TCP, vip, 443, 0), idx(tcp0));
  assert.equal(snap.findService(4, IPPROTO_UDP, vip, 53, 0), idx(udp53));
  assert.equal(snap.findService(4, IPPROTO_UDP, vip, 54, 0), -1, 'port-0 service is TCP only');
  assert.equal(snap.findService(4, IPPROTO_TCP, words(VIP2), 80, 0), -1);
  assert.equal(snap.findService(6, IPPROTO_TCP, v6, 80, 0), idx(v6tcp80));
  assert.equal(snap.findService(6, IPPROTO_TCP, v6, 80, 1), idx({ af: 6, fwmark: 1 }));
  assert.equal(snap.findService(6, IPPROTO_TCP, v6, 81, 0), -1);
  assert.equal(snap.findService(6, IPPROTO_TCP, vip, 80, 0), -1, 'family is part of the key');
  assert.equal(snap.isVip(4, vip), true);
  assert.equal(snap.isVip(6, v6), true);
  assert.equal(snap.isVip(4, words(VIP2)), false);
  assert.equal(snap.isVip(6, vip), false);
  // many services: open addressing with collisions still finds each
  const t2 = table();
  for (let p = 1; p <= 15; p++) t2.addService({ ...tcp80, port: p });
  const s2 = t2.snapshot();
  for (let p = 1; p <= 15; p++) assert.equal(s2.services[s2.findService(4, IPPROTO_TCP, vip, p, 0)]!.port, p);
  assert.equal(s2.findService(4, IPPROTO_TCP, vip, 16, 0), -1);
});

test('snapshot compiles service fields, dests by position and forwarding info by id', () => {
  const t = table();
  t.addService(tcp0, { flags: SVC_F_PERSISTENT, timeout: 600, netmask: 0xffffff00, scheduler: 'sh' });
  const a = t.addDest(tcp0, { addr: RIP1, port: 8080, fwd: FWD_MASQ, weight: 3 });
  const b = t.addDest(tcp0, {
    af: 6,
    addr: V6RIP,
    fwd: FWD_TUNNEL,
    tunType: TUN_GUE,
    tunPort: 6080,
    tunFlags: TUN_F_CSUM,
    weight: 0,
  });
  t.addService(v6tcp80, { netmask: 64 });
  const snap = t.snapshot();
  const s = snap.services[0]!;
  assert.equal(s.timeout, 600);
  assert.deepEqual([...s.maskWords], [0xffffff00, 0, 0, 0]);
  assert.deepEqual([...snap.services[1]!.maskWords], [0xffffffff, 0xffffffff, 0, 0]);
  assert.equal(s.scheduler, 'sh');
  assert.deepEqual(s.schedOptions, { flags: SVC_F_PERSISTENT, mhTableSize: 4093 });
  assert.equal(s.dests.count, 2);
  assert.deepEqual([...s.dests.id], [a, b]);
  assert.deepEqual([...s.dests.weight], [3, 0]);
  assert.deepEqual([...s.dests.lastWeight], [3, 0]);
  assert.deepEqual([...s.dests.af], [4, 6]);
  assert.deepEqual([...s.dests.port], [8080, 0]);
  assert.deepEqual([...s.dests.addr.subarray(4, 8)], V6RIP);
  assert.equal(s.dests.live, t.live);
  assert.equal(snap.destFwd[a], FWD_MASQ);
  assert.equal(snap.destFwd[b], FWD_TUNNEL);
  assert.equal(snap.destAf[b], 6);
  assert.deepEqual([...snap.destAddr.subarray(a * 4, a * 4 + 4)], [RIP1[0], 0, 0, 0]);
  assert.equal(snap.destPort[a], 8080);
  assert.deepEqual(
    [snap.destTunType[b], snap.destTunPort[b], snap.destTunFlags[b]],
    [TUN_GUE, 6080, TUN_F_CSUM],
  );
  assert.equal(snap.destServiceId[a], s.id);
  assert.equal(snap.destState[a], DEST_IN_SERVICE);
  assert.equal(t.snapshot(), snap, 'cached while nothing changes');
  // lastWeight survives quiescing (mh keeps slots)
  t.editDest(tcp0, { addr: RIP1, port: 8080, fwd: FWD_MASQ, weight: 0 });
  const q = t.snapshot().services[0]!.dests;
  assert.deepEqual([...q.weight], [0, 0]);
  assert.deepEqual([...q.lastWeight], [3, 0]);
});

test('snapshot immutability and destsVersion scoped to the affected service', () => {
  const t = populated();
  const s1 = t.snapshot();
  const i80 = s1.serviceIndex(t.getService(tcp80)!.id);
  const i53 = s1.serviceIndex(t.getService(udp53)!.id);
  const old80 = s1.services[i80]!;
  const old53 = s1.services[i53]!;
  const w0 = old80.dests.weight[0];
  t.editDest(tcp80, { addr: RIP1, port: 8080, fwd: FWD_MASQ, weight: 9 });
  t.addDest(tcp80, { addr: ip4('10.0.0.7') });
  const s2 = t.snapshot();
  assert.notEqual(s2, s1);
  assert.equal(s1.services[i80]!.dests.weight[0], w0, 'old snapshot unchanged');
  assert.equal(s1.services[i80]!.dests.count, 2);
  assert.equal(s2.services[i80]!.dests.weight[0], 9);
  assert.equal(s2.services[i80]!.dests.count, 3);
  assert.notEqual(s2.services[i80]!.destsVersion, old80.destsVersion);
  assert.equal(s2.services[i53], old53, 'untouched service shared as is');
  assert.equal(s2.services[i53]!.destsVersion, old53.destsVersion);
  // a service-only edit changes schedVersion but not destsVersion (dests object shared)
  t.editService(udp53, { scheduler: 'rr' });
  const s3 = t.snapshot();
  assert.equal(s3.services[i53]!.destsVersion, old53.destsVersion);
  assert.equal(s3.services[i53]!.dests, old53.dests);
  assert.notEqual(s3.services[i53]!.schedVersion, old53.schedVersion);
  assert.equal(s3.services[i80], s2.services[i80]);
  // a deleted service vanishes from the new snapshot only
  t.deleteService(udp53);
  const s4 = t.snapshot();
  assert.equal(s4.findService(4, IPPROTO_UDP, words(VIP), 53, 0), -1);
  assert.equal(s3.findService(4, IPPROTO_UDP, words(VIP), 53, 0), i53);
});
