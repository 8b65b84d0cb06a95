/**
 * The guarded public surface: `Conductor.open` refuses what it does not know, nothing public
 * reaches the store or the runtime, nodes are listed and ports created through the node's actor,
 * enrolment is all or nothing, and the actor subpath can only touch actors of its own.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { actorSystemOf } from '../../actors/actor-system.js';
import { Conductor, conductorInternals } from '../../actors/conductor.js';
import { ManualClock } from '../../src/clock.js';
import {
  ConductorStopping,
  DriverNotFound,
  Duplicate,
  ExclusiveLockRequired,
  InvalidParameterValue,
  LeaseNotFound,
  NodeNotFound,
} from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import { okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, withConductor } from './fixture.js';

describe('Conductor.open refuses options it does not know', () => {
  it('names every unknown option, nested ones with their path, and opens nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-open-'));
    try {
      const path = join(dir, 'never.sqlite');
      const untyped = {
        logger: silentLogger(),
        nodeLockedRetryIntervall: 5,
        store: { path, durabilty: 'sync' },
        drivers: { enabledHardwareType: ['ipmi'] },
        restartPolicy: { maxRestart: 3 },
      };
      const error = await errorOf(Conductor.open(untyped as never), InvalidParameterValue);
      assert.deepEqual(error.details.options, [
        'nodeLockedRetryIntervall',
        'store.durabilty',
        'drivers.enabledHardwareType',
        'restartPolicy.maxRestart',
      ]);
      assert.match(error.message, /unknown options: nodeLockedRetryIntervall, store\.durabilty/);
      assert.equal(existsSync(path), false, 'no store was opened');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks the kind of every non-numeric option', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ startupRecovery: 'yes' }, 'startupRecovery'],
      [{ periodicChecks: 1 }, 'periodicChecks'],
      [{ logger: {} }, 'logger'],
      [{ clock: { now: () => 0 } }, 'clock'],
      [{ store: 'memory' }, 'store'],
      [{ seams: { spawner: () => null } }, 'seams'],
    ];
    for (const [init, option] of cases) {
      const error = await errorOf(Conductor.open({ logger: silentLogger(), ...init }), InvalidParameterValue);
      assert.ok(error.message.includes(option), `${option}: ${error.message}`);
    }
    await errorOf(Conductor.open(null as never), InvalidParameterValue);
    await errorOf(Conductor.open({ logger: silentLogger(), workersPoolSize: 2 }), InvalidParameterValue);
  });

  it('accepts every documented option, including a ManualClock', async () => {
    const conductor = await okValue(
      Conductor.open({
        host: 'documented',
        logger: silentLogger(),
        clock: new ManualClock(),
        store: { path: null, durability: 'batched', maxDelayMs: 10, checkpointJournalBytes: 1024, checkpointIntervalMs: 1000 },
        drivers: { enabledHardwareTypes: ['fake-hardware'], fakeBehaviour: { failureRate: 0 } },
        restartPolicy: { minBackoffMs: 10, maxBackoffMs: 20, randomFactor: 0, resetAfterMs: 100, maxRestarts: 1, withinMs: 100 },
        startupRecovery: false,
        periodicChecks: false,
        nodeLockedRetryAttempts: 2,
        workersPoolSize: 3,
      }),
    );
    assert.equal(conductor.config.host, 'documented');
    await okValue(conductor.stop());
  });
});

describe('nothing public reaches the store or the runtime', () => {
  it('a Conductor has no store, runtime, ref, drivers or logger to reach, at run time either', async () => {
    await withConductor({}, async ({ conductor }) => {
      for (const name of ['store', 'runtime', 'ref', 'drivers', 'logger', 'subscribeActor', 'onDeadLetter']) {
        assert.equal(name in conductor, false, name);
      }
      assert.ok(Object.isFrozen(conductor.config));
    });
  });
});

describe('bad input from untyped callers is an Err, and the node stays usable', () => {
  it('acquire with a missing or forged request context: InvalidParameterValue, nothing locked', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      for (const ctx of [undefined, null, {}, { requestId: 7 }]) {
        await errorOf(f.conductor.acquire(ctx as never, node.id), InvalidParameterValue);
        await errorOf(f.conductor.acquire(ctx as never, node.id, { shared: true }), InvalidParameterValue);
      }
      await errorOf(f.conductor.acquire(f.ctx, node.id, 'exclusive' as never), InvalidParameterValue);
      const task = await okValue(f.conductor.acquire(f.ctx, node.id, null as never));
      assert.equal(task.node.reservation, HOST, 'null options are the defaults; the node was never left locked');
      await okValue(task.release());
    });
  });

  it('updateNode refuses a state the machine does not know, a wrong type or an unknown field (InvalidParameterValue), and the node stays usable', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const cases: [(draft: Record<string, unknown>) => void, string][] = [
        [(d) => void (d.provision_state = 'bogus'), 'provision_state'],
        [(d) => void (d.target_provision_state = 'deploy'), 'target_provision_state'],
        [(d) => void (d.maintenance = 'yes'), 'maintenance'],
        [(d) => void (d.colour = 'blue'), 'colour'],
      ];
      await okValue(
        f.conductor.withTask(f.ctx, node.id, {}, async (task) => {
          for (const [recipe, field] of cases) {
            const error = await errorOf(task.updateNode(recipe as never), InvalidParameterValue);
            assert.equal(error.details.field, field);
            assert.equal(error.status, 400);
          }
          assert.equal(task.node.provision_state, 'available');
        }),
      );
      const after = await okValue(f.conductor.withTask(f.ctx, node.id, {}, (task) => task.processEvent('manage')));
      assert.equal(after.provision_state, 'manageable', 'still usable');
    });
  });

  it('callbacks and signals of the wrong kind are caller bugs: TypeError, nothing moved', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      await assert.rejects(
        async () => f.conductor.withTask(f.ctx, node.id, {}, (task) => task.processEvent('manage', { callback: 5 as never })),
        TypeError,
      );
      assert.equal((await f.stored(node.id)).provision_state, 'available');
      assert.throws(() => f.conductor.onIdle({ signal: 'soon' as never }), TypeError);
      assert.throws(() => f.conductor.stop({ signal: 'soon' as never }), TypeError);
    });
  });
});

describe('listNodes', () => {
  it('filters like the store, answers frozen snapshots, and refuses a bad filter naming the field', async () => {
    await withConductor({}, async (f) => {
      const a = await f.createNode({ provision_state: 'available', name: 'a' });
      const b = await f.createNode({ provision_state: 'manageable', name: 'b' });
      const c = await f.createNode({ provision_state: 'active', name: 'c' });
      const ids = (nodes: readonly NodeRecord[]): number[] => nodes.map((n) => n.id);
      assert.deepEqual(ids(await okValue(f.conductor.listNodes())), [a.id, b.id, c.id]);
      assert.deepEqual(ids(await okValue(f.conductor.listNodes({ provisionState: 'manageable' }))), [b.id]);
      assert.deepEqual(ids(await okValue(f.conductor.listNodes({ provisionState: ['active', 'available'] }))), [a.id, c.id]);
      assert.deepEqual(ids(await okValue(f.conductor.listNodes({ limit: 2 }))), [a.id, b.id]);
      const holder = await okValue(f.conductor.acquire(f.ctx, b.id));
      assert.deepEqual(ids(await okValue(f.conductor.listNodes({ reserved: true }))), [b.id]);
      await okValue(holder.release());
      const listed = await okValue(f.conductor.listNodes());
      assert.ok(Object.isFrozen(listed) && listed.every((n) => Object.isFrozen(n) && Object.isFrozen(n.extra)));

      const bad: [unknown, string | null][] = [
        [{ provisionState: 'activ' }, 'provisionState'],
        [{ provisionState: ['active', 7] }, 'provisionState'],
        [{ limit: -1 }, 'limit'],
        [{ reserved: 'yes' }, 'reserved'],
        [{ provisionUpdatedBefore: 'yesterday' }, 'provisionUpdatedBefore'],
        [{ state: 'active' }, 'state'],
        ['active', null],
      ];
      for (const [filter, field] of bad) {
        const error = await errorOf(f.conductor.listNodes(filter as never), InvalidParameterValue);
        assert.equal(error.details.field, field, JSON.stringify(filter));
      }
    });
  });
});

describe('enroll and ports go through the node actor', () => {
  it('enroll is all or nothing: a duplicate port address creates neither the node nor any port', async () => {
    await withConductor({}, async (f) => {
      const first = await okValue(f.conductor.enroll({ driver: 'fake-hardware', name: 'first' }, ['52:54:00:00:00:01']));
      const before = await okValue(f.conductor.listNodes());
      const duplicate = await errorOf(
        f.conductor.enroll({ driver: 'fake-hardware', name: 'second' }, ['52:54:00:00:00:02', '52:54:00:00:00:01']),
        Duplicate,
      );
      assert.match(duplicate.message, /52:54:00:00:00:01/);
      assert.deepEqual(await okValue(f.conductor.listNodes()), before, 'the half-enrolled node is gone');
      assert.equal((await f.inner.listPorts(first.id))._unsafeUnwrap().length, 1);
      await errorOf(f.conductor.snapshot('second'), NodeNotFound);
      // The name is free again; addresses are stored lower-case, as Ironic normalises them.
      const second = await okValue(f.conductor.enroll({ driver: 'fake-hardware', name: 'second' }, ['52:54:00:00:00:0A']));
      assert.deepEqual(
        (await okValue(f.inner.listPorts(second.id))).map((p) => p.address),
        ['52:54:00:00:00:0a'],
      );
    });
  });

  it('enroll refuses a disabled hardware type, an unknown state or bad ports, and writes nothing', async () => {
    await withConductor({}, async (f) => {
      await errorOf(f.conductor.enroll({ driver: 'ipmi' }), DriverNotFound);
      await errorOf(f.conductor.enroll({ driver: 'fake-hardware', provision_state: 'installed' as never }), InvalidParameterValue);
      await errorOf(f.conductor.enroll({ driver: 'fake-hardware' }, 'aa:bb' as never), InvalidParameterValue);
      await errorOf(f.conductor.enroll({ driver: 'fake-hardware' }, ['52:54:00:00:00:01', 'zz']), InvalidParameterValue);
      await errorOf(f.conductor.enroll({ driver: 'fake-hardware' }, ['52:54:00:00:00:01', '52:54:00:00:00:01']), Duplicate);
      await errorOf(f.conductor.enroll(null as never), InvalidParameterValue);
      assert.deepEqual(await okValue(f.conductor.listNodes()), []);
    });
  });

  it('task.createPort and createPortgroup write through the node actor; ports() then includes them; bad fields are InvalidParameterValue', async () => {
    await withConductor({}, async (f) => {
      const node = await okValue(f.conductor.enroll({ driver: 'fake-hardware', name: 'ported' }, ['52:54:00:00:01:01']));
      const created = await okValue(
        f.conductor.withTask(f.ctx, node.id, { purpose: 'add ports' }, async (task) => {
          const loaded = await okValue(task.ports());
          assert.equal(loaded.length, 1);
          const port = await okValue(task.createPort({ address: '52:54:00:00:01:02', pxe_enabled: false }));
          const group = await okValue(task.createPortgroup({ name: 'bond0', mode: '802.3ad' }));
          const bad = await errorOf(task.createPort({ address: '52:54:00:00:01:09', pxe_enabled: 'yes' } as never), InvalidParameterValue);
          assert.equal(bad.details.field, 'pxe_enabled');
          const notMac = await errorOf(task.createPort({ address: '52:54:00:00:01' }), InvalidParameterValue);
          assert.equal(notMac.message, 'Expected a MAC address but received 52:54:00:00:01.');
          await errorOf(task.createPort({} as never), InvalidParameterValue);
          assert.deepEqual(
            (await okValue(task.ports())).map((p) => p.address),
            ['52:54:00:00:01:01', '52:54:00:00:01:02'],
            'the cached list follows the write',
          );
          assert.deepEqual(
            (await okValue(task.portgroups())).map((g) => g.name),
            ['bond0'],
          );
          return { port, group };
        }),
      );
      assert.equal(created.port.node_id, node.id);
      assert.deepEqual(
        (await okValue(f.inner.listPorts(node.id))).map((p) => p.address),
        ['52:54:00:00:01:01', '52:54:00:00:01:02'],
      );
      assert.equal((await okValue(f.inner.listPortgroups(node.id)))[0]?.uuid, created.group.uuid);
    });
  });

  it('a port cannot be created without holding the lock (the lease is checked by the actor)', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const task = await okValue(f.conductor.acquire(f.ctx, node.id));
      const shared = await okValue(f.conductor.acquire(f.ctx, node.id, { shared: true }));
      await errorOf((shared as unknown as typeof task).createPort({ address: '52:54:00:00:02:01' }), ExclusiveLockRequired);
      await okValue(task.release());
      // A stale lease (released task used again) is refused by the node actor, not written.
      const registry = conductorInternals(f.conductor).registry;
      const lease = { id: 'stale', nodeId: node.id, node, grantedAt: 0 };
      await errorOf(registry.createPort(lease, { address: '52:54:00:00:02:02' }), LeaseNotFound);
      assert.deepEqual(await okValue(f.inner.listPorts(node.id)), []);
      await okValue(shared.release());
    });
  });
});

describe('metal-conductor/actors: a narrow view of the runtime', () => {
  it('spawns under conductor/user, stops only its own actors, refuses duplicates and spawns after the stop', async () => {
    await withConductor({}, async (f) => {
      const system = actorSystemOf(f.conductor);
      assert.equal(actorSystemOf(f.conductor), system, 'one view per conductor');
      assert.equal(system.conductor.path, 'conductor');
      const seen: string[] = [];
      const echo = await okValue(
        system.spawn<null, string>('echo', {
          initialState: () => null,
          handle: (state, message) => {
            seen.push(message);
            return state;
          },
        }),
      );
      assert.equal(echo.path, 'conductor/user/echo');
      assert.equal(system.tell(echo, 'hello'), true);
      const duplicate = system.spawn('echo', { initialState: () => null, handle: (s: null) => s });
      assert.ok(duplicate.isErr() && duplicate.error instanceof InvalidParameterValue);
      const badName = system.spawn('../nodes', { initialState: () => null, handle: (s: null) => s });
      assert.ok(badName.isErr() && badName.error instanceof InvalidParameterValue);
      assert.throws(() => system.stop(system.conductor), TypeError, 'the conductor’s own actors are not yours to stop');
      // A reference is its path and liveness only: no way from it to the runtime or other actors.
      assert.deepEqual(Object.keys(system.conductor), ['path']);
      assert.equal(system.conductor.alive, true);
      assert.ok(Object.isFrozen(system.conductor));
      for (const name of ['children', 'parent', 'nact', 'pending', 'undelivered', 'handle']) {
        assert.equal((system.conductor as unknown as Record<string, unknown>)[name], undefined, name);
        assert.equal((echo as unknown as Record<string, unknown>)[name], undefined, name);
      }
      assert.throws(() => system.tell({ path: 'conductor/nodes/node-1', alive: true }, 'forged'), TypeError, 'a forged reference');
      const node = await f.createNode();
      const grant = await okValue(
        system.ask(system.conductor, { type: 'acquireLease', nodeId: node.id, purpose: 'actor' }, { timeoutMs: 2000 }),
      );
      assert.equal(grant.shared, false);
      assert.equal(grant.node.reservation_purpose, 'actor');
      await okValue(system.ask(system.conductor, { type: 'releaseLease', leaseId: grant.leaseId }, { timeoutMs: 2000 }));
      system.stop(echo);
      assert.equal(system.tell(echo, 'after stop'), false, 'a dead letter');
      assert.deepEqual(seen, ['hello']);
      await okValue(f.conductor.stop());
      const late = system.spawn('late', { initialState: () => null, handle: (s: null) => s });
      assert.ok(late.isErr() && late.error instanceof ConductorStopping);
    });
  });
});
