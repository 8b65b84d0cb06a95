/**
 * `metal-conductor status --db FILE` on a file a live conductor holds: the conductor's status
 * endpoint (advertised in the lock file) is asked, so the holder, purpose, held-for and waiters of
 * a node locked right now, and that conductor's worker pool, are shown; `--watch` refreshes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Conductor } from '../../actors/conductor.js';
import { runCli } from '../../actors/cli/program.js';
import type { StatusReport } from '../../actors/cli/status-command.js';
import { createRequestContext } from '../../src/context.js';
import { silentLogger } from '../../src/logging.js';
import { okValue } from '../helpers/task-harness.js';
import { cli, withTempDir } from './helpers.js';

/** A conductor on `db` with a status server, a pool of 7, and nodes alpha (held exclusively, one waiter), beta, gamma. */
async function withLiveConductor(
  db: string,
  body: (conductor: Conductor, ids: { alpha: number; beta: number }) => Promise<void>,
): Promise<void> {
  const conductor = await okValue(
    Conductor.open({ logger: silentLogger(), host: 'live-host', store: { path: db }, statusServer: { port: 0 }, workersPoolSize: 7 }),
  );
  try {
    const alpha = await okValue(conductor.enroll({ driver: 'fake-hardware', name: 'alpha' }));
    const beta = await okValue(conductor.enroll({ driver: 'fake-hardware', name: 'beta' }));
    await okValue(conductor.enroll({ driver: 'fake-hardware', name: 'gamma' }));
    const held = await okValue(conductor.acquire(createRequestContext({}), alpha.id, { purpose: 'firmware update' }));
    // A second task waits for alpha's lock.
    const waiting = conductor.acquire(createRequestContext({}), alpha.id, { purpose: 'node update', patient: true });
    while (conductor.status().nodes.find((n) => n.id === alpha.id)?.waiters !== 1) await new Promise((r) => setTimeout(r, 5));
    try {
      await body(conductor, { alpha: alpha.id, beta: beta.id });
    } finally {
      assert.ok((await held.release()).isOk());
      const second = await waiting;
      assert.ok(second.isOk());
      assert.ok((await second.value.release()).isOk());
    }
  } finally {
    await okValue(conductor.stop());
  }
}

test('status on a live run: the live holder, purpose, held-for, waiters and the live pool', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'live.sqlite');
    await withLiveConductor(db, async (conductor) => {
      const url = conductor.statusServerUrl!;
      const table = await cli(['status', '--db', db]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^node\s+provision state\s+target\s+holder\s+purpose\s+held for\s+waiters\s+last_error\n/);
      assert.match(table.stdout, /\nalpha\s+enroll\s+-\s+live-host\s+firmware update\s+\d+\.\d s\s+1\s+-\n/);
      assert.match(table.stdout, /\nbeta\s+enroll\s+-\s+-\s+-\s+-\s+-\s+-\n/);
      assert.ok(table.stdout.includes(`\nlive: conductor pid ${process.pid} at ${url}\n`), table.stdout);
      // The live conductor's pool (7 workers), not one that status opened (300).
      assert.match(table.stdout, /\npool: 0\/7 workers in use \(\d+ reserved, 0 reserved in use, 0 refused\) · dead letters: 0 · store: /);

      const json = await cli(['status', '--db', db, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout) as StatusReport;
      assert.equal(report.source, 'live');
      assert.deepEqual(report.live, { pid: process.pid, url });
      assert.equal(report.pool?.capacity, 7);
      assert.equal(report.deadLetters, 0);
      assert.equal(report.total, 3);
      const alpha = report.nodes.find((n) => n.name === 'alpha')!;
      assert.equal(alpha.holder, 'live-host');
      assert.equal(alpha.purpose, 'firmware update');
      assert.equal(alpha.waiters, 1);
      assert.ok(typeof alpha.held_for_ms === 'number' && alpha.held_for_ms >= 0);
      const beta = report.nodes.find((n) => n.name === 'beta')!;
      assert.equal(beta.holder, null);

      const filtered = JSON.parse((await cli(['status', '--db', db, '--json', '--state', 'active'])).stdout) as StatusReport;
      assert.equal(filtered.listed, 0);
      assert.equal(filtered.total, 3);
    });
  });
});

test('status --watch --json: one report line per refresh until interrupted, exit 0', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'live.sqlite');
    await withLiveConductor(db, async () => {
      const stop = new AbortController();
      let stdout = '';
      const code = await runCli(['status', '--db', db, '--json', '--watch', '0.1'], {
        stdout: {
          write: (chunk: string) => {
            stdout += chunk;
            if (stdout.split('\n').length > 3) stop.abort();
          },
          isTTY: true,
        },
        stderr: { write: () => true },
        isTTY: true,
        signal: stop.signal,
      });
      assert.equal(code, 0);
      const lines = stdout.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 3);
      for (const line of lines) assert.equal((JSON.parse(line) as StatusReport).nodes.find((n) => n.name === 'alpha')?.waiters, 1);
      assert.ok(!stdout.includes('\x1b['), 'JSON lines are not redrawn in place');
    });
  });
});

test('status --watch on a terminal redraws in place', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'live.sqlite');
    await withLiveConductor(db, async () => {
      const stop = new AbortController();
      const writes: string[] = [];
      const code = await runCli(['status', '--db', db, '--watch', '0.1'], {
        stdout: {
          write: (chunk: string) => {
            writes.push(chunk);
            if (writes.length === 2) stop.abort();
          },
          isTTY: true,
        },
        stderr: { write: () => true },
        isTTY: true,
        signal: stop.signal,
      });
      assert.equal(code, 0);
      assert.equal(writes.length, 2);
      for (const text of writes) {
        assert.ok(text.startsWith('\x1b[H\x1b[2J'), 'cursor home, clear screen');
        assert.match(text, /\nalpha\s+enroll\s+-\s+live-host\s+firmware update/);
      }
    });
  });
});
