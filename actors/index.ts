/**
 * metal-conductor's public API, `import { … } from 'metal-conductor'`: the conductor and its
 * options, the task types, the error classes, the state and event names, Ironic's spawn-error
 * handlers, request contexts, `orThrow`, logger helpers and the clock seam. Actor-facing pieces
 * live in `metal-conductor/actors`, driver authoring in `metal-conductor/drivers`.
 */
export { Conductor, type ConductorStatus, type OnIdleOptions, type OpenError, type SnapshotError, type StopOptions } from './conductor.js';
export type { ConductorInit, MetricsOptions, PostgresStoreInit, StoreOptions } from './conductor-init.js';
export type { StatusServerOptions } from './status-server.js';
export type { NodeActorStatus } from './node-registry.js';
export type { PoolStatus, WorkerInfo } from './worker-supervisor.js';
export type { ComponentStatus, RestartPolicy } from './restart-supervisor.js';
export type { RecoveryReport } from '../src/recovery/startup.js';
export type { FailIfInStateReport, NodeFailure } from '../src/periodics/fail-if-in-state.js';

export { DEFAULTS, type ConductorConfig, type ConductorOptions, type NotificationLevel } from '../src/config.js';
export type { DriverRegistryOptions } from '../src/drivers/registry.js';
export type { FakeBehaviour } from '../src/drivers/fake/fake-behaviour.js';
export { createRequestContext, type RequestContext } from '../src/context.js';
export { createLogger, silentLogger, type Logger } from '../src/logging.js';
export { ManualClock, systemClock, type Clock, type TimerHandle } from '../src/clock.js';

export {
  Aborted,
  ActorStopped,
  AskTimeout,
  BackgroundWorkFailed,
  ConductorError,
  ConductorStopping,
  DriverNotFound,
  Duplicate,
  ExclusiveLockRequired,
  IncompatibleInterface,
  InterfaceNotFoundInEntrypoint,
  InvalidIdentity,
  InvalidParameterValue,
  InvalidState,
  isConductorError,
  LeaseNotFound,
  MalformedMessage,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  NoFreeConductorWorker,
  NoValidDefaultForInterface,
  StoreCorrupt,
  StoreError,
  StoreInUse,
  LockLost,
  TaskReleased,
  WorkerTimedOut,
  WorkNotStarted,
  type AnyConductorError,
  type DriverError,
  type LockHolder,
  type SerializedError,
} from '../src/errors.js';
export { FakeDriverError } from '../src/drivers/fake/fake-driver-error.js';
export { UnsupportedDriverExtension } from '../src/drivers/unsupported-driver-extension.js';

export type {
  InterfaceType,
  JsonObject,
  JsonValue,
  NewNode,
  NodeChanges,
  NodeIdentity,
  NodeRecord,
  Port,
  Portgroup,
  VolumeConnector,
  VolumeTarget,
} from '../src/node.js';
export type { NodeFilter } from '../src/node-filter.js';
export type { NewPort, NewPortgroup } from '../src/store/store.js';
export type { NotificationSubscriber } from '../src/notifications/bus.js';
export type { NotificationStatus, ProvisionSetNotification, ProvisionSetPayload } from '../src/notifications/notification.js';

export * as states from '../src/states/public.js';
export type { PowerState } from '../src/states/power-states.js';
export type { ProvisionEvent, ProvisionState } from '../src/states/provision-states.js';

export { orThrow, type BodyError, type BodyValue, type ScopeError } from '../src/task/scope.js';
export { requireExclusive } from '../src/task/require-exclusive.js';
export {
  NO_FREE_WORKERS_MESSAGE,
  provisioningErrorHandler,
  spawnCleaningErrorHandler,
  spawnDeployingErrorHandler,
  spawnRescueErrorHandler,
  spawnServicingErrorHandler,
} from '../src/task/error-handlers.js';
export type { ExitError } from '../src/task/task-manager.js';
export type {
  LockError,
  SpawnOptions,
  SpawnRefused,
  TransportError,
  UnlockError,
  UpdateError,
  WorkerRetryPolicy,
} from '../src/task/ports.js';
export type {
  AcquireError,
  AcquireOptions,
  ExclusiveTask,
  ProcessEventError,
  ProcessEventErrorHandler,
  ProcessEventOptions,
  SharedTask,
  SpawnError,
  SpawnErrorHook,
  SpawnHandle,
  Task,
  TaskBase,
  TaskStateMachine,
  UpgradeOptions,
  WorkFunction,
} from '../src/task/types.js';
export type { BareDriver } from '../src/drivers/build-driver.js';
export type { TakeoverReport } from '../src/recovery/orphans.js';
export type { StoreHealth } from '../src/store/store.js';
