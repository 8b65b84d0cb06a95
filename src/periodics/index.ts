/** Periodic checks: Ironic's wait-timeout periodics, `_fail_if_in_state`, and their port. */
export * from './fail-if-in-state.ts';
export * from './ports.ts';
export * from './timeout-callbacks.ts';
export * from './wait-timeouts.ts';
