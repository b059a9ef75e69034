/** A deterministic VrrpClock: timers fire only inside advance(), in due order. */
import type { VrrpClock } from '../../src/vrrp/instance.js';

export class FakeClock implements VrrpClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { due: number; cb: () => void; seq: number }>();

  now(): number {
    return this.t;
  }

  setTimeout(cb: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + ms, cb, seq: id });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }

  /** Run every timer due up to now + ms (timers they arm included), then set now = now + ms. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { due: number; cb: () => void; seq: number }] | null = null;
      for (const e of this.timers) {
        if (e[1].due > end) continue;
        if (!next || e[1].due < next[1].due || (e[1].due === next[1].due && e[1].seq < next[1].seq)) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].due);
      next[1].cb();
    }
    this.t = end;
  }

  /** Advance to an absolute time. */
  to(t: number): void {
    this.advance(t - this.t);
  }
}
