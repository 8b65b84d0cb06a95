/**
 * The exclusive lock on a database file, held across processes by a lock file holding the owner's
 * pid. One opener wins, however many race, including a race to take over a stale lock.
 *
 * Why not one `<path>.lock` whose stale holder is removed and replaced: "read the dead pid →
 * unlink → link" lets two openers both unlink and both link (the second unlinks the first one's
 * fresh lock). Here no opener ever removes a file another live process may hold:
 *
 * - Lock files are `<path>.lock.<n>`. Each is created whole (a private temp file hard-linked into
 *   place: link() fails if the name exists) under a name never used by a live file.
 * - To open: if any lock file names a live process, the store is in use. Otherwise link a new one
 *   (`n` = the highest seen + 1), then list again: if another lock file now names a live process
 *   (an opener racing with us), neither may proceed on that view, so remove ours and try again
 *   after a random pause. Of two racing openers, whichever checks second sees the other's file,
 *   so two can never both win; a loser that finds a settled winner reports StoreInUse.
 * - The winner removes lock files of dead processes (the stale lock it took over) and leftover
 *   temp files of dead processes. Only a winner removes files of others, and only dead ones, so a
 *   live holder's file is never removed.
 *
 * Liveness is `kill(pid, 0)`. A lock file naming our own pid that no store of this process holds
 * was left by an earlier process with the same pid (PID 1 in a restarted container) and is dead. A
 * recycled pid held by an unrelated live process is taken for a live holder (StoreInUse): remove
 * the lock file by hand then. Opens within one process are also serialised per path.
 *
 * A lock file's first line is the pid; the holder may add a second line, a JSON object saying
 * where the live process can be asked (`{"statusUrl":"http://127.0.0.1:41234"}`), written by
 * `advertise` as a whole (a temp file renamed over the held lock file). Liveness reads the first
 * line only. `readLiveHolder` reads both without taking the lock or writing anything.
 */
import { randomBytes } from 'node:crypto';
import { link, readdir, readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { err, ok, type Result } from 'neverthrow';
import { StoreInUse } from '../../errors.js';
import type { Logger } from '../../logging.js';

/** Lock files held by stores of this process (full paths). */
const held = new Set<string>();
/** Lock files this process has linked and is still checking (full paths): live, not stale. */
const checking = new Set<string>();
/** Per database path, the tail of this process's queue of opens (serialised). */
const opening = new Map<string, Promise<unknown>>();

/** Rounds of "link, see a racer, back off" before giving up with StoreInUse. */
const MAX_CONTENDED_ROUNDS = 40;
/** Upper bound of the random pause after backing off, in ms. */
const BACKOFF_MAX_MS = 20;

/** The prefix of every lock file name of a database path: `<path>.lock`. */
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

/** One lock file found beside the database. */
interface LockEntry {
  readonly path: string;
  /** Its generation; 0 for a `<path>.lock` left by version 0.2. */
  readonly generation: number;
  /** Its pid, null if unreadable (removed meanwhile, or not ours). */
  readonly pid: number | null;
  /** The status URL its holder advertised (second line), or null. */
  readonly statusUrl: string | null;
}

/** A held lock. */
export class FileLock {
  /** The lock file this process holds. */
  readonly path: string;
  #released = false;
  /** The advertisement being written, if any: release waits for it (a rename after the unlink would bring the file back). */
  #advertising: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Take the lock for database `dbPath`. A live holder (this process included: a second store on
   * the same file) → StoreInUse; dead holders are taken over with a warning. I/O failures are thrown.
   */
  static async acquire(dbPath: string, logger: Logger): Promise<Result<FileLock, StoreInUse>> {
    // One spelling per file: the directory's real path (symlinks resolved), so that two opens of
    // one file through different paths see each other's lock files as theirs.
    const key = join(await realpath(dirname(resolve(dbPath))), basename(dbPath));
    const previous = opening.get(key) ?? Promise.resolve();
    const attempt = previous.then(() => acquireLock(dbPath, key, logger));
    const tail = attempt.catch(() => undefined);
    opening.set(key, tail);
    void tail.then(() => {
      if (opening.get(key) === tail) opening.delete(key);
    });
    return attempt;
  }

  /**
   * Write `info` as the lock file's second line (the first stays the pid), atomically: a private
   * temp file renamed over the held lock file. A no-op once released. I/O failures are thrown.
   */
  advertise(info: { readonly statusUrl: string }): Promise<void> {
    const write = async (): Promise<void> => {
      if (this.#released) return;
      const temp = `${this.path.replace(/\.lock\.[0-9]+$/, '.lock')}-new.${process.pid}.${randomBytes(4).toString('hex')}`;
      await writeFile(temp, `${process.pid}\n${JSON.stringify({ statusUrl: info.statusUrl })}\n`, { flag: 'wx' });
      try {
        if (!this.#released) await rename(temp, this.path);
      } finally {
        await unlink(temp).catch(() => undefined);
      }
    };
    const done = this.#advertising.then(write, write);
    this.#advertising = done.catch(() => undefined);
    return done;
  }

  /** Remove the lock file. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.path);
    await this.#advertising;
    await unlink(this.path).catch(() => undefined);
  }

  /** @internal */
  static create(path: string): FileLock {
    held.add(path);
    return new FileLock(path);
  }
}

/** `dbPath` as the caller gave it (for errors), `absolute` its resolved form (for file names). */
async function acquireLock(dbPath: string, absolute: string, logger: Logger): Promise<Result<FileLock, StoreInUse>> {
  const prefix = lockPathOf(absolute);
  const temp = `${prefix}-new.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, `${process.pid}\n`, { flag: 'wx' });
  try {
    for (let round = 0; ; round++) {
      const before = await listLocks(absolute);
      const holder = before.find(isLive);
      if (holder !== undefined) return err(new StoreInUse(dbPath, holder.pid ?? -1));
      const mine = `${prefix}.${Math.max(0, ...before.map((l) => l.generation)) + 1}`;
      try {
        await link(temp, mine);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
        // Another opener took that name: look again (bounded, like backing off).
        if (round >= MAX_CONTENDED_ROUNDS) return err(new StoreInUse(dbPath, -1));
        continue;
      }
      checking.add(mine);
      let racer: LockEntry | undefined;
      try {
        racer = (await listLocks(absolute)).find((l) => l.path !== mine && isLive(l));
      } catch (cause) {
        await unlink(mine).catch(() => undefined);
        throw cause;
      } finally {
        checking.delete(mine);
      }
      if (racer === undefined) {
        const lock = FileLock.create(mine);
        await removeDead(absolute, before, logger);
        return ok(lock);
      }
      await unlink(mine).catch(ignoreMissing);
      if (round >= MAX_CONTENDED_ROUNDS) return err(new StoreInUse(dbPath, racer.pid ?? -1));
      await sleep(1 + Math.random() * BACKOFF_MAX_MS);
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function isLive(entry: LockEntry): boolean {
  if (entry.pid === null) return false;
  return entry.pid === process.pid ? held.has(entry.path) || checking.has(entry.path) : isProcessAlive(entry.pid);
}

function ignoreMissing(cause: NodeJS.ErrnoException): void {
  if (cause.code !== 'ENOENT') throw cause;
}

async function listLocks(dbPath: string): Promise<LockEntry[]> {
  const prefix = `${basename(lockPathOf(dbPath))}.`;
  const dir = dirname(dbPath);
  const entries: LockEntry[] = [];
  for (const name of await readdir(dir)) {
    let generation: number;
    if (name === basename(lockPathOf(dbPath))) generation = 0;
    else if (name.startsWith(prefix) && /^[1-9][0-9]{0,14}$/.test(name.slice(prefix.length)))
      generation = Number(name.slice(prefix.length));
    else continue;
    const path = join(dir, name);
    const text = await readLockText(path);
    entries.push({ path, generation, pid: text === null ? null : parsePid(text), statusUrl: text === null ? null : parseStatusUrl(text) });
  }
  return entries;
}

/** The winner removes the lock files it found dead, and temp files left by dead openers. */
async function removeDead(dbPath: string, found: readonly LockEntry[], logger: Logger): Promise<void> {
  for (const entry of found) {
    // Looked at again just before: only a file still naming a dead process is removed.
    let pid: number | null;
    try {
      pid = await readPid(entry.path);
    } catch {
      continue; // unreadable just now: leave it to a later winner
    }
    if (isLive({ ...entry, pid })) continue;
    logger.warn({ lock: entry.path, stalePid: entry.pid }, 'took over a stale store lock file (its process is gone)');
    await unlink(entry.path).catch(() => undefined);
  }
  const tempPrefix = `${basename(lockPathOf(dbPath))}-new.`;
  const dir = dirname(dbPath);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(tempPrefix)) continue;
    const pid = Number(name.slice(tempPrefix.length).split('.')[0]);
    if (Number.isSafeInteger(pid) && pid !== process.pid && !isProcessAlive(pid)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** The pid in a lock file (its first line); null if the file is gone or holds no pid. Other read errors are thrown (a holder must not look dead because of EMFILE). */
async function readPid(path: string): Promise<number | null> {
  const text = await readLockText(path);
  return text === null ? null : parsePid(text);
}

async function readLockText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw cause;
  }
}

function parsePid(text: string): number | null {
  const pid = Number(text.split('\n', 1)[0]!.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** The status URL on a lock file's second line, or null (none, or not a JSON object with a string `statusUrl`). */
function parseStatusUrl(text: string): string | null {
  const line = text.split('\n')[1]?.trim();
  if (line === undefined || line === '') return null;
  try {
    const info = JSON.parse(line) as unknown;
    const url = typeof info === 'object' && info !== null ? (info as { statusUrl?: unknown }).statusUrl : undefined;
    return typeof url === 'string' ? url : null;
  } catch {
    return null;
  }
}

/**
 * The live holder of database file `dbPath`'s lock and the status URL it advertised (null if
 * none), or null when no live process holds it. Takes no lock, creates and writes no file.
 * I/O errors other than a missing directory or file are thrown.
 */
export async function readLiveHolder(dbPath: string): Promise<{ pid: number; statusUrl: string | null } | null> {
  let absolute: string;
  let entries: LockEntry[];
  try {
    // The directory's real path, as the holder spells its lock file (see FileLock.acquire).
    absolute = join(await realpath(dirname(resolve(dbPath))), basename(dbPath));
    entries = await listLocks(absolute);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw cause;
  }
  // An opener racing the holder links a file of its own for a moment: prefer the one that
  // advertised, then the oldest generation (the settled holder's).
  const live = entries
    .filter(isLive)
    .sort((a, b) => Number(b.statusUrl !== null) - Number(a.statusUrl !== null) || a.generation - b.generation);
  const holder = live[0];
  return holder === undefined || holder.pid === null ? null : { pid: holder.pid, statusUrl: holder.statusUrl };
}
