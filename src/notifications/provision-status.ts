/**
 * Status and level of a `baremetal.node.provision_set.<status>` notification, derived as Ironic's
 * `TaskManager._notify_provision_state_change` derives them from the event and the two states.
 */
import { UNSTABLE_STATES } from '../states/groups.js';

/** The status part of the event type `baremetal.node.provision_set.<status>`. */
export type ProvisionSetStatus = 'start' | 'end' | 'success' | 'error';

/** The notification level (Ironic's NotificationLevel values this rule produces). */
export type ProvisionSetLevel = 'info' | 'error';

/** Status and level of one provision_set notification. */
export interface ProvisionSetVerdict {
  readonly status: ProvisionSetStatus;
  readonly level: ProvisionSetLevel;
}

const ERROR: ProvisionSetVerdict = Object.freeze({ status: 'error', level: 'error' });
const START: ProvisionSetVerdict = Object.freeze({ status: 'start', level: 'info' });
const END: ProvisionSetVerdict = Object.freeze({ status: 'end', level: 'info' });
const SUCCESS: ProvisionSetVerdict = Object.freeze({ status: 'success', level: 'info' });

/** Ironic tests membership of the UNSTABLE_STATES tuple, not "not stable": failed/hold states are in neither. */
function isUnstable(state: string | null): boolean {
  return state !== null && (UNSTABLE_STATES as readonly string[]).includes(state);
}

/**
 * Ironic's rules, in order: event 'fail' or 'error' gives error/error; (previous unstable, new
 * unstable) = (false, true) gives start; (true, false) gives end; anything else gives success. All
 * but the first are level info. The returned objects are shared and frozen.
 */
export function provisionSetStatus(event: string, previousState: string | null, newState: string | null): ProvisionSetVerdict {
  // The machine has no 'error' event; Ironic lists it defensively.
  if (event === 'fail' || event === 'error') return ERROR;
  const wasUnstable = isUnstable(previousState);
  const isNowUnstable = isUnstable(newState);
  if (!wasUnstable && isNowUnstable) return START;
  if (wasUnstable && !isNowUnstable) return END;
  return SUCCESS;
}
