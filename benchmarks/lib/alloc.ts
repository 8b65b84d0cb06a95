/**
 * Bytes allocated per operation, from V8's sampling heap profiler (through the inspector, in this
 * process), counting objects that were already collected again: a direct measure of the garbage an
 * operation makes, which is what the `(garbage collector)` share of a CPU profile pays for.
 * Statistical (one sample per `SAMPLING_INTERVAL` bytes on average): good to a few percent over a
 * few thousand operations.
 */
import { Session } from 'node:inspector/promises';

const SAMPLING_INTERVAL = 512;

interface SamplingNode {
  readonly selfSize: number;
  readonly children: readonly SamplingNode[];
}

/** Whether this process is being CPU-profiled (then the allocation pass is skipped: it would show in the profile). */
export const cpuProfiling = (): boolean => process.execArgv.some((flag) => flag.startsWith('--cpu-prof'));

/** Average bytes allocated by `op` over `count` awaited calls, or null if sampling is unavailable. */
export async function allocatedBytesPerOp(op: () => unknown, count: number): Promise<number | null> {
  if (count <= 0 || cpuProfiling()) return null;
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: SAMPLING_INTERVAL,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as { samplingInterval: number });
    for (let i = 0; i < count; i++) await op();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    let total = 0;
    const walk = (node: SamplingNode): void => {
      total += node.selfSize;
      for (const child of node.children) walk(child);
    };
    walk(profile.head);
    return total / count;
  } catch {
    return null;
  } finally {
    session.disconnect();
  }
}
