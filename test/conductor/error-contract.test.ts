/**
 * The one error contract (README "Errors"): expected failures are Results at every public entry
 * point and never a Result inside a Result; a ConductorError thrown inside `withTask` (orThrow)
 * comes back as the scope's Err after Ironic's release-on-exception; a shared task's exclusive-only
 * calls answer Err(ExclusiveLockRequired); a full pool is an Err, never an exception; spawnAfter's
 * handle settles with the worker's outcome.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { err, errAsync, ok, type ResultAsync } from 'neverthrow';
import {
  Aborted,
  BackgroundWorkFailed,
  ConductorStopping,
  ExclusiveLockRequired,
  InvalidState,
  isConductorError,
  NoFreeConductorWorker,
  StoreError,
  WorkerTimedOut,
  WorkNotStarted,
} from '../../src/errors.js';
import type { ProvisionEvent } from '../../src/states/provision-states.js';
import { orThrow } from '../../src/task/scope.js';
import type { ExclusiveTask, SpawnHandle } from '../../src/task/types.js';
import { errorOf, sleep, withConductor } from './fixture.js';
import { okValue } from '../helpers/task-harness.js';

/** A promise and its opener. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('withTask: one error channel', () => {
  it('a body returning Ok gives its value, not a Result in a Result', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const value = await okValue(f.conductor.withTask(f.ctx, node.id, {}, (task) => ok(task.node.uuid)));
      assert.equal(value, node.uuid);
      const fromResultAsync = await okValue(f.conductor.withTask(f.ctx, node.id, {}, (task) => task.processEvent('manage')));
      assert.equal(fromResultAsync.provision_state, 'manageable', 'the saved node itself, unwrapped');
      const plain = await okValue(f.conductor.withTask(f.ctx, node.id, {}, async () => 42));
      assert.equal(plain, 42);
    });
  });

  it('a body returning Err gives that Err, releases, and never starts the work it scheduled', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      let ran = false;
      let handle: SpawnHandle | null = null;
      const mine = new Error('not a conductor error, returned on purpose');
      const result = await f.conductor.withTask(f.ctx, node.id, { purpose: 'returns err' }, (task) => {
        handle = task.spawnAfter(function mustNotRun() {
          ran = true;
        });
        return err(mine);
      });
      assert.ok(result.isErr());
      assert.equal(result.error, mine, 'the body’s own error, not wrapped');
      assert.equal((await f.stored(node.id)).reservation, null, 'released');
      const outcome = await (handle as unknown as SpawnHandle).done;
      assert.ok(outcome.isErr() && outcome.error instanceof WorkNotStarted, 'the handle says the work never ran');
      await f.conductor.onIdle();
      assert.equal(ran, false);
    });
  });

  it('a ConductorError thrown by orThrow inside the body is the Err, after release; the process does not see a rejection', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ provision_state: 'active' });
      let ran = false;
      const result = await f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        task.spawnAfter(function mustNotRun() {
          ran = true;
        });
        await orThrow(task.processEvent('manage')); // active --manage--> refused: InvalidState
        return 'unreachable';
      });
      const error = await errorOf(result, InvalidState);
      const scheduled = f.conductor.status().workers.completed;
      assert.equal(scheduled, 0);
      assert.equal(error.status, 409);
      assert.equal((await f.stored(node.id)).reservation, null, 'released as Ironic’s __exit__ on an exception');
      await f.conductor.onIdle();
      assert.equal(ran, false, 'the scheduled work did not start');
    });
  });

  it('anything else thrown is a bug: the task is released and the promise rejects with it', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const bug = new TypeError('a bug in the body');
      await assert.rejects(
        async () =>
          f.conductor.withTask(f.ctx, node.id, {}, () => {
            throw bug;
          }),
        (error) => error === bug,
      );
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('a Result made by another copy of neverthrow is recognised by its shape', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      // What a different neverthrow version returns: same shape, different classes.
      const foreignErr = {
        isOk: () => false,
        isErr: () => true,
        match: () => undefined,
        error: new InvalidState('foreign'),
        value: undefined,
      };
      const result = await f.conductor.withTask(f.ctx, node.id, {}, () => foreignErr);
      assert.ok(result.isErr() && result.error instanceof InvalidState && result.error.message === 'foreign');
      const foreignOk = { isOk: () => true, isErr: () => false, match: () => undefined, value: 7, error: undefined };
      assert.equal(await okValue(f.conductor.withTask(f.ctx, node.id, {}, () => foreignOk)), 7);
    });
  });
});

describe('a shared task’s exclusive-only calls answer Err(ExclusiveLockRequired)', () => {
  it('processEvent, resumeCleaning, updateNode, destroyNode, createPort, createPortgroup, setSpawnErrorHook and spawnAfter', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const shared = await okValue(f.conductor.acquire(f.ctx, node.id, { shared: true }));
      // An untyped caller (JavaScript, or a cast): the types forbid these calls.
      const untyped = shared as unknown as ExclusiveTask;
      const calls = {
        processEvent: () => untyped.processEvent('manage'),
        resumeCleaning: () => untyped.resumeCleaning(),
        updateNode: () => untyped.updateNode((draft) => void (draft.extra = { x: 1 })),
        destroyNode: () => untyped.destroyNode(),
        createPort: () => untyped.createPort({ address: '52:54:00:00:00:01' }),
        createPortgroup: () => untyped.createPortgroup({ name: 'bond0' }),
      };
      for (const [name, call] of Object.entries(calls)) {
        let pending: ResultAsync<unknown, unknown> | undefined;
        assert.doesNotThrow(() => (pending = call()), `${name} must not throw`);
        const error = await errorOf(pending!, ExclusiveLockRequired);
        assert.equal(error.details.operation, name);
        assert.equal(error.status, 403);
      }
      const hook = untyped.setSpawnErrorHook(() => {});
      assert.ok(hook.isErr() && hook.error instanceof ExclusiveLockRequired);
      const handle = untyped.spawnAfter(async () => {});
      const outcome = await handle.done;
      assert.ok(outcome.isErr() && outcome.error instanceof ExclusiveLockRequired);
      const row = await f.stored(node.id);
      assert.deepEqual([row.provision_state, row.extra, row.reservation], ['available', {}, null], 'nothing changed');
      await okValue(shared.release());
    });
  });
});

describe('a full pool is an Err, never an exception', () => {
  it('the real pool refuses with NoFreeConductorWorker as the scope’s Err; the spawn-error hook ran; the handle says so', async () => {
    await withConductor({ workersPoolSize: 3, reservedWorkersPoolPercentage: 0 }, async (f) => {
      const nodes = await Promise.all([1, 2, 3, 4].map(() => f.createNode()));
      const hold = gate();
      for (const node of nodes.slice(0, 3)) {
        await okValue(
          f.conductor.withTask(f.ctx, node.id, {}, (task) => {
            task.spawnAfter(async function holdsAWorker() {
              await hold.promise;
            });
          }),
        );
      }
      const hooked: unknown[] = [];
      let handle: SpawnHandle | null = null;
      const last = nodes[3]!;
      const result = await f.conductor.withTask(f.ctx, last.id, {}, (task) => {
        assert.ok(task.setSpawnErrorHook((error) => void hooked.push(error)).isOk());
        handle = task.spawnAfter(async function refused() {});
      });
      const error = await errorOf(result, NoFreeConductorWorker);
      assert.equal(error.code, 'NoFreeConductorWorker');
      assert.equal(error.status, 503);
      assert.deepEqual(hooked, [error], 'the hook got the refusal');
      const outcome = await (handle as unknown as SpawnHandle).done;
      assert.ok(outcome.isErr() && outcome.error === error);
      assert.equal((await f.stored(last.id)).reservation, null, 'released');
      assert.equal(f.conductor.status().workers.pool.rejected, 1);
      hold.open();
      await f.conductor.onIdle();
    });
  });
});

describe('spawnAfter returns a handle that settles with the worker’s outcome', () => {
  it('Ok after the work ended and the lock was released', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfter(async function verify(t) {
            await orThrow(t.processEvent('manage'));
          }),
        ),
      );
      assert.equal(handle.name, 'verify');
      assert.ok((await handle.done).isOk());
      const row = await f.stored(node.id);
      assert.deepEqual([row.provision_state, row.reservation], ['manageable', null], 'done after the release, not before');
    });
  });

  it('BackgroundWorkFailed with the last_error text Ironic records, the thrown value as its cause', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const thrown = new Error('BMC unreachable');
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfter(async function powerOn() {
            throw thrown;
          }),
        ),
      );
      const outcome = await handle.done;
      assert.ok(outcome.isErr() && outcome.error instanceof BackgroundWorkFailed);
      assert.equal(outcome.error.message, 'Async execution of powerOn failed with error: BMC unreachable');
      assert.equal(outcome.error.cause, thrown);
      assert.equal((await f.stored(node.id)).last_error, outcome.error.message);
    });
  });

  it('WorkerTimedOut when the work outlives its timeout', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfterWith({ timeoutMs: 20 }, async function slow(t) {
            await new Promise((resolve) => t.signal.addEventListener('abort', resolve));
          }),
        ),
      );
      const outcome = await handle.done;
      assert.ok(outcome.isErr() && outcome.error instanceof WorkerTimedOut);
    });
  });

  it('WorkNotStarted when a later spawnAfter replaces it (Ironic keeps only the last)', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const [first, second] = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) => [
          task.spawnAfter(async function first() {}),
          task.spawnAfter(async function second() {}),
        ]),
      );
      const replaced = await first!.done;
      assert.ok(replaced.isErr() && replaced.error instanceof WorkNotStarted && /replaced/.test(replaced.error.message));
      assert.ok((await second!.done).isOk());
    });
  });

  it('processEvent({ callback }) schedules through spawnAfter: task.scheduledSpawn is its handle', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ provision_state: 'manageable' });
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await orThrow(
            task.processEvent('provide', {
              callback: async function cleanIt(t) {
                await orThrow(t.processEvent('done'));
              },
            }),
          );
          return task.scheduledSpawn;
        }),
      );
      assert.ok(handle !== null && handle.name === 'cleanIt');
      assert.ok((await handle.done).isOk());
      assert.equal((await f.stored(node.id)).provision_state, 'available');
    });
  });

  it('Aborted when stop({ signal }) cuts the graceful wait short; ConductorStopping for a spawn after the stop began', async () => {
    await withConductor({ gracefulShutdownTimeout: 60_000 }, async (f) => {
      const node = await f.createNode();
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfter(async function waitsForCancel(t) {
            await new Promise((_resolve, reject) => t.signal.addEventListener('abort', () => reject(t.signal.reason)));
          }),
        ),
      );
      const controller = new AbortController();
      const started = Date.now();
      const stopping = f.conductor.stop({ signal: controller.signal });
      await sleep(20);
      controller.abort(new Error('operator is impatient'));
      assert.ok((await stopping).isOk());
      assert.ok(Date.now() - started < 10_000, 'did not wait out the graceful timeout');
      const outcome = await handle.done;
      assert.ok(outcome.isErr() && outcome.error instanceof Aborted);
      await errorOf(f.conductor.acquire(f.ctx, node.id), ConductorStopping);
    });
  });
});

describe('spawn handles settle exactly once, whatever path the task takes', () => {
  it('a ConductorError thrown in the body: the handle says WorkNotStarted', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ provision_state: 'active' });
      let handle: SpawnHandle | null = null;
      const result = await f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        handle = task.spawnAfter(async function never() {});
        await orThrow(task.processEvent('manage'));
      });
      await errorOf(result, InvalidState);
      const outcome = await (handle as unknown as SpawnHandle).done;
      assert.ok(outcome.isErr() && outcome.error instanceof WorkNotStarted && /ended with an error/.test(outcome.error.message));
    });
  });

  it('a transition that is not saved un-schedules its callback (WorkNotStarted) but keeps a spawnAfter made meanwhile', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ provision_state: 'manageable' });
      let cleanHandle: SpawnHandle | null = null;
      let laterHandle: SpawnHandle | null = null;
      let laterRan = false;
      f.spy.inject('updateNode', () => errAsync(new StoreError('updateNode', 'disk full')), 1);
      const result = await f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        const saving = task.processEvent('provide', { callback: async function clean() {} });
        cleanHandle = task.scheduledSpawn;
        laterHandle = task.spawnAfter(async function later() {
          laterRan = true;
        });
        const saved = await saving;
        assert.ok(saved.isErr() && saved.error instanceof StoreError);
        assert.equal(task.scheduledSpawn, laterHandle, 'the later spawn is still the one scheduled');
      });
      assert.ok(result.isOk());
      const clean = await (cleanHandle as unknown as SpawnHandle).done;
      assert.ok(clean.isErr() && clean.error instanceof WorkNotStarted, 'replaced by the later spawnAfter');
      assert.ok((await (laterHandle as unknown as SpawnHandle).done).isOk());
      assert.equal(laterRan, true);
      assert.equal((await f.stored(node.id)).provision_state, 'manageable', 'nothing was saved');
    });
  });

  it('a transition that is not saved, alone: its callback handle is WorkNotStarted and the scope spawns nothing', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode({ provision_state: 'manageable' });
      f.spy.inject('updateNode', () => errAsync(new StoreError('updateNode', 'disk full')), 1);
      let handle: SpawnHandle | null = null;
      const result = await f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        const saved = await task.processEvent('provide', { callback: async function clean() {} });
        handle = task.scheduledSpawn;
        return saved.map(() => 'saved');
      });
      await errorOf(result, StoreError);
      assert.equal(handle, null, 'nothing stays scheduled');
      assert.equal(f.conductor.status().workers.completed + f.conductor.status().workers.failed, 0);
    });
  });

  it('work that schedules more work on its own task: refused with WorkNotStarted, its own outcome and last_error untouched', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      let inner: SpawnHandle | null = null;
      const outer = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfter(async function outerWork(t) {
            inner = t.spawnAfter(async function innerWork() {});
            throw new Error('outer failed');
          }),
        ),
      );
      const outcome = await outer.done;
      assert.ok(outcome.isErr() && outcome.error instanceof BackgroundWorkFailed);
      assert.equal((await f.stored(node.id)).last_error, 'Async execution of outerWork failed with error: outer failed');
      const refused = await (inner as unknown as SpawnHandle).done;
      assert.ok(refused.isErr() && refused.error instanceof WorkNotStarted && /scope already ended/.test(refused.error.message));
    });
  });

  it('returning its own `done` from the body is a caller bug: a TypeError after release, not a hang', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      await assert.rejects(
        async () => f.conductor.withTask(f.ctx, node.id, {}, (task) => task.spawnAfter(async function work() {}).done),
        (error) => error instanceof TypeError && /return the SpawnHandle/.test(error.message),
      );
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });
});

describe('onIdle({ signal })', () => {
  it('Err(Aborted) when the signal aborts first; the worker goes on; without a signal it simply waits', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const hold = gate();
      const handle = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, (task) =>
          task.spawnAfter(async function held() {
            await hold.promise;
          }),
        ),
      );
      const controller = new AbortController();
      const waiting = f.conductor.onIdle({ signal: controller.signal });
      controller.abort();
      const aborted = await waiting;
      assert.ok(aborted.isErr() && aborted.error instanceof Aborted);
      assert.equal(f.conductor.status().workers.running.length, 1, 'the worker is still running');
      const already = await f.conductor.onIdle({ signal: controller.signal });
      assert.ok(already.isErr() && already.error instanceof Aborted, 'an aborted signal answers at once');
      hold.open();
      await f.conductor.onIdle();
      assert.ok((await handle.done).isOk());
      const idle = await f.conductor.onIdle({ signal: new AbortController().signal });
      assert.ok(idle.isOk());
    });
  });
});

/**
 * The service of the issue: an HTTP endpoint written in the README's style (orThrow inside
 * withTask), hit twice at once for the same node. Before the contract it crashed the process on
 * the second request; now each request gets a status code.
 */
describe('an HTTP service written from the README', () => {
  it('answers concurrent deploys of one node with 202 and 409, and no rejection reaches the process', { timeout: 20_000 }, async () => {
    await withConductor({ nodeLockedRetryAttempts: 1 }, async (f) => {
      const node = await f.createNode({ name: 'web-1' });
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const release = gate();
      const server: Server = createServer((req, res) => {
        const event = (req.url ?? '').slice(1) as ProvisionEvent;
        void f.conductor
          .withTask(f.ctx, 'web-1', { purpose: `api ${event}`, retry: false }, async (task) => {
            await orThrow(task.processEvent(event));
            task.spawnAfter(async function deploying(t) {
              await release.promise;
              await orThrow(t.processEvent('wait'));
            });
          })
          .match(
            () => res.writeHead(202).end(),
            (error) => res.writeHead(isConductorError(error) ? error.status : 500).end(error.message),
          );
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const post = (path: string): Promise<number> =>
        new Promise((resolve, reject) => {
          // A request the service never answers (its promise rejected) fails instead of hanging.
          const req = request({ host: '127.0.0.1', port, path, method: 'POST', timeout: 5_000 }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.on('timeout', () => req.destroy(new Error(`no answer to ${path}: the service lost the request`)));
          req.end();
        });
      try {
        const statuses = (await Promise.all([post('/deploy'), post('/deploy')])).sort();
        assert.deepEqual(statuses, [202, 409], 'one deploy accepted, the other a conflict (NodeLocked or InvalidState)');
        release.open();
        await f.conductor.onIdle();
        assert.equal((await f.stored(node.id)).provision_state, 'wait call-back');
        assert.equal(await post('/manage'), 409, 'an event the state refuses is a 409, not a crash');
        await sleep(10);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        server.close();
      }
    });
  });
});
