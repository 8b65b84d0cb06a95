/**
 * Row ↔ record conversion. These run on every reserve and read, so they index columns by position
 * (the SELECT lists in schema.ts) and build each record as one object literal of fixed shape.
 */
import type { ProvisionState } from '../../states/provision-states.js';
import type { ConductorRow, JsonObject, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../../node.js';
import type { SqlRow } from './database.js';
import {
  CONDUCTOR_COLUMNS,
  NODE_COLUMNS,
  PORT_COLUMNS,
  PORTGROUP_COLUMNS,
  VOLUME_CONNECTOR_COLUMNS,
  VOLUME_TARGET_COLUMNS,
} from './schema.js';

/** `SELECT <all node columns> FROM nodes`, to be followed by a WHERE clause. */
export const SELECT_NODE = `SELECT ${NODE_COLUMNS.join(', ')} FROM nodes`;
/** `SELECT <all port columns> FROM ports`. */
export const SELECT_PORT = `SELECT ${PORT_COLUMNS.join(', ')} FROM ports`;
/** `SELECT <all portgroup columns> FROM portgroups`. */
export const SELECT_PORTGROUP = `SELECT ${PORTGROUP_COLUMNS.join(', ')} FROM portgroups`;
/** `SELECT <all volume connector columns> FROM volume_connectors`. */
export const SELECT_VOLUME_CONNECTOR = `SELECT ${VOLUME_CONNECTOR_COLUMNS.join(', ')} FROM volume_connectors`;
/** `SELECT <all volume target columns> FROM volume_targets`. */
export const SELECT_VOLUME_TARGET = `SELECT ${VOLUME_TARGET_COLUMNS.join(', ')} FROM volume_targets`;
/** `SELECT <all conductor columns> FROM conductors`. */
export const SELECT_CONDUCTOR = `SELECT ${CONDUCTOR_COLUMNS.join(', ')} FROM conductors`;

/** Position of the `reservation` column in a node row (for the NodeLocked slow path). */
export const NODE_RESERVATION_INDEX = NODE_COLUMNS.indexOf('reservation');

const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null ? null : (v as string));
const json = (v: unknown): JsonObject => JSON.parse(v as string) as JsonObject;

/** Convert a row selected with SELECT_NODE. */
export function rowToNode(r: SqlRow): NodeRecord {
  return {
    id: r[0] as number,
    uuid: str(r[1]),
    name: strOrNull(r[2]),
    driver: str(r[3]),
    bios_interface: strOrNull(r[4]),
    boot_interface: strOrNull(r[5]),
    console_interface: strOrNull(r[6]),
    deploy_interface: strOrNull(r[7]),
    firmware_interface: strOrNull(r[8]),
    inspect_interface: strOrNull(r[9]),
    management_interface: strOrNull(r[10]),
    network_interface: strOrNull(r[11]),
    power_interface: strOrNull(r[12]),
    raid_interface: strOrNull(r[13]),
    rescue_interface: strOrNull(r[14]),
    storage_interface: strOrNull(r[15]),
    vendor_interface: strOrNull(r[16]),
    // As stored: a value the machine does not know is refused when a task initialises its FSM (InvalidState).
    provision_state: str(r[17]) as ProvisionState,
    target_provision_state: strOrNull(r[18]) as ProvisionState | null,
    power_state: strOrNull(r[19]),
    target_power_state: strOrNull(r[20]),
    last_error: strOrNull(r[21]),
    reservation: strOrNull(r[22]),
    reservation_purpose: strOrNull(r[23]),
    reserved_at: strOrNull(r[24]),
    maintenance: r[25] === 1,
    maintenance_reason: strOrNull(r[26]),
    instance_info: json(r[27]),
    driver_info: json(r[28]),
    driver_internal_info: json(r[29]),
    properties: json(r[30]),
    extra: json(r[31]),
    created_at: str(r[32]),
    updated_at: strOrNull(r[33]),
    provision_updated_at: strOrNull(r[34]),
    reservation_token: r[35] === null ? null : (r[35] as number),
    version: r[36] as number,
    conductor_group: str(r[37]),
  };
}

/** Convert a row selected with SELECT_PORT. */
export function rowToPort(r: SqlRow): Port {
  return {
    id: r[0] as number,
    uuid: str(r[1]),
    node_id: r[2] as number,
    address: str(r[3]),
    portgroup_id: r[4] === null ? null : (r[4] as number),
    pxe_enabled: r[5] === 1,
    local_link_connection: json(r[6]),
    extra: json(r[7]),
    created_at: str(r[8]),
    updated_at: strOrNull(r[9]),
  };
}

/** Convert a row selected with SELECT_PORTGROUP. */
export function rowToPortgroup(r: SqlRow): Portgroup {
  return {
    id: r[0] as number,
    uuid: str(r[1]),
    node_id: r[2] as number,
    name: strOrNull(r[3]),
    address: strOrNull(r[4]),
    mode: strOrNull(r[5]),
    extra: json(r[6]),
    created_at: str(r[7]),
    updated_at: strOrNull(r[8]),
  };
}

/** Convert a row selected with SELECT_VOLUME_CONNECTOR. */
export function rowToVolumeConnector(r: SqlRow): VolumeConnector {
  return {
    id: r[0] as number,
    uuid: str(r[1]),
    node_id: r[2] as number,
    type: str(r[3]),
    connector_id: str(r[4]),
    extra: json(r[5]),
    created_at: str(r[6]),
    updated_at: strOrNull(r[7]),
  };
}

/** Convert a row selected with SELECT_VOLUME_TARGET. */
export function rowToVolumeTarget(r: SqlRow): VolumeTarget {
  return {
    id: r[0] as number,
    uuid: str(r[1]),
    node_id: r[2] as number,
    volume_type: str(r[3]),
    boot_index: r[4] as number,
    volume_id: str(r[5]),
    properties: json(r[6]),
    extra: json(r[7]),
    created_at: str(r[8]),
    updated_at: strOrNull(r[9]),
  };
}

/** Convert a row selected with SELECT_CONDUCTOR. */
export function rowToConductor(r: SqlRow): ConductorRow {
  return {
    id: r[0] as number,
    hostname: str(r[1]),
    online: r[2] === 1,
    created_at: str(r[3]),
    updated_at: strOrNull(r[4]),
    conductor_group: str(r[5]),
  };
}
