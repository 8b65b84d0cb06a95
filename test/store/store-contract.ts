/**
 * The Store contract: behaviour every store must have, written against the `Store` interface only
 * so that other implementations (PostgreSQL) can run it too. Tests derived from Ironic's
 * `ironic/tests/unit/db/test_nodes.py` carry the Ironic test's name (reference §4.2).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Result, ResultAsync } from 'neverthrow';
import {
  Duplicate,
  InvalidIdentity,
  InvalidParameterValue,
  LockLost,
  NodeLocked,
  NodeNotFound,
  NodeNotLocked,
  StoreError,
} from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import type { Store } from '../../src/store/store.js';

/** A fresh, empty store and how to dispose of it. */
export interface StoreFixture {
  store: Store;
  readonly cleanup: () => Promise<void>;
}

/** Await a result and return its value, failing the test with the error otherwise. */
export async function value<T, E>(result: ResultAsync<T, E> | Promise<Result<T, E>>): Promise<T> {
  const r = await result;
  if (r.isErr()) assert.fail(`expected Ok, got Err: ${String((r.error as Error)?.message ?? r.error)}`);
  return r.value;
}

/** Await a result and return its error, asserting it is an instance of `type`. */
export async function failure<T, E, C extends abstract new (...args: never[]) => unknown>(
  result: ResultAsync<T, E> | Promise<Result<T, E>>,
  type: C,
): Promise<InstanceType<C>> {
  const r = await result;
  if (r.isOk()) assert.fail(`expected Err(${type.name}), got Ok: ${JSON.stringify(r.value)}`);
  assert.ok(
    r.error instanceof type,
    `expected ${type.name}, got ${String((r.error as Error)?.name)}: ${String((r.error as Error)?.message)}`,
  );
  return r.error as InstanceType<C>;
}

/** Register the contract tests under `describe(name)`. `makeStore` is called once per test. */
export function storeContractSuite(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;
    let closed: boolean;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
      closed = false;
    });

    afterEach(async () => {
      if (!closed) await value(store.close());
      await fixture.cleanup();
    });

    const create = (fields: Partial<NodeRecord> = {}) => value(store.createNode({ driver: 'fake-hardware', ...fields }));

    describe('createNode', () => {
      it('creates a node in enroll with Ironic defaults', async () => {
        const node = await create();
        assert.ok(Number.isSafeInteger(node.id) && node.id > 0);
        assert.match(node.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.equal(node.driver, 'fake-hardware');
        assert.equal(node.provision_state, 'enroll');
        assert.equal(node.maintenance, false);
        assert.equal(node.name, null);
        assert.equal(node.power_state, null);
        assert.equal(node.reservation, null);
        for (const column of ['instance_info', 'driver_info', 'driver_internal_info', 'properties', 'extra'] as const) {
          assert.deepEqual(node[column], {}, column);
        }
        assert.ok(!Number.isNaN(Date.parse(node.created_at)));
        assert.equal(node.updated_at, null);
        assert.deepEqual(await value(store.getNode(node.id)), node);
      });

      it('stores the given fields, JSON included', async () => {
        const uuid = randomUUID();
        const node = await create({
          uuid,
          name: 'node-1',
          provision_state: 'available',
          power_state: 'power off',
          maintenance: true,
          maintenance_reason: 'disk',
          power_interface: 'ipmitool',
          driver_info: { ipmi_address: '10.0.0.1', nested: { list: [1, 'two', null, true] } },
          properties: { cpus: 8 },
        });
        assert.equal(node.uuid, uuid);
        assert.equal(node.name, 'node-1');
        assert.equal(node.provision_state, 'available');
        assert.equal(node.power_state, 'power off');
        assert.equal(node.maintenance, true);
        assert.equal(node.maintenance_reason, 'disk');
        assert.equal(node.power_interface, 'ipmitool');
        assert.deepEqual(node.driver_info, { ipmi_address: '10.0.0.1', nested: { list: [1, 'two', null, true] } });
        assert.deepEqual(node.properties, { cpus: 8 });
      });

      it('rejects a duplicate uuid (Duplicate) and keeps the first node', async () => {
        const first = await create();
        const error = await failure(store.createNode({ driver: 'fake-hardware', uuid: first.uuid }), Duplicate);
        assert.match(error.message, new RegExp(first.uuid));
        assert.equal((await value(store.listNodes())).length, 1);
      });

      it('rejects a duplicate name (Duplicate)', async () => {
        await create({ name: 'twin' });
        const error = await failure(store.createNode({ driver: 'fake-hardware', name: 'twin' }), Duplicate);
        assert.match(error.message, /twin/);
      });

      it('rejects a missing or empty driver (InvalidParameterValue)', async () => {
        await failure(store.createNode({} as never), InvalidParameterValue);
        await failure(store.createNode({ driver: '' }), InvalidParameterValue);
        assert.deepEqual(await value(store.listNodes()), []);
      });
    });

    describe('getNode', () => {
      it('finds a node by integer id, digit string, uuid (any case) and name', async () => {
        const node = await create({ name: 'by-name' });
        assert.equal((await value(store.getNode(node.id))).uuid, node.uuid);
        assert.equal((await value(store.getNode(String(node.id)))).uuid, node.uuid);
        assert.equal((await value(store.getNode(node.uuid))).id, node.id);
        assert.equal((await value(store.getNode(node.uuid.toUpperCase()))).id, node.id);
        assert.equal((await value(store.getNode('by-name'))).id, node.id);
      });

      it('reports NodeNotFound naming the identity as given', async () => {
        const missingUuid = randomUUID();
        for (const identity of [4242, '4242', missingUuid, 'no-such-name']) {
          const error = await failure(store.getNode(identity), NodeNotFound);
          assert.match(error.message, new RegExp(String(identity)));
        }
      });

      it('rejects anything that is not an id, UUID or logical name (InvalidIdentity)', async () => {
        await create({ name: 'x' });
        const bad: unknown[] = ['', 1.5, -1, 0, Number.NaN, Infinity, 2 ** 53, '-1', '0', {}, null, undefined, [], true];
        bad.push('a'.repeat(256), 'has space', 'slash/ed', 'ünïcode');
        for (const identity of bad) {
          await failure(store.getNode(identity as never), InvalidIdentity);
        }
      });
    });

    describe('listNodes', () => {
      it('lists by id and applies every filter', async () => {
        const a = await create({ provision_state: 'available' });
        const b = await create({ provision_state: 'deploying', maintenance: true });
        const c = await create({ provision_state: 'deploying', driver: 'ipmi' });
        await value(store.reserve('Host-1', b.id, { purpose: 'deploy' }));
        const ids = (nodes: NodeRecord[]) => nodes.map((n) => n.id);

        assert.deepEqual(ids(await value(store.listNodes())), [a.id, b.id, c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ provisionState: 'deploying' }))), [b.id, c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ provisionState: ['available', 'deploying'] }))), [a.id, b.id, c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ provisionState: [] }))), []);
        assert.deepEqual(ids(await value(store.listNodes({ reserved: true }))), [b.id]);
        assert.deepEqual(ids(await value(store.listNodes({ reserved: false }))), [a.id, c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ reservedBy: 'host-1' }))), [b.id]);
        assert.deepEqual(ids(await value(store.listNodes({ maintenance: true }))), [b.id]);
        assert.deepEqual(ids(await value(store.listNodes({ driver: 'ipmi' }))), [c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ provisionState: 'deploying', maintenance: false }))), [c.id]);
        assert.deepEqual(ids(await value(store.listNodes({ limit: 2 }))), [a.id, b.id]);
      });

      it('filters on provision_updated_at older than an instant', async () => {
        const old = await create();
        const fresh = await create();
        await value(store.updateNode(old.id, { provision_updated_at: '2020-01-01T00:00:00.000Z' }));
        await value(store.updateNode(fresh.id, { provision_updated_at: '2030-01-01T00:00:00.000Z' }));
        const found = await value(store.listNodes({ provisionUpdatedBefore: new Date('2025-01-01T00:00:00Z') }));
        assert.deepEqual(
          found.map((n) => n.id),
          [old.id],
        );
      });
    });

    describe('updateNode', () => {
      it('writes only the given columns, stamps updated_at and returns the stored row', async () => {
        const node = await create({ name: 'keep', properties: { cpus: 2 }, power_state: 'power off' });
        const updated = await value(store.updateNode(node.id, { power_state: 'power on', extra: { a: 1 } }));
        assert.equal(updated.power_state, 'power on');
        assert.deepEqual(updated.extra, { a: 1 });
        assert.equal(updated.name, 'keep');
        assert.deepEqual(updated.properties, { cpus: 2 });
        assert.equal(updated.provision_state, 'enroll');
        assert.ok(updated.updated_at !== null && !Number.isNaN(Date.parse(updated.updated_at)));
        assert.deepEqual(await value(store.getNode(node.id)), updated);
      });

      it('stamps provision_updated_at only when provision_state is among the changes', async () => {
        const node = await create();
        const other = await value(store.updateNode(node.id, { last_error: 'x' }));
        assert.equal(other.provision_updated_at, null);
        const moved = await value(store.updateNode(node.id, { provision_state: 'manageable' }));
        assert.ok(moved.provision_updated_at !== null);
        assert.equal(moved.provision_updated_at, moved.updated_at);
        const later = await value(store.updateNode(node.id, { power_state: 'power on' }));
        assert.equal(later.provision_updated_at, moved.provision_updated_at);
        // Ironic stamps on presence, even when the state does not change.
        const same = await value(store.updateNode(node.id, { provision_state: 'manageable' }));
        assert.equal(same.provision_updated_at, same.updated_at);
      });

      it('never touches the reservation columns', async () => {
        const node = await create();
        await value(store.reserve('host-a', node.id, { purpose: 'deploy' }));
        const updated = await value(store.updateNode(node.id, { provision_state: 'deploying', last_error: null }));
        assert.equal(updated.reservation, 'host-a');
        assert.equal(updated.reservation_purpose, 'deploy');
        assert.throws(() => store.updateNode(node.id, { reservation: null } as never), TypeError);
        assert.equal((await value(store.getNode(node.id))).reservation, 'host-a');
      });

      it('reports NodeNotFound for a missing node', async () => {
        await failure(store.updateNode(987654, { power_state: 'power on' }), NodeNotFound);
      });

      it('reports Duplicate for a name already taken, leaving the node unchanged', async () => {
        await create({ name: 'taken' });
        const node = await create({ name: 'mine' });
        await failure(store.updateNode(node.id, { name: 'taken', power_state: 'power on' }), Duplicate);
        const stored = await value(store.getNode(node.id));
        assert.equal(stored.name, 'mine');
        assert.equal(stored.power_state, null);
      });

      it('throws TypeError for identity or lock columns (the node actor never sends them)', async () => {
        const node = await create();
        assert.throws(() => store.updateNode(node.id, { uuid: randomUUID() } as never), TypeError);
        assert.throws(() => store.updateNode(node.id, { id: 7 } as never), TypeError);
      });

      it('refuses an unknown column or a bad value with InvalidParameterValue naming it, and writes nothing', async () => {
        const node = await create();
        const cases: [Record<string, unknown>, string][] = [
          [{ no_such_column: 1 }, 'no_such_column'],
          [{ maintenance: 'yes' }, 'maintenance'],
          [{ properties: [] }, 'properties'],
          [{ provision_state: 'bogus' }, 'provision_state'],
          [{ target_provision_state: 'deploy' }, 'target_provision_state'],
          [{ power_state: 'power on', provision_state: '' }, 'provision_state'],
        ];
        for (const [changes, field] of cases) {
          const error = await failure(store.updateNode(node.id, changes as never), InvalidParameterValue);
          assert.equal(error.details.field, field, JSON.stringify(changes));
        }
        assert.deepEqual(await value(store.getNode(node.id)), node);
      });
    });

    describe('destroyNode', () => {
      it('deletes the node and its ports, portgroups and volume objects, not other nodes', async () => {
        const doomed = await create();
        const kept = await create();
        for (const node of [doomed, kept]) {
          await value(store.createPortgroup(node.id, { name: `pg-${node.id}` }));
          await value(store.createPort(node.id, { address: `52:54:00:00:00:0${node.id}` }));
          await value(store.createVolumeConnector(node.id, { type: 'iqn', connector_id: `iqn.${node.id}` }));
          await value(store.createVolumeTarget(node.id, { volume_type: 'iscsi', volume_id: `vol-${node.id}`, boot_index: 0 }));
        }
        await value(store.destroyNode(doomed.id));
        await failure(store.getNode(doomed.id), NodeNotFound);
        assert.deepEqual(await value(store.listPorts(doomed.id)), []);
        assert.deepEqual(await value(store.listPortgroups(doomed.id)), []);
        assert.deepEqual(await value(store.listVolumeConnectors(doomed.id)), []);
        assert.deepEqual(await value(store.listVolumeTargets(doomed.id)), []);
        assert.equal((await value(store.listPorts(kept.id))).length, 1);
        assert.equal((await value(store.listPortgroups(kept.id))).length, 1);
        assert.equal((await value(store.listVolumeConnectors(kept.id))).length, 1);
        assert.equal((await value(store.listVolumeTargets(kept.id))).length, 1);
        // The port address is free again.
        await value(store.createPort(kept.id, { address: `52:54:00:00:00:0${doomed.id}` }));
        await failure(store.destroyNode(doomed.id), NodeNotFound);
      });
    });

    describe('reservations (Ironic test_nodes.py)', () => {
      it('test_reserve_node', async () => {
        const node = await create({ properties: { cpus: 4 } });
        const reserved = await value(store.reserve('fake-host', node.uuid));
        assert.equal(reserved.reservation, 'fake-host');
        assert.equal(reserved.id, node.id);
        // The full row comes back.
        assert.deepEqual(reserved.properties, { cpus: 4 });
        assert.equal((await value(store.getNode(node.id))).reservation, 'fake-host');
      });

      it('test_release_reservation', async () => {
        const node = await create();
        await value(store.reserve('fake-host', node.id, { purpose: 'deploy' }));
        await value(store.release('fake-host', node.id));
        const stored = await value(store.getNode(node.id));
        assert.equal(stored.reservation, null);
        assert.equal(stored.reservation_purpose, null);
        assert.equal(stored.reserved_at, null);
      });

      it('test_reservation_of_reserved_node_fails', async () => {
        const node = await create();
        await value(store.reserve('host1', node.id));
        const onReserve = await failure(store.reserve('host2', node.uuid), NodeLocked);
        assert.equal(onReserve.holder.host, 'host1');
        const onRelease = await failure(store.release('host2', node.id), NodeLocked);
        assert.equal(onRelease.holder.host, 'host1');
        // Nothing was stolen.
        assert.equal((await value(store.getNode(node.id))).reservation, 'host1');
      });

      it('test_reservation_after_release', async () => {
        const node = await create();
        await value(store.reserve('host1', node.id));
        await value(store.release('host1', node.id));
        const again = await value(store.reserve('host2', node.id));
        assert.equal(again.reservation, 'host2');
      });

      it('test_reservation_in_exception_message', async () => {
        const node = await create();
        await value(store.reserve('fake-reservation', node.id, { purpose: 'cleaning' }));
        const error = await failure(store.reserve('another', node.id), NodeLocked);
        assert.match(error.message, /fake-reservation/);
        assert.match(error.message, /cleaning/);
        assert.match(error.message, new RegExp(node.uuid));
        assert.equal(error.holder.purpose, 'cleaning');
        assert.ok(typeof error.holder.heldForMs === 'number' && error.holder.heldForMs >= 0);
      });

      it('test_reservation_non_existent_node', async () => {
        await create();
        await failure(store.reserve('fake', 424242), NodeNotFound);
        const uuid = randomUUID();
        const error = await failure(store.reserve('fake', uuid), NodeNotFound);
        assert.match(error.message, new RegExp(uuid));
      });

      it('test_release_non_existent_node', async () => {
        await create();
        const error = await failure(store.release('fake', 424242), NodeNotFound);
        assert.match(error.message, /424242/);
      });

      it('test_release_non_locked_node', async () => {
        const node = await create();
        const error = await failure(store.release('fake', node.id), NodeNotLocked);
        assert.match(error.message, new RegExp(node.uuid));
      });

      it('is not re-entrant: the same tag twice gets NodeLocked', async () => {
        const node = await create();
        await value(store.reserve('host1', node.id));
        const error = await failure(store.reserve('host1', node.id), NodeLocked);
        assert.equal(error.holder.host, 'host1');
        // And one release frees it.
        await value(store.release('host1', node.id));
        await failure(store.release('host1', node.id), NodeNotLocked);
      });

      it('reserves by name and records purpose and time', async () => {
        const node = await create({ name: 'named' });
        const at = new Date('2024-05-06T07:08:09.123Z');
        const reserved = await value(store.reserve('host1', 'named', { purpose: 'inspect', at }));
        assert.equal(reserved.id, node.id);
        assert.equal(reserved.reservation_purpose, 'inspect');
        assert.equal(reserved.reserved_at, at.toISOString());
      });

      it('rejects a bad identity with InvalidIdentity and reserves nothing', async () => {
        const node = await create();
        await failure(store.reserve('host1', 'bad identity!'), InvalidIdentity);
        assert.equal((await value(store.getNode(node.id))).reservation, null);
      });

      it('gives the node to exactly one of many concurrent reservers', async () => {
        const node = await create();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.reserve(`host${i}`, node.id)));
        const winners = results.filter((r) => r.isOk());
        assert.equal(winners.length, 1);
        for (const r of results) if (r.isErr()) assert.ok(r.error instanceof NodeLocked);
      });

      it('transferReservation re-labels a held reservation and fails like release', async () => {
        const node = await create();
        await failure(store.transferReservation('host1', node.id, { purpose: 'x' }), NodeNotLocked);
        await failure(store.transferReservation('host1', 424242, { purpose: 'x' }), NodeNotFound);
        await value(store.reserve('host1', node.id, { purpose: 'deploy' }));
        const at = new Date('2024-01-02T03:04:05.000Z');
        await value(store.transferReservation('host1', node.id, { purpose: 'power off', at }));
        const stored = await value(store.getNode(node.id));
        assert.equal(stored.reservation, 'host1');
        assert.equal(stored.reservation_purpose, 'power off');
        assert.equal(stored.reserved_at, at.toISOString());
        const error = await failure(store.transferReservation('host2', node.id, { purpose: 'steal' }), NodeLocked);
        assert.equal(error.holder.host, 'host1');
        assert.equal((await value(store.getNode(node.id))).reservation_purpose, 'power off');
      });
    });

    describe('clearing reservations (Ironic conductor start-up)', () => {
      it('clearReservations matches the tag case-insensitively and returns the cleared UUIDs', async () => {
        const a = await create();
        const b = await create();
        const c = await create();
        await create();
        await value(store.reserve('Conductor-1.example', a.id));
        await value(store.reserve('conductor-1.EXAMPLE', b.id));
        await value(store.reserve('conductor-2.example', c.id));
        const cleared = await value(store.clearReservations('CONDUCTOR-1.example'));
        assert.deepEqual([...cleared].sort(), [a.uuid, b.uuid].sort());
        assert.equal((await value(store.getNode(a.id))).reservation, null);
        assert.equal((await value(store.getNode(b.id))).reservation, null);
        assert.equal((await value(store.getNode(c.id))).reservation, 'conductor-2.example');
        assert.deepEqual(await value(store.clearReservations('nobody')), []);
      });

      it('clearReservations does not treat % or _ as wildcards', async () => {
        const node = await create();
        await value(store.reserve('host1', node.id));
        assert.deepEqual(await value(store.clearReservations('%')), []);
        assert.deepEqual(await value(store.clearReservations('h%')), []);
        assert.deepEqual(await value(store.clearReservations('h_st1')), []);
        assert.deepEqual(await value(store.clearReservations('host_')), []);
        assert.equal((await value(store.getNode(node.id))).reservation, 'host1');
      });

      it('clearTargetPowerState clears target_power_state and sets last_error on nodes reserved by host', async () => {
        const pending = await create({ target_power_state: 'power on' });
        const idle = await create();
        const otherHost = await create({ target_power_state: 'power off' });
        const unreserved = await create({ target_power_state: 'rebooting' });
        await value(store.reserve('Host-A', pending.id));
        await value(store.reserve('host-a', idle.id));
        await value(store.reserve('host-b', otherHost.id));
        const message = 'Pending power operation was aborted due to conductor restart';
        const touched = await value(store.clearTargetPowerState('HOST-A', message));
        assert.deepEqual(touched, [pending.uuid]);
        const cleared = await value(store.getNode(pending.id));
        assert.equal(cleared.target_power_state, null);
        assert.equal(cleared.last_error, message);
        assert.equal(cleared.reservation, 'Host-A', 'reservations are cleared separately');
        assert.equal((await value(store.getNode(idle.id))).last_error, null);
        assert.equal((await value(store.getNode(otherHost.id))).target_power_state, 'power off');
        assert.equal((await value(store.getNode(unreserved.id))).target_power_state, 'rebooting');
      });
    });

    describe('ports, portgroups and volume objects', () => {
      it('creates and lists ports by node, ordered by id, with defaults', async () => {
        const node = await create();
        const other = await create();
        const p1 = await value(store.createPort(node.id, { address: '52:54:00:aa:00:01' }));
        await value(store.createPort(other.id, { address: '52:54:00:bb:00:01' }));
        const p2 = await value(
          store.createPort(node.id, {
            address: '52:54:00:aa:00:02',
            pxe_enabled: false,
            local_link_connection: { switch_id: 'sw1', port_id: 'Eth1' },
            extra: { vif: 'x' },
          }),
        );
        assert.equal(p1.node_id, node.id);
        assert.equal(p1.pxe_enabled, true);
        assert.deepEqual(p1.local_link_connection, {});
        assert.equal(p1.portgroup_id, null);
        assert.equal(p2.pxe_enabled, false);
        assert.deepEqual(p2.local_link_connection, { switch_id: 'sw1', port_id: 'Eth1' });
        assert.deepEqual(await value(store.listPorts(node.id)), [p1, p2]);
        assert.deepEqual(await value(store.listPorts(424242)), []);
      });

      it('rejects duplicate port address and uuid (Duplicate) and ports of missing nodes (NodeNotFound)', async () => {
        const node = await create();
        const port = await value(store.createPort(node.id, { address: '52:54:00:aa:00:01' }));
        await failure(store.createPort(node.id, { address: '52:54:00:aa:00:01' }), Duplicate);
        await failure(store.createPort(node.id, { address: '52:54:00:aa:00:02', uuid: port.uuid }), Duplicate);
        await failure(store.createPort(424242, { address: '52:54:00:aa:00:03' }), NodeNotFound);
        assert.equal((await value(store.listPorts(node.id))).length, 1);
      });

      it('creates and lists portgroups; duplicate name → Duplicate', async () => {
        const node = await create();
        const pg = await value(store.createPortgroup(node.id, { name: 'bond0', mode: '802.3ad', address: '52:54:00:cc:00:01' }));
        assert.equal(pg.name, 'bond0');
        assert.equal(pg.mode, '802.3ad');
        const port = await value(store.createPort(node.id, { address: '52:54:00:cc:00:02', portgroup_id: pg.id }));
        assert.equal(port.portgroup_id, pg.id);
        await failure(store.createPortgroup(node.id, { name: 'bond0' }), Duplicate);
        await failure(store.createPortgroup(424242, { name: 'bond1' }), NodeNotFound);
        assert.deepEqual(await value(store.listPortgroups(node.id)), [pg]);
      });

      it('creates and lists volume connectors and targets with their unique constraints', async () => {
        const node = await create();
        const vc = await value(store.createVolumeConnector(node.id, { type: 'iqn', connector_id: 'iqn.2024-01.org:1' }));
        assert.equal(vc.type, 'iqn');
        await failure(store.createVolumeConnector(node.id, { type: 'iqn', connector_id: 'iqn.2024-01.org:1' }), Duplicate);
        await failure(store.createVolumeConnector(424242, { type: 'iqn', connector_id: 'other' }), NodeNotFound);
        const vt = await value(
          store.createVolumeTarget(node.id, { volume_type: 'iscsi', volume_id: 'v1', boot_index: 0, properties: { lun: 1 } }),
        );
        assert.deepEqual(vt.properties, { lun: 1 });
        await failure(store.createVolumeTarget(node.id, { volume_type: 'iscsi', volume_id: 'v2', boot_index: 0 }), Duplicate);
        await value(store.createVolumeTarget(node.id, { volume_type: 'iscsi', volume_id: 'v2', boot_index: 1 }));
        assert.deepEqual(await value(store.listVolumeConnectors(node.id)), [vc]);
        assert.deepEqual(
          (await value(store.listVolumeTargets(node.id))).map((t) => t.boot_index),
          [0, 1],
        );
      });
    });

    describe('conductors', () => {
      it('registers, touches, re-registers and lists conductors', async () => {
        const first = await value(store.registerConductor('cond-1'));
        assert.equal(first.hostname, 'cond-1');
        assert.equal(first.online, true);
        await value(store.registerConductor('cond-2'));
        await value(store.touchConductor('cond-1', false));
        let rows = await value(store.listConductors());
        assert.deepEqual(
          rows.map((r) => [r.hostname, r.online]),
          [
            ['cond-1', false],
            ['cond-2', true],
          ],
        );
        assert.ok(rows[0]!.updated_at !== null);
        const again = await value(store.registerConductor('cond-1'));
        assert.equal(again.id, first.id);
        assert.equal(again.online, true);
        rows = await value(store.listConductors());
        assert.equal(rows.length, 2);
      });
    });

    describe('fencing tokens, row versions and conductor groups (issue 10)', () => {
      const token = (node: NodeRecord): number => {
        assert.ok(Number.isSafeInteger(node.reservation_token), `token ${String(node.reservation_token)} is an integer`);
        return node.reservation_token!;
      };

      it('every reserve takes a new token, greater than every earlier one; release clears it, transfer keeps it', async () => {
        const a = await create();
        const b = await create();
        assert.equal(a.reservation_token, null);
        const a1 = token(await value(store.reserve('host-1', a.id)));
        const b1 = token(await value(store.reserve('host-2', b.uuid)));
        assert.ok(b1 > a1, `${b1} > ${a1}`);
        assert.equal((await value(store.getNode(a.id))).reservation_token, a1);
        await value(store.transferReservation('host-1', a.id, { purpose: 'next' }));
        assert.equal((await value(store.getNode(a.id))).reservation_token, a1, 'a transfer keeps the token');
        await value(store.release('host-1', a.id));
        assert.equal((await value(store.getNode(a.id))).reservation_token, null, 'a release clears the token');
        // The same node again, by the same tag: a new token, above both.
        const a2 = token(await value(store.reserve('host-1', a.id)));
        assert.ok(a2 > b1, `${a2} > ${b1}`);
        // A refused reserve hands out nothing that matters: the next one is still greater.
        await failure(store.reserve('host-3', a.id), NodeLocked);
        await value(store.release('host-2', b.id));
        const b2 = token(await value(store.reserve('host-2', b.id)));
        assert.ok(b2 > a2, `${b2} > ${a2}`);
        assert.deepEqual(await value(store.clearReservations('host-2')), [b.uuid]);
        assert.equal((await value(store.getNode(b.id))).reservation_token, null, 'clearReservations clears the token');
      });

      it('tokens keep growing over many reserves and releases', async () => {
        const nodes = [await create(), await create(), await create()];
        let last = 0;
        for (let i = 0; i < 60; i++) {
          const node = nodes[i % nodes.length]!;
          const t = token(await value(store.reserve(`h${i % 2}`, node.id)));
          assert.ok(t > last, `reserve ${i}: ${t} > ${last}`);
          last = t;
          await value(store.release(`h${i % 2}`, node.id));
        }
      });

      it('every write of the row bumps its version by one, and the rows returned show it', async () => {
        const node = await create({ target_power_state: 'power on' });
        assert.equal(node.version, 1);
        const version = async () => (await value(store.getNode(node.id))).version;
        const updated = await value(store.updateNode(node.id, { power_state: 'power off' }));
        assert.equal(updated.version, 2);
        assert.equal(await version(), 2);
        const reserved = await value(store.reserve('host-1', node.id));
        assert.equal(reserved.version, 3);
        assert.equal(await version(), 3);
        await value(store.transferReservation('host-1', node.id, { purpose: 'next' }));
        assert.equal(await version(), 4);
        assert.deepEqual(await value(store.clearTargetPowerState('host-1', 'aborted')), [node.uuid]);
        assert.equal(await version(), 5);
        await value(store.release('host-1', node.id));
        assert.equal(await version(), 6);
        await value(store.reserve('host-1', node.id));
        assert.equal(await version(), 7);
        await value(store.clearReservations('host-1'));
        assert.equal(await version(), 8);
        const fence = { tag: 'host-2', token: token(await value(store.reserve('host-2', node.id))) };
        assert.equal(await version(), 9);
        assert.equal((await value(store.updateNode(node.id, { last_error: null }, fence))).version, 10);
        await value(store.release('host-2', node.id, fence.token));
        assert.equal(await version(), 11);
        // Writes that change nothing of the row leave the version alone.
        await failure(store.reserve('host-3', 'no-such-node'), NodeNotFound);
        await failure(store.release('host-3', node.id), NodeNotLocked);
        await value(store.createPort(node.id, { address: '52:54:00:cc:00:01' }));
        assert.equal(await version(), 11);
        const other = await create();
        assert.equal(other.version, 1, 'a new node starts at 1');
      });

      /** A node reserved by `tag`, the fence of that reservation, and a stale fence (an earlier reservation of the same tag). */
      async function fenced(
        tag = 'host-1',
      ): Promise<{ node: NodeRecord; fence: { tag: string; token: number }; stale: { tag: string; token: number } }> {
        const node = await create();
        const first = token(await value(store.reserve(tag, node.id)));
        await value(store.release(tag, node.id));
        const held = await value(store.reserve(tag, node.id));
        return { node: held, fence: { tag, token: token(held) }, stale: { tag, token: first } };
      }

      /** Assert that `node` and its children are exactly as they were. */
      async function unchanged(before: NodeRecord): Promise<void> {
        assert.deepEqual(await value(store.getNode(before.id)), before, 'nothing was written');
      }

      it('a fenced updateNode writes only under that very reservation', async () => {
        const { node, fence, stale } = await fenced();
        // Same tag, earlier token.
        const lost = await failure(store.updateNode(node.id, { last_error: 'stale' }, stale), LockLost);
        assert.equal(lost.code, 'LockLost');
        await unchanged(node);
        // The tag must match exactly, as stored.
        await failure(store.updateNode(node.id, { last_error: 'case' }, { tag: 'HOST-1', token: fence.token }), LockLost);
        await unchanged(node);
        // The right fence.
        const written = await value(store.updateNode(node.id, { last_error: 'mine' }, fence));
        assert.equal(written.last_error, 'mine');
        assert.equal(written.version, node.version + 1);
        assert.equal(written.reservation_token, fence.token);
        // Released: the fence no longer holds.
        await value(store.release(fence.tag, node.id));
        const released = await value(store.getNode(node.id));
        await failure(store.updateNode(node.id, { last_error: 'late' }, fence), LockLost);
        await unchanged(released);
        // Taken by another tag (with any token, its own included).
        const other = token(await value(store.reserve('host-2', node.id)));
        const taken = await value(store.getNode(node.id));
        await failure(store.updateNode(node.id, { last_error: 'late' }, fence), LockLost);
        await failure(store.updateNode(node.id, { last_error: 'late' }, { tag: 'host-1', token: other }), LockLost);
        await unchanged(taken);
        // A missing node is NodeNotFound, fence or not.
        await failure(store.updateNode(999_999, { last_error: 'x' }, fence), NodeNotFound);
        // Without a fence, as before: anyone may write.
        assert.equal((await value(store.updateNode(node.id, { last_error: 'unfenced' }))).last_error, 'unfenced');
      });

      it('a fenced destroyNode deletes only under that very reservation', async () => {
        const { node, fence, stale } = await fenced();
        await value(store.createPort(node.id, { address: '52:54:00:dd:00:01' }));
        await failure(store.destroyNode(node.id, stale), LockLost);
        await unchanged(node);
        await value(store.release(fence.tag, node.id));
        await value(store.reserve('host-2', node.id));
        const taken = await value(store.getNode(node.id));
        await failure(store.destroyNode(node.id, fence), LockLost);
        await unchanged(taken);
        assert.equal((await value(store.listPorts(node.id))).length, 1, 'its ports are still there');
        const current = { tag: 'host-2', token: token(taken) };
        await value(store.destroyNode(node.id, current));
        await failure(store.getNode(node.id), NodeNotFound);
        assert.deepEqual(await value(store.listPorts(node.id)), []);
        await failure(store.destroyNode(node.id, current), NodeNotFound);
      });

      it('fenced createPort and createPortgroup create only under that very reservation', async () => {
        const { node, fence, stale } = await fenced();
        await failure(store.createPort(node.id, { address: '52:54:00:ee:00:01' }, stale), LockLost);
        await failure(store.createPortgroup(node.id, { name: 'pg-stale' }, stale), LockLost);
        await failure(store.createPort(node.id, { address: '52:54:00:ee:00:02' }, { tag: 'host-2', token: fence.token }), LockLost);
        await failure(store.createPortgroup(node.id, { name: 'pg-other' }, { tag: 'host-2', token: fence.token }), LockLost);
        assert.deepEqual(await value(store.listPorts(node.id)), []);
        assert.deepEqual(await value(store.listPortgroups(node.id)), []);
        await unchanged(node);
        const port = await value(store.createPort(node.id, { address: '52:54:00:ee:00:03' }, fence));
        const group = await value(store.createPortgroup(node.id, { name: 'pg-mine' }, fence));
        assert.deepEqual(
          (await value(store.listPorts(node.id))).map((p) => p.id),
          [port.id],
        );
        assert.deepEqual(
          (await value(store.listPortgroups(node.id))).map((g) => g.id),
          [group.id],
        );
        await failure(store.createPort(999_999, { address: '52:54:00:ee:00:04' }, fence), NodeNotFound);
        await failure(store.createPortgroup(999_999, { name: 'pg-none' }, fence), NodeNotFound);
        await value(store.release(fence.tag, node.id));
        await failure(store.createPort(node.id, { address: '52:54:00:ee:00:05' }, fence), LockLost);
        await failure(store.createPortgroup(node.id, { name: 'pg-late' }, fence), LockLost);
        assert.equal((await value(store.listPorts(node.id))).length, 1);
        assert.equal((await value(store.listPortgroups(node.id))).length, 1);
      });

      it('release and transferReservation with a token: another token of the same tag is LockLost, and nothing changes', async () => {
        const { node, fence, stale } = await fenced();
        await failure(store.release(fence.tag, node.id, stale.token), LockLost);
        await failure(store.transferReservation(fence.tag, node.id, { purpose: 'stale' }, stale.token), LockLost);
        await unchanged(node);
        // Another tag is NodeLocked (naming the holder), token or not; nothing is stolen.
        const locked = await failure(store.release('host-2', node.id, fence.token), NodeLocked);
        assert.equal(locked.holder.host, fence.tag);
        await failure(store.transferReservation('host-2', node.id, { purpose: 'x' }, fence.token), NodeLocked);
        await unchanged(node);
        // The right token.
        await value(store.transferReservation(fence.tag, node.id, { purpose: 'next' }, fence.token));
        const moved = await value(store.getNode(node.id));
        assert.equal(moved.reservation_purpose, 'next');
        assert.equal(moved.reservation_token, fence.token);
        await value(store.release(fence.tag, node.id, fence.token));
        assert.equal((await value(store.getNode(node.id))).reservation, null);
        // Unlocked: NodeNotLocked; missing: NodeNotFound.
        await failure(store.release(fence.tag, node.id, fence.token), NodeNotLocked);
        await failure(store.transferReservation(fence.tag, node.id, { purpose: 'x' }, fence.token), NodeNotLocked);
        await failure(store.release(fence.tag, 999_999, fence.token), NodeNotFound);
      });

      it('conductor_group: set at createNode (default empty), written by updateNode; registerConductor records the group', async () => {
        const plain = await create();
        assert.equal(plain.conductor_group, '');
        const grouped = await create({ conductor_group: 'rack-1' });
        assert.equal(grouped.conductor_group, 'rack-1');
        assert.equal((await value(store.getNode(grouped.id))).conductor_group, 'rack-1');
        assert.equal((await value(store.updateNode(plain.id, { conductor_group: 'rack-2' }))).conductor_group, 'rack-2');
        assert.equal((await value(store.getNode(plain.id))).conductor_group, 'rack-2');
        assert.deepEqual(
          (await value(store.listNodes())).map((n) => n.conductor_group),
          ['rack-2', 'rack-1'],
        );
        await failure(store.createNode({ driver: 'fake-hardware', conductor_group: 7 as unknown as string }), InvalidParameterValue);
        assert.equal((await value(store.registerConductor('cond-g', 'rack-1'))).conductor_group, 'rack-1');
        assert.equal((await value(store.registerConductor('cond-plain'))).conductor_group, '');
        assert.deepEqual(
          (await value(store.listConductors())).map((c) => [c.hostname, c.conductor_group]),
          [
            ['cond-g', 'rack-1'],
            ['cond-plain', ''],
          ],
        );
      });
    });

    describe('lifecycle', () => {
      it('flush resolves, close is idempotent, and calls after close fail with StoreError', async () => {
        const node = await create();
        await value(store.flush());
        await value(store.close());
        closed = true;
        await value(store.close());
        await failure(store.getNode(node.id), StoreError);
        await failure(store.createNode({ driver: 'fake-hardware' }), StoreError);
        await failure(store.reserve('h', node.id), StoreError);
        await failure(store.release('h', node.id), StoreError);
        await failure(store.listNodes(), StoreError);
        await failure(store.flush(), StoreError);
      });
    });
  });
}
