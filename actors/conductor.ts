/**
 * The conductor: the root actor and the public entry point. It owns the store, the driver
 * registry, the node actors (via the registry), the worker supervisor and the notification bus;
 * none of them is reachable from a `Conductor` (one owner per piece of state: a node's row is
 * written by its actor alone). Other actors reach the root actor through `metal-conductor/actors`.
 *
 * Actor tree: `conductor` (root, serves the message protocol) → `nodes` (a silent parent of
 * every node actor), `workers` (the worker supervisor and its one-shot worker children) and
 * `user` (actors spawned through the actor subpath).
 */
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, Result, ResultAsync } from 'neverthrow';
import { resolveConfig, type ConductorConfig } from '../src/config.js';
import { createRequestContext, type RequestContext } from '../src/context.js';
import { buildDriverForTask, type BuiltDriver } from '../src/drivers/build-driver.js';
import { createDriverRegistry, type DriverRegistry } from '../src/drivers/registry.js';
import {
  Aborted,
  describe,
  type AnyConductorError,
  ConductorStopping,
  type DriverError,
  ExclusiveLockRequired,
  type InvalidIdentity,
  InvalidParameterValue,
  LeaseNotFound,
  type NodeNotFound,
  type StoreCorrupt,
  type StoreError,
  type StoreInUse,
} from '../src/errors.js';
import type { FSM } from '../src/fsm/fsm.js';
import { systemClock, type Clock } from '../src/clock.js';
import { createLogger, SAFE_SERIALIZERS, type Logger } from '../src/logging.js';
import type { NewNode, NodeIdentity, NodeRecord } from '../src/node.js';
import { checkNodeFilter, type NodeFilter } from '../src/node-filter.js';
import { normalizeMac } from '../src/mac-address.js';
import { NotificationBus, type NotificationSubscriber } from '../src/notifications/bus.js';
import { newProvisionFsm } from '../src/states/provision-machine.js';
import { PROVISION_STATES, type ProvisionEvent, type ProvisionState } from '../src/states/provision-states.js';
import { openSqlJsStore, type SqlJsStoreOptions } from '../src/store/sqljs-store.js';
import type { Store, StoreHealth } from '../src/store/store.js';
import { guardStore } from '../src/store/guard.js';
import type { TaskPorts, TransportError, WorkerSpawner } from '../src/task/ports.js';
import { runScoped, type BodyError, type BodyValue, type ScopeError } from '../src/task/scope.js';
import { acquireTask, taskInternals } from '../src/task/task-manager.js';
import type { AcquireError, AcquireOptions, ExclusiveTask, SharedTask, Task } from '../src/task/types.js';
import { checkInit, type ConductorInit } from './conductor-init.js';
import {
  parseProtocolMessage,
  type ConductorMessage,
  type LeaseGrant,
  type MessageContext,
  type RunExclusiveMessage,
} from './conductor-protocol.js';
import { NodeRegistry, type NodeActorStatus } from './node-registry.js';
import { ActorRuntime, type ActorContext, type ActorRef, type AnyActorRef } from './runtime.js';
import { WorkerSupervisor, type PoolStatus, type WorkerInfo } from './worker-supervisor.js';
import { periodicComponent } from './periodic-component.js';
import { resolveRestartPolicy, RestartSupervisor, type ComponentStatus, type ResolvedRestartPolicy } from './restart-supervisor.js';
import { periodicPort } from '../src/periodics/ports.js';
import { checkIntervalMs, isCheckEnabled, runWaitTimeoutCheck, WAIT_TIMEOUT_CHECKS } from '../src/periodics/wait-timeouts.js';
import { recoverOnStartup, type RecoveryReport } from '../src/recovery/startup.js';
import { takeOverOrphans, type TakeoverReport } from '../src/recovery/orphans.js';
import { HashRing, ringsByGroup } from '../src/cluster/hash-ring.js';
import { Registry, type RegistryContentType } from 'prom-client';
import { checkStatusServerOptions, StatusServer } from './status-server.js';
import { acquireOutcome, ConductorMetrics } from '../src/metrics/conductor-metrics.js';

export type { ConductorInit, StoreOptions } from './conductor-init.js';

/**
 * After our own store session reconnected, how long missing claims of other conductors are not
 * taken for deaths: their sessions reconnect within their backoff (at most 2 s between attempts).
 */
const RESYNC_GRACE_MS = 5000;

/**
 * Seams for tests and internal embedding: not part of the package's public surface.
 * @internal
 */
export interface ConductorSeams {
  /** Use this store instead of opening the embedded one (the conductor does not close it). */
  store?: Store;
  /** Extra options of the embedded store (test hooks such as `now` or `onCheckpointPhase`). */
  storeHooks?: Pick<SqlJsStoreOptions, 'now' | 'onCheckpointPhase'>;
  /** Replace the background-worker spawner (Ironic's `_spawn_worker`). */
  spawner?: WorkerSpawner;
  /** Replace the state-machine factory (each task gets one copy). */
  newFsm?: () => FSM<ProvisionState, ProvisionEvent>;
  /** Replace driver building (Ironic `build_driver_for_task`). */
  buildDriver?: (node: NodeRecord) => Result<BuiltDriver, DriverError>;
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
    /** Failed workers, timeouts included. */
    readonly failed: number;
    /** Workers stopped by their timeout (counted in `failed` too). */
    readonly timedOut: number;
    readonly cancelled: number;
  };
  /** Long-lived components (periodic checks): state, restarts, escalations. */
  readonly components: readonly ComponentStatus[];
  /** What start-up recovery did, if it ran. */
  readonly recovery: RecoveryReport | null;
  /** What the last orphan check (dead conductors' nodes) did, if one ran. */
  readonly takeover: TakeoverReport | null;
  /** On a shared store (PostgreSQL): the live conductors this one knows of (its hash ring), else null. */
  readonly cluster: { readonly group: string; readonly liveConductors: readonly string[] } | null;
  /** Whether the store serves: `ok`, `recovering` (reloading after a failed write), `failed` (with why), `closed`. */
  readonly store: StoreHealth;
  readonly leasesHeldByActors: number;
  readonly deadLetters: number;
  readonly notifications: { readonly delivered: number; readonly failures: number; readonly subscribers: number };
}

/** Errors opening a conductor. */
export type OpenError = InvalidParameterValue | StoreCorrupt | StoreInUse | StoreError;

/** Errors of reading a node's snapshot. */
export type SnapshotError = NodeNotFound | InvalidIdentity | StoreError | TransportError;

/** Options of `onIdle`. */
export interface OnIdleOptions {
  /** Stop waiting (the Result is then Err(Aborted)); the workers go on. */
  signal?: AbortSignal;
}

/** Options of `stop`. */
export interface StopOptions {
  /** Abort the graceful wait: running workers are cancelled at once, the rest of the stop goes on. */
  signal?: AbortSignal;
}

/**
 * What the actor subpath and the tests reach behind a conductor. Never exported from the package.
 * @internal
 */
export interface ConductorInternals {
  readonly store: Store;
  readonly runtime: ActorRuntime;
  readonly ref: ActorRef<ConductorMessage>;
  /** Parent of actors spawned through the actor subpath. */
  readonly userRoot: AnyActorRef;
  readonly bus: NotificationBus;
  readonly drivers: DriverRegistry;
  readonly logger: Logger;
  readonly registry: NodeRegistry;
}

const INTERNALS = new WeakMap<Conductor, ConductorInternals>();
let createConductor: (init: ConductorInit, seams: ConductorSeams) => Promise<Result<Conductor, OpenError>>;

/**
 * The internals of a conductor (the actor subpath and tests only).
 * @internal
 */
export function conductorInternals(conductor: Conductor): ConductorInternals {
  const internals = INTERNALS.get(conductor);
  if (internals === undefined) throw new TypeError('not a Conductor');
  return internals;
}

/** The conductor. Create with `Conductor.open()`; stop with `stop()`. */
export class Conductor {
  /** The resolved configuration (frozen). */
  readonly config: ConductorConfig;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #runtime: ActorRuntime;
  readonly #ref: ActorRef<ConductorMessage>;
  readonly #registry: NodeRegistry;
  readonly #ports: TaskPorts;
  readonly #workers: WorkerSupervisor;
  readonly #bus: NotificationBus;
  readonly #ownsStore: boolean;
  readonly #leases = new Map<string, Task>();
  readonly #clock: Clock;
  readonly #components: RestartSupervisor;
  #recovery: RecoveryReport | null = null;
  /** When our store session last reconnected (shared store); -Infinity: never. */
  #resyncedAt = Number.NEGATIVE_INFINITY;
  #unsubscribeResync: (() => void) | null = null;
  /**
   * On a shared store: the live conductors (lower case) and their hash rings (one per conductor
   * group, and one over all of them for nodes of a group with no live conductor). Null: every
   * node is ours (the embedded store).
   */
  #membership: { readonly live: ReadonlySet<string>; readonly rings: ReadonlyMap<string, HashRing>; readonly all: HashRing } | null = null;
  #takeover: TakeoverReport | null = null;
  #stopping: ResultAsync<void, StoreError> | null = null;
  readonly #stopSignal = new AbortController();
  #statusServer: StatusServer | null = null;
  readonly #metrics: ConductorMetrics;
  /** The registry was the caller's (`metrics.registry`): our metrics leave it at stop. */
  readonly #registryGiven: boolean;

  private constructor(parts: {
    config: ConductorConfig;
    store: Store;
    ownsStore: boolean;
    drivers: DriverRegistry;
    logger: Logger;
    clock: Clock;
    seams: ConductorSeams;
    metrics: ConductorMetrics;
    registryGiven: boolean;
  }) {
    this.config = parts.config;
    const metrics = parts.metrics;
    this.#metrics = metrics;
    this.#registryGiven = parts.registryGiven;
    // Guarded: a store that throws or rejects answers StoreError (the node registry guards its own calls too).
    this.#store = guardStore(parts.store);
    this.#ownsStore = parts.ownsStore;
    // Whatever logger the caller passed, error values are serialised without ever throwing.
    this.#logger = parts.logger.child({ host: parts.config.host }, { serializers: SAFE_SERIALIZERS });
    this.#runtime = new ActorRuntime('metal-conductor', this.#logger);
    this.#ref = this.#runtime.spawn<null, ConductorMessage>(null, 'conductor', {
      initialState: () => null,
      handle: (state, message, ctx) => {
        this.#serve(message, ctx);
        return state;
      },
    });
    const silentParent = { initialState: () => null, handle: (state: null) => state };
    const nodes = this.#runtime.spawn<null, never>(this.#ref, 'nodes', silentParent);
    const userRoot = this.#runtime.spawn<null, never>(this.#ref, 'user', silentParent);
    const clock = parts.clock;
    this.#clock = clock;
    this.#workers = new WorkerSupervisor(this.#runtime, this.#ref, this.#logger, clock, {
      poolSize: parts.config.workersPoolSize,
      reservedPercentage: parts.config.reservedWorkersPoolPercentage,
      timeoutMs: parts.config.workerTimeout,
    });
    this.#bus = new NotificationBus(parts.config.notificationLevel, this.#logger);
    this.#components = new RestartSupervisor({
      runtime: this.#runtime,
      parent: this.#ref,
      logger: this.#logger,
      clock,
      // Past its restart intensity a component is marked failed (status) and the rest go on.
      onEscalate: (component, error) =>
        this.#logger.error({ component, err: error }, 'component failed permanently; the conductor keeps serving'),
    });
    const drivers = parts.drivers;
    const spawner = parts.seams.spawner ?? this.#workers.spawn;
    this.#registry = new NodeRegistry({
      runtime: this.#runtime,
      parent: nodes,
      store: parts.store,
      config: parts.config,
      logger: this.#logger,
      clock,
      lockHeld: (seconds) => metrics.held(seconds),
    });
    metrics.bind({
      actors: () => this.#registry.lockFigures(),
      workers: () => {
        const pool = this.#workers.pool();
        const stats = this.#workers.stats;
        return {
          inUse: pool.inUse,
          capacity: pool.capacity,
          refused: pool.rejected,
          completed: stats.completed,
          failed: stats.failed,
          timedOut: stats.timedOut,
          cancelled: stats.cancelled,
        };
      },
      notifications: () => this.#bus.stats,
      deadLetters: () => this.#runtime.deadLetterCount,
      components: () => this.#components.status(),
    });
    // The task's environment: a plain record, built once.
    const bus = this.#bus;
    this.#ports = {
      locks: this.#registry,
      env: {
        config: parts.config,
        logger: this.#logger,
        buildDriver: parts.seams.buildDriver ?? ((node) => buildDriverForTask({ node }, drivers)),
        newFsm: parts.seams.newFsm ?? newProvisionFsm,
        transitionSaved: (event, state) => metrics.transition(event, state),
        // Shared acquires never wait for a lock: counted, not timed.
        acquireEnded: (shared, mayWait, error, seconds) =>
          metrics.acquired(
            shared ? 'shared' : 'exclusive',
            error === null ? 'granted' : acquireOutcome(error, shared ? false : mayWait),
            shared ? null : seconds,
          ),
        notifications: { emit: (notification) => bus.emit(notification), wants: (level) => bus.wants(level) },
        spawnWorker: (request) => (this.#stopping ? err(new ConductorStopping()) : spawner(request)),
      },
    };
    INTERNALS.set(this, {
      store: parts.store,
      runtime: this.#runtime,
      ref: this.#ref,
      userRoot,
      bus: this.#bus,
      drivers,
      logger: this.#logger,
      registry: this.#registry,
    });
  }

  /**
   * Open a conductor: check the options (unknown ones are refused), open the store, start the
   * actors, register the host, run start-up recovery and start the periodic checks.
   */
  static open(init: ConductorInit = {}): ResultAsync<Conductor, OpenError> {
    const checked = checkInit(init);
    if (checked.isErr()) return errAsync(checked.error);
    return openConductor(checked.value, {});
  }

  static {
    // Module-private: `openConductor` (seams for tests) is not reachable from the class.
    createConductor = (init, seams) => Conductor.#create(init, seams);
  }

  static async #create(init: ConductorInit, seams: ConductorSeams): Promise<Result<Conductor, OpenError>> {
    const {
      store: storeInit,
      drivers: driversInit,
      logger: loggerInit,
      startupRecovery = true,
      periodicChecks = true,
      restartPolicy,
      clock,
      statusServer,
      metrics: metricsInit,
      ...options
    } = init;
    const serverOptions = statusServer === undefined ? null : checkStatusServerOptions(statusServer);
    if (serverOptions?.isErr()) return err(serverOptions.error);
    const config = resolveConfig(options);
    if (config.isErr()) return err(config.error);
    const policy = resolveRestartPolicy(restartPolicy);
    if (policy.isErr()) return err(policy.error);
    const logger = loggerInit ?? createLogger();
    const drivers = createDriverRegistry(driversInit ?? {});
    if (drivers.isErr()) return err(drivers.error);
    const registryGiven = metricsInit?.registry !== undefined;
    const registered = ConductorMetrics.register(
      // Either content type: prom-client's metric classes are typed for the Prometheus one but register on both.
      (metricsInit?.registry as Registry | undefined) ?? new Registry(),
    );
    if (registered.isErr()) return err(registered.error);
    const metrics = registered.value;
    // Listening comes first: a port in use fails the open before the store is opened or written.
    let server: StatusServer | null = null;
    if (serverOptions?.isOk()) {
      const listening = await StatusServer.listen(serverOptions.value, logger.child({ component: 'status-server' }));
      if (listening.isErr()) {
        if (registryGiven) metrics.unregister();
        return err(listening.error);
      }
      server = listening.value;
    }
    const opened = await Conductor.#openStore(config.value, storeInit, seams, logger, metrics);
    if (opened.isErr()) {
      await server?.close();
      if (registryGiven) metrics.unregister();
      return err(opened.error);
    }
    const { store, ownsStore } = opened.value;
    const conductor = new Conductor({
      config: config.value,
      store,
      ownsStore,
      drivers: drivers.value,
      logger,
      clock: clock ?? systemClock,
      seams,
      metrics,
      registryGiven,
    });
    if (server !== null) await conductor.#serveStatus(server, store);
    await conductor.#refreshMembership();
    if (startupRecovery) await conductor.#recover();
    conductor.#startHeartbeat(policy.value);
    conductor.#startLivenessCheck(policy.value);
    if (periodicChecks) conductor.#startPeriodicChecks(policy.value);
    conductor.#logger.info({ store: store.description }, 'conductor started');
    return ok(conductor);
  }

  /** Open the store (or take the seam's), and register this conductor's host in it; on failure nothing stays open. */
  static async #openStore(
    config: ConductorConfig,
    storeInit: ConductorInit['store'],
    seams: ConductorSeams,
    logger: Logger,
    metrics: ConductorMetrics,
  ): Promise<Result<{ store: Store; ownsStore: boolean }, OpenError>> {
    let store: Store;
    let ownsStore = false;
    if (seams.store !== undefined) {
      store = seams.store;
    } else if (storeInit?.postgres !== undefined) {
      // Loaded only when asked for: the embedded default never loads the PostgreSQL client.
      const { openPostgresStore } = await import('../src/store/pg-store.js');
      const opened = await openPostgresStore({ logger, ...storeInit.postgres, timings: metrics.storeTimings });
      if (opened.isErr()) return err(opened.error);
      store = opened.value;
      ownsStore = true;
    } else {
      const opened = await openSqlJsStore({ logger, ...(storeInit ?? {}), ...(seams.storeHooks ?? {}), timings: metrics.storeTimings });
      if (opened.isErr()) return err(opened.error);
      store = opened.value;
      ownsStore = true;
    }
    // On a shared store the host is claimed for this process's lifetime: two live conductors never share a host.
    const claimed = (await store.coordination?.claimHost(config.host, config.conductorGroup)) ?? ok(undefined);
    const registered = claimed.isErr() ? claimed : await store.registerConductor(config.host, config.conductorGroup);
    if (registered.isErr()) {
      if (ownsStore) {
        const closed = await store.close();
        if (closed.isErr()) logger.error({ err: closed.error }, 'closing the store after a failed open failed');
      }
      return err(registered.error);
    }
    return ok({ store, ownsStore });
  }

  /** Answer the status server's routes from this conductor, and advertise its URL through the store (the sql.js file store's lock file; a failure is logged). */
  async #serveStatus(server: StatusServer, store: Store): Promise<void> {
    const registry = this.#metrics.registry;
    server.serveFrom({
      status: () => this.status(),
      metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
      listNodes: async (states) => await this.listNodes(states === null ? {} : { provisionState: states as ProvisionState[] }),
    });
    this.#statusServer = server;
    const url = server.url;
    this.#logger.info({ url }, 'status server listening');
    const advertised = (await store.advertise?.({ statusUrl: url })) ?? ok(undefined);
    if (advertised.isErr()) this.#logger.warn({ err: advertised.error, url }, 'advertising the status server in the store failed');
  }

  /** The status server's base URL, e.g. `http://127.0.0.1:41234`; null when it is off (the default) or stopped. */
  get statusServerUrl(): string | null {
    return this.#statusServer?.url ?? null;
  }

  /** The prom-client registry holding this conductor's metrics (its own unless `metrics.registry` was given). */
  get metricsRegistry(): Registry<RegistryContentType> {
    return this.#metrics.registry;
  }

  #periodicPort(): ReturnType<typeof periodicPort> {
    return periodicPort(
      {
        store: this.#store,
        config: this.config,
        logger: this.#logger,
        withTask: this.withTask.bind(this),
        releaseOrphan: (nodeId, tag) => this.#registry.releaseOrphan(nodeId, tag),
        owns: (node) => this.#owns(node),
      },
      this.#clock,
    );
  }

  /** Whether this conductor does a node's periodic work and takeover: its owner on the hash ring (always, on the embedded store). */
  #owns(node: NodeRecord): boolean {
    const membership = this.#membership;
    if (membership === null) return true;
    const ring = membership.rings.get(node.conductor_group) ?? membership.all;
    return ring.owns(this.config.host, node.uuid);
  }

  /**
   * On a shared store: read which conductors are alive (their session lock is held; a half-open
   * session past the heartbeat timeout is cut by the store) and rebuild the rings. Returns the
   * live hosts (lower case), or null on the embedded store or when the store cannot answer.
   */
  async #refreshMembership(): Promise<ReadonlySet<string> | null> {
    const coordination = this.#store.coordination;
    if (coordination === undefined) return null;
    const live = await coordination.liveHosts(this.config.heartbeatTimeout);
    if (live.isErr()) {
      this.#logger.warn({ err: live.error }, 'reading the live conductors failed; keeping the previous membership');
      return null;
    }
    const selfLive = live.value.some((m) => m.host.toLowerCase() === this.config.host.toLowerCase());
    // Our own claim missing: our session is reconnecting (the server restarted?); nobody is judged now.
    if (!selfLive) return null;
    const members = live.value;
    const liveSet = new Set(members.map((m) => m.host.toLowerCase()));
    const previous = this.#membership;
    const changed = previous === null || previous.live.size !== liveSet.size || [...liveSet].some((h) => !previous.live.has(h));
    if (changed) {
      const byHost = members.map((m) => ({ host: m.host, group: m.group }));
      this.#membership = { live: liveSet, rings: ringsByGroup(byHost), all: new HashRing(byHost.map((m) => m.host)) };
      this.#logger.info({ conductors: byHost.map((m) => m.host) }, 'conductor membership changed; hash ring rebuilt');
    }
    return liveSet;
  }

  /**
   * The live hosts, when it is safe to take the others for dead; else null: our own claim is
   * missing, or came back less than RESYNC_GRACE_MS ago (a server restart frees every claim and
   * the others take theirs back within their reconnect backoff). Both takeover paths use it.
   */
  async #liveHostsToJudge(): Promise<ReadonlySet<string> | null> {
    const live = await this.#refreshMembership();
    return live === null || this.#clock.now() - this.#resyncedAt < RESYNC_GRACE_MS ? null : live;
  }

  /**
   * On a shared store, every `livenessCheckInterval`: a conductor whose session lock is gone (the
   * server frees it when the process or its connection dies) is dead at once; its nodes are taken
   * over by their owners on the new ring, and once none is left reserved by it, it is marked offline.
   */
  #startLivenessCheck(policy: ResolvedRestartPolicy): void {
    const coordination = this.#store.coordination;
    if (coordination === undefined) return;
    // A server restart frees every conductor's claim at once; each session takes its own back within
    // its reconnect backoff. Until then a missing claim does not mean a dead conductor.
    this.#unsubscribeResync = coordination.onResync(() => {
      this.#resyncedAt = this.#clock.now();
    });
    this.#components.start(
      this.#periodic('check-dead-conductors', this.config.livenessCheckInterval, async () => {
        const live = await this.#liveHostsToJudge();
        if (live === null) return 0;
        const rows = await this.#store.listConductors();
        if (rows.isErr()) throw rows.error;
        const self = this.config.host.toLowerCase();
        const dead = rows.value.filter((row) => row.online && row.hostname.toLowerCase() !== self && !live.has(row.hostname.toLowerCase()));
        if (dead.length === 0) return 0;
        // A conductor killed between a commit and its announcement: what we cache may be behind.
        this.#registry.resync();
        const touched = await this.#takeOverOrphans({ liveHosts: live, onlyHosts: dead.map((row) => row.hostname) });
        for (const row of dead) {
          const left = await this.#store.listNodes({ reservedBy: row.hostname });
          if (left.isOk() && left.value.length === 0) {
            const marked = await coordination.markOffline(row.hostname);
            if (marked.isErr())
              this.#logger.warn({ err: marked.error, dead_host: row.hostname }, 'marking a dead conductor offline failed');
          }
        }
        return touched;
      }),
      policy,
    );
  }

  /** A periodic component whose runs (and the nodes each acted on, as `tick` returns) are counted in the metrics. */
  #periodic(name: string, intervalMs: number, tick: () => Promise<number>): ReturnType<typeof periodicComponent> {
    const metrics = this.#metrics;
    return periodicComponent(name, intervalMs, async () => {
      let touched: number;
      try {
        touched = await tick();
      } catch (error) {
        metrics.periodicRun(name, 'error', 0);
        throw error;
      }
      metrics.periodicRun(name, 'ok', touched);
    });
  }

  /**
   * Ironic's start-up recovery, after the orphan check: what dead conductors held is released (and
   * what they left mid-way failed) first, then this host's leftovers and every stuck node (Ironic
   * stops at periodic_max_workers; we fail them all).
   */
  async #recover(): Promise<void> {
    void (await this.#takeOverOrphans());
    this.#recovery = await recoverOnStartup(this.#periodicPort(), { maxNodesPerState: Number.POSITIVE_INFINITY });
    this.#logger.info({ recovery: this.#recovery }, 'start-up recovery done');
  }

  /**
   * Ironic's `_check_orphan_nodes`; on an embedded store this conductor owns, every other host is
   * dead; on a shared store, every host whose session lock is not held.
   */
  async #takeOverOrphans(only: { liveHosts: ReadonlySet<string>; onlyHosts: readonly string[] } | null = null): Promise<number> {
    const shared = this.#store.coordination !== undefined;
    let liveHosts = only?.liveHosts;
    if (shared && liveHosts === undefined) {
      const live = await this.#liveHostsToJudge();
      if (live === null) return 0;
      liveHosts = live;
    }
    this.#takeover = await takeOverOrphans(this.#periodicPort(), {
      exclusiveStore: this.#ownsStore && !shared,
      ...(liveHosts === undefined ? {} : { liveHosts }),
      ...(only === null ? {} : { onlyHosts: only.onlyHosts }),
    });
    const { deadHosts, reservationsCleared, failed } = this.#takeover;
    if (reservationsCleared.length > 0 || failed.length > 0) {
      this.#logger.warn({ deadHosts, reservationsCleared, failed }, 'took over the nodes of dead conductors');
    }
    if (shared && only === null) await this.#clearStrayReservations();
    // The nodes it acted on (the metrics' periodic_nodes_total).
    return new Set([...reservationsCleared, ...this.#takeover.targetPowerStateCleared, ...failed]).size;
  }

  /**
   * On a shared store: rows reserved under our host that nobody here holds — a reserve whose answer
   * was lost (a timeout after the commit), a hand-over whose announcement was lost — are released
   * through their node's actor, which refuses if it holds or is handing the node on.
   */
  async #clearStrayReservations(): Promise<void> {
    const mine = await this.#store.listNodes({ reservedBy: this.config.host });
    if (mine.isErr()) {
      this.#logger.warn({ err: mine.error }, 'listing the reservations of this conductor failed');
      return;
    }
    for (const node of mine.value) {
      // The node's actor refuses (NodeLocked) when a request here holds it or it is being handed on.
      const released = await this.#registry.releaseOrphan(node.id, node.reservation ?? this.config.host);
      if (released.isOk()) {
        this.#logger.warn({ node: node.uuid }, `cleared a reservation of this conductor on node ${node.uuid} that nobody here held`);
      }
    }
  }

  /** Record in the `conductors` table, every heartbeatInterval, that this conductor is alive (Ironic's keepalive). */
  #startHeartbeat(policy: ResolvedRestartPolicy): void {
    this.#components.start(
      this.#periodic('conductor-heartbeat', this.config.heartbeatInterval, async () => {
        const touched = await this.#store.touchConductor(this.config.host, true);
        // A failed heartbeat crashes the component: its restarts and backoff show in status().
        if (touched.isErr()) throw touched.error;
        return 0;
      }),
      policy,
    );
  }

  /** Run the orphan check and each enabled wait-timeout check as supervised periodic components. */
  #startPeriodicChecks(policy: ResolvedRestartPolicy): void {
    const port = this.#periodicPort();
    if (this.config.checkProvisionStateInterval > 0) {
      this.#components.start(
        this.#periodic('check-orphan-nodes', this.config.checkProvisionStateInterval, () => this.#takeOverOrphans()),
        policy,
      );
    }
    for (const check of WAIT_TIMEOUT_CHECKS) {
      if (!isCheckEnabled(check, this.config)) continue;
      this.#components.start(
        this.#periodic(`check-${check.name}-timeouts`, checkIntervalMs(check, this.config), async () => {
          const report = await runWaitTimeoutCheck(check, port);
          return report.failed.length;
        }),
        policy,
      );
    }
  }

  /**
   * Acquire a task on a node (Ironic `task_manager.acquire`). Shared with `{ shared: true }`: never
   * waits and takes no reservation. Exclusive otherwise: waits in FIFO order within the budget.
   */
  acquire(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions & { shared: true }): ResultAsync<SharedTask, AcquireError>;
  acquire(
    context: RequestContext,
    nodeId: NodeIdentity,
    options?: AcquireOptions & { shared?: false },
  ): ResultAsync<ExclusiveTask, AcquireError>;
  acquire(context: RequestContext, nodeId: NodeIdentity, options?: AcquireOptions): ResultAsync<Task, AcquireError>;
  acquire(context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions = {}): ResultAsync<Task, AcquireError> {
    if (this.#stopping) return errAsync(new ConductorStopping());
    return acquireTask(this.#ports, context, nodeId, options);
  }

  /**
   * Acquire, run `body`, and leave the scope as Ironic's `with` block. The body may return a plain
   * value, a Result or a promise of either. On success the lock is handed to the background work
   * scheduled with spawnAfter/processEvent({callback}), else released; the Ok is the body's value.
   * A returned Err or a thrown ConductorError releases without spawning and is the Err (never
   * nested); any other throw is a bug: released, then rethrown.
   */
  withTask<R>(
    context: RequestContext,
    nodeId: NodeIdentity,
    options: AcquireOptions & { shared: true },
    body: (task: SharedTask) => R,
  ): ResultAsync<BodyValue<R>, ScopeError | BodyError<R>>;
  withTask<R>(
    context: RequestContext,
    nodeId: NodeIdentity,
    options: (AcquireOptions & { shared?: false }) | undefined,
    body: (task: ExclusiveTask) => R,
  ): ResultAsync<BodyValue<R>, ScopeError | BodyError<R>>;
  withTask<R>(
    context: RequestContext,
    nodeId: NodeIdentity,
    options: AcquireOptions | undefined,
    body: (task: never) => R,
  ): ResultAsync<BodyValue<R>, ScopeError | BodyError<R>> {
    return runScoped(this.acquire(context, nodeId, options ?? {}), body as (task: Task) => R, this.#logger);
  }

  /** The latest committed snapshot of a node (never waits for a lock). */
  snapshot(nodeId: NodeIdentity): ResultAsync<NodeRecord, SnapshotError> {
    return this.#registry.getNode(nodeId);
  }

  /**
   * The nodes matching `filter` (all given fields must match), ordered by id, as frozen snapshots.
   * A bad filter is InvalidParameterValue naming the field.
   */
  listNodes(filter: NodeFilter = {}): ResultAsync<readonly NodeRecord[], InvalidParameterValue | StoreError> {
    const checked = checkNodeFilter(filter);
    if (checked.isErr()) return errAsync(checked.error);
    return this.#registry.listNodes(checked.value);
  }

  /**
   * Enroll a node (provision state `enroll` unless given) with ports (MAC addresses), in one
   * atomic write: a bad or duplicate address creates nothing. The hardware type must be enabled
   * (DriverNotFound otherwise), as Ironic's API checks.
   */
  enroll(fields: NewNode, ports: readonly string[] = []): ResultAsync<NodeRecord, AnyConductorError> {
    if (this.#stopping) return errAsync(new ConductorStopping());
    if (typeof fields !== 'object' || fields === null)
      return errAsync(new InvalidParameterValue('node fields must be an object', { field: null }));
    const hardware = conductorInternals(this).drivers.getHardwareType(fields.driver);
    if (hardware.isErr()) return errAsync(hardware.error);
    if (fields.provision_state !== undefined && !PROVISION_STATES.includes(fields.provision_state)) {
      return errAsync(
        new InvalidParameterValue(`provision_state ${String(fields.provision_state)} is not a state of the machine`, {
          field: 'provision_state',
        }),
      );
    }
    if (!Array.isArray(ports)) return errAsync(new InvalidParameterValue('ports must be an array of MAC addresses', { field: 'ports' }));
    const addresses = Result.combine(ports.map((address: unknown) => normalizeMac(address)));
    if (addresses.isErr()) return errAsync(addresses.error);
    // A node nobody knows yet has no actor to write through: node and ports are one store write.
    return this.#registry.createNode(
      fields,
      addresses.value.map((address) => ({ address })),
    );
  }

  /** Subscribe to provision_set notifications; returns an unsubscribe function. */
  subscribe(subscriber: NotificationSubscriber): () => void {
    return this.#bus.subscribe(subscriber);
  }

  /**
   * Resolve when no background worker is running (at once if none). With a `signal`, a Result:
   * Err(Aborted) if it aborts first (the workers go on).
   */
  onIdle(options: OnIdleOptions & { signal: AbortSignal }): ResultAsync<void, Aborted>;
  onIdle(options?: { signal?: undefined }): Promise<void>;
  onIdle(options?: OnIdleOptions): ResultAsync<void, Aborted> | Promise<void>;
  onIdle(options: OnIdleOptions | null = {}): ResultAsync<void, Aborted> | Promise<void> {
    const signal = options?.signal;
    if (signal === undefined) return this.#workers.onIdle();
    assertSignal('onIdle', signal);
    if (signal.aborted) return errAsync(new Aborted('onIdle', signal.reason));
    const idle = this.#workers.onIdle().then(() => ok<void, Aborted>(undefined));
    return new ResultAsync(
      new Promise<Result<void, Aborted>>((resolve) => {
        const onAbort = (): void => resolve(err(new Aborted('onIdle', signal.reason)));
        signal.addEventListener('abort', onAbort, { once: true });
        void idle.then((settled) => {
          signal.removeEventListener('abort', onAbort);
          resolve(settled);
        });
      }),
    );
  }

  #storeHealth(): StoreHealth {
    try {
      return this.#store.health;
    } catch (cause) {
      // A store of the user's whose health getter throws: status() still answers.
      return { state: 'failed', error: `the store's health cannot be read: ${describe(cause)}`, since: null, recoveries: 0 };
    }
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
        timedOut: workers.timedOut,
        cancelled: workers.cancelled,
      },
      components: this.#components.status(),
      recovery: this.#recovery,
      takeover: this.#takeover,
      cluster: this.#membership === null ? null : { group: this.config.conductorGroup, liveConductors: [...this.#membership.all.members] },
      store: this.#storeHealth(),
      leasesHeldByActors: this.#leases.size,
      deadLetters: this.#runtime.deadLetterCount,
      notifications: this.#bus.stats,
    };
  }

  /**
   * Stop: take no new work, let running workers finish up to `gracefulShutdownTimeout` (or until
   * `signal` aborts; then cancel them), release leases held by actors, stop every actor and timer,
   * clear this host's reservations, mark the host offline and close the store if the conductor
   * opened it. Idempotent (every call shares one stop). Err(StoreError) when closing the store
   * failed; everything else was still stopped.
   */
  stop(options: StopOptions | null = {}): ResultAsync<void, StoreError> {
    const signal = options?.signal;
    if (signal !== undefined) {
      assertSignal('stop', signal);
      if (signal.aborted) this.#stopSignal.abort(signal.reason);
      else signal.addEventListener('abort', () => this.#stopSignal.abort(signal.reason), { once: true });
    }
    this.#stopping ??= new ResultAsync(this.#stop());
    return this.#stopping;
  }

  async #stop(): Promise<Result<void, StoreError>> {
    this.#logger.info('conductor stopping');
    await this.#components.stop();
    this.#unsubscribeResync?.();
    await this.#workers.drain(this.config.gracefulShutdownTimeout, this.#stopSignal.signal);
    for (const [leaseId, task] of this.#leases) {
      this.#leases.delete(leaseId);
      const left = await taskInternals(task).exit(false);
      if (left.isErr()) this.#logger.warn({ err: left.error, lease: leaseId }, 'releasing a lease held by an actor failed');
    }
    this.#registry.close();
    await this.#runtime.shutdown();
    // Tasks still held by callers cannot release through stopped actors: clear what is ours.
    const cleared = await this.#store.clearReservations(this.config.host);
    if (cleared.isOk() && cleared.value.length > 0) {
      this.#logger.warn({ nodes: cleared.value }, 'cleared reservations still held at stop');
    }
    let result: Result<void, StoreError> = ok(undefined);
    if (cleared.isErr()) result = err(cleared.error);
    const offline = await this.#store.touchConductor(this.config.host, false);
    if (offline.isErr() && result.isOk()) result = err(offline.error);
    if (this.#statusServer !== null) {
      await this.#statusServer.close();
      this.#statusServer = null;
    }
    // A registry of the caller's may serve another conductor next; our own keeps the last figures.
    if (this.#registryGiven) this.#metrics.unregister();
    if (this.#ownsStore) {
      const closed = await this.#store.close();
      if (closed.isErr()) {
        this.#logger.error({ err: closed.error }, 'closing the store failed');
        result = err(closed.error);
      }
    }
    this.#logger.info('conductor stopped');
    return result;
  }

  /** `await using conductor = …`: stops; a failure to close the store is thrown (the throwing style). */
  async [Symbol.asyncDispose](): Promise<void> {
    const stopped = await this.stop();
    if (stopped.isErr()) throw stopped.error;
  }

  // ---- the root actor's protocol -----------------------------------------------------------

  #serve(received: ConductorMessage, ctx: ActorContext<ConductorMessage>): void {
    // Served from a checked plain copy: a hostile message cannot change under us or throw later.
    const parsed = parseProtocolMessage(received);
    if (parsed.isErr()) {
      ctx.fail(parsed.error);
      return;
    }
    const message = parsed.value;
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
        answer(this.#runExclusive(context(message.context), message, replier.abandoned));
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
          ),
        );
        return;
      }
    }
  }

  /**
   * A protocol `runExclusive`: the operation gets `abandoned`, aborted when the asker stops waiting;
   * then the lock wait stops, or the task is released at once, whatever the operation does later
   * (a lease must not outlive its asker; its writes after that fail, the task being released).
   */
  #runExclusive(context: RequestContext, message: RunExclusiveMessage, abandoned: AbortSignal): ResultAsync<unknown, AnyConductorError> {
    const purpose = message.purpose ?? 'actor operation';
    return this.withTask(context, message.nodeId, { purpose, signal: abandoned }, (task) => {
      const returned = message.operation(task, abandoned);
      if (returned !== null && returned !== undefined && returned === (taskInternals(task).scheduledSpawn?.done as unknown)) {
        // As withTask: awaiting it would wait forever, the work only starts once the task ends.
        throw new TypeError(
          "runExclusive: the operation returned its own scheduled work's `done`; return the SpawnHandle and await `done` after the reply",
        );
      }
      const running = Promise.resolve(returned);
      const gaveUp = new Promise<Result<never, Aborted>>((resolve) => {
        const onAbort = (): void => {
          running.then(
            () => this.#logger.info({ node: task.node.uuid, purpose }, 'runExclusive operation ended after its asker gave up'),
            (error: unknown) =>
              this.#logger.warn({ err: error, node: task.node.uuid, purpose }, 'runExclusive operation failed after its asker gave up'),
          );
          resolve(err(new Aborted(`runExclusive on node ${task.node.uuid}`, abandoned.reason)));
        };
        if (abandoned.aborted) onAbort();
        else abandoned.addEventListener('abort', onAbort, { once: true });
        void running.then(
          () => abandoned.removeEventListener('abort', onAbort),
          () => abandoned.removeEventListener('abort', onAbort),
        );
      });
      return Promise.race([running, gaveUp]);
    });
  }

  #releaseLease(leaseId: string): ResultAsync<{ released: true }, AnyConductorError> {
    const task = this.#leases.get(leaseId);
    if (!task) return errAsync(new LeaseNotFound(leaseId));
    this.#leases.delete(leaseId);
    return new ResultAsync(taskInternals(task).exit(false)).map(() => ({ released: true as const }));
  }
}

/** A signal that is not an AbortSignal is a caller bug (the types forbid it). */
function assertSignal(operation: string, signal: unknown): asserts signal is AbortSignal {
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${operation}: signal must be an AbortSignal`);
}

/**
 * Open a conductor with seams (tests, internal embedding). The options are not checked for
 * unknown names here: `Conductor.open` does that.
 * @internal
 */
export function openConductor(init: ConductorInit = {}, seams: ConductorSeams = {}): ResultAsync<Conductor, OpenError> {
  return new ResultAsync(createConductor(init, seams));
}
