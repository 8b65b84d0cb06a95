/**
 * The public task types. A shared task cannot call exclusive-only operations according to the
 * types (a compile error); the run-time check (ExclusiveLockRequired) covers untyped callers.
 */
import type { Draft } from 'immer';
import type { Result, ResultAsync } from 'neverthrow';
import type { RequestContext } from '../context.js';
import type { BareDriver } from '../drivers/build-driver.js';
import type {
  Aborted,
  BackgroundWorkFailed,
  DriverError,
  ExclusiveLockRequired,
  InvalidIdentity,
  InvalidState,
  NodeNotFound,
  StoreError,
  WorkerTimedOut,
  WorkNotStarted,
} from '../errors.js';
import type { FSM } from '../fsm/fsm.js';
import type { NodeIdentity, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../node.js';
import type { ProvisionEvent, ProvisionState } from '../states/provision-states.js';
import type { NewPort, NewPortgroup } from '../store/store.js';
import type { LockError, SpawnOptions, SpawnRefused, UnlockError, UpdateError } from './ports.js';

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
export type ProcessEventErrorHandler = SpawnErrorHook<[ExclusiveTask, ProvisionState, ProvisionState | null]>;

/** Why scheduled background work failed or never ran (the Err of `SpawnHandle.done`). */
export type SpawnError = BackgroundWorkFailed | WorkerTimedOut | Aborted | WorkNotStarted | ExclusiveLockRequired | SpawnRefused;

/** Background work scheduled with `spawnAfter` (or `processEvent({ callback })`). */
export interface SpawnHandle {
  /** Name of the work function (as in `last_error`). */
  readonly name: string;
  /**
   * Settles once, after the work ended and the task released its lock: Ok, or the error the worker
   * recorded (BackgroundWorkFailed, WorkerTimedOut), Aborted when cancelled, or why it never ran
   * (WorkNotStarted, NoFreeConductorWorker, ConductorStopping, ExclusiveLockRequired). Never
   * rejects. Await it after the task's scope ended: the work only starts then.
   */
  readonly done: ResultAsync<void, SpawnError>;
}

/** The task's copy of the provision state machine, read-only (the task moves it with processEvent). */
export type TaskStateMachine = Pick<
  FSM<ProvisionState, ProvisionEvent>,
  'currentState' | 'targetState' | 'states' | 'events' | 'isStable' | 'defaultTarget' | 'transitions'
>;

/** Options of `processEvent`. */
export interface ProcessEventOptions<A extends unknown[] = unknown[]> {
  /** Background work to spawn when the task's scope ends (Ironic passes `_spawn_worker` + call_args[0]). */
  callback?: WorkFunction<A>;
  /** Arguments for the callback, after the task. */
  callArgs?: A;
  /** Called if spawning fails, with the pre-transition states (e.g. provisioningErrorHandler). */
  errHandler?: ProcessEventErrorHandler;
  /** Target provision state; default: the state machine's. */
  targetState?: ProvisionState;
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
  /** The task's copy of the provision state machine (Ironic `task.fsm`), or null after release. */
  readonly fsm: TaskStateMachine | null;
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

/**
 * A task holding the node's exclusive lock. Its writes go through the node's actor (the single
 * writer). Called on a shared task by an untyped caller, each exclusive-only operation returns
 * Err(ExclusiveLockRequired) (spawnAfter: a handle settled with it) instead of throwing.
 */
export interface ExclusiveTask extends TaskBase {
  readonly shared: false;
  /** Already exclusive: only changes purpose/retry. */
  upgradeLock(options?: UpgradeOptions): ResultAsync<ExclusiveTask, LockError | InvalidState>;
  /** Give up the exclusive lock and keep reading (Ironic downgrade_lock). */
  downgradeLock(): ResultAsync<SharedTask, UnlockError | NodeNotFound>;
  /** Process a provision state-machine event, with Ironic's exact order of effects. */
  processEvent<A extends unknown[]>(event: ProvisionEvent, options?: ProcessEventOptions<A>): ResultAsync<NodeRecord, ProcessEventError>;
  /** Resume cleaning with the right target (manual cleaning keeps `manageable`). */
  resumeCleaning(): ResultAsync<NodeRecord, ProcessEventError>;
  /** Change the node through its actor with an immer recipe; resolves with the committed snapshot. */
  updateNode(recipe: (draft: Draft<NodeRecord>) => void): ResultAsync<NodeRecord, UpdateError>;
  /** Delete the node (its ports and volume objects too). The task can still be released. */
  destroyNode(): ResultAsync<void, UpdateError>;
  /** Create a port of the node through its actor (`ports()` then includes it). */
  createPort(fields: NewPort): ResultAsync<Port, UpdateError>;
  /** Create a portgroup of the node through its actor (`portgroups()` then includes it). */
  createPortgroup(fields: NewPortgroup): ResultAsync<Portgroup, UpdateError>;
  /**
   * Run `fn(task, ...args)` in a background worker when the scope ends; the worker keeps the lock.
   * A later spawnAfter replaces this one (as Ironic); the returned handle tells how the work ended.
   */
  spawnAfter<A extends unknown[]>(fn: WorkFunction<A>, ...args: A): SpawnHandle;
  /** `spawnAfter` with spawn options: reserved-pool use, opt-in retries, a timeout. */
  spawnAfterWith<A extends unknown[]>(options: SpawnOptions, fn: WorkFunction<A>, ...args: A): SpawnHandle;
  /** The work this task hands its lock to when its scope ends (spawnAfter or processEvent's callback), or null. */
  readonly scheduledSpawn: SpawnHandle | null;
  /** Hook called as `hook(error, ...args)` if spawning fails (NoFreeConductorWorker, ConductorStopping). */
  setSpawnErrorHook<A extends unknown[]>(hook: SpawnErrorHook<A>, ...args: A): Result<void, ExclusiveLockRequired>;
}

/** Either kind of task. */
export type Task = SharedTask | ExclusiveTask;

/** Errors of acquiring a task. */
export type AcquireError = LockError | DriverError | InvalidState | InvalidIdentity;
