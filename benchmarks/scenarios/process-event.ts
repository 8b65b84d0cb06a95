/**
 * `process-event`: one saved provision-state transition per operation, without a callback.
 *
 * The cycle: `manageable --inspect--> inspecting --done--> manageable`, alternating. Both are legal
 * transitions of Ironic's machine (src/states/provision-machine.ts: "Inspection: initiate, finish")
 * that need no background work; `inspecting` is not stable, so its target (`manageable`) is saved
 * with it, and `manageable` is stable, so the target is cleared. Every operation is one
 * `process_event` with its FSM step, one node UPDATE through the node actor and a new snapshot.
 * (available ⇄ manageable cannot cycle without a callback: `provide` goes to cleaning, then
 * `done`, three saves per round trip.)
 *
 * Variants:
 *  - `held-task`: one exclusive task held throughout; an operation is `task.processEvent(ev)` only;
 *  - `acquire+event+release`: an operation is Ironic's usual shape,
 *    `with acquire(ctx, node) as task: task.process_event(ev)` (driver built).
 */
import { createRequestContext } from '../../dist/src/context.js';
import type { ExclusiveTask } from '../../dist/src/task/types.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { closedLoop, loopPlan, loopResult, must } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'one saved transition per op: manageable -inspect-> inspecting -done-> manageable';

/** The two events of the cycle and the state each one leads to. */
export const CYCLE = [
  { event: 'inspect', to: 'inspecting' },
  { event: 'done', to: 'manageable' },
] as const;
/** The state the node starts in. */
export const START_STATE = 'manageable';

async function step(task: ExclusiveTask, i: number): Promise<void> {
  const { event, to } = CYCLE[i % 2]!;
  const saved = await orThrow(task.processEvent(event));
  if (saved.provision_state !== to) throw new Error(`process-event: expected ${to}, got ${saved.provision_state}`);
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  results.push(
    await withConductor({}, async (conductor) => {
      const [node] = await enrollNodes(conductor, 1, { provisionState: START_STATE });
      const ctx = createRequestContext();
      const task = await orThrow(conductor.acquire(ctx, node!.id, { purpose: 'bench' }));
      let i = 0;
      const measure = await closedLoop(() => step(task, i++), loopPlan(quick));
      // Leave the node where it started, then release.
      if (i % 2 === 1) await step(task, i++);
      must(await task.release());
      return loopResult('process-event', 'held-task', measure, { cycle: 'inspect/done' });
    }),
  );
  results.push(
    await withConductor({}, async (conductor) => {
      const [node] = await enrollNodes(conductor, 1, { provisionState: START_STATE });
      const ctx = createRequestContext();
      const id = node!.id;
      let i = 0;
      const measure = await closedLoop(async () => {
        const task = await orThrow(conductor.acquire(ctx, id, { purpose: 'bench' }));
        await step(task, i++);
        must(await task.release());
      }, loopPlan(quick));
      return loopResult('process-event', 'acquire+event+release', measure, { cycle: 'inspect/done' });
    }),
  );
  return results;
}
