/**
 * Group commit and checkpoints for a file store. Statements are executed on the in-memory
 * database by the store, then handed here as journal records. One flusher loop writes every
 * pending record with a single write + fdatasync and then wakes every caller waiting on them;
 * checkpoints run inside the same loop, so they never overlap a journal write, and never inside a
 * transaction (the store opens none across an await, and export() is synchronous).
 */
import { unlink } from 'node:fs/promises';
import { StoreError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { CheckpointHook } from './checkpoint.js';
import type { SqlParam } from './database.js';
import { encodeBatch, type JournalFile, type JournalRecord } from './journal.js';

/** How the committer writes a checkpoint: the store snapshots the database and writes it atomically. */
export interface CheckpointWriter {
  /** Record `seq` as the checkpoint seq and export the database (synchronous: nothing interleaves). */
  snapshot(seq: number): Uint8Array;
  /** Write the image atomically over the database file. */
  write(bytes: Uint8Array): Promise<void>;
}

/** Committer settings (resolved store options). */
export interface CommitterOptions {
  readonly durability: 'sync' | 'batched';
  readonly maxDelayMs: number;
  readonly checkpointJournalBytes: number;
  readonly checkpointIntervalMs: number;
  readonly logger: Logger;
  readonly onCheckpointPhase?: CheckpointHook | undefined;
}

/** Counters, for tests and benchmarks. */
export interface CommitterStats {
  /** Last seq handed out. */
  seq: number;
  /** Every record with seq ≤ this is on disk (journal or checkpoint). */
  durableSeq: number;
  /** Journal writes (each one fdatasync). */
  journalWrites: number;
  /** Completed checkpoints. */
  checkpoints: number;
  /** Current journal size in bytes. */
  journalBytes: number;
}

/** After a failed checkpoint, the journal-size trigger waits this long before trying again. */
const CHECKPOINT_RETRY_MS = 1000;

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: StoreError) => void;
}

/** Owns the journal file and the durability of every journaled statement. */
export class Committer {
  #journal: JournalFile;
  #writer: CheckpointWriter;
  #opts: CommitterOptions;
  #seq: number;
  #durableSeq: number;
  #pending: JournalRecord[] = [];
  // performance.now() of the first record in #pending / in the batch being written; 0 = none.
  #pendingSince = 0;
  #writingSince = 0;
  #waiters: Waiter[] = [];
  #active = false;
  #idle: Promise<void> = Promise.resolve();
  #kickScheduled = false;
  #batchTimer: NodeJS.Timeout | null = null;
  #intervalTimer: NodeJS.Timeout | null = null;
  #checkpointWanted = false;
  #sizeTriggerPausedUntil = 0;
  #checkpointWaiters: { resolve: () => void; reject: (error: StoreError) => void }[] = [];
  #failure: StoreError | null = null;
  #closed = false;
  #journalWrites = 0;
  #checkpoints = 0;

  constructor(journal: JournalFile, startSeq: number, writer: CheckpointWriter, options: CommitterOptions) {
    this.#journal = journal;
    this.#writer = writer;
    this.#opts = options;
    this.#seq = startSeq;
    this.#durableSeq = startSeq;
    if (journal.size > options.checkpointJournalBytes) this.requestCheckpoint();
  }

  /** The error that stopped the journal, if any: the store must not accept more writes. */
  get failure(): StoreError | null {
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

  /** Queue a statement already applied to the database; returns its seq. Synchronous. */
  append(sql: string, params: readonly SqlParam[]): number {
    const seq = ++this.#seq;
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    this.#pending.push({ seq, sql, params });
    this.#armInterval();
    this.#schedule();
    return seq;
  }

  /**
   * True when some appended record has waited more than half of maxDelayMs for the disk. Batched
   * mode then makes the next change wait for durability: a caller that only ever awaits resolved
   * promises never yields to the event loop, and without this back-pressure the flusher (I/O
   * callbacks, timers) would never run while it is acknowledging changes.
   */
  get behind(): boolean {
    const since = this.#writingSince !== 0 ? this.#writingSince : this.#pendingSince;
    return since !== 0 && performance.now() - since > this.#opts.maxDelayMs / 2;
  }

  /** Resolve once the record `seq` is durable; rejects with StoreError if the journal failed. */
  durable(seq: number): Promise<void> {
    if (seq <= this.#durableSeq) return Promise.resolve();
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
  }

  /** Barrier: resolve once everything appended so far is durable. Flushes at once, even in batched mode. */
  flush(): Promise<void> {
    const done = this.durable(this.#seq);
    if (this.#pending.length > 0) this.#kick();
    return done;
  }

  /** Run a checkpoint in the flusher loop (after the write in progress); resolves when it is on disk. */
  checkpoint(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
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
   * Flush, checkpoint, close the journal and remove it (the checkpoint holds everything). After a
   * journal failure it only closes, and rethrows that failure; a failed final checkpoint leaves the
   * journal in place (nothing is lost) and is reported.
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
    await this.#journal.close();
    error ??= this.#failure;
    if (error !== null) throw error;
    await unlink(this.#journal.path).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code !== 'ENOENT') throw cause;
    });
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
      // Half the budget waiting for company, half for the write and fdatasync.
      this.#batchTimer = setTimeout(
        () => {
          this.#batchTimer = null;
          this.#kick();
        },
        Math.floor(this.#opts.maxDelayMs / 2),
      );
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
        if (this.#checkpointWanted) {
          this.#checkpointWanted = false;
          await this.#checkpoint();
          continue;
        }
        if (this.#pending.length === 0) break;
        const batch = this.#pending;
        this.#pending = [];
        this.#writingSince = this.#pendingSince;
        this.#pendingSince = 0;
        await this.#journal.append(encodeBatch(batch));
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
      if (this.#pending.length > 0 && this.#failure === null && !this.#closed) this.#schedule();
    }
  }

  async #checkpoint(): Promise<void> {
    // Callers who asked before this snapshot are served by it.
    const waiters = this.#checkpointWaiters.splice(0);
    const seq = this.#seq;
    const hook = this.#opts.onCheckpointPhase;
    let size: number;
    try {
      const bytes = this.#writer.snapshot(seq);
      size = bytes.length;
      await hook?.('exported');
      await this.#writer.write(bytes);
    } catch (cause) {
      // Nothing is lost, the journal still holds every record: keep running and retry later
      // (not after every write: each attempt exports the whole database on the event loop).
      const error = new StoreError('checkpoint', cause);
      this.#opts.logger.error({ err: cause, seq }, 'checkpoint failed; the journal keeps growing until one succeeds');
      this.#sizeTriggerPausedUntil = performance.now() + CHECKPOINT_RETRY_MS;
      for (const w of waiters) w.reject(error);
      return;
    }
    try {
      // Records up to seq are in the database file now, whether journaled yet or not.
      this.#pending = this.#pending.filter((r) => r.seq > seq);
      if (this.#pending.length === 0) this.#pendingSince = 0;
      this.#markDurable(seq);
      await this.#journal.truncate();
      await hook?.('journal-truncated');
    } catch (cause) {
      // The journal's state is unknown now: fatal (the caller's catch fails the committer).
      for (const w of waiters) w.reject(new StoreError('checkpoint', cause));
      throw cause;
    }
    this.#checkpoints++;
    if (this.#intervalTimer !== null) clearTimeout(this.#intervalTimer);
    this.#intervalTimer = null;
    if (this.#seq > seq) this.#armInterval();
    this.#opts.logger.debug({ seq, bytes: size }, 'checkpoint written');
    for (const w of waiters) w.resolve();
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
    this.#failure = cause instanceof StoreError ? cause : new StoreError('journal write', cause);
    this.#opts.logger.error({ err: cause }, 'store journal failed; the store accepts no more changes');
    this.#pending = [];
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
    for (const w of this.#checkpointWaiters.splice(0)) w.reject(this.#failure);
    this.#clearTimers();
  }

  #clearTimers(): void {
    if (this.#batchTimer !== null) clearTimeout(this.#batchTimer);
    if (this.#intervalTimer !== null) clearTimeout(this.#intervalTimer);
    this.#batchTimer = null;
    this.#intervalTimer = null;
  }
}
