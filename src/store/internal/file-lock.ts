/**
 * The exclusive lock file `<path>.lock`, holding the owner's pid. It is created atomically with
 * its content (a private temp file hard-linked into place: link() fails if the name exists), so a
 * reader never sees an empty lock file. A lock whose pid is dead is stale and is taken over. A
 * recycled pid held by an unrelated live process is taken for a live holder (StoreInUse): remove
 * the lock file by hand then.
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { StoreInUse } from '../../errors.js';
import type { Logger } from '../../logging.js';

// Lock files held by stores of this process: a lock file naming our own pid that is not in here
// was left by an earlier process that had the same pid (PID 1 in a restarted container).
const held = new Set<string>();

/** The lock file path for a database path. */
export function lockPathOf(path: string): string {
  return `${path}.lock`;
}

/** True if a process with this pid exists (EPERM means it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A held lock file. */
export class FileLock {
  readonly path: string;
  #released = false;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Take the lock for database `dbPath`. A live holder (this process included: a second store on
   * the same file) → StoreInUse; a dead or unreadable holder → take over with a warning.
   * I/O failures other than "exists" are thrown.
   */
  static async acquire(dbPath: string, logger: Logger): Promise<Result<FileLock, StoreInUse>> {
    const lockPath = lockPathOf(dbPath);
    const temp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, `${process.pid}\n`, { flag: 'wx' });
    try {
      // Two attempts: the second after removing a stale lock.
      for (let attempt = 0; ; attempt++) {
        try {
          await link(temp, lockPath);
          held.add(lockPath);
          return ok(new FileLock(lockPath));
        } catch (cause) {
          if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
        }
        const holder = await readHolder(lockPath);
        const ours = holder === process.pid;
        if (holder !== null && (ours ? held.has(lockPath) : isProcessAlive(holder))) return err(new StoreInUse(dbPath, holder));
        if (attempt > 0) return err(new StoreInUse(dbPath, holder ?? -1));
        logger.warn({ lock: lockPath, stalePid: holder }, 'taking over stale store lock file (its process is gone)');
        await unlink(lockPath).catch((cause: NodeJS.ErrnoException) => {
          if (cause.code !== 'ENOENT') throw cause;
        });
      }
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  /** Remove the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.path);
    if ((await readHolder(this.path)) === process.pid) await unlink(this.path).catch(() => undefined);
  }
}

async function readHolder(lockPath: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(lockPath, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
