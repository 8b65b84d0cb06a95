/**
 * The IPC protocol between `run.ts` (the coordinator) and `conductor-process.ts` (one conductor
 * per child process): a request `{ id, cmd, ... }`, one reply `{ id, ok }` or `{ id, error }`.
 * Times that cross processes are epoch milliseconds with sub-ms precision
 * (`performance.timeOrigin + performance.now()`): the processes share the host's clock.
 */

/** Epoch ms with µs resolution, comparable across processes on one host. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** A timed closed-loop phase: warm-up, then `rounds` rounds of `roundMs`, started at `startAt` (epoch ms, the barrier). */
export interface LoopPhase {
  readonly startAt: number;
  readonly warmupMs: number;
  readonly roundMs: number;
  readonly rounds: number;
  /** Concurrent closed loops in this process, one node (or one connection) each. */
  readonly loops: number;
}

export type Command =
  | ({ readonly cmd: 'exclusive'; readonly nodes: readonly number[] } & LoopPhase)
  | ({ readonly cmd: 'process-event'; readonly nodes: readonly number[] } & LoopPhase)
  | ({ readonly cmd: 'floor'; readonly firstId: number } & LoopPhase)
  | { readonly cmd: 'enroll'; readonly count: number; readonly provisionState: string; readonly prefix: string }
  | { readonly cmd: 'contend'; readonly node: number; readonly callers: number; readonly cycles: number; readonly startAt: number }
  | { readonly cmd: 'hold'; readonly nodes: readonly number[]; readonly deployNode: number }
  | { readonly cmd: 'take'; readonly nodes: readonly number[] }
  | { readonly cmd: 'hold-one'; readonly node: number }
  | { readonly cmd: 'commit'; readonly node: number }
  | { readonly cmd: 'drop-held' }
  | { readonly cmd: 'watch-start'; readonly node: number }
  | { readonly cmd: 'watch-result'; readonly timeoutMs: number }
  | { readonly cmd: 'status' }
  | { readonly cmd: 'stop' };

export type Request = Command & { readonly id: number };

export interface Reply {
  readonly id: number;
  readonly ok?: unknown;
  readonly error?: string;
}

/** What a timed loop phase answers: operations per round and every measured op's latency (ns). */
export interface LoopReply {
  readonly roundOps: readonly number[];
  readonly roundSeconds: readonly number[];
  readonly samplesNs: readonly number[];
  readonly errors: number;
  readonly firstError?: string;
}

/** One attempt of a contention caller. */
export interface Attempt {
  /** Epoch ms: acquire called. */
  readonly req: number;
  /** Epoch ms: granted (or NodeLocked answered). */
  readonly end: number;
  readonly granted: boolean;
  readonly proc: number;
}

export interface ContendReply {
  readonly attempts: readonly Attempt[];
  readonly nodeLocked: number;
  readonly other: number;
  readonly firstError?: string;
  readonly seconds: number;
}

/** A survivor's grants after a takeover: node → epoch ms granted, and what the node looked like then. */
export interface TakeReply {
  readonly grants: readonly {
    readonly node: number;
    readonly at: number;
    readonly provisionState: string;
    readonly lastError: string | null;
  }[];
}
