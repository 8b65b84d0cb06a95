/**
 * `defineInterface(type, name, operations)`: build a frozen implementation of an interface
 * contract, wrapping the operations listed in EXCLUSIVE_OPERATIONS with requireExclusive so that
 * every implementation (built-in or yours) enforces the lock the same way.
 */
import type { InterfaceType } from '../node.js';
import { requireExclusive } from '../task/require-exclusive.js';
import { EXCLUSIVE_OPERATIONS, type InterfaceMap } from './interfaces.js';

/** The members an implementation supplies: everything but `name` and `interfaceType`. */
export type InterfaceBody<T extends InterfaceType> = Omit<InterfaceMap[T], 'name' | 'interfaceType'>;

// `any` parameters so that any concrete operation signature is assignable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * Wrap `fn` so that a shared task makes it throw ExclusiveLockRequired naming `operation`
 * (e.g. `power.setPowerState`). The throw is synchronous, as Ironic's decorator: it is a caller bug.
 */
export function exclusiveOperation<F extends AnyFunction>(operation: string, fn: F): F {
  // The computed key names the function, so the error reports the operation, not "anonymous".
  const named = { [operation]: (...args: unknown[]) => fn(...args) }[operation]!;
  return requireExclusive(named) as F;
}

/** Frozen implementation `name` of `interfaceType`; exclusive-only operations are wrapped. */
export function defineInterface<T extends InterfaceType>(interfaceType: T, name: string, operations: InterfaceBody<T>): InterfaceMap[T] {
  const exclusive: readonly string[] = EXCLUSIVE_OPERATIONS[interfaceType];
  const impl: Record<string, unknown> = { name, interfaceType };
  for (const [key, value] of Object.entries(operations)) {
    impl[key] =
      typeof value === 'function' && exclusive.includes(key) ? exclusiveOperation(`${interfaceType}.${key}`, value as AnyFunction) : value;
  }
  return Object.freeze(impl) as unknown as InterfaceMap[T];
}
