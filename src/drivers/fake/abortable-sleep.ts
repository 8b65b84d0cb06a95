/**
 * Waiting that an AbortSignal cuts short: the promise rejects with `signal.reason`, as
 * `signal.throwIfAborted()` would, so callers see the reason the aborter chose.
 */

/** Resolve after `ms` milliseconds; reject with `signal.reason` as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
