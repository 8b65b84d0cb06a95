/**
 * Defects an independent review found in the first version of the arbiter's interpreter (each
 * reproduced against it, none in the node actor before the rewrite), one test each:
 *  - a `retry: false` caller waited out the retry timer armed for a head that had left;
 *  - a retry message that fired just before the timer was re-armed left a timer nobody could cancel;
 *  - after a relabel, the published `reserved_at` disagreed with the store;
 *  - a store answer arriving after the actor stopped armed a timer on the dead actor;
 *  - (older) `upgradeLock` on a shared task after stop threw instead of returning an Err.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResultAsync } from 'neverthrow';
import { NodeRegistry } from '../../actors/node-registry.js';
import { ActorRuntime } from '../../actors/runtime.js';
import { systemClock, type Clock, type TimerHandle } from '../../src/clock.js';
import { resolveConfig } from '../../src/config.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import type { Store } from '../../src/store/store.js';
import { openFixture, sleep, until, within, withConductor } from '../conductor/fixture.js';
import { SpyStore, type StoreFault } from '../helpers/spy-store.js';
import { okValue } from '../helpers/task-harness.js';

/** A spy fault: `inner.reserve` (or release) answered `ms` later, then `after` runs. */
function delayed(inner: Store, method: 'reserve' | 'release', ms: number, after?: () => Promise<void>): StoreFault {
  const call = inner[method].bind(inner) as (...args: unknown[]) => ResultAsync<unknown, unknown>;
  return (...args: unknown[]) =>
    new ResultAsync(
      (async () => {
        await sleep(ms);
        const result = await call(...args);
        await after?.();
        return result;
      })(),
    );
}

describe('lock interpreter: defects found in review', () => {
  it('retry:false is answered at once after the head waiting on an outside holder aborted (not after its retry interval)', async () => {
    await withConductor(
      { nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 5000 },
      async ({ conductor, ctx, createNode, inner, spy }) => {
        const node = await createNode();
        await okValue(inner.reserve('other-host', node.id, { purpose: 'elsewhere', at: new Date() }));
        const abort = new AbortController();
        const first = conductor.acquire(ctx, node.id, { purpose: 'first', signal: abort.signal });
        await until(() => spy.count('reserve') === 1, 'the first reserve was refused');
        abort.abort();
        assert.ok((await first).isErr());
        await okValue(inner.release('other-host', node.id));
        const startedAt = Date.now();
        const second = await within(conductor.acquire(ctx, node.id, { purpose: 'second', retry: false }), 4000);
        assert.notEqual(second, 'pending', 'answered before the old head’s 5 s retry timer');
        assert.ok(second !== 'pending' && second.isOk(), 'and granted: the outside holder is gone');
        assert.ok(Date.now() - startedAt < 1000);
        await okValue(second.value.release());
      },
    );
  });

  it('a retry message that fired just before its timer was re-armed is stale: no timer is left behind', async () => {
    const inner = await okValue(openSqlJsStore({ logger: silentLogger() }));
    const spy = new SpyStore(inner);
    const live = new Set<TimerHandle>();
    const clock: Clock = {
      now: () => Date.now(),
      setTimeout(fn, ms) {
        const handle = systemClock.setTimeout(() => {
          live.delete(handle);
          fn();
        }, ms);
        live.add(handle);
        return handle;
      },
      clearTimeout(handle) {
        live.delete(handle);
        systemClock.clearTimeout(handle);
      },
    };
    const config = resolveConfig({
      host: 'me',
      nodeLockedRetryAttempts: 50,
      nodeLockedRetryInterval: 40,
      nodeIdleTimeout: 0,
    })._unsafeUnwrap();
    const runtime = new ActorRuntime('review', silentLogger());
    const parent = runtime.spawn(null, 'nodes', { initialState: () => 0, handle: (state: number) => state });
    const registry = new NodeRegistry({ runtime, parent, store: spy.store, config, logger: silentLogger(), clock });
    const node = await okValue(inner.createNode({ driver: 'fake-hardware' }, []));
    await okValue(inner.reserve('dead', node.id, { purpose: 'left', at: new Date() }));
    const abort = new AbortController();
    const context = createRequestContext();
    const waiting = registry.lock(node.id, { purpose: 'a', retry: true, patient: false, context, signal: abort.signal });
    await sleep(5); // refused once: a 40 ms retry timer is armed
    // The orphan release takes 80 ms: the timer fires meanwhile and its message waits in the
    // mailbox; right after, another host takes the node, so the head is refused and re-armed.
    spy.inject(
      'release',
      delayed(inner, 'release', 80, async () => {
        await okValue(inner.reserve('intruder', node.id, { purpose: 'y', at: new Date() }));
      }),
    );
    assert.ok((await registry.releaseOrphan(node.id, 'dead')).isOk());
    await sleep(5);
    abort.abort();
    assert.ok((await waiting).isErr());
    await sleep(5);
    assert.equal(live.size, 0, 'nobody waits: no retry or deadline timer is armed');
    await runtime.shutdown();
    await sleep(100);
    assert.equal(runtime.deadLetterCount, 0, 'no timer fired into the stopped actor');
    registry.close();
    await okValue(inner.close());
  });

  it('after a relabel, the published reserved_at equals the store’s (since is when the reservation was written)', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, spy, stored, inner }) => {
      const node = await createNode();
      // The reserve answers 30 ms after it was made: the grant comes later than the reservation's time.
      spy.inject('reserve', delayed(inner, 'reserve', 30));
      const task = await okValue(conductor.acquire(ctx, node.id, { purpose: 'first' }));
      // upgradeLock on an exclusive task with a new purpose relabels the reservation.
      const upgraded = await okValue(task.upgradeLock({ purpose: 'second' }));
      const snapshot = await okValue(conductor.snapshot(node.id));
      const row = await stored(node.id);
      assert.equal(row.reservation_purpose, 'second');
      assert.equal(snapshot.reserved_at, row.reserved_at, 'snapshot and store agree');
      await okValue(upgraded.release());
    });
  });

  it('a store answer arriving after the conductor stopped arms no timer on the stopped node actor', async () => {
    const f = await openFixture({ nodeLockedRetryAttempts: 3, nodeLockedRetryInterval: 300 });
    const node = await f.createNode();
    await okValue(f.inner.reserve('other-host', node.id, { purpose: 'elsewhere', at: new Date() }));
    f.spy.inject('reserve', delayed(f.inner, 'reserve', 100));
    const waiting = f.conductor.acquire(f.ctx, node.id, { purpose: 'a' });
    await until(() => f.spy.count('reserve') === 1, 'the reserve started');
    const stopping = f.conductor.stop();
    assert.ok((await waiting).isErr(), 'the waiter is failed by the stop');
    await stopping;
    const before = f.conductor.status().deadLetters;
    await sleep(500); // the delayed reserve answers (refused), then a retry interval passes
    assert.equal(f.conductor.status().deadLetters, before, 'no retry message reached the stopped actor');
    await okValue(f.inner.close());
  });

  it('upgradeLock on a shared task after the conductor stopped returns an Err (it threw)', async () => {
    const f = await openFixture({});
    const node = await f.createNode();
    const shared = await okValue(f.conductor.acquire(f.ctx, node.id, { shared: true }));
    await f.stop();
    const upgraded = await shared.upgradeLock();
    assert.ok(upgraded.isErr(), 'an Err, not a throw');
  });
});
