/**
 * The conductor's Prometheus metrics, over prom-client, in one object the conductor owns and
 * passes down. Two kinds:
 *
 * - events on the hot path (acquires, lock waits and holds, transitions, store commits): counters
 *   and histograms of fast-metrics.ts, whose series are bound once, so an observation is a few
 *   additions (prom-client's own hash their labels on every call);
 * - figures the conductor already keeps (workers, notifications, dead letters, restarts, loaded
 *   actors, waiters): read at scrape time through `collect()` from a `MetricsSource`, so the hot
 *   path pays nothing for them.
 *
 * No label carries a node id, uuid or name: every label has a small fixed set of values (modes,
 * outcomes, the state machine's events and states, component and check names).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics.js';
import { Aborted, InvalidParameterValue, NodeLocked } from '../errors.js';
import { err, ok, type Result } from 'neverthrow';

/** Prefix of every metric name. */
export const METRIC_PREFIX = 'metal_conductor_';

/** Buckets (seconds) of every duration histogram: 100 µs to 60 s, roughly ×2.5 apart. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** How a task acquisition ended (`metal_conductor_acquires_total{outcome}`). */
export type AcquireOutcome = 'granted' | 'node_locked' | 'timed_out' | 'aborted' | 'error';
/** A task's mode. */
export type LockMode = 'exclusive' | 'shared';

const OUTCOMES: readonly AcquireOutcome[] = ['granted', 'node_locked', 'timed_out', 'aborted', 'error'];
const MODES: readonly LockMode[] = ['exclusive', 'shared'];

/**
 * The outcome of an acquisition that failed with `error`: NodeLocked is `node_locked` when the
 * request would not wait (`retry: false`), `timed_out` when its wait budget ran out.
 */
export function acquireOutcome(error: unknown, waited: boolean): Exclude<AcquireOutcome, 'granted'> {
  if (error instanceof NodeLocked) return waited ? 'timed_out' : 'node_locked';
  if (error instanceof Aborted) return 'aborted';
  return 'error';
}

/** A long-lived component's restart figures. */
export interface ComponentFigures {
  readonly name: string;
  readonly restarts: number;
  readonly escalated: boolean;
}

/** What the conductor already knows, read at scrape time. Each call must be cheap and must not throw. */
export interface MetricsSource {
  /** Loaded node actors, those holding or queueing a lock now, and the longest queue of one node. */
  actors(): { readonly loaded: number; readonly active: number; readonly worstWaiters: number };
  workers(): {
    readonly inUse: number;
    readonly capacity: number;
    readonly refused: number;
    readonly completed: number;
    readonly failed: number;
    readonly timedOut: number;
    readonly cancelled: number;
  };
  notifications(): { readonly delivered: number; readonly failures: number };
  deadLetters(): number;
  components(): readonly ComponentFigures[];
}

/** The conductor's metrics on one registry. Create with `ConductorMetrics.register`. */
export class ConductorMetrics {
  readonly registry: Registry;
  readonly #acquires: CounterSeries[];
  readonly #waits: HistogramSeries[];
  readonly #holds: HistogramSeries[];
  readonly #transitions: FastCounter;
  readonly #transitionChildren = new Map<string, Map<string, CounterSeries>>();
  readonly #periodicRuns: Counter<'check' | 'outcome'>;
  readonly #periodicNodes: Counter<'check'>;
  readonly #commit: HistogramSeries;
  readonly #checkpoint: HistogramSeries;
  #source: MetricsSource | null = null;
  /** The names this conductor registered (what `unregister` removes). */
  #registeredNames: readonly string[] = [];

  private constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    const name = (suffix: string): string => `${METRIC_PREFIX}${suffix}`;
    const buckets = [...DURATION_BUCKETS];
    const acquires = new FastCounter(
      name('acquires_total'),
      'Task acquisitions by mode and outcome (granted; node_locked: refused at once, retry off; timed_out: NodeLocked once the wait budget ran out; aborted: the caller gave up; error: not found, store or other failure).',
      ['mode', 'outcome'],
      registry,
    );
    this.#acquires = MODES.flatMap((mode) => OUTCOMES.map((outcome) => acquires.series(mode, outcome)));
    const waits = new FastHistogram(
      name('lock_wait_seconds'),
      'Time from asking for an exclusive task to getting it (or being refused); shared tasks never wait for a lock and are not timed.',
      ['mode'],
      buckets,
      registry,
    );
    this.#waits = MODES.map((mode) => waits.series(mode));
    const holds = new FastHistogram(
      name('lock_hold_seconds'),
      'Time an exclusive lock was held, from grant to release (shared tasks hold no lock).',
      ['mode'],
      buckets,
      registry,
    );
    this.#holds = MODES.map((mode) => holds.series(mode));
    this.#transitions = new FastCounter(
      name('transitions_total'),
      'Provision state machine transitions by event and resulting state.',
      ['event', 'state'],
      registry,
    );
    this.#periodicRuns = new Counter({
      name: name('periodic_runs_total'),
      help: 'Runs of the periodic checks by check and outcome (ok, error).',
      labelNames: ['check', 'outcome'] as const,
      registers,
    });
    this.#periodicNodes = new Counter({
      name: name('periodic_nodes_total'),
      help: 'Nodes the periodic checks acted on (failed, released), by check.',
      labelNames: ['check'] as const,
      registers,
    });
    this.#commit = new FastHistogram(
      name('store_commit_seconds'),
      'Commits to the store: sql.js file store journal writes (one group commit: write and fdatasync); PostgreSQL committed writes, from issue to commit.',
      [],
      buckets,
      registry,
    ).series();
    this.#checkpoint = new FastHistogram(
      name('store_checkpoint_seconds'),
      'Checkpoints of the sql.js file store, from snapshot to the journal reset.',
      [],
      buckets,
      registry,
    ).series();
    this.#registerScraped(registers);
  }

  /**
   * Register the metrics on `registry`. Err(InvalidParameterValue) when it already holds
   * metal_conductor metrics (another conductor's: two would overwrite each other's figures).
   */
  static register(registry: Registry): Result<ConductorMetrics, InvalidParameterValue> {
    const taken = registry.getMetricsAsArray().find((metric) => metricName(metric).startsWith(METRIC_PREFIX));
    if (taken !== undefined) {
      return err(
        new InvalidParameterValue(
          `metrics.registry already holds ${metricName(taken)} (another conductor's metrics): give each conductor its own registry`,
          { option: 'metrics.registry' },
        ),
      );
    }
    const metrics = new ConductorMetrics(registry);
    // The names as registered: an OpenMetrics registry renames counters (drops `_total`) when it
    // formats them, but keeps them under these keys.
    metrics.#registeredNames = registry
      .getMetricsAsArray()
      .map(metricName)
      .filter((name) => name.startsWith(METRIC_PREFIX));
    return ok(metrics);
  }

  /** Where scraped figures come from (set once the conductor exists). */
  bind(source: MetricsSource): void {
    this.#source = source;
  }

  /** Remove every metric of this conductor from its registry (at stop: a later conductor may register). */
  unregister(): void {
    for (const name of this.#registeredNames) this.registry.removeSingleMetric(name);
  }

  /** An acquisition ended after waiting `seconds` (null: not timed, a shared acquire never waits for a lock). */
  acquired(mode: LockMode, outcome: AcquireOutcome, seconds: number | null): void {
    const m = mode === 'exclusive' ? 0 : 1;
    this.#acquires[m * OUTCOMES.length + (outcome === 'granted' ? 0 : OUTCOMES.indexOf(outcome))]!.inc();
    if (seconds !== null) this.#waits[m]!.observe(seconds);
  }

  /** An exclusive lock was released after being held `seconds`. */
  held(seconds: number): void {
    this.#holds[0]!.observe(seconds);
  }

  /** The state machine moved to `state` on `event`. */
  transition(event: string, state: string): void {
    let byState = this.#transitionChildren.get(event);
    if (byState === undefined) {
      byState = new Map();
      this.#transitionChildren.set(event, byState);
    }
    let child = byState.get(state);
    if (child === undefined) {
      child = this.#transitions.series(event, state);
      byState.set(state, child);
    }
    child.inc();
  }

  /** A periodic check ran (ok or crashed) and acted on `nodes` nodes. */
  periodicRun(check: string, outcome: 'ok' | 'error', nodes: number): void {
    this.#periodicRuns.labels(check, outcome).inc();
    if (nodes > 0) this.#periodicNodes.labels(check).inc(nodes);
  }

  /** The store's timing observer (sql.js file store). */
  readonly storeTimings = {
    commit: (seconds: number): void => this.#commit.observe(seconds),
    checkpoint: (seconds: number): void => this.#checkpoint.observe(seconds),
  };

  /** Gauges and counters computed at scrape time from the source. */
  #registerScraped(registers: Registry[]): void {
    const name = (suffix: string): string => `${METRIC_PREFIX}${suffix}`;
    // Arrow functions cannot be used as `collect` (prom-client calls it with the metric as `this`).
    const source = (): MetricsSource | null => this.#source;
    const gauge = (suffix: string, help: string, read: (s: MetricsSource) => number): void => {
      new Gauge({
        name: name(suffix),
        help,
        registers,
        collect(this: Gauge) {
          const s = source();
          if (s !== null) this.set(read(s));
        },
      });
    };
    const counter = (suffix: string, help: string, read: (s: MetricsSource) => number): void => {
      new Counter({
        name: name(suffix),
        help,
        registers,
        collect(this: Counter) {
          const s = source();
          if (s === null) return;
          this.reset();
          this.inc(read(s));
        },
      });
    };
    gauge('node_actors_loaded', 'Node actors loaded in memory.', (s) => s.actors().loaded);
    gauge('node_actors_active', 'Node actors whose lock is held or waited for now.', (s) => s.actors().active);
    gauge('lock_waiters_max', 'Exclusive requests queued on the node with the longest queue now.', (s) => s.actors().worstWaiters);
    gauge('workers_in_use', 'Background workers running now.', (s) => s.workers().inUse);
    gauge('workers_capacity', 'Size of the workers pool (reserved share included).', (s) => s.workers().capacity);
    counter(
      'workers_refused_total',
      'Background work refused because the pool was full (NoFreeConductorWorker).',
      (s) => s.workers().refused,
    );
    counter('workers_completed_total', 'Background workers that ended normally.', (s) => s.workers().completed);
    counter('workers_failed_total', 'Background workers that failed (timeouts included).', (s) => s.workers().failed);
    counter('workers_timed_out_total', 'Background workers stopped by their timeout.', (s) => s.workers().timedOut);
    counter(
      'workers_cancelled_total',
      'Background workers cancelled (stop, or cancelled before they started).',
      (s) => s.workers().cancelled,
    );
    counter('notifications_delivered_total', 'Notifications handed to subscribers.', (s) => s.notifications().delivered);
    counter('notifications_failed_total', 'Notification subscribers that threw or rejected.', (s) => s.notifications().failures);
    counter('dead_letters_total', 'Messages to actors that could not be delivered.', (s) => s.deadLetters());
    const perComponent = (suffix: string, help: string, read: (c: ComponentFigures) => number): void => {
      new Counter({
        name: name(suffix),
        help,
        labelNames: ['component'] as const,
        registers,
        collect(this: Counter<'component'>) {
          const s = source();
          if (s === null) return;
          this.reset();
          for (const component of s.components()) this.labels(component.name).inc(read(component));
        },
      });
    };
    perComponent('component_restarts_total', 'Restarts of the long-lived components (periodic checks, heartbeat).', (c) => c.restarts);
    perComponent('component_escalations_total', 'Components given up on after too many restarts.', (c) => (c.escalated ? 1 : 0));
  }
}

/** A metric's name (prom-client keeps it on the metric object). */
function metricName(metric: unknown): string {
  const name = (metric as { name?: unknown }).name;
  return typeof name === 'string' ? name : '';
}
