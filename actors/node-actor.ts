/**
 * The node actor: single writer of one node, and the interpreter of its lock arbiter.
 *
 * The lock rules (FIFO, hand-off, attempts against outside holders, the waiting budget) are the
 * pure `step` of src/locks/arbiter.ts. This actor feeds it events (requests, timers, store
 * results), runs the effects it returns (store calls, timers, settling callers) and publishes what
 * readers may see: the node's latest committed snapshot and the lock's holder and queue length, on
 * its `NodeCell`, which nothing else writes. Long work never runs here: handlers only await the
 * store.
 */
import { randomUUID } from 'node:crypto';
import { freeze, produce, type Draft } from 'immer';
import type { ConductorConfig } from '../src/config.js';
import {
  ConductorStopping,
  InvalidParameterValue,
  StoreError,
  LeaseNotFound,
  LockLost,
  NodeLocked,
  NodeNotFound,
  type NodeNotLocked,
} from '../src/errors.js';
import {
  isIdle,
  lockedBy,
  step,
  type FailReason,
  type LockedBy,
  type LockEffect,
  type LockEvent,
  type LockState,
  type ReleaseOutcome,
} from '../src/locks/arbiter.js';
import type { Logger } from '../src/logging.js';
import { PROTECTED_COLUMNS, type NodeRecord, type Port, type Portgroup } from '../src/node.js';
import type { Fence, NewPort, NewPortgroup, NodeChange, Store } from '../src/store/store.js';
import type { Clock, TimerHandle } from '../src/clock.js';
import type { Lease, UnlockError, UpdateError } from '../src/task/ports.js';
import type { Waiter } from './internal/waiter.js';
import type { ActorContext, Ask, Behavior, SupervisionDecision } from './runtime.js';

/** What readers see of a node: written by its actor only (and filled once by the registry on load). */
export interface NodeCell {
  readonly id: number;
  readonly uuid: string;
  /** Latest committed snapshot; null once the node was deleted. */
  snapshot: NodeRecord | null;
  /** Current exclusive holder. */
  holder: { readonly leaseId: string; readonly purpose: string; readonly since: number; readonly requestId: string } | null;
  /** Exclusive requests waiting. */
  waiting: number;
  /** A `waiters` message is on its way (shared store): further waiter notifications need no other one. */
  waitersChanged?: boolean;
}

/** Messages a node actor understands. */
export type NodeMessage =
  | { readonly type: 'acquire'; readonly waiter: Waiter }
  | { readonly type: 'expire'; readonly ticket: number }
  /** The retry timer of generation `generation` fired (stale once it was cancelled or re-armed). */
  | { readonly type: 'retry'; readonly generation: number }
  | { readonly type: 'forget'; readonly ticket: number }
  | { readonly type: 'passivate' }
  /** Another conductor committed a change of the node (shared store notification); null: changes may have been missed. */
  | { readonly type: 'remote'; readonly change: NodeChange | null }
  /** The conductors waiting for this node changed (shared store notification). */
  | { readonly type: 'waiters' }
  | ReleaseMessage
  | UpdateMessage
  | DestroyMessage
  | RelabelMessage
  | RefreshMessage
  | CreatePortMessage
  | CreatePortgroupMessage
  | ReleaseOrphanMessage;

/** Release the lease (ask). */
export interface ReleaseMessage extends Ask<void, UnlockError | NodeNotFound> {
  readonly type: 'release';
  readonly leaseId: string;
}
/** Apply an immer recipe, or set top-level fields (no draft: a saved transition), as the lease holder (ask). */
export type UpdateMessage = Ask<NodeRecord, UpdateError> & { readonly type: 'update'; readonly leaseId: string } & (
    | { readonly recipe: (draft: Draft<NodeRecord>) => void; readonly fields?: never }
    | { readonly fields: Readonly<Partial<NodeRecord>>; readonly recipe?: never }
  );
/** Delete the node as the lease holder (ask). */
export interface DestroyMessage extends Ask<void, UpdateError> {
  readonly type: 'destroy';
  readonly leaseId: string;
}
/** Change the purpose recorded for the current holder (ask). */
export interface RelabelMessage extends Ask<NodeRecord, UnlockError | NodeNotFound> {
  readonly type: 'relabel';
  readonly leaseId: string;
  readonly purpose: string;
}
/** Create a port of the node as the lease holder (ask). */
export interface CreatePortMessage extends Ask<Port, UpdateError> {
  readonly type: 'createPort';
  readonly leaseId: string;
  readonly fields: NewPort;
}
/** Create a portgroup of the node as the lease holder (ask). */
export interface CreatePortgroupMessage extends Ask<Portgroup, UpdateError> {
  readonly type: 'createPortgroup';
  readonly leaseId: string;
  readonly fields: NewPortgroup;
}
/** Clear a reservation left by a dead conductor `tag` (Ironic's orphan check), through this actor so the snapshot follows (ask). */
export interface ReleaseOrphanMessage extends Ask<NodeRecord, NodeLocked | NodeNotLocked | NodeNotFound | StoreError> {
  readonly type: 'releaseOrphan';
  readonly tag: string;
}
/** Re-read the node from the store (ask). */
export interface RefreshMessage extends Ask<NodeRecord, NodeNotFound> {
  readonly type: 'refresh';
}

/**
 * What a node actor needs from its surroundings: one object shared by every node actor of a
 * conductor (a node actor allocates no closures of its own). `K` is the host's key for the node.
 */
export interface NodeHost<K> {
  /** A guarded store (`guardStore`): the actor keeps lock state across calls, so none may throw. */
  readonly store: Store;
  readonly config: ConductorConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The lock state of a node nobody asked for yet (immutable, so shared). */
  readonly initialLock: LockState;
  /** Told how long each exclusive lock was held, in seconds, at its release (metrics); null: nobody listens. */
  readonly lockHeld: ((seconds: number) => void) | null;
  /** Send a message to the node's actor (timers and aborts come back through the mailbox). */
  send(key: K, message: NodeMessage): void;
  /** The node's name changed. */
  renamed(key: K, previous: string | null, current: string | null): void;
  /** The node was deleted: drop and stop its actor. */
  retire(key: K): void;
  /** The lock is idle: stop the actor unless a message to it is still in flight. */
  passivate(key: K): void;
  /** A message to the node's actor was handled. */
  handled(key: K): void;
}

/** Columns truncated to `logInDbMaxSize` on every write (Ironic `Node.save`). */
const TRUNCATED = new Set(['last_error', 'maintenance_reason']);

/**
 * A new frozen snapshot with some top-level fields replaced; everything else stays shared with the
 * previous one. The actor's own edits (reservation columns, timestamps) use this instead of immer:
 * they run on every grant and release. Callers' recipes still go through immer.
 */
function withChanges(node: NodeRecord, changes: Partial<NodeRecord>): NodeRecord {
  return Object.freeze({ ...node, ...changes });
}

const UNRESERVED: Partial<NodeRecord> = Object.freeze({
  reservation: null,
  reservation_purpose: null,
  reserved_at: null,
  reservation_token: null,
});

/**
 * The node actor of one node: its behaviour and its state in one object (the runtime hands the
 * state back to `handle`; it is this object). Methods live on the prototype, so an activated node
 * costs its fields, not a set of closures.
 */
export class NodeActor<K> implements Behavior<NodeActor<K>, NodeMessage> {
  readonly #cell: NodeCell;
  readonly #host: NodeHost<K>;
  readonly #key: K;
  #lock: LockState;
  /** The holder's lease (its id is the capability to write the node). */
  #lease: Lease | null = null;
  /** Callers with a ticket (queued, or being granted), oldest first; null when there are none. */
  #waiters: Waiter[] | null = null;
  #retryTimer: TimerHandle | null = null;
  /** Bumped whenever the retry timer is armed or cancelled: a `retry` message of another generation is stale. */
  #retryGeneration = 0;
  /** Set once the actor stopped: a store answer still in flight arms no timer any more. */
  #stopped = false;
  /** How the release in progress ended (set by the arbiter's `released` effect). */
  #released: ReleaseOutcome | null = null;
  /** The fencing token of our reservation (null: none). */
  #token: number | null = null;
  /**
   * The fence of the current holder's writes: the reservation it was granted under. It stays when
   * the reservation is lost (the store then refuses every write: LockLost), never becomes "no fence".
   */
  #holderFence: Fence | null = null;
  /** Aborted when the current lease's reservation is known lost (shared stores only). */
  #lost: AbortController | null = null;
  /** Since when this conductor is recorded as waiting for the node in the shared store (null: not recorded). */
  #waitingSince: number | null = null;
  /** The chain of those records' writes, so they reach the store in order. */
  #waitingWrite: Promise<void> = Promise.resolve();
  #log: Logger | null = null;
  /** `performance.now()` at the current holder's grant (read only when `lockHeld` is set). */
  #grantedAt = 0;

  constructor(cell: NodeCell, host: NodeHost<K>, key: K) {
    this.#cell = cell;
    this.#host = host;
    this.#key = key;
    this.#lock = host.initialLock;
  }

  initialState(): NodeActor<K> {
    return this;
  }

  async handle(_state: NodeActor<K>, message: NodeMessage, ctx: ActorContext<NodeMessage>): Promise<NodeActor<K>> {
    try {
      await this.#dispatch(message, ctx);
    } finally {
      this.#host.handled(this.#key);
    }
    return this;
  }

  /** A bug in a handler must not wedge the node: keep the lock state and go on. */
  onError(): SupervisionDecision {
    return 'resume';
  }

  afterStop(): void {
    this.#stopped = true;
    this.#cancelRetryTimer();
    for (const waiter of this.#waiters ?? []) waiter.fail(this.#stoppedError());
    this.#waiters = null;
  }

  /** An acquire that reaches a stopped actor must still settle its waiter. */
  onUndelivered(message: NodeMessage): void {
    if (message.type === 'acquire') message.waiter.fail(this.#stoppedError());
  }

  // ---- messages ---------------------------------------------------------------------------------

  async #dispatch(message: NodeMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    switch (message.type) {
      case 'acquire':
        return this.#onAcquire(message.waiter);
      case 'expire':
        return this.#run({ type: 'deadline', ticket: message.ticket });
      case 'retry':
        // A timer that fired just before it was cancelled or re-armed: its message is stale.
        if (message.generation !== this.#retryGeneration || this.#retryTimer !== null) return;
        return this.#run({ type: 'retry' });
      case 'forget':
        this.#takeWaiter(message.ticket);
        return this.#run({ type: 'abort', ticket: message.ticket });
      case 'release':
        return this.#onRelease(message, ctx);
      case 'update':
        return this.#onUpdate(message, ctx);
      case 'destroy':
        return this.#onDestroy(message, ctx);
      case 'relabel':
        return this.#onRelabel(message, ctx);
      case 'refresh':
        return this.#onRefresh(ctx);
      case 'createPort':
      case 'createPortgroup':
        return this.#onCreate(message, ctx);
      case 'releaseOrphan':
        return this.#onReleaseOrphan(message, ctx);
      case 'passivate':
        if (isIdle(this.#lock)) this.#host.passivate(this.#key);
        return;
      case 'remote':
        return this.#onRemote(message.change);
      case 'waiters':
        return this.#onWaiters();
      default:
        ctx.fail(new InvalidParameterValue('unknown node message', { type: (message as { type?: unknown }).type }));
    }
  }

  async #onAcquire(waiter: Waiter): Promise<void> {
    if (waiter.settled) return;
    if (this.#cell.snapshot === null) {
      waiter.fail(new NodeNotFound(this.#cell.uuid));
      return;
    }
    (this.#waiters ??= []).push(waiter);
    const { purpose, retry, patient, context } = waiter.request;
    await this.#run({ type: 'acquire', request: { ticket: waiter.ticket, purpose, retry, patient, requestId: context.requestId } });
  }

  async #onRelease(message: ReleaseMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const ticket = this.#holderTicket(message.leaseId);
    if (ticket === null) {
      ctx.fail(new LeaseNotFound(message.leaseId));
      return;
    }
    this.#released = null;
    // Held until the holder asked to release (the release's own store call is not holding time).
    const heldFor = this.#host.lockHeld === null ? 0 : performance.now() - this.#grantedAt;
    await this.#run({ type: 'release', ticket });
    const outcome = this.#released as ReleaseOutcome | null;
    this.#released = null;
    if (outcome === null || outcome.kind === 'ok') {
      this.#host.lockHeld?.(heldFor / 1000);
      ctx.reply(undefined);
    } else if (outcome.kind === 'notHolder') ctx.fail(new LeaseNotFound(message.leaseId));
    else if (outcome.kind === 'notFound') ctx.fail(new NodeNotFound(this.#cell.uuid));
    else ctx.fail(outcome.error);
  }

  async #onUpdate(message: UpdateMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const refused = this.#refuseWrite(message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    const current = this.#cell.snapshot as NodeRecord;
    const { recipe, fields } = message;
    const next =
      recipe === undefined
        ? withChanges(current, fields)
        : produce(current, (draft) => {
            const returned: unknown = recipe(draft);
            if (returned !== undefined) {
              // immer recipes run synchronously on a draft; an async recipe's writes would land on a
              // revoked proxy. A caller bug: thrown back to the caller.
              throw new TypeError('updateNode recipes must be synchronous and return nothing: do async work first, then change the draft');
            }
          });
    if (next === current) {
      ctx.reply(current);
      return;
    }
    const changes: Record<string, unknown> = {};
    let changed = 0;
    // Only the given fields can differ on the cheap path; a recipe may have changed any.
    for (const key of Object.keys(fields ?? next) as (keyof NodeRecord)[]) {
      if (next[key] === current[key]) continue;
      if (PROTECTED_COLUMNS.has(key)) {
        ctx.fail(new InvalidParameterValue(`field ${key} cannot be changed through an update`, { field: key }));
        return;
      }
      const value = next[key];
      // Ironic's Node.save truncates these to log_in_db_max_size, whoever writes them.
      changes[key] = TRUNCATED.has(key) && typeof value === 'string' ? value.slice(0, this.#host.config.logInDbMaxSize) : value;
      changed += 1;
    }
    if (changed === 0) {
      ctx.reply(current);
      return;
    }
    const saved = await this.#host.store.updateNode(this.#cell.id, changes, this.#fence());
    if (saved.isErr()) {
      await this.#onWriteFailed(saved.error);
      ctx.fail(saved.error);
      return;
    }
    const row = saved.value;
    // Publish what the store holds for the changed fields (JSON round-trip, truncation), so
    // shared readers never see a value a reload would not give them; the rest stays shared.
    const stored: Partial<NodeRecord> = {
      updated_at: row.updated_at,
      provision_updated_at: row.provision_updated_at,
      version: row.version,
    };
    for (const key of Object.keys(changes) as (keyof NodeRecord)[]) (stored as Record<string, unknown>)[key] = freeze(row[key], true);
    const committed = withChanges(next, stored);
    this.#publish(committed);
    ctx.reply(committed);
  }

  async #onDestroy(message: DestroyMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const refused = this.#refuseWrite(message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    const destroyed = await this.#host.store.destroyNode(this.#cell.id, this.#fence());
    if (destroyed.isErr()) {
      if (destroyed.error instanceof LockLost) await this.#lostReservation(destroyed.error);
      ctx.fail(destroyed.error);
      return;
    }
    this.#logger().info('node deleted');
    this.#cell.snapshot = null;
    await this.#run({ type: 'gone' });
    ctx.reply(undefined);
  }

  /** Ports and portgroups are created by the lease holder only, so a holder's cached lists stay right. */
  async #onCreate(message: CreatePortMessage | CreatePortgroupMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const refused = this.#refuseWrite(message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    if (typeof message.fields !== 'object' || message.fields === null) {
      ctx.fail(new InvalidParameterValue(`${message.type}: fields must be an object`, { field: null }));
      return;
    }
    const { store } = this.#host;
    const id = this.#cell.id;
    const fence = this.#fence();
    const created =
      message.type === 'createPort'
        ? await store.createPort(id, message.fields, fence)
        : await store.createPortgroup(id, message.fields, fence);
    if (created.isErr()) {
      await this.#onWriteFailed(created.error);
      ctx.fail(created.error);
      return;
    }
    ctx.reply(created.value);
  }

  async #onReleaseOrphan(message: ReleaseOrphanMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const snapshot = this.#cell.snapshot;
    if (snapshot === null) {
      ctx.fail(new NodeNotFound(this.#cell.uuid));
      return;
    }
    // Never take over from ourselves: a local holder or a hand-off in progress owns the row.
    if (this.#lock.holder !== null || this.#lock.reserved) {
      ctx.fail(this.#lockedError(lockedBy(this.#lock)));
      return;
    }
    const released = await this.#host.store.release(message.tag, this.#cell.id);
    if (released.isErr()) {
      if (released.error instanceof NodeNotFound) await this.#run({ type: 'gone' });
      ctx.fail(released.error);
      return;
    }
    this.#publish(withChanges(snapshot, { ...UNRESERVED, version: snapshot.version + 1 }));
    ctx.reply(this.#cell.snapshot);
    // Waiters facing the dead holder can go now.
    await this.#run({ type: 'outsideCleared' });
  }

  async #onRelabel(message: RelabelMessage, ctx: ActorContext<NodeMessage>): Promise<void> {
    const refused = this.#refuseWrite(message.leaseId);
    const holder = this.#lock.holder;
    if (refused !== null || holder === null) {
      ctx.fail(refused ?? new LeaseNotFound(message.leaseId));
      return;
    }
    const moved = await this.#host.store.transferReservation(
      this.#host.config.host,
      this.#cell.id,
      { purpose: message.purpose, at: new Date(holder.since) },
      this.#fence()?.token,
    );
    if (moved.isErr()) {
      if (moved.error instanceof LockLost) await this.#lostReservation(moved.error);
      ctx.fail(moved.error);
      return;
    }
    await this.#run({ type: 'relabel', ticket: holder.ticket, purpose: message.purpose });
    const before = this.#cell.snapshot as NodeRecord;
    this.#publish(
      withChanges(before, {
        reservation_purpose: message.purpose,
        reserved_at: new Date(holder.since).toISOString(),
        version: before.version + 1,
      }),
    );
    ctx.reply(this.#cell.snapshot);
  }

  async #onRefresh(ctx: ActorContext<NodeMessage>): Promise<void> {
    const got = await this.#host.store.getNode(this.#cell.id);
    if (got.isErr()) {
      if (got.error instanceof NodeNotFound) await this.#run({ type: 'gone' });
      ctx.fail(got.error);
      return;
    }
    this.#publish(freeze(got.value, true));
    ctx.reply(this.#cell.snapshot);
  }

  // ---- the arbiter's interpreter ------------------------------------------------------------------

  /** Feed `event` to the arbiter and run its effects until the lock is at rest, then publish. */
  async #run(event: LockEvent): Promise<void> {
    let next: LockEvent | null = event;
    while (next !== null) {
      const stepped = step(this.#lock, next, this.#host.clock.now());
      this.#lock = stepped.state;
      next = null;
      for (const effect of stepped.effects) {
        const answer = this.#perform(effect);
        // The arbiter emits at most one store effect per step, as its last effect.
        if (answer !== null) next = answer instanceof Promise ? await answer : answer;
      }
    }
    const cell = this.#cell;
    const lock = this.#lock;
    if (lock.gone) cell.snapshot = null;
    const holder = lock.holder;
    if (holder === null) {
      this.#lease = null;
      this.#holderFence = null;
    }
    const lease = this.#lease;
    if (holder === null || lease === null) cell.holder = null;
    else if (cell.holder?.leaseId !== lease.id || cell.holder.purpose !== holder.purpose) {
      // A new object only when the holder changed (not on every message the holder sends).
      cell.holder = { leaseId: lease.id, purpose: holder.purpose, since: holder.since, requestId: holder.requestId };
    }
    cell.waiting = lock.queue.length;
    if (this.#host.store.coordination !== undefined) this.#recordWaiting();
  }

  /** Run one effect; a store effect or a refused grant answers with the next event. */
  #perform(effect: LockEffect): LockEvent | Promise<LockEvent> | null {
    switch (effect.type) {
      case 'reserve':
        return this.#reserve(effect.purpose, effect.at);
      case 'transfer':
        return this.#transfer(effect.purpose, effect.at);
      case 'clear':
        return this.#clear();
      case 'handOver':
        return this.#handOver(effect.to);
      case 'grant': {
        const waiter = this.#takeWaiter(effect.ticket);
        const snapshot = this.#cell.snapshot;
        // Aborted while we reserved: the arbiter hands the lock on.
        if (waiter === undefined || waiter.settled || snapshot === null) return { type: 'abort', ticket: effect.ticket };
        // Kept for the holder's writes on a shared store (where the reservation can be lost under it);
        // the embedded store has one process, so its current token is the holder's (no allocation per grant).
        this.#holderFence =
          this.#token === null || this.#host.store.coordination === undefined ? null : { tag: this.#host.config.host, token: this.#token };
        // Unguessable: a lease id is the holder's capability to write the node.
        const lease: Lease =
          this.#host.store.coordination === undefined
            ? { id: randomUUID(), nodeId: this.#cell.id, node: snapshot, grantedAt: effect.at }
            : { id: randomUUID(), nodeId: this.#cell.id, node: snapshot, grantedAt: effect.at, lost: this.#newLossSignal() };
        this.#lease = lease;
        if (this.#host.lockHeld !== null) this.#grantedAt = performance.now();
        waiter.grant(lease);
        return null;
      }
      case 'fail':
        this.#takeWaiter(effect.ticket)?.fail(this.#failure(effect.reason));
        return null;
      case 'armDeadline': {
        if (this.#stopped) return null;
        const { ticket } = effect;
        this.#waiters
          ?.find((waiter) => waiter.ticket === ticket)
          ?.armTimer(() => this.#host.send(this.#key, { type: 'expire', ticket }), effect.delayMs);
        return null;
      }
      case 'armRetry': {
        if (this.#stopped) return null;
        this.#cancelRetryTimer();
        const generation = this.#retryGeneration;
        this.#retryTimer = this.#host.clock.setTimeout(() => {
          this.#retryTimer = null;
          this.#host.send(this.#key, { type: 'retry', generation });
        }, effect.delayMs);
        return null;
      }
      case 'cancelRetry':
        this.#cancelRetryTimer();
        return null;
      case 'released':
        this.#released = effect.outcome;
        return null;
      case 'retire':
        this.#cell.snapshot = null;
        this.#host.retire(this.#key);
        return null;
    }
  }

  // ---- the store effects: each answers with the arbiter event its result means ----

  async #reserve(purpose: string, at: number): Promise<LockEvent> {
    const got = await this.#host.store.reserve(this.#host.config.host, this.#cell.id, { purpose, at: new Date(at) });
    if (got.isOk()) {
      this.#token = got.value.reservation_token;
      this.#publish(freeze(got.value, true));
      return { type: 'reserved' };
    }
    if (got.error instanceof NodeLocked) {
      // Refused because the row already names us: another conductor handed it to us meanwhile.
      if (got.error.holder.host === this.#host.config.host && this.#token === null && (await this.#adoptRow())) return { type: 'reserved' };
      return { type: 'reserveRefused', holder: got.error.holder };
    }
    if (got.error instanceof NodeNotFound) return { type: 'gone' };
    return { type: 'reserveFailed', error: got.error };
  }

  async #transfer(purpose: string, at: number): Promise<LockEvent> {
    const host = this.#host.config.host;
    if (this.#host.store.coordination !== undefined) {
      // A shared store: the reservation (tag and token) stays ours from one local holder to the
      // next, so the hand-off writes nothing (a commit per grant would bound the whole queue);
      // the row keeps the purpose and time of the first holder, status() shows the current one.
      const snapshot = this.#cell.snapshot;
      if (snapshot !== null)
        this.#publish(withChanges(snapshot, { reservation_purpose: purpose, reserved_at: new Date(at).toISOString() }));
      return { type: 'transferred' };
    }
    const moved = await this.#host.store.transferReservation(host, this.#cell.id, { purpose, at: new Date(at) }, this.#token ?? undefined);
    if (moved.isOk()) {
      const snapshot = this.#cell.snapshot;
      if (snapshot !== null) {
        this.#publish(
          withChanges(snapshot, {
            reservation: host,
            reservation_purpose: purpose,
            reserved_at: new Date(at).toISOString(),
            // The store bumps the version by one; a notification of a newer one makes us re-read.
            version: snapshot.version + 1,
          }),
        );
      }
      return { type: 'transferred' };
    }
    if (moved.error instanceof NodeNotFound) return { type: 'gone' };
    if (moved.error instanceof LockLost) this.#lockLost(moved.error);
    this.#logger().warn({ err: moved.error }, 'reservation hand-off failed; reserving again');
    return { type: 'transferRefused', error: moved.error };
  }

  async #clear(): Promise<LockEvent> {
    const released = await this.#host.store.release(this.#host.config.host, this.#cell.id, this.#token ?? undefined);
    if (released.isOk()) {
      this.#token = null;
      const snapshot = this.#cell.snapshot;
      if (snapshot !== null) this.#publish(withChanges(snapshot, { ...UNRESERVED, version: snapshot.version + 1 }));
      return { type: 'cleared' };
    }
    if (released.error instanceof NodeNotFound) return { type: 'gone' };
    if (released.error instanceof LockLost) {
      // Taken over while we held it: nothing of ours to clear.
      this.#lockLost(released.error);
      this.#token = null;
      return { type: 'clearFailed', error: released.error, retriable: false };
    }
    if (released.error instanceof StoreError) {
      this.#logger().warn({ err: released.error }, 'clearing the reservation failed; retrying');
      return { type: 'clearFailed', error: released.error, retriable: true };
    }
    this.#logger().error({ err: released.error }, 'reservation changed behind our back before release');
    return { type: 'clearFailed', error: released.error, retriable: false };
  }

  // ---- a shared store: fencing and other conductors' commits --------------------------------------

  /** The fence of the holder's writes (the embedded store, where no other process writes, may have none). */
  #fence(): Fence | undefined {
    if (this.#holderFence !== null) return this.#holderFence;
    if (this.#token !== null) return { tag: this.#host.config.host, token: this.#token };
    // A shared store: a write under a lease is never unconditioned; no token matches this one.
    return this.#host.store.coordination === undefined ? undefined : { tag: this.#host.config.host, token: -1 };
  }

  /** A fresh loss signal for a new lease (the previous lease's one is dropped). */
  #newLossSignal(): AbortSignal {
    this.#lost = new AbortController();
    return this.#lost.signal;
  }

  /** A holder's write failed: the node is gone, or our reservation was taken over. */
  async #onWriteFailed(error: unknown): Promise<void> {
    if (error instanceof NodeNotFound) await this.#run({ type: 'gone' });
    else if (error instanceof LockLost) await this.#lostReservation(error);
  }

  /** The row no longer holds our reservation: stop the holder's work and let nobody be handed it. */
  async #lostReservation(error: LockLost): Promise<void> {
    this.#lockLost(error);
    this.#token = null;
    await this.#run({ type: 'lockLost' });
  }

  /** Our reservation was taken over (we were presumed dead): stop the holder's work; its writes are refused by the fence. */
  #lockLost(error: LockLost): void {
    const lost = this.#lost;
    if (lost !== null && !lost.signal.aborted) {
      this.#logger().warn({ err: error }, 'the exclusive lock was lost (taken over while this conductor was unresponsive)');
      lost.abort(error);
    }
  }

  /**
   * Another conductor committed a change of the node (or it is our own, heard back), or `null`:
   * notifications may have been missed (the store reconnected). Newer than our snapshot: re-read
   * it, so shared readers see the commit; a reservation taken from us is a lost lock; a cleared
   * reservation wakes our waiters at once instead of at their next retry.
   */
  async #onRemote(change: NodeChange | null): Promise<void> {
    const snapshot = this.#cell.snapshot;
    if (snapshot === null) return;
    const host = this.#host.config.host;
    if (
      change !== null &&
      change.reservation === host &&
      change.token !== this.#token &&
      !this.#lock.reserved &&
      // Newer than what we hold, or just loaded with it (the node was not in memory when it came).
      (change.version > snapshot.version || (snapshot.reservation === host && snapshot.reservation_token === change.token))
    ) {
      // Handed to us by the conductor that held it (cross-process FIFO): ours for our head, or to clear.
      if (await this.#adoptRow(change.version === snapshot.version)) await this.#run({ type: 'adopted' });
      return;
    }
    // A deletion carries the row's last version (not bumped): it is news whatever version we hold.
    if (change?.deleted === true) {
      await this.#run({ type: 'gone' });
      return;
    }
    if (change !== null && change.version <= snapshot.version) return;
    const waitingOutside = this.#lock.queue.length > 0 && !this.#lock.reserved && this.#lock.holder === null;
    if (change !== null && change.reservation === null && waitingOutside) {
      // The head reserves at once; its reserve returns the row.
      await this.#run({ type: 'outsideCleared' });
      if ((this.#cell.snapshot?.version ?? Number.POSITIVE_INFINITY) >= change.version) return;
    }
    const current = this.#cell.snapshot;
    if (change?.lock !== undefined && current !== null && change.version === current.version + 1) {
      // Only the reservation changed, and it is the next version of ours: patch it, no read.
      await this.#checkStillOurs(change.reservation, change.token);
      this.#publish(
        withChanges(current, {
          reservation: change.reservation,
          reservation_purpose: change.lock.purpose,
          reserved_at: change.lock.reservedAt,
          reservation_token: change.token,
          version: change.version,
        }),
      );
      if (change.reservation === null && this.#lock.queue.length > 0 && !this.#lock.reserved) await this.#run({ type: 'outsideCleared' });
      return;
    }
    const got = await this.#host.store.getNode(this.#cell.id);
    if (got.isErr()) {
      if (got.error instanceof NodeNotFound) await this.#run({ type: 'gone' });
      else this.#logger().warn({ err: got.error }, "re-reading the node after another conductor's change failed");
      return;
    }
    const row = got.value;
    await this.#checkStillOurs(row.reservation, row.reservation_token);
    // A read that overtook a newer commit is replaced when that commit's notification comes.
    const latest = this.#cell.snapshot;
    if (latest !== null && row.version > latest.version) this.#publish(freeze(row, true));
    if (row.reservation === null && this.#lock.queue.length > 0 && !this.#lock.reserved) await this.#run({ type: 'outsideCleared' });
  }

  /** A commit shows the node held as `reservation`/`token`: if we hold a reservation and that is not it, it was taken over. */
  async #checkStillOurs(reservation: string | null, token: number | null): Promise<void> {
    const host = this.#host.config.host;
    if (this.#token === null || (reservation === host && token === this.#token)) return;
    await this.#lostReservation(new LockLost(this.#cell.uuid, { host, token: this.#token }, { host: reservation, token }));
  }

  /** Re-read the row (unless `current`: the snapshot is that row); if it names us with a token we do not hold yet, take it as ours. */
  async #adoptRow(current = false): Promise<boolean> {
    let row = this.#cell.snapshot;
    if (!current || row === null) {
      const got = await this.#host.store.getNode(this.#cell.id);
      if (got.isErr()) return false;
      row = got.value;
    }
    if (row.reservation !== this.#host.config.host || row.reservation_token === null || row.reservation_token === this.#token) return false;
    this.#token = row.reservation_token;
    // The hand-over removed our waiter row in the same statement.
    this.#waitingSince = null;
    this.#publish(freeze(row, true));
    return true;
  }

  /** Hand our reservation to the conductor that has waited longest (the arbiter's `handOver`). */
  async #handOver(to: string): Promise<LockEvent> {
    const coordination = this.#host.store.coordination;
    const fence = this.#fence();
    if (coordination === undefined || fence === undefined) return { type: 'handOverRefused', lost: false };
    const handed = await coordination.handOver(fence, this.#cell.id, to, { purpose: `handed over by ${fence.tag}` });
    if (handed.isOk()) {
      this.#token = null;
      this.#publish(freeze(handed.value, true));
      return { type: 'handedOver' };
    }
    if (handed.error instanceof NodeNotFound) return { type: 'gone' };
    if (handed.error instanceof LockLost) {
      this.#lockLost(handed.error);
      this.#token = null;
      return { type: 'handOverRefused', lost: true };
    }
    // Not answered (a timeout: it may have committed) or refused (the waiter left): what does the row say?
    const got = await this.#host.store.getNode(this.#cell.id);
    if (got.isOk() && got.value.reservation === fence.tag && got.value.reservation_token === fence.token) {
      this.#logger().info({ err: handed.error, to }, 'the reservation was not handed over; releasing as usual');
      return { type: 'handOverRefused', lost: false };
    }
    this.#token = null;
    if (got.isOk()) {
      this.#publish(freeze(got.value, true));
      if (got.value.reservation === to) return { type: 'handedOver' };
    }
    return { type: 'handOverRefused', lost: true };
  }

  /** The conductors waiting for the node changed: tell the arbiter the oldest one other than us. */
  async #onWaiters(): Promise<void> {
    // Changes heard from now on need another read; those before are covered by this one.
    this.#cell.waitersChanged = false;
    const coordination = this.#host.store.coordination;
    if (coordination === undefined || this.#cell.snapshot === null) return;
    const listed = await coordination.waitersOf(this.#cell.id);
    if (listed.isErr()) {
      this.#logger().warn({ err: listed.error }, 'reading the conductors waiting for the node failed');
      return;
    }
    const self = this.#host.config.host;
    const oldest = listed.value.find((waiter) => waiter.host !== self);
    await this.#run({ type: 'outsideWaiter', waiter: oldest === undefined ? null : { host: oldest.host, since: oldest.since } });
  }

  /**
   * Record in the shared store whether we wait for a holder elsewhere (refused at least once) and
   * since when our oldest request does, so that holder can hand the node to us in turn.
   */
  #recordWaiting(): void {
    const lock = this.#lock;
    const head = lock.queue[0];
    const facingOutside = head !== undefined && lock.outsideHolder !== null && !lock.reserved && lock.holder === null && !lock.gone;
    const since = facingOutside ? head.arrivedAt : null;
    if ((since === null) === (this.#waitingSince === null)) return;
    this.#waitingSince = since;
    const coordination = this.#host.store.coordination;
    if (coordination === undefined) return;
    const id = this.#cell.id;
    const host = this.#host.config.host;
    this.#waitingWrite = this.#waitingWrite.then(async () => {
      const written = await coordination.setWaiting(id, host, since);
      if (written.isErr()) this.#logger().warn({ err: written.error }, 'recording that this conductor waits for the node failed');
    });
  }

  // ---- helpers --------------------------------------------------------------------------------

  #publish(node: NodeRecord): void {
    const previous = this.#cell.snapshot?.name ?? null;
    this.#cell.snapshot = node;
    if (node.name !== previous) this.#host.renamed(this.#key, previous, node.name);
  }

  /** Clear the retry timer, if armed, and make any `retry` message already sent stale. */
  #cancelRetryTimer(): void {
    if (this.#retryTimer !== null) this.#host.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#retryGeneration += 1;
  }

  /** Remove and return the waiter of a ticket (the list is short: one entry per queued caller). */
  #takeWaiter(ticket: number): Waiter | undefined {
    const waiters = this.#waiters;
    if (waiters === null) return undefined;
    const index = waiters.findIndex((waiter) => waiter.ticket === ticket);
    if (index < 0) return undefined;
    const [waiter] = waiters.splice(index, 1);
    if (waiters.length === 0) this.#waiters = null;
    return waiter;
  }

  /** The node's logger, made on first use (most nodes never log). */
  #logger(): Logger {
    return (this.#log ??= this.#host.logger.child({ node: this.#cell.uuid }));
  }

  #lockedError(by: LockedBy): NodeLocked {
    const host = this.#host.config.host;
    return by.kind === 'local'
      ? new NodeLocked(this.#cell.uuid, { host, purpose: by.purpose, heldForMs: this.#host.clock.now() - by.since })
      : new NodeLocked(this.#cell.uuid, by.holder ?? { host: this.#cell.snapshot?.reservation ?? host });
  }

  #failure(reason: FailReason): NodeLocked | NodeNotFound | StoreError {
    if (reason.kind === 'locked') return this.#lockedError(reason.by);
    if (reason.kind === 'notFound') return new NodeNotFound(this.#cell.uuid);
    return reason.error instanceof StoreError ? reason.error : new StoreError('reserve', reason.error);
  }

  /** The arbiter's ticket of the lease a message names, or null if it is not the current lease. */
  #holderTicket(leaseId: string): number | null {
    return this.#lease?.id === leaseId ? (this.#lock.holder?.ticket ?? null) : null;
  }

  /** Check a holder's write: the current lease, on a node that still exists. */
  #refuseWrite(leaseId: string): NodeNotFound | LeaseNotFound | null {
    if (this.#cell.snapshot === null) return new NodeNotFound(this.#cell.uuid);
    return this.#holderTicket(leaseId) === null ? new LeaseNotFound(leaseId) : null;
  }

  #stoppedError(): NodeNotFound | ConductorStopping {
    return this.#cell.snapshot === null ? new NodeNotFound(this.#cell.uuid) : new ConductorStopping();
  }
}
