/**
 * What tests reach behind a conductor that the package does not export: its store (to play an
 * operator or another process writing the database, or to check the row behind a snapshot).
 */
import { conductorInternals, type Conductor } from '../../actors/conductor.js';
import type { Store } from '../../src/store/store.js';

/** The store behind `conductor`. Writing it directly bypasses the node actors: only tests do that. */
export function storeOf(conductor: Conductor): Store {
  return conductorInternals(conductor).store;
}
