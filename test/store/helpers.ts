/**
 * Shared helpers of the store tests: temp directories and file-store openers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlJsStore, type SqlJsStore, type SqlJsStoreOptions } from '../../src/store/sqljs-store.js';
import { value } from './store-contract.js';

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'mc-store-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Run `body` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>, prefix = 'mc-store-'): Promise<T> {
  const tmp = await tempDir(prefix);
  try {
    return await body(tmp.dir);
  } finally {
    await tmp.cleanup();
  }
}

/** Open a store and fail the test if that fails. */
export function openStore(options: SqlJsStoreOptions = {}): Promise<SqlJsStore> {
  return value(openSqlJsStore(options));
}

/** Poll `condition` every 10 ms until it holds; fail after `timeoutMs` (generous: not a timing assertion). */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
