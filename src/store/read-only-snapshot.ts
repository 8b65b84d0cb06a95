/**
 * A read-only snapshot of a sql.js database file: its nodes as of the last acknowledged change,
 * read without the lock and without writing anything. The file is checked (integrity trailer,
 * SQLite header, schema) and its journal replayed in memory, as opening the store does; a torn
 * last journal line is ignored (not cut off), an earlier schema is migrated in memory only, an
 * empty (0-byte) file is an empty database. Nothing is created, truncated or locked, so it works
 * on read-only files and leaves their modification times alone.
 *
 * A live conductor may checkpoint while this reads (a new file, a new journal): a mismatch between
 * the two is then retried a few times before it is reported as StoreCorrupt.
 */
import { readFile } from 'node:fs/promises';
import { err, ok, type Result } from 'neverthrow';
import { describe, StoreCorrupt, StoreError } from '../errors.js';
import type { NodeRecord } from '../node.js';
import { readJournal } from './internal/journal.js';
import { applyEntries, journalExpectation, journalPathOf, openImage } from './internal/recovery.js';
import { rowToNode, SELECT_NODE } from './internal/rows.js';
import { loadSqlJs } from './internal/sqljs.js';

/** What a database file held when it was read. */
export interface ReadOnlySnapshot {
  /** Every node, by id. */
  readonly nodes: readonly NodeRecord[];
  /** Journal changes replayed on top of the file's checkpoint. */
  readonly replayed: number;
  /** Why the journal's last line was ignored (an unacknowledged, torn write), or null. */
  readonly tornTail: string | null;
}

/** Attempts when the file and its journal do not match (a checkpoint happened in between). */
const ATTEMPTS = 5;
const RETRY_DELAY_MS = 50;

/** Read the nodes of the database file at `path` without locking or writing it (up to 5 attempts, 50 ms apart). */
export async function readOnlySnapshot(path: string): Promise<Result<ReadOnlySnapshot, StoreCorrupt | StoreError>> {
  let last: Result<ReadOnlySnapshot, StoreCorrupt | StoreError> = err(new StoreError(`read ${path}`, 'not attempted'));
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // Give a checkpoint under way the time to put its new journal in place.
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    last = await readOnce(path);
    if (last.isOk() || !(last.error instanceof StoreCorrupt)) return last;
  }
  return last;
}

async function readOnce(path: string): Promise<Result<ReadOnlySnapshot, StoreCorrupt | StoreError>> {
  let bytes: Buffer;
  let journalBytes: Buffer | null;
  try {
    bytes = await readFile(path);
    journalBytes = await readFile(journalPathOf(path)).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code === 'ENOENT') return null;
      throw cause;
    });
  } catch (cause) {
    return err(new StoreError(`read ${path}`, cause));
  }
  if (bytes.length === 0) return ok({ nodes: [], replayed: 0, tornTail: null });
  const image = openImage(await loadSqlJs(), path, bytes);
  if (image.isErr()) return err(image.error);
  const { db, storeId } = image.value;
  try {
    let replayed = 0;
    let tornTail: string | null = null;
    if (journalBytes === null) {
      if (storeId !== null) return err(new StoreCorrupt(journalPathOf(path), 'the journal is missing'));
    } else if (journalBytes.length > 0) {
      const contents = readJournal(journalBytes, journalExpectation(db, storeId));
      if (!contents.ok) return err(new StoreCorrupt(journalPathOf(path), contents.reason));
      const applied = applyEntries(db, contents.entries, journalPathOf(path));
      if (applied.isErr()) return err(applied.error);
      replayed = contents.entries.length;
      tornTail = contents.tornTail;
    }
    const nodes = db.all(`${SELECT_NODE} ORDER BY id`).map(rowToNode);
    return ok({ nodes, replayed, tornTail });
  } catch (cause) {
    return err(new StoreCorrupt(path, describe(cause), cause));
  } finally {
    db.close();
  }
}
