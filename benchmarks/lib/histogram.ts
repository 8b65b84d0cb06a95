/**
 * Latency histograms kept whole: every timed operation is recorded (in ns) into an HDR histogram
 * (`hdr-histogram-js`, 3 significant digits, 1 ns … 100 s), from which the percentiles are read and
 * which is stored in the result JSON (`HistogramJson`: the compressed base64 encoding plus a small
 * list of CDF points for charts).
 *
 * `setRecorderKind('perf_hooks')` switches new histograms to `perf_hooks.createHistogram` (no HDR
 * encoding, CDF points read from its percentiles) to compare what the recording costs
 * (`recording-cost.ts`).
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';

/** Highest value recorded (ns); larger values are recorded as this. */
const HIGHEST_NS = 100e9;

/** A histogram as stored in the result JSON. */
export interface HistogramJson {
  /** Unit of `cdf`'s values (always µs). */
  readonly unit: 'us';
  /** Values recorded. */
  readonly count: number;
  /**
   * The whole histogram, values in ns: `hdr-histogram-js` `encodeIntoCompressedBase64` (the HdrHistogram
   * compressed V2 format; `hdr.decodeFromCompressedBase64(s)` reads it back). Null when the values
   * were not recorded with HDR (Ironic's side, computed from the raw samples in Python).
   */
  readonly hdrNs: string | null;
  /** `[value µs, cumulative fraction]`, ascending: the value at each of `CDF_QUANTILES`. */
  readonly cdf: readonly (readonly [number, number])[];
}

/**
 * The quantiles a stored CDF has points at: every 2 % up to 98 %, then the tail (99, 99.5, 99.9,
 * 99.95, 99.99 %) and the maximum. Python's driver (`ironic/driver.py`) uses the same list.
 */
export const CDF_QUANTILES: readonly number[] = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.99, 0.995, 0.999, 0.9995, 0.9999, 1];

/** What the timed loops record into. */
export interface LatencyRecorder {
  /** Record a duration in ns (values below 1 ns are recorded as 1). */
  record(ns: number): void;
  /** The value (ns) at percentile `q` (0–100). */
  percentile(q: number): number;
  readonly count: number;
  /** Largest value (ns). */
  readonly max: number;
  /** Mean (ns). */
  readonly mean: number;
  /** The histogram for the result JSON (null when empty). */
  toJson(): HistogramJson | null;
}

type RecorderKind = 'hdr' | 'perf_hooks';
let kind: RecorderKind = 'hdr';

/** Which implementation `newRecorder()` builds from now on (default `hdr`). */
export function setRecorderKind(next: RecorderKind): void {
  kind = next;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function cdfOf(count: number, valueAtQuantileNs: (q: number) => number, maxNs: number): HistogramJson['cdf'] {
  if (count === 0) return [];
  // HDR reads a quantile as the highest value of its bucket: never above the true maximum.
  return CDF_QUANTILES.map((q) => [round3((q === 1 ? maxNs : Math.min(maxNs, valueAtQuantileNs(q))) / 1000), q] as const);
}

class HdrRecorder implements LatencyRecorder {
  private readonly h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_NS,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });

  record(ns: number): void {
    this.h.recordValue(ns < 1 ? 1 : ns > HIGHEST_NS ? HIGHEST_NS : Math.round(ns));
  }
  percentile(q: number): number {
    return this.h.getValueAtPercentile(q);
  }
  get count(): number {
    return this.h.totalCount;
  }
  get max(): number {
    return this.h.maxValue;
  }
  get mean(): number {
    return this.h.totalCount === 0 ? 0 : this.h.mean;
  }
  toJson(): HistogramJson | null {
    if (this.h.totalCount === 0) return null;
    return {
      unit: 'us',
      count: this.h.totalCount,
      hdrNs: hdr.encodeIntoCompressedBase64(this.h),
      cdf: cdfOf(this.h.totalCount, (q) => this.h.getValueAtPercentile(q * 100), this.h.maxValue),
    };
  }
}

class PerfHooksRecorder implements LatencyRecorder {
  private readonly h: RecordableHistogram = createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: 3 });

  record(ns: number): void {
    this.h.record(ns < 1 ? 1 : ns > HIGHEST_NS ? HIGHEST_NS : Math.round(ns));
  }
  percentile(q: number): number {
    return this.h.percentile(q);
  }
  get count(): number {
    return this.h.count;
  }
  get max(): number {
    return this.h.count === 0 ? 0 : this.h.max;
  }
  get mean(): number {
    return this.h.count === 0 ? 0 : this.h.mean;
  }
  toJson(): HistogramJson | null {
    if (this.h.count === 0) return null;
    // perf_hooks refuses percentile(0): the minimum stands for it.
    return {
      unit: 'us',
      count: this.h.count,
      hdrNs: null,
      cdf: cdfOf(this.h.count, (q) => (q === 0 ? this.h.min : this.h.percentile(q * 100)), this.h.max),
    };
  }
}

/** A new, empty latency recorder (HDR unless `setRecorderKind` said otherwise). */
export function newRecorder(): LatencyRecorder {
  return kind === 'hdr' ? new HdrRecorder() : new PerfHooksRecorder();
}

/** A recorder holding the given samples (ns), e.g. merged from several processes. */
export function recorderOf(samplesNs: Iterable<number>): LatencyRecorder {
  const r = new HdrRecorder();
  for (const ns of samplesNs) r.record(ns);
  return r;
}

/** The value (µs) at cumulative fraction `q` of a stored CDF (the first point at or above q); null if empty. */
export function cdfValueAt(h: HistogramJson, q: number): number | null {
  const point = h.cdf.find(([, f]) => f >= q);
  return point === undefined ? null : point[0];
}
