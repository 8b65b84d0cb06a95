/**
 * TEMPORARY STUB until the `metrics` branch (status server) is merged: the contract is
 * `readLiveHolder(dbPath)` of src/store/internal/file-lock.ts, the live holder of the file's lock
 * and the status URL it advertised, or null. This stub finds no holder.
 */
export function readLiveHolder(_dbPath: string): Promise<{ pid: number; statusUrl: string | null } | null> {
  return Promise.resolve(null);
}
