import { QueueError } from "./errors.js";
import type { Timers } from "./types.js";

/** Date.now and setTimeout, for apps. Timers do not keep a Node process alive. */
export function realTimers(): Timers {
  return {
    now: () => Date.now(),
    schedule(delayMs, callback) {
      const handle = setTimeout(callback, Math.max(0, delayMs));
      if (typeof handle === "object" && "unref" in handle) handle.unref();
      return () => {
        clearTimeout(handle);
      };
    },
  };
}

interface Entry {
  readonly at: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told: `advance(ms)` runs every timer due by then, in time order.
 * For tests (no real timers) and for apps' own tests of code that uses the queue.
 */
export class ManualTimers implements Timers {
  #now: number;
  #order = 0;
  readonly #entries = new Set<Entry>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(delayMs: number, callback: () => void): () => void {
    if (!Number.isFinite(delayMs)) throw new QueueError("INVALID_ARGUMENT", "a timer delay must be a finite number");
    const entry: Entry = { at: this.#now + Math.max(0, delayMs), order: this.#order++, callback };
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#entries.size;
  }

  /** When the next timer is due, or undefined. */
  nextAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.#entries) if (next === undefined || e.at < next) next = e.at;
    return next;
  }

  /** Moves the clock forward by `ms`, running each timer due on the way at its own time. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new QueueError("INVALID_ARGUMENT", "advance needs ms >= 0");
    const target = this.#now + ms;
    for (;;) {
      let due: Entry | undefined;
      for (const e of this.#entries) {
        if (e.at <= target && (due === undefined || e.at < due.at || (e.at === due.at && e.order < due.order))) due = e;
      }
      if (due === undefined) break;
      this.#entries.delete(due);
      this.#now = Math.max(this.#now, due.at);
      due.callback();
    }
    this.#now = target;
  }

  /** Forgets every timer (a simulated crash). */
  clear(): void {
    this.#entries.clear();
  }
}
