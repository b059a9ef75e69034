/**
 * Scheduler registry by name, like the kernel's register_ip_vs_scheduler / ip_vs_scheduler_get
 * (ip_vs_sched.c). Each scheduler file registers itself on import; import src/sched/index.js to get
 * all of them.
 */
import { ERRNO, LvsError } from '../errors.js';
import type { Scheduler, SchedOptions, SchedulerFactory } from './types.js';

const factories = new Map<string, SchedulerFactory>();

/** Register a factory under `name`; a second registration of the same name is an error (EEXIST). */
export function registerScheduler(name: string, factory: SchedulerFactory): void {
  if (factories.has(name)) {
    throw new LvsError('ERR_LVS_INVALID_ARGUMENT', `Scheduler ${name} already registered`, ERRNO.EEXIST);
  }
  factories.set(name, factory);
}

/** A new scheduler instance (one per service). Unknown name: ERR_LVS_SCHED_NOT_FOUND (ENOENT). */
export function createScheduler(name: string, opts: SchedOptions = {}): Scheduler {
  const f = factories.get(name);
  if (f === undefined) {
    throw new LvsError('ERR_LVS_SCHED_NOT_FOUND', 'Scheduler or persistence engine not found', ERRNO.ENOENT);
  }
  return f(opts);
}

/** Registered names in registration order. */
export function schedulerNames(): string[] {
  return [...factories.keys()];
}
