/**
 * `exclusive-ports`: one caller, one node with 2 ports; each operation acquires an exclusive task
 * (driver built, as Ironic's default), loads its ports (`task.ports()`, Ironic `task.ports`) and
 * releases. Store work per cycle: reserve UPDATE, ports SELECT, release UPDATE.
 */
import { createRequestContext } from '../../dist/src/context.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { closedLoop, loopPlan, loopResult, must } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'acquire exclusive + task.ports() (2 ports) + release';

/** Ports per node. */
export const PORTS_PER_NODE = 2;

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  return withConductor({}, async (conductor) => {
    const [node] = await enrollNodes(conductor, 1, { ports: PORTS_PER_NODE });
    const ctx = createRequestContext();
    const id = node!.id;
    const measure = await closedLoop(async () => {
      const task = await orThrow(conductor.acquire(ctx, id, { purpose: 'bench' }));
      const ports = await orThrow(task.ports());
      if (ports.length !== PORTS_PER_NODE) throw new Error(`expected ${PORTS_PER_NODE} ports, got ${ports.length}`);
      must(await task.release());
    }, loopPlan(quick));
    return [loopResult('exclusive-ports', `ports=${PORTS_PER_NODE}`, measure)];
  });
}
