/**
 * The node actor: single writer of one node and arbiter of its exclusive lock.
 *
 * - Exclusive requests queue FIFO and are granted one at a time. On grant the actor takes the DB
 *   reservation; a waiter is granted the moment the holder releases (the reservation is handed
 *   over with one conditional UPDATE, so no outside process can slip in between local waiters).
 * - A reservation held outside this process is retried every `nodeLockedRetryInterval`, at most
 *   `nodeLockedRetryAttempts` times (Ironic's count); waiting behind a local holder is bounded by
 *   `(attempts − 1) × interval` of wall-clock time.
 * - Every committed change publishes a new immer-frozen snapshot on the entry, which shared
 *   readers use without ever entering the mailbox.
 * Long work never runs here: handlers only await the store.
 */
import { randomUUID } from 'node:crypto';
import { freeze, produce, type Draft } from 'immer';
import { err, ok, type Result } from 'neverthrow';
import type { ConductorConfig } from '../src/config.js';
import {
  ConductorStopping,
  InvalidParameterValue,
  StoreError,
  LeaseNotFound,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  type LockHolder,
} from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import type { NodeRecord, Port, Portgroup } from '../src/node.js';
import type { NewPort, NewPortgroup, Store } from '../src/store/store.js';
import type { Clock, TimerHandle } from '../src/clock.js';
import type { Lease, UnlockError, UpdateError } from '../src/task/backend.js';
import type { Waiter } from './internal/waiter.js';
import type { ActorContext, ActorRef, Ask, Behavior } from './runtime.js';

/** What the registry and shared readers see of a node actor (written only by the actor). */
export interface NodeEntry {
  readonly id: number;
  uuid: string;
  name: string | null;
  /** Latest committed snapshot; null once the node was deleted. */
  snapshot: NodeRecord | null;
  /** The node's actor, or null while the node is idle and not yet activated. */
  ref: ActorRef<NodeMessage> | null;
  /** Current exclusive holder. */
  holder: { readonly leaseId: string; readonly purpose: string; readonly since: number; readonly requestId: string } | null;
  /** Exclusive requests waiting. */
  waiting: number;
  /** Messages sent and not yet handled (passivation only happens at 1: its own message). */
  inflight: number;
  lastActivity: number;
}

/** Messages a node actor understands. */
export type NodeMessage =
  | { readonly type: 'acquire'; readonly waiter: Waiter }
  | { readonly type: 'expire'; readonly waiter: Waiter }
  | { readonly type: 'retry' }
  | { readonly type: 'forget'; readonly waiter: Waiter }
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
  /** Send a message to this actor (counts it as in flight). */
  send(entry: NodeEntry, message: NodeMessage): void;
  /** The node was deleted or the actor passivates: drop it from the registry. */
  forget(entry: NodeEntry): void;
  /** The node's name changed. */
  renamed(entry: NodeEntry, previous: string | null): void;
  /** Stop this actor. */
  stop(entry: NodeEntry): void;
}

/** Columns a recipe may not change: identity and the lock, which only the lock protocol writes. */
const PROTECTED = new Set(['id', 'uuid', 'created_at', 'reservation', 'reservation_purpose', 'reserved_at']);
/** Backoff of the retries that clear a reservation after a failed release. */
const RELEASE_RETRY_MIN_MS = 50;
const RELEASE_RETRY_MAX_MS = 5_000;

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

/** Mutable state of one node actor (owned by its handler only). */
class NodeActorState {
  readonly queue: Waiter[] = [];
  lease: Lease | null = null;
  /** True while this process holds the DB reservation (also between two local holders). */
  reservedByUs = false;
  retryTimer: TimerHandle | null = null;
  /** Failed attempts to clear a reservation nobody holds (the backoff of its retries). */
  releaseAttempts = 0;
  /** Last holder seen outside this process. */
  externalHolder: LockHolder | null = null;
  constructor(readonly entry: NodeEntry) {}
}

/** Build the behavior of a node actor for `entry`. */
export function nodeActorBehavior(entry: NodeEntry, deps: NodeActorDeps): Behavior<NodeActorState, NodeMessage> {
  const log = deps.logger.child({ node: entry.uuid });
  const { config, store } = deps;
  const host = config.host;

  const lockedError = (state: NodeActorState): NodeLocked => {
    const holder = entry.holder;
    if (holder !== null) {
      return new NodeLocked(entry.uuid, { host, purpose: holder.purpose, heldForMs: deps.clock.now() - holder.since });
    }
    return new NodeLocked(entry.uuid, state.externalHolder ?? { host: entry.snapshot?.reservation ?? host });
  };

  const publish = (node: NodeRecord): void => {
    const previousName = entry.name;
    entry.snapshot = node;
    if (node.name !== previousName) {
      entry.name = node.name;
      deps.renamed(entry, previousName);
    }
  };

  const failAll = (state: NodeActorState, error: NodeNotFound): void => {
    for (const waiter of state.queue.splice(0)) waiter.fail(error);
    entry.waiting = 0;
  };

  const gone = (state: NodeActorState): void => {
    entry.snapshot = null;
    failAll(state, new NodeNotFound(entry.uuid));
    if (state.retryTimer !== null) deps.clock.clearTimeout(state.retryTimer);
    state.retryTimer = null;
    // A holder still has to release (and be told NodeNotFound): keep the entry until then.
    if (state.lease === null) {
      deps.forget(entry);
      deps.stop(entry);
    }
  };

  /** Grant the lock to the first live waiter while it is free. */
  const pump = async (state: NodeActorState): Promise<void> => {
    while (state.lease === null && state.queue.length > 0) {
      const waiter = state.queue[0] as Waiter;
      if (waiter.settled) {
        state.queue.shift();
        continue;
      }
      const at = deps.clock.now();
      const info = { purpose: waiter.request.purpose, at: new Date(at) };
      let reserved: NodeRecord;
      if (state.reservedByUs) {
        // Hand-off between local holders: re-label the reservation we already hold.
        const moved = await store.transferReservation(host, entry.id, info);
        if (moved.isOk()) {
          reserved = withChanges(entry.snapshot as NodeRecord, {
            reservation: host,
            reservation_purpose: info.purpose,
            reserved_at: info.at.toISOString(),
          });
        } else if (moved.error instanceof NodeNotFound) {
          state.reservedByUs = false;
          gone(state);
          return;
        } else {
          // Cleared or taken behind our back (operator, recovery): fall back to a fresh reserve.
          log.warn({ err: moved.error }, 'reservation hand-off failed; reserving again');
          state.reservedByUs = false;
          continue;
        }
      } else {
        waiter.attemptsUsed += 1;
        const got = await store.reserve(host, entry.id, info);
        if (got.isOk()) {
          state.reservedByUs = true;
          reserved = freeze(got.value, true);
        } else if (got.error instanceof NodeLocked) {
          state.externalHolder = got.error.holder;
          if (waiter.attemptsUsed >= waiter.maxAttempts || waiter.settled) {
            state.queue.shift();
            waiter.fail(got.error);
            continue;
          }
          if (state.retryTimer === null) {
            state.retryTimer = deps.clock.setTimeout(() => {
              state.retryTimer = null;
              deps.send(entry, { type: 'retry' });
            }, config.nodeLockedRetryInterval);
          }
          return;
        } else if (got.error instanceof NodeNotFound) {
          gone(state);
          return;
        } else {
          state.queue.shift();
          waiter.fail(got.error instanceof StoreError ? got.error : new StoreError('reserve', got.error));
          continue;
        }
      }
      publish(reserved);
      state.queue.shift();
      entry.waiting = state.queue.length;
      if (waiter.settled) continue; // aborted while we reserved: the next waiter (or release) takes it
      // Unguessable: a lease id is the holder's capability to write the node.
      const lease: Lease = { id: randomUUID(), nodeId: entry.id, node: reserved, grantedAt: at };
      state.lease = lease;
      entry.holder = { leaseId: lease.id, purpose: waiter.request.purpose, since: at, requestId: waiter.request.context.requestId };
      waiter.grant(lease);
      return;
    }
    entry.waiting = state.queue.length;
  };

  /** Clear the DB reservation once no local holder or waiter needs it, and publish the change. */
  const releaseUnused = async (state: NodeActorState): Promise<Result<void, UnlockError | NodeNotFound>> => {
    if (state.lease !== null || state.queue.length > 0 || !state.reservedByUs) return ok(undefined);
    state.reservedByUs = false;
    const released = await store.release(host, entry.id);
    if (released.isErr()) {
      if (released.error instanceof NodeNotFound) gone(state);
      else if (released.error instanceof StoreError) {
        // The row still names us: keep owning it, so the next local request is handed the lock
        // (one conditional UPDATE), and clear it in the background until the store answers.
        state.reservedByUs = true;
        scheduleReleaseRetry(state);
      }
      return err(released.error);
    }
    state.releaseAttempts = 0;
    if (entry.snapshot !== null) publish(withChanges(entry.snapshot, { reservation: null, reservation_purpose: null, reserved_at: null }));
    return ok(undefined);
  };

  /** Retry clearing a reservation nobody holds any more, with a capped exponential backoff. */
  const scheduleReleaseRetry = (state: NodeActorState): void => {
    if (state.retryTimer !== null) return;
    const delay = Math.min(RELEASE_RETRY_MAX_MS, RELEASE_RETRY_MIN_MS * 2 ** state.releaseAttempts);
    state.releaseAttempts += 1;
    log.warn({ delay_ms: delay, attempt: state.releaseAttempts }, 'clearing the reservation failed; retrying');
    state.retryTimer = deps.clock.setTimeout(() => {
      state.retryTimer = null;
      deps.send(entry, { type: 'retry' });
    }, delay);
  };

  /** Grant what can be granted, then drop a reservation nobody needs (e.g. its waiter aborted). */
  const pumpAndTidy = async (state: NodeActorState): Promise<void> => {
    await pump(state);
    const released = await releaseUnused(state);
    if (released.isErr()) log.warn({ err: released.error }, 'releasing an unused reservation failed');
  };

  const onAcquire = async (state: NodeActorState, waiter: Waiter): Promise<void> => {
    if (waiter.settled) return;
    if (entry.snapshot === null) {
      waiter.fail(new NodeNotFound(entry.uuid));
      return;
    }
    if (state.lease === null && state.queue.length === 0) {
      state.queue.push(waiter);
      await pumpAndTidy(state);
      return;
    }
    const now = deps.clock.now();
    if (!waiter.canWait(now)) {
      waiter.fail(lockedError(state));
      return;
    }
    state.queue.push(waiter);
    entry.waiting = state.queue.length;
    waiter.armDeadline(() => deps.send(entry, { type: 'expire', waiter }), now);
  };

  /** An aborted waiter leaves the queue at once (its promise is already settled). */
  const onForget = async (state: NodeActorState, waiter: Waiter): Promise<void> => {
    const index = state.queue.indexOf(waiter);
    if (index < 0) return;
    state.queue.splice(index, 1);
    entry.waiting = state.queue.length;
    // The head may have been waiting on an outside holder: let the next one try.
    if (index === 0 && state.lease === null) await pumpAndTidy(state);
  };

  const onExpire = (state: NodeActorState, waiter: Waiter): void => {
    if (waiter.settled) return;
    const index = state.queue.indexOf(waiter);
    if (index < 0) return;
    const now = deps.clock.now();
    if (waiter.deadline > now) {
      waiter.armDeadline(() => deps.send(entry, { type: 'expire', waiter }), now);
      return;
    }
    // The head waiter facing an outside holder is bounded by its attempt count, as Ironic.
    if (index === 0 && state.lease === null) return;
    state.queue.splice(index, 1);
    entry.waiting = state.queue.length;
    waiter.fail(lockedError(state));
  };

  const onRelease = async (state: NodeActorState, message: ReleaseMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    if (state.lease?.id !== message.leaseId) {
      ctx.fail(new LeaseNotFound(message.leaseId));
      return;
    }
    state.lease = null;
    entry.holder = null;
    if (entry.snapshot === null) {
      // Deleted during the task: nothing to release (Ironic swallows NodeNotFound here).
      state.reservedByUs = false;
      ctx.fail(new NodeNotFound(entry.uuid));
      deps.forget(entry);
      deps.stop(entry);
      return;
    }
    await pump(state);
    const released = await releaseUnused(state);
    if (released.isOk()) {
      ctx.reply(undefined);
      return;
    }
    if (released.error instanceof NodeNotLocked || released.error instanceof NodeLocked) {
      log.error({ err: released.error }, 'reservation changed behind our back before release');
    }
    ctx.fail(released.error);
  };

  const onUpdate = async (state: NodeActorState, message: UpdateMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    if (state.lease?.id !== message.leaseId || entry.snapshot === null) {
      ctx.fail(entry.snapshot === null ? new NodeNotFound(entry.uuid) : new LeaseNotFound(message.leaseId));
      return;
    }
    const current = entry.snapshot;
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
      if (PROTECTED.has(key)) {
        ctx.fail(new InvalidParameterValue(`field ${key} cannot be changed through an update`, { field: key }));
        return;
      }
      const value = next[key];
      // Ironic's Node.save truncates these to log_in_db_max_size, whoever writes them.
      changes[key] = TRUNCATED.has(key) && typeof value === 'string' ? value.slice(0, config.logInDbMaxSize) : value;
    }
    const saved = await store.updateNode(entry.id, changes);
    if (saved.isErr()) {
      if (saved.error instanceof NodeNotFound) gone(state);
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
    if (state.lease?.id !== message.leaseId || entry.snapshot === null) {
      ctx.fail(entry.snapshot === null ? new NodeNotFound(entry.uuid) : new LeaseNotFound(message.leaseId));
      return;
    }
    const destroyed = await store.destroyNode(entry.id);
    if (destroyed.isErr()) {
      ctx.fail(destroyed.error);
      return;
    }
    log.info('node deleted');
    state.reservedByUs = false;
    gone(state);
    ctx.reply(undefined);
  };

  /** Ports and portgroups are created by the lease holder only, so a holder's cached lists stay right. */
  const onCreate = async (
    state: NodeActorState,
    message: CreatePortMessage | CreatePortgroupMessage,
    ctx: ActorContext<NodeMessage>,
  ): Promise<void> => {
    if (state.lease?.id !== message.leaseId || entry.snapshot === null) {
      ctx.fail(entry.snapshot === null ? new NodeNotFound(entry.uuid) : new LeaseNotFound(message.leaseId));
      return;
    }
    if (typeof message.fields !== 'object' || message.fields === null) {
      ctx.fail(new InvalidParameterValue(`${message.type}: fields must be an object`, { field: null }));
      return;
    }
    const created =
      message.type === 'createPort'
        ? await store.createPort(entry.id, message.fields)
        : await store.createPortgroup(entry.id, message.fields);
    if (created.isErr()) {
      if (created.error instanceof NodeNotFound) gone(state);
      ctx.fail(created.error);
      return;
    }
    ctx.reply(created.value);
  };

  const onReleaseOrphan = async (state: NodeActorState, message: ReleaseOrphanMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    if (entry.snapshot === null) {
      ctx.fail(new NodeNotFound(entry.uuid));
      return;
    }
    // Never take over from ourselves: a local holder or a hand-off in progress owns the row.
    if (state.lease !== null || state.reservedByUs) {
      ctx.fail(lockedError(state));
      return;
    }
    const released = await store.release(message.tag, entry.id);
    if (released.isErr()) {
      if (released.error instanceof NodeNotFound) gone(state);
      ctx.fail(released.error);
      return;
    }
    publish(withChanges(entry.snapshot, { reservation: null, reservation_purpose: null, reserved_at: null }));
    ctx.reply(entry.snapshot);
    // Waiters facing the dead holder can go now.
    if (state.queue.length > 0) await pumpAndTidy(state);
  };

  const onRelabel = async (state: NodeActorState, message: RelabelMessage, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const holder = entry.holder;
    if (state.lease?.id !== message.leaseId || holder === null || entry.snapshot === null) {
      ctx.fail(entry.snapshot === null ? new NodeNotFound(entry.uuid) : new LeaseNotFound(message.leaseId));
      return;
    }
    const at = new Date(holder.since);
    const moved = await store.transferReservation(host, entry.id, { purpose: message.purpose, at });
    if (moved.isErr()) {
      ctx.fail(moved.error);
      return;
    }
    entry.holder = { ...holder, purpose: message.purpose };
    publish(withChanges(entry.snapshot, { reservation_purpose: message.purpose }));
    ctx.reply(entry.snapshot);
  };

  const onRefresh = async (state: NodeActorState, ctx: ActorContext<NodeMessage>): Promise<void> => {
    const got = await store.getNode(entry.id);
    if (got.isErr()) {
      if (got.error instanceof NodeNotFound) gone(state);
      ctx.fail(got.error);
      return;
    }
    publish(freeze(got.value, true));
    ctx.reply(entry.snapshot);
  };

  const onPassivate = (state: NodeActorState): void => {
    const idle = state.lease === null && state.queue.length === 0 && state.retryTimer === null && !state.reservedByUs;
    if (idle && entry.inflight === 1) {
      deps.forget(entry);
      deps.stop(entry);
    }
  };

  const stoppedError = (): NodeNotFound | ConductorStopping =>
    entry.snapshot === null ? new NodeNotFound(entry.uuid) : new ConductorStopping();

  return {
    initialState: () => new NodeActorState(entry),
    async handle(state, message, ctx) {
      try {
        switch (message.type) {
          case 'acquire':
            await onAcquire(state, message.waiter);
            break;
          case 'expire':
            onExpire(state, message.waiter);
            break;
          case 'retry':
            await pumpAndTidy(state);
            break;
          case 'forget':
            await onForget(state, message.waiter);
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
            onPassivate(state);
            break;
          default:
            ctx.fail(new InvalidParameterValue('unknown node message', { type: (message as { type?: unknown }).type }));
        }
        return state;
      } finally {
        entry.inflight -= 1;
        entry.lastActivity = deps.clock.now();
      }
    },
    // A bug in a handler must not wedge the node: keep the lock state and go on.
    onError: () => 'resume',
    afterStop(state) {
      if (state.retryTimer !== null) deps.clock.clearTimeout(state.retryTimer);
      for (const waiter of state.queue.splice(0)) waiter.fail(stoppedError());
    },
    // An acquire that reaches a stopped actor must still settle its waiter.
    onUndelivered(message) {
      if (message.type === 'acquire') message.waiter.fail(stoppedError());
    },
  };
}
