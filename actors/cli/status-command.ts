/**
 * `metal-conductor status`: the nodes of a database file with provision state, target, holder
 * (reservation), purpose, held-for and last_error, filterable by state.
 *
 * - A file in use by a live conductor that serves a status endpoint (its URL is in the lock
 *   file): the conductor is asked (`GET /status`, `GET /nodes`), so holders, waiters, the worker
 *   pool and dead letters are the live ones.
 * - A file not in use (or held by a process without a status endpoint): the file is read
 *   read-only (src/store/read-only-snapshot.ts): no lock, nothing written, no write access needed.
 *   There is no conductor then, so no pool or dead-letter figures.
 * - `--pg`: the shared store is read through the store alone (no conductor: nothing registered,
 *   the live conductors' hash rings unchanged); a note lists the conductors online.
 *
 * `--watch [seconds]` refreshes in place on a terminal, one report per interval otherwise.
 */
import type { ConductorStatus } from '../conductor.js';
import { createLogger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import { describe } from '../../src/errors.js';
import { readOnlySnapshot } from '../../src/store/read-only-snapshot.js';
import { orThrow } from '../../src/task/scope.js';
import { EnvironmentFailure, environmentCode } from './environment.js';
import { UsageError, oneLine, type CliIo } from './io.js';
import { readLiveHolder } from '../../src/store/internal/file-lock.js';
import { createCliLogDestination } from './log-format.js';
import { checkDbForStatus, redactUrl, type StatusOptions } from './options.js';

/** One listed node. */
export interface StatusRow {
  readonly id: number;
  readonly uuid: string;
  readonly name: string | null;
  readonly provision_state: string;
  readonly target_provision_state: string | null;
  /** Reservation holder (conductor host), or null. */
  readonly holder: string | null;
  readonly purpose: string | null;
  readonly held_for_ms: number | null;
  /** Tasks waiting for the node's lock in the live conductor; null when no live conductor was asked. */
  readonly waiters: number | null;
  readonly last_error: string | null;
}

/** The live conductor asked, or null. */
export interface LiveConductor {
  readonly pid: number;
  readonly url: string;
}

/** The status report (--json prints it). */
export interface StatusReport {
  readonly db: string;
  /** Where the figures come from: a live conductor's endpoint, the file read read-only, or PostgreSQL. */
  readonly source: 'live' | 'file' | 'postgres';
  /** The live conductor that answered, or null. */
  readonly live: LiveConductor | null;
  /** A remark on the figures (e.g. a holder without a status endpoint), or null. */
  readonly note: string | null;
  readonly listed: number;
  readonly total: number;
  /** Nodes per provision state, all nodes. */
  readonly states: Readonly<Record<string, number>>;
  readonly nodes: readonly StatusRow[];
  /** The worker pool of the live (or, with --pg, the listing) conductor; null when no conductor runs. */
  readonly pool: {
    readonly inUse: number;
    readonly capacity: number;
    readonly reserved: number;
    readonly reservedInUse: number;
    readonly rejected: number;
  } | null;
  /** Dead letters of that conductor; null when no conductor runs. */
  readonly deadLetters: number | null;
}

/** A node as the live conductor's `GET /nodes` gives it. */
interface LiveNode {
  readonly id: number;
  readonly uuid: string;
  readonly name: string | null;
  readonly provision_state: string;
  readonly target_provision_state: string | null;
  readonly reservation: string | null;
  readonly reservation_purpose: string | null;
  readonly reserved_at: string | null;
  readonly last_error: string | null;
}

/** How long to wait for a live conductor's answer. */
const LIVE_TIMEOUT_MS = 3000;

function heldFor(reservedAt: string | null, now: number): number | null {
  const at = reservedAt === null ? Number.NaN : Date.parse(reservedAt);
  return Number.isNaN(at) ? null : Math.max(0, now - at);
}

function row(node: LiveNode | NodeRecord, now: number): StatusRow {
  return {
    id: node.id,
    uuid: node.uuid,
    name: node.name,
    provision_state: node.provision_state,
    target_provision_state: node.target_provision_state,
    holder: node.reservation,
    purpose: node.reservation === null ? null : node.reservation_purpose,
    held_for_ms: node.reservation === null ? null : heldFor(node.reserved_at, now),
    waiters: null,
    last_error: node.last_error,
  };
}

const dash = (value: string | null): string => value ?? '-';
const clip = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

/** The report as a table with its closing lines. */
export function renderTable(report: StatusReport, filter: readonly string[]): string {
  const live = report.live !== null;
  const header = ['node', 'provision state', 'target', 'holder', 'purpose', 'held for', ...(live ? ['waiters'] : []), 'last_error'];
  const cells = report.nodes.map((n) => [
    n.name ?? n.uuid,
    n.provision_state,
    dash(n.target_provision_state),
    dash(n.holder),
    dash(n.purpose),
    n.held_for_ms === null ? '-' : `${(n.held_for_ms / 1000).toFixed(1)} s`,
    ...(live ? [n.waiters === null || n.waiters === 0 ? '-' : String(n.waiters)] : []),
    clip(dash(n.last_error), 200),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [line(header), ...cells.map(line)];
  const states = Object.entries(report.states)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([state, count]) => `${state} ${count}`)
    .join(', ');
  lines.push('');
  lines.push(
    `${report.listed} of ${report.total} nodes listed${filter.length ? ` (state ${filter.map((s) => `"${s}"`).join(', ')})` : ''}` +
      `${states ? ` · all nodes: ${states}` : ''}`,
  );
  const p = report.pool;
  if (report.live !== null) lines.push(`live: conductor pid ${report.live.pid} at ${report.live.url}`);
  if (p !== null) {
    lines.push(
      `pool: ${p.inUse}/${p.capacity} workers in use (${p.reserved} reserved, ${p.reservedInUse} reserved in use, ${p.rejected} refused)` +
        ` · dead letters: ${report.deadLetters ?? 0} · store: ${report.db}`,
    );
  } else if (report.source === 'postgres') {
    // Several conductors share the database: the holders are the table's, each pool is its conductor's.
    lines.push(`holders as in the database (shared by the conductors below) · store: ${report.db}`);
  } else {
    // A holder without a (working) status endpoint is live, but could not be asked: the note says why.
    const who = report.note === null ? 'no live conductor' : 'no live status';
    lines.push(`${who}: holders as last written to the file · store: ${report.db} (read-only)`);
  }
  if (report.note !== null) lines.push(`note: ${report.note}`);
  return `${lines.join('\n')}\n`;
}

function countStates(nodes: readonly { provision_state: string }[]): Record<string, number> {
  const states: Record<string, number> = {};
  for (const node of nodes) states[node.provision_state] = (states[node.provision_state] ?? 0) + 1;
  return states;
}

function assemble(
  base: Pick<StatusReport, 'db' | 'source' | 'live' | 'note' | 'pool' | 'deadLetters'>,
  all: readonly StatusRow[],
  options: StatusOptions,
): StatusReport {
  const wanted = new Set(options.states);
  const listed = wanted.size === 0 ? all : all.filter((n) => wanted.has(n.provision_state));
  return { ...base, listed: listed.length, total: all.length, states: countStates(all), nodes: listed };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(LIVE_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Ask the live conductor at `url`; null (with why) when it does not answer. */
async function askLive(url: string): Promise<{ status: ConductorStatus; nodes: readonly LiveNode[] } | { problem: string }> {
  const base = url.replace(/\/+$/, '');
  try {
    const [status, listing] = await Promise.all([
      getJson<ConductorStatus>(`${base}/status`),
      getJson<{ nodes: LiveNode[] }>(`${base}/nodes`),
    ]);
    return { status, nodes: listing.nodes };
  } catch (cause) {
    return { problem: oneLine(cause instanceof Error ? cause.message : String(cause)) };
  }
}

/** The live report: the conductor's nodes, with the holders and waiters of its loaded node actors. */
function liveReport(live: LiveConductor, status: ConductorStatus, nodes: readonly LiveNode[], options: StatusOptions): StatusReport {
  const now = Date.now();
  const actors = new Map(status.nodes.map((n) => [n.id, n]));
  const rows = nodes.map((node): StatusRow => {
    const base = row(node, now);
    const actor = actors.get(node.id);
    if (actor === undefined) return base;
    const held = actor.holder;
    return {
      ...base,
      holder: held === null ? base.holder : (node.reservation ?? status.host),
      purpose: held === null ? base.purpose : held.purpose,
      held_for_ms: held === null ? base.held_for_ms : held.heldForMs,
      waiters: actor.waiters,
    };
  });
  return assemble(
    { db: options.db, source: 'live', live, note: null, pool: { ...status.workers.pool }, deadLetters: status.deadLetters },
    rows,
    options,
  );
}

/** Read the file read-only. */
async function fileReport(options: StatusOptions, note: string | null): Promise<StatusReport> {
  const read = await readOnlySnapshot(options.db);
  if (read.isErr()) {
    const errno = environmentCode(read.error);
    if (errno !== null) throw new EnvironmentFailure(errno, { db: null });
    throw new UsageError(read.error.message);
  }
  const now = Date.now();
  return assemble(
    { db: options.db, source: 'file', live: null, note, pool: null, deadLetters: null },
    read.value.nodes.map((n) => row(n, now)),
    options,
  );
}

/** The report of the file: live when its holder serves a status endpoint, else read-only. */
async function dbReport(options: StatusOptions): Promise<StatusReport> {
  await checkDbForStatus(options.db);
  const holder = await readLiveHolder(options.db);
  if (holder === null) return fileReport(options, null);
  if (holder.statusUrl === null) {
    return fileReport(options, `process ${holder.pid} holds the file and serves no status endpoint: holders and pool are as last written`);
  }
  const answer = await askLive(holder.statusUrl);
  if ('problem' in answer) {
    return fileReport(
      options,
      `process ${holder.pid} holds the file but its status endpoint ${holder.statusUrl} did not answer (${answer.problem}): holders as last written`,
    );
  }
  return liveReport({ pid: holder.pid, url: holder.statusUrl }, answer.status, answer.nodes, options);
}

/** The report of a PostgreSQL store, through a conductor of our own (as before). */
/**
 * The nodes in PostgreSQL, read through the store alone: no conductor is opened, so no host is
 * claimed or registered and the live conductors' hash rings do not change (which a conductor of
 * our own, once per `--watch` refresh, would do). The live conductors are listed from the table.
 */
async function pgReport(options: StatusOptions, pg: string, io: CliIo): Promise<StatusReport> {
  const logger = createLogger({ level: options.logLevel }, createCliLogDestination(options.logFormat, io.stderr));
  const where = redactUrl(pg);
  // Loaded only here: a status of a file never loads the PostgreSQL client.
  const { openPostgresStore } = await import('../../src/store/pg-store.js');
  const opened = await openPostgresStore({ logger, url: pg });
  if (opened.isErr()) {
    const errno = environmentCode(opened.error);
    if (errno !== null) throw new EnvironmentFailure(errno, { db: null });
    throw new UsageError(`cannot open the PostgreSQL store ${where}: ${opened.error.message}`);
  }
  const store = opened.value;
  try {
    const all = await orThrow(store.listNodes());
    const online = (await orThrow(store.listConductors())).filter((c) => c.online).map((c) => c.hostname);
    const now = Date.now();
    const note = `conductors online in the table: ${online.length === 0 ? 'none' : online.join(', ')} (each has its own pool)`;
    return assemble(
      { db: where, source: 'postgres', live: null, note, pool: null, deadLetters: null },
      all.map((n) => row(n, now)),
      options,
    );
  } finally {
    const closed = await store.close();
    if (closed.isErr()) io.stderr.write(`metal-conductor: ${closed.error.message}\n`);
  }
}

function render(report: StatusReport, options: StatusOptions): string {
  return options.json ? `${JSON.stringify(report)}\n` : renderTable(report, options.states);
}

/** Resolve after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Run `status` (once, or every `--watch` seconds until interrupted). Returns the exit code; bad input → UsageError. */
export async function runStatus(options: StatusOptions, io: CliIo): Promise<number> {
  const report = (): Promise<StatusReport> => (options.pg === null ? dbReport(options) : pgReport(options, options.pg, io));
  if (options.watchSeconds === null) {
    io.stdout.write(render(await report(), options));
    return 0;
  }
  // Cursor home + clear screen on a terminal (not with --json: one line per refresh).
  const inPlace = io.isTTY && !options.json;
  const stopped = (): boolean => io.signal?.aborted === true;
  for (let refresh = 0; !stopped(); refresh++) {
    let fresh: StatusReport;
    try {
      fresh = await report();
    } catch (error) {
      // The first refresh fails as a plain `status` would; a later one (the run ended mid-read,
      // a checkpoint outlasted the retries) is said and retried at the next interval.
      if (refresh === 0) throw error;
      io.stderr.write(`metal-conductor: status refresh failed (retrying in ${options.watchSeconds} s): ${oneLine(describe(error))}\n`);
      await pause(options.watchSeconds * 1000, io.signal);
      continue;
    }
    if (stopped()) break;
    const text = render(fresh, options);
    if (inPlace) {
      const stamp = `every ${options.watchSeconds} s · ${new Date().toISOString()} · Ctrl-C to stop\n\n`;
      io.stdout.write(`\x1b[H\x1b[2J${stamp}${text}`);
    } else {
      io.stdout.write(options.json ? text : `${new Date().toISOString()}\n${text}\n`);
    }
    await pause(options.watchSeconds * 1000, io.signal);
  }
  return 0;
}
