/**
 * Group commit and checkpoints for a file store. Changes are applied to the in-memory database by
 * the store, then handed here as journal entries. One flusher loop writes every pending entry as
 * one journal line (one write + fdatasync) and then wakes every caller waiting on them.
 *
 * A checkpoint snapshots the database between two journal writes (in the checkpoint worker, which
 * follows every change: see checkpointer.ts), then writes the image in the background while the journal goes on taking writes (so a slow
 * checkpoint does not hold durability back), and finally resets the journal: a new journal whose
 * header continues the checkpoint, carrying the lines written since the snapshot, renamed over the
 * old one. A crash at any point leaves a database file and a journal that belong together.
 */
import { StoreError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { CheckpointHook } from './checkpoint.js';
import { encodeLine, entryDigest, JournalDamaged, JournalFile, type JournalEntry, type Statement } from './journal.js';
import type { CheckpointMark } from './schema.js';
import type { StoreTimings } from '../store.js';

/**
 * How the committer writes a checkpoint. The store keeps a copy of the database in the checkpoint
 * worker, fed by `replicate`, and `snapshot` asks the worker for the image (the store's own thread
 * never exports its database); without a worker, `snapshot` exports on the store's thread.
 */
export interface CheckpointWriter {
  /**
   * The next changes, in seq order, each given once, as the flusher takes them for the journal
   * (before their write: a checkpoint's image may contain changes still pending in the journal).
   */
  replicate(entries: readonly JournalEntry[]): void;
  /**
   * Capture the database at `mark` (the last change, the base of the journal current now, that
   * change's digest), synchronously: every change up to mark.seq has been replicated, none after.
   * Returns the write of the image, to run in the background: it awaits the 'exported',
   * 'temp-written' and 'renamed' phases, and `beforeRename` just before renaming it into place.
   */
  snapshot(mark: CheckpointMark): (beforeRename: () => Promise<void>) => Promise<void>;
}

/** Committer settings (resolved store options). */
export interface CommitterOptions {
  readonly durability: 'sync' | 'batched';
  readonly maxDelayMs: number;
  readonly checkpointJournalBytes: number;
  readonly checkpointIntervalMs: number;
  readonly logger: Logger;
  readonly onCheckpointPhase?: CheckpointHook | undefined;
  /** Called once when the journal fails (the store reloads or reports itself failed at once). */
  readonly onFailure?: ((failure: CommitterFailure) => void) | undefined;
  /** Told each journal write's and each checkpoint's duration (metrics). */
  readonly timings?: StoreTimings | undefined;
}

/** Counters, for tests and benchmarks. */
export interface CommitterStats {
  /** Last seq handed out. */
  seq: number;
  /** Every change with seq ≤ this is on disk (journal or checkpoint). */
  durableSeq: number;
  /** Journal writes (each one fdatasync). */
  journalWrites: number;
  /** Completed checkpoints. */
  checkpoints: number;
  /** Current journal size in bytes. */
  journalBytes: number;
}

/** Why the committer stopped, and whether the store can recover by reloading from disk. */
export interface CommitterFailure {
  readonly error: StoreError;
  /** True when the journal on disk is exactly what was acknowledged (a failed write was cut off). */
  readonly recoverable: boolean;
}

/** After a failed checkpoint, the journal-size trigger waits this long before trying again. */
const CHECKPOINT_RETRY_MS = 1000;

/** Each journal write, the write-time estimate decays by this factor unless the write took longer. */
const WRITE_ESTIMATE_DECAY = 0.8;

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: StoreError) => void;
}

/** A checkpoint between its snapshot and the journal reset. */
interface CheckpointInFlight {
  readonly seq: number;
  /** `performance.now()` at the snapshot. */
  readonly startedAt: number;
  /**
   * Lines journaled since the snapshot, with their entries: those above `seq` are what the new
   * journal carries (the lines as written, so that the reset does not encode them again).
   */
  readonly journaled: { readonly entries: readonly JournalEntry[]; readonly line: Buffer }[];
  readonly waiters: { resolve: () => void; reject: (error: StoreError) => void }[];
  /** Set when the image is on disk (true) or failed (false). */
  written: boolean | null;
}

/** Owns the journal file and the durability of every journaled change. */
export class Committer {
  #journal: JournalFile;
  readonly #store: string;
  #journalBase: number;
  #writer: CheckpointWriter;
  #opts: CommitterOptions;
  #seq: number;
  /** The statements of change #seq, if appended here; else #startDigest is its digest. */
  #lastStatements: readonly Statement[] | null = null;
  readonly #startDigest: string;
  #durableSeq: number;
  #pending: JournalEntry[] = [];
  // performance.now() of the first entry in #pending / in the line being written; 0 = none.
  #pendingSince = 0;
  #writingSince = 0;
  // performance.now() when the journal write in flight started; 0 = none.
  #writeStartedAt = 0;
  // How long a journal write (write + fdatasync) takes: the longest recent one, decaying.
  #writeEstimateMs = 0;
  #waiters: Waiter[] = [];
  #active = false;
  #idle: Promise<void> = Promise.resolve();
  #kickScheduled = false;
  #batchTimer: NodeJS.Timeout | null = null;
  #intervalTimer: NodeJS.Timeout | null = null;
  #checkpointWanted = false;
  #checkpoint: CheckpointInFlight | null = null;
  #sizeTriggerPausedUntil = 0;
  #checkpointWaiters: { resolve: () => void; reject: (error: StoreError) => void }[] = [];
  #failure: CommitterFailure | null = null;
  #closed = false;
  #journalWrites = 0;
  #checkpoints = 0;
  /** The last change handed to the writer's replicate(). */
  #replicatedSeq: number;

  constructor(
    journal: JournalFile,
    store: string,
    journalBase: number,
    start: { readonly seq: number; readonly digest: string },
    writer: CheckpointWriter,
    options: CommitterOptions,
  ) {
    this.#journal = journal;
    this.#store = store;
    this.#journalBase = journalBase;
    this.#writer = writer;
    this.#opts = options;
    this.#seq = start.seq;
    this.#startDigest = start.digest;
    this.#durableSeq = start.seq;
    this.#replicatedSeq = start.seq;
    if (journal.size > options.checkpointJournalBytes) this.requestCheckpoint();
  }

  /** Why the journal stopped, if it did: the store must not accept more writes through it. */
  get failure(): CommitterFailure | null {
    return this.#failure;
  }

  /** Counters. */
  get stats(): CommitterStats {
    return {
      seq: this.#seq,
      durableSeq: this.#durableSeq,
      journalWrites: this.#journalWrites,
      checkpoints: this.#checkpoints,
      journalBytes: this.#journal.size,
    };
  }

  /** Queue one change (its statements already applied to the database); returns its seq. Synchronous. */
  append(statements: readonly Statement[]): number {
    const seq = ++this.#seq;
    this.#lastStatements = statements;
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    this.#pending.push({ seq, statements });
    this.#armInterval();
    this.#schedule();
    return seq;
  }

  /**
   * Whether the change just appended might not be durable within maxDelayMs of now: batched mode
   * then acknowledges it only once it is durable, so that an acknowledged change is lost in a crash
   * only if it is younger than maxDelayMs. Expected durability is: the end of the write in flight
   * (if any), else the batch timer, plus one journal write, as long as recent ones took. Also
   * behind: the batch timer is overdue (a caller that only awaits resolved promises never yields
   * to the event loop, so the flusher would never run), or the write in flight is slower than
   * expected (a stalling disk).
   */
  get behind(): boolean {
    const now = performance.now();
    const budget = this.#opts.maxDelayMs;
    const estimate = this.#writeEstimateMs;
    if (this.#writeStartedAt !== 0) {
      const writeEndsAt = Math.max(now, this.#writeStartedAt + estimate);
      return writeEndsAt + estimate - now > budget || now - this.#writingSince + estimate > budget;
    }
    if (this.#pendingSince === 0) return false;
    const flushAt = this.#pendingSince + this.#batchDelay();
    return now > flushAt || Math.max(now, flushAt) + estimate - now > budget;
  }

  /** Batched mode waits this long for company before writing: half the budget, less if writes are slow. */
  #batchDelay(): number {
    const budget = this.#opts.maxDelayMs;
    return Math.max(0, Math.min(Math.floor(budget / 2), Math.floor(budget - this.#writeEstimateMs)));
  }

  /** Resolve once the change `seq` is durable; rejects with StoreError if the journal failed. */
  durable(seq: number): Promise<void> {
    if (seq <= this.#durableSeq) return Promise.resolve();
    if (this.#failure !== null) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
  }

  /** Barrier: resolve once everything appended so far is durable. Flushes at once, even in batched mode. */
  flush(): Promise<void> {
    const done = this.durable(this.#seq);
    if (this.#pending.length > 0) this.#kick();
    return done;
  }

  /** Run a checkpoint in the flusher loop; resolves when it is on disk and the journal reset. */
  checkpoint(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure.error);
    if (this.#closed) return Promise.reject(new StoreError('checkpoint', 'the journal is closed'));
    return new Promise((resolve, reject) => {
      this.#checkpointWaiters.push({ resolve, reject });
      this.requestCheckpoint();
    });
  }

  /** Ask for a checkpoint soon (size or interval trigger). */
  requestCheckpoint(): void {
    this.#checkpointWanted = true;
    this.#kick();
  }

  /**
   * Flush, checkpoint (the journal is reset to its header: nothing to replay) and close. After a
   * journal failure it only closes, and rethrows that failure; a failed final checkpoint leaves
   * the journal in place (nothing is lost) and is reported.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    let error: StoreError | null = null;
    if (this.#failure === null) {
      try {
        await this.flush();
        await this.checkpoint();
      } catch (cause) {
        error = cause instanceof StoreError ? cause : new StoreError('close', cause);
      }
    }
    this.#closed = true;
    this.#clearTimers();
    await this.#idle;
    // After a failure a checkpoint may still be writing its image: it must not rename it into
    // place once this committer is closed (the store may reload, or another process open it).
    await this.#imageWrite;
    await this.#journal.close();
    error ??= this.#failure?.error ?? null;
    if (error !== null) throw error;
  }

  #schedule(): void {
    if (this.#active || this.#kickScheduled || this.#batchTimer !== null) return;
    if (this.#opts.durability === 'sync') {
      // Let every caller of this turn of the event loop join the first write.
      this.#kickScheduled = true;
      setImmediate(() => {
        this.#kickScheduled = false;
        this.#kick();
      });
    } else {
      // Wait for company: half the budget, less when journal writes are slow (#batchDelay).
      this.#batchTimer = setTimeout(() => {
        this.#batchTimer = null;
        this.#kick();
      }, this.#batchDelay());
    }
  }

  #kick(): void {
    if (this.#active || this.#closed) return;
    this.#active = true;
    this.#idle = this.#run();
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        if (this.#failure !== null) break;
        const inFlight = this.#checkpoint;
        if (inFlight !== null && inFlight.written !== null) {
          await this.#finishCheckpoint(inFlight);
          continue;
        }
        if (inFlight === null && this.#checkpointWanted) {
          this.#checkpointWanted = false;
          this.#startCheckpoint();
          continue;
        }
        if (this.#pending.length === 0) break;
        const batch = this.#pending;
        this.#pending = [];
        this.#replicate(batch);
        this.#writingSince = this.#pendingSince;
        this.#pendingSince = 0;
        this.#writeStartedAt = performance.now();
        const line = encodeLine(batch);
        try {
          await this.#journal.append(line);
        } finally {
          const took = performance.now() - this.#writeStartedAt;
          this.#writeEstimateMs = Math.max(took, this.#writeEstimateMs * WRITE_ESTIMATE_DECAY);
          this.#writeStartedAt = 0;
          this.#opts.timings?.commit(took / 1000);
        }
        this.#checkpoint?.journaled.push({ entries: batch, line });
        this.#writingSince = 0;
        this.#journalWrites++;
        this.#markDurable(batch[batch.length - 1]!.seq);
        if (this.#journal.size > this.#opts.checkpointJournalBytes && performance.now() >= this.#sizeTriggerPausedUntil) {
          this.#checkpointWanted = true;
        }
      }
    } catch (cause) {
      this.#fail(cause);
    } finally {
      // Set synchronously before the promise settles, so a concurrent append re-kicks the loop.
      this.#active = false;
      if (this.#batchTimer !== null) {
        clearTimeout(this.#batchTimer);
        this.#batchTimer = null;
      }
      if ((this.#pending.length > 0 || this.#checkpoint?.written != null) && this.#failure === null && !this.#closed) this.#schedule();
    }
  }

  /** A checkpoint's image write that may still rename its file into place: close() waits for it. */
  #imageWrite: Promise<void> = Promise.resolve();

  /** Snapshot now (between journal writes) and write the image in the background. */
  #startCheckpoint(): void {
    const waiters = this.#checkpointWaiters.splice(0);
    const seq = this.#seq;
    let write: (beforeRename: () => Promise<void>) => Promise<void>;
    try {
      // The image holds every change up to seq, those still pending for the journal too.
      this.#replicate(this.#pending);
      const digest = this.#lastStatements === null ? this.#startDigest : entryDigest(this.#lastStatements);
      write = this.#writer.snapshot({ seq, journalBase: this.#journalBase, digest });
    } catch (cause) {
      this.#checkpointFailed(seq, waiters, cause);
      return;
    }
    // What is still pending (≤ seq) is in the image too, but is journaled as usual: if the image
    // write fails, the journal must still hold it.
    const inFlight: CheckpointInFlight = { seq, startedAt: performance.now(), journaled: [], waiters, written: null };
    this.#checkpoint = inFlight;
    this.#imageWrite = (async () => {
      try {
        // Renamed into place only once the journal holds every change the image does, so that a
        // journal not yet reset always reaches the image's last change (checked on open), and
        // never by a committer that has failed or closed meanwhile (another may own the file now).
        await write(async () => {
          await this.durable(seq);
          if (this.#failure !== null) throw this.#failure.error;
          if (this.#closed) throw new StoreError('checkpoint', 'the journal was closed during the checkpoint');
        });
        inFlight.written = true;
      } catch (cause) {
        inFlight.written = false;
        this.#checkpointFailed(seq, waiters, cause);
        if (this.#checkpoint === inFlight) this.#checkpoint = null;
      }
      this.#kick();
    })();
  }

  /** The image is on disk: everything up to its seq is durable; reset the journal to continue it. */
  async #finishCheckpoint(inFlight: CheckpointInFlight): Promise<void> {
    this.#checkpoint = null;
    if (!inFlight.written) return;
    this.#markDurable(inFlight.seq);
    const hook = this.#opts.onCheckpointPhase;
    // Journal writes wait for the reset: batched back-pressure counts it as a write in flight.
    this.#writeStartedAt = performance.now();
    this.#writingSince = this.#pendingSince !== 0 ? this.#pendingSince : this.#writeStartedAt;
    try {
      const carried = Buffer.concat(carriedLines(inFlight.journaled, inFlight.seq));
      const next = await JournalFile.replace(this.#journal.path, { store: this.#store, base: inFlight.seq }, carried);
      // The new journal is in place: switch to it whatever fails next (the old file is unlinked).
      const old = this.#journal;
      this.#journal = next;
      this.#journalBase = inFlight.seq;
      await old.close().catch((cause: unknown) => this.#opts.logger.warn({ err: cause }, 'closing the replaced journal failed'));
      try {
        await next.syncDirectory();
      } catch (cause) {
        // After a power loss the old journal could be back in place, without what is written
        // from now on: nothing more may be acknowledged through this journal.
        throw new JournalDamaged(cause, cause, 'the journal was replaced but its directory could not be synced');
      }
      await hook?.('journal-truncated');
    } catch (cause) {
      if (cause instanceof JournalDamaged) {
        for (const w of inFlight.waiters) w.reject(new StoreError('checkpoint', cause.writeCause));
        throw cause;
      }
      // The old journal is still in place and valid (its base is the image's previous one): the
      // next open replays it correctly. Keep using it; the next checkpoint tries again.
      this.#opts.logger.error({ err: cause, seq: inFlight.seq }, 'resetting the journal after a checkpoint failed; keeping the old one');
      this.#sizeTriggerPausedUntil = performance.now() + CHECKPOINT_RETRY_MS;
      for (const w of inFlight.waiters) w.reject(new StoreError('checkpoint', cause));
      return;
    } finally {
      this.#writeStartedAt = 0;
      this.#writingSince = 0;
    }
    this.#checkpoints++;
    this.#opts.timings?.checkpoint((performance.now() - inFlight.startedAt) / 1000);
    if (this.#intervalTimer !== null) clearTimeout(this.#intervalTimer);
    this.#intervalTimer = null;
    if (this.#seq > inFlight.seq) this.#armInterval();
    this.#opts.logger.debug({ seq: inFlight.seq, carriedBytes: this.#journal.size }, 'checkpoint written');
    for (const w of inFlight.waiters) w.resolve();
  }

  /** Hand the writer the changes of `entries` it has not had yet (they are in seq order). */
  #replicate(entries: readonly JournalEntry[]): void {
    const last = entries.at(-1);
    if (last === undefined || last.seq <= this.#replicatedSeq) return;
    const fresh = entries[0]!.seq > this.#replicatedSeq ? entries : entries.filter((e) => e.seq > this.#replicatedSeq);
    this.#replicatedSeq = last.seq;
    this.#writer.replicate(fresh);
  }

  #checkpointFailed(seq: number, waiters: CheckpointInFlight['waiters'], cause: unknown): void {
    // Nothing is lost, the journal still holds every change: keep running and retry later
    // (not after every write: each attempt exports the whole database, in the worker or here).
    const error = new StoreError('checkpoint', cause);
    this.#opts.logger.error({ err: cause, seq }, 'checkpoint failed; the journal keeps growing until one succeeds');
    this.#sizeTriggerPausedUntil = performance.now() + CHECKPOINT_RETRY_MS;
    for (const w of waiters) w.reject(error);
  }

  #armInterval(): void {
    if (this.#intervalTimer !== null || this.#opts.checkpointIntervalMs <= 0 || this.#closed) return;
    // Long timer: unref'd, since the journal keeps the data if the process exits first.
    this.#intervalTimer = setTimeout(() => {
      this.#intervalTimer = null;
      this.requestCheckpoint();
    }, this.#opts.checkpointIntervalMs).unref();
  }

  #markDurable(seq: number): void {
    if (seq > this.#durableSeq) this.#durableSeq = seq;
    let done = 0;
    while (done < this.#waiters.length && this.#waiters[done]!.seq <= this.#durableSeq) done++;
    if (done === 0) return;
    for (const w of this.#waiters.splice(0, done)) w.resolve();
  }

  #fail(cause: unknown): void {
    const recoverable = !(cause instanceof JournalDamaged);
    const error =
      cause instanceof StoreError ? cause : new StoreError('journal write', cause instanceof JournalDamaged ? cause.writeCause : cause);
    this.#failure = { error, recoverable };
    this.#opts.logger.error(
      { err: cause, recoverable },
      recoverable
        ? 'store journal write failed; the failed changes were cut off and are reported as failed'
        : 'store journal write failed and could not be cut off; the store accepts no more changes',
    );
    this.#pending = [];
    for (const w of this.#waiters.splice(0)) w.reject(error);
    for (const w of this.#checkpointWaiters.splice(0)) w.reject(error);
    for (const w of this.#checkpoint?.waiters.splice(0) ?? []) w.reject(error);
    this.#clearTimers();
    this.#opts.onFailure?.(this.#failure);
  }

  #clearTimers(): void {
    if (this.#batchTimer !== null) clearTimeout(this.#batchTimer);
    if (this.#intervalTimer !== null) clearTimeout(this.#intervalTimer);
    this.#batchTimer = null;
    this.#intervalTimer = null;
  }
}

/**
 * The journal lines holding the changes above `seq`, in order: lines wholly above it as written; a
 * line that also holds changes at or below it (pending when the checkpoint was captured) encoded
 * again with only those above.
 */
function carriedLines(journaled: CheckpointInFlight['journaled'], seq: number): Buffer[] {
  const lines: Buffer[] = [];
  for (const { entries, line } of journaled) {
    if (entries[0]!.seq > seq) lines.push(line);
    else if (entries.at(-1)!.seq > seq) lines.push(encodeLine(entries.filter((entry) => entry.seq > seq)));
  }
  return lines;
}
