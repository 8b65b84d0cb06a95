/**
 * The generic FSM: ports of Ironic's `ironic/tests/unit/common/test_fsm.py` (FSMTest, same names),
 * then target bookkeeping, copies, duplicates and the error paths of automaton.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { Result } from 'neverthrow';
import { Duplicate, InvalidState } from '../../src/errors.js';
import { FSM } from '../../src/fsm/fsm.js';

/** The error of an Err result, failing the test on Ok. */
function errorOf<T, E>(result: Result<T, E>): E {
  assert.ok(result.isErr(), 'expected an Err result');
  return result.error;
}

/** Assert `result` is an Err carrying InvalidState whose message matches. */
function assertInvalidState<T>(result: Result<T, unknown>, message: string | RegExp): void {
  const error = errorOf(result);
  assert.ok(error instanceof InvalidState, `expected InvalidState, got ${String(error)}`);
  if (typeof message === 'string') assert.equal(error.message, message);
  else assert.match(error.message, message);
}

/** Assert `result` is Ok (with its error in the failure message otherwise). */
function assertOk<T>(result: Result<T, unknown>): T {
  if (result.isErr()) assert.fail(`expected Ok, got ${String(result.error)}`);
  return result.value;
}

/** Assert `fn` throws an error of class `type` with exactly `message`. */
function assertThrows(fn: () => unknown, type: typeof InvalidState | typeof Duplicate, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

describe('FSMTest (ironic/tests/unit/common/test_fsm.py)', () => {
  let fsm: FSM;

  beforeEach(() => {
    const m = new FSM();
    m.addState('working', { stable: true });
    m.addState('daydream');
    m.addState('wakeup', { target: 'working' });
    m.addState('play', { stable: true });
    m.addTransition('wakeup', 'working', 'walk');
    fsm = m;
  });

  test('test_is_stable', () => {
    assert.equal(assertOk(fsm.isStable('working')), true);
  });

  test('test_is_stable_not', () => {
    assert.equal(assertOk(fsm.isStable('daydream')), false);
  });

  test('test_is_stable_invalid_state', () => {
    assertInvalidState(fsm.isStable('foo'), "State 'foo' does not exist");
  });

  test('test_target_state_stable', () => {
    // Adding a state whose target is a stable state does not raise.
    fsm.addState('foo', { target: 'working' });
    fsm.defaultStartState = 'working';
    assertOk(fsm.initialize());
    assert.equal(fsm.currentState, 'working');
  });

  test('test__validate_target_state', () => {
    // `_validate_target_state` is private here; it is reached through addState and initialize.
    // valid
    fsm.addState('valid target', { target: 'working' });
    assertOk(fsm.initialize('wakeup', 'working'));
    // target doesn't exist
    assertThrows(() => fsm.addState('x', { target: 'new state' }), InvalidState, "Target state 'new state' does not exist");
    assertInvalidState(fsm.initialize('wakeup', 'new state'), /does not exist/);
    // target isn't a stable state
    assertThrows(() => fsm.addState('y', { target: 'daydream' }), InvalidState, "Target state 'daydream' is not a 'stable' state");
    assertInvalidState(fsm.initialize('wakeup', 'daydream'), /stable/);
    // A failed addState adds nothing.
    assert.equal(fsm.hasState('x'), false);
    assert.equal(fsm.hasState('y'), false);
  });

  test('test_initialize', () => {
    // no start state
    assertInvalidState(fsm.initialize(), "Can not start from a undefined state 'None'");

    // no target state
    assertOk(fsm.initialize('working'));
    assert.equal(fsm.currentState, 'working');
    assert.equal(fsm.targetState, null);

    // default target state
    assertOk(fsm.initialize('wakeup'));
    assert.equal(fsm.currentState, 'wakeup');
    assert.equal(fsm.targetState, 'working');

    // specify (it overrides default) target state
    assertOk(fsm.initialize('wakeup', 'play'));
    assert.equal(fsm.currentState, 'wakeup');
    assert.equal(fsm.targetState, 'play');

    // specify an invalid target state
    assertInvalidState(fsm.initialize('wakeup', 'daydream'), "Target state 'daydream' is not a 'stable' state");
  });

  test('test_process_event', () => {
    // default target state
    assertOk(fsm.initialize('wakeup'));
    assertOk(fsm.processEvent('walk'));
    assert.equal(fsm.currentState, 'working');
    assert.equal(fsm.targetState, null);

    // specify (it overrides default) target state
    assertOk(fsm.initialize('wakeup'));
    assertOk(fsm.processEvent('walk', 'play'));
    assert.equal(fsm.currentState, 'working');
    assert.equal(fsm.targetState, 'play');

    // specify an invalid target state
    assertOk(fsm.initialize('wakeup'));
    assertInvalidState(fsm.processEvent('walk', 'daydream'), "Target state 'daydream' is not a 'stable' state");
    // Ironic's order: the transition already happened when the target is rejected.
    assert.equal(fsm.currentState, 'working');
    assert.equal(fsm.targetState, null);
  });
});

/** A machine with every target case: idle/done/parked stable, busy/pause/limbo not. */
function targetsMachine(): FSM {
  const m = new FSM();
  m.addState('idle', { stable: true });
  m.addState('done', { stable: true });
  m.addState('parked', { stable: true });
  m.addState('busy', { target: 'idle' });
  m.addState('pause', { target: 'parked' });
  m.addState('limbo');
  m.addTransition('busy', 'pause', 'wait');
  m.addTransition('busy', 'done', 'finish');
  m.addTransition('busy', 'idle', 'stop');
  m.addTransition('busy', 'limbo', 'drift');
  m.addTransition('limbo', 'busy', 'resume');
  m.addTransition('idle', 'busy', 'start');
  return m;
}

describe('target state bookkeeping', () => {
  test('entering a state with a default target overwrites the carried target', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    assert.equal(m.targetState, 'done');
    assertOk(m.processEvent('wait'));
    assert.equal(m.currentState, 'pause');
    assert.equal(m.targetState, 'parked');
  });

  test('entering a state without a default target keeps the carried target', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    assertOk(m.processEvent('drift'));
    assert.equal(m.currentState, 'limbo');
    assert.equal(m.targetState, 'done');
    // ...and coming back into a state with a default target overwrites it again.
    assertOk(m.processEvent('resume'));
    assert.equal(m.targetState, 'idle');
  });

  test('reaching the target clears it', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    assertOk(m.processEvent('finish'));
    assert.equal(m.currentState, 'done');
    assert.equal(m.targetState, null);
  });

  test('reaching another stable state keeps the target', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    assertOk(m.processEvent('stop'));
    assert.equal(m.currentState, 'idle');
    assert.equal(m.targetState, 'done');
  });

  test('an explicit target replaces the default one after the move', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy'));
    assertOk(m.processEvent('wait', 'done'));
    assert.equal(m.currentState, 'pause');
    assert.equal(m.targetState, 'done');
  });

  test('a null or empty target passed to processEvent is ignored', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy'));
    assertOk(m.processEvent('wait', null));
    assert.equal(m.targetState, 'parked');
    assertOk(m.initialize('busy'));
    assertOk(m.processEvent('wait', ''));
    assert.equal(m.targetState, 'parked');
  });

  test('initialize: an empty target falls back to the default target; an unknown one errs', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', null));
    assert.equal(m.targetState, 'idle');
    assertInvalidState(m.initialize('busy', 'nowhere'), "Target state 'nowhere' does not exist");
  });

  test('initialize with a bad target has already moved to the start state (Ironic order)', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    assertInvalidState(m.initialize('limbo', 'pause'), "Target state 'pause' is not a 'stable' state");
    assert.equal(m.currentState, 'limbo');
    assert.equal(m.targetState, 'done');
  });

  test('processEvent with an unknown target errs after moving, with the default target set', () => {
    const m = targetsMachine();
    assertOk(m.initialize('idle'));
    assertInvalidState(m.processEvent('start', 'nowhere'), "Target state 'nowhere' does not exist");
    assert.equal(m.currentState, 'busy');
    assert.equal(m.targetState, 'idle');
  });
});

describe('run-time errors', () => {
  test('processEvent before initialize errs', () => {
    const m = targetsMachine();
    assertInvalidState(m.processEvent('start'), "Can not process event 'start'; the state machine hasn't been initialized");
    assert.equal(m.currentState, null);
  });

  test('an event without a transition errs and leaves the machine unchanged', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    const error = errorOf(m.processEvent('start'));
    assert.ok(error instanceof InvalidState);
    assert.equal(error.message, "Can not transition from state 'busy' on event 'start' (no defined transition)");
    assert.equal(error.code, 'InvalidState');
    assert.equal(error.status, 409);
    assert.deepEqual(error.details, { state: 'busy', event: 'start' });
    assert.equal(m.currentState, 'busy');
    assert.equal(m.targetState, 'done');
  });

  test('initialize from an unknown or terminal state errs', () => {
    const m = new FSM();
    m.addState('a', { stable: true });
    m.addState('end', { terminal: true });
    m.addTransition('a', 'end', 'finish');
    assertInvalidState(m.initialize('nope'), "Can not start from a undefined state 'nope'");
    assertInvalidState(m.initialize('end'), "Can not start from a terminal state 'end'");
    assert.equal(m.currentState, null);
  });

  test('a terminal state can be entered but not left', () => {
    const m = new FSM();
    m.addState('a', { stable: true });
    m.addState('end', { terminal: true });
    m.addTransition('a', 'end', 'finish');
    assert.equal(m.isTerminal('end'), true);
    assert.equal(m.isTerminal('a'), false);
    assertOk(m.initialize('a'));
    assertOk(m.processEvent('finish'));
    assertInvalidState(m.processEvent('finish'), "Can not transition from terminal state 'end' on event 'finish'");
  });

  test('defaultTarget and isTerminal throw for an unknown state', () => {
    const m = targetsMachine();
    assert.equal(m.defaultTarget('busy'), 'idle');
    assert.equal(m.defaultTarget('idle'), null);
    assert.throws(() => m.defaultTarget('nope'), InvalidState);
    assert.throws(() => m.isTerminal('nope'), InvalidState);
  });
});

describe('definition errors (thrown: they are bugs)', () => {
  test('duplicate state throws Duplicate', () => {
    const m = targetsMachine();
    assertThrows(() => m.addState('idle', { stable: true }), Duplicate, "State 'idle' already defined");
  });

  test('same (start, event) to a different end throws Duplicate; an identical re-add is accepted', () => {
    const m = targetsMachine();
    const before = m.transitions();
    assertThrows(
      () => m.addTransition('busy', 'idle', 'wait'),
      Duplicate,
      "Cannot add transition from 'busy' to 'idle' on event 'wait' because a transition from 'busy' to " +
        "'pause' on event 'wait' already exists.",
    );
    m.addTransition('busy', 'pause', 'wait');
    assert.deepEqual(m.transitions(), before);
  });

  test('transitions with an unknown start or end, or out of a terminal state, throw InvalidState', () => {
    const m = targetsMachine();
    m.addState('end', { terminal: true });
    assertThrows(
      () => m.addTransition('nope', 'idle', 'go'),
      InvalidState,
      "Can not add a transition on event 'go' that starts in a undefined state 'nope'",
    );
    assertThrows(
      () => m.addTransition('idle', 'nope', 'go'),
      InvalidState,
      "Can not add a transition on event 'go' that ends in a undefined state 'nope'",
    );
    assertThrows(
      () => m.addTransition('end', 'idle', 'go'),
      InvalidState,
      "Can not add a transition on event 'go' that starts in the terminal state 'end'",
    );
  });

  test('defaultStartState must be a known state', () => {
    const m = targetsMachine();
    assertThrows(
      () => {
        m.defaultStartState = 'nope';
      },
      InvalidState,
      "Can not set the default start state to undefined state 'nope'",
    );
    assert.equal(m.defaultStartState, null);
  });

  test('a frozen machine refuses changes; so do its copies unless unfrozen', () => {
    const m = targetsMachine();
    m.freeze();
    const frozen = "Frozen machine can't be modified";
    assertThrows(() => m.addState('new'), InvalidState, frozen);
    assertThrows(() => m.addTransition('idle', 'done', 'jump'), InvalidState, frozen);
    assertThrows(
      () => {
        m.defaultStartState = 'idle';
      },
      InvalidState,
      frozen,
    );
    const copy = m.copy();
    assert.equal(copy.frozen, true);
    assertThrows(() => copy.addState('new'), InvalidState, frozen);
    const unfrozen = m.copy({ unfreeze: true });
    assert.equal(unfrozen.frozen, false);
    unfrozen.addState('new', { stable: true });
    assert.equal(unfrozen.hasState('new'), true);
    assert.equal(m.hasState('new'), false);
  });
});

describe('introspection', () => {
  test('states, events and transitions in insertion order', () => {
    const m = targetsMachine();
    assert.deepEqual(m.states, ['idle', 'done', 'parked', 'busy', 'pause', 'limbo']);
    assert.deepEqual(m.events, ['wait', 'finish', 'stop', 'drift', 'resume', 'start']);
    assert.deepEqual(m.transitions()[0], { start: 'busy', event: 'wait', end: 'pause' });
    assert.equal(m.transitions().length, 6);
    assert.equal(Object.isFrozen(m.transitions()[0]), true);
  });
});

describe('watchers', () => {
  test('onExit of the old state, then onEnter of the new one; none on initialize or on errors', () => {
    const calls: string[] = [];
    const m = new FSM();
    const hooks = (name: string) => ({
      onEnter: (state: string, event: string) => calls.push(`enter ${name} ${state} ${event}`),
      onExit: (state: string, event: string) => calls.push(`exit ${name} ${state} ${event}`),
    });
    m.addState('a', { stable: true, ...hooks('A') });
    m.addState('b', { ...hooks('B') });
    m.addState('c', { ...hooks('C') });
    m.addTransition('a', 'b', 'go');
    m.addTransition('b', 'c', 'go');
    assertOk(m.initialize('a'));
    assert.deepEqual(calls, []);
    assertOk(m.processEvent('go'));
    assertOk(m.processEvent('go'));
    assert.ok(m.processEvent('go').isErr());
    assert.deepEqual(calls, ['exit A a go', 'enter B b go', 'exit B b go', 'enter C c go']);
  });

  test('a throwing watcher leaves the machine where it was', () => {
    const m = new FSM();
    m.addState('a', { stable: true });
    m.addState('b', {
      onEnter: () => {
        throw new Error('boom');
      },
    });
    m.addTransition('a', 'b', 'go');
    assertOk(m.initialize('a'));
    assert.throws(() => m.processEvent('go'), /boom/);
    assert.equal(m.currentState, 'a');
  });
});

describe('copies', () => {
  test('a copy is uninitialised even if the original was initialised', () => {
    const m = targetsMachine();
    assertOk(m.initialize('busy', 'done'));
    const copy = m.copy();
    assert.equal(copy.currentState, null);
    assert.equal(copy.targetState, null);
    assert.deepEqual(copy.transitions(), m.transitions());
    assert.deepEqual(copy.states, m.states);
  });

  test('processing on one copy does not move another or the prototype', () => {
    const proto = targetsMachine();
    const a = proto.copy();
    const b = proto.copy();
    assertOk(a.initialize('idle'));
    assertOk(b.initialize('idle'));
    assertOk(a.processEvent('start'));
    assert.equal(a.currentState, 'busy');
    assert.equal(a.targetState, 'idle');
    assert.equal(b.currentState, 'idle');
    assert.equal(b.targetState, null);
    assert.equal(proto.currentState, null);
  });

  test('adding states or transitions to a copy does not change the prototype or other copies', () => {
    const proto = targetsMachine();
    const a = proto.copy();
    const b = proto.copy();
    a.addState('extra', { stable: true });
    a.addTransition('idle', 'extra', 'leap');
    a.defaultStartState = 'extra';
    assert.equal(proto.hasState('extra'), false);
    assert.equal(b.hasState('extra'), false);
    assert.equal(proto.transitions().length, 6);
    assert.equal(b.transitions().length, 6);
    assert.deepEqual(proto.events, ['wait', 'finish', 'stop', 'drift', 'resume', 'start']);
    assert.equal(proto.defaultStartState, null);
    assertOk(b.initialize('idle'));
    assertInvalidState(b.processEvent('leap'), /no defined transition/);
    assertOk(a.initialize());
    assert.equal(a.currentState, 'extra');
  });

  test('changing the prototype after copying does not change the copies', () => {
    const proto = targetsMachine();
    const copy = proto.copy();
    proto.addState('later', { stable: true });
    proto.addTransition('done', 'later', 'move');
    assert.equal(copy.hasState('later'), false);
    assert.equal(copy.transitions().length, 6);
    assert.equal(proto.transitions().length, 7);
  });

  test('a copy of a copy shares, then splits on write', () => {
    const proto = targetsMachine();
    const first = proto.copy();
    const second = first.copy();
    second.addState('x');
    first.addState('y');
    assert.equal(second.hasState('y'), false);
    assert.equal(first.hasState('x'), false);
    assert.equal(proto.hasState('x') || proto.hasState('y'), false);
  });
});
