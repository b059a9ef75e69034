/**
 * Offloads and MTU, byte for byte: partial checksums (virtio NEEDS_CSUM) stay partial through NAT and
 * tunnels; GSO super-frames stay whole for NAT/DR and are segmented for TUN; path MTU (ipvs-reference
 * §5.4: usable MTU = route MTU - tunnel overhead) answers with frag-needed / packet-too-big, rate-limited;
 * MSS clamping on SYN for TUN services.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bytesOf,
  concat,
  eth,
  icmp4,
  icmp6,
  ipv4,
  ipv6,
  tcp,
  udp,
  type CsumMode,
  type L4,
} from '../../src/packet/builder.js';
import {
  FWD_DROUTE,
  FWD_FULLNAT,
  FWD_MASQ,
  FWD_TUNNEL,
  TUN_F_CSUM,
  TUN_F_NOCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from '../../src/core/services.js';
import { GSO_TCPV4, GSO_TCPV6, SLOT_SIZE_GSO, VNET_F_NEEDS_CSUM } from '../../src/packet/frame.js';
import { StatsReader } from '../../src/core/stats.js';
import { finalizePartial } from '../../src/packet/checksum.js';
import { Drop } from '../../src/packet/drop-reasons.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/packet/view.js';
import {
  expectTunnel,
  makeFwdTopo,
  MAC,
  one,
  rd16,
  run1,
  sameBytes,
  describe,
  w,
  type RunResult,
} from '../helpers/fwd.js';
import { ADDR, type Af, fromClient, fromRs, ip, PROTO, toClient, toRs } from '../helpers/pkts.js';
import type { Topo } from '../helpers/topo.js';
import type { WireFrame } from '../../src/io/memory.js';

const NEEDS = VNET_F_NEEDS_CSUM;
const ipHl = (af: Af): number => (af === 4 ? 20 : 40);

function finalized(f: WireFrame): Uint8Array {
  const b = f.bytes.slice();
  finalizePartial(b, f.csumStart, f.csumOffset, b.length);
  return b;
}

function seg(
  proto: 'tcp' | 'udp',
  sport: number,
  dport: number,
  flags: number,
  csum: CsumMode,
  payload?: Uint8Array,
): L4 {
  return proto === 'tcp'
    ? tcp({ sport, dport, flags, seq: 7000, ack: 1, csum, payload: payload ?? bytesOf(37) })
    : udp({ sport, dport, csum, payload: payload ?? bytesOf(37) });
}

// ------------------------------------------------------------------ partial checksums

interface PartialRow {
  name: string;
  af: Af;
  proto: 'tcp' | 'udp';
  fwd: number;
  /** in-band VLAN tag on the input frame (4 more bytes before L3) */
  inbandVlan: boolean;
}

const partialRows: PartialRow[] = [];
for (const af of [4, 6] as const)
  for (const proto of ['tcp', 'udp'] as const) {
    partialRows.push({ name: 'nat', af, proto, fwd: FWD_MASQ, inbandVlan: false });
    partialRows.push({ name: 'nat+inband-vlan', af, proto, fwd: FWD_MASQ, inbandVlan: true });
    partialRows.push({ name: 'fullnat', af, proto, fwd: FWD_FULLNAT, inbandVlan: false });
  }

for (const r of partialRows) {
  test(`partial csum ${r.name} ${r.af} ${r.proto}: NEEDS_CSUM kept, csumStart moved, finalizes right`, () => {
    const t = makeFwdTopo();
    const A = ADDR[r.af];
    const key = { af: r.af, proto: PROTO[r.proto], addr: w(A.vip), port: 80 };
    t.d.services.addService(key, { scheduler: 'rr', localAddrs: [{ af: r.af, addr: w(A.laddr) }] });
    t.d.services.addDest(key, { addr: w(A.rs), port: 8080, fwd: r.fwd });
    const first = r.proto === 'tcp' ? TCP_SYN : 0;
    const l3 = ip(r.af, { src: A.client, dst: A.vip }, seg(r.proto, 40000, 80, first, 'partial'));
    const input = eth({ src: MAC.client, dst: MAC.eth0, vlans: r.inbandVlan ? [{ tci: 100 }] : [] }, l3);
    const l2 = r.inbandVlan ? 18 : 14;
    const csumOffset = r.proto === 'tcp' ? 16 : 6;
    const meta = { vnetFlags: NEEDS, csumStart: l2 + ipHl(r.af), csumOffset };
    const o = one(run1(t, 1, input, meta), 2, r.name);
    assert.equal(o.vnetFlags & NEEDS, NEEDS, 'still partial');
    assert.equal(o.csumStart, 14 + ipHl(r.af), 'csumStart relative to the output frame');
    assert.equal(o.csumOffset, csumOffset);
    const fullnat = r.fwd === FWD_FULLNAT;
    const lport = fullnat ? rd16(o.bytes, 14 + ipHl(r.af)) : 40000;
    const src = fullnat ? A.laddr : A.client;
    sameBytes(
      o.bytes,
      toRs(ip(r.af, { src, dst: A.rs }, seg(r.proto, lport, 8080, first, 'partial'))),
      'partial as stored',
    );
    sameBytes(
      finalized(o),
      toRs(ip(r.af, { src, dst: A.rs }, seg(r.proto, lport, 8080, first, 'good'))),
      'finalized',
    );

    // the reply, partial too
    const reply = fromRs(
      ip(r.af, { src: A.rs, dst: src }, seg(r.proto, 8080, lport, first | TCP_ACK, 'partial')),
    );
    const o2 = one(run1(t, 2, reply, { vnetFlags: NEEDS, csumStart: 14 + ipHl(r.af), csumOffset }, 1001), 1);
    assert.equal(o2.vnetFlags & NEEDS, NEEDS);
    assert.equal(o2.csumStart, 14 + ipHl(r.af));
    const back = (c: CsumMode): Uint8Array =>
      toClient(ip(r.af, { src: A.vip, dst: A.client, ttl: 63 }, seg(r.proto, 80, 40000, first | TCP_ACK, c)));
    sameBytes(o2.bytes, back('partial'), 'reply partial as stored');
    sameBytes(finalized(o2), back('good'), 'reply finalized');
  });
}

const TUN_ROWS = [
  { name: 'ipip', tunType: TUN_IPIP, tunFlags: TUN_F_NOCSUM, tunPort: 0, over: 20, keepsPartial: true },
  { name: 'gue', tunType: TUN_GUE, tunFlags: TUN_F_NOCSUM, tunPort: 6080, over: 32, keepsPartial: true },
  { name: 'gue+csum', tunType: TUN_GUE, tunFlags: TUN_F_CSUM, tunPort: 6080, over: 32, keepsPartial: false },
  { name: 'gre', tunType: TUN_GRE, tunFlags: TUN_F_NOCSUM, tunPort: 0, over: 24, keepsPartial: true },
  { name: 'gre+csum', tunType: TUN_GRE, tunFlags: TUN_F_CSUM, tunPort: 0, over: 28, keepsPartial: false },
];

function addTun(
  t: Topo,
  af: Af,
  daf: Af,
  rs: string,
  row: (typeof TUN_ROWS)[number],
  proto = PROTO.tcp,
): void {
  const key = { af, proto, addr: w(ADDR[af].vip), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, {
    af: daf,
    addr: w(rs),
    port: 80,
    fwd: FWD_TUNNEL,
    tunType: row.tunType,
    tunFlags: row.tunFlags,
    ...(row.tunPort ? { tunPort: row.tunPort } : {}),
  });
}

for (const af of [4, 6] as const)
  for (const row of TUN_ROWS) {
    test(`partial csum TUN ${row.name} inner ${af}: partial kept (csumStart + overhead) or finished inside`, () => {
      const t = makeFwdTopo();
      const A = ADDR[af];
      const rs = '198.51.100.10';
      addTun(t, af, 4, rs, row);
      const inner = (c: CsumMode): Uint8Array =>
        ip(af, { src: A.client, dst: A.vip, df: true }, seg('tcp', 40000, 80, TCP_SYN, c));
      const meta = { vnetFlags: NEEDS, csumStart: 14 + ipHl(af), csumOffset: 16 };
      const o = one(run1(t, 1, fromClient(inner('partial')), meta), 3);
      const d = { daf: 4 as const, rs, ...row };
      if (row.keepsPartial) {
        assert.equal(o.vnetFlags & NEEDS, NEEDS);
        assert.equal(o.csumStart, 14 + row.over + ipHl(af));
        assert.equal(o.csumOffset, 16);
        sameBytes(o.bytes, expectTunnel(d, inner('partial'), o.bytes, af), 'as stored');
        sameBytes(finalized(o), expectTunnel(d, inner('good'), o.bytes, af), 'finalized');
      } else {
        assert.equal(o.vnetFlags & NEEDS, 0, 'the outer checksum covered the inner: finished here');
        sameBytes(o.bytes, expectTunnel(d, inner('good'), o.bytes, af), 'finished');
      }
    });
  }

// ------------------------------------------------------------------ GSO

const GSO_TOPO = { slotSize: SLOT_SIZE_GSO, batchSize: 16 };

function gsoFrame(
  af: Af,
  dst: string,
  payload: Uint8Array,
  c: CsumMode,
  opts: { dport?: number; src?: string } = {},
): Uint8Array {
  const A = ADDR[af];
  return ip(
    af,
    { src: opts.src ?? A.client, dst, df: true, id: 0x4000 },
    tcp({
      sport: 40000,
      dport: opts.dport ?? 80,
      flags: TCP_ACK | TCP_PSH,
      seq: 0xfffff000,
      ack: 1,
      payload,
      csum: c,
    }),
  );
}

function gsoMeta(
  af: Af,
  gsoSize: number,
): {
  vnetFlags: number;
  csumStart: number;
  csumOffset: number;
  gsoType: number;
  gsoSize: number;
  hdrLen: number;
} {
  return {
    vnetFlags: NEEDS,
    csumStart: 14 + ipHl(af),
    csumOffset: 16,
    gsoType: af === 4 ? GSO_TCPV4 : GSO_TCPV6,
    gsoSize,
    hdrLen: 14 + ipHl(af) + 20,
  };
}

function syn(af: Af): Uint8Array {
  const A = ADDR[af];
  return fromClient(
    ip(af, { src: A.client, dst: A.vip, df: true }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
  );
}

for (const af of [4, 6] as const)
  for (const fwd of [FWD_MASQ, FWD_DROUTE] as const) {
    test(`GSO ${af} ${fwd === FWD_MASQ ? 'NAT' : 'DR'}: the super-frame stays whole with its metadata`, () => {
      const t = makeFwdTopo(GSO_TOPO);
      const A = ADDR[af];
      const key = { af, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
      t.d.services.addService(key, { scheduler: 'rr' });
      const rport = fwd === FWD_MASQ ? 8080 : 80;
      t.d.services.addDest(key, { addr: w(A.rs), port: rport, fwd });
      one(run1(t, 1, syn(af)), 2);
      const payload = bytesOf(9000, 3);
      const gsoSize = 1500 - ipHl(af) - 20; // the largest segment exactly fills the MTU
      const meta = gsoMeta(af, gsoSize);
      const o = one(run1(t, 1, fromClient(gsoFrame(af, A.vip, payload, 'partial')), meta, 1001), 2);
      assert.equal(o.gsoType, meta.gsoType);
      assert.equal(o.gsoSize, gsoSize);
      assert.equal(o.hdrLen, meta.hdrLen);
      assert.equal(o.vnetFlags & NEEDS, NEEDS);
      assert.equal(o.csumStart, meta.csumStart);
      const exp = (c: CsumMode): Uint8Array =>
        fwd === FWD_MASQ
          ? toRs(gsoFrame(af, A.rs, payload, c, { dport: 8080 }))
          : toRs(gsoFrame(af, A.vip, payload, c));
      sameBytes(o.bytes, exp('partial'), 'super-frame');
      sameBytes(finalized(o), exp('good'), 'super-frame finalized');
      // stats count segments: SYN + ceil(9000 / gsoSize) = 7 packets
      const svc = t.d.services.getService(key)!;
      const s = new StatsReader(1024, 4096, [t.d.stats]).service(svc.id);
      assert.equal(s.inpkts, 1 + 7);
    });
  }

for (const af of [4, 6] as const)
  for (const row of [TUN_ROWS[0]!, TUN_ROWS[2]!, TUN_ROWS[4]!]) {
    test(`GSO ${af} TUN ${row.name}: segmented into MSS-sized encapsulated frames, payload reassembles`, () => {
      const t = makeFwdTopo(GSO_TOPO);
      const A = ADDR[af];
      const rs = '198.51.100.10';
      addTun(t, af, 4, rs, row);
      one(run1(t, 1, syn(af)), 3);
      const mss = 1400;
      const payload = bytesOf(3000, 5);
      const r = run1(t, 1, fromClient(gsoFrame(af, A.vip, payload, 'partial')), gsoMeta(af, mss), 1001);
      assert.equal(r.sent.length, 3, describe(r));
      const parts: Uint8Array[] = [];
      const d = { daf: 4 as const, rs, ...row };
      r.sent.forEach((f, k) => {
        assert.equal(f.ifindex, 3);
        assert.equal(f.gsoType, 0, 'segments carry no GSO metadata');
        assert.equal(f.vnetFlags & NEEDS, 0, 'segments have full inner checksums');
        const chunk = payload.subarray(k * mss, Math.min(payload.length, (k + 1) * mss));
        parts.push(chunk);
        const inner = ip(
          af,
          { src: A.client, dst: A.vip, df: true, id: 0x4000 + k },
          tcp({
            sport: 40000,
            dport: 80,
            flags: k === 2 ? TCP_ACK | TCP_PSH : TCP_ACK,
            seq: (0xfffff000 + k * mss) >>> 0,
            ack: 1,
            payload: chunk,
          }),
        );
        sameBytes(f.bytes, expectTunnel(d, inner, f.bytes, af), `segment ${k}`);
      });
      sameBytes(concat(...parts), payload, 'reassembled payload');
    });
  }

// ------------------------------------------------------------------ path MTU

function tooBig(af: Af, orig: Uint8Array, mtu: number): Uint8Array {
  const A = ADDR[af];
  const l3 = orig.subarray(14);
  if (af === 4) {
    const q = l3.subarray(0, Math.min(l3.length, 576 - 28));
    return toClient(
      ipv4(
        { src: A.vip, dst: A.client, ttl: 64, tos: 0xc0, id: 0 },
        icmp4({ type: 3, code: 4, rest: mtu, payload: q }),
      ),
    );
  }
  const q = l3.subarray(0, Math.min(l3.length, 1280 - 48));
  return toClient(
    ipv6({ src: A.vip, dst: A.client, hopLimit: 64 }, icmp6({ type: 2, code: 0, rest: mtu, payload: q })),
  );
}

interface MtuRow {
  name: string;
  af: Af;
  daf: Af;
  rs: string;
  row: (typeof TUN_ROWS)[number];
  /** usable MTU for the inner packet */
  usable: number;
  /** MTU announced in the ICMP (IPv6 never below 1280) */
  announced: number;
}

const mtuRows: MtuRow[] = [
  { name: 'ipip', af: 4, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[0]!, usable: 1480, announced: 1480 },
  { name: 'gue', af: 4, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[1]!, usable: 1468, announced: 1468 },
  { name: 'gre+csum', af: 4, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[4]!, usable: 1472, announced: 1472 },
  {
    name: 'ipip v6-in-v4',
    af: 6,
    daf: 4,
    rs: '198.51.100.10',
    row: TUN_ROWS[0]!,
    usable: 1480,
    announced: 1480,
  },
  {
    name: 'ipip v6-in-v6',
    af: 6,
    daf: 6,
    rs: '2001:db8:100::10',
    row: TUN_ROWS[0]!,
    usable: 1460,
    announced: 1460,
  },
  {
    name: 'gue small route',
    af: 4,
    daf: 4,
    rs: '198.51.100.200',
    row: TUN_ROWS[1]!,
    usable: 1268,
    announced: 1268,
  },
  {
    name: 'gue small route v6',
    af: 6,
    daf: 4,
    rs: '198.51.100.200',
    row: TUN_ROWS[1]!,
    usable: 1268,
    announced: 1280,
  },
];

for (const m of mtuRows) {
  test(`PMTU TUN ${m.name}: ${m.usable} fits, ${m.usable + 1} DF gets ICMP too-big ${m.announced} and MtuExceeded`, () => {
    const t = makeFwdTopo();
    const A = ADDR[m.af];
    addTun(t, m.af, m.daf, m.rs, m.row);
    one(run1(t, 1, syn(m.af)), 3);
    const big = (l3Len: number): Uint8Array =>
      fromClient(
        ip(
          m.af,
          { src: A.client, dst: A.vip, df: true },
          tcp({ sport: 40000, dport: 80, flags: TCP_ACK, payload: bytesOf(l3Len - ipHl(m.af) - 20) }),
        ),
      );
    const fits = big(m.usable);
    const ok = one(run1(t, 1, fits, {}, 1001), 3);
    assert.equal(ok.bytes.length, 14 + m.row.over + (m.daf === 6 ? 20 : 0) + m.usable);
    const tooLarge = big(m.usable + 1);
    const before = t.d.engine.drops[Drop.MtuExceeded]!;
    const r = run1(t, 1, tooLarge, {}, 1002);
    const icmp = one(r, 1, 'ICMP back to the client');
    sameBytes(icmp.bytes, tooBig(m.af, tooLarge, m.announced), 'ICMP too big');
    assert.deepEqual(
      r.dropped.map((d) => d.reason),
      [Drop.MtuExceeded],
    );
    assert.equal(t.d.engine.drops[Drop.MtuExceeded]!, before + 1);
  });
}

for (const af of [4, 6] as const) {
  test(`PMTU GSO ${af} ipip: a super-frame whose segment is too big gets ICMP and is dropped whole`, () => {
    const t = makeFwdTopo(GSO_TOPO);
    const A = ADDR[af];
    addTun(t, af, 4, '198.51.100.10', TUN_ROWS[0]!);
    one(run1(t, 1, syn(af)), 3);
    const usable = 1480;
    const mss = usable - ipHl(af) - 20 + 1; // one byte too many per segment
    const frame = fromClient(gsoFrame(af, A.vip, bytesOf(5000), 'partial'));
    const r = run1(t, 1, frame, gsoMeta(af, mss), 1001);
    sameBytes(one(r, 1).bytes, tooBig(af, frame, usable), 'ICMP too big');
    assert.deepEqual(
      r.dropped.map((d) => d.reason),
      [Drop.MtuExceeded],
    );
    // one byte less per segment: segmented and sent
    const r2 = run1(t, 1, frame, gsoMeta(af, mss - 1), 1002);
    assert.equal(r2.sent.length, Math.ceil(5000 / (mss - 1)), describe(r2));
    for (const f of r2.sent) assert.ok(f.bytes.length <= 14 + 1500);
  });
}

for (const af of [4, 6] as const) {
  test(`PMTU ${af}: a flood of 200 too-big packets gets few ICMPs (IcmpRateLimited), all dropped`, () => {
    const t = makeFwdTopo();
    const A = ADDR[af];
    addTun(t, af, 4, '198.51.100.10', TUN_ROWS[0]!);
    one(run1(t, 1, syn(af)), 3);
    const frame = fromClient(
      ip(
        af,
        { src: A.client, dst: A.vip, df: true },
        tcp({ sport: 40000, dport: 80, flags: TCP_ACK, payload: bytesOf(1500) }),
      ),
    );
    // 5 batches of 40 at the same instant (a batch needs free slots for the ICMPs it generates)
    const r: RunResult = { sent: [], toKernel: [], dropped: [] };
    for (let k = 0; k < 5; k++) {
      const rk = run1(
        t,
        1,
        Array.from({ length: 40 }, () => frame),
        {},
        5000,
      );
      r.sent.push(...rk.sent);
      r.dropped.push(...rk.dropped);
    }
    const icmps = r.sent.length;
    assert.ok(
      icmps >= 1 && icmps <= 10,
      `ICMPs sent: ${icmps}; engine drops ${JSON.stringify([...t.d.engine.drops.entries()].filter((e) => e[1] > 0))}`,
    );
    for (const f of r.sent) sameBytes(f.bytes, tooBig(af, frame, 1480), 'each ICMP');
    assert.equal(r.dropped.length, 200);
    assert.ok(r.dropped.every((d) => d.reason === Drop.MtuExceeded));
    assert.equal(t.d.engine.drops[Drop.MtuExceeded], 200);
    assert.equal(t.d.engine.drops[Drop.IcmpRateLimited], 200 - icmps, JSON.stringify([...t.wire.dropCounts]));
    // a second later the limiter lets one more through
    const r2 = run1(t, 1, frame, {}, 6000);
    assert.equal(r2.sent.length, 1);
  });
}

// ------------------------------------------------------------------ MSS clamping

interface MssRow {
  name: string;
  af: Af;
  daf: Af;
  rs: string;
  row: (typeof TUN_ROWS)[number];
  clamp: number;
}

const mssRows: MssRow[] = [
  { name: 'ipip', af: 4, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[0]!, clamp: 1440 },
  { name: 'ipip v6-in-v4', af: 6, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[0]!, clamp: 1420 },
  { name: 'gue', af: 4, daf: 4, rs: '198.51.100.10', row: TUN_ROWS[1]!, clamp: 1428 },
  { name: 'gre+csum v6-in-v6', af: 6, daf: 6, rs: '2001:db8:100::10', row: TUN_ROWS[4]!, clamp: 1392 },
  { name: 'ipip small route', af: 4, daf: 4, rs: '198.51.100.200', row: TUN_ROWS[0]!, clamp: 1240 },
];

for (const m of mssRows) {
  test(`MSS clamp TUN ${m.name}: SYN MSS 1460 -> ${m.clamp}; 536 untouched`, () => {
    const t = makeFwdTopo();
    const A = ADDR[m.af];
    addTun(t, m.af, m.daf, m.rs, m.row);
    const synMss = (port: number, mss: number): Uint8Array =>
      ip(
        m.af,
        { src: A.client, dst: A.vip, df: true },
        tcp({ sport: port, dport: 80, flags: TCP_SYN, mss, options: new Uint8Array([1, 3, 3, 7]) }),
      );
    const d = { daf: m.daf, rs: m.rs, ...m.row };
    const o = one(run1(t, 1, fromClient(synMss(40000, 1460))), 3);
    sameBytes(o.bytes, expectTunnel(d, synMss(40000, m.clamp), o.bytes, m.af), 'clamped');
    const o2 = one(run1(t, 1, fromClient(synMss(40001, 536)), {}, 1001), 3);
    sameBytes(o2.bytes, expectTunnel(d, synMss(40001, 536), o2.bytes, m.af), 'small MSS untouched');
  });
}

test('MSS clamp with a partial checksum: stays partial and finalizes to the clamped packet', () => {
  const t = makeFwdTopo();
  const A = ADDR[4];
  addTun(t, 4, 4, '198.51.100.10', TUN_ROWS[0]!);
  const synMss = (mss: number, c: CsumMode): Uint8Array =>
    ip(
      4,
      { src: A.client, dst: A.vip, df: true },
      tcp({ sport: 40000, dport: 80, flags: TCP_SYN, mss, csum: c }),
    );
  const o = one(
    run1(t, 1, fromClient(synMss(1460, 'partial')), { vnetFlags: NEEDS, csumStart: 34, csumOffset: 16 }),
    3,
  );
  assert.equal(o.csumStart, 54);
  const d = { daf: 4 as const, rs: '198.51.100.10', ...TUN_ROWS[0]! };
  sameBytes(finalized(o), expectTunnel(d, synMss(1440, 'good'), o.bytes, 4), 'finalized clamped');
});

test('MSS: NAT and DR services do not clamp', () => {
  for (const fwd of [FWD_MASQ, FWD_DROUTE]) {
    const t = makeFwdTopo();
    const A = ADDR[4];
    const key = { af: 4, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
    t.d.services.addService(key, { scheduler: 'rr' });
    t.d.services.addDest(key, { addr: w(A.rs), port: 80, fwd });
    const p = (dst: string): Uint8Array =>
      ip(4, { src: A.client, dst }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN, mss: 1460 }));
    const o = one(run1(t, 1, fromClient(p(A.vip))), 2);
    sameBytes(o.bytes, toRs(p(fwd === FWD_MASQ ? A.rs : A.vip)), `fwd ${fwd}`);
  }
});

test('PMTU: a batch filled to capacity with too-big packets still answers (slots reserved for generated frames)', () => {
  const t = makeFwdTopo({ batchSize: 8 });
  const A = ADDR[4];
  addTun(t, 4, 4, '198.51.100.10', TUN_ROWS[0]!);
  one(run1(t, 1, syn(4)), 3);
  const frame = fromClient(
    ip(
      4,
      { src: A.client, dst: A.vip, df: true },
      tcp({ sport: 40000, dport: 80, flags: TCP_ACK, payload: bytesOf(1500) }),
    ),
  );
  const r = run1(
    t,
    1,
    Array.from({ length: 8 }, () => frame),
    {},
    5000,
  );
  assert.ok(
    r.sent.length >= 1,
    `ICMPs: ${r.sent.length}; pool exhausted ${t.d.engine.drops[Drop.FramePoolExhausted]}`,
  );
});
