/**
 * Node identities as Ironic's `Node.get` reads them: an int-like value is an id, a UUID-like
 * value a UUID, and (our documented extension, as Ironic's API does with logical names) anything
 * that is a valid logical name a name. Everything else is InvalidIdentity.
 */
import { err, ok, type Result } from 'neverthrow';
import { InvalidIdentity } from './errors.js';

/** A node identity, classified. UUIDs are lower-cased (they are stored lower-case). */
export type ParsedIdentity =
  | { readonly kind: 'id'; readonly id: number }
  | { readonly kind: 'uuid'; readonly uuid: string }
  | { readonly kind: 'name'; readonly name: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Ironic's is_int_like: str(int(v)) == str(v), i.e. an optional minus and no leading zeros.
const INT_LIKE_RE = /^(0|-?[1-9][0-9]*)$/;
// Ironic's _is_valid_logical_name_re (re.I): unreserved URI characters only.
const LOGICAL_NAME_RE = /^[A-Za-z0-9\-._~]+$/;
/** Longest logical name Ironic accepts. */
export const MAX_NAME_LENGTH = 255;

/** True for the canonical 8-4-4-4-12 hex form, any case. */
export function isUuidLike(value: string): boolean {
  return UUID_RE.test(value);
}

/** True for a string Ironic would take as an integer (`"12"`, `"-3"`, not `"012"` or `"+1"`). */
export function isIntLike(value: string): boolean {
  return INT_LIKE_RE.test(value);
}

/** True for a valid logical name (Ironic `is_valid_logical_name`). */
export function isValidLogicalName(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && LOGICAL_NAME_RE.test(value);
}

/**
 * Why `name` cannot be stored as a node name, or null. Names that read as ids or UUIDs are refused
 * too, so that every stored name can be looked up.
 */
export function nodeNameProblem(name: string): string | null {
  if (!isValidLogicalName(name)) {
    return `node name must be 1-${MAX_NAME_LENGTH} characters of A-Z a-z 0-9 - . _ ~, got ${JSON.stringify(name)}`;
  }
  if (isIntLike(name)) return `node name must not look like an integer id, got ${JSON.stringify(name)}`;
  if (isUuidLike(name)) return `node name must not look like a UUID, got ${JSON.stringify(name)}`;
  return null;
}

/** Classify an identity: safe positive integer or int-like string → id; UUID → uuid; logical name → name. */
export function parseIdentity(identity: unknown): Result<ParsedIdentity, InvalidIdentity> {
  if (typeof identity === 'number') {
    return Number.isSafeInteger(identity) && identity > 0 ? ok({ kind: 'id', id: identity }) : err(new InvalidIdentity(identity));
  }
  if (typeof identity !== 'string') return err(new InvalidIdentity(identity));
  if (isIntLike(identity)) {
    const id = Number(identity);
    return Number.isSafeInteger(id) && id > 0 ? ok({ kind: 'id', id }) : err(new InvalidIdentity(identity));
  }
  if (isUuidLike(identity)) return ok({ kind: 'uuid', uuid: identity.toLowerCase() });
  if (isValidLogicalName(identity)) return ok({ kind: 'name', name: identity });
  return err(new InvalidIdentity(identity));
}
