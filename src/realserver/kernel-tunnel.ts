/**
 * Which tunnel decapsulation the running kernel can do itself. The kernel's devices are preferred when
 * present (reference §5.4, §7.3: `modprobe ipip; ip link set tunl0 up`); without them the userspace
 * agent (agent.ts) decapsulates.
 *
 * Detection never loads ip_gre by accident: once loaded it owns IP protocol 47 in every namespace and a
 * raw GRE socket would then see every packet twice (once decapsulated by the kernel). For ipip and fou
 * we do probe by creating a device (which autoloads the module): that is the path we then use anyway.
 */
import { existsSync, readFileSync } from 'node:fs';
import { listLinks, tryRun } from './system.js';

export interface KernelTunnels {
  /** ipip module usable (tunl0 / `type ipip`) */
  ipip: boolean;
  /** fou module usable (`ip fou add port N gue`) */
  fou: boolean;
  /** ip_gre loaded: the kernel owns protocol 47 */
  greLoaded: boolean;
}

function moduleListed(name: string): boolean {
  if (existsSync(`/sys/module/${name}`)) return true;
  try {
    return readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[0] === name);
  } catch {
    return false;
  }
}

/** Does the kernel (module loaded, built in, or loadable on demand) provide ipip? */
export function kernelHasIpip(): boolean {
  if (moduleListed('ipip')) return true;
  const names = listLinks().map((l) => l.ifname);
  if (names.includes('tunl0')) return true;
  // Probe: creating an ipip device autoloads the module (and creates tunl0) when it exists.
  const probe = `lvsdprb${process.pid % 100000}`;
  if (tryRun('ip', ['link', 'add', probe, 'type', 'ipip', 'remote', '192.0.2.1', 'local', '192.0.2.2'])) {
    tryRun('ip', ['link', 'del', probe]);
    return true;
  }
  return false;
}

/** Is ip_gre present (it then owns protocol 47)? Never probes by creating a device. */
export function kernelGreLoaded(): boolean {
  if (moduleListed('ip_gre') || moduleListed('gre')) return true;
  return listLinks().some((l) => l.ifname === 'gre0' || l.ifname.startsWith('gretap0'));
}

export function kernelHasFou(): boolean {
  if (moduleListed('fou')) return true;
  // `ip fou show` fails with "No such file or directory" when the genetlink family is missing
  return tryRun('ip', ['fou', 'show']);
}

export function detectKernelTunnels(): KernelTunnels {
  const ipip = kernelHasIpip();
  return { ipip, fou: ipip && kernelHasFou(), greLoaded: kernelGreLoaded() };
}

/** Can the kernel decapsulate tunType by itself? */
export function kernelCanDecap(tunType: TunType, k: KernelTunnels): boolean {
  if (tunType === 'ipip') return k.ipip;
  if (tunType === 'gue') return k.fou;
  return k.greLoaded;
}

export type TunType = 'ipip' | 'gue' | 'gre';

/** The fallback device the kernel decapsulates into for a tunnel type (outer IPv4). */
export function kernelTunnelDevice(tunType: TunType): string {
  return tunType === 'gre' ? 'gre0' : 'tunl0';
}
