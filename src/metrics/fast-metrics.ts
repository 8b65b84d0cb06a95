/**
 * Counters and histograms for the hot path, registered on a prom-client registry like its own
 * metrics. prom-client's `observe`/`inc` build a label object and hash it on every call (even
 * through a `.labels()` child: about as much as a whole shared acquire); here a series is a plain
 * object bound once, and an observation is a few additions. The registry reads them through the
 * same `get()` shape its own metrics answer (name, help, type, values), so the exposition, JSON
 * and `Registry.merge` work unchanged.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

/** One sample as prom-client's registry formats it. */
interface Sample {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

/** A counter series (bound labels). */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** A histogram series (bound labels): counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  /** Count `value` in the first bucket whose upper bound is ≥ it (prom-client's `le`); above the last one only +Inf has it. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** The fields a registry reads of a metric. */
abstract class FastMetric<S> {
  readonly aggregator = 'sum';
  readonly #series = new Map<string, S>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in `labelNames` order), made once. */
  series(...values: string[]): S {
    if (values.length !== this.labelNames.length) throw new TypeError(`${this.name}: expected labels ${this.labelNames.join(', ')}`);
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((label, i) => (labels[label] = values[i]!));
      series = this.newSeries(Object.freeze(labels));
      this.#series.set(key, series);
    }
    return series;
  }

  protected abstract newSeries(labels: Labels): S;
  protected abstract samples(series: S): Sample[];

  /** What prom-client's registry formats. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values = [...this.#series.values()].flatMap((series) => this.samples(series));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  abstract readonly type: string;

  /** `registry.resetMetrics()`: forget every series (bound ones are made again on next use by their owner). */
  reset(): void {
    for (const series of this.#series.values()) this.resetSeries(series);
  }

  protected abstract resetSeries(series: S): void;
}

/** A counter whose series are bound once. */
export class FastCounter extends FastMetric<CounterSeries> {
  readonly type = 'counter';
  protected newSeries(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }
  protected samples(series: CounterSeries): Sample[] {
    return [{ value: series.value, labels: series.labels }];
  }
  protected resetSeries(series: CounterSeries): void {
    series.value = 0;
  }
}

/** A histogram whose series are bound once. */
export class FastHistogram extends FastMetric<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: Float64Array;
  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    this.#bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
  }
  protected newSeries(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.#bounds);
  }
  protected samples(series: HistogramSeries): Sample[] {
    const samples: Sample[] = [];
    let cumulative = 0;
    this.#bounds.forEach((bound, i) => {
      cumulative += series.counts[i]!;
      samples.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le: String(bound) }, value: cumulative });
    });
    samples.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le: '+Inf' }, value: series.count });
    samples.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
    samples.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    return samples;
  }
  protected resetSeries(series: HistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
    series.count = 0;
  }
}
