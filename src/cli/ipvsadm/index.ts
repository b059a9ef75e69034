/**
 * The drop-in ipvsadm 1.31: parse (parse.ts), execute against a Director (execute.ts), format
 * (format.ts). See execute.ts for the contract.
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
} from './execute.js';
export { type SyncDaemonStatus, IPVS_CONN_TAB_SIZE } from './format.js';
export { namesFrom, systemNames, NO_NAMES, type NameResolver } from './names.js';
export { IPVSADM_USAGE, IPVSADM_VERSION, IPVSADM_OPTIONS_HELP } from './usage.js';
