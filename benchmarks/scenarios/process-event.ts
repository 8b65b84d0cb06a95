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
 *    `with acquire(ctx, node) as task: task.process_event(ev)` (driver built);
 *  - `held-task c=64`: 64 callers, one node and one held task each, each in its own closed loop
 *    (ops/s is the total; latency includes the queueing among callers);
 *  - `held-task file-sync`, `held-task file-sync c=64`, `held-task file-batched`,
 *    `held-task file-batched c=64`: the same on a durable file store (`store: { path, durability }`
 *    in a fresh temporary directory, removed afterwards): `'sync'` resolves each save once it is
 *    fsynced, `'batched'` once applied (durable within `maxDelayMs`, default 50 ms). `vsMemory` in
 *    extra: µs per op divided by the in-memory variant's with the same callers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConductorInit } from '../../dist/actors/conductor.js';
import { createRequestContext } from '../../dist/src/context.js';
import type { ExclusiveTask } from '../../dist/src/task/types.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { closedLoop, concurrentLoop, loopPlan, loopResult, must } from '../lib/measure.js';
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

/** Concurrent callers of the `c=` variants. */
export const CONCURRENCY = 64;

type Durability = 'sync' | 'batched';

/**
 * `callers` held tasks (one node each) on a conductor opened with `init`; each caller steps its own
 * task in a closed loop (one caller: `closedLoop`, else `concurrentLoop`).
 */
async function heldTasks(init: ConductorInit, callers: number, variant: string, store: string, quick: boolean): Promise<ScenarioResult> {
  return withConductor(init, async (conductor) => {
    const nodes = await enrollNodes(conductor, callers, { provisionState: START_STATE });
    const ctx = createRequestContext();
    const tasks: ExclusiveTask[] = [];
    for (const node of nodes) tasks.push(await orThrow(conductor.acquire(ctx, node.id, { purpose: 'bench' })));
    const counters = tasks.map(() => 0);
    const op = (c: number): Promise<void> => step(tasks[c]!, counters[c]!++);
    const measure = callers === 1 ? await closedLoop(() => op(0), loopPlan(quick)) : await concurrentLoop(callers, op, loopPlan(quick));
    // Leave every node where it started, then release.
    for (let c = 0; c < callers; c++) {
      if (counters[c]! % 2 === 1) await op(c);
      must(await tasks[c]!.release());
    }
    return loopResult('process-event', variant, measure, { cycle: 'inspect/done', store, callers });
  });
}

/** `heldTasks` on a file store in a fresh temporary directory, removed afterwards. */
async function heldTasksOnFile(durability: Durability, callers: number, variant: string, quick: boolean): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(tmpdir(), 'mc-bench-process-event-'));
  try {
    return await heldTasks({ store: { path: join(dir, 'nodes.sqlite'), durability } }, callers, variant, `file, ${durability}`, quick);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const perOpUs = (r: ScenarioResult): number => 1e6 / r.opsPerSec;

/** The file variant with `vsMemory`: its µs per op over the in-memory variant's (same callers). */
function versusMemory(file: ScenarioResult, memory: ScenarioResult): ScenarioResult {
  return { ...file, extra: { ...file.extra, vsMemory: Math.round((perOpUs(file) / perOpUs(memory)) * 100) / 100 } };
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const memory1 = await heldTasks({}, 1, 'held-task', 'memory', quick);
  results.push(memory1);
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
  const memoryN = await heldTasks({}, CONCURRENCY, `held-task c=${CONCURRENCY}`, 'memory', quick);
  results.push(memoryN);
  for (const durability of ['sync', 'batched'] as const) {
    results.push(versusMemory(await heldTasksOnFile(durability, 1, `held-task file-${durability}`, quick), memory1));
    results.push(
      versusMemory(await heldTasksOnFile(durability, CONCURRENCY, `held-task file-${durability} c=${CONCURRENCY}`, quick), memoryN),
    );
  }
  return results;
}
