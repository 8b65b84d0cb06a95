/**
 * What `npm run bench:report` reads: the run folders of `bench`, `bench:ironic` and `bench:cluster`
 * (lib/run-dir.ts), found either as given (a folder with a run.json) or through the
 * `latest-<harness>` links of a results folder. Anything missing is null, never an error.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HistogramJson } from '../lib/histogram.js';
import type { ScenarioResult } from '../lib/result.js';
import type { RunInfo } from '../lib/run-dir.js';

/** One run folder and its run.json (null for a folder written before run.json existed). */
export interface RunFolder {
  readonly path: string;
  readonly info: Partial<RunInfo> | null;
}

/** A `bench` (or `bench:spawn-after`) run. */
export interface BenchRun extends RunFolder {
  readonly results: readonly ScenarioResult[];
  /** summary.json's `ratios` (null: the raw floor was not part of the run). */
  readonly ratios: readonly { scenario: string; variant: string; floor: string; floorUs: number }[] | null;
}

/** A `bench:ironic` run (ironic-comparison.json). */
export interface IronicRun extends RunFolder {
  readonly ironicResults: readonly ScenarioResult[];
  readonly oursResults: readonly ScenarioResult[];
}

/** A `bench:cluster` run (cluster.json): the contention waits per process count. */
export interface ClusterRun extends RunFolder {
  readonly contention: readonly { processes: number; waitHistogram: HistogramJson | null }[];
  /** Ironic's contention on the same server in 1..N processes (absent with --no-ironic). */
  readonly ironicContention: readonly { processes: number; waitHistogram: HistogramJson | null }[];
}

/** Everything found; each part null when absent. */
export interface ReportInputs {
  readonly bench: BenchRun | null;
  readonly ironic: IronicRun | null;
  readonly cluster: ClusterRun | null;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return null;
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function readInfo(dir: string): Partial<RunInfo> | null {
  const info = readJson(join(dir, 'run.json'));
  return isObject(info) ? info : null;
}

function isResult(x: unknown): x is ScenarioResult {
  return isObject(x) && typeof x['scenario'] === 'string' && typeof x['variant'] === 'string' && typeof x['opsPerSec'] === 'number';
}

function readBench(dir: string): BenchRun | null {
  if (!existsSync(dir)) return null;
  const results: ScenarioResult[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file === 'run.json' || file === 'summary.json') continue;
    const json = readJson(join(dir, file));
    if (isObject(json) && Array.isArray(json['results'])) results.push(...json['results'].filter(isResult));
  }
  if (results.length === 0) return null;
  const summary = readJson(join(dir, 'summary.json'));
  const ratios = isObject(summary) && Array.isArray(summary['ratios']) ? (summary['ratios'] as BenchRun['ratios']) : null;
  return { path: dir, info: readInfo(dir), results, ratios };
}

function readIronic(dir: string): IronicRun | null {
  const json = readJson(join(dir, 'ironic-comparison.json'));
  if (!isObject(json)) return null;
  const list = (key: string): ScenarioResult[] => (Array.isArray(json[key]) ? json[key].filter(isResult) : []);
  return { path: dir, info: readInfo(dir), ironicResults: list('ironicResults'), oursResults: list('oursResults') };
}

function readCluster(dir: string): ClusterRun | null {
  const json = readJson(join(dir, 'cluster.json'));
  if (!isObject(json) || !Array.isArray(json['results'])) return null;
  const contention = json['results'].flatMap((r: unknown) => {
    if (!isObject(r) || !isObject(r['contention']) || typeof r['processes'] !== 'number') return [];
    const h = r['contention']['waitHistogram'];
    return [{ processes: r['processes'], waitHistogram: isObject(h) ? (h as unknown as HistogramJson) : null }];
  });
  const ironic = json['ironic'];
  const ironicContention =
    isObject(ironic) && Array.isArray(ironic['contention'])
      ? ironic['contention'].flatMap((c: unknown) => {
          if (!isObject(c) || typeof c['processes'] !== 'number') return [];
          const h = c['waitHistogram'];
          return [{ processes: c['processes'], waitHistogram: isObject(h) ? (h as unknown as HistogramJson) : null }];
        })
      : [];
  return { path: dir, info: readInfo(dir), contention, ironicContention };
}

type Kind = 'bench' | 'ironic' | 'cluster';

function kindOf(harness: unknown): Kind | null {
  if (harness === 'bench' || harness === 'spawn-after') return 'bench';
  if (harness === 'ironic' || harness === 'cluster') return harness;
  return null;
}

/**
 * Read the inputs from `dirs` (each a run folder or a results folder with `latest-*` links);
 * a later folder fills only what the earlier ones left missing.
 */
export function loadInputs(dirs: readonly string[]): ReportInputs {
  let bench: BenchRun | null = null;
  let ironic: IronicRun | null = null;
  let cluster: ClusterRun | null = null;
  const take = (kind: Kind, dir: string): void => {
    if (kind === 'bench') bench ??= readBench(dir);
    else if (kind === 'ironic') ironic ??= readIronic(dir);
    else cluster ??= readCluster(dir);
  };
  for (const given of dirs) {
    // A link such as latest-bench is followed, so that the report names the run folder itself.
    const dir = existsSync(given) ? realpathSync(given) : resolve(given);
    const info = readInfo(dir);
    if (info !== null) {
      const kind = kindOf(info.harness);
      if (kind !== null) take(kind, dir);
      continue;
    }
    for (const [link, kind] of [
      ['latest-bench', 'bench'],
      ['latest-spawn-after', 'bench'],
      ['latest-ironic', 'ironic'],
      ['latest-cluster', 'cluster'],
    ] as const) {
      if (existsSync(join(dir, link))) take(kind, realpathSync(join(dir, link)));
    }
  }
  return { bench, ironic, cluster };
}
