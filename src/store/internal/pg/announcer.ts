/**
 * Announcements of committed node changes to every conductor on the database (`NOTIFY`), sent by
 * the writer after its commit, batched per event-loop turn.
 *
 * Why not a trigger: a transaction that NOTIFYs takes PostgreSQL's global notification lock at
 * commit and holds it through the commit's WAL flush, so every writing conductor's commits were
 * serialised (measured: the same UPDATE pairs, 4 connections, ~250 pairs/s with a notifying
 * trigger against ~750–1,000 without; group commit stops working). A NOTIFY of its own, after the
 * commit, writes nothing and holds that lock for microseconds.
 *
 * The price: a change committed by a process that dies before the announcement is never heard.
 * Conductors re-read what they cache when a conductor dies (the liveness check) and when their own
 * connection comes back, which covers both ways of missing one. Changes made outside
 * metal-conductor (an operator's SQL) are not announced.
 */
import type pg from 'pg';
import type { Logger } from '../../../logging.js';
import type { NodeChange } from '../../store.js';
import { NODES_CHANNEL } from './schema.js';

/** NOTIFY payloads must stay under 8,000 bytes. */
const MAX_PAYLOAD = 7_500;

/** What a listener needs of a node row to follow it (the wire form is compact: see `encode`). */
export interface ChangedRow {
  readonly id: number;
  readonly version: number;
  readonly reservation: string | null;
  readonly reservation_token: number | null;
  readonly reservation_purpose: string | null;
  readonly reserved_at: string | null;
}

type Wire = { i: number; v: number; r: string | null; t: number | null; p: string | null; a: string | null; l: 0 | 1; d: 0 | 1 };

function encode(row: ChangedRow, lockOnly: boolean, deleted: boolean): Wire {
  return {
    i: row.id,
    v: row.version,
    r: row.reservation,
    t: row.reservation_token,
    p: row.reservation_purpose,
    a: row.reserved_at,
    l: lockOnly ? 1 : 0,
    d: deleted ? 1 : 0,
  };
}

/** Read a payload back into changes (malformed entries are skipped). */
export function decodeAnnouncement(payload: string): NodeChange[] {
  const parsed: unknown = JSON.parse(payload);
  if (!Array.isArray(parsed)) return [];
  const changes: NodeChange[] = [];
  for (const entry of parsed as Partial<Wire>[]) {
    if (typeof entry !== 'object' || entry === null || typeof entry.i !== 'number' || typeof entry.v !== 'number') continue;
    changes.push({
      id: entry.i,
      version: entry.v,
      reservation: entry.r ?? null,
      token: entry.t ?? null,
      deleted: entry.d === 1,
      ...(entry.l === 1 ? { lock: { purpose: entry.p ?? null, reservedAt: entry.a ?? null } } : {}),
    });
  }
  return changes;
}

/** Collects committed changes and NOTIFYs them once per event-loop turn, through the pool. */
export class Announcer {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  #pending: Wire[] = [];
  #flushing: Promise<void> | null = null;

  constructor(pool: pg.Pool, logger: Logger) {
    this.#pool = pool;
    this.#logger = logger;
  }

  /** Announce a committed change of `row`: `lockOnly` when nothing but its reservation changed. */
  announce(row: ChangedRow, lockOnly: boolean, deleted = false): void {
    this.#pending.push(encode(row, lockOnly, deleted));
    this.#flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flush());
  }

  /** Resolve once everything announced so far was sent (or failed). */
  async drain(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      for (const payload of chunks(batch)) {
        try {
          await this.#pool.query({ name: 'mc_announce', text: 'SELECT pg_notify($1, $2)', values: [NODES_CHANNEL, payload] });
        } catch (cause) {
          // The server is unreachable: the listeners' sessions are down too, and re-read all they cache when back.
          this.#logger.warn({ err: cause, changes: batch.length }, 'announcing committed node changes failed');
        }
      }
    } finally {
      this.#flushing = this.#pending.length > 0 ? new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flush()) : null;
    }
  }
}

/** JSON arrays of the changes, each under the payload limit. */
function chunks(batch: readonly Wire[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const wire of batch) {
    const text = JSON.stringify(wire);
    if (current.length > 0 && size + text.length + 1 > MAX_PAYLOAD) {
      out.push(`[${current.join(',')}]`);
      current = [];
      size = 2;
    }
    current.push(text);
    size += text.length + 1;
  }
  if (current.length > 0) out.push(`[${current.join(',')}]`);
  return out;
}
