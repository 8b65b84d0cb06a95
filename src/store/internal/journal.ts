/**
 * The append-only journal of a file store.
 *
 * Format 2 (this version writes only this one):
 *
 *     <crc32 8 hex> {"journal":2,"store":"<store id>","base":C}\n              the header line
 *     <crc32 8 hex> <length> {"seq":S,"entries":[[[sql,params],...],...]}\n   one line per disk write
 *
 * The header ties the journal to its database (the store id, also kept in the database file)
 * and to the checkpoint it continues (`base`: every change with seq ≤ C is in the database file).
 * The database file also records the digest of its last change: when the journal still holds that
 * change (a crash between writing the database file and resetting the journal), the two must
 * agree, so a checkpoint seq that was changed, or a journal cut short, is detected.
 * A line holds every change of one group commit (one write, one fdatasync): change S, S+1, …; a
 * change is one store operation, all its statements applied together, so a write that touched
 * several rows (a node and its ports) is replayed entirely or not at all. Replaying changes in seq
 * order on the checkpoint reproduces the database: every value (timestamps, uuids) is a parameter.
 *
 * What can be torn: only the last line, because a line is acknowledged after its fdatasync and the
 * next line is written only then. A bad line is therefore a torn last write only if nothing follows
 * it, it begins like a line of ours (the first bytes of a write reach the disk first), and it is no
 * longer than the length it declares; anything else is corruption of acknowledged data.
 *
 * Format 1 (version 0.1: no header, one line per statement) is still read, for a database file
 * of that version.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDirectory } from './checkpoint.js';
import type { SqlParam } from './database.js';

/** One SQL statement with its parameters. */
export type Statement = readonly [sql: string, params: readonly SqlParam[]];

/** One change: every statement of one store operation, applied together. */
export interface JournalEntry {
  readonly seq: number;
  readonly statements: readonly Statement[];
}

/** The journal's first line. */
export interface JournalHeader {
  /** Id of the database the journal belongs to. */
  readonly store: string;
  /** The checkpoint it continues: changes with seq ≤ base are in the database file. */
  readonly base: number;
}

/** What the database file says the journal must continue. */
export interface JournalExpectation {
  /** The database file's store id (null: a version-0.1 file, which has none). */
  readonly store: string | null;
  /** Changes with seq ≤ this are in the database file. */
  readonly checkpointSeq: number;
  /** The digest of change checkpointSeq recorded in the database file (null: not recorded, version 0.1). */
  readonly checkpointDigest: string | null;
  /**
   * The base of the journal that was current when that checkpoint was written: a crash after the
   * new database file was renamed into place but before the journal was reset leaves that one.
   */
  readonly previousBase: number | null;
}

/** What `readJournal` found. */
export type JournalContents =
  | {
      readonly ok: true;
      readonly header: JournalHeader | null;
      /** Changes with seq > checkpointSeq, in order, consecutive from checkpointSeq + 1. */
      readonly entries: JournalEntry[];
      /** Changes at or below checkpointSeq (already in the database file), skipped. */
      readonly skipped: number;
      /** Length of the valid prefix; bytes after it are a torn, unacknowledged write. */
      readonly validBytes: number;
      /** Why the tail was dropped, when it was. */
      readonly tornTail: string | null;
    }
  | { readonly ok: false; readonly reason: string };

const HEADER_FORMAT = 2;

/**
 * The `previousBase` (meta journal_base) of a database file upgraded from version 0.1 whose new
 * journal may not be in place yet: its old, headerless journal is then accepted if the file holds
 * all of it. Replaced by the real base at the next checkpoint.
 */
export const UPGRADING_FROM_V1 = -1;
const LINE_START = /^[0-9a-f]{1,8}( ([0-9]{1,12}( (\{.*)?)?)?)?$/s;

function crcHex(text: string): string {
  return (crc32(text) >>> 0).toString(16).padStart(8, '0');
}

/** The digest of one change, as a database file records it for its last change. */
export function entryDigest(statements: readonly Statement[]): string {
  return crcHex(JSON.stringify(statements));
}

/** The header line. */
export function encodeHeader(header: JournalHeader): Buffer {
  const body = JSON.stringify({ journal: HEADER_FORMAT, store: header.store, base: header.base });
  return Buffer.from(`${crcHex(body)} ${body}\n`, 'utf8');
}

/** One line holding every change of one group commit. */
export function encodeLine(entries: readonly JournalEntry[]): Buffer {
  const body = JSON.stringify({ seq: entries[0]?.seq ?? 0, entries: entries.map((e) => e.statements) });
  return Buffer.from(`${crcHex(body)} ${Buffer.byteLength(body, 'utf8')} ${body}\n`, 'utf8');
}

function decodeHeader(line: string): JournalHeader | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const body = line.slice(9);
  if (crcHex(body) !== line.slice(0, 8)) return null;
  const value = parseJson(body);
  if (value === null || value.journal !== HEADER_FORMAT) return null;
  const { store, base } = value;
  if (typeof store !== 'string' || store === '' || !isSeq(base, 0)) return null;
  return { store, base: base as number };
}

function decodeLine(line: string): JournalEntry[] | null {
  const first = line.indexOf(' ');
  const second = line.indexOf(' ', first + 1);
  if (first !== 8 || second === -1) return null;
  const body = line.slice(second + 1);
  if (crcHex(body) !== line.slice(0, 8) || Number(line.slice(first + 1, second)) !== Buffer.byteLength(body, 'utf8')) return null;
  const value = parseJson(body);
  if (value === null || !isSeq(value.seq, 1) || !Array.isArray(value.entries) || value.entries.length === 0) return null;
  const entries: JournalEntry[] = [];
  for (const [index, statements] of (value.entries as unknown[]).entries()) {
    if (!Array.isArray(statements) || statements.length === 0 || !statements.every(isStatement)) return null;
    entries.push({ seq: (value.seq as number) + index, statements: statements });
  }
  return entries;
}

function isStatement(value: unknown): value is Statement {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'string' &&
    Array.isArray(value[1]) &&
    (value[1] as unknown[]).every((p) => p === null || typeof p === 'string' || typeof p === 'number')
  );
}

function isSeq(value: unknown, min: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Could `tail` (what follows the last good line, to the end of the file) be the start of one of our lines, cut short? */
function plausibleTornLine(tail: string): boolean {
  const newline = tail.indexOf('\n');
  // A torn write is one line: it cannot be followed by another.
  if (newline !== -1 && newline !== tail.length - 1) return false;
  const line = newline === -1 ? tail : tail.slice(0, -1);
  // The first bytes of a write reach the disk first: the line must begin like ours...
  if (!LINE_START.test(line.slice(0, 40))) return false;
  // ...and not be longer than the length it declares (garbage beyond it is not a torn write).
  const parts = line.split(' ', 3);
  const declared = Number(parts[1]);
  if (parts.length === 3 && Number.isSafeInteger(declared)) return line.length - (parts[0]!.length + parts[1]!.length + 2) <= declared;
  return true;
}

/**
 * Parse a journal image against what the database file expects. A header that names another
 * database, or continues a checkpoint the file is not (or not the one before it), is corruption,
 * and so is a gap or an overlap in the sequence; only a torn last write is dropped.
 */
export function readJournal(bytes: Buffer, expected: JournalExpectation): JournalContents {
  const text = bytes.toString('utf8');
  const firstNewline = text.indexOf('\n');
  if (firstNewline === -1) return { ok: false, reason: 'the journal has no complete header line' };
  const header = decodeHeader(text.slice(0, firstNewline));
  if (header === null) {
    if (expected.store === null) return readJournalV1(bytes, expected.checkpointSeq);
    if (expected.previousBase === UPGRADING_FROM_V1) {
      // An upgrade from version 0.1 was interrupted after writing the new database file: the old
      // journal is still there, and everything in it is in the file.
      const old = readJournalV1(bytes, expected.checkpointSeq);
      if (old.ok && old.entries.length === 0) return old;
    }
    return { ok: false, reason: 'the journal header is missing or corrupt' };
  }
  if (expected.store !== null && header.store !== expected.store) {
    return { ok: false, reason: `the journal belongs to another database (store ${header.store}, this file is ${expected.store})` };
  }
  if (header.base !== expected.checkpointSeq && header.base !== expected.previousBase) {
    return {
      ok: false,
      reason: `the journal continues checkpoint ${header.base}, but the database file holds checkpoint ${expected.checkpointSeq} (a journal and a database file that do not belong together)`,
    };
  }
  const entries: JournalEntry[] = [];
  let skipped = 0;
  let atCheckpoint: JournalEntry | null = null;
  let next = header.base + 1;
  let pos = firstNewline + 1;
  let lineNumber = 1;
  while (pos < text.length) {
    lineNumber++;
    const newline = text.indexOf('\n', pos);
    const decoded = newline === -1 ? null : decodeLine(text.slice(pos, newline));
    if (decoded === null) {
      const tail = text.slice(pos);
      if (!plausibleTornLine(tail)) {
        return {
          ok: false,
          reason: `journal line ${lineNumber} is corrupt (bad checksum, length or JSON) and is not a torn last write: ${tail.length} byte(s) to the end of the file`,
        };
      }
      const validBytes = Buffer.byteLength(text.slice(0, pos), 'utf8');
      const why =
        newline === -1
          ? `incomplete last line (${bytes.length - validBytes} bytes without newline)`
          : `torn last write (line ${lineNumber})`;
      return checkCheckpointChange(header, atCheckpoint, expected) ?? { ok: true, header, entries, skipped, validBytes, tornTail: why };
    }
    for (const entry of decoded) {
      if (entry.seq !== next) {
        return {
          ok: false,
          reason: `journal sequence ${entry.seq > next ? 'gap' : 'overlap'}: expected change ${next}, found ${entry.seq} on line ${lineNumber}`,
        };
      }
      next++;
      if (entry.seq === expected.checkpointSeq) atCheckpoint = entry;
      if (entry.seq <= expected.checkpointSeq) skipped++;
      else entries.push(entry);
    }
    pos = newline + 1;
  }
  return (
    checkCheckpointChange(header, atCheckpoint, expected) ?? {
      ok: true,
      header,
      entries,
      skipped,
      validBytes: bytes.length,
      tornTail: null,
    }
  );
}

/**
 * A journal that is not the one reset at the checkpoint (its base is below the checkpoint's seq)
 * must still hold the checkpoint's last change, with the digest the database file recorded: the
 * file is renamed into place only once every change it contains is in the journal.
 */
function checkCheckpointChange(
  header: JournalHeader,
  atCheckpoint: JournalEntry | null,
  expected: JournalExpectation,
): { ok: false; reason: string } | null {
  if (header.base === expected.checkpointSeq) return null;
  if (atCheckpoint === null) {
    return {
      ok: false,
      reason: `the journal ends before change ${expected.checkpointSeq}, the last one the database file says it holds (a journal cut short, or a changed checkpoint seq)`,
    };
  }
  if (expected.checkpointDigest !== null && entryDigest(atCheckpoint.statements) !== expected.checkpointDigest) {
    return {
      ok: false,
      reason: `change ${expected.checkpointSeq} in the journal is not the one the database file holds (a changed checkpoint seq, or files that do not belong together)`,
    };
  }
  return null;
}

// ---------------------------------------------------------------- format 1 (read only)

interface LineV1 {
  readonly seq: number;
  readonly batch: number;
  readonly entry: JournalEntry;
}

function decodeLineV1(line: string): LineV1 | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const body = line.slice(9);
  if (crcHex(body) !== line.slice(0, 8)) return null;
  const value = parseJson(body);
  if (value === null) return null;
  const { seq, batch, sql, params } = value;
  if (!isSeq(seq, 1) || !isSeq(batch, 1) || (batch as number) > (seq as number)) return null;
  if (!isStatement([sql, params])) return null;
  return { seq: seq as number, batch: batch as number, entry: { seq: seq as number, statements: [[sql as string, params as SqlParam[]]] } };
}

/** A version-0.1 journal (no header, one statement per line), with the rules that version had. */
function readJournalV1(bytes: Buffer, checkpointSeq: number): JournalContents {
  const lines: { start: number; line: LineV1 | null }[] = [];
  let pos = 0;
  let tornTail: string | null = null;
  let validBytes = bytes.length;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(10, pos);
    if (nl === -1) {
      tornTail = `incomplete last line (${bytes.length - pos} bytes without newline)`;
      validBytes = pos;
      break;
    }
    lines.push({ start: pos, line: decodeLineV1(bytes.toString('utf8', pos, nl)) });
    pos = nl + 1;
  }
  const firstBad = lines.findIndex((l) => l.line === null);
  if (firstBad !== -1) {
    if (lines.slice(firstBad + 1).some((l) => l.line !== null) || bytes.length - lines[firstBad]!.start > 1 << 20) {
      return { ok: false, reason: `journal line ${firstBad + 1} is corrupt and is not a torn last write` };
    }
    tornTail = `torn last write from line ${firstBad + 1}`;
    validBytes = lines[firstBad]!.start;
    lines.length = firstBad;
  }
  const entries: JournalEntry[] = [];
  let skipped = 0;
  let previous = 0;
  for (const [index, { line }] of lines.entries()) {
    const l = line!;
    if (l.seq <= previous) return { ok: false, reason: `journal line ${index + 1} has seq ${l.seq}, not above the previous ${previous}` };
    previous = l.seq;
    if (l.seq <= checkpointSeq) {
      skipped++;
      continue;
    }
    const expected = (entries.at(-1)?.seq ?? checkpointSeq) + 1;
    if (l.seq !== expected)
      return { ok: false, reason: `journal sequence gap: expected seq ${expected}, found ${l.seq} on line ${index + 1}` };
    entries.push(l.entry);
  }
  return { ok: true, header: null, entries, skipped, validBytes, tornTail };
}

// ---------------------------------------------------------------- the file

/** The journal file, opened for appending. Callers serialise appends and resets. */
export class JournalFile {
  readonly path: string;
  #handle: FileHandle;
  #size: number;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.#handle = handle;
    this.#size = size;
  }

  /** Open an existing journal for appending. */
  static async open(path: string): Promise<JournalFile> {
    const handle = await open(path, 'a');
    const { size } = await handle.stat();
    return new JournalFile(path, handle, size);
  }

  /**
   * Put a new journal at `path` holding `header` (and `carried`, lines to keep), atomically: after
   * a crash `path` is the old journal or this one, never a mix. Resolves once it is in place, with
   * it open for appending (opened before the rename, so that nothing can fail between the rename
   * and the switch to it). The rename is durable only after `syncDirectory()`. If this rejects,
   * the old journal is still in place.
   */
  static async replace(path: string, header: JournalHeader, carried: Buffer = Buffer.alloc(0)): Promise<JournalFile> {
    const temp = `${path}.new`;
    await unlink(temp).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code !== 'ENOENT') throw cause;
    });
    const handle = await open(temp, 'ax');
    const bytes = Buffer.concat([encodeHeader(header), carried]);
    try {
      await handle.writeFile(bytes);
      await handle.datasync();
      await rename(temp, path);
    } catch (cause) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw cause;
    }
    return new JournalFile(path, handle, bytes.length);
  }

  /** fsync the journal's directory: a rename of it survives a power loss once this resolves. */
  syncDirectory(): Promise<void> {
    return fsyncDirectory(dirname(this.path));
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  /**
   * Append `data` and fdatasync: durable when this resolves. If the write fails part way (a full
   * disk), what it wrote is cut off again, so that a write reported as failed never reappears;
   * if even that fails, the error says so and the journal must not be used again.
   */
  async append(data: Buffer): Promise<void> {
    const before = this.#size;
    try {
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await this.#handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
      await this.#handle.datasync();
    } catch (cause) {
      try {
        await this.#handle.truncate(before);
        await this.#handle.datasync();
      } catch (cutCause) {
        throw new JournalDamaged(cause, cutCause);
      }
      throw cause;
    }
    this.#size = before + data.length;
  }

  /** Close the file handle. */
  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/** The journal can no longer be trusted to hold what is acknowledged through it (e.g. a failed append whose partial bytes could not be cut off). */
export class JournalDamaged extends Error {
  constructor(
    readonly writeCause: unknown,
    readonly cutCause: unknown,
    message = 'a journal write failed and its partial bytes could not be removed',
  ) {
    super(message);
    this.name = 'JournalDamaged';
  }
}
