/**
 * Which columns callers may write, and how a JS value becomes a bound parameter. A bad value is
 * reported as a FieldProblem; the caller decides whether that is an InvalidParameterValue (create)
 * or a programming error (update, whose signature has no such error).
 */
import { isUuidLike, nodeNameProblem } from '../../identity.js';
import type { SqlParam } from './database.js';
import { PROVISION_STATES, type ProvisionState } from '../../states/provision-states.js';
import { INTERFACE_COLUMNS } from './schema.js';

/** How a column is stored. */
export type ColumnKind =
  | 'text'
  | 'nullable-text'
  | 'json'
  | 'bool'
  | 'int'
  | 'nullable-int'
  | 'timestamp'
  | 'uuid'
  | 'node-name'
  | 'provision-state'
  | 'nullable-provision-state'
  | 'group';

/** A value that cannot be written to a column. */
export class FieldProblem {
  constructor(
    readonly column: string,
    readonly reason: string,
  ) {}
  toString(): string {
    return `${this.column}: ${this.reason}`;
  }
}

/** Node columns an update may write (not identity, not created_at, not the lock columns). */
export const NODE_UPDATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  name: 'node-name',
  driver: 'text',
  ...Object.fromEntries(INTERFACE_COLUMNS.map((c) => [c, 'nullable-text' as const])),
  // A state the machine does not know would make the node unusable (every task refuses it).
  provision_state: 'provision-state',
  target_provision_state: 'nullable-provision-state',
  power_state: 'nullable-text',
  target_power_state: 'nullable-text',
  last_error: 'nullable-text',
  maintenance: 'bool',
  maintenance_reason: 'nullable-text',
  // Ironic's conductor_group: '' (no group) or a name.
  conductor_group: 'group',
  instance_info: 'json',
  driver_info: 'json',
  driver_internal_info: 'json',
  properties: 'json',
  extra: 'json',
  updated_at: 'timestamp',
  provision_updated_at: 'timestamp',
});

/** Node columns a create may set: the updatable ones (but updated_at) plus uuid. */
export const NODE_CREATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  uuid: 'uuid',
  ...Object.fromEntries(Object.entries(NODE_UPDATABLE).filter(([c]) => c !== 'updated_at')),
});

/** Port columns a create may set (besides node_id). */
export const PORT_CREATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  uuid: 'uuid',
  address: 'text',
  portgroup_id: 'nullable-int',
  pxe_enabled: 'bool',
  local_link_connection: 'json',
  extra: 'json',
});

/** Portgroup columns a create may set. */
export const PORTGROUP_CREATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  uuid: 'uuid',
  name: 'nullable-text',
  address: 'nullable-text',
  mode: 'nullable-text',
  extra: 'json',
});

/** Volume connector columns a create may set. */
export const VOLUME_CONNECTOR_CREATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  uuid: 'uuid',
  type: 'text',
  connector_id: 'text',
  extra: 'json',
});

/** Volume target columns a create may set. */
export const VOLUME_TARGET_CREATABLE: Readonly<Record<string, ColumnKind>> = Object.freeze({
  uuid: 'uuid',
  volume_type: 'text',
  boot_index: 'int',
  volume_id: 'text',
  properties: 'json',
  extra: 'json',
});

const ISO_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Encode `value` for `column` of kind `kind`, or describe why it cannot be stored. */
export function encodeField(column: string, kind: ColumnKind, value: unknown): SqlParam | FieldProblem {
  switch (kind) {
    case 'text':
      return typeof value === 'string' && value !== '' ? value : new FieldProblem(column, 'must be a non-empty string');
    case 'nullable-text':
      return value === null || typeof value === 'string' ? value : new FieldProblem(column, 'must be a string or null');
    case 'timestamp':
      return value === null || (typeof value === 'string' && ISO_UTC_RE.test(value))
        ? value
        : new FieldProblem(column, 'must be an ISO-8601 UTC timestamp string (toISOString()) or null');
    case 'uuid':
      return typeof value === 'string' && isUuidLike(value)
        ? value.toLowerCase()
        : new FieldProblem(column, 'must be a UUID in 8-4-4-4-12 form');
    case 'node-name': {
      if (value === null) return null;
      if (typeof value !== 'string') return new FieldProblem(column, 'must be a string or null');
      const problem = nodeNameProblem(value);
      return problem === null ? value : new FieldProblem(column, problem);
    }
    case 'provision-state':
      return PROVISION_STATES.includes(value as ProvisionState)
        ? (value as string)
        : new FieldProblem(column, `must be a state of the provision machine, got ${JSON.stringify(value)}`);
    case 'nullable-provision-state':
      return value === null || PROVISION_STATES.includes(value as ProvisionState)
        ? (value as string | null)
        : new FieldProblem(column, `must be a state of the provision machine or null, got ${JSON.stringify(value)}`);
    case 'group':
      return typeof value === 'string' && value.length <= 255
        ? value
        : new FieldProblem(column, 'must be a string of at most 255 characters');
    case 'bool':
      return typeof value === 'boolean' ? (value ? 1 : 0) : new FieldProblem(column, 'must be a boolean');
    case 'int':
      return Number.isSafeInteger(value) ? (value as number) : new FieldProblem(column, 'must be an integer');
    case 'nullable-int':
      return value === null || Number.isSafeInteger(value)
        ? (value as number | null)
        : new FieldProblem(column, 'must be an integer or null');
    case 'json': {
      if (!isPlainObject(value)) return new FieldProblem(column, 'must be a plain JSON object');
      try {
        return JSON.stringify(value);
      } catch (cause) {
        return new FieldProblem(column, `is not serialisable as JSON (${String(cause)})`);
      }
    }
  }
}

/**
 * Encode the fields of `input` allowed by `allowed`, skipping undefined values. Returns the
 * columns and parameters in input order, or the first problem (unknown columns included).
 */
export function encodeFields(
  input: Readonly<Record<string, unknown>>,
  allowed: Readonly<Record<string, ColumnKind>>,
): { columns: string[]; params: SqlParam[] } | FieldProblem {
  const columns: string[] = [];
  const params: SqlParam[] = [];
  for (const column of Object.keys(input)) {
    const value = input[column];
    if (value === undefined) continue;
    const kind = Object.hasOwn(allowed, column) ? allowed[column] : undefined;
    if (kind === undefined) return new FieldProblem(column, 'is not a writable column');
    const encoded = encodeField(column, kind, value);
    if (encoded instanceof FieldProblem) return encoded;
    columns.push(column);
    params.push(encoded);
  }
  return { columns, params };
}
