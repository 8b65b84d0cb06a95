/**
 * Measurement helpers: nanosecond histograms (`lib/histogram.ts`: HDR, kept whole in the JSON)
 * reported in µs, and a
 * closed-loop runner (one caller, each operation awaited before the next) with warm-up and rounds.
 *
 * Conventions (actor-runtime-notes.md §6): warm-up before every timed loop; per-operation latency
 * recorded in ns; ops/s is the median of the rounds, with the range in `extra`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Result } from 'neverthrow';
import { allocatedBytesPerOp } from './alloc.js';
import { newRecorder, type LatencyRecorder } from './histogram.js';
import type { LatencyUs, ScenarioResult } from './result.js';

/** Monotonic time in nanoseconds. */
export const nowNs = (): bigint => process.hrtime.bigint();

/** A histogram for nanosecond values (1 ns … 100 s, 3 significant figures; HDR, see lib/histogram.ts). */
export function newHistogram(): LatencyRecorder {
  return newRecorder();
}

/** Record a duration in ns (values below 1 are recorded as 1). */
export function recordNs(histogram: LatencyRecorder, ns: bigint | number): void {
  histogram.record(Number(ns));
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** p50/p99/p99.9/max/mean of a ns histogram, in µs. An empty histogram reads as zeros. */
export function latencyUs(histogram: LatencyRecorder): LatencyUs {
  if (histogram.count === 0) return { p50: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    p50: round2(histogram.percentile(50) / 1000),
    p99: round2(histogram.percentile(99) / 1000),
    p999: round2(histogram.percentile(99.9) / 1000),
    max: round2(histogram.max / 1000),
    mean: round2(histogram.mean / 1000),
  };
}

let gcFunction: (() => void) | null | undefined;

/**
 * V8's full GC, obtained without --expose-gc on the command line (so that the timed code runs in a
 * process started like any other): the flag is set at run time and `gc` read from a new context.
 * Null if that is refused.
 */
function fullGc(): (() => void) | null {
  if (gcFunction !== undefined) return gcFunction;
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') {
    gcFunction = exposed as () => void;
    return gcFunction;
  }
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    gcFunction = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    gcFunction = null;
  }
  return gcFunction;
}

/**
 * A full GC (twice, so that what the first one finalised is gone too), for a RETAINED-heap
 * measurement only (heap per actor, heap per node): heapUsed is compared before and after, which
 * needs a settled heap. Timing loops must never call this (a forced GC before a round hides the
 * cost of the garbage the operation makes, and under load it skews rounds). Returns whether it ran.
 */
export function collectGarbage(): boolean {
  const gc = fullGc();
  if (gc === null) return false;
  gc();
  gc();
  return true;
}

/** heapUsed after a full GC (for retained-heap figures), or null when no GC could be forced. */
export function settledHeapUsed(): number | null {
  return collectGarbage() ? process.memoryUsage().heapUsed : null;
}

/** True when a full GC can be forced (heap figures are then available). */
export const gcAvailable = (): boolean => fullGc() !== null;

/** How long and how often to run a closed loop. */
export interface LoopPlan {
  /** Warm-up time before the first round (ms). */
  readonly warmupMs: number;
  /** Time per round (ms). */
  readonly roundMs: number;
  /** Rounds; ops/s is their median. */
  readonly rounds: number;
  /** Operations of the allocation pass after the rounds (0: none). */
  readonly allocOps: number;
}

/**
 * Full runs: 0.5 s warm-up, 3 rounds of 1.5 s, then 2000 operations with allocation sampling.
 * Quick (CI smoke) runs: a few hundred ms in all.
 */
export function loopPlan(quick: boolean): LoopPlan {
  return quick ? { warmupMs: 50, roundMs: 150, rounds: 1, allocOps: 100 } : { warmupMs: 500, roundMs: 1500, rounds: 3, allocOps: 2000 };
}

/** What a measured loop produced. */
export interface LoopMeasure {
  readonly ops: number;
  readonly seconds: number;
  /** Median over the rounds. */
  readonly opsPerSec: number;
  readonly roundsOpsPerSec: readonly number[];
  readonly latencyUs: LatencyUs;
  readonly histogram: LatencyRecorder;
  /** Bytes allocated per operation (sampled after the timed rounds), or null. */
  readonly allocBytesPerOp: number | null;
}

/**
 * Closed loop: await `op` again and again, timing each call, for `plan.rounds` rounds of
 * `plan.roundMs` after `plan.warmupMs` of warm-up (not recorded). No GC is forced between rounds:
 * the collections an operation's garbage causes are part of its cost. After the rounds, an untimed
 * pass of `plan.allocOps` operations samples the bytes allocated per operation. `op` must throw on
 * failure.
 */
export async function closedLoop(op: () => unknown, plan: LoopPlan): Promise<LoopMeasure> {
  const warmupEnd = nowNs() + BigInt(Math.round(plan.warmupMs * 1e6));
  while (nowNs() < warmupEnd) await op();
  const histogram = newHistogram();
  const rates: number[] = [];
  let ops = 0;
  let totalNs = 0n;
  for (let r = 0; r < plan.rounds; r++) {
    const roundNs = BigInt(Math.round(plan.roundMs * 1e6));
    const start = nowNs();
    let roundOps = 0;
    let t = start;
    while (t - start < roundNs) {
      await op();
      const after = nowNs();
      recordNs(histogram, after - t);
      t = after;
      roundOps += 1;
    }
    const elapsed = t - start;
    totalNs += elapsed;
    ops += roundOps;
    rates.push(roundOps / (Number(elapsed) / 1e9));
  }
  const allocBytesPerOp = await allocatedBytesPerOp(op, plan.allocOps);
  return {
    ops,
    seconds: Number(totalNs) / 1e9,
    allocBytesPerOp,
    opsPerSec: Math.round(median(rates)),
    roundsOpsPerSec: rates.map((r) => Math.round(r)),
    latencyUs: latencyUs(histogram),
    histogram,
  };
}

/**
 * Concurrent closed loops: `callers` callers, each awaiting `op(caller)` again and again, for
 * `plan.rounds` rounds of `plan.roundMs` after `plan.warmupMs` of warm-up (not recorded). A round
 * ends when every caller has finished the operation it was in when the time was up; ops/s is the
 * median over the rounds of operations / elapsed time; latency columns include the queueing among
 * the callers. No GC is forced; no allocation pass (allocBytesPerOp is null).
 */
export async function concurrentLoop(callers: number, op: (caller: number) => Promise<unknown>, plan: LoopPlan): Promise<LoopMeasure> {
  const histogram = newHistogram();
  const phase = async (ms: number, record: boolean): Promise<{ ops: number; ns: bigint }> => {
    const start = nowNs();
    const end = start + BigInt(Math.round(ms * 1e6));
    let ops = 0;
    const caller = async (c: number): Promise<void> => {
      let t = nowNs();
      while (t < end) {
        await op(c);
        const after = nowNs();
        if (record) recordNs(histogram, after - t);
        t = after;
        ops += 1;
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
    return { ops, ns: nowNs() - start };
  };
  await phase(plan.warmupMs, false);
  const rates: number[] = [];
  let ops = 0;
  let totalNs = 0n;
  for (let r = 0; r < plan.rounds; r++) {
    const round = await phase(plan.roundMs, true);
    ops += round.ops;
    totalNs += round.ns;
    rates.push(round.ops / (Number(round.ns) / 1e9));
  }
  return {
    ops,
    seconds: Number(totalNs) / 1e9,
    allocBytesPerOp: null,
    opsPerSec: Math.round(median(rates)),
    roundsOpsPerSec: rates.map((r) => Math.round(r)),
    latencyUs: latencyUs(histogram),
    histogram,
  };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** `min–max` of the rounds, for `extra`. */
export function rangeText(values: readonly number[]): string {
  return values.length < 2 ? '' : `${Math.min(...values)}–${Math.max(...values)}`;
}

/** A ScenarioResult from a closed loop (ops/s = median of rounds; `roundsOpsPerSec` in extra). */
export function loopResult(
  scenario: string,
  variant: string,
  measure: LoopMeasure,
  extra: Record<string, number | string | boolean> = {},
): ScenarioResult {
  const range = rangeText(measure.roundsOpsPerSec);
  const all: Record<string, number | string | boolean> = { ...extra };
  if (measure.allocBytesPerOp !== null) all.allocKiBPerOp = Math.round((measure.allocBytesPerOp / 1024) * 100) / 100;
  if (range !== '') all.opsPerSecRange = range;
  return {
    scenario,
    variant,
    ops: measure.ops,
    seconds: Math.round(measure.seconds * 1000) / 1000,
    opsPerSec: measure.opsPerSec,
    latencyUs: measure.latencyUs,
    histogram: measure.histogram.toJson(),
    extra: all,
  };
}

/** The value of an Ok result; throws the error of an Err (a benchmark must not time failures). */
export function must<T, E>(result: Result<T, E>): T {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the Result's own error, as it is
  if (result.isErr()) throw result.error;
  return result.value;
}
