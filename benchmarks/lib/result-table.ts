/**
 * The layout of the `npm run bench` tables (results, extra figures, ratios to the floor,
 * targets): at most 120 columns (lib/table.ts narrows the wrapped columns), each duration with
 * its own unit.
 */
import type { FloorRatio, TargetCheck } from './floor.js';
import type { ScenarioResult } from './result.js';
import { extraText, formatDuration, MAX_WIDTH, wrapLines, type Column } from './table.js';

/** The results table (the `extra` figures go below it, one block per result: `detailLines`). */
export const RESULT_COLUMNS: Column[] = [
  { header: 'scenario', wrap: 16 },
  { header: 'variant', wrap: 28 },
  { header: 'ops/s', align: 'right' },
  { header: 'p50', align: 'right' },
  { header: 'p99', align: 'right' },
  { header: 'p99.9', align: 'right' },
  { header: 'max', align: 'right' },
];

/** One row of the results table: latencies with a unit per value. */
export const resultRow = (r: ScenarioResult): (string | number)[] => [
  r.scenario,
  r.variant,
  r.opsPerSec,
  formatDuration(r.latencyUs.p50),
  formatDuration(r.latencyUs.p99),
  formatDuration(r.latencyUs.p999),
  formatDuration(r.latencyUs.max),
];

/** The `extra` figures of each result, `scenario variant:` then the pairs, wrapped to `width`. */
export function detailLines(results: readonly ScenarioResult[], width: number = MAX_WIDTH): string[] {
  return results.flatMap((r) => {
    const text = extraText(r.extra);
    return text === '' ? [] : wrapLines(`${r.scenario} ${r.variant}: ${text}`, width).map((line, i) => (i === 0 ? line : `    ${line}`));
  });
}

/** The ratios-to-the-floor table. */
export const RATIO_COLUMNS: Column[] = [
  { header: 'scenario', wrap: 16 },
  { header: 'variant', wrap: 28 },
  { header: 'per op', align: 'right' },
  { header: 'floor', wrap: 36 },
  { header: 'floor time', align: 'right' },
  { header: 'x floor', align: 'right' },
  { header: 'x floor p50', align: 'right' },
];

/** One row of the ratios table. */
export const ratioRow = (r: FloorRatio): (string | number)[] => [
  r.scenario,
  r.variant,
  formatDuration(r.usPerOp),
  r.floor,
  formatDuration(r.floorUs),
  r.ratio,
  r.ratioP50 ?? '—',
];

/** The targets table; without the result column when `verdicts` is false (quick runs). */
export const targetColumns = (verdicts: boolean): Column[] => [
  { header: 'target', wrap: 40 },
  { header: 'value', align: 'right' },
  { header: 'limit', align: 'right' },
  ...(verdicts ? [{ header: 'result' }] : []),
  { header: 'measured', wrap: 40 },
];

const targetValue = (value: number, unit: TargetCheck['unit']): string =>
  unit === 'µs' ? formatDuration(value) : `${num2(value)} ${unit}`;
const num2 = (x: number): string => String(Math.round(x * 100) / 100);

/** One row of the targets table. */
export const targetRow =
  (verdicts: boolean) =>
  (t: TargetCheck): (string | number)[] => [
    t.target,
    t.value === null ? '—' : `${targetValue(t.value, t.unit)}${t.valueP50 === null ? '' : ` (p50 ${t.valueP50})`}`,
    targetValue(t.limit, t.unit),
    ...(verdicts ? [t.met ? 'met' : 'MISSED'] : []),
    t.measured,
  ];
