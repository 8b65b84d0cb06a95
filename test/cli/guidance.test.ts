/**
 * A CLI that guides: a run that finds failed nodes says how many and the command that brings them
 * back; `--nodes N` against a store of another size says what it does; an empty file is a new
 * database; plain progress lines carry each phase's count and percentage.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StatusReport } from '../../actors/cli/status-command.js';
import { cli, countStates, FAST, fleet, storedNodes, withTempDir } from './helpers.js';

test('failed nodes and nothing done: the summary says how many and the exact command that brings them back', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const failing = ['--nodes', '3', '--db', db, ...FAST, '--failure-rate', '0', '--fail-op', 'deploy.deploy=1'];
    const first = await fleet(failing);
    assert.equal(first.summary.failed, 3);
    const command = `metal-conductor --db ${db} --nodes 3 --retry-failed`;
    assert.deepEqual(first.summary.hints, [
      `all 3 nodes are in a failed state; a run only carries failed nodes on with --retry-failed: ${command}`,
    ]);

    // Again: nothing to do, and the table says so.
    const again = await cli(['--nodes', '3', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /transitions\s+0 \(0\/s\)/);
    assert.ok(
      again.stdout.includes(
        `\nnote: nothing to do: all 3 nodes are in a failed state; a run only carries failed nodes on with --retry-failed: ${command}\n`,
      ),
      again.stdout,
    );

    // The command it gives works.
    const argv = command.split(' ').slice(1);
    const retried = await fleet([...argv, ...FAST, '--failure-rate', '0']);
    assert.equal(retried.summary.active, 3);
    assert.deepEqual(retried.summary.hints, []);
  });
});

test('--nodes against a store of another size: more enrolls the missing ones, fewer drives them all; both say so', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    await fleet(['--nodes', '4', '--db', db, ...FAST, '--failure-rate', '0']);

    const fewer = await cli(['--nodes', '2', '--db', db, ...FAST.filter((a) => a !== '--quiet'), '--no-progress', '--failure-rate', '0']);
    assert.equal(fewer.code, 0, fewer.stderr);
    const sizing =
      '--nodes 2: the store already holds 4 nodes; driving all 4 (--nodes only adds nodes; for a fleet of 2, use another --db or --memory)';
    assert.ok(fewer.stdout.includes(`metal-conductor: ${sizing}\n`), 'said at the start');
    assert.ok(fewer.stdout.includes(`note: ${sizing}\n`), 'and in the summary');

    const more = await fleet(['--nodes', '6', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(more.summary.enrolled, 2);
    assert.equal(more.summary.nodes, 6);
    assert.deepEqual(more.summary.hints, ['--nodes 6: the store holds 4 nodes; driving them and enrolling the missing 2']);
    assert.deepEqual(countStates(await storedNodes(db)), { active: 6 });
  });
});

test('an empty (0-byte) --db file is a new database: status lists 0 nodes and leaves it alone; a run fills it', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'empty.sqlite');
    await writeFile(db, '');
    const status = await cli(['status', '--db', db, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as StatusReport;
    assert.equal(report.total, 0);
    assert.equal((await stat(db)).size, 0, 'status wrote nothing');

    const { summary } = await fleet(['--nodes', '3', '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(summary.active, 3);
    assert.ok((await readFile(db)).length > 0);
    assert.deepEqual(countStates(await storedNodes(db)), { active: 3 });
  });
});

test('plain progress lines: each phase with its count and real percentage', async () => {
  const run = await cli([
    '--nodes',
    '3',
    '--memory',
    '--min-step-ms',
    '0',
    '--max-step-ms',
    '2',
    '--failure-rate',
    '0',
    '--no-status-server',
  ]);
  assert.equal(run.code, 0, run.stderr);
  for (const phase of ['enroll', 'manage', 'clean', 'deploy']) {
    const lines = run.stdout.split('\n').filter((l) => new RegExp(`^\\s+\\d+\\.\\d+ s  ${phase}\\s`).test(l));
    assert.deepEqual(
      lines.map((l) => /(\d+\/\d+ \(\d+%\))/.exec(l)?.[1]),
      ['1/3 (33%)', '2/3 (66%)', '3/3 (100%)'],
      `${phase}:\n${run.stdout}`,
    );
  }
});
