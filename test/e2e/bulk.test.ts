/**
 * Issue 3, end-to-end test 6: long TCP transfers through the director in NAT, DR and TUN (ipip) with
 * the peers' default offloads left on (veth: TSO/GSO and checksum offload on; nothing runs ethtool -K).
 * A local TCP sender on veth hands the director GSO super-frames with partial checksums, so this is
 * where the PACKET_VNET_HDR path (virtio-net header in and out, gso type/offsets rewritten for
 * encapsulation) shows whether it is right: a wrong header makes the kernel drop or mangle the
 * segments and the transfer stalls or arrives corrupted.
 *
 * Each mode: a 100 MB download from nginx on the real server (sha256 computed at the client) and a
 * 50 MB upload to a socat sink on the real server (sha256 computed at the sink). In DR and TUN only
 * the client-to-server direction crosses the director, so the upload is what carries super-frames
 * through it there; in NAT both do.
 *
 * Topology (the kernel IPVS self-test's, ipvs-reference §7): c (client, br0 10.0.0.2), d (director,
 * 10.0.0.1 and 172.16.0.1), r (real server, 172.16.0.2 behind the director; in DR and TUN also
 * 10.0.0.3 on the client's bridge for the direct reply path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { e2eUnavailable, Lab, sleep, type Netns } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';

const VIP = '10.200.44.110';
const DOWNLOAD_BYTES = 100 * 1024 * 1024;
const UPLOAD_BYTES = 50 * 1024 * 1024;
/** An Ethernet frame without GSO carries at most 1514 bytes (1500 MTU + 14 header). */
const MAX_PLAIN_FRAME = 1514;

const skip = e2eUnavailable('socat', 'curl', 'nginx', 'sha256sum');

type Mode = 'nat' | 'dr' | 'tun';

interface Topo {
  lab: Lab;
  client: Netns;
  director: Netns;
  rs: Netns;
}

interface DaemonSample {
  pid: number;
  cpuTicks: number;
  rx: number;
  rxBytes: number;
  tx: number;
  txBytes: number;
}

interface TcpCounters {
  RetransSegs: number;
  InErrs: number;
  InCsumErrors: number;
}

/** The namespace's TCP MIB (/proc/net/snmp is per network namespace). */
function tcpCounters(ns: Netns): TcpCounters {
  const lines = ns
    .sh('cat /proc/net/snmp')
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const get = (n: string) => values[names.indexOf(n)] ?? NaN;
  return { RetransSegs: get('RetransSegs'), InErrs: get('InErrs'), InCsumErrors: get('InCsumErrors') };
}

function tcpDelta(a: TcpCounters, b: TcpCounters): TcpCounters {
  return {
    RetransSegs: b.RetransSegs - a.RetransSegs,
    InErrs: b.InErrs - a.InErrs,
    InCsumErrors: b.InCsumErrors - a.InCsumErrors,
  };
}

/** Per-direction measurement, printed with the test's diagnostics. */
interface Transfer {
  mode: Mode;
  direction: 'download' | 'upload';
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  directorCpuMs: number;
  rxFrames: number;
  rxAvgBytes: number;
  txAvgBytes: number;
  client: TcpCounters;
  realServer: TcpCounters;
}

const results: Transfer[] = [];

let payloads: { download: Buffer; downloadSha: string; upload: Buffer; uploadSha: string } | null = null;
function getPayloads(): NonNullable<typeof payloads> {
  if (!payloads) {
    const download = crypto.randomBytes(DOWNLOAD_BYTES);
    const upload = crypto.randomBytes(UPLOAD_BYTES);
    payloads = {
      download,
      downloadSha: crypto.createHash('sha256').update(download).digest('hex'),
      upload,
      uploadSha: crypto.createHash('sha256').update(upload).digest('hex'),
    };
  }
  return payloads;
}

function setup(mode: Mode, offload: boolean): Topo {
  const lab = new Lab(`bk${mode}${offload ? 'o' : ''}`);
  const client = lab.ns('c');
  const director = lab.ns('d');
  const rs = lab.ns('r');
  lab.veth(client, 'veth01', director, 'veth10');
  lab.veth(director, 'veth12', rs, 'veth21');
  client.sh(
    'ip link add br0 type bridge; ip link set br0 up; ip link set veth01 master br0; ip link set veth01 up; ' +
      `ip addr add 10.0.0.2/24 dev br0; ip route add ${VIP} via 10.0.0.1 dev br0`,
  );
  director.sh(
    'ip link set veth10 up; ip addr add 10.0.0.1/24 dev veth10; ' +
      'ip link set veth12 up; ip addr add 172.16.0.1/24 dev veth12',
  );
  rs.sh('ip link set veth21 up; ip addr add 172.16.0.2/24 dev veth21');
  if (mode === 'nat') {
    rs.sh('ip route add default via 172.16.0.1 dev veth21');
  } else {
    // direct reply path from the real server to the client's segment
    lab.veth(client, 'veth02', rs, 'veth20');
    client.sh('ip link set veth02 master br0; ip link set veth02 up');
    rs.sh('ip link set veth20 up; ip addr add 10.0.0.3/24 dev veth20');
  }
  return { lab, client, director, rs };
}

function configure(t: Topo, mode: Mode, offload: boolean): void {
  const flag = { nat: '-m', dr: '-g', tun: '-i' }[mode];
  // the first ipvsadm starts the daemon, which reads LVSD_OFFLOAD_THRESHOLD (0: lvsd forwards every frame)
  t.director.sh(
    `export LVSD_OFFLOAD_THRESHOLD=${offload ? 1000 : 0}; ` +
      'sysctl -qw net.ipv4.ip_forward=1; ' +
      `ip addr add ${VIP}/32 dev lo; ` +
      `ipvsadm -A -t ${VIP}:80 -s rr; ipvsadm -a -t ${VIP}:80 -r 172.16.0.2:80 ${flag}; ` +
      `ipvsadm -A -t ${VIP}:8081 -s rr; ipvsadm -a -t ${VIP}:8081 -r 172.16.0.2:8081 ${flag}`,
  );
  if (mode === 'dr')
    t.rs.sh(`lvsd realserver up --vip ${VIP} --mode dr; sysctl -qw net.ipv4.conf.all.rp_filter=0`);
  if (mode === 'tun')
    t.rs.sh(
      `lvsd realserver up --vip ${VIP} --mode tun --tun-type ipip; ` +
        'sysctl -qw net.ipv4.conf.all.rp_filter=0; sysctl -qw net.ipv4.conf.veth21.rp_filter=0',
    );
}

function diag(t: Topo, extra: string): string {
  return (
    `${extra}\n--- director: ipvsadm -L -n --stats; lvsd status\n` +
    t.director.run('ipvsadm -L -n --stats; lvsd status').stdout +
    `--- real server: nstat\n${t.rs.run('nstat -az TcpInCsumErrors TcpRetransSegs IpInDiscards 2>&1').stdout}` +
    `--- client: nstat\n${t.client.run('nstat -az TcpInCsumErrors TcpRetransSegs 2>&1').stdout}`
  );
}

interface Sample {
  director: DaemonSample;
  client: TcpCounters;
  rs: TcpCounters;
}

function sample(t: Topo): Sample {
  return { director: sampleDaemon(t), client: tcpCounters(t.client), rs: tcpCounters(t.rs) };
}

function sampleDaemon(t: Topo): DaemonSample {
  const r = t.director.run('lvsd status --json');
  assert.equal(r.status, 0, `lvsd status --json failed: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as {
    pid: number;
    dataplane: { driverCounters: { rx: number; rxBytes: number; tx: number; txBytes: number } | null };
  };
  const c = s.dataplane.driverCounters;
  assert.ok(c, `no driver counters in lvsd status:\n${r.stdout}`);
  // /proc/<pid>/stat: fields 14 and 15 (utime, stime, in clock ticks) after the parenthesised comm
  const stat = fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { pid: s.pid, cpuTicks, rx: c.rx, rxBytes: c.rxBytes, tx: c.tx, txBytes: c.txBytes };
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, `getconf CLK_TCK`). */
const USER_HZ = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function record(
  mode: Mode,
  direction: 'download' | 'upload',
  bytes: number,
  seconds: number,
  before: Sample,
  after: Sample,
): Transfer {
  const rx = after.director.rx - before.director.rx;
  const tx = after.director.tx - before.director.tx;
  const tr: Transfer = {
    mode,
    direction,
    bytes,
    seconds,
    mbPerSecond: bytes / 1e6 / seconds,
    directorCpuMs: ((after.director.cpuTicks - before.director.cpuTicks) * 1000) / USER_HZ,
    rxFrames: rx,
    rxAvgBytes: rx > 0 ? (after.director.rxBytes - before.director.rxBytes) / rx : 0,
    txAvgBytes: tx > 0 ? (after.director.txBytes - before.director.txBytes) / tx : 0,
    client: tcpDelta(before.client, after.client),
    realServer: tcpDelta(before.rs, after.rs),
  };
  results.push(tr);
  process.stdout.write(`# bulk ${JSON.stringify(tr)}\n`);
  return tr;
}

async function download(t: Topo, mode: Mode): Promise<Transfer> {
  const before = sample(t);
  const start = process.hrtime.bigint();
  const r = t.client.run(
    `curl -sS --max-time 45 -w '%{stderr}%{http_code} %{size_download}\\n' ` +
      `http://${VIP}/files/big | sha256sum`,
    { timeoutMs: 50000 },
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const after = sample(t);
  const tr = record(mode, 'download', DOWNLOAD_BYTES, seconds, before, after);
  const more = () => diag(t, `curl: status ${r.status} stderr ${r.stderr}\nmeasured ${JSON.stringify(tr)}`);
  assert.match(r.stderr, new RegExp(`^200 ${DOWNLOAD_BYTES}$`, 'm'), more());
  assert.equal(r.stdout.split(' ')[0], getPayloads().downloadSha, more());
  return tr;
}

async function upload(t: Topo, mode: Mode): Promise<Transfer> {
  const infile = t.lab.file('upload');
  const shafile = t.lab.file('upload.sha');
  fs.writeFileSync(infile, getPayloads().upload);
  const sink = t.rs.spawn(`timeout 45 socat -u TCP-LISTEN:8081,reuseaddr STDOUT | sha256sum > ${shafile}`);
  const sinkDone = new Promise<number>((res) => sink.on('exit', (c) => res(c ?? -1)));
  await sleep(300);
  const before = sample(t);
  const start = process.hrtime.bigint();
  const r = t.client.run(`timeout 45 socat -u FILE:${infile} TCP:${VIP}:8081`, { timeoutMs: 50000 });
  const sinkStatus = await sinkDone;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const after = sample(t);
  const tr = record(mode, 'upload', UPLOAD_BYTES, seconds, before, after);
  const got = fs.existsSync(shafile) ? fs.readFileSync(shafile, 'utf8').split(' ')[0] : '(no sha file)';
  const more = () =>
    diag(
      t,
      `socat client: status ${r.status} ${r.stderr}\nsink: ${sinkStatus}\nmeasured ${JSON.stringify(tr)}`,
    );
  assert.equal(r.status, 0, more());
  assert.equal(got, getPayloads().uploadSha, more());
  return tr;
}

/**
 * A segment whose checksum the director left wrong (a partial checksum not completed, or completed over
 * the wrong range) is counted by the receiving stack as InCsumErrors and retransmitted: the transfer may
 * still complete, so the counters are checked as well as the hash.
 */
function assertNoChecksumErrors(t: Topo, tr: Transfer): void {
  for (const [who, c] of [
    ['client', tr.client],
    ['real server', tr.realServer],
  ] as const)
    assert.ok(
      c.InCsumErrors === 0 && c.InErrs === 0,
      diag(t, `${tr.mode} ${tr.direction}: ${who} counted bad TCP segments ${JSON.stringify(tr)}`),
    );
}

async function runMode(mode: Mode, offload: boolean): Promise<void> {
  const t = setup(mode, offload);
  try {
    startNginx(t.lab, t.rs, {
      listen: ['80'],
      body: 'rs',
      files: { big: getPayloads().download },
    });
    configure(t, mode, offload);
    const dl = await download(t, mode);
    assertNoChecksumErrors(t, dl);
    const ul = await upload(t, mode);
    assertNoChecksumErrors(t, ul);
    // The client's stack sends GSO super-frames (TSO on its veth); the director must have received
    // and forwarded them as such (average frame above what one MTU-sized frame can carry).
    assert.ok(ul.rxAvgBytes > MAX_PLAIN_FRAME, diag(t, `upload: no super-frames? ${JSON.stringify(ul)}`));
    if (mode === 'nat')
      assert.ok(dl.rxAvgBytes > MAX_PLAIN_FRAME, diag(t, `download: no super-frames? ${JSON.stringify(dl)}`));
    // a super-frame that did not fit the generated-frame pool was dropped whole (64 KiB of the flow)
    const drops = directorDrops(t);
    assert.equal(drops['frame_pool_exhausted'] ?? 0, 0, diag(t, 'super-frames dropped for want of slots'));
    if (offload) await checkOffloaded(t);
  } finally {
    // `down` removes the state kept under /run/lvsd (keyed by the namespace inode, which is reused)
    if (mode !== 'nat') t.rs.run('lvsd realserver down');
    await t.lab.cleanup();
  }
}

interface OffloadStatusJson {
  enabled: boolean;
  offloaded: number;
  active: number;
  withdrawn: number;
  failed: number;
  kernelPackets: number;
  kernelBytes: number;
}

function offloadStatus(t: Topo): OffloadStatusJson {
  const r = t.director.run('lvsd status --json');
  assert.equal(r.status, 0, `lvsd status --json failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { dataplane: { offload: OffloadStatusJson } }).dataplane.offload;
}

/** InBytes of the real server behind VIP:port in `ipvsadm -L -n --stats --exact`. */
function destInBytes(t: Topo, port: number): number {
  const out = t.director.sh('ipvsadm -L -n --stats --exact');
  const lines = out.split('\n');
  const svc = lines.findIndex((l) => l.includes(`${VIP}:${port}`));
  const dest = lines.slice(svc + 1).find((l) => l.includes('->'));
  // "  -> RemoteAddress:Port Conns InPkts OutPkts InBytes OutBytes"
  return Number(dest?.trim().split(/\s+/)[5] ?? NaN);
}

/**
 * DR with the kernel fast path (core/offload.ts): the upload's established segments were forwarded
 * by nftables, not copied through lvsd; the kernel's counters reached ipvsadm's statistics; after the
 * connection closed the flow was withdrawn and the kernel holds no element and no next-hop chain.
 */
async function checkOffloaded(t: Topo): Promise<void> {
  let st = offloadStatus(t);
  for (let i = 0; i < 30 && (st.active > 0 || st.withdrawn < 1); i++) {
    await sleep(100);
    st = offloadStatus(t);
  }
  const more = (m: string): string => diag(t, `${m}\noffload: ${JSON.stringify(st)}`);
  assert.ok(st.enabled && st.offloaded >= 1 && st.failed === 0, more('no flow was offloaded'));
  assert.ok(st.kernelBytes > UPLOAD_BYTES / 2, more('the kernel forwarded less than half of the upload'));
  assert.equal(st.active, 0, more('the closed flow is still offloaded'));
  const inBytes = destInBytes(t, 8081);
  assert.ok(
    inBytes >= UPLOAD_BYTES,
    more(`ipvsadm --stats counts ${inBytes} bytes for a ${UPLOAD_BYTES}-byte upload`),
  );
  const nft = t.director.sh('nft list table netdev lvsd');
  assert.doesNotMatch(nft, /chain fwd_/, more(`next-hop chain left behind:\n${nft}`));
  assert.doesNotMatch(nft, /goto fwd_/, more(`element left behind:\n${nft}`));
}

function directorDrops(t: Topo): Record<string, number> {
  const r = t.director.run('lvsd status --json');
  assert.equal(r.status, 0, `lvsd status --json failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { dataplane: { drops: Record<string, number> } }).dataplane.drops;
}

for (const mode of ['nat', 'dr', 'tun'] as const) {
  test(
    `bulk TCP through ${mode.toUpperCase()}: 100 MB download and 50 MB upload intact, default offloads`,
    { skip: skip ?? false, timeout: 60000 },
    () => runMode(mode, false),
  );
}

test(
  'bulk TCP through DR with the kernel fast path: intact, forwarded by nftables, counted, withdrawn at the end',
  { skip: skip ?? false, timeout: 60000 },
  () => runMode('dr', true),
);
