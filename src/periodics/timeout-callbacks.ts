/**
 * The wait-timeout callbacks of Ironic's `conductor/utils.py` (reference §5.2), ported to the task
 * API. Each runs in a background worker after the periodic check processed `fail` with it as the
 * callback, so the node is already in its fail state and the worker holds the lock. They record
 * Ironic's last_error, undo what the wait left behind (ramdisk, agent token and URL, step
 * bookkeeping) and, for clean/service, put the node in maintenance when a step was running.
 *
 * Our node has no `clean_step`/`deploy_step`/`service_step`/`fault` columns: they live in
 * `driver_internal_info` under those names (see `STEP_KEYS`, `FAULT_KEY`).
 */
import type { Draft } from 'immer';
import { describe, isConductorError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { JsonObject, JsonValue, NodeRecord } from '../node.js';
import {
  DEPLOYFAIL,
  DEPLOYING,
  DEPLOYWAIT,
  CLEANFAIL,
  CLEANING,
  CLEANWAIT,
  SERVICEFAIL,
  SERVICING,
  SERVICEWAIT,
} from '../states/provision-states.js';
import { requireExclusive } from '../task/require-exclusive.js';
import type { ExclusiveTask } from '../task/types.js';

/** Where the current step of each kind is kept (Ironic's node columns, here in driver_internal_info). */
export const STEP_KEYS = Object.freeze({ clean: 'clean_step', deploy: 'deploy_step', service: 'service_step' } as const);

/** Where the node's fault is kept (Ironic's `fault` column, here in driver_internal_info). */
export const FAULT_KEY = 'fault';

/** Ironic `faults.CLEAN_FAILURE`. */
export const CLEAN_FAILURE = 'clean failure';
/** Ironic `faults.SERVICE_FAILURE`. */
export const SERVICE_FAILURE = 'service failure';

/** A wait-timeout callback: the task (exclusive, in its fail state) and a logger. */
export type TimeoutCallback = (task: ExclusiveTask, logger: Logger) => Promise<void>;

// ---- texts ------------------------------------------------------------------------------------

/** `cleanup_after_timeout`'s message (Ironic conductor/utils.py). */
export function deployTimeoutMessage(uuid: string): string {
  return `Timeout reached while waiting for callback for node ${uuid}`;
}

/** `cleanup_cleanwait_timeout`'s last_error; `step` is rendered as Python's `%s` of the dict would be. */
export function cleanTimeoutMessage(step: JsonValue | undefined): string {
  return (
    'Timeout reached while cleaning the node. Please check if the ramdisk responsible for the cleaning is ' +
    `running on the node. Failed on step ${pythonStr(step)}.`
  );
}

/**
 * `cleanup_servicewait_timeout`'s last_error: the servicing twin of the cleaning text (not found in
 * the indexed Ironic snapshots; written to mirror `cleanup_cleanwait_timeout` word for word).
 */
export function serviceTimeoutMessage(step: JsonValue | undefined): string {
  return (
    'Timeout reached while servicing the node. Please check if the ramdisk responsible for the servicing is ' +
    `running on the node. Failed on step ${pythonStr(step)}.`
  );
}

/** `cleanup_rescuewait_timeout`'s last_error: Ironic stores it without the node UUID (only the log has it). */
export const RESCUE_TIMEOUT_MESSAGE = 'Timeout reached while waiting for rescue ramdisk callback for node';

/** The inspect wait timeout's last_error (Ironic's `_check_inspect_*timeouts` text). */
export const INSPECT_TIMEOUT_MESSAGE = 'timeout reached while inspecting the node';

// ---- the callbacks ----------------------------------------------------------------------------

/** Ironic `cleanup_after_timeout` (deploy): `deploying_error_handler(task, msg, msg)`. */
export const cleanupAfterTimeout: TimeoutCallback = requireExclusive(async function cleanupAfterTimeout(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  const message = deployTimeoutMessage(task.node.uuid);
  await deployingErrorHandler(task, logger, message, message);
});

/** Ironic `cleanup_cleanwait_timeout`: `cleaning_error_handler(…, set_fail_state=False)`. */
export const cleanupCleanwaitTimeout: TimeoutCallback = requireExclusive(async function cleanupCleanwaitTimeout(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  const lastError = cleanTimeoutMessage(task.node.driver_internal_info[STEP_KEYS.clean]);
  const logMessage = `Cleaning for node ${task.node.uuid} failed. ${lastError}`;
  await stepsErrorHandler(task, logger, CLEANING_KIND, logMessage, lastError);
});

/** Ironic's last_error when a takeover fails an operation a dead conductor left mid-way. */
export const TAKEOVER_ABORTED_MESSAGE = 'Operation was aborted due to conductor take over';

/**
 * Ironic `abort_on_conductor_take_over` (the callback of the orphan check's `fail`): a node now in
 * `clean failed` goes through `cleaning_error_handler(…, set_fail_state=False)`; any other records
 * "Operation was aborted due to conductor take over".
 */
export const abortOnConductorTakeOver: TimeoutCallback = requireExclusive(async function abortOnConductorTakeOver(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  if (task.node.provision_state === CLEANFAIL) {
    const logMessage = `Cleaning for node ${task.node.uuid} failed. ${TAKEOVER_ABORTED_MESSAGE}`;
    await stepsErrorHandler(task, logger, CLEANING_KIND, logMessage, TAKEOVER_ABORTED_MESSAGE);
    return;
  }
  logger.error(`${TAKEOVER_ABORTED_MESSAGE} on node ${task.node.uuid}`);
  await save(task, (draft) => {
    draft.last_error = TAKEOVER_ABORTED_MESSAGE;
  });
});

/** Ironic `cleanup_servicewait_timeout`: `servicing_error_handler(…, set_fail_state=False)`. */
export const cleanupServicewaitTimeout: TimeoutCallback = requireExclusive(async function cleanupServicewaitTimeout(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  const lastError = serviceTimeoutMessage(task.node.driver_internal_info[STEP_KEYS.service]);
  const logMessage = `Servicing for node ${task.node.uuid} failed. ${lastError}`;
  await stepsErrorHandler(task, logger, SERVICING_KIND, logMessage, lastError);
});

/** Ironic `cleanup_rescuewait_timeout`: `rescuing_error_handler(task, msg, set_fail_state=False)`. */
export const cleanupRescuewaitTimeout: TimeoutCallback = requireExclusive(async function cleanupRescuewaitTimeout(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  logger.error(`${RESCUE_TIMEOUT_MESSAGE} ${task.node.uuid}`);
  await rescuingErrorHandler(task, logger, RESCUE_TIMEOUT_MESSAGE);
});

/**
 * Ironic `cleanup_inspectwait_timeout` → `inspecting_error_handler`: record the error, stop the
 * inspection (our inspect interface has no `abort`, so Ironic's fallback `boot.clean_up_ramdisk`),
 * wipe the agent token and URL, save. No further state change.
 */
export const cleanupInspectwaitTimeout: TimeoutCallback = requireExclusive(async function cleanupInspectwaitTimeout(
  task: ExclusiveTask,
  logger: Logger,
): Promise<void> {
  logger.error(`Inspection for node ${task.node.uuid} failed. ${INSPECT_TIMEOUT_MESSAGE}`);
  await save(task, (draft) => {
    draft.last_error = INSPECT_TIMEOUT_MESSAGE;
  });
  try {
    await driverOf(task).boot.cleanUpRamdisk(task);
  } catch (error) {
    logger.error(
      { err: error },
      `Failed to clean up the ramdisk after the inspection timeout of node ${task.node.uuid}: ${describe(error)}`,
    );
  }
  await save(task, (draft) => wipeTokenAndUrl(draft.driver_internal_info));
});

// ---- Ironic's error handlers --------------------------------------------------------------------

/**
 * Ironic `deploying_error_handler(task, logmsg, errmsg)`: record, `deploy.clean_up`, clear the
 * deploy step and wipe deploy bookkeeping, record a clean-up failure if any.
 */
async function deployingErrorHandler(task: ExclusiveTask, logger: Logger, logMessage: string, errorMessage: string): Promise<void> {
  logger.error(logMessage);
  await save(task, (draft) => {
    draft.last_error = errorMessage;
  });
  let cleanupError: string | null = null;
  try {
    await driverOf(task).deploy.cleanUp(task);
  } catch (error) {
    logger.error({ err: error }, `Cleanup failed for node ${task.node.uuid}; reason: ${describe(error)}`);
    const additional = isConductorError(error)
      ? `Also failed to clean up due to: ${describe(error)}`
      : 'An unhandled exception was encountered while aborting. More information may be found in the log file.';
    cleanupError = `${errorMessage}. ${additional}`;
  }
  await save(task, (draft) => {
    if (DEPLOY_STATES.includes(draft.provision_state)) {
      // Ironic keeps the list of deploy steps for debugging and clears the current one.
      draft.driver_internal_info[STEP_KEYS.deploy] = {};
      wipeDeployInternalInfo(draft.driver_internal_info);
    }
    if (cleanupError !== null) draft.last_error = cleanupError;
  });
  // Ironic ends with an unconditional process_event('fail'); from `deploy failed` (where the
  // periodic already put the node) that raises InvalidState, which _write_exception then ignores
  // because last_error is set. We only fail a node that is not failed yet: same end state, no
  // spurious worker failure.
  if (task.node.provision_state !== DEPLOYFAIL) {
    const failed = await task.processEvent('fail');
    if (failed.isErr()) throw failed.error;
  }
}

/** States in which Ironic clears the deploy step after a failure. */
const DEPLOY_STATES: readonly string[] = [DEPLOYING, DEPLOYWAIT, DEPLOYFAIL];

/** The per-kind facts of Ironic's cleaning/servicing error handlers. */
interface StepsKind {
  readonly stepKey: string;
  readonly indexKey: string;
  readonly states: readonly string[];
  readonly fault: string;
  readonly tearDown: (task: ExclusiveTask) => Promise<void>;
  /** The text appended to last_error when tearing down fails. */
  readonly tearDownFailed: (errorMessage: string, uuid: string, error: unknown) => string;
}

const CLEANING_KIND: StepsKind = {
  stepKey: STEP_KEYS.clean,
  indexKey: 'clean_step_index',
  states: [CLEANING, CLEANWAIT, CLEANFAIL],
  fault: CLEAN_FAILURE,
  tearDown: (task) => driverOf(task).deploy.tearDownCleaning(task),
  tearDownFailed: (errorMessage, uuid, error) =>
    `${errorMessage}. Also Failed to tear down cleaning on node ${uuid}, reason: ${describe(error)}`,
};

const SERVICING_KIND: StepsKind = {
  stepKey: STEP_KEYS.service,
  indexKey: 'service_step_index',
  states: [SERVICING, SERVICEWAIT, SERVICEFAIL],
  fault: SERVICE_FAILURE,
  // Our deploy interface has no tear_down_service; what Ironic's agent version of it does first
  // is cleaning up the ramdisk.
  tearDown: (task) => driverOf(task).boot.cleanUpRamdisk(task),
  tearDownFailed: (errorMessage) => `${errorMessage}. Also failed to tear down servicing.`,
};

/**
 * Ironic `cleaning_error_handler` / `servicing_error_handler` with `set_fail_state=False` (the
 * periodic already moved the node): maintenance and fault if a step was running, tear down,
 * clear the step bookkeeping and the agent token/URL, record the error (and the maintenance
 * reason unless one is set), save.
 */
async function stepsErrorHandler(
  task: ExclusiveTask,
  logger: Logger,
  kind: StepsKind,
  logMessage: string,
  errorMessage: string,
): Promise<void> {
  const setMaintenance = pythonTruthy(task.node.driver_internal_info[kind.stepKey]);
  logger.error(logMessage);
  let message = errorMessage;
  try {
    await kind.tearDown(task);
  } catch (error) {
    logger.error({ err: error }, `Failed to tear down on node ${task.node.uuid}, reason: ${describe(error)}`);
    message = kind.tearDownFailed(message, task.node.uuid, error);
  }
  await save(task, (draft) => {
    const info = draft.driver_internal_info;
    if (setMaintenance) {
      info[FAULT_KEY] = kind.fault;
      draft.maintenance = true;
    }
    if (kind.states.includes(draft.provision_state)) {
      info[kind.stepKey] = {};
      delete info[kind.indexKey];
      removeAsyncStepFlags(info);
      wipeTokenAndUrl(info);
    }
    draft.last_error = message;
    if (!draft.maintenance_reason && setMaintenance) draft.maintenance_reason = message;
  });
}

/**
 * Ironic `rescuing_error_handler(task, msg, set_fail_state=False)`: power off, clean up the rescue
 * environment, record `msg`; a failing clean-up records what failed instead. The agent URL is
 * removed whatever happens.
 */
async function rescuingErrorHandler(task: ExclusiveTask, logger: Logger, message: string): Promise<void> {
  let lastError: string;
  try {
    await powerOff(task);
    // Ironic's rescue.clean_up (agent rescue): drop the rescue password, clean up the ramdisk
    // (our rescue interface has no clean_up; there is no rescuing network to remove).
    await save(task, (draft) => {
      delete draft.instance_info.rescue_password;
      delete draft.instance_info.hashed_rescue_password;
    });
    await driverOf(task).boot.cleanUpRamdisk(task);
    lastError = message;
  } catch (error) {
    if (isConductorError(error)) {
      lastError = `Rescue operation was unsuccessful, clean up failed for node: ${describe(error)}`;
      logger.error(`Rescue operation was unsuccessful, clean up failed for node ${task.node.uuid}: ${describe(error)}`);
    } else {
      lastError = `Rescue failed, but an unhandled exception was encountered while aborting: ${describe(error)}`;
      logger.error({ err: error }, `Rescue failed for node ${task.node.uuid}, an exception was encountered while aborting.`);
    }
  }
  await save(task, (draft) => {
    delete draft.driver_internal_info.agent_url;
    draft.last_error = lastError;
  });
}

/**
 * The part of Ironic's `node_power_action(task, POWER_OFF)` the rescue handler relies on: skip if
 * already off, else set the target, power off, and record the result; on failure clear the target
 * and rethrow. The node is in a failure state, so last_error is kept while powering off.
 */
async function powerOff(task: ExclusiveTask): Promise<void> {
  const power = driverOf(task).power;
  const current = await power.getPowerState(task);
  if (current === 'power off') {
    await save(task, (draft) => {
      draft.power_state = current;
      draft.target_power_state = null;
      wipeInternalInfoOnPowerOff(draft.driver_internal_info);
    });
    return;
  }
  await save(task, (draft) => {
    draft.target_power_state = 'power off';
    wipeInternalInfoOnPowerOff(draft.driver_internal_info);
  });
  try {
    const reached = await power.setPowerState(task, 'power off');
    await save(task, (draft) => {
      draft.power_state = reached;
      draft.target_power_state = null;
    });
  } catch (error) {
    await save(task, (draft) => {
      draft.target_power_state = null;
      draft.last_error = `Failed to change power state to 'power off' by 'power off': ${describe(error)}`;
    });
    throw error;
  }
}

// ---- driver_internal_info bookkeeping (Ironic utils / async_steps) ------------------------------

type Info = Draft<JsonObject>;

/** Ironic `wipe_token_and_url`. */
function wipeTokenAndUrl(info: Info): void {
  delete info.agent_secret_token;
  delete info.agent_secret_token_pregenerated;
  delete info.agent_url;
  delete info.agent_verify_ca;
}

/** Ironic `async_steps.remove_node_flags`: the reboot/polling/skip flags of every step kind. */
function removeAsyncStepFlags(info: Info): void {
  for (const prefix of ['cleaning', 'deployment', 'servicing']) {
    delete info[`${prefix}_reboot`];
    delete info[`${prefix}_polling`];
  }
  for (const kind of ['clean', 'deploy', 'service']) delete info[`skip_current_${kind}_step`];
}

/** Ironic `wipe_deploy_internal_info` (fast track is not supported here, so the token always goes). */
function wipeDeployInternalInfo(info: Info): void {
  wipeTokenAndUrl(info);
  info.deploy_steps = null;
  delete info.user_deploy_steps;
  delete info.agent_cached_deploy_steps;
  delete info.deploy_step_index;
  delete info.steps_validated;
  removeAsyncStepFlags(info);
}

/** Ironic `wipe_internal_info_on_power_off`. */
function wipeInternalInfoOnPowerOff(info: Info): void {
  delete info.agent_url;
  if (info.agent_secret_token_pregenerated !== true) delete info.agent_secret_token;
  delete info.agent_cached_deploy_steps;
  delete info.agent_cached_clean_steps;
  delete info.agent_verify_ca;
}

// ---- helpers ---------------------------------------------------------------------------------

/** The task's driver; the periodics always acquire with the driver loaded. */
function driverOf(task: ExclusiveTask): NonNullable<ExclusiveTask['driver']> {
  const driver = task.driver;
  if (driver === null) throw new TypeError(`timeout callback on node ${task.node.uuid} needs a task with its driver loaded`);
  return driver;
}

/** Save through the task; a failed write rejects the worker (Ironic: the exception ends the thread). */
async function save(task: ExclusiveTask, recipe: (draft: Draft<NodeRecord>) => void): Promise<void> {
  const saved = await task.updateNode(recipe);
  if (saved.isErr()) throw saved.error;
}

/** Python truthiness of a JSON value (`bool(node.clean_step)`). */
function pythonTruthy(value: JsonValue | undefined): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Python's `str()` of a JSON value as Ironic formats a step: dicts and lists as their repr. */
function pythonStr(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : pythonRepr(value);
}

/** Python's `repr()` of a JSON value (dict order kept; missing means None). */
function pythonRepr(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return pythonStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([key, item]) => `${pythonStringRepr(key)}: ${pythonRepr(item)}`)
    .join(', ')}}`;
}

/** Python's repr of a str: single quotes unless the text has a ' and no ". */
function pythonStringRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    .replace(quote === "'" ? /'/g : /"/g, `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}
