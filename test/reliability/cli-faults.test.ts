/**
 * Issue 8, defect 8: the CLI on a full disk. Run as installed (the built bin) under a file-size
 * limit (`ulimit -f`), which makes writes past it fail with EFBIG after a short write: what a
 * full disk does to a process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { environmentCode } from '../../actors/cli/environment.js';
import { StoreError } from '../../src/errors.js';
import { storedNodes, withTempDir } from '../cli/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'dist', 'actors', 'cli', 'main.js');
assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build`);

/** Run the CLI with a file-size limit of `blocks` (512 B under dash, 1 KiB under bash). */
async function runLimited(
  blocks: number | null,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const limit = blocks === null ? 'unlimited' : String(blocks);
  const child = spawn('/bin/sh', ['-c', `ulimit -f ${limit} && exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

const QUICK = ['--min-step-ms', '0', '--max-step-ms', '1', '--quiet', '--log-level', 'silent', '--failure-rate', '0'];

describe('defect 8: the CLI on a full disk says so in one line, with exit code 3', () => {
  for (const [when, nodes] of [
    ['while enrolling', 400],
    ['while driving the nodes', 60],
  ] as const) {
    it(`${when}: one line naming the cause, no stack, exit 3; the next run, with space, resumes and completes`, async () => {
      await withTempDir(async (dir) => {
        const db = join(dir, 'fleet.sqlite');
        const full = await runLimited(256, ['--nodes', String(nodes), '--db', db, ...QUICK]);
        assert.equal(full.code, 3, full.stderr);
        const lines = full.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `one line on stderr, got:\n${full.stderr}`);
        assert.match(
          lines[0]!,
          /^metal-conductor: .*\(EFBIG\) writing the database .*fleet\.sqlite; fix it and run again .*: every change reported done is on disk$/,
        );
        assert.doesNotMatch(full.stderr, /internal error|\n\s+at /);

        // Nodes caught mid-step are failed by start-up recovery (as Ironic); --retry-failed carries them on.
        const again = await runLimited(null, ['--nodes', String(nodes), '--db', db, '--retry-failed', ...QUICK]);
        assert.equal(again.code, 0, again.stderr);
        const stored = await storedNodes(db);
        assert.equal(stored.length, nodes);
        assert.ok(
          stored.every((n) => n.provision_state === 'active' && n.reservation === null),
          'every node reached active',
        );
      });
    });
  }

  it('classifies environment failures through causes and messages, and nothing else', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    assert.equal(environmentCode(new StoreError('journal write', enospc)), 'ENOSPC');
    assert.equal(environmentCode(new StoreError('createNode', 'the store is reloading after a failed write (EROFS: read-only)')), 'EROFS');
    assert.equal(environmentCode(new Error('wrapper', { cause: { code: 'EACCES' } })), 'EACCES');
    assert.equal(environmentCode(new StoreError('createNode', new Error('UNIQUE constraint failed'))), null);
    assert.equal(environmentCode(new Error('node 3 is in "enroll", which this run has no path from')), null);
    assert.equal(environmentCode(new StoreError('createNode', new Error('port EIO-1 on node EPERM exists'))), null, 'a word, not an error');
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    assert.equal(environmentCode(loop), null);
  });
});
