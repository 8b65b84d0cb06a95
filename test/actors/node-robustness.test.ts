/**
 * Node actor robustness (regressions found in review): a throwing store call or a bad request never
 * wedges a node's queue; a holder's slow write is never reported failed while it is still queued;
 * shared readers see what the store holds; a node deleted behind our back leaves no actor; an
 * aborted waiter leaves the queue at once; last_error is truncated whoever writes it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResultAsync } from 'neverthrow';
import { openConductor, type Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { Aborted, InvalidParameterValue, NodeNotFound, StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { orThrow } from '../../src/task/scope.js';
import type { AcquireOptions, ExclusiveTask } from '../../src/task/types.js';
import { SpyStore } from '../helpers/spy-store.js';
import { until } from '../conductor/fixture.js';

const ctx = createRequestContext({ user: 'test' });

async function open(options: Parameters<typeof Conductor.open>[0] = {}) {
  const inner = await orThrow(openSqlJsStore());
  const spy = new SpyStore(inner);
  const conductor = await orThrow(
    openConductor(
      { logger: silentLogger(), host: 'robust-host', nodeLockedRetryInterval: 5, periodicChecks: false, ...options },
      { store: spy.store },
    ),
  );
  const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
  return {
    conductor,
    spy,
    node,
    async stop() {
      await orThrow(conductor.stop());
      await orThrow(inner.close());
    },
  };
}

describe('node actor robustness', () => {
  it('a request with a non-string purpose is refused and the node keeps serving', async () => {
    const r = await open();
    try {
      const bad = await r.conductor.acquire(ctx, r.node.id, { purpose: 42 } as unknown as AcquireOptions);
      assert.ok(bad.isErr() && bad.error instanceof InvalidParameterValue);
      const next = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(next.isOk(), 'the next request is granted');
      await orThrow(next.value.release());
    } finally {
      await r.stop();
    }
  });

  it('a store call that throws fails that waiter with StoreError and the node keeps serving', async () => {
    const r = await open();
    try {
      r.spy.inject('reserve', () => {
        throw new Error('driver bug');
      });
      const failed = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(failed.isErr() && failed.error instanceof StoreError);
      const rejecting = () => new ResultAsync(Promise.reject(new Error('connection reset')));
      r.spy.inject('reserve', rejecting);
      const rejected = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(rejected.isErr() && rejected.error instanceof StoreError);
      const next = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(next.isOk());
      await orThrow(next.value.release());
      assert.equal(r.conductor.status().nodes[0]?.waiters, 0);
    } finally {
      await r.stop();
    }
  });

  it('a holder write slower than askTimeout is waited for, not reported failed while it commits later', async () => {
    const r = await open({ askTimeout: 20 });
    try {
      const slow = (...args: unknown[]) =>
        new ResultAsync(
          new Promise((resolve) => setTimeout(resolve, 80)).then(() => r.spy.inner.updateNode(...(args as [number, object]))),
        );
      r.spy.inject('updateNode', slow);
      let workerRan = false;
      const result = await r.conductor.withTask(ctx, r.node.id, {}, (task) =>
        task.processEvent('deploy', { callback: async () => void (workerRan = true) }),
      );
      assert.ok(result.isOk(), 'the save succeeded and is reported as such');
      await r.conductor.onIdle();
      assert.ok(workerRan, 'the spawn scheduled with the transition ran');
      const row = await orThrow(r.spy.inner.getNode(r.node.id));
      assert.deepEqual([row.provision_state, row.target_provision_state, row.reservation], ['deploying', 'active', null]);
    } finally {
      await r.stop();
    }
  });

  it('shared readers see what the store holds (values JSON cannot keep are not published)', async () => {
    const r = await open();
    try {
      await orThrow(
        r.conductor.withTask(ctx, r.node.id, {}, (task) =>
          task.updateNode((d) => {
            d.extra = { ratio: Number.NaN, when: new Date(0) as unknown as string, gone: undefined as unknown as string };
          }),
        ),
      );
      const snapshot = await orThrow(r.conductor.snapshot(r.node.id));
      const stored = await orThrow(r.spy.inner.getNode(r.node.id));
      assert.deepEqual(snapshot.extra, stored.extra);
      assert.deepEqual(snapshot.extra, { ratio: null, when: '1970-01-01T00:00:00.000Z' });
      assert.ok(Object.isFrozen(snapshot.extra));
    } finally {
      await r.stop();
    }
  });

  it('a node deleted behind the actor is forgotten and its actor stopped', async () => {
    const r = await open();
    try {
      await orThrow(r.conductor.snapshot(r.node.id)); // load the actor
      await orThrow(r.spy.inner.destroyNode(r.node.id));
      const attempt = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(attempt.isErr() && attempt.error instanceof NodeNotFound);
      assert.equal(r.conductor.status().actors.loaded, 0);
      assert.deepEqual(r.conductor.status().nodes, []);
    } finally {
      await r.stop();
    }
  });

  it('an aborted waiter leaves the queue at once, before the holder releases', async () => {
    const r = await open();
    try {
      const holder = await orThrow(r.conductor.acquire(ctx, r.node.id, { purpose: 'long hold' }));
      const controllers = Array.from({ length: 20 }, () => new AbortController());
      const waits = controllers.map((c) => r.conductor.acquire(ctx, r.node.id, { patient: true, signal: c.signal }));
      await until(() => r.conductor.status().nodes[0]?.waiters === 20, 'the 20 requests queued');
      for (const c of controllers) c.abort(new Error('gave up'));
      for (const w of waits) {
        const settled = await w;
        assert.ok(settled.isErr() && settled.error instanceof Aborted);
      }
      // The holder still holds: the queue empties because the waiters left, not because it drained.
      await until(() => r.conductor.status().nodes[0]?.waiters === 0, 'no aborted waiter left behind the holder');
      assert.equal(holder.released, false);
      await orThrow(holder.release());
    } finally {
      await r.stop();
    }
  });

  it('last_error and maintenance_reason are truncated to logInDbMaxSize whoever writes them', async () => {
    const r = await open({ logInDbMaxSize: 16 });
    try {
      const written = await orThrow(
        r.conductor.withTask(ctx, r.node.id, {}, (task) =>
          orThrow(
            task.updateNode((d) => {
              d.last_error = 'x'.repeat(100);
              d.maintenance_reason = 'y'.repeat(100);
            }),
          ),
        ),
      );
      assert.equal(written.last_error, 'x'.repeat(16));
      const stored = await orThrow(r.spy.inner.getNode(r.node.id));
      assert.deepEqual([stored.last_error, stored.maintenance_reason], ['x'.repeat(16), 'y'.repeat(16)]);
    } finally {
      await r.stop();
    }
  });

  it('an async updateNode recipe is a clear TypeError for the caller', async () => {
    const r = await open();
    try {
      await assert.rejects(
        orThrow(
          r.conductor.withTask(ctx, r.node.id, {}, async (task: ExclusiveTask) => {
            // The misuse under test: an async recipe (the types forbid it; untyped callers can do it).
            const asyncRecipe = (async (d: { extra: object }) => void (d.extra = {})) as unknown as (d: { extra: object }) => void;
            return task.updateNode(asyncRecipe);
          }),
        ),
        (error: unknown) => error instanceof TypeError && /synchronous/.test(error.message),
      );
      const next = await r.conductor.acquire(ctx, r.node.id, { retry: false });
      assert.ok(next.isOk(), 'released after the throwing body, and still serving');
      await orThrow(next.value.release());
    } finally {
      await r.stop();
    }
  });

  it('a write that resets an interface shows the new default, not the one resolved at acquire', async () => {
    const r = await open();
    try {
      await orThrow(r.conductor.withTask(ctx, r.node.id, {}, (task) => task.updateNode((d) => void (d.raid_interface = 'no-raid'))));
      const seen = await orThrow(
        r.conductor.withTask(ctx, r.node.id, {}, async (task) => {
          const before = task.node.raid_interface;
          await orThrow(task.updateNode((d) => void (d.raid_interface = null)));
          return [before, task.node.raid_interface];
        }),
      );
      const fresh = await orThrow(r.conductor.withTask(ctx, r.node.id, { shared: true }, (task) => task.node.raid_interface));
      assert.deepEqual(seen, ['no-raid', fresh]);
      assert.equal(fresh, 'fake', "fake-hardware's default");
      assert.equal((await orThrow(r.spy.inner.getNode(r.node.id))).raid_interface, null, 'defaults are never saved');
    } finally {
      await r.stop();
    }
  });

  it('an idle node is only its snapshot: its actor is activated by the first exclusive request', async () => {
    const r = await open();
    try {
      await orThrow(r.conductor.snapshot(r.node.id));
      const shared = await orThrow(r.conductor.acquire(ctx, r.node.id, { shared: true }));
      await orThrow(shared.release());
      assert.equal(r.conductor.status().actors.loaded, 1);
      assert.equal(r.conductor.status().actors.spawned, 0, 'reads activate no actor');
      const task = await orThrow(r.conductor.acquire(ctx, r.node.id, {}));
      assert.equal(r.conductor.status().actors.spawned, 1);
      await orThrow(task.release());
    } finally {
      await r.stop();
    }
  });
});
