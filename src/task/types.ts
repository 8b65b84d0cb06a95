/**
 * The public task types. A shared task cannot call exclusive-only operations according to the
 * types (a compile error); the run-time check (ExclusiveLockRequired) covers untyped callers.
 */
import type { Draft } from 'immer';
import type { Result, ResultAsync } from 'neverthrow';
import type { RequestContext } from '../context.ts';
import type { BareDriver } from '../drivers/build-driver.ts';
import type { DriverError, InvalidState, NodeNotFound, StoreError } from '../errors.ts';
import type { NodeIdentity, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../node.ts';
import type { LockError, SpawnOptions, UnlockError, UpdateError } from './backend.ts';

/** Options of `acquire` (Ironic's TaskManager arguments). */
export interface AcquireOptions {
  /** Take a shared (read-only) task instead of the exclusive lock. Default false. */
  shared?: boolean;
  /** Human-readable purpose, recorded beside the reservation and in logs. Default `'unspecified action'`. */
  purpose?: string;
  /** Retry while the node is locked, within `(nodeLockedRetryAttempts − 1) × nodeLockedRetryInterval`. Default true. */
  retry?: boolean;
  /** Wait for the lock forever (overrides `retry`). Default false. */
  patient?: boolean;
  /** Build the node's driver. Default true. */
  loadDriver?: boolean;
  /** Abort the wait for the lock. */
  signal?: AbortSignal;
}

/** Options of `upgradeLock`. */
export interface UpgradeOptions {
  /** New purpose (kept for the rest of the task). */
  purpose?: string;
  /** New retry setting (kept for the rest of the task, as Ironic). */
  retry?: boolean;
  /** Abort the wait for the lock. */
  signal?: AbortSignal;
}

/** Background work: receives the (exclusive) task first, then the spawn arguments. */
export type WorkFunction<A extends unknown[] = unknown[]> = (task: ExclusiveTask, ...args: A) => unknown;

/** A spawn error hook: receives the error first, then its arguments. */
export type SpawnErrorHook<A extends unknown[] = unknown[]> = (error: unknown, ...args: A) => unknown;

/** Error handler of processEvent: `(error, task, previousProvisionState, previousTargetState)`. */
export type ProcessEventErrorHandler = SpawnErrorHook<[ExclusiveTask, string, string | null]>;

/** Options of `processEvent`. */
export interface ProcessEventOptions<A extends unknown[] = unknown[]> {
  /** Background work to spawn when the task's scope ends (Ironic passes `_spawn_worker` + call_args[0]). */
  callback?: WorkFunction<A>;
  /** Arguments for the callback, after the task. */
  callArgs?: A;
  /** Called if spawning fails, with the pre-transition states (e.g. provisioningErrorHandler). */
  errHandler?: ProcessEventErrorHandler;
  /** Target provision state; default: the state machine's. */
  targetState?: string;
  /** last_error to record; with a callback, omitted means cleared (as Ironic). */
  lastError?: string | null;
  /** How the callback is spawned (reserved pool, retries, timeout). */
  spawnOptions?: SpawnOptions;
}

/** Errors processEvent can return. */
export type ProcessEventError = InvalidState | UpdateError;

/** What every task offers. */
export interface TaskBase {
  /** The request context the task was acquired with. */
  readonly context: RequestContext;
  /** The node identity as passed to acquire. */
  readonly nodeId: NodeIdentity;
  /** The node (an immer-frozen snapshot). Throws TaskReleased after release. */
  readonly node: NodeRecord;
  /** The node's driver, or null with `loadDriver: false` or after release. */
  readonly driver: BareDriver | null;
  /** The lock purpose. */
  readonly purpose: string;
  /** True once released. */
  readonly released: boolean;
  /** Aborted when background work on this task is cancelled. */
  readonly signal: AbortSignal;
  /** Ports of the node, loaded on first call. A failing load releases the task. */
  ports(): ResultAsync<readonly Port[], StoreError>;
  /** Portgroups of the node, loaded on first call. A failing load releases the task. */
  portgroups(): ResultAsync<readonly Portgroup[], StoreError>;
  /** Volume connectors of the node, loaded on first call. A failing load releases the task. */
  volumeConnectors(): ResultAsync<readonly VolumeConnector[], StoreError>;
  /** Volume targets of the node, loaded on first call. A failing load releases the task. */
  volumeTargets(): ResultAsync<readonly VolumeTarget[], StoreError>;
  /** Build the driver if it was not loaded. */
  loadDriver(): Result<BareDriver, DriverError>;
  /** Release the task (the exclusive lock, if held). Idempotent: every call shares one release. */
  release(): Promise<Result<void, UnlockError>>;
  /** `await using` support: leaves the scope (see README: spawns cannot see a throwing body). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A task without the exclusive lock: read-only. */
export interface SharedTask extends TaskBase {
  readonly shared: true;
  /** Take the exclusive lock (re-reads the node and re-initialises the state machine). */
  upgradeLock(options?: UpgradeOptions): ResultAsync<ExclusiveTask, LockError | InvalidState>;
}

/** A task holding the node's exclusive lock. */
export interface ExclusiveTask extends TaskBase {
  readonly shared: false;
  /** Already exclusive: only changes purpose/retry. */
  upgradeLock(options?: UpgradeOptions): ResultAsync<ExclusiveTask, LockError | InvalidState>;
  /** Give up the exclusive lock and keep reading (Ironic downgrade_lock). */
  downgradeLock(): ResultAsync<SharedTask, UnlockError | NodeNotFound>;
  /** Process a provision state-machine event, with Ironic's exact order of effects. */
  processEvent<A extends unknown[]>(event: string, options?: ProcessEventOptions<A>): ResultAsync<NodeRecord, ProcessEventError>;
  /** Resume cleaning with the right target (manual cleaning keeps `manageable`). */
  resumeCleaning(): ResultAsync<NodeRecord, ProcessEventError>;
  /** Change the node through its actor with an immer recipe; resolves with the committed snapshot. */
  updateNode(recipe: (draft: Draft<NodeRecord>) => void): ResultAsync<NodeRecord, UpdateError>;
  /** Delete the node (its ports and volume objects too). The task can still be released. */
  destroyNode(): ResultAsync<void, UpdateError>;
  /** Run `fn(task, ...args)` in a background worker when the scope ends; the worker keeps the lock. */
  spawnAfter<A extends unknown[]>(fn: WorkFunction<A>, ...args: A): void;
  /** `spawnAfter` with spawn options: reserved-pool use, opt-in retries, a timeout. */
  spawnAfterWith<A extends unknown[]>(options: SpawnOptions, fn: WorkFunction<A>, ...args: A): void;
  /** Hook called as `hook(error, ...args)` if spawning fails. */
  setSpawnErrorHook<A extends unknown[]>(hook: SpawnErrorHook<A>, ...args: A): void;
}

/** Either kind of task. */
export type Task = SharedTask | ExclusiveTask;

/** Errors of acquiring a task. */
export type AcquireError = LockError | DriverError | InvalidState | import('../errors.ts').InvalidIdentity;
