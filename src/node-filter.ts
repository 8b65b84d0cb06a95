/**
 * The filter of `Conductor.listNodes`, and its check: it may come from untyped code, so every
 * field is validated (InvalidParameterValue naming the field) before it reaches the store.
 */
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from './errors.js';
import { PROVISION_STATES, type ProvisionState } from './states/provision-states.js';

/** Filters for listing nodes. All given filters must match. */
export interface NodeFilter {
  /** One provision state or any of several. */
  provisionState?: ProvisionState | readonly ProvisionState[];
  /** true: reserved only; false: unreserved only. */
  reserved?: boolean;
  /** Reservation tag (conductor host), matched case-insensitively. */
  reservedBy?: string;
  maintenance?: boolean;
  /** Hardware type name. */
  driver?: string;
  /** Only nodes whose provision_updated_at is older than this instant. */
  provisionUpdatedBefore?: Date;
  /** At most this many nodes (the lowest ids). Default: no limit. */
  limit?: number;
}

const FILTER_FIELDS = new Set(['provisionState', 'reserved', 'reservedBy', 'maintenance', 'driver', 'provisionUpdatedBefore', 'limit']);

/** Validate a node filter; a bad or unknown field is InvalidParameterValue naming it. */
export function checkNodeFilter(filter: unknown): Result<NodeFilter, InvalidParameterValue> {
  const bad = (field: string, expected: string): Result<never, InvalidParameterValue> =>
    err(new InvalidParameterValue(`filter.${field} must be ${expected}`, { field }));
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    return err(new InvalidParameterValue('the node filter must be an object', { field: null }));
  }
  const f = filter as Record<string, unknown>;
  const unknown = Object.keys(f).filter((key) => !FILTER_FIELDS.has(key));
  if (unknown.length > 0) return err(new InvalidParameterValue(`unknown filter field: ${unknown.join(', ')}`, { field: unknown[0] }));
  const isState = (value: unknown): boolean => PROVISION_STATES.includes(value as ProvisionState);
  const states = f.provisionState;
  if (states !== undefined && !(isState(states) || (Array.isArray(states) && states.every(isState)))) {
    return bad('provisionState', 'a provision state or an array of them');
  }
  for (const field of ['reserved', 'maintenance']) {
    if (f[field] !== undefined && typeof f[field] !== 'boolean') return bad(field, 'a boolean');
  }
  for (const field of ['reservedBy', 'driver']) {
    if (f[field] !== undefined && typeof f[field] !== 'string') return bad(field, 'a string');
  }
  const before = f.provisionUpdatedBefore;
  if (before !== undefined && !(before instanceof Date && !Number.isNaN(before.getTime())))
    return bad('provisionUpdatedBefore', 'a valid Date');
  const limit = f.limit;
  if (limit !== undefined && !(typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 0)) {
    return bad('limit', 'a non-negative integer');
  }
  return ok(filter as NodeFilter);
}
