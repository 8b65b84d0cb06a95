/**
 * The conductor root actor's message protocol, for other actors. Every message is an ask; the
 * reply is a value or a typed ConductorError. A malformed message, an unknown node or a wrong
 * lease id gets a typed error reply and the actor keeps serving. Long operations (waiting for a
 * lock, running an exclusive operation) never block the root's mailbox.
 */
import type { RequestContext } from '../src/context.js';
import { err, ok, type Result } from 'neverthrow';
import { type AnyConductorError, describe, MalformedMessage } from '../src/errors.js';
import type { NodeIdentity, NodeRecord } from '../src/node.js';
import type { ProvisionEvent, ProvisionState } from '../src/states/provision-states.js';
import type { ExclusiveTask } from '../src/task/types.js';
import type { ConductorStatus } from './conductor.js';
import type { Ask } from './runtime.js';

/** Request context fields a message may carry (a request id is generated when absent). */
export type MessageContext = Partial<Pick<RequestContext, 'requestId' | 'user' | 'project' | 'roles'>>;

/** A lease handed to another actor. */
export interface LeaseGrant {
  /** Opaque lease id to pass back in `releaseLease` / `processEvent`. */
  readonly leaseId: string;
  readonly shared: boolean;
  readonly node: NodeRecord;
}

/** Acquire a lease on a node (exclusive unless `shared`). */
export interface AcquireLeaseMessage extends Ask<LeaseGrant, AnyConductorError> {
  readonly type: 'acquireLease';
  readonly nodeId: NodeIdentity;
  readonly purpose?: string;
  readonly shared?: boolean;
  readonly retry?: boolean;
  readonly patient?: boolean;
  readonly context?: MessageContext;
}

/** Release a lease. */
export interface ReleaseLeaseMessage extends Ask<{ readonly released: true }, AnyConductorError> {
  readonly type: 'releaseLease';
  readonly leaseId: string;
}

/** Read the latest snapshot of a node (never waits for a lock). */
export interface SnapshotMessage extends Ask<NodeRecord, AnyConductorError> {
  readonly type: 'snapshot';
  readonly nodeId: NodeIdentity;
}

/**
 * Run an operation under a fresh exclusive task, as `withTask` runs its body; replies with its
 * value (a returned Result's value; its Err, or a thrown ConductorError, is the error reply). The
 * operation's `signal` is aborted when the asker stops waiting (its ask timed out or was aborted):
 * the task is released then, even if the operation goes on.
 */
export interface RunExclusiveMessage extends Ask<unknown, AnyConductorError> {
  readonly type: 'runExclusive';
  readonly nodeId: NodeIdentity;
  readonly purpose?: string;
  readonly operation: (task: ExclusiveTask, signal: AbortSignal) => unknown;
  readonly context?: MessageContext;
}

/** Process a provision event, under a held exclusive lease or a fresh exclusive task. */
export interface ProcessEventMessage extends Ask<NodeRecord, AnyConductorError> {
  readonly type: 'processEvent';
  readonly event: ProvisionEvent;
  readonly leaseId?: string;
  readonly nodeId?: NodeIdentity;
  readonly targetState?: ProvisionState;
  readonly context?: MessageContext;
}

/** Ask for the conductor's status report (pool, workers, locks, waiters, components, dead letters). */
export interface StatusMessage extends Ask<ConductorStatus, AnyConductorError> {
  readonly type: 'status';
}

/** Every message the conductor root actor accepts. */
export type ConductorMessage =
  StatusMessage | AcquireLeaseMessage | ReleaseLeaseMessage | SnapshotMessage | RunExclusiveMessage | ProcessEventMessage;

const MESSAGE_KEYS = [
  'type',
  'nodeId',
  'purpose',
  'shared',
  'retry',
  'patient',
  'context',
  'leaseId',
  'operation',
  'event',
  'targetState',
] as const;
const CONTEXT_KEYS = ['requestId', 'user', 'project', 'roles'] as const;

/**
 * Read and check a protocol message (it may come from untyped code, or be hostile: getters that
 * throw or change their answer, no prototype, a Symbol). Every field is read once, into a plain
 * copy that is what gets served. Never throws: a message that cannot be read is MalformedMessage.
 */
export function parseProtocolMessage(message: unknown): Result<ConductorMessage, AnyConductorError> {
  let copy: Record<string, unknown>;
  try {
    if (typeof message !== 'object' || message === null) return err(new MalformedMessage('not an object', message));
    copy = {};
    for (const key of MESSAGE_KEYS) {
      const value: unknown = (message as Record<string, unknown>)[key];
      if (value !== undefined) copy[key] = value;
    }
    const context = copy.context;
    if (typeof context === 'object' && context !== null) {
      const fields: Record<string, unknown> = {};
      for (const key of CONTEXT_KEYS) {
        const value: unknown = (context as Record<string, unknown>)[key];
        if (value !== undefined) fields[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
      }
      copy.context = fields;
    }
  } catch (cause) {
    return err(new MalformedMessage(`unreadable message (${describe(cause)})`, message));
  }
  const malformed = checkMessage(copy, message);
  return malformed === null ? ok(copy as unknown as ConductorMessage) : err(malformed);
}

/** Check the plain copy of a message; `original` is what the error shows. */
function checkMessage(m: Record<string, unknown>, original: unknown): AnyConductorError | null {
  const message = original;
  const bool = (key: string): boolean => m[key] === undefined || typeof m[key] === 'boolean';
  const str = (key: string): boolean => m[key] === undefined || typeof m[key] === 'string';
  // A missing or wrongly typed id is a malformed message; a well-typed but invalid one is InvalidIdentity.
  const identity = (key: string): AnyConductorError | null =>
    typeof m[key] === 'number' || typeof m[key] === 'string' ? null : new MalformedMessage(`${key} must be a number or a string`, message);
  const context = m.context;
  if (context !== undefined) {
    const c = context as Record<string, unknown>;
    const textOrNull = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
    const valid =
      typeof context === 'object' &&
      context !== null &&
      textOrNull(c.requestId) &&
      textOrNull(c.user) &&
      textOrNull(c.project) &&
      (c.roles === undefined || (Array.isArray(c.roles) && c.roles.every((r) => typeof r === 'string')));
    if (!valid) return new MalformedMessage('context must be { requestId?, user?, project?: string, roles?: string[] }', message);
  }
  switch (m.type) {
    case 'status':
      return null;
    case 'acquireLease':
      if (!bool('shared') || !bool('retry') || !bool('patient') || !str('purpose')) {
        return new MalformedMessage('acquireLease flags must be booleans and purpose a string', message);
      }
      return identity('nodeId');
    case 'releaseLease':
      return typeof m.leaseId === 'string' ? null : new MalformedMessage('releaseLease needs a string leaseId', message);
    case 'snapshot':
      return identity('nodeId');
    case 'runExclusive':
      if (typeof m.operation !== 'function') return new MalformedMessage('runExclusive needs an operation function', message);
      return identity('nodeId');
    case 'processEvent':
      if (typeof m.event !== 'string' || !str('targetState')) return new MalformedMessage('processEvent needs a string event', message);
      if (m.leaseId === undefined && m.nodeId === undefined)
        return new MalformedMessage('processEvent needs a leaseId or a nodeId', message);
      if (m.leaseId !== undefined && typeof m.leaseId !== 'string') return new MalformedMessage('leaseId must be a string', message);
      return m.leaseId === undefined ? identity('nodeId') : null;
    default:
      return new MalformedMessage(`unknown message type ${describe(m.type)}`, message);
  }
}
