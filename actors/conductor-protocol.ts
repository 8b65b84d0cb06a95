/**
 * The conductor root actor's message protocol, for other actors. Every message is an ask; the
 * reply is a value or a typed ConductorError. A malformed message, an unknown node or a wrong
 * lease id gets a typed error reply and the actor keeps serving. Long operations (waiting for a
 * lock, running an exclusive operation) never block the root's mailbox.
 */
import type { RequestContext } from '../src/context.ts';
import type { AnyConductorError } from '../src/errors.ts';
import type { NodeIdentity, NodeRecord } from '../src/node.ts';
import type { ExclusiveTask } from '../src/task/types.ts';
import type { Ask } from './runtime.ts';

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

/** Run an operation under a fresh exclusive task; replies with its return value. */
export interface RunExclusiveMessage extends Ask<unknown, AnyConductorError> {
  readonly type: 'runExclusive';
  readonly nodeId: NodeIdentity;
  readonly purpose?: string;
  readonly operation: (task: ExclusiveTask) => unknown;
  readonly context?: MessageContext;
}

/** Process a provision event, under a held exclusive lease or a fresh exclusive task. */
export interface ProcessEventMessage extends Ask<NodeRecord, AnyConductorError> {
  readonly type: 'processEvent';
  readonly event: string;
  readonly leaseId?: string;
  readonly nodeId?: NodeIdentity;
  readonly targetState?: string;
  readonly context?: MessageContext;
}

/** Ask for the conductor's status report (pool, workers, locks, waiters, components, dead letters). */
export interface StatusMessage extends Ask<import('./conductor.ts').ConductorStatus, AnyConductorError> {
  readonly type: 'status';
}

/** Every message the conductor root actor accepts. */
export type ConductorMessage =
  | StatusMessage
  | AcquireLeaseMessage
  | ReleaseLeaseMessage
  | SnapshotMessage
  | RunExclusiveMessage
  | ProcessEventMessage;
