/**
 * The session: one dedicated connection per store, apart from the pool, that LISTENs for node and
 * waiter notifications and holds the host claim (a session-level advisory lock, freed by the
 * server when the connection dies). When the connection is lost it reconnects by itself with
 * exponential backoff, LISTENs again, re-claims the host and then tells its resync listeners that
 * notifications may have been missed.
 */
import pg from 'pg';
import { err, ok, type Result } from 'neverthrow';
import { describe, StoreError } from '../../../errors.js';
import type { Logger } from '../../../logging.js';
import type { NodeChange } from '../../store.js';
import { decodeAnnouncement } from './announcer.js';
import { LOCK_NAMESPACE, NODES_CHANNEL, WAITERS_CHANNEL } from './schema.js';

/** How a session connects and reports. */
export interface SessionOptions {
  readonly connectionString: string;
  readonly queryTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly logger: Logger;
  /** The session's state changed: 'recovering' while disconnected, 'failed' when the host could not be re-claimed. */
  readonly onState: (state: 'ok' | 'recovering' | 'failed', error: string | null) => void;
}

/** A host claimed by this session. */
interface Claim {
  readonly host: string;
  readonly group: string;
}

/** The notification and claim connection of a store. */
export class PgSession {
  readonly #opts: SessionOptions;
  #client: pg.Client | null = null;
  #closed = false;
  #claim: Claim | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly nodeListeners = new Set<(change: NodeChange) => void>();
  readonly waitersListeners = new Set<(nodeId: number) => void>();
  readonly resyncListeners = new Set<() => void>();

  private constructor(opts: SessionOptions) {
    this.#opts = opts;
  }

  /** Connect and LISTEN. Throws what pg throws. */
  static async open(opts: SessionOptions): Promise<PgSession> {
    const session = new PgSession(opts);
    session.#client = await session.#connect();
    return session;
  }

  /** Whether the session is connected now. */
  get connected(): boolean {
    return this.#client !== null;
  }

  /** The backend pid of the session connection (tests, diagnostics), or null while disconnected. */
  get pid(): number | null {
    return (this.#client as unknown as { processID?: number } | null)?.processID ?? null;
  }

  /** The host this session claims, or null. */
  get claimedHost(): string | null {
    return this.#claim?.host ?? null;
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#opts.connectionString,
      connectionTimeoutMillis: this.#opts.queryTimeoutMs,
      query_timeout: this.#opts.queryTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'metal-conductor session',
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the session connection ended')));
    client.on('notification', (message) => this.#dispatch(message.channel, message.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${NODES_CHANNEL}; LISTEN ${WAITERS_CHANNEL}`);
    } catch (cause) {
      await client.end().catch(() => undefined);
      throw cause;
    }
    return client;
  }

  #dispatch(channel: string, payload: string | undefined): void {
    try {
      if (channel === NODES_CHANNEL && payload !== undefined) {
        for (const change of decodeAnnouncement(payload)) for (const listener of this.nodeListeners) this.#call(() => listener(change));
      } else if (channel === WAITERS_CHANNEL && payload !== undefined) {
        const nodeId = Number(payload);
        for (const listener of this.waitersListeners) this.#call(() => listener(nodeId));
      }
    } catch (cause) {
      this.#opts.logger.error({ err: cause, channel }, 'malformed store notification ignored');
    }
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (cause) {
      this.#opts.logger.error({ err: cause }, 'a store notification listener threw');
    }
  }

  /** The connection failed or ended: report recovering and reconnect (once per connection). */
  #lost(client: pg.Client, error: Error): void {
    if (client !== this.#client || this.#closed) return;
    this.#client = null;
    client.end().catch(() => undefined);
    this.#opts.logger.warn({ err: error }, 'store session connection lost; reconnecting');
    this.#opts.onState('recovering', `session connection lost: ${describe(error)}`);
    this.#schedule(this.#opts.reconnectMinMs);
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#attempt(delay), delay);
    this.#timer.unref?.();
  }

  async #attempt(delay: number): Promise<void> {
    this.#timer = null;
    if (this.#closed) return;
    let client: pg.Client;
    try {
      client = await this.#connect();
    } catch (cause) {
      this.#opts.logger.debug({ err: cause, delay }, 'store session reconnect failed; retrying');
      this.#schedule(Math.min(delay * 2, this.#opts.reconnectMaxMs));
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    const claim = this.#claim;
    if (claim !== null) {
      let held: boolean;
      try {
        held = await this.#tryLock(client, claim.host);
      } catch (cause) {
        // The connection failed again: its error handler schedules the next attempt.
        this.#opts.logger.warn({ err: cause }, 're-claiming the host after a reconnect failed');
        if (this.#client === client) this.#lost(client, cause instanceof Error ? cause : new Error(describe(cause)));
        return;
      }
      if (!held) {
        this.#claim = null;
        const message = `host ${claim.host} could not be re-claimed after a reconnect: it is already served by another live conductor`;
        this.#opts.logger.error({ host: claim.host }, message);
        this.#opts.onState('failed', message);
        for (const listener of this.resyncListeners) this.#call(listener);
        return;
      }
    }
    this.#opts.logger.info('store session reconnected');
    this.#opts.onState('ok', null);
    for (const listener of this.resyncListeners) this.#call(listener);
  }

  async #tryLock(client: pg.Client, host: string): Promise<boolean> {
    const result = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1, hashtext(lower($2))) AS held', [
      LOCK_NAMESPACE,
      host,
    ]);
    return result.rows[0]?.held === true;
  }

  /** Claim `host` for this session (idempotent for the host it already claims; another host's claim is given up). */
  async claim(host: string, group: string): Promise<Result<void, StoreError>> {
    const client = this.#client;
    if (this.#closed) return err(new StoreError('claimHost', 'the store is closed'));
    if (client === null) return err(new StoreError('claimHost', 'the store session is reconnecting'));
    if (this.#claim !== null && this.#claim.host.toLowerCase() === host.toLowerCase()) {
      this.#claim = { host, group };
      return ok(undefined);
    }
    try {
      if (this.#claim !== null) {
        await client.query('SELECT pg_advisory_unlock($1, hashtext(lower($2)))', [LOCK_NAMESPACE, this.#claim.host]);
        this.#claim = null;
      }
      if (!(await this.#tryLock(client, host))) {
        return err(new StoreError('claimHost', `host ${host} is already served by another live conductor`));
      }
      this.#claim = { host, group };
      return ok(undefined);
    } catch (cause) {
      return err(new StoreError('claimHost', cause));
    }
  }

  /** End the connection (which frees the claim) and stop reconnecting. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    this.nodeListeners.clear();
    this.waitersListeners.clear();
    this.resyncListeners.clear();
    if (client !== null) await endWithin(client, this.#opts.queryTimeoutMs);
  }
}

/**
 * End a client, but not wait longer than `ms` for the server's goodbye (an unreachable server never
 * sends one): then its socket is destroyed.
 */
export async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = client.end().then(
    () => true,
    () => true,
  );
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const clean = await Promise.race([ended, timedOut]);
  clearTimeout(timer);
  if (!clean) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
