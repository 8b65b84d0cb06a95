/**
 * A periodic task as a long-lived component for the RestartSupervisor: `tick` runs every
 * `intervalMs`, measured from the end of the previous tick, so ticks never overlap. Timers go
 * through the supervisor's clock and are cleared when the signal aborts; a throwing tick crashes
 * the component, so the supervisor restarts it with backoff.
 */
import { sleep } from '../src/clock.js';
import { InvalidParameterValue } from '../src/errors.js';
import type { ComponentContext, LongLivedComponent } from './restart-supervisor.js';

/** Options of a periodic component. */
export interface PeriodicOptions {
  /** Tick once as soon as the component (re)starts, before the first interval. Default false. */
  runAtStart?: boolean;
}

/**
 * A component running `tick` every `intervalMs` ms (an integer >= 1, else InvalidParameterValue is
 * thrown) after the previous tick ended; `runAtStart` (default false) ticks at once on each (re)start.
 */
export function periodicComponent(
  name: string,
  intervalMs: number,
  tick: (ctx: ComponentContext) => Promise<void>,
  options: PeriodicOptions = {},
): LongLivedComponent {
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
    throw new InvalidParameterValue(`intervalMs of ${name} must be an integer >= 1, got ${String(intervalMs)}`, {
      option: 'intervalMs',
      value: intervalMs,
    });
  }
  const runAtStart = options.runAtStart ?? false;
  return {
    name,
    async run(ctx: ComponentContext): Promise<void> {
      if (runAtStart && !ctx.signal.aborted) await tick(ctx);
      // Housekeeping alone must not keep a process alive: the wait is unref'd.
      while (await sleep(ctx.clock, intervalMs, ctx.signal, { unref: true })) await tick(ctx);
    },
  };
}
