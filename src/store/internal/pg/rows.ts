/**
 * PostgreSQL row ↔ record conversion: the same record shapes as the sql.js store (rows.ts there):
 * bigint columns as numbers, timestamptz as ISO-8601 UTC strings with milliseconds, jsonb as
 * parsed objects, booleans as booleans.
 */
import type { ProvisionState } from '../../../states/provision-states.js';
import type { ConductorRow, JsonObject, NodeRecord, Port, Portgroup, VolumeConnector, VolumeTarget } from '../../../node.js';

/** A row as pg returns it (column name → value). */
export type PgRow = Record<string, unknown>;

const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const json = (v: unknown): JsonObject => (typeof v === 'string' ? (JSON.parse(v) as JsonObject) : (v as JsonObject));
/** A timestamptz as ISO-8601 UTC with milliseconds (pg gives a Date; a string is parsed). */
export const iso = (v: unknown): string => (v instanceof Date ? v : new Date(v as string)).toISOString();
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

/** Convert a node row (any SELECT or RETURNING of every column). */
export function pgRowToNode(r: PgRow): NodeRecord {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    name: strOrNull(r.name),
    driver: str(r.driver),
    bios_interface: strOrNull(r.bios_interface),
    boot_interface: strOrNull(r.boot_interface),
    console_interface: strOrNull(r.console_interface),
    deploy_interface: strOrNull(r.deploy_interface),
    firmware_interface: strOrNull(r.firmware_interface),
    inspect_interface: strOrNull(r.inspect_interface),
    management_interface: strOrNull(r.management_interface),
    network_interface: strOrNull(r.network_interface),
    power_interface: strOrNull(r.power_interface),
    raid_interface: strOrNull(r.raid_interface),
    rescue_interface: strOrNull(r.rescue_interface),
    storage_interface: strOrNull(r.storage_interface),
    vendor_interface: strOrNull(r.vendor_interface),
    provision_state: str(r.provision_state) as ProvisionState,
    target_provision_state: strOrNull(r.target_provision_state) as ProvisionState | null,
    power_state: strOrNull(r.power_state),
    target_power_state: strOrNull(r.target_power_state),
    last_error: strOrNull(r.last_error),
    reservation: strOrNull(r.reservation),
    reservation_purpose: strOrNull(r.reservation_purpose),
    reserved_at: isoOrNull(r.reserved_at),
    reservation_token: numOrNull(r.reservation_token),
    version: num(r.version),
    maintenance: r.maintenance === true,
    maintenance_reason: strOrNull(r.maintenance_reason),
    conductor_group: str(r.conductor_group),
    instance_info: json(r.instance_info),
    driver_info: json(r.driver_info),
    driver_internal_info: json(r.driver_internal_info),
    properties: json(r.properties),
    extra: json(r.extra),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
    provision_updated_at: isoOrNull(r.provision_updated_at),
  };
}

/** Convert a port row. */
export function pgRowToPort(r: PgRow): Port {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    node_id: num(r.node_id),
    address: str(r.address),
    portgroup_id: numOrNull(r.portgroup_id),
    pxe_enabled: r.pxe_enabled === true,
    local_link_connection: json(r.local_link_connection),
    extra: json(r.extra),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
  };
}

/** Convert a portgroup row. */
export function pgRowToPortgroup(r: PgRow): Portgroup {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    node_id: num(r.node_id),
    name: strOrNull(r.name),
    address: strOrNull(r.address),
    mode: strOrNull(r.mode),
    extra: json(r.extra),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
  };
}

/** Convert a volume connector row. */
export function pgRowToVolumeConnector(r: PgRow): VolumeConnector {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    node_id: num(r.node_id),
    type: str(r.type),
    connector_id: str(r.connector_id),
    extra: json(r.extra),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
  };
}

/** Convert a volume target row. */
export function pgRowToVolumeTarget(r: PgRow): VolumeTarget {
  return {
    id: num(r.id),
    uuid: str(r.uuid),
    node_id: num(r.node_id),
    volume_type: str(r.volume_type),
    boot_index: num(r.boot_index),
    volume_id: str(r.volume_id),
    properties: json(r.properties),
    extra: json(r.extra),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
  };
}

/** Convert a conductor row. */
export function pgRowToConductor(r: PgRow): ConductorRow {
  return {
    id: num(r.id),
    hostname: str(r.hostname),
    online: r.online === true,
    conductor_group: str(r.conductor_group),
    created_at: iso(r.created_at),
    updated_at: isoOrNull(r.updated_at),
  };
}
