/**
 * Fixture of the actor-layer and conductor tests: a conductor on an in-memory sql.js store behind a
 * SpyStore (so store calls can be counted), with short timings, plus small polling helpers.
 * Every fixture must be stopped (`withConductor` does it).
 */
import assert from 'node:assert/strict';
import type { Result, ResultAsync } from 'neverthrow';
import { openConductor, type Conductor, type ConductorInit, type ConductorSeams } from '../../actors/conductor.js';
import { createRequestContext, type RequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import type { NewNode, NodeRecord } from '../../src/node.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import type { Store } from '../../src/store/store.js';
import { SpyStore } from '../helpers/spy-store.js';
import { okValue } from '../helpers/task-harness.js';

/** The reservation tag of fixture conductors. */
export const HOST = 'fixture-host';

/** What a test works with. */
export interface Fixture {
  readonly conductor: Conductor;
  /** Spy over the store the conductor uses. */
  readonly spy: SpyStore;
  /** The real store (calls on it are not recorded): plays "another process" or checks the DB row. */
  readonly inner: Store;
  readonly ctx: RequestContext;
  /** Enroll a `fake-hardware` node (provision state `available` unless given). */
  readonly createNode: (fields?: Partial<NewNode>) => Promise<NodeRecord>;
  /** The node as stored (not the actor's snapshot). */
  readonly stored: (nodeId: number) => Promise<NodeRecord>;
  /** Stop the conductor and close the store (idempotent). */
  readonly stop: () => Promise<void>;
}

/** Conductor options for a fixture (logger is the fixture's unless given), plus seams (the store is the fixture's). */
export type FixtureOptions = Omit<ConductorInit, 'store'> & { seams?: Omit<ConductorSeams, 'store'> };

/** Open a fixture: fresh in-memory store, conductor on host HOST, silent, 5 ms retry interval. */
export async function openFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const inner = await okValue(openSqlJsStore({ logger: silentLogger() }));
  const spy = new SpyStore(inner);
  const { seams, ...init } = options;
  const conductor = await okValue(
    openConductor(
      {
        logger: silentLogger(),
        host: HOST,
        nodeLockedRetryAttempts: 3,
        nodeLockedRetryInterval: 5,
        nodeIdleTimeout: 0,
        gracefulShutdownTimeout: 2000,
        ...init,
      },
      { ...seams, store: spy.store },
    ),
  );
  let stopped: Promise<void> | null = null;
  return {
    conductor,
    spy,
    inner,
    ctx: createRequestContext({ user: 'fixture-user', project: 'fixture-project', roles: ['admin'] }),
    createNode: (fields = {}) => okValue(conductor.enroll({ driver: 'fake-hardware', provision_state: 'available', ...fields })),
    stored: (nodeId) => okValue(inner.getNode(nodeId)),
    stop() {
      stopped ??= (async () => {
        await okValue(conductor.stop());
        await okValue(inner.close());
      })();
      return stopped;
    },
  };
}

/** Run `body` with a fresh fixture and always stop it afterwards. */
export async function withConductor(options: FixtureOptions, body: (f: Fixture) => Promise<void>): Promise<void> {
  const f = await openFixture(options);
  try {
    await body(f);
  } finally {
    await f.stop();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `condition` until it holds; fail after `limitMs` (generous: not a timing assertion). */
export async function until(condition: () => boolean | Promise<boolean>, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Settle `promise` or give up after `limitMs` with 'pending' (so a hang fails a test instead of wedging it). */
export async function within<T>(promise: PromiseLike<T>, limitMs: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), limitMs)));
  try {
    return await Promise.race([Promise.resolve(promise), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Await a Result that must be Err with an instance of `type`; returns the error. */
export async function errorOf<C extends abstract new (...args: never[]) => unknown>(
  result: Result<unknown, unknown> | PromiseLike<Result<unknown, unknown>> | ResultAsync<unknown, unknown>,
  type: C,
): Promise<InstanceType<C>> {
  const settled = await result;
  if (settled.isOk()) assert.fail(`expected Err(${type.name}), got Ok`);
  const error = settled.error;
  assert.ok(
    error instanceof type,
    `expected ${type.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
  return error as InstanceType<C>;
}

/** Number of exclusive waiters the conductor reports for a node (0 when its actor is not loaded). */
export function waitersOf(conductor: Conductor, nodeId: number): number {
  return conductor.status().nodes.find((node) => node.id === nodeId)?.waiters ?? 0;
}
