/**
 * Issue 8, defect 3: a dead host's reservations are cleared. A conductor that died and came back
 * under another host name (or never came back) left nodes reserved; the survivors release them with
 * the dead host's tag and fail what it left mid-way, with Ironic's texts, at start-up and
 * periodically (Ironic's `_check_orphan_nodes`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Conductor, openConductor } from '../../actors/conductor.js';
import { ManualClock } from '../../src/clock.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { orThrow } from '../../src/task/scope.js';
import { until } from '../conductor/fixture.js';

const TAKEOVER = 'Operation was aborted due to conductor take over';
const POWER_TAKEOVER = 'Pending power operation was aborted due to conductor take over';

describe('defect 3: a dead host’s reservations are cleared', () => {
  it('at start-up on a file store: a host that came back under another name takes over what its old name held', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-takeover-'));
    try {
      const path = join(dir, 'fleet.sqlite');
      // The first life, as host "pod-a1b2" (a container hostname), SIGKILLed: its rows stay as they were.
      const before = await orThrow(openSqlJsStore({ path }));
      await orThrow(before.registerConductor('pod-a1b2'));
      const deploying = await orThrow(
        before.createNode({ driver: 'fake-hardware', provision_state: 'deploying', target_provision_state: 'active' }),
      );
      const waiting = await orThrow(
        before.createNode({ driver: 'fake-hardware', provision_state: 'wait call-back', target_provision_state: 'active' }),
      );
      const powering = await orThrow(
        before.createNode({ driver: 'fake-hardware', provision_state: 'active', target_power_state: 'power off' }),
      );
      const maintained = await orThrow(before.createNode({ driver: 'fake-hardware', provision_state: 'deploying', maintenance: true }));
      for (const node of [deploying, waiting, powering, maintained])
        await orThrow(before.reserve('pod-a1b2', node.id, { purpose: 'deploy' }));
      await orThrow(before.close());

      // The second life, under another host name: the file lock proves pod-a1b2 is gone.
      const conductor = await orThrow(Conductor.open({ store: { path }, host: 'pod-c3d4', logger: silentLogger(), periodicChecks: false }));
      try {
        await conductor.onIdle();
        const report = conductor.status().takeover;
        assert.ok(report !== null);
        assert.deepEqual(report.deadHosts, ['pod-a1b2']);
        assert.equal(report.reservationsCleared.length, 4, 'every reservation of the dead host, maintenance too');
        const rows = new Map((await orThrow(conductor.listNodes())).map((n) => [n.id, n]));
        assert.ok(
          [...rows.values()].every((n) => n.reservation === null),
          'nothing stays reserved',
        );
        const d = rows.get(deploying.id)!;
        assert.deepEqual([d.provision_state, d.last_error], ['deploy failed', TAKEOVER]);
        assert.equal(rows.get(waiting.id)!.provision_state, 'wait call-back', 'wait states only lose the lock');
        const p = rows.get(powering.id)!;
        assert.deepEqual([p.provision_state, p.target_power_state, p.last_error], ['active', null, POWER_TAKEOVER]);
        // In maintenance the takeover only releases it (as Ironic); start-up recovery then fails the
        // stuck state like any other, with its own text.
        const m = rows.get(maintained.id)!;
        assert.deepEqual(
          [m.provision_state, m.last_error],
          ['deploy failed', "The deploying state can't be resumed by conductor pod-c3d4. Moving to fail state."],
        );
        // Usable at once by the survivor.
        await orThrow((await orThrow(conductor.acquire(createRequestContext(), waiting.id, { retry: false }))).release());
      } finally {
        await orThrow(conductor.stop());
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('periodically on a shared store: a conductor whose heartbeat goes stale loses its nodes to a live one; an offline one at once', async () => {
    const store = await orThrow(openSqlJsStore());
    const clockB = new ManualClock(Date.now());
    // A and B share one store (as several conductors share one database); A stops heartbeating.
    const a = await orThrow(
      openConductor(
        {
          host: 'conductor-a',
          logger: silentLogger(),
          periodicChecks: false,
          heartbeatInterval: 1_000,
          clock: new ManualClock(Date.now()),
        },
        { store },
      ),
    );
    const b = await orThrow(
      openConductor(
        { host: 'conductor-b', logger: silentLogger(), startupRecovery: false, checkProvisionStateInterval: 5_000, clock: clockB },
        { store },
      ),
    );
    try {
      const node = await orThrow(a.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
      const ctx = createRequestContext();
      const held = await orThrow(a.acquire(ctx, node.id, { purpose: 'held by a' }));
      assert.equal((await orThrow(store.getNode(node.id))).reservation, 'conductor-a');
      await clockB.advance(5_000);
      assert.equal((await orThrow(store.getNode(node.id))).reservation, 'conductor-a', 'a is alive: its heartbeat is fresh');
      await clockB.advance(60_000); // a's last heartbeat is now older than heartbeatTimeout on b's clock
      await until(async () => (await orThrow(store.getNode(node.id))).reservation === null, 'b released what a held');
      assert.deepEqual(b.status().takeover?.deadHosts, ['conductor-a']);
      const taken = await orThrow(b.acquire(ctx, node.id, { retry: false, purpose: 'taken over' }));
      await orThrow(taken.release());
      void held;

      // A host marked offline is dead at the next run, whatever its heartbeat.
      await orThrow(store.registerConductor('conductor-c'));
      const other = await orThrow(b.enroll({ driver: 'fake-hardware' }));
      await orThrow(store.reserve('conductor-c', other.id, { purpose: 'c' }));
      await orThrow(store.touchConductor('conductor-c', false));
      await clockB.advance(5_000);
      await until(async () => (await orThrow(store.getNode(other.id))).reservation === null, 'the offline host’s reservation is cleared');
    } finally {
      await orThrow(b.stop());
      await orThrow(a.stop());
      await orThrow(store.close());
    }
  });

  it('never takes over from itself, whatever the letter case of its host name', async () => {
    const store = await orThrow(openSqlJsStore());
    const clock = new ManualClock(Date.now());
    const conductor = await orThrow(
      openConductor(
        { host: 'Conductor-X', logger: silentLogger(), startupRecovery: false, checkProvisionStateInterval: 1_000, clock },
        { store },
      ),
    );
    try {
      const node = await orThrow(conductor.enroll({ driver: 'fake-hardware' }));
      const ctx = createRequestContext();
      const task = await orThrow(conductor.acquire(ctx, node.id));
      await orThrow(store.touchConductor('Conductor-X', false)); // even marked offline by mistake
      await clock.advance(120_000);
      assert.equal((await orThrow(store.getNode(node.id))).reservation, 'Conductor-X');
      assert.deepEqual(conductor.status().takeover?.deadHosts, []);
      await orThrow(task.release());
    } finally {
      await orThrow(conductor.stop());
      await orThrow(store.close());
    }
  });
});
