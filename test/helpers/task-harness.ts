/**
 * The task-manager test fixture (Ironic's TaskManagerTestCase.setUp): a fresh in-memory sql.js
 * store behind a SpyStore, a conductor on host `test-host` with one lock attempt and a 0 ms
 * retry interval, a recording driver seam, a counting state-machine seam, and the notifications
 * it emits. Every harness must be stopped (`await h.stop()`).
 */
import assert from 'node:assert/strict';
import { err, ok, type Result, type ResultAsync } from 'neverthrow';
import { pino, type Logger } from 'pino';
import { openConductor, type Conductor } from '../../actors/conductor.js';
import { createRequestContext, type RequestContext } from '../../src/context.js';
import type { BareDriver, BuiltDriver } from '../../src/drivers/build-driver.js';
import type { DriverError } from '../../src/errors.js';
import type { FSM } from '../../src/fsm/fsm.js';
import type { ProvisionEvent, ProvisionState } from '../../src/states/provision-states.js';
import { silentLogger } from '../../src/logging.js';
import type { NewNode, NodeRecord } from '../../src/node.js';
import type { ProvisionSetNotification } from '../../src/notifications/notification.js';
import { newProvisionFsm } from '../../src/states/provision-machine.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import type { Store } from '../../src/store/store.js';
import type { WorkerSpawner } from '../../src/task/ports.js';
import { spyFn, type SpyFn } from './spies.js';
import { SpyStore } from './spy-store.js';

/** The reservation tag of every harness conductor (Ironic's `self.config(host='test-host')`). */
export const TEST_HOST = 'test-host';

/**
 * The driver seam (Ironic's patched `build_driver_for_task`): records the node of every call and
 * answers with a fresh sentinel driver per call (the node unchanged), or with `error` when set.
 */
export class DriverSpy {
  /** The node passed to each call, in order. */
  readonly calls: NodeRecord[] = [];
  /** The sentinel driver returned by each successful call, in order. */
  readonly results: BareDriver[] = [];
  /** When set, every call fails with it. */
  error: DriverError | null = null;

  readonly build = (node: NodeRecord): Result<BuiltDriver, DriverError> => {
    this.calls.push(node);
    if (this.error !== null) return err(this.error);
    const driver = Object.freeze({ sentinel: `driver-${this.calls.length}` }) as unknown as BareDriver;
    this.results.push(driver);
    return ok({ driver, node });
  };
}

/** Options of a harness. */
export interface HarnessOptions {
  /** `nodeLockedRetryAttempts` (Ironic `node_locked_retry_attempts`). Default 1, as Ironic's fixture. */
  attempts?: number;
  /** Spawner seam (default: the conductor's real worker pool). */
  spawner?: WorkerSpawner;
  /** State-machine factory behind the counting `newFsm` spy (default: the real provision machine). */
  newFsm?: () => FSM<ProvisionState, ProvisionEvent>;
  /** Logger of the conductor (default: silent). */
  logger?: Logger;
}

/** What a test works with. */
export interface TaskHarness {
  readonly conductor: Conductor;
  /** The spying store handed to the conductor. */
  readonly spy: SpyStore;
  /** The real store behind the spy (calls on it are not recorded). */
  readonly inner: Store;
  /** The request context tests acquire with. */
  readonly ctx: RequestContext;
  readonly drivers: DriverSpy;
  /** The `newFsm` seam (Ironic's `state_machine.machine.copy`). */
  readonly newFsm: SpyFn<() => FSM<ProvisionState, ProvisionEvent>>;
  /** Notifications delivered to a subscriber, in order. */
  readonly notifications: ProvisionSetNotification[];
  /** Create a node in the real store (not recorded): `fake-hardware`, `available` unless given. */
  readonly createNode: (fields?: Partial<NewNode>) => Promise<NodeRecord>;
  /** Stop the conductor and close the store. */
  readonly stop: () => Promise<void>;
}

/** Open a harness (fresh store and conductor, so `Node.get` reaches the store on first use). */
export async function openTaskHarness(options: HarnessOptions = {}): Promise<TaskHarness> {
  const inner = await okValue(openSqlJsStore({ logger: silentLogger() }));
  const spy = new SpyStore(inner);
  const drivers = new DriverSpy();
  const newFsm = spyFn(options.newFsm ?? (() => newProvisionFsm()), 'newFsm');
  const conductor = await okValue(
    openConductor(
      {
        logger: options.logger ?? silentLogger(),
        host: TEST_HOST,
        nodeLockedRetryAttempts: options.attempts ?? 1,
        nodeLockedRetryInterval: 0,
      },
      {
        store: spy.store,
        buildDriver: drivers.build,
        newFsm,
        ...(options.spawner ? { spawner: options.spawner } : {}),
      },
    ),
  );
  const notifications: ProvisionSetNotification[] = [];
  conductor.subscribe((notification) => {
    notifications.push(notification);
  });
  spy.reset();
  return {
    conductor,
    spy,
    inner,
    ctx: createRequestContext({ user: 'test-user', project: 'test-project' }),
    drivers,
    newFsm,
    notifications,
    createNode: (fields = {}) => okValue(inner.createNode({ driver: 'fake-hardware', provision_state: 'available', ...fields })),
    async stop() {
      await okValue(conductor.stop());
      await okValue(inner.close());
    },
  };
}

/** Run `body` with a fresh harness and always stop it afterwards. */
export async function withHarness(options: HarnessOptions, body: (h: TaskHarness) => Promise<void>): Promise<void> {
  const h = await openTaskHarness(options);
  try {
    await body(h);
  } finally {
    await h.stop();
  }
}

/** A pino logger that keeps every line (parsed) in `lines`, at debug level. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Await a result and return its value; fail the test with the error otherwise. */
export async function okValue<T, E>(result: Result<T, E> | ResultAsync<T, E> | PromiseLike<Result<T, E>>): Promise<T> {
  const settled = await result;
  if (settled.isErr()) assert.fail(`expected Ok, got Err: ${describeError(settled.error)}`);
  return settled.value;
}

/** Await a result and return its error, asserting it is an instance of `type`. */
export async function errOf<T, E, C extends abstract new (...args: never[]) => unknown>(
  result: Result<T, E> | ResultAsync<T, E> | PromiseLike<Result<T, E>>,
  type: C,
): Promise<InstanceType<C>> {
  const settled = await result;
  if (settled.isOk()) assert.fail(`expected Err(${type.name}), got Ok`);
  assert.ok(settled.error instanceof type, `expected ${type.name}, got ${describeError(settled.error)}`);
  return settled.error as InstanceType<C>;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
