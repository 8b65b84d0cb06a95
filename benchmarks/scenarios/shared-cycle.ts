/**
 * `shared-cycle`: one caller, one node; each operation acquires a shared task and releases it
 * (Ironic: `with task_manager.acquire(ctx, node_id, shared=True): pass`). A shared task takes no
 * reservation and never enters the node's mailbox: it reads the node's cached snapshot.
 * Variants with and without building the driver (Ironic builds it by default).
 */
import { acquireCycle } from '../lib/acquire-cycle.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'acquire shared + release on one node (snapshot read, no store access)';

export function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  return acquireCycle('shared-cycle', true, quick);
}
