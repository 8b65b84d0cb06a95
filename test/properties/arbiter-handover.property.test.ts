/**
 * Model-based property tests of the pure lock arbiter (src/locks/arbiter.ts) with several conductors
 * on one shared store: besides what arbiter.property.test.ts drives (acquire, abort, release, time,
 * store answers, a third-party holder "X", an operator clearing our row, deletion), fast-check
 * programs here include an outside conductor "B" that starts and stops waiting for the node with a
 * `since` (fed as `outsideWaiter`, or not fed: a stale view), takes the free row, releases it (with or
 * without a notification), hands it back to us (`adopted`); the store answering a `handOver`
 * (`handedOver`, `handOverRefused` lost or not); spurious and real wake-ups (`outsideCleared`) at
 * any time. Checked after every effect:
 *  - exclusivity: a grant only while the simulated row names us; after `handedOver` the row names B,
 *    we are not reserved, and nobody is granted until `reserved`/`adopted`;
 *  - FIFO across processes: a `handOver` goes to the waiter the arbiter knows, whose `since` is older
 *    than every local request still waiting; a `transfer` or `clear` never happens while a known
 *    outside waiter is older than every local waiting request (or nobody waits locally);
 *  - FIFO locally: a grant never overtakes an earlier local request still waiting;
 *  - the budget: only `counted` reserves count (the model's count equals the arbiter's
 *    `attemptsUsed`, and never exceeds `attempts`); a head failing against an outside holder made
 *    exactly `attempts` counted attempts; patient requests never time out;
 *  - exactly-once release: each release is answered once; one whose hand-off is a `handOver` is
 *    answered when that hand-over (or what follows a refused one) is answered, and is pending on a
 *    store call meanwhile;
 *  - at most one store effect in flight, as the last effect of its step;
 *  - no starvation: after the program, B stops waiting and gives the node back (release or
 *    hand-back), X leaves, the store is healthy: every request settles, the row ends up not ours
 *    and the arbiter idle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  budgetOf,
  initialLockState,
  isIdle,
  step,
  type ArbiterSettings,
  type FailReason,
  type LockEffect,
  type LockEvent,
  type LockState,
  type OutsideWaiter,
  type ReleaseOutcome,
} from '../../src/locks/arbiter.js';
import { propertyRuns } from '../helpers/runs.js';

type Mode = 'retry' | 'patient' | 'noretry';
type Status = 'waiting' | 'held' | 'failed' | 'aborted' | 'released';

interface TicketModel {
  readonly ticket: number;
  readonly mode: Mode;
  readonly askedAt: number;
  status: Status;
  failure: FailReason | null;
  /** Counted reserve effects issued while this ticket was the head. */
  reserveAttempts: number;
  releaseAnswers: ReleaseOutcome[];
}

interface Timer {
  readonly at: number;
  readonly event: LockEvent;
  readonly seq: number;
}

type Pending = Extract<LockEffect, { type: 'reserve' | 'transfer' | 'clear' | 'handOver' }>;
/** Who the simulated row names: free, us, a third-party holder X, the other conductor B, or deleted. */
type Row = 'free' | 'us' | 'X' | 'B' | 'deleted';

const isStoreEffect = (effect: LockEffect): effect is Pending =>
  effect.type === 'reserve' || effect.type === 'transfer' || effect.type === 'clear' || effect.type === 'handOver';

class World {
  lock: LockState;
  now = 1_000_000;
  readonly tickets = new Map<number, TicketModel>();
  readonly order: number[] = [];
  row: Row = 'free';
  pending: Pending | null = null;
  timers: Timer[] = [];
  retryTimers = 0;
  retired = false;
  /** B waits for the node (the truth in the store), since when. */
  bWaiting: OutsideWaiter | null = null;
  /** The outside waiter last fed to the arbiter (its view, possibly stale). */
  fed: OutsideWaiter | null = null;
  /** Set by `handedOver`, cleared by `reserved`/`adopted`: no grant meanwhile. */
  handedAway = false;
  /** The ticket whose release is being answered, and whether its hand-off is a hand-over. */
  releasing: number | null = null;
  releaseViaHandOver = false;
  handOvers = 0;
  adoptions = 0;
  readonly waitingAtDeletion = new Set<number>();
  #nextTicket = 1;
  #seq = 0;

  /**
   * `adoptInFlight`: B may hand the row back while one of our store calls (a reserve) is in flight,
   * as the arbiter's contract allows events between a store effect and its result; false mirrors the
   * node actor, which awaits each store call before its next message.
   */
  constructor(
    readonly settings: ArbiterSettings,
    readonly adoptInFlight = true,
  ) {
    this.lock = initialLockState(settings);
  }

  get holder(): TicketModel | undefined {
    return [...this.tickets.values()].find((t) => t.status === 'held');
  }

  waiting(): TicketModel[] {
    return this.order.map((n) => this.tickets.get(n) as TicketModel).filter((t) => t.status === 'waiting');
  }

  feed(event: LockEvent): void {
    if (event.type === 'outsideWaiter') this.fed = event.waiter;
    if (event.type === 'reserved' || event.type === 'adopted') this.handedAway = false;
    // The arbiter forgets the waiter it handed to, or whose hand-over was refused.
    if (event.type === 'handedOver' || event.type === 'handOverRefused') this.fed = null;
    const before = this.lock;
    const { state, effects } = step(this.lock, event, this.now);
    this.lock = state;
    this.#checkWakeUp(event, before, effects);
    const follow: LockEvent[] = [];
    let stores = 0;
    for (const effect of effects) {
      const next = this.#perform(effect, before);
      if (isStoreEffect(effect)) {
        stores += 1;
        assert.equal(effect, effects[effects.length - 1], 'a store effect is the last of its step');
      }
      if (next !== null) follow.push(next);
    }
    assert.ok(stores <= 1, 'at most one store effect per step');
    for (const next of follow) this.feed(next);
    this.#checkInvariants();
  }

  /** A wake-up makes the head facing an outside holder reserve at once, outside its budget (or right after a reserve in flight). */
  #checkWakeUp(event: LockEvent, before: LockState, effects: readonly LockEffect[]): void {
    const uncounted = effects.some((e) => e.type === 'reserve' && !e.counted);
    const facingOutside = !before.gone && before.holder === null && !before.reserved && before.queue.length > 0;
    if (event.type === 'outsideCleared' && facingOutside && before.retry?.for === 'outside') {
      if (before.awaiting === null) assert.ok(uncounted, 'a wake-up makes the head reserve at once, uncounted');
      else if (before.awaiting.operation === 'reserve') assert.ok(this.lock.woken, 'a wake-up during a reserve is remembered');
    }
    if (event.type === 'reserveRefused' && before.woken && !before.adoptPending && before.queue[0]?.ticket === before.awaiting?.ticket) {
      assert.ok(uncounted, 'woken: the head tries again right after the refusal, uncounted');
    }
  }

  #perform(effect: LockEffect, before: LockState): LockEvent | null {
    switch (effect.type) {
      case 'reserve':
      case 'transfer':
      case 'clear':
      case 'handOver': {
        assert.equal(this.pending, null, 'one store call in flight at a time');
        this.pending = effect;
        const waiting = this.waiting();
        const oldestLocal = waiting[0]?.askedAt ?? Number.POSITIVE_INFINITY;
        if (effect.type === 'reserve') {
          const head = waiting[0];
          assert.ok(head !== undefined, 'a reserve is made for a waiting head');
          assert.equal(effect.purpose, `p${head.ticket}`, 'a reserve is made for the oldest waiting request');
          assert.notEqual(this.row, 'us', 'no reserve while the row names us and we know it');
          if (effect.counted) {
            head.reserveAttempts += 1;
            assert.ok(head.reserveAttempts <= budgetOf(modeOf(head.mode), this.settings, head.askedAt).maxAttempts, 'attempts bounded');
          }
        } else if (effect.type === 'handOver') {
          this.handOvers += 1;
          assert.ok(this.fed !== null, 'a hand-over goes to a known outside waiter');
          assert.equal(effect.to, this.fed.host, 'a hand-over goes to the oldest outside waiter');
          assert.ok(
            this.fed.since < oldestLocal,
            `FIFO across processes: the outside waiter (since ${this.fed.since}) is older than every local waiter (oldest ${oldestLocal})`,
          );
          assert.equal(this.holder, undefined, 'no hand-over under a local holder');
          assert.ok(before.reserved || this.lock.reserved, 'a hand-over of a reservation we hold');
        } else {
          // A transfer or clear keeps the node here: no known outside waiter may be older than all local waiters.
          if (this.fed !== null) {
            assert.ok(
              !(this.fed.since < oldestLocal),
              `FIFO across processes: ${effect.type} while the outside waiter (since ${this.fed.since}) is older than every local waiter (${oldestLocal})`,
            );
          }
          if (effect.type === 'transfer')
            assert.equal(effect.purpose, `p${waiting[0]?.ticket}`, 'a transfer for the oldest waiting request');
        }
        return null;
      }
      case 'grant': {
        const t = this.tickets.get(effect.ticket);
        assert.ok(t !== undefined, 'grant of a known ticket');
        if (t.status === 'aborted') return { type: 'abort', ticket: t.ticket };
        assert.equal(t.status, 'waiting', 'granted once, and only while waiting');
        assert.equal(this.holder, undefined, 'exclusivity: one holder at a time');
        assert.equal(this.row, 'us', 'exclusivity: granted only with the row in our name');
        assert.ok(!this.handedAway, 'exclusivity: no grant after handedOver until reserved/adopted');
        const earlier = this.waiting().filter((w) => w.ticket < t.ticket);
        assert.deepEqual(
          earlier.map((w) => w.ticket),
          [],
          'FIFO: no earlier request still waiting',
        );
        t.status = 'held';
        return null;
      }
      case 'fail': {
        const t = this.tickets.get(effect.ticket);
        assert.ok(t !== undefined);
        if (t.status === 'aborted') return null;
        assert.equal(t.status, 'waiting', 'failed once, and only while waiting');
        t.status = 'failed';
        t.failure = effect.reason;
        this.#checkFailure(t, effect.reason);
        return null;
      }
      case 'armDeadline':
        this.timers.push({ at: this.now + effect.delayMs, event: { type: 'deadline', ticket: effect.ticket }, seq: this.#seq++ });
        return null;
      case 'armRetry':
        assert.equal(this.retryTimers, 0, 'one retry timer at a time');
        this.retryTimers += 1;
        this.timers.push({ at: this.now + effect.delayMs, event: { type: 'retry' }, seq: this.#seq++ });
        return null;
      case 'cancelRetry':
        this.timers = this.timers.filter((timer) => timer.event.type !== 'retry');
        this.retryTimers = 0;
        return null;
      case 'released': {
        const t = this.tickets.get(effect.ticket);
        assert.ok(t !== undefined);
        t.releaseAnswers.push(effect.outcome);
        assert.equal(t.releaseAnswers.length, 1, 'a release is answered exactly once');
        assert.equal(this.releasing, t.ticket, 'only a release in progress is answered');
        if (effect.outcome.kind === 'notFound') assert.equal(this.row, 'deleted');
        this.releasing = null;
        this.releaseViaHandOver = false;
        return null;
      }
      case 'retire':
        assert.equal(this.row, 'deleted', 'retires only a deleted node');
        assert.equal(this.holder, undefined, 'retires only once the holder released');
        this.retired = true;
        return null;
    }
  }

  #checkFailure(t: TicketModel, reason: FailReason): void {
    if (reason.kind === 'notFound') {
      assert.equal(this.row, 'deleted', 'NotFound only for a deleted node');
      return;
    }
    if (reason.kind === 'store') return;
    const budget = budgetOf(modeOf(t.mode), this.settings, t.askedAt);
    assert.notEqual(t.mode, 'patient', 'a patient request never fails for want of time');
    if (reason.by.kind === 'outside') {
      if (t.reserveAttempts > 0)
        assert.equal(t.reserveAttempts, budget.maxAttempts, 'outside: exactly `attempts` counted reserve attempts');
      else assert.equal(this.now, budget.deadline, 'outside, never tried: exactly at its deadline');
    } else {
      assert.equal(this.now, budget.deadline, 'local wait ends exactly at (attempts − 1) × interval');
    }
  }

  #checkInvariants(): void {
    const held = [...this.tickets.values()].filter((t) => t.status === 'held');
    assert.ok(held.length <= 1, 'exclusivity');
    if (held.length === 1) {
      assert.equal(this.lock.holder?.ticket, held[0]?.ticket, 'the arbiter names the holder');
      if (this.row !== 'deleted') assert.equal(this.row, 'us', 'exclusivity: a holder implies the row names us');
    }
    if (this.handedAway) {
      assert.equal(this.lock.reserved, false, 'after handedOver we are not reserved');
      assert.equal(this.lock.holder, null, 'after handedOver nobody holds here');
    }
    // The budget the arbiter keeps is the model's count of counted reserves.
    for (const q of this.lock.queue) {
      const t = this.tickets.get(q.ticket);
      assert.ok(t !== undefined && t.status === 'waiting', 'the queue holds waiting requests only');
      assert.equal(q.attemptsUsed, t.reserveAttempts, 'attemptsUsed counts only counted reserves');
    }
    if (this.releasing !== null && !this.lock.gone) {
      // A release not answered yet waits for the store call that hands the node on.
      assert.ok(this.lock.awaiting !== null, 'a pending release waits for a store call in flight');
      if (this.releaseViaHandOver) assert.ok(this.lock.awaiting.operation !== 'reserve', 'a release waits for a hand-off, not a reserve');
    }
    if (this.lock.gone) {
      for (const ticket of this.waitingAtDeletion) assert.notEqual(this.tickets.get(ticket)?.status, 'waiting', 'deletion fails waiters');
    }
  }

  // ---- local commands -----------------------------------------------------------------------

  acquire(mode: Mode): void {
    const ticket = this.#nextTicket++;
    const t: TicketModel = { ticket, mode, askedAt: this.now, status: 'waiting', failure: null, reserveAttempts: 0, releaseAnswers: [] };
    this.tickets.set(ticket, t);
    this.order.push(ticket);
    this.feed({ type: 'acquire', request: { ticket, purpose: `p${ticket}`, requestId: `r${ticket}`, ...modeOf(mode) } });
    if (this.lock.gone) assert.notEqual(t.status, 'waiting', 'a node known deleted refuses new requests at once');
    else if (this.row === 'deleted') this.waitingAtDeletion.add(ticket);
  }

  abort(index: number): void {
    const waiting = this.waiting();
    if (waiting.length === 0) return;
    const t = waiting[index % waiting.length] as TicketModel;
    t.status = 'aborted';
    this.feed({ type: 'abort', ticket: t.ticket });
  }

  release(): void {
    const holder = this.holder;
    if (holder === undefined || this.releasing !== null) return;
    holder.status = 'released';
    this.releasing = holder.ticket;
    this.feed({ type: 'release', ticket: holder.ticket });
    if (this.lock.awaiting?.operation === 'handOver' && this.pending?.type === 'handOver') {
      // Its hand-off is a hand-over: answered when the store answers, not before.
      assert.equal(this.releasing, holder.ticket, 'a release handed over is answered once the hand-over is');
      this.releaseViaHandOver = true;
    }
  }

  tick(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const due = this.timers[0];
      if (due === undefined || due.at > until) break;
      this.timers.shift();
      this.now = Math.max(this.now, due.at);
      if (due.event.type === 'retry') this.retryTimers = 0;
      this.feed(due.event);
    }
    this.now = until;
  }

  /** The store answers the call in flight; `fault` injects a store error (reserve, clear). */
  answer(fault: boolean, lostHandOver = false): void {
    const op = this.pending;
    if (op === null) return;
    this.pending = null;
    if (this.row === 'deleted') {
      this.feed({ type: 'gone' });
      return;
    }
    switch (op.type) {
      case 'reserve':
        if (fault) this.feed({ type: 'reserveFailed', error: new Error('disk I/O error') });
        else if (this.row === 'free') {
          this.row = 'us';
          this.feed({ type: 'reserved' });
        } else this.feed({ type: 'reserveRefused', holder: { host: this.row === 'us' ? 'self' : this.row } });
        return;
      case 'transfer':
        if (this.row === 'us') this.feed({ type: 'transferred' });
        else this.feed({ type: 'transferRefused', error: new Error('not ours') });
        return;
      case 'clear':
        if (this.row === 'us') {
          if (fault) this.feed({ type: 'clearFailed', error: new Error('disk I/O error'), retriable: true });
          else {
            this.row = 'free';
            this.feed({ type: 'cleared' });
          }
        } else this.feed({ type: 'clearFailed', error: new Error('not ours'), retriable: false });
        return;
      case 'handOver': {
        // `lostHandOver`: the hand-over found the row taken from us behind our back (operator, recovery).
        if (lostHandOver && this.row === 'us') this.row = 'free';
        if (this.row !== 'us') this.feed({ type: 'handOverRefused', lost: true });
        else if (op.to === 'B' && this.bWaiting !== null) {
          this.row = 'B';
          this.bWaiting = null;
          this.handedAway = true;
          this.feed({ type: 'handedOver' });
          assert.equal(this.lock.reserved, false, 'handedOver: no longer reserved');
          assert.equal(this.lock.outsideHolder?.host, 'B', 'handedOver: the head faces B');
        } else this.feed({ type: 'handOverRefused', lost: false });
        return;
      }
    }
  }

  // ---- the world outside --------------------------------------------------------------------

  outsideTakes(): void {
    if (this.row === 'free') this.row = 'X';
  }

  outsideDrops(notify: boolean): void {
    if (this.row !== 'X') return;
    this.row = 'free';
    if (notify) this.feed({ type: 'outsideCleared' });
  }

  /** A wake-up at any time (also spurious: the row may be held again, or ours). */
  wake(): void {
    this.feed({ type: 'outsideCleared' });
  }

  /** B starts waiting (or refreshes its entry): since `ago` ms before now, or as old as one of our requests. */
  bWaits(ago: { ms: number } | { tie: number }, notify: boolean): void {
    if (this.row === 'B' || this.row === 'deleted') return;
    if (this.bWaiting === null) {
      let since = this.now - ('ms' in ago ? ago.ms : 0);
      if ('tie' in ago && this.order.length > 0)
        since = (this.tickets.get(this.order[ago.tie % this.order.length] as number) as TicketModel).askedAt;
      this.bWaiting = { host: 'B', since };
    }
    if (notify) this.feed({ type: 'outsideWaiter', waiter: this.bWaiting });
  }

  /** B stops waiting (aborted, timed out); without `notify` the arbiter keeps a stale view. */
  bStops(notify: boolean): void {
    this.bWaiting = null;
    if (notify) this.feed({ type: 'outsideWaiter', waiter: null });
  }

  /** B wins a free row (it raced us). */
  bTakes(): void {
    if (this.row !== 'free' || this.bWaiting === null) return;
    this.row = 'B';
    this.bWaiting = null;
    this.feed({ type: 'outsideWaiter', waiter: null });
  }

  /** B releases its reservation, with or without a notification reaching us. */
  bReleases(notify: boolean): void {
    if (this.row !== 'B') return;
    this.row = 'free';
    if (notify) this.feed({ type: 'outsideCleared' });
  }

  /** B hands the reservation to us (we are its oldest outside waiter, as far as it knows). */
  bHandsBack(): void {
    // The actor adopts only a row it does not think it holds already.
    if (this.row !== 'B' || this.lock.reserved) return;
    if (!this.adoptInFlight && this.pending !== null) return;
    this.row = 'us';
    this.adoptions += 1;
    this.feed({ type: 'adopted' });
  }

  operatorClears(): void {
    if (this.row === 'us' && this.holder === undefined) this.row = 'free';
  }

  deleteNode(viaHolder: boolean): void {
    if (this.row === 'deleted') return;
    for (const t of this.waiting()) this.waitingAtDeletion.add(t.ticket);
    this.row = 'deleted';
    this.bWaiting = null;
    if (viaHolder && this.holder !== undefined) this.feed({ type: 'gone' });
  }

  /** After the program: B stops waiting and gives the node back, X leaves, the store is healthy, holders finish. */
  drain(): void {
    this.bStops(true);
    for (let round = 0; round < 10_000; round += 1) {
      if (this.row === 'X') this.outsideDrops(round % 2 === 0);
      if (this.row === 'B') {
        if (round % 3 === 0) this.bHandsBack();
        if (this.row === 'B') this.bReleases(round % 3 === 1);
      }
      if (this.pending !== null) {
        this.answer(false);
        continue;
      }
      if (this.holder !== undefined && this.releasing === null) {
        this.release();
        continue;
      }
      if (this.timers.length > 0) {
        this.tick(Math.max(0, Math.min(...this.timers.map((t) => t.at)) - this.now));
        continue;
      }
      break;
    }
    for (const t of this.tickets.values()) {
      assert.ok(t.status !== 'waiting' && t.status !== 'held', `ticket ${t.ticket} settled (no starvation)`);
      if (t.status === 'released') assert.equal(t.releaseAnswers.length, 1, 'every holder released exactly once');
      if (t.mode === 'patient' && t.status === 'failed') assert.notEqual(t.failure?.kind, 'locked', 'patient never times out');
    }
    assert.equal(this.releasing, null, 'every release answered');
    if (this.row === 'deleted') assert.ok(this.retired || isIdle(this.lock), 'a deleted node retires');
    else {
      assert.notEqual(this.row, 'us', 'the reservation ends up cleared or handed');
      assert.ok(isIdle(this.lock), 'the lock is idle at the end');
    }
  }
}

function modeOf(mode: Mode): { retry: boolean; patient: boolean } {
  return { retry: mode !== 'noretry', patient: mode === 'patient' };
}

type Command = fc.Command<object, World>;
const cmd = (name: string, run: (world: World) => void): Command => ({
  check: () => true,
  run: (_model, world) => run(world),
  toString: () => name,
});

const modeArb = fc.constantFrom<Mode>('retry', 'retry', 'patient', 'noretry');
const agoArb = fc.oneof(
  fc.integer({ min: 0, max: 3_000 }).map((ms) => ({ ms })),
  fc.nat(5).map((tie) => ({ tie })),
);
const commands: fc.Arbitrary<Command>[] = [
  modeArb.map((mode) => cmd(`acquire(${mode})`, (w) => w.acquire(mode))),
  modeArb.map((mode) => cmd(`acquire(${mode})`, (w) => w.acquire(mode))),
  fc.nat(5).map((i) => cmd(`abort(${i})`, (w) => w.abort(i))),
  fc.constant(cmd('release', (w) => w.release())),
  fc.constant(cmd('release', (w) => w.release())),
  fc.integer({ min: 0, max: 2_500 }).map((ms) => cmd(`tick(${ms})`, (w) => w.tick(ms))),
  fc.boolean().map((fault) => cmd(`answer(${fault ? 'fault' : 'ok'})`, (w) => w.answer(fault))),
  fc.constant(cmd('answer(ok)', (w) => w.answer(false))),
  fc.constant(cmd('answer(ok)', (w) => w.answer(false))),
  fc.constant(cmd('answer(lostHandOver)', (w) => w.answer(false, true))),
  fc.constant(cmd('outsideTakes', (w) => w.outsideTakes())),
  fc.boolean().map((notify) => cmd(`outsideDrops(${notify})`, (w) => w.outsideDrops(notify))),
  fc.constant(cmd('wake', (w) => w.wake())),
  fc
    .tuple(agoArb, fc.boolean(), fc.boolean())
    .map(([ago, notify]) => cmd(`bWaits(${JSON.stringify(ago)}, ${notify})`, (w) => w.bWaits(ago, notify))),
  agoArb.map((ago) => cmd(`bWaits(${JSON.stringify(ago)}, true)`, (w) => w.bWaits(ago, true))),
  fc.boolean().map((notify) => cmd(`bStops(${notify})`, (w) => w.bStops(notify))),
  fc.constant(cmd('bStops(false)', (w) => w.bStops(false))),
  fc.constant(cmd('bTakes', (w) => w.bTakes())),
  fc.boolean().map((notify) => cmd(`bReleases(${notify})`, (w) => w.bReleases(notify))),
  fc.constant(cmd('bHandsBack', (w) => w.bHandsBack())),
  fc.constant(cmd('bHandsBack', (w) => w.bHandsBack())),
  fc.constant(cmd('operatorClears', (w) => w.operatorClears())),
  fc.boolean().map((viaHolder) => cmd(`deleteNode(${viaHolder})`, (w) => w.deleteNode(viaHolder))),
];
const program = fc.commands(commands, { maxCommands: 50 });
const settingsArb = fc.record({ attempts: fc.integer({ min: 1, max: 4 }), retryIntervalMs: fc.integer({ min: 1, max: 1_000 }) });

/** `SEED=… PATH_=…` replays a reported failure. */
function replay(): { seed?: number; path?: string } {
  const seed = Number(process.env.SEED);
  return Number.isInteger(seed) ? { seed, ...(process.env.PATH_ ? { path: process.env.PATH_ } : {}) } : {};
}

function run(adoptInFlight: boolean): void {
  let handOvers = 0;
  let adoptions = 0;
  fc.assert(
    fc.property(settingsArb, program, (settings, cmds) => {
      const world = new World(settings, adoptInFlight);
      fc.modelRun(() => ({ model: {}, real: world }), cmds);
      world.drain();
      handOvers += world.handOvers;
      adoptions += world.adoptions;
    }),
    { numRuns: propertyRuns(3_000), includeErrorInReport: true, ...replay() },
  );
  // The generator reaches the new paths.
  assert.ok(handOvers > 0 && adoptions > 0, `hand-overs ${handOvers}, adoptions ${adoptions}`);
}

describe('lock arbiter (pure): several conductors on one store, model-based', () => {
  it('exclusivity, FIFO across processes, counted budget, exactly-once release and no starvation hold with hand-overs, adoptions and wake-ups', () => {
    run(true);
  });

  it('the same, with adoptions only between store calls (as the node actor delivers them)', () => {
    run(false);
  });
});
