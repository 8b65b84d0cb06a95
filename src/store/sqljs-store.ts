/**
 * The embedded store: sql.js (SQLite in WASM) held in memory, made durable by an append-only
 * journal with group commit plus periodic checkpoints of the whole database file (see
 * internal/committer.ts). Reservations follow Ironic's conditional UPDATEs (reference §4.2) and
 * are deliberately not journaled: they are process-local locks that start-up recovery clears.
 * So after a crash the reopened store shows the reservations of the last checkpoint (after a
 * clean close: those held at close), all stale; the conductor clears them at start-up
 * (`clearTargetPowerState`, then `clearReservations`), as Ironic's does.
 *
 * Fencing (issue 10): every reserve takes a `reservation_token` from one store-wide sequence. The
 * sequence is not journaled token by token: a ceiling in `meta` is raised a block at a time by a
 * journaled change that is durable before any token under it is handed out, and a reopened store
 * starts above the ceiling it finds, so no token is ever handed out twice. A write given a fence
 * runs with `reservation = ? AND reservation_token = ?` in its statement, but is journaled by id
 * alone (the reservation it was checked against is not journaled, and a replay must not depend on
 * it). Every write of a node row bumps `version`; the bumps of reservation changes are not
 * journaled either (checkpoints carry them), so after a crash a row's version may be lower than
 * before it, never within one process's life.
 */
import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import {
  type Duplicate,
  InvalidParameterValue,
  LockLost,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  describe,
  StoreError,
  type LockHolder,
  type StoreCorrupt,
  type StoreInUse,
} from '../errors.js';
import type { Logger } from '../logging.js';
import type {
  ConductorRow,
  NewNode,
  NodeChanges,
  NodeIdentity,
  NodeRecord,
  Port,
  Portgroup,
  VolumeConnector,
  VolumeTarget,
} from '../node.js';
import { PROTECTED_COLUMNS } from '../node.js';
import type {
  Fence,
  LookupError,
  NewPort,
  NewPortgroup,
  NewVolumeConnector,
  NewVolumeTarget,
  NodeFilter,
  ReservationInfo,
  Store,
  StoreHealth,
  StoreTimings,
} from './store.js';
import { renameTempIntoPlace, tempPathOf, withTrailer, writeFileAtomic, type CheckpointHook } from './internal/checkpoint.js';
import { WorkerReplica } from './internal/checkpointer.js';
import { assertFence, assertNodeId, assertTag, assertToken, identityColumn, type IdentityColumn } from './internal/arguments.js';
import type { Statement } from './internal/journal.js';
import { Committer, type CheckpointWriter, type CommitterStats } from './internal/committer.js';
import { SqlDatabase, type SqlParam, type SqlRow } from './internal/database.js';
import { encodeFields, FieldProblem, NODE_CREATABLE, NODE_UPDATABLE } from './internal/fields.js';
import type { FileLock } from './internal/file-lock.js';
import { parseIdentity } from '../identity.js';
import { resolveStoreOptions, type ResolvedStoreOptions } from './internal/options.js';
import { loadFile, openFile, type LoadedFile } from './internal/recovery.js';
import { rowToConductor, rowToNode, SELECT_CONDUCTOR, SELECT_NODE } from './internal/rows.js';
import { applyPragmas, createSchema, META_TOKEN_CEILING, readTokenCeiling, writeCheckpointSeq } from './internal/schema.js';
import {
  type ChildTable,
  CLEAR_RESERVATIONS_SQL,
  FENCE_CONDITION,
  HOLDER_SQL,
  LAST_ID_SQL,
  NODE_INSERT_COLUMNS,
  NODE_INSERT_DEFAULTS,
  NODE_INSERT_SQL,
  PORTGROUPS,
  PORTS,
  RELEASE_FENCED_SQL,
  RELEASE_SQL,
  RESERVE_SQL,
  TRANSFER_FENCED_SQL,
  TRANSFER_SQL,
  VOLUME_CONNECTORS,
  VOLUME_TARGETS,
} from './internal/statements.js';
import { loadSqlJs } from './internal/sqljs.js';
import type { SqlJsStatic } from 'sql.js';
import { writeError } from './internal/sql-errors.js';

/** A child row ready to insert once its node's id is known. */
interface ChildInsert {
  readonly sql: string;
  readonly values: Readonly<Record<string, SqlParam>>;
  params(nodeId: number): SqlParam[];
}

export type { CheckpointPhase } from './internal/checkpoint.js';
export type { CommitterStats as SqlJsStoreStats } from './internal/committer.js';

/** Options of `openSqlJsStore`. Every field is optional. */
export interface SqlJsStoreOptions {
  /** Database file. null/undefined → in-memory, no journal, no lock (the default). */
  path?: string | null;
  /**
   * 'sync' (default): a change resolves only once it is on disk (concurrent changes share one
   * fdatasync). 'batched': a change resolves at once and is on disk within `maxDelayMs`.
   */
  durability?: 'sync' | 'batched';
  /**
   * Batched mode: bound on the time between a change resolving and it being on disk (best effort:
   * the disk and the event loop permitting). A change made while an earlier one has waited more
   * than half of it waits for the disk itself (back-pressure). Default 50.
   */
  maxDelayMs?: number;
  /** Checkpoint when the journal grows beyond this many bytes. Default 16 MiB. */
  checkpointJournalBytes?: number;
  /** Checkpoint at most this long after the first un-checkpointed change; 0 = only by size and on close. Default 300000. */
  checkpointIntervalMs?: number;
  /** pino logger. Default silent. */
  logger?: Logger;
  /** Clock for every timestamp the store writes. Default `() => new Date()`. */
  now?: () => Date;
  /** Tests only: awaited at each checkpoint phase (to pause or crash there). Default none. */
  onCheckpointPhase?: CheckpointHook;
  /**
   * File stores: write checkpoints from a copy of the database in a worker thread (default true),
   * so that a checkpoint never exports the database on the event loop (a stall in proportion to
   * the fleet). Costs a second copy of the database in memory. false: export on the event loop.
   */
  checkpointWorker?: boolean;
  /** Told each journal write's and checkpoint's duration (the conductor's metrics). Default none. */
  timings?: StoreTimings;
}

/** Everything opening a store can fail with. */
export type OpenStoreError = StoreCorrupt | StoreInUse | InvalidParameterValue | StoreError;

/**
 * Open a store: in-memory when `options.path` is null/undefined, else the database file at
 * `options.path` (created if missing; journal replayed; exclusive per process via `<path>.lock`).
 */
export function openSqlJsStore(options: SqlJsStoreOptions = {}): ResultAsync<SqlJsStore, OpenStoreError> {
  const resolved = resolveStoreOptions(options);
  if (resolved.isErr()) return errAsync(resolved.error);
  return new ResultAsync(SqlJsStore[OPEN](resolved.value));
}

const OPEN = Symbol('open');

/**
 * A journaling statement runner handed to write operations: runs, journals if it changed rows,
 * returns the change count. `replay`: the statement to journal instead (a fenced statement runs
 * with its condition on the reservation, which is not journaled, so it is replayed by id alone).
 */
type Journaled = (sql: string, params: readonly SqlParam[], replay?: Statement) => number;

/** Reservation tokens reserved at a time by one durable, journaled raise of the ceiling. */
const TOKEN_BLOCK = 1024;
/** Raise the ceiling in the background when fewer tokens than this are left under it. */
const TOKEN_LOW_WATER = TOKEN_BLOCK / 4;
/** The upsert of a `meta` value, as journaled. */
const META_UPSERT_SQL = 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';

/** The sql.js store. Open with `openSqlJsStore`. */
export class SqlJsStore implements Store {
  readonly description: string;
  /** Absolute database file path, or null in memory. */
  readonly path: string | null;
  #db: SqlDatabase | null;
  #opts: ResolvedStoreOptions;
  #committer: Committer | null;
  #lock: FileLock | null;
  #closing: Promise<Result<void, StoreError>> | null = null;
  readonly #SQL: SqlJsStatic;
  #storeId: string;
  #health: StoreHealth = { state: 'ok', error: null, since: null, recoveries: 0 };
  /** This store's copy of the database in the checkpoint worker (file stores), or null. */
  #replica: WorkerReplica | null = null;
  #recovering: Promise<void> | null = null;
  /** The next reservation token to hand out (tokens only grow, across reloads and reopens). */
  #tokenNext: number;
  /** Tokens up to this may be handed out: the durable ceiling (Infinity in memory, where nothing outlives the store). */
  #tokenCeiling: number;
  /**
   * Nodes whose version an unjournaled write (a reservation change) bumped since the checkpoint
   * worker's copy last heard of them: the next checkpoint hands it their versions too.
   */
  #unjournaledVersions = new Set<number>();
  /** A raise of the ceiling under way, or null. */
  #raisingCeiling: Promise<Result<void, StoreError>> | null = null;

  private constructor(SQL: SqlJsStatic, db: SqlDatabase, opts: ResolvedStoreOptions, lock: FileLock | null, storeId: string) {
    this.#SQL = SQL;
    this.#db = db;
    this.#opts = opts;
    this.#committer = null;
    this.#lock = lock;
    this.#storeId = storeId;
    this.path = opts.path;
    const ceiling = readTokenCeiling(db);
    this.#tokenNext = ceiling + 1;
    this.#tokenCeiling = opts.path === null ? Number.POSITIVE_INFINITY : ceiling;
    this.description = opts.path === null ? 'sql.js in-memory store' : `sql.js file store ${opts.path} (${opts.durability})`;
  }

  /**
   * A committer on `journal`, checkpointing whatever database the store has at the time: from its
   * copy in the checkpoint worker (seeded here with the database as loaded), or on this thread
   * without a worker or once the worker has failed.
   */
  #newCommitter(loaded: Omit<LoadedFile, 'db' | 'storeId'>, path: string): Committer {
    this.#replica?.close();
    this.#replica = null;
    this.#unjournaledVersions.clear();
    if (this.#opts.checkpointWorker) {
      // The seed: the one export of the database this thread makes (at open and after a reload).
      const replica = new WorkerReplica(this.#db!.export(), loaded.lastSeq, (error) => this.#checkpointWorkerFailed(replica, error));
      this.#replica = replica;
    }
    const hook = this.#opts.onCheckpointPhase;
    const writer: CheckpointWriter = {
      replicate: (entries) => this.#replica?.replicate(entries),
      snapshot: (mark) => {
        const db = this.#db!;
        // The store's database records the mark too: it stays what the image holds at mark.seq.
        writeCheckpointSeq(db, mark);
        const replica = this.#replica;
        if (replica !== null && replica.failure === null) {
          // Reservations are not journaled: the image gets those held now, as an export would.
          // Nor are versions bumped by reservation changes: the image gets those of the nodes concerned.
          const reservations = db.all(
            'SELECT id, reservation, reservation_purpose, reserved_at, reservation_token, version FROM nodes ' +
              'WHERE reservation IS NOT NULL OR id IN (SELECT value FROM json_each(?))',
            [JSON.stringify([...this.#unjournaledVersions])],
          ) as SqlParam[][];
          this.#unjournaledVersions.clear();
          const job = replica.checkpoint(path, mark, reservations);
          return async (beforeRename) => {
            try {
              await job.exported;
              await hook?.('exported');
              await job.written;
            } catch (cause) {
              // Nothing to rename; the worker's temp file, if any, goes (after its write settles).
              await job.written.catch(() => undefined);
              await unlink(tempPathOf(path)).catch(() => undefined);
              throw cause;
            }
            await renameTempIntoPlace(path, hook, beforeRename);
          };
        }
        this.#unjournaledVersions.clear();
        if (replica !== null)
          this.#opts.logger.warn({ seq: mark.seq }, 'the checkpoint worker has failed: exporting the database on the event loop');
        const bytes = withTrailer(db.export());
        return async (beforeRename) => {
          await hook?.('exported');
          await writeFileAtomic(path, bytes, hook, beforeRename);
        };
      },
    };
    return new Committer(
      loaded.journal,
      this.#storeId,
      loaded.journalBase,
      { seq: loaded.lastSeq, digest: loaded.lastDigest },
      writer,
      // A failed journal: reload (sync mode) or report failed at once, not at the next call.
      { ...this.#opts, onFailure: () => void this.#refuse('journal write') },
    );
  }

  /** The checkpoint worker (or this store's copy in it) failed: reported in health; checkpoints go on, on this thread. */
  #checkpointWorkerFailed(replica: WorkerReplica, error: Error): void {
    if (replica !== this.#replica) return;
    const message = `checkpoint worker failed (checkpoints now export on the event loop): ${error.message}`;
    this.#opts.logger.error({ err: error }, 'the checkpoint worker failed; checkpoints now export the database on the event loop');
    if (this.#health.state === 'ok') {
      this.#health = { state: 'ok', error: message, since: this.#opts.now().toISOString(), recoveries: this.#health.recoveries };
    }
  }

  /** Whether the store serves, and why not. */
  get health(): StoreHealth {
    return this.#health;
  }

  /** @internal Used by openSqlJsStore. */
  static async [OPEN](opts: ResolvedStoreOptions): Promise<Result<SqlJsStore, OpenStoreError>> {
    let SQL;
    try {
      SQL = await loadSqlJs();
    } catch (cause) {
      return err(new StoreError('load sql.js', cause));
    }
    if (opts.path === null) {
      try {
        const db = new SqlDatabase(new SQL.Database());
        applyPragmas(db);
        const storeId = randomUUID();
        createSchema(db, storeId);
        return ok(new SqlJsStore(SQL, db, opts, null, storeId));
      } catch (cause) {
        return err(new StoreError('open in-memory database', cause));
      }
    }
    const path = opts.path;
    const opened = await openFile(SQL, { ...opts, path });
    if (opened.isErr()) return err(opened.error);
    const { db, lock, storeId } = opened.value;
    const store = new SqlJsStore(SQL, db, opts, lock, storeId);
    store.#committer = store.#newCommitter(opened.value, path);
    return ok(store);
  }

  /** Write where this process can be asked into the lock file (file stores; a no-op in memory or once closed). */
  advertise(info: { statusUrl: string }): ResultAsync<void, StoreError> {
    if (this.#closing !== null || this.#lock === null) return okAsync(undefined);
    return ResultAsync.fromPromise(
      this.#lock.advertise(info),
      (cause) => new StoreError('advertise the status server in the lock file', cause),
    );
  }

  /** Journal and checkpoint counters (zeros in memory). */
  get stats(): CommitterStats {
    return this.#committer?.stats ?? { seq: 0, durableSeq: 0, journalWrites: 0, checkpoints: 0, journalBytes: 0 };
  }

  // ---------------------------------------------------------------- nodes

  createNode(fields: NewNode, ports: readonly NewPort[] = []): ResultAsync<NodeRecord, Duplicate | InvalidParameterValue | StoreError> {
    if (typeof fields !== 'object' || fields === null) {
      return errAsync(new InvalidParameterValue('node fields must be an object', { field: null }));
    }
    if (typeof fields.driver !== 'string' || fields.driver === '') {
      return errAsync(new InvalidParameterValue('driver is required and must be a non-empty string', { field: 'driver' }));
    }
    const encoded = encodeFields(fields, NODE_CREATABLE);
    if (encoded instanceof FieldProblem) {
      return errAsync(new InvalidParameterValue(`Invalid node field ${encoded.toString()}`, { field: encoded.column }));
    }
    const values: Record<string, SqlParam> = { ...NODE_INSERT_DEFAULTS, uuid: randomUUID() };
    encoded.columns.forEach((c, i) => (values[c] = encoded.params[i]!));
    values.created_at = this.#now();
    const params = NODE_INSERT_COLUMNS.map((c) => values[c] ?? null);
    if (!Array.isArray(ports)) return errAsync(new InvalidParameterValue('ports must be an array', { field: 'ports' }));
    const inserts: ChildInsert[] = [];
    for (const port of ports) {
      const prepared = this.#prepareChild('createNode', PORTS, port);
      if (prepared.isErr()) return errAsync(prepared.error);
      inserts.push(prepared.value);
    }
    // The node and its ports are one write: all or nothing.
    let writing: Readonly<Record<string, unknown>> = values;
    return this.#write(
      'createNode',
      values,
      (db, journal) => {
        journal(NODE_INSERT_SQL, params);
        const id = lastInsertId(db);
        for (const insert of inserts) {
          writing = insert.values; // a Duplicate names the value of the statement that failed
          journal(insert.sql, insert.params(id));
        }
        return ok(this.#nodeById(db, id)!);
      },
      { atomic: inserts.length > 0, duplicateValues: () => writing },
    );
  }

  getNode(identity: NodeIdentity): ResultAsync<NodeRecord, LookupError> {
    return this.#read('getNode', (db) => {
      const parsed = parseIdentity(identity);
      if (parsed.isErr()) return err(parsed.error);
      const [column, key] = identityColumn(parsed.value);
      const row = db.get(`${SELECT_NODE} WHERE ${column} = ?`, [key]);
      return row === undefined ? err(new NodeNotFound(identity)) : ok(rowToNode(row));
    });
  }

  listNodes(filter: NodeFilter = {}): ResultAsync<NodeRecord[], StoreError> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    const { provisionState, reserved, reservedBy, maintenance, driver, provisionUpdatedBefore, limit } = filter;
    if (typeof provisionState === 'string') {
      where.push('provision_state = ?');
      params.push(provisionState);
    } else if (Array.isArray(provisionState)) {
      // One statement shape for any number of states.
      where.push('provision_state IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(provisionState));
    } else if (provisionState !== undefined) {
      throw new TypeError('listNodes: provisionState must be a string or an array of strings');
    }
    // Unary + keeps the planner off reservation_idx for IS NULL (nearly every node): with a state
    // filter, provision_state_idx narrows far better (the periodic checks' queries).
    if (reserved !== undefined) where.push(reserved ? 'reservation IS NOT NULL' : '+reservation IS NULL');
    if (reservedBy !== undefined) {
      where.push('lower(reservation) = lower(?)');
      params.push(reservedBy);
    }
    if (maintenance !== undefined) {
      where.push('maintenance = ?');
      params.push(maintenance ? 1 : 0);
    }
    if (driver !== undefined) {
      where.push('driver = ?');
      params.push(driver);
    }
    if (provisionUpdatedBefore !== undefined) {
      if (!(provisionUpdatedBefore instanceof Date) || Number.isNaN(provisionUpdatedBefore.getTime())) {
        throw new TypeError('listNodes: provisionUpdatedBefore must be a valid Date');
      }
      where.push('provision_updated_at < ?');
      params.push(provisionUpdatedBefore.toISOString());
    }
    let sql = `${SELECT_NODE}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    if (limit !== undefined) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError('listNodes: limit must be a non-negative integer');
      sql += ' LIMIT ?';
      params.push(limit);
    }
    return this.#read('listNodes', (db) => ok(db.all(sql, params).map(rowToNode)));
  }

  updateNode(
    nodeId: number,
    changes: NodeChanges,
    fence?: Fence,
  ): ResultAsync<NodeRecord, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    assertNodeId('updateNode', nodeId);
    assertFence('updateNode', fence);
    if (typeof changes !== 'object' || changes === null) throw new TypeError('updateNode: changes must be an object');
    // Identity and lock columns are never sent by the node actor: a caller bug.
    const forbidden = Object.keys(changes).find((column) => PROTECTED_COLUMNS.has(column));
    if (forbidden !== undefined) throw new TypeError(`updateNode: ${forbidden} is not a writable column`);
    // Values come from callers' recipes (through the node actor): a bad one is an expected failure.
    const encoded = encodeFields(changes, NODE_UPDATABLE);
    if (encoded instanceof FieldProblem) {
      return errAsync(new InvalidParameterValue(`Invalid node field ${encoded.toString()}`, { field: encoded.column }));
    }
    const { columns, params } = encoded;
    const now = this.#now();
    if (!columns.includes('updated_at')) {
      columns.push('updated_at');
      params.push(now);
    }
    // Ironic stamps provision_updated_at whenever provision_state is written, changed or not.
    if (columns.includes('provision_state') && !columns.includes('provision_updated_at')) {
      columns.push('provision_updated_at');
      params.push(now);
    }
    const values = Object.fromEntries(columns.map((c, i) => [c, params[i]]));
    const sql = `UPDATE nodes SET ${columns.map((c) => `${c} = ?`).join(', ')}, version = version + 1 WHERE id = ?`;
    params.push(nodeId);
    return this.#write('updateNode', values, (db, journal) => {
      const changed = fence === undefined ? journal(sql, params) : journal(...fenced(sql, params, fence), [sql, params]);
      if (changed === 0) return this.#whyFenceFailed(db, nodeId, fence);
      return ok(this.#nodeById(db, nodeId)!);
    });
  }

  destroyNode(nodeId: number, fence?: Fence): ResultAsync<void, NodeNotFound | LockLost | StoreError> {
    assertNodeId('destroyNode', nodeId);
    assertFence('destroyNode', fence);
    // One statement: the nodes_cascade_delete trigger removes ports, portgroups and volume objects.
    const sql = 'DELETE FROM nodes WHERE id = ?';
    return this.#write('destroyNode', {}, (db, journal) => {
      const changed = fence === undefined ? journal(sql, [nodeId]) : journal(...fenced(sql, [nodeId], fence), [sql, [nodeId]]);
      return changed === 0 ? this.#whyFenceFailed(db, nodeId, fence) : ok(undefined);
    }) as ResultAsync<void, NodeNotFound | LockLost | StoreError>; // a DELETE violates no UNIQUE constraint
  }

  // ---------------------------------------------------------------- reservations

  reserve(tag: string, identity: NodeIdentity, info?: ReservationInfo): ResultAsync<NodeRecord, NodeLocked | LookupError> {
    assertTag('reserve', tag);
    const purpose = info?.purpose ?? null;
    if (purpose !== null && typeof purpose !== 'string') throw new TypeError('reserve: info.purpose must be a string');
    const at = this.#timestamp(info?.at, 'reserve');
    if (this.#tokenCeiling - this.#tokenNext < TOKEN_LOW_WATER && this.#refuse('reserve') === null) {
      // Raise the ceiling ahead of need; a reserve waits only when no token under it is left.
      const raising = this.#raiseTokenCeiling();
      if (this.#tokenNext > this.#tokenCeiling) {
        return new ResultAsync(raising).andThen(() => this.#reserveNow(tag, identity, purpose, at));
      }
    }
    return this.#reserveNow(tag, identity, purpose, at);
  }

  /**
   * Make every token up to a new ceiling (a block above the tokens handed out) usable: the ceiling
   * goes to `meta` in a journaled change that is durable (whatever the durability mode) before any
   * token under it is handed out, so a store reopened after a crash, which starts above the
   * ceiling it finds, never hands out a token again. Reservations themselves are not journaled.
   */
  #raiseTokenCeiling(): Promise<Result<void, StoreError>> {
    this.#raisingCeiling ??= (async () => {
      const ceiling = Math.max(this.#tokenCeiling, this.#tokenNext - 1) + TOKEN_BLOCK;
      const written = await this.#write(
        'reserve',
        {},
        (_db, journal) => {
          journal(META_UPSERT_SQL, [META_TOKEN_CEILING, String(ceiling)]);
          return ok(undefined);
        },
        { durable: true },
      );
      if (written.isErr()) return err(asStoreError('reserve', written.error));
      this.#tokenCeiling = Math.max(this.#tokenCeiling, ceiling);
      return ok(undefined);
    })().finally(() => {
      this.#raisingCeiling = null;
    });
    return this.#raisingCeiling;
  }

  #reserveNow(tag: string, identity: NodeIdentity, purpose: string | null, at: string): ResultAsync<NodeRecord, NodeLocked | LookupError> {
    return this.#read<NodeRecord, NodeLocked | LookupError>('reserve', (db) => {
      const parsed = parseIdentity(identity);
      if (parsed.isErr()) return err(parsed.error);
      const [column, key] = identityColumn(parsed.value);
      // Ironic's conditional UPDATE, then the row. Measured: UPDATE + SELECT by primary key is
      // about 10% faster than UPDATE ... RETURNING (which buffers its rows) with sql.js 1.16.
      const sql = RESERVE_STATEMENTS[column];
      if (this.#tokenNext > this.#tokenCeiling)
        return err(new StoreError('reserve', 'no reservation token is available (the ceiling was not raised)'));
      // A token is used up whether or not the UPDATE matches: tokens only need to grow.
      const token = this.#tokenNext++;
      if (db.run(sql.reserve, [tag, purpose, at, token, key]) === 1) {
        const node = rowToNode(db.get(sql.select, [key])!);
        this.#unjournaledVersions.add(node.id);
        return ok(node);
      }
      const holder = db.get(sql.holder, [key]);
      if (holder === undefined) return err(new NodeNotFound(identity));
      if (holder[1] === null) {
        return err(new StoreError('reserve', `conditional UPDATE matched nothing but node ${String(holder[0])} is unreserved`));
      }
      return err(this.#locked(holder));
    });
  }

  release(
    tag: string,
    nodeId: number,
    token?: number,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | LockLost | StoreError> {
    assertTag('release', tag);
    assertNodeId('release', nodeId);
    assertToken('release', token);
    return this.#read('release', (db) => {
      const changed = token === undefined ? db.run(RELEASE_SQL, [nodeId, tag]) : db.run(RELEASE_FENCED_SQL, [nodeId, tag, token]);
      if (changed !== 1) return this.#whyNotHeld(db, nodeId, tag, token);
      this.#unjournaledVersions.add(nodeId);
      return ok(undefined);
    });
  }

  transferReservation(
    tag: string,
    nodeId: number,
    info: ReservationInfo,
    token?: number,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | LockLost | StoreError> {
    assertTag('transferReservation', tag);
    assertNodeId('transferReservation', nodeId);
    assertToken('transferReservation', token);
    if (typeof info?.purpose !== 'string') throw new TypeError('transferReservation: info.purpose must be a string');
    const at = this.#timestamp(info.at, 'transferReservation');
    return this.#read('transferReservation', (db) => {
      const changed =
        token === undefined
          ? db.run(TRANSFER_SQL, [info.purpose, at, nodeId, tag])
          : db.run(TRANSFER_FENCED_SQL, [info.purpose, at, nodeId, tag, token]);
      if (changed !== 1) return this.#whyNotHeld(db, nodeId, tag, token);
      this.#unjournaledVersions.add(nodeId);
      return ok(undefined);
    });
  }

  clearReservations(host: string): ResultAsync<string[], StoreError> {
    assertTag('clearReservations', host);
    // lower() = lower() rather than LIKE: LIKE would treat % and _ in a host name as wildcards.
    return this.#read('clearReservations', (db) => {
      const rows = db.all(CLEAR_RESERVATIONS_SQL, [host]);
      for (const row of rows) this.#unjournaledVersions.add(row[0] as number);
      const uuids = rows.sort((a, b) => (a[0] as number) - (b[0] as number)).map((r) => r[1] as string);
      if (uuids.length > 0) this.#opts.logger.warn({ host, nodes: uuids }, 'cleared reservations held by this host');
      return ok(uuids);
    });
  }

  clearTargetPowerState(host: string, message: string): ResultAsync<string[], StoreError> {
    assertTag('clearTargetPowerState', host);
    if (typeof message !== 'string') throw new TypeError('clearTargetPowerState: message must be a string');
    const now = this.#now();
    return this.#write('clearTargetPowerState', {}, (db, journal) => {
      const rows = db.all('SELECT id, uuid FROM nodes WHERE lower(reservation) = lower(?) AND target_power_state IS NOT NULL ORDER BY id', [
        host,
      ]);
      if (rows.length === 0) return ok([]);
      // Journaled by id: a replayed statement must not depend on the (unjournaled) reservations.
      journal(
        'UPDATE nodes SET target_power_state = NULL, last_error = ?, updated_at = ?, version = version + 1 WHERE id IN (SELECT value FROM json_each(?))',
        [message, now, JSON.stringify(rows.map((r) => r[0]))],
      );
      const uuids = rows.map((r) => r[1] as string);
      this.#opts.logger.warn({ host, nodes: uuids }, 'cleared target_power_state of nodes reserved by this host');
      return ok(uuids);
    }) as ResultAsync<string[], StoreError>; // no UNIQUE column is written
  }

  // ---------------------------------------------------------------- ports, portgroups, volumes

  listPorts(nodeId: number): ResultAsync<Port[], StoreError> {
    return this.#listChildren('listPorts', PORTS, nodeId);
  }

  listPortgroups(nodeId: number): ResultAsync<Portgroup[], StoreError> {
    return this.#listChildren('listPortgroups', PORTGROUPS, nodeId);
  }

  listVolumeConnectors(nodeId: number): ResultAsync<VolumeConnector[], StoreError> {
    return this.#listChildren('listVolumeConnectors', VOLUME_CONNECTORS, nodeId);
  }

  listVolumeTargets(nodeId: number): ResultAsync<VolumeTarget[], StoreError> {
    return this.#listChildren('listVolumeTargets', VOLUME_TARGETS, nodeId);
  }

  createPort(
    nodeId: number,
    fields: NewPort,
    fence?: Fence,
  ): ResultAsync<Port, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    return this.#createChild('createPort', PORTS, nodeId, fields, fence);
  }

  createPortgroup(
    nodeId: number,
    fields: NewPortgroup,
    fence?: Fence,
  ): ResultAsync<Portgroup, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    return this.#createChild('createPortgroup', PORTGROUPS, nodeId, fields, fence);
  }

  createVolumeConnector(
    nodeId: number,
    fields: NewVolumeConnector,
  ): ResultAsync<VolumeConnector, NodeNotFound | Duplicate | InvalidParameterValue | StoreError> {
    // Without a fence there is no LockLost.
    return this.#createChild('createVolumeConnector', VOLUME_CONNECTORS, nodeId, fields) as ResultAsync<
      VolumeConnector,
      NodeNotFound | Duplicate | InvalidParameterValue | StoreError
    >;
  }

  createVolumeTarget(
    nodeId: number,
    fields: NewVolumeTarget,
  ): ResultAsync<VolumeTarget, NodeNotFound | Duplicate | InvalidParameterValue | StoreError> {
    return this.#createChild('createVolumeTarget', VOLUME_TARGETS, nodeId, fields) as ResultAsync<
      VolumeTarget,
      NodeNotFound | Duplicate | InvalidParameterValue | StoreError
    >;
  }

  // ---------------------------------------------------------------- conductors

  registerConductor(hostname: string, group = ''): ResultAsync<ConductorRow, StoreError> {
    assertTag('registerConductor', hostname);
    if (typeof group !== 'string' || group.length > 255)
      throw new TypeError('registerConductor: group must be a string of at most 255 characters');
    const now = this.#now();
    return this.#write('registerConductor', { hostname }, (db, journal) => {
      journal(
        'INSERT INTO conductors (hostname, online, created_at, conductor_group) VALUES (?, 1, ?, ?) ' +
          'ON CONFLICT (hostname) DO UPDATE SET online = 1, updated_at = excluded.created_at, conductor_group = excluded.conductor_group',
        [hostname, now, group],
      );
      return ok(rowToConductor(db.get(`${SELECT_CONDUCTOR} WHERE hostname = ?`, [hostname])!));
    }) as ResultAsync<ConductorRow, StoreError>; // an upsert resolves its own conflict
  }

  touchConductor(hostname: string, online: boolean): ResultAsync<void, StoreError> {
    assertTag('touchConductor', hostname);
    if (typeof online !== 'boolean') throw new TypeError('touchConductor: online must be a boolean');
    const now = this.#now();
    return this.#write('touchConductor', {}, (_db, journal) =>
      journal('UPDATE conductors SET online = ?, updated_at = ? WHERE hostname = ?', [online ? 1 : 0, now, hostname]) === 0
        ? err(new StoreError('touchConductor', `conductor ${hostname} is not registered`))
        : ok(undefined),
    ) as ResultAsync<void, StoreError>; // no UNIQUE column is written
  }

  listConductors(): ResultAsync<ConductorRow[], StoreError> {
    return this.#read('listConductors', (db) => ok(db.all(`${SELECT_CONDUCTOR} ORDER BY id`).map(rowToConductor)));
  }

  // ---------------------------------------------------------------- durability

  flush(): ResultAsync<void, StoreError> {
    const refused = this.#refuse('flush');
    if (refused !== null) return errAsync(refused);
    if (this.#committer === null) return okAsync(undefined);
    return ResultAsync.fromPromise(this.#committer.flush(), (cause) => asStoreError('flush', cause));
  }

  /** Write a checkpoint now (file stores; a no-op in memory). Resolves once it is on disk. */
  checkpoint(): ResultAsync<void, StoreError> {
    const refused = this.#refuse('checkpoint');
    if (refused !== null) return errAsync(refused);
    if (this.#committer === null) return okAsync(undefined);
    return ResultAsync.fromPromise(this.#committer.checkpoint(), (cause) => asStoreError('checkpoint', cause));
  }

  close(): ResultAsync<void, StoreError> {
    this.#closing ??= this.#shutdown();
    return new ResultAsync(this.#closing);
  }

  async #shutdown(): Promise<Result<void, StoreError>> {
    await this.#recovering;
    let error: StoreError | null = null;
    if (this.#committer !== null) {
      try {
        await this.#committer.close();
      } catch (cause) {
        error = asStoreError('close', cause);
      }
    }
    this.#replica?.close();
    this.#replica = null;
    try {
      this.#db?.close();
    } catch (cause) {
      error ??= asStoreError('close', cause);
    }
    this.#db = null;
    this.#setHealth('closed', error?.message ?? null);
    await this.#lock?.release().catch(() => undefined);
    if (error !== null) this.#opts.logger.error({ err: error }, 'store closed with an error');
    return error === null ? ok(undefined) : err(error);
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Why an operation cannot run now (closed, recovering, failed), or null. After a journal write
   * failed (a full disk), memory holds changes that were reported as failed: nothing is served
   * until the store has reloaded what the disk holds (sync mode), or at all (batched mode, whose
   * acknowledged changes may be lost: see README).
   */
  #refuse(operation: string): StoreError | null {
    if (this.#closing !== null || this.#db === null) return new StoreError(operation, 'the store is closed');
    if (this.#recovering !== null)
      return new StoreError(operation, `the store is reloading after a failed write (${this.#health.error ?? ''})`);
    const failure = this.#committer?.failure;
    if (failure === undefined || failure === null) return null;
    if (failure.recoverable && this.#opts.durability === 'sync') {
      this.#startRecovery(failure.error);
      return new StoreError(operation, `the store is reloading after a failed write (${failure.error.message})`);
    }
    this.#setHealth('failed', failure.error.message);
    return failure.error;
  }

  #setHealth(state: StoreHealth['state'], error: string | null): void {
    if (this.#health.state === state && this.#health.error === error) return;
    this.#health = { state, error, since: this.#opts.now().toISOString(), recoveries: this.#health.recoveries };
  }

  /**
   * Reload memory from the disk after a failed journal write whose partial bytes were cut off:
   * the database file and journal hold exactly the acknowledged changes, so after this every
   * change reported as failed is gone from memory too. Reservations (never journaled) are carried
   * over. Writes are served again as soon as the disk takes them.
   */
  #startRecovery(cause: StoreError): void {
    if (this.#recovering !== null || this.path === null) return;
    this.#setHealth('recovering', cause.message);
    const path = this.path;
    this.#recovering = (async () => {
      const old = this.#db!;
      try {
        await this.#committer?.close().catch(() => undefined);
        const loaded = await loadFile(this.#SQL, { ...this.#opts, path });
        if (loaded.isErr()) {
          this.#opts.logger.error({ err: loaded.error }, 'reloading the store after a failed write failed; it stays failed');
          this.#setHealth('failed', `${cause.message}; reloading failed: ${loaded.error.message}`);
          this.#replica?.close();
          this.#replica = null;
          this.#committer = null;
          this.#db = null;
          old.close();
          return;
        }
        const { db } = loaded.value;
        // Reservations are not journaled: the file has those of its last checkpoint, some released
        // since. Memory has the live ones: take exactly those.
        db.run(
          'UPDATE nodes SET reservation = NULL, reservation_purpose = NULL, reserved_at = NULL, reservation_token = NULL WHERE reservation IS NOT NULL',
        );
        for (const row of old.all(
          'SELECT reservation, reservation_purpose, reserved_at, reservation_token, id FROM nodes WHERE reservation IS NOT NULL',
        )) {
          db.run(
            'UPDATE nodes SET reservation = ?, reservation_purpose = ?, reserved_at = ?, reservation_token = ? WHERE id = ?',
            row as SqlParam[],
          );
        }
        // Versions never go back: every row gets one above both its reloaded and its in-memory version
        // (the reloaded row may differ from what memory held: callers re-read it).
        for (const [id, version] of old.all('SELECT id, version FROM nodes')) {
          db.run('UPDATE nodes SET version = max(version, ?) + 1 WHERE id = ?', [version as number, id as number]);
        }
        old.close();
        this.#db = db;
        this.#committer = this.#newCommitter(loaded.value, path);
        this.#health = {
          state: 'ok',
          error: cause.message,
          since: this.#opts.now().toISOString(),
          recoveries: this.#health.recoveries + 1,
        };
        this.#opts.logger.warn({ error: cause.message }, 'store reloaded from disk after a failed write; serving again');
      } catch (bug) {
        this.#opts.logger.error({ err: bug }, 'reloading the store failed; it stays failed');
        this.#setHealth('failed', `${cause.message}; reloading failed: ${describe(bug)}`);
      }
    })().finally(() => {
      this.#recovering = null;
    });
  }

  /** Run a synchronous operation that writes nothing durable. */
  #read<T, E>(operation: string, fn: (db: SqlDatabase) => Result<T, E>): ResultAsync<T, E | StoreError> {
    const refused = this.#refuse(operation);
    if (refused !== null) return errAsync(refused);
    let result: Result<T, E>;
    try {
      result = fn(this.#db!);
    } catch (cause) {
      return errAsync(asStoreError(operation, cause));
    }
    return result.isOk() ? okAsync(result.value) : errAsync(result.error);
  }

  /**
   * Run a synchronous operation whose journaled statements must be durable. In sync mode the
   * result is delivered once they are on disk; in batched mode at once. `values` name the value
   * of a Duplicate.
   */
  /**
   * Run a write on the in-memory database and journal what it changed. A write of several
   * statements is `atomic`: it runs in a savepoint that is rolled back if any statement fails, and
   * only a write that succeeded reaches the journal.
   */
  #write<T, E>(
    operation: string,
    values: Readonly<Record<string, unknown>>,
    fn: (db: SqlDatabase, journal: Journaled) => Result<T, E>,
    options: { atomic?: boolean; durable?: boolean; duplicateValues?: (cause: unknown) => Readonly<Record<string, unknown>> } = {},
  ): ResultAsync<T, E | Duplicate | StoreError> {
    const refused = this.#refuse(operation);
    if (refused !== null) return errAsync(refused);
    const db = this.#db!;
    const committer = this.#committer;
    const changes: Statement[] = [];
    const journal: Journaled = (sql, params, replay) => {
      const changed = db.run(sql, params);
      // A statement that changed nothing has nothing to replay.
      if (changed > 0) changes.push(replay ?? [sql, params]);
      return changed;
    };
    const atomic = options.atomic === true;
    if (atomic) db.exec('SAVEPOINT atomic_write');
    let result: Result<T, E>;
    try {
      result = fn(db, journal);
    } catch (cause) {
      if (atomic) db.exec('ROLLBACK TO atomic_write; RELEASE atomic_write');
      return errAsync(writeError(operation, cause, options.duplicateValues?.(cause) ?? values));
    }
    if (result.isErr()) {
      if (atomic) db.exec('ROLLBACK TO atomic_write; RELEASE atomic_write');
      return errAsync(result.error);
    }
    if (atomic) db.exec('RELEASE atomic_write');
    const seq = committer !== null && changes.length > 0 ? committer.append(changes) : 0;
    if (seq === 0 || committer === null || (this.#opts.durability === 'batched' && !committer.behind && options.durable !== true)) {
      return okAsync(result.value);
    }
    const value = result.value;
    return new ResultAsync(
      committer.durable(seq).then(
        () => ok(value),
        (cause: unknown) => err(asStoreError(operation, cause)),
      ),
    );
  }

  #listChildren<T>(operation: string, child: ChildTable<T>, nodeId: number): ResultAsync<T[], StoreError> {
    assertNodeId(operation, nodeId);
    return this.#read(operation, (db) => ok(db.all(`${child.select} WHERE node_id = ? ORDER BY id`, [nodeId]).map(child.convert)));
  }

  #createChild<T>(
    operation: string,
    child: ChildTable<T>,
    nodeId: number,
    fields: object,
    fence?: Fence,
  ): ResultAsync<T, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    assertNodeId(operation, nodeId);
    assertFence(operation, fence);
    const prepared = this.#prepareChild(operation, child, fields);
    if (prepared.isErr()) return errAsync(prepared.error);
    const insert = prepared.value;
    return this.#write(operation, insert.values, (db, journal) => {
      // The check and the INSERT run in one synchronous step: nothing can come between them.
      if (fence === undefined) {
        if (db.get('SELECT 1 FROM nodes WHERE id = ?', [nodeId]) === undefined) return err(new NodeNotFound(nodeId));
      } else if (db.get(`SELECT 1 FROM nodes WHERE id = ? AND ${FENCE_CONDITION}`, [nodeId, fence.tag, fence.token]) === undefined) {
        return this.#whyFenceFailed(db, nodeId, fence);
      }
      journal(insert.sql, insert.params(nodeId));
      return ok(child.convert(db.get(`${child.select} WHERE id = ?`, [lastInsertId(db)])!));
    });
  }

  /** Check and encode a child row (fields come from callers, through a task: a bad one is an Err). */
  #prepareChild<T>(operation: string, child: ChildTable<T>, fields: unknown): Result<ChildInsert, InvalidParameterValue> {
    if (typeof fields !== 'object' || fields === null) {
      return err(new InvalidParameterValue(`${operation}: fields must be an object`, { field: null }));
    }
    const encoded = encodeFields(fields as Record<string, unknown>, child.columns);
    if (encoded instanceof FieldProblem) {
      return err(new InvalidParameterValue(`${operation}: invalid field ${encoded.toString()}`, { field: encoded.column }));
    }
    const missing = child.required.filter((c) => !encoded.columns.includes(c));
    if (missing.length > 0) {
      return err(new InvalidParameterValue(`${operation}: missing required field(s) ${missing.join(', ')}`, { field: missing[0] }));
    }
    const values: Record<string, SqlParam> = { ...child.defaults, uuid: randomUUID() };
    encoded.columns.forEach((c, i) => (values[c] = encoded.params[i]!));
    values.created_at = this.#now();
    // Every column, given or defaulted: one statement shape per table.
    const columns = [...Object.keys(child.columns), 'node_id', 'created_at'];
    const sql = `INSERT INTO ${child.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
    return ok({ sql, values, params: (nodeId) => columns.map((c) => (c === 'node_id' ? nodeId : (values[c] ?? null))) });
  }

  #nodeById(db: SqlDatabase, id: number): NodeRecord | undefined {
    const row = db.get(`${SELECT_NODE} WHERE id = ?`, [id]);
    return row === undefined ? undefined : rowToNode(row);
  }

  /**
   * The error for a release/transfer whose conditional UPDATE matched nothing (Ironic's order);
   * held under `tag` with another token than `token` → LockLost.
   */
  #whyNotHeld(
    db: SqlDatabase,
    nodeId: number,
    tag: string,
    token: number | undefined,
  ): Result<never, NodeNotFound | NodeNotLocked | NodeLocked | LockLost> {
    const holder = db.get(`${HOLDER_SQL} id = ?`, [nodeId]);
    if (holder === undefined) return err(new NodeNotFound(nodeId));
    if (holder[1] === null) return err(new NodeNotLocked(holder[0] as string));
    if (token !== undefined && holder[1] === tag) {
      return err(new LockLost(nodeId, { host: tag, token }, { host: tag, token: holder[4] as number | null }));
    }
    return err(this.#locked(holder));
  }

  /** The error for a write whose (fenced) statement matched nothing: the node is gone, or the fence no longer holds. */
  #whyFenceFailed(db: SqlDatabase, nodeId: number, fence: Fence | undefined): Result<never, NodeNotFound | LockLost> {
    const holder = db.get(`${HOLDER_SQL} id = ?`, [nodeId]);
    if (holder === undefined || fence === undefined) return err(new NodeNotFound(nodeId));
    const now = { host: holder[1] as string | null, token: holder[4] as number | null };
    return err(new LockLost(nodeId, { host: fence.tag, token: fence.token }, now));
  }

  /** NodeLocked from a HOLDER_SQL row: tag, purpose and how long it has been held. */
  #locked(holder: SqlRow): NodeLocked {
    const reservedAt = holder[3] === null ? Number.NaN : Date.parse(holder[3] as string);
    const info: LockHolder = {
      host: holder[1] as string,
      purpose: (holder[2] as string | null) ?? null,
      heldForMs: Number.isNaN(reservedAt) ? null : Math.max(0, this.#opts.now().getTime() - reservedAt),
    };
    return new NodeLocked(holder[0] as string, info);
  }

  #now(): string {
    return this.#opts.now().toISOString();
  }

  #timestamp(at: Date | undefined, operation: string): string {
    if (at === undefined) return this.#now();
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError(`${operation}: info.at must be a valid Date`);
    return at.toISOString();
  }
}

/** The reserve statements per identity column, built once (reserve is on every exclusive grant). */
const RESERVE_STATEMENTS: Readonly<Record<IdentityColumn, { reserve: string; select: string; holder: string }>> = Object.freeze(
  Object.fromEntries(
    (['id', 'uuid', 'name'] as const).map((column) => [
      column,
      {
        reserve: `${RESERVE_SQL} ${column} = ? AND reservation IS NULL`,
        select: `${SELECT_NODE} WHERE ${column} = ?`,
        holder: `${HOLDER_SQL} ${column} = ?`,
      },
    ]),
  ) as Record<IdentityColumn, { reserve: string; select: string; holder: string }>,
);

/** The fenced form of a statement ending in `WHERE id = ?`: only while the row holds the fence's reservation. */
function fenced(sql: string, params: readonly SqlParam[], fence: Fence): [string, SqlParam[]] {
  return [`${sql} AND ${FENCE_CONDITION}`, [...params, fence.tag, fence.token]];
}

function lastInsertId(db: SqlDatabase): number {
  return db.get(LAST_ID_SQL)![0] as number;
}

function asStoreError(operation: string, cause: unknown): StoreError {
  return cause instanceof StoreError ? cause : new StoreError(operation, cause);
}
