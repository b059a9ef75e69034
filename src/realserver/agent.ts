/**
 * The real server's userspace decapsulation agent (`lvsd realserver agent`), for kernels without the
 * ipip / fou / ip_gre modules. One per network namespace, started detached by `lvsd realserver up
 * --mode tun` and stopped by `down` (SIGTERM).
 *
 * Packets in: raw sockets for IPIP (IPv4 outer: protocols 4 and 41; IPv6 outer: 41 and 4) or GRE (47),
 * or a UDP socket on the GUE port. Raw sockets get a copy of every packet of their protocol addressed to
 * this host, after reassembly (raw(7)); since no kernel handler exists for the protocol, the kernel drops
 * its own copy without an ICMP protocol-unreachable (it sends one only when no raw socket took it).
 * Packets out: the inner IP packet is written into a TUN device (IFF_TUN | IFF_NO_PI), which hands it to
 * the stack as if received on that device: the VIP on lo accepts it, rp_filter 0 on the device and on
 * `all` lets a client source through, and the reply leaves by normal routing straight to the client.
 *
 * Only inner packets addressed to a configured VIP are injected (others are counted and logged, rate
 * limited): the agent must not become an open relay into the host.
 *
 * Hot path: one receive buffer reused for every raw read, no allocation per packet (the GUE path goes
 * through node:dgram, which allocates one Buffer per datagram).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { rmSync, writeFileSync } from 'node:fs';
import { AF_INET, AF_INET6, IPPROTO_ICMP, PacketView } from '../packet/view.js';
import { parseL3 } from '../packet/parse.js';
import { fold, l4ChecksumSet, l4ChecksumVerify, pseudoHeaderSum } from '../packet/checksum.js';
import { parseAddress } from '../packet/addr.js';
import { LvsError } from '../errors.js';
import {
  DECAP_DROP_NAMES,
  DecapDrop,
  DecapResult,
  INPUT_GUE,
  INPUT_IPV4_RAW,
  INPUT_IPV6_RAW_GRE,
  INPUT_IPV6_RAW_IPIP4,
  INPUT_IPV6_RAW_IPIP6,
  VipSet,
  decapsulate,
} from './decap.js';
import { kernelGreLoaded } from './kernel-tunnel.js';
import type { TunType } from './kernel-tunnel.js';

/** The native functions the agent uses (src/io/native.ts). */
export interface AgentNative {
  socket(domain: number, type: number, protocol: number): number;
  recv(fd: number, buf: Uint8Array, off: number, len: number): number;
  write(fd: number, buf: Uint8Array, off: number, len: number): number;
  pollStart(fd: number, cb: () => void): void;
  pollStop(fd: number): void;
  close(fd: number): void;
  tunOpen(name: string, flags: number): { fd: number; name: string };
  /** optional: older fakes and builds without it keep the kernel's default receive buffer */
  setsockoptInt?(fd: number, level: number, name: number, value: number): void;
}

/**
 * Receive buffer of the agent's sockets. The director sends a tunnelled GSO super-frame as up to ~45
 * segments back to back, several super-frames per batch; the default (net.core.rmem_default, 208 KiB,
 * about 90 queued segments by truesize) overflowed under a bulk transfer and the raw socket dropped
 * about one segment in ten (/proc/net/raw "drops"), which TCP saw as loss.
 */
export const AGENT_RCVBUF = 16 << 20;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

/** Linux values (socket(2), if_tun.h); used when the addon does not export them. */
const LINUX = { AF_INET: 2, AF_INET6: 10, SOCK_RAW: 3, IFF_TUN: 0x0001, IFF_NO_PI: 0x1000 };

/** Load src/io/native.js at run time (built on another branch; absent until merged). */
export async function loadNative(): Promise<AgentNative & Record<string, unknown>> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL('../io/native.js', import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    throw new LvsError(
      'ERR_LVS_UNSUPPORTED',
      `the packet I/O addon is not available (${(e as Error).message}); run \`npm install\` in the checkout`,
      1,
    );
  }
  if (mod.nativeAvailable === false) {
    const why = (mod.nativeLoadError as Error | null)?.message ?? 'unknown error';
    throw new LvsError(
      'ERR_LVS_UNSUPPORTED',
      `the packet I/O addon is not built (${why}); run \`npm install\``,
      1,
    );
  }
  const api = (mod.native ?? mod.default ?? mod) as AgentNative & Record<string, unknown>;
  for (const fn of ['socket', 'recv', 'write', 'pollStart', 'pollStop', 'close', 'tunOpen']) {
    if (typeof api[fn] !== 'function') {
      throw new LvsError('ERR_LVS_UNSUPPORTED', `the packet I/O addon lacks ${fn}()`, 1);
    }
  }
  return api;
}

function constant(api: Record<string, unknown>, name: keyof typeof LINUX): number {
  const v = api[name];
  return typeof v === 'number' ? v : LINUX[name];
}

export interface AgentOptions {
  vips: string[];
  tunType: TunType;
  /** GUE UDP port (required for gue) */
  tunPort?: number;
  /** TUN device to write into (made by `up`, persistent) */
  device: string;
  /** where the ready marker and stats go (null: nowhere) */
  stateDir: string | null;
  /** injected for tests */
  native?: AgentNative & Record<string, unknown>;
  log?: (level: string, msg: string, fields?: Record<string, unknown>) => void;
}

export const AGENT_READY_FILE = 'realserver-agent.ready';
export const AGENT_STATS_FILE = 'realserver-agent.stats.json';
export const AGENT_PID_FILE = 'realserver-agent.pid';
export const AGENT_LOG_FILE = 'realserver-agent.log';

export interface AgentStats {
  received: number;
  injected: number;
  writeErrors: number;
  /** partial inner checksums completed (see completePartialChecksum) */
  checksumsCompleted: number;
  dropped: Record<string, number>;
}

function defaultLog(level: string, msg: string, fields?: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + '\n');
}

export function vipSetOf(vips: string[]): VipSet {
  const set = new VipSet();
  for (const v of vips) {
    const a = parseAddress(v);
    if (!a) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `invalid VIP address '${v}'`);
    if (a.af === AF_INET) set.addV4(a.words[0]!);
    else if (a.af === AF_INET6) set.addV6(a.words);
  }
  return set;
}

/**
 * A running agent: sockets open, packets flowing, until stop(). start() throws LvsError when a socket
 * or the TUN device cannot be opened (nothing is left open then).
 */
export class DecapAgent {
  private readonly vips: VipSet;
  private readonly buf = new Uint8Array(65536);
  private readonly res = new DecapResult();
  private readonly inner = new PacketView();
  /** inner packets whose L4 checksum was still partial (sent by a local stack over veth) */
  checksumsCompleted = 0;
  /** [received, injected, writeErrors, drops by DecapDrop reason...] */
  readonly counters = new Float64Array(3 + DECAP_DROP_NAMES.length);
  private readonly rawFds: number[] = [];
  private readonly udp: Socket[] = [];
  private tunFd = -1;
  private native!: AgentNative & Record<string, unknown>;
  private statsTimer: NodeJS.Timeout | null = null;
  private lastStatsTotal = -1;
  private readonly log: NonNullable<AgentOptions['log']>;
  private notVipLogged = 0;

  constructor(private readonly opts: AgentOptions) {
    this.vips = vipSetOf(opts.vips);
    this.log = opts.log ?? defaultLog;
  }

  async start(): Promise<void> {
    const o = this.opts;
    if (o.tunType === 'gue' && !(o.tunPort && o.tunPort > 0 && o.tunPort < 65536)) {
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'GUE needs --tun-port (1-65535)');
    }
    if (o.tunType === 'gre' && kernelGreLoaded()) {
      throw new LvsError(
        'ERR_LVS_UNSUPPORTED',
        "the kernel's ip_gre module owns IP protocol 47 here: use the kernel's gre0 device " +
          '(lvsd realserver up --mode tun --tun-type gre picks it) instead of the agent',
        1,
      );
    }
    this.native = o.native ?? (await loadNative());
    const n = this.native;
    try {
      const tun = n.tunOpen(o.device, constant(n, 'IFF_TUN') | constant(n, 'IFF_NO_PI'));
      this.tunFd = tun.fd;
      const af4 = constant(n, 'AF_INET');
      const af6 = constant(n, 'AF_INET6');
      const raw = constant(n, 'SOCK_RAW');
      if (o.tunType === 'ipip') {
        this.openRaw(af4, raw, 4, INPUT_IPV4_RAW);
        this.openRaw(af4, raw, 41, INPUT_IPV4_RAW);
        this.openRaw(af6, raw, 41, INPUT_IPV6_RAW_IPIP6, true);
        this.openRaw(af6, raw, 4, INPUT_IPV6_RAW_IPIP4, true);
      } else if (o.tunType === 'gre') {
        this.openRaw(af4, raw, 47, INPUT_IPV4_RAW);
        this.openRaw(af6, raw, 47, INPUT_IPV6_RAW_GRE, true);
      } else {
        await this.openGue(o.tunPort!);
      }
    } catch (e) {
      this.closeAll();
      if (e instanceof LvsError) throw e;
      throw new LvsError('ERR_LVS_SYSTEM', `agent: ${(e as Error).message}`, 1);
    }
    this.statsTimer = setInterval(() => this.writeStats(), 1000);
    this.writeStats();
    if (o.stateDir) writeFileSync(`${o.stateDir}/${AGENT_READY_FILE}`, `${process.pid}\n`);
    this.log('info', 'agent started', {
      tunType: o.tunType,
      tunPort: o.tunPort,
      device: o.device,
      vips: o.vips,
    });
  }

  /** IPv6 sockets are optional (IPv6 may be disabled in the namespace). */
  private openRaw(af: number, type: number, proto: number, input: number, optional = false): void {
    let fd: number;
    try {
      fd = this.native.socket(af, type, proto);
    } catch (e) {
      if (optional) {
        this.log('warn', 'raw socket not available', { af, proto, error: (e as Error).message });
        return;
      }
      throw e;
    }
    this.rawFds.push(fd);
    this.growReceiveBuffer(fd);
    this.native.pollStart(fd, () => this.drain(fd, input));
  }

  /** SO_RCVBUFFORCE (root), else SO_RCVBUF (capped by net.core.rmem_max); a failure only costs headroom. */
  private growReceiveBuffer(fd: number): void {
    const set = this.native.setsockoptInt;
    if (!set) return;
    try {
      set.call(this.native, fd, SOL_SOCKET, SO_RCVBUFFORCE, AGENT_RCVBUF);
    } catch {
      try {
        set.call(this.native, fd, SOL_SOCKET, SO_RCVBUF, AGENT_RCVBUF);
      } catch (e) {
        this.log('warn', 'cannot grow the receive buffer', { fd, error: (e as Error).message });
      }
    }
  }

  private async openGue(port: number): Promise<void> {
    const bind = (type: 'udp4' | 'udp6'): Promise<Socket | null> =>
      new Promise((resolve, reject) => {
        const s = createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: AGENT_RCVBUF });
        s.once('error', (e) => {
          s.close();
          if (type === 'udp6') resolve(null);
          else reject(e);
        });
        s.bind(port, type === 'udp4' ? '0.0.0.0' : '::', () => {
          s.removeAllListeners('error');
          s.on('error', (e) => this.log('warn', 'gue socket error', { error: e.message }));
          resolve(s);
        });
      });
    for (const type of ['udp4', 'udp6'] as const) {
      const s = await bind(type);
      if (!s) continue;
      this.udp.push(s);
      s.on('message', (msg: Buffer) => this.handle(msg, 0, msg.length, INPUT_GUE));
    }
  }

  /** Read until EAGAIN (bounded so one busy socket cannot starve the event loop). */
  private drain(fd: number, input: number): void {
    const n = this.native;
    for (let i = 0; i < 256; i++) {
      const len = n.recv(fd, this.buf, 0, this.buf.length);
      if (len < 0) return;
      this.handle(this.buf, 0, len, input);
    }
  }

  /** Decapsulate one packet and inject it. Never throws. */
  handle(buf: Uint8Array, off: number, len: number, input: number): void {
    const c = this.counters;
    c[0]!++;
    const r = decapsulate(buf, off, len, input, this.res);
    if (r < 0) {
      c[3 - r]!++;
      return;
    }
    const res = this.res;
    if (!this.vips.hasDestination(buf, res.innerOff, res.innerVersion)) {
      c[3 + DecapDrop.NotVip]!++;
      // the first few, then one in 1000: enough to diagnose a wrong VIP without flooding the log
      if (this.notVipLogged < 10 || c[3 + DecapDrop.NotVip]! % 1000 === 0) {
        this.notVipLogged++;
        this.log('warn', 'inner destination is not a VIP; dropped', {
          dst: innerDst(buf, res.innerOff, res.innerVersion),
          count: c[3 + DecapDrop.NotVip],
        });
      }
      return;
    }
    this.completePartialChecksum(buf, res.innerOff, res.innerOff + res.innerLen);
    let w: number;
    try {
      w = this.native.write(this.tunFd, buf, res.innerOff, res.innerLen);
    } catch {
      w = -1;
    }
    if (w === res.innerLen) c[1]!++;
    else c[2]!++;
  }

  /**
   * A sender on the same host (veth, or a VM's virtio) may leave the inner TCP/UDP checksum partial
   * (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum). The kernel's own ipip device keeps
   * that state on the skb and accepts the packet; a raw socket hands us the bytes without it and the
   * TUN device would make the kernel verify, and drop, them. Complete exactly those checksums: the
   * field equals the folded pseudo-header sum and does not verify. Genuinely corrupt packets are left
   * for the kernel to drop.
   */
  private completePartialChecksum(buf: Uint8Array, start: number, end: number): void {
    const v = this.inner;
    v.clear();
    v.frameStart = start;
    v.frameEnd = end;
    if (parseL3(buf, start, end, v) < 0) return;
    if (v.l4CsumOff < 0 || v.isFragment || v.proto === IPPROTO_ICMP || v.l3End > end) return;
    if (l4ChecksumVerify(buf, v)) return;
    const field = (buf[v.l4CsumOff]! << 8) | buf[v.l4CsumOff + 1]!;
    if (field !== fold(pseudoHeaderSum(buf, v.l3Off, v.af, v.proto, v.l3End - v.l4Off))) return;
    if (l4ChecksumSet(buf, v) === 0) this.checksumsCompleted++;
  }

  stats(): AgentStats {
    const c = this.counters;
    const dropped: Record<string, number> = {};
    for (let i = 1; i < DECAP_DROP_NAMES.length; i++) {
      if (c[3 + i]! > 0) dropped[DECAP_DROP_NAMES[i]!] = c[3 + i]!;
    }
    return {
      received: c[0]!,
      injected: c[1]!,
      writeErrors: c[2]!,
      checksumsCompleted: this.checksumsCompleted,
      dropped,
    };
  }

  private writeStats(): void {
    if (!this.opts.stateDir || this.counters[0] === this.lastStatsTotal) return;
    this.lastStatsTotal = this.counters[0]!;
    try {
      writeFileSync(`${this.opts.stateDir}/${AGENT_STATS_FILE}`, JSON.stringify(this.stats()) + '\n');
    } catch {
      /* the state dir may be going away during `down` */
    }
  }

  private closeAll(): void {
    const n = this.native;
    for (const fd of this.rawFds) {
      try {
        n.pollStop(fd);
        n.close(fd);
      } catch {
        /* already closed */
      }
    }
    this.rawFds.length = 0;
    for (const s of this.udp) s.close();
    this.udp.length = 0;
    if (this.tunFd >= 0 && n) {
      try {
        n.close(this.tunFd);
      } catch {
        /* already closed */
      }
    }
    this.tunFd = -1;
  }

  stop(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.lastStatsTotal = -1;
    this.writeStats();
    this.closeAll();
    if (this.opts.stateDir) rmSync(`${this.opts.stateDir}/${AGENT_READY_FILE}`, { force: true });
    this.log('info', 'agent stopped', { ...this.stats() });
  }
}

function innerDst(buf: Uint8Array, off: number, ver: number): string {
  if (ver === 4) return `${buf[off + 16]}.${buf[off + 17]}.${buf[off + 18]}.${buf[off + 19]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((buf[off + 24 + i]! << 8) | buf[off + 25 + i]!).toString(16));
  return parts.join(':');
}

/** Foreground entry of `lvsd realserver agent`: runs until SIGTERM/SIGINT, then resolves 0. */
export async function runAgent(opts: AgentOptions): Promise<number> {
  const agent = new DecapAgent(opts);
  await agent.start();
  return new Promise<number>((resolve) => {
    const onSignal = (sig: string): void => {
      (opts.log ?? defaultLog)('info', 'signal', { signal: sig });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      agent.stop();
      resolve(0);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
