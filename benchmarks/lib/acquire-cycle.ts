/**
 * The acquire + release cycle shared by `exclusive-cycle` and `shared-cycle`: one caller, one
 * node, variants with and without building the driver (`loadDriver`).
 */
import { createRequestContext } from '../../dist/src/context.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from './conductor.js';
import { closedLoop, loopPlan, loopResult, must } from './measure.js';
import type { ScenarioResult } from './result.js';

/** Measure acquire (shared or exclusive) + release, once with and once without the driver. */
export async function acquireCycle(scenario: string, shared: boolean, quick: boolean): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const loadDriver of [true, false]) {
    results.push(
      await withConductor({}, async (conductor) => {
        const [node] = await enrollNodes(conductor, 1);
        const ctx = createRequestContext();
        const id = node!.id;
        const measure = await closedLoop(async () => {
          const task = await orThrow(conductor.acquire(ctx, id, { shared, loadDriver, purpose: 'bench' }));
          must(await task.release());
        }, loopPlan(quick));
        return loopResult(scenario, `loadDriver=${loadDriver}`, measure);
      }),
    );
  }
  return results;
}
