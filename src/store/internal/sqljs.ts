/**
 * Loads the sql.js WASM module once per process. Every store shares the module (one WASM heap);
 * each store owns its own `Database`.
 */
import initSqlJs from 'sql.js';
import type { SqlJsStatic } from 'sql.js';

let loading: Promise<SqlJsStatic> | null = null;

/** The sql.js module, loaded on first use. A failed load is retried on the next call. */
export function loadSqlJs(): Promise<SqlJsStatic> {
  if (loading === null) {
    loading = initSqlJs().catch((cause: unknown) => {
      loading = null;
      throw cause;
    });
  }
  return loading;
}
