/**
 * Environment failures: the machine, not the input or the code, stopped the run (a full disk, a
 * file system that became read-only, permissions, I/O errors, too many open files). The CLI
 * reports them as one line and exit code 3 (EXIT.environment), never as an internal error.
 */

/** errno codes that mean "the environment failed", with what to tell the operator. */
const ENVIRONMENT_CODES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system or the file-size limit',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'I/O error',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this system',
};

// As Node words its system errors ("ENOSPC: no space left on device, write"), so that a node
// name or other text that merely contains such a word is not taken for one.
const CODE_IN_TEXT = new RegExp(`\\b(${Object.keys(ENVIRONMENT_CODES).join('|')}): `);

/** The errno code of an environment failure found in `error`, its causes or their messages; null if none. */
export function environmentCode(error: unknown): string | null {
  const seen = new Set<unknown>();
  for (let current: unknown = error; current !== null && current !== undefined && !seen.has(current);) {
    seen.add(current);
    if (typeof current === 'string') return CODE_IN_TEXT.exec(current)?.[1] ?? null;
    if (typeof current !== 'object') return null;
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && code in ENVIRONMENT_CODES) return code;
    if (typeof message === 'string') {
      const found = CODE_IN_TEXT.exec(message)?.[1];
      if (found !== undefined) return found;
    }
    current = cause;
  }
  return null;
}

/** Where the failure happened, for its line: the database file and its durability mode, if any. */
export interface EnvironmentContext {
  readonly db: string | null;
  readonly durability?: 'sync' | 'batched' | undefined;
}

/** The one line for an environment failure with `code`. */
export function environmentMessage(code: string, context: EnvironmentContext = { db: null }): string {
  const what = ENVIRONMENT_CODES[code] ?? code;
  const where = context.db === null ? '' : ` writing the database ${context.db}`;
  const kept =
    context.db === null || context.durability === undefined
      ? ''
      : context.durability === 'sync'
        ? ': every change reported done is on disk'
        : ': changes reported done in the last maxDelayMs may be lost (--durability batched)';
  return `${what} (${code})${where}; fix it and run again (--retry-failed carries on nodes it caught mid-step)${kept}`;
}

/** An environment failure that ends the CLI: printed as one line, exit 3. */
export class EnvironmentFailure extends Error {
  constructor(
    readonly errno: string,
    context: EnvironmentContext,
  ) {
    super(environmentMessage(errno, context));
    this.name = 'EnvironmentFailure';
  }
}
