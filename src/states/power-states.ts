/** Power-state constants of `ironic/common/states.py`. */

/** No power-state knowledge (the same NOSTATE as for provision states). */
export { NOSTATE } from './provision-states.js';

/** The node is powered on. */
export const POWER_ON = 'power on';
/** The node is powered off. */
export const POWER_OFF = 'power off';
/** The node is rebooting. */
export const REBOOT = 'rebooting';
/** The node is rebooting gracefully. */
export const SOFT_REBOOT = 'soft rebooting';
/** The node is being powered off gracefully. */
export const SOFT_POWER_OFF = 'soft power off';

/** A known power state or target power state (null is NOSTATE). */
export type PowerState = typeof POWER_ON | typeof POWER_OFF | typeof REBOOT | typeof SOFT_REBOOT | typeof SOFT_POWER_OFF;
