/**
 * A thin runtime over nact: spawn, tell, ask (with a timeout), stop, supervise. nact's traps
 * (actor-runtime-notes.md §1.5, §7) are handled here, in one place; each one is shown against raw
 * nact 7.6.2 by test/actors/nact-traps.test.ts, whose failure after a nact upgrade means the
 * matching workaround can go:
 *  - asks are carried in the message envelope instead of nact's `query`, so a reply fails fast
 *    with ActorStopped when the target stops, a throwing handler answers with its error instead of
 *    a silent timeout, and there are no 32-bit temporary-reference collisions;
 *  - handler errors are caught here and turned into a supervision decision (resume, restart,
 *    stop) taken by our code, so no user hook runs inside nact's `onCrash` (one that throws wedges
 *    the actor); ours only answers `stop`, for a bug in this file. `resume` on escalation,
 *    `resetAll` and `spawnStateless` are never used;
 *  - messages to stopped actors, and messages still queued when an actor stops, become dead
 *    letters: counted, logged and published to subscribers, never silently dropped (nact drops
 *    the former silently, and its stop() loses the message whose start it had scheduled);
 *  - nact 7.6.2 does not stop children with their parent (its recursive stop passes concrete
 *    actors where references are expected, so `stop(system)` stops nothing): we keep the tree
 *    and stop depth-first ourselves;
 *  - nact keeps systems in one process-wide map by name, so each runtime's system name is unique.
 */
import { err, errAsync, ok, type Result, ResultAsync } from 'neverthrow';
import { Aborted, ActorStopped, AskTimeout, describe } from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import { dispatch, spawnActor, startSystem, stopActor, type NactContext, type NactRef } from './internal/nact.js';

/** A message that expects a reply of type R or an error of type E (phantom fields, never set). */
export interface Ask<R, E = never> {
  readonly __reply?: R;
  readonly __error?: E;
}
/** Reply type of an ask message. */
export type ReplyOf<M> = M extends Ask<infer R, unknown> ? R : never;
/** Error type of an ask message. */
export type ErrorOf<M> = M extends Ask<unknown, infer E> ? E : never;
/**
 * The member(s) of the message union M that a message of type Q is, so that an inline message
 * (`{ type: 'acquireLease', nodeId }`) gets the reply type of its protocol member.
 */
export type MessageOf<M, Q> = M extends unknown ? (Q extends M ? M : never) : never;
/** Reply type of message Q sent to an actor accepting M. */
export type ReplyTo<M, Q> = ReplyOf<MessageOf<M, Q>>;
/** Error type of message Q sent to an actor accepting M. */
export type ErrorTo<M, Q> = ErrorOf<MessageOf<M, Q>>;

/** A reference to any actor, whatever it accepts (for parents and stop). */
export interface AnyActorRef {
  /** Full path, e.g. `conductor/nodes/node-12`. */
  readonly path: string;
  /** False once the actor has stopped. */
  readonly alive: boolean;
}

/** A reference to a running (or stopped) actor accepting messages of type M. */
export interface ActorRef<M> extends AnyActorRef {
  /** Phantom: the message type. */
  readonly __messages?: (message: M) => void;
}

/** What a handler can do besides returning the next state. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  /** True when the current message was sent with `ask`. */
  readonly isAsk: boolean;
  /** Answer the current ask (no-op for tells or when already answered). */
  reply(value: unknown): void;
  /** Answer the current ask with an error (no-op for tells or when already answered). */
  fail(error: unknown): void;
  /** Capture the reply channel of the current ask to answer it later (after the handler returns). */
  deferReply(): Replier;
}

/** A captured reply channel; settling twice is a no-op. */
export interface Replier {
  readonly settled: boolean;
  /** Aborted when the asker stops waiting (its timeout, its signal, or this actor stopping); never for a tell. */
  readonly abandoned: AbortSignal;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Supervision decision for an error thrown by a handler. */
export type SupervisionDecision = 'resume' | 'restart' | 'stop';

/** How an actor behaves. */
export interface Behavior<S, M> {
  /** Initial state (also the state after a `restart`). */
  initialState: () => S;
  /** Handle one message; messages are handled one at a time, in order. */
  handle(state: S, message: M, ctx: ActorContext<M>): S | Promise<S>;
  /**
   * Decide what happens when `handle` throws or rejects. The ask (if any) is answered with the
   * error first. Default `resume` (keep state, go on with the next message). Must not throw; if
   * it does, `stop` is used.
   */
  onError?(error: unknown, message: M, state: S): SupervisionDecision;
  /** Called once after the actor stopped (its own last words); must not throw. */
  afterStop?(state: S): void;
  /**
   * Called for each message that can no longer be handled (queued at stop, or sent after it), so
   * whatever the message carries (a waiter, a reply channel) is settled instead of hanging.
   */
  onUndelivered?(message: M): void;
}

/** An undeliverable message. */
export interface DeadLetter {
  readonly target: string;
  readonly message: unknown;
  readonly reason: 'stopped' | 'stopped-with-queued-message';
}

/** Options of an ask. */
export interface AskOptions {
  /**
   * Milliseconds before the ask fails with AskTimeout. Required. `Infinity` is for the one case
   * where giving up would leave the outcome unknown (a lock holder's own write): such an ask still
   * fails at once with ActorStopped if its target stops.
   */
  timeoutMs: number;
  /** Abort the wait (the message may still be handled). */
  signal?: AbortSignal;
}

/** A message in flight; `next` links the envelopes dispatched and not yet started, oldest first. */
type Envelope = { readonly message: unknown; readonly replier: ReplierImpl | null; next: Envelope | null };

/**
 * The reply channel of one ask. It settles the asker's promise with a Result, never by rejecting
 * it: an answer, an error the handler answered or threw, a timeout or a stop all travel as values.
 * The asker's cleanup runs here too (one callback, no extra promise turn).
 */
class ReplierImpl implements Replier {
  settled = false;
  /** Links of the target's list of asks waiting for an answer. */
  previousPending: ReplierImpl | null = null;
  nextPending: ReplierImpl | null = null;
  readonly #settle: (result: Result<unknown, unknown>) => void;
  #cleanup: (() => void) | null = null;
  // Made on first use: most handlers never look at it.
  #abandoned: AbortController | null = null;
  #gaveUp: unknown = undefined;
  constructor(settle: (result: Result<unknown, unknown>) => void) {
    this.#settle = settle;
  }
  /** Run `cleanup` once, when the ask settles. */
  onSettled(cleanup: () => void): void {
    this.#cleanup = cleanup;
  }
  get abandoned(): AbortSignal {
    if (this.#abandoned === null) {
      this.#abandoned = new AbortController();
      if (this.#gaveUp !== undefined) this.#abandoned.abort(this.#gaveUp);
    }
    return this.#abandoned.signal;
  }
  /** The asker's side stops waiting with `error`. */
  giveUp(error: unknown): void {
    if (this.settled) return;
    this.#gaveUp = error;
    this.reject(error);
    this.#abandoned?.abort(error);
  }
  resolve(value: unknown): void {
    this.#finish(ok(value));
  }
  reject(error: unknown): void {
    this.#finish(err(error));
  }
  #finish(result: Result<unknown, unknown>): void {
    if (this.settled) return;
    this.settled = true;
    this.#cleanup?.();
    this.#settle(result);
  }
}

/**
 * The reference handed out for an actor: its path and whether it is alive, nothing else. The
 * runtime's bookkeeping (children, parent, mailbox sets, the nact reference) stays in the Handle,
 * reachable only from this module, so holding a reference never reaches another actor.
 */
class Ref<M> implements ActorRef<M> {
  readonly path: string;
  readonly #handle: Handle<M>;
  constructor(handle: Handle<M>) {
    this.path = handle.path;
    this.#handle = handle;
    Object.freeze(this);
  }
  get alive(): boolean {
    return this.#handle.alive;
  }
  /** The handle behind a reference made by a runtime, or undefined for anything else. */
  static handleOf<T>(ref: AnyActorRef): Handle<T> | undefined {
    return typeof ref === 'object' && ref !== null && #handle in ref ? (ref.#handle as unknown as Handle<T>) : undefined;
  }
}

/** A runtime reference's handle; anything else is a caller bug. */
function handleOf<M>(ref: AnyActorRef): Handle<M> {
  const handle = Ref.handleOf<M>(ref);
  if (handle === undefined) throw new TypeError(`not an actor reference: ${String((ref as { path?: unknown } | null)?.path)}`);
  return handle;
}

class Handle<M> {
  alive = true;
  readonly ref: Ref<M>;
  /** Made on first use: most actors (node actors, workers) have no children. */
  children: Set<Handle<unknown>> | null = null;
  parent: Handle<unknown> | null = null;
  /**
   * Envelopes dispatched whose handler has not started, as a linked list (no allocation per
   * message, nothing kept when empty). nact's stop() cancels the scheduled start of the next
   * message without putting it back in `ctx.mailbox`; this list is what we dead-letter.
   */
  firstUndelivered: Envelope | null = null;
  lastUndelivered: Envelope | null = null;

  /** Remember a dispatched envelope until its handler starts. */
  queue(envelope: Envelope): void {
    if (this.lastUndelivered === null) this.firstUndelivered = envelope;
    else this.lastUndelivered.next = envelope;
    this.lastUndelivered = envelope;
  }

  /** Its handler started: nact delivers in order, so it is the oldest one (searched otherwise). */
  started(envelope: Envelope): void {
    let previous: Envelope | null = null;
    let current = this.firstUndelivered;
    while (current !== null && current !== envelope) {
      previous = current;
      current = current.next;
    }
    if (current === null) return;
    if (previous === null) this.firstUndelivered = current.next;
    else previous.next = current.next;
    if (this.lastUndelivered === current) this.lastUndelivered = previous;
    current.next = null;
  }

  /** Take every envelope whose handler never started, oldest first. */
  takeUndelivered(): Envelope[] {
    const taken: Envelope[] = [];
    for (let current = this.firstUndelivered; current !== null; current = current.next) taken.push(current);
    this.firstUndelivered = null;
    this.lastUndelivered = null;
    return taken;
  }
  /** Asks delivered but not answered yet: failed with ActorStopped if the actor stops. Made on first use. */
  pending: ReplierImpl | null = null;

  /** Track an ask until it settles (a linked list through the repliers: nothing allocated, nothing kept). */
  track(replier: ReplierImpl): void {
    replier.nextPending = this.pending;
    if (this.pending !== null) this.pending.previousPending = replier;
    this.pending = replier;
  }

  untrack(replier: ReplierImpl): void {
    if (replier.previousPending !== null) replier.previousPending.nextPending = replier.nextPending;
    else if (this.pending === replier) this.pending = replier.nextPending;
    if (replier.nextPending !== null) replier.nextPending.previousPending = replier.previousPending;
    replier.previousPending = null;
    replier.nextPending = null;
  }

  /** Take every ask still waiting. */
  takePending(): ReplierImpl[] {
    const taken: ReplierImpl[] = [];
    for (let current = this.pending; current !== null; current = current.nextPending) taken.push(current);
    return taken;
  }
  constructor(
    readonly path: string,
    readonly nact: NactRef,
    /** What the actor does with a message, an error, its stop and its undelivered messages. */
    readonly behavior: Behavior<unknown, M>,
  ) {
    this.ref = new Ref(this);
  }
}

/** The actor runtime: one nact system plus dead-letter accounting. */
export class ActorRuntime {
  readonly #system: NactRef;
  readonly #log: Logger;
  readonly #deadLetterSubscribers = new Set<(letter: DeadLetter) => void>();
  readonly #roots = new Set<Handle<unknown>>();
  #deadLetters = 0;
  #stopped = false;
  static #systems = 0;

  /** Start a runtime (a nact system) named `name`. */
  constructor(name: string, logger: Logger) {
    ActorRuntime.#systems += 1;
    this.#system = startSystem(`${name}-${process.pid}-${ActorRuntime.#systems}`);
    this.#log = logger.child({ component: 'runtime' });
  }

  /**
   * The handle of each live actor by its nact reference: one handler and one afterStop function
   * serve every actor (nact passes the reference in its context), so an actor costs no closures.
   */
  readonly #handles = new Map<NactRef, Handle<unknown>>();

  /** nact's handler for every actor: run the behaviour on one envelope, and supervise it. */
  readonly #deliver = async (state: unknown, raw: unknown, nactCtx: NactContext): Promise<unknown> => {
    const handle = this.#handles.get(nactCtx.self) as Handle<unknown>;
    const behavior = handle.behavior;
    const envelope = raw as Envelope;
    handle.started(envelope);
    const replier = envelope.replier;
    const ctx: ActorContext<unknown> = {
      self: handle.ref,
      isAsk: replier !== null,
      reply: (value) => replier?.resolve(value),
      fail: (error) => replier?.reject(error),
      deferReply: () => replier ?? NO_REPLY,
    };
    try {
      return await behavior.handle(state, envelope.message, ctx);
    } catch (error) {
      replier?.reject(error);
      let decision: SupervisionDecision;
      try {
        decision = behavior.onError?.(error, envelope.message, state) ?? 'resume';
      } catch (hookError) {
        this.#log.error({ err: hookError, actor: handle.path }, 'onError hook threw; stopping the actor');
        decision = 'stop';
      }
      this.#log.error({ err: error, actor: handle.path, decision }, 'actor handler failed');
      if (decision === 'stop') {
        this.stop(handle.ref);
        return state;
      }
      return decision === 'restart' ? behavior.initialState() : state;
    }
    // A settled replier leaves `pending` through the ask's own cleanup; a deferred one stays
    // there until answered, so it still fails fast if the actor stops first.
  };

  /** nact's afterStop for every actor: dead-letter what never started, fail pending asks, run the hook. */
  readonly #afterStop = (state: unknown, nactCtx: NactContext): void => {
    const handle = this.#handles.get(nactCtx.self);
    if (handle === undefined) return;
    this.#handles.delete(nactCtx.self);
    handle.alive = false;
    if (handle.parent) handle.parent.children?.delete(handle);
    else this.#roots.delete(handle);
    for (const envelope of handle.takeUndelivered()) this.#onUndelivered(handle, envelope, 'stopped-with-queued-message');
    for (const pending of handle.takePending()) pending.giveUp(new ActorStopped(handle.path));
    try {
      handle.behavior.afterStop?.(state);
    } catch (error) {
      this.#log.error({ err: error, actor: handle.path }, 'afterStop hook threw');
    }
  };

  /** True once `shutdown()` ran: nothing can be spawned any more. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The number of dead letters so far. */
  get deadLetterCount(): number {
    return this.#deadLetters;
  }

  /** Subscribe to dead letters; returns an unsubscribe function. A throwing subscriber is logged. */
  onDeadLetter(subscriber: (letter: DeadLetter) => void): () => void {
    this.#deadLetterSubscribers.add(subscriber);
    return () => this.#deadLetterSubscribers.delete(subscriber);
  }

  /** Spawn an actor under `parent` (or at the top level). Names must be unique among siblings. */
  spawn<S, M>(parent: AnyActorRef | null, name: string, behavior: Behavior<S, M>): ActorRef<M> {
    if (this.#stopped) throw new Error('ActorRuntime is stopped');
    const parentHandle = parent ? handleOf<unknown>(parent) : null;
    const parentNact = parentHandle ? parentHandle.nact : this.#system;
    const path = parent ? `${parent.path}/${name}` : name;
    const nactRef = spawnActor<unknown>(parentNact, this.#deliver, name, {
      initialState: behavior.initialState(),
      // Our handler never throws, so this only runs for a bug in this file; it must not throw.
      onCrash: stopOnCrash,
      afterStop: this.#afterStop,
    });
    const handle = new Handle<M>(path, nactRef, behavior);
    this.#handles.set(nactRef, handle);
    if (parentHandle) {
      handle.parent = parentHandle;
      (handle.parent.children ??= new Set()).add(handle);
    } else {
      this.#roots.add(handle);
    }
    return handle.ref;
  }

  /** Send a message without waiting. Returns false (and records a dead letter) if the actor is stopped. */
  tell<M>(ref: ActorRef<M>, message: M): boolean {
    const handle = handleOf<M>(ref);
    const envelope: Envelope = { message, replier: null, next: null };
    if (!handle.alive) {
      this.#onUndelivered(handle, envelope, 'stopped');
      return false;
    }
    handle.queue(envelope);
    dispatch(handle.nact, envelope);
    return true;
  }

  /**
   * Send a message and wait for its reply. Fails with AskTimeout after `timeoutMs`, at once with
   * ActorStopped if the actor is (or becomes) stopped, with Aborted if `signal` aborts, or with the
   * error the handler answered or threw.
   */
  ask<M, const Q extends M>(
    ref: ActorRef<M>,
    message: Q,
    options: AskOptions,
  ): ResultAsync<ReplyTo<M, Q>, ErrorTo<M, Q> | AskTimeout | ActorStopped | Aborted> {
    const handle = handleOf<M>(ref);
    if (!handle.alive) {
      this.#onUndelivered(handle, { message, replier: null, next: null }, 'stopped');
      return errAsync(new ActorStopped(handle.path));
    }
    if (options.signal?.aborted) return errAsync(new Aborted(`ask ${handle.path}`, options.signal.reason));
    let replier!: ReplierImpl;
    const promise = new Promise<Result<unknown, unknown>>((settle) => {
      replier = new ReplierImpl(settle);
    });
    const timer = Number.isFinite(options.timeoutMs)
      ? setTimeout(() => replier.giveUp(new AskTimeout(handle.path, options.timeoutMs)), options.timeoutMs)
      : undefined;
    const signal = options.signal;
    const onAbort = (): void => replier.giveUp(new Aborted(`ask ${handle.path}`, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    replier.onSettled(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      handle.untrack(replier);
    });
    handle.track(replier);
    const envelope: Envelope = { message, replier, next: null };
    handle.queue(envelope);
    dispatch(handle.nact, envelope);
    // Settled with a Result by the replier: no rejection, no extra `then` on every release and write.
    return new ResultAsync(promise as Promise<Result<ReplyTo<M, Q>, ErrorTo<M, Q> | AskTimeout | ActorStopped | Aborted>>);
  }

  /** Stop an actor and its children. Queued messages become dead letters; pending asks fail with ActorStopped. */
  stop(ref: AnyActorRef): void {
    const handle = handleOf<unknown>(ref);
    if (!handle.alive) return;
    for (const child of [...(handle.children ?? [])]) this.stop(child.ref);
    handle.alive = false;
    stopActor(handle.nact);
  }

  /** Stop every actor. Resolves after their afterStop hooks ran. */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const root of [...this.#roots]) this.stop(root.ref);
    stopActor(this.#system);
    // afterStop hooks run in a later setImmediate (nact); let them run.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }

  #onUndelivered<M>(handle: Handle<M>, envelope: Envelope, reason: DeadLetter['reason']): void {
    this.#deadLetters += 1;
    envelope.replier?.reject(new ActorStopped(handle.path));
    try {
      handle.behavior.onUndelivered?.(envelope.message as M);
    } catch (error) {
      this.#log.error({ err: error, target: handle.path }, 'onUndelivered hook threw');
    }
    const letter: DeadLetter = { target: handle.path, message: envelope.message, reason };
    this.#log.warn({ target: handle.path, reason, message: preview(envelope.message) }, 'dead letter');
    for (const subscriber of this.#deadLetterSubscribers) {
      try {
        subscriber(letter);
      } catch (error) {
        this.#log.error({ err: error }, 'dead-letter subscriber threw');
      }
    }
  }
}

/** nact's crash hook: our handler never throws, so this only runs for a bug in this file; it must not throw. */
const stopOnCrash = (_msg: unknown, _error: unknown, ctx: { readonly stop: symbol }): symbol => ctx.stop;

const NO_REPLY: Replier = { settled: true, abandoned: new AbortController().signal, resolve() {}, reject() {} };

/** A short, loggable view of a message (never throws, whatever the message's getters do). */
function preview(message: unknown): unknown {
  try {
    if (message && typeof message === 'object' && 'type' in message) {
      const type: unknown = message.type;
      return { type: typeof type === 'string' ? type : describe(type) };
    }
  } catch {
    // fall through to the generic description
  }
  return describe(message).slice(0, 120);
}
