/**
 * Validation and defaults of SqlJsStore options.
 */
import { resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from '../../errors.js';
import { silentLogger, type Logger } from '../../logging.js';
import type { CheckpointHook } from './checkpoint.js';
import type { StoreTimings } from '../store.js';

/** Options of the sql.js store (see SqlJsStoreOptions for the documentation of each). */
export interface StoreOptionsInput {
  path?: string | null | undefined;
  durability?: 'sync' | 'batched' | undefined;
  maxDelayMs?: number | undefined;
  checkpointJournalBytes?: number | undefined;
  checkpointIntervalMs?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => Date) | undefined;
  onCheckpointPhase?: CheckpointHook | undefined;
  checkpointWorker?: boolean | undefined;
  timings?: StoreTimings | undefined;
}

/** Options with defaults filled; `path` absolute or null (in-memory). */
export interface ResolvedStoreOptions {
  readonly path: string | null;
  readonly durability: 'sync' | 'batched';
  readonly maxDelayMs: number;
  readonly checkpointJournalBytes: number;
  readonly checkpointIntervalMs: number;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly onCheckpointPhase: CheckpointHook | undefined;
  readonly checkpointWorker: boolean;
  readonly timings: StoreTimings | undefined;
}

/** Default options. */
export const STORE_DEFAULTS = Object.freeze({
  durability: 'sync' as const,
  maxDelayMs: 50,
  checkpointJournalBytes: 16 * 1024 * 1024,
  checkpointIntervalMs: 300_000,
  checkpointWorker: true,
});

/** Validate options and fill defaults. Bad values → InvalidParameterValue naming the option. */
export function resolveStoreOptions(input: StoreOptionsInput = {}): Result<ResolvedStoreOptions, InvalidParameterValue> {
  const bad = (option: string, expected: string, value: unknown) =>
    err(new InvalidParameterValue(`${option} must be ${expected}, got ${String(value)}`, { option, value: String(value) }));

  const path = input.path ?? null;
  if (path !== null && (typeof path !== 'string' || path === '' || path.includes('\0'))) {
    return bad('path', 'a non-empty file path or null', path);
  }
  const durability = input.durability ?? STORE_DEFAULTS.durability;
  if (durability !== 'sync' && durability !== 'batched') return bad('durability', "'sync' or 'batched'", durability);
  const integers = {
    maxDelayMs: input.maxDelayMs ?? STORE_DEFAULTS.maxDelayMs,
    checkpointJournalBytes: input.checkpointJournalBytes ?? STORE_DEFAULTS.checkpointJournalBytes,
    checkpointIntervalMs: input.checkpointIntervalMs ?? STORE_DEFAULTS.checkpointIntervalMs,
  };
  for (const [name, value] of Object.entries(integers)) {
    // 2^31-1 ms is setTimeout's limit.
    const max = name === 'checkpointJournalBytes' ? Number.MAX_SAFE_INTEGER : 2 ** 31 - 1;
    if (!Number.isSafeInteger(value) || value < 0 || value > max) return bad(name, `an integer in [0, ${max}]`, value);
  }
  if (input.logger !== undefined && (typeof input.logger !== 'object' || input.logger === null)) {
    return bad('logger', 'a pino logger', input.logger);
  }
  if (input.now !== undefined && typeof input.now !== 'function') return bad('now', 'a function returning a Date', input.now);
  if (input.onCheckpointPhase !== undefined && typeof input.onCheckpointPhase !== 'function') {
    return bad('onCheckpointPhase', 'a function', input.onCheckpointPhase);
  }
  const timings = input.timings;
  if (
    timings !== undefined &&
    (typeof timings !== 'object' || typeof timings.commit !== 'function' || typeof timings.checkpoint !== 'function')
  ) {
    return bad('timings', 'an object with commit() and checkpoint()', timings);
  }
  const checkpointWorker = input.checkpointWorker ?? STORE_DEFAULTS.checkpointWorker;
  if (typeof checkpointWorker !== 'boolean') return bad('checkpointWorker', 'a boolean', checkpointWorker);
  return ok(
    Object.freeze({
      path: path === null ? null : resolve(path),
      durability,
      ...integers,
      logger: input.logger ?? silentLogger(),
      now: input.now ?? (() => new Date()),
      onCheckpointPhase: input.onCheckpointPhase,
      checkpointWorker,
      timings,
    }),
  );
}
