/**
 * Name lookups for the drop-in ipvsadm, synchronous and local only.
 *
 * Real ipvsadm calls gethostbyname / gethostbyaddr (files and DNS, per nsswitch) and getservbyname /
 * getservbyport (/etc/services). lvsd runs ipvsadm commands inside the data-plane worker, where a DNS
 * round trip is not acceptable, so:
 *  - ports: /etc/services (the same file getservby* read);
 *  - hosts: /etc/hosts only (IPv4 for forward lookups, as gethostbyname; first name of the first
 *    matching line for reverse lookups, as the files backend). No DNS: an address /etc/hosts does not
 *    name prints numerically, exactly as ipvsadm prints an address DNS cannot resolve.
 * Both files are parsed again whenever one of them changes (the daemon is long-lived; ipvsadm reads
 * them on every invocation). A missing or unreadable file behaves as an empty one.
 */
import { readFileSync, statSync } from 'node:fs';

export interface NameResolver {
  /** getservbyport: the service name of `port` for protocol 'tcp' | 'udp' | 'sctp', or undefined */
  portName(port: number, proto: string): string | undefined;
  /** getservbyname: the port of a service name, or undefined */
  portByName(name: string, proto: string): number | undefined;
  /** gethostbyaddr: a host name for the address (af 4 or 6, 4 big-endian words), or undefined */
  hostName(af: number, words: Uint32Array): string | undefined;
  /** gethostbyname (IPv4 only): the address as a u32, or undefined */
  hostAddr(name: string): number | undefined;
}

interface ServiceEntry {
  name: string;
  aliases: string[];
  port: number;
  proto: string;
}

/** Parse /etc/services text: `name port/proto [aliases...] [# comment]`. */
export function parseServices(text: string): ServiceEntry[] {
  const out: ServiceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(f[1] ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    out.push({ name: f[0]!, aliases: f.slice(2), port, proto: m[2]!.toLowerCase() });
  }
  return out;
}

interface HostEntry {
  af: number;
  key: string;
  names: string[];
}

/** Parse /etc/hosts text: `address name [aliases...]`; `key` is the normalised numeric address. */
export function parseHosts(
  text: string,
  normalise: (addr: string) => { af: number; key: string } | null,
): HostEntry[] {
  const out: HostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    if (f.length < 2) continue;
    const n = normalise(f[0]!);
    if (!n) continue;
    out.push({ af: n.af, key: n.key, names: f.slice(1) });
  }
  return out;
}

function wordsKey(af: number, w: Uint32Array): string {
  return af === 4 ? `4/${w[0]}` : `6/${w[0]}/${w[1]}/${w[2]}/${w[3]}`;
}

/** A resolver over given file contents (tests pass their own; the CLI uses systemNames()). */
export function namesFrom(
  servicesText: string,
  hostsText: string,
  parseAddr: (s: string) => { af: number; words: Uint32Array } | null,
): NameResolver {
  const services = parseServices(servicesText);
  const byPort = new Map<string, string>();
  const byName = new Map<string, number>();
  for (const s of services) {
    const pk = `${s.port}/${s.proto}`;
    if (!byPort.has(pk)) byPort.set(pk, s.name);
    for (const n of [s.name, ...s.aliases]) {
      const nk = `${n}/${s.proto}`;
      if (!byName.has(nk)) byName.set(nk, s.port);
    }
  }
  const hosts = parseHosts(hostsText, (a) => {
    const p = parseAddr(a);
    return p ? { af: p.af, key: wordsKey(p.af, p.words) } : null;
  });
  const hostByAddr = new Map<string, string>();
  const hostByName = new Map<string, number>();
  for (const h of hosts) {
    if (!hostByAddr.has(h.key)) hostByAddr.set(h.key, h.names[0]!);
    if (h.af === 4) {
      const v = Number(h.key.slice(2));
      for (const n of h.names) {
        const k = n.toLowerCase();
        if (!hostByName.has(k)) hostByName.set(k, v);
      }
    }
  }
  return {
    portName: (port, proto) => byPort.get(`${port}/${proto}`),
    portByName: (name, proto) => byName.get(`${name}/${proto}`),
    hostName: (af, words) => hostByAddr.get(wordsKey(af, words)),
    hostAddr: (name) => hostByName.get(name.toLowerCase()),
  };
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** What identifies one version of a file: inode, size and mtime ('' when it cannot be read). */
function fileVersion(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}/${st.size}/${st.mtimeMs}`;
  } catch {
    return '';
  }
}

const fileCache = new Map<string, { version: string; names: NameResolver }>();

/**
 * A resolver over the given services and hosts files. The parsed tables are kept while neither file
 * changes: the long-lived lvsd daemon runs every ipvsadm command, and real ipvsadm reads the files
 * afresh on each invocation, so an /etc/hosts edit (the LVS-HOWTO's "put realservers in /etc/hosts")
 * must be seen by the next command.
 */
export function fileNames(
  servicesPath: string,
  hostsPath: string,
  parseAddr: (s: string) => { af: number; words: Uint32Array } | null,
): NameResolver {
  const key = `${servicesPath}\0${hostsPath}`;
  const version = `${fileVersion(servicesPath)}|${fileVersion(hostsPath)}`;
  const hit = fileCache.get(key);
  if (hit && hit.version === version) return hit.names;
  const names = namesFrom(readOrEmpty(servicesPath), readOrEmpty(hostsPath), parseAddr);
  fileCache.set(key, { version, names });
  return names;
}

/** /etc/services and /etc/hosts, re-read when either changes (see fileNames). */
export function systemNames(
  parseAddr: (s: string) => { af: number; words: Uint32Array } | null,
): NameResolver {
  return fileNames('/etc/services', '/etc/hosts', parseAddr);
}

/** A resolver that knows no names (numeric everywhere). */
export const NO_NAMES: NameResolver = {
  portName: () => undefined,
  portByName: () => undefined,
  hostName: () => undefined,
  hostAddr: () => undefined,
};
