/**
 * The ports of a task: `NodeLocks` (lookup, the exclusive lock, writes through the node's single
 * writer) and `TaskEnvironment` (config, logger, drivers, the state machine, notifications, the
 * background-worker spawner), plus the lock and worker types they speak.
 */
import type { Draft } from 'immer';
import type { Result, ResultAsync } from 'neverthrow';
import type { ConductorConfig, NotificationLevel } from '../config.js';
import type { RequestContext } from '../context.js';
import type { BareDriver, BuiltDriver } from '../drivers/build-driver.js';
import type {
  Aborted,
  ActorStopped,
  AskTimeout,
  ConductorStopping,
  Duplicate,
  DriverError,
  ExclusiveLockRequired,
  InvalidIdentity,
  InvalidParameterValue,
  LeaseNotFound,
  LockLost,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  NoFreeConductorWorker,
  StoreError,
} from '../errors.js';
import type { FSM } from '../fsm/fsm.js';
import type { Logger } from '../logging.js';
import type { NodeChanges, NodeIdentity, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../node.js';
import type { ProvisionSetNotification } from '../notifications/notification.js';
import type { ProvisionEvent, ProvisionState } from '../states/provision-states.js';
import type { NewPort, NewPortgroup } from '../store/store.js';
import type { AcquireError } from './types.js';

/** How an exclusive lock is requested (Ironic's TaskManager arguments). */
export interface LockRequest {
  /** Human-readable purpose, recorded beside the reservation and in logs. */
  readonly purpose: string;
  /** Retry within the budget (default true); false fails at once if the node is held. */
  readonly retry: boolean;
  /** Wait forever (overrides retry). */
  readonly patient: boolean;
  /** Abort the wait. */
  readonly signal?: AbortSignal | undefined;
  readonly context: RequestContext;
}

/** A granted exclusive lock. */
export interface Lease {
  /** Unique lease id. */
  readonly id: string;
  /** Integer id of the node. */
  readonly nodeId: number;
  /** The node as read when the reservation was taken. */
  readonly node: NodeRecord;
  /** When the lock was granted (ms since epoch). */
  readonly grantedAt: number;
  /**
   * On a shared store: aborted when the reservation is known to be lost (taken over while this
   * conductor was paused); the task's background work is then cancelled. Absent: it cannot be lost.
   */
  readonly lost?: AbortSignal;
}

/** Failures of the transport between a task and its node actor. */
export type TransportError = AskTimeout | ActorStopped | ConductorStopping;

/** Errors of taking the exclusive lock. */
export type LockError = NodeLocked | NodeNotFound | Aborted | StoreError | InvalidParameterValue | TransportError;
/** Errors of releasing it. */
export type UnlockError = NodeNotLocked | NodeLocked | LeaseNotFound | LockLost | StoreError | TransportError;
/** Errors of writing a node through its actor. */
export type UpdateError =
  NodeNotFound | LeaseNotFound | LockLost | Duplicate | InvalidParameterValue | ExclusiveLockRequired | StoreError | TransportError;

/** How a background worker ended. */
export type WorkerOutcome = { readonly kind: 'ok' } | { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'cancelled' };

/** Ironic's future: a handle on a submitted background worker. */
export interface WorkerFuture {
  /**
   * Run `callback` when the worker ends; at once if it already ended. A returned promise is
   * awaited: the worker counts as finished only after its callbacks (lease release) are done.
   */
  onDone(callback: (outcome: WorkerOutcome) => unknown): void;
  /** Cancel: a worker not yet started never runs; a running one has its signal aborted. */
  cancel(): void;
}

/** Opt-in retries of one background task; the lock is held across attempts. */
export interface WorkerRetryPolicy {
  /** Total attempts (1 = no retry). */
  readonly attempts: number;
  /** Delay before the 2nd attempt, doubled each time. Default 1000 ms. */
  readonly backoffMs?: number;
  /** Upper bound of the delay. Default 30000 ms. */
  readonly maxBackoffMs?: number;
  /** Which errors are worth another attempt. Default: every error. */
  readonly isTransient?: (error: unknown) => boolean;
}

/** How a background task is spawned. */
export interface SpawnOptions {
  /** May use the reserved share of the pool (Ironic `_allow_reserved_pool`). Default true. */
  readonly allowReservedPool?: boolean;
  /** Opt-in retries. Default: none (one attempt, as Ironic). */
  readonly retry?: WorkerRetryPolicy;
  /** Cancel and fail the work after this long; 0 = no limit. Default: the conductor's `workerTimeout`. */
  readonly timeoutMs?: number;
}

/** What is submitted to the worker pool. */
export interface WorkerRequest extends SpawnOptions {
  /** Name of the work function (for logs and last_error). */
  readonly name: string;
  /** Runs the work; receives the abort signal of the worker. */
  readonly run: (signal: AbortSignal) => Promise<void>;
  readonly nodeUuid: string;
  readonly purpose: string;
  readonly context: RequestContext;
}

/** Why the pool refused a background task: full (Ironic's NoFreeConductorWorker), or the conductor is stopping. */
export type SpawnRefused = NoFreeConductorWorker | ConductorStopping;

/** Submits background work (Ironic's `_spawn_worker`); a refusal comes back as an Err, never thrown. */
export type WorkerSpawner = (request: WorkerRequest) => Result<WorkerFuture, SpawnRefused>;

/**
 * The lock port: what a task needs of its node — lookup, the exclusive lock, and writes through
 * the node's single writer. The actor layer implements it (actors/node-registry.ts); src/ holds no
 * actor code.
 */
export interface NodeLocks {
  /** Ironic `Node.get`: the node's latest snapshot, loading it on first use. */
  getNode(identity: NodeIdentity): ResultAsync<NodeRecord, NodeNotFound | InvalidIdentity | StoreError | TransportError>;
  /** The snapshot of a loaded node by the identity a caller passed, or null (then use getNode). Synchronous. */
  cachedNode(identity: NodeIdentity): NodeRecord | null;
  /** The latest committed snapshot of a node, or null if it is not loaded or was deleted. */
  latestSnapshot(nodeId: number): NodeRecord | null;
  /** Take the exclusive lock, waiting per the request's budget. */
  lock(nodeId: number, request: LockRequest): ResultAsync<Lease, LockError>;
  /** Release an exclusive lock (hand it to the next waiter, or clear the reservation). */
  unlock(lease: Lease): ResultAsync<void, UnlockError>;
  /** Apply an immer recipe to the node through its single writer; resolves with the committed snapshot. */
  update(lease: Lease, recipe: (draft: Draft<NodeRecord>) => void): ResultAsync<NodeRecord, UpdateError>;
  /** Set top-level fields through the node's single writer (no draft: the cheap path of a saved transition). */
  updateFields(lease: Lease, fields: Readonly<NodeChanges>): ResultAsync<NodeRecord, UpdateError>;
  /** Re-read the node from the store (Ironic `node.refresh()`). */
  refresh(nodeId: number): ResultAsync<NodeRecord, NodeNotFound | StoreError | TransportError>;
  /** Record a new purpose for the lease holder (beside the reservation and in status). */
  relabel(lease: Lease, purpose: string): ResultAsync<NodeRecord, UnlockError | NodeNotFound>;
  /** Delete the node (the lease holder only). */
  destroy(lease: Lease): ResultAsync<void, UpdateError>;
  /** Create a port of the node (the lease holder only). */
  createPort(lease: Lease, fields: NewPort): ResultAsync<Port, UpdateError>;
  /** Create a portgroup of the node (the lease holder only). */
  createPortgroup(lease: Lease, fields: NewPortgroup): ResultAsync<Portgroup, UpdateError>;
  listPorts(nodeId: number): ResultAsync<Port[], StoreError>;
  listPortgroups(nodeId: number): ResultAsync<Portgroup[], StoreError>;
  listVolumeConnectors(nodeId: number): ResultAsync<VolumeConnector[], StoreError>;
  listVolumeTargets(nodeId: number): ResultAsync<VolumeTarget[], StoreError>;
}

/** Where notifications go. */
export interface NotificationSink {
  /** Deliver a provision_set notification; never throws. */
  emit(notification: ProvisionSetNotification): void;
  /** Whether a notification of this level would be delivered at all (so it is not built for nobody). */
  wants(level: NotificationLevel): boolean;
}

/** The rest of what a task needs: a plain record, built once when the conductor starts. */
export interface TaskEnvironment {
  readonly config: ConductorConfig;
  readonly logger: Logger;
  /** Build the node's driver (Ironic `build_driver_for_task`). */
  readonly buildDriver: (node: NodeRecord) => Result<BuiltDriver, DriverError>;
  /** A fresh, uninitialised copy of the provision state machine. */
  readonly newFsm: () => FSM<ProvisionState, ProvisionEvent>;
  readonly notifications: NotificationSink;
  /** Submit background work. */
  readonly spawnWorker: WorkerSpawner;
  /**
   * Told how each acquisition ended (metrics), `seconds` after it was asked: `error` null when
   * granted; `mayWait` false for `retry: false` (a NodeLocked is then a refusal, not a timeout). Optional.
   */
  readonly acquireEnded?: (shared: boolean, mayWait: boolean, error: AcquireError | null, seconds: number) => void;
  /** Told each saved transition: the event and the resulting provision state (metrics). Optional. */
  readonly transitionSaved?: (event: ProvisionEvent, state: ProvisionState) => void;
}

/** Both ports of a task. */
export interface TaskPorts {
  readonly locks: NodeLocks;
  readonly env: TaskEnvironment;
}

export type { BareDriver };
