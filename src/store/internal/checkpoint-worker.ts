/**
 * The checkpoint worker (a `node:worker_threads` thread, one per process, see checkpointer.ts).
 * It holds a copy of the database of every file store of the process: seeded with the store's
 * image at open, then fed every change the store journals, in seq order. A checkpoint exports this
 * copy and writes it to the database file's temp file, durably, so that the thread serving the
 * store never exports the database (a whole-database copy, in proportion to the fleet). Renaming
 * the temp file into place stays with the store's committer, which alone knows when the journal
 * holds every change the image does.
 *
 * The copy is checked against the store's sequence: a change that does not follow the last one,
 * a checkpoint of a seq the copy is not at, or a change that does not apply (which cannot happen
 * to a change the store applied) breaks the copy, and every later checkpoint of it fails.
 */
import { parentPort } from 'node:worker_threads';
import type { SqlJsStatic } from 'sql.js';
import { describe } from '../../errors.js';
import { withTrailer, writeTempFile } from './checkpoint.js';
import { SqlDatabase, type SqlParam } from './database.js';
import type { Statement } from './journal.js';
import { applyPragmas, writeCheckpointSeq, type CheckpointMark } from './schema.js';
import { loadSqlJs } from './sqljs.js';

/** Messages from the store's thread. */
export type ToWorker =
  | { readonly t: 'open'; readonly id: number; readonly image: Uint8Array; readonly seq: number }
  | { readonly t: 'apply'; readonly id: number; readonly first: number; readonly changes: readonly (readonly Statement[])[] }
  | {
      readonly t: 'checkpoint';
      readonly id: number;
      readonly req: number;
      readonly path: string;
      readonly mark: CheckpointMark;
      /**
       * [id, reservation, reservation_purpose, reserved_at, reservation_token, version] of every reserved node and
       * of every node a reservation change touched since the last checkpoint (neither is journaled).
       */
      readonly reservations: readonly (readonly SqlParam[])[];
    }
  | { readonly t: 'close'; readonly id: number }
  /** Tests only: throw an uncaught error (a crash of the thread). */
  | { readonly t: 'crash' };

/** Messages to the store's thread. */
export type FromWorker =
  | { readonly t: 'exported'; readonly req: number }
  | { readonly t: 'written'; readonly req: number }
  /** `broken`: the copy no longer follows the store (every later checkpoint of it fails too). */
  | { readonly t: 'failed'; readonly req: number; readonly error: string; readonly code?: string; readonly broken: boolean };

/** One store's copy. */
interface Copy {
  db: SqlDatabase | null;
  /** The last change the copy holds. */
  seq: number;
  /** Why the copy stopped following the store, or null. */
  broken: string | null;
}

const port = parentPort;
if (port === null) throw new Error('checkpoint-worker.ts runs as a worker thread only');

const copies = new Map<number, Copy>();
let SQL: SqlJsStatic | null = null;
// Messages are handled one at a time, in order: an async step (loading sql.js, writing a file)
// holds the next message back, so a copy always sees its changes and checkpoints in seq order.
let queue: Promise<void> = Promise.resolve();

const post = (message: FromWorker): void => port.postMessage(message);

port.on('message', (message: ToWorker) => {
  // Uncaught: the thread dies here, before it handles any later message.
  if (message.t === 'crash') throw new Error('checkpoint worker crash (injected by a test)');
  queue = queue.then(() => handle(message));
});

async function handle(message: Exclude<ToWorker, { t: 'crash' }>): Promise<void> {
  switch (message.t) {
    case 'open': {
      const copy: Copy = { db: null, seq: message.seq, broken: null };
      copies.set(message.id, copy);
      try {
        SQL ??= await loadSqlJs();
        const db = new SqlDatabase(new SQL.Database(message.image));
        applyPragmas(db);
        copy.db = db;
      } catch (cause) {
        copy.broken = `the copy could not be opened: ${describe(cause)}`;
      }
      return;
    }
    case 'apply': {
      const copy = copies.get(message.id);
      if (copy === undefined || copy.db === null || copy.broken !== null) return;
      if (message.first !== copy.seq + 1) {
        copy.broken = `change ${message.first} does not follow change ${copy.seq} of the copy`;
        return;
      }
      const db = copy.db;
      db.exec('BEGIN;');
      try {
        for (const change of message.changes) for (const [sql, params] of change) db.run(sql, params);
        db.exec('COMMIT;');
        copy.seq += message.changes.length;
      } catch (cause) {
        db.exec('ROLLBACK;');
        copy.broken = `a change from ${message.first} does not apply to the copy: ${describe(cause)}`;
      }
      return;
    }
    case 'checkpoint': {
      const copy = copies.get(message.id);
      const broken =
        copy === undefined || copy.db === null
          ? (copy?.broken ?? 'no copy of this store')
          : (copy.broken ??
            (message.mark.seq !== copy.seq ? `checkpoint of change ${message.mark.seq}, but the copy is at ${copy.seq}` : null));
      if (broken !== null) {
        if (copy !== undefined) copy.broken = broken;
        post({
          t: 'failed',
          req: message.req,
          error: `the checkpoint worker's copy of the database is not usable: ${broken}`,
          broken: true,
        });
        return;
      }
      const db = copy!.db!;
      let bytes: Uint8Array;
      try {
        // The reservations the store holds now: the image carries them as the store's would.
        db.exec('BEGIN;');
        db.run(
          'UPDATE nodes SET reservation = NULL, reservation_purpose = NULL, reserved_at = NULL, reservation_token = NULL WHERE reservation IS NOT NULL',
        );
        for (const [id, reservation, purpose, at, token, version] of message.reservations) {
          db.run(
            'UPDATE nodes SET reservation = ?, reservation_purpose = ?, reserved_at = ?, reservation_token = ?, version = coalesce(?, version) WHERE id = ?',
            [reservation ?? null, purpose ?? null, at ?? null, token ?? null, version ?? null, id!],
          );
        }
        writeCheckpointSeq(db, message.mark);
        db.exec('COMMIT;');
        bytes = withTrailer(db.export());
      } catch (cause) {
        try {
          db.exec('ROLLBACK;');
        } catch {
          // not in a transaction
        }
        copy!.broken = `exporting the copy failed: ${describe(cause)}`;
        post({ t: 'failed', req: message.req, error: copy!.broken, broken: true });
        return;
      }
      post({ t: 'exported', req: message.req });
      try {
        await writeTempFile(message.path, bytes);
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException | null)?.code;
        post({ t: 'failed', req: message.req, error: describe(cause), ...(typeof code === 'string' ? { code } : {}), broken: false });
        return;
      }
      post({ t: 'written', req: message.req });
      return;
    }
    case 'close': {
      const copy = copies.get(message.id);
      copies.delete(message.id);
      try {
        copy?.db?.close();
      } catch {
        // freed already
      }
      return;
    }
  }
}
