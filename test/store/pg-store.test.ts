/**
 * The PostgreSQL store: the Store contract against a real server (one per file, a fresh database
 * per test), plus what is specific to this implementation (schema, options, description).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { InvalidParameterValue, StoreError } from '../../src/errors.js';
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
});
