/**
 * The handle `spawnAfter` returns: one ResultAsync that settles exactly once with how the scheduled
 * background work ended (or why it never ran), so callers need no completion tracking of their own.
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { Aborted, BackgroundWorkFailed, WorkerTimedOut } from '../errors.js';
import type { WorkerOutcome } from './ports.js';
import type { SpawnError, SpawnHandle } from './types.js';

/** A handle whose outcome the task settles. Settling twice is a no-op. */
export class PendingSpawn implements SpawnHandle {
  readonly name: string;
  readonly done: ResultAsync<void, SpawnError>;
  #resolve!: (result: Result<void, SpawnError>) => void;
  #settled = false;

  constructor(name: string) {
    this.name = name;
    this.done = new ResultAsync(new Promise<Result<void, SpawnError>>((resolve) => (this.#resolve = resolve)));
  }

  get settled(): boolean {
    return this.#settled;
  }

  settle(result: Result<void, SpawnError>): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(result);
  }
}

/** A handle that is already settled with `error` (the work was refused before it was scheduled). */
export function refusedSpawn(name: string, error: SpawnError): SpawnHandle {
  const handle = new PendingSpawn(name);
  handle.settle(err(error));
  return handle;
}

/** The handle's result for a worker outcome: the error the worker recorded, Aborted when cancelled. */
export function spawnResult(outcome: WorkerOutcome, work: string, node: string): Result<void, SpawnError> {
  switch (outcome.kind) {
    case 'ok':
      return ok(undefined);
    case 'cancelled':
      return err(new Aborted(`background work ${work} on node ${node}`));
    case 'error':
      return err(outcome.error instanceof WorkerTimedOut ? outcome.error : new BackgroundWorkFailed(work, node, outcome.error));
  }
}
