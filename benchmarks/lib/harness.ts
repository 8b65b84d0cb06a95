/**
 * The benchmark harness behind `npm run bench`: argument parsing, running the scenarios, the
 * table, the JSON files and the summary of ratios to the raw floor. Every run writes into a new
 * folder `benchmarks/results/<UTC timestamp>-bench/` (lib/run-dir.ts) with run.json, one JSON per
 * scenario and summary.json; tables fit 120 columns, durations carry their own unit; `--quick`
 * prints no verdicts.
 *
 *   npm run bench [-- --quick] [-- --scenario name[,name] ...] [-- name ...]
 *
 * It runs compiled (dist-bench/, `npm run build:bench`) under plain `node`, without --expose-gc:
 * no GC is forced around timed code; the retained-heap figures force one through
 * `collectGarbage()` (lib/measure.ts) where they measure.
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { SCENARIO_NAMES, SCENARIOS } from '../scenarios/index.js';
import { floorRatios, targetChecks, type TargetCheck } from './floor.js';
import { describeMachine, machineInfo, runEnvironment } from './machine.js';
import { nowNs } from './measure.js';
import type { ScenarioResult } from './result.js';
import { REPO_DIR, startRun, type HarnessName } from './run-dir.js';
import { detailLines, RATIO_COLUMNS, ratioRow, RESULT_COLUMNS, resultRow, targetColumns, targetRow } from './result-table.js';
import { markdownTable, textTable } from './table.js';

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

/** Run the harness (`harness` names its results folder); returns the process exit code. */
export async function main(argv: readonly string[], harness: HarnessName = 'bench'): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'string') {
    if (parsed === '') {
      console.log(USAGE);
      return 0;
    }
    console.error(`bench: ${parsed}\n${USAGE}`);
    return 2;
  }
  const run = await startRun({ harness, argv, quick: parsed.quick });
  const shownDir = relative(REPO_DIR, run.path);
  const machine = machineInfo();
  const environment = runEnvironment();
  const date = run.info.startedAt;
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
      await run.writeJson(name, {
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
  const details = detailLines(all);
  if (details.length > 0) {
    console.log('');
    console.log("details (durations with their unit; ranges are the rounds' ops/s):");
    console.log(details.join('\n'));
  }

  const ratios = floorRatios(all);
  console.log('');
  if (ratios === null) {
    console.log('ratios to the raw floor: not computed (include the raw-floor scenario in the run)');
  } else {
    console.log('ratios to the raw floor measured in this run (per op = 1 s / ops/s; x floor p50 compares p50s):');
    console.log(textTable(RATIO_COLUMNS, ratios.map(ratioRow)));
  }
  const checks: TargetCheck[] = targetChecks(all, ratios);
  const verdicts = !parsed.quick;
  if (checks.length > 0) {
    console.log('');
    console.log(
      verdicts
        ? 'targets that need no Ironic (the Ironic ratios come from npm run bench:ironic):'
        : 'targets that need no Ironic: NO VERDICTS (quick run: the timings are not meaningful); the figures only:',
    );
    console.log(textTable(targetColumns(verdicts), checks.map(targetRow(verdicts))));
  }
  console.log('');
  console.log(
    `${all.length} results from ${parsed.names.length - failures.length}/${parsed.names.length} scenarios in ${totalSeconds.toFixed(1)} s; JSON in ${shownDir}/ (latest: benchmarks/results/latest-${harness})`,
  );
  if (failures.length > 0) console.error(`failed: ${failures.join(', ')}`);

  await run.writeJson('summary', {
    date,
    quick: parsed.quick,
    machine,
    environment,
    totalSeconds: Math.round(totalSeconds),
    scenarios: parsed.names,
    failures,
    ratios,
    // A quick run gives no verdicts: `met` is null there.
    targets: verdicts ? checks : checks.map((t) => ({ ...t, met: null })),
  });
  await run.finish();
  if (parsed.markdown) {
    console.log('');
    console.log(
      `Measured ${date.slice(0, 10)} on ${describeMachine(machine, environment)}${parsed.quick ? ' (quick run: not meaningful)' : ''}.`,
    );
    console.log('');
    console.log(markdownTable(RESULT_COLUMNS, all.map(resultRow)));
    if (ratios !== null) console.log(`\n${markdownTable(RATIO_COLUMNS, ratios.map(ratioRow))}`);
    if (checks.length > 0) console.log(`\n${markdownTable(targetColumns(verdicts), checks.map(targetRow(verdicts)))}`);
  }
  return failures.length > 0 ? 1 : 0;
}
