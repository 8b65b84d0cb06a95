/**
 * Opening a file store: take the lock, drop leftover temp files, load (or create) the database
 * file, check it (integrity trailer, SQLite header and schema), replay the journal that belongs
 * to it, cut off a torn last write. Anything that is not a valid database or journal of ours,
 * or a journal that does not continue this database file, is StoreCorrupt, and nothing is
 * overwritten or truncated in that case.
 *
 * What is detected on open: a damaged or changed byte anywhere in the database file (its CRC
 * trailer), a truncated or extended file, a file that is not ours, a missing journal, a journal of
 * another database or of another checkpoint (swapped files, a raised or lowered checkpoint seq),
 * a gap or overlap in the journal's sequence, and a bad journal line that is not a torn last
 * write. What cannot be detected: whole lines cut off the end of the journal at a line boundary
 * (the file carries no record of its own length that survives such a cut).
 */
import { randomUUID } from 'node:crypto';
import { readFile, truncate, unlink } from 'node:fs/promises';
import { err, ok, type Result } from 'neverthrow';
import type { SqlJsStatic } from 'sql.js';
import { describe, StoreCorrupt, StoreError, type StoreInUse } from '../../errors.js';
import { checkImageHeader, checkTrailer, tempPathOf, withTrailer, writeFileAtomic } from './checkpoint.js';
import { SqlDatabase } from './database.js';
import { FileLock } from './file-lock.js';
import { entryDigest, JournalFile, readJournal, UPGRADING_FROM_V1, type JournalEntry, type JournalHeader } from './journal.js';
import type { ResolvedStoreOptions } from './options.js';
import {
  applyPragmas,
  createSchema,
  ensureIndexes,
  META_CHECKPOINT_DIGEST,
  META_JOURNAL_BASE,
  META_STORE_ID,
  migrateSchema,
  readCheckpointSeq,
  readMeta,
  verifySchema,
  writeCheckpointSeq,
  writeMeta,
} from './schema.js';

/** The journal path of a database path. (Not `-journal`: SQLite would take that for its own.) */
export function journalPathOf(path: string): string {
  return `${path}.journal`;
}

/** A database file loaded and its journal replayed. */
export interface LoadedFile {
  readonly db: SqlDatabase;
  readonly journal: JournalFile;
  /** The database's id (in the file and in the journal's header). */
  readonly storeId: string;
  /** The base of the journal now open (the checkpoint it continues). */
  readonly journalBase: number;
  /** Last change applied (the checkpoint's, or the last replayed one). */
  readonly lastSeq: number;
  /** Its digest (the next checkpoint records it). */
  readonly lastDigest: string;
}

/** An opened file database, ready for the store. */
export interface OpenedFile extends LoadedFile {
  readonly lock: FileLock;
}

type FileOptions = ResolvedStoreOptions & { path: string };

/** Open the database file at `options.path` (which must be set). */
export async function openFile(
  SQL: SqlJsStatic,
  options: FileOptions,
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
  const loaded = await loadFile(SQL, options);
  if (loaded.isErr()) {
    await lock.release();
    return err(loaded.error);
  }
  return ok({ ...loaded.value, lock });
}

/**
 * Load the database file and replay its journal (the caller holds the lock). Also used to reload
 * after a failed journal write, so that memory holds exactly what is on disk.
 */
export async function loadFile(SQL: SqlJsStatic, options: FileOptions): Promise<Result<LoadedFile, StoreCorrupt | StoreError>> {
  let db: SqlDatabase | null = null;
  try {
    await removeLeftovers(options);
    const image = await loadOrCreate(SQL, options);
    if (image.isErr()) return err(image.error);
    db = image.value.db;
    const replayed = await replayJournal(db, image.value.storeId, options);
    if (replayed.isErr()) {
      db.close();
      return err(replayed.error);
    }
    return ok({ db, ...replayed.value });
  } catch (cause) {
    db?.close();
    return err(new StoreError(`open ${options.path}`, cause));
  }
}

/** A crash during a checkpoint or a journal reset leaves a temp file behind; the real files are intact. */
async function removeLeftovers(options: FileOptions): Promise<void> {
  for (const temp of [tempPathOf(options.path), `${journalPathOf(options.path)}.new`]) {
    try {
      await unlink(temp);
      options.logger.warn({ temp }, 'removed a leftover temp file (an interrupted checkpoint)');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    }
  }
}

async function loadOrCreate(
  SQL: SqlJsStatic,
  options: FileOptions,
): Promise<Result<{ db: SqlDatabase; storeId: string | null }, StoreCorrupt>> {
  const { path } = options;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    return createFile(SQL, options);
  }
  // An empty file is a new database, as SQLite takes it (e.g. made by `touch` or mktemp).
  if (bytes.length === 0) return createFile(SQL, options);
  const image = openImage(SQL, path, bytes);
  if (image.isErr()) return err(image.error);
  const { db, storeId, migratedFrom } = image.value;
  if (migratedFrom !== null) options.logger.info({ path, from: migratedFrom }, 'migrated the database schema on open');
  applyPragmas(db);
  ensureIndexes(db);
  return ok({ db, storeId });
}

/**
 * The database image in a file's bytes, checked as opening the store checks it (integrity trailer,
 * SQLite header, schema; an earlier schema migrated in memory). The caller closes the database.
 */
export function openImage(
  SQL: SqlJsStatic,
  path: string,
  bytes: Uint8Array,
): Result<{ db: SqlDatabase; storeId: string | null; migratedFrom: number | null }, StoreCorrupt> {
  const split = checkTrailer(bytes);
  if ('problem' in split) return err(new StoreCorrupt(path, split.problem));
  const headerProblem = checkImageHeader(split.image);
  if (headerProblem !== null) return err(new StoreCorrupt(path, headerProblem));
  let db: SqlDatabase;
  try {
    db = new SqlDatabase(new SQL.Database(split.image));
  } catch (cause) {
    return err(new StoreCorrupt(path, describe(cause), cause));
  }
  let problem: string | null;
  let storeId: string | null = null;
  let migratedFrom: number | null = null;
  try {
    // An earlier schema version is migrated first (in memory), so the journal replays onto the current one.
    migratedFrom = migrateSchema(db);
    problem = verifySchema(db);
    if (problem === null) storeId = readMeta(db, META_STORE_ID);
  } catch (cause) {
    problem = describe(cause);
  }
  // Every file this version writes has both; a version-0.1 file has neither.
  if (problem === null && storeId !== null && !split.trailer) problem = 'the integrity trailer is missing (the file was cut or replaced)';
  if (problem === null && storeId === null && split.trailer) problem = 'the store id is missing from a file that has an integrity trailer';
  if (problem !== null) {
    db.close();
    return err(new StoreCorrupt(path, problem));
  }
  return ok({ db, storeId, migratedFrom });
}

/** What the journal of this database image must continue (its store id, checkpoint and base), for `readJournal`. */
export function journalExpectation(db: SqlDatabase, storeId: string | null): Parameters<typeof readJournal>[1] {
  const previousBase = Number(readMeta(db, META_JOURNAL_BASE) ?? Number.NaN);
  return {
    store: storeId,
    checkpointSeq: readCheckpointSeq(db) ?? 0,
    checkpointDigest: readMeta(db, META_CHECKPOINT_DIGEST),
    previousBase: Number.isSafeInteger(previousBase) ? previousBase : null,
  };
}

/** Apply journaled changes in one transaction; one that does not apply rolls them all back (StoreCorrupt). */
export function applyEntries(db: SqlDatabase, entries: readonly JournalEntry[], journalPath: string): Result<void, StoreCorrupt> {
  db.exec('BEGIN;');
  for (const entry of entries) {
    try {
      for (const [sql, params] of entry.statements) db.run(sql, params);
    } catch (cause) {
      db.exec('ROLLBACK;');
      return err(new StoreCorrupt(journalPath, `change ${entry.seq} does not apply: ${describe(cause)}`, cause));
    }
  }
  db.exec('COMMIT;');
  return ok(undefined);
}

async function createFile(SQL: SqlJsStatic, options: FileOptions): Promise<Result<{ db: SqlDatabase; storeId: string }, StoreCorrupt>> {
  const { path, logger } = options;
  const journalPath = journalPathOf(path);
  const journal = await readFile(journalPath).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return null;
    throw cause;
  });
  if (journal !== null && journal.length > 0) {
    // A header alone is a creation that crashed before the database file was renamed into place.
    const contents = readJournal(journal, { store: null, checkpointSeq: 0, checkpointDigest: null, previousBase: null });
    const headerOnly = contents.ok && contents.header !== null && contents.entries.length === 0 && contents.skipped === 0;
    if (!headerOnly) {
      // Replaying it onto an empty schema could silently lose whatever the missing file held.
      return err(new StoreCorrupt(path, `the database file is missing but its journal ${journalPath} holds changes`));
    }
  }
  const storeId = randomUUID();
  const db = new SqlDatabase(new SQL.Database());
  try {
    applyPragmas(db);
    createSchema(db, storeId);
    // The journal first: a database file without its journal is always a loss to report.
    await placeJournal(journalPath, { store: storeId, base: 0 }, { keepOpen: false });
    await writeFileAtomic(path, withTrailer(db.export()));
  } catch (cause) {
    db.close();
    throw cause;
  }
  logger.info({ path }, 'created new store database');
  return ok({ db, storeId });
}

async function replayJournal(
  db: SqlDatabase,
  storeId: string | null,
  options: FileOptions,
): Promise<Result<Omit<LoadedFile, 'db'>, StoreCorrupt>> {
  const { path, logger } = options;
  const journalPath = journalPathOf(path);
  const checkpointSeq = readCheckpointSeq(db) ?? 0;
  const previousBase = Number(readMeta(db, META_JOURNAL_BASE) ?? Number.NaN);
  const checkpointDigest = readMeta(db, META_CHECKPOINT_DIGEST);
  let bytes: Buffer | null;
  try {
    bytes = await readFile(journalPath);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    bytes = null;
  }
  if (bytes === null && storeId !== null) {
    return err(new StoreCorrupt(journalPath, 'the journal is missing: the changes since the last checkpoint cannot be known'));
  }

  let entries: JournalEntry[] = [];
  let journalBase = checkpointSeq;
  let upgradeInterrupted = false;
  if (bytes !== null && bytes.length > 0) {
    const contents = readJournal(bytes, journalExpectation(db, storeId));
    if (!contents.ok) return err(new StoreCorrupt(journalPath, contents.reason));
    entries = contents.entries;
    journalBase = contents.header?.base ?? checkpointSeq;
    upgradeInterrupted = storeId !== null && contents.header === null;
    const applied = applyEntries(db, entries, journalPath);
    if (applied.isErr()) return err(applied.error);
    if (contents.tornTail !== null) {
      // An unacknowledged write: nobody was told it succeeded. Cut it off so appends continue cleanly.
      logger.warn(
        { journal: journalPath, reason: contents.tornTail, droppedBytes: bytes.length - contents.validBytes },
        'ignoring torn last journal write',
      );
      await truncate(journalPath, contents.validBytes);
    }
    logger.info({ journal: journalPath, replayed: entries.length, skipped: contents.skipped }, 'journal replayed');
  } else if (bytes !== null && storeId !== null) {
    if (previousBase !== UPGRADING_FROM_V1) return err(new StoreCorrupt(journalPath, 'the journal is empty: its header is missing'));
    upgradeInterrupted = true;
  }
  const last = entries.at(-1);
  const lastSeq = last?.seq ?? checkpointSeq;
  const lastDigest = last !== undefined ? entryDigest(last.statements) : (checkpointDigest ?? '');

  if (storeId === null) {
    // A version-0.1 file: give it an id, write it with its trailer, start a format-2 journal.
    const id = randomUUID();
    writeMeta(db, META_STORE_ID, id);
    // The file first (the old journal stays valid for it: UPGRADING_FROM_V1), then the journal.
    writeCheckpointSeq(db, { seq: lastSeq, journalBase: UPGRADING_FROM_V1, digest: lastDigest });
    await writeFileAtomic(path, withTrailer(db.export()));
    const journal = await placeJournal(journalPath, { store: id, base: lastSeq }, { keepOpen: true });
    logger.info({ path }, 'upgraded the database file and its journal to format 2');
    return ok({ journal, storeId: id, journalBase: lastSeq, lastSeq, lastDigest });
  }
  if (upgradeInterrupted) {
    const journal = await placeJournal(journalPath, { store: storeId, base: checkpointSeq }, { keepOpen: true });
    logger.warn({ path }, 'completed an interrupted upgrade from version 0.1: the new journal is in place');
    return ok({ journal, storeId, journalBase: checkpointSeq, lastSeq, lastDigest });
  }
  return ok({ journal: await JournalFile.open(journalPath), storeId, journalBase, lastSeq, lastDigest });
}

/** Put a fresh journal (its header only) in place durably; returns it open, or closes it. */
async function placeJournal(path: string, header: JournalHeader, options: { keepOpen: true }): Promise<JournalFile>;
async function placeJournal(path: string, header: JournalHeader, options: { keepOpen: false }): Promise<null>;
async function placeJournal(path: string, header: JournalHeader, options: { keepOpen: boolean }): Promise<JournalFile | null> {
  const journal = await JournalFile.replace(path, header);
  try {
    await journal.syncDirectory();
  } catch (cause) {
    await journal.close().catch(() => undefined);
    throw cause;
  }
  if (options.keepOpen) return journal;
  await journal.close();
  return null;
}
