/**
 * Ratios to the raw floor measured in the same run, and the issue's targets that can be checked
 * without the real Ironic (the Ironic ratios come from `npm run bench:ironic`).
 *
 * Each scenario is compared with the least work its operation needs on this machine:
 *  - exclusive-cycle: the reserve + release UPDATE pair + one mailbox round trip (the issue's formula);
 *  - exclusive-ports: the same + the ports SELECT;
 *  - process-event held-task (and held-task c=64): the provision-state UPDATE + one mailbox round
 *    trip; the file-store variants have no floor here (the floor is the in-memory sql.js; their
 *    `vsMemory` compares them with the in-memory variant instead);
 *  - process-event acquire+event+release: UPDATE pair + provision-state UPDATE + one round trip;
 *  - shared-cycle: one mailbox round trip (it needs no store access at all: a unit, not a floor);
 *  - contention: UPDATE pair + one round trip per granted cycle (hand-offs between local waiters
 *    use one UPDATE, so this floor is generous);
 *  - spawn-after tasks (c=1 and c=64): the least a background task needs: the reserve and release
 *    UPDATEs (acquire, then the worker's release), one mailbox round trip (the acquire) and one raw
 *    nact spawn (the worker actor). The worker's own message pass and the hand-off of the lease to
 *    it are not counted, so this floor is strict. With 64 callers the ratio compares throughput
 *    (1e6 / tasks per second) with the same single-caller floor: on the 2-core machine the callers
 *    share one event loop, so the floor's per-op cost does not shrink with concurrency;
 *    worker-spawn: a raw nact spawn;
 *  - fleet-scale: the first snapshot vs a raw node-row SELECT + a raw nact spawn.
 * Per-op time is 1e6 / ops/s (the mean of a closed loop; at throughput for concurrent variants).
 *
 * Targets (`targetChecks`, each with its limit and met / missed in summary.json and the table):
 * exclusive cycle ≤ 2× its floor (mean and p50), process-event held-task ≤ 2.5× (mean and p50),
 * spawn-after c=64 ≤ 3× (throughput), heap per activated node ≤ 2 KB, heap per idle node ≤ 1 KB,
 * contention T=32: 0 NodeLocked and wait p99 ≤ 5 ms.
 */
import { FLOOR } from '../scenarios/raw-floor.js';
import type { ScenarioResult } from './result.js';
import { formatDuration } from './table.js';

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
  /** The figure checked, in `unit` (null when it could not be measured); for ratios, the mean's. */
  readonly value: number | null;
  /** For ratio targets: the p50 ratio, also checked against `limit` (null: none, concurrent variant). */
  readonly valueP50: number | null;
  /** The target: `value` must be at most this. */
  readonly limit: number;
  readonly unit: 'x floor' | 'B' | 'µs';
  /** How it was measured, with the other figures that go with it. */
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
      if (r.variant === 'held-task' || /^held-task c=\d+$/.test(r.variant)) return [update, rt];
      return r.variant === 'acquire+event+release' ? [pair, update, rt] : null;
    case 'shared-cycle':
      return [rt];
    case 'contention':
      return [pair, rt];
    case 'spawn-after':
      return r.variant === 'worker-spawn' ? [spawn] : [pair, rt, spawn];
    case 'fleet-scale':
      // The activated variant's first cycle (spawn + acquire + release) vs its parts.
      return r.variant.startsWith('activated') ? [select, spawn, pair, rt] : [select, spawn];
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
    const concurrent = r.scenario === 'contention' || Number(/\bc=(\d+)/.exec(r.variant)?.[1] ?? 1) > 1;
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
  const ratio = (scenario: string, variant: string): FloorRatio | undefined =>
    ratios?.find((r) => r.scenario === scenario && r.variant === variant);
  // A ratio target: met when the mean ratio (and the p50 ratio, when there is one) is within it.
  const ratioCheck = (target: string, row: FloorRatio | undefined, limit: number, note = ''): void => {
    if (row === undefined) return;
    const worst = row.ratioP50 === null ? row.ratio : Math.max(row.ratio, row.ratioP50);
    checks.push({
      target: `${target} <= ${limit}x (${row.floor})`,
      value: row.ratio,
      valueP50: row.ratioP50,
      limit,
      unit: 'x floor',
      measured: `${row.ratio}x mean${row.ratioP50 === null ? '' : `, ${row.ratioP50}x p50`}${note}`,
      met: worst <= limit,
    });
  };
  const cycleDriver = ratio('exclusive-cycle', 'loadDriver=true');
  ratioCheck(
    'exclusive cycle (loadDriver=false)',
    ratio('exclusive-cycle', 'loadDriver=false'),
    2,
    cycleDriver ? `; loadDriver=true ${cycleDriver.ratio}x mean, ${cycleDriver.ratioP50}x p50` : '',
  );
  ratioCheck('process-event on a held task', ratio('process-event', 'held-task'), 2.5);
  const spawn64 = ratio('spawn-after', 'tasks c=64');
  if (spawn64) {
    checks.push({
      target: `spawn-after tasks c=64 <= 3x (${spawn64.floor}; throughput)`,
      value: spawn64.ratio,
      valueP50: null,
      limit: 3,
      unit: 'x floor',
      measured: `${spawn64.ratio}x (${formatDuration(spawn64.usPerOp)} per task vs ${formatDuration(spawn64.floorUs)})`,
      met: spawn64.ratio <= 3,
    });
  }
  // Checked on the largest fleet of the run (the fixed costs spread the most: the per-node cost);
  // the others are listed in `measured`.
  const heapCheck = (target: string, key: string, variants: ScenarioResult[], limit: number): void => {
    if (variants.length === 0) return;
    const figures = variants.map((r) => ({ variant: r.variant, ops: r.ops, bytes: r.extra[key] }));
    const largest = figures.reduce((a, b) => (b.ops > a.ops ? b : a));
    const value = typeof largest.bytes === 'number' ? largest.bytes : null;
    checks.push({
      target: `${target} <= ${limit} B (${largest.variant})`,
      value,
      valueP50: null,
      limit,
      unit: 'B',
      measured: figures.map((f) => `${typeof f.bytes === 'number' ? `${f.bytes} B` : String(f.bytes)} (${f.variant})`).join(', '),
      met: value !== null && value <= limit,
    });
  };
  const fleet = results.filter((r) => r.scenario === 'fleet-scale');
  heapCheck(
    'heap per activated node (exclusive lock taken and released once)',
    'heapPerActivatedNodeBytes',
    fleet.filter((r) => r.variant.startsWith('activated')),
    2048,
  );
  heapCheck(
    'heap per idle node (loaded, first snapshot only)',
    'heapPerIdleNodeBytes',
    fleet.filter((r) => /^nodes=/.test(r.variant)),
    1024,
  );
  const t32 = get('contention', 'T=32');
  if (t32) {
    const locked = Number(t32.extra.nodeLocked ?? 0);
    checks.push({
      target: 'contention T=32: 0 NodeLocked within the default budget, wait p99 <= 5 ms',
      value: t32.latencyUs.p99,
      valueP50: null,
      limit: 5000,
      unit: 'µs',
      measured: `${locked} NodeLocked, wait p99 ${formatDuration(t32.latencyUs.p99)}`,
      met: locked === 0 && t32.latencyUs.p99 <= 5000,
    });
  }
  return checks;
}
