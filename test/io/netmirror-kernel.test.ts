/**
 * NetMirror against the real kernel, through the native addon, in a network namespace of its own.
 * Node cannot setns(2), so the mirror runs in a child process started with `ip netns exec NS`: this
 * same file, in child mode (LVSD_NETMIRROR_CHILD=1), prints every model it emits as one JSON line.
 * The parent changes the namespace with `ip` and compares the child's model with `ip -j`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyNetModel, capturedLinks, NetMirror, type NetModel } from '../../src/io/netmirror.js';
import { NetState } from '../../src/core/netstate.js';
import { native, nativeAvailable } from '../../src/io/native.js';
import { IFF_UP, NUD_NOARP } from '../../src/io/netlink.js';
import { parseAddress, formatAddress, formatMac } from '../../src/packet/addr.js';

const CHILD = process.env.LVSD_NETMIRROR_CHILD === '1';

if (CHILD) {
  const m = new NetMirror(native);
  m.on('change', (model: NetModel) => process.stdout.write(JSON.stringify(model) + '\n'));
  m.on('error', (e: unknown) => {
    process.stderr.write(`netmirror child: ${String(e)}\n`);
    process.exit(2);
  });
  await m.start();
  // the parent closes stdin to stop us
  process.stdin.on('end', () => {
    m.stop();
    process.exit(0);
  });
  process.stdin.resume();
} else {
  defineTests();
}

function canRun(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!nativeAvailable) return 'native addon not built';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns does not work';
  return null;
}

/** Canonical text of an address (ip prints RFC 5952 forms too, but be safe). */
function canon(a: string): string {
  const p = parseAddress(a);
  return p ? formatAddress(p.af, p.words) : a;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  master?: string;
}
interface IpAddr extends IpLink {
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  prefsrc?: string;
  type?: string;
}
interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

function defineTests(): void {
  const skip = canRun();
  let counter = 0;

  test(
    'NetMirror with the kernel: the model matches ip -j and follows changes within a second',
    { skip: skip ?? false },
    async (t) => {
      const ns = `lvnl${process.pid}x${counter++}`;
      const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
      const ipj = <T>(...args: string[]): T[] => JSON.parse(ip('-j', ...args) || '[]') as T[];
      let child: ChildProcess | null = null;
      execFileSync('ip', ['netns', 'add', ns]);
      t.after(() => {
        if (child && child.exitCode === null) child.kill('SIGKILL');
        spawnSync('ip', ['netns', 'del', ns]);
      });
      // topology: a veth pair, a second one standing in for a dummy (this kernel has neither the dummy
      // nor the 8021q module; VLAN decoding is covered by the unit tests), a bridge with a veth port
      const setup = [
        'link set lo up',
        'link add va type veth peer name vb',
        'link add dum0 type veth peer name dum0p',
        'link add br0 type bridge',
        'link add vp type veth peer name vq',
        'link set vp master br0',
        'link set va up',
        'link set vb up',
        'link set dum0 up',
        'link set dum0p up',
        'link set br0 up',
        'link set vp up',
        'link set vq up',
        'addr add 10.91.0.1/24 dev va',
        'addr add 10.91.0.100/32 dev va label va:0',
        'addr add fd00:91::1/64 dev va nodad',
        'addr add 10.92.0.1/24 dev dum0',
        'route add 10.93.0.0/16 via 10.91.0.254',
        'route add default via 10.91.0.254',
        'route add 10.94.0.0/16 dev dum0 mtu 1400 metric 50',
        '-6 route add default via fd00:91::fe',
        'route add blackhole 10.66.0.0/16',
        'route add 10.98.0.0/16 via 10.91.0.254 table 100',
        'neigh add 10.91.0.254 lladdr 02:00:00:00:fe:01 dev va nud permanent',
        '-6 neigh add fd00:91::fe lladdr 02:00:00:00:fe:06 dev va nud permanent',
        'neigh add 10.92.0.7 lladdr 02:00:00:00:07:07 dev dum0 nud reachable',
      ];
      for (const c of setup) ip(...c.split(' '));

      const self = fileURLToPath(import.meta.url);
      child = spawn('ip', ['netns', 'exec', ns, process.execPath, self], {
        env: { ...process.env, LVSD_NETMIRROR_CHILD: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let latest: NetModel | null = null;
      let stderr = '';
      let partial = '';
      let wake: (() => void) | null = null;
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        partial += d;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          latest = JSON.parse(partial.slice(0, nl)) as NetModel;
          partial = partial.slice(nl + 1);
        }
        wake?.();
      });
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));

      /** Wait until check(latest model) returns null (ok) or the deadline passes; return the last complaint. */
      async function until(
        what: string,
        check: (m: NetModel) => string | null,
        ms = 1000,
      ): Promise<NetModel> {
        const deadline = Date.now() + ms;
        let why = 'no model yet';
        for (;;) {
          if (latest) {
            const r = check(latest);
            if (r === null) return latest;
            why = r;
          }
          const left = deadline - Date.now();
          if (left <= 0) assert.fail(`${what}: ${why}\nchild stderr: ${stderr}`);
          await new Promise<void>((res) => {
            const timer = setTimeout(res, Math.min(left, 50));
            wake = () => {
              clearTimeout(timer);
              res();
            };
          });
          wake = null;
        }
      }

      const ifindex = (name: string): number => ipj<IpLink>('link', 'show', 'dev', name)[0]!.ifindex;

      // ---- the model matches ip -j
      const linksOk = (m: NetModel): string | null => {
        const want = ipj<IpLink>('link', 'show').map((l) => ({
          ifindex: l.ifindex,
          name: l.ifname,
          up: l.flags.includes('UP'),
          mtu: l.mtu,
          mac: l.address ?? null,
          master: l.master ? ifindex(l.master) : 0,
        }));
        const got = m.links.map((l) => ({
          ifindex: l.ifindex,
          name: l.name,
          up: (l.flags & IFF_UP) !== 0,
          mtu: l.mtu,
          mac: l.mac ?? (l.name === 'lo' ? '00:00:00:00:00:00' : null),
          master: l.master,
        }));
        return JSON.stringify(got) === JSON.stringify(want)
          ? null
          : `links ${JSON.stringify(got)} != ${JSON.stringify(want)}`;
      };
      const addrsOk = (m: NetModel): string | null => {
        const want = ipj<IpAddr>('addr', 'show')
          .flatMap((l) => l.addr_info.map((a) => `${l.ifindex} ${canon(a.local)}/${a.prefixlen}`))
          .sort();
        const got = m.addrs.map((a) => `${a.ifindex} ${a.address}/${a.prefixLen}`).sort();
        return JSON.stringify(got) === JSON.stringify(want) ? null : `addrs ${got} != ${want}`;
      };
      const routeText = (af: 4 | 6, r: IpRoute): string => {
        const dst =
          r.dst === 'default'
            ? af === 4
              ? '0.0.0.0/0'
              : '::/0'
            : r.dst.includes('/')
              ? r.dst
              : `${r.dst}/${af === 4 ? 32 : 128}`;
        const [a, len] = dst.split('/');
        return `${r.type ?? 'unicast'} ${canon(a!)}/${len} via ${r.gateway ? canon(r.gateway) : '-'} dev ${r.dev ? ifindex(r.dev) : 0} metric ${r.metric ?? 0} src ${r.prefsrc ?? '-'}`;
      };
      const TYPES: Record<number, string> = { 1: 'unicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit' };
      const routesOk = (m: NetModel): string | null => {
        const want = [
          ...ipj<IpRoute>('-4', 'route', 'show', 'table', 'main').map((r) => routeText(4, r)),
          ...ipj<IpRoute>('-6', 'route', 'show', 'table', 'main').map((r) => routeText(6, r)),
        ].sort();
        const got = m.routes
          .map(
            (r) =>
              `${TYPES[r.type] ?? r.type} ${r.dst}/${r.dstLen} via ${r.gateway ?? '-'} dev ${r.oif} metric ${r.priority} src ${r.prefsrc ?? '-'}`,
          )
          .sort();
        return JSON.stringify(got) === JSON.stringify(want)
          ? null
          : `routes\n${got.join('\n')}\n!=\n${want.join('\n')}`;
      };
      const neighOk = (m: NetModel): string | null => {
        // ip neigh hides NOARP entries unless asked; compare what it shows by default
        const want = ipj<IpNeigh>('neigh', 'show')
          .map((n) => `${canon(n.dst)} ${ifindex(n.dev)} ${n.lladdr ?? '-'} ${n.state.join(',')}`)
          .sort();
        const STATES = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT'];
        const got = m.neighbours
          .filter((n) => (n.state & NUD_NOARP) === 0 && n.state !== 0)
          .map(
            (n) =>
              `${n.dst} ${n.ifindex} ${n.lladdr ?? '-'} ${STATES.filter((_, i) => n.state & (1 << i)).join(',')}`,
          )
          .sort();
        return JSON.stringify(got) === JSON.stringify(want) ? null : `neighbours ${got} != ${want}`;
      };
      const allOk = (m: NetModel): string | null => linksOk(m) ?? addrsOk(m) ?? routesOk(m) ?? neighOk(m);

      let m = await until('initial model matches ip -j', allOk, 3000);
      assert.ok(
        m.routes.some((r) => r.dst === '10.94.0.0' && r.mtu === 1400),
        'route MTU',
      );
      assert.ok(!m.routes.some((r) => r.dst === '10.98.0.0'), 'table 100 not mirrored');
      assert.ok(m.neighbours.some((n) => n.dst === 'fd00:91::fe' && n.lladdr === '02:00:00:00:fe:06'));
      const va = ifindex('va');
      assert.equal(m.links.find((l) => l.name === 'vp')!.master, ifindex('br0'));
      assert.equal(m.links.find((l) => l.name === 'vb')!.kind, 'veth');
      assert.deepEqual(
        capturedLinks(m)
          .map((l) => l.name)
          .sort(),
        ['br0', 'dum0', 'dum0p', 'va', 'vb', 'vq'],
      );

      // ---- the data plane's NetState built from it resolves through the kernel's routes and neighbours
      const net = new NetState(64);
      applyNetModel(net, m, 0);
      const n = net.resolve(4, parseAddress('10.93.1.1')!.words, 0);
      assert.equal(net.lastIfindex, va);
      assert.equal(formatAddress(4, net.nAddr, n * 4), '10.91.0.254');
      assert.equal(formatMac(net.nMac, n * 6), '02:00:00:00:fe:01');
      assert.ok(net.neighUsable(n));
      assert.equal(formatAddress(4, net.lastSrc), '10.91.0.1', 'the subnet address, not the /32');
      const n6 = net.resolve(6, parseAddress('fd00:1234::1')!.words, 0);
      assert.equal(formatMac(net.nMac, n6 * 6), '02:00:00:00:fe:06');
      net.resolve(4, parseAddress('10.94.3.3')!.words, 0);
      assert.equal(net.lastMtu, 1400);

      // ---- route add / replace / del
      ip('route', 'add', '10.95.0.0/16', 'via', '10.91.0.254', 'metric', '7');
      m = await until('route add', (x) =>
        x.routes.some(
          (r) => r.dst === '10.95.0.0' && r.gateway === '10.91.0.254' && r.priority === 7 && r.oif === va,
        )
          ? routesOk(x)
          : 'no 10.95.0.0/16',
      );
      ip('-6', 'route', 'add', 'fd00:95::/48', 'via', 'fd00:91::fe');
      await until('IPv6 route add', (x) =>
        x.routes.some((r) => r.dst === 'fd00:95::' && r.dstLen === 48) ? null : 'no fd00:95::/48',
      );
      ip('route', 'replace', '10.95.0.0/16', 'via', '10.91.0.253', 'metric', '7');
      await until('route replace', (x) =>
        x.routes.some((r) => r.dst === '10.95.0.0' && r.gateway === '10.91.0.253')
          ? routesOk(x)
          : 'old gateway',
      );
      ip('route', 'del', '10.95.0.0/16');
      await until('route del', (x) =>
        x.routes.some((r) => r.dst === '10.95.0.0') ? 'still there' : routesOk(x),
      );

      // ---- link down / up
      ip('link', 'set', 'dum0', 'down');
      m = await until('link down', (x) =>
        capturedLinks(x).some((l) => l.name === 'dum0')
          ? 'dum0 still captured'
          : (linksOk(x) ?? routesOk(x) ?? addrsOk(x)),
      );
      assert.ok(
        !m.routes.some((r) => r.dst === '10.94.0.0'),
        'the kernel flushed the dum0 routes, and so did the mirror',
      );
      ip('link', 'set', 'dum0', 'up');
      await until('link up', (x) =>
        capturedLinks(x).some((l) => l.name === 'dum0') ? (linksOk(x) ?? routesOk(x)) : 'dum0 not captured',
      );

      // ---- an interface appearing later, and one enslaved later
      ip('link', 'add', 'dum1', 'type', 'veth', 'peer', 'name', 'dum1p');
      ip('link', 'set', 'dum1', 'up');
      await until('new link', (x) =>
        capturedLinks(x).some((l) => l.name === 'dum1') ? linksOk(x) : 'dum1 not captured',
      );
      ip('link', 'set', 'vq', 'master', 'br0');
      await until('enslaved', (x) =>
        capturedLinks(x).some((l) => l.name === 'vq') ? 'vq still captured' : linksOk(x),
      );
      ip('link', 'del', 'dum1');
      await until('deleted link', (x) =>
        x.links.some((l) => l.name === 'dum1') ? 'dum1 still there' : allOk(x),
      );

      // ---- neighbour and address events
      ip('neigh', 'replace', '10.91.0.254', 'lladdr', '02:00:00:00:fe:02', 'dev', 'va', 'nud', 'permanent');
      await until('neigh replace', (x) =>
        x.neighbours.some((n) => n.dst === '10.91.0.254' && n.lladdr === '02:00:00:00:fe:02')
          ? neighOk(x)
          : 'old MAC',
      );
      ip('addr', 'add', '10.91.0.200/32', 'dev', 'va');
      await until('addr add', (x) =>
        x.addrs.some((a) => a.address === '10.91.0.200') ? addrsOk(x) : 'no 10.91.0.200',
      );

      child.stdin!.end();
      const code = await new Promise<number | null>((res) => child!.on('exit', (c) => res(c)));
      assert.equal(code, 0, stderr);
    },
  );
}
