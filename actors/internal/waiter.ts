/**
 * A caller waiting for a node's exclusive lock. Settles exactly once: granted, failed, expired or
 * aborted. The node actor skips settled waiters, so an abort needs no message.
 */
import { err, ok, type Result } from 'neverthrow';
import type { Clock, TimerHandle } from '../../src/clock.js';
import { Aborted } from '../../src/errors.js';
import type { Lease, LockError, LockRequest } from '../../src/task/backend.js';

let nextWaiterId = 0;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One queued exclusive request. */
export class Waiter {
  readonly id = ++nextWaiterId;
  readonly request: LockRequest;
  /** Reserve attempts allowed against a holder outside this process (Ironic's attempt count). */
  readonly maxAttempts: number;
  /** Wall-clock deadline for waiting behind a local holder (ms since epoch). */
  readonly deadline: number;
  readonly enqueuedAt: number;
  attemptsUsed = 0;
  #settled = false;
  #timer: TimerHandle | null = null;
  readonly #clock: Clock;
  /** Called once if the waiter is settled by its abort signal (so the actor can drop it). */
  onAbandoned: (() => void) | null = null;
  #resolve!: (result: Result<Lease, LockError>) => void;
  readonly #onAbort: (() => void) | null = null;
  readonly promise: Promise<Result<Lease, LockError>>;

  constructor(request: LockRequest, attempts: number, intervalMs: number, clock: Clock) {
    const now = clock.now();
    this.#clock = clock;
    this.request = request;
    this.enqueuedAt = now;
    if (request.patient) {
      this.maxAttempts = Number.POSITIVE_INFINITY;
      this.deadline = Number.POSITIVE_INFINITY;
    } else if (request.retry) {
      this.maxAttempts = attempts;
      this.deadline = now + (attempts - 1) * intervalMs;
    } else {
      this.maxAttempts = 1;
      this.deadline = now;
    }
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

  /** True if this waiter may wait behind a local holder at `now`. */
  canWait(now: number): boolean {
    return this.deadline > now;
  }

  /**
   * Arm the local-wait deadline (no timer for patient waiters). Delays beyond setTimeout's 2^31 ms
   * limit fire early on purpose; the expiry handler re-arms until the deadline has really passed.
   */
  armDeadline(onExpire: () => void, now: number): void {
    if (this.deadline === Number.POSITIVE_INFINITY || this.#settled) return;
    this.#timer = this.#clock.setTimeout(onExpire, Math.min(MAX_TIMER_MS, Math.max(0, this.deadline - now)));
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
