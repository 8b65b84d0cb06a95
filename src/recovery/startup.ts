/**
 * Start-up recovery (reference §4.3), in Ironic's order:
 * 1. `clear_node_target_power_state(host)`: nodes reserved by this host (any letter case) with a
 *    pending power operation lose the target and get Ironic's last_error;
 * 2. `clear_node_reservations_for_conductor(host)`: this host's reservations (any letter case)
 *    are cleared, with a warning listing the nodes;
 * 3. `_correct_stuck_states`: for each state in STUCK_STATES_TREATED_AS_FAIL, unreserved nodes in
 *    that state are failed (`process_event('fail')`, no callback) with Ironic's last_error.
 *
 * Ironic only fails nodes "mapped to this conductor" by the hash ring; a metal-conductor store has
 * a single conductor, so every node is ours. Store failures do not throw: they are in `errors`
 * (Ironic would abort start-up; the caller decides).
 */
import { adminContext } from '../context.js';
import { failIfInState, type FailIfInStateReport, type NodeFailure } from '../periodics/fail-if-in-state.js';
import type { PeriodicPort } from '../periodics/ports.js';
import { STUCK_STATES_TREATED_AS_FAIL } from '../states/groups.js';

/** Ironic's last_error for a power operation cut short by the restart. */
export const POWER_ABORTED_ON_RESTART = 'Pending power operation was aborted due to conductor restart';

/** Ironic's last_error for a node failed at start-up because `state` cannot be resumed. */
export function stuckStateMessage(state: string, host: string): string {
  return `The ${state} state can't be resumed by conductor ${host}. Moving to fail state.`;
}

/** Options of recoverOnStartup. */
export interface RecoveryOptions {
  /**
   * Nodes failed per stuck state at most. Default `periodicMaxWorkers`: Ironic runs this through
   * `_fail_if_in_state`, which stops after that many; the rest stay stuck until the next restart.
   */
  readonly maxNodesPerState?: number;
}

/** What recovery did. */
export interface RecoveryReport {
  readonly host: string;
  /** UUIDs whose target_power_state was cleared (step 1). */
  readonly targetPowerStateCleared: readonly string[];
  /** UUIDs whose reservation by this host was cleared (step 2). */
  readonly reservationsCleared: readonly string[];
  /** Per stuck state: what `_fail_if_in_state` did (step 3). */
  readonly stuck: Readonly<Record<string, FailIfInStateReport>>;
  /** UUIDs failed in step 3, all states together. */
  readonly failed: readonly string[];
  /** Store failures of steps 1 and 2 (step 3's are in `stuck`). */
  readonly errors: readonly NodeFailure[];
}

/** Run start-up recovery for `port.config.host`. */
export async function recoverOnStartup(port: PeriodicPort, options: RecoveryOptions = {}): Promise<RecoveryReport> {
  const host = port.config.host;
  const errors: NodeFailure[] = [];

  // 1. Before the reservations go: the pending power operations are those of nodes we held.
  let targetPowerStateCleared: string[] = [];
  const powered = await port.store.clearTargetPowerState(host, POWER_ABORTED_ON_RESTART);
  if (powered.isErr()) {
    errors.push({ node: '*', error: powered.error });
    port.logger.error({ err: powered.error }, 'Clearing target power states at start-up failed');
  } else {
    targetPowerStateCleared = powered.value;
    if (targetPowerStateCleared.length > 0) {
      port.logger.warn(
        { nodes: targetPowerStateCleared },
        'Cleared target_power_state of the locked nodes in powering process, their power state can be incorrect: ' +
          targetPowerStateCleared.join(', '),
      );
    }
  }

  // 2. Reservations this host left behind (case-insensitively, as Ironic's ILIKE).
  let reservationsCleared: string[] = [];
  const cleared = await port.store.clearReservations(host);
  if (cleared.isErr()) {
    errors.push({ node: '*', error: cleared.error });
    port.logger.error({ err: cleared.error }, 'Clearing reservations at start-up failed');
  } else {
    reservationsCleared = cleared.value;
    if (reservationsCleared.length > 0) {
      port.logger.warn({ nodes: reservationsCleared }, `Cleared reservations held by ${host}: ${reservationsCleared.join(', ')}`);
    }
  }

  // 3. `_correct_stuck_states`: a restarted conductor cannot resume these; fail them so the node
  // can go through its normal recovery path. No maintenance filter: Ironic fails those too.
  const context = adminContext();
  const stuck: Record<string, FailIfInStateReport> = {};
  const failed: string[] = [];
  const maxNodes = options.maxNodesPerState ?? port.config.periodicMaxWorkers;
  for (const state of STUCK_STATES_TREATED_AS_FAIL) {
    const report = await failIfInState(port, {
      context,
      filter: { provisionState: state, reserved: false },
      states: [state],
      lastError: stuckStateMessage(state, host),
      maxNodes,
      // Ironic's default lock retries: nothing else should hold these nodes this early.
      retry: true,
      onFailed: (listed, committed) => {
        port.logger.warn(
          { node: listed.uuid, state, to: committed.provision_state },
          `Node ${listed.uuid} was stuck in "${state}" at start-up; moved to "${committed.provision_state}"`,
        );
      },
    });
    stuck[state] = report;
    failed.push(...report.failed);
    if (report.stoppedShuttingDown) break;
  }

  port.logger.debug(
    { targetPowerStateCleared: targetPowerStateCleared.length, reservationsCleared: reservationsCleared.length, failed: failed.length },
    'Start-up recovery done',
  );
  return { host, targetPowerStateCleared, reservationsCleared, stuck, failed, errors };
}
