/**
 * AfPacketDriver on real veth pairs in private network namespaces (root).
 *
 *   nsA: a0 10.61.0.1/24 [a second driver agent]     --veth-- d0 10.61.0.2/24  [nsD: driver]
 *   nsB: b0 10.61.0.3/24                                 --veth-- d1 (no address) [nsD]
 *
 * Node cannot setns, so the driver runs in an agent child started with `ip netns exec nsD node
 * <this file>` (LVSD_AFP_AGENT=1), as the daemon will be; the test drives it with JSON lines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { AfPacketDriver } from '../../src/io/afpacket.js';
import { native } from '../../src/io/native.js';
import {
  SLOT_SIZE_GSO,
  VERDICT_DROP,
  VERDICT_KERNEL,
  VERDICT_TX,
  GSO_TCPV4,
  VNET_F_NEEDS_CSUM,
} from '../../src/packet/frame.js';

// ---------------------------------------------------------------------------------------------
// agent (runs inside nsD)

interface FrameSummary {
  ifindex: number;
  len: number;
  vlanTci: number;
  vnetFlags: number;
  gsoType: number;
  gsoSize: number;
  hdrLen: number;
  csumStart: number;
  csumOffset: number;
  hex: string;
}

function macOf(name: string): Uint8Array {
  const s = fs.readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
  return Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));
}

function runAgent(): void {
  const driver = new AfPacketDriver({ rxRingFrames: Number(process.env.LVSD_AFP_RING ?? 0) });
  const batch = AfPacketDriver.createBatch();
  assert.equal(batch.slotSize, SLOT_SIZE_GSO);
  let mode: 'idle' | 'capture' | 'forward' = 'idle';
  let captured: FrameSummary[] = [];
  const mac6 = (): Uint8Array => new Uint8Array(6);
  const fwd = {
    a: 0,
    b: 0,
    aMac: mac6(),
    bMac: mac6(),
    aPeer: mac6(),
    bPeer: mac6(),
    aIp: 0,
    bIp: 0,
    frames: 0,
    gso: 0,
    needsCsum: 0,
    maxLen: 0,
  };
  const drain = (): void => {
    for (;;) {
      batch.reset();
      const n = driver.receive(batch);
      if (n === 0) return;
      for (let i = 0; i < n; i++) {
        batch.verdict[i] = VERDICT_KERNEL;
        if (mode === 'capture') {
          captured.push({
            ifindex: batch.ifindex[i]!,
            len: batch.len[i]!,
            vlanTci: batch.vlanTci[i]!,
            vnetFlags: batch.vnetFlags[i]!,
            gsoType: batch.gsoType[i]!,
            gsoSize: batch.gsoSize[i]!,
            hdrLen: batch.hdrLen[i]!,
            csumStart: batch.csumStart[i]!,
            csumOffset: batch.csumOffset[i]!,
            hex: Buffer.from(batch.frameBytes(i).subarray(0, 256)).toString('hex'),
          });
        } else if (mode === 'forward') {
          const s = batch.start[i]!;
          if (batch.dv.getUint16(s + 12) !== 0x0800) continue;
          const dst = batch.dv.getUint32(s + 30);
          const fromA = batch.ifindex[i] === fwd.a;
          if (fromA ? dst !== fwd.bIp : dst !== fwd.aIp) continue;
          batch.buf.set(fromA ? fwd.bPeer : fwd.aPeer, s);
          batch.buf.set(fromA ? fwd.bMac : fwd.aMac, s + 6);
          batch.outIfindex[i] = fromA ? fwd.b : fwd.a;
          batch.verdict[i] = VERDICT_TX;
          fwd.frames++;
          if (batch.gsoType[i] === GSO_TCPV4) fwd.gso++;
          if (batch.vnetFlags[i]! & VNET_F_NEEDS_CSUM) fwd.needsCsum++;
          if (batch.len[i]! > fwd.maxLen) fwd.maxLen = batch.len[i]!;
        }
      }
      driver.complete(batch);
    }
  };
  driver.onReadable(drain);
  const reply = (m: unknown): void => {
    process.stdout.write(JSON.stringify(m) + '\n');
  };
  const ipWord = (s: string): number => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const rl = createInterface({ input: process.stdin });
  // the test process went away (or said quit): release the sockets and exit, never linger
  rl.on('close', () => {
    driver.close();
    process.exit(0);
  });
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as Record<string, unknown>;
    try {
      switch (cmd.op) {
        case 'add': {
          const ifindex = native.ifIndex(cmd.name as string);
          driver.addInterface(ifindex, cmd.name as string);
          reply({ ifindex });
          break;
        }
        case 'filter':
          driver.setFilter(cmd.hex === null ? null : Buffer.from(cmd.hex as string, 'hex'));
          reply({ ok: true });
          break;
        case 'capture':
          drain();
          mode = 'capture';
          captured = [];
          reply({ ok: true });
          break;
        case 'take':
          drain();
          reply({ frames: captured });
          captured = [];
          mode = 'idle';
          break;
        case 'send': {
          drain();
          batch.reset();
          const bytes = Buffer.from(cmd.hex as string, 'hex');
          const i = batch.alloc();
          batch.buf.set(bytes, batch.start[i]!);
          batch.len[i] = bytes.length;
          batch.outIfindex[i] = native.ifIndex(cmd.name as string);
          batch.outVlanTci[i] = (cmd.vlan as number | undefined) ?? -1;
          batch.verdict[i] = VERDICT_TX;
          driver.complete(batch);
          reply(driver.counters());
          break;
        }
        case 'forward': {
          fwd.a = native.ifIndex(cmd.a as string);
          fwd.b = native.ifIndex(cmd.b as string);
          fwd.aMac = macOf(cmd.a as string);
          fwd.bMac = macOf(cmd.b as string);
          fwd.aPeer = Buffer.from((cmd.aPeer as string).replaceAll(':', ''), 'hex');
          fwd.bPeer = Buffer.from((cmd.bPeer as string).replaceAll(':', ''), 'hex');
          fwd.aIp = ipWord(cmd.aIp as string);
          fwd.bIp = ipWord(cmd.bIp as string);
          mode = 'forward';
          reply({ ok: true });
          break;
        }
        case 'counters':
          reply({ ...driver.counters(), fwd: { ...fwd, aMac: 0, bMac: 0, aPeer: 0, bPeer: 0 } });
          break;
        case 'quit':
          reply({ ok: true });
          rl.close();
          break;
        default:
          reply({ error: `unknown op ${String(cmd.op)}` });
      }
    } catch (e) {
      const err = e as Error & { code?: string };
      reply({ error: err.message, code: err.code });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// test side

class Agent {
  private readonly child: ChildProcess;
  private readonly waiting: ((m: Record<string, unknown>) => void)[] = [];
  stderr = '';

  constructor(ns: string, ringFrames = 0) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...process.env, LVSD_AFP_AGENT: '1', LVSD_AFP_RING: String(ringFrames) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
    });
  }

  call(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent timeout on ${String(cmd.op)}: ${this.stderr}`)),
        10000,
      );
      this.waiting.push((m) => {
        clearTimeout(timer);
        if (typeof m.error === 'string') reject(Object.assign(new Error(m.error), { code: m.code }));
        else resolve(m);
      });
      this.child.stdin!.write(JSON.stringify(cmd) + '\n');
    });
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

const isRoot = process.getuid?.() === 0;
const canRun = isRoot && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;

function sh(...args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 20000 });
}
function inNs(ns: string, ...args: string[]): string {
  return sh('ip', 'netns', 'exec', ns, ...args);
}
function mac(ns: string, dev: string): string {
  return inNs(ns, 'cat', `/sys/class/net/${dev}/address`).trim();
}
/** Send UDP datagrams from ns with node's dgram. */
function udpSend(ns: string, dst: string, port: number, payloads: string[]): void {
  const script = `const s=require('dgram').createSocket('udp4');const p=${JSON.stringify(payloads)};
    let n=0;const next=()=>{if(n===p.length){s.close();return;}s.send(p[n++],${port},'${dst}',next);};next();`;
  inNs(ns, process.execPath, '-e', script);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hexOf = (s: string): string => Buffer.from(s).toString('hex');

function findUdp(frames: FrameSummary[], payload: string): FrameSummary | undefined {
  return frames.find((f) => f.hex.includes(hexOf(payload)));
}

/** Classic BPF: accept (whole frame) IPv4 UDP with destination port `port` (IHL 5), drop the rest. */
function udpPortFilter(port: number): Uint8Array {
  const ins: [number, number, number, number][] = [
    [0x28, 0, 0, 12], // ldh [12]
    [0x15, 0, 5, 0x0800], // jeq #IPv4 else drop
    [0x30, 0, 0, 23], // ldb [23]
    [0x15, 0, 3, 17], // jeq #UDP else drop
    [0x28, 0, 0, 36], // ldh [36] (dport)
    [0x15, 0, 1, port], // jeq #port else drop
    [0x06, 0, 0, 0x40000], // ret whole frame
    [0x06, 0, 0, 0], // ret 0
  ];
  const out = new Uint8Array(ins.length * 8);
  const dv = new DataView(out.buffer);
  ins.forEach(([code, jt, jf, k], i) => {
    dv.setUint16(i * 8, code, true);
    out[i * 8 + 2] = jt;
    out[i * 8 + 3] = jf;
    dv.setUint32(i * 8 + 4, k, true);
  });
  return out;
}

/** Ethernet + IPv4 + UDP (checksum 0, allowed in IPv4) frame. */
function udpFrame(
  dstMac: string,
  srcMac: string,
  src: string,
  dst: string,
  dport: number,
  payload: string,
): string {
  const p = Buffer.from(payload);
  const f = Buffer.alloc(14 + 20 + 8 + p.length);
  Buffer.from(dstMac.replaceAll(':', ''), 'hex').copy(f, 0);
  Buffer.from(srcMac.replaceAll(':', ''), 'hex').copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + 8 + p.length, 16);
  f[22] = 64;
  f[23] = 17;
  Buffer.from(src.split('.').map(Number)).copy(f, 26);
  Buffer.from(dst.split('.').map(Number)).copy(f, 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(dport, 36);
  f.writeUInt16BE(8 + p.length, 38);
  p.copy(f, 42);
  return f.toString('hex');
}

if (process.env.LVSD_AFP_AGENT === '1') {
  runAgent();
} else {
  // Both receive paths: the socket queue (recvmmsg) and a TPACKET_V2 ring, the latter small (16
  // frames) so that the tests wrap it many times and GSO super-frames take its copy path.
  for (const ringFrames of [0, 16])
    describe(
      `AfPacketDriver on veth pairs in network namespaces (${ringFrames === 0 ? 'recvmmsg' : `${ringFrames}-frame receive ring`})`,
      { skip: canRun ? false : 'needs root and ip netns' },
      () => {
        const id = `${process.pid}r${ringFrames}`;
        const nsA = `lvafA${id}`;
        const nsD = `lvafD${id}`;
        const nsB = `lvafB${id}`;
        let agent: Agent;
        let agentA: Agent | undefined;
        let d0 = 0;
        let d1 = 0;
        const m: Record<string, string> = {};

        before(async () => {
          for (const ns of [nsA, nsD, nsB]) sh('ip', 'netns', 'add', ns);
          sh('ip', '-n', nsA, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'd0', 'netns', nsD);
          sh('ip', '-n', nsB, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'd1', 'netns', nsD);
          sh('ip', '-n', nsA, 'addr', 'add', '10.61.0.1/24', 'dev', 'a0');
          sh('ip', '-n', nsD, 'addr', 'add', '10.61.0.2/24', 'dev', 'd0');
          sh('ip', '-n', nsB, 'addr', 'add', '10.61.0.3/24', 'dev', 'b0');
          for (const [ns, dev] of [
            [nsA, 'lo'],
            [nsA, 'a0'],
            [nsD, 'lo'],
            [nsD, 'd0'],
            [nsD, 'd1'],
            [nsB, 'lo'],
            [nsB, 'b0'],
          ] as const)
            sh('ip', '-n', ns, 'link', 'set', dev, 'up');
          m.a0 = mac(nsA, 'a0');
          m.d0 = mac(nsD, 'd0');
          m.d1 = mac(nsD, 'd1');
          m.b0 = mac(nsB, 'b0');
          agent = new Agent(nsD, ringFrames);
          d0 = (await agent.call({ op: 'add', name: 'd0' })).ifindex as number;
          d1 = (await agent.call({ op: 'add', name: 'd1' })).ifindex as number;
        });

        after(async () => {
          try {
            if (agent) await agent.call({ op: 'quit' }).catch(() => undefined);
          } finally {
            agent?.kill();
            agentA?.kill();
            for (const ns of [nsA, nsD, nsB]) spawnSync('ip', ['netns', 'del', ns]);
          }
        });

        test('frames from a peer arrive with their bytes, ifindex and virtio-net metadata; outgoing frames are not seen', async () => {
          await agent.call({ op: 'capture' });
          udpSend(nsA, '10.61.0.2', 9999, ['hello-lvsd-1', 'hello-lvsd-2']);
          await sleep(200);
          const { frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] };
          for (const p of ['hello-lvsd-1', 'hello-lvsd-2']) {
            const f = findUdp(frames, p);
            assert.ok(f, `${p} captured`);
            assert.equal(f.ifindex, d0);
            assert.equal(f.len, 14 + 20 + 8 + p.length);
            assert.equal(f.vlanTci, -1);
            assert.equal(f.hex.slice(0, 24), m.d0!.replaceAll(':', '') + m.a0!.replaceAll(':', ''));
            assert.equal(f.hex.slice(24, 28), '0800');
            // a local UDP socket on veth leaves the checksum to the "device": partial, L4 at 34, csum at +6
            assert.equal(f.vnetFlags, VNET_F_NEEDS_CSUM);
            assert.equal(f.csumStart, 34);
            assert.equal(f.csumOffset, 6);
            assert.equal(f.gsoType, 0);
          }
          // nsD's kernel answered (ARP reply, ICMP port unreachable): none of its frames came back to us
          const own = m.d0!.replaceAll(':', '');
          assert.equal(frames.filter((f) => f.hex.slice(12, 24) === own).length, 0);
          assert.ok(
            frames.some((f) => f.hex.slice(24, 28) === '0806'),
            'the peer ARP request was captured',
          );
        });

        test('a frame sent through the driver reaches the peer and is not received back', async () => {
          const script = `const s=require('dgram').createSocket('udp4');
        s.bind(9998,'10.61.0.1',()=>console.log('ready'));
        s.on('message',(b)=>{console.log(b.toString());process.exit(0);});
        setTimeout(()=>process.exit(3),5000);`;
          const listener = spawn('ip', ['netns', 'exec', nsA, process.execPath, '-e', script], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          try {
            let out = '';
            const ready = new Promise<void>((resolve) =>
              listener.stdout.on('data', (d: Buffer) => {
                out += d.toString();
                if (out.includes('ready')) resolve();
              }),
            );
            const exited = new Promise<number | null>((resolve) => listener.once('exit', resolve));
            await ready;
            await agent.call({ op: 'capture' });
            const counters = await agent.call({
              op: 'send',
              name: 'd0',
              hex: udpFrame(m.a0!, m.d0!, '10.61.0.2', '10.61.0.1', 9998, 'from-the-driver'),
            });
            assert.equal(await exited, 0);
            assert.match(out, /from-the-driver/);
            assert.ok((counters.tx as number) >= 1);
            const { frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] };
            assert.equal(findUdp(frames, 'from-the-driver'), undefined);
          } finally {
            listener.kill();
          }
        });

        test('VLAN: a tag the sending driver inserts (outVlanTci) arrives as auxdata, the bytes untagged', async () => {
          // this kernel has no 8021q module, so the tagged frame comes from a second driver in nsA
          agentA = new Agent(nsA, ringFrames);
          await agentA.call({ op: 'add', name: 'a0' });
          await agent.call({ op: 'capture' });
          const frame = udpFrame(m.d0!, m.a0!, '10.61.0.1', '10.61.0.2', 9999, 'vlan-payload');
          const sent = await agentA.call({ op: 'send', name: 'a0', hex: frame, vlan: 0x2000 | 42 });
          assert.equal(sent.tx, 1);
          await sleep(200);
          const { frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] };
          const f = findUdp(frames, 'vlan-payload');
          assert.ok(f, 'tagged frame captured');
          assert.equal(f.vlanTci, 0x2000 | 42, 'priority 1, VLAN 42');
          assert.equal(f.hex, frame, 'same bytes as sent, tag stripped');
          assert.equal(f.ifindex, d0);
          await agentA.call({ op: 'quit' });
          agentA.kill();
          agentA = undefined;
        });

        test('frames keep their order and none is lost over many passes through the receive path', async () => {
          await agent.call({ op: 'capture' });
          const sent: string[] = [];
          for (let round = 0; round < 6; round++) {
            const payloads = Array.from({ length: 12 }, (_, k) => `seq-${round}-${k}-end`);
            udpSend(nsA, '10.61.0.2', 9999, payloads);
            sent.push(...payloads);
            await sleep(50);
          }
          await sleep(200);
          const { frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] };
          const got = frames
            .map((f) => /7365712d[0-9a-f]*?2d656e64/.exec(f.hex)?.[0])
            .filter((h): h is string => h !== undefined)
            .map((h) => Buffer.from(h, 'hex').toString());
          assert.deepEqual(got, sent);
          const c = await agent.call({ op: 'counters' });
          assert.equal(c.rxTruncated, 0);
          assert.equal(c.rxErrors, 0);
        });

        test('setFilter restricts what every socket receives, null removes it', async () => {
          await agent.call({ op: 'filter', hex: Buffer.from(udpPortFilter(9999)).toString('hex') });
          await agent.call({ op: 'capture' });
          udpSend(nsA, '10.61.0.2', 9997, ['filtered-out']);
          udpSend(nsA, '10.61.0.2', 9999, ['filtered-in']);
          await sleep(200);
          let { frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] };
          assert.ok(findUdp(frames, 'filtered-in'));
          assert.equal(findUdp(frames, 'filtered-out'), undefined);
          assert.ok(
            frames.every((f) => f.hex.slice(24, 28) === '0800' && f.hex.slice(46, 48) === '11'),
            'only IPv4 UDP passes',
          );
          await agent.call({ op: 'filter', hex: null });
          await agent.call({ op: 'capture' });
          udpSend(nsA, '10.61.0.2', 9997, ['unfiltered']);
          await sleep(200);
          ({ frames } = (await agent.call({ op: 'take' })) as { frames: FrameSummary[] });
          assert.ok(findUdp(frames, 'unfiltered'));
        });

        test('TCP through a forwarder made of the driver: GSO super-frames with partial checksums go through intact', async () => {
          sh('ip', '-n', nsA, 'neigh', 'replace', '10.61.0.3', 'lladdr', m.d0!, 'dev', 'a0');
          sh('ip', '-n', nsB, 'neigh', 'replace', '10.61.0.1', 'lladdr', m.d1!, 'dev', 'b0');
          await agent.call({
            op: 'forward',
            a: 'd0',
            b: 'd1',
            aPeer: m.a0,
            bPeer: m.b0,
            aIp: '10.61.0.1',
            bIp: '10.61.0.3',
          });
          const server = `const h=require('crypto').createHash('sha256');let n=0;
        const srv=require('net').createServer((c)=>{c.on('data',(d)=>{h.update(d);n+=d.length;});
          c.on('end',()=>{c.end(n+' '+h.digest('hex'));srv.close();});});
        srv.listen(5001,'10.61.0.3',()=>console.log('ready'));setTimeout(()=>process.exit(3),20000).unref();`;
          const srv = spawn('ip', ['netns', 'exec', nsB, process.execPath, '-e', server], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          try {
            await new Promise<void>((resolve) =>
              srv.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
            );
            const client = `const crypto=require('crypto');const data=crypto.randomBytes(8<<20);
          const want=data.length+' '+crypto.createHash('sha256').update(data).digest('hex');
          const c=require('net').connect(5001,'10.61.0.3',()=>c.end(data));let got='';
          c.on('data',(d)=>got+=d);c.on('end',()=>{console.log(JSON.stringify({got,want}));process.exit(0);});
          setTimeout(()=>process.exit(3),20000).unref();`;
            const out = JSON.parse(inNs(nsA, process.execPath, '-e', client).trim()) as {
              got: string;
              want: string;
            };
            assert.equal(out.got, out.want, 'the server received the 8 MiB byte-exact');
            const c = await agent.call({ op: 'counters' });
            const f = c.fwd as { frames: number; gso: number; needsCsum: number; maxLen: number };
            assert.ok(f.gso > 0, `GSO super-frames forwarded: ${JSON.stringify(f)}`);
            assert.ok(f.needsCsum > 0);
            assert.ok(f.maxLen > 1514, `largest frame ${f.maxLen}`);
            assert.equal(c.txErrors, 0);
            assert.equal(c.rxTruncated, 0);
            assert.ok((c.tx as number) >= f.frames - (c.enobufs as number) - (c.txAgain as number));
            const sockets = c.sockets as { ifindex: number; kernelPackets: number }[];
            assert.deepEqual(sockets.map((s) => s.ifindex).sort(), [d0, d1].sort());
            assert.ok(sockets.every((s) => s.kernelPackets > 0));
          } finally {
            srv.kill();
          }
        });

        test('addInterface on a missing device throws a coded error', async () => {
          await assert.rejects(
            agent.call({ op: 'add', name: 'nosuchdev0' }),
            (e: Error & { code?: string }) => e.code === 'ENODEV',
          );
        });
      },
    );

  test('complete() counts drops by reason and kernel verdicts; TX with no socket is a txError', () => {
    const d = new AfPacketDriver();
    const batch = AfPacketDriver.createBatch();
    const frame = new Uint8Array(60);
    for (let k = 0; k < 4; k++) batch.push(frame, 7);
    batch.verdict[0] = VERDICT_DROP;
    batch.reason[0] = 27;
    batch.verdict[1] = VERDICT_DROP;
    batch.reason[1] = 27;
    batch.verdict[2] = VERDICT_KERNEL;
    batch.verdict[3] = VERDICT_TX;
    batch.outIfindex[3] = 7;
    d.complete(batch);
    const c = d.counters();
    assert.deepEqual(c.dropsByReason, { 27: 2 });
    assert.equal(c.dropped, 2);
    assert.equal(c.toKernel, 1);
    assert.equal(c.txErrors, 1);
    assert.equal(c.tx, 0);
    batch.reset();
    assert.equal(d.receive(batch), 0, 'no sockets, nothing received');
    d.close();
  });

  test(
    'AfPacketDriver without root: packetOpen fails with a coded error',
    { skip: isRoot ? 'running as root' : false },
    () => {
      const d = new AfPacketDriver();
      assert.throws(
        () => d.addInterface(1, 'lo'),
        (e: Error & { code?: string }) => e.code === 'EPERM',
      );
      d.close();
    },
  );
}
