/**
 * `--pg URL --conductors N`: the built CLI runs the fleet with N conductor processes on one
 * PostgreSQL database (a throwaway server for this file), aggregates their progress and summary,
 * registers one conductor host per process, and resumes on the same database; bad combinations of
 * options are refused in one line (exit 2) before anything is opened.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPgServer, type PgServer } from '../../benchmarks/lib/pg-server.js';
import type { FleetSummary } from '../../actors/cli/summary.js';
import type { CliRun } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The command as installed: the built bin (`npm test` builds first); the children run it too.
const BIN = join(ROOT, 'dist', 'actors', 'cli', 'main.js');
assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build`);
const FAST = ['--min-step-ms', '0', '--max-step-ms', '3', '--failure-rate', '0'];

let server: PgServer;
before(async () => {
  server = await startPgServer();
});
after(async () => {
  await server?.stop();
});

/** Run the built CLI in a child process. */
function bin(args: readonly string[], timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON line of a --json run that exited 0. */
function okSummary(run: CliRun): FleetSummary {
  assert.equal(run.code, 0, `exit code ${run.code}; stderr:\n${run.stderr}`);
  return summaryOf(run);
}

/** The one JSON line of a --json run. */
function summaryOf(run: CliRun): FleetSummary {
  const lines = run.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout must be one JSON line, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return JSON.parse(lines[0]!) as FleetSummary;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A fresh database on the test server. */
async function freshDatabase(name: string): Promise<string> {
  await query(server.url, `CREATE DATABASE ${name}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

test('--pg URL --conductors 3: three conductor processes drive 30 nodes to active, one summary, three hosts registered', async () => {
  const url = await freshDatabase('fleet_three');
  const run = await bin(['--pg', url, '--conductors', '3', '--nodes', '30', '--no-progress', '--json', '--clients', '6', ...FAST]);
  assert.equal(run.code, 0, `exit code ${run.code}; stderr:\n${run.stderr}`);
  const summary = summaryOf(run);
  assert.equal(summary.conductors, 3);
  assert.match(summary.postgres ?? '', /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/fleet_three$/, 'the URL, password hidden');
  assert.equal(summary.db, null);
  assert.deepEqual(summary.states, { active: 30 });
  assert.equal(summary.nodes, 30);
  assert.equal(summary.enrolled, 30);
  assert.equal(summary.unfinished, 0);
  assert.equal(summary.reserved, 0);
  // Every node went manage → provide → deploy once, in one of the processes: their counts add up.
  assert.equal(summary.workers.steps, 30 * 5, 'five background steps per node, summed over the processes');
  assert.ok(summary.transitions >= 30 * 10, `transitions ${summary.transitions}`);
  assert.equal(summary.apiClients.clients, 6, 'the clients of all processes');
  assert.ok(summary.apiClients.exclusiveUpdates > 0, 'the API clients updated nodes');
  assert.equal(summary.apiClients.errors, 0, run.stderr);
  // The wait figures merged from every process's samples: one per granted exclusive acquire.
  assert.ok(summary.lockWaitMs.count >= summary.apiClients.exclusiveUpdates, `lock waits ${summary.lockWaitMs.count}`);
  assert.ok(summary.apiClients.sharedWaitMs.count === summary.apiClients.sharedReads && summary.apiClients.sharedReads > 0);
  // One aggregated progress: the plain lines (stderr with --json) reach 30/30 once per phase.
  for (const phase of ['enroll', 'manage', 'clean', 'deploy']) {
    const done = run.stderr.split('\n').filter((l) => new RegExp(`\\s${phase}\\s+30/30 \\(100%\\)`).test(l));
    assert.equal(done.length, 1, `${phase}: one 100% line for the whole fleet\n${run.stderr}`);
  }

  // Three distinct hosts, each registered in the conductors table.
  assert.equal(summary.hosts.length, 3);
  assert.equal(new Set(summary.hosts).size, 3);
  const registered = new Set((await query<{ hostname: string }>(url, 'SELECT hostname FROM conductors')).map((r) => r.hostname));
  for (const host of summary.hosts) assert.ok(registered.has(host), `${host} registered (conductors: ${[...registered].join(', ')})`);

  // The database agrees, and status --pg lists it.
  const rows = await query<{ provision_state: string; reservation: string | null }>(url, 'SELECT provision_state, reservation FROM nodes');
  assert.equal(rows.length, 30);
  for (const row of rows) assert.deepEqual(row, { provision_state: 'active', reservation: null });
  const status = await bin(['status', '--pg', url, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { total: number; states: Record<string, number> };
  assert.equal(report.total, 30);
  assert.deepEqual(report.states, { active: 30 });
  // A listing, not a conductor: nothing registered (the live conductors' hash rings stay as they are).
  const after = (await query<{ hostname: string }>(url, 'SELECT hostname FROM conductors')).map((r) => r.hostname).sort();
  assert.deepEqual(after, [...registered].sort(), 'status --pg registers no conductor');
  const table = await bin(['status', '--pg', url]);
  assert.match(table.stdout, /^note: conductors online in the table: /m);
});

test('bad input with --pg / --conductors: one line on stderr, exit 2, nothing run', async () => {
  const cases: [string[], RegExp][] = [
    [['--conductors', '2', '--nodes', '3'], /^metal-conductor: --conductors 2 needs --pg URL/],
    [['--pg', server.url, '--memory', '--nodes', '3'], /^metal-conductor: --pg cannot be combined with --memory/],
    [['--pg', server.url, '--db', 'x.sqlite', '--nodes', '3'], /^metal-conductor: --pg cannot be combined with --db/],
    [['--pg', server.url, '--durability', 'batched', '--nodes', '3'], /^metal-conductor: --pg cannot be combined with --durability/],
    [['--pg', 'not a url', '--nodes', '3'], /^metal-conductor: --pg must be a postgres:\/\/ connection string/],
    [['--pg', 'http://127.0.0.1/db', '--nodes', '3'], /^metal-conductor: --pg must be a postgres:\/\/ connection string/],
    [['--pg', server.url, '--conductors', '0', '--nodes', '3'], /^metal-conductor: --conductors must be at least 1, got 0/],
    [['--pg', server.url, '--conductors', '17', '--nodes', '3'], /^metal-conductor: --conductors must be at most 16, got 17/],
    [['status', '--pg', 'mysql://127.0.0.1/db'], /^metal-conductor: --pg must be a postgres:\/\/ connection string/],
  ];
  for (const [args, message] of cases) {
    const run = await bin(args);
    assert.equal(run.code, 2, `${args.join(' ')}: exit code ${run.code}\n${run.stderr}`);
    assert.equal(run.stdout, '', `${args.join(' ')}: nothing on stdout`);
    assert.equal(run.stderr.split('\n').filter((l) => l !== '').length, 1, `${args.join(' ')}: one line, got:\n${run.stderr}`);
    assert.match(run.stderr, message, args.join(' '));
  }
  // A server that is not there: refused in one line too.
  const unreachable = await bin(['--pg', 'postgres://postgres:secret@127.0.0.1:1/none', '--nodes', '3', '--quiet']);
  assert.equal(unreachable.code, 2, unreachable.stderr);
  assert.equal(unreachable.stderr.split('\n').filter((l) => l !== '').length, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /^metal-conductor: cannot open the PostgreSQL store postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none/);
  assert.doesNotMatch(unreachable.stderr, /secret/, 'the password is not printed');
  // Nothing was written: no table in the server's database.
  const tables = await query<{ n: string }>(server.url, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'nodes'");
  assert.equal(Number(tables[0]!.n), 0);
});

test('a second run on the same database resumes: nothing left to do, exit 0; the table summary names the conductors', async () => {
  const url = await freshDatabase('fleet_resume');
  const first = okSummary(await bin(['--pg', url, '--conductors', '2', '--nodes', '12', '--quiet', '--json', ...FAST]));
  assert.deepEqual(first.states, { active: 12 });

  const again = await bin(['--pg', url, '--conductors', '2', '--nodes', '12', '--no-progress', ...FAST]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    /fleet of 12 nodes on PostgreSQL postgres:\/\/postgres:\*\*\*@.*\(2 conductor processes\) \(12 in the store, 12 active; enrolling 0\)/,
  );
  assert.match(again.stdout, /Fleet run: 12 nodes \(0 enrolled by this run\), store PostgreSQL .*, 2 conductors on PostgreSQL, seed 42/);
  assert.match(again.stdout, /conductors\s+2 processes: \S+-c0, \S+-c1/);
  assert.match(again.stdout, /final state\s+nodes\n\s+active\s+12\n\s+total\s+12/);
  assert.match(again.stdout, /transitions\s+0 /);

  // One process on PostgreSQL: in-process, the same database, the same answer.
  const single = okSummary(await bin(['--pg', url, '--nodes', '12', '--quiet', '--json', ...FAST]));
  assert.equal(single.conductors, 1);
  assert.equal(single.enrolled, 0);
  assert.equal(single.transitions, 0);
  assert.deepEqual(single.states, { active: 12 });
});

/** The pids of the processes whose parent is `pid` (Linux /proc). */
async function childPids(pid: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Start the built CLI; resolve once `ready` matches its stdout, with the process and its end. */
function startBin(args: readonly string[], ready: RegExp) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<CliRun & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr })),
  );
  const started = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (ready.test(stdout)) resolve();
    });
    void ended.then((run) => reject(new Error(`the run ended before it was ready:\n${run.stdout}\n${run.stderr}`)));
  });
  return { child, started, ended };
}

test('a conductor process that dies stops the run: the others are stopped, one line naming it, exit 1', async () => {
  const url = await freshDatabase('fleet_child_dies');
  const args = ['--pg', url, '--conductors', '3', '--nodes', '300', '--no-progress', '--min-step-ms', '20', '--max-step-ms', '60'];
  const run = startBin([...args, '--failure-rate', '0'], /manage\s+\d+\/\d+ \(\d+%\)/);
  await run.started;
  const pids = await childPids(run.child.pid!);
  assert.equal(pids.length, 3, 'three conductor processes');
  process.kill(pids[1]!, 'SIGKILL');
  const ended = await run.ended;
  assert.equal(ended.code, 1, ended.stderr);
  const lines = ended.stderr.split('\n').filter((l) => l.startsWith('metal-conductor: '));
  assert.equal(lines.length, 1, ended.stderr);
  assert.match(
    lines[0]!,
    new RegExp(`^metal-conductor: conductor process c\\d \\(host \\S+-c\\d, pid ${pids[1]}\\) was killed by SIGKILL before finishing`),
  );
  for (const pid of pids) assert.ok(!alive(pid), `conductor process ${pid} is gone`);

  // The next run takes over what the dead process held and completes.
  const again = await bin([...args, '--failure-rate', '0', '--retry-failed', '--quiet', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const rerun = summaryOf(again);
  assert.deepEqual(rerun.states, { active: 300 }, again.stderr);
  assert.equal(rerun.reserved, 0);
});

test('SIGINT stops every conductor process cleanly: an interrupted summary, exit 130, nothing reserved', async () => {
  const url = await freshDatabase('fleet_sigint');
  const args = ['--pg', url, '--conductors', '2', '--nodes', '200', '--no-progress', '--min-step-ms', '20', '--max-step-ms', '60'];
  const run = startBin([...args, '--failure-rate', '0'], /manage\s+\d+\/\d+ \(\d+%\)/);
  await run.started;
  const pids = await childPids(run.child.pid!);
  assert.equal(pids.length, 2);
  run.child.kill('SIGINT');
  const ended = await run.ended;
  assert.equal(ended.code, 130, ended.stderr);
  assert.match(ended.stdout, /Fleet run \(interrupted\): 200 nodes/);
  // The children stopped taking work (not run to the end): most nodes are short of active.
  const active = Number(/\(active (\d+), failed/.exec(ended.stdout)?.[1]);
  assert.ok(active < 150, `the children stopped early (active ${active})\n${ended.stdout}`);
  for (const pid of pids) assert.ok(!alive(pid), `conductor process ${pid} is gone`);
  const reserved = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM nodes WHERE reservation IS NOT NULL');
  assert.equal(Number(reserved[0]!.n), 0, 'every reservation released');
});
