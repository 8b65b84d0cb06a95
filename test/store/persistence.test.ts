/**
 * Persistence of the sql.js file store: reopen after close and after a crash (journal replay),
 * SIGKILL at random points and inside checkpoints (every acknowledged change survives), leftover
 * temp files, corrupt database and journal files (StoreCorrupt, file untouched), torn journal
 * tails, and the exclusive lock file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Duplicate, NodeNotFound, StoreCorrupt, StoreError, StoreInUse } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import type { Store } from '../../src/store/store.js';
import { openSqlJsStore, type SqlJsStore } from '../../src/store/sqljs-store.js';
import { SqlDatabase } from '../../src/store/internal/database.js';
import { loadSqlJs } from '../../src/store/internal/sqljs.js';
import { encodeLine } from '../../src/store/internal/journal.js';
import { TRAILER_BYTES } from '../../src/store/internal/checkpoint.js';
import { V1_NODE_UUIDS, writeV1Store } from '../fixtures/store/schema-v1.js';
import { openStore, withTempDir } from './helpers.js';
import { failure, value } from './store-contract.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WRITER = join(REPO, 'test/fixtures/store/writer.ts');

/** Everything a store holds, read through the interface, for deep comparison. */
async function dump(store: Store) {
  const nodes = await value(store.listNodes());
  const children = [];
  for (const node of nodes) {
    children.push({
      node: node.id,
      ports: await value(store.listPorts(node.id)),
      portgroups: await value(store.listPortgroups(node.id)),
      connectors: await value(store.listVolumeConnectors(node.id)),
      targets: await value(store.listVolumeTargets(node.id)),
    });
  }
  return { nodes, children, conductors: await value(store.listConductors()) };
}

/** Fill a store with one of everything, through separate (separately synced) writes. */
async function populate(store: Store): Promise<void> {
  const a = await value(
    store.createNode({
      driver: 'fake-hardware',
      name: 'node-a',
      power_interface: 'ipmitool',
      driver_info: { ipmi_address: '10.1.1.1', ipmi_password: 's3cret' },
      properties: { cpus: 16, memory_mb: 65536, capabilities: 'boot_mode:uefi' },
      instance_info: { image_source: 'glance://x', nested: { a: [1, 2, { b: null }] } },
    }),
  );
  const b = await value(store.createNode({ driver: 'ipmi', maintenance: true, maintenance_reason: 'fan' }));
  const gone = await value(store.createNode({ driver: 'fake-hardware', name: 'gone' }));
  await value(store.updateNode(a.id, { provision_state: 'manageable', power_state: 'power off', extra: { note: 'ünïcødé ✓' } }));
  await value(store.updateNode(b.id, { last_error: 'line1\nline2 "quoted"', target_power_state: 'power on' }));
  const pg = await value(store.createPortgroup(a.id, { name: 'bond0', mode: 'active-backup' }));
  await value(store.createPort(a.id, { address: '52:54:00:00:00:01', portgroup_id: pg.id, local_link_connection: { switch_id: 's' } }));
  await value(store.createPort(b.id, { address: '52:54:00:00:00:02', pxe_enabled: false }));
  await value(store.createPort(gone.id, { address: '52:54:00:00:00:03' }));
  await value(store.createVolumeConnector(a.id, { type: 'iqn', connector_id: 'iqn.x' }));
  await value(store.createVolumeTarget(a.id, { volume_type: 'iscsi', volume_id: 'v', boot_index: 0 }));
  await value(store.destroyNode(gone.id));
  await value(store.registerConductor('cond-1'));
  await value(store.touchConductor('cond-1', false));
}

/** Copy the database file and journal of an open store: the image a crash would leave. */
async function crashImage(path: string, copy: string): Promise<string> {
  await copyFile(path, copy);
  await copyFile(`${path}.journal`, `${copy}.journal`);
  return copy;
}

describe('reopen', () => {
  it('write, close, reopen: same nodes, children, JSON fields and timestamps', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      const before = await dump(store);
      await value(store.close());
      const reopened = await openStore({ path });
      assert.deepEqual(await dump(reopened), before);
      // And it keeps working: the id sequence continues, names stay unique.
      const next = await value(reopened.createNode({ driver: 'fake-hardware' }));
      assert.ok(next.id > Math.max(...before.nodes.map((n) => n.id)));
      await failure(reopened.createNode({ driver: 'fake-hardware', name: 'node-a' }), Duplicate);
      await value(reopened.close());
    });
  });

  it('reopen without close (flushed, then abandoned) replays the journal', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      const before = await dump(store);
      assert.ok((await stat(`${path}.journal`)).size > 0, 'the changes are in the journal, not yet in the file');
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      const reopened = await openStore({ path: copy });
      assert.deepEqual(await dump(reopened), before);
      await value(reopened.close());
      await value(store.close());
    });
  });

  it('batched mode: flush() makes every acknowledged change reach the journal', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path, durability: 'batched', maxDelayMs: 10_000 });
      await populate(store);
      await value(store.flush());
      const before = await dump(store);
      const reopened = await openStore({ path: await crashImage(path, join(dir, 'crashed.sqlite')) });
      assert.deepEqual(await dump(reopened), before);
      await value(reopened.close());
      await value(store.close());
    });
  });

  it('a crash after the checkpoint rename but before the journal reset applies nothing twice', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const copy = join(dir, 'crashed.sqlite');
      let captured: Promise<void> | null = null;
      const store = await openStore({
        path,
        // The exact state a crash right after the rename leaves: the new file, the old journal.
        onCheckpointPhase: (phase) => {
          if (phase === 'renamed' && captured === null) captured = crashImage(path, copy).then(() => undefined);
          return captured ?? undefined;
        },
      });
      await populate(store);
      await value(store.flush());
      await value(store.checkpoint());
      const before = await dump(store);
      assert.ok(captured !== null);
      const oldJournal = (await readFile(`${copy}.journal`, 'utf8')).split('\n');
      assert.ok(oldJournal.length > 3, 'the copy has the old journal, with the changes the new file holds');
      const reopened = await openStore({ path: copy });
      assert.deepEqual(await dump(reopened), before);
      // And it goes on: later changes continue the sequence.
      const late = await value(reopened.createNode({ driver: 'fake-hardware', name: 'late' }));
      await value(reopened.close());
      const again = await openStore({ path: copy });
      assert.equal((await value(again.getNode('late'))).uuid, late.uuid);
      await value(again.close());
      await value(store.close());
    });
  });
});

describe('interrupted checkpoints', () => {
  it('a garbage <path>.tmp next to a valid file (crash before rename) is removed; the file and journal are read', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      const before = await dump(store);
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      const garbage = Buffer.from('SQLite format 3\0 but only the first bytes of an image');
      await writeFile(`${copy}.tmp`, garbage);
      const reopened = await openStore({ path: copy });
      assert.deepEqual(await dump(reopened), before);
      await assert.rejects(stat(`${copy}.tmp`), { code: 'ENOENT' });
      await value(reopened.close());
      await value(store.close());
    });
  });

  it('a checkpoint failing after the temp write leaves the store working and nothing lost', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      let failCheckpoints = true;
      const store = await openStore({
        path,
        onCheckpointPhase: (phase) => {
          if (failCheckpoints && phase === 'temp-written') throw new Error('injected fault before rename');
        },
      });
      await populate(store);
      const error = await failure(store.checkpoint(), StoreError);
      assert.match(error.message, /injected fault/);
      assert.ok((await stat(`${path}.tmp`)).size > 0, 'the temp file is left as a crash would leave it');
      const node = await value(store.createNode({ driver: 'fake-hardware', name: 'after-fault' }));
      await value(store.flush());
      const before = await dump(store);
      const reopened = await openStore({ path: await crashImage(path, join(dir, 'crashed.sqlite')) });
      assert.deepEqual(await dump(reopened), before);
      assert.equal((await value(reopened.getNode('after-fault'))).id, node.id);
      await value(reopened.close());
      failCheckpoints = false;
      await value(store.close());
    });
  });
});

describe('corrupt files are reported, never replaced', () => {
  async function validImage(dir: string): Promise<Buffer> {
    const path = join(dir, 'valid.sqlite');
    const store = await openStore({ path });
    await populate(store);
    await value(store.close());
    return readFile(path);
  }

  async function expectCorrupt(path: string, reason: RegExp, corruptPath = path): Promise<void> {
    const files = [path, `${path}.journal`];
    const before = await Promise.all(files.map((f) => readFile(f).catch(() => null)));
    const error = await failure(openSqlJsStore({ path }), StoreCorrupt);
    assert.equal(error.details.path, corruptPath);
    assert.match(error.message, new RegExp(corruptPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(String(error.details.reason), reason);
    const after = await Promise.all(files.map((f) => readFile(f).catch(() => null)));
    assert.deepEqual(after, before, 'the files are unchanged');
    // The lock was released: a second attempt reports the same problem, not StoreInUse.
    await failure(openSqlJsStore({ path }), StoreCorrupt);
  }

  // An empty (0-byte) file is a new database (issue 11): test/store/read-only-snapshot.test.ts.
  it('random bytes, a truncated database, a foreign or newer database → StoreCorrupt', async () => {
    await withTempDir(async (dir) => {
      const image = await validImage(dir);
      const random = Buffer.alloc(8192);
      for (let i = 0; i < random.length; i++) random[i] = (Math.random() * 256) | 0;
      const cases: [string, Buffer, RegExp][] = [
        ['random.sqlite', random, /not a SQLite database/],
        ['half.sqlite', image.subarray(0, image.length / 2), /truncated|malformed|page/],
        ['minus-one.sqlite', image.subarray(0, image.length - 1), /truncated/],
        ['header-only.sqlite', image.subarray(0, 100), /truncated/],
      ];
      const SQL = await loadSqlJs();
      const foreign = new SqlDatabase(new SQL.Database());
      foreign.exec('CREATE TABLE nodes (id INTEGER PRIMARY KEY, uuid TEXT);');
      cases.push(['foreign.sqlite', Buffer.from(foreign.export()), /not a metal-conductor database/]);
      foreign.close();
      const newer = new SqlDatabase(new SQL.Database(image));
      newer.exec('PRAGMA user_version = 99;');
      cases.push(['newer.sqlite', Buffer.from(newer.export()), /schema version 99/]);
      newer.close();
      const mangled = Buffer.from(image);
      mangled.fill(0xa5, 4096 * 2, 4096 * 3); // a whole b-tree page overwritten
      cases.push(['mangled.sqlite', mangled, /checksum/i]);

      for (const [name, bytes, reason] of cases) {
        const path = join(dir, name);
        await writeFile(path, bytes);
        await expectCorrupt(path, reason);
      }
    });
  });

  it('a corrupt line in the middle of the journal → StoreCorrupt naming the journal', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      const journal = await readFile(`${copy}.journal`);
      const thirdLine = journal.indexOf(10, journal.indexOf(10) + 1) + 1;
      journal.writeUInt8(journal.readUInt8(thirdLine + 30) ^ 0x20, thirdLine + 30); // one flipped bit: the checksum catches it
      await writeFile(`${copy}.journal`, journal);
      await expectCorrupt(copy, /line 3 is corrupt/, `${copy}.journal`);
    });
  });

  it('a sequence gap in the journal → StoreCorrupt', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      const lines = (await readFile(`${copy}.journal`, 'utf8')).split('\n');
      lines.splice(2, 1); // a whole valid line missing
      await writeFile(`${copy}.journal`, lines.join('\n'));
      await expectCorrupt(copy, /sequence gap/, `${copy}.journal`);
    });
  });

  it('a journal without its database file → StoreCorrupt (it is not replayed onto an empty database)', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      await copyFile(`${path}.journal`, join(dir, 'orphan.sqlite.journal'));
      await value(store.close());
      const orphan = join(dir, 'orphan.sqlite');
      const error = await failure(openSqlJsStore({ path: orphan }), StoreCorrupt);
      assert.match(error.message, /journal/);
      await assert.rejects(stat(orphan), { code: 'ENOENT' });
    });
  });

  it('a torn last journal line is ignored and cut off; the store then works normally', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      await populate(store);
      await value(store.flush());
      const before = await dump(store);
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      const validLength = (await stat(`${copy}.journal`)).size;
      // Half a line: what a crash during a write leaves.
      const line = encodeLine([{ seq: 999, statements: [['DELETE FROM nodes', []]] }]);
      await appendFile(`${copy}.journal`, line.subarray(0, line.length / 2));
      const reopened = await openStore({ path: copy });
      assert.deepEqual(await dump(reopened), before);
      assert.equal((await stat(`${copy}.journal`)).size, validLength);
      const more = await value(reopened.createNode({ driver: 'fake-hardware', name: 'after-tear' }));
      await value(reopened.flush());
      const again = await openStore({ path: await crashImage(copy, join(dir, 'again.sqlite')) });
      assert.equal((await value(again.getNode('after-tear'))).uuid, more.uuid);
      await value(again.close());
      await value(reopened.close());
    });
  });

  it('a complete last journal line with a bad checksum is a torn write too', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const store = await openStore({ path });
      for (let i = 0; i < 3; i++) await value(store.createNode({ driver: 'fake-hardware', name: `n-${i}` }));
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      const journal = await readFile(`${copy}.journal`);
      const lastLine = journal.lastIndexOf(10, journal.length - 2) + 1;
      journal.writeUInt8(journal.readUInt8(lastLine + 40) ^ 0x01, lastLine + 40);
      await writeFile(`${copy}.journal`, journal);
      const reopened = await openStore({ path: copy });
      assert.deepEqual(
        (await value(reopened.listNodes())).map((n) => n.name),
        ['n-0', 'n-1'],
      );
      assert.equal((await stat(`${copy}.journal`)).size, lastLine);
      await value(reopened.close());
    });
  });
});

/** Lock files beside the database. */
async function lockFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.includes('.lock')).sort();
}

describe('files of version 0.1', () => {
  const FIXTURE = join(REPO, 'test/fixtures/store/v0.1');

  async function copyFixture(dir: string): Promise<string> {
    const path = join(dir, 'nodes.sqlite');
    await copyFile(join(FIXTURE, 'nodes.sqlite'), path);
    await copyFile(join(FIXTURE, 'nodes.sqlite.journal'), `${path}.journal`);
    return path;
  }

  async function expectFixtureNodes(store: Store, extra: string[] = []): Promise<void> {
    const nodes = await value(store.listNodes());
    assert.deepEqual(
      nodes.map((n) => n.name),
      ['a', 'b', 'c', 'd', 'e', ...extra],
    );
    assert.equal(nodes[3]!.last_error, 'kept');
    assert.deepEqual(
      (await value(store.listPorts(nodes[3]!.id))).map((p) => p.address),
      ['52:54:00:00:00:01'],
    );
  }

  it('are upgraded on open: the journal replayed, the file given its trailer and id, a format-2 journal', async () => {
    await withTempDir(async (dir) => {
      const path = await copyFixture(dir);
      const store = await openStore({ path });
      await expectFixtureNodes(store);
      await value(store.createNode({ driver: 'fake-hardware', name: 'f' }));
      await value(store.flush());
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      assert.match((await readFile(`${path}.journal`, 'utf8')).split('\n')[0]!, /"journal":2/);
      const reopened = await openStore({ path: copy });
      await expectFixtureNodes(reopened, ['f']);
      await value(reopened.close());
    });
  });

  it('an upgrade interrupted between the new database file and the new journal is completed on the next open', async () => {
    await withTempDir(async (dir) => {
      const path = await copyFixture(dir);
      const upgraded = await openStore({ path });
      // The state a crash right after the new file's rename leaves: the new file, the old journal
      // (as it was, or empty: a 0.1 store that was closed cleanly).
      const withOld = await crashImage(path, join(dir, 'old-journal.sqlite'));
      const withEmpty = await crashImage(path, join(dir, 'empty-journal.sqlite'));
      await value(upgraded.close());
      await copyFile(join(FIXTURE, 'nodes.sqlite.journal'), `${withOld}.journal`);
      await writeFile(`${withEmpty}.journal`, '');
      for (const copy of [withOld, withEmpty]) {
        const store = await openStore({ path: copy });
        await expectFixtureNodes(store);
        await value(store.close());
        const again = await openStore({ path: copy });
        await expectFixtureNodes(again);
        await value(again.close());
      }
      // Once the upgrade is complete, a headerless journal is corruption again.
      await writeFile(`${withOld}.journal`, '');
      await failure(openSqlJsStore({ path: withOld }), StoreCorrupt);
    });
  });
});

describe('exclusive lock file', () => {
  it('a second open of the same path while the first is open → StoreInUse; after close it opens', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const first = await openStore({ path });
      const error = await failure(openSqlJsStore({ path }), StoreInUse);
      assert.equal(error.details.pid, process.pid);
      assert.equal(error.details.path, path);
      // The failed attempt did not disturb the holder.
      await value(first.createNode({ driver: 'fake-hardware' }));
      await value(first.close());
      const second = await openStore({ path });
      assert.equal((await value(second.listNodes())).length, 1);
      await value(second.close());
    });
  });

  it('a stale lock file (its process is gone) is taken over', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const dead = spawn(process.execPath, ['-e', '']);
      const deadPid = dead.pid!;
      await new Promise((r) => dead.once('exit', r));
      await writeFile(`${path}.lock`, `${deadPid}\n`);
      await writeFile(`${path}.lock.7`, `${deadPid}\n`);
      const store = await openStore({ path });
      // One lock file, ours, under a name above every one seen; the dead ones are gone.
      assert.deepEqual(await lockFiles(dir), ['nodes.sqlite.lock.8']);
      assert.equal((await readFile(`${path}.lock.8`, 'utf8')).trim(), String(process.pid));
      await value(store.close());
      assert.deepEqual(await lockFiles(dir), []);
    });
  });

  it('a lock file naming our own pid that no store of ours holds (a restarted container) is taken over', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      await writeFile(`${path}.lock`, `${process.pid}\n`);
      const store = await openStore({ path });
      await failure(openSqlJsStore({ path }), StoreInUse);
      await value(store.close());
    });
  });
});

// ------------------------------------------------------------------------------------------------
// Crash tests: a child writes, is SIGKILLed, and every change it printed as acknowledged must be there.

interface Acks {
  creates: Map<number, { uuid: string; name: string; at: number }>;
  ports: Map<number, { address: string; at: number }>;
  /** node id → acknowledged counters with their times, in order. */
  updates: Map<number, { counter: number; at: number }[]>;
}

interface RoundOptions {
  path: string;
  round: number;
  durability?: 'sync' | 'batched';
  maxDelayMs?: number;
  checkpointBytes?: number;
  /** Kill this long after "ready". */
  killAfterMs?: number;
  /** Kill when the child reports this checkpoint phase ("<phase>:<occurrence>"). */
  pauseAt?: string;
}

async function crashRound(options: RoundOptions): Promise<{ acks: Acks; killedAt: number; lines: number; phase: string | null }> {
  const args = ['--import', 'tsx', WRITER, '--path', options.path, '--round', String(options.round), '--writers', '4'];
  args.push('--durability', options.durability ?? 'sync', '--max-delay-ms', String(options.maxDelayMs ?? 50));
  args.push('--checkpoint-bytes', String(options.checkpointBytes ?? 16 * 1024));
  if (options.pauseAt !== undefined) args.push('--pause-at', options.pauseAt);
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const acks: Acks = { creates: new Map(), ports: new Map(), updates: new Map() };
  let buffered = '';
  let stderr = '';
  let killedAt = 0;
  let lines = 0;
  let phase: string | null = null;
  const kill = () => {
    if (killedAt === 0) {
      killedAt = Date.now();
      child.kill('SIGKILL');
    }
  };
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const safety = setTimeout(kill, 30_000);
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      // Lines that arrive after the kill were still written before it: they count.
      const [kind, a, b, c, d] = line.split(' ');
      lines++;
      if (kind === 'ready' && options.killAfterMs !== undefined) setTimeout(kill, options.killAfterMs);
      else if (kind === 'phase') {
        phase = a!;
        kill();
      } else if (kind === 'create') acks.creates.set(Number(a), { uuid: b!, name: c!, at: Number(d) });
      else if (kind === 'port') acks.ports.set(Number(a), { address: b!, at: Number(c) });
      else if (kind === 'ack') {
        const list = acks.updates.get(Number(a)) ?? [];
        list.push({ counter: Number(b), at: Number(c) });
        acks.updates.set(Number(a), list);
      }
    }
  });
  const signal = await exited;
  clearTimeout(safety);
  assert.equal(signal, 'SIGKILL', `the writer should have been killed, not exited: ${stderr}`);
  return { acks, killedAt, lines, phase };
}

/**
 * Reopen and check the round's acknowledgements. `durableBefore`: only acknowledgements earlier
 * than this instant must be present (batched mode); every one in sync mode.
 */
async function verifyRound(path: string, round: number, acks: Acks, durableBefore = Infinity): Promise<SqlJsStore> {
  const store = await openStore({ path });
  const nodes = await value(store.listNodes());
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const [id, ack] of acks.creates) {
    if (ack.at >= durableBefore) continue;
    const node = byId.get(id);
    assert.ok(node, `acknowledged node ${id} (${ack.name}) is missing`);
    assert.equal(node.uuid, ack.uuid);
    assert.equal(node.name, ack.name);
  }
  for (const [id, ack] of acks.ports) {
    if (ack.at >= durableBefore) continue;
    const ports = await value(store.listPorts(id));
    assert.deepEqual(
      ports.map((p) => p.address),
      [ack.address],
      `acknowledged port of node ${id}`,
    );
  }
  for (const node of nodes.filter((n) => n.name?.startsWith(`r${round}-`))) {
    const counter = node.properties.counter as number;
    // One update writes both: they must agree (no half-applied statement).
    assert.equal(node.last_error, counter === 0 ? null : `c${counter}`, `node ${node.id} properties/last_error disagree`);
    const updates = acks.updates.get(node.id) ?? [];
    const lastAcked = updates.at(-1)?.counter ?? 0;
    const mustHave = updates.filter((u) => u.at < durableBefore).at(-1)?.counter ?? 0;
    assert.ok(counter >= mustHave, `node ${node.id}: stored counter ${counter} < acknowledged ${mustHave}`);
    // At most one unacknowledged update per node was in flight.
    assert.ok(counter <= lastAcked + 1, `node ${node.id}: stored counter ${counter} was never written (last ack ${lastAcked})`);
    if (!acks.creates.has(node.id)) assert.equal(counter, 0, `node ${node.id} was updated before its creation was acknowledged`);
    assert.ok((await value(store.listPorts(node.id))).length <= 1);
  }
  return store;
}

describe('crash tests (child process SIGKILLed)', () => {
  it('sync mode: every acknowledged change survives SIGKILL at random points and inside checkpoints', async (t) => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'crash.sqlite');
      const plans: Omit<RoundOptions, 'path' | 'round'>[] = [
        { killAfterMs: 100 + Math.floor(Math.random() * 300) },
        { killAfterMs: 200 + Math.floor(Math.random() * 600) },
        { killAfterMs: 300 + Math.floor(Math.random() * 900), checkpointBytes: 4096 },
        { killAfterMs: Math.floor(Math.random() * 50) },
        // Deterministic kills inside a checkpoint, at each of its phases.
        { pauseAt: 'exported:2' },
        { pauseAt: 'temp-written:2' },
        { pauseAt: 'renamed:2' },
        { pauseAt: 'journal-truncated:3' },
      ];
      let totalAcks = 0;
      for (const [index, plan] of plans.entries()) {
        const round = index + 1;
        const { acks, lines, phase } = await crashRound({ path, round, ...plan });
        const updates = [...acks.updates.values()].reduce((n, list) => n + list.length, 0);
        t.diagnostic(`round ${round} ${JSON.stringify(plan)}: ${lines} lines, ${acks.creates.size} nodes, ${updates} updates acknowledged`);
        totalAcks += updates;
        if (plan.pauseAt !== undefined) assert.equal(phase, plan.pauseAt.split(':')[0], 'killed inside the checkpoint phase');
        const store = await verifyRound(path, round, acks);
        await value(store.close());
      }
      assert.ok(totalAcks > 0, 'the writers acknowledged changes');
    });
  });

  it('batched mode: changes acknowledged more than maxDelayMs (+ margin) before the kill survive', async (t) => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'batched.sqlite');
      const maxDelayMs = 50;
      // Generous margin for a slow or busy disk; the bound is best effort by nature.
      const margin = 1000;
      const { acks, killedAt } = await crashRound({
        path,
        round: 1,
        durability: 'batched',
        maxDelayMs,
        killAfterMs: 2500,
        checkpointBytes: 64 * 1024,
      });
      const durableBefore = killedAt - maxDelayMs - margin;
      const checked = [...acks.updates.values()].flat().filter((u) => u.at < durableBefore).length;
      t.diagnostic(`${checked} acknowledged updates old enough to be checked`);
      assert.ok(checked > 0, 'some acknowledgements are old enough to check');
      const store = await verifyRound(path, 1, acks, durableBefore);
      await value(store.close());
    });
  });
});

describe('files of schema version 1 (before fencing tokens and versions)', () => {
  async function expectV1Nodes(store: Store): Promise<NodeRecord[]> {
    const nodes = await value(store.listNodes());
    assert.deepEqual(
      nodes.slice(0, 3).map((n) => [n.uuid, n.name, n.version, n.reservation_token, n.conductor_group]),
      V1_NODE_UUIDS.map((uuid, i) => [uuid, `v1-${'abc'[i]}`, 1, null, '']),
    );
    assert.deepEqual(nodes[0]!.properties, { cpus: 4 });
    assert.equal(nodes[0]!.last_error, 'kept', 'the version-1 journal was replayed');
    assert.deepEqual(
      (await value(store.listPorts(nodes[0]!.id))).map((p) => p.address),
      ['52:54:00:01:00:01'],
    );
    return nodes;
  }

  it('open: migrated before the journal is replayed; nodes intact with version 1 and no token; the store then works', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'v1.sqlite');
      await writeV1Store(path);
      const store = await openStore({ path });
      const nodes = await expectV1Nodes(store);
      assert.equal(nodes.length, 3);
      assert.equal(nodes[1]!.reservation, 'old-host', 'the stale reservation of the checkpoint, without a token');
      assert.deepEqual(
        (await value(store.listConductors())).map((c) => [c.hostname, c.conductor_group]),
        [
          ['old-host', ''],
          ['v1-conductor', ''],
        ],
      );
      assert.deepEqual(await value(store.clearReservations('old-host')), [V1_NODE_UUIDS[1]]);
      const reserved = await value(store.reserve('new-host', nodes[0]!.id));
      assert.ok(Number.isSafeInteger(reserved.reservation_token));
      assert.equal(reserved.version, 2);
      const fence = { tag: 'new-host', token: reserved.reservation_token! };
      await value(store.updateNode(nodes[0]!.id, { conductor_group: 'g1', last_error: null }, fence));
      await value(store.createNode({ driver: 'fake-hardware', name: 'v2-d', conductor_group: 'g2' }));
      await value(store.flush());
      // A crash before any checkpoint: the file on disk is still version 1; its journal now holds
      // version-2 statements after the version-1 ones, and replays onto the migrated schema.
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      const before = await value(store.listNodes());
      await value(store.close());
      const crashed = await openStore({ path: copy });
      const replayed = await value(crashed.listNodes());
      assert.deepEqual(
        replayed.map((n) => [n.name, n.conductor_group, n.last_error]),
        before.map((n) => [n.name, n.conductor_group, n.last_error]),
      );
      await value(crashed.close());
      // Closed cleanly: the file is now version 2 and holds everything.
      const image = new SqlDatabase(new (await loadSqlJs()).Database(new Uint8Array(await readFile(path)).subarray(0, -TRAILER_BYTES)));
      try {
        assert.equal(Number(image.exec('PRAGMA user_version;')[0]![0]), 2);
      } finally {
        image.close();
      }
      const reopened = await openStore({ path });
      assert.deepEqual(await value(reopened.listNodes()), before);
      await value(reopened.close());
    });
  });
});

describe('reservation tokens survive reopening', () => {
  it('after a clean close and after a crash, a reopened store hands out only greater tokens', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'tokens.sqlite');
      const store = await openStore({ path, durability: 'batched' });
      const node = await value(store.createNode({ driver: 'fake-hardware' }));
      const first = await value(store.reserve('h', node.id));
      // The token ceiling is durable before the first token under it is handed out, batched mode or not.
      assert.equal(store.stats.durableSeq, store.stats.seq, 'the token ceiling is on disk');
      await value(store.release('h', node.id));
      let last = first.reservation_token!;
      for (let i = 0; i < 5; i++) {
        last = (await value(store.reserve('h', node.id))).reservation_token!;
        await value(store.release('h', node.id));
      }
      // A crash right now (the batched store has not even flushed): the copy must not reuse a token.
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.close());
      for (const file of [copy, path]) {
        const reopened = await openStore({ path: file });
        await value(reopened.clearReservations('h'));
        const token = (await value(reopened.reserve('h', node.id))).reservation_token!;
        assert.ok(token > last, `${file}: ${token} > ${last}`);
        await value(reopened.close());
      }
    });
  });

  it('a fenced write is replayed after a crash although the reservation it was checked against is not journaled', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'fenced.sqlite');
      const store = await openStore({ path });
      const node = await value(store.createNode({ driver: 'fake-hardware' }));
      await value(store.checkpoint());
      const held = await value(store.reserve('h', node.id));
      const fence = { tag: 'h', token: held.reservation_token! };
      await value(store.updateNode(node.id, { last_error: 'fenced' }, fence));
      await value(store.createPort(node.id, { address: '52:54:00:02:00:01' }, fence));
      const copy = await crashImage(path, join(dir, 'crashed.sqlite'));
      await value(store.destroyNode(node.id, fence));
      await value(store.close());
      const crashed = await openStore({ path: copy });
      const replayed = await value(crashed.getNode(node.id));
      assert.equal(replayed.last_error, 'fenced');
      assert.equal(replayed.reservation, null, 'the reservation itself is not journaled');
      assert.equal((await value(crashed.listPorts(node.id))).length, 1);
      await value(crashed.close());
      const reopened = await openStore({ path });
      await failure(reopened.getNode(node.id), NodeNotFound);
      await value(reopened.close());
    });
  });
});
