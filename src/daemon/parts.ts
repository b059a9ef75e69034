/**
 * Build the daemon's kernel-facing parts (steering, network mirror, peer check). Kept apart from
 * daemon.ts so tests can run a Daemon with fakes and the memory driver.
 */
import type { DaemonParts } from './daemon.js';
import type { Logger } from './log.js';

export async function buildParts(opts: {
  driver: 'afpacket' | 'memory';
  steering: boolean;
  logger: Logger;
}): Promise<DaemonParts> {
  void opts;
  return { steering: null, net: null, checkPeer: () => null };
}
