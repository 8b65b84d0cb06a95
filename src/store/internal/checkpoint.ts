/**
 * Checkpoint files: writing a database image atomically (temp file, fsync, rename, fsync of the
 * directory) and checking an image before loading it. A file that is not a valid database of ours
 * is reported, never replaced.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { dirname } from 'node:path';

/** Points in a checkpoint where tests may pause or kill the process. */
export type CheckpointPhase = 'exported' | 'temp-written' | 'renamed' | 'journal-truncated';

/** Called at each checkpoint phase; a returned promise delays the checkpoint (tests only). */
export type CheckpointHook = (phase: CheckpointPhase) => void | Promise<void>;

/** The temp file a checkpoint writes before renaming it over the database file. */
export function tempPathOf(path: string): string {
  return `${path}.tmp`;
}

/**
 * Write `bytes` to `path` atomically: after a crash at any point `path` holds either its old
 * content or `bytes`, never a mix. `onPhase` is awaited after the temp file is durable and after
 * the rename; `beforeRename` just before the rename (a checkpoint waits there for its journal).
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  onPhase?: CheckpointHook,
  beforeRename?: () => Promise<void>,
): Promise<void> {
  await writeTempFile(path, bytes);
  await renameTempIntoPlace(path, onPhase, beforeRename);
}

/**
 * The first half of `writeFileAtomic`: `bytes` in the temp file of `path`, durable (written,
 * fdatasync'd, closed). On failure the temp file is removed. The checkpoint worker runs this.
 */
export async function writeTempFile(path: string, bytes: Uint8Array): Promise<void> {
  const temp = tempPathOf(path);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.datasync();
  } catch (cause) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw cause;
  }
  await handle.close();
}

/**
 * The second half: the durable temp file of `path` renamed over it, and the directory synced.
 * `onPhase('temp-written')` first (a hook that throws leaves the temp file, as a crash would), then
 * `beforeRename` (if it throws, the temp file is removed and nothing is renamed), and
 * `onPhase('renamed')` once the rename is durable.
 */
export async function renameTempIntoPlace(path: string, onPhase?: CheckpointHook, beforeRename?: () => Promise<void>): Promise<void> {
  const temp = tempPathOf(path);
  await onPhase?.('temp-written');
  try {
    await beforeRename?.();
  } catch (cause) {
    await unlink(temp).catch(() => undefined);
    throw cause;
  }
  await rename(temp, path);
  await fsyncDirectory(dirname(path));
  await onPhase?.('renamed');
}

/** fsync a directory so that a rename or create in it survives a power loss. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * Check the SQLite header of a database image: magic string, page size, and a length that is a
 * whole number of pages matching the header's page count (a truncated file fails here; SQLite
 * itself may read a short last page as zeros). Returns the problem, or null.
 */
export function checkImageHeader(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return 'the file is empty';
  if (bytes.length < 100) return `the file is too short for a SQLite header (${bytes.length} bytes)`;
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, 100);
  if (header.toString('latin1', 0, 16) !== SQLITE_MAGIC) return 'not a SQLite database (bad header magic)';
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `invalid page size ${rawPageSize} in header`;
  if (bytes.length % pageSize !== 0) {
    return `file length ${bytes.length} is not a multiple of the page size ${pageSize} (truncated?)`;
  }
  // The in-header page count is valid when "version-valid-for" equals the change counter.
  const changeCounter = header.readUInt32BE(24);
  const pageCount = header.readUInt32BE(28);
  const validFor = header.readUInt32BE(92);
  if (pageCount !== 0 && validFor === changeCounter && pageCount * pageSize !== bytes.length) {
    return `header says ${pageCount} pages of ${pageSize} bytes but the file has ${bytes.length} bytes (truncated?)`;
  }
  return null;
}

/**
 * The integrity trailer appended to every database image this version writes: 32 bytes after the
 * SQLite pages, `MCSTORE1`, the CRC-32 of the image, its length (uint64), zero padding. A flipped
 * byte anywhere in the image (row data that SQLite's own checks cannot see) fails the CRC.
 */
const TRAILER_MAGIC = 'MCSTORE1';
export const TRAILER_BYTES = 32;

/** The image followed by its trailer, ready to write. */
export function withTrailer(image: Uint8Array): Uint8Array {
  const out = Buffer.alloc(image.length + TRAILER_BYTES);
  out.set(image, 0);
  out.write(TRAILER_MAGIC, image.length, 'latin1');
  out.writeUInt32BE(crc32(image) >>> 0, image.length + 8);
  out.writeBigUInt64BE(BigInt(image.length), image.length + 12);
  return out;
}

/** What a database file holds: the image, and whether it had a trailer (an image of version 0.1 has none). */
export type TrailerCheck = { readonly image: Uint8Array; readonly trailer: boolean } | { readonly problem: string };

/** Split and verify the trailer. A trailer whose CRC or length does not match is a problem. */
export function checkTrailer(bytes: Uint8Array): TrailerCheck {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (
    bytes.length < TRAILER_BYTES ||
    buffer.toString('latin1', bytes.length - TRAILER_BYTES, bytes.length - TRAILER_BYTES + 8) !== TRAILER_MAGIC
  ) {
    return { image: bytes, trailer: false };
  }
  const at = bytes.length - TRAILER_BYTES;
  const length = buffer.readBigUInt64BE(at + 12);
  if (length !== BigInt(at))
    return { problem: `the integrity trailer gives ${length} bytes but the image has ${at} (truncated or extended?)` };
  const image = bytes.subarray(0, at);
  const expected = buffer.readUInt32BE(at + 8);
  if (crc32(image) >>> 0 !== expected) return { problem: 'the image does not match its checksum (a changed or damaged byte)' };
  return { image, trailer: true };
}
