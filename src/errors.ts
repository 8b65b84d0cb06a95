/**
 * Typed errors. Every failure metal-conductor reports is one of these classes: a stable `code`
 * (the Ironic exception name where one exists), an HTTP-like `status` as Ironic maps it, and
 * structured `details`. Expected failures travel inside neverthrow Results; only bugs are thrown.
 */

import type { FakeDriverError } from './drivers/fake/fake-driver-error.js';
import type { UnsupportedDriverExtension } from './drivers/unsupported-driver-extension.js';

/** Base class of every metal-conductor error. */
export abstract class ConductorError extends Error {
  /** Stable machine-readable code, e.g. `NodeLocked`. */
  abstract readonly code: string;
  /** HTTP-like status, as Ironic maps the exception (409 for conflicts, 404 for missing, ...). */
  abstract readonly status: number;
  /** Structured facts about the failure (node, holder, state, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.details = Object.freeze({ ...details });
  }

  /** Plain-data form used in actor replies and logs. */
  toJSON(): SerializedError {
    return { code: this.code, status: this.status, message: this.message, details: { ...this.details } };
  }
}

/** Wire form of a ConductorError (actor replies). */
export interface SerializedError {
  code: string;
  status: number;
  message: string;
  details: Record<string, unknown>;
}

/** Who holds a node's exclusive lock, as reported in NodeLocked. */
export interface LockHolder {
  /** The reservation tag (conductor host name). */
  host: string;
  /** What the holder said it is doing, when known. */
  purpose?: string | null;
  /** Milliseconds the lock has been held, when known. */
  heldForMs?: number | null;
}

/** The node's exclusive lock is held by someone else (HTTP 409). */
export class NodeLocked extends ConductorError {
  readonly code = 'NodeLocked';
  readonly status = 409;
  readonly holder: LockHolder;
  constructor(node: string, holder: LockHolder) {
    const extra: string[] = [];
    if (holder.purpose) extra.push(`for "${holder.purpose}"`);
    if (holder.heldForMs != null) extra.push(`held for ${(holder.heldForMs / 1000).toFixed(3)} s`);
    super(
      `Node ${node} is locked by host ${holder.host}${extra.length ? ` (${extra.join(', ')})` : ''}, ` +
        'please retry after the current operation is completed.',
      { node, host: holder.host, purpose: holder.purpose ?? null, heldForMs: holder.heldForMs ?? null },
    );
    this.holder = holder;
  }
}

/** No node with that identity exists (HTTP 404). */
export class NodeNotFound extends ConductorError {
  readonly code = 'NodeNotFound';
  readonly status = 404;
  constructor(node: string | number) {
    super(`Node ${node} could not be found.`, { node });
  }
}

/** Release of a node that is not locked (HTTP 400). */
export class NodeNotLocked extends ConductorError {
  readonly code = 'NodeNotLocked';
  readonly status = 400;
  constructor(node: string) {
    super(`Node ${node} found not to be locked on release`, { node });
  }
}

/** The identifier is neither an integer id, a UUID nor (where accepted) a name (HTTP 400). */
export class InvalidIdentity extends ConductorError {
  readonly code = 'InvalidIdentity';
  readonly status = 400;
  constructor(identity: unknown) {
    super(`Expected a UUID or int but received ${String(identity)}.`, { identity: String(identity) });
  }
}

/** A state-machine event is not allowed, or a state is unknown (HTTP 409). */
export class InvalidState extends ConductorError {
  readonly code = 'InvalidState';
  readonly status = 409;
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}

/** An operation that needs the exclusive lock was called on a shared task (HTTP 403). */
export class ExclusiveLockRequired extends ConductorError {
  readonly code = 'ExclusiveLockRequired';
  readonly status = 403;
  constructor(operation?: string, node?: string) {
    super('An exclusive lock is required, but the current context has a shared lock.', {
      operation: operation ?? null,
      node: node ?? null,
    });
  }
}

/** The node's hardware type is not enabled or unknown (HTTP 404). */
export class DriverNotFound extends ConductorError {
  readonly code = 'DriverNotFound';
  readonly status = 404;
  constructor(driverName: string) {
    super(`Could not find the following driver(s) or hardware type(s): ${driverName}.`, { driver: driverName });
  }
}

/** An interface implementation name is not enabled (Ironic: InterfaceNotFoundInEntrypoint, HTTP 400). */
export class InterfaceNotFoundInEntrypoint extends ConductorError {
  readonly code = 'InterfaceNotFoundInEntrypoint';
  readonly status = 400;
  constructor(iface: string, interfaceType: string, valid: readonly string[]) {
    super(
      `Could not find the following interface in the 'ironic.hardware.interfaces.${interfaceType}' entrypoint: ` +
        `${iface}. Valid interfaces are ${JSON.stringify(valid)}.`,
      { interface: iface, interfaceType, valid: [...valid] },
    );
  }
}

/** The implementation exists but the hardware type does not support it (HTTP 400). */
export class IncompatibleInterface extends ConductorError {
  readonly code = 'IncompatibleInterface';
  readonly status = 400;
  constructor(interfaceType: string, implementation: string, hardwareType: string, supported: readonly string[]) {
    super(
      `${interfaceType} interface implementation '${implementation}' is not supported by hardware type ` +
        `${hardwareType}. Supported: ${supported.join(', ') || '(none)'}.`,
      { interfaceType, implementation, hardwareType, supported: [...supported] },
    );
  }
}

/** No enabled implementation can serve as a default for an interface (HTTP 400). */
export class NoValidDefaultForInterface extends ConductorError {
  readonly code = 'NoValidDefaultForInterface';
  readonly status = 400;
  constructor(interfaceType: string, hardwareType: string, node: string) {
    super(`No valid default ${interfaceType} interface found for node ${node} with hardware type ${hardwareType}.`, {
      interfaceType,
      hardwareType,
      node,
    });
  }
}

/** A parameter (configuration, message field, argument) is invalid (HTTP 400). */
export class InvalidParameterValue extends ConductorError {
  readonly code = 'InvalidParameterValue';
  readonly status = 400;
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}

/** A node, port or name with that identity already exists (HTTP 409). */
export class Duplicate extends ConductorError {
  readonly code = 'Duplicate';
  readonly status = 409;
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}

/** The conductor has no free worker for background work (HTTP 503). */
export class NoFreeConductorWorker extends ConductorError {
  readonly code = 'NoFreeConductorWorker';
  readonly status = 503;
  constructor(details: Record<string, unknown> = {}) {
    super('Requested action cannot be performed due to lack of free conductor workers.', details);
  }
}

/** Background work ran longer than its timeout and was cancelled (HTTP 504). */
export class WorkerTimedOut extends ConductorError {
  readonly code = 'WorkerTimedOut';
  readonly status = 504;
  constructor(work: string, timeoutMs: number) {
    super(`${work} timed out after ${timeoutMs} ms`, { work, timeoutMs });
  }
}

/** Background work threw or rejected; the message is the `last_error` text Ironic records (HTTP 500). */
export class BackgroundWorkFailed extends ConductorError {
  readonly code = 'BackgroundWorkFailed';
  readonly status = 500;
  constructor(work: string, node: string, cause: unknown) {
    super(`Async execution of ${work} failed with error: ${describe(cause)}`, { work, node }, { cause });
  }
}

/** Scheduled background work never started: the scope failed, the task was released first, or a later spawn replaced it (HTTP 409). */
export class WorkNotStarted extends ConductorError {
  readonly code = 'WorkNotStarted';
  readonly status = 409;
  constructor(work: string, node: string, reason: string) {
    super(`Background work ${work} on node ${node} was not started: ${reason}.`, { work, node, reason });
  }
}

/** A task was used after it was released (HTTP 409). A bug in the caller: thrown, not returned. */
export class TaskReleased extends ConductorError {
  readonly code = 'TaskReleased';
  readonly status = 409;
  constructor(node: string, operation: string) {
    super(`Task on node ${node} was already released; cannot ${operation}.`, { node, operation });
  }
}

/** A waiting call was aborted through its AbortSignal (HTTP 499, "client closed request"). */
export class Aborted extends ConductorError {
  readonly code = 'Aborted';
  readonly status = 499;
  constructor(operation: string, reason?: unknown) {
    super(
      `${operation} was aborted${reason instanceof Error ? `: ${describe(reason)}` : ''}.`,
      { operation },
      {
        cause: reason,
      },
    );
  }
}

/** An ask got no reply within its timeout (HTTP 504). */
export class AskTimeout extends ConductorError {
  readonly code = 'AskTimeout';
  readonly status = 504;
  constructor(target: string, timeoutMs: number) {
    super(`No reply from ${target} within ${timeoutMs} ms.`, { target, timeoutMs });
  }
}

/** The target actor is stopped or never existed; the message became a dead letter (HTTP 503). */
export class ActorStopped extends ConductorError {
  readonly code = 'ActorStopped';
  readonly status = 503;
  constructor(target: string) {
    super(`Actor ${target} is stopped or never existed.`, { target });
  }
}

/** A message to an actor is not of the protocol's form (HTTP 400). */
export class MalformedMessage extends ConductorError {
  readonly code = 'MalformedMessage';
  readonly status = 400;
  constructor(reason: string, received?: unknown) {
    super(`Malformed message: ${reason}.`, { reason, received: safePreview(received) });
  }
}

/** A lease id that this conductor does not hold (HTTP 404). */
export class LeaseNotFound extends ConductorError {
  readonly code = 'LeaseNotFound';
  readonly status = 404;
  constructor(leaseId: string) {
    super(`No active lease ${leaseId}.`, { leaseId });
  }
}

/** The conductor is stopping or stopped and takes no new work (HTTP 503). */
export class ConductorStopping extends ConductorError {
  readonly code = 'ConductorStopping';
  readonly status = 503;
  constructor() {
    super('The conductor is shutting down and takes no new work.');
  }
}

/** The store failed to read or write (HTTP 500). */
export class StoreError extends ConductorError {
  readonly code = 'StoreError';
  readonly status = 500;
  constructor(operation: string, cause: unknown) {
    super(`Store ${operation} failed: ${describe(cause)}`, { operation }, { cause });
  }
}

/** The database file (or its journal) is unreadable or corrupt; it is never silently replaced (HTTP 500). */
export class StoreCorrupt extends ConductorError {
  readonly code = 'StoreCorrupt';
  readonly status = 500;
  constructor(path: string, reason: string, cause?: unknown) {
    super(`Database file ${path} is unreadable or corrupt: ${reason}`, { path, reason }, { cause });
  }
}

/** Another live process has the database file open (HTTP 409). */
export class StoreInUse extends ConductorError {
  readonly code = 'StoreInUse';
  readonly status = 409;
  constructor(path: string, pid: number) {
    super(`Database file ${path} is in use by process ${pid}.`, { path, pid });
  }
}

/**
 * The exclusive lock this task held was taken over (its conductor was found dead, e.g. paused past
 * the takeover time) or its row changed under another reservation: the write was refused by the
 * store's fencing condition and nothing was changed (HTTP 409). The task's work should stop.
 */
export class LockLost extends ConductorError {
  readonly code = 'LockLost';
  readonly status = 409;
  constructor(node: string | number, held: { host: string; token: number }, now: { host: string | null; token: number | null } | null) {
    super(
      `Node ${node}: the exclusive lock of host ${held.host} (token ${held.token}) was lost` +
        (now === null ? '' : now.host === null ? '; the node is not reserved now' : `; it is held by ${now.host} (token ${now.token})`) +
        '. Nothing was written.',
      { node, host: held.host, token: held.token, nowHeldBy: now?.host ?? null, nowToken: now?.token ?? null },
    );
  }
}

/** The union of every error metal-conductor reports. */
export type AnyConductorError =
  | FakeDriverError
  | UnsupportedDriverExtension
  | NodeLocked
  | NodeNotFound
  | NodeNotLocked
  | InvalidIdentity
  | InvalidState
  | ExclusiveLockRequired
  | DriverNotFound
  | InterfaceNotFoundInEntrypoint
  | IncompatibleInterface
  | NoValidDefaultForInterface
  | InvalidParameterValue
  | Duplicate
  | NoFreeConductorWorker
  | WorkerTimedOut
  | BackgroundWorkFailed
  | WorkNotStarted
  | TaskReleased
  | Aborted
  | AskTimeout
  | ActorStopped
  | MalformedMessage
  | LeaseNotFound
  | ConductorStopping
  | StoreError
  | StoreCorrupt
  | StoreInUse
  | LockLost;

/** Errors building a node's driver can produce. */
export type DriverError = DriverNotFound | InterfaceNotFoundInEntrypoint | IncompatibleInterface | NoValidDefaultForInterface;

/** What `describe` answers when a value cannot be rendered at all (its getters or toJSON throw). */
export const UNDESCRIBABLE = 'an error that cannot be described';

/**
 * Render an unknown thrown value as text. Never throws, whatever the value: its `message` getter,
 * `toString` or `toJSON` may throw, it may have no prototype, be a Symbol or a function (sql.js
 * throws plain strings for some guards).
 */
export function describe(cause: unknown): string {
  try {
    if (cause instanceof Error) {
      const message: unknown = cause.message;
      if (typeof message === 'string') return message;
    }
    if (typeof cause === 'string') return cause;
    if (typeof cause === 'symbol' || typeof cause === 'function' || cause === undefined) return String(cause);
    const json: unknown = JSON.stringify(cause);
    if (typeof json === 'string') return json;
    // A toJSON that answers undefined: the value's type tag is the best there is.
    return Object.prototype.toString.call(cause);
  } catch {
    try {
      return `${UNDESCRIBABLE} (${typeof cause})`;
    } catch {
      return UNDESCRIBABLE;
    }
  }
}

/** True for any metal-conductor error. */
export function isConductorError(value: unknown): value is AnyConductorError {
  return value instanceof ConductorError;
}

function safePreview(value: unknown): string {
  const text = describe(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
