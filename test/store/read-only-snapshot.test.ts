/**
 * readOnlySnapshot: the nodes of a database file as of its last acknowledged change (the file plus
 * its journal replayed in memory), without the lock and without writing: a torn last journal line
 * is reported and left in place, an empty file is an empty database, a corrupt file or a missing
 * journal is StoreCorrupt.
 */
import assert from 'node:assert/strict';
import { appendFile, copyFile, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readOnlySnapshot } from '../../src/store/read-only-snapshot.js';
import { journalPathOf } from '../../src/store/internal/recovery.js';
import { openStore, withTempDir } from './helpers.js';
import { value } from './store-contract.js';

/** A copy (file and journal, no lock) of a store whose last changes are only in the journal. */
async function copyWithJournal(dir: string): Promise<string> {
  const source = join(dir, 'source.sqlite');
  const store = await openStore({ path: source });
  try {
    await value(store.createNode({ driver: 'fake-hardware', name: 'one' }));
    const two = await value(store.createNode({ driver: 'fake-hardware', name: 'two' }));
    await value(store.updateNode(two.id, { provision_state: 'manageable', last_error: 'kept in the journal' }));
    const copy = join(dir, 'copy.sqlite');
    await copyFile(source, copy);
    await copyFile(`${source}.journal`, `${copy}.journal`);
    return copy;
  } finally {
    await value(store.close());
  }
}

test('replays the journal in memory and writes nothing; a torn last line is reported and left in place', async () => {
  await withTempDir(async (dir) => {
    const copy = await copyWithJournal(dir);
    const journalBefore = await readFile(`${copy}.journal`);
    const fileBefore = await readFile(copy);
    const read = await readOnlySnapshot(copy);
    assert.ok(read.isOk(), read.isErr() ? read.error.message : '');
    assert.ok(read.value.replayed > 0, 'changes came from the journal');
    assert.equal(read.value.tornTail, null);
    assert.deepEqual(
      read.value.nodes.map((n) => [n.name, n.provision_state, n.last_error]),
      [
        ['one', 'enroll', null],
        ['two', 'manageable', 'kept in the journal'],
      ],
    );

    await appendFile(`${copy}.journal`, 'deadbeef 12 {"seq');
    const torn = await readOnlySnapshot(copy);
    assert.ok(torn.isOk());
    assert.notEqual(torn.value.tornTail, null);
    assert.equal(torn.value.nodes.length, 2);
    assert.deepEqual(await readFile(`${copy}.journal`), Buffer.concat([journalBefore, Buffer.from('deadbeef 12 {"seq')]), 'not truncated');
    assert.deepEqual(await readFile(copy), fileBefore);
  });
});

test('an empty file is an empty database; garbage or a missing journal is StoreCorrupt', async () => {
  await withTempDir(async (dir) => {
    const empty = join(dir, 'empty.sqlite');
    await writeFile(empty, '');
    const none = await readOnlySnapshot(empty);
    assert.ok(none.isOk());
    assert.deepEqual(none.value.nodes, []);

    const garbage = join(dir, 'garbage.sqlite');
    await writeFile(garbage, 'not a database\n'.repeat(100));
    const bad = await readOnlySnapshot(garbage);
    assert.ok(bad.isErr());
    assert.equal(bad.error.code, 'StoreCorrupt');

    const copy = await copyWithJournal(dir);
    await unlink(`${copy}.journal`);
    const orphan = await readOnlySnapshot(copy);
    assert.ok(orphan.isErr());
    assert.equal(orphan.error.code, 'StoreCorrupt');
    assert.match(orphan.error.message, /journal is missing/);
  });
});

test('opening the store on an empty (0-byte) file makes it a new database, as SQLite does; a journal with changes still refuses', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'empty.sqlite');
    await writeFile(path, '');
    const store = await openStore({ path });
    try {
      await value(store.createNode({ driver: 'fake-hardware', name: 'first' }));
    } finally {
      await value(store.close());
    }
    const read = await readOnlySnapshot(path);
    assert.ok(read.isOk());
    assert.deepEqual(
      read.value.nodes.map((n) => n.name),
      ['first'],
    );

    // An empty file beside a journal that holds changes: replaying them onto nothing could lose data.
    const copy = await copyWithJournal(dir);
    await writeFile(copy, '');
    const { openSqlJsStore } = await import('../../src/store/sqljs-store.js');
    const refused = await openSqlJsStore({ path: copy });
    assert.ok(refused.isErr());
    assert.equal(refused.error.code, 'StoreCorrupt');
    assert.ok((await readFile(journalPathOf(copy))).length > 0, 'the journal is left alone');
  });
});
