/**
 * Port of Ironic's `TaskManagerTestCase` (ironic/tests/unit/conductor/test_task_manager.py, 29
 * tests; reference §7.1). Ironic patches `Node.get/reserve/release`, `build_driver_for_task` and
 * the four `list_by_node_id`; here a SpyStore wraps a real in-memory store (get ↔ getNode,
 * reserve ↔ reserve, release ↔ release, list_by_node_id ↔ listPorts/...), and the conductor's
 * seams stand in for the driver factory, the state-machine copy and the worker pool.
 *
 * Deviations that hold for the whole class (see each test for the rest):
 * - Ironic's `reserve` receives the node id *as passed* ('fake-node-id'); our node actor reserves
 *   by the integer id it resolved with `getNode`. So `getNode` is asserted with the identity as
 *   passed and `reserve`/`release` with `node.id`; `reserve` also carries `{ purpose, at }`.
 * - `build_driver_for_task(task)` ↔ `seams.buildDriver(node)`: we assert it got the task's node.
 * - `tbn_traits` has no counterpart in metal-conductor and is not ported.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errAsync, okAsync, type Result } from 'neverthrow';
import { DriverNotFound, NoFreeConductorWorker, NodeLocked, NodeNotFound, StoreError, TaskReleased } from '../../src/errors.js';
import type { NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../../src/node.js';
import type { WorkerOutcome } from '../../src/task/ports.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask, Task } from '../../src/task/types.js';
import { FakeFsm } from '../helpers/fake-fsm.js';
import { FakeSpawner } from '../helpers/fake-worker.js';
import { spyFn, spyOnMethod, type SpyFn } from '../helpers/spies.js';
import { errOf, okValue, TEST_HOST, withHarness, type TaskHarness } from '../helpers/task-harness.js';

/** The implementation behind a task (what `taskInternals` returns). */
type Impl = ReturnType<typeof taskInternals>;

/** Sentinel resource lists (Ironic's `mock.sentinel.ports1`, ...): distinct frozen-able arrays. */
function sentinels(tag: string): { ports: Port[]; portgroups: Portgroup[]; connectors: VolumeConnector[]; targets: VolumeTarget[] } {
  return {
    ports: [{ sentinel: `ports-${tag}` } as unknown as Port],
    portgroups: [{ sentinel: `portgroups-${tag}` } as unknown as Portgroup],
    connectors: [{ sentinel: `connectors-${tag}` } as unknown as VolumeConnector],
    targets: [{ sentinel: `targets-${tag}` } as unknown as VolumeTarget],
  };
}

/** Make the four list loaders answer with `lists` (per node id) on every call. */
function answerLists(h: TaskHarness, byNode: Map<number, ReturnType<typeof sentinels>>): void {
  const pick = (id: unknown) => byNode.get(id as number) ?? assert.fail(`unexpected node id ${String(id)}`);
  h.spy.inject('listPorts', (id) => okAsync(pick(id).ports), Infinity);
  h.spy.inject('listPortgroups', (id) => okAsync(pick(id).portgroups), Infinity);
  h.spy.inject('listVolumeConnectors', (id) => okAsync(pick(id).connectors), Infinity);
  h.spy.inject('listVolumeTargets', (id) => okAsync(pick(id).targets), Infinity);
}

/** Load the four lazy resources and check they are the sentinels. */
async function assertResources(task: Task, lists: ReturnType<typeof sentinels>): Promise<void> {
  assert.equal(await okValue(task.ports()), lists.ports);
  assert.equal(await okValue(task.portgroups()), lists.portgroups);
  assert.equal(await okValue(task.volumeConnectors()), lists.connectors);
  assert.equal(await okValue(task.volumeTargets()), lists.targets);
}

const LISTS = ['listPorts', 'listPortgroups', 'listVolumeConnectors', 'listVolumeTargets'] as const;

/** A NodeLocked as another conductor's reservation would produce. */
const lockedByFoo = () => errAsync(new NodeLocked('foo', { host: 'foo' }));

/** The node a store call answered with. */
async function answeredNode(h: TaskHarness, method: 'reserve' | 'getNode', index = 0): Promise<NodeRecord> {
  const result = (await h.spy.resultOf(method, index)) as Result<NodeRecord, unknown>;
  assert.ok(result.isOk(), `${method} did not succeed`);
  return result.value;
}

/** Assert reserve was called `times` times, each as (host, node.id, {purpose}). */
function assertReserveCalls(h: TaskHarness, nodeIds: number[], purpose = 'unspecified action'): void {
  const calls = h.spy.callsTo('reserve');
  assert.deepEqual(
    calls.map((args) => [args[0], args[1]]),
    nodeIds.map((id) => [TEST_HOST, id]),
  );
  for (const args of calls) assert.equal((args[2] as { purpose: string }).purpose, purpose);
}

/** The lazy loaders, as (Ironic test suffix, store method, task method). */
const LAZY = [
  ['ports', 'listPorts', 'ports'],
  ['portgroups', 'listPortgroups', 'portgroups'],
  ['volconn', 'listVolumeConnectors', 'volumeConnectors'],
  ['voltgt', 'listVolumeTargets', 'volumeTargets'],
] as const;

describe('TaskManagerTestCase', () => {
  it('test_excl_lock', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      const lists = sentinels('1');
      answerLists(h, new Map([[node.id, lists]]));
      const done = await h.conductor.withTask(h.ctx, 'fake-node-id', {}, async (task) => {
        assert.equal(task.context, h.ctx);
        // task.node is what reserve returned (Ironic: self.node, the reserve mock's value).
        assert.equal(task.node, await answeredNode(h, 'reserve'));
        await assertResources(task, lists);
        assert.equal(task.driver, h.drivers.results[0]);
        assert.equal(task.shared, false);
        assert.deepEqual(h.drivers.calls, [task.node]);
        return 'body ran';
      });
      assert.equal(await okValue(done), 'body ran');
      // Ironic at HEAD: Node.get runs first for exclusive tasks too.
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      assertReserveCalls(h, [node.id]);
      for (const list of LISTS) assert.deepEqual(h.spy.callsTo(list), [[node.id]], list);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_no_driver', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      const lists = sentinels('1');
      answerLists(h, new Map([[node.id, lists]]));
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', { loadDriver: false }, async (task) => {
          assert.equal(task.driver, null);
          await assertResources(task, lists);
          assert.equal(task.shared, false);
        }),
      );
      assert.equal(h.drivers.calls.length, 0, 'build_driver must not be called');
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      assertReserveCalls(h, [node.id]);
      for (const list of LISTS) assert.deepEqual(h.spy.callsTo(list), [[node.id]], list);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_excl_nested_acquire', async () => {
    await withHarness({}, async (h) => {
      const node1 = await h.createNode({ name: 'node-id1' });
      const node2 = await h.createNode({ name: 'node-id2' });
      const lists1 = sentinels('1');
      const lists2 = sentinels('2');
      answerLists(
        h,
        new Map([
          [node1.id, lists1],
          [node2.id, lists2],
        ]),
      );
      await okValue(
        h.conductor.withTask(h.ctx, 'node-id1', {}, async (task) => {
          await okValue(
            h.conductor.withTask(h.ctx, 'node-id2', {}, async (task2) => {
              assert.equal(task.context, h.ctx);
              assert.equal(task.node.id, node1.id);
              await assertResources(task, lists1);
              assert.equal(task.driver, h.drivers.results[0]);
              assert.equal(task.shared, false);
              assert.equal(task2.context, h.ctx);
              assert.equal(task2.node.id, node2.id);
              await assertResources(task2, lists2);
              assert.equal(task2.driver, h.drivers.results[1]);
              assert.equal(task2.shared, false);
              assert.notEqual(task.driver, task2.driver);
              assert.deepEqual(h.drivers.calls, [task.node, task2.node]);
            }),
          );
        }),
      );
      assert.deepEqual(h.spy.callsTo('getNode'), [['node-id1'], ['node-id2']]);
      assertReserveCalls(h, [node1.id, node2.id]);
      assert.deepEqual(h.spy.callsTo('listPorts'), [[node1.id], [node2.id]]);
      // Release should be in reverse order.
      assert.deepEqual(h.spy.releases(), [
        [TEST_HOST, node2.id],
        [TEST_HOST, node1.id],
      ]);
    });
  });

  it('test_excl_lock_exception_then_lock', async () => {
    await withHarness({ attempts: 3 }, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      // Fail on the first lock attempt, succeed on the second.
      h.spy.inject('reserve', lockedByFoo, 1);
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', {}, (task) => {
          assert.equal(task.shared, false);
        }),
      );
      assertReserveCalls(h, [node.id, node.id]);
      assert.equal(h.spy.count('reserve'), 2);
    });
  });

  it('test_excl_lock_exception_no_retries', async () => {
    await withHarness({ attempts: 3 }, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      h.spy.inject('reserve', lockedByFoo, Infinity);
      await errOf(h.conductor.acquire(h.ctx, 'fake-node-id', { retry: false }), NodeLocked);
      assertReserveCalls(h, [node.id]);
      assert.equal(h.spy.count('reserve'), 1);
      assert.equal(h.spy.count('release'), 0);
      assert.equal(h.drivers.calls.length, 0);
    });
  });

  it('test_excl_lock_upgade_exception_no_retries', async () => {
    // Three attempts configured, so that retry: false is what limits upgradeLock to one reserve.
    await withHarness({ attempts: 3 }, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      h.spy.inject('reserve', lockedByFoo, Infinity);
      const task = await okValue(h.conductor.acquire(h.ctx, 'fake-node-id', { shared: true }));
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      assert.equal(h.spy.count('reserve'), 0);
      await errOf(task.upgradeLock({ retry: false }), NodeLocked);
      assertReserveCalls(h, [node.id]);
      assert.equal(h.spy.count('reserve'), 1);
      // A failed upgrade leaves a valid shared task.
      assert.equal(task.shared, true);
      assert.equal(task.node.id, node.id);
      await okValue(task.release());
      assert.equal(h.spy.count('release'), 0);
    });
  });

  it('test_excl_lock_exception_patient', async () => {
    // One attempt configured: only `patient` lets the lock be retried past NodeLocked.
    await withHarness({ attempts: 1 }, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      h.spy.inject('reserve', lockedByFoo, 3);
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', { patient: true }, (task) => {
          assert.equal(task.shared, false);
        }),
      );
      assertReserveCalls(h, [node.id, node.id, node.id, node.id]);
      assert.equal(h.spy.count('reserve'), 4);
    });
  });

  it('test_excl_lock_reserve_exception', async () => {
    await withHarness({ attempts: 3 }, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      h.spy.inject('reserve', lockedByFoo, Infinity);
      const error = await errOf(h.conductor.acquire(h.ctx, 'fake-node-id'), NodeLocked);
      // reraise=True: the last NodeLocked itself, not a wrapper.
      assert.equal(error.holder.host, 'foo');
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      assertReserveCalls(h, [node.id, node.id, node.id]);
      assert.equal(h.spy.count('reserve'), 3);
      for (const list of LISTS) assert.equal(h.spy.count(list), 0, list);
      assert.equal(h.drivers.calls.length, 0);
      assert.equal(h.spy.count('release'), 0);
    });
  });

  for (const [suffix, storeMethod, taskMethod] of LAZY) {
    it(`test_excl_lock_get_${suffix}_exception`, async () => {
      await withHarness({}, async (h) => {
        const node = await h.createNode({ name: 'fake-node-id' });
        const failure = new StoreError(storeMethod, 'foo');
        h.spy.inject(storeMethod, () => errAsync(failure), Infinity);
        let seen = null as Task | null;
        // Ironic: the property raises inside `with`; here the failed load is the scope's Err.
        const error = await errOf(
          h.conductor.withTask(h.ctx, 'fake-node-id', {}, async (task) => {
            seen = task;
            const loaded = await task[taskMethod]();
            // The failing load has already released the task.
            assert.equal(task.released, true);
            return loaded;
          }),
          StoreError,
        );
        assert.equal(error, failure);
        assert.ok(seen !== null);
        assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
        assertReserveCalls(h, [node.id]);
        assert.deepEqual(h.spy.callsTo(storeMethod), [[node.id]]);
        assert.equal(h.drivers.calls.length, 1);
        // Exactly once: the failing load released, the scope exit did not release again.
        assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
      });
    });
  }

  it('test_excl_lock_build_driver_exception', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      h.drivers.error = new DriverNotFound('foo');
      await errOf(h.conductor.acquire(h.ctx, 'fake-node-id'), DriverNotFound);
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      assertReserveCalls(h, [node.id]);
      for (const list of LISTS) assert.equal(h.spy.count(list), 0, list);
      assert.equal(h.drivers.calls.length, 1);
      // The lock taken before the driver failed is given back.
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_shared_lock', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      const lists = sentinels('1');
      answerLists(h, new Map([[node.id, lists]]));
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', { shared: true }, async (task) => {
          assert.equal(task.context, h.ctx);
          // task.node is what Node.get returned.
          assert.equal(task.node, await answeredNode(h, 'getNode'));
          await assertResources(task, lists);
          assert.equal(task.driver, h.drivers.results[0]);
          assert.equal(task.shared, true);
          assert.deepEqual(h.drivers.calls, [task.node]);
        }),
      );
      assert.equal(h.spy.count('reserve'), 0);
      assert.equal(h.spy.count('release'), 0);
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      for (const list of LISTS) assert.deepEqual(h.spy.callsTo(list), [[node.id]], list);
    });
  });

  it('test_shared_lock_node_get_exception', async () => {
    await withHarness({}, async (h) => {
      h.spy.inject('getNode', () => errAsync(new NodeNotFound('foo')), Infinity);
      await errOf(h.conductor.acquire(h.ctx, 'fake-node-id', { shared: true }), NodeNotFound);
      assert.equal(h.spy.count('reserve'), 0);
      assert.equal(h.spy.count('release'), 0);
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      for (const list of LISTS) assert.equal(h.spy.count(list), 0, list);
      assert.equal(h.drivers.calls.length, 0);
    });
  });

  for (const [suffix, storeMethod, taskMethod] of LAZY) {
    it(`test_shared_lock_get_${suffix}_exception`, async () => {
      await withHarness({}, async (h) => {
        const node = await h.createNode({ name: 'fake-node-id' });
        const failure = new StoreError(storeMethod, 'foo');
        h.spy.inject(storeMethod, () => errAsync(failure), Infinity);
        // Thrown (the orThrow style) rather than returned: a ConductorError is the scope's Err either way.
        const error = await errOf(
          h.conductor.withTask(h.ctx, 'fake-node-id', { shared: true }, async (task) => {
            const loaded = await task[taskMethod]();
            assert.equal(task.released, true);
            if (loaded.isErr()) throw loaded.error;
          }),
          StoreError,
        );
        assert.equal(error, failure);
        assert.equal(h.spy.count('reserve'), 0);
        assert.equal(h.spy.count('release'), 0);
        assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
        assert.deepEqual(h.spy.callsTo(storeMethod), [[node.id]]);
        assert.equal(h.drivers.calls.length, 1);
      });
    });
  }

  it('test_shared_lock_build_driver_exception', async () => {
    await withHarness({}, async (h) => {
      await h.createNode({ name: 'fake-node-id' });
      h.drivers.error = new DriverNotFound('foo');
      await errOf(h.conductor.acquire(h.ctx, 'fake-node-id', { shared: true }), DriverNotFound);
      assert.equal(h.spy.count('reserve'), 0);
      assert.equal(h.spy.count('release'), 0);
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      for (const list of LISTS) assert.equal(h.spy.count(list), 0, list);
      assert.equal(h.drivers.calls.length, 1);
    });
  });

  it('test_upgrade_lock', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'fake-node-id' });
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', { shared: true, purpose: 'ham' }, async (task) => {
          for (const list of LISTS) assert.equal(h.spy.count(list), 0);
          await okValue(task.ports());
          await okValue(task.portgroups());
          await okValue(task.volumeConnectors());
          await okValue(task.volumeTargets());
          assert.equal(h.spy.count('reserve'), 0);
          const driver = task.driver;
          assert.notEqual(driver, null);

          const upgraded = await okValue(task.upgradeLock());
          assert.ok((upgraded as Task) === task, 'upgradeLock resolves with the same task');
          assert.equal(task.shared, false);
          assert.equal(task.purpose, 'ham');
          assert.equal(h.spy.count('reserve'), 1);
          // The driver is not reloaded by an upgrade.
          assert.equal(task.driver, driver);
          const buildsAfterFirstUpgrade = h.drivers.calls.length;

          // Already exclusive: only the purpose changes; no second reserve and no release. Ironic
          // makes no DB call at all; we also store the holder's purpose beside the reservation, so
          // the one write we make is re-labelling it (transferReservation), never a reserve.
          const reservesBefore = h.spy.count('reserve');
          const releasesBefore = h.spy.count('release');
          await okValue(upgraded.upgradeLock({ purpose: 'spam' }));
          assert.equal(task.shared, false);
          assert.equal(task.purpose, 'spam');
          assert.equal(h.spy.count('reserve'), reservesBefore);
          assert.equal(h.spy.count('release'), releasesBefore);
          assert.equal(task.node.reservation_purpose, 'spam');
          assert.equal(task.driver, driver);
          assert.ok(h.drivers.calls.length <= buildsAfterFirstUpgrade + 1);
        }),
      );
      // Ironic: build_driver_for_task called once. Ours builds once at acquire; the upgrade only
      // re-derives the unsaved interface defaults for the freshly reserved snapshot
      // (TaskManager.#adopt calls the buildDriver seam again) and keeps the driver object.
      assert.equal(h.drivers.calls[0]?.id, node.id);
      assert.equal(h.drivers.calls[0]?.reservation, null, 'the driver is built once, at acquire (shared)');
      assert.ok(h.drivers.calls.length <= 3, `buildDriver called ${h.drivers.calls.length} times`);
      for (const extra of h.drivers.calls.slice(1)) {
        assert.equal(extra.reservation, TEST_HOST, 'a later call may only re-derive defaults for the reserved snapshot');
      }
      assertReserveCalls(h, [node.id], 'ham');
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
      assert.deepEqual(h.spy.callsTo('getNode'), [['fake-node-id']]);
      for (const list of LISTS) assert.deepEqual(h.spy.callsTo(list), [[node.id]], list);
    });
  });

  it('test_upgrade_lock_refreshes_fsm', async () => {
    await withHarness({}, async (h) => {
      await h.createNode({ name: 'fake-node-id', provision_state: 'available' });
      await okValue(
        h.conductor.withTask(h.ctx, 'fake-node-id', { shared: true }, async (task1) => {
          assert.equal(task1.node.provision_state, 'available');
          await okValue(
            h.conductor.withTask(h.ctx, 'fake-node-id', {}, async (task2) => {
              await okValue(task2.processEvent('manage'));
              assert.equal(task2.node.provision_state, 'manageable');
            }),
          );
          // Deviation: Ironic's get and reserve mocks return one shared mutable node object, so
          // task1 sees `manageable` here already; our snapshots are immutable and task1 sees the
          // change when upgradeLock reads the reserved row. Either way the FSM must follow it.
          const task = await okValue(task1.upgradeLock());
          assert.equal(task.node.provision_state, 'manageable');
          // From `available`, `provide` would be InvalidState: the FSM was re-initialised.
          const moved = await okValue(task.processEvent('provide'));
          assert.equal(moved.provision_state, 'cleaning');
          assert.equal(task.node.provision_state, 'cleaning');
        }),
      );
    });
  });

  it('test_spawn_after', async () => {
    const spawner = new FakeSpawner();
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      let impl = null as Impl | null;
      let spies = null as {
        threadRelease: SpyFn<Impl['threadReleaseResources']>;
        release: SpyFn<Impl['release']>;
        notify: SpyFn<Impl['notifyProvisionStateChange']>;
      } | null;
      await okValue(
        h.conductor.withTask(h.ctx, 'node-id', {}, (task) => {
          task.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
          impl = taskInternals(task);
          spies = {
            threadRelease: spyOnMethod(impl, 'threadReleaseResources'),
            release: spyOnMethod(impl, 'release'),
            notify: spyOnMethod(impl, 'notifyProvisionStateChange'),
          };
        }),
      );
      assert.ok(impl !== null && spies !== null);
      const task: Impl = impl;
      const { threadRelease, release, notify } = spies;

      // The spawn method got the scheduled work once, with its arguments.
      assert.equal(spawner.requests.length, 1);
      const request = spawner.requests[0]!;
      assert.equal(request.name, 'spawn');
      assert.equal(request.nodeUuid, node.uuid);
      assert.equal(spawn.callCount, 0, 'the work runs in the worker, not in the scope exit');
      await request.run(new AbortController().signal);
      assert.deepEqual(
        spawn.calls.map((call) => call.args),
        [[task, 1, 2, { foo: 'bar', cat: 'meow' }]],
      );

      // add_done_callback(task._thread_release_resources), once.
      assert.equal(spawner.future.doneCallbacks.length, 1);
      const outcome: WorkerOutcome = { kind: 'ok' };
      await spawner.future.doneCallbacks[0]!(outcome);
      assert.equal(threadRelease.callCount, 1);
      assert.equal(threadRelease.calls[0]!.thisArg, task);
      assert.deepEqual(threadRelease.calls[0]!.args, [outcome]);

      assert.equal(spawner.future.cancelCalls, 0);
      // The scope exit does not release: the worker's done-callback will.
      assert.equal(release.callCount, 0);
      assert.equal(h.spy.count('release'), 0);
      assert.equal(task.released, false);
      assert.equal(notify.callCount, 1);
      assert.equal(notify.calls[0]!.thisArg, task);

      // Clean up as the real done-callback would.
      delete (task as unknown as Record<string, unknown>).release;
      await okValue(task.release());
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_spawn_after_exception_while_yielded', async () => {
    const spawner = new FakeSpawner();
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      const boom = new Error('foo');
      let release = null as SpyFn<Impl['release']> | null;
      await assert.rejects(
        async () => {
          // A throw that is not a ConductorError is a bug: released, then rethrown (the Result never settles).
          void (await h.conductor.withTask(h.ctx, 'node-id', {}, (task) => {
            task.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
            release = spyOnMethod(taskInternals(task), 'release', { callThrough: true });
            throw boom;
          }));
        },
        (error: unknown) => error === boom,
      );
      assert.equal(spawner.requests.length, 0, 'spawn must never be called');
      assert.equal(spawn.callCount, 0);
      const spy = release as NonNullable<typeof release>;
      assert.equal(spy.callCount, 1);
      assert.deepEqual(spy.calls[0]!.args, []);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_spawn_after_spawn_fails', async () => {
    const spawner = new FakeSpawner();
    const failure = new NoFreeConductorWorker();
    spawner.spawnError = failure;
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      let task = null as Task | null;
      let release = null as SpyFn<Impl['release']> | null;
      let notify = null as SpyFn<Impl['notifyProvisionStateChange']> | null;
      // A ConductorError from the spawner comes back as the scope's Err (Ironic re-raises it).
      const error = await errOf(
        h.conductor.withTask(h.ctx, 'node-id', {}, (t) => {
          task = t;
          t.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
          release = spyOnMethod(taskInternals(t), 'release', { callThrough: true });
          notify = spyOnMethod(taskInternals(t), 'notifyProvisionStateChange', { callThrough: true });
        }),
        NoFreeConductorWorker,
      );
      assert.equal(error, failure);
      assert.equal(spawner.requests.length, 1);
      const request = spawner.requests[0]!;
      assert.equal(request.name, 'spawn');
      // The request handed to the spawn method carries the work with its arguments.
      await request.run(new AbortController().signal);
      assert.deepEqual(
        spawn.calls.map((call) => call.args),
        [[task, 1, 2, { foo: 'bar', cat: 'meow' }]],
      );
      assert.equal((release as NonNullable<typeof release>).callCount, 1);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
      assert.equal((notify as NonNullable<typeof notify>).callCount, 0, 'no notification when the spawn fails');
      assert.equal(h.notifications.length, 0);
    });
  });

  it('test_spawn_after_link_fails', async () => {
    const spawner = new FakeSpawner();
    const failure = new Error('foo');
    spawner.future.onDoneError = failure;
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      const order: string[] = [];
      spyOnMethod(spawner.future, 'cancel', { replacement: () => void (order.push('cancel'), spawner.future.cancelCalls++) });
      let threadRelease = null as SpyFn<Impl['threadReleaseResources']> | null;
      let release = null as SpyFn<Impl['release']> | null;
      await assert.rejects(
        async () => {
          // A throw that is not a ConductorError is a bug: released, then rethrown (the Result never settles).
          void (await h.conductor.withTask(h.ctx, 'node-id', {}, (task) => {
            task.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
            const impl = taskInternals(task);
            threadRelease = spyOnMethod(impl, 'threadReleaseResources');
            const realRelease = impl.release.bind(impl);
            release = spyOnMethod(impl, 'release', { replacement: () => (order.push('release'), realRelease()) });
          }));
        },
        (error: unknown) => error === failure,
      );
      assert.equal(spawner.requests.length, 1);
      assert.equal(spawner.requests[0]!.name, 'spawn');
      // add_done_callback was called once, with the task's (replaced) thread-release method.
      assert.equal(spawner.future.doneCallbacks.length, 1);
      const spy = threadRelease as NonNullable<typeof threadRelease>;
      assert.equal(spy.callCount, 0);
      await spawner.future.doneCallbacks[0]!({ kind: 'cancelled' });
      assert.equal(spy.callCount, 1);
      // The future is cancelled once, then the task is released once.
      assert.equal(spawner.future.cancelCalls, 1);
      assert.equal((release as NonNullable<typeof release>).callCount, 1);
      assert.deepEqual(order, ['cancel', 'release']);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
      assert.equal(h.notifications.length, 0);
    });
  });

  it('test_spawn_after_on_error_hook', async () => {
    const spawner = new FakeSpawner();
    const expected = new NoFreeConductorWorker();
    spawner.spawnError = expected;
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const order: string[] = [];
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      const onErrorHandler = spyFn((_e: unknown, _arg: string) => void order.push('hook'), 'onErrorHandler');
      let release = null as SpyFn<Impl['release']> | null;
      const error = await errOf(
        h.conductor.withTask(h.ctx, 'node-id', {}, (task) => {
          assert.ok(task.setSpawnErrorHook(onErrorHandler, 'fake-argument').isOk());
          task.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
          const impl = taskInternals(task);
          const realRelease = impl.release.bind(impl);
          release = spyOnMethod(impl, 'release', { replacement: () => (order.push('release'), realRelease()) });
        }),
        NoFreeConductorWorker,
      );
      assert.equal(error, expected);
      assert.equal(spawner.requests.length, 1);
      assert.equal(spawner.requests[0]!.name, 'spawn');
      assert.equal((release as NonNullable<typeof release>).callCount, 1);
      assert.deepEqual(
        onErrorHandler.calls.map((call) => call.args),
        [[expected, 'fake-argument']],
      );
      assert.deepEqual(order, ['hook', 'release']);
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_spawn_after_on_error_hook_exception', async () => {
    const spawner = new FakeSpawner();
    const expected = new NoFreeConductorWorker();
    spawner.spawnError = expected;
    await withHarness({ spawner: spawner.spawn }, async (h) => {
      const node = await h.createNode({ name: 'node-id' });
      const spawn = spyFn(async function spawn(_task: ExclusiveTask, ..._args: unknown[]) {});
      // Raise an exception within the on_error handler.
      const onErrorHandler = spyFn((_e: unknown, _arg: string): void => {
        throw new Error('unexpected');
      }, 'foo_method');
      let release = null as SpyFn<Impl['release']> | null;
      // Make sure the original error is the one reported.
      const error = await errOf(
        h.conductor.withTask(h.ctx, 'node-id', {}, (task) => {
          assert.ok(task.setSpawnErrorHook(onErrorHandler, 'fake-argument').isOk());
          task.spawnAfter(spawn, 1, 2, { foo: 'bar', cat: 'meow' });
          release = spyOnMethod(taskInternals(task), 'release', { callThrough: true });
        }),
        NoFreeConductorWorker,
      );
      assert.equal(error, expected);
      assert.equal(spawner.requests.length, 1);
      assert.equal((release as NonNullable<typeof release>).callCount, 1);
      assert.deepEqual(
        onErrorHandler.calls.map((call) => call.args),
        [[expected, 'fake-argument']],
      );
      assert.deepEqual(h.spy.releases(), [[TEST_HOST, node.id]]);
    });
  });

  it('test_init_prepares_fsm', async () => {
    const machine = new FakeFsm();
    await withHarness({ newFsm: () => machine.asFsm() }, async (h) => {
      // A node with a target, so that both initialize arguments are checked.
      const node = await h.createNode({ name: 'fake', provision_state: 'deploying', target_provision_state: 'active' });
      const task = await okValue(h.conductor.acquire(h.ctx, 'fake'));
      assert.equal(h.newFsm.callCount, 1);
      assert.deepEqual(h.newFsm.calls[0]!.args, []);
      assert.equal(taskInternals(task).fsm, machine.asFsm());
      assert.deepEqual(machine.initializeCalls, [[node.provision_state, node.target_provision_state]]);
      await okValue(task.release());
      assert.throws(() => task.node, TaskReleased);
    });
  });
});
