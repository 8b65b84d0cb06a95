/**
 * Ironic's exclusive-lock rules for one node, as a pure state machine:
 * `step(state, event, now) → { state, effects }`. No I/O, no promises, no clock reads: the node
 * actor runs the effects (store calls, timers, settling callers) and feeds the results back as
 * events. Every rule of the lock lives here:
 *
 * - requests queue FIFO and are granted one at a time;
 * - the first grant takes the DB reservation (`reserve`); later local grants hand it over with one
 *   conditional UPDATE (`transfer`), so no outside process slips in between local holders;
 * - against a holder outside the process the head of the queue retries every `retryIntervalMs`, at
 *   most `attempts` reserve attempts (Ironic's `node_locked_retry_attempts`); on a shared store a
 *   notification that the holder released (`outsideCleared`) makes it try at once besides, an
 *   attempt that does not count (the interval stays as a safety poll, the budget in time Ironic's);
 * - cross-process FIFO (shared store): a conductor facing an outside holder records how long it
 *   has waited; a holder releasing while an outside conductor has waited longer than its own next
 *   local request hands the reservation to that conductor (`handOver`), which adopts it
 *   (`adopted`) for its head instead of racing for it;
 * - waiting behind a local holder is bounded by `(attempts − 1) × retryIntervalMs` of wall-clock
 *   time (the time Ironic's retries would take); `patient` waits forever, `retry: false` not at all;
 * - once nobody holds or waits, the reservation is cleared (`clear`); a failed clear is retried
 *   with a capped exponential backoff while the row still names us;
 * - a node deleted under the lock fails every waiter with NotFound and retires once the holder
 *   has released.
 *
 * At most one store effect is in flight at a time (`awaiting`); results name nothing but the
 * operation, so a result arriving after its waiter left is still applied to the current queue.
 */
import type { LockHolder } from '../errors.js';

/** How a caller waits (Ironic's TaskManager `retry` and our `patient`). */
export interface WaitMode {
  /** Retry within the budget; false fails at once if the node is held. */
  readonly retry: boolean;
  /** Wait forever (overrides retry). */
  readonly patient: boolean;
}

/** One exclusive request as the arbiter sees it. */
export interface LockRequestInfo extends WaitMode {
  /** Unique per request (chosen by the caller of `step`). */
  readonly ticket: number;
  readonly purpose: string;
  readonly requestId: string;
}

/** A queued request with its budget. */
export interface Queued {
  readonly ticket: number;
  readonly purpose: string;
  readonly requestId: string;
  /** Reserve attempts allowed against a holder outside this process. */
  readonly maxAttempts: number;
  /** Reserve attempts made so far. */
  readonly attemptsUsed: number;
  /** Wall-clock limit of waiting behind a local holder (ms since epoch; Infinity = patient). */
  readonly deadline: number;
  /** When the request arrived (ms since epoch): its place in cross-process FIFO order. */
  readonly arrivedAt: number;
}

/** The local holder of the lock. */
export interface Holder {
  readonly ticket: number;
  readonly purpose: string;
  readonly requestId: string;
  /** When it was granted (ms since epoch). */
  readonly since: number;
}

/** Budget settings (Ironic's `node_locked_retry_attempts` and `node_locked_retry_interval`). */
export interface ArbiterSettings {
  readonly attempts: number;
  readonly retryIntervalMs: number;
}

/** What an armed retry timer is for. */
export type RetryTimer = { readonly for: 'clear' } | { readonly for: 'outside'; readonly ticket: number };

const CLEAR_RETRY: RetryTimer = Object.freeze({ for: 'clear' });

/** The store operation whose result the arbiter waits for. */
export type StoreOperation = 'reserve' | 'transfer' | 'clear' | 'handOver';

/** Another conductor waiting for this node (shared store). */
export interface OutsideWaiter {
  readonly host: string;
  /** When its oldest request arrived (ms since epoch). */
  readonly since: number;
}

/** The lock state of one node. */
export interface LockState {
  readonly settings: ArbiterSettings;
  readonly holder: Holder | null;
  readonly queue: readonly Queued[];
  /** True while this process holds the DB reservation (also between two local holders). */
  readonly reserved: boolean;
  /** The store operation in flight, and for which ticket (null for a clear or a hand-over). */
  readonly awaiting: { readonly operation: StoreOperation; readonly ticket: number | null; readonly at: number } | null;
  /** An `outsideCleared` came while a store call was in flight: the head tries again once it is answered. */
  readonly woken: boolean;
  /** The conductor that has waited longest for this node elsewhere, if any (shared store). */
  readonly outsideWaiter: OutsideWaiter | null;
  /** An `adopted` came while a store call was in flight: applied once that call is answered. */
  readonly adoptPending: boolean;
  /**
   * The retry timer, if armed: for the head `ticket` against an outside holder (once that head has
   * left, the next one tries at once instead of waiting it out), or for a failed clear.
   */
  readonly retry: RetryTimer | null;
  /** Consecutive failed clears (the backoff of their retries). */
  readonly clearFailures: number;
  /** Last holder seen outside this process. */
  readonly outsideHolder: LockHolder | null;
  /** A ticket whose release waits for its hand-off or clear to be answered. */
  readonly releasing: number | null;
  /** The node was deleted. */
  readonly gone: boolean;
}

/** Why a request failed. */
export type FailReason =
  { readonly kind: 'locked'; readonly by: LockedBy } | { readonly kind: 'notFound' } | { readonly kind: 'store'; readonly error: unknown };

/** Who holds the node, as far as the arbiter knows. */
export type LockedBy =
  | { readonly kind: 'local'; readonly purpose: string; readonly since: number }
  | { readonly kind: 'outside'; readonly holder: LockHolder | null };

/** How a release ended. */
export type ReleaseOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'notHolder' }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'failed'; readonly error: unknown };

/** Inputs of the arbiter. */
export type LockEvent =
  | { readonly type: 'acquire'; readonly request: LockRequestInfo }
  /** The caller stopped waiting (abort signal), or refused a grant it no longer wanted. */
  | { readonly type: 'abort'; readonly ticket: number }
  /** The local-wait timer of a ticket fired. */
  | { readonly type: 'deadline'; readonly ticket: number }
  /** The retry timer fired. */
  | { readonly type: 'retry' }
  | { readonly type: 'release'; readonly ticket: number }
  /** The holder's purpose changed (already written to the store). */
  | { readonly type: 'relabel'; readonly ticket: number; readonly purpose: string }
  | { readonly type: 'reserved' }
  | { readonly type: 'reserveRefused'; readonly holder: LockHolder }
  | { readonly type: 'reserveFailed'; readonly error: unknown }
  | { readonly type: 'transferred' }
  /** The row no longer names us (cleared or taken behind our back). */
  | { readonly type: 'transferRefused'; readonly error: unknown }
  | { readonly type: 'cleared' }
  /** `retriable`: the row may still name us (a store failure), so the clear is retried. */
  | { readonly type: 'clearFailed'; readonly error: unknown; readonly retriable: boolean }
  /** A reservation held outside was cleared (released, or a dead conductor's taken over): the head tries now. */
  | { readonly type: 'outsideCleared' }
  /** The oldest conductor waiting for this node elsewhere changed (null: none). */
  | { readonly type: 'outsideWaiter'; readonly waiter: OutsideWaiter | null }
  | { readonly type: 'handedOver' }
  /** The hand-over did not happen: `lost`, the row no longer names us; else the waiter had gone. */
  | { readonly type: 'handOverRefused'; readonly lost: boolean }
  /** Another conductor handed its reservation to us (the row names us with a new token). */
  | { readonly type: 'adopted' }
  /** The row no longer holds our reservation (taken over): a holder keeps its (fenced-out) lease until it releases; nobody is handed it. */
  | { readonly type: 'lockLost' }
  /** The node was deleted (a store call answered NotFound, or the holder destroyed it). */
  | { readonly type: 'gone' };

/** Outputs of the arbiter, run by the node actor in order. */
export type LockEffect =
  /** `counted: false`: a wake-up attempt, outside the attempt budget. */
  | { readonly type: 'reserve'; readonly purpose: string; readonly at: number; readonly counted: boolean }
  | { readonly type: 'handOver'; readonly to: string }
  | { readonly type: 'transfer'; readonly purpose: string; readonly at: number }
  | { readonly type: 'clear' }
  | { readonly type: 'grant'; readonly ticket: number; readonly at: number }
  | { readonly type: 'fail'; readonly ticket: number; readonly reason: FailReason }
  | { readonly type: 'armDeadline'; readonly ticket: number; readonly delayMs: number }
  | { readonly type: 'armRetry'; readonly delayMs: number }
  | { readonly type: 'cancelRetry' }
  | { readonly type: 'released'; readonly ticket: number; readonly outcome: ReleaseOutcome }
  /** The node is gone and nobody holds it: forget the actor. */
  | { readonly type: 'retire' };

/** What `step` returns. */
export interface Step {
  readonly state: LockState;
  readonly effects: readonly LockEffect[];
}

/** Backoff of the retries that clear a reservation after a failed clear. */
export const CLEAR_RETRY_MIN_MS = 50;
export const CLEAR_RETRY_MAX_MS = 5_000;
/** setTimeout's limit: longer deadlines are re-armed when the timer fires early. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The state of a node nobody has asked for yet. */
export function initialLockState(settings: ArbiterSettings): LockState {
  return {
    settings,
    holder: null,
    queue: [],
    reserved: false,
    awaiting: null,
    retry: null,
    woken: false,
    outsideWaiter: null,
    adoptPending: false,
    clearFailures: 0,
    outsideHolder: null,
    releasing: null,
    gone: false,
  };
}

/** Reserve attempts and local-wait deadline of a request made at `now`. */
export function budgetOf(mode: WaitMode, settings: ArbiterSettings, now: number): { maxAttempts: number; deadline: number } {
  if (mode.patient) return { maxAttempts: Number.POSITIVE_INFINITY, deadline: Number.POSITIVE_INFINITY };
  if (mode.retry) return { maxAttempts: settings.attempts, deadline: now + (settings.attempts - 1) * settings.retryIntervalMs };
  return { maxAttempts: 1, deadline: now };
}

/** True when the node needs nothing from its actor: no holder, no waiter, no reservation, no timer, no store call. */
export function isIdle(state: LockState): boolean {
  return state.holder === null && state.queue.length === 0 && !state.reserved && state.retry === null && state.awaiting === null;
}

/** Who a newcomer would find holding the node. */
export function lockedBy(state: LockState): LockedBy {
  const holder = state.holder;
  if (holder !== null) return { kind: 'local', purpose: holder.purpose, since: holder.since };
  return { kind: 'outside', holder: state.outsideHolder };
}

const RESERVE_ANSWERS: ReadonlySet<LockEvent['type']> = new Set(['reserved', 'reserveRefused', 'reserveFailed']);

/** Apply one event at time `now`. */
export function step(state: LockState, event: LockEvent, now: number): Step {
  const effects: LockEffect[] = [];
  if (state.adoptPending && state.awaiting?.operation === 'reserve' && RESERVE_ANSWERS.has(event.type)) {
    // The reserve in flight when another conductor handed us the node is answered: its answer is
    // stale (the row is ours), so the adoption takes its place.
    return { state: onAdopted({ ...state, awaiting: null, woken: false, adoptPending: false }, now, effects), effects };
  }
  let next = apply(state, event, now, effects);
  // Another call in flight then was answered (and nothing new started): adopt now.
  if (next.adoptPending && next.awaiting === null && event.type !== 'adopted') {
    next = onAdopted({ ...next, adoptPending: false }, now, effects);
  }
  return { state: next, effects };
}

function apply(s: LockState, event: LockEvent, now: number, fx: LockEffect[]): LockState {
  switch (event.type) {
    case 'acquire':
      return onAcquire(s, event.request, now, fx);
    case 'abort':
      return onAbort(s, event.ticket, now, fx);
    case 'deadline':
      return onDeadline(s, event.ticket, now, fx);
    case 'retry':
      return advance({ ...s, retry: null }, now, fx);
    case 'release':
      return onRelease(s, event.ticket, now, fx);
    case 'relabel':
      return s.holder?.ticket === event.ticket ? { ...s, holder: { ...s.holder, purpose: event.purpose } } : s;
    case 'reserved':
      return onReserved(s, now, fx);
    case 'reserveRefused':
      return onReserveRefused(s, event.holder, now, fx);
    case 'reserveFailed':
      return onReserveFailed(s, event.error, now, fx);
    case 'transferred':
      return onTransferred(s, now, fx);
    case 'transferRefused':
      // Cleared or taken behind our back (operator, recovery): the head reserves afresh.
      return advance(answerRelease({ ...s, awaiting: null, reserved: false }, { kind: 'ok' }, fx), now, fx);
    case 'cleared':
      return onCleared(s, now, fx);
    case 'clearFailed':
      return onClearFailed(s, event.error, event.retriable, now, fx);
    case 'outsideCleared':
      return onOutsideCleared(s, now, fx);
    case 'outsideWaiter':
      return advance({ ...s, outsideWaiter: event.waiter }, now, fx);
    case 'handedOver':
      return onHandedOver(s, now, fx);
    case 'handOverRefused':
      return onHandOverRefused(s, event.lost, now, fx);
    case 'adopted':
      return onAdopted(s, now, fx);
    case 'lockLost':
      // The next request reserves afresh instead of being handed a reservation we no longer have.
      return advance({ ...s, reserved: false }, now, fx);
    case 'gone':
      return onGone(s, fx);
  }
}

function onAcquire(s: LockState, request: LockRequestInfo, now: number, fx: LockEffect[]): LockState {
  if (s.gone) {
    fx.push({ type: 'fail', ticket: request.ticket, reason: { kind: 'notFound' } });
    return s;
  }
  const budget = budgetOf(request, s.settings, now);
  const queued: Queued = {
    ticket: request.ticket,
    purpose: request.purpose,
    requestId: request.requestId,
    maxAttempts: budget.maxAttempts,
    attemptsUsed: 0,
    deadline: budget.deadline,
    arrivedAt: now,
  };
  if (s.holder === null && s.queue.length === 0) return advance({ ...s, queue: [queued] }, now, fx);
  if (!(queued.deadline > now)) {
    fx.push({ type: 'fail', ticket: request.ticket, reason: { kind: 'locked', by: lockedBy(s) } });
    return s;
  }
  armDeadline(queued, now, fx);
  return { ...s, queue: [...s.queue, queued] };
}

function armDeadline(queued: Queued, now: number, fx: LockEffect[]): void {
  if (queued.deadline === Number.POSITIVE_INFINITY) return;
  fx.push({ type: 'armDeadline', ticket: queued.ticket, delayMs: Math.min(MAX_TIMER_MS, Math.max(0, queued.deadline - now)) });
}

function onAbort(s: LockState, ticket: number, now: number, fx: LockEffect[]): LockState {
  // A grant the caller no longer wanted (it aborted meanwhile): the lock goes on to the next one.
  if (s.holder?.ticket === ticket) return advance({ ...s, holder: null }, now, fx);
  const index = s.queue.findIndex((q) => q.ticket === ticket);
  if (index < 0) return s;
  return advance({ ...s, queue: without(s.queue, index) }, now, fx);
}

function onDeadline(s: LockState, ticket: number, now: number, fx: LockEffect[]): LockState {
  const index = s.queue.findIndex((q) => q.ticket === ticket);
  if (index < 0) return s;
  const queued = s.queue[index] as Queued;
  if (queued.deadline > now) {
    armDeadline(queued, now, fx);
    return s;
  }
  // The head facing an outside holder is bounded by its attempt count, as Ironic.
  if (index === 0 && s.holder === null) return s;
  fx.push({ type: 'fail', ticket, reason: { kind: 'locked', by: lockedBy(s) } });
  return { ...s, queue: without(s.queue, index) };
}

function onRelease(s: LockState, ticket: number, now: number, fx: LockEffect[]): LockState {
  if (s.holder?.ticket !== ticket) {
    fx.push({ type: 'released', ticket, outcome: { kind: 'notHolder' } });
    return s;
  }
  if (s.gone) {
    // Deleted during the task: nothing to release (Ironic swallows NodeNotFound here).
    fx.push({ type: 'released', ticket, outcome: { kind: 'notFound' } }, { type: 'retire' });
    return { ...s, holder: null, reserved: false };
  }
  const next = advance({ ...s, holder: null, releasing: ticket }, now, fx);
  // The release is answered by the outcome of its hand-off or clear; with neither in flight
  // (the reservation was not ours any more, or a clear is waiting for its retry) it is done now.
  const operation = next.awaiting?.operation;
  return operation === 'transfer' || operation === 'clear' || operation === 'handOver' ? next : answerRelease(next, { kind: 'ok' }, fx);
}

function onReserved(s: LockState, now: number, fx: LockEffect[]): LockState {
  const forTicket = s.awaiting?.ticket ?? null;
  const at = s.awaiting?.at ?? now;
  const base: LockState = { ...s, awaiting: null, woken: false, reserved: true, outsideHolder: null };
  const head = base.queue[0];
  // The waiter it was taken for left meanwhile: hand it to the new head (or clear it).
  if (head === undefined || head.ticket !== forTicket) return advance(base, now, fx);
  return grantHead(base, head, at, fx);
}

function onTransferred(s: LockState, now: number, fx: LockEffect[]): LockState {
  const forTicket = s.awaiting?.ticket ?? null;
  const at = s.awaiting?.at ?? now;
  const base: LockState = { ...s, awaiting: null };
  const head = base.queue[0];
  if (head === undefined || head.ticket !== forTicket) return advance(base, now, fx);
  return grantHead(base, head, at, fx);
}

/** Grant the head; `at` is when its reservation was written (`reserved_at`), so `since` matches the row. */
function grantHead(s: LockState, head: Queued, at: number, fx: LockEffect[]): LockState {
  fx.push({ type: 'grant', ticket: head.ticket, at });
  const granted: LockState = {
    ...s,
    queue: s.queue.slice(1),
    holder: { ticket: head.ticket, purpose: head.purpose, requestId: head.requestId, since: at },
  };
  return answerRelease(granted, { kind: 'ok' }, fx);
}

function onReserveRefused(s: LockState, holder: LockHolder, now: number, fx: LockEffect[]): LockState {
  const forTicket = s.awaiting?.ticket ?? null;
  const base: LockState = { ...s, awaiting: null, outsideHolder: holder };
  const head = base.queue[0];
  if (head === undefined || head.ticket !== forTicket) return advance(base, now, fx);
  if (base.woken) return wakeReserve({ ...base, woken: false }, head, now, fx);
  if (head.attemptsUsed >= head.maxAttempts) {
    fx.push({ type: 'fail', ticket: head.ticket, reason: { kind: 'locked', by: { kind: 'outside', holder } } });
    return advance({ ...base, queue: base.queue.slice(1) }, now, fx);
  }
  if (base.retry !== null) return base;
  fx.push({ type: 'armRetry', delayMs: base.settings.retryIntervalMs });
  return { ...base, retry: { for: 'outside', ticket: head.ticket } };
}

function onReserveFailed(s: LockState, error: unknown, now: number, fx: LockEffect[]): LockState {
  const forTicket = s.awaiting?.ticket ?? null;
  const base: LockState = { ...s, awaiting: null, woken: false };
  const head = base.queue[0];
  if (head === undefined || head.ticket !== forTicket) return advance(base, now, fx);
  fx.push({ type: 'fail', ticket: head.ticket, reason: { kind: 'store', error } });
  return advance({ ...base, queue: base.queue.slice(1) }, now, fx);
}

function onCleared(s: LockState, now: number, fx: LockEffect[]): LockState {
  // A retry armed while we were reserved was the retry of a failed clear: no longer needed.
  if (s.retry !== null) fx.push({ type: 'cancelRetry' });
  const cleared: LockState = { ...s, awaiting: null, reserved: false, clearFailures: 0, retry: null };
  return advance(answerRelease(cleared, { kind: 'ok' }, fx), now, fx);
}

function onClearFailed(s: LockState, error: unknown, retriable: boolean, now: number, fx: LockEffect[]): LockState {
  const answered = answerRelease(s, { kind: 'failed', error }, fx);
  if (!retriable) return advance({ ...answered, awaiting: null, reserved: false }, now, fx);
  // The row still names us: keep owning it, so the next local request is handed the lock (one
  // conditional UPDATE), and clear it in the background until the store answers.
  const base: LockState = { ...answered, awaiting: null, clearFailures: answered.clearFailures + 1 };
  if (base.queue.length > 0) return advance(base, now, fx);
  if (base.retry !== null) return base;
  fx.push({ type: 'armRetry', delayMs: Math.min(CLEAR_RETRY_MAX_MS, CLEAR_RETRY_MIN_MS * 2 ** answered.clearFailures) });
  return { ...base, retry: CLEAR_RETRY };
}

function onOutsideCleared(s: LockState, now: number, fx: LockEffect[]): LockState {
  const head = s.queue[0];
  if (s.holder !== null || s.reserved || s.gone || head === undefined) return advance(s, now, fx);
  // A reserve in flight may have been refused just before the release: try once more after it.
  if (s.awaiting !== null) return s.awaiting.operation === 'reserve' ? { ...s, woken: true } : s;
  if (s.retry?.for !== 'outside') return advance(s, now, fx);
  // The head was waiting out the retry interval against that holder: it tries at once, and the
  // interval's timer stays armed (a safety poll; this attempt is outside the budget).
  return wakeReserve(s, head, now, fx);
}

/** A reserve for the head that does not count against its attempts (a wake-up). */
function wakeReserve(s: LockState, head: Queued, now: number, fx: LockEffect[]): LockState {
  if (s.retry?.for === 'outside' && s.retry.ticket !== head.ticket) {
    fx.push({ type: 'cancelRetry' });
    s = { ...s, retry: null };
  }
  fx.push({ type: 'reserve', purpose: head.purpose, at: now, counted: false });
  return { ...s, awaiting: { operation: 'reserve', ticket: head.ticket, at: now } };
}

function onHandedOver(s: LockState, now: number, fx: LockEffect[]): LockState {
  const to = s.outsideWaiter?.host ?? null;
  const handed: LockState = {
    ...s,
    awaiting: null,
    reserved: false,
    outsideWaiter: null,
    outsideHolder: to === null ? s.outsideHolder : { host: to },
  };
  return advance(answerRelease(handed, { kind: 'ok' }, fx), now, fx);
}

function onHandOverRefused(s: LockState, lost: boolean, now: number, fx: LockEffect[]): LockState {
  // Lost: the row is not ours (as a refused transfer). Else the waiter left: hand off or clear as usual.
  if (lost) return advance(answerRelease({ ...s, awaiting: null, reserved: false, outsideWaiter: null }, { kind: 'ok' }, fx), now, fx);
  return advance({ ...s, awaiting: null, outsideWaiter: null }, now, fx);
}

function onAdopted(s: LockState, now: number, fx: LockEffect[]): LockState {
  // One store call at a time: a call in flight is answered first (its answer is stale: the row is ours).
  if (s.awaiting !== null) return { ...s, adoptPending: true };
  // The row is ours now: the head is granted, or the reservation cleared.
  if (s.retry?.for === 'outside') fx.push({ type: 'cancelRetry' });
  const base: LockState = {
    ...s,
    awaiting: null,
    woken: false,
    reserved: true,
    outsideHolder: null,
    retry: s.retry?.for === 'outside' ? null : s.retry,
  };
  const head = base.queue[0];
  if (base.holder !== null || head === undefined) return advance(base, now, fx);
  return grantHead(base, head, now, fx);
}

function onGone(s: LockState, fx: LockEffect[]): LockState {
  for (const queued of s.queue) fx.push({ type: 'fail', ticket: queued.ticket, reason: { kind: 'notFound' } });
  if (s.retry !== null) fx.push({ type: 'cancelRetry' });
  const answered = answerRelease(s, { kind: 'notFound' }, fx);
  // A holder still has to release (and be told NotFound): the actor retires after that.
  if (answered.holder === null) fx.push({ type: 'retire' });
  return { ...answered, queue: [], awaiting: null, reserved: false, retry: null, gone: true };
}

/**
 * Move the lock on: start the store call the head of the queue needs, or clear a reservation
 * nobody needs. Does nothing while a store call is in flight or a retry timer is armed.
 */
function advance(s: LockState, now: number, fx: LockEffect[]): LockState {
  if (s.awaiting !== null || s.holder !== null || s.gone) return s;
  const head = s.queue[0];
  if (head === undefined) {
    if (!s.reserved) {
      // Nobody is left to retry against the outside holder: drop its timer (the node can go idle).
      if (s.retry?.for !== 'outside') return s;
      fx.push({ type: 'cancelRetry' });
      return { ...s, retry: null };
    }
    if (s.outsideWaiter !== null) return handOver(s, s.outsideWaiter, now, fx);
    fx.push({ type: 'clear' });
    return { ...s, awaiting: { operation: 'clear', ticket: null, at: now } };
  }
  if (s.reserved) {
    // Another conductor has waited longer than our next request: its turn (cross-process FIFO).
    if (s.outsideWaiter !== null && s.outsideWaiter.since < head.arrivedAt) return handOver(s, s.outsideWaiter, now, fx);
    // Hand-off between local holders: re-label the reservation we already hold.
    fx.push({ type: 'transfer', purpose: head.purpose, at: now });
    return { ...s, awaiting: { operation: 'transfer', ticket: head.ticket, at: now } };
  }
  if (s.retry !== null) {
    // The head is waiting out the interval against an outside holder.
    if (s.retry.for === 'clear' || s.retry.ticket === head.ticket) return s;
    // The head it was armed for left (aborted, failed): the new head tries at once, as Ironic's
    // first attempt does.
    fx.push({ type: 'cancelRetry' });
    s = { ...s, retry: null };
  }
  fx.push({ type: 'reserve', purpose: head.purpose, at: now, counted: true });
  const tried: Queued = { ...head, attemptsUsed: head.attemptsUsed + 1 };
  return { ...s, queue: [tried, ...s.queue.slice(1)], awaiting: { operation: 'reserve', ticket: head.ticket, at: now } };
}

function handOver(s: LockState, to: OutsideWaiter, now: number, fx: LockEffect[]): LockState {
  fx.push({ type: 'handOver', to: to.host });
  return { ...s, awaiting: { operation: 'handOver', ticket: null, at: now } };
}

function answerRelease(s: LockState, outcome: ReleaseOutcome, fx: LockEffect[]): LockState {
  if (s.releasing === null) return s;
  fx.push({ type: 'released', ticket: s.releasing, outcome });
  return { ...s, releasing: null };
}

function without<T>(items: readonly T[], index: number): T[] {
  return [...items.slice(0, index), ...items.slice(index + 1)];
}
