import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DIR_INPUT,
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  TCP_STATE_NAMES,
  TCP_S_CLOSE,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_SYN_RECV,
  TCP_S_TIME_WAIT,
  Timeouts,
  stateName,
  tcpNextState,
  tcpStateTransition,
  udpTouch,
} from '../../src/conn/state.js';
import { CONN_F_DROUTE, CONN_F_INACTIVE, CONN_F_MASQ, CONN_F_NOOUTPUT } from '../../src/conn/flags.js';
import { LvsError } from '../../src/errors.js';
import { ip4, mk, mkTable } from './helpers.js';

const SYN = 0x02;
const FIN = 0x01;
const RST = 0x04;
const ACK = 0x10;
const PSH = 0x08;

// The reference table (ipvs-reference §4.3) as text, parsed independently of src/conn/state.ts.
const REF = `
INPUT       syn: SR ES ES SR SR SR SR SR SR SR SR
            fin: CL CW SS TW TW TW CL CW LA LI TW
            ack: CL ES SS ES FW TW CL CW CL LI ES
            rst: CL CL CL SR CL CL CL CL LA LI SR
OUTPUT      syn: SS ES SS SR SS SS SS SS SS LI SR
            fin: TW FW SS TW FW TW CL TW LA LI TW
            ack: ES ES SS ES FW TW CL CW LA ES ES
            rst: CL CL SS CL CL TW CL CL CL CL CL
INPUT_ONLY  syn: SR ES ES SR SR SR SR SR SR SR SR
            fin: CL FW SS TW FW TW CL CW LA LI TW
            ack: CL ES SS ES FW TW CL CW CL LI ES
            rst: CL CL CL SR CL CL CL CL LA LI CL
`;
const ABBR = ['NO', 'ES', 'SS', 'SR', 'FW', 'TW', 'CL', 'CW', 'LA', 'LI', 'SA'];
const FLAGBITS: Record<string, number> = { syn: SYN, fin: FIN, ack: ACK, rst: RST };

test('every cell of the three TCP tables matches the reference', () => {
  let dir = -1;
  let cells = 0;
  for (const line of REF.trim().split('\n')) {
    const m = /^(INPUT_ONLY|INPUT|OUTPUT)?\s*(syn|fin|ack|rst):\s+(.*)$/.exec(line.trim());
    assert.ok(m, line);
    if (m[1]) dir = m[1] === 'INPUT' ? DIR_INPUT : m[1] === 'OUTPUT' ? DIR_OUTPUT : DIR_INPUT_ONLY;
    const targets = m[3]!.trim().split(/\s+/);
    assert.equal(targets.length, 11);
    targets.forEach((abbr, cur) => {
      const want = ABBR.indexOf(abbr);
      assert.ok(want >= 0);
      assert.equal(tcpNextState(dir, FLAGBITS[m[2]!]!, cur), want, `${line} col ${ABBR[cur]}`);
      cells++;
    });
  }
  assert.equal(cells, 3 * 4 * 11);
});

test('flag precedence rst > syn > fin > ack; no flag -> CLOSE', () => {
  // from ESTABLISHED INPUT: rst->CL, syn->ES, fin->CW, ack->ES
  assert.equal(tcpNextState(DIR_INPUT, RST | SYN | FIN | ACK, TCP_S_ESTABLISHED), TCP_S_CLOSE);
  assert.equal(tcpNextState(DIR_INPUT, SYN | FIN | ACK, TCP_S_SYN_RECV), TCP_S_SYN_RECV); // syn wins over ack (ack would be ES)
  assert.equal(tcpNextState(DIR_INPUT, FIN | ACK, TCP_S_ESTABLISHED), 7); // CLOSE_WAIT
  assert.equal(tcpNextState(DIR_INPUT, PSH, TCP_S_ESTABLISHED), TCP_S_CLOSE);
  assert.equal(tcpNextState(DIR_OUTPUT, 0, TCP_S_ESTABLISHED), TCP_S_CLOSE);
});

test('state names as ipvsadm prints them', () => {
  assert.deepEqual(TCP_STATE_NAMES, [
    'NONE',
    'ESTABLISHED',
    'SYN_SENT',
    'SYN_RECV',
    'FIN_WAIT',
    'TIME_WAIT',
    'CLOSE',
    'CLOSE_WAIT',
    'LAST_ACK',
    'LISTEN',
    'SYNACK',
  ]);
});

test('default timeouts and --set semantics', () => {
  const to = new Timeouts();
  const want = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
  want.forEach((s, i) => assert.equal(to.tcpMs(i), s * 1000));
  assert.equal(to.udpMs(), 300_000);
  assert.equal(to.otherMs(), 60_000);
  assert.deepEqual(to.get(), { tcp: 900, tcpfin: 120, udp: 300 });
  to.set(0, 30, 0);
  assert.deepEqual(to.get(), { tcp: 900, tcpfin: 30, udp: 300 });
  to.set(100, 0, 5);
  assert.deepEqual(to.get(), { tcp: 100, tcpfin: 30, udp: 5 });
  for (const bad of [
    [-1, 0, 0],
    [0, 2678401, 0],
    [0, 0, 1.5],
  ]) {
    assert.throws(
      () => to.set(bad[0]!, bad[1]!, bad[2]!),
      (e: unknown) => e instanceof LvsError && e.code === 'ERR_LVS_RANGE',
    );
  }
  assert.deepEqual(to.get(), { tcp: 100, tcpfin: 30, udp: 5 }, 'bad input changes nothing');
  to.set(2678400, 0, 0);
  assert.equal(to.get().tcp, 2678400);
  const shared = new Timeouts(to.buffer);
  assert.equal(shared.get().tcp, 2678400);
});

const C = ip4('10.0.0.2');
const V = ip4('207.175.44.110');
const D = ip4('172.16.0.2');

test('DR flow (input only): SYN -> SYN_RECV, ACK -> ESTABLISHED (active), FIN -> FIN_WAIT (inactive)', () => {
  const { t, live } = mkTable();
  const to = new Timeouts();
  const h = mk(t, { flags: CONN_F_DROUTE, c: C, cport: 1, v: V, vport: 80, d: D, dport: 80, destId: 5 }, 0);
  assert.equal(t.timeout[h], 3000);
  assert.equal(t.expiry[h], 3000);
  assert.equal(live.inactive[5], 1);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, SYN, 10), TCP_S_SYN_RECV);
  assert.equal(t.timeout[h], 60_000);
  assert.equal(t.expiry[h], 60_010);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, ACK, 20), TCP_S_ESTABLISHED);
  assert.equal(live.active[5], 1);
  assert.equal(live.inactive[5], 0);
  assert.equal(t.flags[h]! & CONN_F_INACTIVE, 0);
  assert.equal(t.expiry[h], 900_020);
  // data packets re-arm
  tcpStateTransition(t, to, h, DIR_INPUT, ACK | PSH, 5000);
  assert.equal(t.expiry[h], 905_000);
  // INPUT_ONLY fin from ES -> FIN_WAIT (the INPUT table would give CLOSE_WAIT)
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, FIN | ACK, 6000), TCP_S_FIN_WAIT);
  assert.equal(live.active[5], 0);
  assert.equal(live.inactive[5], 1);
  assert.ok(t.flags[h]! & CONN_F_INACTIVE);
  assert.equal(t.expiry[h], 126_000);
  assert.equal(stateName(t, h), 'FIN_WAIT');
  t.free(h);
  assert.equal(live.inactive[5], 0);
  assert.equal(live.active[5], 0);
});

test('NAT flow (both directions): full handshake and close reach TIME_WAIT; NOOUTPUT never set', () => {
  const { t, live } = mkTable();
  const to = new Timeouts();
  const h = mk(t, { flags: CONN_F_MASQ, c: C, cport: 2, v: V, vport: 80, d: D, dport: 8080, destId: 1 });
  assert.equal(t.flags[h]! & CONN_F_NOOUTPUT, 0);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, SYN, 0), TCP_S_SYN_RECV);
  assert.equal(tcpStateTransition(t, to, h, DIR_OUTPUT, SYN | ACK, 1), TCP_S_SYN_RECV);
  assert.equal(live.active[1], 0);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, ACK, 2), TCP_S_ESTABLISHED);
  assert.equal(live.active[1], 1);
  assert.equal(tcpStateTransition(t, to, h, DIR_OUTPUT, ACK, 3), TCP_S_ESTABLISHED);
  // server closes first: OUTPUT fin ES -> FW; client ACK FW -> FW; client FIN FW -> TW
  assert.equal(tcpStateTransition(t, to, h, DIR_OUTPUT, FIN | ACK, 4), TCP_S_FIN_WAIT);
  assert.equal(live.active[1], 0);
  assert.equal(live.inactive[1], 1);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, ACK, 5), TCP_S_FIN_WAIT);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, FIN | ACK, 6), TCP_S_TIME_WAIT);
  assert.equal(t.timeout[h], 120_000);
  assert.equal(live.inactive[1], 1);
});

test('DR-style conn switches to OUTPUT table at the first OUTPUT packet (clears NOOUTPUT)', () => {
  const { t } = mkTable();
  const to = new Timeouts();
  const h = mk(t, { flags: CONN_F_DROUTE, c: C, cport: 3, v: V, vport: 80, d: D, dport: 80 });
  assert.ok(t.flags[h]! & CONN_F_NOOUTPUT);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, SYN, 0), TCP_S_SYN_RECV);
  assert.ok(t.flags[h]! & CONN_F_NOOUTPUT);
  assert.equal(tcpStateTransition(t, to, h, DIR_OUTPUT, SYN | ACK, 0), TCP_S_SYN_RECV);
  assert.equal(t.flags[h]! & CONN_F_NOOUTPUT, 0);
  // now INPUT fin from ES uses the INPUT table (CLOSE_WAIT), not INPUT_ONLY (FIN_WAIT)
  tcpStateTransition(t, to, h, DIR_INPUT, ACK, 1);
  assert.equal(t.state[h], TCP_S_ESTABLISHED);
  assert.equal(tcpStateTransition(t, to, h, DIR_INPUT, FIN, 2), 7);
});

test('--set changes the timeout armed by later transitions; UDP stays inactive', () => {
  const { t, live } = mkTable();
  const to = new Timeouts();
  to.set(10, 0, 7);
  const h = mk(t, { flags: CONN_F_MASQ, c: C, cport: 4, v: V, vport: 80, d: D, dport: 80, destId: 2 });
  tcpStateTransition(t, to, h, DIR_INPUT, SYN, 0);
  tcpStateTransition(t, to, h, DIR_INPUT, ACK, 0);
  assert.equal(t.timeout[h], 10_000);
  const u = mk(t, {
    proto: 17,
    flags: CONN_F_MASQ,
    c: C,
    cport: 5,
    v: V,
    vport: 53,
    d: D,
    dport: 53,
    destId: 2,
  });
  udpTouch(t, to, u, 100);
  assert.equal(t.expiry[u], 7100);
  assert.equal(stateName(t, u), 'UDP');
  assert.equal(live.inactive[2], 1);
  assert.equal(live.active[2], 1);
});
