/**
 * What a scenario module exports. `bench:ironic` imports the same modules to measure our side in
 * the same run as the real Ironic, so `run` takes nothing but `quick`.
 */
import type { ScenarioResult } from './result.js';

/** Options every scenario accepts. */
export interface ScenarioOptions {
  /** Smoke run (CI): a fraction of a second per variant, no meaningful timings. */
  readonly quick: boolean;
}

/** A scenario module. */
export interface ScenarioModule {
  /** Measure; one result per variant. Opens and stops its own conductors. */
  run(options: ScenarioOptions): Promise<ScenarioResult[]>;
  /** One line: what one operation is. */
  readonly description: string;
  /**
   * True if some of the scenario's figures are retained heap (they force a full GC where they
   * measure, through `collectGarbage()`). Informational: nothing is re-executed for it.
   */
  readonly needsGc?: boolean;
}
