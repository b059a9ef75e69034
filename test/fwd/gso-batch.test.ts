/**
 * Tunnelled GSO super-frames within one receive batch (found by test/e2e/bulk.test.ts: a 50 MB upload
 * through TUN lost whole super-frames as frame_pool_exhausted and arrived reordered):
 *  - segments of a super-frame leave before any later frame of the batch (the driver sends in slot
 *    order and segments are appended to the pool, so the engine yields after segmenting);
 *  - several super-frames in one batch all leave, even when together they need more segments than the
 *    generated-frame pool holds (the engine yields so the pool is flushed and reused).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesOf, tcp } from '../../src/packet/builder.js';
import { FWD_TUNNEL, TUN_F_NOCSUM, TUN_IPIP } from '../../src/core/services.js';
import { GSO_TCPV4, SLOT_SIZE_GSO, VNET_F_NEEDS_CSUM } from '../../src/packet/frame.js';
import { TCP_ACK, TCP_SYN } from '../../src/packet/view.js';
import { describe, dropName, makeFwdTopo, one, rd32, run1, w, type RunResult } from '../helpers/fwd.js';
import { ADDR, fromClient, ip, PROTO } from '../helpers/pkts.js';
import type { Topo } from '../helpers/topo.js';
import type { WireMeta } from '../../src/io/memory.js';

const A = ADDR[4];
const RS = '198.51.100.10';
const SEQ0 = 1_000_000;
/** offset of the inner TCP sequence number in an ipip frame: Ethernet, outer IPv4, inner IPv4, 4 */
const INNER_SEQ = 14 + 20 + 20 + 4;

function tunTopo(): Topo {
  const t = makeFwdTopo({ slotSize: SLOT_SIZE_GSO, batchSize: 16 });
  const key = { af: 4 as const, proto: PROTO.tcp, addr: w(A.vip), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, {
    af: 4,
    addr: w(RS),
    port: 80,
    fwd: FWD_TUNNEL,
    tunType: TUN_IPIP,
    tunFlags: TUN_F_NOCSUM,
  });
  const syn = fromClient(
    ip(4, { src: A.client, dst: A.vip, df: true }, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
  );
  one(run1(t, 1, syn), 3);
  return t;
}

function data(seq: number, bytes: number): Uint8Array {
  return fromClient(
    ip(
      4,
      { src: A.client, dst: A.vip, df: true },
      tcp({
        sport: 40000,
        dport: 80,
        flags: TCP_ACK,
        seq,
        ack: 1,
        payload: bytesOf(bytes, seq & 0xff),
        csum: 'partial',
      }),
    ),
  );
}

function gsoMeta(mss: number): WireMeta {
  return {
    vnetFlags: VNET_F_NEEDS_CSUM,
    csumStart: 34,
    csumOffset: 16,
    gsoType: GSO_TCPV4,
    gsoSize: mss,
    hdrLen: 54,
  };
}
const PLAIN: WireMeta = { vnetFlags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 };

/** Inject every frame (each with its metadata) so they share one batch, run one step. */
function runBatch(t: Topo, frames: [Uint8Array, WireMeta][]): RunResult {
  for (const [f, m] of frames) t.wire.inject(1, f, m);
  t.run(1001);
  return t.wire.drain();
}

/** Inner TCP sequence numbers of the tunnelled frames, in the order they were sent. */
function seqs(r: RunResult): number[] {
  return r.sent.map((f) => rd32(f.bytes, INNER_SEQ));
}

/** The sequence numbers a stream of `sizes` payload bytes per segment starting at SEQ0 must carry. */
function expectedSeqs(sizes: number[]): number[] {
  const out: number[] = [];
  let s = SEQ0;
  for (const n of sizes) {
    out.push(s);
    s += n;
  }
  return out;
}

test('GSO TUN: a super-frame and a later plain frame of the flow in one batch leave in order', () => {
  const t = tunTopo();
  const r = runBatch(t, [
    [data(SEQ0, 3000), gsoMeta(1400)],
    [data(SEQ0 + 3000, 500), PLAIN],
  ]);
  assert.equal(r.dropped.length, 0, describe(r));
  assert.deepEqual(seqs(r), expectedSeqs([1400, 1400, 200, 500]), describe(r));
  for (const f of r.sent) assert.equal(f.ifindex, 3);
});

test('GSO TUN: two 60 KB super-frames in one batch (86 segments, more than the pool holds) both leave, in order', () => {
  const t = tunTopo();
  const big = 60200; // 43 segments of 1400
  const r = runBatch(t, [
    [data(SEQ0, big), gsoMeta(1400)],
    [data(SEQ0 + big, big), gsoMeta(1400)],
  ]);
  assert.equal(r.dropped.length, 0, describe(r));
  assert.deepEqual(seqs(r), expectedSeqs(new Array<number>(86).fill(1400)), describe(r));
});

test('GSO TUN: a super-frame that needs the whole pool waits for a flush of an ICMP error already in it', () => {
  const t = tunTopo();
  // a DF frame larger than the tunnel path MTU (1500 - 20): ICMP frag-needed is generated into the pool
  const tooBig = data(SEQ0 - 2000, 1500 - 40);
  // 78 segments of 800 bytes: every slot the batch has left (16 + 64 slots, 2 received), one of which
  // the ICMP error holds
  const payload = 78 * 800;
  const r = runBatch(t, [
    [tooBig, PLAIN],
    [data(SEQ0, payload), gsoMeta(800)],
  ]);
  const tunnelled = r.sent.filter((f) => f.ifindex === 3);
  const icmp = r.sent.filter((f) => f.ifindex === 1);
  assert.equal(icmp.length, 1, `one ICMP error to the client; ${describe(r)}`);
  assert.deepEqual(
    tunnelled.map((f) => rd32(f.bytes, INNER_SEQ)),
    expectedSeqs(new Array<number>(78).fill(800)),
    describe(r),
  );
  assert.deepEqual(
    r.dropped.map((d) => dropName(d.reason)),
    ['mtu_exceeded'],
    `only the oversized frame is dropped; ${describe(r)}`,
  );
});
