/**
 * End to end with a file store: enroll nodes, run transitions through tasks (synchronous ones,
 * spawned workers that succeed and fail, updates, a delete, a lease held by an actor), stop the
 * conductor, reopen a new conductor on the same file: nodes, provision states, targets,
 * last_error, fields and ports are all there, and no reservation survived.
 */
import { actorSystemOf } from '../../actors/actor-system.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Conductor } from '../../actors/conductor.js';
import type { AcquireLeaseMessage } from '../../actors/conductor-protocol.js';
import { createRequestContext } from '../../src/context.js';
import { InvalidParameterValue, NodeNotFound } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { okValue } from '../helpers/task-harness.js';
import { errorOf } from './fixture.js';

/** Open a conductor on the file; the second life skips start-up recovery to see the raw stored state. */
const open = (path: string, startupRecovery = true): Promise<Conductor> =>
  okValue(
    Conductor.open({
      startupRecovery,
      store: { path },
      logger: silentLogger(),
      host: 'persist-host',
      nodeLockedRetryInterval: 5,
      nodeIdleTimeout: 0,
      gracefulShutdownTimeout: 2000,
    }),
  );

/** The ports' addresses of a node, read through a shared task. */
async function portsOf(conductor: Conductor, nodeId: string): Promise<string[]> {
  const ctx = createRequestContext();
  const task = await okValue(conductor.acquire(ctx, nodeId, { shared: true, loadDriver: false }));
  try {
    return (await okValue(task.ports())).map((port) => port.address).sort();
  } finally {
    await okValue(task.release());
  }
}

describe('persistence through a file store', () => {
  it('a reopened conductor finds the nodes, states, targets, last_error, fields and ports of the previous one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-conductor-'));
    const path = join(dir, 'conductor.sqlite');
    const ctx = createRequestContext({ user: 'persist' });
    try {
      // ---- first life ----
      const first = await open(path);
      try {
        const alpha = await okValue(
          first.enroll({ driver: 'fake-hardware', name: 'alpha', provision_state: 'available' }, [
            '52:54:00:00:00:01',
            '52:54:00:00:00:02',
          ]),
        );
        await okValue(first.enroll({ driver: 'fake-hardware', name: 'bravo', provision_state: 'available' }, ['52:54:00:00:00:03']));
        await okValue(first.enroll({ driver: 'fake-hardware', name: 'charlie', provision_state: 'available' }));
        const delta = await okValue(first.enroll({ driver: 'fake-hardware', name: 'delta' }, ['52:54:00:00:00:04']));
        await okValue(first.enroll({ driver: 'fake-hardware', name: 'echo', provision_state: 'manageable' }));
        await okValue(first.enroll({ driver: 'fake-hardware', name: 'foxtrot', provision_state: 'available' }));
        assert.equal(alpha.provision_state, 'available');

        // alpha: a synchronous transition plus a field update.
        await okValue(
          first.withTask(ctx, 'alpha', { purpose: 'manage' }, async (task) => {
            await okValue(task.processEvent('manage'));
            await okValue(
              task.updateNode((draft) => {
                draft.extra = { rack: 'r1', slot: 7 };
                draft.driver_info = { ipmi_address: '10.1.1.1' };
              }),
            );
          }),
        );
        // bravo: deployed by a background worker.
        await okValue(
          first.withTask(ctx, 'bravo', { purpose: 'deploy' }, async (task) => {
            await okValue(
              task.processEvent('deploy', { callback: async (t: ExclusiveTask) => void (await okValue(t.processEvent('done'))) }),
            );
          }),
        );
        // charlie: a deploy whose worker fails (state stays deploying, target active, last_error written).
        await okValue(
          first.withTask(ctx, 'charlie', { purpose: 'deploy' }, async (task) => {
            await okValue(
              task.processEvent('deploy', {
                callback: async function brokenDeploy() {
                  throw new Error('disk on fire');
                },
              }),
            );
          }),
        );
        await first.onIdle();
        // delta: deleted.
        await okValue(first.withTask(ctx, delta.id, {}, async (task) => void (await okValue(task.destroyNode()))));
        // echo: a provide that leaves a target (cleaning → available) and an explicit last_error.
        await okValue(
          first.withTask(ctx, 'echo', {}, async (task) => {
            await okValue(task.processEvent('provide', { lastError: 'cleaning started by hand' }));
          }),
        );
        // foxtrot: a lease still held by an actor when the conductor stops.
        const grantMessage: AcquireLeaseMessage = { type: 'acquireLease', nodeId: 'foxtrot', purpose: 'held at stop' };
        const system = actorSystemOf(first);
        await okValue(system.ask(system.conductor, grantMessage, { timeoutMs: 3000 }));
      } finally {
        await okValue(first.stop());
      }

      // ---- second life, same file (start-up recovery off: the state exactly as stored) ----
      const second = await open(path, false);
      try {
        const get = (name: string): Promise<NodeRecord> => okValue(second.snapshot(name));
        const alpha = await get('alpha');
        assert.deepEqual([alpha.provision_state, alpha.target_provision_state, alpha.last_error], ['manageable', null, null]);
        assert.deepEqual(alpha.extra, { rack: 'r1', slot: 7 });
        assert.deepEqual(alpha.driver_info, { ipmi_address: '10.1.1.1' });
        assert.deepEqual(await portsOf(second, 'alpha'), ['52:54:00:00:00:01', '52:54:00:00:00:02']);

        const bravo = await get('bravo');
        assert.deepEqual([bravo.provision_state, bravo.target_provision_state, bravo.last_error], ['active', null, null]);
        assert.deepEqual(await portsOf(second, 'bravo'), ['52:54:00:00:00:03']);

        const charlie = await get('charlie');
        assert.deepEqual(
          [charlie.provision_state, charlie.target_provision_state, charlie.last_error],
          ['deploying', 'active', 'Async execution of brokenDeploy failed with error: disk on fire'],
        );
        assert.deepEqual(await portsOf(second, 'charlie'), []);

        await errorOf(second.snapshot('delta'), NodeNotFound);

        const echo = await get('echo');
        assert.deepEqual(
          [echo.provision_state, echo.target_provision_state, echo.last_error],
          ['cleaning', 'available', 'cleaning started by hand'],
        );

        const foxtrot = await get('foxtrot');
        assert.equal(foxtrot.provision_state, 'available');

        for (const name of ['alpha', 'bravo', 'charlie', 'echo', 'foxtrot']) {
          const node = await get(name);
          assert.deepEqual([node.reservation, node.reservation_purpose, node.reserved_at], [null, null, null], `${name} is not reserved`);
        }

        // The reopened store takes new work: finish echo's cleaning.
        await okValue(second.withTask(ctx, 'echo', {}, async (task) => void (await okValue(task.processEvent('done')))));
      } finally {
        await okValue(second.stop());
      }

      // ---- third life: the second life's write is there too, and start-up recovery (as Ironic)
      // fails the deploy that no conductor can resume ----
      const third = await open(path);
      try {
        const echo = await okValue(third.snapshot('echo'));
        assert.deepEqual([echo.provision_state, echo.target_provision_state], ['available', null]);
        assert.equal((await okValue(third.snapshot('alpha'))).provision_state, 'manageable');
        const charlie = await okValue(third.snapshot('charlie'));
        assert.deepEqual(
          [charlie.provision_state, charlie.target_provision_state, charlie.last_error],
          ['deploy failed', 'active', "The deploying state can't be resumed by conductor persist-host. Moving to fail state."],
        );
        assert.equal(charlie.reservation, null);
      } finally {
        await okValue(third.stop());
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('store.checkpointWorker: false keeps checkpoints on the event loop and loses nothing; a non-boolean is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-persist-worker-'));
    try {
      const path = join(dir, 'nodes.sqlite');
      const init = { store: { path, checkpointWorker: false }, logger: silentLogger(), host: 'persist-host', nodeIdleTimeout: 0 };
      const first = await okValue(Conductor.open(init));
      const node = await okValue(first.enroll({ driver: 'fake-hardware', name: 'no-worker' }, []));
      await okValue(first.stop());
      const second = await okValue(Conductor.open(init));
      assert.equal((await okValue(second.snapshot('no-worker'))).uuid, node.uuid);
      await okValue(second.stop());
      const refused = await errorOf(
        Conductor.open({ store: { path, checkpointWorker: 'no' as never }, logger: silentLogger() }),
        InvalidParameterValue,
      );
      assert.match(refused.message, /checkpointWorker/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
