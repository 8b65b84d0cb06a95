/**
 * A spying wrapper around a real `Store` (Ironic's `mock.patch.object(objects.Node, 'reserve')`
 * and friends): it records every call and can replace the answer of chosen calls (inject a
 * `NodeLocked`, a `StoreError`, ...), delegating everything else to the wrapped store.
 */
import type { ResultAsync } from 'neverthrow';
import type { Store } from '../../src/store/store.js';

/** Store methods (every function-valued member of Store). */
export type StoreMethod = { [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? K : never }[keyof Store];

/** One recorded store call. */
export interface StoreCall {
  readonly method: StoreMethod;
  readonly args: readonly unknown[];
  /** What the call returned (a ResultAsync for every Store method; await it to read the answer). */
  result?: unknown;
}

/**
 * Decides the answer of one call: return a ResultAsync to answer with it, or `undefined` to let
 * the call reach the real store.
 */
export type StoreFault = (...args: unknown[]) => ResultAsync<unknown, unknown> | undefined;

interface Injection {
  remaining: number;
  fault: StoreFault;
}

/** A recording, fault-injecting proxy over a real store. Pass `spy.store` to Conductor.open. */
export class SpyStore {
  /** Every call made through `store`, in order. */
  readonly calls: StoreCall[] = [];
  /** The proxy to hand to the code under test. */
  readonly store: Store;
  readonly #injections = new Map<StoreMethod, Injection[]>();

  constructor(readonly inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        const method = prop as StoreMethod;
        return (...args: unknown[]) => {
          const call: StoreCall = { method, args };
          this.calls.push(call);
          const answer = this.#inject(method, args);
          call.result = answer !== undefined ? answer : (value as (...a: unknown[]) => unknown).apply(target, args);
          return call.result;
        };
      },
    });
  }

  /** Arguments of every call to `method`, in order. */
  callsTo(method: StoreMethod): (readonly unknown[])[] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  /** The (tag, node id) of each release (Ironic's call), each checked to be fenced by a token. */
  releases(): (readonly unknown[])[] {
    return this.callsTo('release').map(([tag, nodeId, token]) => {
      if (typeof token !== 'number') throw new Error(`release of node ${String(nodeId)} was not fenced (token ${String(token)})`);
      return [tag, nodeId];
    });
  }

  /** What the `index`-th call to `method` answered (awaited). */
  async resultOf(method: StoreMethod, index = 0): Promise<unknown> {
    const call = this.calls.filter((c) => c.method === method)[index];
    if (call === undefined) throw new Error(`no call ${index} to ${method}`);
    return await call.result;
  }

  /** How many times `method` was called. */
  count(method: StoreMethod): number {
    return this.callsTo(method).length;
  }

  /** Forget the calls recorded so far (e.g. those made while setting a test up). */
  reset(): void {
    this.calls.length = 0;
  }

  /**
   * Answer the next `times` calls of `method` with `fault` (Infinity: every call). Injections
   * queue: the first one with calls left answers.
   */
  inject(method: StoreMethod, fault: StoreFault, times = 1): void {
    const list = this.#injections.get(method) ?? [];
    list.push({ remaining: times, fault });
    this.#injections.set(method, list);
  }

  #inject(method: StoreMethod, args: unknown[]): ResultAsync<unknown, unknown> | undefined {
    const list = this.#injections.get(method);
    const current = list?.find((injection) => injection.remaining > 0);
    if (current === undefined) return undefined;
    current.remaining -= 1;
    return current.fault(...args);
  }
}
