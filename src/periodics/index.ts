/** Periodic checks: Ironic's wait-timeout periodics, `_fail_if_in_state`, and their port. */
export * from './fail-if-in-state.js';
export * from './ports.js';
export * from './timeout-callbacks.js';
export * from './wait-timeouts.js';
