/**
 * Issue 10: a conductor PROCESS killed with SIGKILL. Its session lock on its host goes with its
 * connection, so the survivor's liveness check (every livenessCheckInterval, default 1 s) finds it
 * dead and takes its nodes over with Ironic's texts, with the default heartbeat settings, in under
 * 5 s from the kill.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import { orThrow } from '../../src/task/scope.js';
import { eventually, reap, startChild, startServer, type Child } from './fixtures/harness.js';

const TAKEOVER = 'Operation was aborted due to conductor take over';
const POWER_TAKEOVER = 'Pending power operation was aborted due to conductor take over';

let server: PgServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

describe('SIGKILL of a conductor process', () => {
  it('the survivor takes over everything the victim held within 5 s, with the defaults', async () => {
    const survivor = await orThrow(Conductor.open({ host: 'survivor', store: { postgres: { url: server.url } }, logger: silentLogger() }));
    let victim: Child | undefined;
    try {
      const enroll = (fields: Partial<NodeRecord>): Promise<NodeRecord> =>
        orThrow(survivor.enroll({ driver: 'fake-hardware', provision_state: 'available', ...fields }));
      const held = [await enroll({}), await enroll({}), await enroll({ provision_state: 'manageable' })];
      const deploying = await enroll({});
      const power = await enroll({ provision_state: 'active', power_state: 'power on' });
      const all = [...held, deploying, power];

      victim = startChild({
        mode: 'victim',
        url: server.url,
        host: 'victim',
        held: held.map((n) => n.id),
        deploying: deploying.id,
        power: power.id,
      });
      await victim.waitFor('ready');
      const before = new Map((await orThrow(survivor.listNodes())).map((n) => [n.id, n]));
      for (const node of all) assert.equal(before.get(node.id)?.reservation, 'victim', `node ${node.id} is held by the victim`);
      assert.equal(before.get(deploying.id)?.provision_state, 'deploying');
      assert.equal(before.get(power.id)?.target_power_state, 'power off');

      const killedAt = Date.now();
      victim.process.kill('SIGKILL');
      let rows = new Map<number, NodeRecord>();
      const done = (): boolean => {
        const d = rows.get(deploying.id);
        const p = rows.get(power.id);
        return (
          all.every((n) => rows.get(n.id)?.reservation === null) &&
          d?.provision_state === 'deploy failed' &&
          d.last_error === TAKEOVER &&
          p?.target_power_state === null &&
          p.last_error === POWER_TAKEOVER
        );
      };
      await eventually(
        async () => {
          rows = new Map((await orThrow(survivor.listNodes())).map((n) => [n.id, n]));
          return done();
        },
        'the takeover of the killed conductor’s nodes',
        15_000,
      );
      const tookMs = Date.now() - killedAt;
      console.log(`# takeover after SIGKILL: ${tookMs} ms`);
      assert.ok(tookMs < 5_000, `the takeover took ${tookMs} ms (bound 5000 ms)`);
      assert.equal(await victim.exited, 'SIGKILL');

      const d = rows.get(deploying.id)!;
      assert.deepEqual([d.provision_state, d.target_provision_state, d.last_error], ['deploy failed', 'active', TAKEOVER]);
      const p = rows.get(power.id)!;
      assert.deepEqual(
        [p.provision_state, p.power_state, p.target_power_state, p.last_error],
        ['active', 'power on', null, POWER_TAKEOVER],
      );
      for (const node of held) assert.equal(rows.get(node.id)!.provision_state, node.provision_state, 'a held node keeps its state');
      const report = survivor.status().takeover;
      assert.ok(report !== null);
      assert.deepEqual(report.deadHosts, ['victim']);

      // The survivor can take every node at once.
      const ctx = createRequestContext();
      for (const node of all) {
        const task = await orThrow(survivor.acquire(ctx, node.id, { retry: false, purpose: 'after the takeover' }));
        assert.equal(task.node.reservation, 'survivor');
        await orThrow(task.release());
      }
    } finally {
      await reap(victim);
      await orThrow(survivor.stop());
    }
  });
});
