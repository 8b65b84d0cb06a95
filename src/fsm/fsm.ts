/**
 * A finite state machine with Ironic's additions: stable states and target states
 * (`ironic/common/fsm.py` over `automaton.machines.FiniteMachine`).
 *
 * Defining a machine wrongly (unknown states, duplicates, modifying a frozen machine) is a bug and
 * throws. Running it (initialize, processEvent, isStable) returns neverthrow Results carrying
 * `InvalidState` with automaton's/Ironic's messages, because those failures depend on data (the
 * node's stored state, the event a caller asks for).
 *
 * Copies are cheap: every copy shares one definition (states and transitions) with its original.
 * Once shared, a definition is never written again; a machine that is later extended clones it
 * first (copy-on-write), so neither the original nor other copies see the change.
 */
import { err, ok, type Result } from 'neverthrow';
import { Duplicate, InvalidState } from '../errors.js';

/** Watcher called with the state being entered (onEnter) or left (onExit) and the event causing it. */
export type StateHook<S extends string = string, E extends string = string> = (state: S, event: E) => void;

/** Options of `FSM.addState` (Ironic's `add_state` keyword arguments). */
export interface StateOptions<S extends string = string, E extends string = string> {
  /** A stable (passive) state: the machine rests here until a request arrives. Default false. */
  stable?: boolean;
  /** Default target set on entering this state; must already exist and be stable. */
  target?: S | null;
  /** No transition may leave a terminal state. Default false (no Ironic state is terminal). */
  terminal?: boolean;
  /** Called when a transition enters this state (not on initialize). */
  onEnter?: StateHook<S, E> | null;
  /** Called when a transition leaves this state. */
  onExit?: StateHook<S, E> | null;
}

/** The stored record of one state. */
export interface StateRecord<S extends string = string, E extends string = string> {
  readonly stable: boolean;
  readonly target: S | null;
  readonly terminal: boolean;
  readonly onEnter: StateHook<S, E> | null;
  readonly onExit: StateHook<S, E> | null;
}

/** One allowed transition: `start --event--> end`. */
export interface Transition<S extends string = string, E extends string = string> {
  readonly start: S;
  readonly event: E;
  readonly end: S;
}

/** Options of `FSM.copy`. */
export interface CopyOptions {
  /** Give the copy of a frozen machine the right to be extended (automaton's `unfreeze`). */
  unfreeze?: boolean;
}

/** Ironic renders a missing state as Python's `None` in its messages; keep the text identical. */
function show(value: string | null | undefined): string {
  return value == null ? 'None' : value;
}

/** States and transitions of a machine; shared by copies and treated as immutable once shared. */
class Definition<S extends string, E extends string> {
  readonly states: Map<S, StateRecord<S, E>>;
  /** start -> event -> end, for the O(1) lookup in processEvent. */
  readonly table: Map<S, Map<E, S>>;
  /** Every transition in insertion order (automaton iterates per state; we keep global order). */
  readonly transitions: Transition<S, E>[];
  /** Distinct events, in the order they first appeared in a transition. */
  readonly events: E[];
  defaultStartState: S | null;

  constructor(
    states = new Map<S, StateRecord<S, E>>(),
    table = new Map<S, Map<E, S>>(),
    transitions: Transition<S, E>[] = [],
    events: E[] = [],
    defaultStartState: S | null = null,
  ) {
    this.states = states;
    this.table = table;
    this.transitions = transitions;
    this.events = events;
    this.defaultStartState = defaultStartState;
  }

  clone(): Definition<S, E> {
    const table = new Map<S, Map<E, S>>();
    for (const [state, reactions] of this.table) table.set(state, new Map(reactions));
    // Records and transitions are frozen objects, so sharing them between clones is safe.
    return new Definition(new Map(this.states), table, [...this.transitions], [...this.events], this.defaultStartState);
  }
}

/** The definition of a machine nobody has extended yet; never written (owners clone it first). */
const EMPTY_DEFINITION = new Definition<string, string>();

/** The empty definition at any type: sound because it is empty and never written. */
function emptyDefinition<S extends string, E extends string>(): Definition<S, E> {
  return EMPTY_DEFINITION as unknown as Definition<S, E>;
}

/** Ironic's FSM: a finite state machine with stable states and a tracked target state. */
export class FSM<S extends string = string, E extends string = string> {
  #def: Definition<S, E> = emptyDefinition();
  /** False while `#def` may be shared with another machine: clone it before any write. */
  #owned = false;
  #frozen = false;
  #current: S | null = null;
  #target: S | null = null;

  /** The current state, or null before `initialize`. */
  get currentState(): S | null {
    return this.#current;
  }

  /** The target (stable) state the machine is heading for, or null. */
  get targetState(): S | null {
    return this.#target;
  }

  /** True once `freeze()` was called: no more states or transitions may be added. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** State names in insertion order. */
  get states(): readonly S[] {
    return [...this.#def.states.keys()];
  }

  /**
   * Distinct event names in the order they first appear in a transition. (automaton's `events`
   * property is a count of transitions instead; `transitions().length` gives that.)
   */
  get events(): readonly E[] {
    return [...this.#def.events];
  }

  /** The state `initialize()` uses when given none; null (Ironic never sets one). */
  get defaultStartState(): S | null {
    return this.#def.defaultStartState;
  }

  /** Set the default start state. Throws InvalidState for an unknown state or a frozen machine. */
  set defaultStartState(state: S) {
    this.#assertNotFrozen();
    if (!this.#def.states.has(state)) {
      throw new InvalidState(`Can not set the default start state to undefined state '${show(state)}'`, { state });
    }
    this.#writable().defaultStartState = state;
  }

  /** Every transition as `{start, event, end}`, in insertion order. */
  transitions(): readonly Transition<S, E>[] {
    return [...this.#def.transitions];
  }

  /** True if `state` is a state of this machine (a type guard for values read from storage). */
  hasState(state: string): state is S {
    return this.#def.states.has(state as S);
  }

  /** Whether `state` is stable; errs with InvalidState "State '%s' does not exist" for an unknown state. */
  isStable(state: string): Result<boolean, InvalidState> {
    const record = this.#def.states.get(state as S);
    if (record === undefined) return err(new InvalidState(`State '${show(state)}' does not exist`, { state }));
    return ok(record.stable);
  }

  /** The default target of a known state (null if it has none). Throws for an unknown state. */
  defaultTarget(state: S): S | null {
    return this.#record(state).target;
  }

  /** Whether a known state is terminal. Throws for an unknown state. */
  isTerminal(state: S): boolean {
    return this.#record(state).terminal;
  }

  /**
   * Add a state. The target, if any, must already exist and be stable. Throws InvalidState for a
   * bad target or a frozen machine, and Duplicate if the state exists.
   */
  addState(state: S, options: StateOptions<S, E> = {}): void {
    const target = options.target ?? null;
    const invalidTarget = this.#targetError(target);
    if (invalidTarget !== null) throw invalidTarget;
    this.#assertNotFrozen();
    if (this.#def.states.has(state)) throw new Duplicate(`State '${state}' already defined`, { state });
    const onEnter = options.onEnter ?? null;
    const onExit = options.onExit ?? null;
    // Guards for untyped callers (automaton's ValueError).
    if (onEnter !== null && typeof onEnter !== 'function') throw new TypeError('On enter callback must be callable');
    if (onExit !== null && typeof onExit !== 'function') throw new TypeError('On exit callback must be callable');
    const def = this.#writable();
    def.states.set(state, Object.freeze({ stable: options.stable ?? false, target, terminal: options.terminal ?? false, onEnter, onExit }));
    def.table.set(state, new Map());
  }

  /**
   * Allow `start --event--> end`. Throws InvalidState for an unknown start or end, a terminal start
   * or a frozen machine; Duplicate if (start, event) already leads elsewhere. Re-adding the same
   * transition is accepted and changes nothing.
   */
  addTransition(start: S, end: S, event: E): void {
    this.#assertNotFrozen();
    const startRecord = this.#def.states.get(start);
    if (startRecord === undefined) {
      throw new InvalidState(`Can not add a transition on event '${event}' that starts in a undefined state '${show(start)}'`, {
        start,
        end,
        event,
      });
    }
    if (!this.#def.states.has(end)) {
      throw new InvalidState(`Can not add a transition on event '${event}' that ends in a undefined state '${show(end)}'`, {
        start,
        end,
        event,
      });
    }
    if (startRecord.terminal) {
      throw new InvalidState(`Can not add a transition on event '${event}' that starts in the terminal state '${start}'`, {
        start,
        end,
        event,
      });
    }
    const existing = this.#def.table.get(start)?.get(event);
    if (existing !== undefined) {
      if (existing === end) return;
      throw new Duplicate(
        `Cannot add transition from '${start}' to '${end}' on event '${event}' because a transition from ` +
          `'${start}' to '${existing}' on event '${event}' already exists.`,
        { start, end, event, existingEnd: existing },
      );
    }
    const def = this.#writable();
    def.table.get(start)!.set(event, end);
    def.transitions.push(Object.freeze({ start, event, end }));
    if (!def.events.includes(event)) def.events.push(event);
  }

  /** Stop any further change to the states and transitions (automaton's `freeze`). */
  freeze(): void {
    this.#frozen = true;
  }

  /**
   * Put the machine in `startState` (default: `defaultStartState`) heading for `targetState`, or,
   * when that is null/empty, for the start state's default target. Takes plain strings because the
   * values usually come from the database.
   *
   * Errs with InvalidState for an unknown or terminal start state and for a target that does not
   * exist or is not stable. Like Ironic, the start state is set **before** the target is checked:
   * after a bad target the machine is in `startState` and keeps its previous target.
   */
  initialize(startState?: string | null, targetState?: string | null): Result<void, InvalidState> {
    const start = startState ?? this.#def.defaultStartState;
    const record = start == null ? undefined : this.#def.states.get(start as S);
    if (record === undefined) {
      return err(new InvalidState(`Can not start from a undefined state '${show(start)}'`, { state: start ?? null }));
    }
    if (record.terminal) {
      return err(new InvalidState(`Can not start from a terminal state '${start}'`, { state: start }));
    }
    this.#current = start as S;
    const invalidTarget = this.#targetError(targetState ?? null);
    if (invalidTarget !== null) return err(invalidTarget);
    this.#target = (targetState || record.target) as S | null;
    return ok(undefined);
  }

  /**
   * Apply `event`: call the old state's onExit and the new state's onEnter, move, then update the
   * target as Ironic does: reaching the target clears it, and entering a state with a default target
   * **overwrites** the carried target. A truthy `targetState` then replaces the target.
   *
   * Errs with InvalidState if the machine is not initialised, sits in a terminal state, or has no
   * transition for (current, event); the machine is unchanged then. It also errs when `targetState`
   * does not exist or is not stable, but (Ironic's order) only after the transition has happened:
   * the machine is in the new state with the new state's default target.
   */
  processEvent(event: E, targetState?: S | null): Result<void, InvalidState> {
    const current = this.#current;
    if (current === null) {
      return err(new InvalidState(`Can not process event '${event}'; the state machine hasn't been initialized`, { event }));
    }
    const states = this.#def.states;
    const currentRecord = states.get(current)!;
    if (currentRecord.terminal) {
      return err(
        new InvalidState(`Can not transition from terminal state '${current}' on event '${event}'`, {
          state: current,
          event,
        }),
      );
    }
    const next = this.#def.table.get(current)!.get(event);
    if (next === undefined) {
      return err(
        new InvalidState(`Can not transition from state '${current}' on event '${event}' (no defined transition)`, {
          state: current,
          event,
        }),
      );
    }
    const nextRecord = states.get(next)!;
    // automaton calls the watchers before moving: a throwing watcher leaves the machine where it was.
    currentRecord.onExit?.(current, event);
    nextRecord.onEnter?.(next, event);
    this.#current = next;
    // Ironic's _post_process_event.
    if (this.#target !== null && this.#target === next) this.#target = null;
    if (nextRecord.target !== null) this.#target = nextRecord.target;
    if (targetState) {
      const invalidTarget = this.#targetError(targetState);
      if (invalidTarget !== null) return err(invalidTarget);
      this.#target = targetState;
    }
    return ok(undefined);
  }

  /**
   * A new, uninitialised machine with the same states and transitions (shared, copy-on-write) and
   * the same frozen flag unless `unfreeze` is set. Costs one small object: meant for every task.
   */
  copy(options?: CopyOptions): FSM<S, E> {
    const machine = new FSM<S, E>();
    machine.#def = this.#def;
    // From now on both machines share the definition; whichever writes first clones it.
    this.#owned = false;
    machine.#frozen = this.#frozen && options?.unfreeze !== true;
    return machine;
  }

  #record(state: S): StateRecord<S, E> {
    const record = this.#def.states.get(state);
    if (record === undefined) throw new InvalidState(`State '${show(state)}' does not exist`, { state });
    return record;
  }

  /** Ironic's `_validate_target_state`: null is fine; else it must exist and be stable. */
  #targetError(target: string | null): InvalidState | null {
    if (target === null) return null;
    const record = this.#def.states.get(target as S);
    if (record === undefined) return new InvalidState(`Target state '${target}' does not exist`, { target });
    if (!record.stable) return new InvalidState(`Target state '${target}' is not a 'stable' state`, { target });
    return null;
  }

  #assertNotFrozen(): void {
    if (this.#frozen) throw new InvalidState("Frozen machine can't be modified");
  }

  /** The definition, safe to write: checks the frozen flag and clones a shared definition first. */
  #writable(): Definition<S, E> {
    this.#assertNotFrozen();
    if (!this.#owned) {
      this.#def = this.#def.clone();
      this.#owned = true;
    }
    return this.#def;
  }
}
