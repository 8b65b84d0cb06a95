/**
 * Shared helpers of the PostgreSQL store tests: one throwaway server per test file, and a fresh
 * database on it per test (CREATE DATABASE is cheap next to a server start).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { startPgServer, type PgServer } from '../../benchmarks/lib/pg-server.js';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/store/pg-store.js';
import { value } from './store-contract.js';

/** Flags that trade durability for speed: the test server's data is thrown away. */
const FAST = ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];

/** Start the server of a test file. */
export function startServer(): Promise<PgServer> {
  return startPgServer({ postgresFlags: FAST });
}

let counter = 0;

/** Run one statement on `url` with a short-lived client. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh empty database on the server, and how to drop it. */
export async function freshDatabase(server: PgServer): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `t_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`;
  await sql(server.url, `CREATE DATABASE ${name}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => sql(server.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined) };
}

/**
 * An empty schema in `url`'s database (cheaper than a new database): every table, sequence and
 * function of a previous test goes. Stores on it must be closed first.
 */
export async function resetDatabase(url: string): Promise<void> {
  await sql(url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public');
}

/** Open a store on `url`, failing the test if that fails. */
export function openPg(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  return value(openPostgresStore({ url, ...options }));
}

/** Poll `condition` every 10 ms until it holds; fail after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A TCP proxy in front of the server that can black-hole traffic (connections stay open, nothing
 * gets through: a network partition or a frozen server) and then cut every connection it carried.
 */
export async function startProxy(target: string): Promise<{ url: string; blackhole(): void; restore(): void; close(): Promise<void> }> {
  const targetUrl = new URL(target);
  let dropping = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((inbound) => {
    track(inbound);
    if (dropping) return; // accepted, never answered
    const outbound = connect(Number(targetUrl.port), targetUrl.hostname);
    track(outbound);
    inbound.on('data', (chunk) => void (dropping || outbound.write(chunk)));
    outbound.on('data', (chunk) => void (dropping || inbound.write(chunk)));
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  const url = new URL(target);
  url.port = String(address.port);
  return {
    url: url.toString(),
    blackhole: () => void (dropping = true),
    restore: () => {
      for (const socket of sockets) socket.destroy();
      dropping = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
