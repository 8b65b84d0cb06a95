/**
 * Benchmark `spawn-after`: background tasks through worker actors.
 *
 * - spawn cost: time of `WorkerSupervisor.spawn` alone (creates the worker actor and queues it),
 *   and of a raw nact actor spawn for comparison (the floor);
 * - tasks/s until the lease is released: N concurrent callers each acquire an exclusive task on
 *   their own node, `spawnAfter` a no-op work, leave the scope; a task counts when its worker has
 *   run and released the lock. Latency = acquire → lock released.
 *
 *   npm run bench:spawn-after [-- --quick] [-- --tasks 20000 --concurrency 64]
 * Prints a table and writes benchmarks/results/spawn-after.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Conductor } from '../actors/conductor.ts';
import { spawnActor, startSystem, stopActor } from '../actors/internal/nact.ts';
import { ActorRuntime } from '../actors/runtime.ts';
import { WorkerSupervisor } from '../actors/worker-supervisor.ts';
import { systemClock } from '../src/clock.ts';
import { createRequestContext } from '../src/context.ts';
import { silentLogger } from '../src/logging.ts';
import { orThrow } from '../src/task/scope.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tasks: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
  },
});
const quick = values.quick ?? false;
const totalTasks = Number(values.tasks ?? (quick ? 500 : 20_000));
const concurrency = Number(values.concurrency);
const spawnSamples = quick ? 1_000 : 20_000;

const us = (h: RecordableHistogram, p: number): number => Number((h.percentile(p) / 1000).toFixed(2));
const summary = (h: RecordableHistogram) => ({ p50: us(h, 50), p99: us(h, 99), p999: us(h, 99.9), mean: Number((h.mean / 1000).toFixed(2)) });

async function rawNactSpawn(): Promise<ReturnType<typeof summary>> {
  const system = startSystem(`bench-raw-${process.pid}`);
  const h = createHistogram();
  for (let i = 0; i < spawnSamples; i++) {
    const t0 = performance.now();
    const ref = spawnActor(system, (s: null) => s, `a${i}`, { initialState: null, onCrash: (_m, _e, c) => c.stop, afterStop: () => {} });
    h.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
    stopActor(ref);
  }
  stopActor(system);
  return summary(h);
}

async function supervisorSpawn(): Promise<ReturnType<typeof summary>> {
  const runtime = new ActorRuntime('bench', silentLogger());
  const supervisor = new WorkerSupervisor(runtime, null, silentLogger(), systemClock, {
    poolSize: spawnSamples + 10,
    reservedPercentage: 0,
    timeoutMs: 0,
  });
  const ctx = createRequestContext();
  const h = createHistogram();
  for (let i = 0; i < spawnSamples; i++) {
    const t0 = performance.now();
    supervisor.spawn({ name: 'noop', nodeUuid: 'n', purpose: 'bench', context: ctx, run: async () => {} });
    h.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
  }
  await supervisor.onIdle();
  await runtime.shutdown();
  return summary(h);
}

async function tasksPerSecond(): Promise<{ tasksPerSecond: number; latencyUs: ReturnType<typeof summary>; tasks: number; concurrency: number }> {
  const conductor = await orThrow(Conductor.open({ logger: silentLogger(), notificationLevel: null, workersPoolSize: Math.max(300, concurrency * 2) }));
  const ctx = createRequestContext();
  const nodes = [];
  for (let i = 0; i < concurrency; i++) nodes.push(await orThrow(conductor.enroll({ driver: 'fake-hardware' })));
  const h = createHistogram();
  let next = 0;
  // One caller per node: each acquire (patient) waits for the previous worker on that node to
  // release, so a cycle measures acquire → spawn → work → release → next grant.
  const caller = async (nodeId: number): Promise<void> => {
    while (next < totalTasks) {
      next += 1;
      const t0 = performance.now();
      await orThrow(
        conductor.withTask(ctx, nodeId, { patient: true, purpose: 'bench' }, (task) => {
          task.spawnAfter(async function noop() {});
        }),
      );
      h.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
    }
  };
  const t0 = performance.now();
  await Promise.all(nodes.map((n) => caller(n.id)));
  await conductor.onIdle(); // the last workers released their leases
  const seconds = (performance.now() - t0) / 1000;
  await conductor.stop();
  return { tasksPerSecond: Math.round(totalTasks / seconds), latencyUs: summary(h), tasks: totalTasks, concurrency };
}

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
const raw = await rawNactSpawn();
const spawn = await supervisorSpawn();
const throughput = await tasksPerSecond();
const result = { scenario: 'spawn-after', date: new Date().toISOString(), quick, machine, rawNactSpawnUs: raw, workerSpawnUs: spawn, ...throughput };

console.log(`spawn-after (${machine.cpu}, ${machine.cores} cores, Node ${machine.node})${quick ? ' [quick]' : ''}`);
console.table({
  'raw nact spawn (µs)': raw,
  'worker spawn (µs)': spawn,
  'cycle: acquire → spawn (µs)': throughput.latencyUs,
});
console.log(`tasks/s until the lease is released: ${throughput.tasksPerSecond} (${throughput.tasks} tasks, ${throughput.concurrency} concurrent callers)`);
console.log(`worker spawn / raw nact spawn (p50): ${(spawn.p50 / raw.p50).toFixed(2)}×`);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/spawn-after.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
