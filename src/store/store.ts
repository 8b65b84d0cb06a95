/**
 * The store interface. Every call is asynchronous (ResultAsync) so that a PostgreSQL store can
 * follow without changing callers. Reservation semantics are Ironic's (reference §4.2):
 * conditional UPDATE ... WHERE reservation IS NULL, not re-entrant, wrong tag steals nothing.
 */
import type { ResultAsync } from 'neverthrow';
import type {
  Duplicate,
  InvalidIdentity,
  InvalidParameterValue,
  LockLost,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  StoreError,
} from '../errors.js';
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

/** Timings a store reports as they happen (metrics). Each call must be cheap and must not throw. */
export interface StoreTimings {
  /** One commit to disk took `seconds` (the sql.js file store: one journal write, a group commit with its fdatasync). */
  commit(seconds: number): void;
  /** One checkpoint took `seconds`, from the snapshot to the journal reset (sql.js file store). */
  checkpoint(seconds: number): void;
}

/** Extra facts recorded beside `reservation` (Ironic does not keep them; operators miss them). */
export interface ReservationInfo {
  /** What the holder is doing, e.g. "deploy". */
  purpose: string;
  /** When the lock was taken; defaults to now. */
  at?: Date;
}

export type { NodeFilter } from '../node-filter.js';

/**
 * Proof of an exclusive reservation: the tag it was taken under and the token `reserve` returned
 * (`reservation_token`). A write given a fence changes the row only while the row still holds
 * exactly that reservation; otherwise nothing is written and the answer is `LockLost`.
 */
export interface Fence {
  readonly tag: string;
  readonly token: number;
}

/**
 * A committed change of a node row, as every conductor on a shared store hears it (PostgreSQL
 * NOTIFY from a trigger, after commit). `deleted`: the row is gone.
 */
export interface NodeChange {
  readonly id: number;
  readonly version: number;
  readonly reservation: string | null;
  readonly token: number | null;
  readonly deleted: boolean;
  /** Present when nothing but the reservation changed: the rest of the row is as before, so a cached row can be patched. */
  readonly lock?: { readonly purpose: string | null; readonly reservedAt: string | null };
}

/** A conductor waiting for a node held by another one (cross-process FIFO hand-over). */
export interface OutsideWaiter {
  readonly nodeId: number;
  readonly host: string;
  /** When its oldest local request arrived (ms since epoch). */
  readonly since: number;
}

/** What a store shared by several conductor processes adds (PostgreSQL); absent on the embedded store. */
export interface StoreCoordination {
  /**
   * Claim `host` for this process for as long as its session lives (a session-level advisory lock,
   * freed by the server when the process or its connection dies). Another live process with the
   * same host → Err(StoreInUse-like StoreError). Re-claimed by itself after a reconnect.
   */
  claimHost(host: string, group: string): ResultAsync<void, StoreError>;
  /**
   * Hosts registered in `conductors` that are alive now: their claim is held (and, when a
   * heartbeat timeout is given, their heartbeat is younger than it; a host whose heartbeat is
   * older while its claim is held is a half-open session: its backend is terminated).
   */
  liveHosts(heartbeatTimeoutMs: number): ResultAsync<{ host: string; group: string }[], StoreError>;
  /** Hear every committed node change (including this process's own). Returns an unsubscribe function. */
  onNodeChange(listener: (change: NodeChange) => void): () => void;
  /** Hear when outside waiters change (a conductor starts or stops waiting for a node). */
  onWaitersChange(listener: (nodeId: number) => void): () => void;
  /**
   * The notification connection was lost and is back: changes may have been missed, so cached
   * rows must be re-read. Returns an unsubscribe function.
   */
  onResync(listener: () => void): () => void;
  /** Record that `host` waits for `nodeId` since `since` (idempotent), or that it no longer does (`since` null). */
  setWaiting(nodeId: number, host: string, since: number | null): ResultAsync<void, StoreError>;
  /** The conductors waiting for `nodeId`, oldest first. */
  waitersOf(nodeId: number): ResultAsync<OutsideWaiter[], StoreError>;
  /**
   * Hand the reservation held under `fence` directly to the waiting conductor `to`: one
   * conditional UPDATE giving it a new token, and its waiter row removed. The new row is returned.
   */
  handOver(fence: Fence, nodeId: number, to: string, info: ReservationInfo): ResultAsync<NodeRecord, LockLost | NodeNotFound | StoreError>;
  /** Set `online = false` for a host found dead (so it leaves the ring). */
  markOffline(host: string): ResultAsync<void, StoreError>;
}

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
  /** Present on a store several conductor processes share (PostgreSQL): liveness, notifications, hand-over. */
  readonly coordination?: StoreCoordination;

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
   * Returns the row as stored, its `version` bumped. With a `fence`, written only while the row
   * holds that reservation (else LockLost, nothing written).
   */
  updateNode(
    nodeId: number,
    changes: NodeChanges,
    fence?: Fence,
  ): ResultAsync<NodeRecord, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError>;
  /** Delete a node and its ports, portgroups and volume objects (under `fence` if given). */
  destroyNode(nodeId: number, fence?: Fence): ResultAsync<void, NodeNotFound | LockLost | StoreError>;

  /**
   * Take the exclusive reservation: UPDATE nodes SET reservation = tag WHERE id = ? AND reservation IS NULL.
   * Fails fast with NodeLocked naming the holder (also when the holder is `tag`: not re-entrant).
   * Returns the full node row after the reservation, with a new `reservation_token` (greater than
   * every token this store gave before).
   */
  reserve(tag: string, identity: NodeIdentity, info?: ReservationInfo): ResultAsync<NodeRecord, NodeLocked | LookupError>;
  /**
   * Clear the reservation held under `tag`. Unlocked node → NodeNotLocked; held by another tag →
   * NodeLocked naming that holder (nothing is stolen). With `token`, only that reservation is
   * cleared: same tag, other token → LockLost.
   */
  release(
    tag: string,
    nodeId: number,
    token?: number,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | LockLost | StoreError>;
  /**
   * Re-label a reservation already held under `tag` (new purpose and time) without releasing it:
   * used for a local hand-off from one holder to the next. The token stays. Fails like release.
   */
  transferReservation(
    tag: string,
    nodeId: number,
    info: ReservationInfo,
    token?: number,
  ): ResultAsync<void, NodeNotLocked | NodeLocked | NodeNotFound | LockLost | StoreError>;
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
  /** Create a port of a node (under `fence` if given: only while the node holds that reservation). */
  createPort(
    nodeId: number,
    fields: NewPort,
    fence?: Fence,
  ): ResultAsync<Port, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError>;
  /** Create a portgroup of a node (under `fence` if given). */
  createPortgroup(
    nodeId: number,
    fields: NewPortgroup,
    fence?: Fence,
  ): ResultAsync<Portgroup, NodeNotFound | Duplicate | InvalidParameterValue | LockLost | StoreError>;
  createVolumeConnector(
    nodeId: number,
    fields: NewVolumeConnector,
  ): ResultAsync<VolumeConnector, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;
  createVolumeTarget(
    nodeId: number,
    fields: NewVolumeTarget,
  ): ResultAsync<VolumeTarget, NodeNotFound | Duplicate | InvalidParameterValue | StoreError>;

  /** Register (or re-register) a conductor host as online, in `group` (default ''). */
  registerConductor(hostname: string, group?: string): ResultAsync<ConductorRow, StoreError>;
  /** Mark a conductor online/offline and bump updated_at. */
  touchConductor(hostname: string, online: boolean): ResultAsync<void, StoreError>;
  /** List conductor rows. */
  listConductors(): ResultAsync<ConductorRow[], StoreError>;

  /** Resolve once every change acknowledged so far is durable (no-op for in-memory stores). */
  flush(): ResultAsync<void, StoreError>;
  /** Flush, checkpoint (file stores) and close. Further calls fail with StoreError. */
  close(): ResultAsync<void, StoreError>;
  /**
   * Optional: advertise where the live process holding this store can be asked (the conductor
   * calls it once its status server listens). The sql.js file store writes it into its lock file
   * (`<pid>\n{"statusUrl":"…"}\n`, read back by `readLiveHolder`); in memory it does nothing.
   * Stores without a lock file (PostgreSQL) may omit it. An I/O failure is a StoreError.
   */
  advertise?(info: { statusUrl: string }): ResultAsync<void, StoreError>;
}
