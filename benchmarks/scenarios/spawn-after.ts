/**
 * `spawn-after`: background tasks through worker actors (Ironic `task.spawn_after`).
 *
 * Variants:
 *  - `worker-spawn`: `WorkerSupervisor.spawn` alone (creates the worker actor, takes a pool slot);
 *    batches of 1000 spawns, the workers drained between batches;
 *  - `tasks c=1`: one caller, one node: `withTask(patient) { spawnAfter(noop) }` in a loop. The
 *    next acquire waits for the previous worker to run and release the lock, so ops/s is tasks per
 *    second until the lease is released; latency is acquire → scope exit (worker handed the lock);
 *  - `tasks c=64`: 64 callers, one node each, same loop; tasks/s counts until the last worker has
 *    released its lease (`conductor.onIdle()`).
 */
import { ActorRuntime } from '../../dist/actors/runtime.js';
import { WorkerSupervisor } from '../../dist/actors/worker-supervisor.js';
import { systemClock } from '../../dist/src/clock.js';
import type { Conductor } from '../../dist/actors/conductor.js';
import { createRequestContext, type RequestContext } from '../../dist/src/context.js';
import { silentLogger } from '../../dist/src/logging.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { closedLoop, latencyUs, loopPlan, loopResult, median, must, newHistogram, nowNs, rangeText, recordNs } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'background tasks through worker actors: acquire, spawnAfter(noop), worker runs and releases';

/** Concurrent callers (one node each) of the throughput variant. */
export const CONCURRENCY = 64;

async function workerSpawn(quick: boolean): Promise<ScenarioResult> {
  const batches = quick ? 1 : 20;
  const batch = 1000;
  const runtime = new ActorRuntime('bench-spawn', silentLogger());
  const supervisor = new WorkerSupervisor(runtime, null, silentLogger(), systemClock, {
    poolSize: batch + 10,
    reservedPercentage: 0,
    timeoutMs: 0,
  });
  const ctx = createRequestContext();
  const request = { name: 'noop', nodeUuid: 'n', purpose: 'bench', context: ctx, run: async () => {} };
  const h = newHistogram();
  try {
    // Warm-up batch, not recorded.
    for (let i = 0; i < batch; i++) must(supervisor.spawn(request));
    await supervisor.onIdle();
    let totalNs = 0n;
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < batch; i++) {
        const t0 = nowNs();
        const spawned = supervisor.spawn(request);
        const dt = nowNs() - t0;
        must(spawned);
        totalNs += dt;
        recordNs(h, dt);
      }
      await supervisor.onIdle();
    }
    const ops = batches * batch;
    const seconds = Number(totalNs) / 1e9;
    return {
      scenario: 'spawn-after',
      variant: 'worker-spawn',
      ops,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: Math.round(ops / seconds),
      latencyUs: latencyUs(h),
      histogram: h.toJson(),
      extra: { what: 'WorkerSupervisor.spawn call only' },
    };
  } finally {
    await runtime.shutdown();
  }
}

/** One task: acquire (patient: waits for the previous worker to release), schedule a no-op, leave the scope. */
function oneTask(conductor: Conductor, ctx: RequestContext, nodeId: number): Promise<void> {
  return orThrow(
    conductor.withTask(ctx, nodeId, { patient: true, purpose: 'bench' }, (task) => {
      task.spawnAfter(async function noop() {});
    }),
  );
}

async function serialTasks(quick: boolean): Promise<ScenarioResult> {
  return withConductor({}, async (conductor) => {
    const [node] = await enrollNodes(conductor, 1);
    const ctx = createRequestContext();
    const id = node!.id;
    const measure = await closedLoop(() => oneTask(conductor, ctx, id), loopPlan(quick));
    await conductor.onIdle();
    return loopResult('spawn-after', 'tasks c=1', measure, { latency: 'acquire -> worker spawned' });
  });
}

async function concurrentTasks(quick: boolean): Promise<ScenarioResult> {
  const perRound = quick ? 500 : 10_000;
  const rounds = quick ? 1 : 3;
  return withConductor({ workersPoolSize: Math.max(300, CONCURRENCY * 2) }, async (conductor) => {
    const nodes = await enrollNodes(conductor, CONCURRENCY);
    const ctx = createRequestContext();
    const h = newHistogram();
    let record = false;
    const phase = async (total: number): Promise<number> => {
      let next = 0;
      const caller = async (nodeId: number): Promise<void> => {
        while (next < total) {
          next += 1;
          const t0 = nowNs();
          await oneTask(conductor, ctx, nodeId);
          if (record) recordNs(h, nowNs() - t0);
        }
      };
      const start = nowNs();
      await Promise.all(nodes.map((n) => caller(n.id)));
      await conductor.onIdle(); // the last workers released their leases
      return Number(nowNs() - start) / 1e9;
    };
    await phase(Math.ceil(perRound / 5)); // warm-up
    record = true;
    const rates: number[] = [];
    let seconds = 0;
    for (let r = 0; r < rounds; r++) {
      const s = await phase(perRound);
      seconds += s;
      rates.push(Math.round(perRound / s));
    }
    const range = rangeText(rates);
    return {
      scenario: 'spawn-after',
      variant: `tasks c=${CONCURRENCY}`,
      ops: perRound * rounds,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: Math.round(median(rates)),
      latencyUs: latencyUs(h),
      histogram: h.toJson(),
      extra: { latency: 'acquire -> worker spawned', ...(range === '' ? {} : { opsPerSecRange: range }) },
    };
  });
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  return [await workerSpawn(quick), await serialTasks(quick), await concurrentTasks(quick)];
}
