/**
 * Enrolling the simulated fleet: `fake-hardware` nodes named `node-00001`, … each with two ports
 * whose MAC addresses derive from the node's number. Only up to the wanted total: nodes already in
 * the store count, and a node a killed run created without its ports gets them now.
 */
import type { Conductor } from '../conductor.js';
import { createRequestContext } from '../../src/context.js';
import type { NodeRecord } from '../../src/node.js';
import { orThrow } from '../../src/task/scope.js';

/** Ports per node. */
export const PORTS_PER_NODE = 2;

const NAME = /^node-(\d+)$/;

/** The name of node number `index` (1-based). */
export function nodeName(index: number): string {
  return `node-${String(index).padStart(5, '0')}`;
}

/** The MAC address of port `port` of node number `index` (locally administered 52:54:00 prefix). */
export function macAddress(index: number, port: number): string {
  const value = index * PORTS_PER_NODE + port;
  const bytes = [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
  return ['52', '54', '00', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Run `fn` over `items` with at most `limit` at a time (stops early when `signal` aborts). */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Enroll nodes until the store holds `total`; give ports to nodes of ours that lack them (a run
 * killed between creating a node and its ports). Returns the nodes enrolled now.
 */
export async function enrollFleet(
  conductor: Conductor,
  existing: readonly NodeRecord[],
  total: number,
  options: { concurrency: number; onEnrolled: () => void; signal?: AbortSignal },
): Promise<NodeRecord[]> {
  await repairPorts(conductor, existing);
  const taken = new Set(existing.map((n) => n.name).filter((n): n is string => n !== null));
  const indexes: number[] = [];
  for (let index = 1; indexes.length < total - existing.length; index++) {
    if (!taken.has(nodeName(index))) indexes.push(index);
  }
  const enrolled: NodeRecord[] = [];
  await forEachLimited(
    indexes,
    options.concurrency,
    async (index) => {
      const ports = Array.from({ length: PORTS_PER_NODE }, (_, port) => macAddress(index, port));
      const node = await orThrow(
        conductor.enroll(
          {
            driver: 'fake-hardware',
            name: nodeName(index),
            properties: { cpus: 16, memory_mb: 65536, local_gb: 480, cpu_arch: 'x86_64' },
          },
          ports,
        ),
      );
      enrolled.push(node);
      options.onEnrolled();
    },
    options.signal,
  );
  return enrolled;
}

/** Ports are written through the node's actor, under its exclusive lock. */
async function repairPorts(conductor: Conductor, existing: readonly NodeRecord[]): Promise<void> {
  const context = createRequestContext({ user: 'fleet', project: 'metal-conductor' });
  for (const node of existing) {
    if (node.provision_state !== 'enroll' || node.last_error !== null) continue;
    const index = Number(NAME.exec(node.name ?? '')?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(index)) continue;
    await orThrow(
      conductor.withTask(context, node.id, { purpose: 'repair ports', loadDriver: false }, async (task) => {
        const have = new Set((await orThrow(task.ports())).map((p) => p.address));
        for (let port = 0; port < PORTS_PER_NODE; port++) {
          const address = macAddress(index, port);
          if (!have.has(address)) await orThrow(task.createPort({ address }));
        }
      }),
    );
  }
}
