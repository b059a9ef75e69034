/**
 * `lvsd status` and `lvsd stop`: talk to the daemon of this namespace over `@lvsd`.
 */
import { connectIfRunning } from './daemon-client.js';
import type { CheckerStatus, HealthStatus } from '../health/types.js';
import { formatSyncStatus } from '../sync/status-text.js';
import type { OffloadStatus } from '../core/offload.js';

interface Status {
  pid: number;
  version: string;
  netns: number;
  startedAt: string;
  control: { rejected: number };
  dataplane: {
    driver: string;
    captured: { ifindex: number; name: string }[];
    driverCounters: Record<string, unknown> | null;
    rxFrames: number;
    busyTurns: number;
    connections: number;
    services: number;
    drops: Record<string, number>;
    sync?: Record<string, unknown>;
    offload?: OffloadStatus | { enabled: false };
    /** the CPUs the data-plane thread is pinned to (--dataplane-cpu); absent or null: not pinned */
    cpus?: number[] | null;
  };
  steering: Record<string, unknown> | null;
  /** restart support (src/daemon/restart.ts), absent when the daemon keeps no state */
  restart?: {
    stateDir: string;
    restored: { services: number; fwmarkRules: number; savedAt: string } | null;
    handover: {
      fromPid: number;
      gapMs: number;
      connections: number;
      skipped: number;
      droppedInGap: number;
      dropCounters?: [number, number];
    } | null;
    saveErrors: number;
  };
  /** keepalived mode only (src/daemon/keepalived.ts status()) */
  keepalived?: KeepalivedStatus;
}

interface KeepalivedStatus {
  configFile: string;
  configId?: string;
  noVrrp: boolean;
  loadedAt: string | null;
  lastReload: {
    at: string;
    ok: boolean;
    error?: string;
    diagnostics: string[];
    added: string[];
    edited: string[];
    removed: string[];
  } | null;
  virtualServers: {
    name: string;
    services: string[];
    destinations: { address: string; port: number; weight: number }[];
  }[];
  health: HealthStatus | null;
}

/** One checker line: kind, target, state, last result, latency, reason, counts. */
function checkerLine(c: CheckerStatus): string {
  const state = !c.hasRun ? 'pending' : c.up ? 'up' : 'DOWN';
  const last = c.lastResult
    ? ` last ${c.lastResult}${c.lastLatencyMs !== undefined ? ` ${c.lastLatencyMs.toFixed(1)} ms` : ''}`
    : '';
  const reason = c.reason ? ` (${c.reason})` : '';
  const retry = c.retryIt ? ` retry ${c.retryIt}` : '';
  return `${c.kind} ${c.target} ${state}${last}${reason}${retry}  checks ${c.checks} ok ${c.successes} failed ${c.failures}`;
}

/** The health checker's view: quorum per virtual server, state and weight per real server, checkers. */
function formatHealth(h: HealthStatus, lines: string[]): void {
  lines.push(
    `  health: ${h.running ? 'running' : 'stopped'}, checks in flight ${h.inFlight}, queued ${h.queued}, ` +
      `TCP/HTTP checks on ${h.probeThread ? 'the probe thread' : 'Node sockets'}`,
  );
  for (const vs of h.virtualServers) {
    lines.push(
      `  ${vs.name}: quorum ${vs.quorumUp ? 'up' : 'DOWN'} (alive weight ${vs.weightSum}, quorum ${vs.quorum}` +
        `${vs.hysteresis ? ` hysteresis ${vs.hysteresis}` : ''})${vs.sorryActive ? ', sorry server active' : ''}`,
    );
    for (const r of vs.realServers) {
      const table = r.inTable ? `in table weight ${r.tableWeight}` : 'not in table';
      lines.push(
        `    ${r.address}:${r.port} ${r.alive ? 'alive' : 'DOWN'} weight ${r.weight}` +
          `${r.weight !== r.configuredWeight ? ` (configured ${r.configuredWeight})` : ''}, ${table}`,
      );
      for (const c of r.checkers) lines.push(`      ${checkerLine(c)}`);
    }
  }
}

/** The keepalived part of `lvsd status`: file, load and reload, services, health checks. */
export function formatKeepalived(k: KeepalivedStatus): string[] {
  const lines: string[] = [];
  lines.push(`keepalived:  ${k.configFile}${k.configId ? ` (config id ${k.configId})` : ''}`);
  lines.push(
    `  loaded:    ${k.loadedAt ?? '-'}${k.noVrrp ? '    (--no-vrrp: VRRP addresses not managed)' : ''}`,
  );
  const r = k.lastReload;
  if (!r) lines.push('  last reload: none');
  else {
    lines.push(
      `  last reload: ${r.at} ${r.ok ? 'ok' : 'FAILED'}` +
        (r.ok
          ? ` (services added ${r.added.length}, edited ${r.edited.length}, removed ${r.removed.length})`
          : ''),
    );
    if (r.error) lines.push(`    ${r.error}`);
    for (const d of r.diagnostics.slice(0, 20)) lines.push(`    ${d}`);
  }
  lines.push(`  virtual servers: ${k.virtualServers.length}`);
  for (const vs of k.virtualServers) {
    lines.push(`  ${vs.name}: ${vs.services.join(', ') || '(no service)'}`);
    if (!k.health)
      for (const d of vs.destinations) lines.push(`    -> ${d.address}:${d.port} weight ${d.weight}`);
  }
  if (k.health) formatHealth(k.health, lines);
  return lines;
}

function formatStatus(s: Status): string {
  const d = s.dataplane;
  const lines: string[] = [];
  lines.push(`lvsd ${s.version}, pid ${s.pid}, network namespace ${s.netns}, up since ${s.startedAt}`);
  const ring = d.driverCounters?.['rxRingFrames'];
  const rx =
    typeof ring === 'number'
      ? ring > 0
        ? ` (receive ring: ${ring} frames per interface)`
        : ' (recvmmsg)'
      : '';
  lines.push(`driver:      ${d.driver}${rx}${d.cpus ? `    data-plane CPUs: ${d.cpus.join(',')}` : ''}`);
  lines.push(
    `interfaces:  ${d.captured.length ? d.captured.map((c) => `${c.name}(${c.ifindex})`).join(' ') : '(none captured)'}`,
  );
  lines.push(`services:    ${d.services}    connections: ${d.connections}    frames received: ${d.rxFrames}`);
  if (d.driverCounters) {
    lines.push('driver counters:');
    for (const [k, v] of Object.entries(d.driverCounters)) {
      if (typeof v === 'object' && v !== null) {
        const inner = Object.entries(v as Record<string, unknown>)
          .map(([a, b]) => `${a}=${typeof b === 'object' ? JSON.stringify(b) : String(b)}`)
          .join(' ');
        lines.push(`  ${k}: ${inner || '-'}`);
      } else lines.push(`  ${k}: ${String(v)}`);
    }
  }
  if (s.steering) {
    lines.push('steering:');
    for (const [k, v] of Object.entries(s.steering))
      lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  } else lines.push('steering:    off');
  const o = d.offload;
  if (o?.enabled)
    lines.push(
      `DR kernel fast path: after ${o.thresholdPkts} client packets; ${o.active} active, ${o.pending} pending ` +
        `(of ${o.capacity}); ${o.offloaded} offloaded, ${o.withdrawn} withdrawn, ${o.failed} refused; ` +
        `kernel forwarded ${o.kernelPackets} packets, ${o.kernelBytes} bytes`,
    );
  else if (o) lines.push('DR kernel fast path: off');
  const drops = Object.entries(d.drops);
  lines.push(drops.length ? 'drops by reason:' : 'drops by reason: none');
  for (const [k, v] of drops.sort((a, b) => b[1] - a[1])) lines.push(`  ${k.padEnd(28)} ${v}`);
  lines.push(...formatSyncStatus(d.sync));
  if (s.control.rejected) lines.push(`control requests rejected: ${s.control.rejected}`);
  const r = s.restart;
  if (r) {
    lines.push(`saved table: ${r.stateDir}${r.saveErrors ? ` (${r.saveErrors} saves failed)` : ''}`);
    if (r.restored)
      lines.push(
        `  restored at start: ${r.restored.services} services, ${r.restored.fwmarkRules} fwmark rules (saved ${r.restored.savedAt})`,
      );
    const h = r.handover;
    if (h)
      lines.push(
        `  taken over from pid ${h.fromPid}: ${h.connections} connections (${h.skipped} not transferable), ` +
          `capture gap ${h.gapMs} ms, ${h.droppedInGap >= 0 ? `at most ${h.droppedInGap}` : 'unknown'} ` +
          `service packets dropped in the gap${h.dropCounters ? ` (steering counters ${h.dropCounters.join(' -> ')})` : ''}`,
      );
  }
  if (s.keepalived) lines.push(...formatKeepalived(s.keepalived));
  return lines.join('\n') + '\n';
}

export async function statusMain(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const bad = argv.find((a) => a !== '--json');
  if (bad !== undefined) {
    process.stderr.write(`lvsd status: unknown option '${bad}'\nUsage: lvsd status [--json]\n`);
    return 2;
  }
  const c = await connectIfRunning();
  if (!c) {
    process.stderr.write('lvsd is not running in this network namespace\n');
    return 3;
  }
  try {
    const s = await c.request<Status>('status');
    process.stdout.write(json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
    return 0;
  } catch (e) {
    process.stderr.write(`lvsd status: ${(e as Error).message}\n`);
    return 1;
  } finally {
    c.close();
  }
}

export async function stopMain(argv: string[]): Promise<number> {
  if (argv.length > 0) {
    process.stderr.write(`lvsd stop: unexpected argument '${argv[0]}'\nUsage: lvsd stop\n`);
    return 2;
  }
  const c = await connectIfRunning();
  if (!c) {
    process.stderr.write('lvsd is not running in this network namespace\n');
    return 0;
  }
  try {
    const { pid } = await c.request<{ pid: number }>('ping');
    await c.request('stop');
    // wait until the process is gone (its stop is ordered: steering removed first)
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        return 0;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    process.stderr.write(`lvsd stop: pid ${pid} is still running after 10 s\n`);
    return 1;
  } catch (e) {
    process.stderr.write(`lvsd stop: ${(e as Error).message}\n`);
    return 1;
  } finally {
    c.close();
  }
}

/** `lvsd reload`: re-read the keepalived configuration; non-zero (and nothing changed) when it fails. */
export async function reloadMain(argv: string[]): Promise<number> {
  if (argv.length > 0) {
    process.stderr.write(`lvsd reload: unexpected argument '${argv[0]}'\nUsage: lvsd reload\n`);
    return 2;
  }
  const c = await connectIfRunning();
  if (!c) {
    process.stderr.write('lvsd is not running in this network namespace\n');
    return 3;
  }
  try {
    const r = await c.request<{
      ok: boolean;
      file: string;
      diagnostics: string[];
      error?: string;
      added: string[];
      edited: string[];
      removed: string[];
    }>('reload', undefined, 120000);
    for (const d of r.diagnostics) process.stderr.write(`${d}\n`);
    if (!r.ok) {
      process.stderr.write(`lvsd reload: ${r.error ?? 'failed'}\n`);
      return 1;
    }
    process.stdout.write(
      `reloaded ${r.file}: services added ${r.added.length}, edited ${r.edited.length}, removed ${r.removed.length}\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`lvsd reload: ${(e as Error).message}\n`);
    return 1;
  } finally {
    c.close();
  }
}
