/**
 * Entry point of the scheduler module: importing it registers every scheduler (one file each, as the
 * kernel's ip_vs_<name>.c modules) and re-exports the registry and the contract.
 */
import './rr.js';
import './wrr.js';
import './lc.js';
import './wlc.js';
import './lblc.js';
import './lblcr.js';
import './dh.js';
import './sh.js';
import './sed.js';
import './nq.js';
import './fo.js';
import './ovf.js';
import './mh.js';
import './twos.js';

export { createScheduler, registerScheduler, schedulerNames } from './registry.js';
export * from './types.js';
export { MH_PRIMES, MH_DEFAULT_TABLE_SIZE } from './mh.js';
