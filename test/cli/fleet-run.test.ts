/**
 * The fleet run, in-process through runCli: a small fleet end to end, recorded failures and
 * --retry-failed, resuming on the same file, and the worker pool's NoFreeConductorWorker back-off.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { FAST, FINAL_STATES, fleet, storedNodes, withTempDir } from './helpers.js';

test('a 50-node in-memory run reaches active or a recorded failure for every node, with the figures', async () => {
  const { summary, run } = await fleet(['--nodes', '50', '--memory', '--no-progress', '--seed', '7']);
  assert.equal(summary.nodes, 50);
  assert.equal(summary.enrolled, 50);
  assert.equal(
    Object.values(summary.states).reduce((a, b) => a + b, 0),
    50,
    'state counts add up to the fleet',
  );
  for (const state of Object.keys(summary.states)) assert.ok(FINAL_STATES.has(state), `unexpected final state ${state}`);
  assert.equal(summary.active + summary.failed, 50);
  assert.equal(summary.unfinished, 0);
  assert.equal(summary.reserved, 0);
  assert.ok(summary.active > 0, 'with the default 2 % failure rate most nodes get through');
  // verifying, manageable, cleaning, clean wait, cleaning, available, deploying, wait call-back, deploying, active
  assert.ok(summary.transitions >= summary.active * 10, `transitions ${summary.transitions}`);
  assert.ok(summary.transitionsPerSec > 0);
  assert.ok(summary.lockWaitMs.count > 0, 'the API clients took exclusive locks');
  for (const key of ['p50', 'p99', 'max'] as const) assert.equal(typeof summary.lockWaitMs[key], 'number');
  assert.ok(summary.lockWaitMs.p50! <= summary.lockWaitMs.p99! && summary.lockWaitMs.p99! <= summary.lockWaitMs.max!);
  assert.ok(summary.apiClients.sharedReads > 0, 'the power-state sync read nodes');
  assert.equal(summary.apiClients.errors, 0);
  assert.equal(summary.workers.uncaught, 0);
  assert.ok(summary.workers.steps >= summary.active * 5, 'five background steps per active node');
  assert.equal(typeof summary.elapsedMs, 'number');
  // --json with --no-progress: the plain progress lines go to stderr, never to stdout.
  assert.match(run.stderr, /deploy .*100%/);
});

test('a step failing every time is recorded in last_error and the failed state; --retry-failed brings the nodes to active', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const first = await fleet(['--nodes', '12', '--db', db, ...FAST, '--failure-rate', '0', '--fail-op', 'deploy.deploy=1']);
    assert.deepEqual(first.summary.states, { 'deploy failed': 12 });
    assert.equal(first.summary.failures.deploy, 12);
    assert.equal(first.summary.workers.stepFailures, 12);
    for (const node of await storedNodes(db)) {
      assert.equal(node.provision_state, 'deploy failed');
      assert.equal(node.target_provision_state, 'active');
      assert.match(
        node.last_error ?? '',
        new RegExp(`^Node ${node.uuid} failed deploy step deploy\\.deploy: fake deploy\\.deploy failed \\(injected\\)$`),
      );
      assert.equal(node.reservation, null);
    }

    // Without --retry-failed, failed nodes stay as they are.
    const again = await fleet(['--db', db, '--nodes', '12', ...FAST, '--failure-rate', '0']);
    assert.deepEqual(again.summary.states, { 'deploy failed': 12 });
    assert.equal(again.summary.transitions, 0);

    const retried = await fleet(['--db', db, '--nodes', '12', ...FAST, '--failure-rate', '0', '--retry-failed']);
    assert.deepEqual(retried.summary.states, { active: 12 });
    assert.equal(retried.summary.retried, 12);
    for (const node of await storedNodes(db)) {
      assert.equal(node.provision_state, 'active');
      assert.equal(node.last_error, null, 'a successful deploy clears last_error');
      assert.equal(node.power_state, 'power on');
    }
  });
});

test('--failure-rate 1 fails verification back to enroll with last_error; --retry-failed manages the nodes again', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const failed = await fleet(['--nodes', '8', '--db', db, ...FAST, '--failure-rate', '1', '--clients', '0']);
    assert.deepEqual(failed.summary.states, { enroll: 8 });
    assert.equal(failed.summary.failed, 8);
    assert.equal(failed.summary.failures.manage, 8);
    for (const node of await storedNodes(db)) {
      assert.match(
        node.last_error ?? '',
        /^Failed to validate power driver interface for node .*fake power\.validate failed \(injected\)$/,
      );
    }
    const retried = await fleet(['--nodes', '8', '--db', db, ...FAST, '--failure-rate', '0', '--retry-failed', '--clients', '0']);
    assert.deepEqual(retried.summary.states, { active: 8 });
    assert.equal(retried.summary.enrolled, 0, 'no re-enrollment');
  });
});

test('failed cleaning lands in clean failed with last_error; --retry-failed goes manage → manageable → provide → … → active', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const prepare = await fleet([
      '--nodes',
      '4',
      '--db',
      db,
      ...FAST,
      '--failure-rate',
      '0',
      '--fail-op',
      'deploy.prepareCleaning=1',
      '--clients',
      '0',
    ]);
    assert.deepEqual(prepare.summary.states, { 'clean failed': 4 });
    for (const node of await storedNodes(db)) {
      assert.equal(node.target_provision_state, 'available');
      assert.match(node.last_error ?? '', /^Failed to prepare node \S+ for cleaning: fake deploy\.prepareCleaning failed \(injected\)$/);
    }
    // The retry's cleaning fails again, at its first clean step this time; no retries left after one.
    const step = await fleet([
      '--nodes',
      '4',
      '--db',
      db,
      ...FAST,
      '--failure-rate',
      '0',
      '--fail-op',
      'deploy.executeCleanStep=1',
      '--retry-failed',
      '--max-retries',
      '1',
      '--clients',
      '0',
    ]);
    assert.deepEqual(step.summary.states, { 'clean failed': 4 });
    assert.equal(step.summary.retried, 4);
    // manage (clean failed → manageable), provide, wait, resume, fail: 5 transitions a node
    assert.equal(step.summary.transitions, 4 * 5);
    for (const node of await storedNodes(db)) {
      assert.match(
        node.last_error ?? '',
        /^Node \S+ failed step deploy\.erase_devices_metadata: fake deploy\.executeCleanStep failed \(injected\)$/,
      );
    }
    const retried = await fleet(['--nodes', '4', '--db', db, ...FAST, '--failure-rate', '0', '--retry-failed', '--clients', '0']);
    assert.deepEqual(retried.summary.states, { active: 4 });
    // manage, then the 9 transitions from manageable to active
    assert.equal(retried.summary.transitions, 4 * 9);
  });
});

test('re-running on the same file leaves active nodes untouched and enrolls only up to --nodes in total', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const first = await fleet(['--nodes', '20', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.deepEqual(first.summary.states, { active: 20 });
    const before = new Map((await storedNodes(db)).map((n) => [n.uuid, n.provision_updated_at]));

    const rerun = await fleet(['--nodes', '20', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(rerun.summary.nodes, 20);
    assert.equal(rerun.summary.enrolled, 0);
    assert.equal(rerun.summary.transitions, 0, 'no transition on an already active fleet');
    assert.equal(rerun.summary.workers.steps, 0);
    const after = await storedNodes(db);
    assert.equal(after.length, 20);
    for (const node of after) assert.equal(node.provision_updated_at, before.get(node.uuid), `node ${node.name} was not touched`);

    const grown = await fleet(['--nodes', '25', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(grown.summary.enrolled, 5);
    assert.deepEqual(grown.summary.states, { active: 25 });
    assert.equal(grown.summary.transitions, 5 * 10, 'only the five new nodes moved (10 transitions each)');
    const names = (await storedNodes(db)).map((n) => n.name).sort();
    assert.equal(new Set(names).size, 25);
    assert.equal(names.at(-1), 'node-00025');
  });
});

test('a worker pool smaller than the nodes in flight: NoFreeConductorWorker is rolled back, backed off and retried', async () => {
  const { summary } = await fleet([
    '--nodes',
    '24',
    '--memory',
    ...FAST,
    '--failure-rate',
    '0',
    '--workers',
    '3',
    '--concurrency',
    '24',
    '--clients',
    '0',
  ]);
  assert.deepEqual(summary.states, { active: 24 });
  assert.equal(summary.workers.poolCapacity, 3);
  assert.ok(summary.workers.noFreeWorkerRetries > 0, 'the pool refused spawns');
  assert.equal(summary.workers.stepFailures, 0, 'a refused spawn is not a failure of the node');
});

test('a node in a state the path has no way out of is an internal error: summary printed, exit 1', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    await fleet(['--nodes', '3', '--db', db, ...FAST, '--failure-rate', '0']);
    const opened = await openSqlJsStore({ path: db });
    if (opened.isErr()) throw opened.error;
    const node = await opened.value.getNode('node-00002');
    assert.ok(node.isOk());
    assert.ok(
      (await opened.value.updateNode(node.value.id, { provision_state: 'clean hold', target_provision_state: 'available' })).isOk(),
    );
    assert.ok((await opened.value.close()).isOk());

    const { summary, run } = await fleet(['--nodes', '3', '--db', db, ...FAST, '--failure-rate', '0'], 1);
    assert.deepEqual(summary.states, { active: 2, 'clean hold': 1 });
    assert.equal(summary.unfinished, 1);
    assert.equal(summary.driver.internalErrors, 1);
    assert.match(
      run.stderr,
      /^metal-conductor: 1 node could not be driven \(first: node \S+ is in "clean hold", which this run has no path from; see the log\)$/m,
    );
  });
});
