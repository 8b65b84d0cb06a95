/**
 * Checks of a store call's arguments, shared by every store. A bad argument is a caller bug
 * (TypeError); the stores' own outcomes are Results.
 */
import type { ParsedIdentity } from '../../identity.js';
import type { Fence } from '../store.js';

/** The column a node identity is looked up by. */
export type IdentityColumn = 'id' | 'uuid' | 'name';

/** The column and key of a parsed identity. */
export function identityColumn(identity: ParsedIdentity): [column: IdentityColumn, key: number | string] {
  switch (identity.kind) {
    case 'id':
      return ['id', identity.id];
    case 'uuid':
      return ['uuid', identity.uuid];
    case 'name':
      return ['name', identity.name];
  }
}

export function assertNodeId(operation: string, nodeId: unknown): asserts nodeId is number {
  if (!Number.isSafeInteger(nodeId)) throw new TypeError(`${operation}: node id must be an integer, got ${String(nodeId)}`);
}

/** A reservation tag or conductor host: a non-empty string of at most 255 characters. */
export function assertTag(operation: string, tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || tag === '' || tag.length > 255) {
    throw new TypeError(`${operation}: tag/host must be a non-empty string of at most 255 characters`);
  }
}

/** An optional fence: undefined, or `{ tag: string, token: integer }`. */
export function assertFence(operation: string, fence: unknown): asserts fence is Fence | undefined {
  if (fence === undefined) return;
  const valid =
    typeof fence === 'object' &&
    fence !== null &&
    typeof (fence as Partial<Fence>).tag === 'string' &&
    Number.isSafeInteger((fence as Partial<Fence>).token);
  if (!valid) throw new TypeError(`${operation}: a fence must be { tag: string, token: integer }`);
}

/** An optional reservation token: undefined, or an integer. */
export function assertToken(operation: string, token: unknown): asserts token is number | undefined {
  if (token !== undefined && !Number.isSafeInteger(token)) throw new TypeError(`${operation}: token must be an integer`);
}
