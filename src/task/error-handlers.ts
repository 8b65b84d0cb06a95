/**
 * Ironic's spawn-error handlers (conductor/utils.py, reference §5.2), usable as `errHandler` of
 * processEvent or as `setSpawnErrorHook` hooks. They run while the task still holds the lock,
 * before it is released. Only NoFreeConductorWorker is handled; other errors are left to the caller.
 */
import { NoFreeConductorWorker } from '../errors.js';
import type { ProvisionState } from '../states/provision-states.js';
import { pythonText, taskInternals } from './task-manager.js';
import type { ExclusiveTask } from './types.js';

/** The text Ironic records when the pool is full. */
export const NO_FREE_WORKERS_MESSAGE = 'No free conductor workers available';

/**
 * `provisioning_error_handler`: on NoFreeConductorWorker, roll the node back to its pre-transition provision
 * and target states and record "No free conductor workers available" in last_error.
 * Use as `processEvent(event, { callback, errHandler: provisioningErrorHandler })`.
 */
export async function provisioningErrorHandler(
  error: unknown,
  task: ExclusiveTask,
  provisionState: ProvisionState,
  targetProvisionState: ProvisionState | null,
): Promise<void> {
  if (!(error instanceof NoFreeConductorWorker)) return;
  const saved = await task.updateNode((draft) => {
    draft.provision_state = provisionState;
    draft.target_provision_state = targetProvisionState;
    draft.last_error = NO_FREE_WORKERS_MESSAGE;
  });
  if (saved.isErr()) throw saved.error;
  taskInternals(task).logger.warn(
    `No free conductor workers available to perform an action on node ${task.node.uuid}, setting node's ` +
      `provision_state back to ${pythonText(provisionState)} and target_provision_state to ${pythonText(targetProvisionState)}.`,
  );
}

/** `_spawn_error_handler`: on NoFreeConductorWorker record the error without rolling the state back. */
async function recordNoFreeWorkers(
  error: unknown,
  task: ExclusiveTask,
  wipe?: (draft: { instance_info: Record<string, unknown> }) => void,
): Promise<void> {
  if (!(error instanceof NoFreeConductorWorker)) return;
  const saved = await task.updateNode((draft) => {
    draft.last_error = NO_FREE_WORKERS_MESSAGE;
    wipe?.(draft);
  });
  if (saved.isErr()) throw saved.error;
}

/** `spawn_cleaning_error_handler(e, task)`: record, no rollback (cleaning already resumed). */
export function spawnCleaningErrorHandler(error: unknown, task: ExclusiveTask): Promise<void> {
  return recordNoFreeWorkers(error, task);
}

/** `spawn_deploying_error_handler(e, task)`: record, no rollback. */
export function spawnDeployingErrorHandler(error: unknown, task: ExclusiveTask): Promise<void> {
  return recordNoFreeWorkers(error, task);
}

/** `spawn_servicing_error_handler(e, task)`: record, no rollback. */
export function spawnServicingErrorHandler(error: unknown, task: ExclusiveTask): Promise<void> {
  return recordNoFreeWorkers(error, task);
}

/** `spawn_rescue_error_handler(e, task)`: record, no rollback, and wipe the rescue password. */
export function spawnRescueErrorHandler(error: unknown, task: ExclusiveTask): Promise<void> {
  return recordNoFreeWorkers(error, task, (draft) => {
    delete draft.instance_info.rescue_password;
  });
}
