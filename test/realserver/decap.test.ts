/**
 * The agent's decapsulation against exactly what our director emits (src/packet/encap.ts) and what the
 * test builder makes (GRE key/sequence, GUE version 1), as each socket kind hands it over: whole outer
 * IPv4 packet (raw IPv4), payload after the IPv6 header (raw IPv6), UDP payload (GUE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as b from '../../src/packet/builder.js';
import {
  EncapParams,
  TUN_F_CSUM,
  TUN_F_REMCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
  encapsulate,
} from '../../src/packet/encap.js';
import { parseAddress } from '../../src/packet/addr.js';
import { AF_INET, AF_INET6 } from '../../src/packet/view.js';
import {
  DecapDrop,
  DecapResult,
  INPUT_GUE,
  INPUT_IPV4_RAW,
  INPUT_IPV6_RAW_GRE,
  INPUT_IPV6_RAW_IPIP4,
  INPUT_IPV6_RAW_IPIP6,
  VipSet,
  decapsulate,
} from '../../src/realserver/decap.js';
import { AGENT_RCVBUF, DecapAgent } from '../../src/realserver/agent.js';
import type { AgentNative } from '../../src/realserver/agent.js';

const CLIENT4 = '10.1.0.7';
const VIP4 = '10.9.9.9';
const CLIENT6 = 'fd00:1::7';
const VIP6 = 'fd00:9::9';

function inner4(csum: b.CsumMode = 'good', payload = b.bytesOf(32, 3)): Uint8Array {
  return b.ipv4({ src: CLIENT4, dst: VIP4 }, b.tcp({ sport: 40000, dport: 8080, payload, csum }));
}

function inner6(): Uint8Array {
  return b.ipv6({ src: CLIENT6, dst: VIP6 }, b.udp({ sport: 40000, dport: 53, payload: b.bytesOf(20, 5) }));
}

interface Emitted {
  /** the outer packet as it leaves the director */
  outer: Uint8Array;
  /** outer IP header length (20 / 40) */
  ipLen: number;
}

/** Encapsulate as the director does: inner packet after 128 bytes of headroom. */
function director(
  inner: Uint8Array,
  tunType: number,
  outerAf: number,
  flags = 0,
  partialAt?: { start: number; offset: number },
): Emitted {
  const buf = new Uint8Array(128 + inner.length);
  buf.set(inner, 128);
  const p = new EncapParams();
  p.tunType = tunType;
  p.outerAf = outerAf;
  p.saddr.set(parseAddress(outerAf === AF_INET ? '172.16.0.1' : 'fd00:16::1')!.words);
  p.daddr.set(parseAddress(outerAf === AF_INET ? '172.16.0.2' : 'fd00:16::2')!.words);
  p.tunPort = 6080;
  p.srcPort = 51000;
  p.flags = flags;
  if (partialAt) {
    p.innerCsumStart = 128 + partialAt.start;
    p.innerCsumOffset = partialAt.offset;
  }
  const o = encapsulate(buf, 128, inner.length, inner[0]! >>> 4 === 6 ? AF_INET6 : AF_INET, p);
  return { outer: buf.slice(o), ipLen: outerAf === AF_INET ? 20 : 40 };
}

/** What the socket of this kind delivers for the emitted packet. */
function delivered(e: Emitted, tunType: number): { bytes: Uint8Array; input: number } {
  if (tunType === TUN_GUE) return { bytes: e.outer.slice(e.ipLen + 8), input: INPUT_GUE };
  if (e.ipLen === 20) return { bytes: e.outer, input: INPUT_IPV4_RAW };
  const payload = e.outer.slice(40);
  if (tunType === TUN_GRE) return { bytes: payload, input: INPUT_IPV6_RAW_GRE };
  return { bytes: payload, input: e.outer[6] === 4 ? INPUT_IPV6_RAW_IPIP4 : INPUT_IPV6_RAW_IPIP6 };
}

function decapOk(bytes: Uint8Array, input: number): Uint8Array {
  const r = new DecapResult();
  const rc = decapsulate(bytes, 0, bytes.length, input, r);
  assert.equal(rc, 0, `decapsulate returned ${rc}`);
  return bytes.slice(r.innerOff, r.innerOff + r.innerLen);
}

const NAMES: Record<number, string> = { [TUN_IPIP]: 'ipip', [TUN_GUE]: 'gue', [TUN_GRE]: 'gre' };

for (const tunType of [TUN_IPIP, TUN_GUE, TUN_GRE]) {
  for (const outerAf of [AF_INET, AF_INET6]) {
    for (const flags of tunType === TUN_IPIP ? [0] : [0, TUN_F_CSUM]) {
      for (const [innerName, mk] of [
        ['v4', inner4],
        ['v6', inner6],
      ] as const) {
        const name = `${NAMES[tunType]} outer ${outerAf === AF_INET ? 'v4' : 'v6'} inner ${innerName}${flags ? ' csum' : ''}`;
        test(`decap: ${name} yields the inner packet byte-exact`, () => {
          const inner = mk();
          const e = director(inner, tunType, outerAf, flags);
          const d = delivered(e, tunType);
          assert.deepEqual(decapOk(d.bytes, d.input), inner);
        });
      }
    }
  }
}

test('decap: GUE remote checksum offload finishes the inner TCP checksum', () => {
  const partial = inner4('partial');
  const good = inner4('good');
  assert.notDeepEqual(partial, good);
  const e = director(partial, TUN_GUE, AF_INET, TUN_F_REMCSUM, { start: 20, offset: 16 });
  // the director announced REMCSUM: Hlen 2 words, private flag
  assert.equal(e.outer[28], 2);
  const d = delivered(e, TUN_GUE);
  assert.deepEqual(decapOk(d.bytes, d.input), good);
});

test('decap: GUE remcsum field outside the inner packet is dropped', () => {
  const partial = inner4('partial');
  const e = director(partial, TUN_GUE, AF_INET, TUN_F_REMCSUM, { start: 20, offset: 16 });
  const d = delivered(e, TUN_GUE);
  d.bytes[10] = 0x0f; // remcsum offset (bytes 10-11 of GUE) far beyond the end
  const r = new DecapResult();
  assert.equal(decapsulate(d.bytes, 0, d.bytes.length, INPUT_GUE, r), -DecapDrop.BadRemcsum);
});

test('decap: GRE with key and sequence (builder) is accepted', () => {
  const inner = inner4();
  const pkt = b.gre({ src: '172.16.0.1', dst: '172.16.0.2' }, { csum: true, key: 77, seq: 5 }, inner);
  assert.deepEqual(decapOk(pkt, INPUT_IPV4_RAW), inner);
});

test('decap: GRE checksum is verified', () => {
  const e = director(inner4(), TUN_GRE, AF_INET, TUN_F_CSUM);
  e.outer[e.outer.length - 1] ^= 0x01;
  const r = new DecapResult();
  assert.equal(decapsulate(e.outer, 0, e.outer.length, INPUT_IPV4_RAW, r), -DecapDrop.GreChecksum);
});

test('decap: GUE version 1 (direct IP) is accepted', () => {
  const inner = inner6();
  assert.deepEqual(decapOk(inner.slice(), INPUT_GUE), inner);
});

test('decap: trailing bytes after the inner packet are cut to its own length', () => {
  const inner = inner4();
  const e = director(inner, TUN_IPIP, AF_INET6);
  const payload = new Uint8Array(e.outer.length - 40 + 6);
  payload.set(e.outer.subarray(40));
  assert.deepEqual(decapOk(payload, INPUT_IPV6_RAW_IPIP4), inner);
});

test('decap: malformed and foreign packets give their drop reason', () => {
  const r = new DecapResult();
  const inner = inner4();
  const ipip = director(inner, TUN_IPIP, AF_INET).outer;
  // not a tunnel protocol (plain TCP to us)
  assert.equal(decapsulate(inner, 0, inner.length, INPUT_IPV4_RAW, r), -DecapDrop.NotTunnel);
  // outer header claims more than was read
  assert.equal(decapsulate(ipip, 0, ipip.length - 1, INPUT_IPV4_RAW, r), -DecapDrop.BadOuter);
  assert.equal(decapsulate(ipip, 0, 10, INPUT_IPV4_RAW, r), -DecapDrop.Truncated);
  // inner family does not match the protocol number (41 says IPv6, an IPv4 packet follows)
  const wrong = ipip.slice();
  wrong[9] = 41;
  assert.equal(decapsulate(wrong, 0, wrong.length, INPUT_IPV4_RAW, r), -DecapDrop.BadInner);
  // inner length beyond the outer packet
  const cut = director(inner.slice(0, inner.length), TUN_IPIP, AF_INET6).outer.slice(40, -4);
  assert.equal(decapsulate(cut, 0, cut.length, INPUT_IPV6_RAW_IPIP4, r), -DecapDrop.BadInner);
  // GUE control message, unknown inner protocol, too short
  const gue = delivered(director(inner, TUN_GUE, AF_INET), TUN_GUE).bytes;
  const ctl = gue.slice();
  ctl[0] = 0x20;
  assert.equal(decapsulate(ctl, 0, ctl.length, INPUT_GUE, r), -DecapDrop.GueControl);
  const proto = gue.slice();
  proto[1] = 17;
  assert.equal(decapsulate(proto, 0, proto.length, INPUT_GUE, r), -DecapDrop.BadGue);
  assert.equal(decapsulate(gue, 0, 3, INPUT_GUE, r), -DecapDrop.BadGue);
  // GRE version 1 (PPTP) and routing present
  const gre = director(inner, TUN_GRE, AF_INET).outer;
  const v1 = gre.slice();
  v1[21] = 1;
  assert.equal(decapsulate(v1, 0, v1.length, INPUT_IPV4_RAW, r), -DecapDrop.BadGre);
  const et = gre.slice();
  et[22] = 0x88;
  assert.equal(decapsulate(et, 0, et.length, INPUT_IPV4_RAW, r), -DecapDrop.BadGre);
});

test('VipSet: inner destinations', () => {
  const s = new VipSet();
  s.addV4(parseAddress(VIP4)!.words[0]!);
  s.addV6(parseAddress(VIP6)!.words);
  assert.equal(s.size, 2);
  const a = inner4();
  assert.equal(s.hasDestination(a, 0, 4), true);
  const other = b.ipv4({ src: CLIENT4, dst: '10.9.9.8' }, b.udp({ sport: 1, dport: 2 }));
  assert.equal(s.hasDestination(other, 0, 4), false);
  assert.equal(s.hasDestination(inner6(), 0, 6), true);
  const other6 = b.ipv6({ src: CLIENT6, dst: 'fd00:9::8' }, b.udp({ sport: 1, dport: 2 }));
  assert.equal(s.hasDestination(other6, 0, 6), false);
});

/** A fake addon: records what the agent writes into the TUN device. */
function fakeNative(): AgentNative & Record<string, unknown> & { written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  return {
    written,
    socket: () => 10,
    recv: () => -1,
    write: (_fd: number, buf: Uint8Array, off: number, len: number) => {
      written.push(buf.slice(off, off + len));
      return len;
    },
    pollStart: () => undefined,
    pollStop: () => undefined,
    close: () => undefined,
    tunOpen: (name: string) => ({ fd: 9, name }),
  };
}

test('agent: injects packets for a VIP, counts and drops the rest', async () => {
  const n = fakeNative();
  const logs: string[] = [];
  const agent = new DecapAgent({
    vips: [VIP4, VIP6],
    tunType: 'ipip',
    device: 'lvsdtun0',
    stateDir: null,
    native: n,
    log: (_l, msg) => logs.push(msg),
  });
  await agent.start();
  try {
    const inner = inner4();
    const e = director(inner, TUN_IPIP, AF_INET).outer;
    agent.handle(e, 0, e.length, INPUT_IPV4_RAW);
    const foreign = b.ipv4({ src: CLIENT4, dst: '10.66.0.1' }, b.tcp({ sport: 1, dport: 2 }));
    const f = director(foreign, TUN_IPIP, AF_INET).outer;
    agent.handle(f, 0, f.length, INPUT_IPV4_RAW);
    agent.handle(inner, 0, inner.length, INPUT_IPV4_RAW); // not tunnelled at all
    const s6 = director(inner6(), TUN_IPIP, AF_INET6).outer.slice(40);
    agent.handle(s6, 0, s6.length, INPUT_IPV6_RAW_IPIP6);
    assert.equal(n.written.length, 2);
    assert.deepEqual(n.written[0], inner);
    assert.deepEqual(n.written[1], inner6());
    const st = agent.stats();
    assert.equal(st.received, 4);
    assert.equal(st.injected, 2);
    assert.deepEqual(st.dropped, { 'inner-destination-not-a-vip': 1, 'not-a-tunnel': 1 });
    assert.ok(logs.some((l) => l.includes('not a VIP')));
  } finally {
    agent.stop();
  }
});

test('agent: GUE needs a port; bad VIPs are refused', async () => {
  const n = fakeNative();
  const a = new DecapAgent({
    vips: [VIP4],
    tunType: 'gue',
    device: 'x',
    stateDir: null,
    native: n,
    log: () => {},
  });
  await assert.rejects(() => a.start(), { code: 'ERR_LVS_INVALID_ARGUMENT' });
  assert.throws(
    () => new DecapAgent({ vips: ['10.1'], tunType: 'ipip', device: 'x', stateDir: null, native: n }),
    { code: 'ERR_LVS_INVALID_ARGUMENT' },
  );
});

test('agent: grows every raw socket receive buffer (bursts of tunnelled segments overflowed the default)', async () => {
  const n = fakeNative();
  const opts: [number, number, number, number][] = [];
  let sockets = 0;
  n.socket = () => 20 + sockets++;
  n.setsockoptInt = (fd: number, level: number, name: number, value: number) => {
    opts.push([fd, level, name, value]);
  };
  const agent = new DecapAgent({
    vips: [VIP4],
    tunType: 'ipip',
    device: 'lvsdtun0',
    stateDir: null,
    native: n,
    log: () => {},
  });
  await agent.start();
  try {
    assert.ok(sockets > 0);
    for (let fd = 20; fd < 20 + sockets; fd++)
      assert.deepEqual(
        opts.find((o) => o[0] === fd),
        [fd, 1, 33, AGENT_RCVBUF],
        `SO_RCVBUFFORCE on fd ${fd}: ${JSON.stringify(opts)}`,
      );
    assert.ok(AGENT_RCVBUF >= 4 << 20);
  } finally {
    agent.stop();
  }
});
