/**
 * The conductor: the root actor and the public entry point. It owns the store, the driver
 * registry, the node actors (via the registry), the worker supervisor and the notification bus.
 *
 * Actor tree: `conductor` (root, serves the message protocol) → `nodes` (a silent parent of
 * every node actor) and `workers` (the worker supervisor and its one-shot worker children).
 */
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, type Result, ResultAsync } from 'neverthrow';
import { resolveConfig, type ConductorConfig, type ConductorOptions } from '../src/config.ts';
import { createRequestContext, type RequestContext } from '../src/context.ts';
import { buildDriverForTask, type BuiltDriver } from '../src/drivers/build-driver.ts';
import { createDriverRegistry, DriverRegistry, type DriverRegistryOptions } from '../src/drivers/registry.ts';
import {
  type AnyConductorError,
  ConductorStopping,
  type DriverError,
  ExclusiveLockRequired,
  InvalidIdentity,
  InvalidParameterValue,
  LeaseNotFound,
  MalformedMessage,
  type NodeNotFound,
  type StoreCorrupt,
  type StoreError,
  type StoreInUse,
} from '../src/errors.ts';
import type { FSM } from '../src/fsm/fsm.ts';
import { systemClock, type Clock } from '../src/clock.ts';
import { createLogger, type Logger } from '../src/logging.ts';
import type { NewNode, NodeIdentity, NodeRecord } from '../src/node.ts';
import { NotificationBus, type NotificationSubscriber } from '../src/notifications/bus.ts';
import type { ProvisionSetNotification } from '../src/notifications/notification.ts';
import { newProvisionFsm } from '../src/states/provision-machine.ts';
import { openSqlJsStore, type SqlJsStoreOptions } from '../src/store/sqljs-store.ts';
import type { Store } from '../src/store/store.ts';
import type { TransportError, WorkerSpawner } from '../src/task/backend.ts';
import { runScoped, type ScopeError } from '../src/task/scope.ts';
import { acquireTask, taskInternals } from '../src/task/task-manager.ts';
import type { AcquireError, AcquireOptions, ExclusiveTask, SharedTask, Task } from '../src/task/types.ts';
import type { ConductorMessage, LeaseGrant, MessageContext } from './conductor-protocol.ts';
import { NodeRegistry, type NodeActorStatus } from './node-registry.ts';
import { ActorRuntime, type ActorContext, type ActorRef, type DeadLetter } from './runtime.ts';
import { WorkerSupervisor, type PoolStatus, type WorkerInfo } from './worker-supervisor.ts';
import { periodicComponent } from './periodic-component.ts';
import { RestartSupervisor, type ComponentStatus, type RestartPolicy } from './restart-supervisor.ts';
import { periodicPort } from '../src/periodics/ports.ts';
import { checkIntervalMs, isCheckEnabled, runWaitTimeoutCheck, WAIT_TIMEOUT_CHECKS } from '../src/periodics/wait-timeouts.ts';
import { recoverOnStartup, type RecoveryReport } from '../src/recovery/startup.ts';

/** Test and embedding seams. Not needed in normal use. */
export interface ConductorSeams {
  /** Replace the background-worker spawner (Ironic's `_spawn_worker`). */
  spawner?: WorkerSpawner;
  /** Replace the state-machine factory (each task gets one copy). */
  newFsm?: () => FSM;
  /** Replace driver building (Ironic `build_driver_for_task`). */
  buildDriver?: (node: NodeRecord) => Result<BuiltDriver, DriverError>;
  /** Time and timers (periodic checks, backoff, worker timeouts). Default: the system clock. */
  clock?: Clock;
}

/** Everything `Conductor.open` accepts. */
export interface ConductorInit extends ConductorOptions {
  /** A store, or options of the embedded sql.js store. Default: in-memory sql.js. */
  store?: Store | SqlJsStoreOptions;
  /** A driver registry or its options. Default: fake-hardware and manual-management enabled. */
  drivers?: DriverRegistry | DriverRegistryOptions;
  /** Root pino logger. Default: `createLogger()` (stderr, level from METAL_CONDUCTOR_LOG_LEVEL or info). */
  logger?: Logger;
  /**
   * Run Ironic's start-up recovery before serving: clear pending target power states and this
   * host's reservations, fail nodes stuck in STUCK_STATES_TREATED_AS_FAIL. Default true.
   */
  startupRecovery?: boolean;
  /** Start the periodic wait-timeout checks. Default true (each still needs its interval and timeout > 0). */
  periodicChecks?: boolean;
  /** Restart policy of the periodic checks. Default: see README (1 s → 30 s, 5 restarts in 60 s). */
  restartPolicy?: RestartPolicy;
  /** Seams for tests. */
  seams?: ConductorSeams;
}

/** A point-in-time report of the conductor. */
export interface ConductorStatus {
  readonly host: string;
  readonly stopping: boolean;
  /** Loaded node actors with holder (purpose, held-for) and waiters. */
  readonly nodes: readonly NodeActorStatus[];
  readonly actors: { readonly loaded: number; readonly spawned: number; readonly passivated: number };
  readonly workers: {
    readonly pool: PoolStatus;
    readonly running: readonly WorkerInfo[];
    readonly completed: number;
    readonly failed: number;
    readonly cancelled: number;
  };
  /** Long-lived components (periodic checks): state, restarts, escalations. */
  readonly components: readonly ComponentStatus[];
  /** What start-up recovery did, if it ran. */
  readonly recovery: RecoveryReport | null;
  readonly leasesHeldByActors: number;
  readonly deadLetters: number;
  readonly notifications: { readonly delivered: number; readonly failures: number; readonly subscribers: number };
}

/** Errors opening a conductor. */
export type OpenError = InvalidParameterValue | StoreCorrupt | StoreInUse | StoreError;

/** The conductor. Create with `Conductor.open()`; stop with `stop()`. */
export class Conductor {
  readonly config: ConductorConfig;
  readonly store: Store;
  readonly drivers: DriverRegistry;
  readonly logger: Logger;
  readonly runtime: ActorRuntime;
  /** The root actor: send it ConductorMessage asks (see conductor-protocol.ts). */
  readonly ref: ActorRef<ConductorMessage>;
  readonly #registry: NodeRegistry;
  readonly #workers: WorkerSupervisor;
  readonly #bus: NotificationBus;
  readonly #ownsStore: boolean;
  readonly #leases = new Map<string, Task>();
  readonly #clock: Clock;
  readonly #components: RestartSupervisor;
  #recovery: RecoveryReport | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(parts: {
    config: ConductorConfig;
    store: Store;
    ownsStore: boolean;
    drivers: DriverRegistry;
    logger: Logger;
    seams: ConductorSeams;
  }) {
    this.config = parts.config;
    this.store = parts.store;
    this.#ownsStore = parts.ownsStore;
    this.drivers = parts.drivers;
    this.logger = parts.logger.child({ host: parts.config.host });
    this.runtime = new ActorRuntime('metal-conductor', this.logger);
    this.ref = this.runtime.spawn<null, ConductorMessage>(null, 'conductor', {
      initialState: () => null,
      handle: (state, message, ctx) => {
        this.#serve(message, ctx);
        return state;
      },
    });
    const nodes = this.runtime.spawn<null, never>(this.ref, 'nodes', { initialState: () => null, handle: (state) => state });
    const clock = parts.seams.clock ?? systemClock;
    this.#clock = clock;
    this.#workers = new WorkerSupervisor(this.runtime, this.ref, this.logger, clock, {
      poolSize: parts.config.workersPoolSize,
      reservedPercentage: parts.config.reservedWorkersPoolPercentage,
      timeoutMs: parts.config.workerTimeout,
    });
    this.#bus = new NotificationBus(parts.config.notificationLevel, this.logger);
    this.#components = new RestartSupervisor({
      runtime: this.runtime,
      parent: this.ref,
      logger: this.logger,
      clock,
      // Past its restart intensity a component is marked failed (status) and the rest go on.
      onEscalate: (component, error) =>
        this.logger.error({ component, err: error }, 'component failed permanently; the conductor keeps serving'),
    });
    const drivers = parts.drivers;
    const spawner = parts.seams.spawner ?? this.#workers.spawn;
    this.#registry = new NodeRegistry({
      runtime: this.runtime,
      parent: nodes,
      store: parts.store,
      config: parts.config,
      logger: this.logger,
      bus: this.#bus,
      buildDriver: parts.seams.buildDriver ?? ((node) => buildDriverForTask({ node }, drivers)),
      newFsm: parts.seams.newFsm ?? (newProvisionFsm as () => FSM),
      spawnWorker: (request) => {
        if (this.#stopping) throw new ConductorStopping();
        return spawner(request);
      },
      clock,
    });
  }

  /** Open a conductor: resolve the configuration, open the store, start the actors, register the host. */
  static open(init: ConductorInit = {}): ResultAsync<Conductor, OpenError> {
    return new ResultAsync(
      (async (): Promise<Result<Conductor, OpenError>> => {
        const {
          store: storeInit,
          drivers: driversInit,
          logger: loggerInit,
          seams,
          startupRecovery = true,
          periodicChecks = true,
          restartPolicy,
          ...options
        } = init;
        const config = resolveConfig(options);
        if (config.isErr()) return err(config.error);
        const logger = loggerInit ?? createLogger();
        const drivers = driversInit instanceof DriverRegistry ? ok(driversInit) : createDriverRegistry(driversInit ?? {});
        if (drivers.isErr()) return err(drivers.error);
        let store: Store;
        let ownsStore = false;
        if (isStore(storeInit)) {
          store = storeInit;
        } else {
          const opened = await openSqlJsStore({ logger, ...(storeInit ?? {}) });
          if (opened.isErr()) return err(opened.error);
          store = opened.value;
          ownsStore = true;
        }
        const registered = await store.registerConductor(config.value.host);
        if (registered.isErr()) {
          if (ownsStore) await store.close();
          return err(registered.error);
        }
        const conductor = new Conductor({
          config: config.value,
          store,
          ownsStore,
          drivers: drivers.value,
          logger,
          seams: seams ?? {},
        });
        if (startupRecovery) await conductor.#recover();
        if (periodicChecks) {
          const started = conductor.#startPeriodicChecks(restartPolicy);
          if (started.isErr()) {
            await conductor.stop();
            return err(started.error);
          }
        }
        conductor.logger.info({ store: store.description }, 'conductor started');
        return ok(conductor);
      })(),
    );
  }

  /** Ironic's start-up recovery. Every stuck node is failed (Ironic stops at periodic_max_workers). */
  async #recover(): Promise<void> {
    this.#recovery = await recoverOnStartup(periodicPort(this, this.#clock), { maxNodesPerState: Number.POSITIVE_INFINITY });
    this.logger.info({ recovery: this.#recovery }, 'start-up recovery done');
  }

  /** Run each enabled wait-timeout check as a supervised periodic component. */
  #startPeriodicChecks(policy: RestartPolicy | undefined): Result<void, InvalidParameterValue> {
    const port = periodicPort(this, this.#clock);
    for (const check of WAIT_TIMEOUT_CHECKS) {
      if (!isCheckEnabled(check, this.config)) continue;
      try {
        this.#components.start(
          periodicComponent(`check-${check.name}-timeouts`, checkIntervalMs(check, this.config), async () => {
            await runWaitTimeoutCheck(check, port);
          }),
          policy,
        );
      } catch (error) {
        if (error instanceof InvalidParameterValue) return err(error);
        throw error;
      }
    }
    return ok(undefined);
  }

  /**
   * Acquire a task on a node (Ironic `task_manager.acquire`). Shared with `{ shared: true }`: never
   * waits and takes no reservation. Exclusive otherwise: waits in FIFO order within the budget.
   */
  acquire(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions & { shared: true }): ResultAsync<SharedTask, AcquireError>;
  acquire(context: RequestContext, nodeId: NodeIdentity, options?: AcquireOptions & { shared?: false }): ResultAsync<ExclusiveTask, AcquireError>;
  acquire(context: RequestContext, nodeId: NodeIdentity, options?: AcquireOptions): ResultAsync<Task, AcquireError>;
  acquire(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions = {}): ResultAsync<Task, AcquireError> {
    if (this.#stopping) return errAsync(new ConductorStopping());
    return acquireTask(this.#registry, context, nodeId, options);
  }

  /**
   * Acquire, run `body`, and leave the scope as Ironic's `with` block: release, or hand the lock to
   * the background worker scheduled with spawnAfter/processEvent({callback}) when the body did not
   * throw. A throwing body releases and rethrows. Resolves with the body's value or a typed error.
   */
  withTask<R>(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions & { shared: true }, body: (task: SharedTask) => R | Promise<R>): ResultAsync<Awaited<R>, ScopeError>;
  withTask<R>(context: RequestContext, nodeId: NodeIdentity, options: (AcquireOptions & { shared?: false }) | undefined, body: (task: ExclusiveTask) => R | Promise<R>): ResultAsync<Awaited<R>, ScopeError>;
  withTask<R>(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions | undefined, body: (task: never) => R | Promise<R>): ResultAsync<Awaited<R>, ScopeError> {
    return runScoped(this.acquire(context, nodeId, options ?? {}), body as (task: Task) => R | Promise<R>);
  }

  /** The latest committed snapshot of a node (never waits for a lock). */
  snapshot(nodeId: NodeIdentity): ResultAsync<NodeRecord, NodeNotFound | InvalidIdentity | StoreError | TransportError> {
    return this.#registry.getNode(nodeId);
  }

  /**
   * Enroll a node (provision state `enroll` unless given), optionally with ports (MAC addresses).
   * The hardware type must be enabled (DriverNotFound otherwise), as Ironic's API checks.
   */
  enroll(fields: NewNode, ports: readonly string[] = []): ResultAsync<NodeRecord, AnyConductorError> {
    const hardware = this.drivers.getHardwareType(fields.driver);
    if (hardware.isErr()) return errAsync(hardware.error);
    return this.store.createNode(fields).andThen((node) =>
      ResultAsync.combine(ports.map((address) => this.store.createPort(node.id, { address }))).map(() => node),
    );
  }

  /** Subscribe to provision_set notifications; returns an unsubscribe function. */
  subscribe(subscriber: NotificationSubscriber): () => void {
    return this.#bus.subscribe(subscriber);
  }

  /** Deliver notifications to an actor as messages; returns an unsubscribe function. */
  subscribeActor(ref: ActorRef<ProvisionSetNotification>): () => void {
    return this.#bus.subscribe((notification) => {
      this.runtime.tell(ref, notification);
    });
  }

  /** Subscribe to dead letters (messages to stopped actors). */
  onDeadLetter(subscriber: (letter: DeadLetter) => void): () => void {
    return this.runtime.onDeadLetter(subscriber);
  }

  /** Resolve when no background worker is running. */
  onIdle(): Promise<void> {
    return this.#workers.onIdle();
  }

  /** A point-in-time status report. */
  status(): ConductorStatus {
    const workers = this.#workers.stats;
    return {
      host: this.config.host,
      stopping: this.#stopping !== null,
      nodes: this.#registry.status(),
      actors: this.#registry.stats,
      workers: {
        pool: this.#workers.pool(),
        running: this.#workers.active(),
        completed: workers.completed,
        failed: workers.failed,
        cancelled: workers.cancelled,
      },
      components: this.#components.status(),
      recovery: this.#recovery,
      leasesHeldByActors: this.#leases.size,
      deadLetters: this.runtime.deadLetterCount,
      notifications: this.#bus.stats,
    };
  }

  /**
   * Stop: take no new work, let running workers finish up to `gracefulShutdownTimeout` (then cancel
   * them), release leases held by actors, stop every actor and timer, mark the host offline and
   * close the store if the conductor opened it. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info('conductor stopping');
      await this.#components.stop();
      await this.#workers.drain(this.config.gracefulShutdownTimeout);
      for (const [leaseId, task] of this.#leases) {
        this.#leases.delete(leaseId);
        await taskInternals(task).exit(false);
      }
      this.#registry.close();
      await this.runtime.shutdown();
      // Tasks still held by callers cannot release through stopped actors: clear what is ours.
      const cleared = await this.store.clearReservations(this.config.host);
      if (cleared.isOk() && cleared.value.length > 0) {
        this.logger.warn({ nodes: cleared.value }, 'cleared reservations still held at stop');
      }
      await this.store.touchConductor(this.config.host, false);
      if (this.#ownsStore) {
        const closed = await this.store.close();
        if (closed.isErr()) this.logger.error({ err: closed.error }, 'closing the store failed');
      }
      this.logger.info('conductor stopped');
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- the root actor's protocol -----------------------------------------------------------

  #serve(message: ConductorMessage, ctx: ActorContext<ConductorMessage>): void {
    const malformed = validate(message);
    if (malformed !== null) {
      ctx.fail(malformed);
      return;
    }
    const replier = ctx.deferReply();
    const answer = <T, E>(result: PromiseLike<Result<T, E>>, onLate?: (value: T) => void): void => {
      Promise.resolve(result).then(
        (settled) => {
          if (settled.isErr()) replier.reject(settled.error);
          else if (replier.settled) onLate?.(settled.value);
          else replier.resolve(settled.value);
        },
        (error: unknown) => replier.reject(error),
      );
    };
    const context = (fields?: MessageContext): RequestContext => createRequestContext(fields ?? {});
    switch (message.type) {
      case 'status':
        replier.resolve(this.status());
        return;
      case 'acquireLease': {
        const options: AcquireOptions = {
          shared: message.shared ?? false,
          purpose: message.purpose ?? 'unspecified action',
          retry: message.retry ?? true,
          patient: message.patient ?? false,
        };
        const granted = this.acquire(context(message.context), message.nodeId, options).map((task): LeaseGrant => {
          const leaseId = randomUUID();
          this.#leases.set(leaseId, task);
          return { leaseId, shared: task.shared, node: task.node };
        });
        // If the asker gave up (its ask timed out), nobody knows the lease: give it back.
        answer(granted, (grant) => void this.#releaseLease(grant.leaseId));
        return;
      }
      case 'releaseLease':
        answer(this.#releaseLease(message.leaseId));
        return;
      case 'snapshot':
        answer(this.snapshot(message.nodeId));
        return;
      case 'runExclusive':
        answer(
          this.withTask(context(message.context), message.nodeId, { purpose: message.purpose ?? 'actor operation' }, (task) =>
            message.operation(task),
          ),
        );
        return;
      case 'processEvent': {
        const targetState = message.targetState === undefined ? {} : { targetState: message.targetState };
        if (message.leaseId !== undefined) {
          const task = this.#leases.get(message.leaseId);
          if (!task) answer(errAsync(new LeaseNotFound(message.leaseId)));
          else if (task.shared) answer(errAsync(new ExclusiveLockRequired('processEvent', task.node.uuid)));
          else answer(task.processEvent(message.event, targetState));
          return;
        }
        answer(
          this.withTask(context(message.context), message.nodeId as NodeIdentity, { purpose: `process event ${message.event}` }, (task) =>
            task.processEvent(message.event, targetState),
          ).andThen((inner) => inner),
        );
        return;
      }
    }
  }

  #releaseLease(leaseId: string): ResultAsync<{ released: true }, AnyConductorError> {
    const task = this.#leases.get(leaseId);
    if (!task) return errAsync(new LeaseNotFound(leaseId));
    this.#leases.delete(leaseId);
    return new ResultAsync(taskInternals(task).exit(false)).map(() => ({ released: true as const }));
  }
}

function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && typeof (value as Store).reserve === 'function';
}

/** Check a protocol message's shape; returns the error to reply with, or null. */
function validate(message: unknown): AnyConductorError | null {
  if (typeof message !== 'object' || message === null) return new MalformedMessage('not an object', message);
  const m = message as Record<string, unknown>;
  const bool = (key: string): boolean => m[key] === undefined || typeof m[key] === 'boolean';
  const str = (key: string): boolean => m[key] === undefined || typeof m[key] === 'string';
  // A missing or wrongly typed id is a malformed message; a well-typed but invalid one is InvalidIdentity.
  const identity = (key: string): AnyConductorError | null =>
    typeof m[key] === 'number' || typeof m[key] === 'string' ? null : new MalformedMessage(`${key} must be a number or a string`, message);
  const context = m.context;
  if (context !== undefined) {
    const c = context as Record<string, unknown>;
    const textOrNull = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
    const valid =
      typeof context === 'object' &&
      context !== null &&
      textOrNull(c.requestId) &&
      textOrNull(c.user) &&
      textOrNull(c.project) &&
      (c.roles === undefined || (Array.isArray(c.roles) && c.roles.every((r) => typeof r === 'string')));
    if (!valid) return new MalformedMessage('context must be { requestId?, user?, project?: string, roles?: string[] }', message);
  }
  switch (m.type) {
    case 'status':
      return null;
    case 'acquireLease':
      if (!bool('shared') || !bool('retry') || !bool('patient') || !str('purpose')) {
        return new MalformedMessage('acquireLease flags must be booleans and purpose a string', message);
      }
      return identity('nodeId');
    case 'releaseLease':
      return typeof m.leaseId === 'string' ? null : new MalformedMessage('releaseLease needs a string leaseId', message);
    case 'snapshot':
      return identity('nodeId');
    case 'runExclusive':
      if (typeof m.operation !== 'function') return new MalformedMessage('runExclusive needs an operation function', message);
      return identity('nodeId');
    case 'processEvent':
      if (typeof m.event !== 'string' || !str('targetState')) return new MalformedMessage('processEvent needs a string event', message);
      if (m.leaseId === undefined && m.nodeId === undefined) return new MalformedMessage('processEvent needs a leaseId or a nodeId', message);
      if (m.leaseId !== undefined && typeof m.leaseId !== 'string') return new MalformedMessage('leaseId must be a string', message);
      return m.leaseId === undefined ? identity('nodeId') : null;
    default:
      return new MalformedMessage(`unknown message type ${String(m.type)}`, message);
  }
}

