/**
 * Conductor configuration: Ironic's knobs under camelCase names, with Ironic's defaults
 * (times in milliseconds instead of seconds). `resolveConfig` validates and fills defaults.
 */
import { hostname } from 'node:os';
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from './errors.js';

/** Notification levels, lowest first (Ironic's NotificationLevel). */
export const NOTIFICATION_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
/** A notification level. */
export type NotificationLevel = (typeof NOTIFICATION_LEVELS)[number];

/** Options accepted by the conductor. Every field is optional; defaults are documented per field. */
export interface ConductorOptions {
  /** Reservation tag written to `nodes.reservation` (Ironic `CONF.host`). Default: `os.hostname()`. */
  host?: string;
  /** Total reserve attempts for an exclusive lock (Ironic `node_locked_retry_attempts`). Default 3. */
  nodeLockedRetryAttempts?: number;
  /** Milliseconds between attempts (Ironic `node_locked_retry_interval`, 1 s). Default 1000. */
  nodeLockedRetryInterval?: number;
  /** A loaded node (cached snapshot, and actor if activated) idle this long — no holder, waiter or message — is dropped. Default 60000 ms. */
  nodeIdleTimeout?: number;
  /** Timeout of every internal ask (task → node actor, actor → actor). Default 10000 ms. */
  askTimeout?: number;
  /** `last_error` and `maintenance_reason` are truncated to this many characters (Ironic `log_in_db_max_size`). Default 4096. */
  logInDbMaxSize?: number;
  /** Lowest notification level delivered to subscribers; `null` delivers none (Ironic's unset). Default `'info'`. */
  notificationLevel?: NotificationLevel | null;
  /** Background workers at most (Ironic `workers_pool_size`, min 3). Default 300. */
  workersPoolSize?: number;
  /** Share of the pool kept for spawns that allow it (API requests), 0–50 (Ironic `reserved_workers_pool_percentage`). Default 5. */
  reservedWorkersPoolPercentage?: number;
  /** A background task running longer than this is cancelled and fails (0 = no limit, as Ironic). Default 0. */
  workerTimeout?: number;
  /** On `stop()`, how long running workers may take before they are cancelled; 0 waits as long as they take (Ironic `graceful_shutdown_timeout`, 60 s). Default 60000. */
  gracefulShutdownTimeout?: number;
  /** Nodes a periodic check processes per run at most (Ironic `periodic_max_workers`). Default 8. */
  periodicMaxWorkers?: number;
  /** Interval of the deploy/clean/inspect/service wait checks (Ironic `check_provision_state_interval`, 60 s; 0 disables). Default 60000. */
  checkProvisionStateInterval?: number;
  /** Interval of the rescue wait check (Ironic `check_rescue_state_interval`, 60 s). Default 60000. */
  checkRescueStateInterval?: number;
  /** `wait call-back` longer than this fails the deploy (Ironic `deploy_callback_timeout`, 1800 s; 0 disables). Default 1800000. */
  deployCallbackTimeout?: number;
  /** `clean wait` longer than this fails cleaning (Ironic `clean_callback_timeout`, 1800 s; 0 disables). Default 1800000. */
  cleanCallbackTimeout?: number;
  /** `inspect wait` longer than this fails inspection (Ironic `inspect_wait_timeout`, 1800 s; 0 disables). Default 1800000. */
  inspectWaitTimeout?: number;
  /** `rescue wait` longer than this fails the rescue (Ironic `rescue_callback_timeout`, 1800 s; 0 disables). Default 1800000. */
  rescueCallbackTimeout?: number;
  /** `service wait` longer than this fails servicing (Ironic `service_callback_timeout`, 1800 s; 0 disables). Default 1800000. */
  serviceCallbackTimeout?: number;
  /** How often this conductor records that it is alive in the `conductors` table (Ironic `heartbeat_interval`, 10 s). Default 10000. */
  heartbeatInterval?: number;
  /** A conductor whose last heartbeat is older than this is dead: its reservations are taken over (Ironic `heartbeat_timeout`, 60 s). Default 60000. */
  heartbeatTimeout?: number;
  /** Ironic's `conductor_group`: this conductor manages (periodic checks, takeover) only nodes of this group. Default `''`. */
  conductorGroup?: string;
  /** On a shared store (PostgreSQL), how often a conductor looks for dead conductors (their session lock freed) and takes over their nodes. Default 1000 ms. */
  livenessCheckInterval?: number;
}

/** Fully resolved configuration. */
export type ConductorConfig = Required<ConductorOptions>;

/** Defaults for every option (host is computed at resolve time). */
export const DEFAULTS: Readonly<Omit<ConductorConfig, 'host'>> = Object.freeze({
  nodeLockedRetryAttempts: 3,
  nodeLockedRetryInterval: 1000,
  nodeIdleTimeout: 60_000,
  askTimeout: 10_000,
  logInDbMaxSize: 4096,
  notificationLevel: 'info',
  workersPoolSize: 300,
  reservedWorkersPoolPercentage: 5,
  workerTimeout: 0,
  gracefulShutdownTimeout: 60_000,
  periodicMaxWorkers: 8,
  checkProvisionStateInterval: 60_000,
  checkRescueStateInterval: 60_000,
  deployCallbackTimeout: 1_800_000,
  cleanCallbackTimeout: 1_800_000,
  inspectWaitTimeout: 1_800_000,
  rescueCallbackTimeout: 1_800_000,
  serviceCallbackTimeout: 1_800_000,
  heartbeatInterval: 10_000,
  heartbeatTimeout: 60_000,
  conductorGroup: '',
  livenessCheckInterval: 1000,
});

/** Validate options and fill defaults. Bad values → InvalidParameterValue naming the option. */
export function resolveConfig(options: ConductorOptions = {}): Result<ConductorConfig, InvalidParameterValue> {
  const config: ConductorConfig = { host: hostname(), ...DEFAULTS, ...stripUndefined(options) };
  if (typeof config.host !== 'string' || config.host.trim() === '' || config.host.length > 255) {
    return err(new InvalidParameterValue('host must be a non-empty string of at most 255 characters', { option: 'host' }));
  }
  const integers: [keyof ConductorConfig, number][] = [
    ['nodeLockedRetryAttempts', 1],
    ['nodeLockedRetryInterval', 0],
    ['nodeIdleTimeout', 0],
    ['askTimeout', 1],
    ['logInDbMaxSize', 1],
    ['workersPoolSize', 3],
    ['reservedWorkersPoolPercentage', 0],
    ['workerTimeout', 0],
    ['gracefulShutdownTimeout', 0],
    ['periodicMaxWorkers', 1],
    ['checkProvisionStateInterval', 0],
    ['checkRescueStateInterval', 1],
    ['deployCallbackTimeout', 0],
    ['cleanCallbackTimeout', 0],
    ['inspectWaitTimeout', 0],
    ['rescueCallbackTimeout', 0],
    ['serviceCallbackTimeout', 0],
    ['heartbeatInterval', 1],
    ['heartbeatTimeout', 1],
    ['livenessCheckInterval', 1],
  ];
  for (const [name, min] of integers) {
    const value = config[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      return err(new InvalidParameterValue(`${name} must be an integer >= ${min}, got ${String(value)}`, { option: name, value }));
    }
  }
  if (typeof config.conductorGroup !== 'string' || config.conductorGroup.length > 255 || !/^[A-Za-z0-9_.-]*$/.test(config.conductorGroup)) {
    // Ironic: letters, digits, '_', '.', '-', at most 255 characters.
    return err(
      new InvalidParameterValue('conductorGroup must be at most 255 characters of letters, digits, "_", "." or "-"', {
        option: 'conductorGroup',
        value: config.conductorGroup,
      }),
    );
  }
  if (config.heartbeatTimeout <= config.heartbeatInterval) {
    return err(
      new InvalidParameterValue(`heartbeatTimeout must be longer than heartbeatInterval (${config.heartbeatInterval})`, {
        option: 'heartbeatTimeout',
        value: config.heartbeatTimeout,
      }),
    );
  }
  if (config.reservedWorkersPoolPercentage > 50) {
    return err(
      new InvalidParameterValue('reservedWorkersPoolPercentage must be between 0 and 50', {
        option: 'reservedWorkersPoolPercentage',
        value: config.reservedWorkersPoolPercentage,
      }),
    );
  }
  if (config.notificationLevel !== null && !NOTIFICATION_LEVELS.includes(config.notificationLevel)) {
    return err(
      new InvalidParameterValue(`notificationLevel must be one of ${NOTIFICATION_LEVELS.join(', ')} or null`, {
        option: 'notificationLevel',
        value: config.notificationLevel,
      }),
    );
  }
  return ok(Object.freeze(config));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
