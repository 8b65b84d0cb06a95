/**
 * `fleet-scale`: 10k and 100k nodes (quick: 1k) on one conductor (in-memory store).
 *
 * 1. Enroll N nodes (not timed as part of the figures; its rate is in extra).
 * 2. Spawn: the first `conductor.snapshot(id)` of each node (store read + node actor spawn +
 *    frozen snapshot): ops/s and the latency columns are this spawn cost.
 * 3. Heap per idle node actor: heapUsed after a full GC, loaded minus before, divided by N. It
 *    counts everything an idle loaded node keeps: the nact actor, our runtime handle, the registry
 *    entry and indexes, the node actor's closures and its cached frozen snapshot.
 * 4. Passivation: `nodeIdleTimeout` 500 ms on an injected manual clock (so that nothing passivates
 *    while loading), advanced past the timeout; the registry's sweeper (every 250 ms of real time)
 *    stops every idle actor. Waits until `status().actors.loaded` is 0 and nact's afterStop turns
 *    ran, then GC and heap again (`heapAfterPassivationPerNodeBytes` is relative to before loading,
 *    so about 0 means passivation gave everything back).
 */
import type { Conductor } from '../../dist/actors/conductor.js';
import { ManualClock } from '../../dist/src/clock.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { collectGarbage, gcAvailable, latencyUs, newHistogram, nowNs, recordNs } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'N idle node actors: spawn cost (first snapshot), heap per idle node, memory after passivation';
export const needsGc = true;

const IDLE_TIMEOUT_MS = 500;
const MB = 2 ** 20;

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

async function fleet(nodes: number): Promise<ScenarioResult> {
  const clock = new ManualClock(Date.now());
  return withConductor({ nodeIdleTimeout: IDLE_TIMEOUT_MS, clock }, async (conductor: Conductor) => {
    const enrollStart = nowNs();
    const enrolled = await enrollNodes(conductor, nodes, { prefix: 'fleet' });
    const enrollSeconds = Number(nowNs() - enrollStart) / 1e9;
    const ids = enrolled.map((n) => n.id);
    enrolled.length = 0;

    collectGarbage();
    const before = process.memoryUsage();
    const h = newHistogram();
    let spawnNs = 0n;
    for (const id of ids) {
      const t0 = nowNs();
      await orThrow(conductor.snapshot(id));
      const dt = nowNs() - t0;
      spawnNs += dt;
      recordNs(h, dt);
    }
    const loadedCount = conductor.status().actors.loaded;
    if (loadedCount !== nodes) throw new Error(`fleet-scale: ${loadedCount} actors loaded, expected ${nodes}`);
    collectGarbage();
    const loaded = process.memoryUsage();

    // A cached snapshot read, for scale (no store access, no spawn).
    const cachedStart = nowNs();
    for (let i = 0; i < Math.min(nodes, 10_000); i++) await orThrow(conductor.snapshot(ids[i]!));
    const cachedUs = Number(nowNs() - cachedStart) / 1e3 / Math.min(nodes, 10_000);

    const passivateStart = nowNs();
    await clock.advance(IDLE_TIMEOUT_MS + 1);
    const drained = await waitFor(() => conductor.status().actors.loaded === 0, 120_000);
    const passivationMs = Number(nowNs() - passivateStart) / 1e6;
    // nact runs afterStop hooks (and drops its last references to a stopped actor) in a later
    // setImmediate: let those run before measuring what passivation gave back.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    collectGarbage();
    const after = process.memoryUsage();
    const gc = gcAvailable();
    const seconds = Number(spawnNs) / 1e9;
    const perNode = (bytes: number): number | string => (gc ? Math.round(bytes / nodes) : 'gc not exposed');
    return {
      scenario: 'fleet-scale',
      variant: `nodes=${nodes}`,
      ops: nodes,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: Math.round(nodes / seconds),
      latencyUs: latencyUs(h),
      extra: {
        latency: 'node-actor spawn (first snapshot)',
        heapPerIdleNodeBytes: perNode(loaded.heapUsed - before.heapUsed),
        heapAfterPassivationPerNodeBytes: perNode(after.heapUsed - before.heapUsed),
        heapBeforeMB: Math.round(before.heapUsed / MB),
        heapLoadedMB: Math.round(loaded.heapUsed / MB),
        heapAfterPassivationMB: Math.round(after.heapUsed / MB),
        rssLoadedMB: Math.round(loaded.rss / MB),
        externalMB: Math.round(loaded.external / MB),
        passivated: drained ? conductor.status().actors.passivated : `timed out with ${conductor.status().actors.loaded} loaded`,
        passivationMs: Math.round(passivationMs),
        cachedSnapshotUs: Math.round(cachedUs * 100) / 100,
        enrollPerSec: Math.round(nodes / enrollSeconds),
        gc,
      },
    };
  });
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const sizes = quick ? [1000] : [10_000, 100_000];
  const results: ScenarioResult[] = [];
  for (const nodes of sizes) {
    results.push(await fleet(nodes));
    collectGarbage();
  }
  return results;
}
