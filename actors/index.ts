/**
 * metal-conductor's public API (curated). Import from the package root:
 * `import { Conductor, createRequestContext } from 'metal-conductor'`.
 */
export { Conductor, type ConductorInit, type ConductorSeams, type ConductorStatus, type OpenError } from './conductor.ts';
export type {
  AcquireLeaseMessage,
  ConductorMessage,
  LeaseGrant,
  MessageContext,
  ProcessEventMessage,
  ReleaseLeaseMessage,
  RunExclusiveMessage,
  SnapshotMessage,
  StatusMessage,
} from './conductor-protocol.ts';
export { ActorRuntime, type ActorRef, type Ask, type Behavior, type DeadLetter } from './runtime.ts';

export { DEFAULTS, resolveConfig, type ConductorConfig, type ConductorOptions, type NotificationLevel } from '../src/config.ts';
export { adminContext, createRequestContext, currentRequestContext, runWithContext, type RequestContext } from '../src/context.ts';
export * from '../src/errors.ts';
export { createLogger, silentLogger, type Logger } from '../src/logging.ts';
export type { NewNode, NodeChanges, NodeIdentity, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../src/node.ts';
export { INTERFACE_TYPES, type InterfaceType } from '../src/node.ts';
export type { NotificationSubscriber } from '../src/notifications/bus.ts';
export type { NotificationStatus, ProvisionSetNotification, ProvisionSetPayload } from '../src/notifications/notification.ts';
export { FSM } from '../src/fsm/fsm.ts';
export * as states from '../src/states/index.ts';
export { openSqlJsStore, type SqlJsStoreOptions, type Store } from '../src/store/index.ts';
export {
  buildDriverForTask,
  createDriverRegistry,
  DriverRegistry,
  FakeDriverError,
  type BareDriver,
  type DriverRegistryOptions,
  type FakeBehaviour,
} from '../src/drivers/index.ts';
export { requireExclusive } from '../src/task/require-exclusive.ts';
export { orThrow } from '../src/task/scope.ts';
export type {
  AcquireError,
  AcquireOptions,
  ExclusiveTask,
  ProcessEventOptions,
  SharedTask,
  Task,
  UpgradeOptions,
  WorkFunction,
} from '../src/task/types.ts';
