/**
 * Minimal call recorders for the task-manager tests (Ironic's `mock.Mock` / `mock.patch.object`).
 */

/** One recorded call: the receiver and the arguments. */
export interface RecordedCall<A extends unknown[] = unknown[]> {
  readonly thisArg: unknown;
  readonly args: A;
}

/** A function that records every call and delegates to `impl` (or returns undefined). */
export type SpyFn<F extends (...args: never[]) => unknown> = F & {
  readonly calls: RecordedCall<Parameters<F>>[];
  readonly callCount: number;
};

/** Make a recording function; `impl` (optional) gives its behaviour, `name` its `.name`. */
export function spyFn<F extends (...args: never[]) => unknown>(impl?: F, name?: string): SpyFn<F> {
  const calls: RecordedCall<Parameters<F>>[] = [];
  const spy = function (this: unknown, ...args: Parameters<F>): unknown {
    calls.push({ thisArg: this, args });
    return impl?.apply(this, args);
  };
  Object.defineProperty(spy, 'name', { value: name ?? impl?.name ?? 'spy' });
  Object.defineProperty(spy, 'calls', { value: calls });
  Object.defineProperty(spy, 'callCount', { get: () => calls.length });
  return spy as unknown as SpyFn<F>;
}

/**
 * Shadow method `key` of `target` with a recording function placed on the instance itself (as
 * Ironic's tests assign `task.release_resources = mock`). With `callThrough` the original method
 * still runs; otherwise `replacement` (or nothing) runs instead. Returns the spy.
 */
export function spyOnMethod<T extends object, K extends keyof T & string>(
  target: T,
  key: K,
  options: { callThrough?: boolean; replacement?: T[K] } = {},
): SpyFn<T[K] extends (...args: never[]) => unknown ? T[K] : never> {
  const original = target[key] as unknown as (...args: unknown[]) => unknown;
  const replacement = options.replacement as unknown as ((...args: unknown[]) => unknown) | undefined;
  const impl = function (this: unknown, ...args: unknown[]): unknown {
    if (options.callThrough) return original.apply(target, args);
    return replacement?.apply(target, args);
  };
  const spy = spyFn(impl, key);
  Object.defineProperty(target, key, { value: spy, writable: true, configurable: true, enumerable: false });
  return spy as never;
}
