/**
 * Port of Ironic's `ThreadExceptionTestCase` (4 tests; reference §7.4) for `_write_exception`
 * ↔ `taskInternals(task).writeException(outcome)`. Ironic runs the real method on a
 * `Mock(spec=TaskManager)` with `_spawn_args = (async_method_foo,)` and a future mock; here a real
 * exclusive task has `async_method_foo` scheduled with spawnAfter (never spawned: the task is
 * acquired without a scope and released by hand), and `node.save()` ↔ the store's `updateNode`.
 *
 * Deviation: our futures have no `exception()` method; the worker's outcome
 * (`{kind: 'ok' | 'error' | 'cancelled'}`) is handed to the done-callback instead. "exception()
 * called / not called" is ported as "the outcome was / was not inspected", observed through a
 * proxy that counts property reads on the outcome.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerOutcome } from '../../src/task/ports.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { captureLogger, okValue, withHarness, type HarnessOptions, type TaskHarness } from '../helpers/task-harness.js';

/** An outcome behind a proxy that counts how often it is read (≈ calls of `future.exception()`). */
function watched(outcome: WorkerOutcome): { outcome: WorkerOutcome; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(outcome, {
    get(target, prop, receiver): unknown {
      reads += 1;
      return Reflect.get(target, prop, receiver);
    },
  });
  return { outcome: proxy, reads: () => reads };
}

/** Run `body` with an exclusive task on a node with `lastError` and `async_method_foo` scheduled. */
async function withScheduledTask(
  lastError: string | null,
  body: (task: ExclusiveTask, h: TaskHarness) => Promise<void>,
  options: HarnessOptions = {},
): Promise<void> {
  await withHarness(options, async (h) => {
    const node = await h.createNode({
      name: 'node',
      provision_state: 'deploying',
      target_provision_state: 'active',
      last_error: lastError,
    });
    const task = await okValue(h.conductor.acquire(h.ctx, node.id));
    try {
      task.spawnAfter(function async_method_foo(): void {});
      await body(task, h);
    } finally {
      await okValue(task.release());
    }
  });
}

describe('ThreadExceptionTestCase', () => {
  it('test_set_node_last_error', async () => {
    await withScheduledTask(null, async (task, h) => {
      await taskInternals(task).writeException({ kind: 'error', error: new Error('fiasco') });
      assert.equal(h.spy.count('updateNode'), 1, 'node.save called once');
      const lastError = task.node.last_error;
      assert.ok(lastError !== null, 'last_error was set');
      assert.ok(lastError.includes('fiasco'), lastError);
      assert.ok(lastError.includes('async_method_foo'), lastError);
      assert.equal((await okValue(h.inner.getNode(task.node.id))).last_error, lastError);
    });
  });

  it('test_set_node_last_error_exists', async () => {
    await withScheduledTask('oops', async (task, h) => {
      const { outcome, reads } = watched({ kind: 'error', error: new Error('fiasco') });
      await taskInternals(task).writeException(outcome);
      assert.equal(h.spy.count('updateNode'), 0, 'node.save not called');
      assert.equal(reads(), 0, 'the outcome is not even looked at (Ironic: exception() not called)');
      assert.equal(task.node.last_error, 'oops');
      assert.equal((await okValue(h.inner.getNode(task.node.id))).last_error, 'oops');
    });
  });

  it('test_set_node_last_error_no_error', async () => {
    await withScheduledTask(null, async (task, h) => {
      const { outcome, reads } = watched({ kind: 'ok' });
      await taskInternals(task).writeException(outcome);
      assert.equal(h.spy.count('updateNode'), 0, 'node.save not called');
      assert.ok(reads() > 0, 'the outcome was inspected (Ironic: exception() called)');
      assert.equal(task.node.last_error, null);
    });
  });

  it('test_set_node_last_error_cancelled', async () => {
    const { logger, lines } = captureLogger();
    await withScheduledTask(
      null,
      async (task, h) => {
        const { outcome, reads } = watched({ kind: 'cancelled' });
        const before = lines.length;
        await taskInternals(task).writeException(outcome);
        assert.equal(h.spy.count('updateNode'), 0, 'node.save not called');
        assert.ok(reads() > 0, 'the outcome was inspected (Ironic: exception() called)');
        assert.equal(task.node.last_error, null);
        // Ironic: LOG.exception("Execution of <method> for node <uuid> was canceled.").
        const logged = lines.slice(before).filter((line) => (line.level as number) >= 50 && String(line.msg).includes('async_method_foo'));
        assert.equal(logged.length, 1, JSON.stringify(lines.slice(before)));
        assert.match(String(logged[0]!.msg), /cancel/);
        assert.ok(String(logged[0]!.msg).includes(task.node.uuid));
      },
      { logger },
    );
  });
});
