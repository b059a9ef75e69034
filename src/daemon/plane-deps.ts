/**
 * The real implementations the data-plane worker plugs into DataPlane: the ipvsadm executor, the
 * steering derivation, the network-model application and the neighbour prober.
 */
import type { DataPlaneDeps } from './dataplane.js';
import { deriveSteering } from '../io/steering.js';
import { executeIpvsadm } from '../cli/ipvsadm/index.js';

export const planeDeps: DataPlaneDeps = {
  execute(argv, stdin, director, nowMs) {
    return executeIpvsadm(argv, { director, nowMs, ...(stdin !== undefined ? { stdin } : {}) });
  },
  deriveSpec(director, input) {
    return deriveSteering(director.services, input);
  },
};
