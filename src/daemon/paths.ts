/**
 * Where a daemon keeps its state and logs. Both are keyed by the inode of the network namespace
 * (`stat -L /proc/self/ns/net`), the identity the kernel itself gives a namespace, so daemons in
 * different namespaces never share files even when the namespaces have no names.
 */
import fs from 'node:fs';
import path from 'node:path';

export function netnsInode(): number {
  return fs.statSync('/proc/self/ns/net').ino;
}

export const RUN_ROOT = process.env['LVSD_RUN_DIR'] ?? '/run/lvsd';
export const LOG_ROOT = process.env['LVSD_LOG_DIR'] ?? '/var/log/lvsd';

export function stateDir(inode = netnsInode()): string {
  return path.join(RUN_ROOT, String(inode));
}

export function logFile(inode = netnsInode()): string {
  return path.join(LOG_ROOT, `lvsd-${inode}.log`);
}
