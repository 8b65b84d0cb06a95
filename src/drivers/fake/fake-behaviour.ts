/**
 * FakeBehaviour: how the fake implementations behave, so that runs and benchmarks can drive real
 * asynchronous work through them (random durations, injected failures), reproducibly with a
 * seeded `random`. `resolveFakeBehaviour` validates it and fills the defaults.
 */
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from '../../errors.js';
import { ALL_OPERATION_NAMES } from '../interfaces.js';
import { abortableSleep } from './abortable-sleep.js';

/** How fake operations behave. Every field is optional. */
export interface FakeBehaviour {
  /** Duration of every fake operation: fixed, or uniform in [min, max]. Default 0 (no timer at all). */
  delayMs?: number | { readonly min: number; readonly max: number };
  /** Probability (0..1) that an operation fails with FakeDriverError. Default 0. */
  failureRate?: number;
  /** Per-operation failure probability overriding failureRate, keyed `<type>.<op>`, e.g. `{ 'deploy.deploy': 1 }`. Default {}. */
  failOperations?: Readonly<Partial<Record<string, number>>>;
  /** Source of randomness in [0, 1). Default Math.random; inject a seeded one for reproducible runs. */
  random?: () => number;
  /** setTimeout-like wait; must reject when `signal` aborts. Default: a real abortable timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A validated FakeBehaviour with every default filled. */
export interface ResolvedFakeBehaviour {
  readonly delayMin: number;
  readonly delayMax: number;
  readonly failureRate: number;
  readonly failOperations: ReadonlyMap<string, number>;
  readonly random: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** True when `sleep` was injected (it may ignore the signal, so the engine races it). */
  readonly injectedSleep: boolean;
}

/** The default behaviour: instant, never failing. */
export const DEFAULT_FAKE_BEHAVIOUR: ResolvedFakeBehaviour = Object.freeze({
  delayMin: 0,
  delayMax: 0,
  failureRate: 0,
  failOperations: new Map<string, number>(),
  random: Math.random,
  sleep: abortableSleep,
  injectedSleep: false,
});

const isProbability = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;
const isDelay = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function invalid(option: string, message: string, value: unknown): Result<never, InvalidParameterValue> {
  return err(new InvalidParameterValue(`fakeBehaviour.${option} ${message}`, { option: `fakeBehaviour.${option}`, value }));
}

/** Validate `behaviour` and fill defaults. Bad values and unknown operation names → InvalidParameterValue. */
export function resolveFakeBehaviour(behaviour: FakeBehaviour = {}): Result<ResolvedFakeBehaviour, InvalidParameterValue> {
  if (typeof behaviour !== 'object' || behaviour === null) return invalid('', 'must be an object', behaviour);
  const { delayMs = 0, failureRate = 0, failOperations = {}, random, sleep } = behaviour;
  let delayMin: number;
  let delayMax: number;
  if (typeof delayMs === 'number') {
    if (!isDelay(delayMs)) return invalid('delayMs', 'must be a finite number >= 0', delayMs);
    delayMin = delayMax = delayMs;
  } else if (typeof delayMs === 'object' && delayMs !== null && isDelay(delayMs.min) && isDelay(delayMs.max)) {
    if (delayMs.min > delayMs.max) return invalid('delayMs', 'must have min <= max', delayMs);
    delayMin = delayMs.min;
    delayMax = delayMs.max;
  } else {
    return invalid('delayMs', 'must be a number or { min, max } of finite numbers >= 0', delayMs);
  }
  if (!isProbability(failureRate)) return invalid('failureRate', 'must be a number in [0, 1]', failureRate);
  if (typeof failOperations !== 'object' || failOperations === null) {
    return invalid('failOperations', 'must be an object', failOperations);
  }
  const perOperation = new Map<string, number>();
  for (const [operation, rate] of Object.entries(failOperations)) {
    if (rate === undefined) continue;
    if (!ALL_OPERATION_NAMES.has(operation)) {
      return invalid('failOperations', `names an unknown operation "${operation}" (expected <type>.<operation>)`, operation);
    }
    if (!isProbability(rate)) return invalid(`failOperations.${operation}`, 'must be a number in [0, 1]', rate);
    perOperation.set(operation, rate);
  }
  if (random !== undefined && typeof random !== 'function') return invalid('random', 'must be a function', random);
  if (sleep !== undefined && typeof sleep !== 'function') return invalid('sleep', 'must be a function', sleep);
  return ok(
    Object.freeze({
      delayMin,
      delayMax,
      failureRate,
      failOperations: perOperation,
      random: random ?? Math.random,
      sleep: sleep ?? abortableSleep,
      injectedSleep: sleep !== undefined,
    }),
  );
}
