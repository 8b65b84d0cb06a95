/**
 * The PostgreSQL store: the Store contract against a real server (one per file, a fresh database
 * per test), plus what is specific to this implementation (schema, options, description).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { InvalidParameterValue, LockLost, NodeLocked, NodeNotFound, StoreError } from '../../src/errors.js';
import { openPostgresStore } from '../../src/store/pg-store.js';
import { freshDatabase, openPg, resetDatabase, sql, startServer } from './pg-helpers.js';
import { failure, storeContractSuite, value } from './store-contract.js';

let server: PgServer;
/** The database of the contract tests, emptied before each. */
let shared: string;
before(async () => {
  server = await startServer();
  shared = (await freshDatabase(server)).url;
});
after(async () => {
  await server?.stop();
});

storeContractSuite('postgres', async () => {
  await resetDatabase(shared);
  const store = await openPg(shared);
  return { store, cleanup: async () => {} };
});

describe('PostgresStore specifics', () => {
  it('creates the schema once; a second (and concurrent) opener finds it; schema_version is recorded', async () => {
    const db = await freshDatabase(server);
    try {
      const stores = await Promise.all([openPg(db.url), openPg(db.url), openPg(db.url)]);
      const rows = await sql<{ value: string }>(db.url, "SELECT value FROM meta WHERE key = 'schema_version'");
      assert.deepEqual(
        rows.map((r) => r.value),
        ['2'],
      );
      for (const store of stores) await value(store.close());
    } finally {
      await db.drop();
    }
  });

  it('refuses a database of another schema version', async () => {
    const db = await freshDatabase(server);
    try {
      await value((await openPg(db.url)).close());
      await sql(db.url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
      const error = await failure(openPostgresStore({ url: db.url }), StoreError);
      assert.match(error.message, /unsupported schema version 99/);
    } finally {
      await db.drop();
    }
  });

  it('validates options and describes itself without the password', async () => {
    await failure(openPostgresStore({ url: '' }), InvalidParameterValue);
    await failure(openPostgresStore({ url: server.url, poolSize: 0 }), InvalidParameterValue);
    await failure(openPostgresStore({ url: server.url, reconnectMinMs: 500, reconnectMaxMs: 100 }), InvalidParameterValue);
    const db = await freshDatabase(server);
    try {
      const store = await openPg(db.url);
      assert.match(store.description, /^postgresql:\/\/127\.0\.0\.1:\d+\/t_/);
      assert.doesNotMatch(store.description, /postgres:postgres@/);
      assert.equal(store.health.state, 'ok');
      await value(store.close());
      assert.equal(store.health.state, 'closed');
    } finally {
      await db.drop();
    }
  });

  it('an unreachable server is Err(StoreError), not a throw or a hang', async () => {
    const started = Date.now();
    await failure(openPostgresStore({ url: 'postgres://postgres:postgres@127.0.0.1:1/none', queryTimeoutMs: 1000 }), StoreError);
    assert.ok(Date.now() - started < 5000);
  });

  it('stores timestamps as ISO-8601 UTC with milliseconds, versions and tokens as numbers', async () => {
    const db = await freshDatabase(server);
    const store = await openPg(db.url);
    try {
      const node = await value(store.createNode({ driver: 'fake-hardware' }));
      assert.equal(node.version, 1);
      assert.equal(node.reservation_token, null);
      assert.equal(node.conductor_group, '');
      assert.match(node.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const reserved = await value(store.reserve('h', node.id, { purpose: 'p', at: new Date('2024-01-02T03:04:05.678Z') }));
      assert.equal(reserved.reserved_at, '2024-01-02T03:04:05.678Z');
      assert.equal(typeof reserved.reservation_token, 'number');
      assert.equal(reserved.version, 2);
      const again = await value(store.updateNode(node.id, { last_error: 'x' }, { tag: 'h', token: reserved.reservation_token! }));
      assert.equal(again.version, 3);
    } finally {
      await value(store.close());
      await db.drop();
    }
  });

  describe('fences, versions and tokens', () => {
    let url: string;
    before(async () => {
      url = (await freshDatabase(server)).url;
    });

    it('tokens increase across reserves; every node write bumps version; release and clear drop the token', async () => {
      await resetDatabase(url);
      const store = await openPg(url);
      try {
        const a = await value(store.createNode({ driver: 'fake-hardware' }));
        const b = await value(store.createNode({ driver: 'fake-hardware' }));
        const t1 = (await value(store.reserve('h', a.id))).reservation_token!;
        const t2 = (await value(store.reserve('h', b.id))).reservation_token!;
        assert.ok(t2 > t1);
        await value(store.transferReservation('h', a.id, { purpose: 'next' }, t1));
        assert.equal((await value(store.getNode(a.id))).reservation_token, t1, 'a transfer keeps the token');
        assert.equal((await value(store.getNode(a.id))).version, 3);
        await value(store.release('h', a.id, t1));
        const released = await value(store.getNode(a.id));
        assert.equal(released.reservation_token, null);
        assert.equal(released.version, 4);
        const t3 = (await value(store.reserve('h', a.id))).reservation_token!;
        assert.ok(t3 > t2);
        assert.deepEqual((await value(store.clearReservations('H'))).length, 2);
        for (const node of await value(store.listNodes())) {
          assert.equal(node.reservation_token, null);
          assert.equal(node.reservation, null);
        }
        assert.equal((await value(store.getNode(b.id))).version, 3);
      } finally {
        await value(store.close());
      }
    });

    it('a fenced write changes the row only under that reservation and token; otherwise LockLost and nothing written', async () => {
      await resetDatabase(url);
      const store = await openPg(url);
      try {
        const node = await value(store.createNode({ driver: 'fake-hardware' }));
        const held = await value(store.reserve('h1', node.id));
        const fence = { tag: 'h1', token: held.reservation_token! };
        const stale = { tag: 'h1', token: fence.token - 1 };
        const other = { tag: 'h2', token: fence.token };
        for (const bad of [stale, other]) {
          const lost = await failure(store.updateNode(node.id, { last_error: 'no' }, bad), LockLost);
          assert.equal(lost.details.nowHeldBy, 'h1');
          assert.equal(lost.details.nowToken, fence.token);
          await failure(store.createPort(node.id, { address: '52:54:00:00:00:01' }, bad), LockLost);
          await failure(store.createPortgroup(node.id, { name: 'bond0' }, bad), LockLost);
          await failure(store.destroyNode(node.id, bad), LockLost);
        }
        const unchanged = await value(store.getNode(node.id));
        assert.equal(unchanged.last_error, null);
        assert.equal(unchanged.version, held.version);
        assert.deepEqual(await value(store.listPorts(node.id)), []);
        const written = await value(store.updateNode(node.id, { last_error: 'yes' }, fence));
        assert.equal(written.version, held.version + 1);
        await value(store.createPort(node.id, { address: '52:54:00:00:00:01' }, fence));
        await value(store.createPortgroup(node.id, { name: 'bond0' }, fence));
        await failure(store.release('h1', node.id, stale.token), LockLost);
        await failure(store.transferReservation('h1', node.id, { purpose: 'x' }, stale.token), LockLost);
        await failure(store.release('h2', node.id, fence.token), NodeLocked);
        await failure(store.updateNode(424242, { last_error: 'x' }, fence), NodeNotFound);
        await value(store.release('h1', node.id, fence.token));
        const lost = await failure(store.updateNode(node.id, { last_error: 'late' }, fence), LockLost);
        assert.equal(lost.details.nowHeldBy, null);
        const again = await value(store.reserve('h1', node.id));
        await failure(store.destroyNode(node.id, fence), LockLost);
        await value(store.destroyNode(node.id, { tag: 'h1', token: again.reservation_token! }));
        await failure(store.getNode(node.id), NodeNotFound);
      } finally {
        await value(store.close());
      }
    });
  });
});
