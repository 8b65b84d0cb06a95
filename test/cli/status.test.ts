/**
 * `metal-conductor status` on a file not in use: lists the nodes of a database file with provision
 * state, target, holder, purpose, held-for and last_error, filters by state, says there is no
 * live conductor (no pool or dead-letter figures: status opens none), and changes no node.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StatusReport } from '../../actors/cli/status-command.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { cli, FAST, fleet, storedNodes, withTempDir } from './helpers.js';

/** 6 active nodes, 4 in deploy failed; node-00002 reserved by another host; node-00003 stuck in deploying. */
async function buildFleet(db: string): Promise<void> {
  await fleet(['--nodes', '6', '--db', db, ...FAST, '--failure-rate', '0']);
  await fleet(['--nodes', '10', '--db', db, ...FAST, '--failure-rate', '0', '--fail-op', 'deploy.deploy=1']);
  const opened = await openSqlJsStore({ path: db });
  if (opened.isErr()) throw opened.error;
  const store = opened.value;
  const reserved = await store.reserve('other-host', 'node-00002', { purpose: 'firmware update' });
  assert.ok(reserved.isOk());
  const stuck = await store.getNode('node-00003');
  assert.ok(stuck.isOk());
  assert.ok((await store.updateNode(stuck.value.id, { provision_state: 'deploying', target_provision_state: 'active' })).isOk());
  assert.ok((await store.close()).isOk());
}

test('status lists every node with state, target, holder, purpose, held-for and last_error, and says no conductor is live', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    await buildFleet(db);
    const run = await cli(['status', '--db', db]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.match(lines[0]!, /^node\s+provision state\s+target\s+holder\s+purpose\s+held for\s+last_error$/);
    for (let i = 1; i <= 10; i++) assert.ok(run.stdout.includes(`node-${String(i).padStart(5, '0')}`), `node ${i} listed`);
    assert.match(run.stdout, /node-00002\s+active\s+-\s+other-host\s+firmware update\s+\d+\.\d s\s+-/);
    assert.match(run.stdout, /node-00003\s+deploying\s+active\s+-/);
    assert.match(
      run.stdout,
      /node-00007\s+deploy failed\s+active\s+-\s+-\s+-\s+Node \S+ failed deploy step deploy\.deploy: fake deploy\.deploy failed \(injected\)/,
    );
    assert.match(run.stdout, /10 of 10 nodes listed · all nodes: active 5, deploy failed 4, deploying 1/);
    assert.match(run.stdout, /\nno live conductor: holders as last written to the file · store: \S+fleet\.sqlite \(read-only\)\n/);
    assert.doesNotMatch(run.stdout, /pool:/, 'no pool figures of a conductor that status itself opened');

    // Listing changed no node: no start-up recovery (the stuck node is still deploying).
    const after = await storedNodes(db);
    assert.equal(after.find((n) => n.name === 'node-00003')?.provision_state, 'deploying');
    assert.equal(after.find((n) => n.name === 'node-00002')?.reservation, 'other-host', "another host's reservation is left alone");
  });
});

test('status filters by state (repeatable or comma-separated) and prints JSON', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    await buildFleet(db);

    const active = await cli(['status', '--db', db, '--state', 'active']);
    assert.equal(active.code, 0, active.stderr);
    const rows = active.stdout.split('\n').filter((l) => l.startsWith('node-'));
    assert.equal(rows.length, 5);
    for (const row of rows) assert.match(row, /^node-\d+\s+active\s/);
    assert.match(active.stdout, /5 of 10 nodes listed \(state "active"\)/);

    const json = await cli(['status', '--db', db, '--state', 'deploy failed,deploying', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as StatusReport;
    assert.equal(report.listed, 5);
    assert.equal(report.total, 10);
    assert.deepEqual(report.states, { active: 5, 'deploy failed': 4, deploying: 1 });
    assert.deepEqual(new Set(report.nodes.map((n) => n.provision_state)), new Set(['deploy failed', 'deploying']));
    for (const node of report.nodes.filter((n) => n.provision_state === 'deploy failed')) {
      assert.match(node.last_error ?? '', /deploy\.deploy failed \(injected\)/);
      assert.equal(node.target_provision_state, 'active');
      assert.equal(node.holder, null);
      assert.equal(node.held_for_ms, null);
    }
    assert.equal(report.source, 'file');
    assert.equal(report.live, null);
    assert.equal(report.pool, null);
    assert.equal(report.deadLetters, null);

    const none = await cli(['status', '--db', db, '--state', 'clean failed', '--json']);
    assert.equal((JSON.parse(none.stdout) as StatusReport).listed, 0);

    const reserved = JSON.parse((await cli(['status', '--db', db, '--json'])).stdout) as StatusReport;
    const held = reserved.nodes.find((n) => n.name === 'node-00002')!;
    assert.equal(held.holder, 'other-host');
    assert.equal(held.purpose, 'firmware update');
    assert.ok(typeof held.held_for_ms === 'number' && held.held_for_ms >= 0);
  });
});
