/**
 * The backup side (SyncInstaller) and the whole SyncManager on an in-memory multicast bus: install
 * as synced, dest binding by address/port, timeouts (v1 from the record, v0 from the state table),
 * syncid filter, counted drops by reason, bulk resync on start, lvsd messages a kernel backup would
 * discard, malformed-input fuzz, and ipvsadm --start-daemon/--stop-daemon/-L --daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncInstaller } from '../../src/sync/installer.js';
import { SyncManager } from '../../src/sync/manager.js';
import { SyncEncoder } from '../../src/sync/master.js';
import {
  checkSyncHeader,
  decodeLvsdMessage,
  encodeLvsdMessage,
  LVSD_KIND_RESYNC_REQUEST,
} from '../../src/sync/wire.js';
import { ADDR_D } from '../../src/conn/table.js';
import { CONN_F_INACTIVE, CONN_F_SYNC, CONN_F_TEMPLATE } from '../../src/conn/flags.js';
import { stateName, TCP_S_ESTABLISHED } from '../../src/conn/state.js';
import { executeIpvsadm } from '../../src/cli/ipvsadm/index.js';
import { NO_NAMES } from '../../src/cli/ipvsadm/names.js';
import { Bus, connOf, director, ifaces, RS4, tcpFlow, templates, udpPackets, w } from './helpers.js';
import type { Topo } from '../helpers/topo.js';

/** Every conn of t as v1 messages (syncid, maxlen). */
function messagesOf(t: Topo, syncid = 0, maxlen = 1472, now = 5000): Buffer[] {
  const out: Buffer[] = [];
  const enc = new SyncEncoder(maxlen, syncid, (m) => out.push(m));
  for (const pass of [CONN_F_TEMPLATE, 0])
    t.d.conns.forEach((h) => {
      if ((t.d.conns.flags[h]! & CONN_F_TEMPLATE) === pass) enc.add(t.d.conns, h, now, now);
    });
  enc.flush();
  return out;
}

/** A copy of the table's conns as comparable rows. */
function rows(t: Topo): string[] {
  const c = t.d.conns;
  const out: string[] = [];
  const d = new Uint32Array(4);
  c.forEach((h) => {
    c.readAddr(h, ADDR_D, d, 0);
    out.push(
      `${c.proto[h]} ${c.c0[h]}:${c.cport[h]} ${c.v0[h]}:${c.vport[h]} ${d[0]}:${c.dport[h]} ${c.state[h]}`,
    );
  });
  return out.sort();
}

test('installs synced conns bound to the local dest, with the record state and timeout', () => {
  const m = director();
  tcpFlow(m, '10.0.0.2', 4000, 1);
  udpPackets(m, '10.0.0.2', 5000, 3);
  const b = director();
  const inst = new SyncInstaller(b.d, 0);
  for (const msg of messagesOf(m)) assert.equal(inst.receive(msg, msg.length, 10000), true);
  assert.deepEqual(rows(b), rows(m));
  assert.equal(inst.counts.created, 2);
  const h = connOf(b, '10.0.0.2', 4000);
  const c = b.d.conns;
  assert.equal(stateName(c, h), 'ESTABLISHED');
  assert.ok((c.flags[h]! & CONN_F_SYNC) !== 0);
  assert.equal(c.flags[h]! & CONN_F_INACTIVE, 0);
  const mh = connOf(m, '10.0.0.2', 4000);
  assert.equal(b.d.services.list()[0]!.dests.find((x) => x.id === c.destId[h])!.addr[0], m.d.conns.d0[mh]);
  // active counter of the bound dest on the backup
  assert.equal(Atomics.load(b.d.live.active, c.destId[h]!), 1);
  // remaining time from the record (master: 900 s from t=1003, encoded at 5000 -> 897 s)
  const left = Math.round(c.remainingMs(h, 10000) / 1000);
  assert.ok(left >= 896 && left <= 898, String(left));
  // a second delivery updates in place
  for (const msg of messagesOf(m, 0, 1472, 6000)) inst.receive(msg, msg.length, 11000);
  assert.equal(inst.counts.updated, 2);
  assert.equal(c.count, 2);
});

test('persistent service: the template comes first and the conn is linked to it', () => {
  const m = director({ persistent: true });
  tcpFlow(m, '10.0.0.2', 4000, 1);
  const b = director({ persistent: true });
  const inst = new SyncInstaller(b.d, 0);
  for (const msg of messagesOf(m)) inst.receive(msg, msg.length, 10000);
  const tpl = templates(b);
  assert.equal(tpl.length, 1);
  const h = connOf(b, '10.0.0.2', 4000);
  assert.equal(b.d.conns.control[h], tpl[0]);
  assert.equal(b.d.conns.nControl[tpl[0]!], 1);
});

test('syncid filter: a backup with syncid 5 drops syncid 6; syncid 0 accepts any', () => {
  const m = director();
  tcpFlow(m, '10.0.0.2', 4000, 1);
  const [msg] = messagesOf(m, 6);
  const strict = new SyncInstaller(director().d, 5);
  assert.equal(strict.receive(msg!, msg!.length, 1), false);
  assert.deepEqual(strict.counts.drops, { syncid_mismatch: 1 });
  const same = new SyncInstaller(director().d, 6);
  assert.equal(same.receive(msg!, msg!.length, 1), true);
  const any = new SyncInstaller(director().d, 0);
  assert.equal(any.receive(msg!, msg!.length, 1), true);
});

test('unknown service or destination: counted drops, nothing installed', () => {
  const m = director();
  tcpFlow(m, '10.0.0.2', 4000, 1);
  const [msg] = messagesOf(m);
  const noSvc = director({ tcpPort: 81 });
  const i1 = new SyncInstaller(noSvc.d, 0);
  i1.receive(msg!, msg!.length, 1);
  assert.deepEqual(i1.counts.drops, { no_service: 1 });
  assert.equal(noSvc.d.conns.count, 0);
  const noDest = director();
  const key = { af: 4, proto: 6, addr: w('10.0.0.100'), port: 80 };
  for (const rs of RS4.slice(0, 2)) noDest.d.services.deleteDest(key, { addr: w(rs), port: 8080 });
  const i2 = new SyncInstaller(noDest.d, 0);
  i2.receive(msg!, msg!.length, 1);
  assert.deepEqual(i2.counts.drops, { no_dest: 1 });
  assert.equal(noDest.d.conns.count, 0);
});

test('v0 message: installed with the state table timeout', () => {
  // v0: u8 nr_conns, u8 syncid, be16 size; record: reserved, proto, cport, vport, dport, caddr, vaddr, daddr, flags16, state16
  const msg = Buffer.alloc(4 + 24);
  msg[0] = 1;
  msg[1] = 0;
  msg.writeUInt16BE(28, 2);
  msg[5] = 6;
  msg.writeUInt16BE(4444, 6);
  msg.writeUInt16BE(80, 8);
  msg.writeUInt16BE(8080, 10);
  msg.writeUInt32BE(w('10.0.0.2')[0]!, 12);
  msg.writeUInt32BE(w('10.0.0.100')[0]!, 16);
  msg.writeUInt32BE(w(RS4[1])[0]!, 20);
  msg.writeUInt16BE(0, 24); // MASQ
  msg.writeUInt16BE(TCP_S_ESTABLISHED, 26);
  const b = director();
  const inst = new SyncInstaller(b.d, 0);
  assert.equal(inst.receive(msg, msg.length, 1000), true);
  const h = connOf(b, '10.0.0.2', 4444);
  assert.ok(h >= 0);
  assert.equal(b.d.conns.remainingMs(h, 1000), 900_000);
});

test('fuzz: random, truncated and bit-flipped datagrams never throw and never half-install', () => {
  const m = director();
  for (let i = 0; i < 10; i++) tcpFlow(m, '10.0.0.2', 4000 + i, 1);
  const [good] = messagesOf(m);
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const b = director();
  const inst = new SyncInstaller(b.d, 0);
  for (let k = 0; k < 3000; k++) {
    let msg: Buffer;
    const kind = k % 3;
    if (kind === 0) {
      msg = Buffer.alloc(rnd(200));
      for (let i = 0; i < msg.length; i++) msg[i] = rnd(256);
      if (msg.length >= 4 && rnd(2) === 0) msg.writeUInt16BE(msg.length, 2);
    } else if (kind === 1) {
      msg = Buffer.from(good!.subarray(0, rnd(good!.length)));
      if (msg.length >= 4) msg.writeUInt16BE(msg.length, 2);
    } else {
      msg = Buffer.from(good!);
      for (let f = 0; f < 1 + rnd(4); f++) msg[8 + rnd(msg.length - 8)]! ^= 1 << rnd(8);
    }
    const before = b.d.conns.count;
    let ok = false;
    assert.doesNotThrow(() => {
      ok = inst.receive(msg, msg.length, 1000 + k);
    });
    if (!ok) assert.equal(b.d.conns.count, before, 'a dropped datagram changes nothing');
  }
  const dropped = Object.values(inst.counts.drops).reduce((a, x) => a + x, 0);
  assert.ok(dropped > 1000, JSON.stringify(inst.counts.drops));
  assert.ok((inst.counts.drops.malformed ?? 0) > 0 && (inst.counts.drops.bad_size ?? 0) > 0);
});

test("lvsd's own messages: a kernel backup installs nothing from them", () => {
  const buf = encodeLvsdMessage({
    kind: LVSD_KIND_RESYNC_REQUEST,
    syncid: 3,
    sender: 1,
    count: 0,
    wallMs: 5,
  });
  // kernel: v1 only when version == 1 (else v0, whose first byte is nr_conns)
  assert.equal(buf[0], 0, 'v0 nr_conns = 0');
  assert.notEqual(buf[5], 1);
  assert.equal(buf.readUInt16BE(2), buf.length);
  assert.equal(checkSyncHeader(buf, buf.length, 0), 'bad_version');
  assert.deepEqual(decodeLvsdMessage(buf, buf.length), {
    kind: LVSD_KIND_RESYNC_REQUEST,
    syncid: 3,
    sender: 1,
    count: 0,
    wallMs: 5,
  });
});

function manager(t: Topo, bus: Bus, mtu = 1500): SyncManager {
  let now = 100_000;
  return new SyncManager(t.d, {
    transport: bus.transport(),
    resolveInterface: ifaces(mtu),
    clock: () => now++,
  });
}

test('manager: master -> backup over the bus; bulk resync when the backup starts', () => {
  const bus = new Bus();
  const m = director();
  const mm = manager(m, bus);
  mm.start({
    state: 'master',
    mcastIfn: 'eth1',
    syncid: 0,
    syncMaxlen: 0,
    mcastGroup: '',
    mcastPort: 0,
    mcastTtl: 0,
  });
  // conns that existed before the backup came
  for (let i = 0; i < 50; i++) tcpFlow(m, '10.0.0.2', 4000 + i, 1);
  mm.tick(200_000); // flushes: nobody listens yet
  const b = director();
  const bm = manager(b, bus);
  bm.start({
    state: 'backup',
    mcastIfn: 'eth1',
    syncid: 0,
    syncMaxlen: 0,
    mcastGroup: '',
    mcastPort: 0,
    mcastTtl: 0,
  });
  bm.tick(); // sends the resync request; the master answers (synchronously on this bus)
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      try {
        const st = bm.status() as { backup: { created: number; resync: { completed: number } } };
        if (st.backup.resync.completed < 1) return void setTimeout(check, 20);
        assert.equal(st.backup.created, 50);
        assert.deepEqual(rows(b), rows(m));
        // a live change after the resync: a new conn is synced by its third packet within a flush
        tcpFlow(m, '10.0.0.3', 9000, 1);
        mm.tick(10_000_000);
        assert.ok(connOf(b, '10.0.0.3', 9000) >= 0);
        const ms = mm.status() as { master: { connsSent: number; resync: { served: number } } };
        assert.equal(ms.master.resync.served, 1);
        mm.close();
        bm.close();
        resolve();
      } catch (e) {
        reject(e as Error);
      }
    };
    check();
  });
});

test('ipvsadm --start-daemon / --stop-daemon / -L --daemon with the kernel errors', () => {
  const t = director();
  const sync = manager(t, new Bus(), 9000);
  const run = (s: string): { stdout: string; stderr: string; code: number } =>
    executeIpvsadm(s.split(' '), { director: t.d, nowMs: 0, names: NO_NAMES, sync });
  assert.equal(run('-L --daemon').stdout, '');
  assert.deepEqual(run('--start-daemon master --mcast-interface nosuch'), {
    stdout: '',
    stderr: 'No such device\n',
    code: 255,
    changed: false,
  });
  assert.equal(
    run('--start-daemon backup --mcast-interface noaddr').stderr,
    'Cannot assign requested address\n',
  );
  assert.equal(run('--start-daemon master --mcast-interface eth1 --syncid 4').code, 0);
  assert.equal(run('--start-daemon master --mcast-interface eth0').stderr, 'Daemon has already run\n');
  assert.equal(run('--start-daemon backup --mcast-interface eth1 --mcast-port 9999 --mcast-ttl 3').code, 0);
  // MTU 9000: the master never defaults above 1500 - 28, the backup takes MTU - 28
  assert.equal(
    run('-L --daemon').stdout,
    'master sync daemon (mcast=eth1, syncid=4, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=eth1, syncid=0, maxlen=8972, group=224.0.0.81, port=9999, ttl=3)\n',
  );
  assert.notEqual(t.d.engine.syncSink, null);
  assert.equal(run('--stop-daemon master').code, 0);
  assert.equal(t.d.engine.syncSink, null);
  assert.equal(run('--stop-daemon master').stderr, 'No daemon is running\n');
  assert.equal(run('--stop-daemon backup --syncid 9').code, 0);
  assert.equal(run('-L --daemon').stdout, '');
  assert.equal(run('--start-daemon master --mcast-interface eth1 --mcast-group ff02::81').code, 0);
  assert.match(run('-L --daemon').stdout, /maxlen=1452, group=ff02::81,/);
});
