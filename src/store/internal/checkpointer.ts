/**
 * The store's side of the checkpoint worker (checkpoint-worker.ts): one worker thread per process,
 * started with the first file store and stopped a while after the last one closes, holding a copy
 * of each file store's database. A `WorkerReplica` is one store's copy: seeded with the store's
 * image at open, fed each change as the committer takes it for the journal, and asked to write a
 * checkpoint image of a given seq to the temp file. Nothing here exports the store's own database.
 *
 * If the thread dies (an uncaught error, killed, out of memory) or a copy stops following its
 * store, every replica concerned reports it once (`onFailure`) and its checkpoint in flight fails;
 * the store then checkpoints on its own thread again (what it did before the worker existed).
 */
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './checkpoint-worker.js';
import type { SqlParam } from './database.js';
import type { JournalEntry } from './journal.js';
import type { CheckpointMark } from './schema.js';

/** With no store attached for this long, the worker thread is stopped (started again on demand). */
const IDLE_STOP_MS = 10_000;

/** Where the worker script is: next to this module (.js compiled in dist/, .ts under tsx). */
function spawnWorker(): Worker {
  const ts = import.meta.url.endsWith('.ts');
  const file = new URL(`./checkpoint-worker.${ts ? 'ts' : 'js'}`, import.meta.url);
  if (!ts) return new Worker(file);
  // From the TypeScript sources (the tests run them with `--import tsx`): Node 20 does not apply
  // an `--import` of execArgv to a worker's entry module, so the worker registers tsx itself.
  let tsx = 'tsx/esm/api';
  try {
    tsx = import.meta.resolve(tsx);
  } catch {
    // resolved by the worker then
  }
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true });
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Awaited by the checkpoint later (or not at all once it has failed): never an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** A checkpoint the worker is writing: `exported` once the image is made, `written` once the temp file is durable. */
export interface CheckpointJob {
  readonly exported: Promise<void>;
  readonly written: Promise<void>;
}

interface Request {
  readonly replica: WorkerReplica;
  readonly exported: Deferred;
  readonly written: Deferred;
}

/** The worker thread and the copies it holds. */
class CheckpointThread {
  static #current: CheckpointThread | null = null;

  /** The running thread, started if there is none (or the last one died). */
  static get(): CheckpointThread {
    CheckpointThread.#current ??= new CheckpointThread();
    return CheckpointThread.#current;
  }

  /** Tests only: the running thread, if any. */
  static get current(): CheckpointThread | null {
    return CheckpointThread.#current;
  }

  readonly #worker: Worker;
  #dead: Error | null = null;
  #stopping = false;
  readonly #replicas = new Map<number, WorkerReplica>();
  readonly #requests = new Map<number, Request>();
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | null = null;

  private constructor() {
    this.#worker = spawnWorker();
    // An idle worker does not keep the process alive; a checkpoint in flight does (see #ref).
    this.#worker.unref();
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#die(error));
    this.#worker.on('messageerror', (error) => this.#die(error));
    this.#worker.on('exit', (code) => this.#die(new Error(`the checkpoint worker thread exited (code ${code})`)));
  }

  get dead(): Error | null {
    return this.#dead;
  }

  attach(replica: WorkerReplica): number {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const id = this.#nextId++;
    this.#replicas.set(id, replica);
    return id;
  }

  detach(id: number): void {
    if (!this.#replicas.delete(id) || this.#dead !== null) return;
    this.post({ t: 'close', id });
    if (this.#replicas.size === 0) {
      this.#idleTimer = setTimeout(() => this.#stop(), IDLE_STOP_MS).unref();
    }
  }

  post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.#dead !== null) return;
    this.#worker.postMessage(message, transfer);
  }

  request(replica: WorkerReplica, message: (req: number) => ToWorker): CheckpointJob {
    const req = this.#nextId++;
    const request: Request = { replica, exported: deferred(), written: deferred() };
    if (this.#dead !== null) {
      request.exported.reject(this.#dead);
      request.written.reject(this.#dead);
    } else {
      this.#requests.set(req, request);
      this.#worker.ref();
      this.post(message(req));
    }
    return { exported: request.exported.promise, written: request.written.promise };
  }

  /** Tests only: make the thread throw an uncaught error, as a crash would. */
  crash(): void {
    this.post({ t: 'crash' });
  }

  #onMessage(message: FromWorker): void {
    const request = this.#requests.get(message.req);
    if (request === undefined) return;
    switch (message.t) {
      case 'exported':
        request.exported.resolve();
        return;
      case 'written':
        this.#settled(message.req);
        request.written.resolve();
        return;
      case 'failed': {
        this.#settled(message.req);
        const error = Object.assign(new Error(message.error), message.code === undefined ? {} : { code: message.code });
        request.exported.reject(error);
        request.written.reject(error);
        if (message.broken) request.replica.fail(error);
        return;
      }
    }
  }

  #settled(req: number): void {
    this.#requests.delete(req);
    if (this.#requests.size === 0 && this.#dead === null) this.#worker.unref();
  }

  #stop(): void {
    if (this.#replicas.size > 0 || this.#dead !== null) return;
    this.#stopping = true;
    if (CheckpointThread.#current === this) CheckpointThread.#current = null;
    void this.#worker.terminate();
  }

  #die(cause: unknown): void {
    if (this.#dead !== null) return;
    const error = cause instanceof Error ? cause : new Error(String(cause));
    this.#dead = error;
    if (CheckpointThread.#current === this) CheckpointThread.#current = null;
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    if (this.#stopping) return;
    const failure = new Error(`the checkpoint worker thread failed: ${error.message}`, { cause: error });
    for (const request of this.#requests.values()) {
      request.exported.reject(failure);
      request.written.reject(failure);
    }
    this.#requests.clear();
    for (const replica of this.#replicas.values()) replica.fail(failure);
    this.#replicas.clear();
  }
}

/** One store's copy of its database in the checkpoint worker. */
export class WorkerReplica {
  readonly #thread: CheckpointThread;
  readonly #id: number;
  readonly #onFailure: (error: Error) => void;
  #failure: Error | null = null;
  #closed = false;

  /**
   * Seed a copy with `image` (the store's database as it is after change `seq`; its buffer is
   * transferred to the worker). `onFailure` is called once if the copy or the thread fails.
   */
  constructor(image: Uint8Array, seq: number, onFailure: (error: Error) => void) {
    this.#thread = CheckpointThread.get();
    this.#onFailure = onFailure;
    this.#id = this.#thread.attach(this);
    const own = image.byteOffset === 0 && image.byteLength === image.buffer.byteLength ? image : image.slice();
    this.#thread.post({ t: 'open', id: this.#id, image: own, seq }, [own.buffer as ArrayBuffer]);
  }

  /** Why the copy cannot checkpoint (the thread died or the copy diverged), or null. */
  get failure(): Error | null {
    return this.#failure ?? (this.#closed ? new Error('the checkpoint copy is closed') : null);
  }

  /** The next changes, consecutive, following the last ones given (or the seed). */
  replicate(entries: readonly JournalEntry[]): void {
    if (this.failure !== null || entries.length === 0) return;
    this.#thread.post({ t: 'apply', id: this.#id, first: entries[0]!.seq, changes: entries.map((e) => e.statements) });
  }

  /**
   * Export the copy at `mark.seq` (every change up to it must have been replicated, none after it),
   * with `reservations` (rows of [id, reservation, reservation_purpose, reserved_at, reservation_token, version]), and write
   * the image to the temp file of `path`.
   */
  checkpoint(path: string, mark: CheckpointMark, reservations: readonly (readonly SqlParam[])[]): CheckpointJob {
    return this.#thread.request(this, (req) => ({ t: 'checkpoint', id: this.#id, req, path, mark, reservations }));
  }

  /** Drop the copy. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#thread.detach(this.#id);
  }

  /** @internal The copy or the thread failed: reported once. */
  fail(error: Error): void {
    if (this.#failure !== null || this.#closed) return;
    this.#failure = error;
    this.#onFailure(error);
  }
}

/** Tests only: crash the running checkpoint worker thread (an uncaught error in it). False if none runs. */
export function crashCheckpointWorker(): boolean {
  const thread = CheckpointThread.current;
  if (thread === null || thread.dead !== null) return false;
  thread.crash();
  return true;
}
