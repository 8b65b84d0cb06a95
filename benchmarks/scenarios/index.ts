/**
 * Every scenario, in the order the harness runs them. `raw-floor` comes first so that the summary
 * can express every other figure as a ratio to it.
 */
import type { ScenarioModule } from '../lib/scenario.js';
import * as checkpointStall from './checkpoint-stall.js';
import * as contention from './contention.js';
import * as exclusiveCycle from './exclusive-cycle.js';
import * as exclusivePorts from './exclusive-ports.js';
import * as fleetScale from './fleet-scale.js';
import * as processEvent from './process-event.js';
import * as rawFloor from './raw-floor.js';
import * as sharedCycle from './shared-cycle.js';
import * as spawnAfter from './spawn-after.js';

export const SCENARIOS: Readonly<Record<string, ScenarioModule>> = {
  'raw-floor': rawFloor,
  'exclusive-cycle': exclusiveCycle,
  'shared-cycle': sharedCycle,
  'exclusive-ports': exclusivePorts,
  'process-event': processEvent,
  contention,
  'spawn-after': spawnAfter,
  'fleet-scale': fleetScale,
  'checkpoint-stall': checkpointStall,
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS);
