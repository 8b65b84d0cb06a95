/**
 * Concurrent "API clients" contending for the nodes the fleet run is driving, as Ironic's API and
 * periodic tasks do:
 * - exclusive updates (`PATCH /nodes/<id>`: an exclusive task with the default retry budget,
 *   writing `extra`): each acquire's wait goes into the lock-wait histogram; a NodeLocked (budget
 *   exhausted) is counted;
 * - a power-state sync (Ironic `_sync_power_states`): a shared task that reads the power state
 *   through the driver and never waits for the lock; when the node has no recorded power state
 *   yet it upgrades to the exclusive lock and records it (that wait is an exclusive acquire too).
 */
import type { Conductor } from '../conductor.js';
import { createRequestContext, type RequestContext } from '../../src/context.js';
import { isConductorError, NodeLocked } from '../../src/errors.js';
import type { Logger } from '../../src/logging.js';
import { orThrow } from '../../src/task/scope.js';
import { Latency, type LatencyFigures } from './latency.js';

/** What the clients did. */
export interface ClientStats {
  readonly clients: number;
  /** Exclusive updates that committed. */
  readonly exclusiveUpdates: number;
  /** Exclusive acquires (updates and power-sync upgrades) refused with NodeLocked after the retry budget. */
  readonly nodeLocked: number;
  /** Shared tasks taken by the power sync (never blocked). */
  readonly sharedReads: number;
  /** Power states recorded by the sync after upgrading to the exclusive lock. */
  readonly powerStateFixes: number;
  /** Power reads the fake driver failed (injected failures). */
  readonly syncFailures: number;
  /** Other errors (each logged at warn). */
  readonly errors: number;
  /** Wait for the exclusive lock, per granted acquire (updates and upgrades). */
  readonly lockWaitMs: LatencyFigures;
  /** Time to get a shared task (never waits for a holder). */
  readonly sharedWaitMs: LatencyFigures;
}

export interface ClientOptions {
  readonly count: number;
  /** Seeded randomness (operation choice). */
  readonly random: () => number;
  /** The node to work on next (null: none yet). */
  readonly pick: () => number | null;
  /** Pause between two operations of one client. */
  readonly thinkMs: number;
  readonly logger: Logger;
  /** The clients' numbers (names api-client-<n>). Default 1..count. */
  readonly numbers?: readonly number[];
  /** Keep every wait sample (to merge the figures of several processes). */
  readonly keepSamples?: boolean;
}

/** What the clients of one process did, with the raw wait samples (µs), to be merged. */
export interface ClientCounts extends Omit<ClientStats, 'lockWaitMs' | 'sharedWaitMs'> {
  readonly lockWaitUs: readonly number[];
  readonly sharedWaitUs: readonly number[];
}

/** The clients of several processes as one. */
export function mergeClientCounts(parts: readonly ClientCounts[]): ClientStats {
  const sum = (
    key: 'clients' | 'exclusiveUpdates' | 'nodeLocked' | 'sharedReads' | 'powerStateFixes' | 'syncFailures' | 'errors',
  ): number => parts.reduce((total, part) => total + part[key], 0);
  return {
    clients: sum('clients'),
    exclusiveUpdates: sum('exclusiveUpdates'),
    nodeLocked: sum('nodeLocked'),
    sharedReads: sum('sharedReads'),
    powerStateFixes: sum('powerStateFixes'),
    syncFailures: sum('syncFailures'),
    errors: sum('errors'),
    lockWaitMs: Latency.fromSamples(parts.map((p) => p.lockWaitUs)).figures(),
    sharedWaitMs: Latency.fromSamples(parts.map((p) => p.sharedWaitUs)).figures(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The API clients of a fleet run. */
export class ApiClients {
  readonly #conductor: Conductor;
  readonly #options: ClientOptions;
  readonly #lockWait: Latency;
  readonly #sharedWait: Latency;
  readonly #loops: Promise<void>[] = [];
  #running = false;
  #exclusiveUpdates = 0;
  #nodeLocked = 0;
  #sharedReads = 0;
  #powerStateFixes = 0;
  #syncFailures = 0;
  #errors = 0;

  constructor(conductor: Conductor, options: ClientOptions) {
    this.#conductor = conductor;
    this.#options = options;
    this.#lockWait = new Latency({ keepSamples: options.keepSamples === true });
    this.#sharedWait = new Latency({ keepSamples: options.keepSamples === true });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const numbers = this.#options.numbers ?? Array.from({ length: this.#options.count }, (_, i) => i + 1);
    for (const i of numbers) {
      const ctx = createRequestContext({ user: `api-client-${i}`, project: 'metal' });
      this.#loops.push(this.#loop(ctx, `api-client-${i}`));
    }
  }

  /** Stop after the operations in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  /** The counts with the raw samples (keepSamples), to be merged with other processes'. */
  counts(): ClientCounts {
    const { lockWaitMs: _lock, sharedWaitMs: _shared, ...counts } = this.stats();
    return { ...counts, lockWaitUs: this.#lockWait.samples(), sharedWaitUs: this.#sharedWait.samples() };
  }

  stats(): ClientStats {
    return {
      clients: this.#options.numbers?.length ?? this.#options.count,
      exclusiveUpdates: this.#exclusiveUpdates,
      nodeLocked: this.#nodeLocked,
      sharedReads: this.#sharedReads,
      powerStateFixes: this.#powerStateFixes,
      syncFailures: this.#syncFailures,
      errors: this.#errors,
      lockWaitMs: this.#lockWait.figures(),
      sharedWaitMs: this.#sharedWait.figures(),
    };
  }

  async #loop(ctx: RequestContext, name: string): Promise<void> {
    while (this.#running) {
      const nodeId = this.#options.pick();
      if (nodeId !== null) {
        try {
          if (this.#options.random() < 0.5) await this.#update(ctx, name, nodeId);
          else await this.#powerSync(ctx, nodeId);
        } catch (error) {
          this.#unexpected(error, name, nodeId);
        }
      }
      await sleep(this.#options.thinkMs);
    }
  }

  /** An API node update: exclusive task, default retry budget. */
  async #update(ctx: RequestContext, name: string, nodeId: number): Promise<void> {
    const asked = performance.now();
    const result = await this.#conductor.withTask(ctx, nodeId, { purpose: 'node update', loadDriver: false }, (task) => {
      this.#lockWait.record(performance.now() - asked);
      return task.updateNode((draft) => {
        const count = draft.extra['api_updates'];
        draft.extra['api_updates'] = (typeof count === 'number' ? count : 0) + 1;
        draft.extra['last_api_client'] = name;
      });
    });
    if (result.isErr()) {
      if (result.error instanceof NodeLocked) this.#nodeLocked += 1;
      else this.#unexpected(result.error, name, nodeId);
      return;
    }
    this.#exclusiveUpdates += 1;
  }

  /** Ironic's power-state sync: a shared read through the driver; record a missing state under the exclusive lock. */
  async #powerSync(ctx: RequestContext, nodeId: number): Promise<void> {
    const asked = performance.now();
    let outcome: 'ok' | 'locked' | 'driver-failed';
    try {
      outcome = await orThrow(
        this.#conductor.withTask(ctx, nodeId, { shared: true, purpose: 'power state sync' }, async (task) => {
          this.#sharedWait.record(performance.now() - asked);
          this.#sharedReads += 1;
          let actual: string;
          try {
            actual = await task.driver!.power.getPowerState(task);
          } catch (error) {
            if (isConductorError(error) && error.code === 'FakeDriverError') return 'driver-failed' as const;
            throw error;
          }
          if (task.node.power_state !== null) return 'ok' as const;
          // "no previous known state; recording current state" (Ironic): needs the exclusive lock.
          const upgradeAsked = performance.now();
          const upgraded = await task.upgradeLock({ purpose: 'power state sync' });
          if (upgraded.isErr()) {
            if (upgraded.error instanceof NodeLocked) return 'locked' as const;
            throw upgraded.error;
          }
          this.#lockWait.record(performance.now() - upgradeAsked);
          const exclusive = upgraded.value;
          if (exclusive.node.power_state === null) {
            await orThrow(exclusive.updateNode((draft) => void (draft.power_state = actual)));
            this.#powerStateFixes += 1;
          }
          return 'ok' as const;
        }),
      );
    } catch (error) {
      if (error instanceof NodeLocked) outcome = 'locked';
      else throw error;
    }
    if (outcome === 'locked') this.#nodeLocked += 1;
    else if (outcome === 'driver-failed') this.#syncFailures += 1;
  }

  #unexpected(error: unknown, name: string, nodeId: number): void {
    this.#errors += 1;
    this.#options.logger.warn({ err: error, client: name, node: nodeId }, 'API client request failed');
  }
}
