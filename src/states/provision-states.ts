/**
 * Provision-state constants of `ironic/common/states.py`, with Ironic's names and values, plus the
 * type unions of the 30 machine states and 18 events. All values fit the 15-character DB column.
 */

/** No state information: no power-state knowledge, or no target in `target_*_state`. */
export const NOSTATE = null;

/** Ironic knows the node but does not manage it yet. */
export const ENROLL = 'enroll';
/** Power credentials are being verified. */
export const VERIFYING = 'verifying';
/** Verified at least once; not available for provisioning. */
export const MANAGEABLE = 'manageable';
/** Available for scheduling. */
export const AVAILABLE = 'available';
/** Deployed and associated with an instance. */
export const ACTIVE = 'active';
/** API alias of ACTIVE used as a target verb; not a machine state. */
export const DEPLOY = 'deploy';
/** Waiting for the deploy driver's call-back. */
export const DEPLOYWAIT = 'wait call-back';
/** Being deployed. */
export const DEPLOYING = 'deploying';
/** Deployment failed. */
export const DEPLOYFAIL = 'deploy failed';
/** Legacy (Juno) deploy target; not a machine state. */
export const DEPLOYDONE = 'deploy complete';
/** Deployment held for operator intervention. */
export const DEPLOYHOLD = 'deploy hold';
/** Being torn down. */
export const DELETING = 'deleting';
/** Transitory/legacy tear-down value; not a machine state. */
export const DELETED = 'deleted';
/** Being cleaned. */
export const CLEANING = 'cleaning';
/** API verb for tear-down; not a machine state. */
export const UNDEPLOY = 'undeploy';
/** Waiting for a clean step to finish. */
export const CLEANWAIT = 'clean wait';
/** Cleaning failed; needs an operator. */
export const CLEANFAIL = 'clean failed';
/** Cleaning held for operator intervention. */
export const CLEANHOLD = 'clean hold';
/** An error occurred during processing (see last_error). */
export const ERROR = 'error';
/** API verb to redeploy; not a machine state. */
export const REBUILD = 'rebuild';
/** Being inspected. */
export const INSPECTING = 'inspecting';
/** Inspection failed. */
export const INSPECTFAIL = 'inspect failed';
/** Asynchronous inspection in progress. */
export const INSPECTWAIT = 'inspect wait';
/** Being adopted. */
export const ADOPTING = 'adopting';
/** Adoption failed. */
export const ADOPTFAIL = 'adopt failed';
/** In rescue mode. */
export const RESCUE = 'rescue';
/** Rescue failed. */
export const RESCUEFAIL = 'rescue failed';
/** Waiting for the rescue call-back. */
export const RESCUEWAIT = 'rescue wait';
/** Being rescued. */
export const RESCUING = 'rescuing';
/** Unrescue failed. */
export const UNRESCUEFAIL = 'unrescue failed';
/** Being restored from rescue mode to active. */
export const UNRESCUING = 'unrescuing';
/** API verb requesting service steps; not a machine state. */
export const SERVICE = 'service';
/** Service steps running. */
export const SERVICING = 'servicing';
/** Waiting for a service step to finish. */
export const SERVICEWAIT = 'service wait';
/** A service step failed. */
export const SERVICEFAIL = 'service failed';
/** Servicing held for operator intervention. */
export const SERVICEHOLD = 'service hold';

/** One of the 30 states of the provision state machine. */
export type ProvisionState =
  | typeof ENROLL
  | typeof MANAGEABLE
  | typeof AVAILABLE
  | typeof ACTIVE
  | typeof ERROR
  | typeof RESCUE
  | typeof VERIFYING
  | typeof DEPLOYING
  | typeof DEPLOYWAIT
  | typeof DEPLOYFAIL
  | typeof DEPLOYHOLD
  | typeof CLEANING
  | typeof CLEANWAIT
  | typeof CLEANFAIL
  | typeof CLEANHOLD
  | typeof DELETING
  | typeof INSPECTING
  | typeof INSPECTFAIL
  | typeof INSPECTWAIT
  | typeof ADOPTING
  | typeof ADOPTFAIL
  | typeof RESCUING
  | typeof RESCUEWAIT
  | typeof RESCUEFAIL
  | typeof UNRESCUING
  | typeof UNRESCUEFAIL
  | typeof SERVICING
  | typeof SERVICEWAIT
  | typeof SERVICEFAIL
  | typeof SERVICEHOLD;

/** One of the 18 events of the provision state machine (Ironic has no constants for them). */
export type ProvisionEvent =
  | 'deploy'
  | 'fail'
  | 'rebuild'
  | 'wait'
  | 'hold'
  | 'resume'
  | 'unhold'
  | 'abort'
  | 'done'
  | 'delete'
  | 'clean'
  | 'manage'
  | 'provide'
  | 'inspect'
  | 'rescue'
  | 'unrescue'
  | 'adopt'
  | 'service';

/** The 30 states of the provision state machine, in the order Ironic adds them. */
export const PROVISION_STATES: readonly ProvisionState[] = Object.freeze([
  ENROLL,
  MANAGEABLE,
  AVAILABLE,
  ACTIVE,
  ERROR,
  RESCUE,
  VERIFYING,
  DEPLOYING,
  DEPLOYWAIT,
  DEPLOYFAIL,
  DEPLOYHOLD,
  CLEANING,
  CLEANWAIT,
  CLEANFAIL,
  CLEANHOLD,
  DELETING,
  INSPECTING,
  INSPECTFAIL,
  INSPECTWAIT,
  ADOPTING,
  ADOPTFAIL,
  RESCUING,
  RESCUEWAIT,
  RESCUEFAIL,
  UNRESCUING,
  UNRESCUEFAIL,
  SERVICING,
  SERVICEWAIT,
  SERVICEFAIL,
  SERVICEHOLD,
]);

/** The 18 events of the provision state machine. */
export const PROVISION_EVENTS: readonly ProvisionEvent[] = Object.freeze([
  'deploy',
  'fail',
  'rebuild',
  'wait',
  'hold',
  'resume',
  'unhold',
  'abort',
  'done',
  'delete',
  'clean',
  'manage',
  'provide',
  'inspect',
  'rescue',
  'unrescue',
  'adopt',
  'service',
]);
