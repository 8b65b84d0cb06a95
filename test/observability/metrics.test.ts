/**
 * The conductor's Prometheus metrics, read as a scraper reads them: GET /metrics over HTTP, the
 * text exposition parsed, and every figure checked against what the test did (acquires by mode
 * and outcome, lock waits and holds, transitions by event and state, workers, notifications,
 * store commits and checkpoints). Labels stay bounded: no node id, uuid or name.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry, type OpenMetricsContentType } from 'prom-client';
import { Conductor, openConductor } from '../../actors/conductor.js';
import { ManualClock } from '../../src/clock.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { storeOf } from '../helpers/internals.js';
import { SpyStore } from '../helpers/spy-store.js';
import { createRequestContext } from '../../src/context.js';
import { Aborted, InvalidParameterValue, NodeLocked, StoreError } from '../../src/errors.js';
import { errAsync } from 'neverthrow';
import { silentLogger } from '../../src/logging.js';
import { DURATION_BUCKETS, METRIC_PREFIX } from '../../src/metrics/conductor-metrics.js';
import { FastCounter, FastHistogram } from '../../src/metrics/fast-metrics.js';
import { errOf, okValue } from '../helpers/task-harness.js';
import { http, withTempDir } from './helpers.js';
import { parseExposition, valueOf, type Exposition } from './prometheus-text.js';

const ctx = createRequestContext({});

async function scrape(conductor: Conductor): Promise<Exposition> {
  const answer = await http(`${conductor.statusServerUrl!}/metrics`);
  assert.equal(answer.status, 200);
  assert.equal(answer.contentType, conductor.metricsRegistry.contentType);
  return parseExposition(answer.body);
}

const m = (suffix: string): string => `${METRIC_PREFIX}${suffix}`;
// Restarts and escalations of a crashing component: test/supervision/conductor-supervision.test.ts.

describe('metrics', () => {
  it('counts what the conductor did, as a scraper reads it over HTTP', async () => {
    const conductor = await okValue(
      Conductor.open({
        logger: silentLogger(),
        statusServer: {},
        periodicChecks: false,
        nodeLockedRetryAttempts: 3,
        nodeLockedRetryInterval: 5,
        workersPoolSize: 7,
      }),
    );
    try {
      const delivered: string[] = [];
      conductor.subscribe((n) => void delivered.push(n.eventType));
      let throwing = 0;
      conductor.subscribe(() => {
        throwing += 1;
        throw new Error('subscriber bug');
      });
      const enroll = (name: string) => okValue(conductor.enroll({ driver: 'fake-hardware', name, provision_state: 'available' }));
      const [a, b, c] = [await enroll('a'), await enroll('b'), await enroll('c')];
      const expected = { exclusiveGranted: 0, sharedGranted: 0, nodeLocked: 0, timedOut: 0, aborted: 0 };

      // Three exclusive cycles and two shared ones.
      for (let i = 0; i < 3; i++) {
        await okValue(conductor.withTask(ctx, a.id, { purpose: 'cycle' }, () => undefined));
        expected.exclusiveGranted += 1;
      }
      for (let i = 0; i < 2; i++) {
        await okValue(conductor.withTask(ctx, a.id, { shared: true }, () => undefined));
        expected.sharedGranted += 1;
      }

      // Contention on b: refused at once, refused once the budget ran out, and given up by the caller.
      const holder = await okValue(conductor.acquire(ctx, b.id, { purpose: 'hold b' }));
      expected.exclusiveGranted += 1;
      await errOf(conductor.acquire(ctx, b.id, { retry: false }), NodeLocked);
      expected.nodeLocked += 1;
      await errOf(conductor.acquire(ctx, b.id, {}), NodeLocked);
      expected.timedOut += 1;
      const controller = new AbortController();
      const waiting = conductor.acquire(ctx, b.id, { patient: true, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('operator gave up')), 10);
      await errOf(waiting, Aborted);
      expected.aborted += 1;
      await okValue(holder.release());

      // Two transitions on c, and a worker that fails.
      await okValue(
        conductor.withTask(ctx, c.id, { purpose: 'deploy' }, async (task) => {
          await okValue(task.processEvent('deploy'));
          await okValue(task.processEvent('done'));
        }),
      );
      expected.exclusiveGranted += 1;
      await okValue(
        conductor.withTask(ctx, a.id, { purpose: 'failing work' }, (task) => {
          task.spawnAfter(() => {
            throw new Error('the BMC is on fire');
          });
        }),
      );
      expected.exclusiveGranted += 1;
      await conductor.onIdle();

      const scraped = await scrape(conductor);
      const acquires = (mode: string, outcome: string) => valueOf(scraped, m('acquires_total'), { mode, outcome });
      assert.equal(acquires('exclusive', 'granted'), expected.exclusiveGranted);
      assert.equal(acquires('shared', 'granted'), expected.sharedGranted);
      assert.equal(acquires('exclusive', 'node_locked'), expected.nodeLocked);
      assert.equal(acquires('exclusive', 'timed_out'), expected.timedOut);
      assert.equal(acquires('exclusive', 'aborted'), expected.aborted);
      assert.equal(acquires('exclusive', 'error'), 0);
      const exclusiveAcquires = expected.exclusiveGranted + expected.nodeLocked + expected.timedOut + expected.aborted;
      assert.equal(valueOf(scraped, m('lock_wait_seconds_count'), { mode: 'exclusive' }), exclusiveAcquires);
      assert.equal(valueOf(scraped, m('lock_wait_seconds_count'), { mode: 'shared' }), 0, 'shared acquires never wait: not timed');
      assert.equal(
        valueOf(scraped, m('lock_wait_seconds_bucket'), { mode: 'exclusive', le: '+Inf' }),
        exclusiveAcquires,
        'the +Inf bucket holds every observation',
      );
      // The timed-out request waited at least its budget (2 retries of 5 ms).
      assert.ok(valueOf(scraped, m('lock_wait_seconds_sum'), { mode: 'exclusive' }) >= 0.01);
      // Every exclusive grant was released by now (the worker's too).
      assert.equal(valueOf(scraped, m('lock_hold_seconds_count'), { mode: 'exclusive' }), expected.exclusiveGranted);

      assert.equal(valueOf(scraped, m('transitions_total'), { event: 'deploy', state: 'deploying' }), 1);
      assert.equal(valueOf(scraped, m('transitions_total'), { event: 'done', state: 'active' }), 1);
      assert.equal(
        scraped.samples.filter((s) => s.name === m('transitions_total')).reduce((sum, s) => sum + s.value, 0),
        2,
        'no other transition',
      );

      assert.equal(valueOf(scraped, m('workers_failed_total')), 1);
      assert.equal(valueOf(scraped, m('workers_timed_out_total')), 0);
      assert.equal(valueOf(scraped, m('workers_capacity')), 7);
      assert.equal(valueOf(scraped, m('workers_in_use')), 0);
      assert.equal(valueOf(scraped, m('workers_refused_total')), 0);

      assert.ok(delivered.length > 0);
      assert.equal(valueOf(scraped, m('notifications_delivered_total')), delivered.length);
      assert.equal(valueOf(scraped, m('notifications_failed_total')), throwing);

      assert.equal(valueOf(scraped, m('node_actors_loaded')), conductor.status().actors.loaded);
      assert.equal(valueOf(scraped, m('node_actors_active')), 0);
      assert.equal(valueOf(scraped, m('lock_waiters_max')), 0);
      assert.equal(valueOf(scraped, m('dead_letters_total')), conductor.status().deadLetters);
      assert.equal(scraped.types.get(m('lock_wait_seconds')), 'histogram');
      assert.equal(scraped.types.get(m('acquires_total')), 'counter');

      // Bounded labels: nothing names a node.
      for (const sample of scraped.samples) {
        assert.ok(sample.name.startsWith(METRIC_PREFIX), `${sample.name}: only the conductor's metrics (no default metrics)`);
        for (const label of Object.keys(sample.labels)) {
          assert.ok(!['node', 'uuid', 'id', 'name', 'node_id'].includes(label), `${sample.name} has a label ${label}`);
        }
      }
    } finally {
      await okValue(conductor.stop());
    }
  });

  it('shows a queue and an active node while a lock is held and waited for', async () => {
    const conductor = await okValue(Conductor.open({ logger: silentLogger(), statusServer: {}, periodicChecks: false }));
    try {
      const node = await okValue(conductor.enroll({ driver: 'fake-hardware', provision_state: 'available' }));
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'hold' }));
      const controller = new AbortController();
      const waiters = [1, 2].map(() => conductor.acquire(ctx, node.id, { patient: true, signal: controller.signal }));
      // Wait until both are queued on the node's actor.
      while (conductor.status().nodes.find((n) => n.id === node.id)?.waiters !== 2) await new Promise((r) => setTimeout(r, 2));
      const scraped = await scrape(conductor);
      assert.equal(valueOf(scraped, m('lock_waiters_max')), 2);
      assert.equal(valueOf(scraped, m('node_actors_active')), 1);
      controller.abort();
      for (const waiter of waiters) await errOf(waiter, Aborted);
      await okValue(holder.release());
    } finally {
      await okValue(conductor.stop());
    }
  });

  it('times the sql.js file store: commits and checkpoints', async () => {
    await withTempDir(async (dir) => {
      const conductor = await okValue(
        Conductor.open({ logger: silentLogger(), store: { path: join(dir, 'db.sqlite') }, statusServer: {}, periodicChecks: false }),
      );
      let stopped = false;
      try {
        for (let i = 0; i < 3; i++) await okValue(conductor.enroll({ driver: 'fake-hardware' }));
        const scraped = await scrape(conductor);
        assert.ok(valueOf(scraped, m('store_commit_seconds_count')) >= 3, 'each synced enroll is a journal write');
        assert.equal(valueOf(scraped, m('store_checkpoint_seconds_count')), 0);
        await okValue(conductor.stop());
        stopped = true;
        // Closing checkpoints; the conductor's own registry keeps its last figures.
        const after = parseExposition(await conductor.metricsRegistry.metrics());
        assert.equal(valueOf(after, m('store_checkpoint_seconds_count')), 1);
      } finally {
        if (!stopped) await okValue(conductor.stop());
      }
    });
  });

  it('registers on a registry given, one conductor at a time', async () => {
    const registry = new Registry();
    const first = await okValue(Conductor.open({ logger: silentLogger(), metrics: { registry } }));
    let firstStopped = false;
    try {
      assert.equal(first.metricsRegistry, registry);
      const node = await okValue(first.enroll({ driver: 'fake-hardware' }));
      await okValue(first.withTask(ctx, node.id, {}, () => undefined));
      const scraped = parseExposition(await registry.metrics());
      assert.equal(valueOf(scraped, m('acquires_total'), { mode: 'exclusive', outcome: 'granted' }), 1);
      const refused = await errOf(Conductor.open({ logger: silentLogger(), metrics: { registry } }), InvalidParameterValue);
      assert.match(refused.message, /metrics\.registry already holds metal_conductor_/);
      await okValue(first.stop());
      firstStopped = true;
      assert.equal(parseExposition(await registry.metrics()).samples.length, 0, 'a stopped conductor leaves the registry');
      const second = await okValue(Conductor.open({ logger: silentLogger(), metrics: { registry } }));
      await okValue(second.stop());
    } finally {
      if (!firstStopped) await okValue(first.stop());
    }
    // An OpenMetrics registry renames counters when it formats them: stop still leaves it empty.
    const open = new Registry<OpenMetricsContentType>();
    open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const om = await okValue(Conductor.open({ logger: silentLogger(), metrics: { registry: open } }));
    assert.match(await open.metrics(), /metal_conductor_acquires_total/);
    await okValue(om.stop());
    assert.equal(open.getMetricsAsArray().length, 0, 'a stopped conductor leaves an OpenMetrics registry too');
    await okValue((await okValue(Conductor.open({ logger: silentLogger(), metrics: { registry: open } }))).stop());
    for (const metrics of [{ registry: {} }, { registy: registry }, 'yes']) {
      await errOf(Conductor.open({ logger: silentLogger(), metrics: metrics as never }), InvalidParameterValue);
    }
  });

  it('exposes its hot-path histograms and counters as prom-client would (cumulative buckets, sum, count)', async () => {
    const registry = new Registry();
    const histogram = new FastHistogram('t_seconds', 'test', ['mode'], DURATION_BUCKETS, registry);
    const series = histogram.series('exclusive');
    for (const seconds of [0.00005, 0.0001, 0.0003, 0.002, 100]) series.observe(seconds);
    const counter = new FastCounter('t_total', 'test', ['outcome'], registry);
    counter.series('granted').inc();
    counter.series('granted').inc(2);
    const scraped = parseExposition(await registry.metrics());
    const bucket = (le: string) => valueOf(scraped, 't_seconds_bucket', { mode: 'exclusive', le });
    assert.equal(bucket('0.0001'), 2, 'le is inclusive');
    assert.equal(bucket('0.00025'), 2);
    assert.equal(bucket('0.0005'), 3);
    assert.equal(bucket('0.0025'), 4);
    assert.equal(bucket('60'), 4);
    assert.equal(bucket('+Inf'), 5);
    assert.equal(valueOf(scraped, 't_seconds_count', { mode: 'exclusive' }), 5);
    assert.ok(Math.abs(valueOf(scraped, 't_seconds_sum', { mode: 'exclusive' }) - 100.00245) < 1e-9);
    assert.equal(valueOf(scraped, 't_total', { outcome: 'granted' }), 3);
    assert.equal(scraped.types.get('t_seconds'), 'histogram');
    assert.equal(scraped.types.get('t_total'), 'counter');
    registry.resetMetrics();
    assert.equal(valueOf(parseExposition(await registry.metrics()), 't_total', { outcome: 'granted' }), 0);
  });

  it('counts periodic check runs and the nodes they failed', async () => {
    const clock = new ManualClock(Date.now());
    const conductor = await okValue(
      Conductor.open({ logger: silentLogger(), checkProvisionStateInterval: 60_000, deployCallbackTimeout: 1_800_000, clock }),
    );
    try {
      const enroll = () =>
        okValue(conductor.enroll({ driver: 'fake-hardware', provision_state: 'wait call-back', target_provision_state: 'active' }));
      const [late, fresh] = [await enroll(), await enroll()];
      await okValue(storeOf(conductor).updateNode(late.id, { provision_updated_at: new Date(clock.now() - 1_900_000).toISOString() }));
      await clock.advance(60_000);
      for (let i = 0; i < 500 && (await okValue(conductor.snapshot(late.id))).provision_state !== 'deploy failed'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await conductor.onIdle();
      assert.equal((await okValue(conductor.snapshot(fresh.id))).provision_state, 'wait call-back');
      const scraped = parseExposition(await conductor.metricsRegistry.metrics());
      assert.equal(valueOf(scraped, m('periodic_runs_total'), { check: 'check-deploy-timeouts', outcome: 'ok' }), 1);
      assert.equal(valueOf(scraped, m('periodic_nodes_total'), { check: 'check-deploy-timeouts' }), 1, 'the late node only');
      assert.equal(valueOf(scraped, m('periodic_runs_total'), { check: 'check-orphan-nodes', outcome: 'ok' }), 1);
      assert.equal(valueOf(scraped, m('periodic_nodes_total'), { check: 'check-orphan-nodes' }), 0);
      assert.equal(valueOf(scraped, m('transitions_total'), { event: 'fail', state: 'deploy failed' }), 1);
    } finally {
      await okValue(conductor.stop());
    }
  });

  it('counts a transition only once it is saved', async () => {
    const spy = new SpyStore(await okValue(openSqlJsStore()));
    const conductor = await okValue(openConductor({ logger: silentLogger(), periodicChecks: false }, { store: spy.store }));
    try {
      const node = await okValue(conductor.enroll({ driver: 'fake-hardware' }));
      spy.inject('updateNode', () => errAsync(new StoreError('updateNode', 'injected')));
      const refused = await conductor.withTask(ctx, node.id, {}, (task) => task.processEvent('manage'));
      assert.ok(refused.isErr(), 'the save failed');
      assert.equal((await okValue(conductor.snapshot(node.id))).provision_state, 'enroll');
      let scraped = parseExposition(await conductor.metricsRegistry.metrics());
      assert.equal(valueOf(scraped, m('transitions_total'), { event: 'manage', state: 'verifying' }), 0, 'not saved: not counted');
      await okValue(conductor.withTask(ctx, node.id, {}, (task) => task.processEvent('manage')));
      scraped = parseExposition(await conductor.metricsRegistry.metrics());
      assert.equal(valueOf(scraped, m('transitions_total'), { event: 'manage', state: 'verifying' }), 1);
    } finally {
      await okValue(conductor.stop());
    }
  });
});
