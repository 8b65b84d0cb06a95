/**
 * Helpers of the CLI tests: run `runCli` in-process with captured streams, temp directories, and
 * reading a database file back through the store.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../actors/cli/program.js';
import type { FleetSummary } from '../../actors/cli/summary.js';
import type { NodeRecord } from '../../src/node.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';

/** What one CLI run printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the CLI in-process (stdout not a terminal). */
export async function cli(args: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    isTTY: false,
  });
  return { code, stdout, stderr };
}

/** Quick fleet options: fast steps, no progress lines. */
export const FAST = ['--min-step-ms', '0', '--max-step-ms', '3', '--quiet'] as const;

/** Run a fleet with --json and return the parsed summary (fails the test unless stdout is one JSON line). */
export async function fleet(args: readonly string[], expectedCode = 0): Promise<{ summary: FleetSummary; run: CliRun }> {
  const run = await cli([...args, '--json']);
  assert.equal(run.code, expectedCode, `exit code ${run.code}; stderr:\n${run.stderr}`);
  const lines = run.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout must be one JSON line, got:\n${run.stdout}`);
  return { summary: JSON.parse(lines[0]!) as FleetSummary, run };
}

/** Run `body` in a fresh temp directory, removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mc-cli-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The nodes of a database file, read through a store of their own (the file must not be in use). */
export async function storedNodes(path: string): Promise<NodeRecord[]> {
  const opened = await openSqlJsStore({ path });
  if (opened.isErr()) throw opened.error;
  const store = opened.value;
  try {
    const nodes = await store.listNodes();
    if (nodes.isErr()) throw nodes.error;
    return nodes.value;
  } finally {
    const closed = await store.close();
    assert.ok(closed.isOk(), 'the store closes cleanly');
  }
}

/** Every entry of a directory with its bytes (sub-directories: empty) to prove nothing was written. */
export async function snapshotDir(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    files.set(entry.name, entry.isFile() ? await readFile(join(dir, entry.name)) : Buffer.alloc(0));
  }
  return files;
}

/** Count nodes per provision state. */
export function countStates(nodes: readonly NodeRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of nodes) counts[node.provision_state] = (counts[node.provision_state] ?? 0) + 1;
  return counts;
}

/** States a finished run may leave a node in: the target or a recorded failure. */
export const FINAL_STATES = new Set(['active', 'enroll', 'clean failed', 'deploy failed']);
