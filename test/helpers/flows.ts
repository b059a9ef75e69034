/**
 * Flow helpers for whole-pipeline tests on the topology of topo.ts: build client -> VIP and real
 * server -> client frames, read counters, and check the connection table's invariants.
 */
import assert from 'node:assert/strict';
import { eth, ipv4, ipv6, tcp, udp, type L4 } from '../../src/packet/builder.js';
import { parseFrame } from '../../src/packet/parse.js';
import { PacketView } from '../../src/packet/view.js';
import { formatAddress, formatMac } from '../../src/packet/addr.js';
import type { Director } from '../../src/core/director.js';
import { Engine } from '../../src/core/engine.js';
import type { EngineSysctl } from '../../src/core/engine.js';
import { ADDR_C, ADDR_D, ADDR_L, ADDR_V } from '../../src/conn/table.js';
import { CONN_F_HASHED, CONN_F_INACTIVE, CONN_F_TEMPLATE, fwdSeesReplies } from '../../src/conn/flags.js';
import {
  STAT_CONNS,
  STAT_FIELDS,
  STAT_INBYTES,
  STAT_INPKTS,
  STAT_OUTBYTES,
  STAT_OUTPKTS,
  type StatsValues,
} from '../../src/core/stats.js';
import { MAC, makeTopo, type Topo } from './topo.js';
import type { DirectorOptions } from '../../src/core/director.js';
import type { PacketView as PV } from '../../src/packet/view.js';

export const VIP4 = '10.0.0.100';
export const VIP6 = '2001:db8:1::100';
export const RS4 = ['172.16.0.2', '172.16.0.3', '172.16.0.4'] as const;
export const RS6 = ['2001:db8:2::2', '2001:db8:2::3', '2001:db8:2::4'] as const;
const RS_MAC: Record<string, string> = {
  '172.16.0.2': MAC.rs1,
  '172.16.0.3': MAC.rs2,
  '172.16.0.4': MAC.rs3,
  '2001:db8:2::2': MAC.rs1,
  '2001:db8:2::3': MAC.rs2,
  '2001:db8:2::4': MAC.rs3,
};
const ON_LINK = new Set(['10.0.0.2', '2001:db8:1::2']);

/** The MAC a client's frame arrives from: itself on-link, else the router. */
export function clientMac(addr: string): string {
  return ON_LINK.has(addr) ? MAC.client : MAC.router;
}

function l3(src: string, dst: string, l4: L4, ttl = 64): Uint8Array {
  return src.includes(':') ? ipv6({ src, dst, hopLimit: ttl }, l4) : ipv4({ src, dst, ttl }, l4);
}

export interface SegOpts {
  flags: number;
  payload?: Uint8Array;
  seq?: number;
  ack?: number;
  dst?: string;
  dport?: number;
  ttl?: number;
}

/** Client -> VIP TCP frame (arrives on eth0, ifindex 1). */
export function cTcp(client: string, cport: number, o: SegOpts): Uint8Array {
  const dst = o.dst ?? (client.includes(':') ? VIP6 : VIP4);
  return eth(
    { src: clientMac(client), dst: MAC.eth0 },
    l3(
      client,
      dst,
      tcp({
        sport: cport,
        dport: o.dport ?? 80,
        flags: o.flags,
        seq: o.seq ?? 1,
        ack: o.ack ?? 0,
        ...(o.payload ? { payload: o.payload } : {}),
      }),
      o.ttl,
    ),
  );
}

/** Real server -> client TCP frame (arrives on eth1, ifindex 2). */
export function sTcp(rs: string, rport: number, client: string, cport: number, o: SegOpts): Uint8Array {
  return eth(
    { src: RS_MAC[rs] ?? MAC.rs1, dst: MAC.eth1 },
    l3(
      rs,
      client,
      tcp({
        sport: rport,
        dport: cport,
        flags: o.flags,
        seq: o.seq ?? 1,
        ack: o.ack ?? 0,
        ...(o.payload ? { payload: o.payload } : {}),
      }),
      o.ttl,
    ),
  );
}

export function cUdp(client: string, cport: number, dport = 53, payload?: Uint8Array): Uint8Array {
  const dst = client.includes(':') ? VIP6 : VIP4;
  return eth(
    { src: clientMac(client), dst: MAC.eth0 },
    l3(client, dst, udp({ sport: cport, dport, ...(payload ? { payload } : {}) })),
  );
}

export function sUdp(
  rs: string,
  rport: number,
  client: string,
  cport: number,
  payload?: Uint8Array,
): Uint8Array {
  return eth(
    { src: RS_MAC[rs] ?? MAC.rs1, dst: MAC.eth1 },
    l3(rs, client, udp({ sport: rport, dport: cport, ...(payload ? { payload } : {}) })),
  );
}

export interface Seen {
  ifindex: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  dmac: string;
  ttl: number;
}

const pv = new PacketView();
export function seen(f: { ifindex: number; bytes: Uint8Array }): Seen {
  const r = parseFrame(f.bytes, 0, f.bytes.length, pv);
  assert.equal(r, 0, 'a transmitted frame parses');
  return {
    ifindex: f.ifindex,
    src: formatAddress(pv.af, pv.saddr),
    dst: formatAddress(pv.af, pv.daddr),
    sport: pv.sport,
    dport: pv.dport,
    dmac: formatMac(f.bytes, 0),
    ttl: pv.ttl,
  };
}

/** Length of the L3 packet of an Ethernet frame without VLAN tags (what the stats count). */
export function l3Len(frame: Uint8Array): number {
  return frame.length - 14;
}

function statsAt(d: Director, rec: number): StatsValues {
  const a = d.stats.data;
  const o = rec * STAT_FIELDS;
  return {
    conns: a[o + STAT_CONNS]!,
    inpkts: a[o + STAT_INPKTS]!,
    outpkts: a[o + STAT_OUTPKTS]!,
    inbytes: a[o + STAT_INBYTES]!,
    outbytes: a[o + STAT_OUTBYTES]!,
  };
}
export function svcStats(d: Director, svcId: number): StatsValues {
  return statsAt(d, 1 + svcId);
}
export function destStats(d: Director, destId: number): StatsValues {
  return statsAt(d, 1 + d.stats.serviceCapacity + destId);
}
export function totalStats(d: Director): StatsValues {
  return statsAt(d, 0);
}

/** Drop counts of the wire as a plain object for assertion messages. */
export function drops(t: Topo): Record<number, number> {
  return Object.fromEntries(t.wire.dropCounts);
}

/**
 * A topology whose engine has extra options (fwmark classifier): the Director's engine is replaced
 * before its first step, so Director.step drives the new one.
 */
export function makeTopoWith(
  opts: DirectorOptions & { fwmark?: (v: PV) => number; sysctl?: Partial<EngineSysctl> },
): Topo {
  const t = makeTopo(opts);
  const d = t.d;
  const engine = new Engine({
    conns: d.conns,
    timeouts: d.timeouts,
    net: d.net,
    stats: d.stats,
    ...(opts.sysctl ? { sysctl: opts.sysctl } : {}),
    ...(opts.fwmark ? { fwmark: opts.fwmark } : {}),
  });
  Object.defineProperty(d, 'engine', { value: engine });
  return t;
}

const sa = new Uint32Array(4);
const sb = new Uint32Array(4);

/**
 * Connection table invariants: count, templates, DestLive counters per dest (active/inactive by the
 * INACTIVE flag, persist = templates), template nControl, and every hashed entry found again by its
 * own key (IN for all, OUT for NAT/FullNAT conns).
 */
export function checkTable(d: Director): void {
  const c = d.conns;
  const live = d.live;
  let n = 0;
  let tpl = 0;
  const act = new Map<number, number>();
  const inact = new Map<number, number>();
  const pers = new Map<number, number>();
  const ctl = new Map<number, number>();
  const inc = (m: Map<number, number>, k: number): void => void m.set(k, (m.get(k) ?? 0) + 1);
  for (let h = 0; h < c.capacity; h++) {
    if (c.af[h] === 0) continue;
    n++;
    const f = c.flags[h]!;
    const dest = c.destId[h]!;
    if ((f & CONN_F_TEMPLATE) !== 0) {
      tpl++;
      if (dest >= 0) inc(pers, dest);
    } else if (dest >= 0) {
      inc((f & CONN_F_INACTIVE) !== 0 ? inact : act, dest);
    }
    if (c.control[h]! >= 0) {
      assert.ok(c.inUse(c.control[h]!), `conn ${h} controlled by a free handle`);
      inc(ctl, c.control[h]!);
    }
    if ((f & CONN_F_HASHED) !== 0) {
      c.readAddr(h, ADDR_C, sa, 0);
      c.readAddr(h, ADDR_V, sb, 0);
      const p = c.proto[h]!;
      const af = c.af[h]!;
      if ((f & CONN_F_TEMPLATE) !== 0) {
        assert.equal(
          c.lookupTemplate(p, af, sa, 0, c.cport[h]!, sb, 0, c.vport[h]!),
          h,
          `template ${h} found`,
        );
      } else {
        assert.equal(c.lookupIn(p, af, sa, 0, c.cport[h]!, sb, 0, c.vport[h]!), h, `conn ${h} found by IN`);
        if (fwdSeesReplies(f)) {
          c.readAddr(h, ADDR_D, sa, 0);
          c.readAddr(h, ADDR_L, sb, 0);
          assert.equal(
            c.lookupOut(p, c.daf[h]!, sa, 0, c.dport[h]!, sb, 0, c.lport[h]!),
            h,
            `conn ${h} found by OUT`,
          );
        }
      }
    }
  }
  assert.equal(c.count, n, 'conns.count equals in-use handles');
  assert.equal(c.templateCount, tpl, 'templateCount equals templates');
  for (let id = 0; id < live.capacity; id++) {
    assert.equal(live.active[id], act.get(id) ?? 0, `dest ${id} active`);
    assert.equal(live.inactive[id], inact.get(id) ?? 0, `dest ${id} inactive`);
    assert.equal(live.persist[id], pers.get(id) ?? 0, `dest ${id} persist`);
  }
  for (let h = 0; h < c.capacity; h++) {
    if (c.af[h] !== 0 && (c.flags[h]! & CONN_F_TEMPLATE) !== 0) {
      assert.equal(c.nControl[h], ctl.get(h) ?? 0, `template ${h} nControl`);
    }
  }
}
