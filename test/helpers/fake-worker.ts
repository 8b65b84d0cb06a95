/**
 * A fake worker pool for the spawner seam (Ironic's `_spawn_worker` mock and `future_mock` with
 * `add_done_callback` and `cancel`). Nothing runs unless a test runs `request.run` itself.
 */
import type { WorkerFuture, WorkerOutcome, WorkerRequest, WorkerSpawner } from '../../src/task/backend.ts';

/** A future that records `onDone` and `cancel`; `onDone` records, then throws `onDoneError` if set. */
export class FakeFuture implements WorkerFuture {
  /** Callbacks given to onDone, in order. */
  readonly doneCallbacks: ((outcome: WorkerOutcome) => unknown)[] = [];
  cancelCalls = 0;
  /** When set, onDone throws it (Ironic's "link fails"). */
  onDoneError: unknown = null;

  onDone(callback: (outcome: WorkerOutcome) => unknown): void {
    this.doneCallbacks.push(callback);
    if (this.onDoneError !== null) throw this.onDoneError;
  }

  cancel(): void {
    this.cancelCalls += 1;
  }

  /** Complete the future: run every done-callback with `outcome` and wait for them. */
  async complete(outcome: WorkerOutcome): Promise<void> {
    for (const callback of this.doneCallbacks) await callback(outcome);
  }
}

/** A spawner seam that records requests and returns `future`, or throws `spawnError` if set. */
export class FakeSpawner {
  readonly requests: WorkerRequest[] = [];
  readonly future = new FakeFuture();
  /** When set, spawning throws it (Ironic's "spawn fails", e.g. NoFreeConductorWorker). */
  spawnError: unknown = null;

  readonly spawn: WorkerSpawner = (request) => {
    this.requests.push(request);
    if (this.spawnError !== null) throw this.spawnError;
    return this.future;
  };
}
