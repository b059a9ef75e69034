/**
 * The whole pipeline at volume: 10,000 synthetic NAT TCP connections with full lifecycles (handshake,
 * data both ways, FINs from both sides, final ACKs), exact counters and states at checkpoints, expiry
 * on a fake clock, and the distribution every scheduler gives over 3 dests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo, w, MAC, type Topo } from '../helpers/topo.js';
import {
  RS4,
  VIP4,
  cTcp,
  checkTable,
  destStats,
  drops,
  l3Len,
  makeTopoWith,
  sTcp,
  seen,
  svcStats,
  totalStats,
} from '../helpers/flows.js';
import { FWD_MASQ, IPPROTO_TCP, SVC_F_SCHED1, type ServiceKey } from '../../src/core/services.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/packet/view.js';
import { stateName } from '../../src/conn/state.js';
import { Drop } from '../../src/packet/drop-reasons.js';

const K4: ServiceKey = { af: 4, proto: IPPROTO_TCP, addr: w(VIP4), port: 80 };
const N = 10_000;

/** Connection i: client address (1 in 10 on-link 10.0.0.2, else off-link via the router) and port. */
function client(i: number): { addr: string; port: number } {
  if (i % 10 === 0) return { addr: '10.0.0.2', port: 10_000 + i / 10 };
  return {
    addr: `100.${64 + ((i >> 14) & 63)}.${(i >> 6) & 255}.${(i & 63) + 1}`,
    port: 1024 + ((i * 7919) % 60_000),
  };
}

function runAll(t: Topo, now: number, expectSent: number): ReturnType<Topo['wire']['drain']> {
  t.run(now);
  const r = t.wire.drain();
  assert.equal(r.dropped.length, 0, `drops: ${JSON.stringify(drops(t))}`);
  assert.equal(r.toKernel.length, 0);
  assert.equal(r.sent.length, expectSent);
  return r;
}

test('10,000 NAT TCP connections: every packet forwarded, exact states, counters and expiry', () => {
  const t = makeTopo({ batchSize: 256 });
  const svcId = t.d.services.addService(K4, { scheduler: 'rr' });
  const ids = RS4.map((rs) => t.d.services.addDest(K4, { addr: w(rs), port: 8080, fwd: FWD_MASQ }));
  t.wire.keepDropped = true;
  const rsOf = new Array<string>(N);
  const cl = Array.from({ length: N }, (_, i) => client(i));
  const inBytes = [0, 0, 0];
  const outBytes = [0, 0, 0];
  const inPkts = [0, 0, 0];
  const outPkts = [0, 0, 0];
  const di = (i: number): number => (RS4 as readonly string[]).indexOf(rsOf[i]!);
  const c2s = (i: number, f: Uint8Array): void => {
    t.wire.inject(1, f);
    if (rsOf[i] !== undefined) {
      inBytes[di(i)]! += l3Len(f);
      inPkts[di(i)]!++;
    }
  };
  const s2c = (i: number, f: Uint8Array): void => {
    t.wire.inject(2, f);
    outBytes[di(i)]! += l3Len(f);
    outPkts[di(i)]!++;
  };
  const checkLive = (active: number, inactive: number): void => {
    for (let k = 0; k < 3; k++) {
      const n = rsOf.filter((r) => r === RS4[k]).length;
      assert.equal(t.d.live.active[ids[k]!], (n * active) / N, `ActiveConn of ${RS4[k]}`);
      assert.equal(t.d.live.inactive[ids[k]!], (n * inactive) / N, `InActConn of ${RS4[k]}`);
    }
  };
  let now = 1000;

  // 1. SYNs: DNATed to rr's choice, in exact thirds
  const synBytes: number[] = [];
  for (let i = 0; i < N; i++) {
    const f = cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_SYN, seq: 100 });
    synBytes.push(l3Len(f));
    t.wire.inject(1, f);
  }
  let r = runAll(t, now, N);
  for (let i = 0; i < N; i++) {
    const s = seen(r.sent[i]!);
    assert.equal(s.ifindex, 2);
    assert.equal(s.dport, 8080);
    assert.equal(s.src, cl[i]!.addr);
    assert.equal(s.sport, cl[i]!.port);
    assert.equal(s.dst, RS4[i % 3], 'rr order');
    rsOf[i] = s.dst;
    inBytes[i % 3]! += synBytes[i]!;
    inPkts[i % 3]!++;
  }
  assert.equal(t.d.conns.count, N);
  checkLive(0, N);

  // 2. SYN-ACKs from the real servers: SNATed back to the client (router for off-link ones)
  now += 10;
  for (let i = 0; i < N; i++)
    s2c(i, sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, { flags: TCP_SYN | TCP_ACK, seq: 500, ack: 101 }));
  r = runAll(t, now, N);
  for (let i = 0; i < N; i++) {
    const s = seen(r.sent[i]!);
    assert.equal(s.ifindex, 1);
    assert.equal(s.src, VIP4);
    assert.equal(s.sport, 80);
    assert.equal(s.dst, cl[i]!.addr);
    assert.equal(s.dmac, i % 10 === 0 ? MAC.client : MAC.router);
    assert.equal(s.ttl, 63);
  }
  for (let i = 0; i < N; i += 997)
    assert.equal(
      stateName(t.d.conns, t.d.conns.lookupIn(6, 4, w(cl[i]!.addr), 0, cl[i]!.port, w(VIP4), 0, 80)),
      'SYN_RECV',
    );
  checkLive(0, N);

  // 3. ACKs: ESTABLISHED, all active
  now += 10;
  for (let i = 0; i < N; i++) c2s(i, cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_ACK, seq: 101, ack: 501 }));
  runAll(t, now, N);
  checkLive(N, 0);

  // 4. data both ways (request sizes vary)
  now += 10;
  for (let i = 0; i < N; i++) {
    c2s(
      i,
      cTcp(cl[i]!.addr, cl[i]!.port, {
        flags: TCP_ACK | TCP_PSH,
        seq: 101,
        ack: 501,
        payload: new Uint8Array(1 + (i % 200)),
      }),
    );
    s2c(
      i,
      sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, {
        flags: TCP_ACK | TCP_PSH,
        seq: 501,
        ack: 300,
        payload: new Uint8Array(100 + (i % 900)),
      }),
    );
  }
  runAll(t, now, 2 * N);
  checkLive(N, 0);

  // 5. FINs: even i the client closes first, odd i the server; then the peers' ACKs and FINs
  now += 10;
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0)
      c2s(i, cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_FIN | TCP_ACK, seq: 400, ack: 2000 }));
    else
      s2c(
        i,
        sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, { flags: TCP_FIN | TCP_ACK, seq: 2000, ack: 400 }),
      );
  }
  runAll(t, now, N);
  checkLive(0, N); // CLOSE_WAIT (client FIN first) and FIN_WAIT (server FIN first) are inactive
  const h0 = (i: number): number => t.d.conns.lookupIn(6, 4, w(cl[i]!.addr), 0, cl[i]!.port, w(VIP4), 0, 80);
  assert.equal(stateName(t.d.conns, h0(0)), 'CLOSE_WAIT');
  assert.equal(stateName(t.d.conns, h0(1)), 'FIN_WAIT');
  now += 10;
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) {
      s2c(i, sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, { flags: TCP_ACK, seq: 2000, ack: 401 }));
      s2c(
        i,
        sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, { flags: TCP_FIN | TCP_ACK, seq: 2000, ack: 401 }),
      );
    } else {
      c2s(i, cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_ACK, seq: 400, ack: 2001 }));
      c2s(i, cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_FIN | TCP_ACK, seq: 400, ack: 2001 }));
    }
  }
  runAll(t, now, 2 * N);
  // 6. final ACKs
  now += 10;
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) c2s(i, cTcp(cl[i]!.addr, cl[i]!.port, { flags: TCP_ACK, seq: 401, ack: 2001 }));
    else s2c(i, sTcp(rsOf[i]!, 8080, cl[i]!.addr, cl[i]!.port, { flags: TCP_ACK, seq: 2001, ack: 401 }));
  }
  runAll(t, now, N);
  const states = new Map<string, number>();
  t.d.conns.forEach((h) => {
    const s = stateName(t.d.conns, h);
    states.set(s, (states.get(s) ?? 0) + 1);
  });
  assert.deepEqual([...states], [['TIME_WAIT', N]], 'NAT sees the whole close: TIME_WAIT');
  checkLive(0, N);

  // counters equal what was sent
  for (let k = 0; k < 3; k++) {
    const s = destStats(t.d, ids[k]!);
    const n = rsOf.filter((x) => x === RS4[k]).length;
    assert.deepEqual(
      s,
      { conns: n, inpkts: inPkts[k], outpkts: outPkts[k], inbytes: inBytes[k], outbytes: outBytes[k] },
      `dest ${RS4[k]}`,
    );
  }
  const sum = (a: number[]): number => a[0]! + a[1]! + a[2]!;
  const sv = svcStats(t.d, svcId);
  assert.deepEqual(sv, {
    conns: N,
    inpkts: sum(inPkts),
    outpkts: sum(outPkts),
    inbytes: sum(inBytes),
    outbytes: sum(outBytes),
  });
  assert.deepEqual(totalStats(t.d), sv);
  assert.equal(sv.inpkts, 5 * N);
  assert.equal(sv.outpkts, 4 * N);
  assert.equal(
    t.d.engine.drops.reduce((a, b) => a + b, 0),
    0,
  );
  checkTable(t.d);

  // 7. TIME_WAIT 120 s after the last packet
  t.run(now + 119_800);
  assert.equal(t.d.conns.count, N);
  t.run(now + 120_100);
  assert.equal(t.d.conns.count, 0);
  checkLive(0, 0);
  checkTable(t.d);
});

// ------------------------------------------------------------------ scheduler distributions

interface Dist {
  t: Topo;
  counts: number[];
  perClient: Map<string, Set<string>>;
  dropped: number;
}

/**
 * n connections through a service with the given scheduler and weights. Each connection sends SYN
 * and, with `establish`, the client's ACK right after (NAT INPUT ack in SYN_RECV -> ESTABLISHED), so
 * live active counts move as they would under load. Clients: `clients` distinct addresses.
 */
function distribute(
  sched: string,
  weights: number[],
  n: number,
  o: {
    establish?: boolean;
    clients?: number;
    flags?: number;
    topo?: Topo;
    key?: ServiceKey;
    dst?: (i: number) => string;
  } = {},
): Dist {
  const t = o.topo ?? makeTopo({ batchSize: 256 });
  const key = o.key ?? K4;
  t.d.services.addService(key, { scheduler: sched, flags: o.flags ?? 0 });
  weights.forEach((wt, k) =>
    t.d.services.addDest(key, { addr: w(RS4[k]!), port: 8080, fwd: FWD_MASQ, weight: wt }),
  );
  const clients = o.clients ?? n;
  const idx = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const c = i % clients;
    const addr = `100.${64 + ((c >> 16) & 63)}.${(c >> 8) & 255}.${c & 255}`;
    const port = 1024 + Math.floor(i / clients);
    const dst = o.dst ? { dst: o.dst(i) } : {};
    idx.set(`${addr}:${port}`, i);
    t.wire.inject(1, cTcp(addr, port, { flags: TCP_SYN, ...dst }));
    if (o.establish) t.wire.inject(1, cTcp(addr, port, { flags: TCP_ACK, ...dst }));
  }
  t.run(1000);
  const r = t.wire.drain();
  const counts = [0, 0, 0];
  const perClient = new Map<string, Set<string>>();
  for (const f of r.sent) {
    const s = seen(f);
    const syn = (f.bytes[14 + 20 + 13]! & TCP_SYN) !== 0;
    if (!syn) continue;
    counts[(RS4 as readonly string[]).indexOf(s.dst)]!++;
    const i = idx.get(`${s.src}:${s.sport}`)!;
    const key2 = o.dst ? `${s.src}>${o.dst(i)}` : s.src;
    let set = perClient.get(key2);
    if (!set) perClient.set(key2, (set = new Set()));
    set.add(s.dst);
  }
  const dropped = r.dropped.filter((d) => d.reason !== Drop.NotConnectionStart).length;
  checkTable(t.d);
  return { t, counts: counts.slice(0, weights.length), perClient, dropped };
}

function near(actual: number[], share: number[], n: number, tol: number, what: string): void {
  const tot = share.reduce((a, b) => a + b, 0);
  for (let k = 0; k < share.length; k++) {
    const want = (share[k]! / tot) * n;
    assert.ok(
      Math.abs(actual[k]! - want) <= tol * n,
      `${what}: ${actual.join('/')} vs share ${share.join(':')}`,
    );
  }
}

test('rr: exact thirds; wrr 3:2:1: exact proportions', () => {
  assert.deepEqual(distribute('rr', [1, 1, 1], 9999).counts, [3333, 3333, 3333]);
  assert.deepEqual(distribute('rr', [5, 1, 1], 10_000).counts, [3334, 3333, 3333], 'rr ignores weights');
  assert.deepEqual(distribute('wrr', [3, 2, 1], 9996).counts, [4998, 3332, 1666]);
});

test('lc / wlc balance live connections (by weight for wlc); sed / nq weighted by active+1', () => {
  const lc = distribute('lc', [3, 2, 1], 9999, { establish: true }).counts;
  assert.deepEqual(lc, [3333, 3333, 3333]);
  const wlc = distribute('wlc', [3, 2, 1], 9996, { establish: true });
  assert.deepEqual(wlc.counts, [4998, 3332, 1666]);
  assert.deepEqual(
    [1, 2, 3].map((k) => wlc.t.d.live.active[k]),
    [4998, 3332, 1666],
    'ActiveConn per dest',
  );
  // wlc on inactive-only (SYN) conns balances InActConn the same way
  assert.deepEqual(distribute('wlc', [3, 2, 1], 9996).counts, [4998, 3332, 1666]);
  for (const s of ['sed', 'nq']) {
    const d = distribute(s, [3, 2, 1], 9996, { establish: true }).counts;
    near(d, [3, 2, 1], 9996, 0.001, s);
  }
  // without active conns, sed always prefers the heaviest; nq the first idle dest
  assert.deepEqual(distribute('sed', [1, 3, 2], 300).counts, [0, 300, 0]);
  assert.deepEqual(distribute('nq', [1, 3, 2], 300).counts, [300, 0, 0]);
});

test('sh / mh: deterministic per client and roughly proportional to weight; dh by destination IP', () => {
  for (const s of ['sh', 'mh']) {
    const d = distribute(s, [3, 2, 1], 10_000, { clients: 2500 });
    for (const [c, set] of d.perClient) assert.equal(set.size, 1, `${s}: client ${c} always to one dest`);
    near(d.counts, [3, 2, 1], 10_000, 0.05, s);
  }
  // sh-port (SCHED2) spreads one client's connections; with weight 0 and sh-fallback (SCHED1) it stays available
  const dh = distribute('dh', [1, 1, 1], 3000, { clients: 3000 });
  assert.equal(dh.counts.filter((x) => x > 0).length, 1, 'one VIP: dh sends everything to one dest');
  const fb = distribute('sh', [1, 0, 1], 3000, { clients: 3000, flags: SVC_F_SCHED1 });
  assert.equal(fb.counts[1], 0);
  assert.equal(fb.dropped, 0, 'sh-fallback finds another dest');
  const nofb = distribute('sh', [1, 0, 1], 3000, { clients: 3000 });
  assert.ok(nofb.dropped > 0, 'without fallback a quiesced bucket has no destination');
  assert.equal(nofb.dropped + nofb.counts[0]! + nofb.counts[2]!, 3000);
});

test('fo: all to the highest weight; ovf: overflows by active <= weight; twos: roughly weighted', () => {
  assert.deepEqual(distribute('fo', [2, 5, 5], 3000, { establish: true }).counts, [0, 3000, 0]);
  const ovf = distribute('ovf', [5000, 3000, 2000], 10_000, { establish: true });
  assert.deepEqual(ovf.counts, [5001, 3001, 1998]);
  const tw = distribute('twos', [3, 2, 1], 9000, { establish: true });
  near(tw.counts, [3, 2, 1], 9000, 0.05, 'twos');
});

test('lblc / lblcr: one dest per destination IP (fwmark service over 9 VIPs)', () => {
  for (const s of ['lblc', 'lblcr']) {
    const vips = Array.from({ length: 9 }, (_, k) => `10.0.0.${110 + k}`);
    const t = makeTopoWith({
      batchSize: 256,
      fwmark: (v) => (v.af === 4 && (v.daddr[0]! & 0xffffff00) === 0x0a000000 && v.dport === 80 ? 3 : 0),
    });
    const d = distribute(s, [1, 1, 1], 9000, {
      topo: t,
      key: { af: 4, fwmark: 3 },
      clients: 1000,
      dst: (i) => vips[i % 9]!,
    });
    const byVip = new Map<string, Set<string>>();
    for (const [k, set] of d.perClient) {
      const vip = k.split('>')[1]!;
      let all = byVip.get(vip);
      if (!all) byVip.set(vip, (all = new Set()));
      for (const x of set) all.add(x);
    }
    assert.equal(byVip.size, 9);
    for (const [vip, set] of byVip) assert.equal(set.size, 1, `${s}: ${vip} served by one dest`);
    assert.deepEqual(d.counts, [3000, 3000, 3000], `${s}: 3 VIPs per dest`);
  }
});
