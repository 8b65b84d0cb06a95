/**
 * Every implementation a registry starts with: the behaviour-driven fakes (bound to the
 * registry's FakeEngine) and the noop / no-* ones, in registration order (the order of the
 * "valid interfaces" lists in InterfaceNotFoundInEntrypoint).
 */
import type { AnyDriverInterface } from '../interfaces.js';
import type { FakeEngine } from './fake-engine.js';
import { createFakeImplementations } from './fake-interfaces.js';
import { createNoopImplementations } from './noop-interfaces.js';

/** Fresh built-in implementations whose fakes run on `engine`. */
export function createBuiltinImplementations(engine: FakeEngine): AnyDriverInterface[] {
  return [...createFakeImplementations(engine), ...createNoopImplementations()];
}
