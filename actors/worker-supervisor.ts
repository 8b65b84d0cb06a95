/**
 * The worker supervisor: one child actor per background task (what `spawnAfter` and
 * `processEvent({callback})` schedule). The worker runs the work with the request context and an
 * AbortSignal, settles its future exactly once (ok, error or cancelled), then stops. The lease stays
 * with the task; the task's done-callback records the failure and releases it.
 */
import { runWithContext } from '../src/context.ts';
import { Aborted, ConductorStopping } from '../src/errors.ts';
import type { Logger } from '../src/logging.ts';
import type { WorkerFuture, WorkerOutcome, WorkerRequest, WorkerSpawner } from '../src/task/backend.ts';
import type { ActorRef, ActorRuntime, AnyActorRef } from './runtime.ts';

/** A running or finished worker's future. */
class WorkerFutureImpl implements WorkerFuture {
  #outcome: WorkerOutcome | null = null;
  #callbacks: ((outcome: WorkerOutcome) => unknown)[] = [];
  #started = false;
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

  /** Settle once and run the done-callbacks; resolves when they (e.g. the lease release) finished. */
  async settle(outcome: WorkerOutcome): Promise<void> {
    if (this.#outcome !== null) return;
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
  readonly startedAt: number;
}

type WorkerMessage = { readonly type: 'run' };

/** Supervises background workers under one parent actor. */
export class WorkerSupervisor {
  readonly ref: ActorRef<never>;
  readonly #runtime: ActorRuntime;
  readonly #log: Logger;
  readonly #active = new Map<number, { info: WorkerInfo; future: WorkerFutureImpl }>();
  readonly #idleWaiters = new Set<() => void>();
  #nextId = 0;
  #stopping = false;
  #completed = 0;
  #failed = 0;

  constructor(runtime: ActorRuntime, parent: AnyActorRef | null, logger: Logger) {
    this.#runtime = runtime;
    this.#log = logger.child({ component: 'workers' });
    this.ref = runtime.spawn<null, never>(parent, 'workers', { initialState: () => null, handle: (state) => state });
  }

  /** Submit background work (Ironic `_spawn_worker`). Throws ConductorStopping while stopping. */
  readonly spawn: WorkerSpawner = (request: WorkerRequest) => {
    if (this.#stopping) throw new ConductorStopping();
    const id = ++this.#nextId;
    const future = new WorkerFutureImpl(this.#log);
    const info: WorkerInfo = { id, name: request.name, node: request.nodeUuid, purpose: request.purpose, startedAt: Date.now() };
    const log = this.#log.child({ worker: id, node: request.nodeUuid, purpose: request.purpose, work: request.name });
    const ref = this.#runtime.spawn<null, WorkerMessage>(this.ref, `worker-${id}`, {
      initialState: () => null,
      handle: async (state) => {
        if (!future.start()) {
          // Cancelled before it started: cancel() already settled the future.
          this.#finish(id, { kind: 'cancelled' }, log);
          this.#runtime.stop(ref);
          return state;
        }
        let outcome: WorkerOutcome;
        try {
          await runWithContext(request.context, () => request.run(future.controller.signal));
          outcome = { kind: 'ok' };
        } catch (error) {
          outcome = future.controller.signal.aborted ? { kind: 'cancelled' } : { kind: 'error', error };
        }
        // The worker ends when its done-callbacks (record the error, release the lease) have run.
        await future.settle(outcome);
        this.#finish(id, outcome, log);
        this.#runtime.stop(ref);
        return state;
      },
    });
    this.#active.set(id, { info, future });
    log.debug('worker spawned');
    this.#runtime.tell(ref, { type: 'run' });
    return future;
  };

  #finish(id: number, outcome: WorkerOutcome, log: Logger): void {
    if (!this.#active.delete(id)) return;
    if (outcome.kind === 'error') {
      this.#failed += 1;
      log.warn({ err: outcome.error }, 'worker failed');
    } else {
      this.#completed += 1;
      log.debug({ outcome: outcome.kind }, 'worker ended');
    }
    if (this.#active.size === 0) for (const wake of this.#idleWaiters) wake();
  }

  /** Workers running now. */
  active(): WorkerInfo[] {
    return [...this.#active.values()].map((entry) => entry.info);
  }

  /** Counters since start. */
  get stats(): { running: number; completed: number; failed: number } {
    return { running: this.#active.size, completed: this.#completed, failed: this.#failed };
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

  /** Take no new work; wait up to `timeoutMs` for running workers, then cancel the rest and wait for them. */
  async drain(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#active.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const first = await Promise.race([this.onIdle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.#log.warn({ running: this.#active.size }, 'graceful stop timed out; cancelling workers');
      for (const { future } of this.#active.values()) future.cancel();
      await this.onIdle();
    }
  }
}
