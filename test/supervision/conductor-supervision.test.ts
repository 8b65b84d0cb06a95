/**
 * The conductor's supervision as wired (issue 3): start-up recovery on open, the wait-timeout checks
 * running as supervised periodic components on an injectable clock, a crashing component that
 * escalates while the conductor keeps serving, and a graceful stop after which nothing is
 * reserved and the process exits by itself.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Conductor, openConductor } from '../../actors/conductor.js';
import { storeOf } from '../helpers/internals.js';
import { ManualClock } from '../../src/clock.js';
import { METRIC_PREFIX } from '../../src/metrics/conductor-metrics.js';
import { parseExposition, valueOf } from '../observability/prometheus-text.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { orThrow } from '../../src/task/scope.js';
import { SpyStore } from '../helpers/spy-store.js';

const ctx = createRequestContext({ user: 'test' });
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Wait (real time, bounded) until `check` holds. */
async function until(check: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('conductor supervision', () => {
  it('open() runs start-up recovery: this host only, case-insensitively, with Ironic texts', async () => {
    const store = await orThrow(openSqlJsStore());
    try {
      const stale = await orThrow(
        store.createNode({ driver: 'fake-hardware', provision_state: 'available', target_power_state: 'power on' }),
      );
      await orThrow(store.reserve('Conductor-1.EXAMPLE', stale.id, { purpose: 'before the crash' }));
      const other = await orThrow(store.createNode({ driver: 'fake-hardware', provision_state: 'available' }));
      await orThrow(store.reserve('someone-else', other.id, { purpose: 'theirs' }));
      const stuck = await orThrow(
        store.createNode({ driver: 'fake-hardware', provision_state: 'cleaning', target_provision_state: 'available' }),
      );

      const conductor = await orThrow(
        openConductor({ logger: silentLogger(), host: 'conductor-1.example', periodicChecks: false }, { store }),
      );
      try {
        const s1 = await orThrow(store.getNode(stale.id));
        assert.deepEqual(
          [s1.reservation, s1.target_power_state, s1.last_error],
          [null, null, 'Pending power operation was aborted due to conductor restart'],
        );
        assert.equal((await orThrow(store.getNode(other.id))).reservation, 'someone-else', 'another host keeps its lock');
        const s3 = await orThrow(store.getNode(stuck.id));
        assert.deepEqual(
          [s3.provision_state, s3.target_provision_state, s3.last_error, s3.reservation],
          [
            'clean failed',
            'available',
            "The cleaning state can't be resumed by conductor conductor-1.example. Moving to fail state.",
            null,
          ],
        );
        assert.ok(conductor.status().recovery !== null);
      } finally {
        await orThrow(conductor.stop());
      }
    } finally {
      await orThrow(store.close());
    }
  });

  it('a timed-out wait call-back is failed by the supervised periodic check when the clock moves', async () => {
    const clock = new ManualClock(Date.now());
    const conductor = await orThrow(
      Conductor.open({
        logger: silentLogger(),
        host: 'periodic-host',
        checkProvisionStateInterval: 60_000,
        deployCallbackTimeout: 1_800_000,
        clock,
      }),
    );
    try {
      const late = await orThrow(
        conductor.enroll({ driver: 'fake-hardware', provision_state: 'wait call-back', target_provision_state: 'active' }),
      );
      const fresh = await orThrow(
        conductor.enroll({ driver: 'fake-hardware', provision_state: 'wait call-back', target_provision_state: 'active' }),
      );
      await orThrow(storeOf(conductor).updateNode(late.id, { provision_updated_at: new Date(clock.now() - 1_900_000).toISOString() }));
      assert.equal(conductor.status().components.find((c) => c.name === 'check-deploy-timeouts')?.state, 'running');

      await clock.advance(59_000);
      assert.equal((await orThrow(storeOf(conductor).getNode(late.id))).provision_state, 'wait call-back', 'not before the interval');
      await clock.advance(1_000);
      await until(async () => (await orThrow(storeOf(conductor).getNode(late.id))).provision_state === 'deploy failed', 'the deploy check');
      await conductor.onIdle();
      const row = await orThrow(storeOf(conductor).getNode(late.id));
      assert.deepEqual(
        [row.provision_state, row.target_provision_state, row.last_error, row.reservation],
        ['deploy failed', 'active', `Timeout reached while waiting for callback for node ${late.uuid}`, null],
      );
      assert.equal((await orThrow(storeOf(conductor).getNode(fresh.id))).provision_state, 'wait call-back');
    } finally {
      await orThrow(conductor.stop());
    }
  });

  it('a component that keeps crashing escalates and is marked failed; the conductor keeps serving', async () => {
    const clock = new ManualClock(Date.now());
    const inner = await orThrow(openSqlJsStore());
    const spy = new SpyStore(inner);
    // Every listing answers something that is not a Result (a store bug: a throw or a rejection
    // would be turned into a StoreError by the store guard): the check's tick crashes.
    spy.inject('listNodes', () => Promise.resolve(undefined) as never, Number.POSITIVE_INFINITY);
    const conductor = await orThrow(
      openConductor(
        {
          logger: silentLogger(),
          host: 'crash-host',
          checkProvisionStateInterval: 1_000,
          checkRescueStateInterval: 1_000,
          cleanCallbackTimeout: 0,
          inspectWaitTimeout: 0,
          rescueCallbackTimeout: 0,
          serviceCallbackTimeout: 0,
          startupRecovery: false,
          restartPolicy: { minBackoffMs: 100, maxBackoffMs: 400, randomFactor: 0, maxRestarts: 2, withinMs: 60_000 },
          clock,
        },
        { store: spy.store },
      ),
    );
    try {
      const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
      for (let i = 0; i < 12; i++) await clock.advance(500);
      const component = conductor.status().components.find((c) => c.name === 'check-deploy-timeouts');
      assert.ok(component);
      assert.equal(component.state, 'failed');
      assert.equal(component.escalated, true);
      assert.equal(component.restarts, 2);
      // And so do the metrics: each crash was a run that ended in an error (the first and the two after its restarts).
      const scraped = parseExposition(await conductor.metricsRegistry.metrics());
      const metric = (suffix: string): string => `${METRIC_PREFIX}${suffix}`;
      assert.equal(valueOf(scraped, metric('component_restarts_total'), { component: 'check-deploy-timeouts' }), 2);
      assert.equal(valueOf(scraped, metric('component_escalations_total'), { component: 'check-deploy-timeouts' }), 1);
      assert.equal(valueOf(scraped, metric('component_escalations_total'), { component: 'conductor-heartbeat' }), 0);
      assert.equal(valueOf(scraped, metric('periodic_runs_total'), { check: 'check-deploy-timeouts', outcome: 'error' }), 3);
      // The rest of the conductor still serves.
      const served = await conductor.withTask(ctx, node.id, {}, (task) => task.processEvent('manage'));
      assert.ok(served.isOk());
      assert.equal((await orThrow(conductor.snapshot(node.id))).provision_state, 'manageable');
    } finally {
      await orThrow(conductor.stop());
      await orThrow(inner.close());
    }
  });

  it('graceful stop: workers finish or are cancelled, nothing stays reserved, the process exits by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-stop-'));
    try {
      const script = join(root, 'test/fixtures/graceful-stop.ts');
      const file = join(dir, 'conductor.sqlite');
      const started = Date.now();
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, file], { cwd: root, timeout: 30_000 });
      const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      assert.deepEqual(report, { finished: 'yes', cancelledWorkHonoured: true, runningAfterStop: 0, components: ['stopped'] });
      assert.ok(Date.now() - started < 30_000);
      // The file, reopened by another process, has no reservation left.
      const store = await orThrow(openSqlJsStore({ path: file }));
      try {
        assert.deepEqual(await orThrow(store.listNodes({ reserved: true })), []);
      } finally {
        await orThrow(store.close());
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
