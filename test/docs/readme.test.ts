/**
 * The README's API tour is runnable: this test extracts the marked block, runs it as a user would
 * (importing the package by name), and checks what it prints.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('the README example runs and prints the transitions and the NodeLocked message', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const match = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'README has a marked example block');
  const dir = join(root, '.tmp');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `readme-example-${process.pid}.ts`);
  await writeFile(file, match[1] as string);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 60_000 });
    assert.match(stdout, /baremetal\.node\.provision_set\.start enroll -> verifying/);
    assert.match(stdout, /baremetal\.node\.provision_set\.end verifying -> manageable/);
    assert.match(stdout, /manageable held for long firmware update/);
    assert.match(stdout, /is locked by host .* \(for "long firmware update", held for [0-9.]+ s\)/);
  } finally {
    await rm(file, { force: true });
  }
});
