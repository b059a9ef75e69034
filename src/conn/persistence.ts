/**
 * Persistence templates and one-packet scheduling (ipvs-reference §4.4). Pieces for the engine; no
 * allocation on the packet path (one TemplateKey per worker, reused).
 *
 * Expected call sequence for the first packet of a new flow to a persistent service (-p):
 *   buildTemplateKey(key, ...)                       // masked client, cport 0, VIP|fwmark, vport|0
 *   t = lookupValidTemplate(table, key, ...)         // -1 if absent or invalidated
 *   if (t < 0) {
 *     dest = scheduler(...)                          // the scheduler runs ONLY when there is no valid template
 *     t = createTemplate(table, key, ..., persistTimeoutMs, now)   // -1: Drop.ConnTableFull
 *   }
 *   dport = destPort !== 0 ? destPort : packet dport
 *   h = table.create(..., destId = table.destId[t], control = t, NEW_CONN_TIMEOUT_MS, now)
 *   refreshTemplate(table, t, now)                    // full persistence timeout from now
 * Non-persistent services skip the template steps and pass control = -1.
 *
 * One-packet (-o, UDP): create with CONN_F_ONE_PACKET (it is bound to the dest but hashed in no
 * index), transmit, then releaseOnePacket(table, h) in the same batch (Drop.OnePacketDone is not a
 * drop: it is the verdict counter name the engine may use for "freed after use").
 *
 * Invalidation (a template whose dest is gone — not DestLive.isAvailable — or quiesced with
 * expire_quiescent_template=1): the template is unhashed so new flows miss it and reschedule, and it
 * expires at the next tick — or, while it still controls conns, in 60 s steps (timer-wheel.ts). The
 * kernel instead leaves it with a scrambled key until its own timer; the visible effect is the same
 * except PersistConn drops sooner.
 */
import type { ConnTable } from './table.js';
import { CONN_F_ONE_PACKET, CONN_F_TEMPLATE } from './flags.js';
import { prefixMaskWord } from '../packet/addr.js';

const AF6 = 6;
const IPPROTO_IP = 0;
const FTP_PORT = 21;

/** The IN key of a template. Reuse one per worker. */
export class TemplateKey {
  proto = 0;
  af = 0;
  readonly caddr = new Uint32Array(4);
  readonly vaddr = new Uint32Array(4);
  vport = 0;
}

/** IPv4 netmask for a prefix length 0..32 (as ipvsadm -M takes a dotted mask, this is for tests/config). */
export function v4Netmask(prefixLen: number): number {
  return prefixMaskWord(prefixLen, 0);
}

/**
 * out = src masked: IPv4 with the u32 netmask (word 0), IPv6 with the prefix length 0..128 (all
 * four words). Words of IPv4 beyond word 0 are zeroed.
 */
export function maskClient(
  af: number,
  src: Uint32Array,
  srcOff: number,
  netmaskV4: number,
  prefixLen6: number,
  out: Uint32Array,
  outOff: number,
): void {
  if (af !== AF6) {
    out[outOff] = (src[srcOff]! & netmaskV4) >>> 0;
    out[outOff + 1] = 0;
    out[outOff + 2] = 0;
    out[outOff + 3] = 0;
    return;
  }
  for (let i = 0; i < 4; i++) out[outOff + i] = (src[srcOff + i]! & prefixMaskWord(prefixLen6, i)) >>> 0;
}

/**
 * Fill key for a packet from caddr to a service. fwmark > 0 (fwmark service): proto IPPROTO_IP,
 * vaddr = the mark as word 0, vport 0. Otherwise the real proto, the VIP, and the service port —
 * except 0 for port-0 services and FTP (21), so the client sticks across all ports (§4.4).
 */
export function buildTemplateKey(
  key: TemplateKey,
  af: number,
  proto: number,
  caddr: Uint32Array,
  caOff: number,
  vaddr: Uint32Array,
  vaOff: number,
  svcPort: number,
  fwmark: number,
  netmaskV4: number,
  prefixLen6: number,
): void {
  key.af = af;
  maskClient(af, caddr, caOff, netmaskV4, prefixLen6, key.caddr, 0);
  if (fwmark !== 0) {
    key.proto = IPPROTO_IP;
    key.vaddr[0] = fwmark >>> 0;
    key.vaddr[1] = 0;
    key.vaddr[2] = 0;
    key.vaddr[3] = 0;
    key.vport = 0;
    return;
  }
  key.proto = proto;
  key.vaddr[0] = vaddr[vaOff]!;
  key.vaddr[1] = af === AF6 ? vaddr[vaOff + 1]! : 0;
  key.vaddr[2] = af === AF6 ? vaddr[vaOff + 2]! : 0;
  key.vaddr[3] = af === AF6 ? vaddr[vaOff + 3]! : 0;
  key.vport = svcPort === 0 || svcPort === FTP_PORT ? 0 : svcPort;
}

/**
 * The template for key if it is valid, else -1. An existing template whose dest is unavailable, or
 * quiesced (quiesced(destId) true) while expireQuiescent is set, is invalidated (see header).
 * quiesced: the engine's "weight is 0" test, or null.
 */
export function lookupValidTemplate(
  table: ConnTable,
  key: TemplateKey,
  expireQuiescent: boolean,
  quiesced: ((destId: number) => boolean) | null,
  nowMs: number,
): number {
  const t = table.lookupTemplate(key.proto, key.af, key.caddr, 0, 0, key.vaddr, 0, key.vport);
  if (t < 0) return -1;
  const d = table.destId[t]!;
  const live = table.live;
  if (
    d < 0 ||
    (live !== null && !live.isAvailable(d)) ||
    (expireQuiescent && quiesced !== null && quiesced(d))
  ) {
    invalidateTemplate(table, t, nowMs);
    return -1;
  }
  return t;
}

/** Make t unreachable for new flows; it expires at the next tick unless it controls conns. */
export function invalidateTemplate(table: ConnTable, t: number, nowMs: number): void {
  table.unhash(t);
  table.expireNow(t, nowMs);
}

/**
 * Create the template for key pointing at dest (daddr:dport of family daf, DestLive id destId).
 * fwdFlags: the dest's forwarding method (CONN_F_FWD_MASK bits). Returns the handle or -1 (full).
 * The template binds the dest in PersistConn (DestLive persist counter).
 */
export function createTemplate(
  table: ConnTable,
  key: TemplateKey,
  fwmark: number,
  svcId: number,
  destId: number,
  daf: number,
  daddr: Uint32Array,
  daOff: number,
  dport: number,
  fwdFlags: number,
  persistTimeoutMs: number,
  nowMs: number,
): number {
  return table.create(
    key.af,
    daf,
    key.proto,
    fwdFlags | CONN_F_TEMPLATE,
    key.caddr,
    0,
    0,
    key.vaddr,
    0,
    key.vport,
    daddr,
    daOff,
    dport,
    key.caddr,
    0,
    0,
    fwmark,
    svcId,
    destId,
    -1,
    persistTimeoutMs,
    nowMs,
  );
}

/** Each new controlled conn re-arms the template to its full persistence timeout (timeout[t]). */
export function refreshTemplate(table: ConnTable, t: number, nowMs: number): void {
  table.setExpiry(t, nowMs + table.timeout[t]!);
}

/** Flags to OR into create() for a one-packet service. */
export const ONE_PACKET_FLAGS = CONN_F_ONE_PACKET;

/** Free a one-packet conn right after its packet was handled (unbinds the dest). */
export function releaseOnePacket(table: ConnTable, h: number): void {
  table.free(h);
}
