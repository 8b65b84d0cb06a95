/**
 * The store interface. Every call is asynchronous (ResultAsync) so that a PostgreSQL store can
 * follow without changing callers. Reservation semantics are Ironic's (reference §4.2):
 * conditional UPDATE ... WHERE reservation IS NULL, not re-entrant, wrong tag steals nothing.
 */
import type { ResultAsync } from 'neverthrow';
import type { Duplicate, InvalidIdentity, InvalidParameterValue, NodeLocked, NodeNotFound, NodeNotLocked, StoreError } from '../errors.js';
import type { NodeFilter } from '../node-filter.js';
import type {
  ConductorRow,
  NewNode,
  NodeChanges,
  NodeIdentity,
  NodeRecord,
  Port,
  Portgroup,
  VolumeConnector,
  VolumeTarget,
} from '../node.js';

/** Extra facts recorded beside `reservation` (Ironic does not keep them; operators miss them). */
export interface ReservationInfo {
  /** What the holder is doing, e.g. "deploy". */
  purpose: string;
  /** When the lock was taken; defaults to now. */
  at?: Date;
}

export type { NodeFilter } from '../node-filter.js';

/** New port fields. */
export type NewPort = Partial<Omit<Port, 'id' | 'node_id' | 'created_at' | 'updated_at'>> & { address: string };
/** New portgroup fields. */
export type NewPortgroup = Partial<Omit<Portgroup, 'id' | 'node_id' | 'created_at' | 'updated_at'>>;
/** New volume connector fields. */
export type NewVolumeConnector = Partial<Omit<VolumeConnector, 'id' | 'node_id' | 'created_at' | 'updated_at'>> & {
  type: string;
  connector_id: string;
};
/** New volume target fields. */
export type NewVolumeTarget = Partial<Omit<VolumeTarget, 'id' | 'node_id' | 'created_at' | 'updated_at'>> & {
  volume_type: string;
  volume_id: string;
  boot_index: number;
};

/** Whether a store serves (`status().store` reports it). */
export interface StoreHealth {
  /** `ok`: serving; `recovering`: reloading from disk after a failed write; `failed`: not serving until reopened; `closed`. */
  readonly state: 'ok' | 'recovering' | 'failed' | 'closed';
  /** Why it is failed or recovering, or the last failure it recovered from (null: none). */
  readonly error: string | null;
  /** When the state last changed (ISO-8601), or null if never. */
  readonly since: string | null;
  /** Failed writes it has recovered from since it was opened. */
  readonly recoveries: number;
}

/** Lookup errors. */
export type LookupError = NodeNotFound | InvalidIdentity | StoreError;

/** The asynchronous node store. */
export interface Store {
  /** Human-readable description (kind and path) for logs. */
  readonly description: string;
  /** Whether the store serves, and why not. */
  readonly health: StoreHealth;

  /**
   * Create a node in `enroll` (unless provision_state is given), with its ports, in one atomic
   * write. Duplicate uuid/name/port address → Duplicate, and nothing is created.
   */
  createNode(fields: NewNode, ports?: readonly NewPort[]): ResultAsync<NodeRecord, Duplicate | InvalidParameterValue | StoreError>;
  /** Get a node by integer id, UUID or name. Anything else → InvalidIdentity. */
  getNode(identity: NodeIdentity): ResultAsync<NodeRecord, LookupError>;
  /** List nodes matching the filter, ordered by id. */
  listNodes(filter?: NodeFilter): ResultAsync<NodeRecord[], StoreError>;
  /**
   * Write changed fields of a node (by integer id) and stamp `updated_at` (and
   * `provision_updated_at` when provision_state changes). Durable before it resolves (sync mode).
   * Returns the row as stored.
   */
  updateNode(nodeId: number, changes: NodeChanges): ResultAsync<NodeRecord, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;
  /** Delete a node and its ports, portgroups and volume objects. */
  destroyNode(nodeId: number): ResultAsync<void, NodeNotFound | StoreError>;

  /**
   * Take the exclusive reservation: UPDATE nodes SET reservation = tag WHERE id = ? AND reservation IS NULL.
   * Fails fast with NodeLocked naming the holder (also when the holder is `tag`: not re-entrant).
   * Returns the full node row after the reservation.
   */
  reserve(tag: string, identity: NodeIdentity, info?: ReservationInfo): ResultAsync<NodeRecord, NodeLocked | LookupError>;
  /**
   * Clear the reservation held under `tag`. Unlocked node → NodeNotLocked; held by another tag →
   * NodeLocked naming that holder (nothing is stolen).
   */
  release(tag: string, nodeId: number): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | StoreError>;
  /**
   * Re-label a reservation already held under `tag` (new purpose and time) without releasing it:
   * used for a local hand-off from one holder to the next. Fails like release.
   */
  transferReservation(
    tag: string,
    nodeId: number,
    info: ReservationInfo,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | StoreError>;
  /** Clear every reservation whose tag matches `host` case-insensitively. Returns the cleared node UUIDs. */
  clearReservations(host: string): ResultAsync<string[], StoreError>;
  /**
   * For nodes reserved by `host` (case-insensitive) with a target_power_state, clear it and set
   * last_error to `message`. Returns the UUIDs touched.
   */
  clearTargetPowerState(host: string, message: string): ResultAsync<string[], StoreError>;

  listPorts(nodeId: number): ResultAsync<Port[], StoreError>;
  listPortgroups(nodeId: number): ResultAsync<Portgroup[], StoreError>;
  listVolumeConnectors(nodeId: number): ResultAsync<VolumeConnector[], StoreError>;
  listVolumeTargets(nodeId: number): ResultAsync<VolumeTarget[], StoreError>;
  createPort(nodeId: number, fields: NewPort): ResultAsync<Port, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;
  createPortgroup(
    nodeId: number,
    fields: NewPortgroup,
  ): ResultAsync<Portgroup, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;
  createVolumeConnector(
    nodeId: number,
    fields: NewVolumeConnector,
  ): ResultAsync<VolumeConnector, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;
  createVolumeTarget(
    nodeId: number,
    fields: NewVolumeTarget,
  ): ResultAsync<VolumeTarget, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;

  /** Register (or re-register) a conductor host as online. */
  registerConductor(hostname: string): ResultAsync<ConductorRow, StoreError>;
  /** Mark a conductor online/offline and bump updated_at. */
  touchConductor(hostname: string, online: boolean): ResultAsync<void, StoreError>;
  /** List conductor rows. */
  listConductors(): ResultAsync<ConductorRow[], StoreError>;

  /** Resolve once every change acknowledged so far is durable (no-op for in-memory stores). */
  flush(): ResultAsync<void, StoreError>;
  /** Flush, checkpoint (file stores) and close. Further calls fail with StoreError. */
  close(): ResultAsync<void, StoreError>;
}
