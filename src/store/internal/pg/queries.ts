/**
 * The SQL of the PostgreSQL store: the hot statements (reserve, release, transfer, fenced update,
 * hand-over) as named prepared statements, and builders for the statements whose column list
 * depends on the call (creates, updates). Parameters carry explicit casts so that a value bound as
 * text lands in a jsonb, boolean or timestamptz column whatever statement shape it is in.
 */
import { createHash } from 'node:crypto';
import type { Port, Portgroup, VolumeConnector, VolumeTarget } from '../../../node.js';
import type { SqlParam } from '../database.js';
import { type ColumnKind, PORT_CREATABLE, PORTGROUP_CREATABLE, VOLUME_CONNECTOR_CREATABLE, VOLUME_TARGET_CREATABLE } from '../fields.js';
import { pgRowToPort, pgRowToPortgroup, pgRowToVolumeConnector, pgRowToVolumeTarget, type PgRow } from './rows.js';
import { LOCK_NAMESPACE } from './schema.js';
import type { IdentityColumn } from '../arguments.js';

/** A statement for pg: text, parameters and, for the hot ones, a prepared statement name. */
export interface PgQuery {
  readonly name?: string;
  readonly text: string;
  readonly values: unknown[];
}

/** The PostgreSQL type of a parameter for a column of `kind`. */
export function pgType(kind: ColumnKind | 'timestamptz' | 'bigint'): string {
  switch (kind) {
    case 'json':
      return 'jsonb';
    case 'bool':
      return 'boolean';
    case 'int':
    case 'nullable-int':
    case 'bigint':
      return 'bigint';
    case 'timestamp':
    case 'timestamptz':
      return 'timestamptz';
    default:
      return 'text';
  }
}

/** A parameter encoded by fields.ts (booleans as 1/0, JSON as text) as pg binds it. */
export function pgParam(kind: ColumnKind, value: SqlParam): unknown {
  return kind === 'bool' && value !== null ? value === 1 : value;
}

/** The conditional reserve (one statement: a new token from the sequence, version bumped). */
export function reserveQuery(column: IdentityColumn, tag: string, purpose: string | null, at: string, key: number | string): PgQuery {
  return {
    name: `mc_reserve_${column}`,
    text:
      "UPDATE nodes SET reservation = $1, reservation_token = nextval('reservation_token_seq'), reservation_purpose = $2, " +
      `reserved_at = $3::timestamptz, version = version + 1 WHERE ${column} = $4::${column === 'id' ? 'bigint' : 'text'} ` +
      'AND reservation IS NULL RETURNING *',
    values: [tag, purpose, at, key],
  };
}

/**
 * The reserve of the slow path, when the plain conditional UPDATE matched nothing yet the node then
 * read unreserved (its holder released in between): the row is locked first (FOR UPDATE waits for
 * and reads the latest committed version), so the answer — granted, or the holder at that
 * moment — is consistent. Returns the holder columns and `granted` (the id when reserved).
 */
export function reserveLockedQuery(column: IdentityColumn, tag: string, purpose: string | null, at: string, key: number | string): PgQuery {
  return {
    name: `mc_reserve_locked_${column}`,
    text:
      `WITH cur AS (SELECT id, uuid, reservation, reservation_purpose, reserved_at, reservation_token FROM nodes ` +
      `WHERE ${column} = $4::${column === 'id' ? 'bigint' : 'text'} FOR UPDATE), ` +
      "upd AS (UPDATE nodes n SET reservation = $1, reservation_token = nextval('reservation_token_seq'), reservation_purpose = $2, " +
      'reserved_at = $3::timestamptz, version = n.version + 1 FROM cur WHERE n.id = cur.id AND cur.reservation IS NULL RETURNING n.id) ' +
      'SELECT cur.uuid, cur.reservation, cur.reservation_purpose, cur.reserved_at, cur.reservation_token, (SELECT id FROM upd) AS granted FROM cur',
    values: [tag, purpose, at, key],
  };
}

/** Who holds a node (looked up by `column`). */
export function holderQuery(column: IdentityColumn, key: number | string): PgQuery {
  return {
    name: `mc_holder_${column}`,
    text: `SELECT uuid, reservation, reservation_purpose, reserved_at, reservation_token FROM nodes WHERE ${column} = $1::${column === 'id' ? 'bigint' : 'text'}`,
    values: [key],
  };
}

/** The holder columns of `holderQuery`. */
export interface HolderRow {
  uuid: string;
  reservation: string | null;
  reservation_purpose: string | null;
  reserved_at: Date | string | null;
  reservation_token: string | number | null;
}

/** The columns a change announcement carries (announcer.ts). */
export const CHANGE_COLUMNS = 'id, version, reservation, reservation_token, reservation_purpose, reserved_at';

/** A row of CHANGE_COLUMNS as pg returns it. */
export interface PgChangeRow {
  id: string | number;
  version: string | number;
  reservation: string | null;
  reservation_token: string | number | null;
  reservation_purpose: string | null;
  reserved_at: Date | string | null;
}

/** Ironic's conditional release (only the holder's tag; with a token, only that reservation). */
export function releaseQuery(tag: string, nodeId: number, token: number | null): PgQuery {
  return {
    name: 'mc_release',
    text:
      'UPDATE nodes SET reservation = NULL, reservation_purpose = NULL, reserved_at = NULL, reservation_token = NULL, ' +
      'version = version + 1 WHERE id = $1::bigint AND reservation = $2 AND ($3::bigint IS NULL OR reservation_token = $3::bigint) ' +
      `RETURNING ${CHANGE_COLUMNS}`,
    values: [nodeId, tag, token],
  };
}

/** Re-label a held reservation (token kept). */
export function transferQuery(tag: string, nodeId: number, purpose: string, at: string, token: number | null): PgQuery {
  return {
    name: 'mc_transfer',
    text:
      'UPDATE nodes SET reservation_purpose = $1, reserved_at = $2::timestamptz, version = version + 1 ' +
      'WHERE id = $3::bigint AND reservation = $4 AND ($5::bigint IS NULL OR reservation_token = $5::bigint) ' +
      `RETURNING ${CHANGE_COLUMNS}`,
    values: [purpose, at, nodeId, tag, token],
  };
}

/** The fence condition on `nodes` with its tag and token at $n and $n+1 (null tag: no fence). */
function fenceCondition(n: number): string {
  return `($${n}::text IS NULL OR (reservation = $${n}::text AND reservation_token = $${n + 1}::bigint))`;
}

/** A short stable name for a statement whose text depends on the columns written. */
function statementName(prefix: string, text: string): string {
  return `${prefix}_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
}

/** UPDATE of the given node columns (plus version), fenced when a tag is given. */
export function updateNodeQuery(
  columns: readonly string[],
  kinds: readonly string[],
  params: readonly unknown[],
  nodeId: number,
  fence: { tag: string; token: number } | null,
): PgQuery {
  const sets = columns.map((c, i) => `${c} = $${i + 1}::${kinds[i]!}`);
  const n = columns.length + 1;
  const text = `UPDATE nodes SET ${sets.join(', ')}, version = version + 1 WHERE id = $${n}::bigint AND ${fenceCondition(n + 1)} RETURNING *`;
  return { name: statementName('mc_update', text), text, values: [...params, nodeId, fence?.tag ?? null, fence?.token ?? null] };
}

/** DELETE of a node (its children and waiter rows cascade), fenced when a tag is given. */
export function destroyNodeQuery(nodeId: number, fence: { tag: string; token: number } | null): PgQuery {
  return {
    name: 'mc_destroy',
    text: `DELETE FROM nodes WHERE id = $1::bigint AND ${fenceCondition(2)} RETURNING ${CHANGE_COLUMNS}`,
    values: [nodeId, fence?.tag ?? null, fence?.token ?? null],
  };
}

/** INSERT of a row of `table` with exactly the given columns (the others take their defaults). */
export function insertQuery(table: string, columns: readonly string[], kinds: readonly string[], params: readonly unknown[]): PgQuery {
  const text = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}::${kinds[i]!}`).join(', ')}) RETURNING *`;
  return { text, values: [...params] };
}

/** INSERT of a child row only while its node holds the fence's reservation (the node row is share-locked meanwhile). */
export function fencedChildInsertQuery(
  table: string,
  columns: readonly string[],
  kinds: readonly string[],
  params: readonly unknown[],
  nodeId: number,
  fence: { tag: string; token: number },
): PgQuery {
  const first = 4;
  const text =
    `WITH n AS (SELECT id FROM nodes WHERE id = $1::bigint AND reservation = $2::text AND reservation_token = $3::bigint FOR SHARE) ` +
    `INSERT INTO ${table} (node_id, ${columns.join(', ')}) SELECT n.id, ${columns.map((_, i) => `$${i + first}::${kinds[i]!}`).join(', ')} FROM n RETURNING *`;
  return { text, values: [nodeId, fence.tag, fence.token, ...params] };
}

/** Clear every reservation of a host (case-insensitive; no LIKE, so no wildcards). */
export const CLEAR_RESERVATIONS_SQL =
  'UPDATE nodes SET reservation = NULL, reservation_purpose = NULL, reserved_at = NULL, reservation_token = NULL, ' +
  `version = version + 1 WHERE lower(reservation) = lower($1) RETURNING uuid, ${CHANGE_COLUMNS}`;

/** Clear target_power_state of a host's reserved nodes. */
export const CLEAR_TARGET_POWER_STATE_SQL =
  'UPDATE nodes SET target_power_state = NULL, last_error = $2, updated_at = $3::timestamptz, version = version + 1 ' +
  `WHERE lower(reservation) = lower($1) AND target_power_state IS NOT NULL RETURNING uuid, ${CHANGE_COLUMNS}`;

/** Register (or re-register) a conductor. */
export const REGISTER_CONDUCTOR_SQL =
  'INSERT INTO conductors (hostname, online, conductor_group, created_at) VALUES ($1, true, $2, $3::timestamptz) ' +
  'ON CONFLICT (hostname) DO UPDATE SET online = true, conductor_group = excluded.conductor_group, updated_at = excluded.created_at ' +
  'RETURNING *';

/** Record an outside waiter (idempotent: the first `since` stays). */
export const SET_WAITING_SQL =
  'INSERT INTO node_waiters (node_id, host, since) VALUES ($1::bigint, $2, $3::timestamptz) ON CONFLICT (node_id, host) DO NOTHING';
/** Remove an outside waiter. */
export const CLEAR_WAITING_SQL = 'DELETE FROM node_waiters WHERE node_id = $1::bigint AND host = $2';
/** The outside waiters of a node, oldest first. */
export const WAITERS_OF_SQL = 'SELECT node_id, host, since FROM node_waiters WHERE node_id = $1::bigint ORDER BY since, host';

/** Move a reservation from the fence's holder to `to` (new token) and remove `to`'s waiter row: one statement. */
export function handOverQuery(nodeId: number, fence: { tag: string; token: number }, to: string, purpose: string, at: string): PgQuery {
  return {
    name: 'mc_hand_over',
    text:
      "WITH moved AS (UPDATE nodes SET reservation = $4, reservation_token = nextval('reservation_token_seq'), " +
      'reservation_purpose = $5, reserved_at = $6::timestamptz, version = version + 1 ' +
      'WHERE id = $1::bigint AND reservation = $2 AND reservation_token = $3::bigint ' +
      // Only to a conductor still waiting: one that gave up would be handed a reservation it never clears.
      'AND EXISTS (SELECT 1 FROM node_waiters WHERE node_id = $1::bigint AND host = $4) ' +
      // ... and alive: its host claim is held (a dead conductor's waiter row may outlive it).
      "AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted " +
      'AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ' +
      `AND l.classid = ${LOCK_NAMESPACE}::bigint::oid AND l.objid = (hashtext(lower($4))::bigint & 4294967295)::oid AND l.objsubid = 2) ` +
      'RETURNING *), ' +
      'gone AS (DELETE FROM node_waiters w USING moved WHERE w.node_id = moved.id AND w.host = $4) ' +
      'SELECT * FROM moved',
    values: [nodeId, fence.tag, fence.token, to, purpose, at],
  };
}

/**
 * The conductors whose host claim is held by a live session now: the session-level advisory lock
 * (LOCK_NAMESPACE, hashtext(lower(host))) in pg_locks of this database, with its backend's pid and
 * whether the heartbeat (updated_at, else created_at) is older than the cutoff ($2; null: none).
 */
export const LIVE_HOSTS_SQL =
  'SELECT c.hostname, c.conductor_group, l.pid, ' +
  '($2::timestamptz IS NOT NULL AND coalesce(c.updated_at, c.created_at) < $2::timestamptz) AS stale ' +
  "FROM conductors c JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted " +
  'AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ' +
  'AND l.classid = $1::bigint::oid AND l.objid = (hashtext(lower(c.hostname))::bigint & 4294967295)::oid AND l.objsubid = 2 ' +
  'ORDER BY c.hostname';

/** How one child table (ports, ...) is created and read. */
export interface PgChildTable<T> {
  readonly table: string;
  readonly columns: Readonly<Record<string, ColumnKind>>;
  readonly required: readonly string[];
  readonly convert: (row: PgRow) => T;
}

/** Ports. */
export const PG_PORTS: PgChildTable<Port> = { table: 'ports', columns: PORT_CREATABLE, required: ['address'], convert: pgRowToPort };
/** Portgroups. */
export const PG_PORTGROUPS: PgChildTable<Portgroup> = {
  table: 'portgroups',
  columns: PORTGROUP_CREATABLE,
  required: [],
  convert: pgRowToPortgroup,
};
/** Volume connectors. */
export const PG_VOLUME_CONNECTORS: PgChildTable<VolumeConnector> = {
  table: 'volume_connectors',
  columns: VOLUME_CONNECTOR_CREATABLE,
  required: ['type', 'connector_id'],
  convert: pgRowToVolumeConnector,
};
/** Volume targets. */
export const PG_VOLUME_TARGETS: PgChildTable<VolumeTarget> = {
  table: 'volume_targets',
  columns: VOLUME_TARGET_CREATABLE,
  required: ['volume_type', 'volume_id', 'boot_index'],
  convert: pgRowToVolumeTarget,
};
