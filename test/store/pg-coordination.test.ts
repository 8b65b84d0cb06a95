/**
 * Several conductor processes on one PostgreSQL database (issue 10): two stores stand for two
 * processes. Reservation races, notifications, host claims and liveness, outside waiters and
 * hand-over, and a server restart.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { LockLost, NodeLocked, StoreError } from '../../src/errors.js';
import type { ResultAsync } from 'neverthrow';
import type { PostgresStore, PostgresStoreOptions } from '../../src/store/pg-store.js';
import type { NodeChange, StoreCoordination } from '../../src/store/store.js';
import { eventually, freshDatabase, openPg, resetDatabase, sql, startProxy, startServer } from './pg-helpers.js';
import { failure, value } from './store-contract.js';

let server: PgServer;
let url: string;
before(async () => {
  server = await startServer();
  url = (await freshDatabase(server)).url;
});
after(async () => {
  await server?.stop();
});

describe('PostgresStore coordination', () => {
  let opened: PostgresStore[];
  const open = async (options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> => {
    const store = await openPg(url, options);
    opened.push(store);
    return store;
  };
  const coord = (store: PostgresStore): StoreCoordination => store.coordination;
  const claimsHeld = async (): Promise<{ pid: number; objid: string }[]> =>
    sql(url, "SELECT pid, objid::text FROM pg_locks WHERE locktype = 'advisory' AND classid = 1296257876 AND objsubid = 2 AND granted");
  const alive = async (pid: number): Promise<boolean> =>
    (await sql(url, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).length === 1;

  beforeEach(async () => {
    opened = [];
    await resetDatabase(url);
  });
  afterEach(async () => {
    for (const store of opened) await value(store.close());
  });

  it('two processes racing reserve on the same 500 nodes: exactly one winner each', async () => {
    // 1000 reserves queued at once on two pools: a busy machine may take longer than the default
    // 5 s bound on waiting for a connection, which would answer StoreError (by design) instead.
    const a = await open({ queryTimeoutMs: 60_000 });
    const b = await open({ queryTimeoutMs: 60_000 });
    await sql(
      url,
      "INSERT INTO nodes (uuid, driver, created_at) SELECT gen_random_uuid()::text, 'fake-hardware', now() FROM generate_series(1, 500)",
    );
    const nodes = await value(a.listNodes());
    assert.equal(nodes.length, 500);
    const results = await Promise.all(
      nodes.flatMap((n) => [a.reserve('host-a', n.id, { purpose: 'race' }), b.reserve('host-b', n.id, { purpose: 'race' })]),
    );
    const tokens = new Set<number>();
    for (let i = 0; i < nodes.length; i++) {
      const pair = [results[2 * i]!, results[2 * i + 1]!];
      const winners = pair.filter((r) => r.isOk());
      assert.equal(winners.length, 1, `node ${nodes[i]!.id}`);
      const loser = pair.find((r) => r.isErr())!;
      assert.ok(loser.isErr() && loser.error instanceof NodeLocked, `the loser is told who holds it: ${String(loser._unsafeUnwrapErr())}`);
      tokens.add(winners[0]!._unsafeUnwrap().reservation_token!);
    }
    assert.equal(tokens.size, 500, 'every grant has its own token');
    const held = await value(a.listNodes({ reserved: true }));
    assert.equal(held.length, 500);
    assert.ok(held.every((n) => n.version === 2));
  });

  it('a reserve racing releases answers a grant or NodeLocked, never StoreError', async () => {
    const a = await open();
    const b = await open();
    const node = await value(a.createNode({ driver: 'fake-hardware' }));
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        const held = await a.reserve('host-a', node.id);
        if (held.isOk()) await value(a.release('host-a', node.id, held.value.reservation_token!));
      }
    })();
    let grants = 0;
    let locked = 0;
    try {
      for (let i = 0; i < 300; i++) {
        const result = await b.reserve('host-b', node.id);
        if (result.isOk()) {
          grants++;
          await value(b.release('host-b', node.id));
        } else {
          assert.ok(result.error instanceof NodeLocked, `${result.error.name}: ${result.error.message}`);
          locked++;
        }
      }
    } finally {
      stop = true;
      await churn;
    }
    assert.equal(grants + locked, 300);
  });

  it("a change made by one process is heard by the other's onNodeChange with the new version and reservation", async () => {
    const a = await open();
    const b = await open();
    const heard: NodeChange[] = [];
    coord(b).onNodeChange((change) => heard.push(change));
    const node = await value(a.createNode({ driver: 'fake-hardware' }));
    const reserved = await value(a.reserve('host-a', node.id));
    await eventually(() => heard.some((c) => c.id === node.id && c.version === 2), 'the reserve notification');
    const change = heard.find((c) => c.version === 2)!;
    // Only the reservation changed: the payload carries it, so a listener patches its row without a read.
    assert.deepEqual(change, {
      id: node.id,
      version: 2,
      reservation: 'host-a',
      token: reserved.reservation_token,
      deleted: false,
      lock: { purpose: reserved.reservation_purpose, reservedAt: reserved.reserved_at },
    });
    assert.ok(
      heard.some((c) => c.id === node.id && c.version === 1 && c.lock === undefined),
      'the insert is heard too (not a lock-only change)',
    );
    await value(a.updateNode(node.id, { last_error: 'x' }));
    await eventually(() => heard.some((c) => c.version === 3), 'the update notification');
    assert.equal(heard.find((c) => c.version === 3)!.lock, undefined, 'a data change is not lock-only: listeners read the row');
    await value(a.release('host-a', node.id));
    await eventually(() => heard.some((c) => c.version === 4 && c.reservation === null && c.token === null), 'the release notification');
    await value(a.destroyNode(node.id));
    await eventually(() => heard.some((c) => c.deleted && c.id === node.id), 'the delete notification');
  });

  it('claimHost: a second live claim of the same host is refused until the first session is gone', async () => {
    const a = await open();
    const b = await open({ reconnectMinMs: 60_000, reconnectMaxMs: 60_000 });
    const c = await open();
    await value(coord(a).claimHost('cond-1', ''));
    await value(coord(a).claimHost('cond-1', '')); // idempotent for its own host
    const refused = await failure(coord(b).claimHost('COND-1', ''), StoreError);
    assert.match(refused.message, /already served by another live conductor/);
    // Visible in pg_locks as (namespace, hashtext(lower(host))).
    const [expected] = await sql<{ objid: string }>(url, "SELECT (hashtext('cond-1')::bigint & 4294967295)::text AS objid");
    assert.deepEqual(
      (await claimsHeld()).map((l) => [l.pid, l.objid]),
      [[a.sessionPid, expected!.objid]],
    );
    await value(a.close());
    await value(coord(b).claimHost('cond-1', ''));
    await failure(coord(c).claimHost('cond-1', ''), StoreError);
    // The session of b dies (its process hangs, its connection is killed): the claim goes with it.
    const pid = b.sessionPid!;
    await sql(url, 'SELECT pg_terminate_backend($1)', [pid]);
    await eventually(async () => !(await alive(pid)), 'the terminated backend to go');
    await value(coord(c).claimHost('cond-1', ''));
    await eventually(() => b.health.state === 'recovering', 'b to notice the loss');
  });

  it('a process that cannot re-claim its host after a reconnect reports failed', async () => {
    const a = await open({ reconnectMinMs: 300, reconnectMaxMs: 300 });
    const b = await open();
    await value(coord(a).claimHost('cond-1', ''));
    const pid = a.sessionPid!;
    await sql(url, 'SELECT pg_terminate_backend($1)', [pid]);
    await eventually(async () => !(await alive(pid)), 'the terminated backend to go');
    await value(coord(b).claimHost('cond-1', ''));
    await eventually(() => a.health.state === 'failed', 'a to report failed');
    assert.match(a.health.error ?? '', /cond-1.*already served by another live conductor/);
  });

  it('liveHosts: registered hosts whose claim is held; a terminated session drops out', async () => {
    const a = await open();
    const b = await open({ reconnectMinMs: 60_000, reconnectMaxMs: 60_000 });
    await value(a.registerConductor('cond-a', 'g1'));
    await value(b.registerConductor('cond-b'));
    await value(a.registerConductor('cond-unclaimed'));
    await value(coord(a).claimHost('cond-a', 'g1'));
    await value(coord(b).claimHost('cond-b', ''));
    assert.deepEqual(await value(coord(a).liveHosts(60_000)), [
      { host: 'cond-a', group: 'g1' },
      { host: 'cond-b', group: '' },
    ]);
    const pid = b.sessionPid!;
    await sql(url, 'SELECT pg_terminate_backend($1)', [pid]);
    await eventually(async () => !(await alive(pid)), 'the terminated backend to go');
    assert.deepEqual(await value(coord(a).liveHosts(60_000)), [{ host: 'cond-a', group: 'g1' }]);
    await value(coord(a).markOffline('cond-b'));
    const rows = await value(a.listConductors());
    assert.equal(rows.find((r) => r.hostname === 'cond-b')!.online, false);
    assert.equal(rows.find((r) => r.hostname === 'cond-a')!.online, true);
  });

  it('liveHosts: a half-open session (claim held, heartbeat stale) is terminated and dropped', async () => {
    const a = await open();
    const b = await open({ reconnectMinMs: 60_000, reconnectMaxMs: 60_000 });
    await value(a.registerConductor('cond-a'));
    await value(b.registerConductor('cond-b'));
    await value(coord(a).claimHost('cond-a', ''));
    await value(coord(b).claimHost('cond-b', ''));
    await sql(url, "UPDATE conductors SET updated_at = now() - interval '1 hour' WHERE hostname = 'cond-b'");
    const pid = b.sessionPid!;
    assert.ok(await alive(pid));
    assert.deepEqual(await value(coord(a).liveHosts(60_000)), [{ host: 'cond-a', group: '' }]);
    await eventually(async () => !(await alive(pid)), 'the half-open backend to be terminated');
    await eventually(() => b.health.state === 'recovering', 'b to notice');
    // Without a heartbeat timeout, only the claim counts.
    await value(a.touchConductor('cond-a', true));
    assert.deepEqual(await value(coord(a).liveHosts(0)), [{ host: 'cond-a', group: '' }]);
  });

  it('setWaiting / waitersOf / handOver: FIFO waiters, a new token for the receiver, its waiter row gone, LockLost on a wrong fence', async () => {
    const a = await open();
    const b = await open();
    const heard: number[] = [];
    coord(b).onWaitersChange((nodeId) => heard.push(nodeId));
    const node = await value(a.createNode({ driver: 'fake-hardware' }));
    const held = await value(a.reserve('cond-a', node.id, { purpose: 'deploy' }));
    // Only a live conductor (its host claimed) is handed a node.
    await value(coord(b).claimHost('cond-b', ''));
    await value(coord(b).setWaiting(node.id, 'cond-b', 2000));
    await value(coord(b).setWaiting(node.id, 'cond-c', 1000));
    await value(coord(b).setWaiting(node.id, 'cond-b', 5000)); // idempotent: the first since stays
    assert.deepEqual(await value(coord(a).waitersOf(node.id)), [
      { nodeId: node.id, host: 'cond-c', since: 1000 },
      { nodeId: node.id, host: 'cond-b', since: 2000 },
    ]);
    await eventually(() => heard.filter((id) => id === node.id).length >= 2, 'the waiter notifications');
    const fence = { tag: 'cond-a', token: held.reservation_token! };
    // Never to a conductor that is not waiting, nor to a dead one whose waiter row outlived it (cond-c
    // has no live claim): it would hold a reservation it never clears. Nothing written.
    const notWaiting = await failure(coord(a).handOver(fence, node.id, 'cond-z', { purpose: 'x' }), StoreError);
    assert.match(notWaiting.message, /cond-z no longer waits/);
    await failure(coord(a).handOver(fence, node.id, 'cond-c', { purpose: 'x' }), StoreError);
    assert.equal((await value(a.getNode(node.id))).version, held.version);
    await failure(coord(a).handOver({ tag: 'cond-a', token: fence.token + 1000 }, node.id, 'cond-b', { purpose: 'x' }), LockLost);
    await failure(coord(a).handOver({ tag: 'cond-x', token: fence.token }, node.id, 'cond-b', { purpose: 'x' }), LockLost);
    const moved = await value(coord(a).handOver(fence, node.id, 'cond-b', { purpose: 'clean' }));
    assert.equal(moved.reservation, 'cond-b');
    assert.equal(moved.reservation_purpose, 'clean');
    assert.ok(moved.reservation_token! > fence.token);
    assert.equal(moved.version, held.version + 1);
    assert.deepEqual(
      (await value(coord(a).waitersOf(node.id))).map((w) => w.host),
      ['cond-c'],
    );
    // The old fence is dead now: a second hand-over and a fenced write under it are refused.
    const lost = await failure(coord(a).handOver(fence, node.id, 'cond-c', { purpose: 'x' }), LockLost);
    assert.match(lost.message, /cond-b/);
    await failure(a.updateNode(node.id, { last_error: 'x' }, fence), LockLost);
    await failure(a.release('cond-a', node.id), NodeLocked);
    await value(coord(b).setWaiting(node.id, 'cond-c', null));
    assert.deepEqual(await value(coord(a).waitersOf(node.id)), []);
  });

  it('server halt and resume: Err(StoreError) within the query timeout during the outage, then reconnects, resyncs and re-claims by itself', async () => {
    const store = await open({ queryTimeoutMs: 2000, reconnectMinMs: 50, reconnectMaxMs: 300 });
    const other = await open();
    await value(store.registerConductor('cond-a'));
    await value(coord(store).claimHost('cond-a', ''));
    const node = await value(store.createNode({ driver: 'fake-hardware' }));
    let resyncs = 0;
    coord(store).onResync(() => resyncs++);
    const heard: NodeChange[] = [];
    coord(store).onNodeChange((change) => heard.push(change));

    await server.halt();
    try {
      await eventually(() => store.health.state === 'recovering', 'the store to notice the outage');
      assert.ok(store.health.error !== null);
      const calls: (() => ResultAsync<unknown, unknown>)[] = [
        () => store.getNode(node.id),
        () => store.reserve('cond-a', node.id),
        () => store.listNodes(),
        () => coord(store).liveHosts(60_000),
        () => coord(store).claimHost('cond-a', ''),
      ];
      for (const call of calls) {
        const started = Date.now();
        await failure(call(), StoreError);
        assert.ok(Date.now() - started < 4000, `answered within the timeout (${Date.now() - started} ms)`);
      }
    } finally {
      await server.resume();
    }
    await eventually(() => store.health.state === 'ok' && resyncs === 1, 'the store to reconnect and resync', 20_000);
    assert.equal(store.health.recoveries, 1);
    assert.deepEqual(
      (await claimsHeld()).map((l) => l.pid),
      [store.sessionPid],
    );
    await failure(coord(other).claimHost('cond-a', ''), StoreError);
    // Notifications flow again (the pool reconnects too).
    await eventually(async () => (await other.updateNode(node.id, { last_error: 'after restart' })).isOk(), 'the other store to serve');
    await eventually(() => heard.some((c) => c.id === node.id && c.version >= 2), 'a notification after the restart');
    assert.deepEqual(await value(coord(store).liveHosts(60_000)), [{ host: 'cond-a', group: '' }]);
  });

  it(
    'a black-holed network (nothing answers, nothing is refused): Err(StoreError) within the query timeout, no hang; serves again after',
    { timeout: 30_000 },
    async () => {
      const proxy = await startProxy(url);
      try {
        const store = await openPg(proxy.url, { queryTimeoutMs: 800, reconnectMinMs: 50, reconnectMaxMs: 200 });
        opened.push(store);
        await value(store.registerConductor('cond-a'));
        await value(coord(store).claimHost('cond-a', ''));
        const node = await value(store.createNode({ driver: 'fake-hardware' }));
        let resyncs = 0;
        coord(store).onResync(() => resyncs++);
        proxy.blackhole();
        const calls = [
          () => store.getNode(node.id),
          () => store.reserve('cond-a', node.id),
          () => store.updateNode(node.id, { last_error: 'x' }),
          () => coord(store).liveHosts(60_000),
          () => coord(store).claimHost('cond-b', ''),
        ];
        const started = Date.now();
        // Concurrently, more than the pool has connections: the queued ones time out too.
        const results = await Promise.all([...calls, ...calls, ...calls].map((call) => call()));
        for (const result of results) assert.ok(result.isErr() && result.error instanceof StoreError);
        assert.ok(Date.now() - started < 3000, `answered within the timeout (${Date.now() - started} ms)`);
        // The partition ends with every connection cut: the store reconnects by itself.
        proxy.restore();
        await eventually(() => resyncs === 1 && store.health.state === 'ok', 'the session to reconnect');
        await eventually(async () => (await store.getNode(node.id)).isOk(), 'the pool to serve again');
        assert.equal((await value(store.getNode(node.id))).last_error, null, 'the timed-out update did not commit');
        assert.deepEqual(await value(coord(store).liveHosts(60_000)), [{ host: 'cond-a', group: '' }]);
      } finally {
        await proxy.close();
      }
    },
  );
});
