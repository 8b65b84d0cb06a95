/**
 * A fleet run killed mid-way (SIGKILL of the `metal-conductor` process, so nothing is cleaned up)
 * and run again on the same file: the conductor's start-up recovery fails what was stuck, the run
 * carries on and completes, and no node is left in a transitional state or reserved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FAST, fleet, storedNodes, withTempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The command as installed: the built bin (`npm test` builds first).
const BIN = join(ROOT, 'dist', 'actors', 'cli', 'main.js');
assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build`);
const TRANSITIONAL = /ing$/; // verifying, cleaning, deploying, ...

/** Start the CLI in a child process and SIGKILL it once the manage phase is a quarter done. */
async function runAndKill(db: string, nodes: number): Promise<{ signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(
    process.execPath,
    [BIN, '--nodes', String(nodes), '--db', db, '--no-progress', '--min-step-ms', '20', '--max-step-ms', '50', '--failure-rate', '0'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (/manage\s+\d+\/\d+ \(\d+%\)/.test(stdout)) child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const signal = await exited;
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `the run ended before it could be killed:\n${stdout}\n${stderr}`);
  return { signal, stdout };
}

test('a run killed mid-way is recovered on the next run: it completes, nothing left in an *ing state, nothing reserved', async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, 'fleet.sqlite');
    const nodes = 400;
    await runAndKill(db, nodes);

    const left = await storedNodes(db);
    assert.ok(left.length > 0 && left.length <= nodes);
    assert.ok(
      left.some((n) => n.provision_state !== 'active'),
      'the kill came mid-way',
    );
    const stuck = left.filter((n) => TRANSITIONAL.test(n.provision_state)).length;
    assert.ok(stuck > 0, 'some nodes were in the middle of a background step');
    const waiting = left.filter((n) => n.provision_state === 'clean wait' || n.provision_state === 'wait call-back');

    // Rerun on the same file (failed nodes are not retried without --retry-failed).
    const rerun = await fleet(['--nodes', String(nodes), '--db', db, ...FAST, '--failure-rate', '0']);
    assert.equal(rerun.summary.nodes, nodes);
    assert.equal(rerun.summary.unfinished, 0);
    assert.equal(rerun.summary.reserved, 0);
    assert.notEqual(rerun.summary.recovery, null);
    assert.equal(rerun.summary.recovery!.stuckNodesFailed, stuck, 'start-up recovery failed exactly the stuck nodes');

    const after = await storedNodes(db);
    assert.equal(after.length, nodes, 'no node enrolled twice');
    assert.equal(new Set(after.map((n) => n.name)).size, nodes);
    for (const node of after) {
      assert.doesNotMatch(node.provision_state, TRANSITIONAL, `node ${node.name} left in ${node.provision_state}`);
      assert.equal(node.reservation, null, `node ${node.name} still reserved`);
      if (node.provision_state !== 'active') {
        assert.match(node.last_error ?? '', /state can't be resumed by conductor .*\. Moving to fail state\.$/, `node ${node.name}`);
      }
    }
    const byUuid = new Map(after.map((n) => [n.uuid, n]));
    assert.equal(after.filter((n) => n.provision_state !== 'active').length, stuck, 'only the stuck nodes failed');
    // Nodes waiting for the agent got their callback and went on.
    for (const node of waiting)
      assert.equal(byUuid.get(node.uuid)?.provision_state, 'active', `node ${node.name} (was ${node.provision_state})`);

    // --retry-failed brings the nodes the recovery failed to active.
    const retried = await fleet(['--nodes', String(nodes), '--db', db, ...FAST, '--failure-rate', '0', '--retry-failed']);
    assert.deepEqual(retried.summary.states, { active: nodes });
  });
});
