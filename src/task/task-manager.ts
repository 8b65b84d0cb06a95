/**
 * TaskManager: Ironic's conductor TaskManager (reference §1) on top of a node actor. One class
 * serves both task kinds; the public types (SharedTask / ExclusiveTask) decide what callers see.
 */
import type { Draft } from 'immer';
import { err, errAsync, ok, okAsync, type Result, ResultAsync } from 'neverthrow';
import type { RequestContext } from '../context.js';
import type { BareDriver } from '../drivers/build-driver.js';
import {
  describe,
  type DriverError,
  ExclusiveLockRequired,
  InvalidParameterValue,
  type InvalidState,
  NodeNotFound,
  type StoreError,
  TaskReleased,
  WorkNotStarted,
} from '../errors.js';
import type { FSM } from '../fsm/fsm.js';
import { bindRequest, type Logger } from '../logging.js';
import {
  INTERFACE_TYPES,
  type InterfaceColumn,
  type InterfaceType,
  type NodeIdentity,
  type NodeRecord,
  type Port,
  type Portgroup,
  type VolumeConnector,
  type VolumeTarget,
} from '../node.js';
import type { ProvisionSetNotification } from '../notifications/notification.js';
import { provisionSetPayload } from '../notifications/notification.js';
import { provisionSetStatus } from '../notifications/provision-status.js';
import type { ProvisionEvent, ProvisionState } from '../states/provision-states.js';
import type { NewPort, NewPortgroup } from '../store/store.js';
import { normalizeMac } from '../mac-address.js';
import type {
  Lease,
  LockError,
  SpawnOptions,
  SpawnRefused,
  NodeLocks,
  TaskEnvironment,
  TaskPorts,
  UnlockError,
  UpdateError,
  WorkerFuture,
  WorkerOutcome,
} from './ports.js';
import { TASK_BRAND } from './require-exclusive.js';
import { PendingSpawn, refusedSpawn, spawnResult } from './spawn-handle.js';
import type {
  AcquireError,
  AcquireOptions,
  ExclusiveTask,
  ProcessEventError,
  ProcessEventOptions,
  SharedTask,
  SpawnErrorHook,
  SpawnHandle,
  Task,
  TaskStateMachine,
  UpgradeOptions,
  WorkFunction,
} from './types.js';

const DEFAULT_PURPOSE = 'unspecified action';
const INTERFACE_COLUMNS: readonly InterfaceColumn[] = INTERFACE_TYPES.map((type) => `${type}_interface` as const);
const NEVER_ABORTED = new AbortController().signal;

type Hook = { fn: (...args: unknown[]) => unknown; args: unknown[]; name: string };
type Scheduled = Hook & { options?: SpawnOptions; handle: PendingSpawn };

/** Errors of leaving a task's scope: releasing the lock, or the pool refusing the scheduled work. */
export type ExitError = UnlockError | SpawnRefused;

/** The task implementation. Use `acquireTask` (or the conductor) to create one. */
export class TaskManager {
  readonly [TASK_BRAND] = true;
  readonly context: RequestContext;
  readonly nodeId: NodeIdentity;
  readonly #locks: NodeLocks;
  readonly #env: TaskEnvironment;
  #shared: boolean;
  #purpose: string;
  #retry: boolean;
  readonly #patient: boolean;
  #node: NodeRecord | null = null;
  #lease: Lease | null = null;
  #driver: BareDriver | null = null;
  /** The stored node the driver was built from; its unset interface fields are computed on the first write. */
  #builtFrom: NodeRecord | null = null;
  #unset: ReadonlySet<InterfaceColumn> | null = null;

  /** Interface fields the stored node leaves unset (filled with defaults, never saved). */
  get #unsetInterfaces(): ReadonlySet<InterfaceColumn> {
    this.#unset ??= this.#builtFrom === null ? new Set() : unsetInterfaces(this.#builtFrom);
    return this.#unset;
  }
  #fsm: FSM<ProvisionState, ProvisionEvent> | null;
  #ports: readonly Port[] | null = null;
  #portgroups: readonly Portgroup[] | null = null;
  #volumeConnectors: readonly VolumeConnector[] | null = null;
  #volumeTargets: readonly VolumeTarget[] | null = null;
  #spawn: Scheduled | null = null;
  /** The spawn handed to a background worker when the scope ended. */
  #running: Scheduled | null = null;
  /** Set when the scope ends: nothing more can be scheduled (no second scope exit will spawn it). */
  #scopeEnded = false;
  /** While processEvent schedules its callback: spawns it replaced, told only once the transition is saved. */
  #heldReplaced: Scheduled[] | null = null;
  #onError: Hook | null = null;
  #prevProvisionState: ProvisionState | null = null;
  #prevTargetProvisionState: ProvisionState | null = null;
  #event: ProvisionEvent | null = null;
  #savedNode: NodeRecord | null = null;
  #releasing: Promise<Result<void, UnlockError>> | null = null;
  #workerSignal: AbortSignal = NEVER_ABORTED;
  #timerStart = performance.now();
  /** Bindings of this task's child logger; the child is created on first use (most tasks log nothing). */
  #logBindings: Record<string, unknown> = {};
  #logger: Logger | null = null;

  get #log(): Logger {
    this.#logger ??= bindRequest(this.#env.logger, this.context, this.#logBindings);
    return this.#logger;
  }

  /** The task's logger (request and node bindings), for Ironic's helpers that log on a task. */
  get logger(): Logger {
    return this.#log;
  }

  /** Debug lines are built only when they will be written (they are on every acquire and release). */
  get #debug(): boolean {
    return this.#env.logger.isLevelEnabled('debug');
  }

  private constructor(ports: TaskPorts, context: RequestContext, nodeId: NodeIdentity, options: AcquireOptions) {
    this.#locks = ports.locks;
    this.#env = ports.env;
    this.context = context;
    this.nodeId = nodeId;
    this.#shared = options.shared ?? false;
    this.#purpose = options.purpose ?? DEFAULT_PURPOSE;
    this.#retry = options.retry ?? true;
    this.#patient = options.patient ?? false;
    this.#fsm = ports.env.newFsm();
  }

  /**
   * Acquire a task (Ironic `TaskManager.__init__`): get the node, take the lock (exclusive), build
   * the driver. On any failure after the lock was taken, the lock is released before returning.
   */
  static acquire(
    ports: TaskPorts,
    context: RequestContext,
    nodeId: NodeIdentity,
    options: AcquireOptions = {},
  ): ResultAsync<TaskManager, AcquireError> {
    // Both may come from untyped callers; a bad one must not reach the node's lock.
    const invalid = invalidAcquire(context, options);
    if (invalid !== null) return errAsync(invalid);
    const task = new TaskManager(ports, context, nodeId, options ?? {});
    const ended = ports.env.acquireEnded;
    if (ended === undefined) return new ResultAsync(task.#init(options ?? {}));
    const started = performance.now();
    const init = task.#init(options ?? {});
    // Told on a side branch: the caller's chain gets no extra step.
    void init.then((result) =>
      ended(task.#shared, task.#retry || task.#patient, result.isOk() ? null : result.error, (performance.now() - started) / 1000),
    );
    return new ResultAsync(init);
  }

  async #init(options: AcquireOptions): Promise<Result<TaskManager, AcquireError>> {
    // A loaded node is read synchronously (no promise hop): shared tasks are then one microtask.
    const cached = this.#locks.cachedNode(this.nodeId);
    const got = cached !== null ? ok(cached) : await this.#locks.getNode(this.nodeId);
    if (got.isErr()) return err(got.error);
    const node = got.value;
    this.#logBindings = { node: node.uuid, purpose: this.#purpose };
    if (this.#debug)
      this.#log.debug(`Attempting to get ${this.#shared ? 'shared' : 'exclusive'} lock on node ${node.uuid} (for ${this.#purpose})`);
    if (!this.#shared) {
      const locked = await this.#lock(node.id, options.signal);
      if (locked.isErr()) return err(locked.error);
    } else {
      this.#timerStart = performance.now();
      const set = this.#setNode(node);
      if (set.isErr()) return err(set.error);
    }
    if (options.loadDriver ?? true) {
      const built = this.loadDriver();
      if (built.isErr()) {
        await this.#releaseAfterFailure('the driver could not be built');
        return err(built.error);
      }
    }
    return ok(this);
  }

  async #lock(nodeId: number, signal?: AbortSignal): Promise<Result<void, LockError | InvalidState>> {
    this.#timerStart = performance.now();
    const leased = await this.#locks.lock(nodeId, {
      purpose: this.#purpose,
      retry: this.#retry,
      patient: this.#patient,
      signal,
      context: this.context,
    });
    if (leased.isErr()) return err(leased.error);
    this.#lease = leased.value;
    const set = this.#setNode(leased.value.node);
    if (set.isErr()) {
      // The stored state is not one the machine knows: give the lock back before failing.
      const unlocked = await this.#locks.unlock(leased.value);
      if (unlocked.isErr()) this.#log.error({ err: unlocked.error }, 'releasing a node in an unknown state failed');
      this.#lease = null;
      return err(set.error);
    }
    if (this.#debug) {
      const took = (performance.now() - this.#timerStart) / 1000;
      this.#log.debug(`Node ${leased.value.node.uuid} successfully reserved for ${this.#purpose} (took ${took.toFixed(2)} seconds)`);
    }
    this.#timerStart = performance.now();
    return ok(undefined);
  }

  /** Assigning a node re-initialises the state machine from it (Ironic's `node` setter). */
  #setNode(node: NodeRecord): Result<void, InvalidState> {
    this.#node = node;
    if (this.#fsm === null) return ok(undefined);
    return this.#fsm.initialize(node.provision_state, node.target_provision_state);
  }

  /**
   * Keep the driver's (unsaved) interface defaults on a freshly committed snapshot. Fast path: the
   * hardware type and the set of unset interface fields are those the driver was built for, so
   * fill them from the names already resolved. Otherwise (the write changed the driver or reset an
   * interface) resolve the defaults again from the new node.
   */
  #adopt(node: NodeRecord): void {
    const driver = this.#driver;
    if (driver === null) {
      this.#node = node;
      return;
    }
    let filled: Record<string, string> | null = null;
    let unset = 0;
    let sameShape = node.driver === driver.hardwareType;
    for (let i = 0; sameShape && i < INTERFACE_TYPES.length; i++) {
      const column = INTERFACE_COLUMNS[i] as InterfaceColumn;
      if (node[column] !== null) continue;
      unset += 1;
      if (!this.#unsetInterfaces.has(column)) sameShape = false;
      else (filled ??= {})[column] = driver.interfaceNames[INTERFACE_TYPES[i] as InterfaceType];
    }
    if (sameShape && unset === this.#unsetInterfaces.size) {
      this.#node = filled === null ? node : Object.freeze({ ...node, ...filled });
      return;
    }
    const rebuilt = this.#env.buildDriver(node);
    this.#node = rebuilt.isOk() ? rebuilt.value.node : node;
    this.#builtFrom = node;
    this.#unset = null;
  }

  // ---- read-only surface ----------------------------------------------------------------

  get shared(): boolean {
    return this.#shared;
  }
  get purpose(): string {
    return this.#purpose;
  }
  get released(): boolean {
    return this.#node === null;
  }
  get node(): NodeRecord {
    if (this.#node === null) throw new TaskReleased(String(this.nodeId), 'read node');
    return this.#node;
  }
  get driver(): BareDriver | null {
    return this.#driver;
  }
  /** The state machine copy of this task (null after release). */
  get fsm(): TaskStateMachine | null {
    return this.#fsm;
  }
  get scheduledSpawn(): SpawnHandle | null {
    return this.#spawn?.handle ?? null;
  }
  get signal(): AbortSignal {
    return this.#workerSignal;
  }

  loadDriver(): Result<BareDriver, DriverError> {
    if (this.#driver !== null) return ok(this.#driver);
    const node = this.#alive('load driver');
    const built = this.#env.buildDriver(node);
    if (built.isErr()) return err(built.error);
    this.#driver = built.value.driver;
    this.#builtFrom = node;
    this.#unset = null;
    this.#node = built.value.node;
    return ok(built.value.driver);
  }

  ports(): ResultAsync<readonly Port[], StoreError> {
    return this.#lazy(
      'ports',
      () => this.#ports,
      (v) => (this.#ports = v),
      (id) => this.#locks.listPorts(id),
    );
  }
  portgroups(): ResultAsync<readonly Portgroup[], StoreError> {
    return this.#lazy(
      'portgroups',
      () => this.#portgroups,
      (v) => (this.#portgroups = v),
      (id) => this.#locks.listPortgroups(id),
    );
  }
  volumeConnectors(): ResultAsync<readonly VolumeConnector[], StoreError> {
    return this.#lazy(
      'volume connectors',
      () => this.#volumeConnectors,
      (v) => (this.#volumeConnectors = v),
      (id) => this.#locks.listVolumeConnectors(id),
    );
  }
  volumeTargets(): ResultAsync<readonly VolumeTarget[], StoreError> {
    return this.#lazy(
      'volume targets',
      () => this.#volumeTargets,
      (v) => (this.#volumeTargets = v),
      (id) => this.#locks.listVolumeTargets(id),
    );
  }

  /** A lazily loaded resource; a failing load releases the task (exactly once), as Ironic. */
  #lazy<T>(
    what: string,
    get: () => readonly T[] | null,
    set: (value: readonly T[]) => void,
    load: (nodeId: number) => ResultAsync<T[], StoreError>,
  ): ResultAsync<readonly T[], StoreError> {
    const cached = get();
    if (cached !== null) return okAsync(cached);
    const node = this.#alive(`load ${what}`);
    return new ResultAsync(
      (async () => {
        const loaded = await load(node.id);
        if (loaded.isErr()) {
          await this.#releaseAfterFailure(`loading ${what} failed`);
          return err(loaded.error);
        }
        const frozen = Object.freeze(loaded.value);
        set(frozen);
        return ok(frozen);
      })(),
    );
  }

  // ---- lock changes -----------------------------------------------------------------------

  upgradeLock(options: UpgradeOptions | null = {}): ResultAsync<ExclusiveTask, LockError | InvalidState> {
    options ??= {};
    const node = this.#alive('upgrade lock');
    if (options.purpose !== undefined) this.#setPurpose(options.purpose);
    if (options.retry !== undefined) this.#retry = options.retry;
    if (!this.#shared) {
      // Already exclusive: no second reservation; only the recorded purpose follows the change.
      if (options.purpose === undefined || this.#lease === null) return okAsync(this as unknown as ExclusiveTask);
      return this.#locks
        .relabel(this.#lease, options.purpose)
        .map((relabelled) => {
          this.#adopt(relabelled);
          return this as unknown as ExclusiveTask;
        })
        .orElse((error) => {
          this.#log.warn({ err: error }, 'could not record the new lock purpose');
          return okAsync(this as unknown as ExclusiveTask);
        });
    }
    return new ResultAsync(
      (async (): Promise<Result<ExclusiveTask, LockError | InvalidState>> => {
        const heldFor = (performance.now() - this.#timerStart) / 1000;
        this.#log.debug(
          `Upgrading shared lock on node ${node.uuid} for ${this.#purpose} to an exclusive one (shared lock was held ${heldFor.toFixed(2)} seconds)`,
        );
        const locked = await this.#lock(node.id, options.signal);
        if (locked.isErr()) return err(locked.error);
        if (this.#driver !== null) this.#adopt(this.#node as NodeRecord);
        this.#shared = false;
        return ok(this as unknown as ExclusiveTask);
      })(),
    );
  }

  downgradeLock(): ResultAsync<SharedTask, UnlockError | NodeNotFound> {
    if (this.#node === null) throw new TaskReleased(String(this.nodeId), 'downgrade an already released lock');
    if (this.#shared) return okAsync(this as unknown as SharedTask);
    const lease = this.#lease as Lease;
    return new ResultAsync(
      (async (): Promise<Result<SharedTask, UnlockError | NodeNotFound>> => {
        const unlocked = await this.#locks.unlock(lease);
        if (unlocked.isErr()) return err(unlocked.error);
        this.#lease = null;
        this.#shared = true;
        // Ironic refreshes the node in place and does not re-initialise the state machine.
        const fresh = this.#locks.latestSnapshot(lease.nodeId);
        if (fresh !== null) this.#adopt(fresh);
        if (this.#debug) this.#log.debug(`Successfully downgraded lock for ${this.#purpose} on node ${lease.node.uuid}`);
        return ok(this as unknown as SharedTask);
      })(),
    );
  }

  #setPurpose(purpose: string): void {
    this.#purpose = purpose;
    this.#logBindings = { ...this.#logBindings, purpose };
    this.#logger = null;
  }

  // ---- exclusive-only operations ------------------------------------------------------------

  updateNode(recipe: (draft: Draft<NodeRecord>) => void): ResultAsync<NodeRecord, UpdateError> {
    const lease = this.#exclusive('updateNode');
    if (lease.isErr()) return errAsync(lease.error);
    return this.#locks.update(lease.value, recipe).map((committed) => {
      this.#adopt(committed);
      return this.#node as NodeRecord;
    });
  }

  destroyNode(): ResultAsync<void, UpdateError> {
    const lease = this.#exclusive('destroyNode');
    if (lease.isErr()) return errAsync(lease.error);
    return this.#locks.destroy(lease.value);
  }

  createPort(fields: NewPort): ResultAsync<Port, UpdateError> {
    const lease = this.#exclusive('createPort');
    if (lease.isErr()) return errAsync(lease.error);
    const address = normalizeMac((fields as Partial<NewPort> | null)?.address);
    if (address.isErr()) return errAsync(address.error);
    return this.#locks.createPort(lease.value, { ...fields, address: address.value }).map((port) => {
      if (this.#ports !== null) this.#ports = Object.freeze([...this.#ports, port]);
      return port;
    });
  }

  createPortgroup(fields: NewPortgroup): ResultAsync<Portgroup, UpdateError> {
    const lease = this.#exclusive('createPortgroup');
    if (lease.isErr()) return errAsync(lease.error);
    return this.#locks.createPortgroup(lease.value, fields).map((portgroup) => {
      if (this.#portgroups !== null) this.#portgroups = Object.freeze([...this.#portgroups, portgroup]);
      return portgroup;
    });
  }

  spawnAfter<A extends unknown[]>(fn: WorkFunction<A>, ...args: A): SpawnHandle {
    return this.#schedule('spawnAfter', fn as Scheduled['fn'], args, undefined);
  }

  spawnAfterWith<A extends unknown[]>(options: SpawnOptions, fn: WorkFunction<A>, ...args: A): SpawnHandle {
    return this.#schedule('spawnAfterWith', fn as Scheduled['fn'], args, options);
  }

  /** Schedule the work for the end of the scope; a later call replaces it (Ironic's spawn_after). */
  #schedule(operation: string, fn: Scheduled['fn'], args: unknown[], options: SpawnOptions | undefined): SpawnHandle {
    if (typeof fn !== 'function') throw new TypeError(`${operation}: the work must be a function, got ${typeof fn}`);
    const name = fn.name || 'anonymous';
    const lease = this.#exclusive(operation);
    if (lease.isErr()) return refusedSpawn(name, lease.error);
    if (this.#scopeEnded) {
      this.#log.warn(`${operation} of ${name} ignored: the task's scope already ended (the work would never start).`);
      return refusedSpawn(name, new WorkNotStarted(name, lease.value.node.uuid, 'the task scope already ended'));
    }
    const next = scheduled(fn, args, name, options);
    if (this.#spawn !== null) {
      if (this.#heldReplaced !== null) this.#heldReplaced.push(this.#spawn);
      else this.#notStarted(this.#spawn, 'a later spawnAfter replaced it');
    }
    this.#spawn = next;
    return next.handle;
  }

  #notStarted(spawn: Scheduled, reason: string): void {
    const node = this.#node?.uuid ?? this.#savedNode?.uuid ?? String(this.nodeId);
    spawn.handle.settle(err(new WorkNotStarted(spawn.name, node, reason)));
  }

  setSpawnErrorHook<A extends unknown[]>(hook: SpawnErrorHook<A>, ...args: A): Result<void, ExclusiveLockRequired> {
    const lease = this.#exclusive('setSpawnErrorHook');
    if (lease.isErr()) return err(lease.error);
    this.#onError = { fn: hook as Hook['fn'], args, name: hook.name || 'anonymous' };
    return ok(undefined);
  }

  /**
   * Ironic `process_event`, same order of effects (reference §1.11): remember the previous states
   * and the event; advance the machine (InvalidState: nothing saved or spawned); with callback +
   * errHandler record the hook with the pre-transition states; set provision and target state;
   * with a callback clear/set last_error and schedule the spawn; save once; log; notify now
   * (no callback) or after a successful spawn (callback).
   */
  processEvent<A extends unknown[]>(
    event: ProvisionEvent,
    options: ProcessEventOptions<A> = {},
  ): ResultAsync<NodeRecord, ProcessEventError> {
    const exclusive = this.#exclusive('processEvent');
    if (exclusive.isErr()) return errAsync(exclusive.error);
    options ??= {};
    for (const name of ['callback', 'errHandler'] as const) {
      // A caller bug, refused before anything moves.
      if (options[name] !== undefined && typeof options[name] !== 'function')
        throw new TypeError(`processEvent: ${name} must be a function`);
    }
    const lease = exclusive.value;
    const node = this.#node as NodeRecord;
    const fsm = this.#fsm as FSM<ProvisionState, ProvisionEvent>;
    this.#prevProvisionState = node.provision_state;
    this.#prevTargetProvisionState = node.target_provision_state;
    this.#event = event;

    const advanced = fsm.processEvent(event, options.targetState);
    if (advanced.isErr()) {
      // Ironic leaves the machine moved when only the target was invalid; we put it back in step
      // with the (unsaved) node so the task stays usable.
      this.#resync(fsm, node);
      return errAsync(advanced.error);
    }

    const { callback, errHandler } = options;
    const previousHook = this.#onError;
    const previousSpawn = this.#spawn;
    if (errHandler && callback) {
      // Cannot fail: the lock was checked above.
      void this.setSpawnErrorHook(errHandler, this as unknown as ExclusiveTask, node.provision_state, node.target_provision_state);
    }
    const hookSet = this.#onError;
    const provisionState = fsm.currentState as ProvisionState;
    const stable = fsm.isStable(provisionState);
    const targetState = !callback && stable.isOk() && stable.value ? null : (fsm.targetState ?? null);
    let lastError: string | null | undefined;
    // As Ironic's process_event calls spawn_after. The work it replaces is told only once the
    // transition is saved (if saving fails, the previous spawn stays scheduled).
    let spawn: Scheduled | null = null;
    const replaced: Scheduled[] = [];
    if (callback) {
      lastError = options.lastError ?? null;
      const callArgs = (options.callArgs ?? []) as A;
      this.#heldReplaced = replaced;
      let handle: SpawnHandle;
      try {
        handle = options.spawnOptions
          ? this.spawnAfterWith(options.spawnOptions, callback, ...callArgs)
          : this.spawnAfter(callback, ...callArgs);
      } finally {
        this.#heldReplaced = null;
      }
      // Refused (the scope already ended): nothing was scheduled by this call.
      spawn = this.#spawn?.handle === handle ? this.#spawn : null;
    } else if (options.lastError !== undefined && options.lastError !== null) {
      lastError = options.lastError;
    }
    const saved = this.#locks.updateFields(
      lease,
      lastError !== undefined
        ? { provision_state: provisionState, target_provision_state: targetState, last_error: lastError }
        : { provision_state: provisionState, target_provision_state: targetState },
    );
    // One continuation for both outcomes (this is on every saved transition).
    return new ResultAsync(
      saved.then((result): Result<NodeRecord, ProcessEventError> => {
        if (result.isErr()) {
          // Not saved: undo what this call scheduled so a clean scope exit spawns nothing, and put
          // the machine back in step with the node.
          // Only what this call scheduled is undone: a spawnAfter made meanwhile stays scheduled
          // (and then what this call replaced stays replaced).
          if (spawn !== null && this.#spawn === spawn) {
            this.#notStarted(spawn, 'its transition was not saved');
            this.#spawn = previousSpawn;
          } else {
            for (const earlier of replaced) this.#notStarted(earlier, 'a later spawnAfter replaced it');
          }
          if (this.#onError === hookSet) this.#onError = previousHook;
          if (this.#node !== null) this.#resync(fsm, this.#node);
          return err(result.error);
        }
        const committed = result.value;
        for (const earlier of replaced) this.#notStarted(earlier, 'a later spawnAfter replaced it');
        this.#adopt(committed);
        this.#env.transitionSaved?.(event, provisionState);
        const failed = provisionState.endsWith('failed') || provisionState === 'error';
        if (failed || this.#env.logger.isLevelEnabled('info')) {
          const message =
            `Node ${committed.uuid} moved to provision state "${provisionState}" from state ` +
            `"${this.#prevProvisionState}"; target provision state is "${pythonText(targetState)}"`;
          if (failed) this.#log.error(message);
          else this.#log.info(message);
        }
        if (!callback) this.notifyProvisionStateChange();
        else this.#savedNode = this.#node;
        return ok(this.#node as NodeRecord);
      }) as Promise<Result<NodeRecord, ProcessEventError>>,
    );
  }

  resumeCleaning(): ResultAsync<NodeRecord, ProcessEventError> {
    const exclusive = this.#exclusive('resumeCleaning');
    if (exclusive.isErr()) return errAsync(exclusive.error);
    const node = this.#alive('resumeCleaning');
    const targetState: ProvisionState | undefined = node.target_provision_state === 'manageable' ? 'manageable' : undefined;
    return this.processEvent('resume', targetState === undefined ? {} : { targetState });
  }

  /**
   * Emit the provision_set notification of the last processed event, at most once (Ironic
   * `_notify_provision_state_change`). Uses the saved node when the task was already released.
   */
  notifyProvisionStateChange(): void {
    if (this.#event === null) return;
    const node = this.#node ?? this.#savedNode;
    const event = this.#event;
    this.#event = null;
    if (node === null) return;
    const { status, level } = provisionSetStatus(event, this.#prevProvisionState, node.provision_state);
    if (!this.#env.notifications.wants(level)) return;
    const notification: ProvisionSetNotification = {
      eventType: `baremetal.node.provision_set.${status}`,
      level,
      status,
      publisherId: `metal-conductor.${this.#env.config.host}`,
      timestamp: new Date().toISOString(),
      requestId: this.context.requestId,
      payload: provisionSetPayload(node, event, this.#prevProvisionState, this.#prevTargetProvisionState),
    };
    this.#env.notifications.emit(notification);
  }

  // ---- leaving the scope -----------------------------------------------------------------------

  release(): Promise<Result<void, UnlockError>> {
    this.#releasing ??= this.#releaseResources();
    return this.#releasing;
  }

  /** Ironic `release_resources`: release the reservation (NodeNotFound swallowed), then drop everything. */
  async #releaseResources(): Promise<Result<void, UnlockError>> {
    const node = this.#node;
    let result: Result<void, UnlockError> = ok(undefined);
    if (!this.#shared && node !== null && this.#lease !== null) {
      const unlocked = await this.#locks.unlock(this.#lease);
      if (unlocked.isErr() && !(unlocked.error instanceof NodeNotFound)) result = err(unlocked.error);
    }
    if (node !== null && this.#debug) {
      const held = (performance.now() - this.#timerStart) / 1000;
      this.#log.debug(
        { held_for_s: Number(held.toFixed(3)) },
        `Successfully released ${this.#shared ? 'shared' : 'exclusive'} lock for ${this.#purpose} on node ${node.uuid} (lock was held ${held.toFixed(2)} sec)`,
      );
    }
    this.#node = null;
    this.#lease = null;
    this.#driver = null;
    this.#ports = null;
    this.#portgroups = null;
    this.#volumeConnectors = null;
    this.#volumeTargets = null;
    this.#fsm = null;
    return result;
  }

  /**
   * Leave the task's scope (Ironic `__exit__`). If the body succeeded and a spawn is scheduled, hand
   * the lock to a background worker and emit the deferred notification. If the pool refuses the
   * work, run the spawn-error hook (its errors logged), release, and return the refusal. Otherwise
   * (body failed, nothing scheduled) release; a scheduled spawn that will never run is told so.
   */
  async exit(bodyFailed: boolean): Promise<Result<void, ExitError>> {
    this.#scopeEnded = true;
    const spawn = this.#spawn;
    this.#spawn = null;
    if (spawn !== null && (bodyFailed || this.#node === null)) {
      if (!bodyFailed) this.#log.warn(`Spawn of ${spawn.name} dropped: the task was released before its scope ended.`);
      this.#notStarted(spawn, bodyFailed ? 'the task scope ended with an error' : 'the task was released before its scope ended');
    }
    if (bodyFailed || spawn === null || this.#node === null) return this.release();
    const node = this.#node;
    this.#running = spawn;
    let future: WorkerFuture | null = null;
    let submitted: Result<WorkerFuture, SpawnRefused>;
    try {
      submitted = this.#env.spawnWorker({
        ...spawn.options,
        name: spawn.name,
        nodeUuid: node.uuid,
        purpose: this.#purpose,
        context: this.context,
        run: async (signal) => {
          this.#workerSignal = signal;
          await spawn.fn(this, ...spawn.args);
        },
      });
      if (submitted.isOk()) {
        future = submitted.value;
        const lost = this.#lease?.lost;
        if (lost !== undefined) {
          // Fenced out (taken over while we were paused): the work stops; its writes would fail anyway.
          const cancel = future.cancel.bind(future);
          const onLost = (): void => {
            this.#log.warn(`The exclusive lock on node ${node.uuid} was lost; cancelling ${spawn.name}`);
            cancel();
          };
          if (lost.aborted) onLost();
          else lost.addEventListener('abort', onLost, { once: true });
          future.onDone(() => lost.removeEventListener('abort', onLost));
        }
        future.onDone(async (outcome) => {
          try {
            await this.threadReleaseResources(outcome);
          } finally {
            spawn.handle.settle(spawnResult(outcome, spawn.name, node.uuid));
          }
        });
      }
    } catch (bug) {
      // A spawner that throws, or cannot link its done-callback, is a bug: as Ironic's __exit__,
      // run the hook, cancel the future, release, and re-raise.
      await this.#runSpawnErrorHook(bug, node);
      future?.cancel();
      await this.#releaseAfterRefusal();
      this.#notStarted(spawn, `the spawner failed (${describe(bug)})`);
      throw bug;
    }
    if (submitted.isOk()) {
      this.notifyProvisionStateChange();
      return ok(undefined);
    }
    const refused = submitted.error;
    await this.#runSpawnErrorHook(refused, node);
    await this.#releaseAfterRefusal();
    spawn.handle.settle(err(refused));
    return err(refused);
  }

  /** The spawn-error hook (e.g. provisioningErrorHandler), while the lock is still held; its own failure is logged. */
  async #runSpawnErrorHook(error: unknown, node: NodeRecord): Promise<void> {
    const hook = this.#onError;
    if (hook === null) return;
    try {
      await hook.fn(error, ...hook.args);
    } catch (hookError) {
      this.#log.warn({ err: hookError }, `Task's on_error hook failed to call ${hook.name} on node ${node.uuid}`);
    }
  }

  async #releaseAfterRefusal(): Promise<void> {
    await this.#releaseAfterFailure('the spawn was refused');
  }

  /** Release because something else failed: that failure is what the caller gets; a release error is logged. */
  async #releaseAfterFailure(why: string): Promise<void> {
    const released = await this.release();
    if (released.isErr()) this.#log.error({ err: released.error }, `releasing after ${why} failed`);
  }

  /** Put the state machine back in step with the node (after an event that was refused or not saved). */
  #resync(fsm: FSM<ProvisionState, ProvisionEvent>, node: NodeRecord): void {
    const reset = fsm.initialize(node.provision_state, node.target_provision_state);
    // The node's state was accepted when the task was acquired, so this cannot fail short of a bug.
    if (reset.isErr()) this.#log.error({ err: reset.error }, 'the state machine could not be put back in step with the node');
  }

  /** Worker done-callback (Ironic `_thread_release_resources`): record the failure, then release. */
  async threadReleaseResources(outcome: WorkerOutcome): Promise<void> {
    try {
      await this.writeException(outcome);
    } catch (error) {
      this.#log.error({ err: error }, 'recording the background failure failed');
    } finally {
      const released = await this.release();
      if (released.isErr()) this.#log.error({ err: released.error }, 'releasing after background work failed');
    }
  }

  /** Ironic `_write_exception`: set last_error only when the node has none; cancellation writes nothing. */
  async writeException(outcome: WorkerOutcome): Promise<void> {
    const node = this.#node;
    if (node === null || node.last_error !== null || outcome.kind === 'ok') return;
    const method = (this.#running ?? this.#spawn)?.name ?? 'anonymous';
    if (outcome.kind === 'cancelled') {
      this.#log.error(`Execution of ${method} for node ${node.uuid} was canceled.`);
      return;
    }
    const message = `Async execution of ${method} failed with error: ${describe(outcome.error)}`;
    this.#log.error({ err: outcome.error }, message);
    if (this.#lease === null) return;
    const saved = await this.#locks.update(this.#lease, (draft) => {
      draft.last_error = message;
    });
    if (saved.isOk()) this.#adopt(saved.value);
    else if (!(saved.error instanceof NodeNotFound)) this.#log.error({ err: saved.error }, 'could not record last_error');
  }

  /** `await using` (the throwing style): leaves the scope as a clean body would; a failure to leave is thrown. */
  async [Symbol.asyncDispose](): Promise<void> {
    const left = await this.exit(false);
    if (left.isErr()) throw left.error;
  }

  // ---- guards ----------------------------------------------------------------------------------

  #alive(operation: string): NodeRecord {
    if (this.#node === null) throw new TaskReleased(String(this.nodeId), operation);
    return this.#node;
  }

  /** Run-time lock check for untyped callers (the types already forbid it): Err, never a throw. */
  #exclusive(operation: string): Result<Lease, ExclusiveLockRequired> {
    const node = this.#alive(operation);
    if (this.#shared || this.#lease === null) {
      this.#log.error(`Callable ${operation} expected an exclusive lock, got a shared task for node ${node.uuid}.`);
      return err(new ExclusiveLockRequired(operation, node.uuid));
    }
    return ok(this.#lease);
  }
}

/** Why a request context or acquire options cannot be used, or null. */
function invalidAcquire(context: unknown, options: unknown): InvalidParameterValue | null {
  const ctx = context as Partial<RequestContext> | null;
  if (typeof ctx !== 'object' || ctx === null || typeof ctx.requestId !== 'string') {
    return new InvalidParameterValue('the request context must come from createRequestContext()', { option: 'context' });
  }
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    return new InvalidParameterValue('acquire options must be an object', { option: 'options' });
  }
  return null;
}

function scheduled(fn: Scheduled['fn'], args: unknown[], name: string, options: SpawnOptions | undefined): Scheduled {
  const handle = new PendingSpawn(name);
  return options === undefined ? { fn, args, name, handle } : { fn, args, name, options, handle };
}

/** The interface fields a stored node leaves unset. */
function unsetInterfaces(node: NodeRecord): ReadonlySet<InterfaceColumn> {
  return new Set(INTERFACE_COLUMNS.filter((column) => node[column] === null));
}

/** Acquire a task: shared with `{ shared: true }`, exclusive otherwise. */
export function acquireTask(
  ports: TaskPorts,
  context: RequestContext,
  nodeId: NodeIdentity,
  options: AcquireOptions & { shared: true },
): ResultAsync<SharedTask, AcquireError>;
export function acquireTask(
  ports: TaskPorts,
  context: RequestContext,
  nodeId: NodeIdentity,
  options?: AcquireOptions & { shared?: false },
): ResultAsync<ExclusiveTask, AcquireError>;
export function acquireTask(
  ports: TaskPorts,
  context: RequestContext,
  nodeId: NodeIdentity,
  options?: AcquireOptions,
): ResultAsync<Task, AcquireError>;
export function acquireTask(
  ports: TaskPorts,
  context: RequestContext,
  nodeId: NodeIdentity,
  options: AcquireOptions = {},
): ResultAsync<Task, AcquireError> {
  // The public types are views of the same object: no need for another promise layer to cast.
  return TaskManager.acquire(ports, context, nodeId, options);
}

/** The implementation behind a public task type (for the conductor and tests). */
export function taskInternals(task: Task): TaskManager {
  return task as unknown as TaskManager;
}

/** A value as Ironic's log lines print it (Python's `%s`): null is `None`. */
export function pythonText(value: string | null | undefined): string {
  return value ?? 'None';
}
