/**
 * `checkpoint-stall`: does a checkpoint stall the event loop or the writers? A file store (sync
 * and batched durability) with N nodes (10k and 100k; quick: 300), under a write-heavy load: C
 * concurrent callers each running the store side of an exclusive task in a loop (reserve a random
 * node, update it, release it: what `acquire` + a saved change + `release` cost the store; then
 * yield to the event loop, as work arriving from I/O would), while a checkpoint is forced every
 * interval (explicit `store.checkpoint()`).
 *
 * Figures (extra), after a 1 s warm-up under the same load: `loopDelayMaxMs`, the event loop's
 * worst delay (perf_hooks `monitorEventLoopDelay`, resolution 1 ms), and
 * `loopDelayMaxInCheckpointMs` the worst delay of a 1 ms timer overlapping a checkpoint; `opMaxMs`, the slowest
 * cycle; `opMaxInCheckpointMs`, the slowest cycle that overlapped a checkpoint; `checkpoints`
 * written during the load and the slowest one (`checkpointMaxMs`, from the call to its journal
 * reset). ops/s and the latency columns are the cycles'. The store is used directly (the conductor
 * adds nothing to a checkpoint).
 *
 * `timeline` (for `npm run bench:report`'s chart): per interval of `TIMELINE_INTERVAL_MS` of the
 * timed part, the slowest cycle that completed in it and how many did; each checkpoint's start
 * and end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openSqlJsStore, type SqlJsStore } from '../../dist/src/store/sqljs-store.js';
import { latencyUs, must, newHistogram } from '../lib/measure.js';
import type { ScenarioResult, Timeline } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'file store of N nodes, C callers reserve+update+release while checkpoints are forced: loop delay and op max';

const CALLERS = 64;
/** Width of one `timeline` interval (ms). */
const TIMELINE_INTERVAL_MS = 50;

async function populate(store: SqlJsStore, nodes: number): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < nodes) {
      const i = next++;
      const node = must(
        await store.createNode({
          driver: 'fake-hardware',
          name: `ckpt-${i}`,
          provision_state: i % 2 === 0 ? 'available' : 'active',
          properties: { cpus: 8, memory_mb: 65536, local_gb: 960, cpu_arch: 'x86_64' },
          driver_info: { ipmi_address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, ipmi_username: 'admin' },
        }),
      );
      ids.push(node.id);
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  return ids;
}

type Durability = 'sync' | 'batched';

/** Populate a file store of `nodes` nodes once, then measure it under each durability. */
async function fleet(nodes: number, quick: boolean): Promise<ScenarioResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'mc-bench-ckpt-'));
  const path = join(dir, 'nodes.sqlite');
  try {
    const populateStart = performance.now();
    const store = must(await openSqlJsStore({ path, durability: 'batched', checkpointIntervalMs: 0 }));
    const ids = await populate(store, nodes);
    must(await store.close());
    const populateSeconds = (performance.now() - populateStart) / 1000;
    const results: ScenarioResult[] = [];
    for (const durability of ['sync', 'batched'] as const) results.push(await measure(path, ids, durability, populateSeconds, quick));
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(
  path: string,
  ids: readonly number[],
  durability: Durability,
  populateSeconds: number,
  quick: boolean,
): Promise<ScenarioResult> {
  const nodes = ids.length;
  const store = must(await openSqlJsStore({ path, durability, checkpointIntervalMs: 0 }));
  try {
    const durationMs = quick ? 600 : 12_000;
    const checkpointEveryMs = quick ? 200 : 2_000;

    const latency = newHistogram();
    const intervals = Math.ceil(durationMs / TIMELINE_INTERVAL_MS) + 1;
    const timelineMax = new Array<number>(intervals).fill(0);
    const timelineOps = new Array<number>(intervals).fill(0);
    const checkpointSpans: [number, number][] = [];
    let opMaxMs = 0;
    let opMaxInCheckpointMs = 0;
    let ops = 0;
    let checkpointing = 0; // checkpoints in flight
    let checkpointEpoch = 0; // bumped when one starts or ends: an op that sees it change overlapped one
    let checkpoints = 0;
    let checkpointMaxMs = 0;
    // A warm-up under the same load first (JIT, the store's first statements, the worker loading
    // its copy): not measured, for either version.
    const warmupMs = quick ? 100 : 1_000;
    const start = performance.now() + warmupMs;
    const end = start + durationMs;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    // The worst delay of a 1 ms timer whose wait overlapped a checkpoint (from its call to its
    // journal reset); monitorEventLoopDelay cannot be windowed.
    let loopDelayMaxInCheckpointMs = 0;
    let checkpointTouched = false; // a checkpoint started or ended since the last tick
    let lastTick = 0;
    const sampler = setInterval(() => {
      const now = performance.now();
      if (lastTick !== 0 && (checkpointTouched || checkpointing > 0)) {
        loopDelayMaxInCheckpointMs = Math.max(loopDelayMaxInCheckpointMs, now - lastTick - 1);
      }
      checkpointTouched = false;
      lastTick = now;
    }, 1);
    const warm = new Promise((resolve) => setTimeout(resolve, warmupMs)).then(() => loop.enable());

    const caller = async (c: number): Promise<void> => {
      let k = c;
      const tag = `bench-${c}`;
      while (performance.now() < end) {
        const id = ids[(k * 7919 + c * 104729) % ids.length]!;
        k++;
        const epoch = checkpointEpoch;
        const inCheckpoint = checkpointing > 0;
        const t0 = performance.now();
        const reserved = await store.reserve(tag, id, { purpose: 'bench' });
        if (reserved.isErr()) continue; // another caller holds it
        must(await store.updateNode(id, { power_state: k % 2 === 0 ? 'power on' : 'power off', extra: { k, c } }));
        must(await store.release(tag, id));
        const ms = performance.now() - t0;
        if (t0 < start) {
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        latency.record(ms * 1e6);
        ops++;
        const slot = Math.min(intervals - 1, Math.floor((t0 + ms - start) / TIMELINE_INTERVAL_MS));
        timelineOps[slot]! += 1;
        if (ms > timelineMax[slot]!) timelineMax[slot] = ms;
        if (ms > opMaxMs) opMaxMs = ms;
        if ((inCheckpoint || epoch !== checkpointEpoch || checkpointing > 0) && ms > opMaxInCheckpointMs) opMaxInCheckpointMs = ms;
        // Work arrives from I/O: yield, so that a batched store (whose writes resolve at once)
        // does not turn the callers into one microtask loop that never lets the event loop run.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const checkpointer = async (): Promise<void> => {
      await warm;
      while (performance.now() + checkpointEveryMs < end) {
        await new Promise((resolve) => setTimeout(resolve, checkpointEveryMs));
        checkpointing++;
        checkpointEpoch++;
        checkpointTouched = true;
        const t0 = performance.now();
        must(await store.checkpoint());
        checkpointTouched = true;
        const t1 = performance.now();
        checkpointMaxMs = Math.max(checkpointMaxMs, t1 - t0);
        checkpointSpans.push([round(t0 - start), round(t1 - start)]);
        checkpoints++;
        checkpointing--;
        checkpointEpoch++;
      }
    };
    await Promise.all([...Array.from({ length: CALLERS }, (_, c) => caller(c)), checkpointer()]);
    const seconds = (performance.now() - start) / 1000;
    loop.disable();
    clearInterval(sampler);
    const used = Math.min(intervals, Math.ceil((seconds * 1000) / TIMELINE_INTERVAL_MS));
    const timeline: Timeline = {
      intervalMs: TIMELINE_INTERVAL_MS,
      opMaxMs: timelineMax.slice(0, used).map((m) => Math.round(m * 1000) / 1000),
      ops: timelineOps.slice(0, used),
      checkpoints: checkpointSpans,
    };
    return {
      scenario: 'checkpoint-stall',
      variant: `nodes=${nodes} ${durability}`,
      ops,
      seconds,
      opsPerSec: ops / seconds,
      latencyUs: latencyUs(latency),
      histogram: latency.toJson(),
      timeline,
      extra: {
        callers: CALLERS,
        loopDelayMaxMs: round(loop.max / 1e6),
        loopDelayP99Ms: round(loop.percentile(99) / 1e6),
        loopDelayMaxInCheckpointMs: round(loopDelayMaxInCheckpointMs),
        opMaxMs: round(opMaxMs),
        opMaxInCheckpointMs: round(opMaxInCheckpointMs),
        checkpoints,
        checkpointMaxMs: round(checkpointMaxMs),
        populateSeconds: round(populateSeconds),
      },
    };
  } finally {
    must(await store.close());
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const sizes = quick ? [300] : [10_000, 100_000];
  const results: ScenarioResult[] = [];
  for (const nodes of sizes) results.push(...(await fleet(nodes, quick)));
  return results;
}
