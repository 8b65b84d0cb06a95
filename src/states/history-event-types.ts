/** Node-history event types of `ironic/common/states.py` (the `event_type` of a history record). */

/** Provisioning (deploy, clean, ...) events. */
export const PROVISIONING = 'provisioning';
/** A conductor took a node over from another. */
export const TAKEOVER = 'takeover';
/** Inspection events. */
export const INTROSPECTION = 'introspection';
/** Conductor-level events. */
export const CONDUCTOR = 'conductor';
/** State-transition events. */
export const TRANSITION = 'transition';
/** Failures at conductor start-up. */
export const STARTFAIL = 'startup failure';
/** Tear-down events. */
export const UNPROVISION = 'unprovision';
/** Adoption events. */
export const ADOPTION = 'adoption';
/** Console events. */
export const CONSOLE = 'console';
/** Monitoring events. */
export const MONITORING = 'monitoring';
/** Verification events. */
export const VERIFY = 'verify';
