/**
 * Start-up recovery (reference §4.3) against a real Conductor and a store prepared as a crashed
 * conductor would leave it: pending power operations and reservations under this host in other
 * letter cases, another conductor's reservations, and nodes stuck in every state of
 * STUCK_STATES_TREATED_AS_FAIL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeRecord } from '../../src/node.js';
import { POWER_ABORTED_ON_RESTART, recoverOnStartup, stuckStateMessage } from '../../src/recovery/index.js';
import { STUCK_STATES_TREATED_AS_FAIL } from '../../src/states/groups.js';
import { assertUntouched, HOST, OTHER_HOST, reservations, withFixture } from './fixture.js';
import type { ProvisionState } from '../../src/states/provision-states.js';

/** Where `fail` takes each stuck state, and the target it then has (Ironic's machine, no callback). */
const EXPECTED: Record<string, [string, string | null]> = {
  deploying: ['deploy failed', 'active'],
  cleaning: ['clean failed', 'available'],
  verifying: ['enroll', null],
  inspecting: ['inspect failed', 'manageable'],
  adopting: ['adopt failed', 'active'],
  rescuing: ['rescue failed', 'rescue'],
  unrescuing: ['unrescue failed', 'active'],
  deleting: ['error', null],
  servicing: ['service failed', 'active'],
};

const DEFAULT_TARGET: Partial<Record<ProvisionState, ProvisionState | null>> = {
  deploying: 'active',
  cleaning: 'available',
  verifying: 'manageable',
  inspecting: 'manageable',
  adopting: 'active',
  rescuing: 'rescue',
  unrescuing: 'active',
  deleting: 'available',
  servicing: 'active',
};

describe('start-up recovery', () => {
  it('covers every stuck state of Ironic', () => {
    assert.deepEqual([...STUCK_STATES_TREATED_AS_FAIL].sort(), Object.keys(EXPECTED).sort());
  });

  it("clears this host's target power states (Ironic's message) and reservations case-insensitively, then fails stuck nodes with Ironic's text", async () => {
    await withFixture({}, async ({ conductor, port, store, createNode, read, reserve }) => {
      // A power operation pending under this host (upper case), and a plain stale reservation (mixed case).
      const pendingPower = await createNode({ provision_state: 'active', power_state: 'power off', target_power_state: 'power on' });
      await reserve(pendingPower, HOST.toUpperCase());
      const staleLock = await createNode({ provision_state: 'available', last_error: 'kept' });
      await reserve(staleLock, 'Conductor-A');
      // Another conductor's: untouched, power target included.
      const otherPower = await createNode({ provision_state: 'active', target_power_state: 'power off' });
      await reserve(otherPower, OTHER_HOST);
      // Not reserved: Ironic only clears targets of nodes the restarting host held.
      const unreservedPower = await createNode({ provision_state: 'active', target_power_state: 'power on' });
      // A wait state is not "stuck": the wait-timeout periodics handle it.
      const waiting = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' });
      await reserve(waiting, HOST);

      const stuck = new Map<string, NodeRecord>();
      for (const state of STUCK_STATES_TREATED_AS_FAIL) {
        stuck.set(
          state,
          await createNode({ provision_state: state, target_provision_state: DEFAULT_TARGET[state] ?? null, last_error: null }),
        );
      }
      // A stuck node this host had locked: its lock goes first, then it is failed too.
      const staleDeploying = await createNode({ provision_state: 'deploying', target_provision_state: 'active' });
      await reserve(staleDeploying, 'CoNdUcToR-a');
      // Stuck but in maintenance: Ironic's start-up check has no maintenance filter.
      const maintenanceCleaning = await createNode({
        provision_state: 'cleaning',
        target_provision_state: 'manageable',
        maintenance: true,
      });
      // Stuck but held by another conductor: skipped.
      const otherDeploying = await createNode({ provision_state: 'deploying', target_provision_state: 'active' });
      await reserve(otherDeploying, OTHER_HOST);

      const untouchedBefore = await Promise.all([otherPower, unreservedPower, otherDeploying].map(read));

      const report = await recoverOnStartup(port);
      await conductor.onIdle();

      assert.equal(report.host, HOST);
      assert.deepEqual(report.errors, []);
      assert.deepEqual(report.targetPowerStateCleared, [pendingPower.uuid]);
      assert.deepEqual(report.reservationsCleared, [pendingPower.uuid, staleLock.uuid, waiting.uuid, staleDeploying.uuid]);

      const p = await read(pendingPower);
      assert.equal(p.target_power_state, null);
      assert.equal(p.last_error, POWER_ABORTED_ON_RESTART);
      assert.equal(p.last_error, 'Pending power operation was aborted due to conductor restart');
      assert.equal(p.power_state, 'power off');
      assert.equal(p.provision_state, 'active');
      assert.equal(p.reservation, null);

      const s = await read(staleLock);
      assert.equal(s.reservation, null);
      assert.equal(s.last_error, 'kept');
      assert.equal(s.provision_state, 'available');

      const w = await read(waiting);
      assert.equal(w.reservation, null);
      assert.equal(w.provision_state, 'wait call-back', 'wait states are left to the wait-timeout checks');
      assert.equal(w.last_error, null);

      for (const [state, node] of stuck) {
        const after = await read(node);
        const [failState, target] = EXPECTED[state] as [string, string | null];
        assert.equal(after.provision_state, failState, `${state} → ${failState}`);
        assert.equal(after.target_provision_state, target, `${state}: target`);
        assert.equal(after.last_error, `The ${state} state can't be resumed by conductor ${HOST}. Moving to fail state.`);
        assert.equal(after.last_error, stuckStateMessage(state, HOST));
        assert.equal(after.reservation, null);
      }
      const d = await read(staleDeploying);
      assert.equal(d.provision_state, 'deploy failed');
      assert.equal(d.target_provision_state, 'active');
      assert.equal(d.last_error, "The deploying state can't be resumed by conductor conductor-a. Moving to fail state.");
      const m = await read(maintenanceCleaning);
      assert.equal(m.provision_state, 'clean failed');
      assert.equal(m.target_provision_state, 'available', 'Ironic passes no target: the machine default replaces manageable');
      assert.equal(m.last_error, "The cleaning state can't be resumed by conductor conductor-a. Moving to fail state.");
      assert.equal(m.maintenance, true);

      for (const [i, node] of [otherPower, unreservedPower, otherDeploying].entries()) {
        assertUntouched(await read(node), untouchedBefore[i] as NodeRecord, `untouched ${i}`);
      }
      assert.deepEqual(await reservations(store), { [otherPower.uuid]: OTHER_HOST, [otherDeploying.uuid]: OTHER_HOST });

      assert.deepEqual(report.stuck.deploying?.failed, [stuck.get('deploying')?.uuid, staleDeploying.uuid]);
      assert.deepEqual(report.stuck.cleaning?.failed, [stuck.get('cleaning')?.uuid, maintenanceCleaning.uuid]);
      assert.equal(report.failed.length, STUCK_STATES_TREATED_AS_FAIL.length + 2);
    });
  });

  it("fails at most periodicMaxWorkers nodes per stuck state, as Ironic's _fail_if_in_state; maxNodesPerState lifts it", async () => {
    await withFixture({ periodicMaxWorkers: 2 }, async ({ conductor, port, createNode, read }) => {
      const deploying: NodeRecord[] = [];
      for (let i = 0; i < 3; i++) deploying.push(await createNode({ provision_state: 'deploying', target_provision_state: 'active' }));
      const deleting: NodeRecord[] = [];
      for (let i = 0; i < 3; i++) deleting.push(await createNode({ provision_state: 'deleting', target_provision_state: 'available' }));

      const first = await recoverOnStartup(port);
      await conductor.onIdle();
      assert.deepEqual(
        first.stuck.deploying?.failed,
        deploying.slice(0, 2).map((n) => n.uuid),
      );
      assert.deepEqual(
        first.stuck.deleting?.failed,
        deleting.slice(0, 2).map((n) => n.uuid),
      );
      assert.equal((await read(deploying[2] as NodeRecord)).provision_state, 'deploying');
      assert.equal((await read(deleting[2] as NodeRecord)).provision_state, 'deleting');

      const second = await recoverOnStartup(port, { maxNodesPerState: 100 });
      await conductor.onIdle();
      assert.deepEqual(second.failed, [deploying[2]?.uuid, deleting[2]?.uuid]);
      assert.equal((await read(deleting[2] as NodeRecord)).provision_state, 'error');
      assert.equal((await read(deleting[2] as NodeRecord)).target_provision_state, null);
    });
  });

  it('with nothing to recover, reports nothing and changes nothing', async () => {
    await withFixture({}, async ({ port, store, createNode, read }) => {
      const node = await createNode({ provision_state: 'active', target_power_state: 'power on' });
      const before = await read(node);
      const report = await recoverOnStartup(port);
      assert.deepEqual(report.targetPowerStateCleared, []);
      assert.deepEqual(report.reservationsCleared, []);
      assert.deepEqual(report.failed, []);
      assertUntouched(await read(node), before, 'active node');
      assert.deepEqual(await reservations(store), {});
    });
  });
});
