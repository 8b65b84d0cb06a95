/**
 * The narrow port the periodic checks and start-up recovery need from a conductor: the store (to
 * find candidate nodes), the configuration, a clock (so tests can move time), a logger, and scoped
 * exclusive tasks. It keeps this code free of actors: a `Conductor` satisfies `TaskRunner`, and
 * `periodicPort(conductor, clock)` adds the clock.
 */
import type { ResultAsync } from 'neverthrow';
import { systemClock, type Clock } from '../clock.js';
import type { ConductorConfig } from '../config.js';
import type { RequestContext } from '../context.js';
import type { Logger } from '../logging.js';
import type { NodeIdentity } from '../node.js';
import type { Store } from '../store/store.js';
import type { AnyConductorError } from '../errors.js';
import type { NodeRecord } from '../node.js';
import type { BodyError, BodyValue, ScopeError } from '../task/scope.js';
import type { AcquireOptions, ExclusiveTask } from '../task/types.js';

/** Acquire options of an exclusive task (the periodics never take shared ones). */
export type ExclusiveAcquireOptions = AcquireOptions & { shared?: false };

/**
 * Run `body` with an exclusive task and leave the scope as Ironic's `with` block (release, or hand
 * the lock to the background worker `processEvent({ callback })` scheduled). Matches the exclusive
 * overload of `Conductor.withTask`.
 */
export type WithExclusiveTask = <R>(
  context: RequestContext,
  nodeId: NodeIdentity,
  options: ExclusiveAcquireOptions,
  body: (task: ExclusiveTask) => R,
) => ResultAsync<BodyValue<R>, ScopeError | BodyError<R>>;

/** Clear the reservation a dead conductor `tag` left on a node, through the node's single writer. */
export type ReleaseOrphan = (nodeId: number, tag: string) => ResultAsync<NodeRecord, AnyConductorError>;

/** What a conductor offers the periodics: its store (for reading), configuration, logger and scoped tasks. */
export interface TaskRunner {
  readonly store: Store;
  readonly config: ConductorConfig;
  readonly logger: Logger;
  readonly withTask: WithExclusiveTask;
  readonly releaseOrphan: ReleaseOrphan;
  /**
   * Whether this conductor runs the periodic work of a node (the hash ring over the live
   * conductors of the node's group, on a shared store). Absent: every node is ours.
   */
  readonly owns?: (node: NodeRecord) => boolean;
}

/** Everything the periodic checks and start-up recovery use. */
export interface PeriodicPort extends TaskRunner {
  /** Time source: "now" for the wait timeouts. */
  readonly clock: Clock;
}

/**
 * Build a port from a conductor (or anything shaped like one) and a clock. `withTask` is bound, so
 * the conductor's method keeps its `this`.
 */
export function periodicPort(runner: TaskRunner, clock: Clock = systemClock): PeriodicPort {
  return {
    store: runner.store,
    config: runner.config,
    logger: runner.logger,
    clock,
    withTask: runner.withTask.bind(runner),
    releaseOrphan: runner.releaseOrphan,
    ...(runner.owns === undefined ? {} : { owns: runner.owns }),
  };
}
