/**
 * The figures every multi-process contention run reports, ours (`bench:cluster`) and Ironic's
 * (`bench:ironic -- --ironic-db postgres`): each harness extends it with what only it measures.
 */
import type { HistogramJson } from './histogram.js';
import type { LatencyUs } from './result.js';

export interface ContentionCounts {
  readonly processes: number;
  readonly callersPerProcess: readonly number[];
  readonly cyclesPerCaller: number;
  readonly attempts: number;
  readonly grants: number;
  readonly nodeLocked: number;
  /** NodeLocked / attempts. */
  readonly nodeLockedShare: number;
  /** acquire → granted, granted acquisitions only, all processes merged. */
  readonly waitUs: LatencyUs;
  /** The whole distribution of the same waits (lib/histogram.ts), for bench:report. */
  readonly waitHistogram: HistogramJson | null;
  readonly grantsPerSec: number;
}
