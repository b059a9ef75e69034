/**
 * nftables backend of the steering spec (src/io/steering.ts): `table netdev lvsd`, whose ingress
 * drops the packets lvsd forwards itself so the kernel does not also answer them (RST, ICMP) or
 * forward them twice. AF_PACKET sockets bound to ETH_P_ALL still see those packets: the taps run
 * before netfilter's netdev ingress hook (reference/node-packet-io.md "Stopping the kernel from also
 * processing captured packets").
 *
 * Layout: one base chain per device (`dev_<name>`, hook ingress, policy accept) jumping to one
 * regular chain `steer` whose rules are fixed and refer to named sets; only set elements change
 * after the first apply. nft 1.0.6 (Debian 12) cannot add or remove one device of a multi-device
 * chain (`devices = { ... }` must be restated, and re-creating the chain would reset its counters),
 * so a device is a chain of its own: attaching or detaching one is an add / delete chain.
 * Kernels since 6.16 keep a netdev chain whose device is gone (and re-hook it when the name comes
 * back); older kernels delete it on unregister, so deleting a missing chain is tolerated.
 *
 * Transactions: each change is one `nft -f -` script (atomic in the kernel). Element changes and
 * device chains are separate transactions so that a device vanishing under us cannot block the
 * element update. Additions and removals are separate calls because the daemon orders them around
 * the engine: on add the engine learns the service first, then the kernel stops seeing its traffic;
 * on delete the kernel gets the traffic back first, then the engine forgets it.
 *
 * Rules and why (nft(8), "PAYLOAD EXPRESSION", "EXTENSION HEADER EXPRESSIONS"):
 *  - Fragments first: only the first fragment has ports, so ports cannot decide fragments (e).
 *  - ICMP errors (d) are matched by outer addresses only: the quoted header lies behind the outer IP
 *    header and an inner header of variable length, which nft cannot address without assuming an
 *    IHL; lvsd's engine re-checks the quoted connection and hands unknown errors back to the kernel.
 *  - NAT return (b) and errors from real servers exclude packets to the director's own addresses,
 *    so health checks and ssh from the director to a real server keep working.
 */
import { spawn } from 'node:child_process';
import { LvsError, ERRNO } from '../errors.js';
import { type AddrEntry, type PortTuple, type PrefixTuple, type SteeringSpec } from './steering.js';
import type { OffloadCounterRow, OffloadFlow } from '../core/offload.js';
import { formatAddress, parseAddress } from '../packet/addr.js';

export const NFT_TABLE = 'lvsd';
const T = `netdev ${NFT_TABLE}`;
export const RESERVED_PORTS_PATH = '/proc/sys/net/ipv4/ip_local_reserved_ports';
export const LOCAL_PORT_RANGE_PATH = '/proc/sys/net/ipv4/ip_local_port_range';
/** Before other netdev ingress tables of the host (their priorities default to 0). */
export const INGRESS_PRIORITY = -500;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv with stdin; resolves with the exit code (never rejects for a non-zero exit). */
export type CommandRunner = (argv: readonly string[], stdin: string, timeoutMs: number) => Promise<RunResult>;

/** Run a command directly (async child_process; killed on timeout, reported as code -1). */
export const localRunner: CommandRunner = (argv, stdin, timeoutMs) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== null) stderr += `${argv[0]} killed by ${signal} (timeout ${timeoutMs} ms)`;
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading
    child.stdin.end(stdin);
  });

/** Run every command inside network namespace `ns` (`ip netns exec NS ...`): tests, tools. */
export function netnsRunner(ns: string, inner: CommandRunner = localRunner): CommandRunner {
  return (argv, stdin, timeoutMs) => inner(['ip', 'netns', 'exec', ns, ...argv], stdin, timeoutMs);
}

export interface NftSteeringOptions {
  /** nft binary (default 'nft') */
  readonly nft?: string;
  /** how commands run (default: directly; netnsRunner(ns) for a namespace) */
  readonly run?: CommandRunner;
  /** per command (default 10 s) */
  readonly timeoutMs?: number;
  /** manage ip_local_reserved_ports for FullNAT (default true) */
  readonly reservePorts?: boolean;
  /** told about a FullNAT range that reserves the whole ephemeral range (ip_local_port_range) */
  readonly onWarning?: (message: string) => void;
}

// ---------------------------------------------------------------- sets and script text

export type SetName =
  | 'svc4'
  | 'svc6'
  | 'svcany4'
  | 'svcany6'
  | 'mark4'
  | 'mark6'
  | 'fnat4'
  | 'fnat6'
  | 'nat4'
  | 'nat6'
  | 'natany4'
  | 'natany6'
  | 'own4'
  | 'own6'
  | 'icmpfrom4'
  | 'icmpfrom6'
  | 'icmpto4'
  | 'icmpto6'
  | 'frag4'
  | 'frag6';

interface SetDef {
  readonly type: string;
  readonly interval: boolean;
}

const A4 = 'ipv4_addr';
const A6 = 'ipv6_addr';
const L4 = 'inet_proto . inet_service';

/** Declaration order is listing order. */
export const NFT_SETS: Readonly<Record<SetName, SetDef>> = {
  svc4: { type: `${A4} . ${L4}`, interval: false },
  svc6: { type: `${A6} . ${L4}`, interval: false },
  svcany4: { type: `${A4} . inet_proto`, interval: false },
  svcany6: { type: `${A6} . inet_proto`, interval: false },
  mark4: { type: `${A4} . ${L4}`, interval: true },
  mark6: { type: `${A6} . ${L4}`, interval: true },
  fnat4: { type: `${A4} . ${L4}`, interval: true },
  fnat6: { type: `${A6} . ${L4}`, interval: true },
  nat4: { type: `${A4} . ${L4}`, interval: false },
  nat6: { type: `${A6} . ${L4}`, interval: false },
  natany4: { type: `${A4} . inet_proto`, interval: false },
  natany6: { type: `${A6} . inet_proto`, interval: false },
  own4: { type: A4, interval: false },
  own6: { type: A6, interval: false },
  icmpfrom4: { type: A4, interval: false },
  icmpfrom6: { type: A6, interval: false },
  icmpto4: { type: A4, interval: false },
  icmpto6: { type: A6, interval: false },
  frag4: { type: A4, interval: false },
  frag6: { type: A6, interval: false },
};

const ICMP4_ERRORS = '{ destination-unreachable, time-exceeded, parameter-problem }';
const ICMP6_ERRORS = '{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }';

/** The fixed rules of chain `steer` (every one counts, for `lvsd status`). */
export const NFT_RULES: readonly string[] = [
  // (e) fragments to a VIP, before anything reads ports
  'ip frag-off & 0x3fff != 0 ip daddr @frag4 counter drop',
  'exthdr frag exists ip6 daddr @frag6 counter drop',
  // (f) later fragments of real servers' replies carry no ports: by source, not to the director itself
  'ip frag-off & 0x1fff != 0 ip daddr != @own4 ip saddr @icmpfrom4 counter drop',
  'frag frag-off != 0 ip6 daddr != @own6 ip6 saddr @icmpfrom6 counter drop',
  // (a) service traffic
  'ip daddr . meta l4proto . th dport @svc4 counter drop',
  'ip6 daddr . meta l4proto . th dport @svc6 counter drop',
  'ip daddr . meta l4proto @svcany4 counter drop',
  'ip6 daddr . meta l4proto @svcany6 counter drop',
  'ip daddr . meta l4proto . th dport @mark4 counter drop',
  'ip6 daddr . meta l4proto . th dport @mark6 counter drop',
  // (c) FullNAT return traffic
  'ip daddr . meta l4proto . th dport @fnat4 counter drop',
  'ip6 daddr . meta l4proto . th dport @fnat6 counter drop',
  // (b) NAT return traffic, not to the director itself
  'ip daddr != @own4 ip saddr . meta l4proto . th sport @nat4 counter drop',
  'ip6 daddr != @own6 ip6 saddr . meta l4proto . th sport @nat6 counter drop',
  'ip daddr != @own4 ip saddr . meta l4proto @natany4 counter drop',
  'ip6 daddr != @own6 ip6 saddr . meta l4proto @natany6 counter drop',
  // (d) ICMP errors to VIPs / pool addresses, and from real servers not to the director itself
  `icmp type ${ICMP4_ERRORS} ip daddr @icmpto4 counter drop`,
  `icmpv6 type ${ICMP6_ERRORS} ip6 daddr @icmpto6 counter drop`,
  `icmp type ${ICMP4_ERRORS} ip daddr != @own4 ip saddr @icmpfrom4 counter drop`,
  `icmpv6 type ${ICMP6_ERRORS} ip6 daddr != @own6 ip6 saddr @icmpfrom6 counter drop`,
];

/**
 * Offloaded DR flows (core/offload.ts), ahead of every drop rule: an established TCP frame (none of
 * SYN/FIN/RST, not an IPv4 fragment) of a flow in map off4/off6 jumps to that flow's next-hop chain
 * (offloadChain), which rewrites the Ethernet header and forwards it to the real server's interface.
 * No counter on these rules: droppedPackets() sums the chain's counters; the maps count per element.
 */
export const OFFLOAD_MAPS = {
  off4: 'ipv4_addr . inet_service . ipv4_addr . inet_service',
  off6: 'ipv6_addr . inet_service . ipv6_addr . inet_service',
} as const;
export const OFFLOAD_RULES: readonly string[] = [
  'ip frag-off & 0x3fff == 0 tcp flags & (fin|syn|rst) == 0 ip saddr . tcp sport . ip daddr . tcp dport vmap @off4',
  'meta l4proto tcp tcp flags & (fin|syn|rst) == 0 ip6 saddr . tcp sport . ip6 daddr . tcp dport vmap @off6',
];

/** Chain of one next hop: `fwd_<device>_<mac>` (device escaped as in deviceChainName). */
export function offloadChainName(dev: string, dstMac: string): string {
  return `fwd_${deviceChainName(dev).slice(4)}_${dstMac.replace(/:/g, '')}`;
}

function offloadChain(f: OffloadFlow): string {
  const name = offloadChainName(f.dev, f.dstMac);
  return (
    `add chain ${T} ${name}
` +
    `add rule ${T} ${name} ether saddr set ${f.srcMac} ether daddr set ${f.dstMac} fwd to ${JSON.stringify(f.dev)}
`
  );
}

function offloadElement(f: OffloadFlow, withVerdict: boolean): string {
  const k = `${f.caddr} . ${f.cport} . ${f.vaddr} . ${f.vport}`;
  return withVerdict ? `${k} : goto ${offloadChainName(f.dev, f.dstMac)}` : k;
}

const PROTO_NAME: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function proto(p: number): string {
  return PROTO_NAME[p] ?? String(p);
}

function ports(t: PortTuple): string {
  return t.portLo === t.portHi ? String(t.portLo) : `${t.portLo}-${t.portHi}`;
}

function isAny(t: PortTuple): boolean {
  return t.portLo === 0 && t.portHi === 65535;
}

/** Every set's elements as nft element text, for a spec. */
export function nftElements(spec: SteeringSpec): Record<SetName, string[]> {
  const out = Object.fromEntries(Object.keys(NFT_SETS).map((k) => [k, [] as string[]])) as Record<
    SetName,
    string[]
  >;
  const put = (name: string, af: number, e: string): void => {
    out[`${name}${af}` as SetName].push(e);
  };
  for (const t of spec.services)
    if (isAny(t)) put('svcany', t.af, `${t.addr} . ${proto(t.proto)}`);
    else put('svc', t.af, `${t.addr} . ${proto(t.proto)} . ${ports(t)}`);
  for (const t of spec.fwmark as PrefixTuple[]) {
    const full = t.prefixLen === (t.af === 4 ? 32 : 128);
    put('mark', t.af, `${t.addr}${full ? '' : `/${t.prefixLen}`} . ${proto(t.proto)} . ${ports(t)}`);
  }
  for (const t of spec.fullnatReturn) put('fnat', t.af, `${t.addr} . ${proto(t.proto)} . ${ports(t)}`);
  for (const t of spec.natReturn)
    if (isAny(t)) put('natany', t.af, `${t.addr} . ${proto(t.proto)}`);
    else put('nat', t.af, `${t.addr} . ${proto(t.proto)} . ${ports(t)}`);
  const addrs = (name: string, list: readonly AddrEntry[]): void => {
    for (const a of list) put(name, a.af, a.addr);
  };
  addrs('own', spec.own);
  addrs('icmpfrom', spec.icmpFrom);
  addrs('icmpto', spec.icmpTo);
  addrs('frag', spec.fragTo);
  return out;
}

/** Base chain name for a device: letters, digits and `_` kept, anything else as `_xx` (hex). */
export function deviceChainName(dev: string): string {
  let s = 'dev_';
  for (const ch of Buffer.from(dev, 'utf8'))
    s += /[A-Za-z0-9]/.test(String.fromCharCode(ch))
      ? String.fromCharCode(ch)
      : `_${ch.toString(16).padStart(2, '0')}`;
  return s;
}

function deviceChain(dev: string): string {
  return (
    `add chain ${T} ${deviceChainName(dev)} { type filter hook ingress device ${JSON.stringify(dev)} ` +
    `priority ${INGRESS_PRIORITY}; policy accept; }\n` +
    `add rule ${T} ${deviceChainName(dev)} jump steer\n`
  );
}

function elementLines(verb: 'add' | 'delete', elems: Record<SetName, string[]>): string {
  let s = '';
  for (const name of Object.keys(NFT_SETS) as SetName[]) {
    const list = elems[name];
    // chunks keep each line (and the netlink batch per line) reasonable
    for (let i = 0; i < list.length; i += 256)
      s += `${verb} element ${T} ${name} { ${list.slice(i, i + 256).join(', ')} }\n`;
  }
  return s;
}

/**
 * The first-apply script: remove a stale table (adding it first makes the delete safe when there is
 * none), then create the table, its sets, chain `steer` with its rules, and the elements; all in one
 * transaction. Device chains follow in their own transaction (deviceScript).
 */
export function createScript(spec: SteeringSpec): string {
  let s = `add table ${T}\ndelete table ${T}\nadd table ${T}\n`;
  for (const [name, d] of Object.entries(NFT_SETS))
    s += `add set ${T} ${name} { type ${d.type};${d.interval ? ' flags interval;' : ''} }\n`;
  for (const [name, type] of Object.entries(OFFLOAD_MAPS))
    s += `add map ${T} ${name} { type ${type} : verdict; counter; }\n`;
  s += `add chain ${T} steer\n`;
  for (const r of OFFLOAD_RULES) s += `add rule ${T} steer ${r}\n`;
  for (const r of NFT_RULES) s += `add rule ${T} steer ${r}\n`;
  s += elementLines('add', nftElements(spec));
  return s;
}

export interface SteeringDiff {
  /** elements to add, by set */
  readonly add: Record<SetName, string[]>;
  /** elements to delete, by set */
  readonly remove: Record<SetName, string[]>;
  readonly addDevices: string[];
  readonly removeDevices: string[];
}

/** Element-by-element difference from `cur` to `next`. */
export function diffSteering(cur: SteeringSpec, next: SteeringSpec): SteeringDiff {
  return diffHeld(nftElements(cur), cur.interfaces, next);
}

/** Difference from held element text and devices (what the kernel has) to `next`. */
export function diffHeld(
  held: Readonly<Record<SetName, Iterable<string>>>,
  heldDevices: Iterable<string>,
  next: SteeringSpec,
): SteeringDiff {
  const b = nftElements(next);
  const add = {} as Record<SetName, string[]>;
  const remove = {} as Record<SetName, string[]>;
  for (const name of Object.keys(NFT_SETS) as SetName[]) {
    const sa = new Set(held[name]);
    const sb = new Set(b[name]);
    add[name] = b[name].filter((e) => !sa.has(e));
    remove[name] = [...sa].filter((e) => !sb.has(e));
  }
  const da = new Set(heldDevices);
  const db = new Set(next.interfaces);
  return {
    add,
    remove,
    addDevices: next.interfaces.filter((d) => !da.has(d)),
    removeDevices: [...da].filter((d) => !db.has(d)),
  };
}

export function additionsScript(d: SteeringDiff): string {
  return elementLines('add', d.add);
}

export function removalsScript(d: SteeringDiff): string {
  return elementLines('delete', d.remove);
}

/** Merge our reserved range into the host's original value (comma list, proc(5)). */
function mergeReserved(orig: string, ours: string): string {
  if (ours === '') return orig;
  return orig === '' ? ours : `${orig},${ours}`;
}

type Elems = Record<SetName, Set<string>>;

/**
 * Applies steering specs to the kernel. Lifecycle: start(spec) -> applyRemovals(next) /
 * applyAdditions(next) (or apply(next)) ... -> stop(). Not re-entrant: the caller serialises calls.
 */
export class NftSteering {
  private readonly nft: string;
  private readonly run: CommandRunner;
  private readonly timeoutMs: number;
  private readonly reservePorts: boolean;
  private readonly onWarning: (message: string) => void;
  /** what the kernel holds now (element text by set), devices attached, reserved ports written */
  private elems: Elems | null = null;
  private devices = new Set<string>();
  private reserved = '';
  /** the host's ip_local_reserved_ports before start; null = not read (or not managing) */
  private origReserved: string | null = null;
  /** offloaded flows the kernel holds (by key), and next-hop chains with their number of flows */
  private offloaded = new Map<string, OffloadFlow>();
  private offloadChains = new Map<string, number>();

  constructor(opts: NftSteeringOptions = {}) {
    this.nft = opts.nft ?? 'nft';
    this.run = opts.run ?? localRunner;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.reservePorts = opts.reservePorts ?? true;
    this.onWarning = opts.onWarning ?? (() => {});
  }

  get started(): boolean {
    return this.elems !== null;
  }

  /** What the kernel holds now as far as this instance applied it: element text by set, devices. */
  state(): { interfaces: string[]; reservedPorts: string; elements: Record<string, string[]> } {
    const elements: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(this.elems ?? {})) elements[k] = [...(v as Set<string>)].sort();
    return { interfaces: [...this.devices].sort(), reservedPorts: this.reserved, elements };
  }

  /** Delete a stale table, create ours with `spec`, attach the devices, reserve FullNAT ports. */
  async start(spec: SteeringSpec): Promise<void> {
    await this.nftScript(createScript(spec), 'create table');
    this.forgetOffload();
    const el = nftElements(spec);
    this.elems = Object.fromEntries(Object.entries(el).map(([k, v]) => [k, new Set(v)])) as Elems;
    this.devices = new Set();
    if (this.reservePorts) {
      this.origReserved = (await this.readSysctl()).trim();
      this.reserved = '';
    }
    await this.attach(spec.interfaces);
    await this.setReserved(spec.reservedPorts);
  }

  /**
   * Like start(), but the stale table (a crashed daemon's, or the one a graceful restart left in
   * place) is replaced together with the device chains in ONE transaction: there is no moment in
   * which a device has no steering chain and the kernel answers service traffic with resets.
   * `origReserved` is the host's ip_local_reserved_ports before the previous daemon changed it (its
   * handoverState()), so ours are not merged in twice. Falls back to start() when the one
   * transaction fails (e.g. a device vanished meanwhile).
   */
  async replace(spec: SteeringSpec, origReserved?: string): Promise<void> {
    const r = await this.run(
      [this.nft, '-f', '-'],
      createScript(spec) + spec.interfaces.map(deviceChain).join(''),
      this.timeoutMs,
    );
    if (r.code !== 0) {
      this.onWarning(`nft: one-transaction replace failed, replacing in two steps: ${r.stderr.trim()}`);
      return this.start(spec);
    }
    this.forgetOffload();
    const el = nftElements(spec);
    this.elems = Object.fromEntries(Object.entries(el).map(([k, v]) => [k, new Set(v)])) as Elems;
    this.devices = new Set(spec.interfaces);
    if (this.reservePorts) {
      this.origReserved = origReserved ?? (await this.readSysctl()).trim();
      this.reserved = '';
    }
    await this.setReserved(spec.reservedPorts);
  }

  /** What the next daemon needs to take the table over (see replace()). */
  handoverState(): { origReserved: string | null } {
    return { origReserved: this.origReserved };
  }

  /**
   * Packets dropped by the steering rules so far (sum of their counters), or -1 when the table
   * cannot be listed. Across a graceful restart the difference between the old daemon's last and the
   * new daemon's first reading is what arrived while nobody captured.
   */
  async droppedPackets(): Promise<number> {
    const r = await this.run([this.nft, 'list', 'chain', 'netdev', NFT_TABLE, 'steer'], '', this.timeoutMs);
    if (r.code !== 0) return -1;
    let n = 0;
    for (const m of r.stdout.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
    return n;
  }

  /** Steering for `next` minus what the kernel holds (run before the engine learns `next`'s deletions). */
  async applyRemovals(next: SteeringSpec): Promise<void> {
    const d = diffHeld(this.held(), this.devices, next);
    const script = removalsScript(d);
    if (script !== '') await this.nftScript(script, 'delete elements');
    for (const [name, list] of Object.entries(d.remove))
      for (const e of list) this.held()[name as SetName].delete(e);
    await this.detach(d.removeDevices);
    if (next.reservedPorts === '' && this.reserved !== '') await this.setReserved('');
  }

  /** What `next` adds to the kernel's (run after the engine learned `next`'s additions). */
  async applyAdditions(next: SteeringSpec): Promise<void> {
    const d = diffHeld(this.held(), this.devices, next);
    const script = additionsScript(d);
    if (script !== '') await this.nftScript(script, 'add elements');
    for (const [name, list] of Object.entries(d.add))
      for (const e of list) this.held()[name as SetName].add(e);
    await this.attach(d.addDevices);
    if (next.reservedPorts !== '' && next.reservedPorts !== this.reserved)
      await this.setReserved(next.reservedPorts);
  }

  /** Both halves in the safe order for a change that is neither a pure add nor a pure delete. */
  async apply(next: SteeringSpec): Promise<void> {
    await this.applyRemovals(next);
    await this.applyAdditions(next);
  }

  /** `nft -j list table netdev lvsd`, parsed (for status and tests). */
  async listJson(): Promise<unknown> {
    const r = await this.run([this.nft, '-j', 'list', 'table', 'netdev', NFT_TABLE], '', this.timeoutMs);
    if (r.code !== 0) throw nftError('list table', r);
    return JSON.parse(r.stdout) as unknown;
  }

  /** Delete the table and restore ip_local_reserved_ports. Safe to call twice or before start. */
  async stop(): Promise<void> {
    const r = await this.run([this.nft, '-f', '-'], `add table ${T}\ndelete table ${T}\n`, this.timeoutMs);
    this.elems = null;
    this.devices = new Set();
    this.forgetOffload();
    if (this.reservePorts && this.origReserved !== null) {
      await this.writeSysctl(this.origReserved);
      this.reserved = '';
      this.origReserved = null;
    }
    if (r.code !== 0) throw nftError('delete table', r);
  }

  // ---------------------------------------------------------------- offloaded flows

  /** Flows the kernel forwards now (for the socket filter's exclusions). */
  offloadedFlows(): OffloadFlow[] {
    return [...this.offloaded.values()];
  }

  /**
   * Install flows (chains for new next hops, then the map elements; one transaction). Returns the
   * keys that were not installed (all of them when the transaction fails, e.g. a kernel without
   * nft_fwd_netdev).
   */
  async offloadAdd(flows: readonly OffloadFlow[]): Promise<string[]> {
    const todo = flows.filter((f) => !this.offloaded.has(f.key));
    if (todo.length === 0 || !this.started) return this.started ? [] : flows.map((f) => f.key);
    let script = '';
    const newChains = new Set<string>();
    for (const f of todo) {
      const c = offloadChainName(f.dev, f.dstMac);
      if (!this.offloadChains.has(c) && !newChains.has(c)) {
        newChains.add(c);
        script += offloadChain(f);
      }
    }
    for (const af of [4, 6] as const) {
      const list = todo.filter((f) => f.af === af).map((f) => offloadElement(f, true));
      if (list.length) script += `add element ${T} off${af} { ${list.join(', ')} }\n`;
    }
    const r = await this.run([this.nft, '-f', '-'], script, this.timeoutMs);
    if (r.code !== 0) {
      this.onWarning(`nft: offloading ${todo.length} flow(s) failed: ${r.stderr.trim()}`);
      return todo.map((f) => f.key);
    }
    for (const f of todo) {
      this.offloaded.set(f.key, f);
      const c = offloadChainName(f.dev, f.dstMac);
      this.offloadChains.set(c, (this.offloadChains.get(c) ?? 0) + 1);
    }
    return [];
  }

  /**
   * Withdraw flows: they leave offloadedFlows() at once, then `beforeKernel` runs (the daemon lets
   * their frames up through the socket filter again), then the elements go, then the next-hop chains
   * no flow uses any more.
   */
  async offloadDelete(flows: readonly OffloadFlow[], beforeKernel?: () => Promise<void>): Promise<void> {
    const held = flows.map((f) => this.offloaded.get(f.key)).filter((f): f is OffloadFlow => f !== undefined);
    if (held.length === 0) return;
    for (const f of held) this.offloaded.delete(f.key);
    if (beforeKernel) await beforeKernel();
    let script = '';
    for (const af of [4, 6] as const) {
      const list = held.filter((f) => f.af === af).map((f) => offloadElement(f, false));
      if (list.length) script += `delete element ${T} off${af} { ${list.join(', ')} }\n`;
    }
    const r = await this.run([this.nft, '-f', '-'], script, this.timeoutMs);
    if (r.code !== 0) this.onWarning(`nft: withdrawing offloaded flows failed: ${r.stderr.trim()}`);
    let drop = '';
    for (const f of held) {
      const c = offloadChainName(f.dev, f.dstMac);
      const n = (this.offloadChains.get(c) ?? 1) - 1;
      if (n > 0) this.offloadChains.set(c, n);
      else {
        this.offloadChains.delete(c);
        drop += `delete chain ${T} ${c}\n`;
      }
    }
    if (drop !== '') {
      const d = await this.run([this.nft, '-f', '-'], drop, this.timeoutMs);
      if (d.code !== 0) this.onWarning(`nft: deleting offload chains failed: ${d.stderr.trim()}`);
    }
  }

  /** Cumulative kernel counters of the offloaded flows (`nft -j list map`). */
  async offloadCounters(): Promise<OffloadCounterRow[]> {
    const rows: OffloadCounterRow[] = [];
    for (const af of [4, 6] as const) {
      if (![...this.offloaded.values()].some((f) => f.af === af)) continue;
      const r = await this.run(
        [this.nft, '-j', 'list', 'map', 'netdev', NFT_TABLE, `off${af}`],
        '',
        this.timeoutMs,
      );
      if (r.code !== 0) continue;
      rows.push(...parseOffloadCounters(r.stdout, af));
    }
    return rows;
  }

  private forgetOffload(): void {
    this.offloaded = new Map();
    this.offloadChains = new Map();
  }

  // ---------------------------------------------------------------- internals

  private held(): Elems {
    if (this.elems === null) throw new LvsError('ERR_LVS_STEERING', 'steering not started', ERRNO.EINVAL);
    return this.elems;
  }

  private async attach(devs: readonly string[]): Promise<void> {
    const todo = devs.filter((d) => !this.devices.has(d));
    if (todo.length === 0) return;
    const r = await this.run([this.nft, '-f', '-'], todo.map(deviceChain).join(''), this.timeoutMs);
    if (r.code === 0) {
      for (const d of todo) this.devices.add(d);
      return;
    }
    // One bad device must not keep the others unattached: retry one by one, report the failures.
    const failed: string[] = [];
    let stderr = '';
    for (const d of todo) {
      const one = await this.run([this.nft, '-f', '-'], deviceChain(d), this.timeoutMs);
      if (one.code === 0) this.devices.add(d);
      else {
        failed.push(d);
        stderr += one.stderr;
      }
    }
    if (failed.length > 0) throw nftError(`attach ${failed.join(', ')}`, { code: 1, stdout: '', stderr });
  }

  private async detach(devs: readonly string[]): Promise<void> {
    for (const d of devs) {
      const r = await this.run(
        [this.nft, '-f', '-'],
        `delete chain ${T} ${deviceChainName(d)}\n`,
        this.timeoutMs,
      );
      // Older kernels delete a netdev chain with its device: already gone is fine.
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) throw nftError(`detach ${d}`, r);
      this.devices.delete(d);
    }
  }

  private async nftScript(script: string, what: string): Promise<void> {
    const r = await this.run([this.nft, '-f', '-'], script, this.timeoutMs);
    if (r.code !== 0) throw nftError(what, r);
  }

  private async setReserved(ours: string): Promise<void> {
    if (!this.reservePorts || ours === this.reserved) return;
    await this.checkEphemeral(ours);
    await this.writeSysctl(mergeReserved(this.origReserved ?? '', ours));
    this.reserved = ours;
  }

  /**
   * Reserved ports are skipped when the kernel picks an ephemeral port (ip-sysctl.rst,
   * ip_local_reserved_ports); reserving all of ip_local_port_range leaves the namespace's own
   * connect() and unbound sendto() with EADDRNOTAVAIL. Worth a warning, not a refusal: the range
   * must match the engine's FullNAT allocator, which the operator configures.
   */
  private async checkEphemeral(ours: string): Promise<void> {
    const m = /^(\d+)(?:-(\d+))?$/.exec(ours);
    if (m === null) return;
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    const r = await this.run(['cat', LOCAL_PORT_RANGE_PATH], '', this.timeoutMs);
    const e = r.stdout.trim().split(/\s+/).map(Number);
    if (r.code === 0 && e.length === 2 && lo <= e[0]! && hi >= e[1]!)
      this.onWarning(
        `FullNAT port range ${ours} reserves the whole ephemeral range ${e[0]}-${e[1]}: ` +
          'local outgoing connections in this namespace will fail (EADDRNOTAVAIL); narrow the range',
      );
  }

  private async readSysctl(): Promise<string> {
    const r = await this.run(['cat', RESERVED_PORTS_PATH], '', this.timeoutMs);
    if (r.code !== 0) throw sysctlError('read', r);
    return r.stdout;
  }

  private async writeSysctl(value: string): Promise<void> {
    // `sh -c` so that the runner (e.g. a namespace) applies to the write as well.
    const r = await this.run(['sh', '-c', 'cat > "$0"', RESERVED_PORTS_PATH], `${value}\n`, this.timeoutMs);
    if (r.code !== 0) throw sysctlError('write', r);
  }
}

function nftError(what: string, r: RunResult): LvsError {
  const msg = r.stderr.trim() || `exit code ${r.code}`;
  return new LvsError('ERR_LVS_STEERING', `nft ${what} failed: ${msg}`, ERRNO.EINVAL);
}

function sysctlError(what: string, r: RunResult): LvsError {
  return new LvsError(
    'ERR_LVS_STEERING',
    `${what} ${RESERVED_PORTS_PATH} failed: ${r.stderr.trim() || `exit code ${r.code}`}`,
    ERRNO.EPERM,
  );
}

/** Rows of `nft -j list map netdev lvsd offN`: key as core/offload.ts builds it, and the counter. */
export function parseOffloadCounters(json: string, af: 4 | 6): OffloadCounterRow[] {
  const rows: OffloadCounterRow[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return rows;
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const it of items) {
    const elems = (it as { map?: { elem?: unknown[] } }).map?.elem;
    if (!Array.isArray(elems)) continue;
    for (const pair of elems) {
      const e = (Array.isArray(pair) ? pair[0] : pair) as {
        elem?: { val?: { concat?: unknown[] }; counter?: { packets?: number; bytes?: number } };
      };
      const c = e.elem?.val?.concat;
      const cnt = e.elem?.counter;
      if (!Array.isArray(c) || c.length !== 4 || !cnt) continue;
      const ca = parseAddress(String(c[0]));
      const va = parseAddress(String(c[2]));
      if (!ca || !va) continue;
      rows.push({
        key: `${af}|${formatAddress(af, ca.words)}|${Number(c[1])}|${formatAddress(af, va.words)}|${Number(c[3])}`,
        packets: Number(cnt.packets ?? 0),
        bytes: Number(cnt.bytes ?? 0),
      });
    }
  }
  return rows;
}
