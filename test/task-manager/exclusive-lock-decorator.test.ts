/**
 * Port of Ironic's `ExclusiveLockDecoratorTestCase` (4 tests; reference §7.3):
 * `require_exclusive_lock` ↔ `requireExclusive(fn)`. Ironic uses `Mock(spec=TaskManager)` with
 * `shared` set by hand; here the tasks are real (acquired exclusive or shared from a conductor,
 * branded as tasks so the decorator can tell `(task, ...)` from `(self, task, ...)`). Python
 * keyword arguments (cat='meow', dog='wuff') become a trailing options object.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExclusiveLockRequired } from '../../src/errors.js';
import { requireExclusive } from '../../src/task/require-exclusive.js';
import type { Task } from '../../src/task/types.js';
import { spyFn } from '../helpers/spies.js';
import { okValue, withHarness, type TaskHarness } from '../helpers/task-harness.js';

const KWARGS = Object.freeze({ cat: 'meow', dog: 'wuff' });

/** The decorated function of Ironic's test: returns what it was called with. */
function decorated() {
  const inner = spyFn(function reqExclLockMethod(...args: unknown[]): unknown[] {
    return args;
  });
  return { inner, wrapped: requireExclusive(inner) };
}

/** Run `body` with a real task of the given kind, released afterwards. */
async function withRealTask(shared: boolean, body: (task: Task, h: TaskHarness) => void | Promise<void>): Promise<void> {
  await withHarness({}, async (h) => {
    const node = await h.createNode({ name: 'node', provision_state: 'available' });
    const task: Task = await okValue(h.conductor.acquire(h.ctx, node.id, { shared }));
    try {
      assert.equal(task.shared, shared);
      await body(task, h);
    } finally {
      await okValue(task.release());
    }
  });
}

describe('ExclusiveLockDecoratorTestCase', () => {
  it('test_with_excl_lock_task_first_arg', async () => {
    await withRealTask(false, (task) => {
      const { inner, wrapped } = decorated();
      const args = [task, 1, 2, { ...KWARGS }];
      const returned = wrapped(...args);
      assert.equal(inner.callCount, 1);
      assert.equal(returned[0], task);
      assert.deepEqual(returned, args);
      assert.deepEqual(returned[3], KWARGS);
    });
  });

  it('test_with_excl_lock_task_second_arg', async () => {
    await withRealTask(false, (task) => {
      const { inner, wrapped } = decorated();
      const args = [1, task, 2, { ...KWARGS }];
      const returned = wrapped(...args);
      assert.equal(inner.callCount, 1);
      assert.equal(returned[1], task);
      assert.deepEqual(returned, args);
      assert.deepEqual(returned[3], KWARGS);
    });
  });

  it('test_with_shared_lock_task_first_arg', async () => {
    await withRealTask(true, (task) => {
      const { inner, wrapped } = decorated();
      assert.throws(() => wrapped(task, 1, 2, { ...KWARGS }), ExclusiveLockRequired);
      assert.equal(inner.callCount, 0, 'the wrapped function must not run');
    });
  });

  it('test_with_shared_lock_task_second_arg', async () => {
    await withRealTask(true, (task) => {
      const { inner, wrapped } = decorated();
      assert.throws(() => wrapped(1, task, 2, { ...KWARGS }), ExclusiveLockRequired);
      assert.equal(inner.callCount, 0, 'the wrapped function must not run');
    });
  });
});
