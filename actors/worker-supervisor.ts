/**
 * The worker supervisor: one child actor per background task (what `spawnAfter` and
 * `processEvent({callback})` schedule), in a bounded pool (Ironic's workers pool with its reserved
 * share). Work is never queued beyond capacity: a full pool is NoFreeConductorWorker (503), returned
 * by `spawn` as an Err so the task's spawn-error hook runs.
 *
 * A worker runs the work with the request context and an AbortSignal; it settles its future
 * exactly once (ok, error or cancelled) whatever the work does — throw, reject, never settle
 * (per-task timeout), or lose its actor — and then runs the future's done-callbacks (the task
 * records the failure and releases the lock) before it counts as finished. One-shot work is not
 * restarted; a task may opt in to retries, holding the lock across attempts.
 */
import { err, ok, type Result } from 'neverthrow';
import { sleep, type Clock, type TimerHandle } from '../src/clock.js';
import { raceAbort } from '../src/abort.js';
import { runWithContext } from '../src/context.js';
import { Aborted, ActorStopped, ConductorStopping, describe, NoFreeConductorWorker, WorkerTimedOut } from '../src/errors.js';
import { bindRequest, type Logger } from '../src/logging.js';
import type { WorkerFuture, WorkerOutcome, WorkerRequest, WorkerSpawner } from '../src/task/ports.js';
import type { ActorRuntime, AnyActorRef } from './runtime.js';

/** A running or finished worker's future. */
class WorkerFutureImpl implements WorkerFuture {
  #outcome: WorkerOutcome | null = null;
  #callbacks: ((outcome: WorkerOutcome) => unknown)[] = [];
  #started = false;
  #settling: Promise<void> | null = null;
  readonly controller = new AbortController();
  constructor(private readonly log: Logger) {}

  get done(): boolean {
    return this.#outcome !== null;
  }

  onDone(callback: (outcome: WorkerOutcome) => unknown): void {
    if (this.#outcome !== null) callback(this.#outcome);
    else this.#callbacks.push(callback);
  }

  cancel(): void {
    if (this.#outcome !== null) return;
    if (!this.#started) void this.settle({ kind: 'cancelled' });
    else this.controller.abort(new Aborted('background work'));
  }

  /** Mark started; false if it was cancelled before it could start. */
  start(): boolean {
    if (this.#outcome !== null) return false;
    this.#started = true;
    return true;
  }

  /**
   * Settle once and run the done-callbacks; resolves when they (e.g. the lease release) finished.
   * A second call (the worker noticing a cancel that settled first) waits for the same callbacks.
   */
  settle(outcome: WorkerOutcome): Promise<void> {
    this.#settling ??= this.#runCallbacks(outcome);
    return this.#settling;
  }

  async #runCallbacks(outcome: WorkerOutcome): Promise<void> {
    this.#outcome = outcome;
    for (const callback of this.#callbacks.splice(0)) {
      try {
        await callback(outcome);
      } catch (error) {
        this.log.error({ err: error }, 'worker done-callback failed');
      }
    }
  }
}

/** A worker as reported by status. */
export interface WorkerInfo {
  readonly id: number;
  readonly name: string;
  readonly node: string;
  readonly purpose: string;
  /** Which share of the pool it occupies. */
  readonly pool: 'normal' | 'reserved';
  readonly startedAt: number;
  /** Milliseconds it has been running. */
  readonly runningForMs: number;
  /** Current attempt (1-based) when the task has a retry policy. */
  readonly attempt: number;
}

/** Pool figures. */
export interface PoolStatus {
  /** Workers running now. */
  readonly inUse: number;
  /** `workersPoolSize`. */
  readonly capacity: number;
  /** Size of the reserved share. */
  readonly reserved: number;
  /** Reserved slots in use. */
  readonly reservedInUse: number;
  /** Spawns refused with NoFreeConductorWorker since start. */
  readonly rejected: number;
}

/** Pool sizing and defaults. */
export interface WorkerPoolOptions {
  /** Total workers (Ironic `workers_pool_size`). */
  readonly poolSize: number;
  /** Reserved share in percent (Ironic `reserved_workers_pool_percentage`). */
  readonly reservedPercentage: number;
  /** Default per-task timeout in ms, 0 = none. */
  readonly timeoutMs: number;
}

type WorkerMessage = { readonly type: 'run' };

interface Running {
  readonly info: Omit<WorkerInfo, 'runningForMs' | 'attempt'>;
  readonly future: WorkerFutureImpl;
  attempt: number;
}

/** Supervises background workers under one parent actor. */
export class WorkerSupervisor {
  readonly ref: AnyActorRef;
  readonly #runtime: ActorRuntime;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #reserved: number;
  readonly #timeoutMs: number;
  readonly #active = new Map<number, Running>();
  readonly #idleWaiters = new Set<() => void>();
  #reservedInUse = 0;
  #nextId = 0;
  #stopping = false;
  #completed = 0;
  #failed = 0;
  #cancelled = 0;
  #rejected = 0;
  #timedOut = 0;

  constructor(runtime: ActorRuntime, parent: AnyActorRef | null, logger: Logger, clock: Clock, pool: WorkerPoolOptions) {
    this.#runtime = runtime;
    this.#log = logger.child({ component: 'workers' });
    this.#clock = clock;
    this.#capacity = pool.poolSize;
    // Ironic: reserved = int(total * pct / 100), normal = total - reserved.
    this.#reserved = Math.floor((pool.poolSize * pool.reservedPercentage) / 100);
    this.#timeoutMs = pool.timeoutMs;
    this.ref = runtime.spawn<null, never>(parent, 'workers', { initialState: () => null, handle: (state) => state });
  }

  /** Submit background work (Ironic `_spawn_worker`). Err(NoFreeConductorWorker) when full, Err(ConductorStopping) while stopping. */
  readonly spawn: WorkerSpawner = (request: WorkerRequest) => {
    if (this.#stopping) return err(new ConductorStopping());
    const placed = this.#place(request.allowReservedPool ?? true);
    if (placed.isErr()) return err(placed.error);
    const pool = placed.value;
    const id = ++this.#nextId;
    const future = new WorkerFutureImpl(this.#log);
    // The worker's logger is created on first use: most workers end without logging.
    let workerLog: Logger | null = null;
    const log = (): Logger =>
      (workerLog ??= bindRequest(this.#log, request.context, {
        worker: id,
        node: request.nodeUuid,
        purpose: request.purpose,
        work: request.name,
      }));
    const running: Running = {
      info: { id, name: request.name, node: request.nodeUuid, purpose: request.purpose, pool, startedAt: this.#clock.now() },
      future,
      attempt: 1,
    };
    this.#active.set(id, running);
    let ref: AnyActorRef | null = null;
    const finish = async (outcome: WorkerOutcome): Promise<void> => {
      if (!this.#active.has(id)) return;
      // The worker ends when its done-callbacks (record the error, release the lease) have run.
      await future.settle(outcome);
      this.#finish(id, pool, outcome, log);
      if (ref !== null) this.#runtime.stop(ref);
    };
    ref = this.#runtime.spawn<null, WorkerMessage>(this.ref, `worker-${id}`, {
      initialState: () => null,
      handle: async (state) => {
        if (!future.start()) {
          await finish({ kind: 'cancelled' }); // cancel() already settled the future
          return state;
        }
        await finish(await this.#run(request, running, log));
        return state;
      },
      // If the worker's actor is stopped under it, the lease must still be released. (Checked
      // first: a normal end also stops the actor, and an error with a stack is not free.)
      afterStop: () => {
        if (this.#active.has(id)) void finish({ kind: 'error', error: new ActorStopped(`worker-${id}`) });
      },
      onUndelivered: () => {
        if (this.#active.has(id)) void finish({ kind: 'error', error: new ActorStopped(`worker-${id}`) });
      },
    });
    if (this.#log.isLevelEnabled('debug')) log().debug({ pool, in_use: this.#active.size }, 'worker spawned');
    this.#runtime.tell(ref, { type: 'run' });
    return ok(future);
  };

  /** Choose the pool share for a new worker, or NoFreeConductorWorker. */
  #place(allowReserved: boolean): Result<'normal' | 'reserved', NoFreeConductorWorker> {
    const normalInUse = this.#active.size - this.#reservedInUse;
    if (normalInUse < this.#capacity - this.#reserved) return ok('normal');
    if (allowReserved && this.#reservedInUse < this.#reserved) {
      this.#log.debug('Normal workers pool is full, using reserved pool');
      this.#reservedInUse += 1;
      return ok('reserved');
    }
    this.#rejected += 1;
    this.#log.warn({ in_use: this.#active.size, capacity: this.#capacity, reserved: this.#reserved }, 'no free conductor worker');
    return err(new NoFreeConductorWorker({ capacity: this.#capacity, reserved: this.#reserved, inUse: this.#active.size, allowReserved }));
  }

  /** Run the work (with retries and timeout); never throws, whatever the work does. */
  async #run(request: WorkerRequest, running: Running, log: () => Logger): Promise<WorkerOutcome> {
    const signal = running.future.controller.signal;
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    let timer: TimerHandle | null = null;
    let timedOut = false;
    if (timeoutMs > 0) {
      timer = this.#clock.setTimeout(() => {
        timedOut = true;
        running.future.controller.abort(new WorkerTimedOut(request.name, timeoutMs));
      }, timeoutMs);
    }
    const retry = request.retry;
    const attempts = Math.max(1, Math.floor(retry?.attempts ?? 1));
    try {
      for (;;) {
        try {
          // Never wait on work that ignores cancellation: its late result is dropped.
          await raceAbort(
            runWithContext(request.context, () => request.run(signal)),
            signal,
          );
          return { kind: 'ok' };
        } catch (error) {
          if (signal.aborted) {
            if (timedOut) return { kind: 'error', error: signal.reason as WorkerTimedOut };
            return { kind: 'cancelled' };
          }
          const transient = retry?.isTransient ? safe(() => retry.isTransient?.(error) ?? true, false) : true;
          if (running.attempt >= attempts || !transient) return { kind: 'error', error };
          const delay = Math.min(retry?.maxBackoffMs ?? 30_000, (retry?.backoffMs ?? 1000) * 2 ** (running.attempt - 1));
          log().warn({ err: error, attempt: running.attempt, attempts, delay_ms: delay }, 'background work failed; retrying');
          await sleep(this.#clock, delay, signal);
          if (signal.aborted) return timedOut ? { kind: 'error', error: signal.reason as WorkerTimedOut } : { kind: 'cancelled' };
          running.attempt += 1;
        }
      }
    } finally {
      if (timer !== null) this.#clock.clearTimeout(timer);
    }
  }

  #finish(id: number, pool: 'normal' | 'reserved', outcome: WorkerOutcome, log: () => Logger): void {
    const running = this.#active.get(id);
    if (!this.#active.delete(id)) return;
    if (pool === 'reserved') this.#reservedInUse -= 1;
    const ranForMs = running ? this.#clock.now() - running.info.startedAt : 0;
    if (outcome.kind === 'error') {
      this.#failed += 1;
      if (outcome.error instanceof WorkerTimedOut) this.#timedOut += 1;
      log().warn({ err: outcome.error, ran_for_ms: ranForMs, error: describe(outcome.error) }, 'worker failed');
    } else if (outcome.kind === 'cancelled') {
      this.#cancelled += 1;
      log().info({ ran_for_ms: ranForMs }, 'worker cancelled');
    } else {
      this.#completed += 1;
      if (this.#log.isLevelEnabled('debug')) log().debug({ ran_for_ms: ranForMs }, 'worker ended');
    }
    if (this.#active.size === 0) for (const wake of this.#idleWaiters) wake();
  }

  /** Workers running now, with their node, purpose and run time. */
  active(): WorkerInfo[] {
    const now = this.#clock.now();
    return [...this.#active.values()].map((r) => ({ ...r.info, runningForMs: now - r.info.startedAt, attempt: r.attempt }));
  }

  /** Pool figures. */
  pool(): PoolStatus {
    return {
      inUse: this.#active.size,
      capacity: this.#capacity,
      reserved: this.#reserved,
      reservedInUse: this.#reservedInUse,
      rejected: this.#rejected,
    };
  }

  /** Counters since start (`failed` includes `timedOut`). */
  get stats(): { running: number; completed: number; failed: number; timedOut: number; cancelled: number } {
    return {
      running: this.#active.size,
      completed: this.#completed,
      failed: this.#failed,
      timedOut: this.#timedOut,
      cancelled: this.#cancelled,
    };
  }

  /** Resolve when no worker runs (at once if none). */
  onIdle(): Promise<void> {
    if (this.#active.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#idleWaiters.delete(wake);
        resolve();
      };
      this.#idleWaiters.add(wake);
    });
  }

  /**
   * Take no new work; wait up to `timeoutMs` for running workers (0: as long as they take, as
   * Ironic's graceful_shutdown_timeout) or until `signal` aborts, then cancel the rest and wait for them.
   */
  async drain(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.#stopping = true;
    if (this.#active.size === 0) return;
    this.#log.info({ running: this.#active.size, timeout_ms: timeoutMs }, 'waiting for background work to finish');
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<'timeout' | 'aborted'>((resolve) => {
      if (timeoutMs > 0) timer = this.#clock.setTimeout(() => resolve('timeout'), timeoutMs);
      if (signal?.aborted) resolve('aborted');
      onAbort = () => resolve('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const first = await Promise.race([this.onIdle().then(() => 'idle' as const), gaveUp]);
    if (timer) this.#clock.clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (first !== 'idle') {
      this.#log.warn({ running: this.#active.size, reason: first }, 'graceful stop cut short; cancelling workers');
      for (const { future } of this.#active.values()) future.cancel();
      await this.onIdle();
    }
  }
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
