/**
 * Every scenario, in the order the harness runs them. `raw-floor` comes first so that the summary
 * can express every other figure as a ratio to it.
 */
import type { ScenarioModule } from '../lib/scenario.ts';
import * as contention from './contention.ts';
import * as exclusiveCycle from './exclusive-cycle.ts';
import * as exclusivePorts from './exclusive-ports.ts';
import * as fleetScale from './fleet-scale.ts';
import * as processEvent from './process-event.ts';
import * as rawFloor from './raw-floor.ts';
import * as sharedCycle from './shared-cycle.ts';
import * as spawnAfter from './spawn-after.ts';

export const SCENARIOS: Readonly<Record<string, ScenarioModule>> = {
  'raw-floor': rawFloor,
  'exclusive-cycle': exclusiveCycle,
  'shared-cycle': sharedCycle,
  'exclusive-ports': exclusivePorts,
  'process-event': processEvent,
  contention,
  'spawn-after': spawnAfter,
  'fleet-scale': fleetScale,
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS);
