/**
 * The SQL of the store's operations and the descriptions of the child tables (ports, portgroups,
 * volume objects), kept apart from the store's control flow.
 */
import type { Port, Portgroup, VolumeConnector, VolumeTarget } from '../../node.js';
import type { SqlParam, SqlRow } from './database.js';
import { type ColumnKind, PORT_CREATABLE, PORTGROUP_CREATABLE, VOLUME_CONNECTOR_CREATABLE, VOLUME_TARGET_CREATABLE } from './fields.js';
import {
  rowToPort,
  rowToPortgroup,
  rowToVolumeConnector,
  rowToVolumeTarget,
  SELECT_PORT,
  SELECT_PORTGROUP,
  SELECT_VOLUME_CONNECTOR,
  SELECT_VOLUME_TARGET,
} from './rows.js';
import { NODE_COLUMNS } from './schema.js';

/** Columns a node INSERT never sets: the key, the lock columns, updated_at (NULL on create) and version (1 by default). */
const NOT_INSERTED = new Set<string>([
  'id',
  'reservation',
  'reservation_purpose',
  'reserved_at',
  'reservation_token',
  'updated_at',
  'version',
]);
/** Columns of the node INSERT, in parameter order (derived from NODE_COLUMNS so the two never drift). */
export const NODE_INSERT_COLUMNS = NODE_COLUMNS.filter((column) => !NOT_INSERTED.has(column));
/** The node INSERT (one shape for every create). */
export const NODE_INSERT_SQL = `INSERT INTO nodes (${NODE_INSERT_COLUMNS.join(', ')}) VALUES (${NODE_INSERT_COLUMNS.map(() => '?').join(', ')})`;
/** Values of node columns a create does not give. */
export const NODE_INSERT_DEFAULTS: Readonly<Record<string, SqlParam>> = {
  name: null,
  provision_state: 'enroll',
  maintenance: 0,
  instance_info: '{}',
  driver_info: '{}',
  driver_internal_info: '{}',
  properties: '{}',
  extra: '{}',
  provision_updated_at: null,
  conductor_group: '',
};

/**
 * Ironic's conditional reserve, with a new fencing token and the row version bumped; to be
 * completed with `<column> = ? AND reservation IS NULL`.
 */
export const RESERVE_SQL =
  'UPDATE nodes SET reservation = ?, reservation_purpose = ?, reserved_at = ?, reservation_token = ?, version = version + 1 WHERE';
/** Clear a reservation (its token too) and bump the version; to be completed with the condition. */
const CLEAR_RESERVATION =
  'UPDATE nodes SET reservation = NULL, reservation_purpose = NULL, reserved_at = NULL, reservation_token = NULL, version = version + 1';
/** Ironic's conditional release: only the holder's tag matches. */
export const RELEASE_SQL = `${CLEAR_RESERVATION} WHERE id = ? AND reservation = ?`;
/** A fenced release: the holder's tag and token match. */
export const RELEASE_FENCED_SQL = `${RELEASE_SQL} AND reservation_token = ?`;
/** Clear every reservation of a host (case-insensitive), returning the rows cleared. */
export const CLEAR_RESERVATIONS_SQL = `${CLEAR_RESERVATION} WHERE lower(reservation) = lower(?) RETURNING id, uuid`;
/** Re-label a held reservation (the token stays). */
export const TRANSFER_SQL =
  'UPDATE nodes SET reservation_purpose = ?, reserved_at = ?, version = version + 1 WHERE id = ? AND reservation = ?';
/** A fenced re-label: the holder's tag and token match. */
export const TRANSFER_FENCED_SQL = `${TRANSFER_SQL} AND reservation_token = ?`;
/** Who holds a node, to be completed with `<column> = ?`. Index 4 is the token. */
export const HOLDER_SQL = 'SELECT uuid, reservation, reservation_purpose, reserved_at, reservation_token FROM nodes WHERE';
/** The condition a fenced write adds to its statement (parameters: tag, token). */
export const FENCE_CONDITION = 'reservation = ? AND reservation_token = ?';
/** Id of the row just inserted. */
export const LAST_ID_SQL = 'SELECT last_insert_rowid()';

/** How one child table (ports, ...) is created. */
export interface ChildTable<T> {
  readonly table: string;
  readonly columns: Readonly<Record<string, ColumnKind>>;
  readonly required: readonly string[];
  readonly defaults: Readonly<Record<string, SqlParam>>;
  readonly select: string;
  readonly convert: (row: SqlRow) => T;
}

/** Ports. */
export const PORTS: ChildTable<Port> = {
  table: 'ports',
  columns: PORT_CREATABLE,
  required: ['address'],
  defaults: { portgroup_id: null, pxe_enabled: 1, local_link_connection: '{}', extra: '{}' },
  select: SELECT_PORT,
  convert: rowToPort,
};
/** Portgroups. */
export const PORTGROUPS: ChildTable<Portgroup> = {
  table: 'portgroups',
  columns: PORTGROUP_CREATABLE,
  required: [],
  defaults: { name: null, address: null, mode: null, extra: '{}' },
  select: SELECT_PORTGROUP,
  convert: rowToPortgroup,
};
/** Volume connectors. */
export const VOLUME_CONNECTORS: ChildTable<VolumeConnector> = {
  table: 'volume_connectors',
  columns: VOLUME_CONNECTOR_CREATABLE,
  required: ['type', 'connector_id'],
  defaults: { extra: '{}' },
  select: SELECT_VOLUME_CONNECTOR,
  convert: rowToVolumeConnector,
};
/** Volume targets. */
export const VOLUME_TARGETS: ChildTable<VolumeTarget> = {
  table: 'volume_targets',
  columns: VOLUME_TARGET_CREATABLE,
  required: ['volume_type', 'volume_id', 'boot_index'],
  defaults: { properties: '{}', extra: '{}' },
  select: SELECT_VOLUME_TARGET,
  convert: rowToVolumeTarget,
};
