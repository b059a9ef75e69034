/**
 * One timer for all checkers: a binary min-heap of due times with a single clock timer armed for
 * the earliest entry (so 1,000+ real servers cost one pending setTimeout, not one each).
 * Cancellation is lazy: a cancelled entry stays in the heap and is skipped when it comes up.
 */
import type { HealthClock } from './types.js';

export const realClock: HealthClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface ScheduledTask {
  readonly due: number;
  cancelled: boolean;
}

interface Entry extends ScheduledTask {
  seq: number;
  fn: () => void;
}

export class Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: unknown = null;
  private armedFor = Infinity;

  constructor(private readonly clock: HealthClock) {}

  get size(): number {
    return this.heap.length;
  }

  /** Run `fn` after `delayMs` (>= 0). Entries due at the same time run in insertion order. */
  schedule(delayMs: number, fn: () => void): ScheduledTask {
    const e: Entry = { due: this.clock.now() + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.push(e);
    if (e.due < this.armedFor) this.arm();
    return e;
  }

  cancel(task: ScheduledTask | null): void {
    if (task) task.cancelled = true;
  }

  /** Drop everything (stop). */
  clear(): void {
    for (const e of this.heap) e.cancelled = true;
    this.heap.length = 0;
    this.disarm();
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private arm(): void {
    this.disarm();
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    if (this.heap.length === 0) return;
    const due = this.heap[0]!.due;
    this.armedFor = due;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, due - this.clock.now()));
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.clock.now();
    // Run every entry due by now; entries scheduled by a callback with delay 0 run on the next turn.
    const ready: Entry[] = [];
    while (this.heap.length > 0 && this.heap[0]!.due <= now) {
      const e = this.pop()!;
      if (!e.cancelled) ready.push(e);
    }
    for (const e of ready) {
      if (e.cancelled) continue;
      e.cancelled = true;
      e.fn();
    }
    this.arm();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
