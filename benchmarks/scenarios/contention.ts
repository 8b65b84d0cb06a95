/**
 * `contention`: T concurrent callers (T = 2, 8, 32) on one node, with the default waiting budget
 * (3 attempts, 1 s interval: a local waiter gives up with NodeLocked after 2 s). Each caller loops:
 * acquire exclusive (no driver) → hold for one resolved `await` → release, for a fixed number of
 * cycles. Reported:
 *  - ops/s: granted cycles per second, all callers together;
 *  - latency columns: the WAIT, from calling acquire to being granted (the cycle time is in extra);
 *  - NodeLocked count (a failed caller counts it and tries again);
 *  - fairness: the fraction of grants that went to the oldest pending request (`inOrder`), and the
 *    most pending older requests one grant overtook (`maxOvertakes`).
 */
import { createRequestContext } from '../../dist/src/context.js';
import { NodeLocked } from '../../dist/src/errors.js';
import { enrollNodes, withConductor } from '../lib/conductor.js';
import { latencyUs, median, newHistogram, nowNs, rangeText, recordNs } from '../lib/measure.js';
import type { ScenarioResult } from '../lib/result.js';
import type { ScenarioOptions } from '../lib/scenario.js';

export const description = 'T callers on one node: acquire exclusive + 1 await hold + release; latency = wait to be granted';

/** Caller counts measured. */
export const CALLERS = [2, 8, 32] as const;

export async function run({ quick }: ScenarioOptions): Promise<ScenarioResult[]> {
  const cyclesPerRound = quick ? 300 : 10_000;
  const rounds = quick ? 1 : 3;
  const results: ScenarioResult[] = [];
  for (const callers of CALLERS) {
    results.push(
      await withConductor({}, async (conductor) => {
        const [node] = await enrollNodes(conductor, 1);
        const ctx = createRequestContext();
        const id = node!.id;
        const cfg = conductor.config;

        const wait = newHistogram();
        const cycle = newHistogram();
        let nodeLocked = 0;
        let otherErrors = 0;
        let grants = 0;
        let inOrder = 0;
        let maxOvertakes = 0;
        let record = false;
        let nextSeq = 0;
        const pending = new Set<number>();

        const caller = async (cycles: number): Promise<void> => {
          for (let c = 0; c < cycles; c++) {
            const seq = ++nextSeq;
            pending.add(seq);
            const t0 = nowNs();
            const acquired = await conductor.acquire(ctx, id, { loadDriver: false, purpose: 'contend' });
            const t1 = nowNs();
            pending.delete(seq);
            if (acquired.isErr()) {
              if (acquired.error instanceof NodeLocked) nodeLocked += 1;
              else otherErrors += 1;
              continue;
            }
            if (record) {
              let overtaken = 0;
              for (const other of pending) if (other < seq) overtaken += 1;
              grants += 1;
              if (overtaken === 0) inOrder += 1;
              if (overtaken > maxOvertakes) maxOvertakes = overtaken;
              recordNs(wait, t1 - t0);
            }
            await Promise.resolve(); // the "work" of the holder
            const released = await acquired.value.release();
            if (released.isErr()) throw released.error;
            if (record) recordNs(cycle, nowNs() - t0);
          }
        };
        const phase = async (total: number): Promise<number> => {
          const perCaller = Math.ceil(total / callers);
          const start = nowNs();
          await Promise.all(Array.from({ length: callers }, () => caller(perCaller)));
          return Number(nowNs() - start) / 1e9;
        };

        await phase(Math.ceil(cyclesPerRound / 5)); // warm-up
        record = true;
        const rates: number[] = [];
        let seconds = 0;
        let ops = 0;
        for (let r = 0; r < rounds; r++) {
          const grantsBefore = grants;
          const s = await phase(cyclesPerRound);
          seconds += s;
          ops += grants - grantsBefore;
          rates.push(Math.round((grants - grantsBefore) / s));
        }
        if (otherErrors > 0) throw new Error(`contention: ${otherErrors} acquires failed with something other than NodeLocked`);
        const cycleUs = latencyUs(cycle);
        const range = rangeText(rates);
        return {
          scenario: 'contention',
          variant: `T=${callers}`,
          ops,
          seconds: Math.round(seconds * 1000) / 1000,
          opsPerSec: Math.round(median(rates)),
          latencyUs: latencyUs(wait),
          histogram: wait.toJson(),
          extra: {
            latency: 'wait to be granted',
            nodeLocked,
            inOrder: Math.round((inOrder / Math.max(1, grants)) * 10_000) / 10_000,
            maxOvertakes,
            cycleP50Us: cycleUs.p50,
            cycleP99Us: cycleUs.p99,
            budget: `${cfg.nodeLockedRetryAttempts}x${cfg.nodeLockedRetryInterval}ms`,
            ...(range === '' ? {} : { opsPerSecRange: range }),
          },
        };
      }),
    );
  }
  return results;
}
