/**
 * Connection synchronisation end to end (ipvs-reference §6): two lvsd NAT directors with the same
 * ipvsadm table on one segment pair, the master syncs its connections to the backup over multicast,
 * then the VIP (and the real servers' gateway address) moves to the backup by hand, and the
 * established TCP streams continue through the backup without a reset.
 *
 *   client 10.78.0.2 --- front bridge --- dirA eth0 10.78.0.11 (+ VIP 10.78.0.100 while active)
 *                                     \-- dirB eth0 10.78.0.12
 *   rs1 172.29.0.21, rs2 .22 --- back bridge --- dirA eth1 172.29.0.11 (+ gateway 172.29.0.1 while active)
 *   (default via .1)                          \-- dirB eth1 172.29.0.12
 *
 * Both directors run a sync master and a sync backup on eth1 (as the kernel allows), so
 * `ipvsadm -L --daemon` lists two lines. The streams are a Node client in the client namespace
 * (STREAMS connections, one line every 100 ms each, echoed by socat on the real servers); it
 * reports per stream how many lines came back and whether the connection failed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { e2eUnavailable, Lab, sleep, type Netns } from '../helpers/netns.js';
import { Streams, type StreamReport } from '../helpers/streams.js';

const VIP = '10.78.0.100';
const GW = '172.29.0.1';
const PORT = 9000;
const STREAMS = 50;

const skip = e2eUnavailable('socat');

let lab: Lab;
let client: Netns;
let dirA: Netns;
let dirB: Netns;
let rss: Netns[] = [];
let streams: Streams | null = null;

function report(): StreamReport[] {
  return streams?.report() ?? [];
}

function diag(): string {
  const one = (n: Netns, name: string): string =>
    `--- ${name} ---\n` +
    n.run('ipvsadm -L -n --stats; ipvsadm -L -n -c | head -30; ipvsadm -L --daemon; lvsd status').stdout;
  return one(dirA, 'dirA (master)') + one(dirB, 'dirB (backup)');
}

async function withDiag(fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error) e.stack = `${e.stack}\n${diag()}\nstreams: ${JSON.stringify(report())}`;
    throw e;
  }
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function mac(n: Netns, dev: string): string {
  return n.sh(`cat /sys/class/net/${dev}/address`).trim();
}

/** TCP connections (non-template rows) of `ipvsadm -L -n -c` to VIP:PORT by state. */
function connStates(n: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of n.sh('ipvsadm -L -n -c').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'TCP' || f[4] !== `${VIP}:${PORT}`) continue;
    out[f[2]!] = (out[f[2]!] ?? 0) + 1;
  }
  return out;
}

describe('connection sync: failover of established NAT streams', { skip: skip ?? false }, () => {
  before(() => {
    lab = new Lab('sy');
    const sw = lab.ns('sw');
    client = lab.ns('c');
    dirA = lab.ns('a');
    dirB = lab.ns('b');
    rss = [lab.ns('r1'), lab.ns('r2')];
    sw.sh('ip link add br0 type bridge; ip link add br1 type bridge; ip link set br0 up; ip link set br1 up');
    const port = (n: Netns, dev: string, swDev: string, br: string): void => {
      lab.veth(n, dev, sw, swDev);
      sw.sh(`ip link set ${swDev} master ${br}; ip link set ${swDev} up`);
      n.sh(`ip link set ${dev} up`);
    };
    port(client, 'eth0', 'c0', 'br0');
    port(dirA, 'eth0', 'a0', 'br0');
    port(dirB, 'eth0', 'b0', 'br0');
    port(dirA, 'eth1', 'a1', 'br1');
    port(dirB, 'eth1', 'b1', 'br1');
    rss.forEach((r, i) => port(r, 'eth0', `r${i}`, 'br1'));
    client.sh(`ip addr add 10.78.0.2/24 dev eth0`);
    dirA.sh('ip addr add 10.78.0.11/24 dev eth0; ip addr add 172.29.0.11/24 dev eth1');
    dirB.sh('ip addr add 10.78.0.12/24 dev eth0; ip addr add 172.29.0.12/24 dev eth1');
    for (const d of [dirA, dirB]) d.sh('sysctl -qw net.ipv4.ip_forward=1');
    rss.forEach((r, i) => {
      r.sh(`ip addr add 172.29.0.${21 + i}/24 dev eth0; ip route add default via ${GW}`);
      r.spawn(`exec socat TCP-LISTEN:${PORT},fork,reuseaddr,backlog=128 EXEC:cat`);
    });
    for (const d of [dirA, dirB]) {
      d.sh(
        [
          `ipvsadm -A -t ${VIP}:${PORT} -s rr`,
          `ipvsadm -a -t ${VIP}:${PORT} -r 172.29.0.21:${PORT} -m`,
          `ipvsadm -a -t ${VIP}:${PORT} -r 172.29.0.22:${PORT} -m`,
        ].join('\n'),
      );
    }
    // dirA is active: it holds the VIP and the real servers' gateway
    dirA.sh(`ip addr add ${VIP}/32 dev eth0; ip addr add ${GW}/24 dev eth1`);
  });

  after(async () => {
    await lab?.cleanup();
  });

  it('refuses what the kernel refuses: unknown interface, second start, stop of a role not running', () => {
    const r = dirA.run('ipvsadm --start-daemon master --mcast-interface nosuch0');
    assert.equal(r.status, 255, r.stderr);
    assert.equal(r.stderr, 'No such device\n');
    const s = dirA.run('ipvsadm --stop-daemon backup');
    assert.equal(s.status, 255);
    assert.equal(s.stderr, 'No daemon is running\n');
    assert.equal(dirA.sh('ipvsadm -L --daemon'), '');
  });

  it('starts master and backup on both directors; -L --daemon lists both lines', async () => {
    for (const d of [dirA, dirB]) {
      d.sh('ipvsadm --start-daemon master --mcast-interface eth1 --syncid 7');
      d.sh('ipvsadm --start-daemon backup --mcast-interface eth1 --syncid 7');
    }
    const r = dirB.run('ipvsadm --start-daemon backup --mcast-interface eth1');
    assert.equal(r.status, 255);
    assert.equal(r.stderr, 'Daemon has already run\n');
    assert.equal(
      dirB.sh('ipvsadm -L --daemon'),
      'master sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
        'backup sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    // each backup asked its peer for a bulk resync when it started
    await withDiag(async () => {
      await until(
        'resync answers',
        () => /requestsSent=1 completed=[1-9]/.test(dirB.sh('lvsd status')),
        5000,
      );
    });
  });

  it(`moves ${STREAMS} established streams from the master to the backup without a reset`, async () => {
    streams = new Streams(lab, client, VIP, PORT, STREAMS);
    await withDiag(async () => {
      // every stream echoes through the master
      await until(
        'streams established',
        () => {
          const r = report();
          return r.length === STREAMS && r.every((s) => s.echoed >= 5);
        },
        15000,
      );
      // the backup lists them (synced at the third client packet, flushed within a second)
      await until(
        'synced connections on the backup',
        () => (connStates(dirB)['ESTABLISHED'] ?? 0) >= STREAMS,
        5000,
      );
    });
    const synced = dirB.sh('ipvsadm -L -n -c');
    const lports = report().map((s) => s.lport);
    for (const p of lports) assert.match(synced, new RegExp(`10\\.78\\.0\\.2:${p} +${VIP}:${PORT}`), synced);

    // failover by hand, in keepalived's order: the new active director takes the VIP and the
    // gateway, then the old one lets go, then the client and the real servers are pointed at dirB's
    // MACs (what gratuitous ARPs do). dirB's steering must hold the VIP before the client's packets
    // arrive, or dirB's kernel would answer them with resets (it has no socket on the port).
    dirB.sh(`ip addr add ${VIP}/32 dev eth0; ip addr add ${GW}/24 dev eth1`);
    await withDiag(() =>
      until(
        'steering for the VIP on dirB',
        () => dirB.run('nft list table netdev lvsd').stdout.includes(VIP),
        5000,
      ),
    );
    dirA.sh(`ip addr del ${VIP}/32 dev eth0; ip addr del ${GW}/24 dev eth1`);
    const before = report();
    client.sh(`ip neigh replace ${VIP} lladdr ${mac(dirB, 'eth0')} dev eth0 nud reachable`);
    for (const r of rss) r.sh(`ip neigh replace ${GW} lladdr ${mac(dirB, 'eth1')} dev eth0 nud reachable`);
    await sleep(3000);
    const afterRep = report();
    await withDiag(() => {
      const moved = afterRep.filter((s) => {
        const b = before.find((x) => x.id === s.id)!;
        return s.err === null && !s.closed && s.echoed >= b.echoed + 10;
      });
      assert.ok(
        moved.length >= STREAMS - 1,
        `only ${moved.length}/${STREAMS} streams continued: ${JSON.stringify(afterRep.filter((s) => !moved.includes(s)))}`,
      );
      // the traffic now goes through dirB: its stats count the connections' packets
      const stats = dirB.sh('ipvsadm -L -n --stats');
      const svc = stats.split('\n').find((l) => l.startsWith(`TCP  ${VIP}:${PORT}`));
      assert.ok(svc && Number(svc.trim().split(/\s+/)[3]) > 0, stats);
    });
  });

  it('lvsd status shows the sync figures', () => {
    const st = JSON.parse(dirB.sh('lvsd status --json')) as {
      dataplane: { sync: { backup: { connsReceived: number; created: number; lagMs: { samples: number } } } };
    };
    const b = st.dataplane.sync.backup;
    assert.ok(b.connsReceived >= STREAMS, JSON.stringify(b));
    assert.ok(b.created >= STREAMS, JSON.stringify(b));
    assert.ok(b.lagMs.samples > 0, JSON.stringify(b));
    const a = JSON.parse(dirA.sh('lvsd status --json')) as {
      dataplane: { sync: { master: { connsSent: number; messagesSent: number } } };
    };
    assert.ok(a.dataplane.sync.master.connsSent >= STREAMS, JSON.stringify(a.dataplane.sync));
  });

  it('a backup that starts later gets the whole table by bulk resync (lvsd peers)', async () => {
    // a third director on the back segment only; dirB is the active master now
    const dirC = lab.ns('dc');
    const sw = new (dirA.constructor as new (n: string) => Netns)(`${lab.prefix}sw`);
    lab.veth(dirC, 'eth1', sw, 'c1');
    sw.sh('ip link set c1 master br1; ip link set c1 up');
    dirC.sh('ip link set eth1 up; ip addr add 172.29.0.13/24 dev eth1');
    dirC.sh(
      [
        `ipvsadm -A -t ${VIP}:${PORT} -s rr`,
        `ipvsadm -a -t ${VIP}:${PORT} -r 172.29.0.21:${PORT} -m`,
        `ipvsadm -a -t ${VIP}:${PORT} -r 172.29.0.22:${PORT} -m`,
      ].join('\n'),
    );
    const served = (): number =>
      (
        JSON.parse(dirB.sh('lvsd status --json')) as {
          dataplane: { sync: { master: { resync: { records: number } } } };
        }
      ).dataplane.sync.master.resync.records;
    const before = served();
    dirC.sh('ipvsadm --start-daemon backup --mcast-interface eth1 --syncid 7');
    await withDiag(async () => {
      await until('the table on dirC', () => (connStates(dirC)['ESTABLISHED'] ?? 0) >= STREAMS, 5000);
      // both directors run a master and both answer the request; dirA's answer can fill dirC's
      // table before dirB's paced one is complete, so wait for dirB's count as well
      await until('dirB to serve the resync', () => served() - before >= STREAMS, 5000).catch(
        () => undefined,
      );
      assert.ok(served() - before >= STREAMS, `dirB sent ${served() - before} records by resync`);
      assert.match(dirC.sh('lvsd status'), /resync +requestsSent=1 completed=[1-9]/);
    });
  });

  it('--stop-daemon stops one role; the other keeps running', () => {
    dirB.sh('ipvsadm --stop-daemon master');
    assert.equal(
      dirB.sh('ipvsadm -L --daemon'),
      'backup sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    assert.equal(dirB.run('ipvsadm --stop-daemon master').stderr, 'No daemon is running\n');
  });
});
