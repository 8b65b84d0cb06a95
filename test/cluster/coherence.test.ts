/**
 * Coherent snapshots across conductors (issue 10): a conductor's cached node follows what another
 * conductor commits — a data change (re-read), a change of the reservation alone (patched from the
 * announcement) and a deletion (dropped) — without waiting for the cache to idle out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { NodeNotFound } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { orThrow } from '../../src/task/scope.js';
import { eventually, startServer } from './fixtures/harness.js';

let server: PgServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

async function open(host: string): Promise<Conductor> {
  // A long idle timeout: the cache must follow commits, not expire.
  return orThrow(
    Conductor.open({
      host,
      store: { postgres: { url: server.url } },
      logger: silentLogger(),
      periodicChecks: false,
      nodeIdleTimeout: 600_000,
    }),
  );
}

describe('coherent snapshots across conductors', () => {
  it("a cached node follows another conductor's update, reservation and deletion", async () => {
    const a = await open('coherence-a');
    const b = await open('coherence-b');
    const ctx = createRequestContext({});
    try {
      const node = await orThrow(a.enroll({ driver: 'fake-hardware', name: 'coherent' }));
      // A caches the node, idle (no actor).
      assert.equal((await orThrow(a.snapshot(node.id))).version, node.version);
      // Data change by B: A re-reads.
      await orThrow(b.withTask(ctx, node.id, { purpose: 'edit' }, (task) => task.updateNode((draft) => void (draft.extra = { by: 'b' }))));
      await eventually(async () => (await a.snapshot(node.id))._unsafeUnwrap().extra.by === 'b', "A sees B's update");
      // A lock held by B: A's cached copy shows it (patched from the announcement).
      const task = await orThrow(b.acquire(ctx, node.id, { purpose: 'hold' }));
      await eventually(async () => (await a.snapshot(node.id))._unsafeUnwrap().reservation === 'coherence-b', "A sees B's reservation");
      // An exclusive request of A waits for B and is granted on B's release (a wake-up, not the 1 s poll).
      const waiting = a.acquire(ctx, node.id, { purpose: 'after b' });
      await orThrow(task.release());
      const started = Date.now();
      const mine = await orThrow(waiting);
      assert.ok(Date.now() - started < 900, `granted ${Date.now() - started} ms after B's release`);
      assert.equal(mine.node.reservation, 'coherence-a');
      await orThrow(mine.release());
      // B deletes it: A's cached copy goes, without an idle timeout.
      await orThrow(b.withTask(ctx, node.id, { purpose: 'delete' }, (t) => t.destroyNode()));
      await eventually(async () => (await a.snapshot(node.id)).isErr(), 'A sees the deletion');
      assert.ok((await a.snapshot(node.id))._unsafeUnwrapErr() instanceof NodeNotFound);
    } finally {
      await orThrow(a.stop());
      await orThrow(b.stop());
    }
  });
});
