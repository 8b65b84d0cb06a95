/**
 * The fleet run (the default command): open the conductor on the store (start-up recovery fails
 * what a killed run left stuck), enroll up to N nodes, drive every node along Ironic's path with
 * real tasks and supervised workers, `--concurrency` nodes at a time, while API clients contend
 * for the same nodes; then print the summary.
 */
import { setMaxListeners } from 'node:events';
import { Conductor } from '../conductor.js';
import { createRequestContext } from '../../src/context.js';
import { seededRandom } from '../../src/drivers/fake/seeded-random.js';
import { describe, InvalidState, NodeLocked, NoFreeConductorWorker } from '../../src/errors.js';
import type { Logger } from '../../src/logging.js';
import type { NodeRecord } from '../../src/node.js';
import { provisioningErrorHandler } from '../../src/task/error-handlers.js';
import { orThrow } from '../../src/task/scope.js';
import type { ProcessEventOptions } from '../../src/task/types.js';
import { ApiClients, mergeClientCounts, type ClientCounts, type ClientStats } from './clients.js';
import { enrollFleet } from './enroll.js';
import { EnvironmentFailure, environmentCode } from './environment.js';
import { EXIT, oneLine, UsageError, type CliIo } from './io.js';
import { createCliLogger } from './log-format.js';
import { FLEET_DEFAULTS, redactUrl, type FleetOptions } from './options.js';
import { BarProgress, createProgress, type Progress } from './progress.js';
import { isRecordedFailure, PHASE_END, PHASES, planNext, startPhase, TARGET_STATE, type Phase, type Step } from './provision-path.js';
import { renderSummary, renderSummaryJson, type FleetSummary } from './summary.js';

/** A node that needs this many steps is going round in circles: give up on it (an internal problem). */
const MAX_STEPS_PER_NODE = 200;
/** How long to wait for a node in a transitional state someone else's worker is on. */
const BUSY_POLL_MS = 5;
const BUSY_POLL_LIMIT = 2000;
/** Pause of an API client between two requests. */
const CLIENT_THINK_MS = 2;

/** Resolve after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolve when `promise` settles or `signal` aborts. */
function settledOrAborted(promise: PromiseLike<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}

/** Nodes being driven now, for the API clients to pick from. */
class InFlight {
  readonly #ids: number[] = [];
  readonly #at = new Map<number, number>();
  add(id: number): void {
    this.#at.set(id, this.#ids.length);
    this.#ids.push(id);
  }
  delete(id: number): void {
    const at = this.#at.get(id);
    if (at === undefined) return;
    const last = this.#ids.pop()!;
    if (last !== id) {
      this.#ids[at] = last;
      this.#at.set(last, at);
    }
    this.#at.delete(id);
  }
  pick(random: () => number): number | null {
    return this.#ids.length === 0 ? null : (this.#ids[Math.floor(random() * this.#ids.length)] ?? null);
  }
}

/** The index in PHASES a node to drive starts its bars at (null: none), undefined when there is nothing to do. */
function enlistedPhase(node: NodeRecord, recover: boolean): number | null | undefined {
  const plan = planNext(node, recover);
  if (plan.kind === 'done' || plan.kind === 'failed') return undefined;
  const phase = startPhase(node, recover);
  return phase === null ? null : PHASES.indexOf(phase);
}

/** Set the bars' totals for driving `nodes` (what every process's enlist would add). */
export function countPhaseTotals(nodes: readonly NodeRecord[], options: FleetOptions, progress: Progress): void {
  const recover = options.retryFailed && options.maxRetries > 0;
  for (const node of nodes) {
    const index = enlistedPhase(node, recover);
    if (index !== undefined && index !== null) for (const p of PHASES.slice(index)) progress.addTotal(p, 1);
  }
}

/** Drives the nodes and keeps the counts. */
class FleetDriver {
  readonly #conductor: Conductor;
  readonly #options: FleetOptions;
  readonly #progress: Progress;
  readonly #signal: AbortSignal;
  readonly #logger: Logger;
  readonly #random: () => number;
  /** Per node: index in PHASES of the next phase it completes (null: not on a progress bar). */
  readonly #nextPhase = new Map<number, number | null>();
  readonly inFlight = new InFlight();
  readonly failures: Record<Phase, number> = { manage: 0, clean: 0, deploy: 0 };
  retried = 0;
  steps = 0;
  stepFailures = 0;
  noFreeWorker = 0;
  /** NodeLocked met by the driver's own (non-patient) steps, backed off and retried. */
  driverNodeLocked = 0;
  invalidState = 0;
  internalErrors = 0;
  /** The first internal error, for the closing line. */
  firstInternalError: string | null = null;
  /** The errno of the first environment failure (a full disk…): the run stops, exit 3. */
  environmentFailure: string | null = null;
  readonly #onEnvironmentFailure: () => void;
  readonly #recoveriesAtStart: number;

  constructor(
    conductor: Conductor,
    options: FleetOptions,
    progress: Progress,
    signal: AbortSignal,
    logger: Logger,
    onEnvironmentFailure: () => void,
  ) {
    this.#onEnvironmentFailure = onEnvironmentFailure;
    this.#conductor = conductor;
    this.#recoveriesAtStart = conductor.status().store.recoveries;
    this.#options = options;
    this.#progress = progress;
    this.#signal = signal;
    this.#logger = logger;
    this.#random = seededRandom((options.seed + 0x9e3779b9) >>> 0);
  }

  /** The errno of an environment failure the store met during this run (it failed, or reloaded after one), or null. */
  #storeEnvironmentFailure(): string | null {
    const health = this.#conductor.status().store;
    if (health.state === 'ok' && health.recoveries === this.#recoveriesAtStart) return null;
    return environmentCode(health.error);
  }

  get recover(): boolean {
    return this.#options.retryFailed && this.#options.maxRetries > 0;
  }

  /**
   * Put a node on the progress bars from the phase it starts in; false when there is nothing to do.
   * `countTotals` false: the bars' totals were set already (the parent of several processes).
   */
  enlist(node: NodeRecord, countTotals = true): boolean {
    const index = enlistedPhase(node, this.recover);
    if (index === undefined) return false;
    this.#nextPhase.set(node.id, index);
    if (index !== null && countTotals) for (const p of PHASES.slice(index)) this.#progress.addTotal(p, 1);
    return true;
  }

  async drive(nodeId: number): Promise<void> {
    this.inFlight.add(nodeId);
    try {
      await this.#driveNode(nodeId);
    } catch (error) {
      // The node's own error, or what made it stuck: background work whose writes failed on a
      // full disk leaves the node where it was, and only the store's health says why.
      const errno = environmentCode(error) ?? this.#storeEnvironmentFailure();
      if (errno !== null) {
        // Not this node's fault: every node would fail the same way. Stop the run.
        this.#leaveBars(nodeId, true);
        this.#logger.error({ err: error, node: nodeId }, `driving node ${nodeId} stopped: ${describe(error)}`);
        if (this.environmentFailure === null) {
          this.environmentFailure = errno;
          this.#onEnvironmentFailure();
        }
        return;
      }
      this.internalErrors += 1;
      this.firstInternalError ??= describe(error);
      this.#leaveBars(nodeId, true);
      this.#logger.error({ err: error, node: nodeId }, `driving node ${nodeId} failed: ${describe(error)}`);
    } finally {
      this.inFlight.delete(nodeId);
    }
  }

  async #driveNode(nodeId: number): Promise<void> {
    let retriesLeft = this.#options.retryFailed ? this.#options.maxRetries : 0;
    let busyPolls = 0;
    for (let stepCount = 0; !this.#signal.aborted; stepCount++) {
      const node = await orThrow(this.#conductor.snapshot(nodeId));
      this.#observe(node);
      if (stepCount >= MAX_STEPS_PER_NODE) throw new Error(`node ${node.uuid} still in "${node.provision_state}" after ${stepCount} steps`);
      const plan = planNext(node, retriesLeft > 0);
      switch (plan.kind) {
        case 'done':
          return;
        case 'failed':
          this.#leaveBars(nodeId, true);
          return;
        case 'unexpected':
          throw new Error(`node ${node.uuid} is in "${node.provision_state}", which this run has no path from`);
        case 'busy':
          if (++busyPolls > BUSY_POLL_LIMIT) throw new Error(`node ${node.uuid} stays in "${node.provision_state}"`);
          await sleep(BUSY_POLL_MS, this.#signal);
          continue;
        case 'step': {
          busyPolls = 0;
          if (plan.step.recovery) {
            retriesLeft -= 1;
            this.retried += 1;
          }
          const ran = await this.#runStep(nodeId, plan.step);
          if (ran) {
            const after = await orThrow(this.#conductor.snapshot(nodeId));
            // The step moved the node out of where it was: a failure now is a new one.
            if (isRecordedFailure(after)) {
              this.failures[plan.step.phase] += 1;
              this.stepFailures += 1;
            }
          }
        }
      }
    }
  }

  /** Advance the progress bars when a node reaches the end of its next phase. */
  #observe(node: NodeRecord): void {
    const index = this.#nextPhase.get(node.id);
    if (index === undefined || index === null) return;
    const phase = PHASES[index]!;
    if (node.provision_state !== PHASE_END[phase]) return;
    this.#progress.advance(phase, false);
    this.#nextPhase.set(node.id, index + 1 < PHASES.length ? index + 1 : null);
  }

  /** A node stops short of the target: count it in its current phase, drop it from the later ones. */
  #leaveBars(nodeId: number, failed: boolean): void {
    const index = this.#nextPhase.get(nodeId);
    if (index === undefined || index === null) return;
    this.#progress.advance(PHASES[index]!, failed);
    for (const later of PHASES.slice(index + 1)) this.#progress.addTotal(later, -1);
    this.#nextPhase.set(nodeId, null);
  }

  /**
   * Process the step's event in an exclusive task (Ironic's API call or agent callback), its work
   * spawned in a worker when the task's scope ends; wait for the work to end. No free worker: the
   * transition is rolled back (provisioningErrorHandler), back off and try again. Returns false when
   * nothing was done (the node's state changed under us: plan again).
   */
  async #runStep(nodeId: number, step: Step): Promise<boolean> {
    if (step.agentCallback) {
      // The ramdisk boots and calls back after a while.
      await sleep(this.#delay(), this.#signal);
    }
    // Each step is a request of its own (its lines, and its worker's, carry its request id).
    const ctx = createRequestContext({ user: 'fleet-run', project: 'metal' });
    for (let attempt = 0; !this.#signal.aborted; attempt++) {
      const result = await this.#conductor.withTask(ctx, nodeId, { purpose: step.purpose, patient: step.agentCallback }, (task) => {
        const options: ProcessEventOptions = {};
        if (step.work !== null) {
          options.callback = step.work;
          options.errHandler = provisioningErrorHandler;
        }
        // resumeCleaning's target: manual cleaning goes back to manageable.
        if (step.event === 'resume' && task.node.provision_state === 'clean wait' && task.node.target_provision_state === 'manageable') {
          options.targetState = 'manageable';
        }
        // The handle of the work the task hands its lock to (null without work).
        return task.processEvent(step.event, options).map(() => task.scheduledSpawn);
      });
      if (result.isErr()) {
        const error = result.error;
        if (error instanceof NoFreeConductorWorker) this.noFreeWorker += 1;
        else if (error instanceof NodeLocked) this.driverNodeLocked += 1;
        else if (error instanceof InvalidState) {
          this.invalidState += 1;
          return false;
        } else throw error;
        await sleep(this.#backoff(attempt), this.#signal);
        continue;
      }
      const work = result.value;
      if (work !== null) {
        this.steps += 1;
        // Whatever the outcome (recorded on the node by the worker), the next plan reads the node.
        await settledOrAborted(
          work.done.then(() => undefined),
          this.#signal,
        );
      }
      return true;
    }
    return false;
  }

  /** A simulated duration in [min, max]. */
  #delay(): number {
    const { minStepMs: min, maxStepMs: max } = this.#options;
    return min + this.#random() * (max - min);
  }

  /** Jittered exponential back-off, 1 ms doubling up to 100 ms. */
  #backoff(attempt: number): number {
    return Math.min(100, 2 ** Math.min(attempt, 7)) * (0.5 + this.#random());
  }

  /**
   * The node an API client works on next: mostly one being driven now, else any. With several
   * conductor processes (`spread`), a neighbour of a node driven here in the fleet's order: node i
   * is driven by process i % spread and every process goes through the fleet in order, so the
   * neighbours are being driven by the other processes now (the clients contend across processes).
   */
  pickForClient(all: readonly number[], position?: ReadonlyMap<number, number>, spread = 1): number | null {
    if (this.#random() < 0.8) {
      const busy = this.inFlight.pick(this.#random);
      if (busy !== null) {
        const at = spread > 1 ? position?.get(busy) : undefined;
        if (at === undefined) return busy;
        const offset = Math.floor(this.#random() * (2 * spread - 1)) - (spread - 1);
        return all[Math.min(all.length - 1, Math.max(0, at + offset))] ?? busy;
      }
    }
    return all.length === 0 ? null : (all[Math.floor(this.#random() * all.length)] ?? null);
  }
}

/** What one process's driving did: summed over the conductor processes of a multi-process run. */
export interface DriveReport {
  readonly transitions: number;
  readonly failures: Readonly<Record<Phase, number>>;
  readonly retried: number;
  readonly steps: number;
  readonly stepFailures: number;
  readonly noFreeWorkerRetries: number;
  readonly nodeLockedRetries: number;
  readonly invalidStateReplans: number;
  readonly internalErrors: number;
  readonly firstInternalError: string | null;
  /** The errno of the first environment failure (the run stopped), or null. */
  readonly environmentFailure: string | null;
  readonly uncaught: number;
  readonly cancelled: number;
  readonly poolCapacity: number;
  readonly deadLetters: number;
  readonly clients: ClientCounts;
}

/** Open the fleet's conductor on the store the options name. Bad input → UsageError; a full disk… → EnvironmentFailure. */
export async function openFleetConductor(
  options: FleetOptions,
  logger: Logger,
  extra: { host?: string; startupRecovery?: boolean; periodicChecks?: boolean; statusServer?: boolean } = {},
): Promise<Conductor> {
  const { statusServer: serve = false, ...rest } = extra;
  const opened = await Conductor.open({
    logger,
    ...(serve && options.statusServer !== null ? { statusServer: { ...options.statusServer } } : {}),
    store:
      options.pg !== null
        ? { postgres: { url: options.pg } }
        : options.db === null
          ? {}
          : { path: options.db, durability: options.durability },
    ...(options.workers === undefined ? {} : { workersPoolSize: options.workers }),
    ...rest,
    drivers: {
      fakeBehaviour: {
        delayMs: { min: options.minStepMs, max: options.maxStepMs },
        failureRate: options.failureRate,
        failOperations: options.failOperations,
        random: seededRandom(options.seed),
      },
    },
  });
  if (opened.isErr()) {
    const errno = environmentCode(opened.error);
    if (errno !== null) throw new EnvironmentFailure(errno, { db: options.db, durability: options.durability });
    throw new UsageError(
      options.pg === null ? opened.error.message : `cannot open the PostgreSQL store ${redactUrl(options.pg)}: ${opened.error.message}`,
    );
  }
  return opened.value;
}

/** Print where the conductor's status server listens, once, on stderr. */
export function announceStatusServer(conductor: Conductor, io: CliIo, db: string | null): void {
  const url = conductor.statusServerUrl;
  if (url === null) return;
  const also = db === null ? '' : ` (or: metal-conductor status --db ${db})`;
  io.stderr.write(`metal-conductor: live status ${url}/status · metrics ${url}/metrics · nodes ${url}/nodes${also}\n`);
}

/** Where the fleet is kept, for the first progress line. */
export function storeLabel(options: FleetOptions): string {
  if (options.pg !== null) {
    const n = options.conductors;
    return `PostgreSQL ${redactUrl(options.pg)} (${n} conductor process${n === 1 ? '' : 'es'})`;
  }
  return options.db ?? 'an in-memory store';
}

/** The start-up recovery's line, if it did anything. */
export function noteRecovery(conductor: Conductor, progress: Progress): void {
  const recovery = conductor.status().recovery;
  const stuckFailed = recovery?.failed.length ?? 0;
  const cleared = recovery?.reservationsCleared.length ?? 0;
  if (stuckFailed > 0 || cleared > 0) {
    const byState = Object.entries(recovery?.stuck ?? {})
      .filter(([, r]) => r.failed.length > 0)
      .map(([state, r]) => `${state} ${r.failed.length}`)
      .join(', ');
    progress.note(`start-up recovery: ${stuckFailed} stuck nodes failed${byState ? ` (${byState})` : ''}, ${cleared} reservations cleared`);
  }
}

/** The start-up recovery's figures for the summary. */
export function recoveryFigures(conductor: Conductor): FleetSummary['recovery'] {
  const recovery = conductor.status().recovery;
  return recovery === null ? null : { stuckNodesFailed: recovery.failed.length, reservationsCleared: recovery.reservationsCleared.length };
}

/** Enroll up to the fleet size (with its progress line and bar); returns the fleet sorted by id and how many were enrolled now. */
export async function enrollWithProgress(
  conductor: Conductor,
  options: FleetOptions,
  progress: Progress,
  signal: AbortSignal,
): Promise<{ fleet: NodeRecord[]; enrolled: number }> {
  const existing = await orThrow(conductor.listNodes());
  const toEnroll = Math.max(0, options.nodes - existing.length);
  const activeBefore = existing.filter((n) => n.provision_state === TARGET_STATE).length;
  progress.note(
    `metal-conductor: fleet of ${Math.max(options.nodes, existing.length)} nodes on ${storeLabel(options)}` +
      ` (${existing.length} in the store, ${activeBefore} active; enrolling ${toEnroll})`,
  );
  const sizing = fleetSizeNote(options, existing.length);
  if (sizing !== null) progress.note(`metal-conductor: ${sizing}`);
  progress.setTotal('enroll', toEnroll);
  const enrolled = await enrollFleet(conductor, existing, options.nodes, {
    concurrency: options.concurrency,
    onEnrolled: () => progress.advance('enroll', false),
    signal,
  });
  return { fleet: [...existing, ...enrolled].sort((a, b) => a.id - b.id), enrolled: enrolled.length };
}

/**
 * What `--nodes N` does on a store that already holds M nodes, when N ≠ M (null when equal or
 * the store is new): N > M enrolls the missing N − M; N < M drives all M (the store is the fleet;
 * nodes are never dropped).
 */
export function fleetSizeNote(options: Pick<FleetOptions, 'nodes'>, existing: number): string | null {
  const n = options.nodes;
  if (existing === 0 || existing === n) return null;
  if (n > existing) return `--nodes ${n}: the store holds ${existing} nodes; driving them and enrolling the missing ${n - existing}`;
  return (
    `--nodes ${n}: the store already holds ${existing} nodes; driving all ${existing} ` +
    `(--nodes only adds nodes; for a fleet of ${n}, use another --db or --memory)`
  );
}

/** The command that re-runs on the same store, as the user started this one (`npm start -- …` under npm). */
export function rerunCommand(options: Pick<FleetOptions, 'db' | 'pg' | 'conductors'>, extra: string): string {
  const quote = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
  const processes = options.conductors > 1 ? ` --conductors ${options.conductors}` : '';
  const store =
    options.pg !== null ? ` --pg ${quote(redactUrl(options.pg))}${processes}` : options.db !== null ? ` --db ${quote(options.db)}` : '';
  const program = process.env.npm_lifecycle_event === 'start' ? 'npm start --' : 'metal-conductor';
  const hidden = options.pg !== null && redactUrl(options.pg) !== options.pg ? ' (the password is hidden: put yours back in the URL)' : '';
  return `${program}${store} ${extra}${hidden}`;
}

/** The lines the summary ends with: what to do next, when there is something to say. */
export function summaryHints(
  options: FleetOptions,
  figures: { nodes: number; enrolled: number; failed: number; steps: number; transitions: number; interrupted: boolean },
): string[] {
  const hints: string[] = [];
  const sizing = fleetSizeNote(options, figures.nodes - figures.enrolled);
  if (sizing !== null) hints.push(sizing);
  if (figures.failed > 0 && !options.retryFailed && !figures.interrupted) {
    const nodes = figures.failed === 1 ? '1 node is' : `${figures.nodes === figures.failed ? 'all ' : ''}${figures.failed} nodes are`;
    const idle = figures.enrolled === 0 && figures.steps === 0 && figures.transitions === 0;
    if (options.db === null && options.pg === null) {
      hints.push(`${nodes} in a failed state (in memory: gone when this run ends)`);
    } else {
      hints.push(
        `${idle ? 'nothing to do: ' : ''}${nodes} in a failed state; a run only carries failed nodes on with --retry-failed: ` +
          // The same fleet size: a default --nodes would enroll more into a smaller store.
          rerunCommand(options, `${figures.nodes === FLEET_DEFAULTS.nodes ? '' : `--nodes ${figures.nodes} `}--retry-failed`),
      );
    }
  }
  return hints;
}

/** How one process drives its share of the fleet. */
export interface DriveSetup {
  readonly progress: Progress;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The run stops: a full disk… */
  readonly onEnvironmentFailure: () => void;
  /** The whole fleet (the API clients pick from all of it). */
  readonly fleet: readonly NodeRecord[];
  /** Whether this process drives the node (default: every node). */
  readonly mine?: (node: NodeRecord, index: number) => boolean;
  /** The API clients' numbers here (default 1..--clients). */
  readonly clientNumbers?: readonly number[];
  /** Conductor processes driving the fleet side by side (the clients' picks spread over their nodes). Default 1. */
  readonly processes?: number;
  /** The bars' totals were set already (countPhaseTotals): enlisting does not add to them. */
  readonly totalsCounted?: boolean;
}

/** Drive this process's nodes to the target while its API clients contend; returns what happened. */
export async function driveFleet(conductor: Conductor, options: FleetOptions, setup: DriveSetup): Promise<DriveReport> {
  const { progress, signal, logger } = setup;
  let transitions = 0;
  const unsubscribe = conductor.subscribe(() => void (transitions += 1));
  const driver = new FleetDriver(conductor, options, progress, signal, logger, setup.onEnvironmentFailure);
  const allIds = setup.fleet.map((n) => n.id);
  const position = new Map(allIds.map((id, at) => [id, at]));
  const processes = setup.processes ?? 1;
  const clientNumbers = setup.clientNumbers ?? Array.from({ length: options.clients }, (_, i) => i + 1);
  const clients = new ApiClients(conductor, {
    count: clientNumbers.length,
    numbers: clientNumbers,
    random: seededRandom((options.seed + 1 + (clientNumbers[0] ?? 0) * 7919) >>> 0),
    pick: () => driver.pickForClient(allIds, position, processes),
    thinkMs: CLIENT_THINK_MS,
    logger,
    // The report carries the raw waits: the summary's figures are computed from them (merged over the processes).
    keepSamples: true,
  });
  let clientsStarted = false;
  try {
    const mine = setup.mine ?? (() => true);
    const toDrive = setup.fleet
      .filter((node, index) => mine(node, index) && driver.enlist(node, setup.totalsCounted !== true))
      .map((n) => n.id);
    if (toDrive.length > 0 && !signal.aborted && clientNumbers.length > 0) {
      clients.start();
      clientsStarted = true;
    }
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < toDrive.length && !signal.aborted) await driver.drive(toDrive[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, toDrive.length) }, lane));
    if (clientsStarted) await clients.stop();
    clientsStarted = false;
    await conductor.onIdle();
  } finally {
    if (clientsStarted) await clients.stop();
    unsubscribe();
  }
  const status = conductor.status();
  return {
    transitions,
    failures: { ...driver.failures },
    retried: driver.retried,
    steps: driver.steps,
    stepFailures: driver.stepFailures,
    noFreeWorkerRetries: driver.noFreeWorker,
    nodeLockedRetries: driver.driverNodeLocked,
    invalidStateReplans: driver.invalidState,
    internalErrors: driver.internalErrors,
    firstInternalError: driver.firstInternalError,
    environmentFailure: driver.environmentFailure,
    uncaught: status.workers.failed,
    cancelled: status.workers.cancelled,
    poolCapacity: status.workers.pool.capacity,
    deadLetters: status.deadLetters,
    clients: clients.counts(),
  };
}

/** Sum the reports of several processes (one: itself). */
export function mergeReports(reports: readonly DriveReport[]): { report: Omit<DriveReport, 'clients'>; clients: ClientStats } {
  const sum = (pick: (r: DriveReport) => number): number => reports.reduce((total, r) => total + pick(r), 0);
  return {
    report: {
      transitions: sum((r) => r.transitions),
      failures: { manage: sum((r) => r.failures.manage), clean: sum((r) => r.failures.clean), deploy: sum((r) => r.failures.deploy) },
      retried: sum((r) => r.retried),
      steps: sum((r) => r.steps),
      stepFailures: sum((r) => r.stepFailures),
      noFreeWorkerRetries: sum((r) => r.noFreeWorkerRetries),
      nodeLockedRetries: sum((r) => r.nodeLockedRetries),
      invalidStateReplans: sum((r) => r.invalidStateReplans),
      internalErrors: sum((r) => r.internalErrors),
      firstInternalError: reports.find((r) => r.firstInternalError !== null)?.firstInternalError ?? null,
      environmentFailure: reports.find((r) => r.environmentFailure !== null)?.environmentFailure ?? null,
      uncaught: sum((r) => r.uncaught),
      cancelled: sum((r) => r.cancelled),
      poolCapacity: sum((r) => r.poolCapacity),
      deadLetters: sum((r) => r.deadLetters),
    },
    clients: mergeClientCounts(reports.map((r) => r.clients)),
  };
}

/** The summary of a run from the final nodes and the (merged) reports. */
export function buildSummary(
  final: readonly NodeRecord[],
  reports: readonly DriveReport[],
  meta: {
    options: FleetOptions;
    enrolled: number;
    recovery: FleetSummary['recovery'];
    interrupted: boolean;
    elapsedMs: number;
    hosts: readonly string[];
  },
): FleetSummary {
  const { report, clients } = mergeReports(reports);
  const states: Record<string, number> = {};
  let active = 0;
  let failed = 0;
  for (const node of final) {
    states[node.provision_state] = (states[node.provision_state] ?? 0) + 1;
    if (node.provision_state === TARGET_STATE) active += 1;
    else if (isRecordedFailure(node)) failed += 1;
  }
  const { options, elapsedMs } = meta;
  return {
    nodes: final.length,
    enrolled: meta.enrolled,
    db: options.db,
    postgres: options.pg === null ? null : redactUrl(options.pg),
    conductors: options.conductors,
    hosts: [...meta.hosts],
    seed: options.seed,
    states,
    active,
    failed,
    unfinished: final.length - active - failed,
    reserved: final.filter((n) => n.reservation !== null).length,
    failures: { ...report.failures },
    retried: report.retried,
    transitions: report.transitions,
    transitionsPerSec: Math.round((report.transitions / Math.max(elapsedMs, 1)) * 1000 * 10) / 10,
    lockWaitMs: clients.lockWaitMs,
    nodeLocked: clients.nodeLocked,
    apiClients: clients,
    workers: {
      steps: report.steps,
      stepFailures: report.stepFailures,
      uncaught: report.uncaught,
      cancelled: report.cancelled,
      poolCapacity: report.poolCapacity,
      noFreeWorkerRetries: report.noFreeWorkerRetries,
    },
    driver: {
      nodeLockedRetries: report.nodeLockedRetries,
      invalidStateReplans: report.invalidStateReplans,
      internalErrors: report.internalErrors,
    },
    recovery: meta.recovery,
    deadLetters: report.deadLetters,
    interrupted: meta.interrupted,
    elapsedMs: Math.round(elapsedMs),
    hints: summaryHints(options, {
      nodes: final.length,
      enrolled: meta.enrolled,
      failed,
      steps: report.steps,
      transitions: report.transitions,
      interrupted: meta.interrupted,
    }),
  };
}

/**
 * Print the summary and end as the run did: an environment failure throws (exit 3), nodes that
 * could not be driven get their line; returns the exit code otherwise.
 */
export function finishRun(summary: FleetSummary, reports: readonly DriveReport[], options: FleetOptions, io: CliIo): number {
  const { report } = mergeReports(reports);
  io.stdout.write(options.json ? renderSummaryJson(summary) : renderSummary(summary));
  if (report.environmentFailure !== null)
    throw new EnvironmentFailure(report.environmentFailure, { db: options.db, durability: options.durability });
  if (report.internalErrors > 0) {
    const count = report.internalErrors === 1 ? '1 node' : `${report.internalErrors} nodes`;
    io.stderr.write(`metal-conductor: ${count} could not be driven (first: ${oneLine(report.firstInternalError ?? '?')}; see the log)\n`);
  }
  if (summary.interrupted) return EXIT.interrupted;
  return report.internalErrors > 0 || summary.unfinished > 0 ? EXIT.internal : EXIT.ok;
}

/** The run's own abort signal, following the caller's (SIGINT/SIGTERM); `dispose` stops following. */
export function runSignal(io: CliIo): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const onOuterAbort = (): void => {
    const reason: unknown = io.signal?.reason;
    // main.ts aborts with the signal's name: a run says what it does about it (a listing says nothing).
    if (reason instanceof Error && /^SIG[A-Z]+$/.test(reason.message)) {
      io.stderr.write(`metal-conductor: ${reason.message}: stopping after the running steps (again to exit at once)\n`);
    }
    controller.abort(reason);
  };
  if (io.signal?.aborted) onOuterAbort();
  else io.signal?.addEventListener('abort', onOuterAbort, { once: true });
  return { controller, dispose: () => io.signal?.removeEventListener('abort', onOuterAbort) };
}

/** Run the fleet. Returns the exit code. Bad input (store refused) → UsageError. */
export async function runFleet(options: FleetOptions, io: CliIo): Promise<number> {
  if (options.conductors > 1) {
    const { runFleetCluster } = await import('./fleet-cluster.js');
    return runFleetCluster(options, io);
  }
  const started = performance.now();
  // Our own signal (every waiting node lane listens to it), following the caller's.
  const { controller: stopping, dispose } = runSignal(io);
  const signal = stopping.signal;
  const { logs, logger, startProgress } = runOutput(options, io);

  let conductor: Conductor;
  try {
    conductor = await openFleetConductor(options, logger, { statusServer: true });
  } catch (error) {
    dispose();
    throw error;
  }
  // --quiet: not even this line (the lock file still tells `status` where to ask).
  if (options.progress !== 'none') announceStatusServer(conductor, io, options.db);

  const progress = startProgress();
  let environmentFailed = false;
  try {
    noteRecovery(conductor, progress);
    const { fleet, enrolled } = await enrollWithProgress(conductor, options, progress, signal);
    const report = await driveFleet(conductor, options, {
      progress,
      signal,
      logger,
      onEnvironmentFailure: () => stopping.abort(new Error('environment failure')),
      fleet,
    });
    progress.stop();
    logs.release();

    const final = await orThrow(conductor.listNodes());
    const summary = buildSummary(final, [report], {
      options,
      enrolled,
      recovery: recoveryFigures(conductor),
      interrupted: signal.aborted,
      elapsedMs: performance.now() - started,
      hosts: [conductor.status().host],
    });
    return finishRun(summary, [report], options, io);
  } catch (error) {
    const errno = error instanceof EnvironmentFailure ? error.errno : environmentCode(error);
    if (errno === null) throw error;
    environmentFailed = true;
    throw error instanceof EnvironmentFailure ? error : new EnvironmentFailure(errno, { db: options.db, durability: options.durability });
  } finally {
    progress.stop();
    logs.release();
    const stopped = await conductor.stop();
    // After an environment failure, stopping fails the same way: the one line says it all.
    if (stopped.isErr() && !environmentFailed) io.stderr.write(`metal-conductor: ${oneLine(stopped.error.message)}\n`);
    dispose();
  }
}

/**
 * Where a run's output goes: progress on stdout (on stderr with --json, so that stdout carries only
 * the summary), logs on stderr through a sink that `startProgress` holds back while live bars are
 * on the terminal (bars and log lines on one terminal would garble each other).
 */
export function runOutput(options: FleetOptions, io: CliIo): { logs: LogSink; logger: Logger; startProgress: () => Progress } {
  const progressOut = options.json ? io.stderr : io.stdout;
  const progressTTY = options.json ? io.stderr.isTTY === true : io.isTTY;
  const logs = new LogSink(io.stderr);
  const logger = createCliLogger(options.logLevel, options.logFormat, logs);
  const startProgress = (): Progress => {
    const progress = createProgress(options.progress, progressOut, progressTTY);
    if (progress instanceof BarProgress && io.stderr.isTTY === true) logs.hold();
    return progress;
  };
  return { logs, logger, startProgress };
}

/** The log destination: stderr, or held back (bounded) while live bars are on the terminal. */
export class LogSink {
  static readonly MAX_HELD = 1000;
  readonly #out: CliIo['stderr'];
  #held: string[] | null = null;
  #dropped = 0;

  constructor(out: CliIo['stderr']) {
    this.#out = out;
  }

  /** Whether the lines end up on a terminal (pretty logs are coloured there). */
  get isTTY(): boolean {
    return this.#out.isTTY === true;
  }

  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    for (const line of held) this.#out.write(line);
    if (this.#dropped > 0)
      this.#out.write(`metal-conductor: ${this.#dropped} more log lines were dropped while the progress bars were shown\n`);
    this.#dropped = 0;
  }

  write(line: string): void {
    if (this.#held === null) this.#out.write(line);
    else if (this.#held.length < LogSink.MAX_HELD) this.#held.push(line);
    else this.#dropped += 1;
  }
}
