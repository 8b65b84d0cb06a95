/**
 * `npm run bench:durability`: how long an acknowledged change can stay not yet durable in
 * `'batched'` mode (what a crash at the worst moment would lose), against its bound `maxDelayMs`,
 * on the built package. For each condition, changes are written 10 ms apart and a 1 ms poller
 * notes when each becomes durable; the figure is the worst acknowledgement-to-durable time
 * (negative: the change was acknowledged only once durable).
 *
 *   normal disk              this machine's disk
 *   slow checkpoint          a checkpoint whose image write is paused 1.5 s meanwhile
 *   slow disk, known         every fdatasync takes 300 ms, after one such write has been seen
 *   sudden stall             the first 300 ms fdatasync, with no warning (the documented exception)
 *
 * Writes a new folder benchmarks/results/<UTC timestamp>-durability/ (durability.json, run.json;
 * lib/run-dir.ts). Runs compiled (dist-bench/durability.js).
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../dist/src/logging.js';
import { openSqlJsStore, type SqlJsStore, type SqlJsStoreOptions } from '../dist/src/store/sqljs-store.js';
import { REPO_DIR, startRun } from './lib/run-dir.js';

const MAX_DELAY_MS = 50;
const WRITES = Number(process.env.DURABILITY_WRITES ?? 60);

interface Row {
  condition: string;
  worstMs: number;
  ratioToBound: number;
}

async function worstAckToDurable(store: SqlJsStore, count: number): Promise<number> {
  const acked: { seq: number; at: number }[] = [];
  let worst = Number.NEGATIVE_INFINITY;
  const poll = setInterval(() => {
    const now = performance.now();
    while (acked.length > 0 && acked[0]!.seq <= store.stats.durableSeq) worst = Math.max(worst, now - acked.shift()!.at);
  }, 1);
  for (let i = 0; i < count; i++) {
    (await store.createNode({ driver: 'fake-hardware' }))._unsafeUnwrap();
    acked.push({ seq: store.stats.seq, at: performance.now() });
    await sleep(10);
  }
  (await store.flush())._unsafeUnwrap();
  await sleep(5);
  clearInterval(poll);
  return worst;
}

async function withStore<T>(options: Partial<SqlJsStoreOptions>, body: (store: SqlJsStore, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mc-durability-'));
  try {
    const opened = await openSqlJsStore({
      path: join(dir, 'n.sqlite'),
      durability: 'batched',
      maxDelayMs: MAX_DELAY_MS,
      logger: silentLogger(),
      ...options,
    });
    const store = opened._unsafeUnwrap();
    try {
      return await body(store, dir);
    } finally {
      (await store.close())._unsafeUnwrap();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Make every fdatasync of this process `delayMs` slower until the returned function is called. */
async function slowFdatasync(dir: string, delayMs: number): Promise<() => void> {
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: (this: unknown) => Promise<void> };
  await probe.close();
  const datasync = proto.datasync;
  proto.datasync = async function (this: unknown) {
    await sleep(delayMs);
    return datasync.call(this);
  };
  return () => {
    proto.datasync = datasync;
  };
}

const rows: Row[] = [];
const run = await startRun({ harness: 'durability', argv: process.argv.slice(2), quick: false });
const record = (condition: string, worstMs: number): void => {
  rows.push({ condition, worstMs: Math.round(worstMs), ratioToBound: Number((worstMs / MAX_DELAY_MS).toFixed(2)) });
};

record('normal disk', await withStore({}, (store) => worstAckToDurable(store, WRITES)));

let paused = false;
record(
  'slow checkpoint (image write paused 1.5 s)',
  await withStore(
    {
      onCheckpointPhase: async (phase) => {
        if (phase === 'exported' && !paused) {
          paused = true;
          await sleep(1500);
        }
      },
    },
    async (store) => {
      (await store.createNode({ driver: 'fake-hardware' }))._unsafeUnwrap();
      const checkpoint = store.checkpoint();
      const worst = await worstAckToDurable(store, WRITES);
      (await checkpoint)._unsafeUnwrap();
      return worst;
    },
  ),
);

record(
  'slow disk, known (fdatasync 300 ms)',
  await withStore({}, async (store, dir) => {
    const restore = await slowFdatasync(dir, 300);
    try {
      (await store.createNode({ driver: 'fake-hardware' }))._unsafeUnwrap();
      (await store.flush())._unsafeUnwrap();
      return await worstAckToDurable(store, Math.min(WRITES, 15));
    } finally {
      restore();
    }
  }),
);

record(
  'sudden stall (first fdatasync of 300 ms)',
  await withStore({}, async (store, dir) => {
    await worstAckToDurable(store, 5);
    const restore = await slowFdatasync(dir, 300);
    try {
      return await worstAckToDurable(store, 5);
    } finally {
      restore();
    }
  }),
);

console.log(`batched durability, maxDelayMs = ${MAX_DELAY_MS}: worst time an acknowledged change was not yet durable`);
console.table(rows);
const file = await run.writeJson('durability', { maxDelayMs: MAX_DELAY_MS, writes: WRITES, rows });
await run.finish();
console.log(`JSON: ${relative(REPO_DIR, file)}`);
