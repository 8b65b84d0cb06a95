/**
 * Wait-time figures on `perf_hooks.createHistogram` (HDR histogram, microsecond resolution here),
 * reported in milliseconds.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Percentiles of one histogram, in milliseconds (null when nothing was recorded). */
export interface LatencyFigures {
  readonly count: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** A latency histogram fed in milliseconds. */
export class Latency {
  readonly #histogram: RecordableHistogram = createHistogram();
  /** Every recorded value in µs, when kept (to merge the figures of several processes). */
  readonly #samples: number[] | null;

  constructor(options: { keepSamples?: boolean } = {}) {
    this.#samples = options.keepSamples === true ? [] : null;
  }

  /** A histogram of the samples (µs) of several others. */
  static fromSamples(samples: Iterable<readonly number[]>): Latency {
    const latency = new Latency();
    for (const list of samples) for (const us of list) latency.#histogram.record(us);
    return latency;
  }

  /** Record one wait of `ms` milliseconds (kept to the microsecond; 0 counts as 1 µs). */
  record(ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.#histogram.record(us);
    this.#samples?.push(us);
  }

  /** The recorded values in µs (empty unless kept). */
  samples(): readonly number[] {
    return this.#samples ?? [];
  }

  get count(): number {
    return this.#histogram.count;
  }

  figures(): LatencyFigures {
    const h = this.#histogram;
    if (h.count === 0) return { count: 0, p50: null, p99: null, max: null, mean: null };
    return {
      count: h.count,
      p50: round(h.percentile(50) / 1000),
      p99: round(h.percentile(99) / 1000),
      max: round(h.max / 1000),
      mean: round(h.mean / 1000),
    };
  }
}
