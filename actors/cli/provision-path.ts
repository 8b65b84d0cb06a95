/**
 * Ironic's provisioning path for the fleet run: which event takes a node one step further from the
 * state it is in, and the background work of each long step (run in a supervised worker that
 * holds the node's lock, through the fake drivers). Names follow Ironic's conductor functions, so
 * the `Async execution of <fn> failed` text of an uncaught failure names the same function.
 *
 *   enroll      --manage-->   verifying   --(_do_node_verify)-->      manageable | enroll + last_error
 *   manageable  --provide-->  cleaning    --(do_node_clean)-->        clean wait | clean failed
 *   clean wait  --resume-->   cleaning    --(continue_node_clean)-->  available  | clean failed   (agent callback)
 *   available   --deploy-->   deploying   --(do_node_deploy)-->       wait call-back | deploy failed
 *   wait call-back --resume--> deploying  --(continue_node_deploy)--> active | deploy failed     (agent callback)
 *
 * Recovery from a failure (only with --retry-failed): enroll + last_error → manage; clean failed →
 * manage (to manageable, then provide again); deploy failed → deploy; error → rebuild.
 */
import { FakeDriverError } from '../../src/drivers/fake/fake-driver-error.js';
import { FAKE_CLEAN_STEPS } from '../../src/drivers/fake/fake-interfaces.js';
import { describe } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import { FAILURE_STATES } from '../../src/states/groups.js';
import { NO_FREE_WORKERS_MESSAGE } from '../../src/task/error-handlers.js';
import { orThrow } from '../../src/task/scope.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask, WorkFunction } from '../../src/task/types.js';
import { announceInjectedFailure, forgetInjectedFailure } from './log-format.js';

/** The phases of the path, in order; each ends in a stable state. */
export const PHASES = ['manage', 'clean', 'deploy'] as const;
export type Phase = (typeof PHASES)[number];

/** The state that completes each phase. */
export const PHASE_END: Readonly<Record<Phase, string>> = Object.freeze({ manage: 'manageable', clean: 'available', deploy: 'active' });

/** The target of the run. */
export const TARGET_STATE = 'active';

/** Background work of a step: runs in a worker holding the node's lock. */
export type StepWork = WorkFunction<[]>;

/** One step: an event processed in an exclusive task, usually with background work. */
export interface Step {
  readonly phase: Phase;
  readonly event: 'manage' | 'provide' | 'deploy' | 'rebuild' | 'resume';
  readonly work: StepWork | null;
  /** The lock purpose (Ironic's). */
  readonly purpose: string;
  /** The ramdisk calling back (Ironic's heartbeat → continue_node_*): patient, after the agent's delay. */
  readonly agentCallback: boolean;
  /** Brings the node back from a recorded failure (counts against --max-retries). */
  readonly recovery: boolean;
}

/** What to do with a node in its current state. */
export type Plan =
  | { readonly kind: 'done' }
  | { readonly kind: 'failed' }
  | { readonly kind: 'step'; readonly step: Step }
  /** A transitional state: a worker (ours, or a periodic check's) is on it. */
  | { readonly kind: 'busy' }
  /** A state this path does not lead out of. */
  | { readonly kind: 'unexpected' };

/**
 * A failure Ironic recorded: a failed state, `error`, or `enroll` with a last_error (a failed
 * verification, or start-up recovery failing a stuck `verifying`). A roll-back for lack of free
 * workers is not a failure: the step is simply tried again.
 */
export function isRecordedFailure(node: Pick<NodeRecord, 'provision_state' | 'last_error'>): boolean {
  const state = node.provision_state;
  if (FAILURE_STATES.has(state) || state === 'error') return true;
  return state === 'enroll' && node.last_error !== null && node.last_error !== NO_FREE_WORKERS_MESSAGE;
}

const TRANSITIONAL = new Set([
  'verifying',
  'cleaning',
  'deploying',
  'inspecting',
  'adopting',
  'rescuing',
  'unrescuing',
  'deleting',
  'servicing',
]);

const step = (s: Step): Plan => ({ kind: 'step', step: s });

/** The next step for `node`; recorded failures only with `recover`. */
export function planNext(node: Pick<NodeRecord, 'provision_state' | 'last_error'>, recover: boolean): Plan {
  const state = node.provision_state;
  const failed = isRecordedFailure(node);
  if (failed && !recover) return { kind: 'failed' };
  switch (state) {
    case 'enroll':
      return step({
        phase: 'manage',
        event: 'manage',
        work: doNodeVerify,
        purpose: 'provision action manage',
        agentCallback: false,
        recovery: failed,
      });
    case 'manageable':
      return step({
        phase: 'clean',
        event: 'provide',
        work: doNodeClean,
        purpose: 'provision action provide',
        agentCallback: false,
        recovery: false,
      });
    case 'clean wait':
      return step({
        phase: 'clean',
        event: 'resume',
        work: continueNodeClean,
        purpose: 'continue node cleaning',
        agentCallback: true,
        recovery: false,
      });
    case 'available':
      return step({
        phase: 'deploy',
        event: 'deploy',
        work: doNodeDeploy,
        purpose: 'node deployment',
        agentCallback: false,
        recovery: false,
      });
    case 'wait call-back':
      return step({
        phase: 'deploy',
        event: 'resume',
        work: continueNodeDeploy,
        purpose: 'continue node deploying',
        agentCallback: true,
        recovery: false,
      });
    case TARGET_STATE:
      return { kind: 'done' };
    case 'clean failed':
    case 'inspect failed':
    case 'adopt failed':
      return step({
        phase: 'clean',
        event: 'manage',
        work: null,
        purpose: 'provision action manage',
        agentCallback: false,
        recovery: true,
      });
    case 'deploy failed':
      return step({
        phase: 'deploy',
        event: 'deploy',
        work: doNodeDeploy,
        purpose: 'node deployment',
        agentCallback: false,
        recovery: true,
      });
    case 'error':
      return step({
        phase: 'deploy',
        event: 'rebuild',
        work: doNodeDeploy,
        purpose: 'node deployment',
        agentCallback: false,
        recovery: true,
      });
    default:
      if (failed) return { kind: 'failed' }; // a failed state this path has no way back from (rescue failed, ...)
      return TRANSITIONAL.has(state) ? { kind: 'busy' } : { kind: 'unexpected' };
  }
}

/** The phase a node starts in (null: nothing to do, or a failure that is not retried). */
export function startPhase(node: Pick<NodeRecord, 'provision_state' | 'last_error'>, recover: boolean): Phase | null {
  const plan = planNext(node, recover);
  return plan.kind === 'step' ? plan.step.phase : null;
}

// ---- the background work (each runs in a worker holding the node's lock) ------------------------

const message = (error: unknown): string => describe(error);

/**
 * Record a failure as Ironic's error handlers do: last_error, then `fail` (target: the machine's).
 * The failure is logged once, at warn, with the node, the driver operation and the error; the
 * task's own "moved to provision state ... failed" line then goes to info (log-format.ts).
 */
async function fail(task: ExclusiveTask, lastError: string, operation: string, cause?: unknown): Promise<void> {
  const uuid = task.node.uuid;
  const op = cause instanceof FakeDriverError ? cause.operation : operation;
  const error = cause === undefined ? lastError : message(cause);
  taskInternals(task).logger.warn(
    { node_name: task.node.name ?? undefined, operation: op, error, provision_state: task.node.provision_state },
    `node ${task.node.name ?? uuid}: ${op} failed in "${task.node.provision_state}": ${error}`,
  );
  announceInjectedFailure(uuid);
  try {
    await orThrow(task.processEvent('fail', { lastError }));
  } finally {
    forgetInjectedFailure(uuid);
  }
}

/** Cancellation (conductor stopping) is not a failure of the node: nothing is recorded. */
function rethrowIfCancelled(task: ExclusiveTask, error: unknown): void {
  if (task.signal.aborted) throw error;
}

/** Ironic `verify.do_node_verify`: validate the power interface, read the power state, done or fail back to enroll. */
export async function doNodeVerify(task: ExclusiveTask): Promise<void> {
  const driver = task.driver!;
  const uuid = task.node.uuid;
  let error: string | null = null;
  let power: string | null = null;
  let failedOperation = '';
  let failedCause: unknown;
  try {
    await driver.power.validate(task);
  } catch (cause) {
    rethrowIfCancelled(task, cause);
    error = `Failed to validate power driver interface for node ${uuid}. Error: ${message(cause)}`;
    failedOperation = 'power.validate';
    failedCause = cause;
  }
  if (error === null) {
    try {
      power = await driver.power.getPowerState(task);
    } catch (cause) {
      rethrowIfCancelled(task, cause);
      error = `Failed to get power state for node ${uuid}. Error: ${message(cause)}`;
      failedOperation = 'power.getPowerState';
      failedCause = cause;
    }
  }
  if (error !== null) {
    await fail(task, error, failedOperation, failedCause);
    return;
  }
  await orThrow(task.updateNode((draft) => void (draft.power_state = power)));
  await orThrow(task.processEvent('done'));
}

/** Ironic `cleaning.do_node_clean`: prepare the ramdisk for cleaning, then wait for the agent. */
export async function doNodeClean(task: ExclusiveTask): Promise<void> {
  try {
    await task.driver!.deploy.prepareCleaning(task);
  } catch (cause) {
    rethrowIfCancelled(task, cause);
    await fail(task, `Failed to prepare node ${task.node.uuid} for cleaning: ${message(cause)}`, 'deploy.prepareCleaning', cause);
    return;
  }
  await orThrow(task.processEvent('wait'));
}

/** Ironic `cleaning.continue_node_clean` after the agent's callback: run the clean steps, then done. */
export async function continueNodeClean(task: ExclusiveTask): Promise<void> {
  for (const cleanStep of FAKE_CLEAN_STEPS) {
    try {
      await task.driver!.deploy.executeCleanStep(task, cleanStep);
    } catch (cause) {
      rethrowIfCancelled(task, cause);
      await fail(
        task,
        `Node ${task.node.uuid} failed step ${cleanStep.interface}.${cleanStep.step}: ${message(cause)}`,
        'deploy.executeCleanStep',
        cause,
      );
      return;
    }
  }
  await orThrow(task.processEvent('done'));
}

/** Ironic `deployments.do_node_deploy`: check the ports, write the image (deploy step), wait for the agent. */
export async function doNodeDeploy(task: ExclusiveTask): Promise<void> {
  const uuid = task.node.uuid;
  const ports = await orThrow(task.ports());
  if (ports.length === 0) {
    await fail(task, `Failed to prepare to deploy: node ${uuid} has no ports`, 'deploy.prepare');
    return;
  }
  try {
    await task.driver!.deploy.deploy(task);
  } catch (cause) {
    rethrowIfCancelled(task, cause);
    await fail(task, `Node ${uuid} failed deploy step deploy.deploy: ${message(cause)}`, 'deploy.deploy', cause);
    return;
  }
  await orThrow(task.processEvent('wait'));
}

/** Ironic `deployments.continue_node_deploy` after the agent's callback: boot the instance (power on), done. */
export async function continueNodeDeploy(task: ExclusiveTask): Promise<void> {
  let power: string;
  try {
    power = await task.driver!.power.setPowerState(task, 'power on');
  } catch (cause) {
    rethrowIfCancelled(task, cause);
    await fail(
      task,
      `Node ${task.node.uuid} failed deploy step deploy.reboot_to_instance: ${message(cause)}`,
      'power.setPowerState',
      cause,
    );
    return;
  }
  await orThrow(task.updateNode((draft) => void (draft.power_state = power)));
  await orThrow(task.processEvent('done'));
}
