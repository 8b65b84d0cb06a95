/**
 * Structured logging with pino. One root logger per conductor; child loggers per node actor and
 * per task. The request context (request id, user, project) is added to every line by a mixin.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { currentRequestContext, type RequestContext } from './context.js';
import { describe } from './errors.js';

/** Set on loggers that carry their own request binding (pino children inherit it). */
const REQUEST_BOUND = Symbol('metal-conductor.request-bound');

export type { Logger } from 'pino';

/** Secrets never written to logs. */
export const REDACTED_PATHS = [
  '*.driver_info.ipmi_password',
  '*.driver_info.redfish_password',
  '*.instance_info.configdrive',
  '*.instance_info.image_url',
];

/**
 * pino's `err` serializer, made safe: background work can throw anything, including values whose
 * `message` getter, `toString` or `toJSON` throw, and logging it must never throw in turn.
 */
export function safeErrSerializer(value: unknown): unknown {
  try {
    const serialized: unknown = pino.stdSerializers.err(value as Error);
    JSON.stringify(serialized); // a throwing toJSON inside would surface here, not in the logger
    return serialized;
  } catch {
    return { type: typeof value, message: describe(value) };
  }
}

/** The serializers every logger of the conductor uses (applied to the caller's logger through a child). */
export const SAFE_SERIALIZERS = Object.freeze({ err: safeErrSerializer });

/**
 * Create the root logger, with secret redaction and the request-context mixin. Default level
 * `info` (env `METAL_CONDUCTOR_LOG_LEVEL` overrides); default destination stderr, so that stdout
 * stays free for a program's own output.
 */
export function createLogger(
  options: LoggerOptions = {},
  destination: DestinationStream = pino.destination({ fd: 2, sync: false }),
): Logger {
  return pino(
    {
      name: 'metal-conductor',
      level: process.env.METAL_CONDUCTOR_LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '******' },
      serializers: SAFE_SERIALIZERS,
      mixin(_object: object, _level: number, logger: unknown) {
        if ((logger as { [REQUEST_BOUND]?: boolean })[REQUEST_BOUND]) return {};
        const ctx = currentRequestContext();
        return ctx ? { request_id: ctx.requestId, user: ctx.user ?? undefined, project: ctx.project ?? undefined } : {};
      },
      ...options,
    },
    destination,
  );
}

/** A child logger bound to a request context (used by tasks, whatever context the caller runs in). */
export function bindRequest(logger: Logger, ctx: RequestContext, bindings: Record<string, unknown> = {}): Logger {
  const child = logger.child({ ...bindings, request_id: ctx.requestId, user: ctx.user ?? undefined, project: ctx.project ?? undefined });
  (child as unknown as { [REQUEST_BOUND]: boolean })[REQUEST_BOUND] = true;
  return child;
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
