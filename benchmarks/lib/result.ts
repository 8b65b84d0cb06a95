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
