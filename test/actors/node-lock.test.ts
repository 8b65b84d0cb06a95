/**
 * The node actor as lock arbiter and single writer (actors/node-actor.ts), driven through the
 * Conductor on an in-memory store: FIFO grants, hand-off on release without polling, Ironic's
 * waiting budget (retry / retry: false / patient), AbortSignal, reservations held outside this
 * process, shared tasks, published snapshots, passivation, node deletion and stale lease ids.
 */
import { systemClock } from '../../src/clock.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeRegistry } from '../../actors/node-registry.js';
import { ActorRuntime } from '../../actors/runtime.js';
import { resolveConfig } from '../../src/config.js';
import { createRequestContext } from '../../src/context.js';
import { Aborted, ActorStopped, ConductorStopping, LeaseNotFound, NodeLocked, NodeNotFound } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, sleep, until, waitersOf, withConductor, within } from '../conductor/fixture.js';

/** A long interval: a test that passes with it cannot be polling at that interval. */
const SLOW = { nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 5000 } as const;

describe('node lock: exclusive grants', () => {
  it('grants several waiters in FIFO order', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      const order: string[] = [];
      const purposesSeen: (string | null)[] = [];
      const waiters: Promise<void>[] = [];
      const modes = [{}, { patient: true }, {}, { patient: true }, {}] as const;
      for (const [i, mode] of modes.entries()) {
        const purpose = `w${i + 1}`;
        waiters.push(
          (async () => {
            const task = await okValue(conductor.acquire(ctx, node.id, { purpose, ...mode }));
            order.push(purpose);
            purposesSeen.push(task.node.reservation_purpose);
            await sleep(1);
            await okValue(task.release());
          })(),
        );
        // Queue them one by one so the request order is unambiguous.
        await until(() => waitersOf(conductor, node.id) === i + 1, `${purpose} queued`);
      }
      await okValue(holder.release());
      await Promise.all(waiters);
      assert.deepEqual(order, ['w1', 'w2', 'w3', 'w4', 'w5']);
      assert.deepEqual(purposesSeen, ['w1', 'w2', 'w3', 'w4', 'w5'], 'each grant carries its own purpose');
      assert.equal((await conductor.snapshot(node.id))._unsafeUnwrap().reservation, null);
    });
  });

  it('grants a waiter as soon as the local holder releases, without polling', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, spy }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      const waiting = conductor.acquire(ctx, node.id, { purpose: 'waiter' });
      await until(() => waitersOf(conductor, node.id) === 1, 'the waiter queued');
      const reservesWhileQueued = spy.count('reserve');
      await sleep(40);
      assert.equal(spy.count('reserve'), reservesWhileQueued, 'no reserve attempts while waiting behind a local holder');
      const released = Date.now();
      await okValue(holder.release());
      const task = await within(okValue(waiting), 4000);
      assert.notEqual(task, 'pending', 'the waiter was granted');
      assert.ok(Date.now() - released < 2500, 'granted long before the 5 s retry interval');
      assert.equal((task as ExclusiveTask).node.reservation, HOST);
      assert.equal((task as ExclusiveTask).node.reservation_purpose, 'waiter');
      await okValue((task as ExclusiveTask).release());
    });
  });

  it('retry: false fails at once with NodeLocked naming the holder host, its purpose and how long it held the lock', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'firmware update' }));
      await sleep(15);
      const started = Date.now();
      const error = await errorOf(conductor.acquire(ctx, node.id, { retry: false, purpose: 'impatient' }), NodeLocked);
      assert.ok(Date.now() - started < 2500, 'failed at once');
      assert.equal(error.status, 409);
      assert.equal(error.code, 'NodeLocked');
      assert.equal(error.details.host, HOST);
      assert.equal(error.details.purpose, 'firmware update');
      assert.equal(typeof error.details.heldForMs, 'number');
      assert.ok((error.details.heldForMs as number) >= 10, `held for ${String(error.details.heldForMs)} ms`);
      assert.match(error.message, new RegExp(`locked by host ${HOST}`));
      assert.match(error.message, /firmware update/);
      assert.match(error.message, /held for \d+\.\d+ s/);
      assert.match(error.message, new RegExp(node.uuid));
      // The holder is unaffected.
      assert.equal((await conductor.snapshot(node.id))._unsafeUnwrap().reservation_purpose, 'firmware update');
      await okValue(holder.release());
    });
  });

  it('the default budget, (attempts − 1) × interval, expires with NodeLocked', async () => {
    await withConductor({ nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 25 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'long job' }));
      const started = Date.now();
      const error = await errorOf(conductor.acquire(ctx, node.id, { purpose: 'waiter' }), NodeLocked);
      const waited = Date.now() - started;
      assert.ok(waited >= 25, `it waited (${waited} ms) rather than failing at once`);
      assert.ok(waited < 3000, `it gave up after the 50 ms budget (${waited} ms)`);
      assert.equal(error.details.host, HOST);
      assert.equal(error.details.purpose, 'long job');
      assert.equal(waitersOf(conductor, node.id), 0, 'the expired waiter left the queue');
      await okValue(holder.release());
      // The lock is free again.
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });

  it('patient: true waits past the budget', async () => {
    await withConductor({ nodeLockedRetryAttempts: 2, nodeLockedRetryInterval: 10 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      let patientSettled = false;
      const patient = conductor.acquire(ctx, node.id, { purpose: 'patient', patient: true });
      void patient.then(() => (patientSettled = true));
      // A non-patient waiter queued at the same time runs out of its 10 ms budget...
      await errorOf(conductor.acquire(ctx, node.id, { purpose: 'retrying' }), NodeLocked);
      await sleep(100);
      // ...while the patient one is still waiting, ten budgets later.
      assert.equal(patientSettled, false);
      await okValue(holder.release());
      const task = await okValue(patient);
      assert.equal(task.node.reservation_purpose, 'patient');
      await okValue(task.release());
    });
  });

  it('an AbortSignal aborts a waiting acquire with Aborted, and the lock then goes to the next waiter', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      const controller = new AbortController();
      const aborted = conductor.acquire(ctx, node.id, { purpose: 'gives up', signal: controller.signal });
      await until(() => waitersOf(conductor, node.id) === 1, 'first waiter queued');
      const next = conductor.acquire(ctx, node.id, { purpose: 'next' });
      await until(() => waitersOf(conductor, node.id) === 2, 'second waiter queued');
      const started = Date.now();
      controller.abort(new Error('client went away'));
      const error = await errorOf(aborted, Aborted);
      assert.ok(Date.now() - started < 2500, 'aborted at once');
      assert.equal(error.status, 499);
      assert.match(error.message, /client went away/);
      await okValue(holder.release());
      const task = await okValue(next);
      assert.equal(task.node.reservation_purpose, 'next');
      assert.equal((await conductor.snapshot(node.id))._unsafeUnwrap().reservation_purpose, 'next');
      await okValue(task.release());
      assert.equal((await conductor.snapshot(node.id))._unsafeUnwrap().reservation, null);
    });
  });

  it('an already aborted signal fails at once with Aborted and takes nothing', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, inner }) => {
      const node = await createNode();
      const controller = new AbortController();
      controller.abort();
      await errorOf(conductor.acquire(ctx, node.id, { signal: controller.signal }), Aborted);
      assert.equal((await okValue(inner.getNode(node.id))).reservation, null);
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });
});

describe('node lock: reservations held outside this process', () => {
  it('retries the reservation every interval exactly nodeLockedRetryAttempts times, then NodeLocked names the outside holder', async () => {
    await withConductor({ nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 10 }, async ({ conductor, ctx, createNode, inner, spy }) => {
      const node = await createNode();
      await okValue(inner.reserve('other-host', node.id, { purpose: 'x' }));
      spy.reset();
      const error = await errorOf(conductor.acquire(ctx, node.id, { purpose: 'mine' }), NodeLocked);
      assert.equal(spy.count('reserve'), 3, 'Ironic: node_locked_retry_attempts reserve calls in all');
      for (const args of spy.callsTo('reserve')) assert.deepEqual([args[0], args[1]], [HOST, node.id]);
      assert.equal(error.details.host, 'other-host');
      assert.equal(error.details.purpose, 'x');
      assert.match(error.message, /locked by host other-host/);
      // Nothing stolen.
      assert.equal((await okValue(inner.getNode(node.id))).reservation, 'other-host');
      assert.equal(spy.count('release'), 0);
      // No retry keeps running after the failure.
      await sleep(50);
      assert.equal(spy.count('reserve'), 3);
    });
  });

  it('with retry: false tries the reservation exactly once', async () => {
    await withConductor({ nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 10 }, async ({ conductor, ctx, createNode, inner, spy }) => {
      const node = await createNode();
      await okValue(inner.reserve('other-host', node.id, { purpose: 'x' }));
      spy.reset();
      const error = await errorOf(conductor.acquire(ctx, node.id, { retry: false }), NodeLocked);
      assert.equal(error.details.host, 'other-host');
      assert.equal(spy.count('reserve'), 1);
    });
  });

  it('is granted if the outside holder releases within the budget', async () => {
    await withConductor(
      { nodeLockedRetryAttempts: 20, nodeLockedRetryInterval: 10 },
      async ({ conductor, ctx, createNode, inner, spy }) => {
        const node = await createNode();
        await okValue(inner.reserve('other-host', node.id, { purpose: 'x' }));
        spy.reset();
        setTimeout(() => void inner.release('other-host', node.id), 35);
        const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'mine' }));
        assert.equal(task.node.reservation, HOST);
        assert.equal(task.node.reservation_purpose, 'mine');
        assert.equal((await okValue(inner.getNode(node.id))).reservation, HOST);
        const attempts = spy.count('reserve');
        assert.ok(attempts >= 2 && attempts <= 20, `${attempts} reserve attempts`);
        await okValue(task.release());
        assert.equal((await okValue(inner.getNode(node.id))).reservation, null);
      },
    );
  });

  it('aborting a waiter that faces an outside holder stops the retries', async () => {
    await withConductor({ nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 10 }, async ({ conductor, ctx, createNode, inner, spy }) => {
      const node = await createNode();
      await okValue(inner.reserve('other-host', node.id, { purpose: 'x' }));
      spy.reset();
      const controller = new AbortController();
      const waiting = conductor.acquire(ctx, node.id, { patient: true, signal: controller.signal });
      await until(() => spy.count('reserve') >= 2, 'a few attempts');
      controller.abort();
      await errorOf(waiting, Aborted);
      const atAbort = spy.count('reserve');
      await sleep(60);
      assert.ok(spy.count('reserve') <= atAbort + 1, 'no more than one in-flight attempt after the abort');
      assert.equal((await okValue(inner.getNode(node.id))).reservation, 'other-host');
    });
  });
});

describe('node lock: shared tasks', () => {
  it('never wait, are never blocked by an exclusive holder or its waiters, and take no reservation', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, spy }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      await okValue(holder.updateNode((draft) => void (draft.extra = { written: 'by holder' })));
      const queued = conductor.acquire(ctx, node.id, { purpose: 'queued' });
      await until(() => waitersOf(conductor, node.id) === 1, 'an exclusive waiter queued');
      spy.reset();
      const started = Date.now();
      const shared = await okValue(conductor.acquire(ctx, node.id, { shared: true, retry: false }));
      assert.ok(Date.now() - started < 2500, 'did not wait');
      assert.equal(shared.shared, true);
      assert.equal(shared.node.reservation, HOST, 'it reads the latest snapshot, holder included');
      assert.equal(shared.node.reservation_purpose, 'holder');
      assert.deepEqual(shared.node.extra, { written: 'by holder' }, 'and the holder’s committed write');
      assert.ok(Object.isFrozen(shared.node));
      assert.equal(spy.count('reserve'), 0);
      assert.equal(spy.count('transferReservation'), 0);
      await okValue(shared.release());
      assert.equal(spy.count('release'), 0, 'releasing a shared task touches no reservation');
      await okValue(holder.release());
      await okValue((await okValue(queued)).release());
    });
  });

  it('never block an exclusive request, and read through an outside reservation', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, inner, spy }) => {
      const node = await createNode();
      const shared = await okValue(conductor.acquire(ctx, node.id, { shared: true }));
      const exclusive = await okValue(conductor.acquire(ctx, node.id, { retry: false, purpose: 'writer' }));
      assert.equal(exclusive.node.reservation, HOST);
      await okValue(exclusive.release());
      await okValue(shared.release());

      const other = await createNode();
      await okValue(inner.reserve('other-host', other.id, { purpose: 'x' }));
      spy.reset();
      const reader = await okValue(conductor.acquire(ctx, other.id, { shared: true }));
      assert.equal(reader.node.reservation, 'other-host');
      assert.equal(spy.count('reserve'), 0);
      await okValue(reader.release());
    });
  });
});

describe('node lock: published snapshot', () => {
  it('shows the holder’s reservation and purpose while held, and null after release (in the store too)', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      assert.equal((await okValue(conductor.snapshot(node.id))).reservation, null);
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'inspect hardware' }));
      const held = await okValue(conductor.snapshot(node.id));
      assert.equal(held.reservation, HOST);
      assert.equal(held.reservation_purpose, 'inspect hardware');
      assert.equal(typeof held.reserved_at, 'string');
      assert.ok(!Number.isNaN(Date.parse(held.reserved_at as string)));
      assert.ok(Object.isFrozen(held));
      const row = await stored(node.id);
      assert.equal(row.reservation, HOST, 'other processes and operators see the holder');
      assert.equal(row.reservation_purpose, 'inspect hardware');
      const holder = conductor.status().nodes.find((entry) => entry.id === node.id)?.holder;
      assert.equal(holder?.purpose, 'inspect hardware');
      assert.equal(holder?.requestId, ctx.requestId);
      await okValue(task.release());
      const after = await okValue(conductor.snapshot(node.id));
      assert.deepEqual([after.reservation, after.reservation_purpose, after.reserved_at], [null, null, null]);
      const rowAfter = await stored(node.id);
      assert.deepEqual([rowAfter.reservation, rowAfter.reservation_purpose, rowAfter.reserved_at], [null, null, null]);
      assert.equal(conductor.status().nodes.find((entry) => entry.id === node.id)?.holder, null);
    });
  });

  it('publishes every committed change to the snapshot readers see', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const before = await okValue(conductor.snapshot(node.id));
      const task = await okValue(conductor.acquire(ctx, node.id));
      await okValue(task.processEvent('manage'));
      const published = await okValue(conductor.snapshot(node.id));
      assert.equal(published.provision_state, 'manageable');
      assert.notEqual(published, before);
      assert.equal(before.provision_state, 'available', 'an earlier snapshot is never mutated');
      await okValue(task.release());
    });
  });
});

describe('node lock: passivation', () => {
  it('passivates a node actor idle for nodeIdleTimeout; the next acquire respawns it', async () => {
    await withConductor({ ...SLOW, nodeIdleTimeout: 30 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      await okValue((await okValue(conductor.acquire(ctx, node.id))).release());
      const { spawned, passivated } = conductor.status().actors;
      assert.equal(conductor.status().actors.loaded, 1);
      await until(() => conductor.status().actors.passivated > passivated, 'passivation', 5000);
      assert.equal(conductor.status().actors.loaded, 0);
      assert.equal(conductor.status().nodes.length, 0);
      const task = await okValue(conductor.acquire(ctx, node.id, { retry: false, purpose: 'after passivation' }));
      assert.equal(task.node.reservation_purpose, 'after passivation');
      assert.equal(conductor.status().actors.spawned, spawned + 1, 'respawned');
      await okValue(task.release());
    });
  });

  it('never passivates a node actor while a lease is held', async () => {
    await withConductor({ ...SLOW, nodeIdleTimeout: 30 }, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'long hold' }));
      const { passivated } = conductor.status().actors;
      await sleep(700); // at least two sweeps (every 250 ms)
      assert.equal(conductor.status().actors.passivated, passivated);
      assert.equal(conductor.status().actors.loaded, 1);
      // The holder can still write and release through its (same) actor.
      await okValue(task.updateNode((draft) => void (draft.extra = { still: 'here' })));
      await okValue(task.release());
      assert.equal((await stored(node.id)).reservation, null);
      await until(() => conductor.status().actors.passivated > passivated, 'passivation after release', 5000);
    });
  });
});

describe('node lock: node deletion', () => {
  it('fails the waiters with NodeNotFound while the deleting holder releases cleanly', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode, inner }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'delete' }));
      const w1 = conductor.acquire(ctx, node.id, { purpose: 'w1' });
      const w2 = conductor.acquire(ctx, node.id, { purpose: 'w2', patient: true });
      await until(() => waitersOf(conductor, node.id) === 2, 'two waiters');
      await okValue(holder.destroyNode());
      await errorOf(w1, NodeNotFound);
      await errorOf(w2, NodeNotFound);
      const released = await holder.release();
      assert.ok(released.isOk(), `release after delete: ${released.isErr() ? released.error.message : ''}`);
      assert.equal(holder.released, true);
      await errorOf(conductor.acquire(ctx, node.id), NodeNotFound);
      await errorOf(conductor.snapshot(node.id), NodeNotFound);
      await errorOf(inner.getNode(node.id), NodeNotFound);
    });
  });
});

describe('node lock: lease ids', () => {
  it('a wrong or stale lease id gets LeaseNotFound and disturbs nothing', async () => {
    const logger = silentLogger();
    const store = await okValue(openSqlJsStore({ logger }));
    const runtime = new ActorRuntime('lease-test', logger);
    try {
      const parent = runtime.spawn<null, never>(null, 'nodes', { initialState: () => null, handle: (state) => state });
      const config = resolveConfig({
        host: HOST,
        nodeLockedRetryAttempts: 1,
        nodeLockedRetryInterval: 5,
        nodeIdleTimeout: 0,
      })._unsafeUnwrap();
      const registry = new NodeRegistry({
        runtime,
        parent,
        store,
        config,
        logger,
        clock: systemClock,
      });
      const node = await okValue(store.createNode({ driver: 'fake-hardware' }));
      const request = { purpose: 'p', retry: true, patient: false, context: createRequestContext() };
      const lease = await okValue(registry.lock(node.id, request));
      const forged = { ...lease, id: `${lease.id}-forged` };

      const wrongRelease = await errorOf(registry.unlock(forged), LeaseNotFound);
      assert.equal(wrongRelease.details.leaseId, forged.id);
      assert.equal(wrongRelease.status, 404);
      await errorOf(
        registry.update(forged, (draft) => void (draft.last_error = 'forged')),
        LeaseNotFound,
      );
      await errorOf(registry.destroy(forged), LeaseNotFound);
      assert.equal((await okValue(store.getNode(node.id))).reservation, HOST, 'the real lease still holds');
      assert.equal(registry.latestSnapshot(node.id)?.last_error, null, 'the forged update wrote nothing');

      await okValue(registry.unlock(lease));
      await errorOf(registry.unlock(lease), LeaseNotFound); // stale: already released
      const next = await okValue(registry.lock(node.id, request));
      await errorOf(registry.unlock(lease), LeaseNotFound); // stale lease while another holds
      await errorOf(
        registry.update(lease, (draft) => void (draft.last_error = 'stale')),
        LeaseNotFound,
      );
      assert.equal((await okValue(store.getNode(node.id))).reservation, HOST, 'the new holder keeps the lock');
      await okValue(registry.unlock(next));
      assert.equal((await okValue(store.getNode(node.id))).reservation, null);
      registry.close();
    } finally {
      await runtime.shutdown();
      await okValue(store.close());
    }
  });
});

describe('node lock: conductor stop', () => {
  it('an acquire in flight when the conductor stops settles (never hangs), whatever the interleaving', async () => {
    // The stop is started after 0, 1, 2, ... microtask turns of the acquire, so it lands before,
    // at and after the moment the request is told to the (idle) node actor.
    const hung: number[] = [];
    for (let turns = 0; turns <= 8; turns++) {
      await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
        const node = await createNode();
        await okValue((await okValue(conductor.acquire(ctx, node.id))).release()); // load the actor
        const inFlight = conductor.acquire(ctx, node.id, { purpose: 'racing the stop' });
        for (let i = 0; i < turns; i++) await Promise.resolve();
        const stopping = conductor.stop();
        const settled = await within(inFlight, 400);
        await stopping;
        if (settled === 'pending') hung.push(turns);
        else if (settled.isOk()) {
          // Granted before the stop: its release now finds the node actor stopped (stop cleared the reservation).
          const released = await settled.value.release();
          assert.ok(
            released.isOk() || released.error instanceof ActorStopped,
            `release after stop: ${released.isErr() ? released.error.message : 'ok'}`,
          );
        }
      });
      if (hung.length > 0) break; // one is enough (each costs the 400 ms wait)
    }
    assert.deepEqual(hung, [], 'acquires still pending 400 ms after a stop, by microtask turns before the stop');
  });

  it('exclusive waiters queued when the conductor stops fail with ConductorStopping', async () => {
    await withConductor(SLOW, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      const waiter = conductor.acquire(ctx, node.id, { purpose: 'patient waiter', patient: true });
      await until(() => waitersOf(conductor, node.id) === 1, 'the waiter queued');
      await okValue(conductor.stop());
      const settled = await within(waiter, 1500);
      assert.notEqual(settled, 'pending', 'the waiter settled when the conductor stopped');
      assert.ok(settled !== 'pending' && settled.isErr() && settled.error instanceof ConductorStopping);
      assert.notEqual(await within(holder.release(), 1500), 'pending', 'a release after the stop settles');
      await errorOf(conductor.acquire(ctx, node.id), ConductorStopping);
    });
  });
});
