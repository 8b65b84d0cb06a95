/**
 * Opening a file store: take the lock, drop a leftover temp file, load (or create) the database
 * file, replay the journal, cut off a torn last write. Anything that is not a valid database or
 * journal of ours is StoreCorrupt, and nothing is overwritten in that case.
 */
import { readFile, stat, truncate, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import type { SqlJsStatic } from 'sql.js';
import { describe, StoreCorrupt, StoreError, type StoreInUse } from '../../errors.js';
import { checkImageHeader, fsyncDirectory, tempPathOf, writeFileAtomic } from './checkpoint.js';
import { SqlDatabase } from './database.js';
import { FileLock } from './file-lock.js';
import { JournalFile, readJournal } from './journal.js';
import type { ResolvedStoreOptions } from './options.js';
import { applyPragmas, createSchema, readCheckpointSeq, verifySchema } from './schema.js';

/** The journal path of a database path. (Not `-journal`: SQLite would take that for its own.) */
export function journalPathOf(path: string): string {
  return `${path}.journal`;
}

/** An opened file database, ready for the store. */
export interface OpenedFile {
  readonly db: SqlDatabase;
  readonly lock: FileLock;
  readonly journal: JournalFile;
  /** Last journal seq applied (the checkpoint's, or the last replayed record's). */
  readonly lastSeq: number;
}

/** Open the database file at `options.path` (which must be set). */
export async function openFile(
  SQL: SqlJsStatic,
  options: ResolvedStoreOptions & { path: string },
): Promise<Result<OpenedFile, StoreCorrupt | StoreInUse | StoreError>> {
  const { path, logger } = options;
  let lock: FileLock;
  try {
    const locked = await FileLock.acquire(path, logger);
    if (locked.isErr()) return err(locked.error);
    lock = locked.value;
  } catch (cause) {
    return err(new StoreError(`open ${path} (lock file)`, cause));
  }

  let db: SqlDatabase | null = null;
  try {
    const loaded = await loadOrCreate(SQL, options);
    if (loaded.isErr()) {
      await lock.release();
      return err(loaded.error);
    }
    db = loaded.value;
    const replayed = await replayJournal(db, options);
    if (replayed.isErr()) {
      db.close();
      await lock.release();
      return err(replayed.error);
    }
    return ok({ db, lock, ...replayed.value });
  } catch (cause) {
    db?.close();
    await lock.release();
    return err(new StoreError(`open ${path}`, cause));
  }
}

async function loadOrCreate(
  SQL: SqlJsStatic,
  options: ResolvedStoreOptions & { path: string },
): Promise<Result<SqlDatabase, StoreCorrupt>> {
  const { path, logger } = options;
  // A crash between writing the temp file and renaming it leaves it behind; the file is intact.
  const temp = tempPathOf(path);
  try {
    await unlink(temp);
    logger.warn({ temp }, 'removed leftover checkpoint temp file (interrupted checkpoint)');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
  }

  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    return createFile(SQL, options);
  }

  const headerProblem = checkImageHeader(bytes);
  if (headerProblem !== null) return err(new StoreCorrupt(path, headerProblem));
  let db: SqlDatabase;
  try {
    db = new SqlDatabase(new SQL.Database(bytes));
  } catch (cause) {
    return err(new StoreCorrupt(path, describe(cause), cause));
  }
  let problem: string | null;
  try {
    problem = verifySchema(db);
  } catch (cause) {
    problem = describe(cause);
  }
  if (problem !== null) {
    db.close();
    return err(new StoreCorrupt(path, problem));
  }
  applyPragmas(db);
  return ok(db);
}

async function createFile(SQL: SqlJsStatic, options: ResolvedStoreOptions & { path: string }): Promise<Result<SqlDatabase, StoreCorrupt>> {
  const { path, logger } = options;
  const journalPath = journalPathOf(path);
  const journalSize = await stat(journalPath).then(
    (s) => s.size,
    () => 0,
  );
  if (journalSize > 0) {
    // Replaying it onto an empty schema could silently lose whatever the missing file held.
    return err(new StoreCorrupt(path, `the database file is missing but its journal ${journalPath} is not empty`));
  }
  const db = new SqlDatabase(new SQL.Database());
  try {
    applyPragmas(db);
    createSchema(db);
    await writeFileAtomic(path, db.export());
  } catch (cause) {
    db.close();
    throw cause;
  }
  logger.info({ path }, 'created new store database');
  return ok(db);
}

async function replayJournal(
  db: SqlDatabase,
  options: ResolvedStoreOptions & { path: string },
): Promise<Result<{ journal: JournalFile; lastSeq: number }, StoreCorrupt>> {
  const { path, logger } = options;
  const journalPath = journalPathOf(path);
  const checkpointSeq = readCheckpointSeq(db) ?? 0;
  let bytes: Buffer | null;
  try {
    bytes = await readFile(journalPath);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    bytes = null;
  }

  let lastSeq = checkpointSeq;
  if (bytes !== null && bytes.length > 0) {
    const contents = readJournal(bytes, checkpointSeq);
    if (!contents.ok) return err(new StoreCorrupt(journalPath, contents.reason));
    db.exec('BEGIN;');
    for (const record of contents.records) {
      try {
        db.run(record.sql, record.params);
      } catch (cause) {
        db.exec('ROLLBACK;');
        return err(new StoreCorrupt(journalPath, `record seq ${record.seq} does not apply: ${describe(cause)}`, cause));
      }
    }
    db.exec('COMMIT;');
    lastSeq = contents.records.at(-1)?.seq ?? checkpointSeq;
    if (contents.tornTail !== null) {
      // An unacknowledged write: nobody was told it succeeded. Cut it off so appends continue cleanly.
      logger.warn(
        { journal: journalPath, reason: contents.tornTail, droppedBytes: bytes.length - contents.validBytes },
        'ignoring torn last journal write',
      );
      await truncate(journalPath, contents.validBytes);
    }
    logger.info({ journal: journalPath, replayed: contents.records.length, skipped: contents.skipped, lastSeq }, 'journal replayed');
  }

  const journal = await JournalFile.open(journalPath);
  if (bytes === null) await fsyncDirectory(dirname(journalPath));
  return ok({ journal, lastSeq });
}
