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
  NodeLocked,
  NodeNotFound,
  type NodeNotLocked,
} from '../src/errors.js';
import {
  initialLockState,
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
import type { NewPort, NewPortgroup, Store } from '../src/store/store.js';
import type { Clock, TimerHandle } from '../src/clock.js';
import type { Lease, UnlockError, UpdateError } from '../src/task/ports.js';
import type { Waiter } from './internal/waiter.js';
import type { ActorContext, Ask, Behavior } from './runtime.js';

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
  /** The lock needs nothing from the actor (no holder, waiter, reservation, timer): it may passivate. */
  idle: boolean;
}

/** Messages a node actor understands. */
export type NodeMessage =
  | { readonly type: 'acquire'; readonly waiter: Waiter }
  | { readonly type: 'expire'; readonly ticket: number }
  | { readonly type: 'retry' }
  | { readonly type: 'forget'; readonly ticket: number }
  | { readonly type: 'passivate' }
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
/** Apply an immer recipe as the lease holder (ask). */
export interface UpdateMessage extends Ask<NodeRecord, UpdateError> {
  readonly type: 'update';
  readonly leaseId: string;
  readonly recipe: (draft: Draft<NodeRecord>) => void;
}
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

/** What the node actor needs from its surroundings. */
export interface NodeActorDeps {
  /** A guarded store (`guardStore`): the actor keeps lock state across calls, so none may throw. */
  readonly store: Store;
  readonly config: ConductorConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Send a message to this actor (timers and aborts come back through the mailbox). */
  send(message: NodeMessage): void;
  /** The node's name changed. */
  renamed(previous: string | null, current: string | null): void;
  /** The node was deleted: drop and stop this actor. */
  retire(): void;
  /** The lock is idle: stop this actor unless a message to it is still in flight. */
  passivate(): void;
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

const UNRESERVED: Partial<NodeRecord> = Object.freeze({ reservation: null, reservation_purpose: null, reserved_at: null });

/** Mutable state of one node actor (owned by its handler only). */
interface NodeActorState {
  lock: LockState;
  /** The holder's lease (its id is the capability to write the node). */
  lease: Lease | null;
  /** Callers with a ticket: queued, or being granted. */
  readonly waiters: Map<number, Waiter>;
  retryTimer: TimerHandle | null;
  /** How the release in progress ended (set by the arbiter's `released` effect). */
  released: ReleaseOutcome | null;
}

/** Build the behavior of a node actor publishing on `cell`. */
export function nodeActorBehavior(cell: NodeCell, deps: NodeActorDeps): Behavior<NodeActorState, NodeMessage> {
  const log = deps.logger.child({ node: cell.uuid });
  const { config, store, clock } = deps;
  const host = config.host;
  const id = cell.id;

  const publish = (node: NodeRecord): void => {
    const previous = cell.snapshot?.name ?? null;
    cell.snapshot = node;
    if (node.name !== previous) deps.renamed(previous, node.name);
  };

  const lockedError = (by: LockedBy): NodeLocked =>
    by.kind === 'local'
      ? new NodeLocked(cell.uuid, { host, purpose: by.purpose, heldForMs: clock.now() - by.since })
      : new NodeLocked(cell.uuid, by.holder ?? { host: cell.snapshot?.reservation ?? host });

  const failure = (reason: FailReason): NodeLocked | NodeNotFound | StoreError => {
    if (reason.kind === 'locked') return lockedError(reason.by);
    if (reason.kind === 'notFound') return new NodeNotFound(cell.uuid);
    return reason.error instanceof StoreError ? reason.error : new StoreError('reserve', reason.error);
  };

  // ---- the store effects: each answers with the arbiter event its result means ----

  const reserve = async (purpose: string, at: number): Promise<LockEvent> => {
    const got = await store.reserve(host, id, { purpose, at: new Date(at) });
    if (got.isOk()) {
      publish(freeze(got.value, true));
      return { type: 'reserved' };
    }
    if (got.error instanceof NodeLocked) return { type: 'reserveRefused', holder: got.error.holder };
    if (got.error instanceof NodeNotFound) return { type: 'gone' };
    return { type: 'reserveFailed', error: got.error };
  };

  const transfer = async (purpose: string, at: number): Promise<LockEvent> => {
    const moved = await store.transferReservation(host, id, { purpose, at: new Date(at) });
    if (moved.isOk()) {
      if (cell.snapshot !== null) {
        publish(withChanges(cell.snapshot, { reservation: host, reservation_purpose: purpose, reserved_at: new Date(at).toISOString() }));
      }
      return { type: 'transferred' };
    }
    if (moved.error instanceof NodeNotFound) return { type: 'gone' };
    log.warn({ err: moved.error }, 'reservation hand-off failed; reserving again');
    return { type: 'transferRefused', error: moved.error };
  };

  const clear = async (): Promise<LockEvent> => {
    const released = await store.release(host, id);
    if (released.isOk()) {
      if (cell.snapshot !== null) publish(withChanges(cell.snapshot, UNRESERVED));
      return { type: 'cleared' };
    }
    if (released.error instanceof NodeNotFound) return { type: 'gone' };
    if (released.error instanceof StoreError) {
      log.warn({ err: released.error }, 'clearing the reservation failed; retrying');
      return { type: 'clearFailed', error: released.error, retriable: true };
    }
    log.error({ err: released.error }, 'reservation changed behind our back before release');
    return { type: 'clearFailed', error: released.error, retriable: false };
  };

  /** Run one effect; a store effect or a refused grant answers with the next event. */
  const perform = (state: NodeActorState, effect: LockEffect): LockEvent | Promise<LockEvent> | null => {
    switch (effect.type) {
      case 'reserve':
        return reserve(effect.purpose, effect.at);
      case 'transfer':
        return transfer(effect.purpose, effect.at);
      case 'clear':
        return clear();
      case 'grant': {
        const waiter = state.waiters.get(effect.ticket);
        state.waiters.delete(effect.ticket);
        // Aborted while we reserved: the arbiter hands the lock on.
        if (waiter === undefined || waiter.settled || cell.snapshot === null) return { type: 'abort', ticket: effect.ticket };
        // Unguessable: a lease id is the holder's capability to write the node.
        const lease: Lease = { id: randomUUID(), nodeId: id, node: cell.snapshot, grantedAt: effect.at };
        state.lease = lease;
        waiter.grant(lease);
        return null;
      }
      case 'fail': {
        state.waiters.get(effect.ticket)?.fail(failure(effect.reason));
        state.waiters.delete(effect.ticket);
        return null;
      }
      case 'armDeadline': {
        const ticket = effect.ticket;
        state.waiters.get(ticket)?.armTimer(() => deps.send({ type: 'expire', ticket }), effect.delayMs);
        return null;
      }
      case 'armRetry':
        state.retryTimer = clock.setTimeout(() => {
          state.retryTimer = null;
          deps.send({ type: 'retry' });
        }, effect.delayMs);
        return null;
      case 'cancelRetry':
        if (state.retryTimer !== null) clock.clearTimeout(state.retryTimer);
        state.retryTimer = null;
        return null;
      case 'released':
        state.released = effect.outcome;
        return null;
      case 'retire':
        cell.snapshot = null;
        deps.retire();
        return null;
    }
  };

  /** Feed `event` to the arbiter and run its effects until the lock is at rest, then publish. */
  const run = async (state: NodeActorState, event: LockEvent): Promise<void> => {
    let next: LockEvent | null = event;
    while (next !== null) {
      const stepped = step(state.lock, next, clock.now());
      state.lock = stepped.state;
      next = null;
      for (const effect of stepped.effects) {
        const answer = perform(state, effect);
        // The arbiter emits at most one store effect per step, as its last effect.
        if (answer !== null) next = answer instanceof Promise ? await answer : answer;
      }
    }
    if (state.lock.gone) cell.snapshot = null;
    const holder = state.lock.holder;
    if (holder === null) state.lease = null;
    cell.holder =
      holder === null || state.lease === null
        ? null
        : { leaseId: state.lease.id, purpose: holder.purpose, since: holder.since, requestId: holder.requestId };
    cell.waiting = state.lock.queue.length;
    cell.idle = isIdle(state.lock);
  };

  /** The arbiter's ticket of the lease a message names, or null if it is not the current lease. */
  const holderTicket = (state: NodeActorState, leaseId: string): number | null =>
    state.lease?.id === leaseId ? (state.lock.holder?.ticket ?? null) : null;

  /** Check a holder's write: the current lease, on a node that still exists. */
  const refuseWrite = (state: NodeActorState, leaseId: string): NodeNotFound | LeaseNotFound | null => {
    if (cell.snapshot === null) return new NodeNotFound(cell.uuid);
    return holderTicket(state, leaseId) === null ? new LeaseNotFound(leaseId) : null;
  };

  const onAcquire = async (state: NodeActorState, waiter: Waiter): Promise<void> => {
    if (waiter.settled) return;
    if (cell.snapshot === null) {
      waiter.fail(new NodeNotFound(cell.uuid));
      return;
    }
    state.waiters.set(waiter.ticket, waiter);
    const { purpose, retry, patient, context } = waiter.request;
    await run(state, { type: 'acquire', request: { ticket: waiter.ticket, purpose, retry, patient, requestId: context.requestId } });
  };

  const onRelease = async (state: NodeActorState, message: ReleaseMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const ticket = holderTicket(state, message.leaseId);
    if (ticket === null) {
      ctx.fail(new LeaseNotFound(message.leaseId));
      return;
    }
    state.released = null;
    await run(state, { type: 'release', ticket });
    const outcome = state.released as ReleaseOutcome | null;
    state.released = null;
    if (outcome === null || outcome.kind === 'ok') ctx.reply(undefined);
    else if (outcome.kind === 'notHolder') ctx.fail(new LeaseNotFound(message.leaseId));
    else if (outcome.kind === 'notFound') ctx.fail(new NodeNotFound(cell.uuid));
    else ctx.fail(outcome.error);
  };

  const onUpdate = async (state: NodeActorState, message: UpdateMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const refused = refuseWrite(state, message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    const current = cell.snapshot as NodeRecord;
    const next = produce(current, (draft) => {
      const returned: unknown = message.recipe(draft);
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
    for (const key of Object.keys(next) as (keyof NodeRecord)[]) {
      if (next[key] === current[key]) continue;
      if (PROTECTED_COLUMNS.has(key)) {
        ctx.fail(new InvalidParameterValue(`field ${key} cannot be changed through an update`, { field: key }));
        return;
      }
      const value = next[key];
      // Ironic's Node.save truncates these to log_in_db_max_size, whoever writes them.
      changes[key] = TRUNCATED.has(key) && typeof value === 'string' ? value.slice(0, config.logInDbMaxSize) : value;
    }
    const saved = await store.updateNode(id, changes);
    if (saved.isErr()) {
      if (saved.error instanceof NodeNotFound) await run(state, { type: 'gone' });
      ctx.fail(saved.error);
      return;
    }
    const row = saved.value;
    // Publish what the store holds for the changed fields (JSON round-trip, truncation), so
    // shared readers never see a value a reload would not give them; the rest stays shared.
    const stored: Partial<NodeRecord> = { updated_at: row.updated_at, provision_updated_at: row.provision_updated_at };
    for (const key of Object.keys(changes) as (keyof NodeRecord)[]) (stored as Record<string, unknown>)[key] = freeze(row[key], true);
    const committed = withChanges(next, stored);
    publish(committed);
    ctx.reply(committed);
  };

  const onDestroy = async (state: NodeActorState, message: DestroyMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const refused = refuseWrite(state, message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    const destroyed = await store.destroyNode(id);
    if (destroyed.isErr()) {
      ctx.fail(destroyed.error);
      return;
    }
    log.info('node deleted');
    cell.snapshot = null;
    await run(state, { type: 'gone' });
    ctx.reply(undefined);
  };

  /** Ports and portgroups are created by the lease holder only, so a holder's cached lists stay right. */
  const onCreate = async (
    state: NodeActorState,
    message: CreatePortMessage | CreatePortgroupMessage,
    ctx: ActorContext<NodeMessage>,
  ): Promise<void> => {
    const refused = refuseWrite(state, message.leaseId);
    if (refused !== null) {
      ctx.fail(refused);
      return;
    }
    if (typeof message.fields !== 'object' || message.fields === null) {
      ctx.fail(new InvalidParameterValue(`${message.type}: fields must be an object`, { field: null }));
      return;
    }
    const created =
      message.type === 'createPort' ? await store.createPort(id, message.fields) : await store.createPortgroup(id, message.fields);
    if (created.isErr()) {
      if (created.error instanceof NodeNotFound) await run(state, { type: 'gone' });
      ctx.fail(created.error);
      return;
    }
    ctx.reply(created.value);
  };

  const onReleaseOrphan = async (state: NodeActorState, message: ReleaseOrphanMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    if (cell.snapshot === null) {
      ctx.fail(new NodeNotFound(cell.uuid));
      return;
    }
    // Never take over from ourselves: a local holder or a hand-off in progress owns the row.
    if (state.lock.holder !== null || state.lock.reserved) {
      ctx.fail(lockedError(lockedBy(state.lock)));
      return;
    }
    const released = await store.release(message.tag, id);
    if (released.isErr()) {
      if (released.error instanceof NodeNotFound) await run(state, { type: 'gone' });
      ctx.fail(released.error);
      return;
    }
    publish(withChanges(cell.snapshot, UNRESERVED));
    ctx.reply(cell.snapshot);
    // Waiters facing the dead holder can go now.
    await run(state, { type: 'outsideCleared' });
  };

  const onRelabel = async (state: NodeActorState, message: RelabelMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const refused = refuseWrite(state, message.leaseId);
    const holder = state.lock.holder;
    if (refused !== null || holder === null) {
      ctx.fail(refused ?? new LeaseNotFound(message.leaseId));
      return;
    }
    const moved = await store.transferReservation(host, id, { purpose: message.purpose, at: new Date(holder.since) });
    if (moved.isErr()) {
      ctx.fail(moved.error);
      return;
    }
    await run(state, { type: 'relabel', ticket: holder.ticket, purpose: message.purpose });
    publish(withChanges(cell.snapshot as NodeRecord, { reservation_purpose: message.purpose }));
    ctx.reply(cell.snapshot);
  };

  const onRefresh = async (state: NodeActorState, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const got = await store.getNode(id);
    if (got.isErr()) {
      if (got.error instanceof NodeNotFound) await run(state, { type: 'gone' });
      ctx.fail(got.error);
      return;
    }
    publish(freeze(got.value, true));
    ctx.reply(cell.snapshot);
  };

  const stoppedError = (): NodeNotFound | ConductorStopping =>
    cell.snapshot === null ? new NodeNotFound(cell.uuid) : new ConductorStopping();

  return {
    initialState: () => ({
      lock: initialLockState({ attempts: config.nodeLockedRetryAttempts, retryIntervalMs: config.nodeLockedRetryInterval }),
      lease: null,
      waiters: new Map(),
      retryTimer: null,
      released: null,
    }),
    async handle(state, message, ctx) {
      switch (message.type) {
        case 'acquire':
          await onAcquire(state, message.waiter);
          break;
        case 'expire':
          await run(state, { type: 'deadline', ticket: message.ticket });
          break;
        case 'retry':
          await run(state, { type: 'retry' });
          break;
        case 'forget':
          state.waiters.delete(message.ticket);
          await run(state, { type: 'abort', ticket: message.ticket });
          break;
        case 'release':
          await onRelease(state, message, ctx);
          break;
        case 'update':
          await onUpdate(state, message, ctx);
          break;
        case 'destroy':
          await onDestroy(state, message, ctx);
          break;
        case 'relabel':
          await onRelabel(state, message, ctx);
          break;
        case 'refresh':
          await onRefresh(state, ctx);
          break;
        case 'createPort':
        case 'createPortgroup':
          await onCreate(state, message, ctx);
          break;
        case 'releaseOrphan':
          await onReleaseOrphan(state, message, ctx);
          break;
        case 'passivate':
          if (isIdle(state.lock)) deps.passivate();
          break;
        default:
          ctx.fail(new InvalidParameterValue('unknown node message', { type: (message as { type?: unknown }).type }));
      }
      return state;
    },
    // A bug in a handler must not wedge the node: keep the lock state and go on.
    onError: () => 'resume',
    afterStop(state) {
      if (state.retryTimer !== null) clock.clearTimeout(state.retryTimer);
      for (const waiter of state.waiters.values()) waiter.fail(stoppedError());
      state.waiters.clear();
    },
    // An acquire that reaches a stopped actor must still settle its waiter.
    onUndelivered(message) {
      if (message.type === 'acquire') message.waiter.fail(stoppedError());
    },
  };
}
