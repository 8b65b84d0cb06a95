/**
 * The live status endpoint (`Conductor.open({ statusServer })`): what an operator reads from a
 * running conductor over HTTP, that it never shows a node's secrets, that a bad request or a
 * failing store never harms the conductor, and where it is advertised (the sql.js lock file,
 * read back without taking the lock by `readLiveHolder`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { errAsync } from 'neverthrow';
import { Conductor, type ConductorStatus } from '../../actors/conductor.js';
import { createRequestContext } from '../../src/context.js';
import { InvalidParameterValue, StoreError, StoreInUse } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import { readLiveHolder } from '../../src/store/internal/file-lock.js';
import { errOf, okValue } from '../helpers/task-harness.js';
import { withConductor } from '../conductor/fixture.js';
import { getJson, http, withTempDir } from './helpers.js';

const SECRET = 'ipmi-password-do-not-leak';

function open(extra: Parameters<typeof Conductor.open>[0] = {}) {
  return okValue(Conductor.open({ logger: silentLogger(), host: 'status-host', statusServer: { port: 0 }, ...extra }));
}

describe('status server', () => {
  it('is off by default', async () => {
    const conductor = await okValue(Conductor.open({ logger: silentLogger() }));
    try {
      assert.equal(conductor.statusServerUrl, null);
    } finally {
      await okValue(conductor.stop());
    }
  });

  it('serves /status, /nodes (without secrets) and /metrics on loopback; stop closes the port', async () => {
    const conductor = await open();
    const url = conductor.statusServerUrl;
    assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
    const base = url!;
    try {
      const ctx = createRequestContext({});
      const a = await okValue(
        conductor.enroll({ driver: 'fake-hardware', name: 'alpha', provision_state: 'available', driver_info: { ipmi_password: SECRET } }),
      );
      const b = await okValue(conductor.enroll({ driver: 'fake-hardware', name: 'beta', instance_info: { image_secret: SECRET } }));
      // Hold a on a lock while reading: the status shows its holder and purpose.
      const held = await okValue(conductor.acquire(ctx, a.id, { purpose: 'inspect hardware' }));
      try {
        const status = await getJson(`${base}/status`);
        assert.equal(status.status, 200);
        const body = status.json as ConductorStatus;
        assert.equal(body.host, 'status-host');
        assert.equal(body.stopping, false);
        const holder = body.nodes.find((n) => n.uuid === a.uuid);
        assert.ok(holder, 'the held node is listed');
        assert.equal(holder.holder?.purpose, 'inspect hardware');
        assert.equal(holder.provisionState, 'available');
        assert.equal(typeof holder.holder?.heldForMs, 'number');
        // Everything but the clock-dependent held-for figure is status() as JSON.
        const timeless = (value: unknown): string =>
          JSON.stringify(value, (key, v: unknown) => (['heldForMs', 'startedAt', 'nextRestartAt', 'runningForMs'].includes(key) ? 0 : v));
        assert.equal(timeless(body), timeless(conductor.status()));
        assert.equal(body.store.state, 'ok');

        const nodes = await http(`${base}/nodes`);
        assert.equal(nodes.status, 200);
        assert.match(nodes.contentType, /^application\/json/);
        assert.ok(!nodes.body.includes(SECRET), 'no secret leaves through /nodes');
        const listed = (JSON.parse(nodes.body) as { nodes: Record<string, unknown>[] }).nodes;
        assert.deepEqual(
          listed.map((n) => [n.id, n.name, n.provision_state, n.reservation, n.reservation_purpose]),
          [
            [a.id, 'alpha', 'available', 'status-host', 'inspect hardware'],
            [b.id, 'beta', 'enroll', null, null],
          ],
        );
        for (const node of listed) {
          assert.deepEqual(Object.keys(node).sort(), [
            'id',
            'last_error',
            'name',
            'provision_state',
            'reservation',
            'reservation_purpose',
            'reserved_at',
            'target_provision_state',
            'uuid',
          ]);
        }
        const enrolled = await getJson(`${base}/nodes?state=enroll`);
        assert.deepEqual(
          (enrolled.json as { nodes: { id: number }[] }).nodes.map((n) => n.id),
          [b.id],
        );
        const both = await getJson(`${base}/nodes?state=enroll&state=available`);
        assert.equal((both.json as { nodes: unknown[] }).nodes.length, 2);
        const bad = await getJson(`${base}/nodes?state=flying`);
        assert.equal(bad.status, 400);
        assert.match((bad.json as { error: string }).error, /provisionState/);
      } finally {
        await okValue(held.release());
      }

      const metrics = await http(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.equal(metrics.contentType, conductor.metricsRegistry.contentType);

      const missing = await getJson(`${base}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(typeof (missing.json as { error: unknown }).error, 'string');
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const refused = await http(`${base}/status`, method);
        assert.equal(refused.status, 405, method);
        assert.equal(typeof (JSON.parse(refused.body) as { error: unknown }).error, 'string');
      }
      // A malformed request target (new URL throws on it) is the client's error: 400.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(base).port), '127.0.0.1', () =>
          socket.end('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
        );
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 /);
      // Still serving after the bad requests.
      assert.equal((await getJson(`${base}/status`)).status, 200);
    } finally {
      await okValue(conductor.stop());
    }
    assert.equal(conductor.statusServerUrl, null);
    await assert.rejects(http(`${base}/status`), /ECONNREFUSED/, 'the port is closed after stop');
  });

  it('answers 503 with the message when the store fails, and keeps serving', async () => {
    await withConductor({ statusServer: {} }, async (f) => {
      await f.createNode();
      f.spy.inject('listNodes', () => errAsync(new StoreError('listNodes', 'disk on fire')));
      const failed = await getJson(`${f.conductor.statusServerUrl!}/nodes`);
      assert.equal(failed.status, 503);
      assert.match((failed.json as { error: string }).error, /disk on fire/);
      const again = await getJson(`${f.conductor.statusServerUrl!}/nodes`);
      assert.equal(again.status, 200);
      assert.equal((again.json as { nodes: unknown[] }).nodes.length, 1);
    });
  });

  it('refuses bad options and a port in use (before the store is opened: nothing created or written)', async () => {
    for (const statusServer of [{ port: -1 }, { port: 65536 }, { port: 1.5 }, { host: '' }, { host: 7 }, { hots: 'x' }, 'yes']) {
      const refused = await errOf(Conductor.open({ logger: silentLogger(), statusServer: statusServer as never }), InvalidParameterValue);
      assert.match(refused.message, /statusServer/);
    }
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await withTempDir(async (dir) => {
        const path = join(dir, 'db.sqlite');
        const refused = await errOf(
          Conductor.open({ logger: silentLogger(), store: { path }, statusServer: { port } }),
          InvalidParameterValue,
        );
        assert.match(refused.message, new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
        assert.deepEqual(await readdir(dir), [], 'a new database is not even created');
        // An existing file: not opened, so byte-identical with the same mtime.
        const existing = await okValue(Conductor.open({ logger: silentLogger(), store: { path } }));
        await okValue(existing.stop());
        const before = { bytes: await readFile(path), mtime: (await stat(path)).mtimeMs, names: (await readdir(dir)).sort() };
        await errOf(Conductor.open({ logger: silentLogger(), store: { path }, statusServer: { port } }), InvalidParameterValue);
        assert.deepEqual(await readFile(path), before.bytes);
        assert.equal((await stat(path)).mtimeMs, before.mtime);
        assert.deepEqual((await readdir(dir)).sort(), before.names);
        assert.equal(await readLiveHolder(path), null, 'no lock is held');
        // The file opens again: nothing of the failed open is held.
        const reopened = await okValue(Conductor.open({ logger: silentLogger(), store: { path } }));
        await okValue(reopened.stop());
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('lock file advertisement', () => {
  it('advertises the status URL in the sql.js lock file; readLiveHolder reads it back without writing', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'fleet.sqlite');
      const conductor = await open({ store: { path } });
      try {
        const files = (await readdir(dir)).sort();
        const lockName = files.find((name) => /^fleet\.sqlite\.lock\.[0-9]+$/.test(name));
        assert.ok(lockName, `a lock file among ${files.join(', ')}`);
        const lockPath = join(dir, lockName);
        assert.equal(
          await readFile(lockPath, 'utf8'),
          `${process.pid}\n${JSON.stringify({ statusUrl: conductor.statusServerUrl })}\n`,
          'pid on the first line, the advertisement on the second',
        );
        const before = await stat(lockPath);
        const holder = await readLiveHolder(path);
        assert.deepEqual(holder, { pid: process.pid, statusUrl: conductor.statusServerUrl });
        assert.deepEqual((await readdir(dir)).sort(), files, 'no file created');
        assert.equal((await stat(lockPath)).mtimeMs, before.mtimeMs, 'the lock file untouched');
        // The advertised URL answers.
        const status = await getJson(`${String(holder.statusUrl)}/status`);
        assert.equal((status.json as { host: string }).host, 'status-host');
      } finally {
        await okValue(conductor.stop());
      }
      assert.equal(await readLiveHolder(path), null, 'no live holder after stop');
    });
  });

  it('readLiveHolder: a held lock without advertisement has no URL; a dead holder or no lock is null', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'plain.sqlite');
      assert.equal(await readLiveHolder(path), null, 'never opened');
      assert.equal(await readLiveHolder(join(dir, 'missing-dir', 'x.sqlite')), null, 'no directory');
      const store = await okValue(openSqlJsStore({ logger: silentLogger(), path }));
      try {
        assert.deepEqual(await readLiveHolder(path), { pid: process.pid, statusUrl: null });
      } finally {
        await okValue(store.close());
      }
      assert.equal(await readLiveHolder(path), null);
      // A lock file left by a process that is gone (with an advertisement) is not a live holder.
      const dead = spawnSync(process.execPath, ['-e', '0']).pid;
      await writeFile(`${path}.lock.7`, `${dead}\n{"statusUrl":"http://127.0.0.1:1"}\n`);
      assert.equal(await readLiveHolder(path), null);
      // And the store still takes it over as before (the pid is read from the first line only).
      const reopened = await okValue(openSqlJsStore({ logger: silentLogger(), path }));
      try {
        const holder = await readLiveHolder(path);
        assert.deepEqual(holder, { pid: process.pid, statusUrl: null });
        await okValue(reopened.advertise({ statusUrl: 'http://127.0.0.1:9' }));
        assert.deepEqual(await readLiveHolder(path), { pid: process.pid, statusUrl: 'http://127.0.0.1:9' });
        // The advertised lock is still a lock: a second opener is refused.
        await errOf(openSqlJsStore({ logger: silentLogger(), path }), StoreInUse);
      } finally {
        await okValue(reopened.close());
      }
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.includes('.lock')),
        [],
        'the advertised lock file is removed at close, no temp file left',
      );
    });
  });
});
