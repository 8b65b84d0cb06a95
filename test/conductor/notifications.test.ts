/**
 * provision_set notifications as Ironic's (ironic-task-manager.md §1.13, §6): event types, levels,
 * when they are emitted (at once without a callback; after a successful spawn with one; never when
 * the spawn fails), at most one per event, the payload (no reservation, secrets masked, event and
 * previous states), the level threshold, failing subscribers, and delivery to actors.
 */
import { actorSystemOf, subscribeActor } from '../../actors/actor-system.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidState, NoFreeConductorWorker } from '../../src/errors.js';
import type { ProvisionSetNotification } from '../../src/notifications/notification.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { FakeSpawner } from '../helpers/fake-worker.js';
import { captureLogger, okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, sleep, until, withConductor, type Fixture } from './fixture.js';

/** Collect the notifications the conductor delivers. */
function collect(f: Fixture): ProvisionSetNotification[] {
  const seen: ProvisionSetNotification[] = [];
  f.conductor.subscribe((notification) => {
    seen.push(notification);
  });
  return seen;
}

const types = (seen: readonly ProvisionSetNotification[]): string[] => seen.map((n) => n.eventType);

describe('provision_set notifications', () => {
  it('a synchronous transition emits one success notification at once, level info', async () => {
    await withConductor({}, async (f) => {
      const seen = collect(f);
      const node = await f.createNode();
      const task = await okValue(f.conductor.acquire(f.ctx, node.id, { purpose: 'manage' }));
      await okValue(task.processEvent('manage'));
      assert.equal(seen.length, 1, 'emitted inside processEvent, before the scope ends');
      const n = seen[0]!;
      assert.equal(n.eventType, 'baremetal.node.provision_set.success');
      assert.equal(n.status, 'success');
      assert.equal(n.level, 'info');
      assert.equal(n.publisherId, `metal-conductor.${HOST}`);
      assert.equal(n.requestId, f.ctx.requestId);
      assert.ok(!Number.isNaN(Date.parse(n.timestamp)));
      assert.equal(n.payload.uuid, node.uuid);
      assert.equal(n.payload.event, 'manage');
      assert.equal(n.payload.previous_provision_state, 'available');
      assert.equal(n.payload.previous_target_provision_state, null);
      assert.equal(n.payload.provision_state, 'manageable');
      assert.equal(n.payload.target_provision_state, null);
      await okValue(task.release());
      assert.equal(seen.length, 1, 'release emits nothing');
    });
  });

  it('the fail event emits an error notification, level error', async () => {
    await withConductor({}, async (f) => {
      const seen = collect(f);
      const node = await f.createNode({ provision_state: 'deploying', target_provision_state: 'active' });
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await okValue(task.processEvent('fail'));
        }),
      );
      assert.deepEqual(types(seen), ['baremetal.node.provision_set.error']);
      const n = seen[0]!;
      assert.equal(n.level, 'error');
      assert.equal(n.status, 'error');
      assert.equal(n.payload.event, 'fail');
      assert.equal(n.payload.previous_provision_state, 'deploying');
      assert.equal(n.payload.previous_target_provision_state, 'active');
      assert.equal(n.payload.provision_state, 'deploy failed');
    });
  });

  it('start and end around a spawned callback: start after the spawn, end when the worker finishes the transition', async () => {
    await withConductor({}, async (f) => {
      const seen = collect(f);
      const node = await f.createNode();
      let inBody = -1;
      await okValue(
        f.conductor.withTask(f.ctx, node.id, { purpose: 'deploy' }, async (task) => {
          await okValue(
            task.processEvent('deploy', {
              callback: async function deployWork(t: ExclusiveTask) {
                await sleep(5);
                await okValue(t.processEvent('done'));
              },
            }),
          );
          inBody = seen.length;
        }),
      );
      assert.equal(inBody, 0, 'no notification while the body runs (deferred to the spawn)');
      await f.conductor.onIdle();
      assert.deepEqual(types(seen), ['baremetal.node.provision_set.start', 'baremetal.node.provision_set.end']);
      const [start, end] = seen as [ProvisionSetNotification, ProvisionSetNotification];
      assert.equal(start.level, 'info');
      assert.equal(start.payload.event, 'deploy');
      assert.equal(start.payload.previous_provision_state, 'available');
      assert.equal(start.payload.previous_target_provision_state, null);
      assert.equal(start.payload.provision_state, 'deploying');
      assert.equal(start.payload.target_provision_state, 'active');
      assert.equal(end.level, 'info');
      assert.equal(end.payload.event, 'done');
      assert.equal(end.payload.previous_provision_state, 'deploying');
      assert.equal(end.payload.previous_target_provision_state, 'active');
      assert.equal(end.payload.provision_state, 'active');
      assert.equal(end.payload.target_provision_state, null);
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('start is emitted only after the spawn succeeded', async () => {
    const fake = new FakeSpawner();
    const seenAtSpawn: number[] = [];
    let seen: ProvisionSetNotification[] = [];
    await withConductor(
      {
        seams: {
          spawner: (request) => {
            seenAtSpawn.push(seen.length);
            return fake.spawn(request);
          },
        },
      },
      async (f) => {
        seen = collect(f);
        const node = await f.createNode();
        await okValue(
          f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
            await okValue(task.processEvent('deploy', { callback: function neverRuns() {} }));
          }),
        );
        assert.deepEqual(seenAtSpawn, [0], 'nothing was emitted before the spawn');
        assert.deepEqual(types(seen), ['baremetal.node.provision_set.start']);
        await fake.future.complete({ kind: 'ok' }); // the (fake) worker ends: the lease is released
        assert.equal((await f.stored(node.id)).reservation, null);
        assert.equal(seen.length, 1);
      },
    );
  });

  it('nothing is emitted when the spawn fails', async () => {
    const fake = new FakeSpawner();
    fake.spawnError = new NoFreeConductorWorker();
    await withConductor({ seams: { spawner: fake.spawn } }, async (f) => {
      const seen = collect(f);
      const node = await f.createNode();
      const handled: unknown[] = [];
      const result = f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
        await okValue(
          task.processEvent('deploy', {
            callback: function neverRuns() {},
            errHandler: (error) => void handled.push(error),
          }),
        );
      });
      await errorOf(result, NoFreeConductorWorker);
      assert.equal(handled.length, 1);
      await sleep(20);
      assert.deepEqual(seen, [], 'no start, no anything');
      assert.equal(fake.requests.length, 1);
    });
  });

  it('at most one notification per event; an invalid event emits none', async () => {
    await withConductor({}, async (f) => {
      const seen = collect(f);
      const node = await f.createNode();
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await okValue(task.processEvent('manage'));
          taskInternals(task).notifyProvisionStateChange();
          taskInternals(task).notifyProvisionStateChange();
          assert.equal(seen.length, 1);
          await errorOf(task.processEvent('deploy'), InvalidState); // not allowed from manageable
          assert.equal(seen.length, 1, 'InvalidState emits nothing');
          await okValue(task.processEvent('provide'));
          taskInternals(task).notifyProvisionStateChange();
        }),
      );
      await sleep(10);
      assert.deepEqual(types(seen), ['baremetal.node.provision_set.success', 'baremetal.node.provision_set.start']);
      assert.deepEqual(
        seen.map((n) => n.payload.event),
        ['manage', 'provide'],
      );
    });
  });

  it('the payload is the node without reservation columns, secrets masked, plus event and previous states', async () => {
    await withConductor({}, async (f) => {
      const seen = collect(f);
      const node = await f.createNode({
        name: 'secretive',
        driver_info: { ipmi_address: '10.0.0.7', ipmi_username: 'admin', ipmi_password: 'hunter2' },
        instance_info: { image_source: 'glance://abc', image_url: 'https://images.example/tok=s3cr3t', root_gb: 10 },
        properties: { cpus: 8 },
      });
      const task = await okValue(f.conductor.acquire(f.ctx, node.id, { purpose: 'secret purpose' }));
      assert.equal(task.node.reservation, HOST);
      await okValue(task.processEvent('manage'));
      const payload = seen[0]!.payload as unknown as Record<string, unknown>;
      // As Ironic's NodePayload: no reservation columns, and no driver_info (BMC credentials) at all.
      for (const column of ['reservation', 'reservation_purpose', 'reserved_at', 'driver_info']) {
        assert.ok(!(column in payload), `${column} is not in the payload`);
      }
      assert.ok(!JSON.stringify(payload).includes('hunter2'), 'no secret anywhere in the payload');
      const n = seen[0]!.payload;
      assert.equal(n.instance_info.image_url, '******');
      assert.equal(n.instance_info.image_source, 'glance://abc');
      assert.equal(n.instance_info.root_gb, 10);
      assert.deepEqual(n.properties, { cpus: 8 });
      assert.equal(n.name, 'secretive');
      assert.equal(n.uuid, node.uuid);
      assert.equal(n.driver, 'fake-hardware');
      assert.equal(n.event, 'manage');
      assert.equal(n.previous_provision_state, 'available');
      assert.equal(n.previous_target_provision_state, null);
      assert.equal(n.provision_state, 'manageable');
      const wire = JSON.stringify(seen[0]);
      assert.ok(!wire.includes('hunter2') && !wire.includes('s3cr3t') && !wire.includes('secret purpose'), wire);
      // The node itself is untouched.
      assert.equal(task.node.driver_info.ipmi_password, 'hunter2');
      assert.equal((await f.stored(node.id)).driver_info.ipmi_password, 'hunter2');
      await okValue(task.release());
    });
  });

  for (const [level, expected] of [
    ['error', ['baremetal.node.provision_set.error']],
    [null, []],
    ['info', ['baremetal.node.provision_set.success', 'baremetal.node.provision_set.error']],
  ] as const) {
    it(`notificationLevel ${String(level)} delivers ${expected.length === 0 ? 'nothing' : expected.map((t) => t.split('.').pop()).join(' and ')}`, async () => {
      await withConductor({ notificationLevel: level }, async (f) => {
        const seen = collect(f);
        const available = await f.createNode();
        const deploying = await f.createNode({ provision_state: 'deploying', target_provision_state: 'active' });
        await okValue(f.conductor.withTask(f.ctx, available.id, {}, async (task) => void (await okValue(task.processEvent('manage')))));
        await okValue(f.conductor.withTask(f.ctx, deploying.id, {}, async (task) => void (await okValue(task.processEvent('fail')))));
        assert.deepEqual(types(seen), [...expected]);
        assert.equal(f.conductor.status().notifications.delivered, expected.length);
        // The transitions themselves happened whatever the level.
        assert.equal((await f.stored(available.id)).provision_state, 'manageable');
        assert.equal((await f.stored(deploying.id)).provision_state, 'deploy failed');
      });
    });
  }

  it('a throwing and a rejecting subscriber are logged and break neither the task nor the other subscribers', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async (f) => {
      f.conductor.subscribe(() => {
        throw new Error('subscriber threw');
      });
      f.conductor.subscribe(async () => {
        await Promise.resolve();
        throw new Error('subscriber rejected');
      });
      const seen = collect(f);
      const node = await f.createNode();
      const value = await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          await okValue(task.processEvent('manage'));
          await okValue(task.processEvent('provide'));
          return task.node.provision_state;
        }),
      );
      assert.equal(value, 'cleaning');
      assert.deepEqual(types(seen), ['baremetal.node.provision_set.success', 'baremetal.node.provision_set.start']);
      assert.equal((await f.stored(node.id)).reservation, null);
      await until(() => f.conductor.status().notifications.failures === 4, 'four subscriber failures counted');
      const failures = lines.filter((line) => line.msg === 'notification subscriber failed');
      assert.equal(failures.length, 4);
      for (const line of failures) {
        assert.equal(line.level, 40);
        assert.equal(line.node, node.uuid);
        assert.match(String(line.event_type), /^baremetal\.node\.provision_set\./);
        assert.match(String((line.err as { message?: string } | undefined)?.message), /subscriber (threw|rejected)/);
      }
    });
  });

  it('subscribeActor delivers notifications to an actor; unsubscribing stops them; a stopped actor breaks nothing', async () => {
    await withConductor({}, async (f) => {
      const received: ProvisionSetNotification[] = [];
      const system = actorSystemOf(f.conductor);
      const listener = await okValue(
        system.spawn<number, ProvisionSetNotification>('notification-listener', {
          initialState: () => 0,
          handle: (count, notification) => {
            received.push(notification);
            return count + 1;
          },
        }),
      );
      assert.equal(listener.path, 'conductor/user/notification-listener');
      const unsubscribe = subscribeActor(f.conductor, listener);
      const node = await f.createNode();
      await okValue(f.conductor.withTask(f.ctx, node.id, {}, async (task) => void (await okValue(task.processEvent('manage')))));
      await until(() => received.length === 1, 'the actor received the notification');
      assert.equal(received[0]?.eventType, 'baremetal.node.provision_set.success');
      assert.equal(received[0]?.payload.uuid, node.uuid);
      unsubscribe();
      await okValue(f.conductor.withTask(f.ctx, node.id, {}, async (task) => void (await okValue(task.processEvent('provide')))));
      await sleep(20);
      assert.equal(received.length, 1, 'nothing after unsubscribing');

      // Subscribed but stopped: the notification becomes a dead letter; the task is unaffected.
      const other = await f.createNode();
      subscribeActor(f.conductor, listener);
      system.stop(listener);
      const deadLetters = f.conductor.status().deadLetters;
      await okValue(f.conductor.withTask(f.ctx, other.id, {}, async (task) => void (await okValue(task.processEvent('manage')))));
      assert.equal((await f.stored(other.id)).provision_state, 'manageable');
      assert.equal(f.conductor.status().deadLetters, deadLetters + 1);
      assert.equal(received.length, 1);
    });
  });
});
