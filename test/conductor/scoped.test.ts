/**
 * Scoped use of a task (src/task/scope.ts, Ironic's `with task_manager.acquire(...)`): `await using`
 * and `withTask` release at the end of the scope, also when the body throws; a scheduled spawn
 * hands the lease to a background worker that releases when it ends and records its failure in
 * `last_error` (only if the node has none); a failing spawn runs the hook, cancels, releases and
 * comes back as an error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orThrow } from '../../src/task/scope.js';
import { NodeLocked, NoFreeConductorWorker, WorkNotStarted } from '../../src/errors.js';
import type { ExclusiveTask, SpawnHandle, Task } from '../../src/task/types.js';
import { FakeSpawner } from '../helpers/fake-worker.js';
import { captureLogger, okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, sleep, withConductor, within } from './fixture.js';

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('await using', () => {
  it('releases at the end of the block', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      let kept: Task;
      {
        await using task = await orThrow(f.conductor.acquire(f.ctx, node.id, { purpose: 'scoped' }));
        kept = task;
        assert.equal((await f.stored(node.id)).reservation, HOST);
        assert.equal((await f.stored(node.id)).reservation_purpose, 'scoped');
      }
      assert.equal(kept.released, true);
      assert.equal((await f.stored(node.id)).reservation, null);
      await okValue((await okValue(f.conductor.acquire(f.ctx, node.id, { retry: false }))).release());
    });
  });

  it('releases when the block throws, and the block’s error propagates', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const thrown = new Error('block failed');
      let kept: Task | null = null;
      await assert.rejects(
        async () => {
          await using task = await orThrow(f.conductor.acquire(f.ctx, node.id, { purpose: 'scoped' }));
          kept = task;
          throw thrown;
        },
        (error) => error === thrown,
      );
      assert.equal((kept as Task | null)?.released, true);
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('orThrow throws the typed acquire error, so the block never runs', async () => {
    await withConductor({ nodeLockedRetryInterval: 5000 }, async (f) => {
      const node = await f.createNode();
      const holder = await okValue(f.conductor.acquire(f.ctx, node.id, { purpose: 'holder' }));
      let ran = false;
      await assert.rejects(async () => {
        await using task = await orThrow(f.conductor.acquire(f.ctx, node.id, { retry: false }));
        ran = task !== null;
      }, NodeLocked);
      assert.equal(ran, false);
      await okValue(holder.release());
    });
  });

  it('a failing spawn surfaces from the block as the spawn error, after releasing', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new NoFreeConductorWorker();
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      await assert.rejects(
        async () => {
          await using task = await orThrow(f.conductor.acquire(f.ctx, node.id));
          task.spawnAfter(function neverRuns() {});
        },
        (error) => error === fake.spawnError,
      );
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('hands the lease to a scheduled spawn, which releases when it ends', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const release = gate();
      {
        await using task = await orThrow(f.conductor.acquire(f.ctx, node.id, { purpose: 'spawning' }));
        task.spawnAfter(async function heldByWorker() {
          await release.promise;
        });
      }
      assert.equal((await f.stored(node.id)).reservation, HOST, 'the worker holds the lock after the block');
      await errorOf(f.conductor.acquire(f.ctx, node.id, { retry: false }), NodeLocked);
      release.open();
      await f.conductor.onIdle();
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });
});

describe('withTask', () => {
  it('resolves with the body’s value and releases', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const value = await okValue(
        f.conductor.withTask(f.ctx, node.id, { purpose: 'value' }, async (task) => task.node.reservation_purpose),
      );
      assert.equal(value, 'value');
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('releases when the body throws and rethrows the body’s error; a spawn scheduled before the throw never runs', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const thrown = new Error('body failed');
      let ran = false;
      let kept: ExclusiveTask | null = null;
      await assert.rejects(
        async () =>
          await f.conductor.withTask(f.ctx, node.id, {}, (task) => {
            kept = task;
            task.spawnAfter(function mustNotRun() {
              ran = true;
            });
            throw thrown;
          }),
        (error) => error === thrown,
      );
      assert.equal((kept as ExclusiveTask | null)?.released, true);
      assert.equal((await f.stored(node.id)).reservation, null);
      await f.conductor.onIdle();
      await sleep(10);
      assert.equal(ran, false);
      assert.equal(f.conductor.status().workers.completed + f.conductor.status().workers.failed, 0, 'no worker at all');
    });
  });

  it('a failing spawn (NoFreeConductorWorker) runs the hook while still holding the lock, releases, and comes back as an error result', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new NoFreeConductorWorker();
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      const hookCalls: { args: unknown[]; heldBy: string | null }[] = [];
      let ran = false;
      const result = await f.conductor.withTask(f.ctx, node.id, { purpose: 'spawn fails' }, (task) => {
        assert.ok(
          task
            .setSpawnErrorHook(async (...args: unknown[]) => {
              hookCalls.push({ args, heldBy: (await f.stored(node.id)).reservation });
            }, 'hook-arg')
            .isOk(),
        );
        task.spawnAfter(function neverRuns() {
          ran = true;
        });
        return 'body done';
      });
      assert.ok(result.isErr(), 'an error result, not a rejection');
      assert.equal(result.error, fake.spawnError);
      assert.equal(hookCalls.length, 1);
      assert.deepEqual(hookCalls[0]?.args, [fake.spawnError, 'hook-arg']);
      assert.equal(hookCalls[0]?.heldBy, HOST, 'the hook ran before the release');
      assert.equal(ran, false);
      assert.equal((await f.stored(node.id)).reservation, null, 'released');
      assert.equal(fake.requests.length, 1);
      assert.equal(fake.requests[0]?.name, 'neverRuns');
    });
  });

  it('a failing spawn with a throwing hook still releases and returns the spawn error; the hook error is logged', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new NoFreeConductorWorker();
    const { logger, lines } = captureLogger();
    await withConductor({ logger, seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      const result = await f.conductor.withTask(f.ctx, node.id, {}, (task) => {
        assert.ok(
          task
            .setSpawnErrorHook(function brokenHook() {
              throw new Error('hook failed too');
            })
            .isOk(),
        );
        task.spawnAfter(function neverRuns() {});
      });
      assert.ok(result.isErr());
      assert.ok(result.error instanceof NoFreeConductorWorker, `got ${result.error.name}`);
      assert.equal((await f.stored(node.id)).reservation, null);
      const warning = lines.find((line) => String(line.msg).includes('on_error hook failed to call brokenHook'));
      assert.ok(warning, 'the hook failure is logged');
      assert.equal(warning.level, 40);
      assert.match(String(warning.msg), new RegExp(node.uuid));
    });
  });

  it('a failing spawn after processEvent lets the errHandler roll the node back with the pre-transition states', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new NoFreeConductorWorker();
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      const result = await f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        await okValue(
          task.processEvent('deploy', {
            callback: function deployWork() {},
            errHandler: async (error, t, previousState, previousTarget) => {
              assert.equal(error, fake.spawnError);
              assert.equal(previousState, 'available');
              assert.equal(previousTarget, null);
              await okValue(
                t.updateNode((draft) => {
                  draft.provision_state = previousState;
                  draft.target_provision_state = previousTarget;
                  draft.last_error = 'No free conductor workers available';
                }),
              );
            },
          }),
        );
        assert.equal((await f.stored(node.id)).provision_state, 'deploying', 'saved before the spawn');
      });
      await errorOf(result, NoFreeConductorWorker);
      const row = await f.stored(node.id);
      assert.deepEqual(
        [row.provision_state, row.target_provision_state, row.last_error, row.reservation],
        ['available', null, 'No free conductor workers available', null],
      );
    });
  });

  it('when attaching the done-callback fails: hook, then cancel, then release', async () => {
    const fake = new FakeSpawner();
    fake.future.onDoneError = new NoFreeConductorWorker({ reason: 'link failed' });
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      const order: string[] = [];
      let handle: SpawnHandle | null = null;
      const result = await f.conductor.withTask(f.ctx, node.id, {}, (task) => {
        assert.ok(
          task
            .setSpawnErrorHook(async () => {
              order.push(`hook (cancelled ${fake.future.cancelCalls}, held by ${(await f.stored(node.id)).reservation})`);
            })
            .isOk(),
        );
        handle = task.spawnAfter(function linked() {});
      });
      order.push(`after (cancelled ${fake.future.cancelCalls}, held by ${(await f.stored(node.id)).reservation})`);
      assert.equal(result.isErr() && result.error, fake.future.onDoneError);
      const outcome = await (handle as unknown as SpawnHandle).done;
      assert.ok(outcome.isErr() && outcome.error instanceof WorkNotStarted, 'the handle says the work never ran');
      assert.deepEqual(order, [`hook (cancelled 0, held by ${HOST})`, 'after (cancelled 1, held by null)']);
    });
  });

  it('a spawn failing with a non-conductor error is rethrown, after releasing', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new TypeError('pool exploded');
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const node = await f.createNode();
      await assert.rejects(
        async () => await f.conductor.withTask(f.ctx, node.id, {}, (task) => task.spawnAfter(function doomed() {})),
        (error) => error === fake.spawnError,
      );
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });
});

describe('background workers', () => {
  it('a failing worker writes last_error "Async execution of <name> failed with error: <message>" and releases; onIdle waits for it', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const proceed = gate();
      const started = gate();
      await okValue(
        f.conductor.withTask(f.ctx, node.id, { purpose: 'failing work' }, (task) => {
          task.spawnAfter(async function flakyWork(_t: ExclusiveTask, reason: string) {
            started.open();
            await proceed.promise;
            throw new Error(reason);
          }, 'BMC unreachable');
        }),
      );
      await started.promise;
      assert.equal((await f.stored(node.id)).reservation, HOST, 'the worker holds the lock');
      assert.equal(f.conductor.status().workers.running.length, 1);
      let idle = false;
      const waiting = f.conductor.onIdle().then(() => (idle = true));
      await sleep(20);
      assert.equal(idle, false, 'onIdle waits for the running worker');
      proceed.open();
      await waiting;
      const row = await f.stored(node.id);
      assert.equal(row.last_error, 'Async execution of flakyWork failed with error: BMC unreachable');
      assert.equal(row.reservation, null, 'released by the time onIdle resolved');
      const snapshot = await okValue(f.conductor.snapshot(node.id));
      assert.equal(snapshot.last_error, row.last_error);
      assert.equal(snapshot.reservation, null);
      assert.equal(f.conductor.status().workers.failed, 1);
      await okValue((await okValue(f.conductor.acquire(f.ctx, node.id, { retry: false }))).release());
    });
  });

  it('a failing worker keeps a last_error the node already has', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ last_error: 'an earlier problem' });
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) => {
          task.spawnAfter(async function failingWork() {
            throw new Error('new problem');
          });
        }),
      );
      await f.conductor.onIdle();
      const row = await f.stored(node.id);
      assert.equal(row.last_error, 'an earlier problem');
      assert.equal(row.reservation, null);
    });
  });

  it('a worker that records its own last_error and then fails keeps its own message', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await okValue(
            task.processEvent('deploy', {
              callback: async function deployWork(t: ExclusiveTask) {
                await okValue(t.processEvent('fail', { lastError: 'deploy step 3 failed' }));
                throw new Error('deploy aborted');
              },
            }),
          );
        }),
      );
      await f.conductor.onIdle();
      const row = await f.stored(node.id);
      assert.equal(row.provision_state, 'deploy failed');
      assert.equal(row.last_error, 'deploy step 3 failed');
      assert.equal(row.reservation, null);
    });
  });

  it('a successful worker writes no last_error and releases', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await okValue(
            task.processEvent('deploy', { callback: async (t: ExclusiveTask) => void (await okValue(t.processEvent('done'))) }),
          );
        }),
      );
      const idle = await within(f.conductor.onIdle(), 3000);
      assert.notEqual(idle, 'pending');
      const row = await f.stored(node.id);
      assert.deepEqual([row.provision_state, row.last_error, row.reservation], ['active', null, null]);
      assert.equal(f.conductor.status().workers.completed, 1);
    });
  });
});
