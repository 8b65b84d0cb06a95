/**
 * Model-based property tests of the pure lock arbiter (src/locks/arbiter.ts), with no actor, no
 * store and no clock: fast-check drives random commands (acquire in three modes, abort, release,
 * stray release, time passing, store answers with injected failures, a holder outside the process
 * taking and dropping the node, an operator clearing our reservation, node deletion) against a
 * simulated store and timer wheel, and a reference model checks after every effect:
 *  - exclusivity: one holder at a time, and only while the store names us;
 *  - FIFO: a grant never overtakes an earlier request that is still waiting;
 *  - the budget: a `retry` request behind a local holder fails exactly at (attempts − 1) × interval
 *    after it asked, never earlier; against an outside holder after exactly `attempts` reserve
 *    attempts; `retry: false` at once; `patient` never for want of time;
 *  - aborts: an aborted request is never granted;
 *  - exactly-once release: each release is answered once, a stray one is refused;
 *  - node deletion: every waiter fails NotFound, and the arbiter retires once the holder released;
 *  - no starvation: after the commands, with the outside holder gone and the store healthy, every
 *    request settles and the reservation ends up cleared.
 * `PROPERTY_RUNS=100000 node --import tsx --test test/properties/arbiter.property.test.ts` runs 10^5
 * programs (about 3 s); CI runs 3,000.
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
  failedAt: number | null;
  /** Reserve effects issued while this ticket was the head. */
  reserveAttempts: number;
  releaseAnswers: ReleaseOutcome[];
}

interface Timer {
  readonly at: number;
  readonly event: LockEvent;
  readonly seq: number;
}

type Pending = Extract<LockEffect, { type: 'reserve' | 'transfer' | 'clear' }>;

/** The arbiter in a simulated world, checked against the reference model after every effect. */
class World {
  lock: LockState;
  now = 1_000_000;
  readonly tickets = new Map<number, TicketModel>();
  /** Requests in the order they asked. */
  readonly order: number[] = [];
  store: 'free' | 'us' | 'outside' | 'deleted' = 'free';
  pending: Pending | null = null;
  timers: Timer[] = [];
  retryTimers = 0;
  retired = false;
  /** Tickets still waiting when the node was deleted: each must fail NotFound. */
  readonly waitingAtDeletion = new Set<number>();
  #nextTicket = 1;
  #seq = 0;
  /** The ticket a release in progress belongs to. */
  releasing: number | null = null;

  constructor(readonly settings: ArbiterSettings) {
    this.lock = initialLockState(settings);
  }

  get holder(): TicketModel | undefined {
    return [...this.tickets.values()].find((t) => t.status === 'held');
  }

  waiting(): TicketModel[] {
    return this.order.map((n) => this.tickets.get(n) as TicketModel).filter((t) => t.status === 'waiting');
  }

  feed(event: LockEvent): void {
    const { state, effects } = step(this.lock, event, this.now);
    this.lock = state;
    const follow: LockEvent[] = [];
    let stores = 0;
    for (const effect of effects) {
      const next = this.#perform(effect);
      if (effect.type === 'reserve' || effect.type === 'transfer' || effect.type === 'clear') {
        stores += 1;
        assert.equal(effect, effects[effects.length - 1], 'a store effect is the last of its step');
      }
      if (next !== null) follow.push(next);
    }
    assert.ok(stores <= 1, 'at most one store effect per step');
    for (const next of follow) this.feed(next);
    this.#checkInvariants();
  }

  #perform(effect: LockEffect): LockEvent | null {
    switch (effect.type) {
      case 'reserve':
      case 'transfer':
      case 'clear': {
        assert.equal(this.pending, null, 'one store call in flight at a time');
        this.pending = effect;
        if (effect.type === 'reserve') {
          const head = this.waiting()[0];
          assert.ok(head !== undefined, 'a reserve is made for a waiting head');
          // A wake-up attempt (after a release notification) is outside the budget.
          if (!effect.counted) return null;
          head.reserveAttempts += 1;
          assert.ok(head.reserveAttempts <= budgetOf(modeOf(head.mode), this.settings, head.askedAt).maxAttempts, 'attempts bounded');
        }
        return null;
      }
      case 'handOver':
        assert.fail('no hand-over without a conductor waiting elsewhere');
        return null;
      case 'grant': {
        const t = this.tickets.get(effect.ticket);
        assert.ok(t !== undefined, 'grant of a known ticket');
        // The caller aborted meanwhile: the actor refuses the grant, as here.
        if (t.status === 'aborted') return { type: 'abort', ticket: t.ticket };
        assert.equal(t.status, 'waiting', 'granted once, and only while waiting');
        assert.equal(this.holder, undefined, 'exclusivity: one holder at a time');
        assert.equal(this.store, 'us', 'granted only with the reservation in our name');
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
        if (t.status === 'aborted') return null; // settled already on the caller's side
        assert.equal(t.status, 'waiting', 'failed once, and only while waiting');
        t.status = 'failed';
        t.failure = effect.reason;
        t.failedAt = this.now;
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
        if (effect.outcome.kind === 'notFound') assert.equal(this.store, 'deleted');
        if (this.releasing === t.ticket) this.releasing = null;
        return null;
      }
      case 'retire':
        assert.equal(this.store, 'deleted', 'retires only a deleted node');
        assert.equal(this.holder, undefined, 'retires only once the holder released');
        this.retired = true;
        return null;
    }
  }

  #checkFailure(t: TicketModel, reason: FailReason): void {
    if (reason.kind === 'notFound') {
      assert.equal(this.store, 'deleted', 'NotFound only for a deleted node');
      return;
    }
    if (reason.kind === 'store') return;
    const budget = budgetOf(modeOf(t.mode), this.settings, t.askedAt);
    assert.notEqual(t.mode, 'patient', 'a patient request never fails for want of time');
    if (reason.by.kind === 'outside') {
      // Against an outside holder: the head after exactly `attempts` reserve attempts; a request
      // that never reached the store (queued behind the head, or no budget) at its deadline.
      if (t.reserveAttempts > 0) assert.equal(t.reserveAttempts, budget.maxAttempts, 'outside: exactly `attempts` reserve attempts');
      else assert.equal(this.now, budget.deadline, 'outside, never tried: exactly at its deadline');
    } else {
      // Behind a local holder: exactly at its deadline, (attempts − 1) × interval after it asked.
      assert.equal(this.now, budget.deadline, 'local wait ends exactly at (attempts − 1) × interval');
    }
  }

  #checkInvariants(): void {
    const held = [...this.tickets.values()].filter((t) => t.status === 'held');
    assert.ok(held.length <= 1, 'exclusivity');
    if (held.length === 1) {
      assert.equal(this.lock.holder?.ticket, held[0]?.ticket, 'the arbiter names the holder');
      if (this.store !== 'deleted') assert.equal(this.store, 'us', 'a holder implies our reservation');
    }
    if (this.lock.gone) {
      for (const ticket of this.waitingAtDeletion) assert.notEqual(this.tickets.get(ticket)?.status, 'waiting', 'deletion fails waiters');
    }
  }

  // ---- commands ---------------------------------------------------------------------------

  acquire(mode: Mode): void {
    const ticket = this.#nextTicket++;
    const t: TicketModel = {
      ticket,
      mode,
      askedAt: this.now,
      status: 'waiting',
      failure: null,
      failedAt: null,
      reserveAttempts: 0,
      releaseAnswers: [],
    };
    this.tickets.set(ticket, t);
    this.order.push(ticket);
    this.feed({ type: 'acquire', request: { ticket, purpose: `p${ticket}`, requestId: `r${ticket}`, ...modeOf(mode) } });
    if (this.lock.gone) assert.notEqual(t.status, 'waiting', 'a node known deleted refuses new requests at once');
    else if (this.store === 'deleted') this.waitingAtDeletion.add(ticket);
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
  }

  strayRelease(): void {
    const done = [...this.tickets.values()].find((t) => t.status !== 'held');
    if (done === undefined) return;
    const before = done.releaseAnswers.length;
    const { effects } = step(this.lock, { type: 'release', ticket: done.ticket }, this.now);
    const answer = effects.find((e) => e.type === 'released');
    assert.ok(answer && answer.type === 'released' && answer.outcome.kind === 'notHolder', 'a stray release is refused');
    assert.equal(effects.length, 1, 'and changes nothing');
    assert.equal(done.releaseAnswers.length, before);
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

  answer(fault: boolean): void {
    const op = this.pending;
    if (op === null) return;
    this.pending = null;
    if (this.store === 'deleted') {
      this.feed({ type: 'gone' });
      return;
    }
    if (op.type === 'reserve') {
      if (fault) this.feed({ type: 'reserveFailed', error: new Error('disk I/O error') });
      else if (this.store === 'free') {
        this.store = 'us';
        this.feed({ type: 'reserved' });
      } else if (this.store === 'outside') this.feed({ type: 'reserveRefused', holder: { host: 'other' } });
      else assert.fail('reserve while the store already names us');
    } else if (op.type === 'transfer') {
      if (this.store === 'us') this.feed({ type: 'transferred' });
      else this.feed({ type: 'transferRefused', error: new Error('not ours') });
    } else if (this.store === 'us') {
      if (fault) this.feed({ type: 'clearFailed', error: new Error('disk I/O error'), retriable: true });
      else {
        this.store = 'free';
        this.feed({ type: 'cleared' });
      }
    } else {
      this.feed({ type: 'clearFailed', error: new Error('not ours'), retriable: false });
    }
  }

  outsideTakes(): void {
    if (this.store === 'free') this.store = 'outside';
  }

  outsideDrops(notify: boolean): void {
    if (this.store !== 'outside') return;
    this.store = 'free';
    if (notify) this.feed({ type: 'outsideCleared' });
  }

  operatorClears(): void {
    // Only between two of our own calls: an operator clearing the row under a live holder is a
    // different story (the holder's writes would fail); here it hits hand-offs and clears.
    if (this.store === 'us' && this.holder === undefined) this.store = 'free';
  }

  deleteNode(viaHolder: boolean): void {
    if (this.store === 'deleted') return;
    for (const t of this.waiting()) this.waitingAtDeletion.add(t.ticket);
    this.store = 'deleted';
    // The holder deleting it tells the arbiter at once; otherwise the next store call answers NotFound.
    if (viaHolder && this.holder !== undefined) this.feed({ type: 'gone' });
  }

  /** After the program: the outside holder leaves, the store is healthy, holders finish. */
  drain(): void {
    for (let round = 0; round < 10_000; round += 1) {
      if (this.store === 'outside') this.outsideDrops(round % 2 === 0);
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
    // A deleted node retires once a store call told the arbiter; one nobody touched since stays idle.
    if (this.store === 'deleted') assert.ok(this.retired || isIdle(this.lock), 'a deleted node retires');
    else {
      assert.equal(this.store, 'free', 'the reservation ends up cleared');
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
const commands: fc.Arbitrary<Command>[] = [
  modeArb.map((mode) => cmd(`acquire(${mode})`, (w) => w.acquire(mode))),
  modeArb.map((mode) => cmd(`acquire(${mode})`, (w) => w.acquire(mode))),
  fc.nat(5).map((i) => cmd(`abort(${i})`, (w) => w.abort(i))),
  fc.constant(cmd('release', (w) => w.release())),
  fc.constant(cmd('release', (w) => w.release())),
  fc.constant(cmd('strayRelease', (w) => w.strayRelease())),
  fc.integer({ min: 0, max: 2_500 }).map((ms) => cmd(`tick(${ms})`, (w) => w.tick(ms))),
  fc.boolean().map((fault) => cmd(`answer(${fault ? 'fault' : 'ok'})`, (w) => w.answer(fault))),
  fc.constant(cmd('answer(ok)', (w) => w.answer(false))),
  fc.constant(cmd('answer(ok)', (w) => w.answer(false))),
  fc.constant(cmd('outsideTakes', (w) => w.outsideTakes())),
  fc.boolean().map((notify) => cmd(`outsideDrops(${notify})`, (w) => w.outsideDrops(notify))),
  fc.constant(cmd('operatorClears', (w) => w.operatorClears())),
  fc.boolean().map((viaHolder) => cmd(`deleteNode(${viaHolder})`, (w) => w.deleteNode(viaHolder))),
];
// Deletion ends most of the interesting behaviour: keep it rare.
const program = fc.commands(commands, { maxCommands: 40 });
const settingsArb = fc.record({ attempts: fc.integer({ min: 1, max: 4 }), retryIntervalMs: fc.integer({ min: 1, max: 1_000 }) });

describe('lock arbiter (pure): model-based', () => {
  it('exclusivity, FIFO, budget, aborts, exactly-once release, deletion and no starvation hold for random programs', () => {
    fc.assert(
      fc.property(settingsArb, program, (settings, cmds) => {
        const world = new World(settings);
        fc.modelRun(() => ({ model: {}, real: world }), cmds);
        world.drain();
      }),
      { numRuns: propertyRuns(3_000) },
    );
  });

  it('a retry request behind a local holder fails at (attempts − 1) × interval, not attempts × interval', () => {
    fc.assert(
      fc.property(settingsArb, (settings) => {
        const world = new World(settings);
        world.acquire('retry');
        world.answer(false); // reserved: the first request holds the node
        world.acquire('retry');
        const waiter = world.tickets.get(2) as TicketModel;
        world.tick((settings.attempts - 1) * settings.retryIntervalMs - 1);
        if (settings.attempts > 1) assert.equal(waiter.status, 'waiting', 'still waiting 1 ms before the budget');
        world.tick(1);
        assert.equal(waiter.status, 'failed');
        assert.equal(waiter.failedAt, world.tickets.get(2)!.askedAt + (settings.attempts - 1) * settings.retryIntervalMs);
      }),
      { numRuns: propertyRuns(200) },
    );
  });

  it('against an outside holder, a retry request makes exactly `attempts` reserve attempts, one interval apart', () => {
    fc.assert(
      fc.property(settingsArb, (settings) => {
        const world = new World(settings);
        world.outsideTakes();
        world.acquire('retry');
        const waiter = world.tickets.get(1) as TicketModel;
        for (let attempt = 1; attempt <= settings.attempts; attempt += 1) {
          assert.equal(waiter.reserveAttempts, attempt);
          world.answer(false);
          if (attempt < settings.attempts) {
            assert.equal(waiter.status, 'waiting');
            world.tick(settings.retryIntervalMs - 1);
            assert.equal(waiter.reserveAttempts, attempt, 'no attempt before the interval');
            world.tick(1);
          }
        }
        assert.equal(waiter.status, 'failed');
        assert.equal(waiter.failedAt, waiter.askedAt + (settings.attempts - 1) * settings.retryIntervalMs);
      }),
      { numRuns: propertyRuns(200) },
    );
  });
});
