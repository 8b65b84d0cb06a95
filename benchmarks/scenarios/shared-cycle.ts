/**
 * `shared-cycle`: one caller, one node; each operation acquires a shared task and releases it
 * (Ironic: `with task_manager.acquire(ctx, node_id, shared=True): pass`). A shared task takes no
 * reservation and never enters the node's mailbox: it reads the node actor's published snapshot.
 * Variants with and without building the driver (Ironic builds it by default).
 */
import { createRequestContext } from '../../src/context.ts';
import { orThrow } from '../../src/task/scope.ts';
import { enrollNodes, withConductor } from '../lib/conductor.ts';
import { closedLoop, loopPlan, loopResult, must } from '../lib/measure.ts';
import type { ScenarioResult } from '../lib/result.ts';
import type { ScenarioOptions } from '../lib/scenario.ts';

export const description = 'acquire shared + release on one node (snapshot read, no store access)';

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const loadDriver of [true, false]) {
    results.push(
      await withConductor({}, async (conductor) => {
        const [node] = await enrollNodes(conductor, 1);
        const ctx = createRequestContext();
        const id = node!.id;
        const measure = await closedLoop(async () => {
          const task = await orThrow(conductor.acquire(ctx, id, { shared: true, loadDriver, purpose: 'bench' }));
          must(await task.release());
        }, loopPlan(quick));
        return loopResult('shared-cycle', `loadDriver=${loadDriver}`, measure);
      }),
    );
  }
  return results;
}
