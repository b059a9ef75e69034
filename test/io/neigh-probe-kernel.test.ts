/**
 * lvsd's neighbour probes against real kernels: a director namespace and a peer namespace joined by a
 * veth pair. In the director namespace (a child process under `ip netns exec`, since Node cannot
 * setns) this file, in child mode, mirrors the namespace's network (NetMirror + applyNetModel),
 * resolves the peer's IPv4 and IPv6 addresses (INCOMPLETE), lets NeighProber send ARP requests and
 * Neighbor Solicitations through the AF_PACKET driver, and runs the engine on what comes back. The
 * peer's kernel answers; the engine must learn the peer's MAC from the ARP reply and the Neighbor
 * Advertisement. Then the entries are aged so the unicast (STALE) probes are exercised too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native, nativeAvailable } from '../../src/io/native.js';
import { AfPacketDriver } from '../../src/io/afpacket.js';
import { applyNetModel, NetMirror } from '../../src/io/netmirror.js';
import { NeighProber } from '../../src/io/neigh-probe.js';
import { Director } from '../../src/core/director.js';
import { NEIGH_REACHABLE, NEIGH_STALE } from '../../src/core/netstate.js';
import { formatMac, parseAddress } from '../../src/packet/addr.js';
import { FrameBatch } from '../../src/packet/frame.js';

const CHILD = process.env.LVSD_NEIGHPROBE_CHILD === '1';

interface ChildResult {
  v4: { state: number; mac: string; afterStale: number; macAfterStale: string };
  v6: { state: number; mac: string; afterStale: number; macAfterStale: string };
  arp: number;
  ns: number;
  unicastRounds: number;
}

async function child(): Promise<void> {
  const dev = process.env.LVSD_NEIGHPROBE_DEV!;
  const peer4 = parseAddress(process.env.LVSD_NEIGHPROBE_PEER4!)!.words;
  const peer6 = parseAddress(process.env.LVSD_NEIGHPROBE_PEER6!)!.words;
  const mirror = new NetMirror(native);
  const model = await mirror.start();
  mirror.stop();
  const d = new Director({ seed: 7 });
  let now = Date.now();
  applyNetModel(d.net, model, now);
  const ifindex = model.links.find((l) => l.name === dev)!.ifindex;
  const driver = new AfPacketDriver();
  driver.addInterface(ifindex, dev);
  const prober = new NeighProber(d.net, { retransMs: 200, reachableMs: 60000, scanIntervalMs: 10 });
  const n4 = d.net.resolve(4, peer4, 0);
  const n6 = d.net.resolve(6, peer6, 0);
  const batch = new FrameBatch(64);
  const cycle = (): void => {
    now = Date.now();
    batch.reset();
    driver.receive(batch);
    d.engine.processBatch(batch, now);
    prober.run(batch, now);
    driver.complete(batch);
  };
  const until = async (ok: () => boolean, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!ok() && Date.now() < end) {
      cycle();
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const reachable = (): boolean =>
    d.net.nState[n4] === NEIGH_REACHABLE && d.net.nState[n6] === NEIGH_REACHABLE;
  await until(reachable, 10000);
  const first = {
    v4: { state: d.net.nState[n4]!, mac: formatMac(d.net.nMac, n4 * 6) },
    v6: { state: d.net.nState[n6]!, mac: formatMac(d.net.nMac, n6 * 6) },
  };
  // age both entries: the prober makes them STALE and probes by unicast; the peer answers again
  const sentBefore = prober.sentArp + prober.sentNs;
  d.net.nUpdated[n4] = now - 61000;
  d.net.nUpdated[n6] = now - 61000;
  d.net.nUsed[n4] = 1;
  d.net.nUsed[n6] = 1;
  cycle();
  const sawStale = d.net.nState[n4] === NEIGH_STALE && d.net.nState[n6] === NEIGH_STALE;
  await until(reachable, 10000);
  const result: ChildResult = {
    v4: {
      ...first.v4,
      afterStale: sawStale ? d.net.nState[n4]! : -1,
      macAfterStale: formatMac(d.net.nMac, n4 * 6),
    },
    v6: {
      ...first.v6,
      afterStale: sawStale ? d.net.nState[n6]! : -1,
      macAfterStale: formatMac(d.net.nMac, n6 * 6),
    },
    arp: prober.sentArp,
    ns: prober.sentNs,
    unicastRounds: prober.sentArp + prober.sentNs - sentBefore,
  };
  driver.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (CHILD) {
  await child();
} else {
  const skip =
    process.getuid?.() !== 0
      ? 'needs root'
      : !nativeAvailable
        ? 'native addon not built'
        : spawnSync('ip', ['netns', 'list']).status !== 0
          ? 'ip netns does not work'
          : false;

  test(
    'NeighProber with real kernels: ARP and NS probes are answered and learnt, broadcast then unicast',
    { skip },
    (t) => {
      const dir = `lvnp${process.pid}d`;
      const peer = `lvnp${process.pid}p`;
      t.after(() => {
        spawnSync('ip', ['netns', 'del', dir]);
        spawnSync('ip', ['netns', 'del', peer]);
      });
      execFileSync('ip', ['netns', 'add', dir]);
      execFileSync('ip', ['netns', 'add', peer]);
      const ipd = (...a: string[]): string => execFileSync('ip', ['-n', dir, ...a], { encoding: 'utf8' });
      const ipp = (...a: string[]): string => execFileSync('ip', ['-n', peer, ...a], { encoding: 'utf8' });
      ipd('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', peer);
      ipd('addr', 'add', '10.91.0.1/24', 'dev', 'va');
      ipd('addr', 'add', 'fd00:91::1/64', 'dev', 'va', 'nodad');
      ipd('link', 'set', 'va', 'up');
      ipp('addr', 'add', '10.91.0.2/24', 'dev', 'vb');
      ipp('addr', 'add', 'fd00:91::2/64', 'dev', 'vb', 'nodad');
      ipp('link', 'set', 'vb', 'up');
      const peerMac = (JSON.parse(ipp('-j', 'link', 'show', 'dev', 'vb')) as Array<{ address: string }>)[0]!
        .address;

      const r = spawnSync('ip', ['netns', 'exec', dir, process.execPath, fileURLToPath(import.meta.url)], {
        env: {
          ...process.env,
          LVSD_NEIGHPROBE_CHILD: '1',
          LVSD_NEIGHPROBE_DEV: 'va',
          LVSD_NEIGHPROBE_PEER4: '10.91.0.2',
          LVSD_NEIGHPROBE_PEER6: 'fd00:91::2',
        },
        encoding: 'utf8',
        timeout: 20000,
      });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
      assert.equal(res.v4.state, NEIGH_REACHABLE, 'ARP reply learnt');
      assert.equal(res.v4.mac, peerMac);
      assert.equal(res.v6.state, NEIGH_REACHABLE, 'Neighbor Advertisement learnt');
      assert.equal(res.v6.mac, peerMac);
      assert.equal(res.v4.afterStale, NEIGH_REACHABLE, 'unicast ARP probe answered');
      assert.equal(res.v6.afterStale, NEIGH_REACHABLE, 'unicast NS answered');
      assert.equal(res.v4.macAfterStale, peerMac);
      assert.ok(res.unicastRounds >= 2, `unicast probes sent: ${res.unicastRounds}`);
      assert.ok(res.arp >= 2 && res.ns >= 2);
      // the peer's kernel learnt the director's address from the probes (their sender fields)
      const neigh = JSON.parse(ipp('-j', 'neigh', 'show', 'dev', 'vb')) as Array<{ dst: string }>;
      assert.ok(neigh.some((n) => n.dst === '10.91.0.1'));
      assert.ok(neigh.some((n) => n.dst === 'fd00:91::1'));
    },
  );
}
