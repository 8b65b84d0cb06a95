/**
 * Conductors as the benchmarks open them: silent logger, no notifications, no periodic checks,
 * in-memory store unless the scenario says otherwise, and always stopped.
 */
import { Conductor, type ConductorInit } from '../../dist/actors/conductor.js';
import { silentLogger } from '../../dist/src/logging.js';
import type { NodeRecord } from '../../dist/src/node.js';
import { orThrow } from '../../dist/src/task/scope.js';
import type { ProvisionState } from '../../dist/src/states/provision-states.js';

/** Open a conductor with the benchmark defaults, overridable by `init`. */
export async function openBenchConductor(init: ConductorInit = {}): Promise<Conductor> {
  return orThrow(
    Conductor.open({
      logger: silentLogger(),
      notificationLevel: null,
      periodicChecks: false,
      ...init,
    }),
  );
}

/** Open a conductor, run `body`, and stop the conductor whatever happens. */
export async function withConductor<T>(init: ConductorInit, body: (conductor: Conductor) => Promise<T>): Promise<T> {
  const conductor = await openBenchConductor(init);
  try {
    return await body(conductor);
  } finally {
    await orThrow(conductor.stop());
  }
}

/** Enroll `count` fake-hardware nodes (in `provisionState`, with `ports` ports each). */
export async function enrollNodes(
  conductor: Conductor,
  count: number,
  options: { provisionState?: ProvisionState; ports?: number; prefix?: string } = {},
): Promise<NodeRecord[]> {
  const nodes: NodeRecord[] = [];
  const prefix = options.prefix ?? 'bench';
  let mac = 0;
  for (let i = 0; i < count; i++) {
    const ports: string[] = [];
    for (let p = 0; p < (options.ports ?? 0); p++) ports.push(macAddress(++mac));
    const fields =
      options.provisionState === undefined
        ? { driver: 'fake-hardware' }
        : { driver: 'fake-hardware', provision_state: options.provisionState };
    nodes.push(await orThrow(conductor.enroll({ ...fields, name: `${prefix}-${i}` }, ports)));
  }
  return nodes;
}

function macAddress(n: number): string {
  const bytes = [0x52, 0x54, (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
