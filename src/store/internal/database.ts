/**
 * A thin wrapper over a sql.js `Database`: prepared statements cached per SQL text (re-preparing
 * costs about as much as running a small statement), and helpers that always reset a statement,
 * even when stepping it throws.
 */
import type { Database, SqlValue, Statement } from 'sql.js';

/** A bound parameter. Booleans are stored as 0/1 and JSON as text, so these three suffice. */
export type SqlParam = string | number | null;

/** A result row, columns in SELECT order. */
export type SqlRow = SqlValue[];

/** Most distinct statements kept prepared; beyond it the least recently used one is freed. */
const STATEMENT_CACHE_SIZE = 256;

/** A sql.js database with a statement cache. Single owner; not safe to share across stores. */
export class SqlDatabase {
  #db: Database;
  // Map keeps insertion order: re-inserting on use makes the first key the least recently used.
  #statements = new Map<string, Statement>();

  constructor(db: Database) {
    this.#db = db;
  }

  /** Run a statement; returns the number of rows it changed (sqlite3_changes). */
  run(sql: string, params: readonly SqlParam[] = []): number {
    const stmt = this.#prepare(sql);
    try {
      stmt.bind(params as SqlParam[]);
      stmt.step();
    } finally {
      stmt.reset();
    }
    return this.#db.getRowsModified();
  }

  /** First row of a query (or of a RETURNING clause), or undefined. */
  get(sql: string, params: readonly SqlParam[] = []): SqlRow | undefined {
    const stmt = this.#prepare(sql);
    try {
      stmt.bind(params as SqlParam[]);
      return stmt.step() ? stmt.get() : undefined;
    } finally {
      stmt.reset();
    }
  }

  /** Every row of a query (or of a RETURNING clause). */
  all(sql: string, params: readonly SqlParam[] = []): SqlRow[] {
    const stmt = this.#prepare(sql);
    const rows: SqlRow[] = [];
    try {
      stmt.bind(params as SqlParam[]);
      while (stmt.step()) rows.push(stmt.get());
    } finally {
      stmt.reset();
    }
    return rows;
  }

  /** Run one or more statements without parameters (DDL, pragmas); not cached. */
  exec(sql: string): SqlRow[] {
    const results = this.#db.exec(sql);
    return results.flatMap((r) => r.values);
  }

  /** The whole database file image. sql.js 1.16 throws inside an open write transaction. */
  export(): Uint8Array {
    return this.#db.export();
  }

  /** Free every statement and the database. Idempotent. */
  close(): void {
    for (const stmt of this.#statements.values()) {
      try {
        stmt.free();
      } catch {
        // already freed with the database
      }
    }
    this.#statements.clear();
    this.#db.close();
  }

  #prepare(sql: string): Statement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) {
      this.#statements.delete(sql);
      this.#statements.set(sql, cached);
      return cached;
    }
    const stmt = this.#db.prepare(sql);
    this.#statements.set(sql, stmt);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      const [oldestSql, oldest] = this.#statements.entries().next().value as [string, Statement];
      this.#statements.delete(oldestSql);
      oldest.free();
    }
    return stmt;
  }
}
