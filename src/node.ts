/**
 * The node record: a bare-metal machine under management, with the fields of Ironic's `nodes`
 * table that the task manager needs. Snapshots of it are immer-frozen; never mutate one.
 */
import type { ProvisionState } from './states/provision-states.js';

/** The 13 driver interface types (Ironic `driver_base.ALL_INTERFACES`). */
export const INTERFACE_TYPES = [
  'bios',
  'boot',
  'console',
  'deploy',
  'firmware',
  'inspect',
  'management',
  'network',
  'power',
  'raid',
  'rescue',
  'storage',
  'vendor',
] as const;

/** One of the 13 driver interface types. */
export type InterfaceType = (typeof INTERFACE_TYPES)[number];

/** Column name of an interface type, e.g. `power_interface`. */
export type InterfaceColumn = `${InterfaceType}_interface`;

/** A JSON object column (instance_info, driver_info, ...). */
export type JsonObject = { [key: string]: JsonValue };
/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A node row. Timestamps are ISO-8601 strings (UTC); `null` where Ironic has NULL. */
export type NodeRecord = {
  /** Integer primary key. */
  id: number;
  uuid: string;
  /** Optional unique name. */
  name: string | null;
  /** Hardware type name, e.g. `fake-hardware`. */
  driver: string;
  /** One of the provision state machine's 30 states. */
  provision_state: ProvisionState;
  /** The stable state the node is moving to, or null. */
  target_provision_state: ProvisionState | null;
  power_state: string | null;
  target_power_state: string | null;
  last_error: string | null;
  /** Exclusive lock holder's tag (conductor host), or null. */
  reservation: string | null;
  /** What the lock holder is doing (metal-conductor addition). */
  reservation_purpose: string | null;
  /** When the lock was taken (metal-conductor addition). */
  reserved_at: string | null;
  /**
   * Fencing token of the current reservation (metal-conductor addition): taken from one
   * store-wide increasing sequence by every reserve; writes under the lock are conditioned on it.
   */
  reservation_token: number | null;
  /** Row version (metal-conductor addition): 1 when created, +1 on every committed write of the row. */
  version: number;
  maintenance: boolean;
  maintenance_reason: string | null;
  /** Ironic's conductor_group: only conductors of this group manage the node. Default ''. */
  conductor_group: string;
  instance_info: JsonObject;
  driver_info: JsonObject;
  driver_internal_info: JsonObject;
  properties: JsonObject;
  extra: JsonObject;
  created_at: string;
  updated_at: string | null;
  provision_updated_at: string | null;
} & { [K in InterfaceColumn]: string | null };

/** Fields a caller may set when creating a node. Everything else has a default. */
export type NewNode = Partial<
  Omit<
    NodeRecord,
    'id' | 'created_at' | 'updated_at' | 'reservation' | 'reservation_purpose' | 'reserved_at' | 'reservation_token' | 'version'
  >
> & {
  driver: string;
};

/** Columns no update may write: identity, and the lock (only the lock protocol writes those). */
export const PROTECTED_COLUMNS: ReadonlySet<string> = new Set([
  'id',
  'uuid',
  'created_at',
  'reservation',
  'reservation_purpose',
  'reserved_at',
  'reservation_token',
  'version',
]);
/** A column of {@link PROTECTED_COLUMNS}. */
export type ProtectedColumn =
  'id' | 'uuid' | 'created_at' | 'reservation' | 'reservation_purpose' | 'reserved_at' | 'reservation_token' | 'version';

/** Fields that may be written through an update (not the identity, not the lock columns). */
export type NodeChanges = Partial<Omit<NodeRecord, ProtectedColumn>>;

/** A network port of a node. */
export interface Port {
  id: number;
  uuid: string;
  node_id: number;
  address: string;
  portgroup_id: number | null;
  pxe_enabled: boolean;
  local_link_connection: JsonObject;
  extra: JsonObject;
  created_at: string;
  updated_at: string | null;
}

/** A group of ports (bond). */
export interface Portgroup {
  id: number;
  uuid: string;
  node_id: number;
  name: string | null;
  address: string | null;
  mode: string | null;
  extra: JsonObject;
  created_at: string;
  updated_at: string | null;
}

/** A storage connector of a node. */
export interface VolumeConnector {
  id: number;
  uuid: string;
  node_id: number;
  type: string;
  connector_id: string;
  extra: JsonObject;
  created_at: string;
  updated_at: string | null;
}

/** A storage target assigned to a node. */
export interface VolumeTarget {
  id: number;
  uuid: string;
  node_id: number;
  volume_type: string;
  boot_index: number;
  volume_id: string;
  properties: JsonObject;
  extra: JsonObject;
  created_at: string;
  updated_at: string | null;
}

/** A conductor registration row. */
export interface ConductorRow {
  id: number;
  hostname: string;
  online: boolean;
  /** Ironic's conductor_group: the hash ring is per group. Default ''. */
  conductor_group: string;
  created_at: string;
  updated_at: string | null;
}

/** Identity accepted for node lookup: integer id, UUID, or (documented extension) a name. */
export type NodeIdentity = number | string;
