/**
 * Scoped use of a task: acquire, run the body, leave the scope exactly as Ironic's `with`
 * block (release, or hand the lock to the scheduled background worker when the body did not throw).
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { isConductorError, type AnyConductorError } from '../errors.ts';
import type { UnlockError } from './backend.ts';
import { taskInternals } from './task-manager.ts';
import type { AcquireError, Task } from './types.ts';

/** Errors of a scoped task besides the body's own exceptions (which are rethrown). */
export type ScopeError = AcquireError | UnlockError | AnyConductorError;

/**
 * Run `body` with the task `acquired` resolves to. A throwing body releases the task and rethrows
 * (no spawn). A clean body spawns the scheduled work (if any); a failing spawn runs the hook,
 * releases, and comes back as an error (ConductorError) or is rethrown (anything else).
 */
export function runScoped<T extends Task, R>(
  acquired: ResultAsync<T, AcquireError>,
  body: (task: T) => R | Promise<R>,
): ResultAsync<Awaited<R>, ScopeError> {
  return new ResultAsync(
    (async (): Promise<Result<Awaited<R>, ScopeError>> => {
      const got = await acquired;
      if (got.isErr()) return err(got.error);
      const task = got.value;
      const impl = taskInternals(task);
      let value: Awaited<R>;
      try {
        value = await body(task);
      } catch (error) {
        await impl.exit(true);
        throw error;
      }
      let left: Result<void, UnlockError>;
      try {
        left = await impl.exit(false);
      } catch (spawnError) {
        if (isConductorError(spawnError)) return err(spawnError);
        throw spawnError;
      }
      return left.isErr() ? err(left.error) : ok(value);
    })(),
  );
}

/** Await a ResultAsync and throw its error (a typed ConductorError); for `await using`. */
export async function orThrow<T, E>(result: PromiseLike<Result<T, E>>): Promise<T> {
  const settled = await result;
  if (settled.isErr()) throw settled.error;
  return settled.value;
}
