/**
 * Port of Ironic's `ProvisionNotifyTestCase` (8 tests; reference §7.5) for
 * `_notify_provision_state_change` ↔ `taskInternals(task).notifyProvisionStateChange()`, observed
 * through `conductor.subscribe` (Ironic patches `emit_provision_set_notification`).
 *
 * Deviation: Ironic sets `_event`, `_prev_provision_state` and `node.provision_state` by hand on a
 * `Mock(spec=TaskManager)`, with placeholder values ('fake', 'oldtarget', 'event'). Our task's
 * notification state is private, so each test reaches the same situation through a real
 * `processEvent` on the real machine, with real states and events; Ironic's emit arguments
 * (task, level, status, prev_state, prev_target, event) are checked on the delivered notification
 * (its level, status, event type and payload).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewNode } from '../../src/node.js';
import type { ProvisionSetNotification } from '../../src/notifications/notification.js';
import { TaskReleased } from '../../src/errors.js';
import * as st from '../../src/states/provision-states.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { okValue, withHarness, type TaskHarness } from '../helpers/task-harness.js';

/** Run `body` with an exclusive task on a node in `state`/`target`; released afterwards. */
async function withNodeIn(fields: Partial<NewNode>, body: (task: ExclusiveTask, h: TaskHarness) => Promise<void>): Promise<void> {
  await withHarness({}, async (h) => {
    const node = await h.createNode({ name: 'node', ...fields });
    const task = await okValue(h.conductor.acquire(h.ctx, node.id));
    try {
      await body(task, h);
    } finally {
      await okValue(task.release());
    }
  });
}

/** Assert exactly one notification was delivered and check Ironic's emit arguments on it. */
function assertNotified(
  h: TaskHarness,
  expected: { level: string; status: string; prevState: string | null; prevTarget: string | null; event: string },
): ProvisionSetNotification {
  assert.equal(h.notifications.length, 1, JSON.stringify(h.notifications.map((n) => n.eventType)));
  const n = h.notifications[0]!;
  assert.equal(n.level, expected.level);
  assert.equal(n.status, expected.status);
  assert.equal(n.eventType, `baremetal.node.provision_set.${expected.status}`);
  assert.equal(n.payload.previous_provision_state, expected.prevState);
  assert.equal(n.payload.previous_target_provision_state, expected.prevTarget);
  assert.equal(n.payload.event, expected.event);
  return n;
}

/** After a notification, calling the notifier again emits nothing (Ironic: `_event` is None). */
function assertEventCleared(task: ExclusiveTask, h: TaskHarness): void {
  const before = h.notifications.length;
  taskInternals(task).notifyProvisionStateChange();
  assert.equal(h.notifications.length, before, 'the event was reset after notifying');
}

describe('ProvisionNotifyTestCase', () => {
  it('test_notify_no_state_change', async () => {
    await withNodeIn({ provision_state: st.AVAILABLE }, async (task, h) => {
      // No event processed (Ironic: _event = None).
      taskInternals(task).notifyProvisionStateChange();
      assert.equal(h.notifications.length, 0);
    });
  });

  it('test_notify_error_state', async () => {
    await withNodeIn({ provision_state: st.DEPLOYING, target_provision_state: st.ACTIVE }, async (task, h) => {
      await okValue(task.processEvent('fail'));
      const n = assertNotified(h, { level: 'error', status: 'error', prevState: st.DEPLOYING, prevTarget: st.ACTIVE, event: 'fail' });
      assert.equal(n.payload.provision_state, st.DEPLOYFAIL);
      assertEventCleared(task, h);
    });
  });

  it('test_notify_unstable_to_unstable', async () => {
    await withNodeIn({ provision_state: st.DEPLOYWAIT, target_provision_state: st.ACTIVE }, async (task, h) => {
      await okValue(task.processEvent('resume'));
      const n = assertNotified(h, { level: 'info', status: 'success', prevState: st.DEPLOYWAIT, prevTarget: st.ACTIVE, event: 'resume' });
      assert.equal(n.payload.provision_state, st.DEPLOYING);
    });
  });

  it('test_notify_stable_to_unstable', async () => {
    await withNodeIn({ provision_state: st.AVAILABLE }, async (task, h) => {
      await okValue(task.processEvent('deploy'));
      const n = assertNotified(h, { level: 'info', status: 'start', prevState: st.AVAILABLE, prevTarget: st.NOSTATE, event: 'deploy' });
      assert.equal(n.payload.provision_state, st.DEPLOYING);
    });
  });

  it('test_notify_unstable_to_stable', async () => {
    await withNodeIn({ provision_state: st.DEPLOYING, target_provision_state: st.ACTIVE }, async (task, h) => {
      await okValue(task.processEvent('done'));
      const n = assertNotified(h, { level: 'info', status: 'end', prevState: st.DEPLOYING, prevTarget: st.ACTIVE, event: 'done' });
      assert.equal(n.payload.provision_state, st.ACTIVE);
    });
  });

  it('test_notify_stable_to_stable', async () => {
    await withNodeIn({ provision_state: st.AVAILABLE }, async (task, h) => {
      await okValue(task.processEvent('manage'));
      const n = assertNotified(h, { level: 'info', status: 'success', prevState: st.AVAILABLE, prevTarget: st.NOSTATE, event: 'manage' });
      assert.equal(n.payload.provision_state, st.MANAGEABLE);
    });
  });

  it('test_notify_resource_released', async () => {
    await withNodeIn({ provision_state: st.AVAILABLE }, async (task, h) => {
      // With a callback the notification is deferred and the node saved for it (_saved_node).
      await okValue(task.processEvent('deploy', { callback: () => undefined }));
      assert.equal(h.notifications.length, 0);
      await okValue(task.release());
      assert.throws(() => task.node, TaskReleased);

      taskInternals(task).notifyProvisionStateChange();

      // Emitted from the saved node (Ironic: a copy of the task whose node is _saved_node).
      const n = assertNotified(h, { level: 'info', status: 'start', prevState: st.AVAILABLE, prevTarget: st.NOSTATE, event: 'deploy' });
      assert.equal(n.payload.provision_state, st.DEPLOYING);
      assert.equal(n.payload.target_provision_state, st.ACTIVE);
      assert.equal(task.released, true, 'the released task stays released');
      assertEventCleared(task, h);
    });
  });

  it('test_notify_only_once', async () => {
    await withNodeIn({ provision_state: st.AVAILABLE }, async (task, h) => {
      await okValue(task.processEvent('deploy', { callback: () => undefined }));
      assert.equal(h.notifications.length, 0);
      taskInternals(task).notifyProvisionStateChange();
      assert.equal(h.notifications.length, 1);
      taskInternals(task).notifyProvisionStateChange();
      assert.equal(h.notifications.length, 1);
      assertNotified(h, { level: 'info', status: 'start', prevState: st.AVAILABLE, prevTarget: st.NOSTATE, event: 'deploy' });
    });
  });
});
