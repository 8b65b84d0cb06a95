/**
 * RestartSupervisor and periodicComponent (actors/restart-supervisor.ts, actors/periodic-component.ts):
 * exponential backoff with jitter, reset after a quiet period, Erlang-style restart intensity with
 * escalation, periodic ticks that never overlap, and a stop() that leaves no timer or actor behind.
 * Time is a ManualClock throughout (no real waiting), except one child process on the system clock.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { periodicComponent } from '../../actors/periodic-component.js';
import {
  backoffDelay,
  DEFAULT_RESTART_POLICY,
  resolveRestartPolicy,
  RestartSupervisor,
  type LongLivedComponent,
  type RestartPolicy,
} from '../../actors/restart-supervisor.js';
import { ManualClock } from '../../src/clock.js';
import { InvalidParameterValue } from '../../src/errors.js';
import { silentLogger } from '../../src/logging.js';
import { propertyRuns } from '../helpers/runs.js';
import { clockSleep, harness, LEVEL, RecordingRuntime, scripted, type Harness, type HarnessOptions } from './helpers.js';

// ---- bookkeeping: every harness is disposed, and nothing rejects unhandled -----------------------

let open: Harness[] = [];
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeEach(() => {
  open = [];
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});

afterEach(async () => {
  for (const h of open) await h.dispose();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});

function setup(options: HarnessOptions = {}): Harness {
  const h = harness(options);
  open.push(h);
  return h;
}

/** Let spawned actors run their first message (nact delivers in setImmediate). */
const settle = (h: Harness): Promise<void> => h.clock.advance(0);

/** Milliseconds until the pending restart of `name`. */
function pendingDelay(h: Harness, name: string): number {
  const status = h.statusOf(name);
  assert.equal(status.state, 'backing-off', `${name} should be backing off`);
  assert.notEqual(status.nextRestartAt, null);
  return (status.nextRestartAt as number) - h.clock.now();
}

/** A policy that never resets and never escalates, to look at the backoff alone. */
const backoffOnly = (policy: RestartPolicy): RestartPolicy => ({
  resetAfterMs: 10_000_000,
  maxRestarts: 1000,
  withinMs: 10_000_000,
  ...policy,
});

// ---- policy -----------------------------------------------------------------------------------

describe('restart policy resolution', () => {
  it('fills the documented defaults', () => {
    const resolved = resolveRestartPolicy();
    assert.ok(resolved.isOk());
    assert.deepEqual(resolved.value, {
      minBackoffMs: 1000,
      maxBackoffMs: 30_000,
      randomFactor: 0.2,
      resetAfterMs: 60_000,
      maxRestarts: 5,
      withinMs: 60_000,
    });
    assert.deepEqual(DEFAULT_RESTART_POLICY, resolved.value);
    const partial = resolveRestartPolicy({ minBackoffMs: 10, maxRestarts: undefined });
    assert.ok(partial.isOk());
    assert.equal(partial.value.minBackoffMs, 10);
    assert.equal(partial.value.maxRestarts, 5);
  });

  it('rejects bad values with InvalidParameterValue naming the field', () => {
    const bad: [RestartPolicy, string][] = [
      [{ minBackoffMs: -1 }, 'minBackoffMs'],
      [{ minBackoffMs: 1.5 }, 'minBackoffMs'],
      [{ maxBackoffMs: Number.POSITIVE_INFINITY }, 'maxBackoffMs'],
      [{ minBackoffMs: 5000, maxBackoffMs: 4000 }, 'maxBackoffMs'],
      [{ randomFactor: -0.1 }, 'randomFactor'],
      [{ randomFactor: 1.5 }, 'randomFactor'],
      [{ randomFactor: Number.NaN }, 'randomFactor'],
      [{ resetAfterMs: -5 }, 'resetAfterMs'],
      [{ maxRestarts: 2.5 }, 'maxRestarts'],
      [{ maxRestarts: -1 }, 'maxRestarts'],
      [{ withinMs: 0 }, 'withinMs'],
      [{ withinMs: '60000' as unknown as number }, 'withinMs'],
    ];
    for (const [policy, option] of bad) {
      const resolved = resolveRestartPolicy(policy);
      assert.ok(resolved.isErr(), `${JSON.stringify(policy)} should be rejected`);
      assert.ok(resolved.error instanceof InvalidParameterValue);
      assert.equal(resolved.error.details.option, option, JSON.stringify(policy));
    }
  });

  it('start() throws on a bad policy or a duplicate name, and does not register the component', async () => {
    const h = setup();
    assert.throws(() => h.supervisor.start(scripted('bad'), { randomFactor: 2 }), InvalidParameterValue);
    assert.deepEqual(h.supervisor.status(), []);
    h.supervisor.start(scripted('dup', () => null));
    assert.throws(() => h.supervisor.start(scripted('dup')), /already supervised/);
    await settle(h);
    assert.equal(h.supervisor.status().length, 1);
    assert.equal(h.statusOf('dup').state, 'running');
  });

  it('the constructor rejects a bad stopTimeoutMs', async () => {
    const runtime = new RecordingRuntime('bad-timeout', silentLogger());
    assert.throws(
      () => new RestartSupervisor({ runtime, parent: null, logger: silentLogger(), clock: new ManualClock(), stopTimeoutMs: -1 }),
      InvalidParameterValue,
    );
    await runtime.shutdown();
  });
});

// ---- backoff ----------------------------------------------------------------------------------

describe('backoff', () => {
  const policy = backoffOnly({ minBackoffMs: 1000, maxBackoffMs: 8000, randomFactor: 0.5 });

  for (const [random, expected] of [
    [0, [1000, 2000, 4000, 8000, 8000, 8000]],
    [1, [1500, 3000, 6000, 12_000, 12_000, 12_000]],
  ] as const) {
    it(`delays grow exponentially up to maxBackoff (random = ${random})`, async () => {
      const h = setup({ random: () => random });
      const crasher = scripted('crasher');
      h.supervisor.start(crasher, policy);
      for (const [i, delay] of expected.entries()) {
        await settle(h);
        assert.equal(crasher.runs, i + 1);
        assert.equal(pendingDelay(h, 'crasher'), delay, `delay of restart ${i + 1}`);
        assert.equal(h.statusOf('crasher').restarts, i + 1);
        await h.clock.advance(delay - 1);
        assert.equal(crasher.runs, i + 1, 'not restarted before the delay');
        await h.clock.advance(1);
      }
      // The last restart crashed again and scheduled a 7th restart, at maxBackoff too.
      const scheduled = h.logs('component restart scheduled', 'crasher');
      assert.deepEqual(
        scheduled.map((line) => line.delayMs),
        [...expected, expected[5]],
      );
      assert.deepEqual(
        scheduled.map((line) => line.attempt),
        [1, 2, 3, 4, 5, 6, 7],
      );
      assert.ok(scheduled.every((line) => line.level === LEVEL.warn));
      const crashes = h.logs('component crashed', 'crasher');
      assert.ok(crashes.length >= expected.length);
      assert.ok(crashes.every((line) => line.level === LEVEL.error));
      assert.equal((crashes[0]?.err as { message: string }).message, 'crasher boom 1');
      // A fresh actor per (re)start; each stopped once its run crashed.
      const actors = h.runtime.spawned.filter((ref) => ref.path.startsWith('supervisor/crasher.'));
      assert.equal(new Set(actors.map((ref) => ref.path)).size, actors.length);
      assert.equal(actors.length, crasher.runs);
      await settle(h);
      assert.deepEqual(h.runtime.alive(), ['supervisor']);
    });
  }

  it('property: the delay stays within [base, base × (1 + randomFactor)] and under maxBackoff × (1 + randomFactor)', () => {
    const policyArb = fc
      .record({
        minBackoffMs: fc.integer({ min: 0, max: 10_000 }),
        extra: fc.integer({ min: 0, max: 1_000_000 }),
        randomFactor: fc.double({ min: 0, max: 1, noNaN: true }),
      })
      .map(({ minBackoffMs, extra, randomFactor }) =>
        resolveRestartPolicy({ minBackoffMs, maxBackoffMs: minBackoffMs + extra, randomFactor })._unsafeUnwrap(),
      );
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 100 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (p, n, random) => {
          const base = Math.min(p.maxBackoffMs, p.minBackoffMs * 2 ** n);
          const delay = backoffDelay(p, n, random);
          assert.ok(Number.isInteger(delay));
          assert.ok(delay >= base, `${delay} >= ${base}`);
          assert.ok(delay <= base * (1 + p.randomFactor), `${delay} <= ${base} × (1 + ${p.randomFactor})`);
          assert.ok(delay <= p.maxBackoffMs * (1 + p.randomFactor));
          assert.ok(backoffDelay(p, n + 1, random) >= delay, 'never shrinks as restarts add up');
        },
      ),
      { numRuns: propertyRuns(1000) },
    );
  });

  it('property: the supervisor schedules each restart within those bounds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 7 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (randoms, randomFactor) => {
          let i = 0;
          const h = harness({ random: () => randoms[i++] ?? 0 });
          try {
            const p = backoffOnly({ minBackoffMs: 100, maxBackoffMs: 1000, randomFactor });
            h.supervisor.start(scripted('c'), p);
            for (const [n, random] of randoms.entries()) {
              await settle(h);
              const delay = pendingDelay(h, 'c');
              const base = Math.min(1000, 100 * 2 ** n);
              assert.ok(delay >= base && delay <= base * (1 + randomFactor), `restart ${n + 1}: ${delay} for base ${base}`);
              assert.ok(delay <= 1000 * (1 + randomFactor));
              assert.equal(delay, Math.floor(base * (1 + random * randomFactor)));
              await h.clock.advance(delay);
            }
          } finally {
            await h.dispose();
          }
        },
      ),
      { numRuns: Math.min(propertyRuns(30), 200) },
    );
  });

  it('a run that lasted resetAfterMs restarts from minBackoff again; a shorter one does not', async () => {
    const h = setup();
    // Runs last 0, 0, 0, 9999 (just short of the reset), 10000 (a quiet period), then 0 ms.
    const durations = [0, 0, 0, 9999, 10_000, 0, 0];
    const crasher = scripted('crasher', (n) => durations[n] ?? 0);
    h.supervisor.start(crasher, backoffOnly({ minBackoffMs: 1000, maxBackoffMs: 60_000, randomFactor: 0, resetAfterMs: 10_000 }));
    const delays: number[] = [];
    for (const duration of durations) {
      await h.clock.advance(duration);
      const delay = pendingDelay(h, 'crasher');
      delays.push(delay);
      await h.clock.advance(delay);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 1000, 2000, 4000]);
  });
});

// ---- intensity --------------------------------------------------------------------------------

describe('restart intensity', () => {
  const fast = { minBackoffMs: 100, maxBackoffMs: 100, randomFactor: 0, resetAfterMs: 10_000_000 } as const;

  it('escalates exactly at maxRestarts + 1 within the window; the component stays failed, others keep ticking', async () => {
    const h = setup();
    const flaky = scripted('flaky');
    let ticks = 0;
    h.supervisor.start(flaky, { ...fast, maxRestarts: 3, withinMs: 10_000 });
    h.supervisor.start(periodicComponent('steady', 50, async () => void ticks++));
    for (let restart = 1; restart <= 3; restart++) {
      await settle(h);
      const status = h.statusOf('flaky');
      assert.equal(status.state, 'backing-off');
      assert.equal(status.restarts, restart);
      assert.equal(status.recentRestarts, restart);
      assert.equal(status.escalated, false);
      assert.equal(h.escalations.length, 0, `no escalation after ${restart} restart(s)`);
      await h.clock.advance(100);
    }
    await settle(h);
    assert.equal(flaky.runs, 4);
    const failed = h.statusOf('flaky');
    assert.deepEqual(
      { ...failed },
      {
        name: 'flaky',
        state: 'failed',
        restarts: 3,
        recentRestarts: 3,
        escalated: true,
        lastError: 'flaky boom 4',
        nextRestartAt: null,
        startedAt: null,
      },
    );
    assert.equal(h.escalations.length, 1);
    assert.equal(h.escalations[0]?.component, 'flaky');
    assert.equal((h.escalations[0]?.error as Error).message, 'flaky boom 4');
    const escalated = h.logs('component failed; escalating', 'flaky');
    assert.equal(escalated.length, 1);
    assert.equal(escalated[0]?.level, LEVEL.error);
    assert.equal(h.clock.pending, 1, 'only the steady ticker has a timer');

    const ticksBefore = ticks;
    await h.clock.advance(10_000);
    assert.equal(flaky.runs, 4, 'a failed component is never restarted');
    assert.equal(h.escalations.length, 1, 'onEscalate is called once');
    assert.equal(h.statusOf('flaky').state, 'failed');
    assert.equal(ticks - ticksBefore, 200, 'the other component kept ticking every 50 ms');
    assert.equal(h.statusOf('steady').state, 'running');
    assert.equal(h.statusOf('steady').restarts, 0);
  });

  it('the window is inclusive (Erlang): crashes 10500 ms apart escalate with withinMs 10500, never with 10499', async () => {
    // Each run lasts 3400 ms and the backoff is 100 ms: restarts are decided at 3400, 6900, 10400, 13900, ...
    for (const [withinMs, escalates] of [
      [10_500, true],
      [10_499, false],
    ] as const) {
      const h = setup();
      h.supervisor.start(
        scripted('slow', () => 3400),
        { ...fast, maxRestarts: 3, withinMs },
      );
      await h.clock.advance(13_900);
      assert.equal(h.statusOf('slow').escalated, escalates, `withinMs ${withinMs}`);
      assert.equal(h.statusOf('slow').state, escalates ? 'failed' : 'backing-off');
    }
  });

  it('crashes spread wider than withinMs never escalate', async () => {
    const h = setup();
    const slow = scripted('slow', () => 3400);
    h.supervisor.start(slow, { ...fast, maxRestarts: 3, withinMs: 10_000 });
    for (let cycle = 1; cycle <= 20; cycle++) {
      await h.clock.advance(3500);
      const status = h.statusOf('slow');
      assert.equal(status.escalated, false);
      assert.equal(status.restarts, cycle);
      assert.ok(status.recentRestarts <= 3, `recentRestarts ${status.recentRestarts}`);
    }
    assert.equal(slow.runs, 21);
    assert.equal(h.escalations.length, 0);
  });

  it('maxRestarts 0 escalates the first crash; a throwing or rejecting onEscalate is logged and changes nothing else', async () => {
    for (const hook of [
      () => {
        throw new Error('hook broke');
      },
      async () => {
        throw new Error('hook broke');
      },
    ]) {
      const h = setup({ onEscalate: hook });
      let ticks = 0;
      h.supervisor.start(scripted('once'), { ...fast, maxRestarts: 0 });
      h.supervisor.start(periodicComponent('steady', 100, async () => void ticks++));
      await h.clock.advance(1000);
      assert.equal(h.statusOf('once').state, 'failed');
      assert.equal(h.statusOf('once').restarts, 0);
      const hookErrors = h.logs('onEscalate hook threw', 'once');
      assert.equal(hookErrors.length, 1);
      assert.equal((hookErrors[0]?.err as { message: string }).message, 'hook broke');
      assert.equal(ticks, 10);
    }
  });

  it('recentRestarts decays as the window slides; status tracks state, startedAt, nextRestartAt and lastError', async () => {
    const h = setup();
    const t0 = h.clock.now();
    const once = scripted('once', (n) => (n === 0 ? 0 : null)); // crashes on its first run only
    h.supervisor.start(once, { minBackoffMs: 1000, maxBackoffMs: 1000, randomFactor: 0, withinMs: 5000 });
    assert.equal(h.statusOf('once').state, 'running');
    assert.equal(h.statusOf('once').startedAt, t0);
    await settle(h);
    assert.deepEqual(
      { ...h.statusOf('once') },
      {
        name: 'once',
        state: 'backing-off',
        restarts: 1,
        recentRestarts: 1,
        escalated: false,
        lastError: 'once boom 1',
        nextRestartAt: t0 + 1000,
        startedAt: null,
      },
    );
    await h.clock.advance(1000);
    assert.deepEqual(
      { ...h.statusOf('once') },
      {
        name: 'once',
        state: 'running',
        restarts: 1,
        recentRestarts: 1,
        escalated: false,
        lastError: 'once boom 1',
        nextRestartAt: null,
        startedAt: t0 + 1000,
      },
    );
    await h.clock.advance(4001);
    assert.equal(h.statusOf('once').recentRestarts, 0);
    assert.equal(h.statusOf('once').restarts, 1);
    assert.equal(once.runs, 2);
  });
});

// ---- what counts as a crash -------------------------------------------------------------------

describe('crashes', () => {
  it('a run that resolves while not aborted is a crash ("exited unexpectedly")', async () => {
    const h = setup();
    let runs = 0;
    h.supervisor.start({ name: 'quitter', run: async () => void runs++ }, { minBackoffMs: 10, maxBackoffMs: 10 });
    await settle(h);
    const status = h.statusOf('quitter');
    assert.equal(status.state, 'backing-off');
    assert.equal(status.lastError, 'component quitter exited unexpectedly');
    await h.clock.advance(10);
    assert.equal(runs, 2);
  });

  it('a run that throws synchronously is a crash, not a wedged actor', async () => {
    const h = setup();
    let runs = 0;
    const component: LongLivedComponent = {
      name: 'sync',
      run: () => {
        runs++;
        throw new Error('sync boom');
      },
    };
    h.supervisor.start(component, { minBackoffMs: 10, maxBackoffMs: 10, randomFactor: 0 });
    await settle(h);
    assert.equal(h.statusOf('sync').lastError, 'sync boom');
    assert.equal(h.statusOf('sync').state, 'backing-off');
    await h.clock.advance(10);
    assert.equal(runs, 2);
  });

  it('component names that are not valid actor names still get their own actors', async () => {
    const h = setup();
    h.supervisor.start(scripted('deploy wait/check', () => null));
    await settle(h);
    assert.equal(h.statusOf('deploy wait/check').state, 'running');
    assert.deepEqual(h.runtime.alive(), ['supervisor', 'supervisor/deploy_wait_check.1']);
  });
});

// ---- periodic components ----------------------------------------------------------------------

describe('periodicComponent', () => {
  it('ticks every intervalMs, from the end of the previous tick', async () => {
    const h = setup();
    const t0 = h.clock.now();
    const at: number[] = [];
    h.supervisor.start(periodicComponent('p', 1000, async ({ clock }) => void at.push(clock.now() - t0)));
    await h.clock.advance(3500);
    assert.deepEqual(at, [1000, 2000, 3000]);
    assert.equal(h.clock.pending, 1);
  });

  it('runAtStart ticks at once', async () => {
    const h = setup();
    const t0 = h.clock.now();
    const at: number[] = [];
    h.supervisor.start(periodicComponent('p', 1000, async ({ clock }) => void at.push(clock.now() - t0), { runAtStart: true }));
    await h.clock.advance(2500);
    assert.deepEqual(at, [0, 1000, 2000]);
  });

  it('never overlaps a slow tick', async () => {
    const h = setup();
    const t0 = h.clock.now();
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    h.supervisor.start(
      periodicComponent('slow', 1000, async ({ clock, signal }) => {
        starts.push(clock.now() - t0);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await clockSleep(clock, 2500, signal);
        inFlight--;
      }),
    );
    await h.clock.advance(10_000);
    assert.deepEqual(starts, [1000, 4500, 8000]);
    assert.equal(maxInFlight, 1);
  });

  it('a throwing tick crashes the component, which is restarted after the backoff and ticks again', async () => {
    const h = setup();
    const t0 = h.clock.now();
    const at: number[] = [];
    h.supervisor.start(
      periodicComponent('p', 1000, async ({ clock }) => {
        at.push(clock.now() - t0);
        if (at.length === 2) throw new Error('tick 2 failed');
      }),
      { minBackoffMs: 100, maxBackoffMs: 100, randomFactor: 0 },
    );
    await h.clock.advance(4500);
    assert.deepEqual(at, [1000, 2000, 3100, 4100]);
    const status = h.statusOf('p');
    assert.equal(status.state, 'running');
    assert.equal(status.restarts, 1);
    assert.equal(status.lastError, 'tick 2 failed');
  });

  it('rejects a bad interval', () => {
    for (const interval of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => periodicComponent('p', interval, async () => {}), InvalidParameterValue, String(interval));
    }
  });
});

// ---- stop -------------------------------------------------------------------------------------

describe('stop()', () => {
  it('aborts every component, cancels pending restarts, and leaves no timer and no actor', async () => {
    const h = setup();
    const tickSignals: AbortSignal[] = [];
    let ticks = 0;
    h.supervisor.start(
      periodicComponent('ticker', 1000, async ({ signal }) => {
        tickSignals.push(signal);
        ticks++;
      }),
    );
    const backingOff = scripted('backing-off');
    h.supervisor.start(backingOff, { minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    h.supervisor.start(scripted('failing'), { maxRestarts: 0 });
    // Rejects when aborted: not a crash.
    const rejecterSignals: AbortSignal[] = [];
    h.supervisor.start({
      name: 'rejecter',
      run: ({ signal }) =>
        new Promise((_resolve, reject) => {
          rejecterSignals.push(signal);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    });
    const idle = scripted('idle', () => null);
    h.supervisor.start(idle);
    await h.clock.advance(2500);
    assert.equal(ticks, 2);
    assert.deepEqual(
      h.supervisor.status().map((s) => [s.name, s.state]),
      [
        ['ticker', 'running'],
        ['backing-off', 'backing-off'],
        ['failing', 'failed'],
        ['rejecter', 'running'],
        ['idle', 'running'],
      ],
    );
    assert.ok(h.clock.pending >= 2, 'the ticker timer and the pending restart');
    const errorsBefore = h.logs('component crashed').length;

    await h.supervisor.stop();

    assert.equal(h.clock.pending, 0, 'no timer left on the clock');
    assert.deepEqual(h.runtime.alive(), [], 'no actor left running');
    assert.ok(tickSignals.every((signal) => signal.aborted));
    assert.ok(rejecterSignals[0]?.aborted);
    assert.ok(idle.signals[0]?.aborted);
    assert.deepEqual(
      h.supervisor.status().map((s) => [s.name, s.state, s.nextRestartAt, s.startedAt]),
      [
        ['ticker', 'stopped', null, null],
        ['backing-off', 'stopped', null, null],
        ['failing', 'failed', null, null],
        ['rejecter', 'stopped', null, null],
        ['idle', 'stopped', null, null],
      ],
    );
    assert.equal(h.statusOf('rejecter').restarts, 0);
    assert.equal(h.logs('component crashed').length, errorsBefore, 'an aborted run is not a crash');

    // Idempotent, and nothing comes back to life.
    await h.supervisor.stop();
    assert.throws(() => h.supervisor.start(scripted('late')), /stopped/);
    await h.clock.advance(1_000_000);
    assert.equal(ticks, 2);
    assert.equal(backingOff.runs, 1);
    assert.equal(h.clock.pending, 0);
  });

  it('gives up, after stopTimeoutMs on the clock, on a component that ignores its signal', async () => {
    const h = setup({ stopTimeoutMs: 5000 });
    let runs = 0;
    h.supervisor.start({ name: 'stubborn', run: () => new Promise<void>(() => void runs++) });
    h.supervisor.start(scripted('polite', () => null));
    await settle(h);
    assert.equal(runs, 1);
    let stopped = false;
    const stopping = h.supervisor.stop().then(() => (stopped = true));
    await h.clock.advance(4999);
    assert.equal(stopped, false, 'still waiting for the stubborn component');
    await h.clock.advance(1);
    await stopping;
    assert.equal(stopped, true);
    assert.equal(h.clock.pending, 0);
    assert.deepEqual(h.runtime.alive(), []);
    const abandoned = h.logs('components ignored their abort signal; abandoning them');
    assert.equal(abandoned.length, 1);
    assert.deepEqual(abandoned[0]?.components, ['stubborn']);
    assert.equal(h.statusOf('stubborn').state, 'stopped');
  });

  it('a component stopped before its actor ran is never run', async () => {
    const h = setup();
    const early = scripted('early', () => null);
    h.supervisor.start(early);
    await h.supervisor.stop();
    assert.equal(early.runs, 0);
    assert.equal(h.clock.pending, 0);
    assert.deepEqual(h.runtime.alive(), []);
    assert.equal(h.statusOf('early').state, 'stopped');
  });
});

describe('actor tree', () => {
  it('lives under the given parent; if that actor tree is stopped under it, components escalate instead of restarting', async () => {
    const clock = new ManualClock();
    const runtime = new RecordingRuntime('tree-test', silentLogger());
    const conductor = runtime.spawn<null, never>(null, 'conductor', { initialState: () => null, handle: (state) => state });
    const escalated: string[] = [];
    const supervisor = new RestartSupervisor({
      runtime,
      parent: conductor,
      logger: silentLogger(),
      clock,
      random: () => 0,
      onEscalate: (name) => void escalated.push(name),
    });
    assert.equal(supervisor.ref.path, 'conductor/supervisor');
    const late = scripted('late', () => 1000); // crashes after 1 s
    supervisor.start(late, { minBackoffMs: 100, maxBackoffMs: 100 });
    supervisor.start(scripted('steady', () => null));
    // 'steady' and 'late' are mid-run (nact lets a running handler finish); 'unborn' never got to run.
    await clock.advance(0);
    supervisor.start(scripted('unborn', () => null));
    runtime.stop(conductor);
    await clock.advance(2000);
    assert.deepEqual(
      supervisor.status().map((s) => [s.name, s.state, s.escalated]),
      [
        ['late', 'failed', true],
        ['steady', 'running', false],
        ['unborn', 'failed', true],
      ],
    );
    assert.equal(supervisor.status()[0]?.lastError, 'the supervisor actor is stopped');
    assert.deepEqual(escalated.sort(), ['late', 'unborn']);
    assert.equal(late.runs, 1);
    const stopping = supervisor.stop();
    await clock.advance(0);
    await stopping;
    assert.equal(clock.pending, 0);
    assert.deepEqual(runtime.alive(), []);
    await runtime.shutdown();
  });
});

// ---- the real clock ---------------------------------------------------------------------------

describe('system clock', () => {
  it('after stop() the process exits by itself (no leaked timer)', async () => {
    const url = (path: string): string => pathToFileURL(fileURLToPath(new URL(path, import.meta.url))).href;
    // The script never calls process.exit: it ends only if nothing keeps the event loop alive.
    const script = `
      import { ActorRuntime } from ${JSON.stringify(url('../../actors/runtime.ts'))};
      import { RestartSupervisor } from ${JSON.stringify(url('../../actors/restart-supervisor.ts'))};
      import { periodicComponent } from ${JSON.stringify(url('../../actors/periodic-component.ts'))};
      import { systemClock } from ${JSON.stringify(url('../../src/clock.ts'))};
      import { silentLogger } from ${JSON.stringify(url('../../src/logging.ts'))};
      const runtime = new ActorRuntime('exit-test', silentLogger());
      const supervisor = new RestartSupervisor({ runtime, parent: null, logger: silentLogger(), clock: systemClock });
      let ticks = 0;
      supervisor.start(periodicComponent('ticker', 2, async () => { ticks++; }));
      supervisor.start({ name: 'crasher', run: async () => { throw new Error('boom'); } },
        { minBackoffMs: 1, maxBackoffMs: 4, randomFactor: 0.5, maxRestarts: 10000, withinMs: 60000 });
      supervisor.start({ name: 'long', run: async () => { throw new Error('boom'); } },
        { minBackoffMs: 3600000, maxBackoffMs: 3600000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await supervisor.stop();
      const timers = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout');
      process.stdout.write(JSON.stringify({ ticks, status: supervisor.status(), timers }));
    `;
    const child = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const proc = execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { timeout: 30_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) },
        (_error, stdout, stderr) => resolve({ code: proc.exitCode, signal: proc.signalCode, stdout, stderr }),
      );
    });
    assert.equal(child.signal, null, `the process had to be killed: it did not exit by itself\n${child.stderr}`);
    assert.equal(child.code, 0, child.stderr);
    const report = JSON.parse(child.stdout) as {
      ticks: number;
      timers: string[];
      status: { name: string; state: string; restarts: number }[];
    };
    assert.ok(report.ticks >= 3, `ticked ${report.ticks} times`);
    assert.deepEqual(report.timers, []);
    const byName = new Map(report.status.map((s) => [s.name, s]));
    assert.ok((byName.get('crasher')?.restarts ?? 0) >= 3, JSON.stringify(report.status));
    assert.equal(byName.get('long')?.restarts, 1);
    assert.ok(report.status.every((s) => s.state === 'stopped'));
  });
});
