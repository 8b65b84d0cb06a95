/**
 * Benchmark runs never overwrite each other: each gets its own folder (even two in the same
 * second), with a run.json describing it, and `latest` / `latest-<harness>` point at the newest.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { folderTimestamp, startRun, type RunInfo } from '../../benchmarks/lib/run-dir.js';

describe('benchmark run folders', () => {
  it('a second run in the same second gets a second folder; the first keeps its files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mc-run-dir-'));
    try {
      const now = new Date('2026-12-02T04:10:33.456Z');
      assert.equal(folderTimestamp(now), '2026-12-02T04-10-33Z');
      const first = await startRun({ harness: 'bench', argv: [], quick: false, root, now });
      await first.writeJson('summary', { run: 'first', ratios: [1] });
      await first.finish();
      const second = await startRun({ harness: 'bench', argv: ['--scenario', 'contention'], quick: true, root, now });
      await second.writeJson('summary', { run: 'second', ratios: null });
      await second.finish();

      assert.equal(first.name, '2026-12-02T04-10-33Z-bench');
      assert.notEqual(second.path, first.path);
      const summary = JSON.parse(await readFile(join(first.path, 'summary.json'), 'utf8')) as { run: string };
      assert.equal(summary.run, 'first');
      const info = JSON.parse(await readFile(join(second.path, 'run.json'), 'utf8')) as RunInfo;
      assert.equal(info.harness, 'bench');
      assert.equal(info.quick, true);
      assert.deepEqual(info.argv, ['--scenario', 'contention']);
      assert.deepEqual(info.files, ['summary.json']);
      assert.equal(info.startedAt, now.toISOString());
      assert.ok(info.endedAt !== null);
      assert.equal(info.loadAverage.start.length, 3);
      assert.ok(info.loadAverage.end !== null);
      assert.ok(info.machine.cores > 0);
      assert.ok(info.commit === null || /^[0-9a-f]{40}$/.test(info.commit.sha));

      // Relative links, so that the results folder can be moved or copied whole.
      assert.equal(await readlink(join(root, 'latest')), second.name);
      assert.equal(await readlink(join(root, 'latest-bench')), second.name);
      const ironic = await startRun({ harness: 'ironic', argv: [], quick: true, root, now });
      assert.equal(await readlink(join(root, 'latest')), ironic.name);
      assert.equal(await readlink(join(root, 'latest-bench')), second.name);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
