/**
 * What `Conductor.open` accepts, and its validation: every option is checked by name, so a
 * misspelt or unknown option is an InvalidParameterValue naming it instead of being ignored.
 */
import { err, ok, type Result } from 'neverthrow';
import type { Clock } from '../src/clock.js';
import { DEFAULTS, type ConductorOptions } from '../src/config.js';
import type { DriverRegistryOptions } from '../src/drivers/registry.js';
import { InvalidParameterValue } from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import type { RestartPolicy } from './restart-supervisor.js';
import { checkStatusServerOptions, type StatusServerOptions } from './status-server.js';
import type { Registry, RegistryContentType } from 'prom-client';

/** Options of the conductor's Prometheus metrics (`Conductor.open({ metrics })`). */
export interface MetricsOptions {
  /**
   * The prom-client registry to register the metal_conductor_* metrics on (one conductor per
   * registry). Default: a registry of the conductor's own (`conductor.metricsRegistry`).
   */
  registry?: Registry<RegistryContentType>;
}

/** Options of the PostgreSQL store: several conductor processes sharing one server (`store: { postgres }`). */
export interface PostgresStoreInit {
  /** Connection string, e.g. `postgres://user:password@db.example:5432/ironic`. Required. */
  url: string;
  /** Connections in the query pool (one more is held for notifications and liveness). Default 10. */
  poolSize?: number;
  /** A query not answered within this many ms fails with StoreError. Default 5000. */
  queryTimeoutMs?: number;
}

/** Options of the store (`Conductor.open({ store })`): the embedded sql.js store, or `postgres`. */
export interface StoreOptions {
  /** Use PostgreSQL instead of the embedded store; the other options then do not apply. Default: none (embedded sql.js). */
  postgres?: PostgresStoreInit;
  /** Database file; `<path>.journal` and `<path>.lock` sit beside it. Default `null` (in memory). */
  path?: string | null;
  /** `'sync'`: a change is fsynced before the call that made it resolves; `'batched'`: durable within `maxDelayMs`. Default `'sync'`. */
  durability?: 'sync' | 'batched';
  /** The bound of `'batched'` mode, in ms. Default 50. */
  maxDelayMs?: number;
  /** Checkpoint when the journal grows past this many bytes. Default 16 MiB. */
  checkpointJournalBytes?: number;
  /** And at most this long (ms) after the first change not checkpointed. Default 300000. */
  checkpointIntervalMs?: number;
  /** Write checkpoints from a worker thread's copy of the database (no export on the event loop; the database is held twice). Default true. */
  checkpointWorker?: boolean;
}

/** Everything `Conductor.open` accepts. Unknown options are refused (InvalidParameterValue). */
export interface ConductorInit extends ConductorOptions {
  /** Options of the embedded sql.js store. Default: in memory. */
  store?: StoreOptions;
  /** Driver registry options. Default: fake-hardware and manual-management enabled. */
  drivers?: DriverRegistryOptions;
  /** Root pino logger. Default: `createLogger()` (stderr, level from METAL_CONDUCTOR_LOG_LEVEL or info). */
  logger?: Logger;
  /**
   * Run Ironic's start-up recovery before serving: clear pending target power states and this
   * host's reservations, fail nodes stuck in STUCK_STATES_TREATED_AS_FAIL. Default true.
   */
  startupRecovery?: boolean;
  /** Start the periodic wait-timeout checks. Default true (each still needs its interval and timeout > 0). */
  periodicChecks?: boolean;
  /** Restart policy of the periodic checks. Default: 1 s → 30 s backoff, 5 restarts in 60 s. */
  restartPolicy?: RestartPolicy;
  /** Time and timers (lock waits, periodic checks, backoff, worker timeouts). Default: the system clock; `ManualClock` in tests. */
  clock?: Clock;
  /**
   * Serve `GET /status`, `/metrics` and `/nodes` over HTTP (no authentication: keep it on loopback).
   * Default: off; `{}` listens on 127.0.0.1, an ephemeral port (see `conductor.statusServerUrl`).
   */
  statusServer?: StatusServerOptions;
  /** Prometheus metrics (always collected). Default: on a registry of the conductor's own. */
  metrics?: MetricsOptions;
}

const CONDUCTOR_OPTION_NAMES: readonly string[] = ['host', ...Object.keys(DEFAULTS)];
const INIT_NAMES = new Set([
  ...CONDUCTOR_OPTION_NAMES,
  'store',
  'drivers',
  'logger',
  'startupRecovery',
  'periodicChecks',
  'restartPolicy',
  'clock',
  'statusServer',
  'metrics',
]);
const EMBEDDED_STORE_NAMES = ['path', 'durability', 'maxDelayMs', 'checkpointJournalBytes', 'checkpointIntervalMs', 'checkpointWorker'];
const STORE_NAMES = new Set([...EMBEDDED_STORE_NAMES, 'postgres']);
const POSTGRES_NAMES = new Set(['url', 'poolSize', 'queryTimeoutMs']);
const DRIVER_NAMES = new Set([
  'enabledHardwareTypes',
  'enabledInterfaces',
  'defaultInterfaces',
  'fakeBehaviour',
  'hardwareTypes',
  'implementations',
]);
const METRICS_NAMES = new Set(['registry']);
const POLICY_NAMES = new Set(['minBackoffMs', 'maxBackoffMs', 'randomFactor', 'resetAfterMs', 'maxRestarts', 'withinMs']);

/**
 * Check the shape of `Conductor.open`'s argument: an object whose every key (and every key of
 * `store`, `drivers`, `restartPolicy`) is a known option, and whose non-numeric options have the
 * right kind. Values of the numeric options are checked by `resolveConfig` and the store.
 */
export function checkInit(init: unknown): Result<ConductorInit, InvalidParameterValue> {
  if (typeof init !== 'object' || init === null || Array.isArray(init)) {
    return err(new InvalidParameterValue('Conductor.open expects an options object', { option: null }));
  }
  const fields = init as Record<string, unknown>;
  const unknown = unknownNames(fields, INIT_NAMES, '');
  for (const [key, known] of [
    ['store', STORE_NAMES],
    ['drivers', DRIVER_NAMES],
    ['restartPolicy', POLICY_NAMES],
  ] as const) {
    const nested = fields[key];
    if (nested === undefined) continue;
    if (typeof nested !== 'object' || nested === null || Array.isArray(nested)) {
      return err(new InvalidParameterValue(`${key} must be an options object`, { option: key }));
    }
    unknown.push(...unknownNames(nested as Record<string, unknown>, known, `${key}.`));
  }
  const postgres = (fields.store as Record<string, unknown> | undefined)?.postgres;
  if (postgres !== undefined) {
    if (typeof postgres !== 'object' || postgres === null || Array.isArray(postgres)) {
      return err(new InvalidParameterValue('store.postgres must be an options object', { option: 'store.postgres' }));
    }
    unknown.push(...unknownNames(postgres as Record<string, unknown>, POSTGRES_NAMES, 'store.postgres.'));
  }
  if (unknown.length > 0) {
    return err(new InvalidParameterValue(`unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, { options: unknown }));
  }
  if (postgres !== undefined) {
    const store = fields.store as Record<string, unknown>;
    const embedded = EMBEDDED_STORE_NAMES.filter((name) => store[name] !== undefined);
    if (embedded.length > 0) {
      return err(
        new InvalidParameterValue(
          `store.postgres cannot be combined with the embedded store's ${embedded.map((n) => `store.${n}`).join(', ')}`,
          {
            options: embedded,
          },
        ),
      );
    }
    const { url, poolSize, queryTimeoutMs } = postgres as Record<string, unknown>;
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      return err(new InvalidParameterValue('store.postgres.url must be a postgres:// connection string', { option: 'store.postgres.url' }));
    }
    for (const [name, value, min] of [
      ['poolSize', poolSize, 1],
      ['queryTimeoutMs', queryTimeoutMs, 1],
    ] as const) {
      if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min)) {
        return err(
          new InvalidParameterValue(`store.postgres.${name} must be an integer >= ${min}`, { option: `store.postgres.${name}`, value }),
        );
      }
    }
  }
  for (const key of ['startupRecovery', 'periodicChecks'] as const) {
    if (fields[key] !== undefined && typeof fields[key] !== 'boolean') {
      return err(new InvalidParameterValue(`${key} must be a boolean`, { option: key }));
    }
  }
  const logger = fields.logger as Record<string, unknown> | undefined;
  const loggerMethods = ['child', 'debug', 'info', 'warn', 'error', 'isLevelEnabled'];
  if (
    logger !== undefined &&
    (typeof logger !== 'object' || logger === null || loggerMethods.some((m) => typeof logger[m] !== 'function'))
  ) {
    return err(new InvalidParameterValue('logger must be a pino logger', { option: 'logger' }));
  }
  const clock = fields.clock as Partial<Record<keyof Clock, unknown>> | undefined;
  if (
    clock !== undefined &&
    (typeof clock !== 'object' ||
      clock === null ||
      typeof clock.now !== 'function' ||
      typeof clock.setTimeout !== 'function' ||
      typeof clock.clearTimeout !== 'function')
  ) {
    return err(new InvalidParameterValue('clock must have now(), setTimeout() and clearTimeout()', { option: 'clock' }));
  }
  const metrics = fields.metrics;
  if (metrics !== undefined) {
    if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) {
      return err(new InvalidParameterValue('metrics must be an options object', { option: 'metrics' }));
    }
    const names = unknownNames(metrics as Record<string, unknown>, METRICS_NAMES, 'metrics.');
    if (names.length > 0)
      return err(new InvalidParameterValue(`unknown option${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, { options: names }));
    const registry = (metrics as { registry?: unknown }).registry as Partial<Record<string, unknown>> | undefined;
    const registryMethods = ['registerMetric', 'getMetricsAsArray', 'removeSingleMetric', 'metrics'];
    if (
      registry !== undefined &&
      (typeof registry !== 'object' || registry === null || registryMethods.some((m) => typeof registry[m] !== 'function'))
    ) {
      return err(new InvalidParameterValue('metrics.registry must be a prom-client Registry', { option: 'metrics.registry' }));
    }
  }
  if (fields.statusServer !== undefined) {
    const server = checkStatusServerOptions(fields.statusServer);
    if (server.isErr()) return err(server.error);
  }
  return ok(init as ConductorInit);
}

function unknownNames(fields: Record<string, unknown>, known: ReadonlySet<string>, prefix: string): string[] {
  return Object.keys(fields)
    .filter((key) => !known.has(key))
    .map((key) => `${prefix}${key}`);
}
