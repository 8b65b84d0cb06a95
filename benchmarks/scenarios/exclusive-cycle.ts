/**
 * `exclusive-cycle`: one caller, one node; each operation acquires an exclusive task and releases
 * it (Ironic: `with task_manager.acquire(ctx, node_id): pass`). Variants with and without building
 * the driver (`loadDriver`). Store work per cycle: the reserve and release conditional UPDATEs.
 */
import { createRequestContext } from '../../src/context.ts';
import { orThrow } from '../../src/task/scope.ts';
import { enrollNodes, withConductor } from '../lib/conductor.ts';
import { closedLoop, loopPlan, loopResult, must } from '../lib/measure.ts';
import type { ScenarioResult } from '../lib/result.ts';
import type { ScenarioOptions } from '../lib/scenario.ts';

export const description = 'acquire exclusive + release on one node (reserve + release UPDATEs)';

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const loadDriver of [true, false]) {
    results.push(
      await withConductor({}, async (conductor) => {
        const [node] = await enrollNodes(conductor, 1);
        const ctx = createRequestContext();
        const id = node!.id;
        const measure = await closedLoop(async () => {
          const task = await orThrow(conductor.acquire(ctx, id, { loadDriver, purpose: 'bench' }));
          must(await task.release());
        }, loopPlan(quick));
        return loopResult('exclusive-cycle', `loadDriver=${loadDriver}`, measure);
      }),
    );
  }
  return results;
}
