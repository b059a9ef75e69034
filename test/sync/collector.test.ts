/**
 * SyncCollector through the real engine (Engine.syncSink): which conns a master queues and when
 * (ipvs-reference §6.4: TCP states, sync_threshold 3 50, templates), the ring's bounds, and the
 * encoder's maxlen splitting and flush timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncCollector } from '../../src/sync/collector.js';
import { pumpMaster, ResyncCursor, SyncEncoder } from '../../src/sync/master.js';
import { decodeSyncMessage, SyncConn } from '../../src/conn/sync-record.js';
import { CONN_F_TEMPLATE } from '../../src/conn/flags.js';
import { stateName } from '../../src/conn/state.js';
import { cTcp } from '../helpers/flows.js';
import { connOf, director, FIN, send, tcpFlow, templates, udpPackets } from './helpers.js';

function attach(
  t: ReturnType<typeof director>,
  ringSize?: number,
): { c: SyncCollector; drained: () => number[] } {
  let clock = 0;
  const c = new SyncCollector(t.d.conns, { clock: () => clock++, ...(ringSize ? { ringSize } : {}) });
  t.d.engine.syncSink = c;
  return {
    c,
    drained: () => {
      const out: number[] = [];
      c.drain((h) => {
        out.push(h);
        return true;
      });
      return out;
    },
  };
}

test('TCP: not synced before ESTABLISHED; synced by the third client packet, then every 50', () => {
  const t = director();
  const { drained } = attach(t);
  send(t, 1000, cTcp('10.0.0.2', 4000, { flags: 0x02 }));
  const h = connOf(t, '10.0.0.2', 4000);
  assert.ok(h >= 0);
  assert.deepEqual(drained(), [], 'SYN_RECV is not a synced state');
  send(t, 1001, cTcp('10.0.0.2', 4000, { flags: 0x10 }));
  assert.equal(stateName(t.d.conns, h), 'ESTABLISHED');
  assert.deepEqual(drained(), [], 'entering ESTABLISHED waits for the threshold (in_pkts 2)');
  send(t, 1002, cTcp('10.0.0.2', 4000, { flags: 0x10, payload: new Uint8Array([1]) }));
  assert.deepEqual(drained(), [h], 'in_pkts 3');
  for (let i = 4; i <= 52; i++) send(t, 1000 + i, cTcp('10.0.0.2', 4000, { flags: 0x10 }));
  assert.deepEqual(drained(), [], 'nothing between 4 and 52');
  send(t, 1060, cTcp('10.0.0.2', 4000, { flags: 0x10 }));
  assert.deepEqual(drained(), [h], 'in_pkts 53');
});

test('TCP: a change to FIN_WAIT/CLOSE/TIME_WAIT syncs at once, once per state', () => {
  const t = director();
  const { drained } = attach(t);
  tcpFlow(t, '10.0.0.2', 4001, 1);
  const h = connOf(t, '10.0.0.2', 4001);
  assert.deepEqual(drained(), [h]);
  // client FIN on a NAT conn without server packets: INPUT_ONLY? no, NAT sees replies -> INPUT table
  send(t, 2000, cTcp('10.0.0.2', 4001, FIN));
  const s1 = stateName(t.d.conns, h);
  assert.notEqual(s1, 'ESTABLISHED');
  assert.deepEqual(drained(), [h], `entering ${s1} syncs`);
  send(t, 2001, cTcp('10.0.0.2', 4001, FIN));
  const s2 = stateName(t.d.conns, h);
  assert.deepEqual(drained(), s2 === s1 ? [] : [h], `${s1} -> ${s2}`);
});

test('UDP: synced at in_pkts 3 and 53', () => {
  const t = director();
  const { drained } = attach(t);
  udpPackets(t, '10.0.0.2', 5000, 2);
  assert.deepEqual(drained(), []);
  udpPackets(t, '10.0.0.2', 5000, 1, 1100);
  const h = connOf(t, '10.0.0.2', 5000);
  assert.deepEqual(drained(), [h]);
  udpPackets(t, '10.0.0.2', 5000, 49, 1200);
  assert.deepEqual(drained(), [], 'up to 52');
  udpPackets(t, '10.0.0.2', 5000, 1, 1300);
  assert.deepEqual(drained(), [h]);
});

test('a GSO super-frame that jumps over the threshold count still syncs', () => {
  const t = director();
  const c = new SyncCollector(t.d.conns);
  udpPackets(t, '10.0.0.2', 5001, 1);
  const h = connOf(t, '10.0.0.2', 5001);
  c.noteIn(h, 10, 9); // packets 2..10 in one frame: 3 is among them
  assert.equal(c.pending, 1);
  const d = new SyncCollector(t.d.conns);
  d.noteIn(h, 60, 5); // 56..60: no 53, no 103
  assert.equal(d.pending, 0);
});

test('templates are synced with the conns they control', () => {
  const t = director({ persistent: true });
  const { drained } = attach(t);
  tcpFlow(t, '10.0.0.2', 4100, 1);
  const h = connOf(t, '10.0.0.2', 4100);
  const tpl = templates(t);
  assert.equal(tpl.length, 1);
  assert.deepEqual(drained(), [h, tpl[0]]);
  assert.ok((t.d.conns.flags[tpl[0]!]! & CONN_F_TEMPLATE) !== 0);
});

test('a conn is queued once until drained; a freed slot is skipped; a full ring counts drops', () => {
  const t = director();
  const { c, drained } = attach(t, 2);
  tcpFlow(t, '10.0.0.2', 4200, 1);
  const h = connOf(t, '10.0.0.2', 4200);
  c.push(h);
  c.push(h);
  assert.equal(c.pending, 1);
  tcpFlow(t, '10.0.0.3', 4201, 1);
  tcpFlow(t, '10.0.0.4', 4202, 1);
  assert.equal(c.pending, 2);
  assert.equal(c.ringFull, 1);
  t.d.conns.free(h);
  const out = drained();
  assert.equal(out.length, 1, 'the freed conn is not handed out');
  assert.notEqual(out[0], h);
});

test('encoder: maxlen splits messages, each decodes; a partial message waits for the flush time', () => {
  const t = director();
  const c = new SyncCollector(t.d.conns, { clock: () => 2000 });
  for (let i = 0; i < 100; i++) udpPackets(t, '10.0.0.2', 6000 + i, 1);
  t.d.conns.forEach((h) => c.push(h));
  const msgs: Buffer[] = [];
  const enc = new SyncEncoder(1472, 3, (m) => msgs.push(m));
  pumpMaster(c, enc, t.d.conns, 2000, 1000);
  // (1472 - 8) / 36 = 40 IPv4 records per message
  assert.deepEqual(
    msgs.map((m) => m.length),
    [8 + 40 * 36, 8 + 40 * 36],
  );
  assert.equal(enc.openCount, 20, 'the rest waits');
  pumpMaster(c, enc, t.d.conns, 2999, 1000);
  assert.equal(msgs.length, 2, 'not yet');
  pumpMaster(c, enc, t.d.conns, 3000, 1000);
  assert.equal(msgs.length, 3);
  const ports = new Set<number>();
  for (const m of msgs) {
    const info = decodeSyncMessage(m, 0, m.length, (r: SyncConn) => ports.add(r.cport));
    assert.equal(info.syncid, 3);
    assert.ok(m.length <= 1472);
  }
  assert.equal(ports.size, 100);
  // the smallest maxlen (one IPv6 record, 80 bytes) takes two IPv4 records
  const small: Buffer[] = [];
  const e2 = new SyncEncoder(80, 0, (m) => small.push(m));
  for (let i = 0; i < 3; i++) e2.add(t.d.conns, connOf(t, '10.0.0.2', 6000 + i), 2000, 0);
  e2.flush();
  assert.deepEqual(
    small.map((m) => m.length),
    [80, 44],
  );
});

test('bulk resync pages through the table: templates first, every record once, paced', () => {
  const t = director({ persistent: true });
  for (let i = 0; i < 30; i++) tcpFlow(t, `10.0.1.${i + 1}`, 7000, 0);
  const nConns = t.d.conns.count;
  const nTpl = t.d.conns.templateCount;
  assert.equal(nTpl, 30);
  const msgs: Buffer[] = [];
  const enc = new SyncEncoder(300, 0, (m) => msgs.push(m)); // 8 records a message
  const cur = new ResyncCursor(t.d.conns, enc);
  let steps = 0;
  while (!cur.step(5000, 1000, 2)) {
    steps++;
    assert.ok(steps < 10000);
  }
  assert.ok(steps > 3, `paced over several steps (${steps})`);
  assert.equal(cur.records, nConns);
  const seen: { template: boolean; c: number; port: number }[] = [];
  for (const m of msgs)
    decodeSyncMessage(m, 0, m.length, (r) =>
      seen.push({ template: (r.flags & CONN_F_TEMPLATE) !== 0, c: r.caddr[0]!, port: r.cport }),
    );
  assert.equal(seen.length, nConns);
  const firstConn = seen.findIndex((s) => !s.template);
  assert.equal(firstConn, nTpl, 'templates come first');
  assert.equal(new Set(seen.map((s) => `${s.template}:${s.c}:${s.port}`)).size, nConns);
});
