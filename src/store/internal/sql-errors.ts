/**
 * Mapping of sql.js failures to typed errors: UNIQUE violations become Duplicate (with Ironic's
 * wording where it has one), everything else StoreError. sql.js throws Error objects for SQLite
 * errors but plain strings for some guards ("Database closed"), so nothing assumes an Error.
 */
import { describe, Duplicate, StoreError } from '../../errors.js';

const UNIQUE_PREFIX = 'UNIQUE constraint failed: ';

/** Table and columns of a UNIQUE violation, or null for any other failure. */
export function uniqueViolation(cause: unknown): { table: string; columns: string[] } | null {
  const message = describe(cause);
  const at = message.indexOf(UNIQUE_PREFIX);
  if (at === -1) return null;
  const qualified = message
    .slice(at + UNIQUE_PREFIX.length)
    .split(',')
    .map((s) => s.trim());
  const table = qualified[0]?.split('.')[0] ?? '';
  return { table, columns: qualified.map((q) => q.split('.').slice(1).join('.')) };
}

const ENTITY: Readonly<Record<string, string>> = {
  nodes: 'node',
  ports: 'port',
  portgroups: 'portgroup',
  volume_connectors: 'volume connector',
  volume_targets: 'volume target',
  conductors: 'conductor',
};

/**
 * Ironic's Duplicate for a UNIQUE violation on `table`'s `columns` ("A node with UUID <uuid> already
 * exists."), naming the written `values`; shared by every store. No known columns: `fallback` names it.
 */
export function duplicateError(
  table: string,
  columns: readonly string[],
  values: Readonly<Record<string, unknown>>,
  fallback: string,
): Duplicate {
  const entity = ENTITY[table] ?? table;
  const what =
    columns.length === 0
      ? fallback
      : columns.map((c) => `${c === 'uuid' ? 'UUID' : c} ${values[c] === undefined ? '(same value)' : describe(values[c])}`).join(' and ');
  return new Duplicate(`A ${entity} with ${what} already exists.`, {
    table,
    columns: [...columns],
    values: Object.fromEntries(columns.map((c) => [c, values[c] ?? null])),
  });
}

/**
 * The typed error for a failed write. `values` are the written column values, used to name the
 * duplicate value in the message (Ironic: "A node with UUID <uuid> already exists.").
 */
export function writeError(operation: string, cause: unknown, values: Readonly<Record<string, unknown>> = {}): Duplicate | StoreError {
  const unique = uniqueViolation(cause);
  if (unique === null) return new StoreError(operation, cause);
  return duplicateError(unique.table, unique.columns, values, describe(cause));
}
