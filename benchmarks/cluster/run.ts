/**
 * `npm run bench:cluster`: metal-conductor as 1, 2 and 3 conductor processes on ONE PostgreSQL
 * server (started here, stopped at the end), beside the raw PostgreSQL floor and the real Ironic on
 * the same server. Options: `--quick`, `--processes 1,2,3`, `--kills N` (default 10, quick 3),
 * `--no-ironic`. See benchmarks/README.md ("Cluster") for what each measure does.
 */
import { parseArgs } from 'node:util';
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Conductor, orThrow, silentLogger } from '../../dist/actors/index.js';
import { runIronicOnPostgres, spread, type IronicClusterFigures } from '../ironic/postgres.js';
import { recorderOf, type HistogramJson } from '../lib/histogram.js';
import { describeMachine, machineInfo, runEnvironment } from '../lib/machine.js';
import { startPgServer } from '../lib/pg-server.js';
import { REPO_DIR, startRun } from '../lib/run-dir.js';
import type { LatencyUs } from '../lib/result.js';
import { textTable, type Cell, type Column } from '../lib/table.js';
import {
  epochMs,
  type Attempt,
  type Command,
  type ContendReply,
  type LoopPhase,
  type LoopReply,
  type Reply,
  type TakeReply,
} from './protocol.js';
import type { ContentionCounts } from '../lib/contention-figure.js';

const here = dirname(fileURLToPath(import.meta.url));
const TAKEOVER_TEXT = 'Operation was aborted due to conductor take over';
const CONTENTION_CALLERS = 32;
/** Closed loops per process (exclusive cycle, process-event, floor), each on its own node / connection. */
const LOOPS = 4;
/** Nodes the victim holds per kill (one of them `deploying`). */
const VICTIM_NODES = 4;

// ------------------------------------------------------------------------------------------ options

interface Options {
  readonly quick: boolean;
  readonly processes: number[];
  readonly kills: number;
  readonly ironic: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      'no-ironic': { type: 'boolean', default: false },
      processes: { type: 'string', default: '1,2,3' },
      kills: { type: 'string' },
    },
    strict: true,
  });
  const processes = values.processes.split(',').map(Number);
  if (processes.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error('--processes: counts 1..8, comma-separated');
  const kills = values.kills === undefined ? (values.quick ? 3 : 10) : Number(values.kills);
  if (!Number.isInteger(kills) || kills < 0) throw new Error('--kills: a non-negative integer');
  return { quick: values.quick, processes, kills, ironic: !values['no-ironic'] };
}

// ------------------------------------------------------------------------------------------ children

class Child {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #exit: string | undefined;
  #stderr = '';

  constructor(
    readonly host: string,
    url: string,
    readonly index: number,
  ) {
    this.process = fork(join(here, 'conductor-process.js'), [host, url, String(index)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    this.process.stderr!.setEncoding('utf8').on('data', (c: string) => (this.#stderr = (this.#stderr + c).slice(-4000)));
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
    this.process.on('message', (m: Reply) => {
      if (m.id === 0) return void readyResolve();
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`${host}: ${m.error}`));
      else p.resolve(m.ok);
    });
    this.exited = new Promise((resolve) =>
      this.process.once('exit', (code, signal) => {
        this.#exit = `exited (${signal ?? code})`;
        const e = new Error(`${host} ${this.#exit}${this.#stderr === '' ? '' : `: ${this.#stderr}`}`);
        readyReject(e);
        for (const p of this.#pending.values()) p.reject(e);
        this.#pending.clear();
        resolve();
      }),
    );
  }

  ask<T>(command: Command): Promise<T> {
    if (this.#exit !== undefined) return Promise.reject(new Error(`${this.host} ${this.#exit}`));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ ...command, id });
    });
  }

  async stop(): Promise<void> {
    if (this.#exit !== undefined) return;
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 15_000);
    await this.ask({ cmd: 'stop' }).catch(() => undefined);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exit === undefined) this.process.kill('SIGKILL');
  }
}

async function startChildren(url: string, hosts: readonly string[]): Promise<Child[]> {
  const children = hosts.map((h, i) => new Child(h, url, i));
  try {
    await Promise.all(children.map((c) => c.ready));
    return children;
  } catch (e) {
    for (const c of children) c.kill();
    throw e;
  }
}

// ------------------------------------------------------------------------------------------ statistics

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(1, Math.ceil((q / 100) * sorted.length)) - 1]!;
}

/** Nearest-rank percentiles (µs) of samples in ns. */
function latencyOfNs(samplesNs: readonly number[]): LatencyUs {
  const s = [...samplesNs].sort((a, b) => a - b);
  const mean = s.length === 0 ? 0 : s.reduce((a, b) => a + b, 0) / s.length;
  const us = (ns: number): number => Math.round(ns / 10) / 100;
  return { p50: us(percentile(s, 50)), p99: us(percentile(s, 99)), p999: us(percentile(s, 99.9)), max: us(s.at(-1) ?? 0), mean: us(mean) };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** A duration in µs, in the unit that suits it. */
function dur(us: number): string {
  if (!Number.isFinite(us)) return String(us);
  if (us < 1000) return `${us < 10 ? us.toFixed(1) : Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** Word-wrap a line at 120 columns (continuation lines indented). */
function wrap(text: string, indent = '  '): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > 120) {
      lines.push(line);
      line = `${indent}${word}`;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 1)} %`;

// ------------------------------------------------------------------------------------------ measures

interface LoopFigure {
  readonly totalOpsPerSec: number;
  readonly perProcessOpsPerSec: readonly number[];
  readonly ops: number;
  readonly latencyUs: LatencyUs;
  /** The whole distribution of the same samples (lib/histogram.ts). */
  readonly histogram: HistogramJson | null;
  readonly errors: number;
  readonly firstError?: string;
}

function loopFigure(replies: readonly LoopReply[]): LoopFigure {
  const perProcess = replies.map((r) => Math.round(median(r.roundOps.map((ops, i) => ops / r.roundSeconds[i]!))));
  const errors = replies.reduce((a, r) => a + r.errors, 0);
  const firstError = replies.find((r) => r.firstError !== undefined)?.firstError;
  return {
    totalOpsPerSec: perProcess.reduce((a, b) => a + b, 0),
    perProcessOpsPerSec: perProcess,
    ops: replies.reduce((a, r) => a + r.samplesNs.length, 0),
    latencyUs: latencyOfNs(replies.flatMap((r) => r.samplesNs)),
    histogram: recorderOf(replies.flatMap((r) => r.samplesNs)).toJson(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

interface ContentionFigure extends ContentionCounts {
  readonly other: number;
  readonly firstError?: string;
  /** Share of the grants per process (callers' share beside it in callersPerProcess). */
  readonly grantShare: readonly number[];
  /** Grants that overtook an earlier-requested waiter of another process / grants. */
  readonly crossOvertakeShare: number;
  /** Grants that overtook an earlier-requested waiter of the same process / grants. */
  readonly sameOvertakeShare: number;
}

function contentionFigure(n: number, split: readonly number[], cycles: number, replies: readonly ContendReply[]): ContentionFigure {
  const all: Attempt[] = replies.flatMap((r) => r.attempts).sort((a, b) => a.req - b.req);
  const granted = all.filter((a) => a.granted);
  let cross = 0;
  let same = 0;
  for (const g of granted) {
    let overCross = false;
    let overSame = false;
    for (const w of all) {
      if (w.req >= g.req) break; // sorted by request time
      if (w.end <= g.end) continue; // no longer waiting when g was granted
      if (w.proc !== g.proc) overCross = true;
      else overSame = true;
      if (overCross && overSame) break;
    }
    if (overCross) cross += 1;
    if (overSame) same += 1;
  }
  const nodeLocked = replies.reduce((a, r) => a + r.nodeLocked, 0);
  const other = replies.reduce((a, r) => a + r.other, 0);
  const seconds = Math.max(...replies.map((r) => r.seconds));
  const firstError = replies.find((r) => r.firstError !== undefined)?.firstError;
  return {
    processes: n,
    callersPerProcess: split,
    cyclesPerCaller: cycles,
    attempts: all.length,
    grants: granted.length,
    nodeLocked,
    nodeLockedShare: all.length === 0 ? 0 : nodeLocked / all.length,
    other,
    ...(firstError === undefined ? {} : { firstError }),
    waitUs: latencyOfNs(granted.map((g) => (g.end - g.req) * 1e6)),
    waitHistogram: recorderOf(granted.map((g) => (g.end - g.req) * 1e6)).toJson(),
    grantsPerSec: Math.round(granted.length / seconds),
    grantShare: split.map((_, p) => round2(granted.filter((g) => g.proc === p).length / Math.max(1, granted.length))),
    crossOvertakeShare: granted.length === 0 ? 0 : cross / granted.length,
    sameOvertakeShare: granted.length === 0 ? 0 : same / granted.length,
  };
}

interface StalenessFigure {
  readonly processes: number;
  readonly samples: number;
  readonly delayUs: LatencyUs;
  /** Observations made before the writer's acknowledgement returned (counted as 0). */
  readonly seenBeforeAck: number;
  readonly missed: number;
  readonly firstError?: string;
}

interface PerProcessCount {
  readonly processes: number;
  readonly exclusive: LoopFigure;
  readonly processEvent: LoopFigure;
  readonly floor: LoopFigure;
  readonly contention: ContentionFigure;
  readonly staleness: StalenessFigure | null;
}

interface KillSample {
  readonly kill: number;
  readonly victim: string;
  /** Kill → no node reserved by the victim in the database. */
  readonly clearedMs: number;
  /** Kill → each node granted to a survivor. */
  readonly grantedMs: readonly number[];
  /** Kill → the deploying node is `deploy failed` with Ironic's last_error (NaN: not within 30 s). */
  readonly failedMs: number;
  /** provision_state of the deploying node when a survivor was granted it (`deploying`: granted before it was failed). */
  readonly deployStateAtGrant: string;
  readonly deployState: string;
  readonly deployLastError: string | null;
  readonly deployOk: boolean;
  readonly takeoverBy: string | null;
}

interface TakeoverFigure {
  readonly processes: number;
  readonly kills: number;
  readonly nodesPerKill: number;
  readonly livenessCheckIntervalMs: number;
  readonly clearedMs: { readonly p50: number; readonly max: number };
  readonly grantedMs: { readonly p50: number; readonly max: number };
  readonly deployFailedOk: number;
  readonly failedMs: { readonly p50: number; readonly max: number };
  /** Kills where a survivor was granted the deploying node while it still said `deploying`. */
  readonly grantedWhileDeploying: number;
  readonly samples: readonly KillSample[];
  readonly errors: readonly string[];
}

function phasePlan(quick: boolean): Omit<LoopPhase, 'startAt'> {
  return quick ? { warmupMs: 150, roundMs: 600, rounds: 1, loops: LOOPS } : { warmupMs: 500, roundMs: 1500, rounds: 3, loops: LOOPS };
}

/** All children run `make(child)` at the same barrier (300 ms from now). */
async function together<T>(children: readonly Child[], make: (child: Child, startAt: number) => Command): Promise<T[]> {
  const startAt = epochMs() + 300;
  return Promise.all(children.map((c) => c.ask<T>(make(c, startAt))));
}

async function measureCount(url: string, n: number, quick: boolean, say: (l: string) => void): Promise<PerProcessCount> {
  const hosts = Array.from({ length: n }, (_, i) => `bench-p${n}-${i + 1}`);
  say(`${n} process(es): starting ${hosts.join(', ')}`);
  const children = await startChildren(url, hosts);
  try {
    const plan = phasePlan(quick);
    const exNodes = await Promise.all(
      children.map((c) => c.ask<number[]>({ cmd: 'enroll', count: LOOPS, provisionState: 'available', prefix: `${c.host}-ex` })),
    );
    const peNodes = await Promise.all(
      children.map((c) => c.ask<number[]>({ cmd: 'enroll', count: LOOPS, provisionState: 'manageable', prefix: `${c.host}-pe` })),
    );

    // An untimed warm-up of every loop kind first (node actors loaded, pools connected, JIT warm).
    const warm = { warmupMs: 100, roundMs: 300, rounds: 1, loops: LOOPS };
    await together<LoopReply>(children, (c, startAt) => ({ cmd: 'exclusive', nodes: exNodes[c.index]!, startAt, ...warm }));
    await together<LoopReply>(children, (c, startAt) => ({ cmd: 'process-event', nodes: peNodes[c.index]!, startAt, ...warm }));
    await together<LoopReply>(children, (c, startAt) => ({ cmd: 'floor', firstId: c.index * LOOPS + 1, startAt, ...warm }));
    const exclusive = loopFigure(
      await together<LoopReply>(children, (c, startAt) => ({ cmd: 'exclusive', nodes: exNodes[c.index]!, startAt, ...plan })),
    );
    say(
      `${n}: exclusive ${exclusive.totalOpsPerSec}/s (${exclusive.perProcessOpsPerSec.join(' + ')}), p50 ${dur(exclusive.latencyUs.p50)}`,
    );
    const processEvent = loopFigure(
      await together<LoopReply>(children, (c, startAt) => ({ cmd: 'process-event', nodes: peNodes[c.index]!, startAt, ...plan })),
    );
    say(`${n}: process-event ${processEvent.totalOpsPerSec}/s, p50 ${dur(processEvent.latencyUs.p50)}`);
    const floor = loopFigure(
      await together<LoopReply>(children, (c, startAt) => ({ cmd: 'floor', firstId: c.index * LOOPS + 1, startAt, ...plan })),
    );
    say(`${n}: floor ${floor.totalOpsPerSec} pairs/s (${floor.perProcessOpsPerSec.join(' + ')}), p50 ${dur(floor.latencyUs.p50)}`);

    // Contention: one node, 32 callers spread over the processes; an uncontended warm-up first.
    const [node] = await children[0]!.ask<number[]>({
      cmd: 'enroll',
      count: 1,
      provisionState: 'available',
      prefix: `bench-p${n}-contend`,
    });
    await together<ContendReply>(children, (_, startAt) => ({ cmd: 'contend', node: node!, callers: 1, cycles: 3, startAt }));
    const split = spread(CONTENTION_CALLERS, n);
    const cycles = quick ? 5 : 50;
    const contention = contentionFigure(
      n,
      split,
      cycles,
      await together<ContendReply>(children, (c, startAt) => ({ cmd: 'contend', node: node!, callers: split[c.index]!, cycles, startAt })),
    );
    say(
      `${n}: contention ${contention.grants}/${contention.attempts} granted, NodeLocked ${contention.nodeLocked}, wait p99 ${dur(contention.waitUs.p99)}`,
    );

    const staleness = n >= 2 ? await measureStaleness(children[0]!, children[n - 1]!, n, quick) : null;
    if (staleness !== null) say(`${n}: staleness p50 ${dur(staleness.delayUs.p50)} p99 ${dur(staleness.delayUs.p99)}`);
    return { processes: n, exclusive, processEvent, floor, contention, staleness };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

/** A commits updateNode on X (holding X); B polls its cached snapshot(X) until it sees the new version. */
async function measureStaleness(writer: Child, reader: Child, n: number, quick: boolean): Promise<StalenessFigure> {
  const [node] = await writer.ask<number[]>({ cmd: 'enroll', count: 1, provisionState: 'available', prefix: `bench-p${n}-stale` });
  await writer.ask({ cmd: 'hold-one', node: node! });
  const samples = quick ? 20 : 200;
  const delays: number[] = [];
  let early = 0;
  let missed = 0;
  let firstError: string | undefined;
  try {
    for (let i = 0; i < samples + 3; i++) {
      await reader.ask({ cmd: 'watch-start', node: node! });
      const commit = await writer.ask<{ ackAt: number; version: number }>({ cmd: 'commit', node: node! });
      try {
        const seen = await reader.ask<{ seenAt: number; version: number }>({ cmd: 'watch-result', timeoutMs: 5000 });
        if (seen.version < commit.version) throw new Error(`saw version ${seen.version}, committed ${commit.version}`);
        if (i < 3) continue; // warm-up
        const d = seen.seenAt - commit.ackAt;
        if (d < 0) early += 1;
        delays.push(Math.max(0, d) * 1e6); // ms → ns
      } catch (e) {
        missed += 1;
        firstError ??= (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await writer.ask({ cmd: 'drop-held' });
  }
  return {
    processes: n,
    samples: delays.length,
    delayUs: latencyOfNs(delays),
    seenBeforeAck: early,
    missed,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

async function measureTakeover(url: string, processes: number, kills: number, say: (l: string) => void): Promise<TakeoverFigure> {
  const survivorsHosts = Array.from({ length: processes - 1 }, (_, i) => `bench-p${processes}-t${i + 1}`);
  say(`takeover: survivors ${survivorsHosts.join(', ')}, ${kills} kill(s)`);
  const survivors = await startChildren(url, survivorsHosts);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const samples: KillSample[] = [];
  const errors: string[] = [];
  try {
    for (let k = 1; k <= kills; k++) {
      const host = `bench-p${processes}-v${k}`;
      const [victim] = await startChildren(url, [host]);
      try {
        const nodes = await victim!.ask<number[]>({
          cmd: 'enroll',
          count: VICTIM_NODES,
          provisionState: 'available',
          prefix: `${host}-held`,
        });
        await victim!.ask({ cmd: 'hold', nodes, deployNode: nodes[0]! });
        // Survivors queue for the nodes first (round-robin), then the victim dies.
        const takes = survivors.map((s, i) => s.ask<TakeReply>({ cmd: 'take', nodes: nodes.filter((_, j) => j % survivors.length === i) }));
        await new Promise((r) => setTimeout(r, 50));
        const killedAt = epochMs();
        victim!.kill();
        let clearedAt = Number.NaN;
        const deadline = killedAt + 60_000;
        while (epochMs() < deadline) {
          const left = await db.query<{ n: string }>('SELECT count(*) AS n FROM nodes WHERE id = ANY($1) AND reservation = $2', [
            nodes,
            host,
          ]);
          if (Number(left.rows[0]!.n) === 0) {
            clearedAt = epochMs();
            break;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
        const grants = (await Promise.all(takes)).flatMap((t) => t.grants);
        // The deploying node is failed by the taking-over conductor under its own lock after the
        // reservation was cleared (its worker writes last_error): wait for the final row.
        type Row = { provision_state: string; last_error: string | null };
        let row: Row = { provision_state: '?', last_error: null };
        let failedAt = Number.NaN;
        while (epochMs() < killedAt + 30_000) {
          row = (await db.query<Row>('SELECT provision_state, last_error FROM nodes WHERE id = $1', [nodes[0]])).rows[0]!;
          if (row.provision_state === 'deploy failed' && row.last_error === TAKEOVER_TEXT) {
            failedAt = epochMs();
            break;
          }
          await new Promise((r) => setTimeout(r, 2));
        }
        const deployGrant = grants.find((g) => g.node === nodes[0]);
        const reports = await Promise.all(
          survivors.map(async (s) => ({ host: s.host, r: await s.ask<{ takeover: { deadHosts: string[] } | null }>({ cmd: 'status' }) })),
        );
        const by = reports.filter((x) => x.r.takeover?.deadHosts.some((h) => h.toLowerCase() === host.toLowerCase())).map((x) => x.host);
        const sample: KillSample = {
          kill: k,
          victim: host,
          clearedMs: round2(clearedAt - killedAt),
          grantedMs: grants.map((g) => round2(g.at - killedAt)),
          failedMs: round2(failedAt - killedAt),
          deployStateAtGrant: deployGrant?.provisionState ?? '?',
          deployState: row.provision_state,
          deployLastError: row.last_error,
          deployOk: row.provision_state === 'deploy failed' && row.last_error === TAKEOVER_TEXT,
          takeoverBy: by.length === 0 ? null : by.join(','),
        };
        samples.push(sample);
        say(
          `takeover ${k}/${kills}: cleared ${dur(sample.clearedMs * 1000)}, granted max ${dur(Math.max(...sample.grantedMs) * 1000)}, ` +
            `deploying node → ${row.provision_state} (${row.last_error ?? 'no last_error'}) after ${dur((failedAt - killedAt) * 1000)}, ` +
            `${deployGrant?.provisionState ?? '?'} when granted`,
        );
      } catch (e) {
        errors.push(`kill ${k}: ${(e as Error).message}`);
        say(`takeover ${k}/${kills} FAILED: ${(e as Error).message}`);
      } finally {
        victim?.kill();
        await victim?.exited;
      }
    }
  } finally {
    await db.end();
    await Promise.all(survivors.map((s) => s.stop()));
  }
  const cleared = samples.map((s) => s.clearedMs).sort((a, b) => a - b);
  const granted = samples.map((s) => Math.max(...s.grantedMs)).sort((a, b) => a - b);
  const failed = samples.map((s) => s.failedMs).sort((a, b) => a - b);
  return {
    processes,
    kills: samples.length,
    nodesPerKill: VICTIM_NODES,
    livenessCheckIntervalMs: 1000,
    clearedMs: { p50: percentile(cleared, 50), max: cleared.at(-1) ?? Number.NaN },
    grantedMs: { p50: percentile(granted, 50), max: granted.at(-1) ?? Number.NaN },
    deployFailedOk: samples.filter((s) => s.deployOk).length,
    failedMs: { p50: percentile(failed, 50), max: failed.at(-1) ?? Number.NaN },
    grantedWhileDeploying: samples.filter((s) => s.deployStateAtGrant === 'deploying').length,
    samples,
    errors,
  };
}

// ------------------------------------------------------------------------------------------ the run

async function adminUrlOf(url: string): Promise<string> {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const t0 = Date.now();
  const say = (line: string): void => void process.stderr.write(`[cluster +${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`);
  const machine = machineInfo();
  const environment = runEnvironment();
  const started = Date.now();
  const run = await startRun({ harness: 'cluster', argv: process.argv.slice(2), quick: options.quick });
  const server = await startPgServer();
  const errors: string[] = [];
  const counts: PerProcessCount[] = [];
  let takeover: TakeoverFigure | null = null;
  let ironic: IronicClusterFigures | null = null;
  let livenessCheckInterval: number;
  try {
    say(`PostgreSQL ${server.embedded ? 'embedded' : 'external (METAL_CONDUCTOR_PG_URL)'} at ${server.url.replace(/:[^:@/]*@/, ':***@')}`);
    // The schema, created once by a conductor that then stops (so it is no member of the cluster).
    const setup = await orThrow(Conductor.open({ host: 'bench-setup', store: { postgres: { url: server.url } }, logger: silentLogger() }));
    livenessCheckInterval = setup.config.livenessCheckInterval;
    await orThrow(setup.stop());
    const db = new pg.Client({ connectionString: server.url });
    await db.connect();
    await db.query(
      'CREATE TABLE bench_floor_nodes (id bigint PRIMARY KEY, reservation text, reserved_at timestamptz, version bigint NOT NULL DEFAULT 1)',
    );
    await db.query('INSERT INTO bench_floor_nodes (id) SELECT generate_series(1, $1::int)', [8 * LOOPS]);
    await db.end();

    for (const n of options.processes) {
      try {
        counts.push(await measureCount(server.url, n, options.quick, say));
      } catch (e) {
        errors.push(`${n} process(es): ${(e as Error).message}`);
        say(`${n} process(es) FAILED: ${(e as Error).message}`);
      }
    }
    if (options.kills > 0) {
      const p = Math.max(2, Math.min(3, Math.max(...options.processes)));
      // livenessCheckInterval: the setup conductor's resolved default (the children use the same).
      try {
        takeover = await measureTakeover(server.url, p, options.kills, say);
        takeover = { ...takeover, livenessCheckIntervalMs: livenessCheckInterval };
      } catch (e) {
        errors.push(`takeover: ${(e as Error).message}`);
      }
    }
    if (options.ironic) {
      const ironicDb = `mc_ironic_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: await adminUrlOf(server.url) });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${ironicDb}`);
      await admin.end();
      const u = new URL(server.url);
      u.pathname = `/${ironicDb}`;
      try {
        ironic = await runIronicOnPostgres(u.toString(), options.processes, options.quick, { say: (l) => say(`ironic: ${l}`) });
        errors.push(...ironic.errors.map((e) => `ironic: ${e}`));
      } catch (e) {
        errors.push(`ironic: ${(e as Error).message}`);
        say(`Ironic FAILED: ${(e as Error).message}`);
      } finally {
        if (!server.embedded) {
          const drop = new pg.Client({ connectionString: await adminUrlOf(server.url) });
          await drop.connect();
          await drop.query(`DROP DATABASE IF EXISTS ${ironicDb} WITH (FORCE)`).catch(() => undefined);
          await drop.end();
        }
      }
    }
  } finally {
    await server.stop();
  }

  const report = print(options, counts, takeover, ironic, machine, environment, errors, (Date.now() - started) / 1000);
  const file = await run.writeJson('cluster', {
    scenario: 'cluster',
    description: 'metal-conductor in 1..3 processes on one PostgreSQL server, beside the raw floor and the real Ironic',
    date: new Date().toISOString(),
    quick: options.quick,
    machine,
    environment,
    options,
    loopsPerProcess: LOOPS,
    results: counts,
    takeover,
    ironic,
    targets: report.targets,
    errors,
  });
  await run.finish();
  console.log(`\nJSON: ${relative(REPO_DIR, file)} (latest: benchmarks/results/latest-cluster)`);
  if (errors.length > 0) process.exitCode = 1;
}

// ------------------------------------------------------------------------------------------ output

interface Target {
  readonly target: string;
  readonly value: string;
  readonly limit: string;
  readonly met: boolean | null;
}

function print(
  options: Options,
  counts: readonly PerProcessCount[],
  takeover: TakeoverFigure | null,
  ironic: IronicClusterFigures | null,
  machine: ReturnType<typeof machineInfo>,
  environment: ReturnType<typeof runEnvironment>,
  errors: readonly string[],
  seconds: number,
): { targets: Target[] } {
  const out: string[] = [];
  const table = (title: string, columns: Column[], rows: Cell[][]): void => void out.push('', wrap(title), textTable(columns, rows));
  const r = (header: string): Column => ({ header, align: 'right' });
  const ironicEx = (n: number) => ironic?.exclusive.find((f) => f.processes === n);
  const ironicCo = (n: number) => ironic?.contention.find((f) => f.processes === n);
  const verdict = (met: boolean): string => (options.quick ? '' : met ? 'met' : 'MISSED');
  const targets: Target[] = [];
  const target = (t: string, value: string, limit: string, met: boolean): void =>
    void targets.push({ target: t, value, limit, met: options.quick ? null : met });

  out.push(
    `metal-conductor cluster benchmark${options.quick ? ' (--quick: timings not meaningful, no verdicts)' : ''}, ${round2(seconds)} s`,
  );
  out.push(wrap(describeMachine(machine, environment)));
  out.push(
    wrap(`${LOOPS} closed loops per process, each on its own node (floor: its own row and connection); one PostgreSQL server for all`),
  );

  const perProc = (f: LoopFigure): string => f.perProcessOpsPerSec.map((x) => String(x)).join(' + ');
  table(
    '1. exclusive cycle: acquire exclusive + release, cycles/s; ÷floor, ×Ironic = ours per process over theirs per process',
    [
      r('procs'),
      r('total/s'),
      { header: 'per process' },
      r('p50'),
      r('p99'),
      r('floor/proc'),
      r('÷floor'),
      r('Ironic/proc'),
      r('×Ironic'),
      { header: 'verdict' },
    ],
    counts.map((c) => {
      const ours = c.exclusive.totalOpsPerSec / c.processes;
      const fl = c.floor.totalOpsPerSec / c.processes;
      const ir = ironicEx(c.processes);
      const irPer = ir === undefined ? null : ir.totalOpsPerSec / c.processes;
      const vsFloor = ours / fl;
      const vsIronic = irPer === null ? null : ours / irPer;
      target(`exclusive cycle ≥ 0.5× floor, ${c.processes} proc`, vsFloor.toFixed(2), '≥ 0.5', vsFloor >= 0.5);
      if (vsIronic !== null) target(`exclusive cycle ≥ 20× Ironic, ${c.processes} proc`, vsIronic.toFixed(1), '≥ 20', vsIronic >= 20);
      const met = vsFloor >= 0.5 && (vsIronic === null || vsIronic >= 20);
      return [
        c.processes,
        c.exclusive.totalOpsPerSec,
        perProc(c.exclusive),
        dur(c.exclusive.latencyUs.p50),
        dur(c.exclusive.latencyUs.p99),
        Math.round(fl),
        vsFloor.toFixed(2),
        irPer === null ? '-' : Math.round(irPer),
        vsIronic === null ? '-' : vsIronic.toFixed(1),
        verdict(met),
      ];
    }),
  );
  table(
    '2. process-event: acquire + processEvent (manageable -inspect-> inspecting -done-> manageable, alternating) + release',
    [r('procs'), r('total/s'), { header: 'per process' }, r('p50'), r('p99'), r('errors')],
    counts.map((c) => [
      c.processes,
      c.processEvent.totalOpsPerSec,
      perProc(c.processEvent),
      dur(c.processEvent.latencyUs.p50),
      dur(c.processEvent.latencyUs.p99),
      c.processEvent.errors,
    ]),
  );
  table(
    '6. PostgreSQL floor: prepared reserve + release UPDATE pair through pg, one connection per loop, all processes at once',
    [r('procs'), r('pairs/s'), { header: 'per process' }, r('p50'), r('p99')],
    counts.map((c) => [c.processes, c.floor.totalOpsPerSec, perProc(c.floor), dur(c.floor.latencyUs.p50), dur(c.floor.latencyUs.p99)]),
  );
  table(
    `3. contention: ${CONTENTION_CALLERS} callers on one node, default budget (retry 3 × 1 s); wait = acquire → granted`,
    [
      r('procs'),
      { header: 'callers' },
      r('grants/s'),
      r('wait p50'),
      r('wait p99'),
      r('NodeLocked'),
      { header: 'grant share' },
      r('x-overtook'),
      r('Ironic p99'),
      r('Ironic NL'),
      { header: 'verdict' },
    ],
    counts.map((c) => {
      const k = c.contention;
      const ir = ironicCo(c.processes);
      const met = k.nodeLocked === 0 && k.other === 0 && k.waitUs.p99 <= 50_000;
      target(`contention 0 NodeLocked, ${c.processes} proc`, String(k.nodeLocked), '0', k.nodeLocked === 0 && k.other === 0);
      target(`contention wait p99 ≤ 50 ms, ${c.processes} proc`, dur(k.waitUs.p99), '≤ 50 ms', k.waitUs.p99 <= 50_000);
      return [
        c.processes,
        `${k.callersPerProcess.join('/')}×${k.cyclesPerCaller}`,
        k.grantsPerSec,
        dur(k.waitUs.p50),
        dur(k.waitUs.p99),
        `${k.nodeLocked} (${pct(k.nodeLockedShare)})${k.other > 0 ? ` +${k.other} other` : ''}`,
        k.grantShare.map((s) => s.toFixed(2)).join('/'),
        pct(k.crossOvertakeShare),
        ir === undefined ? '-' : dur(ir.waitUs.p99),
        ir === undefined ? '-' : pct(ir.nodeLockedShare),
        verdict(met),
      ];
    }),
  );
  out.push(
    wrap(
      '  grant share = grants per process / all grants; x-overtook = grants that passed an earlier-requested waiter of another process ' +
        `(same host clock); same process: ${counts.map((c) => `${c.processes}p ${pct(c.contention.sameOvertakeShare)}`).join(', ')}`,
      '    ',
    ),
  );
  const stale = counts.filter((c) => c.staleness !== null).map((c) => c.staleness!);
  table(
    '5. snapshot staleness: A commits updateNode on X; B polls its cached snapshot(X); delay = A acknowledged → B sees it',
    [r('procs'), r('samples'), r('p50'), r('p99'), r('max'), r('seen before ack'), r('missed')],
    stale.map((s) => [s.processes, s.samples, dur(s.delayUs.p50), dur(s.delayUs.p99), dur(s.delayUs.max), s.seenBeforeAck, s.missed]),
  );
  if (takeover !== null) {
    const t = takeover;
    const ok =
      t.grantedMs.max <= 5000 && t.clearedMs.max <= 5000 && t.failedMs.max <= 5000 && t.deployFailedOk === t.kills && t.errors.length === 0;
    target('takeover ≤ 5 s (max granted)', dur(t.grantedMs.max * 1000), '≤ 5 s', ok);
    const ir = ironic?.takeover;
    const irText =
      ir === null || ir === undefined
        ? '-'
        : ir.measured === null
          ? `not measured (${ir.error ?? '?'}); defaults bound ${ir.defaultsBoundS.min}-${ir.defaultsBoundS.max} s`
          : `measured (${ir.mode} timers) ${ir.measured.grantedS} s; defaults bound ${ir.defaultsBoundS.min}-${ir.defaultsBoundS.max} s (computed)`;
    table(
      `4. takeover after SIGKILL (${t.processes} processes: 1 victim holding ${t.nodesPerKill} nodes, one deploying; liveness check every ${t.livenessCheckIntervalMs} ms)`,
      [
        r('kills'),
        r('unreserved p50'),
        r('max'),
        r('granted p50'),
        r('max'),
        r('failed p50'),
        r('max'),
        { header: 'ok' },
        { header: 'Ironic', wrap: 34 },
        { header: 'verdict' },
      ],
      [
        [
          t.kills,
          dur(t.clearedMs.p50 * 1000),
          dur(t.clearedMs.max * 1000),
          dur(t.grantedMs.p50 * 1000),
          dur(t.grantedMs.max * 1000),
          dur(t.failedMs.p50 * 1000),
          dur(t.failedMs.max * 1000),
          `${t.deployFailedOk}/${t.kills}`,
          irText,
          verdict(ok),
        ],
      ],
    );
    out.push(
      wrap(
        `  unreserved = no node reserved by the victim in the database; granted = the last of its ${t.nodesPerKill} nodes acquired by a ` +
          `survivor; failed = the deploying node reads 'deploy failed' + "${TAKEOVER_TEXT}"; ok = kills where it did.`,
        '    ',
      ),
      wrap(
        `  A survivor was granted the deploying node while it still read 'deploying' in ${t.grantedWhileDeploying}/${t.kills} kills ` +
          '(the reservation is cleared before the node is failed under a new lock, as in Ironic).',
        '    ',
      ),
    );
    const bad = t.samples.filter((s) => !s.deployOk);
    for (const s of bad) out.push(`  kill ${s.kill}: deploying node ended ${s.deployState} / ${s.deployLastError ?? 'null'}`);
  }
  if (ironic !== null) {
    const v = ironic.versions;
    out.push(
      '',
      wrap(
        `Ironic ${v['ironic'] ?? '?'} (${v['debianPackage'] ?? ''}; Python ${v['python'] ?? '?'}, SQLAlchemy ${v['sqlalchemy'] ?? '?'}, ` +
          `psycopg2 ${v['psycopg2'] ?? '?'}, eventlet ${v['eventlet'] ?? '?'}) on the same server, its own database; its takeover: ` +
          `${ironic.takeover?.note ?? 'not measured'}`,
      ),
    );
  }
  if (!options.quick) {
    table(
      'Targets',
      [{ header: 'target' }, r('value'), r('limit'), { header: 'verdict' }],
      targets.map((t) => [t.target, t.value, t.limit, t.met === true ? 'met' : 'MISSED']),
    );
  }
  if (errors.length > 0) out.push('', 'Errors:', ...errors.map((e) => wrap(`  ${e}`, '    ')));
  const firstErrors = counts.flatMap((c) =>
    [c.exclusive, c.processEvent, c.floor]
      .filter((f) => f.firstError !== undefined)
      .map((f) => wrap(`  ${c.processes} proc: ${f.errors} loop errors, first: ${f.firstError}`, '    ')),
  );
  if (firstErrors.length > 0) out.push('', 'Loop errors:', ...firstErrors);
  console.log(out.join('\n'));
  return { targets };
}

await main();
