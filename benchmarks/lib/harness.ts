/**
 * The benchmark harness behind `npm run bench`: argument parsing, running the scenarios, the
 * table, the JSON files and the summary of ratios to the raw floor.
 *
 *   npm run bench [-- --quick] [-- --scenario name[,name] ...] [-- name ...]
 *
 * It runs compiled (dist-bench/, `npm run build:bench`) under plain `node`, without --expose-gc:
 * no GC is forced around timed code; the retained-heap figures force one through
 * `collectGarbage()` (lib/measure.ts) where they measure.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SCENARIO_NAMES, SCENARIOS } from '../scenarios/index.js';
import { floorRatios, targetChecks, type FloorRatio, type TargetCheck } from './floor.js';
import { describeMachine, machineInfo, runEnvironment } from './machine.js';
import { nowNs } from './measure.js';
import type { ScenarioResult } from './result.js';
import { extraText, markdownTable, textTable, type Column } from './table.js';

// Relative to the root so that it is the same folder from benchmarks/lib/ and from dist-bench/lib/.
const RESULTS_DIR = new URL('../../benchmarks/results/', import.meta.url);

const USAGE = `usage: npm run bench [-- --quick] [-- --scenario NAME[,NAME] ...]
scenarios: ${SCENARIO_NAMES.join(', ')}
  --quick      smoke run (CI): a few seconds in all, timings not meaningful
  --scenario   run only these (repeatable, comma-separated, or as plain arguments)
  --markdown   also print the tables as Markdown (for the README)`;

interface Parsed {
  readonly quick: boolean;
  readonly names: readonly string[];
  readonly markdown: boolean;
}

function parse(argv: readonly string[]): Parsed | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        scenario: { type: 'string', multiple: true },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return (error as Error).message;
  }
  if (parsed.values.help) return '';
  const requested = [...(parsed.values.scenario ?? []), ...parsed.positionals]
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = requested.filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) return `unknown scenario(s): ${unknown.join(', ')}`;
  // Keep the harness order (raw-floor first), whatever order they were given in.
  const names = requested.length === 0 ? SCENARIO_NAMES : SCENARIO_NAMES.filter((name) => requested.includes(name));
  return {
    quick: parsed.values.quick ?? false,
    names,
    markdown: parsed.values.markdown ?? false,
  };
}

const RESULT_COLUMNS: Column[] = [
  { header: 'scenario' },
  { header: 'variant' },
  { header: 'ops/s', align: 'right' },
  { header: 'p50 µs', align: 'right' },
  { header: 'p99 µs', align: 'right' },
  { header: 'p99.9 µs', align: 'right' },
  { header: 'max µs', align: 'right' },
  { header: 'extra', wrap: 72 },
];

const resultRow = (r: ScenarioResult): (string | number)[] => [
  r.scenario,
  r.variant,
  r.opsPerSec,
  r.latencyUs.p50,
  r.latencyUs.p99,
  r.latencyUs.p999,
  r.latencyUs.max,
  extraText(r.extra),
];

const RATIO_COLUMNS: Column[] = [
  { header: 'scenario' },
  { header: 'variant' },
  { header: 'µs/op', align: 'right' },
  { header: 'floor' },
  { header: 'floor µs', align: 'right' },
  { header: 'x floor', align: 'right' },
  { header: 'x floor p50', align: 'right' },
];

const ratioRow = (r: FloorRatio): (string | number)[] => [r.scenario, r.variant, r.usPerOp, r.floor, r.floorUs, r.ratio, r.ratioP50 ?? '—'];

const TARGET_COLUMNS: Column[] = [
  { header: 'target', wrap: 60 },
  { header: 'value', align: 'right' },
  { header: 'limit', align: 'right' },
  { header: 'result' },
  { header: 'measured', wrap: 60 },
];

const targetRow = (t: TargetCheck): (string | number)[] => [
  t.target,
  t.value === null ? '—' : `${t.value} ${t.unit}${t.valueP50 === null ? '' : ` (p50 ${t.valueP50})`}`,
  `${t.limit} ${t.unit}`,
  t.met ? 'met' : 'MISSED',
  t.measured,
];

async function writeJson(name: string, value: unknown): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(new URL(`${name}.json`, RESULTS_DIR), `${JSON.stringify(value, null, 2)}\n`);
}

/** Run the harness; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'string') {
    if (parsed === '') {
      console.log(USAGE);
      return 0;
    }
    console.error(`bench: ${parsed}\n${USAGE}`);
    return 2;
  }
  const machine = machineInfo();
  const environment = runEnvironment();
  const date = new Date().toISOString();
  console.log(`metal-conductor benchmarks${parsed.quick ? ' [quick: smoke run, timings not meaningful]' : ''} — ${date}`);
  console.log(`machine: ${describeMachine(machine, environment)}`);
  if (!environment.gc) console.log('note: no full GC can be forced: heap figures are reported as unavailable');
  if (environment.loadAverage1m > machine.cores / 4) {
    console.log(
      `note: 1-minute load average ${environment.loadAverage1m} on ${machine.cores} cores: something else may be running; figures may be noisy`,
    );
  }

  const all: ScenarioResult[] = [];
  const failures: string[] = [];
  const started = nowNs();
  for (const name of parsed.names) {
    const scenario = SCENARIOS[name]!;
    process.stdout.write(`▶ ${name}: ${scenario.description} ... `);
    const t0 = nowNs();
    try {
      const results = await scenario.run({ quick: parsed.quick });
      const seconds = Number(nowNs() - t0) / 1e9;
      console.log(`${seconds.toFixed(1)} s`);
      all.push(...results);
      await writeJson(name, {
        scenario: name,
        description: scenario.description,
        date,
        quick: parsed.quick,
        machine,
        environment,
        durationSeconds: Math.round(seconds * 10) / 10,
        results,
      });
    } catch (error) {
      console.log('FAILED');
      console.error(error);
      failures.push(name);
    }
  }
  const totalSeconds = Number(nowNs() - started) / 1e9;

  console.log('');
  console.log(textTable(RESULT_COLUMNS, all.map(resultRow)));

  const ratios = floorRatios(all);
  console.log('');
  if (ratios === null) {
    console.log('ratios to the raw floor: not computed (include the raw-floor scenario in the run)');
  } else {
    console.log('ratios to the raw floor measured in this run (µs/op = 1e6 / ops/s; x floor p50 compares p50s):');
    console.log(textTable(RATIO_COLUMNS, ratios.map(ratioRow)));
  }
  const checks: TargetCheck[] = targetChecks(all, ratios);
  if (checks.length > 0) {
    console.log('');
    console.log('targets that need no Ironic (the Ironic ratios come from npm run bench:ironic):');
    console.log(textTable(TARGET_COLUMNS, checks.map(targetRow)));
  }
  console.log('');
  console.log(
    `${all.length} results from ${parsed.names.length - failures.length}/${parsed.names.length} scenarios in ${totalSeconds.toFixed(1)} s; JSON in benchmarks/results/`,
  );
  if (failures.length > 0) console.error(`failed: ${failures.join(', ')}`);

  await writeJson('summary', {
    date,
    quick: parsed.quick,
    machine,
    environment,
    totalSeconds: Math.round(totalSeconds),
    scenarios: parsed.names,
    failures,
    ratios,
    targets: checks,
  });
  if (parsed.markdown) {
    console.log('');
    console.log(
      `Measured ${date.slice(0, 10)} on ${describeMachine(machine, environment)}${parsed.quick ? ' (quick run: not meaningful)' : ''}.`,
    );
    console.log('');
    console.log(markdownTable(RESULT_COLUMNS, all.map(resultRow)));
    if (ratios !== null) console.log(`\n${markdownTable(RATIO_COLUMNS, ratios.map(ratioRow))}`);
    if (checks.length > 0) console.log(`\n${markdownTable(TARGET_COLUMNS, checks.map(targetRow))}`);
  }
  return failures.length > 0 ? 1 : 0;
}
