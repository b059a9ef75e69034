/**
 * `lvsd status` and `lvsd stop`: talk to the daemon of this namespace over `@lvsd`.
 */
import { connectIfRunning } from './daemon-client.js';

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
}

function formatStatus(s: Status): string {
  const d = s.dataplane;
  const lines: string[] = [];
  lines.push(`lvsd ${s.version}, pid ${s.pid}, network namespace ${s.netns}, up since ${s.startedAt}`);
  lines.push(`driver:      ${d.driver}`);
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
  const drops = Object.entries(d.drops);
  lines.push(drops.length ? 'drops by reason:' : 'drops by reason: none');
  for (const [k, v] of drops.sort((a, b) => b[1] - a[1])) lines.push(`  ${k.padEnd(28)} ${v}`);
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
