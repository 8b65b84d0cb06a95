/**
 * Conductor configuration: Ironic's knobs under camelCase names, with Ironic's defaults
 * (times in milliseconds instead of seconds). `resolveConfig` validates and fills defaults.
 */
import { hostname } from 'node:os';
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from './errors.ts';

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
  /** A node actor with no holder, no waiter and no message for this long is stopped. Default 60000 ms. */
  nodeIdleTimeout?: number;
  /** Timeout of every internal ask (task → node actor, actor → actor). Default 10000 ms. */
  askTimeout?: number;
  /** `last_error` and `maintenance_reason` are truncated to this many characters (Ironic `log_in_db_max_size`). Default 4096. */
  logInDbMaxSize?: number;
  /** Lowest notification level delivered to subscribers; `null` delivers none (Ironic's unset). Default `'info'`. */
  notificationLevel?: NotificationLevel | null;
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
  ];
  for (const [name, min] of integers) {
    const value = config[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      return err(
        new InvalidParameterValue(`${name} must be an integer >= ${min}, got ${String(value)}`, { option: name, value }),
      );
    }
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
