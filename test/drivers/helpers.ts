/** Fixtures for the driver tests. */
import { freeze } from 'immer';
import { INTERFACE_TYPES, type InterfaceColumn, type NodeRecord } from '../../src/node.js';

let nextId = 1;

/** A deeply frozen node (as the store hands them out) with every interface field null unless given. */
export function makeNode(fields: Partial<NodeRecord> = {}): NodeRecord {
  const id = nextId++;
  const interfaces = Object.fromEntries(INTERFACE_TYPES.map((t) => [`${t}_interface`, null])) as Record<InterfaceColumn, null>;
  const node: NodeRecord = {
    id,
    uuid: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`,
    name: null,
    driver: 'fake-hardware',
    provision_state: 'enroll',
    target_provision_state: null,
    power_state: null,
    target_power_state: null,
    last_error: null,
    reservation: null,
    reservation_purpose: null,
    reserved_at: null,
    reservation_token: null,
    version: 1,
    maintenance: false,
    maintenance_reason: null,
    conductor_group: '',
    instance_info: {},
    driver_info: {},
    driver_internal_info: {},
    properties: {},
    extra: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: null,
    provision_updated_at: null,
    ...interfaces,
    ...fields,
  };
  return freeze(node, true);
}

/** Every interface field set to `fake` (network `noop`), as Ironic's HardwareTypeLoadTestCase. */
export function allFakeInterfaces(): Record<InterfaceColumn, string> {
  return Object.fromEntries(INTERFACE_TYPES.map((t) => [`${t}_interface`, t === 'network' ? 'noop' : 'fake'])) as Record<
    InterfaceColumn,
    string
  >;
}

export { seededRandom } from '../../src/drivers/fake/seeded-random.js';
