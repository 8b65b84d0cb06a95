/**
 * Fixture for the periodic-check and recovery tests: a real Conductor on an in-memory store, a
 * ManualClock for the wait timeouts, and helpers to prepare nodes directly in the store (before
 * any node actor has loaded them) and read them back.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.js';
import type { ConductorOptions } from '../../src/config.js';
import type { FakeBehaviour } from '../../src/drivers/fake/fake-behaviour.js';
import { silentLogger } from '../../src/logging.js';
import type { NewNode, NodeRecord } from '../../src/node.js';
import { periodicPort, type PeriodicPort, type TaskRunner } from '../../src/periodics/index.js';
import type { Store } from '../../src/store/store.js';
import { conductorInternals, openConductor, type Conductor, type ConductorSeams } from '../../actors/conductor.js';

/** This conductor's host. */
export const HOST = 'conductor-a';
/** Another conductor's host. */
export const OTHER_HOST = 'conductor-b';
/** Default timeout of every wait check (Ironic's 1800 s). */
export const TIMEOUT_MS = 1_800_000;

/** What a test gets. */
export interface Fixture {
  readonly conductor: Conductor;
  readonly clock: ManualClock;
  readonly port: PeriodicPort;
  readonly store: Store;
  /** Create a fake-hardware node with `fields`; `updatedAgoMs` sets provision_updated_at that long before the clock's now. */
  readonly createNode: (fields: Partial<NewNode>, updatedAgoMs?: number) => Promise<NodeRecord>;
  /** The node as stored now. */
  readonly read: (node: NodeRecord) => Promise<NodeRecord>;
  /** Reserve `node` in the store under `tag`, as another (or a crashed) conductor would have. */
  readonly reserve: (node: NodeRecord, tag: string) => Promise<void>;
}

/** Options of withFixture. */
export interface FixtureOptions extends ConductorOptions {
  readonly seams?: ConductorSeams;
  readonly fakeBehaviour?: FakeBehaviour;
}

/** Run `body` with a fresh conductor; the conductor is stopped afterwards, whatever happens. */
export async function withFixture(options: FixtureOptions, body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const { seams, fakeBehaviour, ...conductorOptions } = options;
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const opened = await openConductor(
    {
      host: HOST,
      logger: silentLogger(),
      ...conductorOptions,
      ...(fakeBehaviour ? { drivers: { fakeBehaviour } } : {}),
    },
    // The conductor keeps the system clock: only the checks' notion of "now" is manual here, so a
    // lock wait (if a bug made one) would still end instead of hanging on a clock nobody advances.
    seams ?? {},
  );
  if (opened.isErr()) throw opened.error;
  const conductor = opened.value;
  const { store, logger, registry } = conductorInternals(conductor);
  const runner: TaskRunner = {
    store,
    logger,
    config: conductor.config,
    withTask: conductor.withTask.bind(conductor),
    releaseOrphan: (nodeId, tag) => registry.releaseOrphan(nodeId, tag),
  };
  const port = periodicPort(runner, clock);
  const fixture: Fixture = {
    conductor,
    clock,
    port,
    store,
    async createNode(fields, updatedAgoMs) {
      const created = await store.createNode({ driver: 'fake-hardware', ...fields });
      if (created.isErr()) throw created.error;
      if (updatedAgoMs === undefined) return created.value;
      const updated = await store.updateNode(created.value.id, {
        provision_updated_at: new Date(clock.now() - updatedAgoMs).toISOString(),
      });
      if (updated.isErr()) throw updated.error;
      return updated.value;
    },
    async read(node) {
      const got = await store.getNode(node.id);
      if (got.isErr()) throw got.error;
      return got.value;
    },
    async reserve(node, tag) {
      const reserved = await store.reserve(tag, node.id, { purpose: 'test holder' });
      if (reserved.isErr()) throw reserved.error;
    },
  };
  try {
    await body(fixture);
  } finally {
    await conductor.onIdle();
    const stopped = await conductor.stop();
    assert.ok(stopped.isOk(), 'the conductor stops cleanly');
  }
}

/** Assert that `after` equals `before` in every field the checks could touch. */
export function assertUntouched(after: NodeRecord, before: NodeRecord, label: string): void {
  for (const field of [
    'provision_state',
    'target_provision_state',
    'last_error',
    'maintenance',
    'maintenance_reason',
    'power_state',
    'target_power_state',
    'reservation',
    'provision_updated_at',
  ] as const) {
    assert.deepEqual(after[field], before[field], `${label}: ${field} unchanged`);
  }
  assert.deepEqual(after.driver_internal_info, before.driver_internal_info, `${label}: driver_internal_info unchanged`);
}

/** Reservations left in the store, by node uuid. */
export async function reservations(store: Store): Promise<Record<string, string>> {
  const listed = await store.listNodes({ reserved: true });
  if (listed.isErr()) throw listed.error;
  return Object.fromEntries(listed.value.map((n) => [n.uuid, n.reservation as string]));
}
