/**
 * Port of Ironic's `TaskManagerStateModelTestCases` (8 tests; reference §7.2). Ironic calls the
 * real unbound methods on `Mock(spec=TaskManager)` with a `Mock(spec=FSM)`; here every test uses a
 * real task on a real (in-memory) store, with the state machine either the real one behind a
 * recording proxy or a scripted FakeFsm from the `newFsm` seam. `node.save()` ↔ the store's
 * `updateNode` (processEvent writes through the node actor, which calls it once per save).
 */
import type { ProvisionEvent, ProvisionState } from '../../src/states/provision-states.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidState, NoFreeConductorWorker, TaskReleased } from '../../src/errors.js';
import type { FSM } from '../../src/fsm/fsm.js';
import { STABLE_STATES } from '../../src/states/groups.js';
import { NOSTATE } from '../../src/states/provision-states.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { FakeFsm, recordingFsm, type FsmCall } from '../helpers/fake-fsm.js';
import { FakeSpawner } from '../helpers/fake-worker.js';
import { spyFn, spyOnMethod } from '../helpers/spies.js';
import { errOf, okValue, withHarness } from '../helpers/task-harness.js';

/** A `newFsm` seam handing out real machines behind recording proxies; `last()` is the latest. */
function recordingMachines(): { newFsm: () => FSM<ProvisionState, ProvisionEvent>; last(): FsmCall[] } {
  const all: FsmCall[][] = [];
  return {
    newFsm: () => {
      const { fsm, calls } = recordingFsm();
      all.push(calls);
      return fsm;
    },
    last: () => all.at(-1) ?? assert.fail('no state machine was made'),
  };
}

/** Only the processEvent calls of a recorded machine. */
function processEventCalls(calls: FsmCall[]): (readonly unknown[])[] {
  return calls.filter((call) => call.method === 'processEvent').map((call) => call.args);
}

/** The callback, argument and keyword-argument object Ironic's tests use (cb, arg, {mock: kwarg}). */
function callbackFixture() {
  const cb = spyFn(function cb(_task: ExclusiveTask, _arg: unknown, _kwargs: { mock: unknown }): void {});
  const arg = { sentinel: 'arg' };
  const kwarg = { sentinel: 'kwarg' };
  return { cb, arg, kwarg };
}

describe('TaskManagerStateModelTestCases', () => {
  it('test_release_clears_resources', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'node', provision_state: 'available' });
      await okValue(h.inner.createPort(node.id, { address: '52:54:00:00:00:01' }));
      const task = await okValue(h.conductor.acquire(h.ctx, node.id, { shared: true, purpose: 'purpose' }));
      assert.equal((await okValue(task.ports())).length, 1);
      await okValue(task.portgroups());
      await okValue(task.volumeConnectors());
      await okValue(task.volumeTargets());
      assert.notEqual(task.driver, null);
      assert.notEqual(taskInternals(task).fsm, null);
      const listCalls = h.spy.count('listPorts');

      await okValue(task.release());

      assert.equal(task.released, true);
      assert.throws(() => task.node, TaskReleased);
      assert.equal(task.driver, null);
      assert.equal(taskInternals(task).fsm, null);
      // The cached resources are gone too: reading them now fails instead of serving the cache.
      assert.throws(() => task.ports(), TaskReleased);
      assert.throws(() => task.portgroups(), TaskReleased);
      assert.throws(() => task.volumeConnectors(), TaskReleased);
      assert.throws(() => task.volumeTargets(), TaskReleased);
      assert.equal(h.spy.count('listPorts'), listCalls);
      // A shared task never touches the reservation.
      assert.equal(h.spy.count('release'), 0);
    });
  });

  it('test_process_event_fsm_raises', async () => {
    const spawner = new FakeSpawner();
    const machine = new FakeFsm({ processEventError: new InvalidState('test') });
    await withHarness({ spawner: spawner.spawn, newFsm: () => machine.asFsm() }, async (h) => {
      const node = await h.createNode({ name: 'node', provision_state: 'available' });
      const { cb } = callbackFixture();
      let spawnAfterCalls = -1;
      await okValue(
        h.conductor.withTask(h.ctx, node.id, {}, async (task) => {
          const spawnAfter = spyOnMethod(taskInternals(task), 'spawnAfter', { callThrough: true });
          // Ironic passes no callback; one is passed here so that "spawn_after not called" can fail.
          await errOf(task.processEvent('fake' as ProvisionEvent, { callback: cb }), InvalidState);
          spawnAfterCalls = spawnAfter.callCount;
          assert.equal(task.node.provision_state, 'available');
        }),
      );
      assert.deepEqual(machine.processEventCalls, [['fake', undefined]]);
      assert.equal(spawnAfterCalls, 0);
      assert.equal(h.spy.count('updateNode'), 0, 'node.save must not be called');
      assert.equal(spawner.requests.length, 0, 'nothing is spawned at the scope exit either');
      assert.equal(h.notifications.length, 0);
    });
  });

  it('test_process_event_sets_callback', async () => {
    const machines = recordingMachines();
    await withHarness({ newFsm: machines.newFsm }, async (h) => {
      const node = await h.createNode({ name: 'node', provision_state: 'available', last_error: 'old failure' });
      const { cb, arg, kwarg } = callbackFixture();
      const task = await okValue(h.conductor.acquire(h.ctx, node.id));
      const spawnAfter = spyOnMethod(taskInternals(task), 'spawnAfter', { callThrough: true });

      await okValue(task.processEvent('deploy', { callback: cb, callArgs: [arg, { mock: kwarg }] }));

      assert.deepEqual(processEventCalls(machines.last()), [['deploy', undefined]]);
      assert.equal(spawnAfter.callCount, 1);
      assert.deepEqual(spawnAfter.calls[0]!.args, [cb, arg, { mock: kwarg }]);
      assert.equal(h.spy.count('updateNode'), 1);
      // last_error is cleared because a callback was given.
      assert.equal(task.node.last_error, null);
      assert.equal((await okValue(h.inner.getNode(node.id))).last_error, null);
      assert.equal(cb.callCount, 0, 'the callback only runs when the scope is left');
      await okValue(task.release());
    });
  });

  it('test_process_event_sets_callback_and_error_handler', async () => {
    const machines = recordingMachines();
    const spawner = new FakeSpawner();
    const noWorker = new NoFreeConductorWorker();
    spawner.spawnError = noWorker;
    await withHarness({ newFsm: machines.newFsm, spawner: spawner.spawn }, async (h) => {
      const provisionState = 'manageable';
      const targetProvisionState = NOSTATE;
      const node = await h.createNode({ name: 'node', provision_state: provisionState, target_provision_state: targetProvisionState });
      const { cb, arg, kwarg } = callbackFixture();
      const er = spyFn(function er(_e: unknown, _task: ExclusiveTask, _state: string, _target: string | null): void {});
      let taskSeen: ExclusiveTask | null = null;
      const scope = await h.conductor.withTask(h.ctx, node.id, {}, async (task) => {
        taskSeen = task;
        const impl = taskInternals(task);
        const setHook = spyOnMethod(impl, 'setSpawnErrorHook', { callThrough: true });
        const spawnAfter = spyOnMethod(impl, 'spawnAfter', { callThrough: true });

        await okValue(task.processEvent('provide', { callback: cb, callArgs: [arg, { mock: kwarg }], errHandler: er }));

        // The hook captures the pre-transition states.
        assert.equal(setHook.callCount, 1);
        assert.deepEqual(setHook.calls[0]!.args, [er, task, provisionState, targetProvisionState]);
        assert.deepEqual(processEventCalls(machines.last()), [['provide', undefined]]);
        assert.equal(spawnAfter.callCount, 1);
        assert.deepEqual(spawnAfter.calls[0]!.args, [cb, arg, { mock: kwarg }]);
        assert.equal(h.spy.count('updateNode'), 1);
        assert.equal(task.node.last_error, null);
        assert.notEqual(task.node.provision_state, provisionState);
        assert.notEqual(task.node.target_provision_state, targetProvisionState);
        assert.equal(task.node.provision_state, 'cleaning');
        assert.equal(task.node.target_provision_state, 'available');
      });
      // When the spawn then fails, the handler receives those pre-transition states.
      assert.equal(scope.isErr() && scope.error, noWorker);
      assert.deepEqual(
        er.calls.map((call) => call.args),
        [[noWorker, taskSeen, provisionState, targetProvisionState]],
      );
    });
  });

  it('test_process_event_sets_target_state', async () => {
    const machines = recordingMachines();
    await withHarness({ newFsm: machines.newFsm }, async (h) => {
      const provisionState = 'manageable';
      const targetProvisionState = NOSTATE;
      const node = await h.createNode({ name: 'node', provision_state: provisionState, target_provision_state: targetProvisionState });
      const task = await okValue(h.conductor.acquire(h.ctx, node.id));

      await okValue(task.processEvent('provide', { targetState: 'manageable' }));

      assert.deepEqual(processEventCalls(machines.last()), [['provide', 'manageable']]);
      assert.equal(h.spy.count('updateNode'), 1);
      assert.notEqual(task.node.provision_state, provisionState);
      assert.notEqual(task.node.target_provision_state, targetProvisionState);
      assert.equal(task.node.target_provision_state, 'manageable');
      await okValue(task.release());
    });
  });

  it('test_process_event_callback_stable_state', async () => {
    // Ironic's FSM mock reports every state stable and has a (Mock) target; the FakeFsm does too.
    await withHarness({ newFsm: () => new FakeFsm({ stable: true, nextTarget: 'active' }).asFsm() }, async (h) => {
      const callback = spyFn(function callback(_task: ExclusiveTask): void {});
      for (const state of STABLE_STATES) {
        const node = await h.createNode({ name: `node-${state}`, provision_state: state, target_provision_state: NOSTATE });
        const task = await okValue(h.conductor.acquire(h.ctx, node.id));
        await okValue(task.processEvent('fake' as ProvisionEvent, { callback }));
        // The target state is set (the machine's) when a callback is passed.
        assert.notEqual(task.node.target_provision_state, NOSTATE, state);
        assert.equal(task.node.target_provision_state, 'active', state);
        assert.equal((await okValue(h.inner.getNode(node.id))).target_provision_state, 'active', state);
        await okValue(task.release());
      }
      assert.equal(callback.callCount, 0);
    });
  });

  it('test_process_event_no_callback_stable_state', async () => {
    const machines: FakeFsm[] = [];
    const newFsm = () => {
      const machine = new FakeFsm({ stable: true, nextTarget: 'active' });
      machines.push(machine);
      return machine.asFsm();
    };
    await withHarness({ newFsm }, async (h) => {
      for (const state of STABLE_STATES) {
        const node = await h.createNode({ name: `node-${state}`, provision_state: state, target_provision_state: 'active' });
        const task = await okValue(h.conductor.acquire(h.ctx, node.id));
        await okValue(task.processEvent('fake' as ProvisionEvent));
        // The target state was cleared when moving to a stable state.
        assert.equal(task.node.target_provision_state, NOSTATE, state);
        assert.equal((await okValue(h.inner.getNode(node.id))).target_provision_state, NOSTATE, state);
        assert.ok(machines.at(-1)!.isStableCalls.includes(state), `isStable(${state}) consulted`);
        await okValue(task.release());
      }
    });
  });

  it('test_process_event_no_callback_notify', async () => {
    await withHarness({}, async (h) => {
      const node = await h.createNode({ name: 'node', provision_state: 'available' });
      const task = await okValue(h.conductor.acquire(h.ctx, node.id));
      const notify = spyOnMethod(taskInternals(task), 'notifyProvisionStateChange', { callThrough: true });

      await okValue(task.processEvent('manage'));

      // Notified exactly once, immediately (before the task is released).
      assert.equal(notify.callCount, 1);
      assert.equal(notify.calls[0]!.thisArg, taskInternals(task));
      assert.equal(h.notifications.length, 1);
      assert.equal(task.released, false);
      await okValue(task.release());
      assert.equal(notify.callCount, 1);
      assert.equal(h.notifications.length, 1);
    });
  });
});
