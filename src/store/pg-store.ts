/**
 * The PostgreSQL store: several conductor processes on one database. Same contract and row shapes
 * as the sql.js store; reservations are Ironic's conditional UPDATEs (one statement each), every
 * write of a node row bumps its `version`, and fenced writes change a row only while it holds the
 * caller's reservation and token. Queries run on a pool; one more connection per store (the
 * session, internal/pg/session.ts) LISTENs for the notifications the triggers send after commit
 * and holds the host claim. Every failure is an Err: nothing here throws or rejects, except the
 * TypeErrors of caller bugs the sql.js store throws too.
 */
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import pg from 'pg';
import {
  type Duplicate,
  InvalidParameterValue,
  LockLost,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  StoreError,
  type LockHolder,
} from '../errors.js';
import { parseIdentity } from '../identity.js';
import { silentLogger, type Logger } from '../logging.js';
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
import { encodeFields, FieldProblem, NODE_CREATABLE, NODE_UPDATABLE, type ColumnKind } from './internal/fields.js';
import { isForeignKeyViolation, pgWriteError } from './internal/pg/errors.js';
import {
  CLEAR_RESERVATIONS_SQL,
  CLEAR_TARGET_POWER_STATE_SQL,
  CLEAR_WAITING_SQL,
  destroyNodeQuery,
  fencedChildInsertQuery,
  handOverQuery,
  holderQuery,
  insertQuery,
  LIVE_HOSTS_SQL,
  PG_PORTGROUPS,
  PG_PORTS,
  PG_VOLUME_CONNECTORS,
  PG_VOLUME_TARGETS,
  pgParam,
  pgType,
  REGISTER_CONDUCTOR_SQL,
  releaseQuery,
  reserveLockedQuery,
  reserveQuery,
  SET_WAITING_SQL,
  transferQuery,
  updateNodeQuery,
  WAITERS_OF_SQL,
  type HolderRow,
  type PgChangeRow,
  type PgChildTable,
} from './internal/pg/queries.js';
import { Announcer, type ChangedRow } from './internal/pg/announcer.js';
import { assertFence, assertNodeId, assertTag, assertToken, identityColumn } from './internal/arguments.js';
import { pgRowToConductor, pgRowToNode, type PgRow } from './internal/pg/rows.js';
import { createOrMigrate, LOCK_NAMESPACE } from './internal/pg/schema.js';
import { PgSession } from './internal/pg/session.js';
import type {
  Fence,
  LookupError,
  NewPort,
  NewPortgroup,
  NewVolumeConnector,
  NewVolumeTarget,
  NodeChange,
  NodeFilter,
  OutsideWaiter,
  ReservationInfo,
  Store,
  StoreCoordination,
  StoreHealth,
  StoreTimings,
} from './store.js';

/** The operations run through `#run` that write (timed as commits when `timings` is set); every `#write` is timed too. */
const TIMED_RUNS: ReadonlySet<string> = new Set([
  'destroyNode',
  'reserve',
  'release',
  'transferReservation',
  'clearReservations',
  'clearTargetPowerState',
  'registerConductor',
  'touchConductor',
  'setWaiting',
  'handOver',
  'markOffline',
]);

/** Options of `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgresql://user:password@host:5432/db` (required). */
  url: string;
  /** Pool size: connections for queries, besides the one session connection. Default 10. */
  poolSize?: number;
  /** pino logger. Default silent. */
  logger?: Logger;
  /** First delay before reconnecting the session after its connection is lost, doubled per failed attempt. Default 100. */
  reconnectMinMs?: number;
  /** Longest delay between two reconnect attempts of the session. Default 2000. */
  reconnectMaxMs?: number;
  /** Bound on connecting and on every statement (client and server side), so nothing hangs during an outage. Default 5000. */
  queryTimeoutMs?: number;
  /** Told each write's duration, from issue to commit (the conductor's metrics: `commit`; PostgreSQL has no checkpoint of ours). Default none. */
  timings?: StoreTimings;
}

interface ResolvedOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly logger: Logger;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly queryTimeoutMs: number;
  readonly timings: StoreTimings | undefined;
}

function resolveOptions(options: PostgresStoreOptions): Result<ResolvedOptions, InvalidParameterValue> {
  const bad = (field: string, expected: string): Result<never, InvalidParameterValue> =>
    err(new InvalidParameterValue(`postgres store option ${field} must be ${expected}`, { field }));
  if (typeof options !== 'object' || options === null) return bad('options', 'an object');
  if (typeof options.url !== 'string' || options.url === '') return bad('url', 'a non-empty connection string');
  const positive = (field: keyof PostgresStoreOptions, fallback: number): number | null => {
    const value = options[field];
    if (value === undefined) return fallback;
    return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
  };
  const poolSize = positive('poolSize', 10);
  if (poolSize === null) return bad('poolSize', 'a positive integer');
  const reconnectMinMs = positive('reconnectMinMs', 100);
  if (reconnectMinMs === null) return bad('reconnectMinMs', 'a positive integer');
  const reconnectMaxMs = positive('reconnectMaxMs', 2000);
  if (reconnectMaxMs === null || reconnectMaxMs < reconnectMinMs) return bad('reconnectMaxMs', 'a positive integer ≥ reconnectMinMs');
  const queryTimeoutMs = positive('queryTimeoutMs', 5000);
  if (queryTimeoutMs === null) return bad('queryTimeoutMs', 'a positive integer');
  if (options.logger !== undefined && (typeof options.logger !== 'object' || options.logger === null))
    return bad('logger', 'a pino logger');
  const timings = options.timings;
  if (timings !== undefined && (typeof timings !== 'object' || timings === null || typeof timings.commit !== 'function'))
    return bad('timings', 'an object with commit()');
  return ok({
    url: options.url,
    poolSize,
    logger: options.logger ?? silentLogger(),
    reconnectMinMs,
    reconnectMaxMs,
    queryTimeoutMs,
    timings,
  });
}

/** `postgresql://host:port/db`: the connection string without user and password. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `postgresql://${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgresql://(unparsable connection string)';
  }
}

/**
 * Open a PostgreSQL store: connect, create or check the schema (one transaction under an advisory
 * lock, so concurrent openers do not race), open the session connection.
 */
export function openPostgresStore(options: PostgresStoreOptions): ResultAsync<PostgresStore, StoreError | InvalidParameterValue> {
  const resolved = resolveOptions(options);
  if (resolved.isErr()) return errAsync(resolved.error);
  return new ResultAsync(PostgresStore[OPEN](resolved.value));
}

const OPEN = Symbol('open');

/** The PostgreSQL store. Open with `openPostgresStore`. */
export class PostgresStore implements Store {
  readonly description: string;
  readonly coordination: StoreCoordination;
  readonly #opts: ResolvedOptions;
  readonly #pool: pg.Pool;
  /** Announces committed node changes to every conductor, after the commit. */
  readonly #announcer: Announcer;
  readonly #session: PgSession;
  #health: StoreHealth = { state: 'ok', error: null, since: null, recoveries: 0 };
  #closing: Promise<Result<void, StoreError>> | null = null;

  private constructor(opts: ResolvedOptions, pool: pg.Pool, session: PgSession) {
    this.#opts = opts;
    this.#pool = pool;
    this.#announcer = new Announcer(pool, opts.logger);
    this.#session = session;
    this.description = describeUrl(opts.url);
    this.coordination = this.#coordination();
  }

  /** @internal Used by openPostgresStore. */
  static async [OPEN](opts: ResolvedOptions): Promise<Result<PostgresStore, StoreError>> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize,
      connectionTimeoutMillis: opts.queryTimeoutMs,
      query_timeout: opts.queryTimeoutMs,
      statement_timeout: opts.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'metal-conductor',
    });
    // An idle connection the server terminated: pg removes it; without a listener Node would crash.
    pool.on('error', (error) => opts.logger.warn({ err: error }, 'idle store connection failed'));
    let client: pg.PoolClient | null = null;
    try {
      client = await pool.connect();
      const problem = await createOrMigrate(client);
      client.release();
      client = null;
      if (problem !== null) {
        await pool.end().catch(() => undefined);
        return err(new StoreError('open', `${describeUrl(opts.url)}: ${problem}`));
      }
    } catch (cause) {
      client?.release(true);
      await pool.end().catch(() => undefined);
      return err(new StoreError('open', cause));
    }
    let store: PostgresStore | null = null;
    try {
      const session = await PgSession.open({
        connectionString: opts.url,
        queryTimeoutMs: opts.queryTimeoutMs,
        reconnectMinMs: opts.reconnectMinMs,
        reconnectMaxMs: opts.reconnectMaxMs,
        logger: opts.logger,
        onState: (state, error) => {
          if (store !== null) store.#sessionState(state, error);
        },
      });
      store = new PostgresStore(opts, pool, session);
      return ok(store);
    } catch (cause) {
      await pool.end().catch(() => undefined);
      return err(new StoreError('open', cause));
    }
  }

  /** Whether the store serves, and why not. */
  get health(): StoreHealth {
    return this.#health;
  }

  /** Backend pid of the session connection (tests, diagnostics), or null while it reconnects. */
  get sessionPid(): number | null {
    return this.#session.pid;
  }

  #sessionState(state: 'ok' | 'recovering' | 'failed', error: string | null): void {
    if (this.#closing !== null) return;
    const previous = this.#health;
    if (state === 'ok') {
      this.#health = { state: 'ok', error: previous.error, since: new Date().toISOString(), recoveries: previous.recoveries + 1 };
    } else {
      this.#health = { state, error, since: new Date().toISOString(), recoveries: previous.recoveries };
    }
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
    if (!Array.isArray(ports)) return errAsync(new InvalidParameterValue('ports must be an array', { field: 'ports' }));
    const columns = [...encoded.columns];
    const kinds = columns.map((c) => pgType(NODE_CREATABLE[c]!));
    const params = encoded.params.map((p, i) => pgParam(NODE_CREATABLE[columns[i]!]!, p));
    if (!columns.includes('uuid')) {
      columns.push('uuid');
      kinds.push('text');
      params.push(randomUUID());
    }
    columns.push('created_at');
    kinds.push('timestamptz');
    params.push(now());
    const values = Object.fromEntries(columns.map((c, i) => [c, params[i]]));
    const children: ChildRow[] = [];
    for (const port of ports) {
      const prepared = prepareChild('createNode', PG_PORTS, port);
      if (prepared.isErr()) return errAsync(prepared.error);
      children.push(prepared.value);
    }
    const node = insertQuery('nodes', columns, kinds, params);
    if (children.length === 0) {
      return this.#write(
        'createNode',
        async (pool) => ok(this.#announced(pgRowToNode((await pool.query<PgRow>(node)).rows[0]!), false)),
        () => values,
      );
    }
    // The node and its ports are one transaction: all or nothing.
    let writing: Readonly<Record<string, unknown>> = values;
    return this.#transaction(
      'createNode',
      async (client) => {
        const created = pgRowToNode((await client.query<PgRow>(node)).rows[0]!);
        for (const child of children) {
          writing = child.values;
          await client.query(
            insertQuery(PG_PORTS.table, ['node_id', ...child.columns], ['bigint', ...child.kinds], [created.id, ...child.params]),
          );
        }
        return ok(created);
      },
      () => writing,
      (created) => void this.#announced(created, false),
    );
  }

  getNode(identity: NodeIdentity): ResultAsync<NodeRecord, LookupError> {
    const parsed = parseIdentity(identity);
    return this.#run('getNode', async (pool) => {
      if (parsed.isErr()) return err(parsed.error);
      const [column, key] = identityColumn(parsed.value);
      const row = (await pool.query<PgRow>(`SELECT * FROM nodes WHERE ${column} = $1`, [key])).rows[0];
      return row === undefined ? err(new NodeNotFound(identity)) : ok(pgRowToNode(row));
    });
  }

  listNodes(filter: NodeFilter = {}): ResultAsync<NodeRecord[], StoreError> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const { provisionState, reserved, reservedBy, maintenance, driver, provisionUpdatedBefore, limit } = filter;
    if (typeof provisionState === 'string') where.push(`provision_state = ${param(provisionState)}`);
    else if (Array.isArray(provisionState))
      where.push(`provision_state = ANY(${param([...(provisionState as readonly string[])])}::text[])`);
    else if (provisionState !== undefined) throw new TypeError('listNodes: provisionState must be a string or an array of strings');
    if (reserved !== undefined) where.push(reserved ? 'reservation IS NOT NULL' : 'reservation IS NULL');
    if (reservedBy !== undefined) where.push(`lower(reservation) = lower(${param(reservedBy)})`);
    if (maintenance !== undefined) where.push(`maintenance = ${param(maintenance === true)}`);
    if (driver !== undefined) where.push(`driver = ${param(driver)}`);
    if (provisionUpdatedBefore !== undefined) {
      if (!(provisionUpdatedBefore instanceof Date) || Number.isNaN(provisionUpdatedBefore.getTime())) {
        throw new TypeError('listNodes: provisionUpdatedBefore must be a valid Date');
      }
      where.push(`provision_updated_at < ${param(provisionUpdatedBefore.toISOString())}::timestamptz`);
    }
    let sql = `SELECT * FROM nodes${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    if (limit !== undefined) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError('listNodes: limit must be a non-negative integer');
      sql += ` LIMIT ${param(limit)}`;
    }
    return this.#run('listNodes', async (pool) => ok((await pool.query<PgRow>(sql, params)).rows.map(pgRowToNode)));
  }

  updateNode(
    nodeId: number,
    changes: NodeChanges,
    fence?: Fence,
  ): ResultAsync<NodeRecord, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    assertNodeId('updateNode', nodeId);
    if (typeof changes !== 'object' || changes === null) throw new TypeError('updateNode: changes must be an object');
    const forbidden = Object.keys(changes).find((column) => PROTECTED_COLUMNS.has(column));
    if (forbidden !== undefined) throw new TypeError(`updateNode: ${forbidden} is not a writable column`);
    const checkedFence = fenceOf('updateNode', fence);
    const encoded = encodeFields(changes, NODE_UPDATABLE);
    if (encoded instanceof FieldProblem) {
      return errAsync(new InvalidParameterValue(`Invalid node field ${encoded.toString()}`, { field: encoded.column }));
    }
    const columns = [...encoded.columns];
    const kinds: string[] = columns.map((c) => pgType(NODE_UPDATABLE[c]!));
    const params: unknown[] = encoded.params.map((p, i) => pgParam(NODE_UPDATABLE[columns[i]!]!, p));
    const stamp = now();
    if (!columns.includes('updated_at')) {
      columns.push('updated_at');
      kinds.push('timestamptz');
      params.push(stamp);
    }
    // Ironic stamps provision_updated_at whenever provision_state is written, changed or not.
    if (columns.includes('provision_state') && !columns.includes('provision_updated_at')) {
      columns.push('provision_updated_at');
      kinds.push('timestamptz');
      params.push(stamp);
    }
    const values = Object.fromEntries(columns.map((c, i) => [c, params[i]]));
    const query = updateNodeQuery(columns, kinds, params, nodeId, checkedFence);
    return this.#write(
      'updateNode',
      async (pool) => {
        const row = (await pool.query<PgRow>(query)).rows[0];
        if (row !== undefined) return ok(this.#announced(pgRowToNode(row), false));
        return this.#whyFenceFailed(pool, nodeId, checkedFence);
      },
      () => values,
    );
  }

  destroyNode(nodeId: number, fence?: Fence): ResultAsync<void, NodeNotFound | LockLost | StoreError> {
    assertNodeId('destroyNode', nodeId);
    const checkedFence = fenceOf('destroyNode', fence);
    return this.#run('destroyNode', async (pool) => {
      const gone = (await pool.query<PgChangeRow>(destroyNodeQuery(nodeId, checkedFence))).rows[0];
      if (gone !== undefined) {
        this.#announcer.announce(changedRow(gone), false, true);
        return ok(undefined);
      }
      return this.#whyFenceFailed(pool, nodeId, checkedFence);
    });
  }

  // ---------------------------------------------------------------- reservations

  reserve(tag: string, identity: NodeIdentity, info?: ReservationInfo): ResultAsync<NodeRecord, NodeLocked | LookupError> {
    assertTag('reserve', tag);
    const purpose = info?.purpose ?? null;
    if (purpose !== null && typeof purpose !== 'string') throw new TypeError('reserve: info.purpose must be a string');
    const at = timestamp(info?.at, 'reserve');
    const parsed = parseIdentity(identity);
    return this.#run<NodeRecord, NodeLocked | LookupError>('reserve', async (pool) => {
      if (parsed.isErr()) return err(parsed.error);
      const [column, key] = identityColumn(parsed.value);
      // Ironic's conditional UPDATE; when it matches nothing, who holds the node.
      const row = (await pool.query<PgRow>(reserveQuery(column, tag, purpose, at, key))).rows[0];
      if (row !== undefined) return ok(this.#announced(pgRowToNode(row), true));
      const holder = (await pool.query<HolderRow>(holderQuery(column, key))).rows[0];
      if (holder === undefined) return err(new NodeNotFound(identity));
      if (holder.reservation !== null) return err(locked(holder));
      // Released between the two statements: ask again, under a row lock, for a consistent answer.
      const again = (await pool.query<HolderRow & { granted: string | null }>(reserveLockedQuery(column, tag, purpose, at, key))).rows[0];
      if (again === undefined) return err(new NodeNotFound(identity));
      if (again.granted === null) return err(locked(again));
      const granted = (await pool.query<PgRow>('SELECT * FROM nodes WHERE id = $1', [again.granted])).rows[0];
      return granted === undefined ? err(new NodeNotFound(identity)) : ok(this.#announced(pgRowToNode(granted), true));
    });
  }

  release(
    tag: string,
    nodeId: number,
    token?: number,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | LockLost | StoreError> {
    assertTag('release', tag);
    assertNodeId('release', nodeId);
    const checkedToken = tokenOf('release', token);
    return this.#run('release', async (pool) => {
      const released = (await pool.query<PgChangeRow>(releaseQuery(tag, nodeId, checkedToken))).rows[0];
      if (released !== undefined) {
        this.#announcer.announce(changedRow(released), true);
        return ok(undefined);
      }
      return this.#whyNotHeld(pool, tag, nodeId, checkedToken);
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
    if (typeof info?.purpose !== 'string') throw new TypeError('transferReservation: info.purpose must be a string');
    const at = timestamp(info.at, 'transferReservation');
    const checkedToken = tokenOf('transferReservation', token);
    return this.#run('transferReservation', async (pool) => {
      const moved = (await pool.query<PgChangeRow>(transferQuery(tag, nodeId, info.purpose, at, checkedToken))).rows[0];
      if (moved !== undefined) {
        this.#announcer.announce(changedRow(moved), true);
        return ok(undefined);
      }
      return this.#whyNotHeld(pool, tag, nodeId, checkedToken);
    });
  }

  clearReservations(host: string): ResultAsync<string[], StoreError> {
    assertTag('clearReservations', host);
    return this.#run('clearReservations', async (pool) => {
      const rows = (await pool.query<PgChangeRow & { uuid: string }>(CLEAR_RESERVATIONS_SQL, [host])).rows;
      for (const row of rows) this.#announcer.announce(changedRow(row), true);
      const uuids = rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.uuid);
      if (uuids.length > 0) this.#opts.logger.warn({ host, nodes: uuids }, 'cleared reservations held by this host');
      return ok(uuids);
    });
  }

  clearTargetPowerState(host: string, message: string): ResultAsync<string[], StoreError> {
    assertTag('clearTargetPowerState', host);
    if (typeof message !== 'string') throw new TypeError('clearTargetPowerState: message must be a string');
    const stamp = now();
    return this.#run('clearTargetPowerState', async (pool) => {
      const rows = (await pool.query<PgChangeRow & { uuid: string }>(CLEAR_TARGET_POWER_STATE_SQL, [host, message, stamp])).rows;
      for (const row of rows) this.#announcer.announce(changedRow(row), false);
      const uuids = rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.uuid);
      if (uuids.length > 0) this.#opts.logger.warn({ host, nodes: uuids }, 'cleared target_power_state of nodes reserved by this host');
      return ok(uuids);
    });
  }

  // ---------------------------------------------------------------- ports, portgroups, volumes

  listPorts(nodeId: number): ResultAsync<Port[], StoreError> {
    return this.#listChildren('listPorts', PG_PORTS, nodeId);
  }

  listPortgroups(nodeId: number): ResultAsync<Portgroup[], StoreError> {
    return this.#listChildren('listPortgroups', PG_PORTGROUPS, nodeId);
  }

  listVolumeConnectors(nodeId: number): ResultAsync<VolumeConnector[], StoreError> {
    return this.#listChildren('listVolumeConnectors', PG_VOLUME_CONNECTORS, nodeId);
  }

  listVolumeTargets(nodeId: number): ResultAsync<VolumeTarget[], StoreError> {
    return this.#listChildren('listVolumeTargets', PG_VOLUME_TARGETS, nodeId);
  }

  createPort(
    nodeId: number,
    fields: NewPort,
    fence?: Fence,
  ): ResultAsync<Port, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    return this.#createChild('createPort', PG_PORTS, nodeId, fields, fence);
  }

  createPortgroup(
    nodeId: number,
    fields: NewPortgroup,
    fence?: Fence,
  ): ResultAsync<Portgroup, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    return this.#createChild('createPortgroup', PG_PORTGROUPS, nodeId, fields, fence);
  }

  createVolumeConnector(
    nodeId: number,
    fields: NewVolumeConnector,
  ): ResultAsync<VolumeConnector, NodeNotFound | Duplicate | InvalidParameterValue | StoreError> {
    return this.#createChild('createVolumeConnector', PG_VOLUME_CONNECTORS, nodeId, fields) as ResultAsync<
      VolumeConnector,
      NodeNotFound | Duplicate | InvalidParameterValue | StoreError
    >; // no fence, no LockLost
  }

  createVolumeTarget(
    nodeId: number,
    fields: NewVolumeTarget,
  ): ResultAsync<VolumeTarget, NodeNotFound | Duplicate | InvalidParameterValue | StoreError> {
    return this.#createChild('createVolumeTarget', PG_VOLUME_TARGETS, nodeId, fields) as ResultAsync<
      VolumeTarget,
      NodeNotFound | Duplicate | InvalidParameterValue | StoreError
    >; // no fence, no LockLost
  }

  // ---------------------------------------------------------------- conductors

  registerConductor(hostname: string, group = ''): ResultAsync<ConductorRow, StoreError> {
    assertTag('registerConductor', hostname);
    if (typeof group !== 'string') throw new TypeError('registerConductor: group must be a string');
    const stamp = now();
    return this.#run<ConductorRow, never>('registerConductor', async (pool) =>
      ok(pgRowToConductor((await pool.query<PgRow>(REGISTER_CONDUCTOR_SQL, [hostname, group, stamp])).rows[0]!)),
    );
  }

  touchConductor(hostname: string, online: boolean): ResultAsync<void, StoreError> {
    assertTag('touchConductor', hostname);
    if (typeof online !== 'boolean') throw new TypeError('touchConductor: online must be a boolean');
    const stamp = now();
    return this.#run('touchConductor', async (pool) =>
      (await pool.query('UPDATE conductors SET online = $1, updated_at = $2::timestamptz WHERE hostname = $3', [online, stamp, hostname]))
        .rowCount === 0
        ? err(new StoreError('touchConductor', `conductor ${hostname} is not registered`))
        : ok(undefined),
    );
  }

  listConductors(): ResultAsync<ConductorRow[], StoreError> {
    return this.#run('listConductors', async (pool) =>
      ok((await pool.query<PgRow>('SELECT * FROM conductors ORDER BY id')).rows.map(pgRowToConductor)),
    );
  }

  // ---------------------------------------------------------------- durability

  /** Every write is committed before it resolves: nothing to flush. */
  flush(): ResultAsync<void, StoreError> {
    if (this.#closing !== null) return errAsync(new StoreError('flush', 'the store is closed'));
    return okAsync(undefined);
  }

  /** End the session (freeing the host claim) and the pool. Idempotent. */
  close(): ResultAsync<void, StoreError> {
    this.#closing ??= this.#shutdown();
    return new ResultAsync(this.#closing);
  }

  async #shutdown(): Promise<Result<void, StoreError>> {
    let error: StoreError | null = null;
    // What was committed is announced before the connections go.
    await this.#announcer.drain();
    await this.#session.close();
    // Bounded: a connection hung in a query (an unreachable server) is released by its query
    // timeout; pool.end() waits for that, not longer.
    let timer: NodeJS.Timeout | undefined;
    const limit = 2 * this.#opts.queryTimeoutMs;
    const timedOut = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), limit)));
    try {
      if ((await Promise.race([this.#pool.end().then(() => 'ended'), timedOut])) === 'timeout') {
        error = new StoreError('close', `the pool did not end within ${limit} ms`);
      }
    } catch (cause) {
      error = new StoreError('close', cause);
    } finally {
      clearTimeout(timer);
    }
    this.#health = { state: 'closed', error: error?.message ?? null, since: new Date().toISOString(), recoveries: this.#health.recoveries };
    return error === null ? ok(undefined) : err(error);
  }

  // ---------------------------------------------------------------- coordination

  #coordination(): StoreCoordination {
    const session = this.#session;
    const subscribe = <T>(set: Set<T>, listener: T): (() => void) => {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      if (this.#closing === null) set.add(listener);
      return () => void set.delete(listener);
    };
    return {
      claimHost: (host, group) => {
        assertTag('claimHost', host);
        if (this.#closing !== null) return errAsync(new StoreError('claimHost', 'the store is closed'));
        return new ResultAsync(session.claim(host, group ?? ''));
      },
      liveHosts: (heartbeatTimeoutMs) => {
        const cutoff =
          Number.isFinite(heartbeatTimeoutMs) && heartbeatTimeoutMs > 0 ? new Date(Date.now() - heartbeatTimeoutMs).toISOString() : null;
        return this.#run('liveHosts', async (pool) => {
          const rows = (
            await pool.query<{ hostname: string; conductor_group: string; pid: number; stale: boolean }>(LIVE_HOSTS_SQL, [
              LOCK_NAMESPACE,
              cutoff,
            ])
          ).rows;
          const live: { host: string; group: string }[] = [];
          for (const row of rows) {
            if (!row.stale) {
              live.push({ host: row.hostname, group: row.conductor_group });
              continue;
            }
            // Half-open: the claim is held but the conductor stopped beating. Its session goes, and the claim with it.
            this.#opts.logger.warn(
              { stale_host: row.hostname, backend_pid: row.pid },
              'terminating the session of a conductor whose heartbeat is stale',
            );
            await pool.query('SELECT pg_terminate_backend($1)', [row.pid]);
          }
          return ok(live);
        });
      },
      onNodeChange: (listener: (change: NodeChange) => void) => subscribe(session.nodeListeners, listener),
      onWaitersChange: (listener: (nodeId: number) => void) => subscribe(session.waitersListeners, listener),
      onResync: (listener: () => void) => subscribe(session.resyncListeners, listener),
      setWaiting: (nodeId, host, since) => {
        assertNodeId('setWaiting', nodeId);
        assertTag('setWaiting', host);
        if (since !== null && !Number.isFinite(since)) throw new TypeError('setWaiting: since must be a time in ms or null');
        return this.#run('setWaiting', async (pool) => {
          if (since === null) await pool.query(CLEAR_WAITING_SQL, [nodeId, host]);
          else await pool.query(SET_WAITING_SQL, [nodeId, host, new Date(since).toISOString()]);
          return ok(undefined);
        }).mapErr((e) => (isForeignKeyViolation(e.cause) ? new StoreError('setWaiting', `node ${nodeId} does not exist`) : e));
      },
      waitersOf: (nodeId) => {
        assertNodeId('waitersOf', nodeId);
        return this.#run<OutsideWaiter[], never>('waitersOf', async (pool) =>
          ok(
            (await pool.query<{ node_id: string; host: string; since: Date }>(WAITERS_OF_SQL, [nodeId])).rows.map((r): OutsideWaiter => ({
              nodeId: Number(r.node_id),
              host: r.host,
              since: new Date(r.since).getTime(),
            })),
          ),
        );
      },
      handOver: (fence, nodeId, to, info) => {
        assertNodeId('handOver', nodeId);
        assertTag('handOver', to);
        const checkedFence = fenceOf('handOver', fence);
        if (checkedFence === null) throw new TypeError('handOver: a fence is required');
        if (typeof info?.purpose !== 'string') throw new TypeError('handOver: info.purpose must be a string');
        const at = timestamp(info.at, 'handOver');
        return this.#run<NodeRecord, LockLost | NodeNotFound | StoreError>('handOver', async (pool) => {
          const row = (await pool.query<PgRow>(handOverQuery(nodeId, checkedFence, to, info.purpose, at))).rows[0];
          if (row !== undefined) return ok(this.#announced(pgRowToNode(row), true));
          const holder = (await pool.query<HolderRow>(holderQuery('id', nodeId))).rows[0];
          if (holder !== undefined && holder.reservation === checkedFence.tag && Number(holder.reservation_token) === checkedFence.token) {
            // Still ours: the conductor stopped waiting meanwhile. Nothing was written.
            return err(new StoreError('handOver', `conductor ${to} no longer waits for node ${holder.uuid} (or is not alive)`));
          }
          return this.#whyFenceFailed(pool, nodeId, checkedFence);
        });
      },
      markOffline: (host) => {
        assertTag('markOffline', host);
        return this.#run('markOffline', async (pool) => {
          await pool.query('UPDATE conductors SET online = false WHERE hostname = $1', [host]);
          return ok(undefined);
        });
      },
    };
  }

  // ---------------------------------------------------------------- helpers

  /** Announce a committed node row (after the commit, batched) and return it. */
  #announced(node: NodeRecord, lockOnly: boolean): NodeRecord {
    this.#announcer.announce(node, lockOnly);
    return node;
  }

  /** Run an operation on the pool. A pg failure (connection, timeout) becomes Err(StoreError). */
  #run<T, E>(operation: string, fn: (pool: pg.Pool) => Promise<Result<T, E>>): ResultAsync<T, E | StoreError> {
    if (this.#closing !== null) return errAsync(new StoreError(operation, 'the store is closed'));
    const run = (): Promise<Result<T, E | StoreError>> =>
      fn(this.#pool).catch((cause: unknown): Result<T, E | StoreError> =>
        err(cause instanceof StoreError ? cause : new StoreError(operation, cause)),
      );
    return new ResultAsync(TIMED_RUNS.has(operation) ? this.#timed(run) : run());
  }

  /** Run a write and report its duration (from issue to commit) when it succeeded, if `timings` is set. */
  #timed<T, E>(write: () => Promise<Result<T, E>>): Promise<Result<T, E>> {
    const timings = this.#opts.timings;
    if (timings === undefined) return write();
    const started = performance.now();
    return write().then((result) => {
      // A write that committed (an Err answer rolled back or changed nothing).
      if (result.isOk()) timings.commit((performance.now() - started) / 1000);
      return result;
    });
  }

  /** Run a write on the pool: like #run, but a unique violation is Duplicate (named by `values`). */
  #write<T, E>(
    operation: string,
    fn: (pool: pg.Pool) => Promise<Result<T, E>>,
    values: () => Readonly<Record<string, unknown>>,
  ): ResultAsync<T, E | Duplicate | StoreError> {
    if (this.#closing !== null) return errAsync(new StoreError(operation, 'the store is closed'));
    return new ResultAsync(
      this.#timed(() =>
        fn(this.#pool).catch((cause: unknown): Result<T, E | Duplicate | StoreError> => err(pgWriteError(operation, cause, values()))),
      ),
    );
  }

  /** Run `fn` in one transaction on one pooled connection; rolled back on an Err or a failure. */
  #transaction<T, E>(
    operation: string,
    fn: (client: pg.PoolClient) => Promise<Result<T, E>>,
    values: () => Readonly<Record<string, unknown>>,
    committed?: (value: T) => void,
  ): ResultAsync<T, E | Duplicate | StoreError> {
    return this.#write(
      operation,
      async (pool) => {
        const client = await pool.connect();
        // A checked-out client has no error listener of the pool's: a connection failure between
        // two statements must not become an unhandled 'error' event (the next statement fails).
        const onError = (error: Error): void => this.#opts.logger.warn({ err: error }, 'store connection failed in a transaction');
        client.on('error', onError);
        let broken = false;
        try {
          await client.query('BEGIN');
          const result = await fn(client);
          await client.query(result.isOk() ? 'COMMIT' : 'ROLLBACK');
          if (result.isOk()) committed?.(result.value);
          return result;
        } catch (cause) {
          await client.query('ROLLBACK').catch(() => void (broken = true));
          throw cause;
        } finally {
          client.removeListener('error', onError);
          client.release(broken);
        }
      },
      values,
    );
  }

  #listChildren<T>(operation: string, child: PgChildTable<T>, nodeId: number): ResultAsync<T[], StoreError> {
    assertNodeId(operation, nodeId);
    return this.#run(operation, async (pool) =>
      ok((await pool.query<PgRow>(`SELECT * FROM ${child.table} WHERE node_id = $1 ORDER BY id`, [nodeId])).rows.map(child.convert)),
    );
  }

  #createChild<T>(
    operation: string,
    child: PgChildTable<T>,
    nodeId: number,
    fields: object,
    fence?: Fence,
  ): ResultAsync<T, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError> {
    assertNodeId(operation, nodeId);
    const checkedFence = fenceOf(operation, fence);
    const prepared = prepareChild(operation, child, fields);
    if (prepared.isErr()) return errAsync(prepared.error);
    const row = prepared.value;
    return this.#write(
      operation,
      async (pool): Promise<Result<T, NodeNotFound | LockLost | StoreError>> => {
        if (checkedFence === null) {
          try {
            const inserted = await pool.query<PgRow>(
              insertQuery(child.table, ['node_id', ...row.columns], ['bigint', ...row.kinds], [nodeId, ...row.params]),
            );
            return ok(child.convert(inserted.rows[0]!));
          } catch (cause) {
            if (isForeignKeyViolation(cause) && (cause as { constraint?: string }).constraint?.endsWith('node_id_fkey') === true) {
              return err(new NodeNotFound(nodeId));
            }
            throw cause;
          }
        }
        const inserted = (
          await pool.query<PgRow>(fencedChildInsertQuery(child.table, row.columns, row.kinds, row.params, nodeId, checkedFence))
        ).rows[0];
        if (inserted !== undefined) return ok(child.convert(inserted));
        return this.#whyFenceFailed(pool, nodeId, checkedFence);
      },
      () => row.values,
    );
  }

  /** The error of a fenced write that matched nothing: NodeNotFound, or LockLost naming who holds the node now. */
  async #whyFenceFailed(
    pool: pg.Pool,
    nodeId: number,
    fence: { tag: string; token: number } | null,
  ): Promise<Result<never, NodeNotFound | LockLost>> {
    const holder = (await pool.query<HolderRow>(holderQuery('id', nodeId))).rows[0];
    if (holder === undefined || fence === null) return err(new NodeNotFound(nodeId));
    return err(
      new LockLost(
        holder.uuid,
        { host: fence.tag, token: fence.token },
        { host: holder.reservation, token: holder.reservation_token === null ? null : Number(holder.reservation_token) },
      ),
    );
  }

  /** The error for a release/transfer whose conditional UPDATE matched nothing (Ironic's order, then the token). */
  async #whyNotHeld(
    pool: pg.Pool,
    tag: string,
    nodeId: number,
    token: number | null,
  ): Promise<Result<never, NodeNotFound | NodeNotLocked | NodeLocked | LockLost>> {
    const holder = (await pool.query<HolderRow>(holderQuery('id', nodeId))).rows[0];
    if (holder === undefined) return err(new NodeNotFound(nodeId));
    if (holder.reservation === null) return err(new NodeNotLocked(holder.uuid));
    if (holder.reservation === tag && token !== null) {
      return err(
        new LockLost(
          holder.uuid,
          { host: tag, token },
          { host: holder.reservation, token: holder.reservation_token === null ? null : Number(holder.reservation_token) },
        ),
      );
    }
    return err(locked(holder));
  }
}

/** A child row checked and encoded, ready to insert once its node is known. */
interface ChildRow {
  readonly columns: string[];
  readonly kinds: string[];
  readonly params: unknown[];
  readonly values: Readonly<Record<string, unknown>>;
}

/** Check and encode a child row (fields come from callers, through a task: a bad one is an Err). */
function prepareChild<T>(operation: string, child: PgChildTable<T>, fields: unknown): Result<ChildRow, InvalidParameterValue> {
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
  const columns = [...encoded.columns];
  const kinds = columns.map((c) => pgType(child.columns[c]!));
  const params = encoded.params.map((p, i) => pgParam(child.columns[columns[i]!] as ColumnKind, p));
  if (!columns.includes('uuid')) {
    columns.push('uuid');
    kinds.push('text');
    params.push(randomUUID());
  }
  columns.push('created_at');
  kinds.push('timestamptz');
  params.push(now());
  return ok({ columns, kinds, params, values: Object.fromEntries(columns.map((c, i) => [c, params[i]])) });
}

/** NodeLocked from a holder row: tag, purpose and how long it has been held. */
function locked(holder: HolderRow): NodeLocked {
  const reservedAt = holder.reserved_at === null ? Number.NaN : new Date(holder.reserved_at).getTime();
  const info: LockHolder = {
    host: holder.reservation!,
    purpose: holder.reservation_purpose ?? null,
    heldForMs: Number.isNaN(reservedAt) ? null : Math.max(0, Date.now() - reservedAt),
  };
  return new NodeLocked(holder.uuid, info);
}

function now(): string {
  return new Date().toISOString();
}

function timestamp(at: Date | undefined, operation: string): string {
  if (at === undefined) return now();
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError(`${operation}: info.at must be a valid Date`);
  return at.toISOString();
}

function fenceOf(operation: string, fence: Fence | undefined): { tag: string; token: number } | null {
  if (fence === undefined || fence === null) return null;
  assertFence(operation, fence);
  return { tag: fence.tag, token: fence.token };
}

function tokenOf(operation: string, token: number | undefined): number | null {
  if (token === undefined || token === null) return null;
  assertToken(operation, token);
  return token;
}

/** A change row (or a full row) as the announcer wants it: numbers, and ISO-8601 times. */
function changedRow(row: PgChangeRow): ChangedRow {
  return {
    id: Number(row.id),
    version: Number(row.version),
    reservation: row.reservation,
    reservation_token: row.reservation_token === null ? null : Number(row.reservation_token),
    reservation_purpose: row.reservation_purpose,
    reserved_at: row.reserved_at === null ? null : new Date(row.reserved_at).toISOString(),
  };
}
