/**
 * Protocol state machines as tables (DESIGN hot-path rule 7) and the timeouts they arm.
 * Source: ipvs-reference §4.1-4.3 (kernel ip_vs_proto_tcp.c semantics, re-implemented from the table).
 *
 * TCP: next = TCP_TRANSITIONS[(dir * 4 + flagIdx) * 11 + current], where
 *  - dir: DIR_INPUT (client->server), DIR_OUTPUT (server->client, NAT/FullNAT only), DIR_INPUT_ONLY
 *    (an INPUT packet while the conn has NOOUTPUT; the first OUTPUT packet clears NOOUTPUT);
 *  - flagIdx by precedence rst > syn > fin > ack: syn 0, fin 1, ack 2, rst 3;
 *    a packet with none of them moves the conn to CLOSE.
 * Active/inactive (§4.2): conns are created INACTIVE; entering ESTABLISHED moves the dest counter
 * inactive -> active and clears INACTIVE; leaving does the reverse. UDP never becomes active.
 * Every packet re-arms expiry = now + timeout of the (new) state.
 *
 * Units: Timeouts holds milliseconds; set()/get() speak seconds like `ipvsadm --set` / `--timeout`.
 * SCTP: not implemented here (a SCTP conn can use touchOther with the UDP-like timeout for now).
 */
import { LvsError, ERRNO } from '../errors.js';
import type { ConnTable } from './table.js';
import { CONN_F_INACTIVE, CONN_F_NOOUTPUT, CONN_F_TEMPLATE } from './flags.js';

export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
export const TCP_S_COUNT = 11;

/** As ipvsadm -L -c prints them, indexed by state. */
export const TCP_STATE_NAMES: readonly string[] = [
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
];

export const DIR_INPUT = 0;
export const DIR_OUTPUT = 1;
export const DIR_INPUT_ONLY = 2;

export const FLAG_SYN = 0;
export const FLAG_FIN = 1;
export const FLAG_ACK = 2;
export const FLAG_RST = 3;

// TCP header flag bits (RFC 793).
const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_ACK = 0x10;

const ES = TCP_S_ESTABLISHED;
const SS = TCP_S_SYN_SENT;
const SR = TCP_S_SYN_RECV;
const FW = TCP_S_FIN_WAIT;
const TW = TCP_S_TIME_WAIT;
const CL = TCP_S_CLOSE;
const CW = TCP_S_CLOSE_WAIT;
const LA = TCP_S_LAST_ACK;
const LI = TCP_S_LISTEN;

/**
 * ipvs-reference §4.3 "Normal table", transcribed row by row.
 * Columns: current state NO ES SS SR FW TW CL CW LA LI SA.
 */
// prettier-ignore
export const TCP_TRANSITIONS: Uint8Array = Uint8Array.from([
  // INPUT
  /* syn */ SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR,
  /* fin */ CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW,
  /* ack */ CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  /* rst */ CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR,
  // OUTPUT
  /* syn */ SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR,
  /* fin */ TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW,
  /* ack */ ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES,
  /* rst */ CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL,
  // INPUT_ONLY
  /* syn */ SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR,
  /* fin */ CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW,
  /* ack */ CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES,
  /* rst */ CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL,
]);

/** Flag index by precedence rst > syn > fin > ack, -1 when none is set. */
export function tcpFlagIndex(tcpFlags: number): number {
  if ((tcpFlags & TH_RST) !== 0) return FLAG_RST;
  if ((tcpFlags & TH_SYN) !== 0) return FLAG_SYN;
  if ((tcpFlags & TH_FIN) !== 0) return FLAG_FIN;
  if ((tcpFlags & TH_ACK) !== 0) return FLAG_ACK;
  return -1;
}

/** Pure table lookup: next state for (dir, tcp flags, current). */
export function tcpNextState(dir: number, tcpFlags: number, current: number): number {
  const fi = tcpFlagIndex(tcpFlags);
  if (fi < 0) return TCP_S_CLOSE;
  return TCP_TRANSITIONS[(dir * 4 + fi) * TCP_S_COUNT + current]!;
}

/** Default TCP timeouts in seconds, by state (§4.3). */
export const TCP_DEFAULT_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
export const UDP_DEFAULT_TIMEOUT_S = 300;
export const ICMP_DEFAULT_TIMEOUT_S = 60;
/** A new conn lives 3 s until its first state transition (§4.1). Pass to ConnTable.create. */
export const NEW_CONN_TIMEOUT_MS = 3000;
/** Upper bound accepted by set(), seconds (31 days). */
export const TIMEOUT_MAX_S = 2678400;

const T_UDP = TCP_S_COUNT;
const T_ICMP = TCP_S_COUNT + 1;
const T_WORDS = TCP_S_COUNT + 2;

/**
 * Timeouts shared by every table (and every worker: pass `buffer` to share). Values in ms.
 * Index 0..10 TCP by state, 11 UDP, 12 ICMP/other.
 */
export class Timeouts {
  readonly ms: Uint32Array;

  constructor(buffer?: SharedArrayBuffer) {
    const sab = buffer ?? new SharedArrayBuffer(T_WORDS * 4);
    this.ms = new Uint32Array(sab, 0, T_WORDS);
    if (buffer === undefined) {
      for (let i = 0; i < TCP_S_COUNT; i++) this.ms[i] = TCP_DEFAULT_TIMEOUTS_S[i]! * 1000;
      this.ms[T_UDP] = UDP_DEFAULT_TIMEOUT_S * 1000;
      this.ms[T_ICMP] = ICMP_DEFAULT_TIMEOUT_S * 1000;
    }
  }

  get buffer(): SharedArrayBuffer {
    return this.ms.buffer as SharedArrayBuffer;
  }

  tcpMs(state: number): number {
    return Atomics.load(this.ms, state);
  }
  udpMs(): number {
    return Atomics.load(this.ms, T_UDP);
  }
  otherMs(): number {
    return Atomics.load(this.ms, T_ICMP);
  }

  /**
   * `ipvsadm --set tcp tcpfin udp` (seconds): writes ESTABLISHED, FIN_WAIT and UDP; 0 keeps the
   * current value. All three are validated before any is written (bad input changes nothing).
   */
  set(tcp: number, tcpfin: number, udp: number): void {
    for (const v of [tcp, tcpfin, udp]) {
      if (!Number.isInteger(v) || v < 0 || v > TIMEOUT_MAX_S)
        throw new LvsError('ERR_LVS_RANGE', `timeout ${v} out of range 0..${TIMEOUT_MAX_S}`, ERRNO.EINVAL);
    }
    if (tcp !== 0) Atomics.store(this.ms, TCP_S_ESTABLISHED, tcp * 1000);
    if (tcpfin !== 0) Atomics.store(this.ms, TCP_S_FIN_WAIT, tcpfin * 1000);
    if (udp !== 0) Atomics.store(this.ms, T_UDP, udp * 1000);
  }

  /** `ipvsadm -L --timeout`: seconds. */
  get(): { tcp: number; tcpfin: number; udp: number } {
    return {
      tcp: Math.floor(this.tcpMs(TCP_S_ESTABLISHED) / 1000),
      tcpfin: Math.floor(this.tcpMs(TCP_S_FIN_WAIT) / 1000),
      udp: Math.floor(this.udpMs() / 1000),
    };
  }
}

/**
 * Move h to newState: dest active/inactive accounting, timeout of the new state, re-arm expiry.
 * Used by the transitions below and by sync restore. Templates are never moved.
 */
export function setTcpState(
  table: ConnTable,
  timeouts: Timeouts,
  h: number,
  newState: number,
  nowMs: number,
): void {
  const f = table.flags[h]!;
  if ((f & CONN_F_TEMPLATE) !== 0) return;
  const d = table.destId[h]!;
  if (newState === TCP_S_ESTABLISHED) {
    if ((f & CONN_F_INACTIVE) !== 0) {
      if (d >= 0 && table.live !== null) table.live.toActive(d);
      table.flags[h] = f & ~CONN_F_INACTIVE;
    }
  } else if ((f & CONN_F_INACTIVE) === 0) {
    if (d >= 0 && table.live !== null) table.live.toInactive(d);
    table.flags[h] = f | CONN_F_INACTIVE;
  }
  table.state[h] = newState;
  const t = timeouts.tcpMs(newState);
  table.timeout[h] = t;
  table.setExpiry(h, nowMs + t);
}

/**
 * Per TCP packet of conn h. dir: DIR_INPUT (client->server) or DIR_OUTPUT (server->client); the
 * INPUT_ONLY table is chosen here from NOOUTPUT, and an OUTPUT packet clears NOOUTPUT.
 * tcpFlags: the TCP header flags byte. Returns the new state. Allocation-free.
 */
export function tcpStateTransition(
  table: ConnTable,
  timeouts: Timeouts,
  h: number,
  dir: number,
  tcpFlags: number,
  nowMs: number,
): number {
  let d = dir;
  const f = table.flags[h]!;
  if ((f & CONN_F_NOOUTPUT) !== 0) {
    if (dir === DIR_OUTPUT) table.flags[h] = f & ~CONN_F_NOOUTPUT;
    else d = DIR_INPUT_ONLY;
  }
  const cur = table.state[h]!;
  const next = tcpNextState(d, tcpFlags, cur);
  if (next === cur) {
    // Most packets of a flow: no accounting change (INACTIVE already matches the state), only the
    // timer re-arm to the state's timeout (read each time, so `--set` applies at once).
    if ((f & CONN_F_TEMPLATE) !== 0) return next;
    const t = timeouts.tcpMs(next);
    table.timeout[h] = t;
    table.setExpiry(h, nowMs + t);
    return next;
  }
  setTcpState(table, timeouts, h, next, nowMs);
  return next;
}

/** Per UDP packet: the single UDP state, timeout re-armed (never active). */
export function udpTouch(table: ConnTable, timeouts: Timeouts, h: number, nowMs: number): void {
  const t = timeouts.udpMs();
  table.timeout[h] = t;
  table.setExpiry(h, nowMs + t);
}

/** Per packet of any other protocol (ICMP when scheduled, SCTP until it has its own table). */
export function otherTouch(table: ConnTable, timeouts: Timeouts, h: number, nowMs: number): void {
  const t = timeouts.otherMs();
  table.timeout[h] = t;
  table.setExpiry(h, nowMs + t);
}

/** The state name ipvsadm prints for conn h (templates NONE, UDP conns UDP). Control plane. */
export function stateName(table: ConnTable, h: number): string {
  if ((table.flags[h]! & CONN_F_TEMPLATE) !== 0) return 'NONE';
  const p = table.proto[h]!;
  if (p === 6) return TCP_STATE_NAMES[table.state[h]!] ?? 'ERR!';
  if (p === 17) return 'UDP';
  if (p === 1 || p === 58) return 'ICMP';
  return 'ERR!';
}
