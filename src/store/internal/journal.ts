/**
 * The append-only journal: one line per durable statement,
 *
 *     <crc32 of the JSON, 8 hex digits> {"seq":N,"batch":B,"sql":"...","params":[...]}\n
 *
 * `seq` numbers statements 1, 2, 3, ... across checkpoints; `batch` is the seq of the first
 * record of the write (group commit) the line was part of. Replaying the statements in seq order
 * on the checkpoint reproduces the database, because every value (timestamps, uuids) is a
 * parameter computed in JS.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { SqlParam } from './database.js';

/** One journaled statement. */
export interface JournalRecord {
  readonly seq: number;
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

/** A decoded record with the batch it was written in. */
export interface DecodedRecord extends JournalRecord {
  readonly batch: number;
}

/** Encode records written together in one batch (one write, one fdatasync). */
export function encodeBatch(records: readonly JournalRecord[]): Buffer {
  const batch = records[0]?.seq ?? 0;
  let text = '';
  for (const r of records) {
    const body = JSON.stringify({ seq: r.seq, batch, sql: r.sql, params: r.params });
    text += `${(crc32(body) >>> 0).toString(16).padStart(8, '0')} ${body}\n`;
  }
  return Buffer.from(text, 'utf8');
}

/** Decode one line (without its newline); null when torn or corrupt. */
export function decodeLine(line: string): DecodedRecord | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const crcText = line.slice(0, 8);
  if (!/^[0-9a-f]{8}$/.test(crcText)) return null;
  const body = line.slice(9);
  if (crc32(body) >>> 0 !== Number.parseInt(crcText, 16)) return null;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { seq, batch, sql, params } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return null;
  if (!Number.isSafeInteger(batch) || (batch as number) < 1 || (batch as number) > (seq as number)) return null;
  if (typeof sql !== 'string' || !Array.isArray(params)) return null;
  if (!params.every((p) => p === null || typeof p === 'string' || typeof p === 'number')) return null;
  return { seq: seq as number, batch: batch as number, sql, params: params as SqlParam[] };
}

/** What `readJournal` found. */
export type JournalContents =
  | {
      readonly ok: true;
      /** Records with seq > checkpointSeq, in order, consecutive from checkpointSeq + 1. */
      readonly records: DecodedRecord[];
      /** Records at or below checkpointSeq (already in the database file), skipped. */
      readonly skipped: number;
      /** Length of the valid prefix; bytes after it are a torn, unacknowledged write. */
      readonly validBytes: number;
      /** Why the tail was dropped, when it was. */
      readonly tornTail: string | null;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Parse a journal image. Only the last write can be torn: it was never acknowledged, because a
 * write is acknowledged after its fdatasync and the next write starts only then. So:
 * - a final segment without newline, or bad lines at the end, are a torn tail (dropped);
 * - a bad line followed by valid lines of the *same* final batch is a torn tail too (the pages of
 *   an unsynced write can reach the disk out of order);
 * - a bad line followed by a valid line of a later batch is corruption of acknowledged data;
 * - sequence numbers must increase, and those above checkpointSeq must continue it without gap.
 */
export function readJournal(bytes: Buffer, checkpointSeq: number): JournalContents {
  const lines: { start: number; record: DecodedRecord | null }[] = [];
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
    lines.push({ start: pos, record: decodeLine(bytes.toString('utf8', pos, nl)) });
    pos = nl + 1;
  }

  const firstBad = lines.findIndex((l) => l.record === null);
  if (firstBad !== -1) {
    const lastGoodBefore = lines.slice(0, firstBad).findLast((l) => l.record !== null)?.record;
    // The seq the bad line would have had, at least.
    const badSeq = (lastGoodBefore?.seq ?? checkpointSeq) + 1;
    const after = lines.slice(firstBad + 1).flatMap((l) => (l.record === null ? [] : [l.record]));
    const firstAfter = after[0];
    if (firstAfter !== undefined && (firstAfter.batch > badSeq || after.some((r) => r.batch !== firstAfter.batch))) {
      return {
        ok: false,
        reason: `journal line ${firstBad + 1} is corrupt (bad checksum or JSON) and is followed by valid records (seq ${firstAfter.seq})`,
      };
    }
    tornTail = `torn last write from line ${firstBad + 1} (${lines.length - firstBad} line(s) dropped)`;
    validBytes = lines[firstBad]!.start;
    lines.length = firstBad;
  }

  const records: DecodedRecord[] = [];
  let skipped = 0;
  let previous = 0;
  for (const [index, { record }] of lines.entries()) {
    const r = record!;
    if (r.seq <= previous) {
      return { ok: false, reason: `journal line ${index + 1} has seq ${r.seq}, not above the previous ${previous}` };
    }
    previous = r.seq;
    if (r.seq <= checkpointSeq) {
      skipped++;
      continue;
    }
    const expected = (records.at(-1)?.seq ?? checkpointSeq) + 1;
    if (r.seq !== expected) {
      return { ok: false, reason: `journal sequence gap: expected seq ${expected}, found ${r.seq} on line ${index + 1}` };
    }
    records.push(r);
  }
  return { ok: true, records, skipped, validBytes, tornTail };
}

/** The journal file, opened for appending. Callers serialise appends and truncations. */
export class JournalFile {
  readonly path: string;
  #handle: FileHandle;
  #size: number;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.#handle = handle;
    this.#size = size;
  }

  /** Open (creating if needed) for appending. */
  static async open(path: string): Promise<JournalFile> {
    const handle = await open(path, 'a');
    const { size } = await handle.stat();
    return new JournalFile(path, handle, size);
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  /** Append `data` and fdatasync: durable when this resolves. */
  async append(data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.#handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    this.#size += data.length;
    await this.#handle.datasync();
  }

  /** Empty the file (after a checkpoint made its records redundant). */
  async truncate(): Promise<void> {
    await this.#handle.truncate(0);
    this.#size = 0;
    await this.#handle.datasync();
  }

  /** Close the file handle. */
  async close(): Promise<void> {
    await this.#handle.close();
  }
}
