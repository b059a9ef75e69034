/**
 * The real implementations the data-plane worker plugs into DataPlane: the ipvsadm executor, the
 * steering derivation, the network-model application and the neighbour prober.
 */
import type { DataPlaneDeps } from './dataplane.js';
import { deriveSteering } from '../io/steering.js';

export const planeDeps: DataPlaneDeps = {
  execute() {
    return { stdout: '', stderr: 'ipvsadm executor not wired yet\n', code: 2, changed: false };
  },
  deriveSpec(director, input) {
    return deriveSteering(director.services, input);
  },
};
