/**
 * A reservation taken from under a live holder (its conductor was presumed dead): every later write
 * of the holder stays fenced out (LockLost, nothing written), also once the conductor has heard of
 * the change, and the next local waiter is not handed the lost lock: it reserves afresh.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { LockLost } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { openPostgresStore } from '../../src/store/pg-store.js';
import { orThrow } from '../../src/task/scope.js';
import { eventually, sleep, sql, startServer } from './fixtures/harness.js';

let server: PgServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

describe('a lock lost under a live holder', () => {
  it('stays fenced after the holder heard of it, and the next local waiter reserves afresh', async () => {
    const a = await orThrow(
      Conductor.open({ host: 'lost-a', store: { postgres: { url: server.url } }, logger: silentLogger(), periodicChecks: false }),
    );
    const other = await orThrow(openPostgresStore({ url: server.url }));
    const ctx = createRequestContext({});
    try {
      const node = await orThrow(a.enroll({ driver: 'fake-hardware' }));
      const first = await orThrow(a.acquire(ctx, node.id, { purpose: 'first' }));
      const second = a.acquire(ctx, node.id, { purpose: 'second' });
      // Another conductor takes the node over (as a takeover of a presumed-dead conductor would).
      await orThrow(other.release('lost-a', node.id));
      const taken = await orThrow(other.reserve('lost-b', node.id, { purpose: 'takeover' }));
      // A hears of it (its cached copy shows the new holder) ...
      await eventually(async () => (await a.snapshot(node.id))._unsafeUnwrap().reservation === 'lost-b', 'A hears of the takeover');
      // ... and the holder's writes are still refused by the store, not sent unconditioned.
      const write = await first.updateNode((draft) => void (draft.extra = { stale: true }));
      assert.ok(
        write.isErr() && write.error instanceof LockLost,
        `a write after the loss is LockLost, got ${write.isOk() ? 'Ok' : write.error.code}`,
      );
      const row = await orThrow(other.getNode(node.id));
      assert.deepEqual(row.extra, {}, 'nothing of the old holder was written');
      assert.equal(row.reservation_token, taken.reservation_token);
      // The old holder releases: the next local waiter must not be handed the lost lock.
      // Its release clears nothing of B's (the reservation is not ours): whatever it answers.
      void (await first.release());
      await sleep(300);
      let granted = false;
      void second.then(() => (granted = true));
      await sleep(50);
      assert.equal(granted, false, 'the next waiter waits for the new holder');
      const releasedAt = Date.now();
      await orThrow(other.release('lost-b', node.id, taken.reservation_token!));
      const next = await orThrow(second);
      assert.ok(Date.now() >= releasedAt);
      assert.equal(next.node.reservation, 'lost-a');
      assert.ok(next.node.reservation_token! > taken.reservation_token!, 'granted under a new reservation');
      const wrote = await next.updateNode((draft) => void (draft.extra = { second: true }));
      assert.ok(wrote.isOk(), 'the new holder writes');
      await orThrow(next.release());
    } finally {
      await orThrow(a.stop());
      await orThrow(other.close());
    }
  });
});

describe('a reservation of ours that nobody here holds', () => {
  it('is cleared by the periodic orphan check; one held by a task here is not', async () => {
    const a = await orThrow(
      Conductor.open({
        host: 'stray-a',
        store: { postgres: { url: server.url } },
        logger: silentLogger(),
        checkProvisionStateInterval: 200,
      }),
    );
    const other = await orThrow(openPostgresStore({ url: server.url }));
    const ctx = createRequestContext({});
    try {
      const stray = await orThrow(a.enroll({ driver: 'fake-hardware' }));
      const held = await orThrow(a.enroll({ driver: 'fake-hardware' }));
      const task = await orThrow(a.acquire(ctx, held.id, { purpose: 'kept' }));
      // A reservation under A's host that A never heard of: a reserve whose answer was lost (a
      // timeout that still committed) and whose announcement was lost too. Written in plain SQL,
      // so nothing announces it (an announced one is adopted and cleared at once).
      await sql(
        server.url,
        "UPDATE nodes SET reservation = 'stray-a', reservation_token = nextval('reservation_token_seq'), version = version + 1 WHERE id = $1",
        [stray.id],
      );
      await eventually(async () => (await orThrow(other.getNode(stray.id))).reservation === null, 'the stray reservation is cleared');
      await sleep(500);
      assert.equal((await orThrow(other.getNode(held.id))).reservation, 'stray-a', 'the node held by a task here keeps its reservation');
      await orThrow(task.release());
    } finally {
      await orThrow(a.stop());
      await orThrow(other.close());
    }
  });
});
