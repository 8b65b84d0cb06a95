/**
 * One test per plausible bug that survived the rest of the suite when planted, named after the
 * defect. Each drives only stable entry points (Conductor.acquire / withTask, the task API, the
 * store as "another process", an injectable Clock), never the node actor's or the registry's
 * private state, so they hold across a rewrite of the lock internals. The comment above each test
 * names the plant it was checked against (the plant makes it fail; the real code passes).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errAsync } from 'neverthrow';
import { ManualClock, systemClock, type Clock, type TimerHandle } from '../../src/clock.js';
import { InvalidParameterValue, InvalidState, NodeLocked, NodeNotLocked, StoreError } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { captureLogger, errOf, okValue } from '../helpers/task-harness.js';
import { HOST, sleep, until, waitersOf, within, withConductor, type Fixture } from '../conductor/fixture.js';

/** Still unsettled after a short real-time wait (the clock is manual: nothing else moves it). */
async function pending<T>(promise: PromiseLike<T>): Promise<boolean> {
  return (await within(promise, 30)) === 'pending';
}

describe('defect: the waiting budget is (attempts − 1) × interval, not attempts × interval', () => {
  const attempts = 3;
  const interval = 1_000;
  const budget = (attempts - 1) * interval;
  const options = (clock: ManualClock) => ({
    nodeLockedRetryAttempts: attempts,
    nodeLockedRetryInterval: interval,
    clock,
    periodicChecks: false,
  });

  // Catches: actors/internal/waiter.ts `this.deadline = now + attempts * intervalMs` (instead of (attempts - 1)).
  it('behind a local holder, a retrying waiter still waits 1 ms before (a − 1) × i and fails with NodeLocked exactly at it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    await withConductor(options(clock), async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'long job' }));
      const waiting = conductor.acquire(ctx, node.id, { purpose: 'waiter' });
      await until(() => waitersOf(conductor, node.id) === 1, 'the waiter queued');
      await clock.advance(budget - 1);
      assert.ok(await pending(waiting), `still waiting at ${budget - 1} ms`);
      assert.equal(waitersOf(conductor, node.id), 1);
      await clock.advance(1);
      const settled = await within(waiting, 2_000);
      assert.notEqual(settled, 'pending', `the wait ended at ${budget} ms = (attempts − 1) × interval`);
      const error = await errOf(waiting, NodeLocked);
      assert.equal(error.holder.host, HOST);
      assert.equal(error.holder.purpose, 'long job');
      assert.equal(waitersOf(conductor, node.id), 0, 'the expired waiter left the queue');
      await okValue(holder.release());
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });

  // Catches: actors/node-actor.ts pump `waiter.attemptsUsed > waiter.maxAttempts` (one reserve attempt too many, failing at a × i).
  it('against an outside holder, exactly nodeLockedRetryAttempts reserve attempts, one per interval, and NodeLocked at (a − 1) × i', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    await withConductor(options(clock), async ({ conductor, ctx, createNode, inner, spy }) => {
      const node = await createNode();
      await okValue(inner.reserve('other-host', node.id, { purpose: 'outside job' }));
      spy.reset();
      const waiting = conductor.acquire(ctx, node.id, { purpose: 'mine' });
      await until(() => spy.count('reserve') === 1, 'the first reserve attempt');
      for (let attempt = 2; attempt <= attempts; attempt++) {
        await clock.advance(interval - 1);
        assert.ok(await pending(waiting), `still waiting before attempt ${attempt}`);
        assert.equal(spy.count('reserve'), attempt - 1, `no attempt ${attempt} before its interval`);
        await clock.advance(1);
        await until(() => spy.count('reserve') === attempt, `reserve attempt ${attempt}`);
      }
      // Attempt `attempts` was made at (attempts − 1) × interval and was the last one.
      const settled = await within(waiting, 2_000);
      assert.notEqual(settled, 'pending', `failed at ${budget} ms, right after the last attempt`);
      const error = await errOf(waiting, NodeLocked);
      assert.equal(error.holder.host, 'other-host');
      assert.equal(spy.count('reserve'), attempts, 'Ironic: node_locked_retry_attempts reserve calls in all');
      await clock.advance(10 * interval);
      await sleep(20);
      assert.equal(spy.count('reserve'), attempts, 'no retry after the failure');
      assert.equal((await okValue(inner.getNode(node.id))).reservation, 'other-host', 'nothing stolen');
    });
  });
});

/**
 * A clock whose time only moves when told (`jump`), with real timers, counting its readings: the
 * registry's idle sweep (a real interval) keeps firing while every node looks long idle, and
 * between rounds (when nothing of ours runs) a reading of the clock is the sweep looking.
 */
class JumpClock implements Clock {
  #now = Date.now();
  readings = 0;
  now(): number {
    this.readings += 1;
    return this.#now;
  }
  jump(ms: number): void {
    this.#now += ms;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return systemClock.setTimeout(fn, ms);
  }
  clearTimeout(handle: TimerHandle): void {
    systemClock.clearTimeout(handle);
  }
}

describe('defect: a node actor passivated while messages to it are in flight', () => {
  // Catches: actors/node-actor.ts onPassivate `if (idle)` instead of `if (idle && entry.inflight === 1)`
  // (the queued acquires become dead letters: ConductorStopping).
  it('requests and writes sent the moment the idle sweep passivates the node are all served, and the node stays consistent', async () => {
    const idle = 100;
    const clock = new JumpClock();
    await withConductor(
      { nodeIdleTimeout: idle, nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 5, clock, periodicChecks: false },
      async ({ conductor, ctx, createNode, stored }) => {
        const node = await createNode();
        const deadLetters = conductor.status().deadLetters;
        const failures: string[] = [];
        let writes = 0;

        /** Three exclusive requests at once (queued together), each writing once and releasing. */
        const round = async (): Promise<void> => {
          const tasks = [
            conductor.acquire(ctx, node.id, { purpose: 'first', retry: false }),
            conductor.acquire(ctx, node.id, { purpose: 'second', patient: true }),
            conductor.acquire(ctx, node.id, { purpose: 'third', patient: true }),
          ].map(async (acquiring) => {
            const acquired = await acquiring;
            if (acquired.isErr()) {
              failures.push(`acquire: ${acquired.error.name}: ${acquired.error.message}`);
              return;
            }
            const task = acquired.value;
            const written = await task.updateNode((draft) => {
              const count = typeof draft.extra.count === 'number' ? draft.extra.count : 0;
              draft.extra = { ...draft.extra, count: count + 1 };
            });
            if (written.isErr()) failures.push(`updateNode: ${written.error.name}: ${written.error.message}`);
            else writes += 1;
            const released = await task.release();
            if (released.isErr()) failures.push(`release: ${released.error.name}: ${released.error.message}`);
          });
          await Promise.all(tasks);
        };

        // Between rounds the node has no holder, no waiter, nothing in flight, and its last
        // activity lies far in the past (the clock jumps): the next sweep passivates it. A round
        // starts in the first check phase after the sweep read the clock, from a setImmediate
        // callback queued in the previous loop turn: its requests are sent after the sweep's
        // `passivate` and before the node actor handles it (nact delivers in a later
        // setImmediate), so each round races a passivation. (Without a reading for 600 ms, a
        // round starts anyway.)
        let rounds = 0;
        let races = 0;
        const endAt = Date.now() + 3_000; // sweeps every 250 ms, a race every other one or so
        await new Promise<void>((resolve) => {
          let busy = false;
          let settledTurn = true; // the turn the last round ended in is over
          let seen = clock.readings;
          let idleSince = Date.now();
          const tick = (): void => {
            if (!busy) {
              const swept = settledTurn && clock.readings > seen;
              if (Date.now() > endAt || failures.length > 0) {
                resolve();
                return;
              }
              if (swept || Date.now() - idleSince > 600) {
                busy = true;
                rounds += 1;
                if (swept) races += 1;
                void round().finally(() => {
                  clock.jump(10 * idle);
                  busy = false;
                  settledTurn = false;
                  idleSince = Date.now();
                });
              } else {
                settledTurn = true;
                seen = clock.readings;
              }
            }
            setImmediate(tick);
          };
          setImmediate(tick);
        });

        assert.deepEqual(failures, [], 'every request settled as it should (granted, written, released)');
        assert.ok(races >= 3, `${races} rounds raced a sweep (${rounds} rounds)`);
        assert.equal(writes, rounds * 3, 'every write was made');
        assert.equal(conductor.status().deadLetters, deadLetters, 'no message a caller waited on became a dead letter');
        // Consistent: the store row has every write, and the snapshot shared readers see is that row.
        const row = await stored(node.id);
        assert.equal(row.extra.count, writes);
        assert.equal(row.reservation, null);
        assert.deepEqual(await okValue(conductor.snapshot(node.id)), row);
        // Still usable, and passivation itself still works once nobody sends anything.
        const task = await okValue(conductor.acquire(ctx, node.id, { retry: false, purpose: 'after' }));
        assert.equal(task.node.extra.count, writes);
        await okValue(task.release());
        const { passivated } = conductor.status().actors;
        clock.jump(10 * idle);
        await until(() => conductor.status().actors.passivated > passivated, 'the idle node passivated');
        const again = await okValue(conductor.acquire(ctx, node.id, { retry: false, purpose: 'after passivation' }));
        assert.equal(again.node.extra.count, writes);
        await okValue(again.release());
        assert.equal(conductor.status().deadLetters, deadLetters);
      },
    );
  });
});

/** The columns only the lock protocol or the node's creation write, each with a value a recipe might try. */
const PROTECTED_CHANGES = (node: NodeRecord): [keyof NodeRecord, unknown][] => [
  ['id', node.id + 1_000],
  ['uuid', randomUUID()],
  ['created_at', new Date(Date.UTC(2020, 0, 1)).toISOString()],
  ['reservation', 'other-host'],
  ['reservation', null],
  ['reservation_purpose', 'hijacked'],
  ['reservation_purpose', null],
  ['reserved_at', new Date(Date.UTC(2020, 0, 1)).toISOString()],
  ['reserved_at', null],
];

describe('defect: an updateNode recipe changing a protected column (identity, lock) is refused', () => {
  // Catches: actors/node-actor.ts PROTECTED without 'reservation' (or any other column: each is tried);
  // the store then refuses it as a bug (a StoreError), not the caller's InvalidParameterValue.
  it('through the task: InvalidParameterValue, nothing written, the lock still held and usable', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored, spy }: Fixture) => {
      const node = await createNode();
      for (const [column, value] of PROTECTED_CHANGES(node)) {
        const what = `${column} = ${String(value)}`;
        const task = await okValue(conductor.acquire(ctx, node.id, { purpose: `change ${column}` }));
        const rowBefore = await stored(node.id);
        const snapshotBefore = await okValue(conductor.snapshot(node.id));
        const taskNodeBefore = task.node;
        const updatesBefore = spy.count('updateNode');
        const error = await errOf(
          task.updateNode((draft) => {
            draft.extra = { touched: true };
            (draft as Record<string, unknown>)[column] = value;
          }),
          InvalidParameterValue,
        );
        assert.match(error.message, new RegExp(column), what);
        assert.equal(spy.count('updateNode'), updatesBefore, `${what}: the store was not asked`);
        assert.deepEqual(await stored(node.id), rowBefore, `${what}: store row unchanged`);
        assert.deepEqual(await okValue(conductor.snapshot(node.id)), snapshotBefore, `${what}: snapshot unchanged`);
        assert.equal(task.node, taskNodeBefore, `${what}: the task's node unchanged`);
        assert.equal(rowBefore.reservation, HOST);
        assert.equal(task.released, false, `${what}: the task still holds the lock`);
        // The lock is intact: nobody else gets it, and the holder still writes and releases.
        const other = await conductor.acquire(ctx, node.id, { retry: false, purpose: 'intruder' });
        assert.ok(other.isErr() && other.error instanceof NodeLocked, `${what}: still locked`);
        const written = await okValue(task.updateNode((draft) => void (draft.extra = { ok: column })));
        assert.equal(written.reservation, HOST);
        assert.deepEqual((await stored(node.id)).extra, { ok: column });
        await okValue(task.release());
        const after = await stored(node.id);
        assert.equal(after.reservation, null, `${what}: released`);
        assert.equal(after.uuid, node.uuid);
        assert.equal(after.id, node.id);
        assert.equal(after.created_at, node.created_at);
      }
    });
  });

  // Catches: src/store/sqljs-store.ts NODE_NEVER_UPDATED without 'reservation' (or any other column).
  it("through the store's updateNode: refused as a caller bug (TypeError), nothing written", async () => {
    await withConductor({}, async ({ createNode, inner, stored }: Fixture) => {
      const node = await createNode();
      const before = await stored(node.id);
      for (const [column, value] of PROTECTED_CHANGES(node)) {
        assert.throws(
          () => inner.updateNode(node.id, { [column]: value, extra: { touched: true } }),
          (error: unknown) => error instanceof TypeError && error.message.includes(column),
          `${column} = ${String(value)}`,
        );
        assert.deepEqual(await stored(node.id), before, `${column}: nothing written`);
      }
    });
  });
});

describe('defect: release() swallowing an unlock error', () => {
  // Catches: actors/node-actor.ts onRelease answering `ctx.reply(undefined); return;` after logging a NodeNotLocked/NodeLocked from
  // the store's release (this plant survived the rest of the suite); also src/task/task-manager.ts #releaseResources dropping the error.
  it('a reservation cleared behind the holder: release() returns NodeNotLocked; the task is released and the node free', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, inner }) => {
      const node = await createNode();
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      await okValue(inner.release(HOST, node.id)); // an operator clears it in the database
      const error = await errOf(task.release(), NodeNotLocked);
      assert.match(error.message, new RegExp(node.uuid));
      assert.equal(task.released, true);
      assert.ok((await task.release()).isErr(), 'a second release() answers the same');
      const next = await okValue(conductor.acquire(ctx, node.id, { retry: false, purpose: 'next' }));
      assert.equal(next.node.reservation_purpose, 'next');
      await okValue(next.release());
    });
  });

  // Catches: the same plants (NodeLocked branch).
  it('a reservation taken over by another host behind the holder: release() returns NodeLocked naming it, and does not clear it', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, inner, stored }) => {
      const node = await createNode();
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      await okValue(inner.release(HOST, node.id));
      await okValue(inner.reserve('other-host', node.id, { purpose: 'took over' }));
      const error = await errOf(task.release(), NodeLocked);
      assert.equal(error.holder.host, 'other-host');
      assert.equal(task.released, true);
      assert.equal((await stored(node.id)).reservation, 'other-host', "the other host's reservation is left alone");
    });
  });

  // Catches: src/task/scope.ts `return outcome` instead of `left.isErr() ? err(left.error) : outcome`; also
  // src/task/task-manager.ts #releaseResources keeping `ok(undefined)` whatever unlock answered, and onRelease always `ctx.reply(undefined)`.
  it('a store failing the release: task.release() and the end of a successful withTask both return the StoreError', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, spy, stored }) => {
      const node = await createNode();
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      spy.inject('release', () => errAsync(new StoreError('release', 'disk I/O error')), 1);
      await errOf(task.release(), StoreError);
      assert.equal(task.released, true);
      await until(async () => (await stored(node.id)).reservation === null, 'the background retry cleared the row');

      spy.inject('release', () => errAsync(new StoreError('release', 'disk I/O error')), 1);
      const scoped = await conductor.withTask(ctx, node.id, { purpose: 'scoped' }, (scopedTask: ExclusiveTask) => {
        return scopedTask.updateNode((draft) => void (draft.extra = { done: true }));
      });
      assert.ok(scoped.isErr(), 'the body succeeded but the release failed: the scope is an Err');
      assert.ok(scoped.error instanceof StoreError, `got ${scoped.error.name}`);
      assert.deepEqual((await stored(node.id)).extra, { done: true }, "the body's write stands");
      await until(async () => (await stored(node.id)).reservation === null, 'cleared again');
    });
  });

  // Catches: src/task/scope.ts dropping the `logger.error(... 'releasing after a failed task body failed')` line (and the two plants above).
  it("a failed body whose release fails too: withTask returns the body's error and logs the release's at error level", async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async ({ conductor, ctx, createNode, spy }) => {
      const node = await createNode();
      spy.inject('release', () => errAsync(new StoreError('release', 'disk I/O error')), 1);
      const bodyError = new InvalidParameterValue('the body refused', { field: 'x' });
      const scoped = await conductor.withTask(ctx, node.id, { purpose: 'scoped' }, () => errAsync(bodyError));
      assert.ok(scoped.isErr());
      assert.equal(scoped.error, bodyError, "the body's error is what the caller gets");
      assert.ok(
        lines.some((line) => (line.level as number) >= 50 && JSON.stringify(line.err ?? '').includes('disk I/O error')),
        'the release failure was logged at error level',
      );
    });
  });
});

describe('defect: the task state machine left out of step with the node after an invalid target state', () => {
  // Catches: src/task/task-manager.ts processEvent without `this.#resync(fsm, node)` on InvalidState.
  it('processEvent with an invalid target state: InvalidState, fsm equals the node, nothing saved, and the next event works', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, spy, stored }) => {
      const node = await createNode({ provision_state: 'available' });
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'deploy' }));
      const updates = spy.count('updateNode');
      // deploy moves the machine to `deploying`, then the target (not a stable state) is refused.
      await errOf(task.processEvent('deploy', { targetState: 'deploying' }), InvalidState);
      assert.equal(task.fsm?.currentState, 'available', 'the machine is back at the node state');
      assert.equal(task.fsm?.targetState ?? null, null, 'and the node target');
      assert.equal(task.fsm?.currentState, task.node.provision_state);
      assert.equal(spy.count('updateNode'), updates, 'nothing saved');
      assert.equal((await stored(node.id)).provision_state, 'available');
      // The same task goes on as if nothing happened.
      const managed = await okValue(task.processEvent('manage'));
      assert.equal(managed.provision_state, 'manageable');
      assert.equal(task.fsm?.currentState, 'manageable');
      assert.equal((await stored(node.id)).provision_state, 'manageable');
      await okValue(task.release());
    });
  });

  // Catches: the same plant (the target state is put back too).
  it('from a state with a target, the refused event leaves both current and target state equal to the node', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode({ provision_state: 'verifying', target_provision_state: 'manageable' });
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'verify' }));
      await errOf(task.processEvent('done', { targetState: 'verifying' }), InvalidState);
      assert.equal(task.fsm?.currentState, 'verifying');
      assert.equal(task.fsm?.targetState, 'manageable');
      assert.deepEqual(
        [task.fsm?.currentState, task.fsm?.targetState ?? null],
        [task.node.provision_state, task.node.target_provision_state],
      );
      const done = await okValue(task.processEvent('done'));
      assert.equal(done.provision_state, 'manageable');
      assert.equal(done.target_provision_state, null);
      const row = await stored(node.id);
      assert.equal(row.provision_state, 'manageable');
      assert.equal(row.target_provision_state, null);
      await okValue(task.release());
    });
  });
});
