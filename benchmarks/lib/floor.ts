/**
 * Ratios to the raw floor measured in the same run, and the issue's targets that can be checked
 * without the real Ironic (the Ironic ratios come from `npm run bench:ironic`).
 *
 * Each scenario is compared with the least work its operation needs on this machine:
 *  - exclusive-cycle: the reserve + release UPDATE pair + one mailbox round trip (the issue's formula);
 *  - exclusive-ports: the same + the ports SELECT;
 *  - process-event held-task: the provision-state UPDATE + one mailbox round trip;
 *  - process-event acquire+event+release: UPDATE pair + provision-state UPDATE + one round trip;
 *  - shared-cycle: one mailbox round trip (it needs no store access at all: a unit, not a floor);
 *  - contention: UPDATE pair + one round trip per granted cycle (hand-offs between local waiters
 *    use one UPDATE, so this floor is generous);
 *  - spawn-after tasks: UPDATE pair + one round trip + one raw nact spawn; worker-spawn: a raw nact spawn;
 *  - fleet-scale: the first snapshot vs a raw node-row SELECT + a raw nact spawn.
 * Per-op time is 1e6 / ops/s (the mean of a closed loop; at throughput for concurrent variants).
 */
import { FLOOR } from '../scenarios/raw-floor.js';
import type { ScenarioResult } from './result.js';

/** One row of the ratio summary. */
export interface FloorRatio {
  readonly scenario: string;
  readonly variant: string;
  /** µs per op (1e6 / ops/s). */
  readonly usPerOp: number;
  /** What the floor is made of. */
  readonly floor: string;
  /** µs per op of the floor (sum of its parts' means). */
  readonly floorUs: number;
  /** usPerOp / floorUs. */
  readonly ratio: number;
  /** p50 / sum of the parts' p50s (null for concurrent variants, whose latency includes queueing). */
  readonly ratioP50: number | null;
}

/** One checked target (ours alone). */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

type Part = { readonly name: string; readonly us: number; readonly p50: number };

const perOpUs = (r: ScenarioResult): number => (r.opsPerSec > 0 ? 1e6 / r.opsPerSec : Number.NaN);
const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** The floor composition for a result, or null when it has none. */
function floorFor(r: ScenarioResult, parts: Record<string, Part>): Part[] | null {
  const rt = parts.rt!;
  const pair = parts.pair!;
  const update = parts.update!;
  const ports = parts.ports!;
  const spawn = parts.spawn!;
  const select = parts.select!;
  switch (r.scenario) {
    case 'exclusive-cycle':
      return [pair, rt];
    case 'exclusive-ports':
      return [pair, ports, rt];
    case 'process-event':
      return r.variant === 'held-task' ? [update, rt] : [pair, update, rt];
    case 'shared-cycle':
      return [rt];
    case 'contention':
      return [pair, rt];
    case 'spawn-after':
      return r.variant === 'worker-spawn' ? [spawn] : [pair, rt, spawn];
    case 'fleet-scale':
      return [select, spawn];
    case 'raw-floor':
      if (r.variant === FLOOR.runtimeAsk || r.variant === FLOOR.queryRoundTrip) return [rt];
      if (r.variant === FLOOR.updatePairStore) return [pair];
      if (r.variant === FLOOR.runtimeSpawn) return [spawn];
      return null;
    default:
      return null;
  }
}

/** Ratios of every result to the floor, or null if the raw floor was not measured in this run. */
export function floorRatios(results: readonly ScenarioResult[]): FloorRatio[] | null {
  const find = (variant: string): ScenarioResult | undefined => results.find((r) => r.scenario === 'raw-floor' && r.variant === variant);
  const named: [string, string, string][] = [
    ['rt', FLOOR.tellRoundTrip, 'mailbox RT'],
    ['pair', FLOOR.updatePairRaw, 'UPDATE pair'],
    ['update', FLOOR.nodeUpdateRaw, 'node UPDATE'],
    ['ports', FLOOR.portsSelectRaw, 'ports SELECT'],
    ['spawn', FLOOR.nactSpawn, 'nact spawn'],
    ['select', FLOOR.nodeSelectRaw, 'node SELECT'],
  ];
  const parts: Record<string, Part> = {};
  for (const [key, variant, label] of named) {
    const r = find(variant);
    if (r === undefined) return null;
    parts[key] = { name: label, us: perOpUs(r), p50: r.latencyUs.p50 };
  }
  const rows: FloorRatio[] = [];
  for (const r of results) {
    const floor = floorFor(r, parts);
    if (floor === null) continue;
    const floorUs = floor.reduce((sum, p) => sum + p.us, 0);
    const floorP50 = floor.reduce((sum, p) => sum + p.p50, 0);
    const usPerOp = perOpUs(r);
    // With concurrent callers the latency columns include queueing: only throughput compares.
    const concurrent = r.scenario === 'contention' || (r.variant.startsWith('tasks c=') && r.variant !== 'tasks c=1');
    rows.push({
      scenario: r.scenario,
      variant: r.variant,
      usPerOp: round(usPerOp),
      floor: floor.map((p) => p.name).join(' + '),
      floorUs: round(floorUs),
      ratio: round(usPerOp / floorUs),
      ratioP50: floorP50 > 0 && !concurrent ? round(r.latencyUs.p50 / floorP50) : null,
    });
  }
  return rows;
}

/** The issue's targets that do not need Ironic, checked against this run. */
export function targetChecks(results: readonly ScenarioResult[], ratios: readonly FloorRatio[] | null): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const get = (scenario: string, variant: string): ScenarioResult | undefined =>
    results.find((r) => r.scenario === scenario && r.variant === variant);
  const cycle = ratios?.find((r) => r.scenario === 'exclusive-cycle' && r.variant === 'loadDriver=false');
  const cycleDriver = ratios?.find((r) => r.scenario === 'exclusive-cycle' && r.variant === 'loadDriver=true');
  if (cycle) {
    checks.push({
      target: 'exclusive cycle within 2x of the raw floor (UPDATE pair + mailbox RT)',
      measured: `${cycle.ratio}x (loadDriver=false; p50 ${cycle.ratioP50}x)${cycleDriver ? `, ${cycleDriver.ratio}x with loadDriver=true` : ''}`,
      met: cycle.ratio <= 2,
    });
  }
  const t32 = get('contention', 'T=32');
  if (t32) {
    const locked = Number(t32.extra.nodeLocked ?? 0);
    checks.push({
      target: 'contention T=32: 0 NodeLocked within the default budget, wait p99 <= 5 ms',
      measured: `${locked} NodeLocked, wait p99 ${t32.latencyUs.p99} µs`,
      met: locked === 0 && t32.latencyUs.p99 <= 5000,
    });
  }
  const fleet = get('fleet-scale', 'nodes=100000');
  if (fleet) {
    const perNode = fleet.extra.heapPerIdleNodeBytes;
    checks.push({
      target: '100k idle nodes <= 2 KB heap each',
      measured: typeof perNode === 'number' ? `${perNode} B per idle node` : String(perNode),
      met: typeof perNode === 'number' && perNode <= 2048,
    });
  }
  return checks;
}
