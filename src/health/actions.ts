/**
 * The contract between health checking and the IPVS table, as keepalived's checker process has it
 * with the kernel (ipvswrapper: ADD_DEST / EDIT_DEST / DEL_DEST; reference §2).
 *
 * Split of duties:
 * - The daemon's keepalived runtime owns *services*: it creates, edits and deletes the IPVS
 *   service(s) of every virtual server (a `group` virtual server is one service per group entry) and
 *   implements these actions for all of them at once.
 * - The HealthManager (src/health) owns *destinations*: which real servers and sorry server are in
 *   each virtual server's services and with what weight. It never touches a destination it did not
 *   add, and it does not re-add one deleted by hand (keepalived issues #1018, #1877).
 *
 * Actions for one virtual server are issued in order and awaited; an action that fails (e.g. the
 * destination was deleted by hand) is logged by the caller and does not stop health checking.
 */
import type { RealServer, SorryServer, VirtualServer } from '../config/model.js';

/** A destination as the actions need it: address, port and forwarding of a real or sorry server. */
export type DestTarget = Pick<RealServer, 'address' | 'port' | 'family' | 'method' | 'tunnel'> &
  Partial<Pick<RealServer, 'upperThreshold' | 'lowerThreshold'>>;

export interface IpvsActions {
  /** ADD_DEST in every service of `vs` (ipvsadm -a ... -w weight [-x -y]) */
  addDest(vs: VirtualServer, dest: DestTarget, weight: number): Promise<void>;
  /** EDIT_DEST: weight only (inhibit_on_failure, misc_dynamic, sorry_server_inhibit) */
  editDest(vs: VirtualServer, dest: DestTarget, weight: number): Promise<void>;
  /** DEL_DEST from every service of `vs` */
  delDest(vs: VirtualServer, dest: DestTarget): Promise<void>;
}

export type { RealServer, SorryServer, VirtualServer };
