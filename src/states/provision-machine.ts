/**
 * The provision state machine, written out as Ironic's `ironic/common/state_machine.py` writes it
 * (same add_state/add_transition calls, same order): 30 states, 18 events, 93 transitions. It is
 * built once into a frozen prototype; every task runs on a cheap copy of it (`newProvisionFsm`).
 *
 * The on_enter/on_exit watchers log at debug level through a sink set with
 * `setStateWatcherLog` (Ironic logs them through a module logger). No sink, no cost beyond a check;
 * this module stays free of logging dependencies.
 */
import { FSM } from '../fsm/fsm.js';
import { STABLE_STATES } from './groups.js';
import type { ProvisionEvent, ProvisionState } from './provision-states.js';
import * as st from './provision-states.js';

/** Receives the watchers' debug lines (Ironic's message text) with the state and event as fields. */
export type StateWatcherLog = (message: string, fields: { state: ProvisionState; event: ProvisionEvent }) => void;

let watcherLog: StateWatcherLog | null = null;

/**
 * Route the machine's on_enter/on_exit debug lines to `log` (null: drop them). Process-wide, like
 * Ironic's module logger, because the watchers belong to the shared machine definition. Returns the
 * previous sink so that callers (tests) can restore it.
 */
export function setStateWatcherLog(log: StateWatcherLog | null): StateWatcherLog | null {
  const previous = watcherLog;
  watcherLog = log;
  return previous;
}

function onExit(oldState: ProvisionState, event: ProvisionEvent): void {
  watcherLog?.(`Exiting old state '${oldState}' in response to event '${event}'`, { state: oldState, event });
}

function onEnter(newState: ProvisionState, event: ProvisionEvent): void {
  watcherLog?.(`Entering new state '${newState}' in response to event '${event}'`, { state: newState, event });
}

function buildMachine(): FSM<ProvisionState, ProvisionEvent> {
  const watchers = { onEnter, onExit };
  const machine = new FSM<ProvisionState, ProvisionEvent>();

  // Add stable states
  for (const state of STABLE_STATES) machine.addState(state, { stable: true, ...watchers });

  // Add verifying state
  machine.addState(st.VERIFYING, { target: st.MANAGEABLE, ...watchers });

  // Add deploy* states
  machine.addState(st.DEPLOYING, { target: st.ACTIVE, ...watchers });
  machine.addState(st.DEPLOYWAIT, { target: st.ACTIVE, ...watchers });
  machine.addState(st.DEPLOYFAIL, { target: st.ACTIVE, ...watchers });
  machine.addState(st.DEPLOYHOLD, { target: st.ACTIVE, ...watchers });

  // Add clean* states
  machine.addState(st.CLEANING, { target: st.AVAILABLE, ...watchers });
  machine.addState(st.CLEANWAIT, { target: st.AVAILABLE, ...watchers });
  machine.addState(st.CLEANFAIL, { target: st.AVAILABLE, ...watchers });
  machine.addState(st.CLEANHOLD, { target: st.AVAILABLE, ...watchers });

  // Add delete* states
  machine.addState(st.DELETING, { target: st.AVAILABLE, ...watchers });

  // From AVAILABLE, a deployment may be started
  machine.addTransition(st.AVAILABLE, st.DEPLOYING, 'deploy');

  // Add inspect* states
  machine.addState(st.INSPECTING, { target: st.MANAGEABLE, ...watchers });
  machine.addState(st.INSPECTFAIL, { target: st.MANAGEABLE, ...watchers });
  machine.addState(st.INSPECTWAIT, { target: st.MANAGEABLE, ...watchers });

  // Add adopt* states
  machine.addState(st.ADOPTING, { target: st.ACTIVE, ...watchers });
  machine.addState(st.ADOPTFAIL, { target: st.ACTIVE, ...watchers });

  // Rescue states
  machine.addState(st.RESCUING, { target: st.RESCUE, ...watchers });
  machine.addState(st.RESCUEWAIT, { target: st.RESCUE, ...watchers });
  machine.addState(st.RESCUEFAIL, { target: st.RESCUE, ...watchers });
  machine.addState(st.UNRESCUING, { target: st.ACTIVE, ...watchers });
  machine.addState(st.UNRESCUEFAIL, { target: st.ACTIVE, ...watchers });

  // A deployment may fail
  machine.addTransition(st.DEPLOYING, st.DEPLOYFAIL, 'fail');
  // A failed deployment may be retried (do_node_deploy); Juno also allows 'deploy' for a rebuild
  machine.addTransition(st.DEPLOYFAIL, st.DEPLOYING, 'rebuild');
  machine.addTransition(st.DEPLOYFAIL, st.DEPLOYING, 'deploy');
  // A deployment may also wait on external callbacks, or be held
  machine.addTransition(st.DEPLOYING, st.DEPLOYWAIT, 'wait');
  machine.addTransition(st.DEPLOYING, st.DEPLOYHOLD, 'hold');
  machine.addTransition(st.DEPLOYWAIT, st.DEPLOYHOLD, 'hold');
  machine.addTransition(st.DEPLOYWAIT, st.DEPLOYING, 'resume');
  // A deployment waiting on callback may time out
  machine.addTransition(st.DEPLOYWAIT, st.DEPLOYFAIL, 'fail');
  // Return the node into a deploying state from holding
  machine.addTransition(st.DEPLOYHOLD, st.DEPLOYWAIT, 'unhold');
  // A node in deploy hold may also be aborted
  machine.addTransition(st.DEPLOYHOLD, st.DEPLOYFAIL, 'abort');
  // A deployment waiting on callback may be aborted (new at Ironic HEAD, commit 128fdc5fc)
  machine.addTransition(st.DEPLOYWAIT, st.DEPLOYFAIL, 'abort');
  // A deployment may complete
  machine.addTransition(st.DEPLOYING, st.ACTIVE, 'done');
  // An active instance may be re-deployed (do_node_deploy)
  machine.addTransition(st.ACTIVE, st.DEPLOYING, 'rebuild');
  // An active instance may be deleted (do_node_tear_down)
  machine.addTransition(st.ACTIVE, st.DELETING, 'delete');
  // While a deployment is waiting, it may be deleted
  machine.addTransition(st.DEPLOYWAIT, st.DELETING, 'delete');
  // A failed deployment may also be deleted
  machine.addTransition(st.DEPLOYFAIL, st.DELETING, 'delete');
  // This state can also transition to error
  machine.addTransition(st.DELETING, st.ERROR, 'fail');
  // When finished deleting, a node will begin cleaning
  machine.addTransition(st.DELETING, st.CLEANING, 'clean');
  // If cleaning succeeds, it becomes available for scheduling
  machine.addTransition(st.CLEANING, st.AVAILABLE, 'done');
  // If cleaning fails, wait for operator intervention
  machine.addTransition(st.CLEANING, st.CLEANFAIL, 'fail');
  machine.addTransition(st.CLEANWAIT, st.CLEANFAIL, 'fail');
  // While waiting for a clean step to be finished, cleaning may be aborted
  machine.addTransition(st.CLEANWAIT, st.CLEANFAIL, 'abort');
  // Cleaning may also wait on external callbacks, or be held
  machine.addTransition(st.CLEANING, st.CLEANWAIT, 'wait');
  machine.addTransition(st.CLEANING, st.CLEANHOLD, 'hold');
  machine.addTransition(st.CLEANWAIT, st.CLEANHOLD, 'hold');
  machine.addTransition(st.CLEANWAIT, st.CLEANING, 'resume');
  // A node in a clean hold step may also be aborted
  machine.addTransition(st.CLEANHOLD, st.CLEANFAIL, 'abort');
  // Return the node back to cleaning
  machine.addTransition(st.CLEANHOLD, st.CLEANWAIT, 'unhold');
  // An operator may move a CLEANFAIL node to MANAGEABLE, to perform other actions like cleaning
  machine.addTransition(st.CLEANFAIL, st.MANAGEABLE, 'manage');
  // From MANAGEABLE, a node may move to available after going through automated cleaning
  machine.addTransition(st.MANAGEABLE, st.CLEANING, 'provide');
  // From MANAGEABLE, a node may be manually cleaned, going back to manageable afterwards
  machine.addTransition(st.MANAGEABLE, st.CLEANING, 'clean');
  machine.addTransition(st.CLEANING, st.MANAGEABLE, 'manage');
  // From AVAILABLE, a node may be made unavailable by managing it
  machine.addTransition(st.AVAILABLE, st.MANAGEABLE, 'manage');
  // An errored instance can be rebuilt or deleted
  machine.addTransition(st.ERROR, st.DEPLOYING, 'rebuild');
  machine.addTransition(st.ERROR, st.DELETING, 'delete');

  // Inspection: initiate, finish, fail, go asynchronous
  machine.addTransition(st.MANAGEABLE, st.INSPECTING, 'inspect');
  machine.addTransition(st.INSPECTING, st.MANAGEABLE, 'done');
  machine.addTransition(st.INSPECTING, st.INSPECTFAIL, 'fail');
  machine.addTransition(st.INSPECTING, st.INSPECTWAIT, 'wait');
  // Asynchronous inspection is done, failed, aborted or continued
  machine.addTransition(st.INSPECTWAIT, st.MANAGEABLE, 'done');
  machine.addTransition(st.INSPECTWAIT, st.INSPECTFAIL, 'fail');
  machine.addTransition(st.INSPECTWAIT, st.INSPECTFAIL, 'abort');
  machine.addTransition(st.INSPECTWAIT, st.INSPECTING, 'resume');
  // Move a failed inspection to manageable for any other action, or inspect again
  machine.addTransition(st.INSPECTFAIL, st.MANAGEABLE, 'manage');
  machine.addTransition(st.INSPECTFAIL, st.INSPECTING, 'inspect');

  // A provisioned node may have a rescue initiated
  machine.addTransition(st.ACTIVE, st.RESCUING, 'rescue');
  // A rescue may succeed
  machine.addTransition(st.RESCUING, st.RESCUE, 'done');
  // A rescue may also wait on external callbacks
  machine.addTransition(st.RESCUING, st.RESCUEWAIT, 'wait');
  machine.addTransition(st.RESCUEWAIT, st.RESCUING, 'resume');
  // A rescued node may be re-rescued or deleted
  machine.addTransition(st.RESCUE, st.RESCUING, 'rescue');
  machine.addTransition(st.RESCUE, st.DELETING, 'delete');
  // A rescue may fail
  machine.addTransition(st.RESCUEWAIT, st.RESCUEFAIL, 'fail');
  machine.addTransition(st.RESCUING, st.RESCUEFAIL, 'fail');
  // While waiting for a rescue step to be finished, rescuing may be aborted
  machine.addTransition(st.RESCUEWAIT, st.RESCUEFAIL, 'abort');
  // A failed rescue may be re-rescued, unrescued or deleted
  machine.addTransition(st.RESCUEFAIL, st.RESCUING, 'rescue');
  machine.addTransition(st.RESCUEFAIL, st.UNRESCUING, 'unrescue');
  machine.addTransition(st.RESCUEFAIL, st.DELETING, 'delete');
  // A node waiting in rescue may be deleted
  machine.addTransition(st.RESCUEWAIT, st.DELETING, 'delete');
  // A rescued node may be unrescued
  machine.addTransition(st.RESCUE, st.UNRESCUING, 'unrescue');
  // Unrescuing may succeed or fail
  machine.addTransition(st.UNRESCUING, st.ACTIVE, 'done');
  machine.addTransition(st.UNRESCUING, st.UNRESCUEFAIL, 'fail');
  // A failed unrescue may be re-rescued, re-unrescued or deleted
  machine.addTransition(st.UNRESCUEFAIL, st.RESCUING, 'rescue');
  machine.addTransition(st.UNRESCUEFAIL, st.UNRESCUING, 'unrescue');
  machine.addTransition(st.UNRESCUEFAIL, st.DELETING, 'delete');

  // Start power credentials verification
  machine.addTransition(st.ENROLL, st.VERIFYING, 'manage');
  // Verification can succeed, or fail back to ENROLL (setting last_error)
  machine.addTransition(st.VERIFYING, st.MANAGEABLE, 'done');
  machine.addTransition(st.VERIFYING, st.ENROLL, 'fail');

  // Node adoption is attempted; it may succeed (ACTIVE) or fail into a dedicated state
  machine.addTransition(st.MANAGEABLE, st.ADOPTING, 'adopt');
  machine.addTransition(st.ADOPTING, st.ACTIVE, 'done');
  machine.addTransition(st.ADOPTING, st.ADOPTFAIL, 'fail');
  // A failed adoption may be retried, or the node moved back to manageable
  machine.addTransition(st.ADOPTFAIL, st.ADOPTING, 'adopt');
  machine.addTransition(st.ADOPTFAIL, st.MANAGEABLE, 'manage');

  // Add service* states
  machine.addState(st.SERVICING, { target: st.ACTIVE, ...watchers });
  machine.addState(st.SERVICEWAIT, { target: st.ACTIVE, ...watchers });
  machine.addState(st.SERVICEFAIL, { target: st.ACTIVE, ...watchers });
  machine.addState(st.SERVICEHOLD, { target: st.ACTIVE, ...watchers });

  // A node in service can be returned to active
  machine.addTransition(st.SERVICING, st.ACTIVE, 'done');
  // A node in active can be serviced
  machine.addTransition(st.ACTIVE, st.SERVICING, 'service');
  // A node in servicing can fail, wait or be held
  machine.addTransition(st.SERVICING, st.SERVICEFAIL, 'fail');
  machine.addTransition(st.SERVICING, st.SERVICEWAIT, 'wait');
  machine.addTransition(st.SERVICING, st.SERVICEHOLD, 'hold');
  machine.addTransition(st.SERVICEWAIT, st.SERVICEHOLD, 'hold');
  // A held node in service can get more service steps, or be released to wait
  machine.addTransition(st.SERVICEHOLD, st.SERVICING, 'service');
  machine.addTransition(st.SERVICEHOLD, st.SERVICEWAIT, 'unhold');
  // A node in service wait can resume
  machine.addTransition(st.SERVICEWAIT, st.SERVICING, 'resume');
  // Service wait and service hold can fail or be aborted
  machine.addTransition(st.SERVICEWAIT, st.SERVICEFAIL, 'fail');
  machine.addTransition(st.SERVICEHOLD, st.SERVICEFAIL, 'fail');
  machine.addTransition(st.SERVICEWAIT, st.SERVICEFAIL, 'abort');
  machine.addTransition(st.SERVICEHOLD, st.SERVICEFAIL, 'abort');
  // A failed service can re-enter service, be rescued, wait, be held or deleted
  machine.addTransition(st.SERVICEFAIL, st.SERVICING, 'service');
  machine.addTransition(st.SERVICEFAIL, st.RESCUING, 'rescue');
  machine.addTransition(st.SERVICEFAIL, st.SERVICEWAIT, 'wait');
  machine.addTransition(st.SERVICEFAIL, st.SERVICEHOLD, 'hold');
  machine.addTransition(st.SERVICEFAIL, st.DELETING, 'delete');
  // A failed service may be aborted (returned to active)
  machine.addTransition(st.SERVICEFAIL, st.ACTIVE, 'abort');
  // A node in service wait may be deleted
  machine.addTransition(st.SERVICEWAIT, st.DELETING, 'delete');

  // Deviation from Ironic (which never freezes): the shared prototype must not change under tasks.
  machine.freeze();
  return machine;
}

/** The provision state machine prototype (frozen, uninitialised). Run copies of it, never it. */
export const provisionMachine: FSM<ProvisionState, ProvisionEvent> = buildMachine();

/** A fresh, uninitialised copy of the provision machine for one task (cheap: shares the tables). */
export function newProvisionFsm(): FSM<ProvisionState, ProvisionEvent> {
  return provisionMachine.copy();
}
