/**
 * State-machine doubles for the `newFsm` seam (Ironic's `mock.patch.object(state_machine.machine,
 * 'copy')` and `Mock(spec=FSM)`): a scripted fake, and a recording wrapper around a real machine.
 */
import { err, ok, type Result } from 'neverthrow';
import type { InvalidState } from '../../src/errors.js';
import type { FSM } from '../../src/fsm/fsm.js';
import { newProvisionFsm } from '../../src/states/provision-machine.js';
import type { ProvisionEvent, ProvisionState } from '../../src/states/provision-states.js';

/** How a FakeFsm behaves. */
export interface FakeFsmScript {
  /** processEvent fails with this error (and does not move). */
  processEventError?: InvalidState;
  /** State the machine is in after processEvent; default: where it was. */
  nextState?: string;
  /** Target after processEvent; default: unchanged. */
  nextTarget?: string | null;
  /** What isStable answers for every state. Default true. */
  stable?: boolean;
}

/**
 * A scripted stand-in for FSM with the surface a task uses (initialize, processEvent,
 * currentState, targetState, isStable). It accepts any state and records every call.
 */
export class FakeFsm {
  readonly initializeCalls: [string | null | undefined, string | null | undefined][] = [];
  readonly processEventCalls: [string, string | null | undefined][] = [];
  readonly isStableCalls: string[] = [];
  currentState: string | null = null;
  targetState: string | null = null;

  constructor(readonly script: FakeFsmScript = {}) {}

  initialize(startState?: string | null, targetState?: string | null): Result<void, InvalidState> {
    this.initializeCalls.push([startState, targetState]);
    this.currentState = startState ?? null;
    this.targetState = targetState ?? null;
    return ok(undefined);
  }

  processEvent(event: string, targetState?: string | null): Result<void, InvalidState> {
    this.processEventCalls.push([event, targetState]);
    if (this.script.processEventError) return err(this.script.processEventError);
    if (this.script.nextState !== undefined) this.currentState = this.script.nextState;
    if (this.script.nextTarget !== undefined) this.targetState = this.script.nextTarget;
    if (targetState) this.targetState = targetState;
    return ok(undefined);
  }

  isStable(state: string): Result<boolean, InvalidState> {
    this.isStableCalls.push(state);
    return ok(this.script.stable ?? true);
  }

  /** This fake typed as the FSM the seam returns (it accepts any state or event, as Ironic's mock). */
  asFsm(): FSM<ProvisionState, ProvisionEvent> {
    return this as unknown as FSM<ProvisionState, ProvisionEvent>;
  }
}

/** One call recorded on a real machine. */
export interface FsmCall {
  readonly method: string;
  readonly args: readonly unknown[];
}

/**
 * A real provision machine copy behind a recording proxy: it behaves exactly as the real one and
 * records every method call (methods run on the real object, so its private fields work).
 */
export function recordingFsm(inner: FSM<ProvisionState, ProvisionEvent> = newProvisionFsm()): {
  fsm: FSM<ProvisionState, ProvisionEvent>;
  calls: FsmCall[];
} {
  const calls: FsmCall[] = [];
  const fsm = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push({ method: String(prop), args });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { fsm, calls };
}
