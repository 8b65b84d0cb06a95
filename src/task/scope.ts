/**
 * Scoped use of a task: acquire, run the body, leave the scope exactly as Ironic's `with`
 * block (release, or hand the lock to the scheduled background worker when the body succeeded).
 *
 * The error contract of a scope: the body may return a plain value, a Result, or a promise of
 * either. A returned Err and a thrown ConductorError (for example from `orThrow`) both become the
 * scope's Err, after the same release as Ironic's `__exit__` on an exception (the scheduled work
 * never runs). Anything else thrown is a bug: the task is released and the error rethrown.
 */
import { err, ok, type Err, type Ok, type Result, ResultAsync } from 'neverthrow';
import { isConductorError, type AnyConductorError } from '../errors.js';
import type { Logger } from '../logging.js';
import { taskInternals, type ExitError } from './task-manager.js';
import type { AcquireError, Task } from './types.js';

/** The success value of a body returning `R`: a Result's value, or the plain (awaited) value. */
export type BodyValue<R> = Awaited<R> extends infer A ? (A extends Ok<infer T, infer _E> | Err<infer T, infer _E> ? T : A) : never;

/** The error of a body returning `R`: a Result's error type, or never for a plain value. */
export type BodyError<R> = Awaited<R> extends infer A ? (A extends Ok<infer _T, infer E> | Err<infer _T, infer E> ? E : never) : never;

/**
 * Errors of a scope besides the body's own Err type: acquiring, leaving (release, a refused
 * spawn), and any ConductorError the body throws (which cannot be typed statically).
 */
export type ScopeError = AcquireError | ExitError | AnyConductorError;

/**
 * Run `body` with the task `acquired` resolves to and leave the scope: on success spawn the
 * scheduled work (if any) or release; on a returned Err or a thrown ConductorError release without
 * spawning and return that error; on any other throw release and rethrow.
 */
export function runScoped<T extends Task, R>(
  acquired: ResultAsync<T, AcquireError>,
  body: (task: T) => R,
  logger: Logger,
): ResultAsync<BodyValue<R>, ScopeError | BodyError<R>> {
  type Outcome = Result<BodyValue<R>, ScopeError | BodyError<R>>;
  return new ResultAsync(
    (async (): Promise<Outcome> => {
      const got = await acquired;
      if (got.isErr()) return err(got.error);
      const task = got.value;
      const impl = taskInternals(task);
      let outcome: Outcome;
      try {
        const returned = body(task);
        if (returned !== null && returned !== undefined && returned === (impl.scheduledSpawn?.done as unknown)) {
          // Awaiting it here would wait forever: the work only starts once this scope ends.
          throw new TypeError(
            "withTask: the body returned its own scheduled work's `done`; return the SpawnHandle and await `done` after the scope",
          );
        }
        outcome = asResult(await returned) as Outcome;
      } catch (error) {
        if (!isConductorError(error)) {
          const left = await impl.exit(true);
          if (left.isErr()) logger.error({ err: left.error }, 'releasing after a failed task body failed');
          throw error;
        }
        outcome = err(error);
      }
      if (outcome.isErr()) {
        const left = await impl.exit(true);
        // The body's error is the one the caller needs; the release failure is logged.
        if (left.isErr()) logger.error({ err: left.error }, 'releasing after a failed task body failed');
        return outcome;
      }
      let left: Result<void, ExitError>;
      try {
        left = await impl.exit(false);
      } catch (linkError) {
        // Only a broken spawner throws here (after releasing); a ConductorError is still an Err.
        if (isConductorError(linkError)) return err(linkError);
        throw linkError;
      }
      return left.isErr() ? err(left.error) : outcome;
    })(),
  );
}

/**
 * A neverthrow Result (from any copy of neverthrow: checked by shape, not by class), or a plain
 * value wrapped in Ok.
 */
function asResult(value: unknown): Result<unknown, unknown> {
  if (isResultLike(value)) return value.isOk() ? ok(value.value) : err(value.error);
  return ok(value);
}

function isResultLike(value: unknown): value is { isOk(): boolean; value: unknown; error: unknown } {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.isOk === 'function' && typeof candidate.isErr === 'function' && typeof candidate.match === 'function';
}

/**
 * Await a Result (or ResultAsync) and return its value, or throw its error: the bridge to the
 * throwing style of `await using` and of work functions. Inside `withTask`, a thrown
 * ConductorError comes back as the scope's Err.
 */
export async function orThrow<T, E>(result: PromiseLike<Result<T, E>> | Result<T, E>): Promise<T> {
  const settled = await result;
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the Result's own error, as it is
  if (settled.isErr()) throw settled.error;
  return settled.value;
}
