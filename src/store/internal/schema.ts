/**
 * The database schema: Ironic's tables, trimmed to what the task manager needs, plus `meta`.
 * A file is recognised as ours by `PRAGMA application_id`, its version by `PRAGMA user_version`,
 * and its shape by the column lists below (checked on every open).
 */
import { INTERFACE_TYPES } from '../../node.js';
import type { SqlDatabase } from './database.js';

/** `PRAGMA application_id` of a metal-conductor database: ASCII "MCST". */
export const APPLICATION_ID = 0x4d435354;

/**
 * Current schema version (`PRAGMA user_version`). Version 2 added `nodes.reservation_token`,
 * `nodes.version`, `nodes.conductor_group` and `conductors.conductor_group` (issue 10); a version-1
 * file is migrated in memory when it is opened (`migrateSchema`), before its journal is replayed.
 */
export const SCHEMA_VERSION = 2;

/** The 13 `<iface>_interface` columns, in INTERFACE_TYPES order. */
export const INTERFACE_COLUMNS = INTERFACE_TYPES.map((t) => `${t}_interface` as const);

/** Node columns in SELECT order; rows.ts converts rows in exactly this order. */
export const NODE_COLUMNS = [
  'id',
  'uuid',
  'name',
  'driver',
  ...INTERFACE_COLUMNS,
  'provision_state',
  'target_provision_state',
  'power_state',
  'target_power_state',
  'last_error',
  'reservation',
  'reservation_purpose',
  'reserved_at',
  'maintenance',
  'maintenance_reason',
  'instance_info',
  'driver_info',
  'driver_internal_info',
  'properties',
  'extra',
  'created_at',
  'updated_at',
  'provision_updated_at',
  // Version 2 (appended, as ALTER TABLE ADD COLUMN puts them: fresh and migrated files agree).
  'reservation_token',
  'version',
  'conductor_group',
] as const;

/** Port columns in SELECT order. */
export const PORT_COLUMNS = [
  'id',
  'uuid',
  'node_id',
  'address',
  'portgroup_id',
  'pxe_enabled',
  'local_link_connection',
  'extra',
  'created_at',
  'updated_at',
] as const;

/** Portgroup columns in SELECT order. */
export const PORTGROUP_COLUMNS = ['id', 'uuid', 'node_id', 'name', 'address', 'mode', 'extra', 'created_at', 'updated_at'] as const;

/** Volume connector columns in SELECT order. */
export const VOLUME_CONNECTOR_COLUMNS = ['id', 'uuid', 'node_id', 'type', 'connector_id', 'extra', 'created_at', 'updated_at'] as const;

/** Volume target columns in SELECT order. */
export const VOLUME_TARGET_COLUMNS = [
  'id',
  'uuid',
  'node_id',
  'volume_type',
  'boot_index',
  'volume_id',
  'properties',
  'extra',
  'created_at',
  'updated_at',
] as const;

/** Conductor columns in SELECT order. */
export const CONDUCTOR_COLUMNS = ['id', 'hostname', 'online', 'created_at', 'updated_at', 'conductor_group'] as const;

/** Every table and its columns, as `verifySchema` expects them. */
export const TABLES: Readonly<Record<string, readonly string[]>> = {
  meta: ['key', 'value'],
  nodes: NODE_COLUMNS,
  ports: PORT_COLUMNS,
  portgroups: PORTGROUP_COLUMNS,
  volume_connectors: VOLUME_CONNECTOR_COLUMNS,
  volume_targets: VOLUME_TARGET_COLUMNS,
  conductors: CONDUCTOR_COLUMNS,
};

/** `meta` key holding the last journal sequence number contained in the database file. */
export const META_CHECKPOINT_SEQ = 'checkpoint_seq';
/** `meta` key holding the database's id, also in its journal's header (version 0.1 files have none). */
export const META_STORE_ID = 'store_id';
/** `meta` key holding the base of the journal that was current when the file was written. */
export const META_JOURNAL_BASE = 'journal_base';
/** `meta` key holding the digest of change `checkpoint_seq` (journal `entryDigest`; '' for none). */
export const META_CHECKPOINT_DIGEST = 'checkpoint_digest';
/**
 * `meta` key holding the reservation token ceiling: every token handed out so far is at most this
 * (absent: 0). Raised in blocks by a journaled statement, durable before any token under the new
 * ceiling is handed out, so a reopened store (which starts above it) never reuses a token.
 */
export const META_TOKEN_CEILING = 'reservation_token_ceiling';

/** The columns version 2 added, as `ALTER TABLE ... ADD COLUMN` clauses (also the DDL of a new file). */
const V2_NODE_COLUMNS_DDL = ['reservation_token INTEGER', 'version INTEGER NOT NULL DEFAULT 1', "conductor_group TEXT NOT NULL DEFAULT ''"];
const V2_CONDUCTOR_COLUMNS_DDL = ["conductor_group TEXT NOT NULL DEFAULT ''"];

const JSON_DEFAULT = "NOT NULL DEFAULT '{}'";

/**
 * Indexes added after version 0.2.0's schema, created on open when a file lacks them (they change
 * no row, so neither the schema version nor the journal is concerned; the next checkpoint writes
 * them to the file). `provision_state_idx` serves the periodic checks: the wait-timeout checks ask
 * for the unreserved nodes in one state whose provision_updated_at is older than a cutoff.
 */
const NODE_INDEXES_DDL = `CREATE INDEX IF NOT EXISTS provision_state_idx ON nodes (provision_state, provision_updated_at);`;

/** Create the indexes a file written by an earlier version may lack (idempotent, cheap when present). */
export function ensureIndexes(db: SqlDatabase): void {
  db.exec(NODE_INDEXES_DDL);
}

/**
 * DDL of a new database. Constraint names follow Ironic's (`uniq_nodes0uuid`, ...). Deleting a
 * node cascades by trigger, so that destroying a node is one statement and one journal record.
 */
export const SCHEMA_DDL = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL CONSTRAINT uniq_nodes0uuid UNIQUE,
  name TEXT CONSTRAINT uniq_nodes0name UNIQUE,
  driver TEXT NOT NULL,
  ${INTERFACE_COLUMNS.map((c) => `${c} TEXT,`).join('\n  ')}
  provision_state TEXT NOT NULL DEFAULT 'enroll',
  target_provision_state TEXT,
  power_state TEXT,
  target_power_state TEXT,
  last_error TEXT,
  reservation TEXT,
  reservation_purpose TEXT,
  reserved_at TEXT,
  maintenance INTEGER NOT NULL DEFAULT 0,
  maintenance_reason TEXT,
  instance_info TEXT ${JSON_DEFAULT},
  driver_info TEXT ${JSON_DEFAULT},
  driver_internal_info TEXT ${JSON_DEFAULT},
  properties TEXT ${JSON_DEFAULT},
  extra TEXT ${JSON_DEFAULT},
  created_at TEXT NOT NULL,
  updated_at TEXT,
  provision_updated_at TEXT,
  ${V2_NODE_COLUMNS_DDL.join(',\n  ')}
);
CREATE INDEX reservation_idx ON nodes (reservation);
${NODE_INDEXES_DDL}
CREATE TABLE ports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL CONSTRAINT uniq_ports0uuid UNIQUE,
  node_id INTEGER NOT NULL,
  address TEXT NOT NULL CONSTRAINT uniq_ports0address UNIQUE,
  portgroup_id INTEGER,
  pxe_enabled INTEGER NOT NULL DEFAULT 1,
  local_link_connection TEXT ${JSON_DEFAULT},
  extra TEXT ${JSON_DEFAULT},
  created_at TEXT NOT NULL,
  updated_at TEXT
);
CREATE INDEX ports_node_id_idx ON ports (node_id);
CREATE TABLE portgroups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL CONSTRAINT uniq_portgroups0uuid UNIQUE,
  node_id INTEGER NOT NULL,
  name TEXT CONSTRAINT uniq_portgroups0name UNIQUE,
  address TEXT CONSTRAINT uniq_portgroups0address UNIQUE,
  mode TEXT,
  extra TEXT ${JSON_DEFAULT},
  created_at TEXT NOT NULL,
  updated_at TEXT
);
CREATE INDEX portgroups_node_id_idx ON portgroups (node_id);
CREATE TABLE volume_connectors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL CONSTRAINT uniq_volumeconnectors0uuid UNIQUE,
  node_id INTEGER NOT NULL,
  type TEXT NOT NULL,
  connector_id TEXT NOT NULL,
  extra TEXT ${JSON_DEFAULT},
  created_at TEXT NOT NULL,
  updated_at TEXT,
  CONSTRAINT uniq_volumeconnectors0type0connector_id UNIQUE (type, connector_id)
);
CREATE INDEX volume_connectors_node_id_idx ON volume_connectors (node_id);
CREATE TABLE volume_targets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL CONSTRAINT uniq_volumetargets0uuid UNIQUE,
  node_id INTEGER NOT NULL,
  volume_type TEXT NOT NULL,
  boot_index INTEGER NOT NULL,
  volume_id TEXT NOT NULL,
  properties TEXT ${JSON_DEFAULT},
  extra TEXT ${JSON_DEFAULT},
  created_at TEXT NOT NULL,
  updated_at TEXT,
  CONSTRAINT uniq_volumetargets0node_id0boot_index UNIQUE (node_id, boot_index)
);
CREATE INDEX volume_targets_node_id_idx ON volume_targets (node_id);
CREATE TABLE conductors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hostname TEXT NOT NULL CONSTRAINT uniq_conductors0hostname UNIQUE,
  online INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  ${V2_CONDUCTOR_COLUMNS_DDL.join(',\n  ')}
);
CREATE TRIGGER nodes_cascade_delete AFTER DELETE ON nodes BEGIN
  DELETE FROM ports WHERE node_id = OLD.id;
  DELETE FROM portgroups WHERE node_id = OLD.id;
  DELETE FROM volume_connectors WHERE node_id = OLD.id;
  DELETE FROM volume_targets WHERE node_id = OLD.id;
END;
INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}'), ('${META_CHECKPOINT_SEQ}', '0');
PRAGMA application_id = ${APPLICATION_ID};
PRAGMA user_version = ${SCHEMA_VERSION};
`;

/**
 * Per-connection settings (not stored in the file). MEMORY journal: rollback still works, about 2x
 * faster writes. EXCLUSIVE locking: without it every autocommit statement takes and drops the
 * (emulated) file lock and re-reads page 1 through Emscripten's JS file system, about 8 µs per
 * statement; with it a primary-key SELECT costs 0.35 µs instead of 8 (measured, sql.js 1.16). The
 * database lives in this process's WASM memory, so nobody else could take the lock anyway.
 */
export function applyPragmas(db: SqlDatabase): void {
  db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY;');
}

/** Create the schema in an empty database, with a new store id. */
export function createSchema(db: SqlDatabase, storeId: string): void {
  db.exec(SCHEMA_DDL);
  writeMeta(db, META_STORE_ID, storeId);
  writeMeta(db, META_JOURNAL_BASE, '0');
  writeMeta(db, META_CHECKPOINT_DIGEST, '');
}

/** A `meta` value, or null. */
export function readMeta(db: SqlDatabase, key: string): string | null {
  const row = db.get('SELECT value FROM meta WHERE key = ?', [key]);
  return row === undefined ? null : String(row[0]);
}

/** Set a `meta` value (not journaled: meta travels with checkpoints). */
export function writeMeta(db: SqlDatabase, key: string, value: string): void {
  db.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
}

/**
 * Bring a loaded database of an earlier schema version up to SCHEMA_VERSION, in memory (the file
 * on disk changes at the next checkpoint). Version 1 → 2 adds columns with defaults: every node
 * gets version 1, no token and group '', so the statements of a version-1 journal (INSERTs naming
 * their columns, UPDATEs by id) replay unchanged on top. Anything that is not a metal-conductor
 * database of version 1 is left alone for `verifySchema` to refuse. Returns the version migrated
 * from, or null when nothing was done.
 */
export function migrateSchema(db: SqlDatabase): number | null {
  const appId = Number(db.exec('PRAGMA application_id;')[0]?.[0]);
  const version = Number(db.exec('PRAGMA user_version;')[0]?.[0]);
  if (appId !== APPLICATION_ID || version !== 1) return null;
  const has = (table: string, column: string) =>
    db.all(`SELECT name FROM pragma_table_info(?)`, [table]).some((r) => String(r[0]) === column);
  // Only a version-1 shape is migrated; a damaged one is verifySchema's to report.
  if (!has('nodes', 'id') || !has('conductors', 'id')) return null;
  db.exec('BEGIN;');
  try {
    for (const column of V2_NODE_COLUMNS_DDL) {
      if (!has('nodes', column.split(' ')[0]!)) db.exec(`ALTER TABLE nodes ADD COLUMN ${column};`);
    }
    for (const column of V2_CONDUCTOR_COLUMNS_DDL) {
      if (!has('conductors', column.split(' ')[0]!)) db.exec(`ALTER TABLE conductors ADD COLUMN ${column};`);
    }
    writeMeta(db, 'schema_version', String(SCHEMA_VERSION));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION};`);
    db.exec('COMMIT;');
  } catch (cause) {
    db.exec('ROLLBACK;');
    throw cause;
  }
  return version;
}

/** The reservation token ceiling recorded in `meta` (0 when absent). */
export function readTokenCeiling(db: SqlDatabase): number {
  const value = Number(readMeta(db, META_TOKEN_CEILING) ?? 0);
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/**
 * Check that a loaded database is a metal-conductor database of the current version with the
 * expected tables and columns, and passes SQLite's quick_check. Returns the reason it is not, or
 * null. Throws only what sql.js throws for unreadable bytes (callers map that to StoreCorrupt).
 */
export function verifySchema(db: SqlDatabase): string | null {
  const check = db.exec('PRAGMA quick_check;').map((r) => String(r[0]));
  if (check.length !== 1 || check[0] !== 'ok') return `integrity check failed: ${check.slice(0, 5).join('; ')}`;
  const appId = Number(db.exec('PRAGMA application_id;')[0]?.[0]);
  if (appId !== APPLICATION_ID) return `not a metal-conductor database (application_id ${appId})`;
  const version = Number(db.exec('PRAGMA user_version;')[0]?.[0]);
  if (version !== SCHEMA_VERSION) return `unsupported schema version ${version} (expected ${SCHEMA_VERSION})`;
  for (const [table, columns] of Object.entries(TABLES)) {
    const actual = db.all(`SELECT name FROM pragma_table_info(?)`, [table]).map((r) => String(r[0]));
    if (actual.length === 0) return `table ${table} is missing`;
    const missing = columns.filter((c) => !actual.includes(c));
    if (missing.length > 0) return `table ${table} lacks column(s) ${missing.join(', ')}`;
  }
  const seq = readCheckpointSeq(db);
  if (seq === null) return `meta.${META_CHECKPOINT_SEQ} is missing or not a non-negative integer`;
  return null;
}

/** The journal sequence number the database file contains (meta), or null if absent/invalid. */
export function readCheckpointSeq(db: SqlDatabase): number | null {
  const row = db.get('SELECT value FROM meta WHERE key = ?', [META_CHECKPOINT_SEQ]);
  if (row === undefined) return null;
  const value = Number(row[0]);
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** What a database file records about the journal it was written from. */
export interface CheckpointMark {
  /** The last change the file contains. */
  readonly seq: number;
  /** The base of the journal current when it was written. */
  readonly journalBase: number;
  /** The digest of change `seq` ('' if there is none: seq 0, or a file upgraded from version 0.1). */
  readonly digest: string;
}

/** Record what the next export will contain. Not journaled. */
export function writeCheckpointSeq(db: SqlDatabase, mark: CheckpointMark): void {
  writeMeta(db, META_CHECKPOINT_SEQ, String(mark.seq));
  writeMeta(db, META_JOURNAL_BASE, String(mark.journalBase));
  writeMeta(db, META_CHECKPOINT_DIGEST, mark.digest);
}
