/**
 * A caller waiting for a node's exclusive lock: the promise it awaits, settled exactly once
 * (granted, failed or aborted). Its budget and place in the queue belong to the lock arbiter
 * (src/locks/arbiter.ts); this only carries the caller's side across the mailbox.
 */
import { err, ok, type Result } from 'neverthrow';
import type { Clock, TimerHandle } from '../../src/clock.js';
import { Aborted } from '../../src/errors.js';
import type { Lease, LockError, LockRequest } from '../../src/task/ports.js';

let nextTicket = 0;

/** One queued exclusive request. */
export class Waiter {
  /** The arbiter's ticket of this request. */
  readonly ticket = ++nextTicket;
  readonly request: LockRequest;
  #settled = false;
  #timer: TimerHandle | null = null;
  readonly #clock: Clock;
  /** Called once if the waiter is settled by its abort signal (so the actor can drop it). */
  onAbandoned: (() => void) | null = null;
  #resolve!: (result: Result<Lease, LockError>) => void;
  readonly #onAbort: (() => void) | null = null;
  readonly promise: Promise<Result<Lease, LockError>>;

  constructor(request: LockRequest, clock: Clock) {
    this.#clock = clock;
    this.request = request;
    this.promise = new Promise((resolve) => (this.#resolve = resolve));
    const signal = request.signal;
    if (signal) {
      if (signal.aborted) {
        this.#settle(err(new Aborted('acquire', signal.reason)));
      } else {
        this.#onAbort = () => {
          if (this.#settle(err(new Aborted('acquire', signal.reason)))) this.onAbandoned?.();
        };
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Run `onExpire` after `delayMs` unless settled first (the arbiter's local-wait deadline). */
  armTimer(onExpire: () => void, delayMs: number): void {
    if (this.#settled) return;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(onExpire, delayMs);
  }

  grant(lease: Lease): boolean {
    return this.#settle(ok(lease));
  }

  fail(error: LockError): boolean {
    return this.#settle(err(error));
  }

  #settle(result: Result<Lease, LockError>): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    if (this.#onAbort !== null) this.request.signal?.removeEventListener('abort', this.#onAbort);
    this.#resolve(result);
    return true;
  }
}
