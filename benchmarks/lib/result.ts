import type { HistogramJson } from './histogram.js';

/**
 * The shape every benchmark scenario reports (ours and the real Ironic's), so runs can be printed
 * side by side and compared as ratios.
 */

/** Latency percentiles in microseconds. */
export interface LatencyUs {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** One measured scenario (or one variant of it, e.g. `contention` with 32 callers). */
export interface ScenarioResult {
  /** Scenario name, e.g. `exclusive-cycle`. */
  readonly scenario: string;
  /** Variant, e.g. `loadDriver=false` or `T=32`; empty when none. */
  readonly variant: string;
  /** Operations measured (cycles, tasks, ...). */
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly latencyUs: LatencyUs;
  /** The whole latency distribution of the same values as `latencyUs` (null or absent: not recorded). */
  readonly histogram?: HistogramJson | null;
  /** Per-interval figures over the run (`checkpoint-stall`), absent elsewhere. */
  readonly timeline?: Timeline;
  /** Scenario-specific figures (NodeLocked count, heap per node, wait percentiles, ...). */
  readonly extra: Readonly<Record<string, number | string | boolean>>;
}

/** The machine a run was measured on. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
}

/** A scenario's figures over time: per interval of `intervalMs` from the start of the timed part. */
export interface Timeline {
  readonly intervalMs: number;
  /** Slowest operation completed in each interval (ms; 0 when none completed). */
  readonly opMaxMs: readonly number[];
  /** Operations completed in each interval. */
  readonly ops: readonly number[];
  /** `[start, end]` (ms since the start of the timed part) of each checkpoint. */
  readonly checkpoints: readonly (readonly [number, number])[];
}
