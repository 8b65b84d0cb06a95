/**
 * The `npm run bench` tables: every duration printed with the unit that suits it (`formatDuration`),
 * and every line of the results, details, ratios and targets tables within 120 columns, even with
 * the longest scenario, variant and floor names and figures from µs to seconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FloorRatio, TargetCheck } from '../../benchmarks/lib/floor.js';
import type { ScenarioResult } from '../../benchmarks/lib/result.js';
import {
  detailLines,
  RATIO_COLUMNS,
  ratioRow,
  RESULT_COLUMNS,
  resultRow,
  targetColumns,
  targetRow,
} from '../../benchmarks/lib/result-table.js';
import { extraText, formatDuration, MAX_WIDTH, textTable } from '../../benchmarks/lib/table.js';

const result = (variant: string, p50: number, max: number, extra: ScenarioResult['extra']): ScenarioResult => ({
  scenario: 'process-event',
  variant,
  ops: 123_456,
  seconds: 4.5,
  opsPerSec: 1_234_567,
  latencyUs: { p50, p99: p50 * 10, p999: p50 * 100, max, mean: p50 },
  extra,
});

const RESULTS: ScenarioResult[] = [
  result('held-task file-batched c=64 with a much longer variant name', 0.85, 123_456_789, {
    cycle: 'inspect/done',
    store: 'file',
    callers: 64,
    allocKiBPerOp: 23.1,
    vsMemory: 2.31,
    opsPerSecRange: '12345–23456',
    cycleP99Us: 1840,
    loopDelayMaxMs: 17.6,
    populateSeconds: 12.3,
    latency: 'wait to be granted, a long description of what the latency columns measure here',
  }),
  result('held-task', 850, 1_200_000, {}),
];

describe('benchmark tables', () => {
  it('formatDuration picks the unit per value, three significant digits', () => {
    assert.equal(formatDuration(0.85), '850 ns');
    assert.equal(formatDuration(8.523), '8.52 µs');
    assert.equal(formatDuration(850), '850 µs');
    assert.equal(formatDuration(999.7), '1 ms');
    assert.equal(formatDuration(12_345), '12.3 ms');
    assert.equal(formatDuration(1_200_000), '1.2 s');
    assert.equal(formatDuration(3_600_000_000), '3,600 s');
    assert.equal(formatDuration(0), '0');
    assert.equal(formatDuration(null), '—');
    assert.equal(formatDuration(Number.NaN), '—');
  });

  it('the results table shows each latency with its own unit', () => {
    const table = textTable(RESULT_COLUMNS, RESULTS.map(resultRow));
    const row = table.split('\n').find((line) => line.includes('held-task ') && line.includes('850 µs'));
    assert.ok(row, table);
    assert.match(row, /850 µs\s+8\.5 ms\s+85 ms\s+1\.2 s/);
    assert.match(table, /850 ns\s+8\.5 µs\s+85 µs\s+123 s/);
  });

  it('extra figures: µs and ms keys are printed with a unit and lose their suffix', () => {
    assert.equal(
      extraText({ cycleP99Us: 1840, loopDelayMaxMs: 17.6, nodeLocked: 0 }),
      'cycleP99=1.84\u00a0ms, loopDelayMax=17.6\u00a0ms, nodeLocked=0',
    );
  });

  it('every table fits 120 columns', () => {
    const ratios: FloorRatio[] = [
      {
        scenario: 'spawn-after',
        variant: 'tasks c=64 and a very long variant name indeed',
        usPerOp: 123.4,
        floor: 'UPDATE pair + node UPDATE + mailbox RT + nact spawn + ports SELECT',
        floorUs: 45.6,
        ratio: 2.71,
        ratioP50: 12.34,
      },
    ];
    const targets: TargetCheck[] = [
      {
        target: 'process-event on a held task <= 2.5x (node UPDATE + mailbox RT + something longer)',
        value: 3.73,
        valueP50: 4.1,
        limit: 2.5,
        unit: 'x floor',
        measured: '3.73x mean, 4.1x p50; and a long explanation of how it was measured and what else goes with it',
        met: false,
      },
      {
        target: 'contention T=32: 0 NodeLocked',
        value: 18071.55,
        valueP50: null,
        limit: 5000,
        unit: 'µs',
        measured: '0 NodeLocked',
        met: false,
      },
    ];
    const lines = [
      ...textTable(RESULT_COLUMNS, RESULTS.map(resultRow)).split('\n'),
      ...detailLines(RESULTS),
      ...textTable(RATIO_COLUMNS, ratios.map(ratioRow)).split('\n'),
      ...textTable(targetColumns(true), targets.map(targetRow(true))).split('\n'),
      ...textTable(targetColumns(false), targets.map(targetRow(false))).split('\n'),
    ];
    for (const line of lines) assert.ok(line.length <= MAX_WIDTH, `${line.length} columns: ${line}`);
    // Nothing was cut: the longest texts are all there, wrapped.
    const all = lines.join(' ').replace(/\s+/g, ' ');
    assert.ok(all.includes('nact spawn + ports'), all);
    assert.ok(all.includes('goes with it'), all);
  });

  it('the targets table of a quick run has no verdicts', () => {
    const t: TargetCheck = { target: 't', value: 9, valueP50: null, limit: 5, unit: 'B', measured: 'm', met: false };
    assert.doesNotMatch(textTable(targetColumns(false), [targetRow(false)(t)]), /MISSED|met|result/);
    assert.match(textTable(targetColumns(true), [targetRow(true)(t)]), /MISSED/);
  });
});
