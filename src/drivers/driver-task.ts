/**
 * The part of a task that drivers see. Drivers depend on this view, not on the task module, so a
 * real task satisfies it structurally (it also carries TASK_BRAND, which `requireExclusive` checks).
 */
import type { NodeRecord } from '../node.js';
import { TASK_BRAND } from '../task/require-exclusive.js';

/** What a driver operation receives as its first argument. */
export interface DriverTask {
  /** The node as the task holds it (a frozen snapshot; drivers never write it). */
  readonly node: NodeRecord;
  /** True for a shared (read-only) task: exclusive-only operations throw ExclusiveLockRequired. */
  readonly shared: boolean;
  /** Aborting it cuts a running operation short; the operation rejects with `signal.reason`. */
  readonly signal: AbortSignal;
}

/** Options of makeDriverTask. */
export interface DriverTaskOptions {
  /** Default false (exclusive). */
  shared?: boolean;
  /** Default: a signal that never aborts. */
  signal?: AbortSignal;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * A stand-alone, branded DriverTask for calling drivers outside a real task (tests, benchmarks).
 * Defaults: exclusive (`shared: false`), a signal that never aborts.
 */
export function makeDriverTask(node: NodeRecord, options: DriverTaskOptions = {}): DriverTask {
  return Object.freeze({
    [TASK_BRAND]: true,
    node,
    shared: options.shared ?? false,
    signal: options.signal ?? NEVER_ABORTED,
  });
}
