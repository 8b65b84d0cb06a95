/**
 * The queries of the periodic checks use an index, not a scan of every node: EXPLAIN QUERY PLAN of
 * the exact statements `listNodes` runs for them, on a new store and on files written before the
 * index existed (a version-0.1 file, and a current-format file without it).
 */
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NodeFilter } from '../../src/store/store.js';
import type { SqlJsStore } from '../../src/store/sqljs-store.js';
import { checkTrailer, withTrailer } from '../../src/store/internal/checkpoint.js';
import { SqlDatabase, type SqlParam } from '../../src/store/internal/database.js';
import { loadSqlJs } from '../../src/store/internal/sqljs.js';
import { openStore, withTempDir } from './helpers.js';
import { value } from './store-contract.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const V01 = join(REPO, 'test/fixtures/store/v0.1');

/** The filter of a wait-timeout check (src/periodics/wait-timeouts.ts), and of a multi-state check. */
const WAIT_TIMEOUT_FILTER: NodeFilter = {
  provisionState: 'wait call-back',
  reserved: false,
  maintenance: false,
  provisionUpdatedBefore: new Date('2030-01-01T00:00:00Z'),
};
const STATES_FILTER: NodeFilter = { provisionState: ['deploying', 'cleaning'], reserved: false };

/** The query plan of the statement `listNodes(filter)` runs, on the store's own database. */
async function planOf(store: SqlJsStore, filter: NodeFilter): Promise<string[]> {
  const proto = SqlDatabase.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype
  const original = proto.all;
  let caught: { db: SqlDatabase; sql: string; params: readonly SqlParam[] } | null = null;
  proto.all = function (this: SqlDatabase, sql: string, params: readonly SqlParam[] = []) {
    caught ??= { db: this, sql, params };
    return original.call(this, sql, params);
  };
  try {
    await value(store.listNodes(filter));
  } finally {
    proto.all = original;
  }
  assert.ok(caught !== null);
  const { db, sql, params } = caught as { db: SqlDatabase; sql: string; params: readonly SqlParam[] };
  // Rows of EXPLAIN QUERY PLAN: id, parent, notused, detail.
  return original.call(db, `EXPLAIN QUERY PLAN ${sql}`, params).map((row) => String(row[3]));
}

function assertIndexed(plan: string[]): void {
  const nodes = plan.filter((detail) => /\bnodes\b/.test(detail));
  assert.ok(
    nodes.some((detail) => detail.includes('USING INDEX provision_state_idx')),
    `plan: ${plan.join(' | ')}`,
  );
  assert.ok(!nodes.some((detail) => /^SCAN nodes\b/.test(detail)), `a full scan of nodes: ${plan.join(' | ')}`);
}

async function seed(store: SqlJsStore): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const node = await value(store.createNode({ driver: 'fake-hardware', provision_state: 'available' }));
    // Writing provision_state stamps provision_updated_at.
    if (i % 5 === 0) await value(store.updateNode(node.id, { provision_state: 'wait call-back' }));
  }
}

describe('indexes of the periodic checks', () => {
  it('a wait-timeout check (one state, unreserved, not in maintenance, provision_updated_at before a cutoff) uses provision_state_idx', async () => {
    const store = await openStore();
    await seed(store);
    assertIndexed(await planOf(store, WAIT_TIMEOUT_FILTER));
    assertIndexed(await planOf(store, STATES_FILTER));
    // And it answers what a scan would.
    const listed = await value(store.listNodes(WAIT_TIMEOUT_FILTER));
    assert.equal(listed.length, 10);
    await value(store.close());
  });

  it('a version-0.1 file gets the index when opened (and keeps it after a checkpoint)', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      await copyFile(join(V01, 'nodes.sqlite'), path);
      await copyFile(join(V01, 'nodes.sqlite.journal'), `${path}.journal`);
      const store = await openStore({ path });
      assertIndexed(await planOf(store, WAIT_TIMEOUT_FILTER));
      await value(store.close());
      const reopened = await openStore({ path });
      assertIndexed(await planOf(reopened, WAIT_TIMEOUT_FILTER));
      await value(reopened.close());
    });
  });

  it('a current-format file written without the index gets it when opened', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await seed(store);
      await value(store.close());
      // Drop the index from the file, as a file of 0.2.0 has none.
      const split = checkTrailer(await readFile(path));
      assert.ok('image' in split);
      const SQL = await loadSqlJs();
      const raw = new SQL.Database(split.image);
      raw.run('DROP INDEX provision_state_idx');
      await writeFile(path, withTrailer(raw.export()));
      raw.close();
      const reopened = await openStore({ path });
      assertIndexed(await planOf(reopened, WAIT_TIMEOUT_FILTER));
      assert.equal((await value(reopened.listNodes(WAIT_TIMEOUT_FILTER))).length, 10);
      await value(reopened.close());
    });
  });
});
