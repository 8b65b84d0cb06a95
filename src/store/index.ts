/**
 * The node store: the `Store` interface and its sql.js implementation.
 */
export type {
  LookupError,
  NewPort,
  NewPortgroup,
  NewVolumeConnector,
  NewVolumeTarget,
  NodeFilter,
  ReservationInfo,
  Store,
} from './store.js';
export {
  openSqlJsStore,
  SqlJsStore,
  type CheckpointPhase,
  type OpenStoreError,
  type SqlJsStoreOptions,
  type SqlJsStoreStats,
} from './sqljs-store.js';
