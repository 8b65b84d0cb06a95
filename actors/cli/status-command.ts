/**
 * `metal-conductor status`: the nodes of a database file with provision state, target, holder
 * (reservation), purpose, held-for and last_error, filterable by state, plus the conductor's pool
 * and dead-letter figures. The conductor is opened without start-up recovery and periodic checks,
 * so listing changes nothing about the nodes (the store's own bookkeeping aside: the conductor
 * row, and clearing this host's stale reservations on close, as any conductor start on this host
 * does). The file lock refuses a second process: a running fleet is reported as StoreInUse.
 */
import { hostname } from 'node:os';
import { Conductor } from '../conductor.js';
import { createLogger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import { orThrow } from '../../src/task/scope.js';
import { EnvironmentFailure, environmentCode } from './environment.js';
import { UsageError, type CliIo } from './io.js';
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
  readonly last_error: string | null;
}

/** The status report (--json prints it). */
export interface StatusReport {
  readonly db: string;
  readonly listed: number;
  readonly total: number;
  /** Nodes per provision state, all nodes. */
  readonly states: Readonly<Record<string, number>>;
  readonly nodes: readonly StatusRow[];
  readonly pool: {
    readonly inUse: number;
    readonly capacity: number;
    readonly reserved: number;
    readonly reservedInUse: number;
    readonly rejected: number;
  };
  readonly deadLetters: number;
}

function row(node: NodeRecord, now: number): StatusRow {
  const reservedAt = node.reserved_at === null ? Number.NaN : Date.parse(node.reserved_at);
  return {
    id: node.id,
    uuid: node.uuid,
    name: node.name,
    provision_state: node.provision_state,
    target_provision_state: node.target_provision_state,
    holder: node.reservation,
    purpose: node.reservation === null ? null : node.reservation_purpose,
    held_for_ms: node.reservation === null || Number.isNaN(reservedAt) ? null : Math.max(0, now - reservedAt),
    last_error: node.last_error,
  };
}

const dash = (value: string | null): string => value ?? '-';
const clip = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

function renderTable(report: StatusReport, filter: readonly string[]): string {
  const header = ['node', 'provision state', 'target', 'holder', 'purpose', 'held for', 'last_error'];
  const cells = report.nodes.map((n) => [
    n.name ?? n.uuid,
    n.provision_state,
    dash(n.target_provision_state),
    dash(n.holder),
    dash(n.purpose),
    n.held_for_ms === null ? '-' : `${(n.held_for_ms / 1000).toFixed(1)} s`,
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
  lines.push(
    `pool: ${p.inUse}/${p.capacity} workers in use (${p.reserved} reserved, ${p.reservedInUse} reserved in use, ${p.rejected} refused)` +
      ` · dead letters: ${report.deadLetters} · store: ${report.db}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Run `status`. Returns the exit code; bad input → UsageError. */
export async function runStatus(options: StatusOptions, io: CliIo): Promise<number> {
  if (options.pg === null) await checkDbForStatus(options.db);
  const logger = createLogger({ level: options.logLevel }, { write: (line: string) => void io.stderr.write(line) });
  const where = options.pg === null ? options.db : redactUrl(options.pg);
  const opened = await Conductor.open({
    logger,
    // On PostgreSQL a host of its own: the live conductors' hosts are claimed (a running fleet's too).
    ...(options.pg === null
      ? { store: { path: options.db } }
      : { store: { postgres: { url: options.pg } }, host: `${hostname()}-status-${process.pid}` }),
    startupRecovery: false,
    periodicChecks: false,
  });
  if (opened.isErr()) {
    const errno = environmentCode(opened.error);
    if (errno !== null) throw new EnvironmentFailure(errno, { db: options.pg === null ? options.db : null });
    throw new UsageError(options.pg === null ? opened.error.message : `cannot open the PostgreSQL store ${where}: ${opened.error.message}`);
  }
  const conductor = opened.value;
  try {
    const all = await orThrow(conductor.listNodes());
    const wanted = new Set(options.states);
    const listed = wanted.size === 0 ? all : all.filter((n) => wanted.has(n.provision_state));
    const now = Date.now();
    const states: Record<string, number> = {};
    for (const node of all) states[node.provision_state] = (states[node.provision_state] ?? 0) + 1;
    const status = conductor.status();
    const report: StatusReport = {
      db: where,
      listed: listed.length,
      total: all.length,
      states,
      nodes: listed.map((n) => row(n, now)),
      pool: { ...status.workers.pool },
      deadLetters: status.deadLetters,
    };
    io.stdout.write(options.json ? `${JSON.stringify(report)}\n` : renderTable(report, options.states));
    return 0;
  } finally {
    const stopped = await conductor.stop();
    if (stopped.isErr()) io.stderr.write(`metal-conductor: ${stopped.error.message}\n`);
  }
}
