/**
 * Validation of the command-line options, before anything is opened: every check here is pure
 * except the database path checks, which only stat and access the file (they never create,
 * lock or write it). A failed check is a UsageError (one line, exit 2).
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ALL_OPERATION_NAMES } from '../../src/drivers/interfaces.js';
import { ALL_STATES } from '../../src/states/groups.js';
import { UsageError } from './io.js';
import { LOG_FORMATS, type LogFormat } from './log-format.js';

/** pino levels accepted by --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults of the fleet run (also shown by --help). */
export const FLEET_DEFAULTS = Object.freeze({
  nodes: 1000,
  db: './conductor.sqlite',
  minStepMs: 5,
  maxStepMs: 40,
  failureRate: 0.02,
  seed: 42,
  concurrency: 64,
  clients: 4,
  maxRetries: 3,
  logLevel: 'warn',
  durability: 'sync' as const,
  conductors: 1,
  statusHost: '127.0.0.1',
  statusPort: 0,
});

/** Most conductor processes `--conductors` starts. */
export const MAX_CONDUCTORS = 16;

/** The fleet run's options, validated. */
export interface FleetOptions {
  /** Nodes in the fleet: enroll up to this many in total (existing nodes count). */
  readonly nodes: number;
  /** Absolute database path, or null for an in-memory store (or PostgreSQL). */
  readonly db: string | null;
  /** PostgreSQL connection string (--pg): the shared store instead of the file; null: the file or memory. */
  readonly pg: string | null;
  /** Conductor processes sharing the fleet (more than 1 needs --pg). */
  readonly conductors: number;
  readonly durability: 'sync' | 'batched';
  readonly minStepMs: number;
  readonly maxStepMs: number;
  readonly failureRate: number;
  /** Per driver operation failure rates (`deploy.deploy` → 1). */
  readonly failOperations: Readonly<Record<string, number>>;
  readonly seed: number;
  /** Nodes driven at the same time. */
  readonly concurrency: number;
  /** Concurrent API clients. */
  readonly clients: number;
  /** Conductor worker pool size (undefined: the conductor's default). */
  readonly workers: number | undefined;
  readonly retryFailed: boolean;
  /** With retryFailed: times a node is brought back from a failure in one run. */
  readonly maxRetries: number;
  /** 'bars' (terminal), 'plain' (lines), 'none' (--quiet). Resolved against the output stream later. */
  readonly progress: 'auto' | 'plain' | 'none';
  readonly json: boolean;
  readonly logLevel: LogLevel;
  /** --log-format; 'auto': pretty when stderr is a terminal, JSON otherwise. */
  readonly logFormat: LogFormat | 'auto';
  /** The conductor's status server (loopback, ephemeral port by default); null: --no-status-server. */
  readonly statusServer: { readonly host: string; readonly port: number } | null;
}

/** The status command's options, validated. */
export interface StatusOptions {
  readonly db: string;
  /** PostgreSQL connection string (--pg): list the nodes there instead of the file. */
  readonly pg: string | null;
  /** Provision states to list (empty: all). */
  readonly states: readonly string[];
  readonly json: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat | 'auto';
  /** --watch: seconds between two refreshes; null: print once. */
  readonly watchSeconds: number | null;
}

/** The fleet options as commander hands them over (strings, before validation). */
export interface RawFleetOptions {
  nodes: string;
  db: string;
  /** Set by the program when --db was given on the command line (not the default). */
  dbGiven?: boolean;
  memory?: boolean;
  durability: string;
  /** Set by the program when --durability was given on the command line. */
  durabilityGiven?: boolean;
  pg?: string;
  conductors: string;
  minStepMs: string;
  maxStepMs: string;
  failureRate: string;
  failOp?: string[];
  seed: string;
  concurrency: string;
  clients: string;
  workers?: string;
  retryFailed?: boolean;
  maxRetries: string;
  progress: boolean;
  quiet?: boolean;
  json?: boolean;
  logLevel: string;
  logFormat?: string;
  /** false with --no-status-server. */
  statusServer: boolean;
  statusHost: string;
  statusPort: string;
}

/** The status options as commander hands them over. */
export interface RawStatusOptions {
  db: string;
  /** Set by the program when --db was given on the command line. */
  dbGiven?: boolean;
  pg?: string;
  state?: string[];
  json?: boolean;
  logLevel: string;
  logFormat?: string;
  /** --watch without a value: true. */
  watch?: boolean | string;
}

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const trimmed = text.trim();
  const value = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new UsageError(`${flag} must be an integer, got "${text}"`);
  if (value < min) {
    throw new UsageError(min === 0 ? `${flag} must not be negative, got ${value}` : `${flag} must be at least ${min}, got ${value}`);
  }
  if (value > max) throw new UsageError(`${flag} must be at most ${max}, got ${value}`);
  return value;
}

function probability(flag: string, text: string): number {
  const trimmed = text.trim();
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  if (!Number.isFinite(value)) throw new UsageError(`${flag} must be a number between 0 and 1, got "${text}"`);
  if (value < 0 || value > 1) throw new UsageError(`${flag} must be between 0 and 1, got ${value}`);
  return value;
}

function logLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${text}"`);
  }
  return text as LogLevel;
}

function logFormat(text: string | undefined): LogFormat | 'auto' {
  if (text === undefined) return 'auto';
  if (!(LOG_FORMATS as readonly string[]).includes(text)) {
    throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${text}"`);
  }
  return text as LogFormat;
}

function statusHost(text: string): string {
  const host = text.trim();
  if (host === '' || /[\s/]/.test(host)) throw new UsageError(`--status-host must be a host name or IP address, got "${text}"`);
  return host;
}

/** Seconds between two refreshes of `status --watch` (default 2). */
export const DEFAULT_WATCH_SECONDS = 2;

function watchSeconds(value: boolean | string | undefined): number | null {
  if (value === undefined || value === false) return null;
  if (value === true) return DEFAULT_WATCH_SECONDS;
  const seconds = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 86_400) {
    throw new UsageError(`--watch must be a number of seconds between 0.1 and 86400, got "${value}"`);
  }
  return seconds;
}

function dbPath(text: string): string {
  if (text.trim() === '' || text.includes('\0')) throw new UsageError('--db must be a file path');
  return resolve(text);
}

/** Check a `--pg` connection string: postgres:// or postgresql://, a URL with a host. */
export function pgUrl(text: string): string {
  const trimmed = text.trim();
  const url = URL.canParse(trimmed) ? new URL(trimmed) : null;
  if (url === null || !/^postgres(ql)?:$/.test(url.protocol) || url.hostname === '') {
    throw new UsageError(
      `--pg must be a postgres:// connection string (postgres://user:password@host:5432/database), got "${redactUrl(trimmed)}"`,
    );
  }
  return trimmed;
}

/** A connection string with its password hidden, for messages and the summary. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/:[^:@/]*@/, ':***@');
  }
}

/** The store options that cannot go with --pg, given on the command line. */
function pgConflicts(raw: RawFleetOptions): string[] {
  const conflicts: string[] = [];
  if (raw.dbGiven) conflicts.push('--db');
  if (raw.memory) conflicts.push('--memory');
  if (raw.durabilityGiven) conflicts.push('--durability');
  return conflicts;
}

/** Parse `--fail-op <operation=rate>` values into FakeBehaviour.failOperations. */
export function parseFailOperations(values: readonly string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const value of values) {
    const at = value.lastIndexOf('=');
    const operation = at > 0 ? value.slice(0, at).trim() : '';
    if (operation === '') throw new UsageError(`--fail-op must be <interface>.<operation>=<rate>, e.g. deploy.deploy=1, got "${value}"`);
    if (!ALL_OPERATION_NAMES.has(operation)) {
      throw new UsageError(
        `--fail-op names an unknown driver operation "${operation}" (e.g. power.validate, deploy.prepareCleaning, deploy.executeCleanStep, deploy.deploy, power.setPowerState)`,
      );
    }
    result[operation] = probability(`--fail-op ${operation}`, value.slice(at + 1));
  }
  return result;
}

/** Validate the fleet options (pure: no file is touched). */
export function validateFleetOptions(raw: RawFleetOptions): FleetOptions {
  const minStepMs = integer('--min-step-ms', raw.minStepMs, 0, 600_000);
  const maxStepMs = integer('--max-step-ms', raw.maxStepMs, 0, 600_000);
  if (minStepMs > maxStepMs) throw new UsageError(`--min-step-ms (${minStepMs}) must not exceed --max-step-ms (${maxStepMs})`);
  if (raw.durability !== 'sync' && raw.durability !== 'batched') {
    throw new UsageError(`--durability must be sync or batched, got "${raw.durability}"`);
  }
  const pg = raw.pg === undefined ? null : pgUrl(raw.pg);
  if (pg !== null) {
    const conflicts = pgConflicts(raw);
    if (conflicts.length > 0)
      throw new UsageError(`--pg cannot be combined with ${conflicts.join(', ')} (the PostgreSQL store replaces the file)`);
  }
  const conductors = integer('--conductors', raw.conductors, 1, MAX_CONDUCTORS);
  if (conductors > 1 && pg === null) {
    throw new UsageError(`--conductors ${conductors} needs --pg URL (several conductor processes share one PostgreSQL database)`);
  }
  const options: FleetOptions = {
    nodes: integer('--nodes', raw.nodes, 1, 1_000_000),
    db: raw.memory || pg !== null ? null : dbPath(raw.db),
    pg,
    conductors,
    durability: raw.durability,
    minStepMs,
    maxStepMs,
    failureRate: probability('--failure-rate', raw.failureRate),
    failOperations: parseFailOperations(raw.failOp ?? []),
    seed: integer('--seed', raw.seed, 0, 2 ** 32 - 1),
    concurrency: integer('--concurrency', raw.concurrency, 1, 100_000),
    clients: integer('--clients', raw.clients, 0, 1000),
    workers: raw.workers === undefined ? undefined : integer('--workers', raw.workers, 3, 100_000),
    retryFailed: raw.retryFailed === true,
    maxRetries: integer('--max-retries', raw.maxRetries, 0, 1000),
    progress: raw.quiet ? 'none' : raw.progress ? 'auto' : 'plain',
    json: raw.json === true,
    logLevel: logLevel(raw.logLevel),
    logFormat: logFormat(raw.logFormat),
    statusServer: raw.statusServer ? { host: statusHost(raw.statusHost), port: integer('--status-port', raw.statusPort, 0, 65_535) } : null,
  };
  return options;
}

/** Validate the status options (pure). */
export function validateStatusOptions(raw: RawStatusOptions): StatusOptions {
  const states = (raw.state ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const state of states) {
    if (!(ALL_STATES as ReadonlySet<string>).has(state)) {
      throw new UsageError(
        `--state "${state}" is not a provision state (e.g. active, "clean failed", "deploy failed", enroll, manageable, available)`,
      );
    }
  }
  const pg = raw.pg === undefined ? null : pgUrl(raw.pg);
  if (pg !== null && raw.dbGiven) throw new UsageError('--pg cannot be combined with --db (the PostgreSQL store replaces the file)');
  return {
    db: dbPath(raw.db),
    pg,
    states,
    json: raw.json === true,
    logLevel: logLevel(raw.logLevel),
    logFormat: logFormat(raw.logFormat),
    watchSeconds: watchSeconds(raw.watch),
  };
}

const errno = (cause: unknown): string => (cause as NodeJS.ErrnoException).code ?? String(cause);

/**
 * Check the database path of a run without touching it: an existing path must be a readable and
 * writable regular file; a missing one needs a writable directory (the run creates the file).
 */
export async function checkDbForRun(path: string): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    if (errno(cause) !== 'ENOENT') throw new UsageError(`cannot read database file ${path} (${errno(cause)})`);
    const dir = dirname(path);
    try {
      if (!(await stat(dir)).isDirectory()) throw new UsageError(`cannot create database file ${path}: ${dir} is not a directory`);
      await access(dir, constants.W_OK);
    } catch (dirCause) {
      if (dirCause instanceof UsageError) throw dirCause;
      if (errno(dirCause) === 'ENOENT') throw new UsageError(`cannot create database file ${path}: directory ${dir} does not exist`);
      throw new UsageError(`cannot create database file ${path}: directory ${dir} is not writable (${errno(dirCause)})`);
    }
    return;
  }
  await checkExistingFile(path, info.isFile());
}

/** Check the database path of `status`: it must exist and be readable (status never creates or writes a database). */
export async function checkDbForStatus(path: string): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    if (errno(cause) === 'ENOENT') throw new UsageError(`no database file at ${path} (run metal-conductor first, or pass --db FILE)`);
    throw new UsageError(`cannot read database file ${path} (${errno(cause)})`);
  }
  if (!info.isFile()) throw new UsageError(`database path ${path} is not a regular file`);
  try {
    await access(path, constants.R_OK);
  } catch (cause) {
    throw new UsageError(`database file ${path} is not readable (${errno(cause)})`);
  }
}

async function checkExistingFile(path: string, isFile: boolean): Promise<void> {
  if (!isFile) throw new UsageError(`database path ${path} is not a regular file`);
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch (cause) {
    throw new UsageError(`database file ${path} is not readable and writable (${errno(cause)})`);
  }
}
