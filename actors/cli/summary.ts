/**
 * The end-of-run summary: one object, printed as a table or (--json) as one JSON line.
 */
import type { ClientStats } from './clients.js';
import type { LatencyFigures } from './latency.js';
import type { Phase } from './provision-path.js';

/** Everything a fleet run reports. */
export interface FleetSummary {
  /** Nodes in the store at the end. */
  readonly nodes: number;
  /** Nodes enrolled by this run (the rest were there already). */
  readonly enrolled: number;
  /** Database file, or null in memory (or on PostgreSQL). */
  readonly db: string | null;
  /** The PostgreSQL store's connection string (password hidden), or null. */
  readonly postgres: string | null;
  /** Conductor processes that drove the fleet (--conductors). */
  readonly conductors: number;
  /** Their hosts (the conductors' reservation tags). */
  readonly hosts: readonly string[];
  readonly seed: number;
  /** Nodes per final provision state. */
  readonly states: Readonly<Record<string, number>>;
  /** Nodes in the target state (`active`). */
  readonly active: number;
  /** Nodes in a recorded failure state (failed state, or enroll with last_error). */
  readonly failed: number;
  /** Nodes in neither (an internal problem; makes the exit code 1). */
  readonly unfinished: number;
  /** Nodes still reserved when the run ended (before the conductor's stop). */
  readonly reserved: number;
  /** Failures recorded during this run, per phase (including those retried afterwards). */
  readonly failures: Readonly<Record<Phase, number>>;
  /** Recoveries from a failure (--retry-failed). */
  readonly retried: number;
  /** Provision state transitions (provision_set notifications) during this run. */
  readonly transitions: number;
  readonly transitionsPerSec: number;
  /** Exclusive-lock wait of the API clients' acquires, in ms. */
  readonly lockWaitMs: LatencyFigures;
  /** Exclusive acquires of the API clients refused with NodeLocked. */
  readonly nodeLocked: number;
  readonly apiClients: ClientStats;
  /** Background steps run in workers and what became of them. */
  readonly workers: {
    readonly steps: number;
    /** Steps whose driver operation failed: recorded in last_error and the failed state. */
    readonly stepFailures: number;
    /** Workers that ended with an uncaught error (Ironic's "Async execution of ... failed"). */
    readonly uncaught: number;
    readonly cancelled: number;
    readonly poolCapacity: number;
    /** Spawns refused for lack of free workers, each backed off and retried. */
    readonly noFreeWorkerRetries: number;
  };
  /** The provisioning driver's own retries and problems. */
  readonly driver: {
    /** Its steps refused with NodeLocked after the retry budget (API-call steps are not patient), backed off and retried. */
    readonly nodeLockedRetries: number;
    /** Steps refused with InvalidState (the node changed under it), planned again from the node's state. */
    readonly invalidStateReplans: number;
    /** Nodes it could not drive (an internal error, logged; exit code 1). */
    readonly internalErrors: number;
  };
  /** What start-up recovery did on open. */
  readonly recovery: { readonly stuckNodesFailed: number; readonly reservationsCleared: number } | null;
  readonly deadLetters: number;
  readonly interrupted: boolean;
  readonly elapsedMs: number;
  /** What to do next (failed nodes and the command that brings them back, --nodes against the store's size). */
  readonly hints: readonly string[];
}

const ms = (value: number | null): string => (value === null ? '-' : value < 10 ? value.toFixed(2) : value.toFixed(1));

/** The summary as a human-readable table. */
export function renderSummary(s: FleetSummary): string {
  const lines: string[] = [];
  const where = s.postgres !== null ? `PostgreSQL ${s.postgres}` : s.db === null ? 'in memory' : s.db;
  const processes = s.postgres === null ? '' : `, ${s.conductors} conductor${s.conductors === 1 ? '' : 's'} on PostgreSQL`;
  lines.push('');
  lines.push(
    `Fleet run${s.interrupted ? ' (interrupted)' : ''}: ${s.nodes} nodes (${s.enrolled} enrolled by this run), store ${where}${processes}, seed ${s.seed}`,
  );
  lines.push('');
  const stateRows = Object.entries(s.states).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const width = Math.max(16, ...stateRows.map(([state]) => state.length + 2));
  lines.push(`  ${'final state'.padEnd(width)} ${'nodes'.padStart(7)}`);
  for (const [state, count] of stateRows) lines.push(`  ${state.padEnd(width)} ${String(count).padStart(7)}`);
  lines.push(
    `  ${'total'.padEnd(width)} ${String(s.nodes).padStart(7)}   (active ${s.active}, failed ${s.failed}${s.unfinished ? `, UNFINISHED ${s.unfinished}` : ''})`,
  );
  lines.push('');
  const row = (label: string, value: string): void => void lines.push(`  ${label.padEnd(24)} ${value}`);
  if (s.postgres !== null) row('conductors', `${s.conductors} process${s.conductors === 1 ? '' : 'es'}: ${s.hosts.join(', ')}`);
  row('transitions', `${s.transitions} (${s.transitionsPerSec.toFixed(0)}/s)`);
  row(
    'lock wait (ms)',
    `p50 ${ms(s.lockWaitMs.p50)}  p99 ${ms(s.lockWaitMs.p99)}  max ${ms(s.lockWaitMs.max)}  (${s.lockWaitMs.count} exclusive API acquires)`,
  );
  row('NodeLocked', String(s.nodeLocked));
  const c = s.apiClients;
  row(
    'API clients',
    `${c.clients}: ${c.exclusiveUpdates} updates, ${c.sharedReads} shared power syncs (wait max ${ms(c.sharedWaitMs.max)} ms)` +
      `${c.powerStateFixes ? `, ${c.powerStateFixes} power states recorded` : ''}${c.syncFailures ? `, ${c.syncFailures} driver read failures` : ''}` +
      `${c.errors ? `, ${c.errors} errors` : ''}`,
  );
  const w = s.workers;
  row(
    'worker failures',
    `${w.stepFailures} of ${w.steps} steps (recorded in last_error), ${w.uncaught} uncaught, ${w.cancelled} cancelled`,
  );
  row(
    'failures by phase',
    `manage ${s.failures.manage}, clean ${s.failures.clean}, deploy ${s.failures.deploy}${s.retried ? `; ${s.retried} retried` : ''}`,
  );
  row('worker pool', `${w.poolCapacity} workers, ${w.noFreeWorkerRetries} NoFreeConductorWorker back-offs`);
  const d = s.driver;
  if (d.nodeLockedRetries > 0 || d.invalidStateReplans > 0 || d.internalErrors > 0) {
    row(
      'provisioning driver',
      `${d.nodeLockedRetries} NodeLocked back-offs, ${d.invalidStateReplans} InvalidState re-plans, ${d.internalErrors} internal errors`,
    );
  }
  if (s.recovery && (s.recovery.stuckNodesFailed > 0 || s.recovery.reservationsCleared > 0)) {
    row('start-up recovery', `${s.recovery.stuckNodesFailed} stuck nodes failed, ${s.recovery.reservationsCleared} reservations cleared`);
  }
  row('elapsed', `${(s.elapsedMs / 1000).toFixed(2)} s`);
  lines.push('');
  for (const hint of s.hints) lines.push(`note: ${hint}`);
  if (s.hints.length > 0) lines.push('');
  return lines.join('\n');
}

/** The summary as one JSON object on one line. */
export function renderSummaryJson(s: FleetSummary): string {
  return `${JSON.stringify(s)}\n`;
}
