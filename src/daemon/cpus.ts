/**
 * CPU lists for `--dataplane-cpu`: the data-plane thread runs on the CPUs listed, and lvsd's other
 * threads (control plane, health checks, VRRP) on the CPUs the process may use minus those, so
 * that a core given to the data plane is not shared with lvsd's own checks (bench/README.md, issue 4).
 */
import { readFileSync } from 'node:fs';

/** A CPU list as taskset -c and cpusets write it ("1", "0,2", "2-5,7"); null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const cpus = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part.trim());
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= 1024) return null;
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The CPUs the calling thread may run on (Cpus_allowed_list of /proc/thread-self/status). */
export function allowedCpus(status = readFileSync('/proc/thread-self/status', 'utf8')): number[] | null {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  return m ? parseCpuList(m[1]!) : null;
}

/** The CPUs left for lvsd's other threads: allowed minus the data plane's; null when none is left. */
export function controlCpus(allowed: number[], dataplane: number[]): number[] | null {
  const taken = new Set(dataplane);
  const rest = allowed.filter((c) => !taken.has(c));
  return rest.length > 0 ? rest : null;
}
