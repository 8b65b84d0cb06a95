/** Ironic's state constants, state groups and the provision state machine. */
export * from './provision-states.js';
export * from './power-states.js';
export * from './allocation-states.js';
export * from './history-event-types.js';
export * from './groups.js';
export * from './provision-machine.js';
