/**
 * Ironic's five wait-timeout periodics (reference §5.6) as data plus one runner:
 * `_check_deploy_timeouts`, `_check_cleanwait_timeouts`, `_check_inspect_wait_timeouts`,
 * `_check_rescuewait_timeouts` and `_check_servicewait_timeouts`. A run lists the nodes that have
 * sat in the wait state longer than the timeout (unreserved, not in maintenance), and fails at most
 * `periodicMaxWorkers` of them with `_fail_if_in_state`; the callback then cleans up in a worker.
 *
 * Deviations from Ironic, on purpose:
 * - Locks are taken with `retry: false`, so a node someone holds is skipped at once (and picked up
 *   by the next run) instead of stalling the whole run for the retry budget.
 * - There is no `inspection_started_at` column, so the inspect check measures the time in
 *   `inspect wait` from `provision_updated_at` (stamped when the node entered the state), and sorts
 *   by id like the others.
 */
import type { ConductorConfig } from '../config.js';
import { adminContext } from '../context.js';
import {
  CLEANFAIL,
  CLEANWAIT,
  DEPLOYFAIL,
  DEPLOYWAIT,
  INSPECTFAIL,
  INSPECTWAIT,
  RESCUEFAIL,
  RESCUEWAIT,
  SERVICEFAIL,
  SERVICEWAIT,
  type ProvisionState,
} from '../states/provision-states.js';
import { provisioningErrorHandler } from '../task/error-handlers.js';
import type { ProcessEventErrorHandler } from '../task/types.js';
import { emptyFailReport, failIfInState, type FailIfInStateReport } from './fail-if-in-state.js';
import type { PeriodicPort } from './ports.js';
import {
  cleanupAfterTimeout,
  cleanupCleanwaitTimeout,
  cleanupInspectwaitTimeout,
  cleanupRescuewaitTimeout,
  cleanupServicewaitTimeout,
  type TimeoutCallback,
} from './timeout-callbacks.js';

/** Names of the five checks. */
export type WaitTimeoutCheckName = 'deploy' | 'clean' | 'inspect' | 'rescue' | 'service';

/** Configuration options that hold milliseconds. */
type MillisecondOption = {
  [K in keyof ConductorConfig]: ConductorConfig[K] extends number ? K : never;
}[keyof ConductorConfig];

/** One wait-timeout periodic. */
export interface WaitTimeoutCheck {
  readonly name: WaitTimeoutCheckName;
  /** Ironic's periodic method name. */
  readonly ironicPeriodic: string;
  /** The wait state watched. */
  readonly waitState: ProvisionState;
  /** Where `fail` takes the node (documentation; the state machine decides). */
  readonly failState: ProvisionState;
  /** Our option holding the timeout (ms). */
  readonly timeoutOption: MillisecondOption;
  /** Ironic's `[conductor]` option name of the timeout. */
  readonly ironicTimeoutOption: string;
  /** Our option holding the interval between runs (ms). */
  readonly intervalOption: MillisecondOption;
  /** Ironic's `[conductor]` option name of the interval. */
  readonly ironicIntervalOption: string;
  /** Keep the target provision state across `fail` (Ironic `keep_target_state`). */
  readonly keepTargetState: boolean;
  /** Background clean-up run after `fail` (Ironic `callback_method`). */
  readonly callback: TimeoutCallback;
  /** Spawn-error handler (Ironic `err_handler`), if Ironic passes one. */
  readonly errHandler: ProcessEventErrorHandler | null;
}

/** The five checks, in Ironic's source order of the options. */
export const WAIT_TIMEOUT_CHECKS: readonly WaitTimeoutCheck[] = Object.freeze([
  Object.freeze({
    name: 'deploy',
    ironicPeriodic: '_check_deploy_timeouts',
    waitState: DEPLOYWAIT,
    failState: DEPLOYFAIL,
    timeoutOption: 'deployCallbackTimeout',
    ironicTimeoutOption: 'deploy_callback_timeout',
    intervalOption: 'checkProvisionStateInterval',
    ironicIntervalOption: 'check_provision_state_interval',
    keepTargetState: false,
    callback: cleanupAfterTimeout,
    errHandler: provisioningErrorHandler,
  }),
  Object.freeze({
    name: 'clean',
    ironicPeriodic: '_check_cleanwait_timeouts',
    waitState: CLEANWAIT,
    failState: CLEANFAIL,
    timeoutOption: 'cleanCallbackTimeout',
    ironicTimeoutOption: 'clean_callback_timeout',
    intervalOption: 'checkProvisionStateInterval',
    ironicIntervalOption: 'check_provision_state_interval',
    keepTargetState: true,
    callback: cleanupCleanwaitTimeout,
    errHandler: null,
  }),
  Object.freeze({
    name: 'inspect',
    ironicPeriodic: '_check_inspect_wait_timeouts',
    waitState: INSPECTWAIT,
    failState: INSPECTFAIL,
    timeoutOption: 'inspectWaitTimeout',
    ironicTimeoutOption: 'inspect_wait_timeout',
    intervalOption: 'checkProvisionStateInterval',
    ironicIntervalOption: 'check_provision_state_interval',
    keepTargetState: false,
    callback: cleanupInspectwaitTimeout,
    errHandler: provisioningErrorHandler,
  }),
  Object.freeze({
    name: 'rescue',
    ironicPeriodic: '_check_rescuewait_timeouts',
    waitState: RESCUEWAIT,
    failState: RESCUEFAIL,
    timeoutOption: 'rescueCallbackTimeout',
    ironicTimeoutOption: 'rescue_callback_timeout',
    intervalOption: 'checkRescueStateInterval',
    ironicIntervalOption: 'check_rescue_state_interval',
    keepTargetState: true,
    callback: cleanupRescuewaitTimeout,
    errHandler: null,
  }),
  Object.freeze({
    name: 'service',
    ironicPeriodic: '_check_servicewait_timeouts',
    waitState: SERVICEWAIT,
    failState: SERVICEFAIL,
    timeoutOption: 'serviceCallbackTimeout',
    ironicTimeoutOption: 'service_callback_timeout',
    intervalOption: 'checkProvisionStateInterval',
    ironicIntervalOption: 'check_provision_state_interval',
    keepTargetState: true,
    callback: cleanupServicewaitTimeout,
    errHandler: null,
  }),
] satisfies WaitTimeoutCheck[]);

/** A check by name. */
export function waitTimeoutCheck(name: WaitTimeoutCheckName): WaitTimeoutCheck {
  const check = WAIT_TIMEOUT_CHECKS.find((c) => c.name === name);
  if (check === undefined) throw new TypeError(`unknown wait-timeout check ${String(name)}`);
  return check;
}

/** The check's timeout in ms under `config`. */
export function checkTimeoutMs(check: WaitTimeoutCheck, config: ConductorConfig): number {
  return config[check.timeoutOption];
}

/** The check's interval in ms under `config`. */
export function checkIntervalMs(check: WaitTimeoutCheck, config: ConductorConfig): number {
  return config[check.intervalOption];
}

/**
 * Whether Ironic would run the periodic: a positive interval and a positive timeout (0 disables
 * either; the rescue interval has a minimum of 1, so only its timeout can disable it).
 */
export function isCheckEnabled(check: WaitTimeoutCheck, config: ConductorConfig): boolean {
  return checkIntervalMs(check, config) > 0 && checkTimeoutMs(check, config) > 0;
}

/** What one run of a check did. */
export interface CheckReport extends FailIfInStateReport {
  readonly check: WaitTimeoutCheckName;
  /** False when the timeout (or interval) is 0: nothing was looked at. */
  readonly enabled: boolean;
}

/**
 * Run one check once (Ironic's periodic body): fail the nodes that have waited too long, each
 * under its exclusive lock, spawning the check's callback. Time comes from `port.clock`.
 */
export async function runWaitTimeoutCheck(check: WaitTimeoutCheck, port: PeriodicPort): Promise<CheckReport> {
  const config = port.config;
  if (!isCheckEnabled(check, config)) {
    port.logger.debug({ check: check.name }, `Wait-timeout check ${check.ironicPeriodic} is disabled`);
    return { check: check.name, enabled: false, ...emptyFailReport() };
  }
  const timeoutMs = checkTimeoutMs(check, config);
  const cutoff = new Date(port.clock.now() - timeoutMs);
  const report = await failIfInState(port, {
    context: adminContext(),
    filter: { provisionState: check.waitState, reserved: false, maintenance: false, provisionUpdatedBefore: cutoff },
    states: [check.waitState],
    callback: check.callback,
    ...(check.errHandler ? { errHandler: check.errHandler } : {}),
    keepTargetState: check.keepTargetState,
    maxNodes: config.periodicMaxWorkers,
    retry: false,
    onFailed: (listed, committed) => {
      port.logger.warn(
        { check: check.name, node: listed.uuid, provision_updated_at: listed.provision_updated_at, timeout_s: timeoutMs / 1000 },
        `Node ${listed.uuid} waited in "${check.waitState}" longer than ${check.ironicTimeoutOption} ` +
          `(${timeoutMs / 1000} s, since ${listed.provision_updated_at}); moved to "${committed.provision_state}"`,
      );
    },
  });
  port.logger.debug(
    {
      check: check.name,
      candidates: report.candidates,
      failed: report.failed.length,
      skippedLocked: report.skippedLocked,
      skippedGone: report.skippedGone,
      skippedChanged: report.skippedChanged,
      stoppedNoWorkers: report.stoppedNoWorkers,
      errors: report.errors.length,
    },
    `Wait-timeout check ${check.ironicPeriodic} done`,
  );
  return { check: check.name, enabled: true, ...report };
}

/** Run every enabled check once, in order (a convenience for a scheduler and tests). */
export async function runWaitTimeoutChecks(port: PeriodicPort): Promise<CheckReport[]> {
  const reports: CheckReport[] = [];
  for (const check of WAIT_TIMEOUT_CHECKS) reports.push(await runWaitTimeoutCheck(check, port));
  return reports;
}
