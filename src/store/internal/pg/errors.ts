/**
 * Mapping of pg failures to typed errors: a unique violation (SQLSTATE 23505) becomes Duplicate
 * with the sql.js store's wording (Ironic's: "A node with UUID <uuid> already exists."), anything
 * else StoreError. pg errors carry the violated constraint's name; ours follow Ironic's naming.
 */
import { describe, type Duplicate, StoreError } from '../../../errors.js';
import { duplicateError } from '../sql-errors.js';

/** Table and columns of every UNIQUE constraint of the schema. */
const UNIQUE_CONSTRAINTS: Readonly<Record<string, { table: string; columns: string[] }>> = {
  uniq_nodes0uuid: { table: 'nodes', columns: ['uuid'] },
  uniq_nodes0name: { table: 'nodes', columns: ['name'] },
  uniq_ports0uuid: { table: 'ports', columns: ['uuid'] },
  uniq_ports0address: { table: 'ports', columns: ['address'] },
  uniq_portgroups0uuid: { table: 'portgroups', columns: ['uuid'] },
  uniq_portgroups0name: { table: 'portgroups', columns: ['name'] },
  uniq_portgroups0address: { table: 'portgroups', columns: ['address'] },
  uniq_volumeconnectors0uuid: { table: 'volume_connectors', columns: ['uuid'] },
  uniq_volumeconnectors0type0connector_id: { table: 'volume_connectors', columns: ['type', 'connector_id'] },
  uniq_volumetargets0uuid: { table: 'volume_targets', columns: ['uuid'] },
  uniq_volumetargets0node_id0boot_index: { table: 'volume_targets', columns: ['node_id', 'boot_index'] },
  uniq_conductors0hostname: { table: 'conductors', columns: ['hostname'] },
};

/** The SQLSTATE of a pg error, or null. */
export function sqlState(cause: unknown): string | null {
  if (typeof cause !== 'object' || cause === null) return null;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

/** True for a foreign key violation (a child of a missing node). */
export function isForeignKeyViolation(cause: unknown): boolean {
  return sqlState(cause) === '23503';
}

/** The typed error for a failed statement; `values` name the duplicate value. */
export function pgWriteError(operation: string, cause: unknown, values: Readonly<Record<string, unknown>> = {}): Duplicate | StoreError {
  if (cause instanceof StoreError) return cause;
  if (sqlState(cause) !== '23505') return new StoreError(operation, cause);
  const name = (cause as { constraint?: unknown }).constraint;
  const known = typeof name === 'string' ? UNIQUE_CONSTRAINTS[name] : undefined;
  const rawTable = (cause as { table?: unknown }).table;
  const table = known?.table ?? (typeof rawTable === 'string' ? rawTable : 'row');
  return duplicateError(table, known?.columns ?? [], values, describe(cause));
}
