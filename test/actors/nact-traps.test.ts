/**
 * nact 7.6.2's traps, each shown against RAW nact (no ActorRuntime in between). actors/runtime.ts
 * keeps a workaround only for what a test here demonstrates (actor-runtime-notes.md §1.3–1.6, §7).
 *
 * Every test asserts nact's FAULTY behaviour as published in 7.6.2. If a nact upgrade fixes a
 * trap, its test fails: that is the signal that the workaround named in its comment can go (and
 * this test with it). Nothing here goes through actors/runtime.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import nact from 'nact';

// ---- raw nact, typed once for these tests (its bundled typings lack query's plain form, ctx.sender, spawn's
// supervision context and the 3-argument dispatch; actor-runtime-notes.md §1.7) ---------------------------

interface Ref {
  readonly path: { toString(): string };
  readonly name: string;
}
interface TempRef {
  readonly type: 'temp';
  readonly id: number;
}
interface Ctx {
  readonly self: Ref;
  readonly sender: unknown;
  readonly children: Map<string, Ref>;
}
interface CrashCtx extends Ctx {
  readonly mailbox: { message: unknown }[];
  readonly stop: symbol;
  readonly resume: symbol;
  readonly reset: symbol;
  readonly resetAll: symbol;
  readonly escalate: symbol;
}
type OnCrash = (msg: unknown, error: unknown, ctx: CrashCtx, child?: Ref) => symbol | Promise<symbol>;
interface Props<S> {
  initialState?: S;
  onCrash?: OnCrash;
  afterStop?: (state: S, ctx: CrashCtx) => void;
}

const api = nact as unknown as {
  start(options: { name: string }): Ref;
  spawn<S>(parent: Ref, f: (state: S, msg: unknown, ctx: Ctx) => S | Promise<S>, name: string, props?: Props<S>): Ref;
  spawnStateless(parent: Ref, f: (msg: unknown, ctx: Ctx) => unknown, name: string, props?: Props<unknown>): Ref;
  dispatch(ref: Ref | TempRef, msg: unknown): void;
  query(ref: Ref, msg: unknown, timeoutMs: number): Promise<unknown>;
  stop(ref: Ref): void;
};

/** Let nact run: it handles at most one message per actor per setImmediate turn. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A promise and its resolver (Node 20 has no Promise.withResolvers). */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Run `body` with the process's unhandledRejection listeners (node:test's) swapped for a recorder. */
async function recordingUnhandledRejections(body: (seen: unknown[]) => Promise<void>): Promise<void> {
  const saved = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const seen: unknown[] = [];
  const recorder = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', recorder);
  try {
    await body(seen);
  } finally {
    process.off('unhandledRejection', recorder);
    for (const listener of saved) process.on('unhandledRejection', listener);
  }
}

const resume: OnCrash = (_msg, _error, ctx) => ctx.resume;

let system: Ref;
let systems = 0;
beforeEach(() => {
  systems += 1;
  system = api.start({ name: `nact-traps-${process.pid}-${systems}` });
});
afterEach(() => {
  // Removes the system from nact's global map (it does not stop its actors: see the stop(system) trap).
  api.stop(system);
});

describe('nact 7.6.2 traps (each workaround in actors/runtime.ts goes when its test here fails)', () => {
  // ---- query (ask) ----------------------------------------------------------------------------

  it('nact 7.6.2 trap: a query to an actor that stops while it is pending waits the full timeout (runtime.ts fails pending asks with ActorStopped)', async () => {
    // Depends on it: runtime.ts carries asks in the envelope (Envelope.replier, Handle.pending) and
    // its afterStop fails every pending ask with ActorStopped at once. If nact rejects the query when
    // its target stops, this test fails and `ask` could use nact's query for that case.
    const started = gate();
    const target = api.spawn<null>(system, (state) => (started.open(), state), 'silent', { onCrash: resume });
    const timeoutMs = 150;
    const t0 = performance.now();
    const answer = api.query(target, { type: 'never-answered' }, timeoutMs).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await started.promise;
    api.stop(target);
    const outcome = await answer;
    const elapsed = performance.now() - t0;
    assert.ok(outcome instanceof Error);
    assert.equal(outcome.message, 'Query Timeout');
    assert.ok(elapsed >= timeoutMs - 15, `rejected after ${elapsed.toFixed(0)} ms, not at the ${timeoutMs} ms timeout`);
  });

  it('nact 7.6.2 trap: a handler that throws while serving a query answers nothing; the caller gets only Query Timeout (runtime.ts answers the ask with the error)', async () => {
    // Depends on it: runtime.ts's handler catch does `replier?.reject(error)` before any supervision
    // decision. If nact propagates the handler's error to the query, this test fails and that
    // reject (plus the envelope carrying the replier) is no longer needed for it.
    const thrown = new Error('handler failed');
    const crashes: unknown[] = [];
    const target = api.spawn<null>(
      system,
      () => {
        throw thrown;
      },
      'thrower',
      { onCrash: (_msg, error, ctx) => (crashes.push(error), ctx.resume) },
    );
    const timeoutMs = 100;
    const t0 = performance.now();
    const outcome = await api.query(target, { type: 'ask' }, timeoutMs).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    const elapsed = performance.now() - t0;
    assert.deepEqual(crashes, [thrown], 'the handler did throw');
    assert.ok(outcome instanceof Error);
    assert.notEqual(outcome, thrown);
    assert.equal(outcome.message, 'Query Timeout');
    assert.ok(elapsed >= timeoutMs - 15, `rejected after ${elapsed.toFixed(0)} ms`);
  });

  it('nact 7.6.2 trap: query reply references carry 32-bit random ids; two concurrent queries that draw the same id cross their answers (runtime.ts never uses query)', async () => {
    // Depends on it: runtime.ts's `ask` puts a ReplierImpl in the envelope instead of using nact's
    // temporary references (one of the three reasons for it, with the two tests above). If nact
    // makes reply references unique, this test fails.
    const target = api.spawn<null>(
      system,
      (state, msg) => {
        const { replyTo, tag } = msg as { replyTo: TempRef; tag: string };
        api.dispatch(replyTo, tag);
        return state;
      },
      'echo',
      { onCrash: resume },
    );
    // The ids are `(Math.random() * MAX_SAFE_INTEGER) | 0`: 32 bits, so collisions are not rare
    // (about 1 in 1e5 draws was measured); pin Math.random to make one happen on demand.
    const ids: number[] = [];
    const ask = (tag: string): Promise<unknown> =>
      api.query(
        target,
        (replyTo: TempRef) => {
          ids.push(replyTo.id);
          return { replyTo, tag };
        },
        100,
      );
    const random = Math.random;
    let first: Promise<unknown>;
    let second: Promise<unknown>;
    try {
      Math.random = () => 0.123456789;
      first = ask('first').then(
        (value) => value,
        (error: unknown) => error,
      );
      second = ask('second');
    } finally {
      Math.random = random;
    }
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1], 'both queries drew the same reply reference');
    assert.equal(ids[0], ids[0]! | 0, 'a reply reference id is a 32-bit integer');
    // The second query receives the answer to the first; the first times out.
    assert.equal(await second, 'first');
    const outcome = await first;
    assert.ok(outcome instanceof Error);
    assert.equal(outcome.message, 'Query Timeout');
  });

  // ---- supervision (onCrash) ------------------------------------------------------------------

  it('nact 7.6.2 trap: an onCrash that throws wedges the actor and raises an unhandled rejection (runtime.ts decides supervision itself; its onCrash only returns ctx.stop)', async () => {
    // Depends on it: runtime.ts catches handler errors inside the handler and runs the behavior's
    // onError in a try/catch (a throwing hook becomes `stop`), so nact's onCrash never runs user
    // code. If nact survives a throwing onCrash, this test fails and the hook could run in onCrash.
    const handled: unknown[] = [];
    await recordingUnhandledRejections(async (seen) => {
      const hookError = new Error('onCrash threw');
      const target = api.spawn<null>(
        system,
        (state, msg) => {
          if (msg === 'boom') throw new Error('handler failed');
          handled.push(msg);
          return state;
        },
        'wedged',
        {
          onCrash: () => {
            throw hookError;
          },
        },
      );
      api.dispatch(target, 'boom');
      api.dispatch(target, 'after');
      await turns();
      assert.deepEqual(seen, [hookError], 'the throwing onCrash surfaced only as an unhandled rejection');
      api.dispatch(target, 'later');
      await turns();
      api.stop(target);
    });
    assert.deepEqual(handled, [], 'the actor never handled another message');
  });

  it("nact 7.6.2 trap: a parent answering an escalation with resume wedges the child forever (runtime.ts never escalates: a child's failure is decided by its own onError)", async () => {
    // Depends on it: runtime.ts's supervision decisions (resume / restart / stop) are taken in the
    // handler, per actor; escalation to nact parents is never used. If nact resumes the child, this
    // test fails.
    const handled: unknown[] = [];
    const escalations: string[] = [];
    const parent = api.spawn<null>(system, (state) => state, 'parent', {
      onCrash: (_msg, _error, ctx, child) => (escalations.push(child?.name ?? '?'), ctx.resume),
    });
    const child = api.spawn<null>(
      parent,
      (state, msg) => {
        if (msg === 'boom') throw new Error('child failed');
        handled.push(msg);
        return state;
      },
      'child',
      { onCrash: (_msg, _error, ctx) => ctx.escalate },
    );
    api.dispatch(child, 'c1');
    api.dispatch(child, 'boom');
    api.dispatch(child, 'c2');
    api.dispatch(child, 'c3');
    await turns();
    assert.deepEqual(escalations, ['child'], 'the parent answered the escalation');
    assert.deepEqual(handled, ['c1'], 'c2 and c3 are never handled: the child stays busy');
    api.stop(child);
    api.stop(parent);
  });

  it('nact 7.6.2 trap: resetAll restarts a busy sibling mid-message, so it runs two handlers at once (runtime.ts never uses resetAll)', async () => {
    // Depends on it: runtime.ts's one-message-at-a-time guarantee; its `restart` decision re-runs
    // initialState for the failing actor only, never its siblings. If nact's resetAll waits for the
    // sibling's in-flight message, this test fails.
    const release = gate();
    const firstStarted = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const busy = api.spawn<null>(
      system,
      async (state, msg) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (msg === 's1') firstStarted.open();
        await release.promise;
        inFlight -= 1;
        return state;
      },
      'busy-sibling',
      { onCrash: resume },
    );
    const failing = api.spawn<null>(
      system,
      () => {
        throw new Error('failed');
      },
      'failing-sibling',
      { onCrash: (_msg, _error, ctx) => ctx.resetAll },
    );
    api.dispatch(busy, 's1');
    api.dispatch(busy, 's2');
    await firstStarted.promise;
    api.dispatch(failing, 'boom');
    await turns();
    assert.equal(maxInFlight, 2, 's2 started while s1 was still in its handler');
    release.open();
    await turns();
    api.stop(busy);
    api.stop(failing);
  });

  it('nact 7.6.2 trap: spawnStateless silently replaces the onCrash it is given with resume (runtime.ts never uses spawnStateless)', async () => {
    // Depends on it: runtime.ts spawns every actor with `spawn` (a stateless behavior is a Behavior
    // whose state is null). If nact honours onCrash for stateless actors (issue #118), this test fails.
    const crashes: unknown[] = [];
    const handled: unknown[] = [];
    const target = api.spawnStateless(
      system,
      (msg) => {
        if (msg === 'boom') throw new Error('failed');
        handled.push(msg);
      },
      'stateless',
      { onCrash: (msg, _error, ctx) => (crashes.push(msg), ctx.stop) },
    );
    api.dispatch(target, 'boom');
    api.dispatch(target, 'after');
    await turns();
    assert.deepEqual(crashes, [], 'the given onCrash never ran');
    assert.deepEqual(handled, ['after'], 'the actor resumed instead of stopping');
    api.stop(target);
  });

  // ---- stop -----------------------------------------------------------------------------------

  it('nact 7.6.2 trap: stop(parent) leaves children running (runtime.ts stops trees depth-first itself)', async () => {
    // Depends on it: ActorRuntime.stop walks Handle.children depth-first, and Handle.parent /
    // ActorRuntime's roots keep the tree. nact's Actor.stop passes its concrete child actors to
    // `stop`, which looks them up as references and finds nothing. If nact stops the children,
    // this test fails and runtime.ts could keep no tree of its own.
    const stopped: string[] = [];
    const handled: unknown[] = [];
    const parent = api.spawn<null>(system, (state) => state, 'parent', { afterStop: () => void stopped.push('parent') });
    const child = api.spawn<null>(parent, (state, msg) => (handled.push(msg), state), 'child', {
      onCrash: resume,
      afterStop: () => void stopped.push('child'),
    });
    api.dispatch(child, 'a');
    api.dispatch(child, 'b');
    api.stop(parent);
    await turns();
    assert.deepEqual(stopped, ['parent'], "the child's afterStop never runs");
    assert.deepEqual(handled, ['a', 'b'], 'the child goes on handling its mailbox after its parent stopped');
    // ...and it can no longer be stopped: its reference resolves through the (gone) parent.
    api.stop(child);
    await turns();
    assert.deepEqual(stopped, ['parent']);
  });

  it('nact 7.6.2 trap: stop(system) stops no actor (runtime.ts shutdown stops every root itself first)', async () => {
    // Depends on it: ActorRuntime.shutdown stops each root (and so the whole tree) before stopping
    // the nact system. If stop(system) stops its actors, this test fails.
    const stopped: string[] = [];
    const handled: unknown[] = [];
    const top = api.spawn<null>(system, (state, msg) => (handled.push(msg), state), 'top', {
      onCrash: resume,
      afterStop: () => void stopped.push('top'),
    });
    api.dispatch(top, 'x');
    api.dispatch(top, 'y');
    api.stop(system);
    await turns();
    assert.deepEqual(stopped, [], "the top-level actor's afterStop never runs");
    assert.deepEqual(handled, ['x', 'y'], 'it goes on handling its mailbox');
  });

  it('nact 7.6.2 trap: stop() cancels the scheduled start of the next message without putting it back in the mailbox, so it vanishes (runtime.ts keeps Handle.undelivered)', async () => {
    // Depends on it: runtime.ts's Handle.undelivered (every dispatched envelope whose handler has not
    // started), dead-lettered in afterStop with reason 'stopped-with-queued-message'; afterStop's
    // ctx.mailbox alone would miss the message shown here. If nact's stop puts the message back (or
    // reports it), this test fails and ctx.mailbox could be used instead.
    const handled: unknown[] = [];
    let mailboxAtStop: unknown[] | undefined;
    const target = api.spawn<null>(system, (state, msg) => (handled.push(msg), state), 'stopped-early', {
      onCrash: resume,
      afterStop: (_state, ctx) => (mailboxAtStop = ctx.mailbox.map((entry) => entry.message)),
    });
    // 'a' is taken off the queue at once (its handler is scheduled for the next turn); 'b' and 'c' queue.
    api.dispatch(target, 'a');
    api.dispatch(target, 'b');
    api.dispatch(target, 'c');
    api.stop(target);
    await turns();
    assert.deepEqual(handled, [], 'nothing was handled');
    assert.deepEqual(mailboxAtStop, ['b', 'c'], "'a' is neither handled nor among the undelivered messages");
  });

  it('nact 7.6.2 trap: a message dispatched to a stopped actor vanishes without a trace (runtime.ts tell/ask record a dead letter)', async () => {
    // Depends on it: the `alive` checks in ActorRuntime.tell and .ask, which count, log and publish a
    // dead letter ('stopped') and call the behavior's onUndelivered. If nact reports such messages
    // (a throw or a dead-letter hook), this test fails.
    const handled: unknown[] = [];
    let stops = 0;
    const target = api.spawn<null>(system, (state, msg) => (handled.push(msg), state), 'gone', {
      onCrash: resume,
      afterStop: () => void (stops += 1),
    });
    api.stop(target);
    await turns();
    assert.equal(stops, 1);
    assert.doesNotThrow(() => api.dispatch(target, 'late'));
    await turns();
    assert.deepEqual(handled, []);
    assert.equal(stops, 1, 'no hook sees the message');
  });

  // ---- systems ------------------------------------------------------------------------------

  it("nact 7.6.2 trap: a second system started under the same name silently takes the first one's place, whose actors become unreachable (runtime.ts names every system uniquely)", async () => {
    // Depends on it: ActorRuntime's constructor names its nact system `${name}-${pid}-${counter}`
    // (ActorRuntime.#systems), since nact keeps systems in one process-wide map keyed by name and
    // every dispatch looks its target up there. If nact refuses (or isolates) a duplicate name,
    // this test fails and the counter can go.
    const name = `nact-traps-duplicate-${process.pid}`;
    const first = api.start({ name });
    const handled: unknown[] = [];
    const actor = api.spawn<null>(first, (state, msg) => (handled.push(msg), state), 'actor', { onCrash: resume });
    api.dispatch(actor, 'before');
    await turns();
    const second = api.start({ name });
    api.dispatch(actor, 'after');
    await turns();
    assert.deepEqual(handled, ['before'], "'after' was looked up in the second system and silently dropped");
    api.stop(actor);
    api.stop(second);
  });

  // ---- per-message cost -----------------------------------------------------------------------

  it('nact 7.6.2 trap: every message to a parent copies its children into a fresh ctx.children Map (grouping parents in conductor.ts and node-registry.ts never receive messages)', async () => {
    // Depends on it: not runtime.ts but its callers: the `nodes`, `user`, `workers` and `supervisor`
    // grouping actors (conductor.ts silentParent, node-registry.ts NodeRegistryDeps.parent,
    // worker-supervisor.ts, restart-supervisor.ts) are never sent a message, since each message to
    // a parent of N children costs an O(N) copy. If nact stops copying, this test fails and that
    // rule can go.
    const children = 500;
    const seen: Map<string, Ref>[] = [];
    const parent = api.spawn<null>(system, (state, _msg, ctx) => (seen.push(ctx.children), state), 'grouping', { onCrash: resume });
    for (let i = 0; i < children; i += 1) api.spawn<null>(parent, (state) => state, `child-${i}`);
    api.dispatch(parent, 'one');
    api.dispatch(parent, 'two');
    await turns();
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.size, children);
    assert.equal(seen[1]!.size, children);
    assert.notEqual(seen[0], seen[1], 'a new Map per message');
  });
});
