/**
 * The registry of node actors: the task's lock port (`NodeLocks`). It spawns a node actor
 * on first use ("get or spawn"), routes lock requests and writes to it, serves shared reads from
 * the published snapshots, and passivates idle actors.
 */
import { freeze, type Draft } from 'immer';
import { errAsync, okAsync, type Result, ResultAsync } from 'neverthrow';
import type { ConductorConfig } from '../src/config.js';
import type { Clock } from '../src/clock.js';
import {
  ActorStopped,
  ConductorStopping,
  type Duplicate,
  InvalidIdentity,
  InvalidParameterValue,
  isConductorError,
  LeaseNotFound,
  type NodeLocked,
  NodeNotFound,
  type NodeNotLocked,
  type StoreError,
} from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import type { NewNode, NodeChanges, NodeIdentity, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../src/node.js';
import type { NodeFilter } from '../src/node-filter.js';
import { parseIdentity } from '../src/identity.js';
import type { NewPort, NewPortgroup, NodeChange, Store } from '../src/store/store.js';
import { guardStore } from '../src/store/guard.js';
import { initialLockState } from '../src/locks/arbiter.js';
import type { Lease, LockError, LockRequest, NodeLocks, TransportError, UnlockError, UpdateError } from '../src/task/ports.js';
import { Waiter } from './internal/waiter.js';
import { NodeActor, type NodeCell, type NodeHost, type NodeMessage } from './node-actor.js';
import type { ActorRef, ActorRuntime, AnyActorRef, Ask, ErrorOf, ReplyOf } from './runtime.js';

/** What the registry is built from. */
export interface NodeRegistryDeps {
  readonly runtime: ActorRuntime;
  /** Parent of the node actors; it never receives messages (nact copies a parent's children per message). */
  readonly parent: AnyActorRef;
  readonly store: Store;
  readonly config: ConductorConfig;
  readonly logger: Logger;
  /** Time and timers (lock-wait deadlines, retries against outside holders, passivation). */
  readonly clock: Clock;
  /** Told how long each exclusive lock was held, in seconds, at its release (metrics). Default none. */
  readonly lockHeld?: ((seconds: number) => void) | null;
}

/**
 * The registry's record of a loaded node. The `NodeCell` fields are what its actor publishes
 * (written by the actor only, which sees nothing else of the entry); the rest is the registry's own
 * bookkeeping. One object per node: an idle node costs this and its snapshot.
 */
interface NodeEntry extends NodeCell {
  /** The name the node is indexed under (follows the actor's `renamed`). */
  name: string | null;
  /** The node's actor, or null while the node is idle and not yet activated. */
  ref: ActorRef<NodeMessage> | null;
  /** Messages sent and not yet handled (passivation only happens at 1: the passivate message itself). */
  inflight: number;
  /** When its actor last handled a message (or it was loaded), in ms since the registry started (small integers: no boxed number per node). */
  lastActivity: number;
}

/** Status of one loaded node actor. */
export interface NodeActorStatus {
  readonly id: number;
  readonly uuid: string;
  readonly provisionState: string | null;
  readonly holder: { readonly purpose: string; readonly heldForMs: number; readonly requestId: string } | null;
  readonly waiters: number;
}

/** Registry of node actors; implements the task's lock port. */
export class NodeRegistry implements NodeLocks {
  readonly config: ConductorConfig;
  readonly logger: Logger;
  readonly #deps: NodeRegistryDeps;
  /** Every store call of the registry and its actors: a store that throws or rejects answers StoreError instead. */
  readonly #store: Store;
  readonly #byId = new Map<number, NodeEntry>();
  readonly #byUuid = new Map<string, NodeEntry>();
  readonly #byName = new Map<string, NodeEntry>();
  /**
   * Loaded entries in the order they are due for an idle check, with the time they were queued
   * (a Map keeps insertion order and stamps only grow): the sweep stops at the first entry queued
   * less than `nodeIdleTimeout` ago, so it never walks every loaded node. A message only stamps
   * `lastActivity`; the sweep re-queues an entry that was active since it was queued.
   */
  readonly #idleChecks = new Map<NodeEntry, number>();
  /** What every node actor of this registry shares (they allocate no closures of their own). */
  readonly #host: NodeHost<NodeEntry>;
  #sweeper: NodeJS.Timeout | null = null;
  /** Subscriptions to the shared store's notifications, ended by close(). */
  readonly #unsubscribe: (() => void)[] = [];
  readonly #startedAt: number;
  #spawned = 0;
  #passivated = 0;

  constructor(deps: NodeRegistryDeps) {
    this.#deps = deps;
    this.#store = guardStore(deps.store);
    this.config = deps.config;
    this.logger = deps.logger;
    this.#startedAt = deps.clock.now();
    this.#host = {
      // Node actors keep lock state across store calls: a call that throws must not leave one stuck.
      store: this.#store,
      config: deps.config,
      logger: deps.logger,
      clock: deps.clock,
      lockHeld: deps.lockHeld ?? null,
      initialLock: initialLockState({
        attempts: deps.config.nodeLockedRetryAttempts,
        retryIntervalMs: deps.config.nodeLockedRetryInterval,
      }),
      send: (entry, message) => void this.#send(entry, message),
      renamed: (entry, previous, current) => {
        if (previous !== null && this.#byName.get(previous) === entry) this.#byName.delete(previous);
        if (current !== null) this.#byName.set(current, entry);
        entry.name = current;
      },
      retire: (entry) => this.#retire(entry),
      // The passivate message itself is the one message in flight: nothing else may be lost.
      passivate: (entry) => {
        if (entry.inflight === 1) this.#retire(entry);
      },
      handled: (entry) => {
        entry.inflight -= 1;
        entry.lastActivity = this.#sinceStart();
      },
    };
    const coordination = deps.store.coordination;
    if (coordination !== undefined) {
      this.#unsubscribe.push(
        coordination.onNodeChange((change) => this.#onNodeChange(change)),
        coordination.onResync(() => this.#onResync()),
        coordination.onWaitersChange((nodeId) => {
          const entry = this.#byId.get(nodeId);
          // Only an activated node can hold or wait. One activated later does not know of waiters
          // recorded before: it serves its own requests, and the waiter retries on its release.
          if (entry === undefined || entry.ref === null || entry.waitersChanged === true) return;
          entry.waitersChanged = true;
          this.#send(entry, { type: 'waiters' });
        }),
      );
    }
    const idle = deps.config.nodeIdleTimeout;
    if (idle > 0) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.max(250, Math.floor(idle / 2)));
      this.#sweeper.unref();
    }
  }

  // ---- a shared store: other conductors' commits --------------------------------------------

  /**
   * A committed change heard from the shared store. Ours (already published) or of a node we do
   * not hold in memory: nothing to do. A cached snapshot nobody is acting on is dropped (the next
   * read loads the row); an activated node's actor re-reads it and wakes its waiters.
   */
  #onNodeChange(change: NodeChange): void {
    const entry = this.#byId.get(change.id);
    if (change.reservation === this.config.host && !change.deleted && (entry === undefined || entry.ref === null)) {
      // Handed to us by another conductor while nobody here waits any more (or the node was
      // dropped from memory): the node's actor adopts it and, with nobody to grant it to, clears it.
      this.#adoptOrphanedHandOver(change, entry);
      return;
    }
    if (entry === undefined) return;
    const snapshot = entry.snapshot;
    // A deletion carries the row's last version: news whatever version we hold.
    if (!change.deleted && snapshot !== null && change.version <= snapshot.version) return;
    if (entry.ref === null) this.#forget(entry);
    else this.#send(entry, { type: 'remote', change });
  }

  #adoptOrphanedHandOver(change: NodeChange, entry: NodeEntry | undefined): void {
    const loaded = entry === undefined ? this.#load(change.id) : okAsync(entry);
    void loaded.match(
      (target) => void this.#send(target, { type: 'remote', change }),
      (error) => this.logger.warn({ err: error, node: change.id }, 'a reservation handed to this conductor could not be taken up'),
    );
  }

  /**
   * Notifications may have been missed (the store reconnected, or a conductor died between a
   * commit and its announcement): nothing cached can be trusted.
   */
  resync(): void {
    this.#onResync();
  }

  #onResync(): void {
    for (const entry of [...this.#byId.values()]) {
      if (entry.ref === null) this.#forget(entry);
      else this.#send(entry, { type: 'remote', change: null });
    }
  }

  // ---- NodeLocks ----------------------------------------------------------------------------

  getNode(identity: NodeIdentity): ResultAsync<NodeRecord, NodeNotFound | InvalidIdentity | StoreError | TransportError> {
    const cached = this.#cached(identity);
    if (cached instanceof InvalidIdentity) return errAsync(cached);
    if (cached?.snapshot) return okAsync(cached.snapshot);
    return this.#load(identity).map((entry) => entry.snapshot as NodeRecord);
  }

  cachedNode(identity: NodeIdentity): NodeRecord | null {
    const cached = this.#cached(identity);
    return cached instanceof InvalidIdentity ? null : (cached?.snapshot ?? null);
  }

  latestSnapshot(nodeId: number): NodeRecord | null {
    return this.#byId.get(nodeId)?.snapshot ?? null;
  }

  lock(nodeId: number, request: LockRequest): ResultAsync<Lease, LockError> {
    const invalid = invalidLockRequest(request);
    if (invalid !== null) return errAsync(invalid);
    const entry = this.#byId.get(nodeId);
    // A loaded node is queued at once (no promise layer on every exclusive acquire).
    if (entry) return this.#enqueue(entry, request);
    return this.#load(nodeId)
      .mapErr(asLockError)
      .andThen((loaded) => this.#enqueue(loaded, request));
  }

  /** Queue an exclusive request on the node's actor; resolves when granted or failed. */
  #enqueue(target: NodeEntry, request: LockRequest): ResultAsync<Lease, LockError> {
    const waiter = new Waiter(request, this.#deps.clock);
    // An aborted waiter leaves the queue at once instead of waiting for the holder to release.
    waiter.onAbandoned = () => void this.#send(target, { type: 'forget', ticket: waiter.ticket });
    if (!waiter.settled && !this.#send(target, { type: 'acquire', waiter })) waiter.fail(new ActorStopped(`node-${target.id}`));
    return new ResultAsync(waiter.promise);
  }

  unlock(lease: Lease): ResultAsync<void, UnlockError> {
    // NodeNotFound (deleted during the task) is part of the reply; the task swallows it, as Ironic.
    return this.#askHolder(lease, { type: 'release', leaseId: lease.id });
  }

  update(lease: Lease, recipe: (draft: Draft<NodeRecord>) => void): ResultAsync<NodeRecord, UpdateError> {
    return this.#askHolder(lease, { type: 'update', leaseId: lease.id, recipe });
  }

  updateFields(lease: Lease, fields: Readonly<NodeChanges>): ResultAsync<NodeRecord, UpdateError> {
    return this.#askHolder(lease, { type: 'update', leaseId: lease.id, fields });
  }

  relabel(lease: Lease, purpose: string): ResultAsync<NodeRecord, UnlockError | NodeNotFound> {
    return this.#askHolder(lease, { type: 'relabel', leaseId: lease.id, purpose }).mapErr((error) => error as UnlockError | NodeNotFound);
  }

  destroy(lease: Lease): ResultAsync<void, UpdateError> {
    return this.#askHolder(lease, { type: 'destroy', leaseId: lease.id });
  }

  createPort(lease: Lease, fields: NewPort): ResultAsync<Port, UpdateError> {
    return this.#askHolder(lease, { type: 'createPort', leaseId: lease.id, fields });
  }

  createPortgroup(lease: Lease, fields: NewPortgroup): ResultAsync<Portgroup, UpdateError> {
    return this.#askHolder(lease, { type: 'createPortgroup', leaseId: lease.id, fields });
  }

  /**
   * Clear the reservation a dead conductor `tag` left on a node (Ironic's `Node.release` with the
   * dead host's tag), through the node's actor so that its snapshot follows.
   */
  releaseOrphan(
    nodeId: number,
    tag: string,
  ): ResultAsync<NodeRecord, NodeLocked | NodeNotLocked | NodeNotFound | InvalidIdentity | StoreError | TransportError> {
    const entry = this.#byId.get(nodeId);
    const target = entry ? okAsync(entry) : this.#load(nodeId);
    return target.andThen((loaded) => this.#ask(loaded, { type: 'releaseOrphan', tag }));
  }

  /** Create a node with its ports, atomically (loaded on first use, like every node: `Node.get` reads the store then). */
  createNode(fields: NewNode, ports: readonly NewPort[]): ResultAsync<NodeRecord, Duplicate | InvalidParameterValue | StoreError> {
    return this.#store.createNode(fields, ports).map((row) => freeze(row, true));
  }

  /** Nodes matching a (checked) filter, as stored, frozen. */
  listNodes(filter: NodeFilter): ResultAsync<readonly NodeRecord[], StoreError> {
    return this.#store.listNodes(filter).map((rows) => Object.freeze(rows.map((row) => freeze(row, true))));
  }

  refresh(nodeId: number): ResultAsync<NodeRecord, NodeNotFound | StoreError | TransportError> {
    const entry = this.#byId.get(nodeId);
    if (!entry)
      return this.#load(nodeId)
        .map((loaded) => loaded.snapshot as NodeRecord)
        .mapErr((e) => e as NodeNotFound | StoreError);
    return this.#ask(entry, { type: 'refresh' });
  }

  listPorts(nodeId: number): ResultAsync<Port[], StoreError> {
    return this.#store.listPorts(nodeId);
  }
  listPortgroups(nodeId: number): ResultAsync<Portgroup[], StoreError> {
    return this.#store.listPortgroups(nodeId);
  }
  listVolumeConnectors(nodeId: number): ResultAsync<VolumeConnector[], StoreError> {
    return this.#store.listVolumeConnectors(nodeId);
  }
  listVolumeTargets(nodeId: number): ResultAsync<VolumeTarget[], StoreError> {
    return this.#store.listVolumeTargets(nodeId);
  }

  // ---- management -----------------------------------------------------------------------------

  /** Loaded node actors with holder and waiters. */
  status(): NodeActorStatus[] {
    const now = this.#deps.clock.now();
    return [...this.#byId.values()].map((cell) => ({
      id: cell.id,
      uuid: cell.uuid,
      provisionState: cell.snapshot?.provision_state ?? null,
      holder: cell.holder ? { purpose: cell.holder.purpose, heldForMs: now - cell.holder.since, requestId: cell.holder.requestId } : null,
      waiters: cell.waiting,
    }));
  }

  /** Loaded node actors, those whose lock is held or waited for now, and the longest queue (one pass, no allocation per node). */
  lockFigures(): { loaded: number; active: number; worstWaiters: number } {
    let active = 0;
    let worstWaiters = 0;
    for (const cell of this.#byId.values()) {
      if (cell.holder !== null || cell.waiting > 0) active += 1;
      if (cell.waiting > worstWaiters) worstWaiters = cell.waiting;
    }
    return { loaded: this.#byId.size, active, worstWaiters };
  }

  /** Actor counters. */
  get stats(): { loaded: number; spawned: number; passivated: number } {
    return { loaded: this.#byId.size, spawned: this.#spawned, passivated: this.#passivated };
  }

  /** Stop passivating (the runtime stops the actors themselves). */
  close(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * The loaded entry for an identity, undefined if not loaded, or InvalidIdentity. Identities are
   * read by `parseIdentity`, the one definition every store uses too ("00001" is a name).
   */
  #cached(identity: NodeIdentity): NodeEntry | undefined | InvalidIdentity {
    const parsed = parseIdentity(identity);
    if (parsed.isErr()) return parsed.error;
    const key = parsed.value;
    if (key.kind === 'id') return this.#byId.get(key.id);
    if (key.kind === 'uuid') return this.#byUuid.get(key.uuid);
    return this.#byName.get(key.name);
  }

  #load(identity: NodeIdentity): ResultAsync<NodeEntry, NodeNotFound | InvalidIdentity | StoreError> {
    return this.#store.getNode(identity).map((row) => this.#ensure(row));
  }

  /**
   * Register a node just read from the store. Its actor is not spawned yet: an idle node is only
   * its snapshot (shared reads need nothing more); the actor is activated by the first message
   * (an exclusive request, a write) — Orleans-style activation, which nact lacks.
   */
  #ensure(row: NodeRecord): NodeEntry {
    const existing = this.#byId.get(row.id);
    if (existing) return existing;
    const entry: NodeEntry = {
      id: row.id,
      uuid: row.uuid,
      snapshot: freeze(row, true),
      holder: null,
      waiting: 0,
      name: row.name,
      ref: null,
      inflight: 0,
      lastActivity: this.#sinceStart(),
    };
    this.#byId.set(entry.id, entry);
    this.#byUuid.set(entry.uuid.toLowerCase(), entry);
    if (entry.name !== null) this.#byName.set(entry.name, entry);
    this.#idleChecks.set(entry, entry.lastActivity);
    return entry;
  }

  /**
   * The actor of an entry, activated on first use. An entry is activated at most once: after its
   * actor stopped (passivation, deletion) the entry is no longer registered, and messages to the
   * stopped actor become dead letters as usual.
   */
  #actor(entry: NodeEntry): ActorRef<NodeMessage> {
    if (entry.ref === null) {
      entry.ref = this.#deps.runtime.spawn(this.#deps.parent, `node-${entry.id}`, new NodeActor<NodeEntry>(entry, this.#host, entry));
      this.#spawned += 1;
    }
    return entry.ref;
  }

  /** Drop an entry and stop its actor (deleted node, or passivation). */
  #retire(entry: NodeEntry): void {
    this.#forget(entry);
    this.#passivated += 1;
    if (entry.ref !== null) this.#deps.runtime.stop(entry.ref);
  }

  #forget(entry: NodeEntry): void {
    const { id, uuid } = entry;
    if (this.#byId.get(id) === entry) this.#byId.delete(id);
    if (this.#byUuid.get(uuid.toLowerCase()) === entry) this.#byUuid.delete(uuid.toLowerCase());
    if (entry.name !== null && this.#byName.get(entry.name) === entry) this.#byName.delete(entry.name);
    this.#idleChecks.delete(entry);
  }

  #send(entry: NodeEntry, message: NodeMessage): boolean {
    // A node never activated cannot be once the runtime has shut down (spawn would throw).
    if (entry.ref === null && this.#deps.runtime.stopped) return false;
    entry.inflight += 1;
    if (this.#deps.runtime.tell(this.#actor(entry), message)) return true;
    entry.inflight -= 1;
    return false;
  }

  #ask<Q extends NodeMessage & Ask<unknown, unknown>>(
    entry: NodeEntry,
    message: Q,
    timeoutMs: number = this.config.askTimeout,
  ): ResultAsync<ReplyOf<Q>, ErrorOf<Q> | TransportError> {
    if (entry.ref === null && this.#deps.runtime.stopped) return errAsync(new ConductorStopping());
    entry.inflight += 1;
    const asked = this.#deps.runtime.ask(this.#actor(entry), message, { timeoutMs });
    return rethrowBugs(asked) as unknown as ResultAsync<ReplyOf<Q>, ErrorOf<Q> | TransportError>;
  }

  #askHolder<Q extends NodeMessage & Ask<unknown, unknown>>(
    lease: Lease,
    message: Q,
  ): ResultAsync<ReplyOf<Q>, ErrorOf<Q> | TransportError | LeaseNotFound> {
    const entry = this.#byId.get(lease.nodeId);
    if (!entry) return errAsync(new LeaseNotFound(lease.id));
    // The holder's own writes and release never time out: a timed-out write could still commit
    // later (it is queued), leaving the caller with a wrong picture. They still fail at once if
    // the node actor stops.
    return this.#ask(entry, message, Number.POSITIVE_INFINITY);
  }

  /**
   * Passivate entries quiet for `nodeIdleTimeout`: the oldest first, stopping at the first recent
   * one. Whether an activated one may stop is decided by its actor (its lock is idle) and the
   * in-flight count, when the passivate message is handled.
   */
  /** Milliseconds since the registry started (the idle bookkeeping's time). */
  #sinceStart(): number {
    return this.#deps.clock.now() - this.#startedAt;
  }

  #sweep(): void {
    const now = this.#sinceStart();
    const limit = now - this.config.nodeIdleTimeout;
    const requeue: NodeEntry[] = [];
    for (const [entry, queuedAt] of this.#idleChecks) {
      if (queuedAt >= limit) break;
      this.#idleChecks.delete(entry);
      // Active since it was queued: checked again one timeout from now.
      if (entry.lastActivity >= limit) {
        requeue.push(entry);
      } else if (entry.ref === null) {
        // Never activated: nothing to stop, just drop the cached snapshot.
        this.#forget(entry);
        this.#passivated += 1;
      } else {
        // Whether it may stop is decided in one place: its actor (the lock is idle) and `passivate`
        // (the message is the only one in flight). If it stays, it is checked again later.
        requeue.push(entry);
        this.#send(entry, { type: 'passivate' });
      }
    }
    for (const entry of requeue) if (this.#byId.get(entry.id) === entry) this.#idleChecks.set(entry, now);
  }
}

/** Untyped callers can send anything: check the request before it reaches the node's queue. */
function invalidLockRequest(request: LockRequest): InvalidParameterValue | null {
  if (typeof request.purpose !== 'string') return new InvalidParameterValue('purpose must be a string', { option: 'purpose' });
  if (typeof request.retry !== 'boolean') return new InvalidParameterValue('retry must be a boolean', { option: 'retry' });
  if (typeof request.patient !== 'boolean') return new InvalidParameterValue('patient must be a boolean', { option: 'patient' });
  if (request.signal !== undefined && !(request.signal instanceof AbortSignal)) {
    return new InvalidParameterValue('signal must be an AbortSignal', { option: 'signal' });
  }
  return null;
}

function asLockError(error: NodeNotFound | InvalidIdentity | StoreError): LockError {
  // Lock requests use integer ids, so InvalidIdentity means the node is gone.
  return error instanceof InvalidIdentity ? new NodeNotFound(String(error.details.identity)) : error;
}

/** A non-ConductorError coming back from an actor is a bug (e.g. a recipe that threw): rethrow it. */
function rethrowBugs<T, E>(result: ResultAsync<T, E>): ResultAsync<T, E> {
  return new ResultAsync(
    result.then((settled): Result<T, E> => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as the handler threw it
      if (settled.isErr() && !isConductorError(settled.error)) throw settled.error;
      return settled;
    }) as Promise<Result<T, E>>,
  );
}
