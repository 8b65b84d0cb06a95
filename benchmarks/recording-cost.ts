/**
 * `node dist-bench/recording-cost.js [--pairs N]` (after `npm run build:bench`): does recording
 * every operation into the HDR histogram (lib/histogram.ts, what the results store) distort the
 * timed loop, compared with `perf_hooks.createHistogram` (what the harness recorded into before)?
 * In one process, the same closed loops alternate between the two recorders, N pairs (default 3):
 *
 *   exclusive-cycle  acquire exclusive + release, loadDriver=false (the headline figure)
 *   empty op         an `async () => {}` (nothing but the loop and the recording)
 *
 * Prints, per recorder, the median over the pairs of p50 and ops/s, and the difference.
 */
import { parseArgs } from 'node:util';
import { createRequestContext } from '../dist/src/context.js';
import { orThrow } from '../dist/src/task/scope.js';
import { enrollNodes, withConductor } from './lib/conductor.js';
import { setRecorderKind } from './lib/histogram.js';
import { closedLoop, loopPlan, median, must, type LoopMeasure } from './lib/measure.js';
import { formatDuration } from './lib/table.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '3' } } });
const pairs = Number(values.pairs);

async function alternate(label: string, op: () => Promise<unknown>): Promise<void> {
  const plan = loopPlan(false);
  const figures: Record<'perf_hooks' | 'hdr', LoopMeasure[]> = { perf_hooks: [], hdr: [] };
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so that a drift of the machine does not favour one.
    const order = i % 2 === 0 ? (['perf_hooks', 'hdr'] as const) : (['hdr', 'perf_hooks'] as const);
    for (const kind of order) {
      setRecorderKind(kind);
      figures[kind].push(await closedLoop(op, { ...plan, allocOps: 0 }));
    }
  }
  setRecorderKind('hdr');
  const summary = (kind: 'perf_hooks' | 'hdr'): { p50: number; ops: number } => ({
    p50: median(figures[kind].map((m) => m.latencyUs.p50)),
    ops: median(figures[kind].map((m) => m.opsPerSec)),
  });
  const p = summary('perf_hooks');
  const h = summary('hdr');
  const pct = (a: number, b: number): string => `${(((a - b) / b) * 100).toFixed(1)} %`;
  console.log(
    `${label.padEnd(16)} perf_hooks p50 ${formatDuration(p.p50).padStart(8)}, ${Math.round(p.ops).toLocaleString('en-US').padStart(9)} ops/s | ` +
      `hdr p50 ${formatDuration(h.p50).padStart(8)}, ${Math.round(h.ops).toLocaleString('en-US').padStart(9)} ops/s | ` +
      `hdr vs perf_hooks: p50 ${pct(h.p50, p.p50)}, ops/s ${pct(h.ops, p.ops)}`,
  );
}

console.log(`recording cost: ${pairs} alternating pairs of closed loops (0.5 s warm-up + 3 × 1.5 s each), medians over the pairs`);
await withConductor({}, async (conductor) => {
  const [node] = await enrollNodes(conductor, 1);
  const ctx = createRequestContext();
  const id = node!.id;
  await alternate('exclusive-cycle', async () => {
    const task = await orThrow(conductor.acquire(ctx, id, { shared: false, loadDriver: false, purpose: 'bench' }));
    must(await task.release());
  });
});
await alternate('empty op', async () => undefined);
