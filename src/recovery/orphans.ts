/**
 * Ironic's `_check_orphan_nodes` (reference §5.5): reservations held by conductors that are no
 * longer alive are cleared, and what they left mid-way is failed.
 *
 * A conductor is dead when its `conductors` row is offline, or its heartbeat (`updated_at`, else
 * `created_at`) is older than `heartbeatTimeout`; this conductor never counts itself (Ironic's
 * `exclude_current_conductor`, bug 1970484). On a store that only one conductor can use at a time
 * (the embedded file store: the lock file proves nobody else has it open), every other host is dead.
 *
 * For each node reserved by a dead host: the reservation is released with the dead host's tag
 * (WARNING "Forcibly removed reservation of conductor <host> on node <uuid> as that conductor went
 * offline"), even in maintenance. Then, for nodes not in maintenance that have a pending power
 * target or sit in `deploying`/`cleaning`: under an exclusive lock the target power state is
 * cleared with "Pending power operation was aborted due to conductor take over", and the node is
 * failed with `abort_on_conductor_take_over` ("Operation was aborted due to conductor take over").
 * Nodes in `*wait` states only lose the lock; the wait-timeout checks handle them.
 */
import { adminContext } from '../context.js';
import { describe, NodeLocked, NodeNotFound, NodeNotLocked, NoFreeConductorWorker } from '../errors.js';
import type { Logger } from '../logging.js';
import type { ConductorRow, NodeRecord } from '../node.js';
import type { PeriodicPort } from '../periodics/ports.js';
import { abortOnConductorTakeOver } from '../periodics/timeout-callbacks.js';
import { CLEANING, DEPLOYING } from '../states/provision-states.js';
import { provisioningErrorHandler } from '../task/error-handlers.js';

/** Ironic's last_error for a power operation a dead conductor left pending. */
export const POWER_ABORTED_ON_TAKEOVER = 'Pending power operation was aborted due to conductor take over';

/** The lock purpose of the takeover. */
export const TAKEOVER_PURPOSE = 'conductor take over';

/** What one run of the orphan check did. */
export interface TakeoverReport {
  /** Hosts found dead (offline, stale heartbeat, or shut out by the store's lock). */
  readonly deadHosts: readonly string[];
  /** UUIDs whose reservation by a dead host was cleared. */
  readonly reservationsCleared: readonly string[];
  /** UUIDs whose pending target power state was cleared. */
  readonly targetPowerStateCleared: readonly string[];
  /** UUIDs failed because a dead host left them in deploying/cleaning. */
  readonly failed: readonly string[];
  /** Per-node failures (store errors, a busy pool), the run goes on. */
  readonly errors: readonly { readonly node: string; readonly error: string }[];
}

/** Options of a run. */
export interface TakeoverOptions {
  /** Every other host is dead: nobody else can have the store open (the embedded file store). */
  readonly exclusiveStore: boolean;
  /**
   * On a shared store: the hosts alive now (lower case; their session lock is held, checked by the
   * store). Any other host is dead, whatever its heartbeat says. Absent: Ironic's heartbeat rule.
   */
  readonly liveHosts?: ReadonlySet<string>;
  /** Only these dead hosts (the liveness check names the ones that just died). Default: every dead host. */
  readonly onlyHosts?: readonly string[];
}

/** The conductors other than `host` that are no longer alive at `now`. */
export function deadConductors(
  rows: readonly ConductorRow[],
  host: string,
  now: number,
  timeoutMs: number,
  exclusiveStore: boolean,
  liveHosts?: ReadonlySet<string>,
): string[] {
  const self = host.toLowerCase();
  return rows
    .filter((row) => row.hostname.toLowerCase() !== self)
    .filter((row) =>
      liveHosts !== undefined
        ? !liveHosts.has(row.hostname.toLowerCase())
        : exclusiveStore || !row.online || Date.parse(row.updated_at ?? row.created_at) < now - timeoutMs,
    )
    .map((row) => row.hostname);
}

/** Run the orphan check once. Never throws; failures are in the report and the log. */
export async function takeOverOrphans(port: PeriodicPort, options: TakeoverOptions): Promise<TakeoverReport> {
  const log = port.logger;
  const errors: { node: string; error: string }[] = [];
  const conductors = await port.store.listConductors();
  if (conductors.isErr()) {
    log.error({ err: conductors.error }, 'Listing conductors for the orphan check failed');
    return {
      deadHosts: [],
      reservationsCleared: [],
      targetPowerStateCleared: [],
      failed: [],
      errors: [{ node: '*', error: conductors.error.message }],
    };
  }
  const only = options.onlyHosts === undefined ? null : new Set(options.onlyHosts.map((h) => h.toLowerCase()));
  const deadHosts = deadConductors(
    conductors.value,
    port.config.host,
    port.clock.now(),
    port.config.heartbeatTimeout,
    options.exclusiveStore,
    options.liveHosts,
  ).filter((deadHost) => only === null || only.has(deadHost.toLowerCase()));
  // On a shared store, each node is taken over by one survivor: its owner on the ring.
  const owns = port.owns ?? (() => true);
  const released: NodeRecord[] = [];
  for (const deadHost of deadHosts) {
    const listed = await port.store.listNodes({ reservedBy: deadHost });
    if (listed.isErr()) {
      errors.push({ node: '*', error: listed.error.message });
      log.error({ err: listed.error, host: deadHost }, `Listing the nodes of dead conductor ${deadHost} failed`);
      continue;
    }
    for (const node of listed.value.filter((n) => owns(n))) {
      // Released with the dead host's own tag (as stored, any letter case): nothing else is stolen.
      const result = await port.releaseOrphan(node.id, node.reservation ?? deadHost);
      if (result.isOk()) {
        log.warn(
          { node: node.uuid, host: node.reservation },
          `Forcibly removed reservation of conductor ${node.reservation ?? deadHost} on node ${node.uuid} as that conductor went offline`,
        );
        released.push(result.value);
      } else if (result.error instanceof NodeNotFound || result.error instanceof NodeLocked) {
        log.info({ node: node.uuid }, `Node ${node.uuid} changed during the orphan check; skipped`);
      } else if (result.error instanceof NodeNotLocked) {
        log.info({ node: node.uuid }, `Node ${node.uuid} was already released`);
      } else {
        errors.push({ node: node.uuid, error: result.error.message });
        log.error({ err: result.error, node: node.uuid }, `Removing the reservation of ${deadHost} on node ${node.uuid} failed`);
      }
    }
  }
  const targetPowerStateCleared: string[] = [];
  const failed: string[] = [];
  for (const node of released) {
    if (node.maintenance) continue;
    const interrupted = node.provision_state === DEPLOYING || node.provision_state === CLEANING;
    if (node.target_power_state === null && !interrupted) continue;
    const outcome = await failTakenOver(port, node, log);
    if (outcome.powerCleared) targetPowerStateCleared.push(node.uuid);
    if (outcome.failed) failed.push(node.uuid);
    if (outcome.error !== null) errors.push({ node: node.uuid, error: outcome.error });
    if (outcome.noWorkers) break; // Ironic stops the run when the pool is full
  }
  return { deadHosts, reservationsCleared: released.map((n) => n.uuid), targetPowerStateCleared, failed, errors };
}

/** Under an exclusive lock: clear the pending power target, fail deploying/cleaning. */
async function failTakenOver(
  port: PeriodicPort,
  listed: NodeRecord,
  log: Logger,
): Promise<{ powerCleared: boolean; failed: boolean; noWorkers: boolean; error: string | null }> {
  let powerCleared = false;
  let failedNow = false;
  const scoped = await port.withTask(adminContext(), listed.id, { purpose: TAKEOVER_PURPOSE }, async (task) => {
    if (task.node.maintenance) return null;
    if (task.node.target_power_state !== null) {
      const cleared = await task.updateNode((draft) => {
        draft.target_power_state = null;
        draft.last_error = POWER_ABORTED_ON_TAKEOVER;
      });
      if (cleared.isErr()) return cleared.error;
      powerCleared = true;
      log.warn({ node: task.node.uuid }, `${POWER_ABORTED_ON_TAKEOVER} on node ${task.node.uuid}`);
    }
    const state = task.node.provision_state;
    if (state !== DEPLOYING && state !== CLEANING) return null;
    const processed = await task.processEvent('fail', {
      callback: abortOnConductorTakeOver,
      callArgs: [log.child({ node: task.node.uuid })] as [Logger],
      errHandler: provisioningErrorHandler,
      // The reserved share of the pool is kept for API requests (Ironic).
      spawnOptions: { allowReservedPool: false },
    });
    if (processed.isErr()) return processed.error;
    failedNow = true;
    return null;
  });
  if (scoped.isErr()) {
    const noWorkers = scoped.error instanceof NoFreeConductorWorker;
    if (!(scoped.error instanceof NodeLocked || scoped.error instanceof NodeNotFound)) {
      log.error({ err: scoped.error, node: listed.uuid }, `Taking over node ${listed.uuid} failed`);
      return { powerCleared, failed: false, noWorkers, error: describe(scoped.error) };
    }
    return { powerCleared, failed: false, noWorkers, error: null };
  }
  const bodyError = scoped.value;
  if (bodyError !== null) {
    log.error({ err: bodyError, node: listed.uuid }, `Taking over node ${listed.uuid} failed`);
    return { powerCleared, failed: failedNow, noWorkers: false, error: describe(bodyError) };
  }
  return { powerCleared, failed: failedNow, noWorkers: false, error: null };
}
