/**
 * `requireExclusive(fn)`: Ironic's `require_exclusive_lock` decorator. The wrapped function takes
 * a task as its first argument (plain function) or second argument (method style, after `self`);
 * a shared task makes the call throw ExclusiveLockRequired (a caller bug, so it is thrown).
 */
import { ExclusiveLockRequired } from '../errors.js';

/** The part of a task this check needs. */
export interface LockBearer {
  readonly shared: boolean;
  readonly node: { readonly uuid: string } | null;
}

/** Marks objects that are tasks, so the decorator can tell `(self, task)` from `(task, x)`. */
export const TASK_BRAND: unique symbol = Symbol.for('metal-conductor.task');

function isTask(value: unknown): value is LockBearer {
  return typeof value === 'object' && value !== null && (value as { [TASK_BRAND]?: boolean })[TASK_BRAND] === true;
}

/**
 * Wrap `fn` so it runs only with an exclusive task. Finds the task as Ironic does: `args[1]` when
 * there are several arguments and `args[1]` is a task, else `args[0]`.
 */
export function requireExclusive<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  const name = fn.name || 'anonymous';
  const wrapped = (...args: A): R => {
    const task = args.length > 1 && isTask(args[1]) ? args[1] : args[0];
    if (!isTask(task)) {
      throw new TypeError(`${name}: requireExclusive expects a task as first or second argument`);
    }
    if (task.shared) {
      throw new ExclusiveLockRequired(name, task.node?.uuid);
    }
    return fn(...args);
  };
  Object.defineProperty(wrapped, 'name', { value: name });
  return wrapped;
}
