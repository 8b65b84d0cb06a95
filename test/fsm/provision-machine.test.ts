/**
 * The hand-written provision machine, constants and groups against the research data file
 * `ironic_fsm.json` (extracted from Ironic's state_machine.py/states.py): identical, both ways.
 * Also the notification status of every transition, a model-based property test, and the cost of
 * copy + initialize.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvalidState } from '../../src/errors.js';
import type { FSM } from '../../src/fsm/fsm.js';
import { provisionSetStatus } from '../../src/notifications/provision-status.js';
import * as states from '../../src/states/index.js';
import type { ProvisionEvent, ProvisionState } from '../../src/states/index.js';
import { newProvisionFsm, provisionMachine, setStateWatcherLog } from '../../src/states/index.js';

interface JsonState {
  stable: boolean;
  target: string | null;
  terminal: boolean;
}

interface IronicFsmJson {
  initial: string;
  states: Record<string, JsonState>;
  transitions: [string, string, string][];
  events: string[];
  counts: { states: number; transitions: number; events: number };
  STABLE_STATES: string[];
  UNSTABLE_STATES: string[];
  STUCK_STATES_TREATED_AS_FAIL: string[];
  DELETE_ALLOWED_STATES: string[];
  UPDATE_ALLOWED_STATES: string[];
  FAILURE_STATES: string[];
  SERVICING_STATES: string[];
  INSPECTION_STATES: string[];
  LOOKUP_ALLOWED_STATES: string[];
  FASTTRACK_LOOKUP_ALLOWED_STATES: string[];
  ALL_STATES_constant: string[];
  NOSTATE: null;
  non_machine_provision_constants: Record<string, string>;
  VERBS: Record<string, string>;
  POWER_STATES: Record<string, string | null>;
  ALLOCATION_STATES: Record<string, string>;
  HISTORY_EVENT_TYPES: Record<string, string>;
  constant_names: Record<string, string>;
  consistency: {
    machine_states_not_in_ALL_STATES: string[];
    ALL_STATES_not_in_machine: string[];
    machine_states_neither_stable_nor_in_UNSTABLE_STATES: string[];
  };
  provision_set_notification_by_transition: { note: string; rows: [string, string, string, string, string][] };
}

// Facts about Ironic's machine, extracted from openstack/ironic (provenance: its `source` field and
// test/fixtures/ironic/README.md). A copy lives in the repository so a fresh clone needs nothing else.
const JSON_URL = new URL('../fixtures/ironic/ironic_fsm.json', import.meta.url);
assert.ok(existsSync(JSON_URL), `reference data file missing: ${fileURLToPath(JSON_URL)}`);
const ref = JSON.parse(readFileSync(JSON_URL, 'utf8')) as IronicFsmJson;

const key = (start: string, event: string): string => `${start}\u0000${event}`;
/** (start, event) -> end, from the JSON. */
const refNext = new Map(ref.transitions.map(([start, event, end]) => [key(start, event), end]));
const refStates = Object.keys(ref.states);
const refStableStates = refStates.filter((s) => ref.states[s]!.stable);
const exported = states as unknown as Record<string, unknown>;

/** A provision machine copy initialised at `state` (with `target`), failing the test on error. */
function machineAt(state: string, target: string | null = null): FSM<ProvisionState, ProvisionEvent> {
  const m = newProvisionFsm();
  const result = m.initialize(state, target);
  if (result.isErr()) assert.fail(result.error.message);
  return m;
}

const sorted = (items: Iterable<string>): string[] => [...items].sort();

describe('provision machine is identical to ironic_fsm.json', () => {
  test('counts: 30 states, 18 events, 93 transitions', () => {
    assert.deepEqual(ref.counts, { states: 30, events: 18, transitions: 93 });
    assert.equal(provisionMachine.states.length, 30);
    assert.equal(provisionMachine.events.length, 18);
    assert.equal(provisionMachine.transitions().length, 93);
  });

  test('same states in the same insertion order, each with the same stable/target/terminal', () => {
    assert.deepEqual(provisionMachine.states, refStates);
    for (const state of provisionMachine.states) {
      const expected = ref.states[state]!;
      assert.deepEqual(
        {
          stable: provisionMachine.isStable(state)._unsafeUnwrap(),
          target: provisionMachine.defaultTarget(state),
          terminal: provisionMachine.isTerminal(state),
        },
        expected,
        `state '${state}'`,
      );
    }
  });

  test('same events, in order of first use', () => {
    assert.deepEqual(provisionMachine.events, ref.events);
  });

  test('every transition equal, none missing, none extra, same order', () => {
    const ours = provisionMachine.transitions().map((t) => [t.start, t.event, t.end] as [string, string, string]);
    const ourKeys = new Set(ours.map((t) => t.join(' | ')));
    const refKeys = new Set(ref.transitions.map((t) => t.join(' | ')));
    const missing = [...refKeys].filter((t) => !ourKeys.has(t));
    const extra = [...ourKeys].filter((t) => !refKeys.has(t));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
    assert.equal(ourKeys.size, 93, 'no transition twice');
    assert.deepEqual(ours, ref.transitions);
  });

  test('the machine is deterministic and processEvent follows the table for every (state, event)', () => {
    for (const state of refStates) {
      for (const event of ref.events) {
        const m = machineAt(state);
        const result = m.processEvent(event as ProvisionEvent);
        const end = refNext.get(key(state, event));
        if (end === undefined) {
          assert.ok(result.isErr(), `${state} --${event}--> should be refused`);
          assert.equal(result.error.message, `Can not transition from state '${state}' on event '${event}' (no defined transition)`);
          assert.equal(m.currentState, state);
        } else {
          assert.ok(result.isOk(), `${state} --${event}--> ${end}`);
          assert.equal(m.currentState, end);
          // The start state's default target is carried unless reached or overwritten by the end's
          // default (e.g. verifying --fail--> enroll keeps 'manageable'; the task manager clears it).
          const carried = ref.states[state]!.target;
          const expected = ref.states[end]!.target ?? (carried === end ? null : carried);
          assert.equal(m.targetState, expected, `target after ${state} --${event}--> ${end}`);
        }
      }
    }
  });

  test('the prototype is frozen and uninitialised; copies are frozen too', () => {
    assert.equal(provisionMachine.frozen, true);
    assert.equal(provisionMachine.currentState, null);
    assert.equal(provisionMachine.defaultStartState, null);
    assert.throws(() => provisionMachine.addState('new' as ProvisionState), InvalidState);
    const copy = newProvisionFsm();
    assert.equal(copy.frozen, true);
    assert.equal(copy.currentState, null);
  });

  test('no default start state: initialize() errs (new nodes start in enroll through the DB)', () => {
    assert.equal(ref.initial, 'enroll');
    assert.ok(newProvisionFsm().initialize().isErr());
    assert.ok(newProvisionFsm().initialize(ref.initial).isOk());
  });

  test('an unfrozen copy can be extended without changing the prototype', () => {
    const copy = provisionMachine.copy({ unfreeze: true });
    copy.addState('limbo' as ProvisionState);
    copy.addTransition(states.ACTIVE, 'limbo' as ProvisionState, 'fail');
    assert.equal(provisionMachine.hasState('limbo'), false);
    assert.equal(provisionMachine.transitions().length, 93);
    assert.ok(machineAt(states.ACTIVE).processEvent('fail').isErr());
  });
});

describe('constants and groups equal the JSON', () => {
  test('tuples: same members in the same order', () => {
    assert.deepEqual(states.STABLE_STATES, ref.STABLE_STATES);
    assert.deepEqual(states.UNSTABLE_STATES, ref.UNSTABLE_STATES);
    assert.deepEqual(states.STUCK_STATES_TREATED_AS_FAIL, ref.STUCK_STATES_TREATED_AS_FAIL);
    assert.deepEqual(states.DELETE_ALLOWED_STATES, ref.DELETE_ALLOWED_STATES);
    assert.deepEqual(states.UPDATE_ALLOWED_STATES, ref.UPDATE_ALLOWED_STATES);
  });

  test('frozensets: same members (the JSON lists them sorted or in source order)', () => {
    assert.deepEqual(sorted(states.FAILURE_STATES), sorted(ref.FAILURE_STATES));
    assert.deepEqual(sorted(states.SERVICING_STATES), sorted(ref.SERVICING_STATES));
    assert.deepEqual(sorted(states.INSPECTION_STATES), sorted(ref.INSPECTION_STATES));
    assert.deepEqual(sorted(states.LOOKUP_ALLOWED_STATES), sorted(ref.LOOKUP_ALLOWED_STATES));
    assert.deepEqual(sorted(states.FASTTRACK_LOOKUP_ALLOWED_STATES), sorted(ref.FASTTRACK_LOOKUP_ALLOWED_STATES));
    assert.deepEqual(sorted(states.ALL_STATES), sorted(ref.ALL_STATES_constant));
    assert.equal(states.ALL_STATES.size, 32);
  });

  test('groups are read-only at run time', () => {
    assert.throws(() => (states.STABLE_STATES as string[]).push('x'), TypeError);
    assert.throws(() => (states.FAILURE_STATES as Set<string>).add('x'), TypeError);
    assert.throws(() => (states.ALL_STATES as Set<string>).clear(), TypeError);
    assert.throws(() => {
      (states.VERBS as Record<string, string>).deploy = 'x';
    }, TypeError);
    assert.equal(states.FAILURE_STATES.size, 7);
  });

  test('VERBS', () => {
    assert.deepEqual({ ...states.VERBS }, ref.VERBS);
    assert.deepEqual(Object.keys(states.VERBS), Object.keys(ref.VERBS));
  });

  test('every named constant has Ironic name and value', () => {
    const named = {
      ...ref.constant_names,
      ...ref.non_machine_provision_constants,
      ...ref.POWER_STATES,
      ...ref.ALLOCATION_STATES,
      ...ref.HISTORY_EVENT_TYPES,
    };
    for (const [name, value] of Object.entries(named)) {
      assert.ok(name in exported, `missing constant ${name}`);
      assert.equal(exported[name], value, name);
    }
    assert.equal(states.NOSTATE, ref.NOSTATE);
  });

  test('the consistency facts of the JSON hold', () => {
    const machine = new Set<string>(provisionMachine.states);
    const all = new Set<string>(states.ALL_STATES);
    const unstable = new Set<string>(states.UNSTABLE_STATES);
    assert.deepEqual(
      [...machine].filter((s) => !all.has(s)),
      ref.consistency.machine_states_not_in_ALL_STATES,
    );
    assert.deepEqual(sorted([...all].filter((s) => !machine.has(s))), sorted(ref.consistency.ALL_STATES_not_in_machine));
    assert.deepEqual(
      sorted([...machine].filter((s) => !provisionMachine.isStable(s)._unsafeUnwrap() && !unstable.has(s))),
      sorted(ref.consistency.machine_states_neither_stable_nor_in_UNSTABLE_STATES),
    );
    // STABLE_STATES are exactly the machine's stable states.
    assert.deepEqual(sorted(refStableStates), sorted(states.STABLE_STATES));
  });

  test('every provision-state value fits the 15-character DB column (test_state_values_length)', () => {
    for (const value of states.ALL_STATES) assert.ok(value.length <= 15, value);
  });
});

describe('provision_set notification status', () => {
  test('the derived status and level of every transition equal the JSON rows', () => {
    const rows = ref.provision_set_notification_by_transition.rows;
    assert.equal(rows.length, 93);
    // The rows cover exactly the machine's transitions.
    assert.deepEqual(
      sorted(rows.map(([from, event, to]) => `${from} | ${event} | ${to}`)),
      sorted(ref.transitions.map((t) => t.join(' | '))),
    );
    for (const [from, event, to, status, level] of rows) {
      assert.deepEqual(provisionSetStatus(event, from, to), { status, level }, `${from} --${event}--> ${to}`);
    }
  });

  test("Ironic's ProvisionNotifyTestCase cases and the edge rules", () => {
    assert.deepEqual(provisionSetStatus('fail', 'fake', 'fake'), { status: 'error', level: 'error' });
    assert.deepEqual(provisionSetStatus('error', states.ACTIVE, states.ACTIVE), { status: 'error', level: 'error' });
    assert.deepEqual(provisionSetStatus('event', states.DEPLOYWAIT, states.DEPLOYING), { status: 'success', level: 'info' });
    assert.deepEqual(provisionSetStatus('event', states.AVAILABLE, states.DEPLOYING), { status: 'start', level: 'info' });
    assert.deepEqual(provisionSetStatus('event', states.DEPLOYING, states.ACTIVE), { status: 'end', level: 'info' });
    assert.deepEqual(provisionSetStatus('event', states.AVAILABLE, states.MANAGEABLE), { status: 'success', level: 'info' });
    // Hold and failed states are in neither group: hold gives END, unhold START.
    assert.deepEqual(provisionSetStatus('hold', states.DEPLOYING, states.DEPLOYHOLD), { status: 'end', level: 'info' });
    assert.deepEqual(provisionSetStatus('unhold', states.DEPLOYHOLD, states.DEPLOYWAIT), { status: 'start', level: 'info' });
    // An unknown previous state (NOSTATE) counts as not unstable.
    assert.deepEqual(provisionSetStatus('deploy', null, states.DEPLOYING), { status: 'start', level: 'info' });
  });
});

describe('watchers', () => {
  test('log Ironic debug lines through the sink, nothing without one', () => {
    const lines: string[] = [];
    const previous = setStateWatcherLog((message, fields) => lines.push(`${message} ${fields.state}/${fields.event}`));
    try {
      assert.ok(machineAt(states.AVAILABLE).processEvent('deploy').isOk());
    } finally {
      setStateWatcherLog(previous);
    }
    assert.deepEqual(lines, [
      "Exiting old state 'available' in response to event 'deploy' available/deploy",
      "Entering new state 'deploying' in response to event 'deploy' deploying/deploy",
    ]);
    assert.ok(machineAt(states.DEPLOYING).processEvent('done').isOk());
    assert.equal(lines.length, 2);
  });
});

describe('property: random event sequences follow the JSON', () => {
  const runs = Number(process.env.PROPERTY_RUNS ?? 1000) || 1000;
  const stateArb = fc.constantFrom(...refStates);
  const stableOrNull = fc.option(fc.constantFrom(...refStableStates), { nil: null });
  const step = fc.record({ event: fc.constantFrom(...ref.events), target: stableOrNull });

  test(`model check over ${runs} runs`, () => {
    fc.assert(
      fc.property(stateArb, stableOrNull, fc.array(step, { maxLength: 40 }), (start, initialTarget, steps) => {
        const m = newProvisionFsm();
        assert.ok(m.initialize(start, initialTarget).isOk());
        // Model of Ironic's FSM over the JSON table.
        let state = start;
        let target: string | null = initialTarget || ref.states[start]!.target;
        for (const { event, target: wanted } of steps) {
          const result = m.processEvent(event as ProvisionEvent, wanted as ProvisionState | null);
          const end = refNext.get(key(state, event));
          assert.equal(result.isErr(), end === undefined, `${state} --${event}-->`);
          if (end !== undefined) {
            state = end;
            if (target === end) target = null;
            if (ref.states[end]!.target !== null) target = ref.states[end]!.target;
            if (wanted) target = wanted;
          }
          assert.equal(m.currentState, state);
          assert.equal(m.targetState, target);
          assert.ok(Object.hasOwn(ref.states, m.currentState), 'state is one of the 30');
          assert.ok(m.targetState === null || ref.states[m.targetState]!.stable, 'target is null or stable');
        }
      }),
      { numRuns: runs },
    );
  });
});

describe('cost', () => {
  test('copy() + initialize() is well under 1 µs amortised', () => {
    const iterations = 100_000;
    let best = Number.POSITIVE_INFINITY;
    // Best of several rounds: the first ones warm the JIT, and the minimum shrugs off a busy machine.
    for (let round = 0; round < 7; round++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) {
        if (provisionMachine.copy().initialize(states.DEPLOYING, states.ACTIVE).isErr()) assert.fail('initialize');
      }
      best = Math.min(best, Number(process.hrtime.bigint() - started) / iterations);
    }
    assert.ok(best < 1000, `copy + initialize took ${best.toFixed(1)} ns`);
  });
});
