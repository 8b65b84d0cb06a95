/**
 * ActorRuntime: the thin wrapper over nact (actors/runtime.ts). Asks, tells, stop, supervision
 * decisions (resume / restart / stop), dead letters and `onUndelivered`, and the mailbox's
 * one-at-a-time FIFO order — the nact traps of actor-runtime-notes.md §1.3–1.6 and §7 must not
 * leak through.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Result, ResultAsync } from 'neverthrow';
import { ActorRuntime, type ActorRef, type Ask, type Behavior, type DeadLetter } from '../../actors/runtime.js';
import { Aborted, ActorStopped, AskTimeout } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { captureLogger } from '../helpers/task-harness.js';

// ---- a small counter actor -------------------------------------------------------------------

interface Get extends Ask<number, Error> {
  readonly type: 'get';
}
interface Add extends Ask<number, Error> {
  readonly type: 'add';
  readonly n: number;
}
interface Boom extends Ask<never, Error> {
  readonly type: 'boom';
  readonly error: Error;
}
/** Returns without ever answering. */
interface Silent extends Ask<never, Error> {
  readonly type: 'silent';
}
/** Hangs (the handler awaits `until`) and then answers 'late'. */
interface Hang extends Ask<string, Error> {
  readonly type: 'hang';
  readonly until: Promise<void>;
  /** Called when the handler has started (so a test need not guess with a sleep). */
  readonly started?: () => void;
}
/** Captures the reply channel and returns; the reply never comes. */
interface Defer extends Ask<string, Error> {
  readonly type: 'defer';
}
interface Note {
  readonly type: 'note';
  readonly tag: string;
}
type Msg = Get | Add | Boom | Silent | Hang | Defer | Note;

const get: Get = { type: 'get' };
const add = (n: number): Add => ({ type: 'add', n });
const boom = (error: Error): Boom => ({ type: 'boom', error });

/** A counter: `add` adds and answers the new count, `get` answers it, `boom` throws. */
function counter(extra: Partial<Behavior<number, Msg>> = {}, notes: string[] = []): Behavior<number, Msg> {
  return {
    initialState: () => 0,
    async handle(state, message, ctx) {
      switch (message.type) {
        case 'get':
          ctx.reply(state);
          return state;
        case 'add':
          ctx.reply(state + message.n);
          return state + message.n;
        case 'boom':
          throw message.error;
        case 'silent':
          return state;
        case 'hang':
          message.started?.();
          await message.until;
          ctx.reply('late');
          return state;
        case 'defer':
          ctx.deferReply();
          return state;
        case 'note':
          notes.push(message.tag);
          return state;
      }
    },
    ...extra,
  };
}

const ASK = { timeoutMs: 2000 } as const;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Poll until `condition` holds (generous limit: not a timing assertion). */
async function until(condition: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Await an ask and return its error, checking its class. */
async function askError<C extends abstract new (...args: never[]) => unknown>(
  result: ResultAsync<unknown, unknown> | PromiseLike<Result<unknown, unknown>>,
  type: C,
): Promise<InstanceType<C>> {
  const settled = await result;
  if (settled.isOk()) assert.fail(`expected Err(${type.name}), got Ok(${String(settled.value)})`);
  assert.ok(settled.error instanceof type, `expected ${type.name}, got ${String(settled.error)}`);
  return settled.error as InstanceType<C>;
}

let runtime: ActorRuntime;
/** Use another runtime (e.g. with a capturing logger); the current one is shut down. */
async function replaceRuntime(next: ActorRuntime): Promise<void> {
  await runtime.shutdown();
  runtime = next;
}
let spawned = 0;
const spawnCounter = (extra?: Partial<Behavior<number, Msg>>, notes?: string[]): ActorRef<Msg> =>
  runtime.spawn<number, Msg>(null, `counter-${++spawned}`, counter(extra, notes));

describe('ActorRuntime', () => {
  beforeEach(() => {
    runtime = new ActorRuntime('runtime-test', silentLogger());
  });
  afterEach(async () => {
    await runtime.shutdown();
  });

  describe('ask', () => {
    it('gets the reply', async () => {
      const ref = spawnCounter();
      assert.equal((await runtime.ask(ref, add(2), ASK))._unsafeUnwrap(), 2);
      assert.equal((await runtime.ask(ref, add(3), ASK))._unsafeUnwrap(), 5);
      assert.equal((await runtime.ask(ref, get, ASK))._unsafeUnwrap(), 5);
      assert.equal(runtime.deadLetterCount, 0);
    });

    it('on a stopped actor fails at once with ActorStopped and counts a dead letter', async () => {
      const ref = spawnCounter();
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      runtime.stop(ref);
      assert.equal(ref.alive, false);
      const before = runtime.deadLetterCount;
      const started = Date.now();
      const error = await askError(runtime.ask(ref, get, { timeoutMs: 5000 }), ActorStopped);
      assert.ok(Date.now() - started < 2500, 'failed at once, not after the timeout');
      assert.equal(error.details.target, ref.path);
      assert.equal(runtime.deadLetterCount, before + 1);
      assert.equal(letters.length, 1);
      assert.equal(letters[0]?.target, ref.path);
      assert.equal(letters[0]?.reason, 'stopped');
      assert.deepEqual(letters[0]?.message, get);
    });

    it('pending while its target stops (handler in flight) fails fast with ActorStopped', async () => {
      const ref = spawnCounter();
      const hang = gate();
      let handled = false;
      const started = Date.now();
      const pending = runtime.ask(ref, { type: 'hang', until: hang.promise } satisfies Hang, { timeoutMs: 5000 });
      void pending.then(() => (handled = true));
      await sleep(20); // the handler is now awaiting `until`
      assert.equal(handled, false);
      runtime.stop(ref);
      await askError(pending, ActorStopped);
      assert.ok(Date.now() - started < 2500, 'failed fast, well before the 5 s timeout');
      hang.open();
    });

    it('pending while its target stops (still queued in the mailbox) fails fast with ActorStopped', async () => {
      const ref = spawnCounter();
      const hang = gate();
      const first = runtime.ask(ref, { type: 'hang', until: hang.promise } satisfies Hang, { timeoutMs: 5000 });
      const started = Date.now();
      const queued = runtime.ask(ref, get, { timeoutMs: 5000 });
      await sleep(20);
      runtime.stop(ref);
      await askError(queued, ActorStopped);
      await askError(first, ActorStopped);
      assert.ok(Date.now() - started < 2500, 'failed fast, well before the 5 s timeout');
      hang.open();
    });

    it('pending while its target stops (reply deferred with deferReply) fails fast with ActorStopped', async () => {
      // deferReply: "capture the reply channel of the current ask to answer it later". The ask is
      // delivered and not answered when the actor stops, so it must fail with ActorStopped too.
      const ref = spawnCounter();
      const started = Date.now();
      const pending = runtime.ask(ref, { type: 'defer' } satisfies Defer, { timeoutMs: 2000 });
      await sleep(20); // handled: the reply channel is captured, the handler returned
      runtime.stop(ref);
      const settled = await pending;
      assert.ok(settled.isErr());
      assert.ok(settled.error instanceof ActorStopped, `expected ActorStopped, got ${settled.error.name} after ${Date.now() - started} ms`);
      assert.ok(Date.now() - started < 1000, 'failed fast, well before the 2 s timeout');
    });

    it('fails with AskTimeout after the timeout when the handler never replies', async () => {
      const ref = spawnCounter();
      const started = Date.now();
      const error = await askError(runtime.ask(ref, { type: 'silent' } satisfies Silent, { timeoutMs: 60 }), AskTimeout);
      assert.ok(Date.now() - started >= 30, 'not before the timeout');
      assert.equal(error.details.timeoutMs, 60);
      assert.equal(error.details.target, ref.path);
      // The actor is fine: it answers the next ask.
      assert.equal((await runtime.ask(ref, add(1), ASK))._unsafeUnwrap(), 1);
    });

    it('fails with AskTimeout when the handler hangs, and the next ask times out too (no silent wedge)', async () => {
      const ref = spawnCounter();
      const hang = gate();
      await askError(runtime.ask(ref, { type: 'hang', until: hang.promise } satisfies Hang, { timeoutMs: 40 }), AskTimeout);
      await askError(runtime.ask(ref, get, { timeoutMs: 40 }), AskTimeout);
      hang.open();
      // Once the handler settles the queue moves on.
      assert.equal((await runtime.ask(ref, add(4), ASK))._unsafeUnwrap(), 4);
    });

    it('fails with Aborted when the signal aborts, and at once for an already aborted signal', async () => {
      const ref = spawnCounter();
      const controller = new AbortController();
      const started = Date.now();
      const pending = runtime.ask(ref, { type: 'silent' } satisfies Silent, { timeoutMs: 5000, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('caller gave up')), 10);
      const error = await askError(pending, Aborted);
      assert.ok(Date.now() - started < 2500, 'aborted, not timed out');
      assert.match(error.message, /caller gave up/);

      const aborted = new AbortController();
      aborted.abort();
      await askError(runtime.ask(ref, get, { timeoutMs: 5000, signal: aborted.signal }), Aborted);
      // The actor keeps serving.
      assert.equal((await runtime.ask(ref, add(7), ASK))._unsafeUnwrap(), 7);
    });
  });

  describe('supervision', () => {
    it("a throwing handler answers the ask with its error and the actor keeps serving with its state ('resume', the default)", async () => {
      const ref = spawnCounter();
      assert.ok((await runtime.ask(ref, add(5), ASK)).isOk());
      const thrown = new Error('handler bug');
      const error = await askError(runtime.ask(ref, boom(thrown), ASK), Error);
      assert.equal(error, thrown);
      assert.equal(ref.alive, true);
      assert.equal((await runtime.ask(ref, get, ASK))._unsafeUnwrap(), 5, 'state kept');
      assert.equal((await runtime.ask(ref, add(1), ASK))._unsafeUnwrap(), 6);
    });

    it("onError returning 'resume' keeps the state; it sees the error, the message and the state", async () => {
      const seen: [unknown, Msg, number][] = [];
      const ref = spawnCounter({
        onError: (error, message, state) => {
          seen.push([error, message, state]);
          return 'resume';
        },
      });
      assert.ok((await runtime.ask(ref, add(3), ASK)).isOk());
      const thrown = new Error('x');
      const message = boom(thrown);
      await askError(runtime.ask(ref, message, ASK), Error);
      assert.equal((await runtime.ask(ref, get, ASK))._unsafeUnwrap(), 3);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.[0], thrown);
      assert.equal(seen[0]?.[1], message);
      assert.equal(seen[0]?.[2], 3);
    });

    it("onError returning 'restart' resets the state and keeps serving the queue", async () => {
      const ref = spawnCounter({ onError: () => 'restart' });
      assert.ok((await runtime.ask(ref, add(9), ASK)).isOk());
      const failing = runtime.ask(ref, boom(new Error('restart me')), ASK);
      const queued = runtime.ask(ref, add(1), ASK);
      await askError(failing, Error);
      assert.equal((await queued)._unsafeUnwrap(), 1, 'the queued message ran on the fresh state');
      assert.equal(ref.alive, true);
      assert.equal((await runtime.ask(ref, get, ASK))._unsafeUnwrap(), 1);
    });

    it("onError returning 'stop' stops the actor; queued messages become dead letters delivered to subscribers", async () => {
      const undelivered: Msg[] = [];
      const ref = spawnCounter({ onError: () => 'stop', onUndelivered: (message) => undelivered.push(message) });
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      const hang = gate();
      // Keep the actor busy so the next messages queue behind the failing one.
      const busy = runtime.ask(ref, { type: 'hang', until: hang.promise } satisfies Hang, ASK);
      const failing = runtime.ask(ref, boom(new Error('fatal')), ASK);
      const queuedAsk = runtime.ask(ref, add(1), { timeoutMs: 5000 });
      const note: Note = { type: 'note', tag: 'queued tell' };
      assert.equal(runtime.tell(ref, note), true);
      const started = Date.now();
      hang.open();
      assert.equal((await busy)._unsafeUnwrap(), 'late');
      const error = await askError(failing, Error);
      assert.equal(error.message, 'fatal');
      await askError(queuedAsk, ActorStopped);
      assert.ok(Date.now() - started < 2500, 'the queued ask failed fast');
      await until(() => letters.length >= 2, 'two dead letters');
      assert.equal(ref.alive, false);
      assert.deepEqual(
        letters.map((letter) => [letter.target, letter.reason, (letter.message as Msg).type]),
        [
          [ref.path, 'stopped-with-queued-message', 'add'],
          [ref.path, 'stopped-with-queued-message', 'note'],
        ],
      );
      assert.deepEqual(
        undelivered.map((message) => message.type),
        ['add', 'note'],
      );
      assert.equal(runtime.deadLetterCount, 2);
      // A later ask fails at once.
      await askError(runtime.ask(ref, get, ASK), ActorStopped);
    });

    it('a throwing onError hook stops the actor, never wedges it', async () => {
      const { logger, lines } = captureLogger();
      await replaceRuntime(new ActorRuntime('runtime-test-hook', logger));
      const ref = spawnCounter({
        onError: () => {
          throw new Error('hook bug');
        },
      });
      const thrown = new Error('handler bug');
      const failing = runtime.ask(ref, boom(thrown), ASK);
      const queued = runtime.ask(ref, get, { timeoutMs: 5000 });
      assert.equal(await askError(failing, Error), thrown, 'the ask is answered with the handler error');
      const started = Date.now();
      await askError(queued, ActorStopped);
      assert.ok(Date.now() - started < 2500, 'the queued ask failed fast instead of timing out');
      assert.equal(ref.alive, false);
      await askError(runtime.ask(ref, get, { timeoutMs: 5000 }), ActorStopped);
      assert.ok(
        lines.some((line) => line.level === 50 && String(line.msg).includes('onError hook threw')),
        'the hook failure is logged',
      );
    });

    it('nested actors: stopping a parent stops its children (their asks fail with ActorStopped)', async () => {
      const parent = spawnCounter();
      const child = runtime.spawn<number, Msg>(parent, 'child', counter());
      assert.equal(child.path, `${parent.path}/child`);
      assert.equal((await runtime.ask(child, add(2), ASK))._unsafeUnwrap(), 2);
      runtime.stop(parent);
      await until(() => !child.alive, 'the child stopped', 1000);
      await askError(runtime.ask(child, get, ASK), ActorStopped);
    });
  });

  describe('shutdown', () => {
    it('stops every actor, nested ones too: afterStop hooks run, pending asks fail fast, later messages are dead letters', async () => {
      const stopped: string[] = [];
      const undelivered: string[] = [];
      const behavior = (name: string): Behavior<number, Msg> =>
        counter({ afterStop: () => stopped.push(name), onUndelivered: (message) => undelivered.push(`${name}:${message.type}`) });
      const top = runtime.spawn<number, Msg>(null, 'top', behavior('top'));
      const child = runtime.spawn<number, Msg>(top, 'child', behavior('child'));
      const other = runtime.spawn<number, Msg>(null, 'other', behavior('other'));
      const hang = gate();
      const handling = gate();
      const started = Date.now();
      const pending = runtime.ask(child, { type: 'hang', until: hang.promise, started: handling.open } satisfies Hang, { timeoutMs: 4000 });
      await handling.promise; // the handler runs: its message is in progress, not undelivered
      await runtime.shutdown();
      assert.deepEqual([...stopped].sort(), ['child', 'other', 'top'], 'every afterStop hook ran by the time shutdown resolved');
      assert.deepEqual([top.alive, child.alive, other.alive], [false, false, false]);
      const settled = await Promise.race([pending, sleep(1500).then(() => 'still pending' as const)]);
      assert.notEqual(settled, 'still pending', 'the pending ask settled');
      assert.ok(typeof settled !== 'string' && settled.isErr() && settled.error instanceof ActorStopped);
      assert.ok(Date.now() - started < 3000, 'the pending ask failed fast');
      hang.open();
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      assert.equal(runtime.tell(other, { type: 'note', tag: 'after shutdown' }), false, 'tell after shutdown returns false');
      const asked = Date.now();
      await askError(runtime.ask(child, get, { timeoutMs: 1500 }), ActorStopped);
      assert.ok(Date.now() - asked < 1500, 'an ask after shutdown fails at once');
      assert.equal(letters.length, 2, 'both are published dead letters');
      assert.deepEqual(undelivered, ['other:note', 'child:get']);
    });

    it('spawn after shutdown throws', async () => {
      await runtime.shutdown();
      assert.throws(() => runtime.spawn<number, Msg>(null, 'late', counter()), /stopped/);
    });
  });

  describe('tell and dead letters', () => {
    it('tell to a stopped actor returns false and publishes a dead letter', async () => {
      const undelivered: Msg[] = [];
      const ref = spawnCounter({ onUndelivered: (message) => undelivered.push(message) });
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      const note: Note = { type: 'note', tag: 'late' };
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'early' }), true);
      assert.ok((await runtime.ask(ref, get, ASK)).isOk());
      runtime.stop(ref);
      assert.equal(runtime.tell(ref, note), false);
      assert.equal(runtime.deadLetterCount, 1);
      assert.deepEqual(letters, [{ target: ref.path, message: note, reason: 'stopped' }]);
      assert.deepEqual(undelivered, [note], 'onUndelivered sees it too');
    });

    it('a throwing dead-letter subscriber does not break delivery to the others', async () => {
      const ref = spawnCounter();
      runtime.stop(ref);
      const before: DeadLetter[] = [];
      const after: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => before.push(letter));
      runtime.onDeadLetter(() => {
        throw new Error('subscriber bug');
      });
      runtime.onDeadLetter((letter) => after.push(letter));
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'a' }), false);
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'b' }), false);
      assert.deepEqual(
        before.map((letter) => (letter.message as Note).tag),
        ['a', 'b'],
      );
      assert.deepEqual(
        after.map((letter) => (letter.message as Note).tag),
        ['a', 'b'],
      );
      assert.equal(runtime.deadLetterCount, 2);
    });

    it('an unsubscribed dead-letter subscriber hears nothing more', async () => {
      const ref = spawnCounter();
      runtime.stop(ref);
      const letters: DeadLetter[] = [];
      const unsubscribe = runtime.onDeadLetter((letter) => letters.push(letter));
      runtime.tell(ref, { type: 'note', tag: 'a' });
      unsubscribe();
      runtime.tell(ref, { type: 'note', tag: 'b' });
      assert.equal(letters.length, 1);
      assert.equal(runtime.deadLetterCount, 2);
    });

    it('onUndelivered sees every message queued at stop, in order', async () => {
      const undelivered: Msg[] = [];
      const notes: string[] = [];
      const ref = spawnCounter({ onUndelivered: (message) => undelivered.push(message) }, notes);
      const hang = gate();
      const busy = runtime.ask(ref, { type: 'hang', until: hang.promise } satisfies Hang, ASK);
      await sleep(10); // the handler is running
      for (const tag of ['q1', 'q2', 'q3']) runtime.tell(ref, { type: 'note', tag });
      runtime.stop(ref);
      await askError(busy, ActorStopped);
      hang.open();
      await until(() => undelivered.length >= 3, 'three undelivered messages');
      assert.deepEqual(
        undelivered.map((message) => (message as Note).tag),
        ['q1', 'q2', 'q3'],
      );
      assert.deepEqual(notes, [], 'none of them was handled');
      assert.equal(runtime.deadLetterCount, 3);
    });

    it('a message told to an idle actor just before it stops is handled or undelivered, never silently dropped', async () => {
      // nact dispatches a message to an idle actor in a setImmediate and `stop` clears that
      // immediate: the message is then neither handled nor in the mailbox passed to afterStop.
      const undelivered: Msg[] = [];
      const notes: string[] = [];
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      const ref = spawnCounter({ onUndelivered: (message) => undelivered.push(message) }, notes);
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'first' }), true);
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'second' }), true);
      runtime.stop(ref);
      await sleep(20);
      const accounted = [...notes, ...undelivered.map((message) => (message as Note).tag)].sort();
      assert.deepEqual(accounted, ['first', 'second'], `handled ${JSON.stringify(notes)}, undelivered ${JSON.stringify(undelivered)}`);
      assert.equal(letters.length, undelivered.length, 'every undelivered message is a published dead letter');
    });

    it('a throwing onUndelivered hook is logged and the dead letter is still published', async () => {
      const { logger, lines } = captureLogger();
      await replaceRuntime(new ActorRuntime('runtime-test-undelivered', logger));
      const ref = spawnCounter({
        onUndelivered: () => {
          throw new Error('hook bug');
        },
      });
      runtime.stop(ref);
      const letters: DeadLetter[] = [];
      runtime.onDeadLetter((letter) => letters.push(letter));
      assert.equal(runtime.tell(ref, { type: 'note', tag: 'x' }), false);
      assert.equal(letters.length, 1);
      assert.ok(lines.some((line) => String(line.msg).includes('onUndelivered hook threw')));
    });
  });

  describe('mailbox order', () => {
    it('handles messages one at a time in FIFO order, even with async handlers', async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      const order: number[] = [];
      interface Work extends Ask<number, Error> {
        readonly type: 'work';
        readonly i: number;
        readonly delayMs: number;
      }
      const ref = runtime.spawn<number, Work | Note>(null, 'fifo', {
        initialState: () => 0,
        async handle(state, message, ctx) {
          if (message.type === 'note') return state;
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          // Alternate microtask-only and timer awaits so later messages could overtake if allowed.
          if (message.delayMs > 0) await sleep(message.delayMs);
          else await Promise.resolve();
          order.push(message.i);
          inFlight -= 1;
          ctx.reply(state + 1);
          return state + 1;
        },
      });
      const count = 60;
      const replies = [];
      for (let i = 0; i < count; i++) {
        const work: Work = { type: 'work', i, delayMs: (i * 7) % 4 };
        if (i % 3 === 0) runtime.tell(ref, work);
        else replies.push(runtime.ask(ref, work, { timeoutMs: 5000 }));
      }
      const answered = await Promise.all(replies);
      const last = (await runtime.ask(ref, { type: 'work', i: count, delayMs: 0 } satisfies Work, ASK))._unsafeUnwrap();
      assert.equal(last, count + 1, 'every message ran exactly once before the last');
      assert.deepEqual(
        order,
        Array.from({ length: count + 1 }, (_, i) => i),
      );
      assert.equal(maxInFlight, 1);
      // Each ask saw the count of the messages before it (sequential state).
      const askedIndexes = Array.from({ length: count }, (_, i) => i).filter((i) => i % 3 !== 0);
      assert.deepEqual(
        answered.map((reply) => reply._unsafeUnwrap()),
        askedIndexes.map((i) => i + 1),
      );
    });
  });
});
