/**
 * Structured logging with pino. One root logger per conductor; child loggers per node actor and
 * per task. The request context (request id, user, project) is added to every line by a mixin.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import { currentRequestContext } from './context.ts';

export type { Logger } from 'pino';

/** Secrets never written to logs. */
export const REDACTED_PATHS = [
  '*.driver_info.ipmi_password',
  '*.driver_info.redfish_password',
  '*.instance_info.configdrive',
  '*.instance_info.image_url',
];

/**
 * Create the root logger. Default level `info` (env `METAL_CONDUCTOR_LOG_LEVEL` overrides), written
 * to stderr so that stdout stays free for a program's own output.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'metal-conductor',
      level: process.env.METAL_CONDUCTOR_LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '******' },
      mixin() {
        const ctx = currentRequestContext();
        return ctx ? { request_id: ctx.requestId, user: ctx.user ?? undefined, project: ctx.project ?? undefined } : {};
      },
      ...options,
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
