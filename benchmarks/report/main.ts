/**
 * `npm run bench:report [-- --results DIR ...] [--out DIR]`: charts (SVG and PNG) of the latest
 * `bench`, `bench:ironic` and `bench:cluster` runs (or of the given folders), written to
 * `charts/` in the first run's folder and, with `--out`, to another folder (e.g. docs/benchmarks
 * for the README), each with a README.md that shows them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_DIR, RESULTS_ROOT } from '../lib/run-dir.js';
import { buildCharts, type Chart } from './charts.js';
import { loadInputs, type ReportInputs } from './inputs.js';
import { renderPng, renderSvg } from './render.js';

/** Options of `runReport`. */
export interface ReportOptions {
  /** Run folders or results folders (with `latest-*` links); default benchmarks/results/. */
  readonly results?: readonly string[];
  /** A second folder for the charts (e.g. docs/benchmarks); default none. */
  readonly out?: string | null;
  /** Lines of progress (default: console.log). */
  readonly say?: (line: string) => void;
}

/** What `runReport` did. */
export interface ReportOutcome {
  /** Absolute paths of the files written. */
  readonly written: readonly string[];
  /** Charts not drawn, with the reason. */
  readonly skipped: readonly { name: string; reason: string }[];
  readonly inputs: ReportInputs;
}

function markdown(inputs: ReportInputs, charts: readonly Chart[]): string {
  const lines = ['# Benchmark charts', '', 'Written by `npm run bench:report` from:', ''];
  for (const run of [inputs.bench, inputs.ironic, inputs.cluster]) {
    if (run === null) continue;
    const info = run.info;
    const commit = info?.commit ? `${info.commit.sha.slice(0, 12)}${info.commit.dirty ? ' (uncommitted changes)' : ''}` : 'unknown commit';
    lines.push(
      `- \`${info?.harness ?? '?'}\` run of ${info?.startedAt ?? '?'}${info?.quick ? ' (quick: timings not meaningful)' : ''}, ${commit}, ` +
        `load ${info?.loadAverage?.start?.join(' / ') ?? '?'} at the start`,
    );
  }
  lines.push('');
  for (const chart of charts) {
    if ('skipped' in chart) {
      lines.push(`- ${chart.title}: not drawn (${chart.skipped})`, '');
      continue;
    }
    lines.push(`## ${chart.title}`, '', `![${chart.title}](${chart.name}.svg)`, '');
    for (const note of chart.notes) lines.push(`- ${note}`);
    if (chart.notes.length > 0) lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Load, chart, render and write; never throws for missing or partial inputs. */
export async function runReport(options: ReportOptions = {}): Promise<ReportOutcome> {
  const say = options.say ?? ((line: string) => console.log(line));
  const inputs = loadInputs(options.results ?? [RESULTS_ROOT]);
  const primary = inputs.bench ?? inputs.ironic ?? inputs.cluster;
  if (primary === null) return { written: [], skipped: [], inputs };
  for (const [label, run] of [
    ['bench', inputs.bench],
    ['bench:ironic', inputs.ironic],
    ['bench:cluster', inputs.cluster],
  ] as const) {
    say(run === null ? `${label}: no run found (its series are left out)` : `${label}: ${relative(REPO_DIR, run.path) || run.path}`);
  }
  const charts = buildCharts(inputs);
  const targets = [join(primary.path, 'charts'), ...(options.out ? [resolve(options.out)] : [])];
  for (const dir of targets) await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const chart of charts) {
    if ('skipped' in chart) {
      skipped.push({ name: chart.name, reason: chart.skipped });
      say(`skipped ${chart.name}: ${chart.skipped}`);
      continue;
    }
    for (const note of chart.notes.filter((n) => n.includes('absent'))) say(`${chart.name}: ${note}`);
    const svg = await renderSvg(chart.spec);
    const png = renderPng(svg);
    for (const dir of targets) {
      await writeFile(join(dir, `${chart.name}.svg`), svg);
      await writeFile(join(dir, `${chart.name}.png`), png);
      written.push(join(dir, `${chart.name}.svg`), join(dir, `${chart.name}.png`));
    }
  }
  const md = markdown(inputs, charts);
  for (const dir of targets) {
    await writeFile(join(dir, 'README.md'), md);
    written.push(join(dir, 'README.md'));
  }
  return { written, skipped, inputs };
}

const USAGE = `usage: npm run bench:report [-- --results DIR ...] [--out DIR]
  --results DIR  a run folder (benchmarks/results/<timestamp>-<harness>) or a results folder whose
                 latest-bench, latest-ironic and latest-cluster links are read (repeatable;
                 default benchmarks/results)
  --out DIR      also write the charts there (e.g. docs/benchmarks, for the README)`;

/** The CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { results: { type: 'string', multiple: true }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    console.error(`bench:report: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const outcome = await runReport({ results: values.results ?? [RESULTS_ROOT], out: values.out ?? null });
  if (outcome.written.length === 0) {
    console.error(`bench:report: no results found in ${(values.results ?? [RESULTS_ROOT]).join(', ')}: run npm run bench first`);
    return 1;
  }
  console.log(`wrote ${outcome.written.length} files:`);
  for (const file of outcome.written) console.log(`  ${relative(process.cwd(), file)}`);
  return 0;
}
