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
 *
 * Variant `activated nodes=N` (10k; quick: 1k), on its own conductor: each node's exclusive lock
 * taken once and released (`acquire` + `release`: the node actor is spawned, reserves, builds the
 * driver, releases), with `nodeIdleTimeout` 1 h so that every actor stays loaded; ops/s and the
 * latency columns are that first cycle; `heapPerActivatedNodeBytes` is the heap retained per node
 * afterwards (what a node that has served a task keeps until it is passivated), next to the idle
 * figure of `nodes=N` (a node only read).
 *
 * GC: full GCs are forced only to settle the heap for the retained-heap figures (before the
 * baseline and after loading / passivation). The spawn timings are one pass of N operations right
 * after the baseline GC (N is large enough for the pass to run its own collections); nothing else
 * is timed after a forced GC.
 */
import type { Conductor } from '../../dist/actors/conductor.js';
import { ManualClock } from '../../dist/src/clock.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { createRequestContext } from '../../dist/src/context.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { collectGarbage, gcAvailable, latencyUs, must, newHistogram, nowNs, recordNs } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'N node actors: spawn cost (first snapshot), heap per idle and per activated node, memory after passivation';
export const needsGc = true;

const IDLE_TIMEOUT_MS = 500;
/** `nodeIdleTimeout` of the activated variant: long enough that nothing is passivated while measuring. */
const ACTIVATED_IDLE_TIMEOUT_MS = 3_600_000;
/** Nodes activated before the heap baseline of the activated variant. */
const WARMUP_NODES = 200;
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

    // The histogram (an HDR one holds ~130 KB of counts) exists before the heap baseline.
    const h = newHistogram();
    collectGarbage(); // heap baseline (retained-heap figure)
    const before = process.memoryUsage();
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
    collectGarbage(); // settled heap with N idle actors loaded
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
    collectGarbage(); // settled heap after passivation
    const after = process.memoryUsage();
    const gc = gcAvailable();
    const seconds = Number(spawnNs) / 1e9;
    const perNode = (bytes: number): number | string => (gc ? Math.round(bytes / nodes) : 'gc unavailable');
    return {
      scenario: 'fleet-scale',
      variant: `nodes=${nodes}`,
      ops: nodes,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: Math.round(nodes / seconds),
      latencyUs: latencyUs(h),
      histogram: h.toJson(),
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

/** Each of N nodes: exclusive acquire + release once; then the heap retained per (activated) node. */
async function activated(nodes: number): Promise<ScenarioResult> {
  return withConductor({ nodeIdleTimeout: ACTIVATED_IDLE_TIMEOUT_MS }, async (conductor: Conductor) => {
    const enrolled = await enrollNodes(conductor, nodes + WARMUP_NODES, { prefix: 'active' });
    const ids = enrolled.map((n) => n.id);
    enrolled.length = 0;
    const ctx = createRequestContext();
    // Warm-up (not measured): the code paths compiled and the lazily created shared state built,
    // so that the per-node figure is what each further node costs.
    for (const id of ids.splice(0, WARMUP_NODES)) must(await (await orThrow(conductor.acquire(ctx, id, { purpose: 'bench' }))).release());

    // The histogram (an HDR one holds ~130 KB of counts) exists before the heap baseline.
    const h = newHistogram();
    collectGarbage(); // heap baseline (retained-heap figure)
    const before = process.memoryUsage();
    let cycleNs = 0n;
    for (const id of ids) {
      const t0 = nowNs();
      const task = await orThrow(conductor.acquire(ctx, id, { purpose: 'bench' }));
      must(await task.release());
      const dt = nowNs() - t0;
      cycleNs += dt;
      recordNs(h, dt);
    }
    const loadedCount = conductor.status().actors.loaded;
    if (loadedCount !== nodes + WARMUP_NODES) {
      throw new Error(`fleet-scale: ${loadedCount} actors loaded after activation, expected ${nodes + WARMUP_NODES}`);
    }
    // Let the release's follow-up turns (nact's setImmediate scheduling) settle before measuring.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    const gc = collectGarbage(); // settled heap with N activated actors loaded
    const after = process.memoryUsage();
    const seconds = Number(cycleNs) / 1e9;
    return {
      scenario: 'fleet-scale',
      variant: `activated nodes=${nodes}`,
      ops: nodes,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: Math.round(nodes / seconds),
      latencyUs: latencyUs(h),
      histogram: h.toJson(),
      extra: {
        latency: 'first exclusive acquire + release (node-actor spawn included)',
        heapPerActivatedNodeBytes: gc ? Math.round((after.heapUsed - before.heapUsed) / nodes) : 'gc unavailable',
        heapBeforeMB: Math.round(before.heapUsed / MB),
        heapActivatedMB: Math.round(after.heapUsed / MB),
        rssActivatedMB: Math.round(after.rss / MB),
        nodeIdleTimeoutMs: ACTIVATED_IDLE_TIMEOUT_MS,
        gc,
      },
    };
  });
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const sizes = quick ? [1000] : [10_000, 100_000];
  const results: ScenarioResult[] = [];
  for (const nodes of sizes) results.push(await fleet(nodes));
  results.push(await activated(quick ? 1000 : 10_000));
  return results;
}
