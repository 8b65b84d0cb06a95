/**
 * The REAL OpenStack Ironic TaskManager on PostgreSQL, in 1..N processes (each its own conductor,
 * its own CONF.host) against the same database: the figures the cluster benchmark quotes beside
 * ours. `runIronicOnPostgres(url, processes, quick)` is what other benchmark code calls (on the
 * server it started); `bench:ironic --ironic-db postgres` calls it on a server of its own.
 *
 * How the processes run: for each N, N `driver.py --db postgres --worker --host bench-pN-i`
 * processes (/usr/bin/python3, eventlet monkey-patched like ironic-conductor) are started and each
 * brings up a real ConductorManager (prepare_host + init_host: conductor row, keepalive, worker
 * pool; periodics off). They answer one JSON line per command on stdin; a command is written to
 * all N at the same moment (the start barrier) and every answer is awaited before the next:
 *
 * - `exclusive-cycle`: each process cycles acquire exclusive (load_driver=False) + release on a
 *   node of its own, closed loop, same plan as driver.py (0.5 s warm-up, 3 × 1.5 s; quick 50 ms +
 *   150 ms); total cycles/s = the sum of the processes' median rates, latency merged.
 * - `contention`: 32 callers (eventlet greenthreads) spread evenly over the N processes (11/11/10
 *   for 3), all on ONE node, default budget (node_locked_retry_attempts=3, interval 1 s); each
 *   caller: acquire + eventlet.sleep(0) + release, 10 times (quick 2); wait = acquire → granted
 *   (granted ones), NodeLocked share = NodeLocked / attempts.
 * - `takeover` (once, 2 fresh processes): the victim takes a node's exclusive lock and is
 *   SIGKILLed; the survivor (periodics ON: Ironic's _check_orphan_nodes clears reservations of
 *   conductors whose heartbeat is older than heartbeat_timeout) polls the reservation every 50 ms
 *   and acquires. `short` timers (heartbeat 1 s / timeout 3 s, periodic 1 s, hash ring 1 s) measure
 *   the mechanism in seconds; `defaults` (10 / 60 / 60 / 15 s) measures what a deployment gets,
 *   about 1-2 minutes. Either way the bound under the defaults is computed from the config too.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recorderOf } from '../lib/histogram.js';
import type { LatencyUs } from '../lib/result.js';
import type { ContentionCounts } from '../lib/contention-figure.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(dirname(here));
const ironicDir = join(repoDir, 'benchmarks', 'ironic');
const PYTHON = '/usr/bin/python3';

export const CONTENTION_CALLERS = 32;

/** Ironic's [conductor] defaults (21.4) that bound a takeover, and the short timers of `short`. */
const TAKEOVER_DEFAULTS = { heartbeatInterval: 10, heartbeatTimeout: 60, checkProvisionStateInterval: 60, hashRingResetInterval: 15 };
const TAKEOVER_SHORT = { heartbeatInterval: 1, heartbeatTimeout: 3, checkProvisionStateInterval: 1, hashRingResetInterval: 1 };
type TakeoverTimers = typeof TAKEOVER_DEFAULTS;

export interface IronicExclusiveFigure {
  readonly processes: number;
  /** Sum of the processes' median cycles/s (they run at the same time, each on its own node). */
  readonly totalOpsPerSec: number;
  readonly perProcessOpsPerSec: readonly number[];
  readonly ops: number;
  /** Per cycle, all processes merged (nearest rank). */
  readonly latencyUs: LatencyUs;
}

export interface IronicContentionFigure extends ContentionCounts {
  readonly callers: number;
  /** Waits of every attempt, NodeLocked ones included. */
  readonly allWaitUs: LatencyUs;
  /** acquire → NodeLocked raised. */
  readonly failedWaitUs: LatencyUs;
  readonly callersNeverGranted: number;
  /** Wall time of the slowest process. */
  readonly seconds: number;
  readonly budget: string;
}

export interface IronicTakeoverFigure {
  /** Which timers the measured run used. */
  readonly mode: 'defaults' | 'short';
  readonly timers: TakeoverTimers;
  /** From SIGKILL of the holder: reservation cleared by the survivor's periodic, lock granted to it. */
  readonly measured: { readonly clearedS: number; readonly grantedS: number; readonly victimHeartbeatAgeAtKillS: number | null } | null;
  /** Computed from Ironic's defaults: [heartbeat_timeout − heartbeat_interval, heartbeat_timeout + hash_ring_reset_interval + check_provision_state_interval]. */
  readonly defaultsBoundS: { readonly min: number; readonly max: number };
  readonly note: string;
  readonly error?: string;
}

export interface IronicClusterFigures {
  readonly date: string;
  readonly quick: boolean;
  /** Connection string Ironic used, password hidden. */
  readonly database: string;
  readonly versions: Record<string, string>;
  /** One worker's configuration (host aside, all are the same). */
  readonly config: Record<string, unknown>;
  readonly schemaSeconds: number;
  readonly processes: readonly number[];
  readonly exclusive: readonly IronicExclusiveFigure[];
  readonly contention: readonly IronicContentionFigure[];
  readonly takeover: IronicTakeoverFigure | null;
  readonly errors: readonly string[];
}

export interface IronicPostgresOptions {
  /** Timers of the takeover measurement (default: `short` when quick, else `defaults`); `skip` leaves it out. */
  readonly takeover?: 'defaults' | 'short' | 'skip';
  /** Progress lines (stderr by default). */
  readonly say?: (line: string) => void;
}

/** postgres://u:p@h:port/db → postgresql+psycopg2://u:p@h:port/db (SQLAlchemy's scheme for Ironic). */
export function ironicPgUrl(url: string): string {
  return url.replace(/^postgres(ql)?:\/\//, 'postgresql+psycopg2://');
}

const redact = (url: string): string => url.replace(/(:\/\/[^:/@]+):[^@]*@/, '$1:***@');

/** install.sh: Ironic and psycopg2 importable by /usr/bin/python3 (apt-get when root), else throw. */
export function ensureIronicPostgres(): void {
  const installed = spawnSync('bash', [join(ironicDir, 'install.sh')], { stdio: ['ignore', 2, 2] });
  if (installed.status !== 0) throw new Error('the real Ironic (python3-ironic, python3-psycopg2) is not available; see install.sh output');
}

// ---------------------------------------------------------------------------------------------
// statistics

function percentileUs(sortedNs: readonly number[], q: number): number {
  if (sortedNs.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((q / 100) * sortedNs.length));
  return Math.round(sortedNs[rank - 1]! / 10) / 100;
}

function latency(samplesNs: readonly number[]): LatencyUs {
  const s = [...samplesNs].sort((a, b) => a - b);
  const mean = s.length === 0 ? 0 : s.reduce((a, b) => a + b, 0) / s.length;
  return {
    p50: percentileUs(s, 50),
    p99: percentileUs(s, 99),
    p999: percentileUs(s, 99.9),
    max: percentileUs(s, 100),
    mean: Math.round(mean / 10) / 100,
  };
}

// ---------------------------------------------------------------------------------------------
// worker processes

type Json = Record<string, unknown>;

class Worker {
  readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private readonly waiting: ((line: Json) => void)[] = [];
  private readonly lines: Json[] = [];
  private errTail = '';
  private exited: string | undefined;
  /** The worker's {"ready": ...} line: pid, setup time, configuration, versions. */
  ready: Json = {};

  constructor(
    readonly host: string,
    url: string,
    extra: readonly string[],
    say: (line: string) => void,
  ) {
    const argv = [join(ironicDir, 'driver.py'), '--db', 'postgres', '--db-url', ironicPgUrl(url), '--worker', '--host', host, ...extra];
    this.child = spawn(PYTHON, argv, { stdio: ['pipe', 'pipe', 'pipe'], cwd: repoDir });
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.trim() === '') continue;
        let obj: Json;
        try {
          obj = JSON.parse(line) as Json;
        } catch {
          obj = { error: `${host}: not a JSON line on stdout: ${line.slice(0, 200)}` };
        }
        const w = this.waiting.shift();
        if (w !== undefined) w(obj);
        else this.lines.push(obj);
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.errTail = (this.errTail + chunk).slice(-3000);
      for (const line of chunk.split('\n')) if (line.startsWith('[ironic driver]')) say(`  ${host}: ${line}`);
    });
    const ended = (why: string): void => {
      this.exited ??= why;
      for (const w of this.waiting.splice(0)) w({ error: `${host} ${this.exited}: ${this.errTail}` });
    };
    this.child.on('exit', (code, signal) => ended(`exited (${signal ?? code})`));
    this.child.on('error', (e) => ended(`could not run ${PYTHON}: ${e.message}`));
    // A write to a worker that just died (EPIPE) is reported by its exit, not thrown.
    this.child.stdin.on('error', () => undefined);
  }

  next(): Promise<Json> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited !== undefined) return Promise.resolve({ error: `${this.host} ${this.exited}: ${this.errTail}` });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  send(cmd: Json): void {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  async ask(cmd: Json): Promise<Json> {
    this.send(cmd);
    return unwrap(this.host, await this.next());
  }

  async quit(): Promise<void> {
    if (this.exited !== undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ cmd: 'quit' });
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.exited === undefined) this.child.kill('SIGKILL');
  }
}

function unwrap(host: string, reply: Json): Json {
  if (typeof reply['error'] === 'string') throw new Error(`${host}: ${reply['error']}`);
  return (reply['ok'] ?? reply) as Json;
}

async function startWorkers(url: string, hosts: readonly string[], extra: readonly string[], say: (l: string) => void): Promise<Worker[]> {
  const workers = hosts.map((h) => new Worker(h, url, extra, say));
  try {
    const ready = await Promise.all(workers.map(async (w) => unwrap(w.host, await w.next())));
    for (const [i, r] of ready.entries()) if (r['ready'] !== true) throw new Error(`${hosts[i]}: not ready: ${JSON.stringify(r)}`);
    workers.forEach((w, i) => (w.ready = ready[i]!));
    return workers;
  } catch (e) {
    for (const w of workers) w.kill();
    throw e;
  }
}

function runSchema(url: string): Promise<Json> {
  return new Promise((resolve, reject) => {
    const argv = [join(ironicDir, 'driver.py'), '--db', 'postgres', '--db-url', ironicPgUrl(url), '--create-schema'];
    const child = spawn(PYTHON, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoDir });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-3000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`driver.py --create-schema exited with ${code}:\n${err}`));
      else resolve(JSON.parse(out) as Json);
    });
  });
}

/** Callers per process: 32 spread evenly (the first ones get the remainder). */
export function spread(total: number, processes: number): number[] {
  return Array.from({ length: processes }, (_, i) => Math.floor(total / processes) + (i < total % processes ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// the run

/**
 * Ironic's figures on the PostgreSQL database `url` (postgres://user:pass@host:port/db, empty or
 * already holding Ironic's schema) for each process count. Creates Ironic's schema first
 * (`ironic-dbsync create_schema`'s create_all + stamp head; a no-op when it exists). Runs
 * install.sh first (throws when Ironic cannot be made importable).
 */
export async function runIronicOnPostgres(
  url: string,
  processes: number[],
  quick: boolean,
  options: IronicPostgresOptions = {},
): Promise<IronicClusterFigures> {
  const say = options.say ?? ((line: string) => void process.stderr.write(`[ironic-postgres] ${line}\n`));
  const takeoverMode = options.takeover ?? (quick ? 'short' : 'defaults');
  const date = new Date().toISOString();
  ensureIronicPostgres();
  const errors: string[] = [];
  say(`Ironic schema on ${redact(url)} ...`);
  const schema = await runSchema(url);
  const exclusive: IronicExclusiveFigure[] = [];
  const contention: IronicContentionFigure[] = [];
  let versions: Record<string, string> = (schema['versions'] as Record<string, string> | undefined) ?? {};
  let config: Record<string, unknown> = {};
  const cyclesPerCaller = quick ? 2 : 10;

  for (const n of processes) {
    const hosts = Array.from({ length: n }, (_, i) => `bench-p${n}-${i + 1}`);
    say(`${n} process(es): starting ${hosts.join(', ')} ...`);
    let workers: Worker[] = [];
    try {
      workers = await startWorkers(url, hosts, [], say);
      const info = workers[0]!.ready;
      versions = (info['versions'] as Record<string, string> | undefined) ?? versions;
      const { host: _host, ...rest } = (info['config'] as Json | undefined) ?? {};
      config = rest;

      // Exclusive cycles: every process at once, each on its own node (a warm-up round first
      // creates the nodes and warms each process up).
      await Promise.all(workers.map((w) => w.ask({ cmd: 'exclusive-cycle', quick: true })));
      const ex = await Promise.all(workers.map((w) => w.ask({ cmd: 'exclusive-cycle', quick })));
      const perProcess = ex.map((r) => Number(r['opsPerSec']));
      const samples = ex.flatMap((r) => r['samplesNs'] as number[]);
      const fig: IronicExclusiveFigure = {
        processes: n,
        totalOpsPerSec: Math.round(perProcess.reduce((a, b) => a + b, 0) * 100) / 100,
        perProcessOpsPerSec: perProcess,
        ops: samples.length,
        latencyUs: latency(samples),
      };
      exclusive.push(fig);
      say(`${n} process(es): exclusive ${fig.totalOpsPerSec} cycles/s in total (${perProcess.join(' + ')}), p99 ${fig.latencyUs.p99} µs`);

      // Contention: one node, 32 callers spread over the processes.
      const node = String((await workers[0]!.ask({ cmd: 'create-node' }))['node']);
      await workers[0]!.ask({ cmd: 'contention', node, callers: 1, cycles: quick ? 5 : 20 }); // uncontended warm-up
      const split = spread(CONTENTION_CALLERS, n);
      const co = await Promise.all(workers.map((w, i) => w.ask({ cmd: 'contention', node, callers: split[i], cycles: cyclesPerCaller })));
      const sum = (k: string): number => co.reduce((a, r) => a + Number(r[k]), 0);
      const other = sum('other');
      if (other > 0) errors.push(`contention ${n} process(es): ${other} acquires failed with something other than NodeLocked`);
      const waits = co.flatMap((r) => r['waitsNs'] as number[]);
      const failed = co.flatMap((r) => r['failedWaitsNs'] as number[]);
      const seconds = Math.max(...co.map((r) => Number(r['seconds'])));
      const attempts = sum('attempts');
      const c: IronicContentionFigure = {
        processes: n,
        callers: CONTENTION_CALLERS,
        callersPerProcess: split,
        cyclesPerCaller,
        attempts,
        grants: sum('grants'),
        nodeLocked: sum('nodeLocked'),
        nodeLockedShare: attempts === 0 ? 0 : Math.round((sum('nodeLocked') / attempts) * 10000) / 10000,
        waitUs: latency(waits),
        waitHistogram: recorderOf(waits).toJson(),
        allWaitUs: latency([...waits, ...failed]),
        failedWaitUs: latency(failed),
        callersNeverGranted: sum('callersNeverGranted'),
        seconds,
        grantsPerSec: seconds > 0 ? Math.round((sum('grants') / seconds) * 100) / 100 : 0,
        budget: `${String(config['nodeLockedRetryAttempts'])}x${Number(config['nodeLockedRetryInterval']) * 1000}ms`,
      };
      contention.push(c);
      say(
        `${n} process(es): contention T=32 ${c.grants}/${c.attempts} granted, NodeLocked ${c.nodeLocked} (${(c.nodeLockedShare * 100).toFixed(1)} %), ` +
          `wait p50 ${c.waitUs.p50} µs p99 ${c.waitUs.p99} µs, ${c.seconds} s`,
      );
    } catch (e) {
      errors.push(`${n} process(es): ${(e as Error).message}`);
      say(`${n} process(es) FAILED: ${(e as Error).message}`);
    } finally {
      await Promise.all(workers.map((w) => w.quit()));
    }
  }

  const takeover = takeoverMode === 'skip' ? null : await measureTakeover(url, takeoverMode, say);
  if (takeover?.error !== undefined) errors.push(`takeover: ${takeover.error}`);
  return {
    date,
    quick,
    database: redact(ironicPgUrl(url)),
    versions,
    config,
    schemaSeconds: Number(schema['seconds']),
    processes,
    exclusive,
    contention,
    takeover,
    errors,
  };
}

async function measureTakeover(url: string, mode: 'defaults' | 'short', say: (l: string) => void): Promise<IronicTakeoverFigure> {
  const timers = mode === 'short' ? TAKEOVER_SHORT : TAKEOVER_DEFAULTS;
  const d = TAKEOVER_DEFAULTS;
  const base = {
    mode,
    timers,
    defaultsBoundS: {
      min: d.heartbeatTimeout - d.heartbeatInterval,
      max: d.heartbeatTimeout + d.hashRingResetInterval + d.checkProvisionStateInterval,
    },
    note:
      'time from SIGKILL of the holding conductor to the survivor clearing its reservation (_check_orphan_nodes, every ' +
      'check_provision_state_interval, once the dead conductor heartbeat is older than heartbeat_timeout and the hash ring, ' +
      'rebuilt after hash_ring_reset_interval, maps the node to the survivor) and acquiring the node; defaultsBoundS is computed ' +
      'from the defaults, not measured' +
      (mode === 'short' ? ' (the measured run used short timers: it measures the mechanism, not the default delay)' : ''),
  };
  const conf = [
    `heartbeat_interval=${timers.heartbeatInterval}`,
    `heartbeat_timeout=${timers.heartbeatTimeout}`,
    `check_provision_state_interval=${timers.checkProvisionStateInterval}`,
    `hash_ring_reset_interval=${timers.hashRingResetInterval}`,
  ].flatMap((kv) => ['--conf', kv]);
  say(`takeover (${mode} timers): starting victim and survivor ...`);
  let victim: Worker | undefined;
  let survivor: Worker | undefined;
  try {
    victim = (await startWorkers(url, ['bench-victim'], conf, say))[0]!;
    survivor = (await startWorkers(url, ['bench-survivor'], [...conf, '--periodics'], say))[0]!;
    const node = String((await survivor.ask({ cmd: 'create-node' }))['node']);
    await victim.ask({ cmd: 'hold', node });
    const dead = victim;
    const exited = new Promise<void>((resolve) => dead.child.once('exit', () => resolve()));
    victim.kill();
    await exited;
    say(`takeover: bench-victim SIGKILLed holding ${node}; waiting for bench-survivor ...`);
    const r = await survivor.ask({ cmd: 'takeover', node, victim: 'bench-victim', timeout: 600 });
    const measured = {
      clearedS: Number(r['clearedS']),
      grantedS: Number(r['grantedS']),
      victimHeartbeatAgeAtKillS: r['victimHeartbeatAgeAtKillS'] === null ? null : Number(r['victimHeartbeatAgeAtKillS']),
    };
    say(`takeover: reservation cleared after ${measured.clearedS} s, granted after ${measured.grantedS} s`);
    return { ...base, measured };
  } catch (e) {
    victim?.kill();
    return { ...base, measured: null, error: (e as Error).message };
  } finally {
    await survivor?.quit();
  }
}
