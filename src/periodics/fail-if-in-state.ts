/**
 * `failIfInState`: Ironic's `BaseConductorManager._fail_if_in_state` (reference §5.6), shared by
 * the wait-timeout periodics and start-up recovery. For each candidate node: take the exclusive
 * lock (purpose "node state check"), re-check maintenance and state under it, then process `fail`
 * (with a background callback, or recording `last_error` without one). NodeLocked / NodeNotFound
 * skip the node; NoFreeConductorWorker ends the run; at most `maxNodes` nodes are failed per run.
 */
import type { RequestContext } from '../context.js';
import { ConductorStopping, isConductorError, NodeLocked, NodeNotFound, NoFreeConductorWorker } from '../errors.js';
import type { Logger } from '../logging.js';
import type { NodeRecord } from '../node.js';
import type { NodeFilter } from '../store/store.js';
import type { ProcessEventErrorHandler, WorkFunction } from '../task/types.js';
import type { ProvisionState } from '../states/provision-states.js';
import type { PeriodicPort } from './ports.js';

/** Lock purpose Ironic uses in `_fail_if_in_state`. */
export const NODE_STATE_CHECK_PURPOSE = 'node state check';

/** How to fail the nodes. */
export interface FailIfInStateOptions {
  /** Request context the tasks run under (the admin context for conductor work). */
  readonly context: RequestContext;
  /** Which nodes to consider; `maintenance`, when given, is re-checked under the lock as Ironic does. */
  readonly filter: NodeFilter;
  /** The node must still be in one of these states once locked. */
  readonly states: readonly ProvisionState[];
  /** Background work spawned with the `fail` event (Ironic `callback_method`); gets a node logger. */
  readonly callback?: WorkFunction<[Logger]>;
  /** Spawn-error handler used with the callback (Ironic `err_handler`). */
  readonly errHandler?: ProcessEventErrorHandler;
  /** Without a callback: the last_error recorded with the transition (Ironic `last_error`). */
  readonly lastError?: string;
  /** Keep the node's target provision state instead of the state machine's default. */
  readonly keepTargetState?: boolean;
  /** Stop after failing this many nodes (Ironic `periodic_max_workers`). */
  readonly maxNodes: number;
  /** Retry while a node is locked (Ironic: default retries). */
  readonly retry: boolean;
  /** Called for each node just failed (as listed, and as committed), for logging. */
  readonly onFailed?: (listed: NodeRecord, committed: NodeRecord) => void;
}

/** One node that could not be handled for an unexpected reason. */
export interface NodeFailure {
  /** UUID of the node. */
  readonly node: string;
  /** The error (a ConductorError as a rule). */
  readonly error: unknown;
}

/** What one run did. */
export interface FailIfInStateReport {
  /** Nodes the store listed. */
  candidates: number;
  /** UUIDs moved to their fail state (and whose callback, if any, was spawned). */
  failed: string[];
  /** Nodes skipped because another holder had the lock (NodeLocked). */
  skippedLocked: number;
  /** Nodes skipped because they were deleted meanwhile (NodeNotFound). */
  skippedGone: number;
  /** Nodes skipped because, once locked, their state or maintenance no longer matched. */
  skippedChanged: number;
  /** The run ended early because the worker pool was full (NoFreeConductorWorker). */
  stoppedNoWorkers: boolean;
  /** The run ended early because the conductor is stopping. */
  stoppedShuttingDown: boolean;
  /**
   * The node whose callback could not be spawned (NoFreeConductorWorker), if any. With an errHandler it was
   * rolled back; without one it stays in its fail state, as in Ironic.
   */
  unspawned: string | null;
  /** Unexpected failures (store errors, ...): logged, the node skipped, the run goes on. */
  errors: NodeFailure[];
}

/** An empty report. */
export function emptyFailReport(): FailIfInStateReport {
  return {
    candidates: 0,
    failed: [],
    skippedLocked: 0,
    skippedGone: 0,
    skippedChanged: 0,
    stoppedNoWorkers: false,
    stoppedShuttingDown: false,
    unspawned: null,
    errors: [],
  };
}

/** What the task body decided. */
type BodyOutcome =
  | { readonly kind: 'failed'; readonly node: NodeRecord }
  | { readonly kind: 'changed' }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * Fail every matching node (up to `maxNodes`). Never throws for expected failures: they are
 * counted in the report. The store listing is not limited, because locked or changed nodes do not
 * count against `maxNodes` (Ironic counts only the nodes it processed).
 */
export async function failIfInState(port: PeriodicPort, options: FailIfInStateOptions): Promise<FailIfInStateReport> {
  const report = emptyFailReport();
  const listed = await port.store.listNodes(options.filter);
  if (listed.isErr()) {
    port.logger.error({ err: listed.error }, 'listing nodes for a state check failed');
    report.errors.push({ node: '*', error: listed.error });
    return report;
  }
  // On a shared store each node's periodic work is done by one conductor: its owner on the ring.
  const owns = port.owns;
  const candidates = owns === undefined ? listed.value : listed.value.filter((node) => owns(node));
  report.candidates = candidates.length;
  const states = new Set(options.states);
  const wantedMaintenance = options.filter.maintenance;

  for (const candidate of candidates) {
    if (report.failed.length >= options.maxNodes) break;
    const scoped = await port.withTask(
      options.context,
      candidate.id,
      { purpose: NODE_STATE_CHECK_PURPOSE, retry: options.retry },
      async (task): Promise<BodyOutcome> => {
        // The listing may be stale: the node can have left maintenance or its state since.
        if (wantedMaintenance !== undefined && task.node.maintenance !== wantedMaintenance) return { kind: 'changed' };
        if (!states.has(task.node.provision_state)) return { kind: 'changed' };
        const previousTarget = task.node.target_provision_state;
        const targetState = options.keepTargetState && previousTarget !== null ? { targetState: previousTarget } : {};
        const processed = options.callback
          ? await task.processEvent('fail', {
              callback: options.callback,
              callArgs: [port.logger.child({ node: task.node.uuid })] as [Logger],
              ...(options.errHandler ? { errHandler: options.errHandler } : {}),
              ...targetState,
              // The reserved share of the pool is kept for API requests (Ironic).
              spawnOptions: { allowReservedPool: false },
            })
          : // Ironic records the history event (setting last_error) and then processes `fail`
            // without a callback, which keeps that last_error: one save here.
            await task.processEvent('fail', {
              ...targetState,
              ...(options.lastError !== undefined ? { lastError: options.lastError } : {}),
            });
        if (processed.isErr()) return { kind: 'error', error: processed.error };
        return { kind: 'failed', node: processed.value };
      },
    );

    if (scoped.isErr()) {
      const error = scoped.error;
      if (error instanceof NoFreeConductorWorker) {
        // The transition was saved; the spawn failed, the error hook (if any) ran and the lock was
        // released. Ironic breaks out of the loop here.
        report.stoppedNoWorkers = true;
        report.unspawned = candidate.uuid;
        port.logger.warn({ node: candidate.uuid }, `No free conductor workers to handle node ${candidate.uuid}; stopping this run`);
        break;
      }
      if (error instanceof ConductorStopping) {
        report.stoppedShuttingDown = true;
        break;
      }
      if (error instanceof NodeLocked) {
        report.skippedLocked += 1;
        port.logger.info({ node: candidate.uuid }, `Node ${candidate.uuid} was already locked by another process. Skip.`);
        continue;
      }
      if (error instanceof NodeNotFound) {
        report.skippedGone += 1;
        port.logger.info({ node: candidate.uuid }, `Node ${candidate.uuid} was not found. Skip.`);
        continue;
      }
      report.errors.push({ node: candidate.uuid, error });
      port.logger.error({ err: error, node: candidate.uuid }, `Failing node ${candidate.uuid} failed`);
      continue;
    }

    const outcome = scoped.value;
    if (outcome.kind === 'changed') {
      report.skippedChanged += 1;
    } else if (outcome.kind === 'error') {
      if (outcome.error instanceof NodeNotFound) report.skippedGone += 1;
      else {
        report.errors.push({ node: candidate.uuid, error: outcome.error });
        port.logger.error(
          { err: isConductorError(outcome.error) ? outcome.error.toJSON() : outcome.error, node: candidate.uuid },
          `Processing "fail" on node ${candidate.uuid} failed`,
        );
      }
    } else {
      report.failed.push(candidate.uuid);
      options.onFailed?.(candidate, outcome.node);
    }
  }
  return report;
}
