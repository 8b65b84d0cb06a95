/**
 * Issue 8, the store-side defects found by fault injection, one test (or more) each, named after
 * the defect. Each fails on the code before its fix.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFile, mkdir, open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreCorrupt, StoreError, StoreInUse } from '../../src/errors.js';
import { openSqlJsStore, type SqlJsStore } from '../../src/store/sqljs-store.js';
import { checkTrailer, withTrailer } from '../../src/store/internal/checkpoint.js';
import { SqlDatabase } from '../../src/store/internal/database.js';
import { META_CHECKPOINT_SEQ } from '../../src/store/internal/schema.js';
import { loadSqlJs } from '../../src/store/internal/sqljs.js';
import { JournalFile } from '../../src/store/internal/journal.js';
import { eventually, openStore, withTempDir } from '../store/helpers.js';
import { failure, value } from '../store/store-contract.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RACER = join(REPO, 'test/fixtures/store/lock-racer.ts');
const FULL_DISK = join(REPO, 'test/fixtures/store/full-disk.ts');

/**
 * A store with `count` nodes, each created by its own journal write, left open (not closed: the
 * journal holds them); returns the path of a copy of its files, as a crash would leave them.
 */
async function crashedWithJournal(dir: string, count: number): Promise<string> {
  const path = join(dir, 'live.sqlite');
  const store = await openStore({ path });
  for (let i = 0; i < count; i++) await value(store.createNode({ driver: 'fake-hardware', name: `n-${i}` }));
  await value(store.flush());
  const copy = join(dir, 'crashed.sqlite');
  await copyFile(path, copy);
  await copyFile(`${path}.journal`, `${copy}.journal`);
  await value(store.close());
  return copy;
}

/** Offset of the start of line `line` (0-based) of a journal. */
function lineStart(bytes: Buffer, line: number): number {
  let pos = 0;
  for (let i = 0; i < line; i++) pos = bytes.indexOf(10, pos) + 1;
  return pos;
}

/** Open `path` expecting StoreCorrupt, and check that neither file was changed by the attempt. */
async function expectCorrupt(path: string, reason: RegExp): Promise<StoreCorrupt> {
  const before = [await readFile(path), await readFile(`${path}.journal`)];
  const error = await failure(openSqlJsStore({ path }), StoreCorrupt);
  assert.match(error.message, reason);
  assert.deepEqual([await readFile(path), await readFile(`${path}.journal`)], before, 'nothing was truncated or rewritten');
  return error;
}

/** The pid of a process that has exited (a stale lock names one). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

/** A lock-racer child with a line reader. */
class Racer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  readonly #waiting: ((line: string) => void)[] = [];

  constructor() {
    this.#child = spawn(process.execPath, ['--import', 'tsx', RACER], { cwd: REPO });
    this.#child.stderr.resume();
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) waiter(line);
      else this.#lines.push(line);
    });
  }

  send(line: string): void {
    this.#child.stdin.write(`${line}\n`);
  }

  next(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.kill('SIGKILL');
    await exited;
  }
}

describe('defect 2: taking over a stale store lock is atomic', () => {
  it('many processes racing to take over a stale lock: exactly one wins each round, and nothing it acknowledged is lost', async () => {
    const RACERS = 6;
    const ROUNDS = 15;
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const racers = Array.from({ length: RACERS }, () => new Racer());
      try {
        for (const racer of racers) assert.equal(await racer.next(), 'ready');
        const stale = await deadPid();
        const acknowledged: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          // A lock left by a dead process, under the name every version uses first.
          await writeFile(`${path}.lock`, `${stale}\n`);
          racers.forEach((racer, i) => racer.send(`open ${path} r${round}-${i}`));
          const replies = await Promise.all(racers.map((racer) => racer.next()));
          const winners = racers.filter((_, i) => replies[i]!.startsWith('won '));
          assert.equal(winners.length, 1, `round ${round}: exactly one opener wins (${replies.join(', ')})`);
          assert.ok(
            replies.every((r) => r.startsWith('won ') || r.startsWith('in-use ')),
            `round ${round}: the others are told the store is in use (${replies.join(', ')})`,
          );
          acknowledged.push(replies.find((r) => r.startsWith('won '))!.slice(4));
          for (const winner of winners) winner.send('release');
          for (const winner of winners) assert.equal(await winner.next(), 'released');
        }
        const store = await openStore({ path });
        const uuids = new Set((await value(store.listNodes())).map((n) => n.uuid));
        assert.deepEqual(
          acknowledged.filter((uuid) => !uuids.has(uuid)),
          [],
          'every acknowledged create is in the file',
        );
        await value(store.close());
        const left = (await readdir(dir)).filter((name) => name.includes('.lock'));
        assert.deepEqual(left, [], 'no lock or temp file is left behind');
      } finally {
        await Promise.all(racers.map((racer) => racer.stop()));
      }
    });
  });

  it('opens racing inside one process, under different spellings of the path: exactly one wins', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'nodes.sqlite');
      const stale = await deadPid();
      for (let round = 0; round < 10; round++) {
        await writeFile(`${path}.lock`, `${stale}\n`);
        const spellings = [path, relative(process.cwd(), path), join(dir, '.', 'nodes.sqlite'), `${dir}//nodes.sqlite`];
        const results = await Promise.all(spellings.map((p) => openSqlJsStore({ path: p })));
        const won = results.filter((r) => r.isOk());
        assert.equal(won.length, 1, `round ${round}: exactly one open wins`);
        for (const result of results) if (result.isErr()) assert.ok(result.error instanceof StoreInUse, result.error.message);
        for (const result of won) await value(result.value.close());
      }
    });
  });

  it('a second open in the same process through a symlinked directory is StoreInUse, and the first keeps its lock', async () => {
    await withTempDir(async (dir) => {
      const real = join(dir, 'real');
      await mkdir(real);
      await symlink(real, join(dir, 'link'));
      const first = await openStore({ path: join(real, 'nodes.sqlite') });
      await failure(openSqlJsStore({ path: join(dir, 'link', 'nodes.sqlite') }), StoreInUse);
      assert.deepEqual(
        (await readdir(real)).filter((name) => name.includes('.lock')),
        ['nodes.sqlite.lock.1'],
      );
      await value(first.close());
    });
  });
});

describe('defect 4: corruption spanning several journal batches is not taken for a torn write', () => {
  it('a zeroed region over the last 10 of 30 acknowledged writes → StoreCorrupt, nothing truncated', async () => {
    await withTempDir(async (dir) => {
      const path = await crashedWithJournal(dir, 30);
      const journal = await readFile(`${path}.journal`);
      // Line 0 is the header; lines 1..30 the writes. Zero from the start of write 21 to the end.
      await writeFile(`${path}.journal`, Buffer.from(journal).fill(0, lineStart(journal, 21)));
      await expectCorrupt(path, /journal line 22 is corrupt .* not a torn last write/);
    });
  });

  it('garbage over several batches in the middle, or a bad line with good ones after it → StoreCorrupt', async () => {
    await withTempDir(async (dir) => {
      const path = await crashedWithJournal(dir, 30);
      const journal = await readFile(`${path}.journal`);
      await writeFile(`${path}.journal`, Buffer.from(journal).fill(0x41, lineStart(journal, 5), lineStart(journal, 9) + 10));
      await expectCorrupt(path, /journal line 6 is corrupt/);
      const flipped = Buffer.from(journal);
      const at = lineStart(journal, 12) + 30;
      flipped.writeUInt8(flipped.readUInt8(at) ^ 0x20, at);
      await writeFile(`${path}.journal`, flipped);
      await expectCorrupt(path, /journal line 13 is corrupt/);
    });
  });

  it('only a never-acknowledged last write is dropped: a cut-off last line opens with the 29 before it', async () => {
    await withTempDir(async (dir) => {
      const path = await crashedWithJournal(dir, 30);
      const journal = await readFile(`${path}.journal`);
      await writeFile(`${path}.journal`, journal.subarray(0, journal.length - 25));
      const store = await openStore({ path });
      assert.equal((await value(store.listNodes())).length, 29);
      await value(store.close());
    });
  });
});

describe('defect 5: replay checks the journal against the checkpoint', () => {
  /** Rewrite the database file's checkpoint seq (with a valid integrity trailer, as a bug would). */
  async function setCheckpointSeq(path: string, change: (seq: number) => number): Promise<void> {
    const checked = checkTrailer(await readFile(path));
    assert.ok('image' in checked);
    const SQL = await loadSqlJs();
    const db = new SqlDatabase(new SQL.Database(checked.image));
    const seq = Number(db.get('SELECT value FROM meta WHERE key = ?', [META_CHECKPOINT_SEQ])![0]);
    db.run('UPDATE meta SET value = ? WHERE key = ?', [String(change(seq)), META_CHECKPOINT_SEQ]);
    await writeFile(path, withTrailer(db.export()));
    db.close();
  }

  it('a raised checkpoint_seq → StoreCorrupt (before: replayed silently into a wrong state)', async () => {
    await withTempDir(async (dir) => {
      const path = await crashedWithJournal(dir, 10);
      await setCheckpointSeq(path, (seq) => seq + 3);
      await expectCorrupt(path, /change 3 in the journal is not the one the database file holds/);
    });
  });

  it('a lowered checkpoint_seq, a swapped journal, or a missing journal → StoreCorrupt', async () => {
    await withTempDir(async (dir) => {
      const path = await crashedWithJournal(dir, 10);
      const other = join(dir, 'other');
      await value((await openStore({ path: join(other, '..', 'other.sqlite') })).close());
      const original = await readFile(`${path}.journal`);

      // A journal from another database file.
      await copyFile(join(dir, 'other.sqlite.journal'), `${path}.journal`);
      await expectCorrupt(path, /belongs to another database/);
      await writeFile(`${path}.journal`, original);

      // A checkpoint that went backwards: the journal's base is above it.
      const image = await readFile(path);
      const reopened = await openStore({ path });
      await value(reopened.checkpoint()); // base now 10, journal reset
      await value(reopened.createNode({ driver: 'fake-hardware', name: 'after' }));
      await value(reopened.flush());
      const journal = await readFile(`${path}.journal`);
      const copy = join(dir, 'old-image.sqlite');
      await writeFile(copy, image);
      await writeFile(`${copy}.journal`, journal);
      await value(reopened.close());
      await expectCorrupt(copy, /continues checkpoint 10, but the database file holds checkpoint 0/);

      // No journal at all.
      const lone = join(dir, 'lone.sqlite');
      await writeFile(lone, await readFile(path));
      await assert.rejects(readFile(`${lone}.journal`), { code: 'ENOENT' });
      const error = await failure(openSqlJsStore({ path: lone }), StoreCorrupt);
      assert.match(error.message, /journal .*missing/);
    });
  });
});

describe('defect 6: a flipped byte in row data is detected', () => {
  it('one bit changed inside a node row of the database file → StoreCorrupt naming the checksum, file untouched', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path });
      await value(store.createNode({ driver: 'fake-hardware', name: 'needle-in-the-row' }));
      await value(store.close());
      const bytes = await readFile(path);
      const at = bytes.indexOf('needle-in-the-row');
      assert.ok(at > 0, 'the row is in the checkpoint');
      bytes.writeUInt8(bytes.readUInt8(at + 3) ^ 0x01, at + 3);
      await writeFile(path, bytes);
      // SQLite's own check sees nothing wrong with the page: the name now reads "needdle…".
      await expectCorrupt(path, /checksum/);
    });
  });
});

/** Run the full-disk child under a file-size limit; its stdout lines. */
async function runFullDisk(path: string): Promise<string[]> {
  // 1024 blocks: 512 KiB (dash) or 1 MiB (bash): the database file fits, the journal fills it.
  const child = spawn('/bin/sh', ['-c', `ulimit -f 1024 && exec "$0" --import tsx "$1" "$2"`, process.execPath, FULL_DISK, path], {
    cwd: REPO,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, stderr);
  return stdout.trim().split('\n');
}

describe('defect 7: after a full disk, a write reported as failed never reappears', () => {
  it('real short writes (a file-size limit): every acknowledged create is there after reopening, no failed one is', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'full.sqlite');
      const lines = await runFullDisk(path);
      assert.equal(lines.at(-1), 'done');
      const acked = lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' ')[1]!);
      const failed = lines.filter((l) => l.startsWith('failed ')).map((l) => l.split(' ')[1]!);
      assert.ok(acked.length > 8 && failed.length >= 8, `the disk filled up (${acked.length} acknowledged, ${failed.length} failed)`);
      assert.ok(
        lines.filter((l) => l.startsWith('failed ')).every((l) => l.endsWith(' StoreError')),
        'failures are StoreError',
      );
      const store = await openStore({ path });
      const names = new Set((await value(store.listNodes())).map((n) => n.name));
      assert.deepEqual(
        acked.filter((n) => !names.has(n)),
        [],
        'every acknowledged create survived',
      );
      assert.deepEqual(
        failed.filter((n) => names.has(n)),
        [],
        'no create reported as failed reappeared',
      );
      await value(store.close());
    });
  });
});

/**
 * Write `count` changes `gapMs` apart on a batched store and measure, for each, how long after its
 * acknowledgement it became durable (negative: acknowledged only once durable). Returns the worst.
 */
async function worstAckToDurableMs(store: SqlJsStore, count: number, gapMs: number): Promise<number> {
  const acked: { seq: number; at: number }[] = [];
  let worst = Number.NEGATIVE_INFINITY;
  const poll = setInterval(() => {
    const now = performance.now();
    while (acked.length > 0 && acked[0]!.seq <= store.stats.durableSeq) worst = Math.max(worst, now - acked.shift()!.at);
  }, 1);
  try {
    for (let i = 0; i < count; i++) {
      await value(store.createNode({ driver: 'fake-hardware' }));
      acked.push({ seq: store.stats.seq, at: performance.now() });
      await sleep(gapMs);
    }
    await value(store.flush());
    await sleep(5);
  } finally {
    clearInterval(poll);
  }
  assert.equal(acked.length, 0, 'every change became durable');
  return worst;
}

describe("defect 13: 'batched' durability holds its bound", () => {
  // The bound is 50 ms; what is asserted leaves room for a busy machine, far below the failures
  // measured before the fix (the length of the checkpoint or of the slow fdatasync).
  const MAX_DELAY_MS = 50;
  const MARGIN_MS = 150;

  it('a slow checkpoint (paused 1.5 s) does not hold the journal back: acknowledged changes stay durable within the bound', async () => {
    await withTempDir(async (dir) => {
      let paused = false;
      const store = await openStore({
        path: join(dir, 'n.sqlite'),
        durability: 'batched',
        maxDelayMs: MAX_DELAY_MS,
        onCheckpointPhase: async (phase) => {
          if (phase === 'exported' && !paused) {
            paused = true;
            await sleep(1500);
          }
        },
      });
      await value(store.createNode({ driver: 'fake-hardware' }));
      const checkpoint = store.checkpoint();
      const worst = await worstAckToDurableMs(store, 60, 10);
      assert.ok(paused, 'the checkpoint was paused while the changes were written');
      assert.ok(worst <= MAX_DELAY_MS + MARGIN_MS, `worst acknowledged-to-durable ${worst.toFixed(0)} ms`);
      await value(checkpoint);
      await value(store.close());
    });
  });

  it('a slow disk (every fdatasync 300 ms): once a write time is known, no change is acknowledged more than the bound before it is durable', async () => {
    await withTempDir(async (dir) => {
      const probe = await open(join(dir, 'probe'), 'w');
      const proto = Object.getPrototypeOf(probe) as { datasync: (this: unknown) => Promise<void> };
      await probe.close();
      const datasync = proto.datasync;
      const store = await openStore({ path: join(dir, 'n.sqlite'), durability: 'batched', maxDelayMs: MAX_DELAY_MS });
      proto.datasync = async function (this: unknown) {
        await sleep(300);
        return datasync.call(this);
      };
      try {
        // The first slow write is a surprise (a stalling disk: see the README); it teaches the estimate.
        await value(store.createNode({ driver: 'fake-hardware' }));
        await value(store.flush());
        const worst = await worstAckToDurableMs(store, 12, 20);
        assert.ok(worst <= MAX_DELAY_MS + MARGIN_MS, `worst acknowledged-to-durable ${worst.toFixed(0)} ms`);
      } finally {
        proto.datasync = datasync;
      }
      await value(store.close());
    });
  });
});

describe('defect 7, follow-ups: reload and checkpoint after a failed write', () => {
  /** Make JournalFile.prototype[method] fail while `failing` returns true; returns the restore function. */
  function inject(method: 'append' | 'syncDirectory', failing: () => boolean): () => void {
    const proto = JournalFile.prototype as unknown as Record<string, (...args: unknown[]) => Promise<void>>;
    const original = proto[method]!;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      if (failing()) return Promise.reject(Object.assign(new Error(`ENOSPC: injected ${method} failure`), { code: 'ENOSPC' }));
      return original.apply(this, args);
    };
    return () => {
      proto[method] = original;
    };
  }

  it('a reload after a failed write keeps only the live reservations (none released since the checkpoint comes back)', async () => {
    await withTempDir(async (dir) => {
      const store = await openStore({ path: join(dir, 'n.sqlite') });
      const node = await value(store.createNode({ driver: 'fake-hardware' }));
      await value(store.reserve('host-a', node.id));
      await value(store.checkpoint()); // the file now holds the reservation
      await value(store.release('host-a', node.id));
      let fail = true;
      const restore = inject('append', () => fail);
      try {
        await failure(store.createNode({ driver: 'fake-hardware' }), StoreError);
        fail = false;
        await eventually(() => store.health.state === 'ok', 'the reload');
      } finally {
        restore();
      }
      assert.equal((await value(store.reserve('host-b', node.id))).reservation, 'host-b', 'the released node is free');
      await value(store.close());
    });
  });

  it('a checkpoint whose image is still being written when a write fails is not renamed into place afterwards', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      let open = (): void => {};
      const gate = new Promise<void>((resolve) => (open = resolve));
      let paused = false;
      const store = await openStore({
        path,
        onCheckpointPhase: async (phase) => {
          if (phase === 'temp-written' && !paused) {
            paused = true;
            await gate;
          }
        },
      });
      const kept = await value(store.createNode({ driver: 'fake-hardware', name: 'kept' }));
      const before = await readFile(path);
      const checkpoint = store.checkpoint();
      await eventually(() => paused, 'the checkpoint paused before its rename');
      let fail = true;
      const restore = inject('append', () => fail);
      try {
        await failure(store.createNode({ driver: 'fake-hardware', name: 'lost' }), StoreError);
        fail = false;
        // The reload waits for the old checkpoint: nothing is served meanwhile.
        await sleep(50);
        assert.equal(store.health.state, 'recovering');
        open();
        await eventually(() => store.health.state === 'ok', 'the reload');
      } finally {
        restore();
        open();
      }
      await failure(checkpoint, StoreError);
      assert.deepEqual(await readFile(path), before, 'the old checkpoint image was not renamed into place');
      await value(store.createNode({ driver: 'fake-hardware', name: 'after' }));
      await value(store.checkpoint());
      await value(store.close());
      const reopened = await openStore({ path });
      assert.deepEqual(
        (await value(reopened.listNodes())).map((n) => n.name),
        ['kept', 'after'],
      );
      assert.equal((await value(reopened.getNode(kept.id))).name, 'kept');
      await value(reopened.close());
    });
  });

  it('a journal reset whose directory sync fails stops the store: nothing is acknowledged into a journal that may not survive', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'n.sqlite');
      const store = await openStore({ path });
      await value(store.createNode({ driver: 'fake-hardware', name: 'kept' }));
      let fail = true;
      const restore = inject('syncDirectory', () => fail);
      try {
        await failure(store.checkpoint(), StoreError);
        fail = false;
        await failure(store.createNode({ driver: 'fake-hardware', name: 'refused' }), StoreError);
        assert.equal(store.health.state, 'failed');
        assert.match(store.health.error ?? '', /injected syncDirectory failure/);
      } finally {
        restore();
      }
      await failure(store.close(), StoreError);
      const reopened = await openStore({ path });
      assert.deepEqual(
        (await value(reopened.listNodes())).map((n) => n.name),
        ['kept'],
      );
      await value(reopened.close());
    });
  });
});
