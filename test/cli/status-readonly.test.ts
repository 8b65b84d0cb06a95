/**
 * `metal-conductor status --db FILE` on a file no conductor holds reads it read-only: the changes
 * in its journal are shown (replayed in memory, a torn last line ignored), and nothing is written:
 * the file and its journal stay byte-identical with their modification times, no lock file is
 * created. Checked by content, not by permission errors (the tests may run as root).
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StatusReport } from '../../actors/cli/status-command.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { cli, FAST, fleet, snapshotDir, withTempDir } from './helpers.js';

/** A copy of a fleet file and its journal taken while a store had unsaved-to-the-file changes (no lock file comes along). */
async function fileWithJournalChanges(dir: string): Promise<string> {
  const source = join(dir, 'source.sqlite');
  await fleet(['--nodes', '4', '--db', source, ...FAST, '--failure-rate', '0', '--no-status-server']);
  const opened = await openSqlJsStore({ path: source });
  if (opened.isErr()) throw opened.error;
  const store = opened.value;
  try {
    const third = await store.getNode('node-00003');
    assert.ok(third.isOk());
    // A durable change: on disk (with what came before it) once acknowledged.
    assert.ok((await store.updateNode(third.value.id, { provision_state: 'deploying', target_provision_state: 'active' })).isOk());
    const copy = join(dir, 'ro', 'fleet.sqlite');
    await copyFile(source, copy);
    await copyFile(`${source}.journal`, `${copy}.journal`);
    return copy;
  } finally {
    assert.ok((await store.close()).isOk());
  }
}

test('status on a read-only file not in use: journal changes shown, nothing written, mtimes unchanged, no lock file', async () => {
  await withTempDir(async (dir) => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'ro'));
    const db = await fileWithJournalChanges(dir);
    // A torn last write (a crash mid-append): ignored, and not cut off.
    await appendFile(`${db}.journal`, '0badc0de 999 {"seq":');
    const roDir = join(dir, 'ro');
    await chmod(db, 0o444);
    await chmod(`${db}.journal`, 0o444);
    await chmod(roDir, 0o555);
    try {
      const before = await snapshotDir(roDir);
      const times = [(await stat(db)).mtimeMs, (await stat(`${db}.journal`)).mtimeMs, (await stat(roDir)).mtimeMs];

      const table = await cli(['status', '--db', db]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /\nnode-00003\s+deploying\s+active\s+-/);
      assert.match(table.stdout, /\nno live conductor: holders as last written to the file · store: \S+ \(read-only\)\n/);

      const json = await cli(['status', '--db', db, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout) as StatusReport;
      assert.equal(report.source, 'file');
      assert.deepEqual(report.states, { active: 3, deploying: 1 });
      assert.equal(report.nodes.find((n) => n.name === 'node-00003')?.target_provision_state, 'active');

      assert.deepEqual(await snapshotDir(roDir), before, 'the file and journal byte-identical, no lock or temp file');
      assert.deepEqual(
        [(await stat(db)).mtimeMs, (await stat(`${db}.journal`)).mtimeMs, (await stat(roDir)).mtimeMs],
        times,
        'modification times unchanged',
      );
      assert.ok((await readFile(`${db}.journal`, 'utf8')).endsWith('{"seq":'), 'the torn tail was left in place');
    } finally {
      await chmod(roDir, 0o755);
    }
  });
});
