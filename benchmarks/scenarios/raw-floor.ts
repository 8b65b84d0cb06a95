/**
 * `raw-floor`: what the machine allows, measured in the same run, so every other figure can be
 * read as a ratio to it (summary in run.ts).
 *
 * Mailbox:
 *  - `nact tell round trip`: through actors/internal/nact.ts, a message carrying a resolve
 *    function, the handler calls it (one nact mailbox pass and one promise settle): THE mailbox
 *    round trip of the floor;
 *  - `nact query round trip`: nact's own `query` (temporary reference + timeout) for comparison;
 *  - `ActorRuntime.ask round trip`: our runtime's ask (envelope, timeout, dead-letter accounting).
 * Store (sql.js, the store's schema and pragmas: locking_mode EXCLUSIVE, journal_mode MEMORY, 1000
 * nodes):
 *  - `sql.js UPDATE pair (raw)`: Ironic's reserve and release conditional UPDATEs as prepared
 *    statements + getRowsModified(): THE UPDATE pair of the floor;
 *  - `sql.js UPDATE pair (SqlJsStore)`: `store.reserve` + `store.release` (reserve also reads back
 *    the node row and converts it);
 *  - `sql.js node UPDATE (raw)`: the provision-state UPDATE a saved transition needs;
 *  - `sql.js ports SELECT (raw)`: the 2-row SELECT behind `task.ports()`;
 *  - `sql.js node SELECT (raw)`: one node row by id, every column (what loading a node reads).
 * Actors:
 *  - `nact spawn (raw)` and `ActorRuntime.spawn`: spawn cost, and heap per idle actor (needs gc).
 */
import nact from 'nact';
import type { Database } from 'sql.js';
import { ActorRuntime } from '../../dist/actors/runtime.js';
import { dispatch, spawnActor, startSystem, stopActor, type NactRef } from '../../dist/actors/internal/nact.js';
import { silentLogger } from '../../dist/src/logging.js';
import { openSqlJsStore } from '../../dist/src/store/sqljs-store.js';
import { SCHEMA_DDL } from '../../dist/src/store/internal/schema.js';
import { loadSqlJs } from '../../dist/src/store/internal/sqljs.js';
import { RELEASE_SQL, RESERVE_SQL } from '../../dist/src/store/internal/statements.js';
import { SELECT_NODE, SELECT_PORT } from '../../dist/src/store/internal/rows.js';
import { orThrow } from '../../dist/src/task/scope.js';
import { closedLoop, collectGarbage, latencyUs, loopPlan, loopResult, newHistogram, nowNs, recordNs } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'the floor: mailbox round trips, sql.js conditional UPDATE pair, spawn and heap per actor';
export const needsGc = true;

/** Variant names, for the ratios in the summary. */
export const FLOOR = {
  tellRoundTrip: 'nact tell round trip',
  queryRoundTrip: 'nact query round trip',
  runtimeAsk: 'ActorRuntime.ask round trip',
  updatePairRaw: 'sql.js UPDATE pair (raw)',
  updatePairStore: 'sql.js UPDATE pair (SqlJsStore)',
  nodeUpdateRaw: 'sql.js node UPDATE (raw)',
  portsSelectRaw: 'sql.js ports SELECT (raw)',
  nodeSelectRaw: 'sql.js node SELECT (raw)',
  nactSpawn: 'nact spawn (raw)',
  runtimeSpawn: 'ActorRuntime.spawn',
} as const;

const ROWS = 1000;
const HOST = 'bench-host';

const nactQuery = nact as unknown as {
  query(ref: NactRef, factory: (sender: NactRef) => unknown, timeoutMs: number): Promise<unknown>;
};

async function mailbox(quick: boolean): Promise<ScenarioResult[]> {
  const plan = loopPlan(quick);
  const results: ScenarioResult[] = [];
  const system = startSystem(`bench-floor-${process.pid}`);
  const props = { initialState: null, onCrash: (_m: unknown, _e: unknown, ctx: { stop: symbol }) => ctx.stop, afterStop: () => {} };
  try {
    const echo = spawnActor<null>(
      system,
      (state, msg) => {
        (msg as { reply: () => void }).reply();
        return state;
      },
      'echo',
      props,
    );
    const tell = await closedLoop(() => new Promise<void>((resolve) => dispatch(echo, { reply: resolve })), plan);
    results.push(loopResult('raw-floor', FLOOR.tellRoundTrip, tell));

    const queried = spawnActor<null>(
      system,
      (state, msg) => {
        dispatch((msg as { sender: NactRef }).sender, 'pong');
        return state;
      },
      'queried',
      props,
    );
    const query = await closedLoop(() => nactQuery.query(queried, (sender) => ({ sender }), 10_000), plan);
    results.push(loopResult('raw-floor', FLOOR.queryRoundTrip, query));
    stopActor(echo);
    stopActor(queried);
  } finally {
    stopActor(system);
  }

  const runtime = new ActorRuntime('bench-floor', silentLogger());
  try {
    const ref = runtime.spawn<null, { type: 'ping' }>(null, 'echo', {
      initialState: () => null,
      handle: (state, _message, ctx) => {
        ctx.reply('pong');
        return state;
      },
    });
    const ask = await closedLoop(async () => {
      const answered = await runtime.ask(ref, { type: 'ping' }, { timeoutMs: 10_000 });
      if (answered.isErr()) throw answered.error;
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.runtimeAsk, ask));
  } finally {
    await runtime.shutdown();
  }
  return results;
}

function rawDatabase(SQL: Awaited<ReturnType<typeof loadSqlJs>>): Database {
  const db = new SQL.Database();
  db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY;');
  db.exec(SCHEMA_DDL);
  const insert = db.prepare("INSERT INTO nodes (uuid, driver, created_at) VALUES (?, 'fake-hardware', ?)");
  db.exec('BEGIN');
  for (let i = 0; i < ROWS; i++) insert.run([crypto.randomUUID(), new Date().toISOString()]);
  db.exec('COMMIT');
  insert.free();
  const port = db.prepare('INSERT INTO ports (uuid, node_id, address, created_at) VALUES (?, 1, ?, ?)');
  port.run([crypto.randomUUID(), '52:54:00:00:00:01', new Date().toISOString()]);
  port.run([crypto.randomUUID(), '52:54:00:00:00:02', new Date().toISOString()]);
  port.free();
  return db;
}

async function store(quick: boolean): Promise<ScenarioResult[]> {
  const plan = loopPlan(quick);
  const results: ScenarioResult[] = [];
  const SQL = await loadSqlJs();
  const db = rawDatabase(SQL);
  try {
    const reserve = db.prepare(`${RESERVE_SQL} id = ? AND reservation IS NULL`);
    const release = db.prepare(RELEASE_SQL);
    const nodeId = 500;
    let token = 0;
    const pair = await closedLoop(() => {
      reserve.run([HOST, 'bench', new Date().toISOString(), (token += 1), nodeId]);
      if (db.getRowsModified() !== 1) throw new Error('raw reserve matched no row');
      release.run([nodeId, HOST]);
      if (db.getRowsModified() !== 1) throw new Error('raw release matched no row');
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.updatePairRaw, pair, { rows: ROWS }));

    const update = db.prepare(
      'UPDATE nodes SET provision_state = ?, target_provision_state = ?, updated_at = ?, provision_updated_at = ? WHERE id = ?',
    );
    let i = 0;
    const nodeUpdate = await closedLoop(() => {
      const now = new Date().toISOString();
      const [state, target] = i++ % 2 === 0 ? ['inspecting', 'manageable'] : ['manageable', null];
      update.run([state, target, now, now, nodeId]);
      if (db.getRowsModified() !== 1) throw new Error('raw node update matched no row');
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.nodeUpdateRaw, nodeUpdate, { rows: ROWS }));

    const ports = db.prepare(`${SELECT_PORT} WHERE node_id = ? ORDER BY id`);
    const select = await closedLoop(() => {
      ports.bind([1]);
      let n = 0;
      while (ports.step()) {
        ports.get();
        n += 1;
      }
      ports.reset();
      if (n !== 2) throw new Error(`raw ports select returned ${n} rows`);
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.portsSelectRaw, select, { rows: ROWS }));
    const node = db.prepare(`${SELECT_NODE} WHERE id = ?`);
    let k = 0;
    const nodeSelect = await closedLoop(() => {
      node.bind([(k++ % ROWS) + 1]);
      if (!node.step()) throw new Error('raw node select found no row');
      node.get();
      node.reset();
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.nodeSelectRaw, nodeSelect, { rows: ROWS }));
    for (const stmt of [reserve, release, update, ports, node]) stmt.free();
  } finally {
    db.close();
  }

  const opened = await orThrow(openSqlJsStore({ logger: silentLogger() }));
  try {
    let target = 0;
    for (let n = 0; n < ROWS; n++) {
      const node = await orThrow(opened.createNode({ driver: 'fake-hardware' }));
      if (n === ROWS / 2) target = node.id;
    }
    const viaStore = await closedLoop(async () => {
      await orThrow(opened.reserve(HOST, target, { purpose: 'bench' }));
      await orThrow(opened.release(HOST, target));
    }, plan);
    results.push(loopResult('raw-floor', FLOOR.updatePairStore, viaStore, { rows: ROWS }));
  } finally {
    await orThrow(opened.close());
  }
  return results;
}

/**
 * Spawn cost and heap per idle actor, in two passes: a timing pass (`count` spawns, each timed, no
 * GC forced), the actors stopped, then a heap pass (`count` spawns between two full GCs: the
 * retained heap per actor needs a settled heap before and after; nothing is timed in it).
 */
async function spawnAndHeap(
  quick: boolean,
  variant: string,
  spawn: (name: string) => void,
  stopSpawned: () => Promise<void>,
): Promise<ScenarioResult> {
  const count = quick ? 1000 : 10_000;
  const h = newHistogram();
  let totalNs = 0n;
  for (let i = 0; i < count; i++) {
    const t0 = nowNs();
    spawn(`t${i}`);
    const dt = nowNs() - t0;
    totalNs += dt;
    recordNs(h, dt);
  }
  await stopSpawned();
  // Retained heap: GC before and after (measurement of heap only, not of time).
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++) spawn(`h${i}`);
  const gc = collectGarbage();
  const after = process.memoryUsage().heapUsed;
  await stopSpawned();
  const seconds = Number(totalNs) / 1e9;
  return {
    scenario: 'raw-floor',
    variant,
    ops: count,
    seconds: Math.round(seconds * 1000) / 1000,
    opsPerSec: Math.round(count / seconds),
    latencyUs: latencyUs(h),
    histogram: h.toJson(),
    extra: gc
      ? { actors: count, heapPerActorBytes: Math.round((after - before) / count) }
      : { actors: count, heapPerActorBytes: 'gc unavailable' },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function actors(quick: boolean): Promise<ScenarioResult[]> {
  const system = startSystem(`bench-floor-spawn-${process.pid}`);
  const props = { initialState: null, onCrash: (_m: unknown, _e: unknown, ctx: { stop: symbol }) => ctx.stop, afterStop: () => {} };
  const refs: NactRef[] = [];
  // Warm the spawn path once.
  for (let i = 0; i < 200; i++) stopActor(spawnActor<null>(system, (s) => s, `w${i}`, props));
  const raw = await spawnAndHeap(
    quick,
    FLOOR.nactSpawn,
    (name) => refs.push(spawnActor<null>(system, (s) => s, name, props)),
    async () => {
      for (const ref of refs) stopActor(ref);
      refs.length = 0;
      await turn();
    },
  );
  stopActor(system);
  await turn();
  const runtime = new ActorRuntime('bench-floor-spawn', silentLogger());
  try {
    const behavior = { initialState: () => null, handle: (state: null) => state };
    const parent = runtime.spawn<null, never>(null, 'parent', behavior);
    for (let i = 0; i < 200; i++) runtime.stop(runtime.spawn(parent, `w${i}`, behavior));
    const children: ReturnType<typeof runtime.spawn>[] = [];
    const ours = await spawnAndHeap(
      quick,
      FLOOR.runtimeSpawn,
      (name) => void children.push(runtime.spawn(parent, name, behavior)),
      async () => {
        for (const child of children) runtime.stop(child);
        children.length = 0;
        await turn();
      },
    );
    return [raw, ours];
  } finally {
    await runtime.shutdown();
  }
}

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  return [...(await mailbox(quick)), ...(await store(quick)), ...(await actors(quick))];
}
