/**
 * The state and event names a user needs (`import { states } from 'metal-conductor'`): Ironic's
 * provision and power state constants, the provision events, and Ironic's state groups. The state
 * machine itself stays internal: a task moves it with `processEvent`.
 */
export * from './provision-states.js';
export * from './power-states.js';
export * from './groups.js';
