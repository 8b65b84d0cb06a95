/**
 * Checkpoints written by the checkpoint worker (src/store/internal/checkpointer.ts): the store's
 * thread never exports its database for a checkpoint, the image is exactly the store's database
 * at the checkpoint's seq (reservations and checkpoint meta included), a crashed worker is
 * reported and checkpoints go on on the store's thread, and nothing is lost across reopening.
 */
import assert from 'node:assert/strict';
import { access, copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StoreError } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import type { Store } from '../../src/store/store.js';
import { checkTrailer } from '../../src/store/internal/checkpoint.js';
import { crashCheckpointWorker, WorkerReplica } from '../../src/store/internal/checkpointer.js';
import { SqlDatabase, type SqlParam, type SqlRow } from '../../src/store/internal/database.js';
import { loadSqlJs } from '../../src/store/internal/sqljs.js';
import type { SqlJsStore } from '../../src/store/sqljs-store.js';
import type * as StoreModule from '../../src/store/sqljs-store.js';
import type * as DatabaseModule from '../../src/store/internal/database.js';
import { eventually, openStore, withTempDir } from './helpers.js';
import { failure, value } from './store-contract.js';

/** Count calls of SqlDatabase.export on this thread while `body` runs. */
async function countingExports<T>(body: () => Promise<T>): Promise<{ result: T; exports: number }> {
  const proto = SqlDatabase.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype
  const original = proto.export;
  let exports = 0;
  proto.export = function (this: SqlDatabase) {
    exports++;
    return original.call(this);
  };
  try {
    return { result: await body(), exports };
  } finally {
    proto.export = original;
  }
}

/** The store's own SqlDatabase (caught on its next statement; the worker's copies live in another thread). */
async function databaseOf(store: SqlJsStore): Promise<SqlDatabase> {
  const proto = SqlDatabase.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype
  const original = proto.get;
  let db: SqlDatabase | null = null;
  proto.get = function (this: SqlDatabase, ...args: Parameters<SqlDatabase['get']>) {
    db ??= this; // eslint-disable-line @typescript-eslint/no-this-alias -- the instance is what is caught
    return original.apply(this, args);
  };
  try {
    await value(store.listConductors());
    await value(store.getNode(1)).catch(() => undefined);
  } finally {
    proto.get = original;
  }
  assert.ok(db !== null, 'caught the store database');
  return db;
}

/** Every table of a database, every row in rowid order, and the schema: for exact comparison. */
function tables(db: SqlDatabase): Record<string, SqlRow[]> {
  const out: Record<string, SqlRow[]> = {
    sqlite_master: db.all('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name'),
  };
  for (const [name] of db.all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
    out[name as string] = db.all(`SELECT * FROM "${String(name)}" ORDER BY rowid`);
  }
  return out;
}

/** The database file as it is on disk (trailer checked). */
async function imageOf(path: string): Promise<SqlDatabase> {
  const split = checkTrailer(await readFile(path));
  assert.ok(!('problem' in split), 'the image passes its CRC trailer');
  assert.ok(split.trailer);
  const SQL = await loadSqlJs();
  return new SqlDatabase(new SQL.Database(split.image));
}

async function populate(store: Store, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const node = await value(store.createNode({ driver: 'fake-hardware', name: `n${i}`, properties: { i } }));
    await value(store.createPort(node.id, { address: `52:54:00:00:01:${i.toString(16).padStart(2, '0')}` }));
    ids.push(node.id);
  }
  await value(store.registerConductor('cond-1'));
  return ids;
}

describe('checkpoint worker', () => {
  it("the store's thread never exports its database during checkpoints (they are written from the worker's copy)", async () => {
    await withTempDir(async (dir) => {
      const store = await openStore({ path: join(dir, 'n.sqlite'), checkpointIntervalMs: 0 });
      const { exports } = await countingExports(async () => {
        const ids = await populate(store, 20);
        await value(store.checkpoint());
        // Size-triggered checkpoints too, while writing.
        for (const id of ids) await value(store.updateNode(id, { power_state: 'power on' }));
        await value(store.checkpoint());
        assert.ok(store.stats.checkpoints >= 2);
      });
      assert.equal(exports, 0, 'export() was called on the event loop');
      assert.equal(store.health.error, null);
      await value(store.close());
    });
  });

  it('without the worker (checkpointWorker: false) a checkpoint exports on the store thread (the spy sees it)', async () => {
    await withTempDir(async (dir) => {
      const store = await openStore({ path: join(dir, 'n.sqlite'), checkpointWorker: false });
      const { exports } = await countingExports(async () => {
        await populate(store, 2);
        await value(store.checkpoint());
      });
      assert.equal(exports, 1);
      await value(store.close());
    });
  });

  it("the image is the store's database at the checkpoint's seq: every row, the reservations held, the checkpoint meta; later changes are not in it", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path, checkpointIntervalMs: 0 });
      const ids = await populate(store, 10);
      await value(store.reserve('host-a', ids[1]!, { purpose: 'deploy' }));
      await value(store.reserve('host-b', ids[4]!));
      await value(store.release('host-a', ids[1]!));
      await value(store.reserve('host-a', ids[2]!, { purpose: 'clean' }));
      await value(store.updateNode(ids[3]!, { provision_state: 'manageable', last_error: 'x' }));
      await value(store.flush());
      const db = await databaseOf(store);
      const seq = store.stats.seq;
      // The flusher is idle: the checkpoint is snapshot now, synchronously.
      const checkpoint = store.checkpoint();
      const atSeq = tables(db);
      // Changes after the snapshot, before the worker has written the image.
      const later: Promise<unknown>[] = [
        value(store.updateNode(ids[0]!, { power_state: 'power off' })),
        value(store.createNode({ driver: 'fake-hardware', name: 'later' })),
        value(store.destroyNode(ids[5]!)),
        value(store.reserve('host-c', ids[6]!)),
      ];
      await value(checkpoint);
      await Promise.all(later);
      const image = await imageOf(path);
      try {
        assert.deepEqual(tables(image), atSeq);
        const meta = Object.fromEntries(image.all('SELECT key, value FROM meta').map(([key, v]) => [String(key), String(v)]));
        assert.equal(meta.checkpoint_seq, String(seq));
        assert.notEqual(meta.checkpoint_digest, '');
      } finally {
        image.close();
      }
      await value(store.close());
    });
  });

  it('size-triggered worker checkpoints under concurrent writes and reservations: a crash copy and a clean reopen lose nothing', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path, checkpointJournalBytes: 2048, checkpointIntervalMs: 0 });
      const ids = await populate(store, 8);
      await Promise.all(
        ids.map(async (id, w) => {
          for (let i = 1; i <= 15; i++) {
            await value(store.reserve(`w${w}`, id));
            await value(store.updateNode(id, { properties: { i }, last_error: `c${i}` }));
            await value(store.release(`w${w}`, id));
          }
        }),
      );
      await value(store.flush());
      assert.ok(store.stats.checkpoints >= 3, `checkpoints: ${store.stats.checkpoints}`);
      const before = await value(store.listNodes());
      const copy = join(dir, 'crashed.sqlite');
      await copyFile(path, copy);
      await copyFile(`${path}.journal`, `${copy}.journal`);
      const crashed = await openStore({ path: copy });
      // After a crash the reservations are those of the last checkpoint, stale (not journaled: see README), and
      // so are the version bumps of the reservation changes since then.
      const unreserved = (nodes: readonly NodeRecord[]) =>
        nodes.map((node) => ({
          ...node,
          reservation: null,
          reservation_purpose: null,
          reserved_at: null,
          reservation_token: null,
          version: 0,
        }));
      assert.deepEqual(unreserved(await value(crashed.listNodes())), unreserved(before));
      await value(crashed.close());
      await value(store.close());
      const reopened = await openStore({ path });
      assert.deepEqual(await value(reopened.listNodes()), before);
      await value(reopened.close());
    });
  });

  it('a crashed worker is reported: the checkpoint in flight fails, health says so, later checkpoints export on the store thread, nothing is lost', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path, checkpointIntervalMs: 0 });
      await populate(store, 3);
      await value(store.checkpoint()); // the worker is up
      await value(store.createNode({ driver: 'fake-hardware', name: 'before-crash' }));
      assert.ok(crashCheckpointWorker(), 'a worker was running');
      const error = await failure(store.checkpoint(), StoreError);
      assert.match(error.message, /checkpoint worker/);
      assert.equal(store.health.state, 'ok', 'the store still serves: the journal holds everything');
      assert.match(store.health.error ?? '', /checkpoint worker failed/);
      const { exports } = await countingExports(async () => {
        await value(store.createNode({ driver: 'fake-hardware', name: 'after-crash' }));
        await value(store.checkpoint());
      });
      assert.equal(exports, 1, 'the checkpoint after the crash exported on the store thread');
      const before = await value(store.listNodes());
      await value(store.close());
      const reopened = await openStore({ path });
      assert.deepEqual(await value(reopened.listNodes()), before);
      // A store opened after the crash gets a new worker.
      const { exports: fresh } = await countingExports(async () => {
        await value(reopened.createNode({ driver: 'fake-hardware', name: 'reopened' }));
        await value(reopened.checkpoint());
      });
      assert.equal(fresh, 0);
      assert.equal(reopened.health.error, null);
      await value(reopened.close());
    });
  });

  it('from the compiled package (dist/, built by npm test): the worker script ships next to its module and writes the checkpoints', async () => {
    const dist = new URL('../../dist/src/store/', import.meta.url);
    await access(new URL('internal/checkpoint-worker.js', dist));
    const { openSqlJsStore } = (await import(new URL('sqljs-store.js', dist).href)) as typeof StoreModule;
    const { SqlDatabase: DistDatabase } = (await import(new URL('internal/database.js', dist).href)) as typeof DatabaseModule;
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await value(openSqlJsStore({ path }));
      const proto = DistDatabase.prototype;
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype
      const original = proto.export;
      let exports = 0;
      proto.export = function (this: DatabaseModule.SqlDatabase) {
        exports++;
        return original.call(this);
      };
      try {
        await populate(store, 3);
        await value(store.checkpoint());
      } finally {
        proto.export = original;
      }
      assert.equal(exports, 0, 'the compiled store exported on its thread');
      assert.equal(store.health.error, null);
      await value(store.close());
      const reopened = await openStore({ path });
      assert.equal((await value(reopened.listNodes())).length, 3);
      await value(reopened.close());
    });
  });

  it('a copy that misses a change refuses to checkpoint and reports itself failed (never an image of another seq)', async () => {
    await withTempDir(async (dir) => {
      const SQL = await loadSqlJs();
      const seed = new SQL.Database();
      seed.run('CREATE TABLE nodes (id INTEGER PRIMARY KEY, reservation TEXT, reservation_purpose TEXT, reserved_at TEXT)');
      let failed: Error | null = null;
      const replica = new WorkerReplica(seed.export(), 0, (error) => (failed = error));
      seed.close();
      const insert = (id: number): [string, SqlParam[]] => ['INSERT INTO nodes (id) VALUES (?)', [id]];
      replica.replicate([{ seq: 1, statements: [insert(1)] }]);
      replica.replicate([{ seq: 3, statements: [insert(3)] }]); // change 2 is missing
      const job = replica.checkpoint(join(dir, 'x.sqlite'), { seq: 3, journalBase: 0, digest: 'd' }, []);
      await assert.rejects(job.written, /does not follow change 1/);
      await eventually(() => failed !== null, 'the failure report');
      assert.ok(replica.failure !== null);
      replica.close();
    });
  });
});
