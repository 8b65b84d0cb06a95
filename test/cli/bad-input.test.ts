/**
 * Bad input: one line `metal-conductor: <what is wrong>` on stderr, nothing on stdout, exit 2, and
 * nothing written (no database, journal or lock file created; a corrupt file byte-identical).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { cli, FAST, snapshotDir, withTempDir, type CliRun } from './helpers.js';

function assertUsageError(run: CliRun, pattern: RegExp): void {
  assert.equal(run.code, 2, `exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0]!, /^metal-conductor: /);
  assert.match(lines[0]!, pattern);
}

const OPTION_CASES: readonly [string, readonly string[], RegExp][] = [
  ['unknown option', ['--bogus'], /unknown option '--bogus'/],
  ['unknown status option', ['status', '--nodes', '3'], /unknown option '--nodes'/],
  ['excess argument', ['deploy-everything'], /too many arguments/],
  ['non-numeric --nodes', ['--nodes', 'abc'], /--nodes must be an integer, got "abc"/],
  ['fractional --nodes', ['--nodes', '2.5'], /--nodes must be an integer/],
  ['negative --nodes', ['--nodes', '-5'], /--nodes must be at least 1, got -5/],
  ['zero --nodes', ['--nodes', '0'], /--nodes must be at least 1/],
  ['missing --nodes value', ['--nodes'], /argument missing/],
  ['negative --concurrency', ['--concurrency', '-1'], /--concurrency must be at least 1/],
  ['negative --clients', ['--clients', '-2'], /--clients must not be negative/],
  ['negative --min-step-ms', ['--min-step-ms', '-1'], /--min-step-ms must not be negative/],
  ['min above max step', ['--min-step-ms', '50', '--max-step-ms', '10'], /--min-step-ms \(50\) must not exceed --max-step-ms \(10\)/],
  ['failure rate above 1', ['--failure-rate', '1.5'], /--failure-rate must be between 0 and 1, got 1.5/],
  ['negative failure rate', ['--failure-rate', '-0.1'], /--failure-rate must be between 0 and 1/],
  ['non-numeric failure rate', ['--failure-rate', 'often'], /--failure-rate must be a number between 0 and 1, got "often"/],
  ['unknown --fail-op operation', ['--fail-op', 'deploy.explode=1'], /unknown driver operation "deploy.explode"/],
  ['--fail-op rate out of range', ['--fail-op', 'deploy.deploy=2'], /--fail-op deploy.deploy must be between 0 and 1/],
  ['--workers below the minimum', ['--workers', '2'], /--workers must be at least 3/],
  ['unknown --log-level', ['--log-level', 'loud'], /--log-level must be one of/],
  ['--db and --memory together', ['--db', 'x.sqlite', '--memory'], /cannot be used with/],
  ['unknown --state', ['status', '--state', 'flying'], /--state "flying" is not a provision state/],
  ['unknown --log-format', ['--log-format', 'xml'], /--log-format must be one of json, pretty, got "xml"/],
  ['unknown status --log-format', ['status', '--log-format', 'yaml'], /--log-format must be one of json, pretty, got "yaml"/],
  ['--status-port out of range', ['--status-port', '70000'], /--status-port must be at most 65535, got 70000/],
  ['non-numeric --watch', ['status', '--watch', 'often'], /--watch must be a number of seconds/],
];

for (const [name, args, pattern] of OPTION_CASES) {
  test(`bad input: ${name} → exit 2, one line, nothing written`, async () => {
    await withTempDir(async (dir) => {
      // Any database would be created in `dir`: it must stay empty.
      const withDb = args[0] === 'status' || args.includes('--memory') ? [...args] : ['--db', join(dir, 'fleet.sqlite'), ...args];
      const run = await cli(withDb);
      assertUsageError(run, pattern);
      assert.deepEqual([...(await snapshotDir(dir)).keys()], []);
    });
  });
}

test('bad input: a corrupt database file is reported in one line and left byte-identical', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    await writeFile(db, Buffer.from('this is not a database, but it is precious\n'.repeat(200)));
    const before = await snapshotDir(dir);
    for (const args of [
      ['--db', db, ...FAST],
      ['status', '--db', db],
    ]) {
      const run = await cli(args);
      assertUsageError(run, /Database file .*fleet\.sqlite is unreadable or corrupt/);
      assert.deepEqual(await snapshotDir(dir), before, 'nothing written: no journal, no lock left, the file unchanged');
    }
  });
});

test('bad input: a database path that is a directory, or in a missing directory', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'sub'));
    assertUsageError(await cli(['--db', join(dir, 'sub'), ...FAST]), /is not a regular file/);
    assertUsageError(
      await cli(['--db', join(dir, 'missing', 'x.sqlite'), ...FAST]),
      /cannot create database file .*directory .*missing does not exist/,
    );
    assertUsageError(await cli(['status', '--db', join(dir, 'none.sqlite')]), /no database file at .*none\.sqlite/);
    assert.deepEqual([...(await snapshotDir(dir)).keys()], ['sub']);
  });
});

test('a database in use by another store: the run is refused in one line; status reads it read-only and names the holder', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const opened = await openSqlJsStore({ path: db });
    if (opened.isErr()) throw opened.error;
    const store = opened.value;
    try {
      const before = await snapshotDir(dir);
      assertUsageError(await cli(['--db', db, ...FAST]), new RegExp(`Database file .*fleet\\.sqlite is in use by process ${process.pid}`));
      const status = await cli(['status', '--db', db]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /0 of 0 nodes listed/);
      assert.match(status.stdout, /\nno live status: holders as last written to the file · store: \S+ \(read-only\)\n/);
      assert.match(
        status.stdout,
        new RegExp(`note: process ${process.pid} holds the file and serves no status endpoint: holders and pool are as last written`),
      );
      assert.deepEqual(await snapshotDir(dir), before);
    } finally {
      assert.ok((await store.close()).isOk());
    }
  });
});

test('--help prints the usage on stdout and exits 0; --version too', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, '');
  for (const flag of [
    '--nodes',
    '--db',
    '--memory',
    '--min-step-ms',
    '--max-step-ms',
    '--failure-rate',
    '--seed',
    '--retry-failed',
    '--concurrency',
    '--clients',
    '--no-progress',
    '--json',
    '--log-level',
  ]) {
    assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
  }
  assert.match(help.stdout, /status \[options\]/);
  const statusHelp = await cli(['status', '--help']);
  assert.equal(statusHelp.code, 0);
  assert.match(statusHelp.stdout, /--state <state>/);
  const version = await cli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});
