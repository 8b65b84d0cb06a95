/**
 * The sql.js store: the Store contract in memory and on file (both durability modes), plus what is
 * specific to this implementation (identity rules, row conversion, journal format, group commit,
 * checkpoint triggers, options).
 */
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidParameterValue, StoreError } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import { openSqlJsStore } from '../../src/store/index.js';
import { SqlDatabase } from '../../src/store/internal/database.js';
import { isIntLike, isUuidLike, nodeNameProblem, parseIdentity } from '../../src/identity.js';
import { encodeHeader, encodeLine, entryDigest, JournalFile, readJournal, type JournalEntry } from '../../src/store/internal/journal.js';
import { rowToNode } from '../../src/store/internal/rows.js';
import { NODE_COLUMNS } from '../../src/store/internal/schema.js';
import { loadSqlJs } from '../../src/store/internal/sqljs.js';
import { writeError } from '../../src/store/internal/sql-errors.js';
import { eventually, openStore, tempDir, withTempDir } from './helpers.js';
import { failure, storeContractSuite, value } from './store-contract.js';

storeContractSuite('SqlJsStore in memory', async () => ({ store: await openStore(), cleanup: async () => {} }));

storeContractSuite('SqlJsStore file, sync durability', async () => {
  const tmp = await tempDir();
  return { store: await openStore({ path: join(tmp.dir, 'nodes.sqlite') }), cleanup: tmp.cleanup };
});

storeContractSuite('SqlJsStore file, batched durability, tiny checkpoints', async () => {
  const tmp = await tempDir();
  // Checkpoint after nearly every write, so the contract also holds across checkpoints.
  const store = await openStore({ path: join(tmp.dir, 'nodes.sqlite'), durability: 'batched', maxDelayMs: 5, checkpointJournalBytes: 256 });
  return { store, cleanup: tmp.cleanup };
});

describe('identity rules', () => {
  it('classifies ids, UUIDs and names as Ironic does (names: documented extension)', () => {
    assert.deepEqual(parseIdentity(7)._unsafeUnwrap(), { kind: 'id', id: 7 });
    assert.deepEqual(parseIdentity('7')._unsafeUnwrap(), { kind: 'id', id: 7 });
    assert.deepEqual(parseIdentity('1BE26C0B-03F2-4D2E-AE87-C02D7F33C123')._unsafeUnwrap(), {
      kind: 'uuid',
      uuid: '1be26c0b-03f2-4d2e-ae87-c02d7f33c123',
    });
    // Not int-like by Ironic's rule (str(int(v)) == v), so a name.
    assert.deepEqual(parseIdentity('007')._unsafeUnwrap(), { kind: 'name', name: '007' });
    assert.deepEqual(parseIdentity('node-1.rack_2~a')._unsafeUnwrap(), { kind: 'name', name: 'node-1.rack_2~a' });
    assert.equal(parseIdentity('a'.repeat(255)).isOk(), true);
    for (const bad of ['a'.repeat(256), '', ' ', 'é', '+1', '-5', '0', 1.5, -3, 0, Number.MAX_SAFE_INTEGER + 1, {}, null]) {
      assert.equal(parseIdentity(bad).isErr(), true, `expected InvalidIdentity for ${JSON.stringify(bad)}`);
    }
    assert.equal(isIntLike('12'), true);
    assert.equal(isIntLike('012'), false);
    assert.equal(isUuidLike('1be26c0b03f24d2eae87c02d7f33c123'), false);
  });

  it('refuses node names that could not be looked up by name', async () => {
    assert.equal(nodeNameProblem('web-01'), null);
    assert.notEqual(nodeNameProblem('123'), null);
    assert.notEqual(nodeNameProblem('1be26c0b-03f2-4d2e-ae87-c02d7f33c123'), null);
    assert.notEqual(nodeNameProblem('white space'), null);
    const store = await openStore();
    await failure(store.createNode({ driver: 'fake-hardware', name: '123' }), InvalidParameterValue);
    await failure(store.createNode({ driver: 'fake-hardware', name: 'bad name' }), InvalidParameterValue);
    const node = await value(store.createNode({ driver: 'fake-hardware' }));
    await failure(store.updateNode(node.id, { name: '42' }), InvalidParameterValue);
    await value(store.close());
  });
});

describe('row conversion', () => {
  it('rowToNode reads every column at its SELECT position', () => {
    // A row whose every text column holds its own column name shows any index mix-up.
    const row = NODE_COLUMNS.map((c) => {
      if (c === 'id') return 5;
      if (c === 'maintenance') return 1;
      if (['instance_info', 'driver_info', 'driver_internal_info', 'properties', 'extra'].includes(c)) return JSON.stringify({ c });
      return c;
    });
    const node = rowToNode(row) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(node).sort(), [...NODE_COLUMNS].sort());
    for (const c of NODE_COLUMNS) {
      if (c === 'id') assert.equal(node[c], 5);
      else if (c === 'maintenance') assert.equal(node[c], true);
      else if (typeof node[c] === 'object') assert.deepEqual(node[c], { c });
      else assert.equal(node[c], c, c);
    }
  });
});

describe('journal format', () => {
  const STORE = 'store-1';
  const entry = (seq: number, sql = 'INSERT INTO t VALUES (?)'): JournalEntry => ({ seq, statements: [[sql, [seq, 'x', null]]] });
  /** A journal: its header (base), then one line per write. */
  const journal = (base: number, ...writes: JournalEntry[][]) =>
    Buffer.concat([encodeHeader({ store: STORE, base }), ...writes.map((w) => encodeLine(w))]);
  const expect = (checkpointSeq: number, previousBase: number | null = null, checkpointDigest: string | null = null) => ({
    store: STORE,
    checkpointSeq,
    checkpointDigest,
    previousBase,
  });
  const lineStart = (bytes: Buffer, line: number): number => {
    let pos = 0;
    for (let i = 0; i < line; i++) pos = bytes.indexOf(10, pos) + 1;
    return pos;
  };

  it('round-trips changes, several statements in one change, and several changes in one line', () => {
    const multi: JournalEntry = {
      seq: 3,
      statements: [
        ['INSERT INTO a VALUES (?)', [1]],
        ['INSERT INTO b VALUES (?)', ['x']],
      ],
    };
    const parsed = readJournal(journal(0, [entry(1), entry(2)], [multi]), expect(0));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.header, { store: STORE, base: 0 });
    assert.deepEqual(
      parsed.entries.map((e) => [e.seq, e.statements.length]),
      [
        [1, 1],
        [2, 1],
        [3, 2],
      ],
    );
    assert.equal(parsed.tornTail, null);
  });

  it('skips the changes already in the checkpoint when the journal is the one before it (a crash before the reset)', () => {
    const parsed = readJournal(journal(2, [entry(3), entry(4)], [entry(5)]), expect(4, 2, entryDigest(entry(4).statements)));
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.entries.map((e) => e.seq),
      [5],
    );
    assert.equal(parsed.skipped, 2);
  });

  it('drops a torn last write: an incomplete last line, or a bad checksum in the last line', () => {
    const good = journal(0, [entry(1)], [entry(2)]);
    const partial = Buffer.concat([good, encodeLine([entry(3)]).subarray(0, 30)]);
    const a = readJournal(partial, expect(0));
    assert.ok(a.ok);
    assert.equal(a.entries.length, 2);
    assert.equal(a.validBytes, good.length);
    assert.match(a.tornTail ?? '', /incomplete/);

    const flipped = Buffer.concat([good, encodeLine([entry(3)])]);
    flipped.writeUInt8(flipped.readUInt8(good.length + 40) ^ 0x01, good.length + 40);
    const b = readJournal(flipped, expect(0));
    assert.ok(b.ok);
    assert.equal(b.entries.length, 2);
    assert.equal(b.validBytes, good.length);
  });

  it('a bad line followed by more bytes is corruption, whatever follows', () => {
    const bytes = journal(0, [entry(1)], [entry(2)], [entry(3)]);
    const second = lineStart(bytes, 2);
    bytes.writeUInt8(bytes.readUInt8(second + 20) ^ 0x01, second + 20);
    const parsed = readJournal(bytes, expect(0));
    assert.equal(parsed.ok, false);
    assert.match(!parsed.ok ? parsed.reason : '', /line 3 is corrupt/);
  });

  it('a zeroed or garbage region reaching the end of the file is corruption, not a torn write (defect 4)', () => {
    const bytes = journal(0, [entry(1)], [entry(2)], [entry(3)], [entry(4)]);
    const zeroed = Buffer.from(bytes);
    zeroed.fill(0, lineStart(bytes, 2));
    const a = readJournal(zeroed, expect(0));
    assert.equal(a.ok, false, 'acknowledged writes 2..4 were wiped: not a torn last write');
    const garbage = Buffer.from(bytes);
    garbage.fill(0x41, lineStart(bytes, 2) + 3);
    assert.equal(readJournal(garbage, expect(0)).ok, false, 'a line longer than the length it declares');
  });

  it('refuses a journal of another database, of another checkpoint, or with a gap or an overlap (defect 5)', () => {
    const bytes = journal(4, [entry(5)], [entry(6), entry(7)]);
    const another = readJournal(bytes, { ...expect(4), store: 'another' });
    assert.match(!another.ok ? another.reason : '', /belongs to another database/);
    const pending = readJournal(bytes, expect(6, 4, entryDigest(entry(6).statements)));
    assert.ok(pending.ok, 'checkpoint 6 written from journal 4, reset not done yet');
    assert.deepEqual(
      pending.entries.map((e) => e.seq),
      [7],
    );
    const wrong = readJournal(bytes, expect(9, 7));
    assert.equal(wrong.ok, false, 'a checkpoint seq the journal does not continue');
    assert.match(!wrong.ok ? wrong.reason : '', /continues checkpoint 4/);
    const raised = readJournal(bytes, expect(6, 4, entryDigest(entry(5).statements)));
    assert.equal(raised.ok, false, 'the checkpoint claims change 6 but recorded the digest of change 5');
    assert.match(!raised.ok ? raised.reason : '', /change 6 in the journal is not the one the database file holds/);
    const cut = readJournal(bytes, expect(9, 4));
    assert.equal(cut.ok, false, "the journal ends before the checkpoint's last change");
    assert.match(!cut.ok ? cut.reason : '', /ends before change 9/);
    assert.equal(readJournal(journal(4, [entry(5)], [entry(7)]), expect(4)).ok, false, 'gap');
    assert.equal(readJournal(journal(4, [entry(5)], [entry(5)]), expect(4)).ok, false, 'overlap');
    assert.equal(readJournal(journal(4, [entry(4)]), expect(4)).ok, false, 'a change the checkpoint already holds');
    assert.equal(readJournal(Buffer.from('garbage\n'), expect(0)).ok, false, 'no header');
  });
});

describe('sql.js specifics', () => {
  it('maps UNIQUE violations to Duplicate and anything else, thrown strings included, to StoreError', async () => {
    const dup = writeError('createPort', new Error('UNIQUE constraint failed: ports.address'), { address: 'aa' });
    assert.equal(dup.code, 'Duplicate');
    assert.match(dup.message, /port with address aa already exists/);
    const closed = writeError('updateNode', 'Database closed');
    assert.ok(closed instanceof StoreError);
    assert.match(closed.message, /Database closed/);

    // The real thing: sql.js throws the string "Database closed" on a closed database.
    const SQL = await loadSqlJs();
    const db = new SqlDatabase(new SQL.Database());
    db.close();
    assert.throws(
      () => db.run('SELECT 1'),
      (thrown: unknown) => typeof thrown === 'string' || thrown instanceof Error,
    );
  });

  it('rejects invalid options with InvalidParameterValue naming the option', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ durability: 'eventually' }, 'durability'],
      [{ maxDelayMs: -1 }, 'maxDelayMs'],
      [{ checkpointJournalBytes: 1.5 }, 'checkpointJournalBytes'],
      [{ checkpointIntervalMs: Number.NaN }, 'checkpointIntervalMs'],
      [{ path: '' }, 'path'],
      [{ now: 'yesterday' }, 'now'],
    ];
    for (const [options, option] of cases) {
      const error = await failure(openSqlJsStore(options as never), InvalidParameterValue);
      assert.equal(error.details.option, option);
    }
  });

  it('uses the injected clock for every timestamp', async () => {
    let t = Date.parse('2024-03-01T10:00:00.000Z');
    const store = await openStore({ now: () => new Date(t) });
    const node = await value(store.createNode({ driver: 'fake-hardware' }));
    assert.equal(node.created_at, '2024-03-01T10:00:00.000Z');
    await value(store.reserve('h', node.id, { purpose: 'deploy' }));
    t += 1500;
    const locked = await store.reserve('other', node.id);
    assert.equal(locked._unsafeUnwrapErr().details.heldForMs, 1500);
    const updated = await value(store.updateNode(node.id, { provision_state: 'manageable' }));
    assert.equal(updated.updated_at, '2024-03-01T10:00:01.500Z');
    assert.equal(updated.provision_updated_at, '2024-03-01T10:00:01.500Z');
    await value(store.close());
  });

  it('in memory: no path, flush resolves at once, stats stay zero', async () => {
    const store = await openStore();
    assert.equal(store.path, null);
    assert.match(store.description, /in-memory/);
    await value(store.createNode({ driver: 'fake-hardware' }));
    await value(store.flush());
    await value(store.checkpoint());
    assert.equal(store.stats.journalWrites, 0);
    await value(store.close());
  });

  it('throws TypeError for malformed arguments the types forbid', async () => {
    const store = await openStore();
    const node = await value(store.createNode({ driver: 'fake-hardware' }));
    assert.throws(() => store.updateNode(1.5, {}), TypeError);
    assert.throws(() => store.updateNode(node.id, { reservation: 'me' } as never), TypeError);
    assert.throws(() => store.reserve('', node.id), TypeError);
    await value(store.close());
  });

  it('refuses bad child fields with InvalidParameterValue (they reach it from callers, through a task)', async () => {
    const store = await openStore();
    const node = await value(store.createNode({ driver: 'fake-hardware' }));
    const missing = await store.createPort(node.id, {} as never);
    assert.ok(
      missing.isErr() &&
        missing.error instanceof InvalidParameterValue &&
        /missing required field\(s\) address/.test(missing.error.message),
    );
    const wrong = await store.createPort(node.id, { address: 'aa:bb', pxe_enabled: 'yes' } as never);
    assert.ok(wrong.isErr() && wrong.error instanceof InvalidParameterValue && wrong.error.details.field === 'pxe_enabled');
    const unknown = await store.createPortgroup(node.id, { colour: 'blue' } as never);
    assert.ok(unknown.isErr() && unknown.error instanceof InvalidParameterValue);
    assert.deepEqual(await value(store.listPorts(node.id)), []);
    await value(store.close());
  });
});

describe('file store durability machinery', () => {
  it('sync mode: concurrent writers share fdatasyncs, and each resolves only once durable', async () => {
    await withTempDir(async (dir) => {
      const store = await openStore({ path: join(dir, 'n.sqlite') });
      const nodes = await Promise.all(Array.from({ length: 32 }, () => value(store.createNode({ driver: 'fake-hardware' }))));
      const before = store.stats.journalWrites;
      const results = await Promise.all(nodes.map((n, i) => store.updateNode(n.id, { extra: { i } })));
      assert.ok(results.every((r) => r.isOk()));
      const stats = store.stats;
      assert.equal(stats.durableSeq, stats.seq, 'every resolved change is durable');
      assert.ok(stats.journalWrites - before < 32, `32 concurrent updates took ${stats.journalWrites - before} writes`);
      // Reservations are not journaled (only the token ceiling is, once per block of tokens: the first reserve raises it).
      await value(store.reserve('h', nodes[1]!.id));
      await value(store.release('h', nodes[1]!.id));
      const seq = store.stats.seq;
      await value(store.reserve('h', nodes[0]!.id));
      await value(store.release('h', nodes[0]!.id));
      assert.equal(store.stats.seq, seq);
      await value(store.close());
    });
  });

  it('batched mode: changes resolve before they are durable, flush() is a barrier, the timer flushes', async () => {
    await withTempDir(async (dir) => {
      const store = await openStore({ path: join(dir, 'n.sqlite'), durability: 'batched', maxDelayMs: 40 });
      await value(store.createNode({ driver: 'fake-hardware' }));
      const afterCreate = store.stats;
      assert.equal(afterCreate.seq, 1);
      assert.equal(afterCreate.durableSeq, 0, 'acknowledged before the fdatasync');
      await value(store.flush());
      assert.equal(store.stats.durableSeq, 1);
      await value(store.createNode({ driver: 'fake-hardware' }));
      await eventually(() => store.stats.durableSeq === 2, 'the batch timer to flush');
      await value(store.close());
    });
  });

  it('checkpoints by journal size, by interval and on demand, and truncates the journal', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const bySize = await openStore({ path, checkpointJournalBytes: 2000, checkpointIntervalMs: 0 });
      for (let i = 0; i < 10; i++) await value(bySize.createNode({ driver: 'fake-hardware' }));
      // Journal writes go on while a checkpoint is written; the journal shrinks once it is.
      await eventually(() => bySize.stats.checkpoints >= 1 && bySize.stats.journalBytes <= 2000, 'checkpoints by size');
      await value(bySize.checkpoint());
      const header = (await readFile(`${path}.journal`, 'utf8')).split('\n');
      assert.deepEqual(header.slice(1), [''], 'the journal holds its header only');
      assert.equal(bySize.stats.journalBytes, Buffer.byteLength(`${header[0]}\n`));
      await value(bySize.close());

      const byInterval = await openStore({ path, checkpointIntervalMs: 30 });
      await value(byInterval.createNode({ driver: 'fake-hardware' }));
      assert.equal(byInterval.stats.checkpoints, 0);
      await eventually(() => byInterval.stats.checkpoints === 1, 'the interval checkpoint');
      await value(byInterval.close());
    });
  });

  it('close checkpoints, leaves the journal its header only, removes the lock file; the file then holds everything', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path });
      const node = await value(store.createNode({ driver: 'fake-hardware', name: 'kept' }));
      await value(store.close());
      assert.equal((await readFile(`${path}.journal`, 'utf8')).split('\n').length, 2, 'the header line only');
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.includes('.lock')),
        [],
      );
      const SQL = await loadSqlJs();
      const db = new SqlDatabase(new SQL.Database(await readFile(path)));
      assert.equal(db.get('SELECT uuid FROM nodes WHERE name = ?', ['kept'])?.[0], node.uuid);
      db.close();
    });
  });

  it('replays clearTargetPowerState by id, independent of the unjournaled reservations', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path });
      const node: NodeRecord = await value(store.createNode({ driver: 'fake-hardware', target_power_state: 'power on' }));
      await value(store.checkpoint()); // the file has no reservation
      await value(store.reserve('host-a', node.id));
      await value(store.clearTargetPowerState('host-a', 'aborted'));
      await value(store.release('host-a', node.id));
      await value(store.flush());
      const copy = join(dir, 'copy.sqlite');
      await copyFile(path, copy);
      await copyFile(`${path}.journal`, `${copy}.journal`);
      const reopened = await openStore({ path: copy });
      const replayed = await value(reopened.getNode(node.id));
      assert.equal(replayed.target_power_state, null);
      assert.equal(replayed.last_error, 'aborted');
      await value(reopened.close());
      await value(store.close());
      await failure(reopened.getNode(node.id), StoreError);
      await failure(store.updateNode(node.id, {}), StoreError);
    });
  });

  it('a failed journal write fails its caller; the store reloads what the disk holds and serves again (sync mode)', async () => {
    const tmp = await tempDir();
    // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype
    const original = JournalFile.prototype.append;
    try {
      const path = join(tmp.dir, 'n.sqlite');
      const store = await openStore({ path });
      const kept = await value(store.createNode({ driver: 'fake-hardware', name: 'kept' }));
      JournalFile.prototype.append = () => Promise.reject(new Error('EIO: injected write failure'));
      const error = await failure(store.createNode({ driver: 'fake-hardware', name: 'lost' }), StoreError);
      assert.match(error.message, /injected write failure/);
      // Until it has reloaded, nothing is served (memory still holds the failed change).
      await failure(store.getNode(kept.id), StoreError);
      JournalFile.prototype.append = original;
      await eventually(() => store.health.state === 'ok', 'the store reloaded');
      assert.equal(store.health.recoveries, 1);
      assert.match(store.health.error ?? '', /injected write failure/);
      assert.deepEqual(
        (await value(store.listNodes())).map((n) => n.name),
        ['kept'],
        'the failed change is gone from memory too',
      );
      await value(store.createNode({ driver: 'fake-hardware', name: 'after' }));
      await value(store.close());
      const reopened = await openStore({ path });
      assert.deepEqual(
        (await value(reopened.listNodes())).map((n) => n.name),
        ['kept', 'after'],
      );
      await value(reopened.close());
    } finally {
      JournalFile.prototype.append = original;
      await tmp.cleanup();
    }
  });

  it('opening in a missing directory fails with StoreError', async () => {
    await withTempDir(async (dir) => {
      const error = await failure(openSqlJsStore({ path: join(dir, 'missing', 'x.sqlite') }), StoreError);
      assert.match(error.message, /missing/);
    });
  });
});
