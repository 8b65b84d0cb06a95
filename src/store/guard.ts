/**
 * `guardStore(store)`: a view of a store whose calls never throw or reject. A store that throws
 * (a bug, bad input from an untyped caller) or whose promise rejects (a driver-level failure in a
 * future PostgreSQL store) answers `StoreError` instead, so callers that keep state across calls
 * (the node actor) always reach their error path and never wedge.
 */
import { errAsync, ResultAsync } from 'neverthrow';
import { StoreError } from '../errors.js';
import type { Store } from './store.js';

/** Wrap every method of `store` so failures come back as `StoreError` results. */
export function guardStore(store: Store): Store {
  // One wrapper per method, made on first use (store calls are on every grant and release).
  const wrappers = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const cached = wrappers.get(property);
      if (cached !== undefined) return cached;
      // The store itself as receiver: its getters may read #private fields, which a proxy has not.
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const name = String(property);
      const wrapper = (...args: unknown[]) => {
        try {
          const result = (value as (...a: unknown[]) => PromiseLike<unknown>).apply(target, args);
          return new ResultAsync(
            Promise.resolve(result).then(undefined, (error: unknown) => errAsync(new StoreError(name, error))) as never,
          );
        } catch (error) {
          return errAsync(new StoreError(name, error));
        }
      };
      wrappers.set(property, wrapper);
      return wrapper;
    },
  });
}
