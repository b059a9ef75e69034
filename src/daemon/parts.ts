/**
 * Build the daemon's kernel-facing parts (steering, network mirror, peer check). Kept apart from
 * daemon.ts so tests can run a Daemon with fakes and the memory driver.
 */
import type { DaemonParts, SteeringBackend } from './daemon.js';
import type { Logger } from './log.js';
import { NftSteering } from '../io/nft.js';
import { compileSocketFilter } from '../io/bpf.js';
import type { SteeringSpec } from '../io/steering.js';
import { native } from '../io/native.js';
import { rootPeerCheck } from './peer.js';
import { createNetSource } from '../io/netmirror.js';

export function nftSteeringBackend(logger: Logger): SteeringBackend {
  const nft = new NftSteering({ onWarning: (m) => logger.warn(m) });
  let filterLevel = 'none';
  let lastSpec: SteeringSpec | null = null;
  const compile = (spec: SteeringSpec): Uint8Array => {
    lastSpec = spec;
    const f = compileSocketFilter(spec, { exclude: nft.offloadedFlows() });
    if (f.level !== 'exact' && !filterLevel.startsWith(f.level))
      logger.warn('socket filter too large for an exact program; using a coarser one', { level: f.level });
    filterLevel = `${f.level} (${f.count} instructions)`;
    return f.program;
  };
  return {
    start: (spec: SteeringSpec) => nft.start(spec),
    applyRemovals: (spec: SteeringSpec) => nft.applyRemovals(spec),
    applyAdditions: (spec: SteeringSpec) => nft.applyAdditions(spec),
    stop: () => nft.stop(),
    replace: (spec: SteeringSpec, handover?: unknown) => {
      const o = (handover ?? {}) as { origReserved?: unknown };
      return nft.replace(spec, typeof o.origReserved === 'string' ? o.origReserved : undefined);
    },
    handoverState: () => nft.handoverState(),
    droppedPackets: () => nft.droppedPackets(),
    status: () => {
      const st = nft.state();
      const elements: Record<string, number> = {};
      for (const [k, v] of Object.entries(st.elements)) if (v.length) elements[k] = v.length;
      return {
        backend: 'nftables (table netdev lvsd)',
        interfaces: st.interfaces,
        elements,
        reservedPorts: st.reservedPorts || '-',
        socketFilter: filterLevel,
        offloadedFlows: nft.offloadedFlows().length,
      };
    },
    socketFilter: compile,
    offload: {
      add: (flows) => nft.offloadAdd(flows),
      remove: (flows, beforeKernel) => nft.offloadDelete(flows, beforeKernel),
      counters: () => nft.offloadCounters(),
      count: () => nft.offloadedFlows().length,
      filter: () => (lastSpec === null ? null : compile(lastSpec)),
    },
  };
}

export async function buildParts(opts: {
  driver: 'afpacket' | 'memory';
  steering: boolean;
  logger: Logger;
}): Promise<DaemonParts> {
  return {
    steering: opts.steering && opts.driver !== 'memory' ? nftSteeringBackend(opts.logger) : null,
    net: opts.driver === 'memory' ? null : createNetSource(native),
    checkPeer: rootPeerCheck((fd) => native.peerCred(fd)),
  };
}
