/**
 * The drop-in ipvsadm 1.31: parse (parse.ts), execute against a Director (execute.ts), format
 * (format.ts). See execute.ts for the contract.
 *
 * Where lvsd's ipvsadm knowingly differs from ipvsadm 1.31 on a kernel:
 *  - `-h`: the version line and the usage block are ipvsadm's; the option summary after them is lvsd's.
 *  - Names (output without -n, names in arguments): ports from /etc/services, hosts from /etc/hosts
 *    only (no DNS; an unnamed address prints numerically, as ipvsadm prints one DNS cannot resolve).
 *    Both files are re-read when they change. IPv6 addresses always print numerically, as ipvsadm's
 *    reverse lookup (which passes an IPv4 length for both families) always fails for them.
 *  - The header's `size=` is always the stock 4096.
 *  - `-L -c` rows come in lvsd's table order (the kernel's is hash order); the pe name / pe_data
 *    columns are empty; SCTP connections show the state lvsd's state table gives them.
 *  - `--nosort` lists services in creation order and destinations in insertion order.
 *  - `--start-daemon` / `--stop-daemon` drive lvsd's sync daemon (src/sync/) when the executor is
 *    given one (ctx.sync, the daemon does); without it --start-daemon is refused (exit 255) and
 *    --stop-daemon answers what IPVS answers when no daemon runs ("No daemon is running", exit 255).
 *  - Extensions, saved by -S and read back by -R: `--fullnat` (forwarding method, listed `FullNat`)
 *    and `--laddr a[,b...]` (FullNAT local addresses; not shown by -L). -R skips lines starting
 *    with '#'.
 */
export { parseIpvsadm, splitLine, type ParsedIpvsadm, type IpvsadmCommand } from './parse.js';
export {
  executeIpvsadm,
  ipvsStrerror,
  listConnections,
  listServices,
  START_DAEMON_UNSUPPORTED,
  type IpvsadmContext,
  type IpvsadmResult,
  type SyncControl,
} from './execute.js';
export { type SyncDaemonStatus, IPVS_CONN_TAB_SIZE } from './format.js';
export { namesFrom, systemNames, NO_NAMES, type NameResolver } from './names.js';
export { IPVSADM_USAGE, IPVSADM_VERSION, IPVSADM_OPTIONS_HELP } from './usage.js';
