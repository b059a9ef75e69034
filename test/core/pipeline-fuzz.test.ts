/**
 * Pipeline fuzz: 1,000,000+ random and mutated frames through a Director with services of every
 * forwarding method (NAT, DR, TUN ipip/gue/gre, FullNAT, Local; v4 and v6; TCP, UDP, SCTP, fwmark),
 * with random vnet metadata and a moving clock, plus control-plane changes between batches.
 * Asserts: nothing throws, every frame gets a verdict, every drop has a valid reason, and the
 * connection table and DestLive counters stay consistent. Deterministic (seeded PRNG).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { w, MAC } from '../helpers/topo.js';
import {
  RS4,
  RS6,
  VIP4,
  VIP6,
  cTcp,
  cUdp,
  checkTable,
  makeTopoWith,
  sTcp,
  sUdp,
  clientMac,
} from '../helpers/flows.js';
import { eth, icmp4, icmp6, ipv4, ipv6, raw, sctp, tcp, udp } from '../../src/packet/builder.js';
import {
  FWD_DROUTE,
  FWD_FULLNAT,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
  type ServiceKey,
} from '../../src/core/services.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, PacketView } from '../../src/packet/view.js';
import { parseFrame } from '../../src/packet/parse.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import {
  VERDICT_DONE,
  VERDICT_DROP,
  VERDICT_KERNEL,
  VERDICT_TX,
  VNET_F_NEEDS_CSUM,
} from '../../src/packet/frame.js';

const FRAMES = 1_000_000;
const PER_BATCH = 32;

let rs = 0x9e3779b9;
function rnd(): number {
  rs ^= rs << 13;
  rs ^= rs >>> 17;
  rs ^= rs << 5;
  return rs >>> 0;
}
const below = (n: number): number => rnd() % n;

interface Seed {
  bytes: Uint8Array;
  ifindex: number;
  /** offsets of bytes varied in a small range (client address low byte, client port low byte) */
  vary: number[];
  l3Off: number;
  af: number;
  l4Off: number;
}

function seeds(): Seed[] {
  const out: Seed[] = [];
  const pv = new PacketView();
  const add = (ifindex: number, bytes: Uint8Array, role: 'c' | 's' | 'x'): void => {
    const r = parseFrame(bytes, 0, bytes.length, pv);
    assert.ok(r >= 0 || role === 'x', 'seed parses');
    const vary: number[] = [];
    if (r >= 0 && pv.af !== 0 && pv.l4Off >= 0 && role !== 'x') {
      const a = pv.af === 4 ? (role === 'c' ? 15 : 19) : role === 'c' ? 23 : 39;
      vary.push(pv.l3Off + a, pv.l4Off + (role === 'c' ? 1 : 3));
    }
    out.push({
      bytes,
      ifindex,
      vary,
      l3Off: r >= 0 ? pv.l3Off : 14,
      af: r >= 0 ? pv.af : 0,
      l4Off: r >= 0 ? pv.l4Off : -1,
    });
  };
  const c4 = '100.64.0.1';
  const c6 = '2001:db8:77::1';
  const P = 0x1000;
  for (const dport of [80, 443, 9000, 7000, 8000, 5001]) {
    for (const flags of [TCP_SYN, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_SYN | TCP_ACK, 0]) {
      add(1, cTcp(c4, P, { flags, dport, payload: flags === TCP_ACK ? new Uint8Array(64) : undefined }), 'c');
    }
  }
  for (const dport of [80, 443])
    for (const flags of [TCP_SYN, TCP_ACK, TCP_FIN]) add(1, cTcp(c6, P, { flags, dport }), 'c');
  for (const r of RS4) {
    for (const flags of [TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST])
      add(2, sTcp(r, 8080, c4, P, { flags }), 's');
    add(2, sUdp(r, 53, c4, P, new Uint8Array(30)), 's');
  }
  for (const r of RS6) add(2, sTcp(r, 8080, c6, P, { flags: TCP_SYN | TCP_ACK }), 's');
  // FullNAT replies go to the local address
  add(
    2,
    eth(
      { src: MAC.rs1, dst: MAC.eth1 },
      ipv4({ src: RS4[0], dst: '172.16.0.1' }, tcp({ sport: 7000, dport: 1024, flags: TCP_ACK })),
    ),
    'x',
  );
  for (const dport of [53, 123]) add(1, cUdp(c4, P, dport, new Uint8Array(20)), 'c');
  add(1, cUdp(c6, P, 53), 'c');
  add(
    1,
    eth({ src: MAC.router, dst: MAC.eth0 }, ipv4({ src: c4, dst: VIP4 }, sctp({ sport: P, dport: 9999 }))),
    'c',
  );
  // IPv6 extension headers
  for (const ext of [
    [{ type: 'hop' as const }],
    [{ type: 'dst' as const, len: 16 }, { type: 'routing' as const }],
    [{ type: 'ah' as const }],
    [{ type: 'frag' as const, offset: 0, mf: true, id: 9 }],
  ]) {
    add(
      1,
      eth(
        { src: MAC.router, dst: MAC.eth0 },
        ipv6({ src: c6, dst: VIP6, ext }, tcp({ sport: P, dport: 80, flags: TCP_SYN })),
      ),
      'c',
    );
  }
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv6(
        { src: c6, dst: VIP6, ext: [{ type: 'frag', offset: 16, id: 9 }] },
        raw(IPPROTO_TCP, new Uint8Array(32)),
      ),
    ),
    'x',
  );
  // IPv4 fragments (first carries the ports, later follows)
  const whole = udp({ sport: P, dport: 123, payload: new Uint8Array(48) });
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv4(
        { src: c4, dst: VIP4, id: 77, mf: true, pseudoLen: whole.bytes.length },
        { ...whole, bytes: whole.bytes.subarray(0, 24) },
      ),
    ),
    'c',
  );
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv4({ src: c4, dst: VIP4, id: 77, fragOffset: 24 }, raw(IPPROTO_UDP, whole.bytes.slice(24))),
    ),
    'x',
  );
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv4(
        { src: c4, dst: VIP4, id: 78, options: new Uint8Array([7, 7, 4, 0, 0, 0, 0]) },
        tcp({ sport: P, dport: 80, flags: TCP_SYN }),
      ),
    ),
    'c',
  );
  // ICMP errors: from the client about our reply; from a real server about a DNATed packet; garbage quotes
  const reply = ipv4({ src: VIP4, dst: c4 }, tcp({ sport: 80, dport: P, flags: TCP_SYN | TCP_ACK }));
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv4({ src: c4, dst: VIP4 }, icmp4({ type: 3, code: 4, rest: 1400, payload: reply.subarray(0, 28) })),
    ),
    'x',
  );
  const toRs = ipv4({ src: c4, dst: RS4[0] }, tcp({ sport: P, dport: 8080, flags: TCP_SYN }));
  add(
    2,
    eth(
      { src: MAC.rs1, dst: MAC.eth1 },
      ipv4({ src: RS4[0], dst: c4 }, icmp4({ type: 3, code: 3, payload: toRs })),
    ),
    'x',
  );
  add(
    2,
    eth(
      { src: MAC.rs1, dst: MAC.eth1 },
      ipv4({ src: RS4[0], dst: c4 }, icmp4({ type: 11, payload: new Uint8Array(40).fill(0x45) })),
    ),
    'x',
  );
  const reply6 = ipv6({ src: VIP6, dst: c6 }, tcp({ sport: 80, dport: P, flags: TCP_ACK }));
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0 },
      ipv6({ src: c6, dst: VIP6 }, icmp6({ type: 2, rest: 1280, payload: reply6 })),
    ),
    'x',
  );
  add(
    1,
    eth({ src: MAC.router, dst: MAC.eth0 }, ipv4({ src: c4, dst: VIP4 }, icmp4({ type: 8, rest: 1 }))),
    'x',
  );
  add(
    1,
    eth(
      { src: MAC.router, dst: MAC.eth0, vlans: [{ tci: 0xa000 }] },
      ipv4({ src: c4, dst: VIP4 }, tcp({ sport: P, dport: 80, flags: TCP_SYN })),
    ),
    'c',
  );
  add(1, eth({ src: MAC.router, dst: MAC.eth0, ethType: 0x0806 }, new Uint8Array(28)), 'x');
  add(
    1,
    eth(
      { src: clientMac(c4), dst: MAC.eth0 },
      ipv4({ src: c4, dst: VIP4, proto: 200 }, raw(200, new Uint8Array(16))),
    ),
    'x',
  );
  return out;
}

function setupDirector(): ReturnType<typeof makeTopoWith> {
  const vip = w(VIP4)[0]!;
  const t = makeTopoWith({
    maxConns: 4096,
    batchSize: 64,
    fwmark: (v) => (v.af === 4 && v.daddr[0] === vip && v.dport >= 5000 && v.dport <= 5010 ? 5 : 0),
  });
  t.wire.keepDropped = false;
  const S = t.d.services;
  const svc = (key: ServiceKey, sched: string, flags = 0, extra = {}): ServiceKey => {
    S.addService(key, {
      scheduler: sched,
      flags,
      ...(flags & SVC_F_PERSISTENT ? { timeout: 60 } : {}),
      ...extra,
    });
    return key;
  };
  const t4 = (port: number, proto = IPPROTO_TCP): ServiceKey => ({ af: 4, proto, addr: w(VIP4), port });
  const t6 = (port: number, proto = IPPROTO_TCP): ServiceKey => ({ af: 6, proto, addr: w(VIP6), port });
  const nat = svc(t4(80), 'wlc');
  RS4.forEach((r, k) =>
    S.addDest(nat, { addr: w(r), port: 8080, fwd: FWD_MASQ, weight: k + 1, uThreshold: k === 0 ? 50 : 0 }),
  );
  const dr = svc(t4(443), 'sh', SVC_F_PERSISTENT);
  RS4.forEach((r) => S.addDest(dr, { addr: w(r), fwd: FWD_DROUTE }));
  const tun = svc(t4(9000), 'mh');
  S.addDest(tun, { addr: w('198.51.100.10'), fwd: FWD_TUNNEL, tunType: TUN_IPIP });
  S.addDest(tun, { addr: w('198.51.100.11'), fwd: FWD_TUNNEL, tunType: TUN_GUE, tunPort: 6080, tunFlags: 2 });
  S.addDest(tun, { addr: w('198.51.100.12'), fwd: FWD_TUNNEL, tunType: TUN_GRE, tunFlags: 1 });
  const fnat = svc(t4(7000), 'rr', 0, { localAddrs: [{ af: 4, addr: w('172.16.0.1') }] });
  RS4.forEach((r) => S.addDest(fnat, { addr: w(r), port: 7000, fwd: FWD_FULLNAT }));
  const local = svc(t4(8000), 'rr');
  S.addDest(local, { addr: w('10.0.0.1'), port: 8000 });
  const dns = svc(t4(53, IPPROTO_UDP), 'rr', SVC_F_ONEPACKET);
  RS4.forEach((r) => S.addDest(dns, { addr: w(r), port: 53, fwd: FWD_MASQ }));
  const ntp = svc(t4(123, IPPROTO_UDP), 'lblc');
  RS4.forEach((r) => S.addDest(ntp, { addr: w(r), fwd: FWD_DROUTE }));
  const sc = svc(t4(9999, IPPROTO_SCTP), 'twos');
  RS4.forEach((r) => S.addDest(sc, { addr: w(r), fwd: FWD_MASQ }));
  const fwm = svc({ af: 4, fwmark: 5 }, 'lblcr', SVC_F_PERSISTENT);
  RS4.forEach((r) => S.addDest(fwm, { addr: w(r), port: 0, fwd: FWD_DROUTE }));
  const n6 = svc(t6(80), 'rr', SVC_F_PERSISTENT, { netmask: 64 });
  RS6.forEach((r) => S.addDest(n6, { addr: w(r), port: 8080, fwd: FWD_MASQ }));
  const tun6 = svc(t6(443), 'wrr');
  RS6.forEach((r, k) => S.addDest(tun6, { addr: w(r), fwd: FWD_TUNNEL, weight: k + 1 }));
  S.addDest(tun6, { af: 4, addr: w('198.51.100.20'), fwd: FWD_TUNNEL });
  const udp6 = svc(t6(53, IPPROTO_UDP), 'nq');
  RS6.forEach((r) => S.addDest(udp6, { addr: w(r), fwd: FWD_DROUTE }));
  return t;
}

const GSO_TYPES = [0, 1, 3, 4, 5, 0x81, 2, 7, 255];

test(`fuzz: ${FRAMES} random and mutated frames through every forwarding method`, () => {
  const t = setupDirector();
  const d = t.d;
  const engine = d.engine;
  const batch = d.batch;
  const corpus = seeds();
  const junk = new Uint8Array(2048);
  const reasons = new Float64Array(Drop.Count);
  const nat: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port: 80 };
  let now = 1000;
  let frames = 0;
  let tx = 0;
  let kernel = 0;
  let dropped = 0;
  let consumed = 0;
  let batches = 0;
  const maxPayload = batch.slotSize - 128;
  const started = Date.now();
  while (frames < FRAMES) {
    d.sync();
    batch.reset();
    for (let k = 0; k < PER_BATCH; k++) {
      const kind = below(100);
      let i: number;
      if (kind < 6) {
        // pure random bytes (sometimes behind a plausible Ethernet header)
        const n = below(300);
        for (let j = 0; j < n; j++) junk[j] = rnd() & 0xff;
        if (kind < 3 && n >= 14) {
          junk[12] = kind === 0 ? 0x08 : 0x86;
          junk[13] = kind === 0 ? 0x00 : 0xdd;
          junk[14] = kind === 0 ? 0x45 : 0x60;
        }
        i = batch.push(junk.subarray(0, n), 1 + below(3));
      } else {
        const s = corpus[below(corpus.length)]!;
        i = batch.push(s.bytes, s.ifindex);
        const base = batch.start[i]!;
        const buf = batch.buf;
        for (const o of s.vary) buf[base + o] = (buf[base + o]! & 0xf8) | below(8);
        const len = batch.len[i]!;
        const l3 = base + s.l3Off;
        if (kind < 40) {
          // valid (varied) frame
        } else if (kind < 55) {
          const flips = 1 + below(6);
          for (let f = 0; f < flips; f++) buf[base + below(len)] = rnd() & 0xff;
        } else if (kind < 63) {
          batch.len[i] = below(len + 1);
        } else if (kind < 70) {
          const extra = Math.min(below(1500), maxPayload - len);
          for (let j = 0; j < extra; j++) buf[base + len + j] = rnd() & 0xff;
          batch.len[i] = len + extra;
        } else if (s.af === 4 && kind < 90) {
          switch (below(8)) {
            case 0: // total length
              buf[l3 + 2] = rnd() & 0xff;
              buf[l3 + 3] = rnd() & 0xff;
              break;
            case 1: // IHL
              buf[l3] = 0x40 | below(16);
              break;
            case 2: // fragment fields
              buf[l3 + 6] = rnd() & 0xff;
              buf[l3 + 7] = rnd() & 0xff;
              break;
            case 3: // TTL 0/1
              buf[l3 + 8] = below(2);
              break;
            case 4: // unknown protocol
              buf[l3 + 9] = rnd() & 0xff;
              break;
            case 5: // options: grow IHL over the L4 header
              buf[l3] = 0x40 | (6 + below(10));
              buf[l3 + 20] = rnd() & 0xff;
              buf[l3 + 21] = rnd() & 0xff;
              break;
            case 6: // TCP data offset / UDP length
              if (s.l4Off > 0) {
                buf[base + s.l4Off + 12] = rnd() & 0xff;
                buf[base + s.l4Off + 4] = rnd() & 0xff;
              }
              break;
            default: // version
              buf[l3] = (rnd() & 0xf0) | (buf[l3]! & 0x0f);
          }
        } else if (s.af === 6 && kind < 90) {
          switch (below(4)) {
            case 0:
              buf[l3 + 4] = rnd() & 0xff;
              buf[l3 + 5] = rnd() & 0xff;
              break;
            case 1:
              buf[l3 + 6] = rnd() & 0xff;
              break;
            case 2:
              buf[l3 + 7] = below(2);
              break;
            default:
              if (len > s.l3Off + 41) buf[l3 + 41] = rnd() & 0xff; // first ext header length
          }
        } else {
          // ICMP-style garbage after the first 34 bytes
          for (let j = 34; j < len; j += 1 + below(8)) buf[base + j] = rnd() & 0xff;
        }
      }
      if (i < 0) continue;
      frames++;
      // random vnet metadata
      const m = below(100);
      if (m < 15) {
        batch.vnetFlags[i] = VNET_F_NEEDS_CSUM | (below(4) === 0 ? 2 : 0);
        batch.csumStart[i] = below(batch.len[i]! + 40);
        batch.csumOffset[i] = below(4) === 0 ? below(64) : [6, 16][below(2)]!;
      }
      if (m >= 10 && m < 22) {
        batch.gsoType[i] = GSO_TYPES[below(GSO_TYPES.length)]!;
        batch.gsoSize[i] = below(4) === 0 ? below(2000) : 64 + below(1400);
        batch.hdrLen[i] = below(128);
      }
      if (m >= 95) batch.vlanTci[i] = below(4096);
    }
    const count = batch.count;
    engine.processBatch(batch, now);
    for (let i = 0; i < count; i++) {
      const v = batch.verdict[i]!;
      const r = batch.reason[i]!;
      if (v === VERDICT_TX) tx++;
      else if (v === VERDICT_KERNEL) kernel++;
      else if (v === VERDICT_DONE) {
        // a GSO super-frame consumed by its segments (appended to the batch)
        assert.ok(r === 0 && batch.total > count, `frame ${i} consumed without segments`);
        consumed++;
      } else {
        assert.equal(v, VERDICT_DROP, `frame ${i} has a verdict`);
        assert.ok(r > 0 && r < Drop.Count, `drop reason ${r} valid`);
        reasons[r]!++;
        dropped++;
      }
    }
    for (let i = count; i < batch.total; i++) {
      const v = batch.verdict[i]!;
      assert.ok(
        v === VERDICT_TX || (v === VERDICT_DROP && batch.reason[i]! > 0 && batch.reason[i]! < Drop.Count),
      );
    }
    batches++;
    now += 1 + below(60);
    if (batches % 3000 === 0) now += 100_000 + below(400_000);
    engine.tick(now);
    // control plane between batches: quiesce, restore, delete and re-add a dest, edit thresholds
    if (batches % 500 === 0) {
      const k = below(3);
      const spec = { addr: w(RS4[k]!), port: 8080, fwd: FWD_MASQ };
      switch (below(4)) {
        case 0:
          d.services.editDest(nat, { ...spec, weight: 0 });
          break;
        case 1:
          d.services.editDest(nat, { ...spec, weight: 1 + below(5), uThreshold: below(2) * 40 });
          break;
        default:
          d.services.deleteDest(nat, spec);
          if (below(2) === 0) d.services.addDest(nat, { ...spec, weight: 1 + below(3) });
          else {
            d.sync();
            d.services.addDest(nat, spec);
          }
      }
    }
    if (batches % 1000 === 0) checkTable(d);
  }
  checkTable(d);
  if (process.env.FUZZ_VERBOSE) {
    const named = [...reasons].map((n, r) => [r, n]).filter(([, n]) => n! > 0);
    console.log({
      frames,
      tx,
      kernel,
      dropped,
      conns: d.conns.count,
      templates: d.conns.templateCount,
      named,
    });
  }
  assert.equal(tx + kernel + dropped + consumed, frames, 'every frame has exactly one verdict');
  // the engine's own drop counters agree with the verdicts we saw (reason 0 is not a drop)
  for (let r = 1; r < Drop.Count; r++)
    assert.equal(engine.drops[r]! >= reasons[r]!, true, `drop ${r} counted`);
  assert.ok(tx > frames / 20, `a good share is forwarded (${tx})`);
  // finally everything expires and the counters return to zero
  engine.tick(now + 4_000_000);
  engine.tick(now + 8_000_000);
  assert.equal(d.conns.count, 0);
  checkTable(d);
  const secs = (Date.now() - started) / 1000;
  assert.ok(secs < 60, `fuzz took ${secs}s`);
});
