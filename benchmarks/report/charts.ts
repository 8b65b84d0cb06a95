/**
 * The charts of `npm run bench:report`, as vega-lite specs built from the inputs
 * (report/inputs.ts). Each chart says in its subtitle which series are missing and why; a chart
 * with nothing to draw is skipped with a reason.
 *
 *   throughput            ops/s per scenario and variant: ours, the raw floor, Ironic (log scale)
 *   latency-<scenario>    latency CDF per variant, ours and Ironic (log x axis)
 *   contention-wait       wait-to-be-granted CDFs: ours T=2/8/32, Ironic T=…, cluster N processes
 *   checkpoint-stall      slowest operation per 50 ms over time, checkpoints shaded
 */
import type { TopLevelSpec } from 'vega-lite';
import type { HistogramJson } from '../lib/histogram.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ReportInputs } from './inputs.js';

/** A chart to render, or one skipped. */
export type Chart =
  | { readonly name: string; readonly title: string; readonly spec: TopLevelSpec; readonly notes: readonly string[] }
  | { readonly name: string; readonly title: string; readonly skipped: string };

/** The scenarios compared with Ironic, in the harness order. */
const COMPARED = ['exclusive-cycle', 'shared-cycle', 'exclusive-ports', 'process-event', 'contention', 'spawn-after'];

const SERIES_COLORS = { ours: '#1f77b4', 'raw floor': '#7f7f7f', Ironic: '#d62728' } as const;

/** A vega expression printing a µs value with its own unit (the axis of the CDFs). */
const DURATION_LABEL =
  "datum.value >= 1e6 ? format(datum.value / 1e6, '~g') + ' s' : datum.value >= 1e3 ? format(datum.value / 1e3, '~g') + ' ms' : " +
  "datum.value >= 1 ? format(datum.value, '~g') + ' µs' : format(datum.value * 1e3, '~g') + ' ns'";

const BASE = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  config: {
    font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
    view: { stroke: '#ddd' },
    title: { anchor: 'start', subtitleColor: '#555' },
  },
} as const;

function title(text: string, notes: readonly string[]): { text: string; subtitle?: string[] } {
  return notes.length === 0 ? { text } : { text, subtitle: [...notes] };
}

function quickNote(inputs: ReportInputs): string[] {
  const quick = (
    [
      ['bench', inputs.bench],
      ['ironic', inputs.ironic],
      ['cluster', inputs.cluster],
    ] as const
  ).filter(([, r]) => r?.info?.quick === true);
  if (quick.length === 0) return [];
  return [`quick (smoke) run${quick.length > 1 ? 's' : ''} (${quick.map(([label]) => label).join(', ')}): the timings are not meaningful`];
}

function measuredNote(inputs: ReportInputs): string[] {
  const parts: string[] = [];
  for (const [label, run] of [
    ['bench', inputs.bench],
    ['ironic', inputs.ironic],
    ['cluster', inputs.cluster],
  ] as const) {
    if (run === null) continue;
    const info = run.info;
    const commit = info?.commit ? `${info.commit.sha.slice(0, 8)}${info.commit.dirty ? '+dirty' : ''}` : '?';
    const load = info?.loadAverage?.start?.[0];
    parts.push(
      `${label} run ${info?.startedAt?.slice(0, 16).replace('T', ' ') ?? '?'} UTC, commit ${commit}${load === undefined ? '' : `, load ${load}`}`,
    );
  }
  const machine = inputs.bench?.info?.machine ?? inputs.ironic?.info?.machine ?? inputs.cluster?.info?.machine;
  return [...parts, ...(machine ? [`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`] : [])];
}

/** ops/s bars: ours, the raw floor (1 s / the floor's time per op), Ironic. */
function throughputChart(inputs: ReportInputs): Chart {
  const name = 'throughput';
  const heading = 'Throughput per scenario: ours, the raw floor and Ironic (ops/s, log scale)';
  const ours = inputs.bench?.results ?? inputs.ironic?.oursResults ?? [];
  const notes: string[] = [];
  if (inputs.bench === null && ours.length > 0) notes.push('ours: from the bench:ironic run (no bench run found)');
  const rows: { scenario: string; variant: string; series: string; opsPerSec: number }[] = [];
  for (const r of ours) {
    if (COMPARED.includes(r.scenario) && r.opsPerSec > 0)
      rows.push({ scenario: r.scenario, variant: r.variant, series: 'ours', opsPerSec: r.opsPerSec });
  }
  const ratios = inputs.bench?.ratios ?? null;
  if (ratios === null) notes.push('raw floor: absent (no bench run with the raw-floor scenario)');
  for (const f of ratios ?? []) {
    if (COMPARED.includes(f.scenario) && f.floorUs > 0) {
      rows.push({ scenario: f.scenario, variant: f.variant, series: 'raw floor', opsPerSec: Math.round(1e6 / f.floorUs) });
    }
  }
  if (inputs.ironic === null || inputs.ironic.ironicResults.length === 0) notes.push('Ironic: absent (no bench:ironic run found)');
  for (const r of inputs.ironic?.ironicResults ?? []) {
    if (COMPARED.includes(r.scenario) && r.opsPerSec > 0)
      rows.push({ scenario: r.scenario, variant: r.variant, series: 'Ironic', opsPerSec: r.opsPerSec });
  }
  if (rows.length === 0) return { name, title: heading, skipped: 'no results of the compared scenarios (bench or bench:ironic)' };
  const allNotes = [...quickNote(inputs), ...notes, ...measuredNote(inputs)];
  // One panel: a row per scenario and variant (in the harness order), a bar per series.
  const order = COMPARED.flatMap((s) => [...new Set(rows.filter((r) => r.scenario === s).map((r) => r.variant))].map((v) => `${s}  ${v}`));
  const values = rows.map((r) => ({ ...r, label: `${r.scenario}  ${r.variant}` }));
  const present = (Object.keys(SERIES_COLORS) as (keyof typeof SERIES_COLORS)[]).filter((k) => rows.some((r) => r.series === k));
  const y = { field: 'label', type: 'nominal', sort: order, title: null, axis: { labelLimit: 320 } };
  const yOffset = { field: 'series', type: 'nominal', sort: present };
  // No stacking: stacked bars start at 0, which a log scale cannot show.
  const x = { field: 'opsPerSec', type: 'quantitative', scale: { type: 'log' }, stack: null, title: 'ops/s (log scale)' };
  const spec = {
    ...BASE,
    title: title(heading, allNotes),
    data: { values },
    width: 560,
    height: { step: 11 },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y,
          yOffset,
          x,
          color: {
            field: 'series',
            type: 'nominal',
            // Only the series present (a missing one is named in the subtitle, not in the legend).
            scale: { domain: present, range: present.map((k) => SERIES_COLORS[k]) },
            title: null,
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 8 },
        encoding: { y, yOffset, x, text: { field: 'opsPerSec', type: 'quantitative', format: ',.0f' } },
      },
    ],
  };
  return { name, title: heading, spec: spec as unknown as TopLevelSpec, notes: allNotes };
}

interface CdfRow {
  series: string;
  /** Colour group (e.g. `T=32`) when the source is told by the dash instead. */
  group?: string;
  valueUs: number;
  fraction: number;
}

/** CDF points of a histogram, values clamped to ≥ 0.001 µs for the log axis. */
function cdfRows(series: string, h: HistogramJson | null | undefined): CdfRow[] {
  return (h?.cdf ?? []).map(([valueUs, fraction]) => ({ series, valueUs: Math.max(0.001, valueUs), fraction }));
}

function cdfSpec(heading: string, notes: readonly string[], rows: readonly CdfRow[], xTitle: string, dashBy?: string): TopLevelSpec {
  const colorBy = dashBy === undefined ? 'series' : 'group';
  const series = [...new Set(rows.map((r) => (colorBy === 'group' ? r.group : r.series)))];
  return {
    ...BASE,
    title: title(heading, notes),
    width: 640,
    height: 320,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.6 },
    encoding: {
      x: { field: 'valueUs', type: 'quantitative', scale: { type: 'log' }, title: xTitle, axis: { labelExpr: DURATION_LABEL } },
      y: { field: 'fraction', type: 'quantitative', title: 'cumulative fraction', axis: { format: '%' }, scale: { domain: [0, 1] } },
      color: { field: colorBy, type: 'nominal', sort: series, title: null, legend: { labelLimit: 320 } },
      ...(dashBy === undefined
        ? {}
        : { strokeDash: { field: dashBy, type: 'nominal', title: null, legend: { labelLimit: 320 } }, detail: { field: 'series' } }),
    },
  } as unknown as TopLevelSpec;
}

/** One latency CDF per scenario of the bench run, with Ironic's variants when present. */
function latencyCharts(inputs: ReportInputs): Chart[] {
  const ours: readonly ScenarioResult[] = inputs.bench?.results ?? inputs.ironic?.oursResults ?? [];
  const scenarios = [...new Set(ours.map((r) => r.scenario))];
  if (scenarios.length === 0) return [{ name: 'latency', title: 'Latency CDFs', skipped: 'no bench run found' }];
  return scenarios.map((scenario) => {
    const name = `latency-${scenario}`;
    const heading = `${scenario}: latency CDF per variant${scenario === 'contention' ? ' (wait to be granted)' : ''}`;
    // Colour = variant, dash = ours or Ironic.
    const rows = ours
      .filter((r) => r.scenario === scenario)
      .flatMap((r) => cdfRows(`ours ${r.variant}`, r.histogram).map((row) => ({ ...row, group: r.variant, source: 'ours' })));
    const notes = [...quickNote(inputs)];
    if (COMPARED.includes(scenario)) {
      const ironic = (inputs.ironic?.ironicResults ?? []).filter((r) => r.scenario === scenario);
      if (ironic.length === 0) notes.push('Ironic: absent (no bench:ironic run with this scenario)');
      rows.push(
        ...ironic.flatMap((r) =>
          cdfRows(`Ironic ${r.variant}`, r.histogram).map((row) => ({ ...row, group: r.variant, source: 'Ironic' })),
        ),
      );
    }
    if (rows.length === 0)
      return { name, title: heading, skipped: 'no histograms in the results (a run from before histograms were stored?)' };
    notes.push(...measuredNote(inputs));
    return { name, title: heading, spec: cdfSpec(heading, notes, rows, 'latency (log scale)', 'source'), notes };
  });
}

/** Contention wait CDFs: ours (one process), Ironic, our cluster of N processes on PostgreSQL. */
function contentionChart(inputs: ReportInputs): Chart {
  const name = 'contention-wait';
  const heading = 'Contention on one node: wait to be granted (CDF), ours vs Ironic';
  const rows: (CdfRow & { source: string })[] = [];
  const notes = [...quickNote(inputs)];
  const ours = (inputs.bench?.results ?? inputs.ironic?.oursResults ?? []).filter((r) => r.scenario === 'contention');
  if (ours.length === 0) notes.push('ours: absent (no run with the contention scenario)');
  for (const r of ours) {
    rows.push(...cdfRows(`ours ${r.variant}`, r.histogram).map((row) => ({ ...row, group: r.variant, source: 'ours, one process' })));
  }
  const ironic = (inputs.ironic?.ironicResults ?? []).filter((r) => r.scenario === 'contention');
  if (ironic.length === 0) notes.push('Ironic: absent (no bench:ironic run with the contention scenario)');
  for (const r of ironic) {
    rows.push(...cdfRows(`Ironic ${r.variant}`, r.histogram).map((row) => ({ ...row, group: r.variant, source: 'Ironic' })));
  }
  const cluster = inputs.cluster?.contention.filter((c) => c.waitHistogram !== null) ?? [];
  if (cluster.length === 0) notes.push('cluster: absent (no bench:cluster run found)');
  for (const c of cluster) {
    rows.push(
      ...cdfRows(`ours cluster ${c.processes}`, c.waitHistogram).map((row) => ({
        ...row,
        group: `T=32, ${c.processes} process${c.processes === 1 ? '' : 'es'}`,
        source: 'ours, N processes (PostgreSQL)',
      })),
    );
  }
  const ironicCluster = inputs.cluster?.ironicContention.filter((c) => c.waitHistogram !== null) ?? [];
  for (const c of ironicCluster) {
    rows.push(
      ...cdfRows(`Ironic cluster ${c.processes}`, c.waitHistogram).map((row) => ({
        ...row,
        group: `T=32, ${c.processes} process${c.processes === 1 ? '' : 'es'}`,
        source: 'Ironic, N processes (PostgreSQL)',
      })),
    );
  }
  if (rows.length === 0) return { name, title: heading, skipped: 'no contention results with histograms' };
  notes.push(...measuredNote(inputs));
  return { name, title: heading, spec: cdfSpec(heading, notes, rows, 'wait to be granted (log scale)', 'source'), notes };
}

/** The checkpoint-stall timeline: slowest operation per interval, checkpoints shaded. */
function checkpointChart(inputs: ReportInputs): Chart {
  const name = 'checkpoint-stall';
  const heading = 'Checkpoint stall: slowest reserve+update+release per 50 ms while checkpoints run (shaded)';
  const results = (inputs.bench?.results ?? []).filter((r) => r.scenario === 'checkpoint-stall' && r.timeline !== undefined);
  if (results.length === 0) return { name, title: heading, skipped: 'no checkpoint-stall result with a timeline in the bench run' };
  const rows: Record<string, unknown>[] = [];
  for (const r of results) {
    const t = r.timeline!;
    t.opMaxMs.forEach((ms, i) => {
      if (t.ops[i]! > 0) rows.push({ variant: r.variant, kind: 'op', t: ((i + 1) * t.intervalMs) / 1000, ms });
    });
    for (const [start, end] of t.checkpoints) rows.push({ variant: r.variant, kind: 'checkpoint', start: start / 1000, end: end / 1000 });
  }
  const notes = [...quickNote(inputs), ...measuredNote(inputs)];
  const spec = {
    ...BASE,
    title: title(heading, notes),
    data: { values: rows },
    facet: { row: { field: 'variant', type: 'nominal', header: { labelAngle: 0, labelAlign: 'left', title: null } } },
    spec: {
      width: 640,
      height: 110,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'checkpoint'" }],
          mark: { type: 'rect', color: '#f4a582', opacity: 0.5 },
          encoding: { x: { field: 'start', type: 'quantitative' }, x2: { field: 'end' } },
        },
        {
          transform: [{ filter: "datum.kind === 'op'" }],
          mark: { type: 'line', strokeWidth: 1, color: '#1f77b4' },
          encoding: {
            x: { field: 't', type: 'quantitative', title: 'seconds into the timed run' },
            y: { field: 'ms', type: 'quantitative', title: 'slowest op (ms)' },
          },
        },
      ],
    },
  };
  return { name, title: heading, spec: spec as unknown as TopLevelSpec, notes };
}

/** Every chart the inputs allow (skipped ones included, with their reason). */
export function buildCharts(inputs: ReportInputs): Chart[] {
  return [throughputChart(inputs), contentionChart(inputs), checkpointChart(inputs), ...latencyCharts(inputs)];
}
