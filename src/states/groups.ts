/**
 * State groups of `ironic/common/states.py`, in Ironic's source order. Python tuples become frozen
 * readonly arrays; Python frozensets become ReadonlySets that also refuse mutation at run time.
 */
import type { ProvisionEvent, ProvisionState } from './provision-states.js';
import {
  ACTIVE,
  ADOPTFAIL,
  ADOPTING,
  AVAILABLE,
  CLEANFAIL,
  CLEANHOLD,
  CLEANING,
  CLEANWAIT,
  DELETED,
  DELETING,
  DEPLOYDONE,
  DEPLOYFAIL,
  DEPLOYHOLD,
  DEPLOYING,
  DEPLOYWAIT,
  ENROLL,
  ERROR,
  INSPECTFAIL,
  INSPECTING,
  INSPECTWAIT,
  MANAGEABLE,
  RESCUE,
  RESCUEFAIL,
  RESCUEWAIT,
  RESCUING,
  SERVICE,
  SERVICEFAIL,
  SERVICEHOLD,
  SERVICEWAIT,
  SERVICING,
  UNRESCUEFAIL,
  UNRESCUING,
  VERIFYING,
} from './provision-states.js';

/** A Set whose mutators throw: these groups are process-wide, so a stray cast must not change them. */
function frozenSet<T>(items: readonly T[]): ReadonlySet<T> {
  const set = new Set(items);
  const refuse = (): never => {
    throw new TypeError('State groups are read-only');
  };
  Object.defineProperties(set, { add: { value: refuse }, delete: { value: refuse }, clear: { value: refuse } });
  return Object.freeze(set);
}

/** States that do not change unless a request arrives (each is added to the machine with stable=true). */
export const STABLE_STATES: readonly ProvisionState[] = Object.freeze([ENROLL, MANAGEABLE, AVAILABLE, ACTIVE, ERROR, RESCUE]);

/**
 * States that change without an external request. Notifications use membership in this list (not
 * "not stable"): failed and hold states are in neither list.
 */
export const UNSTABLE_STATES: readonly ProvisionState[] = Object.freeze([
  DEPLOYING,
  DEPLOYWAIT,
  CLEANING,
  CLEANWAIT,
  VERIFYING,
  DELETING,
  INSPECTING,
  INSPECTWAIT,
  ADOPTING,
  RESCUING,
  RESCUEWAIT,
  UNRESCUING,
  SERVICING,
  SERVICEWAIT,
]);

/** States a conductor restart cannot resume; nodes stuck in them are failed. */
export const STUCK_STATES_TREATED_AS_FAIL: readonly ProvisionState[] = Object.freeze([
  DEPLOYING,
  CLEANING,
  VERIFYING,
  INSPECTING,
  ADOPTING,
  RESCUING,
  UNRESCUING,
  DELETING,
  SERVICING,
]);

/**
 * States in which a node may be deleted (plus AVAILABLE when `allow_deleting_available_nodes`, and
 * any state in maintenance; those rules belong to the API, not to this list).
 */
export const DELETE_ALLOWED_STATES: readonly ProvisionState[] = Object.freeze([MANAGEABLE, ENROLL, ADOPTFAIL]);

/**
 * Transitional states in which updating a node is allowed. Ironic lists SERVICE ('service', a verb,
 * not a state) here, not SERVICING; kept as Ironic has it.
 */
export const UPDATE_ALLOWED_STATES: readonly (ProvisionState | typeof SERVICE)[] = Object.freeze([
  DEPLOYFAIL,
  INSPECTING,
  INSPECTFAIL,
  INSPECTWAIT,
  CLEANFAIL,
  ERROR,
  VERIFYING,
  ADOPTFAIL,
  RESCUEFAIL,
  UNRESCUEFAIL,
  SERVICE,
  SERVICEHOLD,
  SERVICEFAIL,
]);

/** The failed states. */
export const FAILURE_STATES: ReadonlySet<ProvisionState> = frozenSet([
  DEPLOYFAIL,
  CLEANFAIL,
  INSPECTFAIL,
  RESCUEFAIL,
  UNRESCUEFAIL,
  ADOPTFAIL,
  SERVICEFAIL,
]);

/** The states of servicing. */
export const SERVICING_STATES: ReadonlySet<ProvisionState> = frozenSet([SERVICING, SERVICEWAIT, SERVICEFAIL, SERVICEHOLD]);

/** The states of inspection. */
export const INSPECTION_STATES: ReadonlySet<ProvisionState> = frozenSet([INSPECTING, INSPECTWAIT, INSPECTFAIL]);

/** States in which API lookups (by the ramdisk agent) are normally allowed. */
export const LOOKUP_ALLOWED_STATES: ReadonlySet<ProvisionState> = frozenSet([
  DEPLOYING,
  DEPLOYWAIT,
  CLEANING,
  CLEANWAIT,
  INSPECTING,
  INSPECTWAIT,
  RESCUING,
  RESCUEWAIT,
  SERVICEWAIT,
]);

/** States in which API lookups are allowed when fast track is enabled. */
export const FASTTRACK_LOOKUP_ALLOWED_STATES: ReadonlySet<ProvisionState> = frozenSet([
  ENROLL,
  MANAGEABLE,
  AVAILABLE,
  DEPLOYING,
  DEPLOYWAIT,
  CLEANING,
  CLEANWAIT,
  INSPECTING,
  INSPECTWAIT,
  RESCUING,
  RESCUEWAIT,
  SERVICING,
  SERVICEWAIT,
  SERVICEHOLD,
]);

/** Every provision-state value (the 30 machine states plus DELETED and DEPLOYDONE); Ironic keeps it for Nova. */
export const ALL_STATES: ReadonlySet<ProvisionState | typeof DELETED | typeof DEPLOYDONE> = frozenSet([
  ACTIVE,
  ADOPTFAIL,
  ADOPTING,
  AVAILABLE,
  CLEANFAIL,
  CLEANHOLD,
  CLEANING,
  CLEANWAIT,
  DELETED,
  DELETING,
  DEPLOYDONE,
  DEPLOYFAIL,
  DEPLOYHOLD,
  DEPLOYING,
  DEPLOYWAIT,
  ENROLL,
  ERROR,
  INSPECTFAIL,
  INSPECTING,
  INSPECTWAIT,
  MANAGEABLE,
  RESCUE,
  RESCUEFAIL,
  RESCUING,
  RESCUEWAIT,
  SERVICEFAIL,
  SERVICEHOLD,
  SERVICING,
  SERVICEWAIT,
  UNRESCUEFAIL,
  UNRESCUING,
  VERIFYING,
]);

/**
 * Targets accepted by the REST API's provision endpoint, mapped to the machine event they trigger
 * (`rebuild` is handled through a deploy with rebuild=true, so it is absent).
 */
export const VERBS = Object.freeze({
  active: 'deploy',
  deploy: 'deploy',
  deleted: 'delete',
  undeploy: 'delete',
  manage: 'manage',
  provide: 'provide',
  inspect: 'inspect',
  abort: 'abort',
  clean: 'clean',
  adopt: 'adopt',
  rescue: 'rescue',
  unrescue: 'unrescue',
  unhold: 'unhold',
  service: 'service',
} as const satisfies Record<string, ProvisionEvent>);
