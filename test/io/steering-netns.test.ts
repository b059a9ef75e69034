/**
 * Root test: NftSteering and the socket filter against the real kernel, in namespaces made here.
 * Topology (all namespaces private to this test):
 *   P (peer, also "real server" 10.201.1.3) --veth-- D (director: 10.201.1.1, VIP 10.201.1.100,
 *   10.201.2.1, ip_forward) --veth-- C (a client network host 10.201.2.2)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { FWD_FULLNAT, FWD_MASQ, IPPROTO_TCP, IPPROTO_UDP, ServiceTable } from '../../src/core/services.js';
import { deriveSteering, type SteeringSpec } from '../../src/io/steering.js';
import { NftSteering, netnsRunner } from '../../src/io/nft.js';
import { compileSocketFilter } from '../../src/io/bpf.js';
import { parseAddress } from '../../src/packet/addr.js';

const exec = promisify(execFile);
const w = (s: string): Uint32Array => parseAddress(s)!.words;

const id = `${process.pid % 100000}`;
const D = `lvsst${id}d`;
const P = `lvsst${id}p`;
const C = `lvsst${id}c`;
const VIP = '10.201.1.100';
const DIP = '10.201.1.1';
const RIP = '10.201.1.3';
const CIP = '10.201.2.2';

function canRun(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return 'ip netns unavailable';
  for (const bin of ['nft', 'socat', 'python3'])
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} missing`;
  return null;
}
const skip = canRun();

async function ns(n: string, ...argv: string[]): Promise<string> {
  const r = await exec('ip', ['netns', 'exec', n, ...argv], { timeout: 15000 });
  return r.stdout;
}

/** socat client: resolves with what it read, or the error text ('timed out', 'refused'). */
async function connect(n: string, target: string, opts = ''): Promise<string> {
  try {
    const r = await exec(
      'ip',
      ['netns', 'exec', n, 'socat', '-T2', '-', `TCP:${target},connect-timeout=2${opts}`],
      {
        timeout: 10000,
      },
    );
    return r.stdout.trim();
  } catch (e) {
    const s = String((e as { stderr?: string }).stderr ?? e);
    if (/timed out/i.test(s)) return 'timed out';
    if (/refused/i.test(s)) return 'refused';
    return s;
  }
}

async function connectEventually(n: string, target: string, opts = ''): Promise<string> {
  let last = '';
  for (let i = 0; i < 20; i++) {
    last = await connect(n, target, opts);
    if (last !== 'refused') return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** One ICMP echo over a raw socket (no ping binary here); true when the reply came. */
async function ping(n: string, dst: string): Promise<boolean> {
  const py = `
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
h = struct.pack('!BBHHH', 8, 0, 0, 0x4c56, 1) + b'lvsd'
c = sum(struct.unpack('!%dH' % (len(h) // 2), h)); c = (c & 0xffff) + (c >> 16); c = ~c & 0xffff
s.sendto(h[:2] + struct.pack('!H', c) + h[4:], (sys.argv[1], 0))
while True:
    d, a = s.recvfrom(1500)
    if a[0] == sys.argv[1] and d[20] == 0:
        print('reply'); break
`;
  try {
    return (await ns(n, 'python3', '-c', py, dst)).includes('reply');
  } catch {
    return false;
  }
}

const children: ChildProcess[] = [];
function listen(n: string, port: number, reply: string, bind?: string): void {
  // without a bind address: both families (TCP6-LISTEN with ipv6only=0)
  const addr = bind
    ? `TCP-LISTEN:${port},reuseaddr,fork,bind=${bind}`
    : `TCP6-LISTEN:${port},ipv6only=0,reuseaddr,fork`;
  const c = spawn('ip', ['netns', 'exec', n, 'socat', addr, `SYSTEM:echo ${reply}`], { stdio: 'ignore' });
  children.push(c);
}

interface NftJson {
  nftables: Record<string, Record<string, unknown>>[];
}
function objects(j: unknown, kind: string): Record<string, unknown>[] {
  return (j as NftJson).nftables.filter((o) => kind in o).map((o) => o[kind]!);
}
function setElems(j: unknown, name: string): string[] {
  const s = objects(j, 'set').find((x) => x.name === name);
  return ((s?.elem as unknown[]) ?? []).map((e) => JSON.stringify(e));
}
function ruleCounter(j: unknown, setName: string): number {
  const r = objects(j, 'rule').find((x) => JSON.stringify(x.expr).includes(`"@${setName}"`));
  const c = (r?.expr as Record<string, { packets: number }>[]).find((e) => 'counter' in e);
  return c!.counter!.packets;
}

const table = new ServiceTable({ isScheduler: () => true });
const svc8080 = { af: 4, proto: IPPROTO_TCP, addr: w(VIP), port: 8080 };
let steering: NftSteering;
let local: string[] = [];
let local6: string[] = [];

function spec(interfaces = ['dc', 'dp']): SteeringSpec {
  return deriveSteering(table, {
    local: { addrs4: local, addrs6: local6 },
    interfaces,
    fullnatPorts: { lo: 40000, hi: 40099 },
  });
}

before(async () => {
  if (skip) return;
  for (const n of [D, P, C]) await exec('ip', ['netns', 'add', n]);
  await exec('ip', ['-n', D, 'link', 'add', 'dp', 'type', 'veth', 'peer', 'name', 'pd', 'netns', P]);
  await exec('ip', ['-n', D, 'link', 'add', 'dc', 'type', 'veth', 'peer', 'name', 'cd', 'netns', C]);
  const cmds: [string, string][] = [
    [D, `addr add ${DIP}/24 dev dp`],
    [D, `addr add ${VIP}/24 dev dp label dp:0`],
    [D, 'addr add 10.201.2.1/24 dev dc'],
    [D, 'addr add fd00:201::1/64 dev dp nodad'],
    [D, 'addr add fd00:201::100/64 dev dp nodad'],
    [P, 'addr add fd00:201::2/64 dev pd nodad'],
    [D, 'link set dp up'],
    [D, 'link set dc up'],
    [D, 'link set lo up'],
    [P, 'addr add 10.201.1.2/24 dev pd'],
    [P, `addr add ${RIP}/24 dev pd`],
    [P, 'link set pd up'],
    [P, 'link set lo up'],
    [P, `route add default via ${DIP}`],
    [C, `addr add ${CIP}/24 dev cd`],
    [C, 'link set cd up'],
    [C, 'link set lo up'],
    [C, 'route add default via 10.201.2.1'],
  ];
  for (const [n, c] of cmds) await exec('ip', ['-n', n, ...c.split(' ')]);
  await ns(D, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // the director's own addresses, as the daemon would read them
  const addrs = JSON.parse(await ns(D, 'ip', '-j', 'addr', 'show')) as {
    addr_info: { family: string; local: string }[];
  }[];
  local = addrs.flatMap((i) => i.addr_info.filter((a) => a.family === 'inet').map((a) => a.local));
  local6 = addrs.flatMap((i) => i.addr_info.filter((a) => a.family === 'inet6').map((a) => a.local));
  listen(D, 8080, 'director');
  listen(C, 5000, 'client');
  listen(P, 9090, 'realserver', RIP);
  table.addService(svc8080);
  table.addService({ af: 6, proto: IPPROTO_TCP, addr: w('fd00:201::100'), port: 8080 });
  table.addDest(svc8080, { addr: w(RIP), port: 9090, fwd: FWD_MASQ });
  table.addDest(svc8080, { addr: w(RIP), port: 9191, fwd: FWD_MASQ });
  steering = new NftSteering({ run: netnsRunner(D) });
});

after(async () => {
  if (skip) return;
  for (const c of children) c.kill();
  try {
    await steering?.stop();
  } catch {
    /* namespace removal below cleans up anyway */
  }
  for (const n of [D, P, C]) await exec('ip', ['netns', 'del', n]).catch(() => {});
});

test(
  'steering in a namespace: drops, exceptions, element-by-element updates, cleanup',
  { skip: skip ?? false },
  async () => {
    // Without steering the kernel answers: proves the checks below can fail.
    assert.equal(await connectEventually(P, `${VIP}:8080`), 'director');
    // A stale table from an earlier run is replaced.
    await ns(D, 'nft', 'add table netdev lvsd; add chain netdev lvsd stale');

    await steering.start(spec());
    const j1 = await steering.listJson();
    assert.ok(!objects(j1, 'chain').some((c) => c.name === 'stale'), 'stale table replaced');
    assert.deepEqual(setElems(j1, 'svc4'), [JSON.stringify({ concat: [VIP, 'tcp', 8080] })]);
    assert.deepEqual(
      objects(j1, 'chain')
        .map((c) => c.name)
        .sort(),
      ['dev_dc', 'dev_dp', 'steer'],
    );
    assert.ok(setElems(j1, 'own4').includes(JSON.stringify(DIP)));

    // (a) service traffic: dropped at ingress, no RST; the same port on another local address works
    await ns(P, 'ip', 'neigh', 'flush', 'all');
    assert.equal(await connect(P, `${VIP}:8080`), 'timed out');
    assert.equal(await connect(P, `${DIP}:8080`), 'director');
    // IPv6 likewise
    assert.equal(await connect(P, '[fd00:201::100]:8080'), 'timed out');
    assert.equal(await connectEventually(P, '[fd00:201::1]:8080'), 'director');
    // ARP for the VIP and ICMP echo stay with the kernel
    assert.match(await ns(P, 'ip', 'neigh', 'show', VIP), /lladdr/);
    assert.equal(await ping(P, VIP), true);

    // (b) the director reaches the real server (replies go to its own address) ...
    assert.equal(await connectEventually(D, `${RIP}:9090`), 'realserver');
    // ... while return traffic from RIP:port to anyone else is taken away from the kernel
    assert.equal(await connect(P, `${CIP}:5000`, `,bind=${RIP}:9191`), 'timed out');
    assert.equal(await connect(P, `${CIP}:5000`, `,bind=${RIP}:9192`), 'client');
    const j2 = await steering.listJson();
    const natHits = ruleCounter(j2, 'nat4');
    assert.ok(natHits > 0, 'NAT return rule counted the dropped SYNs');

    // Element-by-element update: add a UDP service and a FullNAT service
    const handle = (j: unknown, kind: string, name: string): unknown =>
      objects(j, kind).find((o) => o.name === name)?.handle;
    const udp = { af: 4, proto: IPPROTO_UDP, addr: w(VIP), port: 7777 };
    table.addService(udp);
    const fn = { af: 4, proto: IPPROTO_TCP, addr: w(VIP), port: 8443 };
    table.addService(fn, { localAddrs: [{ af: 4, addr: w('10.201.2.200') }] });
    table.addDest(fn, { addr: w(CIP), port: 443, fwd: FWD_FULLNAT });
    await steering.applyAdditions(spec());
    const j3 = await steering.listJson();
    for (const [kind, name] of [
      ['table', 'lvsd'],
      ['set', 'svc4'],
      ['chain', 'steer'],
      ['chain', 'dev_dp'],
    ] as const)
      assert.equal(handle(j3, kind, name), handle(j1, kind, name), `${kind} ${name} kept`);
    assert.ok(ruleCounter(j3, 'nat4') >= natHits, 'counters survive: nothing re-created');
    assert.ok(setElems(j3, 'svc4').includes(JSON.stringify({ concat: [VIP, 'udp', 7777] })));
    assert.deepEqual(setElems(j3, 'fnat4'), [
      JSON.stringify({ concat: ['10.201.2.200', 'tcp', { range: [40000, 40099] }] }),
    ]);
    assert.equal((await ns(D, 'cat', '/proc/sys/net/ipv4/ip_local_reserved_ports')).trim(), '40000-40099');

    // The socket filter from the same spec loads in the kernel and copies up only steered frames.
    const filter = compileSocketFilter(spec());
    assert.equal(filter.level, 'exact');
    const seen = await captureWhile(D, 'dp', filter.program, async () => {
      await exec('ip', ['netns', 'exec', P, 'sh', '-c', `echo x | socat -u - UDP:${VIP}:7777`]);
      await exec('ip', ['netns', 'exec', P, 'sh', '-c', `echo x | socat -u - UDP:${VIP}:7778`]);
    });
    assert.ok(seen.includes(`${VIP}:7777`), `captured ${seen.join(' ')}`);
    assert.ok(!seen.includes(`${VIP}:7778`), `captured ${seen.join(' ')}`);

    // Removal: delete the 8080 service and the FullNAT one; the kernel answers 8080 again
    table.deleteService(svc8080);
    table.deleteService(fn);
    const next = spec(['dp']);
    await steering.applyRemovals(next);
    const j4 = await steering.listJson();
    assert.equal(handle(j4, 'set', 'svc4'), handle(j1, 'set', 'svc4'));
    assert.deepEqual(setElems(j4, 'svc4'), [JSON.stringify({ concat: [VIP, 'udp', 7777] })]);
    assert.deepEqual(setElems(j4, 'nat4'), []);
    assert.ok(!objects(j4, 'chain').some((c) => c.name === 'dev_dc'), 'device detached');
    assert.equal((await ns(D, 'cat', '/proc/sys/net/ipv4/ip_local_reserved_ports')).trim(), '');
    assert.equal(await connectEventually(P, `${VIP}:8080`), 'director');
    await steering.applyAdditions(next); // nothing left to add
    assert.deepEqual(steering.state().interfaces, ['dp']);

    // stop(): nothing left
    await steering.stop();
    assert.equal((await ns(D, 'nft', 'list', 'tables')).trim(), '');
    assert.equal((await ns(D, 'cat', '/proc/sys/net/ipv4/ip_local_reserved_ports')).trim(), '');
  },
);

/**
 * Opens an AF_PACKET socket on `dev` in namespace `n` with `program` attached (SO_ATTACH_FILTER,
 * via python3's socket module), runs `traffic`, and returns "daddr:dport" of every IPv4 UDP frame
 * the socket received.
 */
async function captureWhile(
  n: string,
  dev: string,
  program: Uint8Array,
  traffic: () => Promise<void>,
): Promise<string[]> {
  const py = `
import ctypes, socket, struct, sys, select
prog = bytes.fromhex(sys.argv[1])
buf = ctypes.create_string_buffer(prog, len(prog))
fprog = struct.pack('HL', len(prog) // 8, ctypes.addressof(buf))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
s.bind((sys.argv[2], 0))
print('ready', flush=True)
while True:
    r, _, _ = select.select([s, sys.stdin], [], [], 5)
    if sys.stdin in r or not r:
        break
    f = s.recv(65536)
    if len(f) >= 38 and f[12:14] == b'\\x08\\x00' and f[23] == 17:
        ihl = (f[14] & 15) * 4
        d = socket.inet_ntoa(f[30:34])
        print('%s:%d' % (d, struct.unpack('!H', f[14 + ihl + 2:14 + ihl + 4])[0]), flush=True)
`;
  const child = spawn(
    'ip',
    ['netns', 'exec', n, 'python3', '-c', py, Buffer.from(program).toString('hex'), dev],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  for (let i = 0; i < 50 && !out.includes('ready'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(out.includes('ready'), `filter not attached: ${err}`);
  await traffic();
  await new Promise((r) => setTimeout(r, 300));
  child.stdin.end();
  await done;
  return out.split('\n').filter((l) => l !== '' && l !== 'ready');
}
