/**
 * An injectable clock (wall time plus timers), so periodic checks, backoff and timeouts are
 * deterministic in tests: `ManualClock.advance(ms)` fires due timers in order, instantly.
 */

/** A timer handle returned by a clock. */
export interface TimerHandle {
  /** Stop the timer from keeping the process alive (no-op for manual clocks). */
  unref(): void;
}

/** Time source and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer (no-op for an unknown or fired one). */
  clearTimeout(handle: TimerHandle): void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: `Date.now` and Node's timers (delays clamped to setTimeout's limit). */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms))),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as NodeJS.Timeout),
});

interface ManualTimer extends TimerHandle {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/** A clock that only moves when told to (tests). */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 0;
  readonly #timers = new Map<number, ManualTimer>();

  /** Start at `start` ms since the epoch. Default 2026-01-01T00:00:00Z. */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { id: ++this.#nextId, due: this.#now + Math.max(0, ms), fn, unref() {} };
    this.#timers.set(timer.id, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as ManualTimer).id);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due, in order of due time; timers set
   * by fired callbacks fire too if they fall within the window. Between timers, pending promise
   * callbacks and immediates run, so async work started by a timer can progress.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flush();
      let next: ManualTimer | undefined;
      for (const timer of this.#timers.values()) if (timer.due <= end && (!next || timer.due < next.due)) next = timer;
      if (!next) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = end;
    await flush();
  }
}

/**
 * Wait `ms` on `clock`. Resolves true when the time passed, false as soon as `signal` aborts (the
 * timer is cleared). With `unref`, the wait alone does not keep the process alive.
 */
export function sleep(clock: Clock, ms: number, signal: AbortSignal, options: { unref?: boolean } = {}): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    if (options.unref) timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Let queued promise callbacks and immediates (nact delivers messages in setImmediate) run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
