/**
 * A fake worker pool for the spawner seam (Ironic's `_spawn_worker` mock and `future_mock` with
 * `add_done_callback` and `cancel`). Nothing runs unless a test runs `request.run` itself.
 */
import { err, ok } from 'neverthrow';
import { isConductorError } from '../../src/errors.js';
import type { WorkerFuture, WorkerOutcome, WorkerRequest, WorkerSpawner } from '../../src/task/ports.js';

/** A future that records `onDone` and `cancel`; `onDone` records, then throws `onDoneError` if set. */
export class FakeFuture implements WorkerFuture {
  /** Callbacks given to onDone, in order. */
  readonly doneCallbacks: ((outcome: WorkerOutcome) => unknown)[] = [];
  cancelCalls = 0;
  /** When set, onDone throws it (Ironic's "link fails"). */
  onDoneError: unknown = null;

  onDone(callback: (outcome: WorkerOutcome) => unknown): void {
    this.doneCallbacks.push(callback);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- Ironic's test links with a plain exception
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

/**
 * A spawner seam that records requests and returns `future`, or fails with `spawnError` if set: a
 * ConductorError (NoFreeConductorWorker, ConductorStopping) comes back as an Err as the real pool's
 * refusal does; anything else is thrown (a broken spawner).
 */
export class FakeSpawner {
  readonly requests: WorkerRequest[] = [];
  readonly future = new FakeFuture();
  /** When set, spawning fails with it (Ironic's "spawn fails", e.g. NoFreeConductorWorker). */
  spawnError: unknown = null;

  readonly spawn: WorkerSpawner = (request) => {
    this.requests.push(request);
    if (this.spawnError !== null) {
      if (
        isConductorError(this.spawnError) &&
        (this.spawnError.code === 'NoFreeConductorWorker' || this.spawnError.code === 'ConductorStopping')
      ) {
        return err(this.spawnError as never);
      }
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a broken spawner throws whatever it throws
      throw this.spawnError;
    }
    return ok(this.future);
  };
}
