/**
 * The real implementations the data-plane worker plugs into DataPlane: the ipvsadm executor, the
 * steering derivation, the network-model application and the neighbour prober.
 */
import { monotonicMs, type DataPlaneDeps } from './dataplane.js';
import type { Director } from '../core/director.js';
import { applyNetModel, type NetModel } from '../io/netmirror.js';
import { NeighProber } from '../io/neigh-probe.js';
import { deriveSteering } from '../io/steering.js';
import { executeIpvsadm } from '../cli/ipvsadm/index.js';
import { executeFwmark } from '../cli/fwmark.js';
import { syncManagerOf } from '../sync/manager.js';

const probers = new WeakMap<Director, NeighProber>();

function proberOf(d: Director): NeighProber {
  let p = probers.get(d);
  if (!p) {
    p = new NeighProber(d.net);
    probers.set(d, p);
  }
  return p;
}

export const planeDeps: DataPlaneDeps = {
  applyNet(director, model) {
    applyNetModel(director.net, model as NetModel, monotonicMs());
  },
  onTick(director, nowMs) {
    syncManagerOf(director)?.tick(nowMs);
  },
  housekeeping(director, nowMs) {
    proberOf(director).run(director.batch, nowMs);
  },
  execute(argv, stdin, director, nowMs) {
    const sync = syncManagerOf(director);
    return executeIpvsadm(argv, {
      director,
      nowMs,
      ...(stdin !== undefined ? { stdin } : {}),
      ...(sync ? { sync } : {}),
    });
  },
  executeFwmark(argv, director) {
    return executeFwmark(argv, director);
  },
  deriveSpec(director, input) {
    return deriveSteering(director.services, input);
  },
};
