/**
 * Every implementation a registry starts with: the behaviour-driven fakes (bound to the
 * registry's FakeEngine) and the noop / no-* ones, in registration order (the order of the
 * "valid interfaces" lists in InterfaceNotFound).
 */
import type { AnyDriverInterface } from '../interfaces.ts';
import type { FakeEngine } from './fake-engine.ts';
import { createFakeImplementations } from './fake-interfaces.ts';
import { createNoopImplementations } from './noop-interfaces.ts';

/** Fresh built-in implementations whose fakes run on `engine`. */
export function createBuiltinImplementations(engine: FakeEngine): AnyDriverInterface[] {
  return [...createFakeImplementations(engine), ...createNoopImplementations()];
}
