/**
 * Issue 10: a half-open conductor. The lock holder H is SIGSTOPped (its session lock stays held,
 * its heartbeat stops); past heartbeatTimeout the survivor's liveness check terminates H's
 * session, H is dead, its node is taken over and the survivor takes the lock and writes. Then H
 * gets SIGCONT: its worker goes on writing, but every write is fenced out (LockLost, nothing
 * written) and the worker is cancelled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { orThrow } from '../../src/task/scope.js';
import { eventually, reap, sleep, startChild, startServer, type Child, type ChildMessage } from './fixtures/harness.js';

const FAST_BEATS = { heartbeatInterval: 200, heartbeatTimeout: 1_500 };

let server: PgServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

describe('SIGSTOP of the lock holder, then SIGCONT', () => {
  it('the resumed holder writes nothing after the takeover: LockLost, and its worker is cancelled', async () => {
    const survivor = await orThrow(
      Conductor.open({ host: 'survivor', store: { postgres: { url: server.url } }, logger: silentLogger(), ...FAST_BEATS }),
    );
    let holder: Child | undefined;
    const ctx = createRequestContext();
    try {
      const node = await orThrow(survivor.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
      holder = startChild({ mode: 'holder', url: server.url, host: 'holder', node: node.id, options: FAST_BEATS });
      const ready = await holder.waitFor('ready');
      const held = await orThrow(survivor.snapshot(node.id));
      assert.equal(held.reservation, 'holder');
      assert.equal(held.reservation_token, ready.token, 'the worker sees its own reservation token');
      assert.deepEqual(held.extra, { h_pre: true }, 'a write under a live reservation lands');

      holder.process.kill('SIGSTOP');
      const stoppedAt = Date.now();
      await eventually(
        async () => (await orThrow(survivor.snapshot(node.id))).reservation === null,
        'the takeover of the stopped holder',
        15_000,
      );
      const tookMs = Date.now() - stoppedAt;
      console.log(`# takeover of the SIGSTOPped holder: ${tookMs} ms`);
      assert.deepEqual(survivor.status().takeover?.deadHosts, ['holder']);

      // The survivor takes the node and writes it; it keeps the lock while the holder resumes.
      const task = await orThrow(survivor.acquire(ctx, node.id, { retry: false, purpose: 'survivor' }));
      assert.ok((task.node.reservation_token ?? 0) > (ready.token as number), 'a takeover grant has a greater token');
      const mine = await orThrow(task.updateNode((d) => void (d.extra = { ...d.extra, survivor: true })));

      holder.process.kill('SIGCONT');
      const done = await holder.waitFor('done', 20_000);
      await sleep(300);
      const writes = holder.messages.filter((m) => m.type === 'write');
      const row = await orThrow(survivor.snapshot(node.id));
      const detail = `holder said ${JSON.stringify(holder.messages)}; row ${JSON.stringify(row)}`;

      // Nothing of the holder's landed after the takeover.
      assert.deepEqual(row.extra, { h_pre: true, survivor: true }, detail);
      assert.equal(row.version, mine.version, `no write after the survivor's: ${detail}`);
      assert.deepEqual([row.reservation, row.reservation_token], ['survivor', task.node.reservation_token], detail);
      assert.equal(writes.length, 5, detail);
      assert.ok(
        writes.every((w) => w.ok === false),
        `every write after SIGCONT failed: ${detail}`,
      );
      const code = (w: ChildMessage): unknown => (w.error as { code?: string } | undefined)?.code;
      assert.equal(code(writes[0]!), 'LockLost', `the first write is fenced out: ${detail}`);
      assert.ok(
        writes.every((w) => ['LockLost', 'LeaseNotFound', 'TaskReleased'].includes(code(w) as string)),
        `each later write is refused as LockLost, or finds the cancelled task released: ${detail}`,
      );
      // The worker was cancelled.
      assert.equal(done.ok, false, detail);
      assert.equal((done.error as { code?: string }).code, 'Aborted', detail);
      assert.equal(done.cancelled, 1, detail);

      await orThrow(task.release());
      assert.equal(await holder.exited, 0);
    } finally {
      await reap(holder);
      await orThrow(survivor.stop());
    }
  });
});
