/**
 * `exclusive-cycle`: one caller, one node; each operation acquires an exclusive task and releases
 * it (Ironic: `with task_manager.acquire(ctx, node_id): pass`). Variants with and without building
 * the driver (`loadDriver`). Store work per cycle: the reserve and release conditional UPDATEs.
 */
import { acquireCycle } from '../lib/acquire-cycle.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'acquire exclusive + release on one node (reserve + release UPDATEs)';

export function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  return acquireCycle('exclusive-cycle', false, quick);
}
