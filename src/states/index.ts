/** Ironic's state constants, state groups and the provision state machine. */
export * from './provision-states.ts';
export * from './power-states.ts';
export * from './allocation-states.ts';
export * from './history-event-types.ts';
export * from './groups.ts';
export * from './provision-machine.ts';
