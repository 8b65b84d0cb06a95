/**
 * The restart supervisor: long-lived components (periodic checks, later the heartbeat) each run in
 * a child actor under one `supervisor` actor, a fresh actor per (re)start. A crash is caught here,
 * not by nact, and the component is restarted after an exponential backoff with jitter (Akka's
 * restartWithBackoff: minBackoff, maxBackoff, randomFactor, resetBackoffAfter), within an
 * intensity limit (Erlang's intensity/period): one crash too many in the window escalates instead,
 * and only that component is marked failed. All time goes through the injected clock.
 */
import { err, ok, type Result } from 'neverthrow';
import type { Clock, TimerHandle } from '../src/clock.js';
import { Aborted, describe, InvalidParameterValue } from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import type { ActorRef, ActorRuntime, AnyActorRef } from './runtime.js';

/** Restart policy of a component; every field is optional, defaults per field (validated by `resolveRestartPolicy`). */
export interface RestartPolicy {
  /** Delay before the first restart after a crash, in ms (Akka `minBackoff`). Default 1000. */
  minBackoffMs?: number;
  /** The exponential delay never exceeds this before jitter, in ms (Akka `maxBackoff`). Default 30000. */
  maxBackoffMs?: number;
  /** Jitter, 0–1: the delay is multiplied by `1 + random × randomFactor` (Akka `randomFactor`). Default 0.2. */
  randomFactor?: number;
  /** A run that lasted this long before crashing restarts from `minBackoffMs` again, in ms (Akka `resetBackoffAfter`). Default 60000. */
  resetAfterMs?: number;
  /** Restarts allowed within `withinMs`; one more crash in the window escalates (Erlang intensity). Default 5. */
  maxRestarts?: number;
  /** The sliding window of the intensity limit, in ms (Erlang period). Default 60000. */
  withinMs?: number;
}

/** A restart policy with every field filled in. */
export type ResolvedRestartPolicy = Readonly<Required<RestartPolicy>>;

/** Defaults of every restart-policy field. */
export const DEFAULT_RESTART_POLICY: ResolvedRestartPolicy = Object.freeze({
  minBackoffMs: 1000,
  maxBackoffMs: 30_000,
  randomFactor: 0.2,
  resetAfterMs: 60_000,
  maxRestarts: 5,
  withinMs: 60_000,
});

/** Validate a policy and fill defaults. Bad values → InvalidParameterValue naming the field. */
export function resolveRestartPolicy(policy: RestartPolicy = {}): Result<ResolvedRestartPolicy, InvalidParameterValue> {
  const defined = Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined)) as RestartPolicy;
  const resolved: Required<RestartPolicy> = { ...DEFAULT_RESTART_POLICY, ...defined };
  const integers: [keyof RestartPolicy, number][] = [
    ['minBackoffMs', 0],
    ['maxBackoffMs', 0],
    ['resetAfterMs', 0],
    ['maxRestarts', 0],
    ['withinMs', 1],
  ];
  for (const [name, min] of integers) {
    const value: unknown = resolved[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      return err(new InvalidParameterValue(`${name} must be an integer >= ${min}, got ${String(value)}`, { option: name, value }));
    }
  }
  if (resolved.maxBackoffMs < resolved.minBackoffMs) {
    return err(
      new InvalidParameterValue(`maxBackoffMs must be >= minBackoffMs (${resolved.minBackoffMs}), got ${resolved.maxBackoffMs}`, {
        option: 'maxBackoffMs',
        value: resolved.maxBackoffMs,
      }),
    );
  }
  const factor: unknown = resolved.randomFactor;
  if (typeof factor !== 'number' || !(factor >= 0 && factor <= 1)) {
    return err(
      new InvalidParameterValue(`randomFactor must be a number between 0 and 1, got ${String(factor)}`, {
        option: 'randomFactor',
        value: factor,
      }),
    );
  }
  return ok(Object.freeze(resolved));
}

/**
 * The delay before the restart that follows `consecutive` earlier restarts (0 for the first):
 * `min(maxBackoff, minBackoff × 2^consecutive) × (1 + random × randomFactor)`, floored to whole ms.
 * `random` is clamped to [0, 1].
 */
export function backoffDelay(policy: ResolvedRestartPolicy, consecutive: number, random: number): number {
  // 2^52 × any sane minBackoff is far above any maxBackoff, and stays finite (0 × Infinity is NaN).
  const exponent = Math.min(Math.max(0, Math.floor(consecutive)), 52);
  const base = Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** exponent);
  const r = Number.isFinite(random) ? Math.min(1, Math.max(0, random)) : 0;
  // Flooring keeps the bounds: the base is a whole number and the factor is >= 1.
  return Math.floor(base * (1 + r * policy.randomFactor));
}

/** What a component's `run` receives. */
export interface ComponentContext {
  /** Aborts when the supervisor stops; `run` should then settle promptly. */
  readonly signal: AbortSignal;
  /** The supervisor's clock: use it for every timer, so tests can drive time. */
  readonly clock: Clock;
  /** A logger bound to `{ component: name }`. */
  readonly log: Logger;
}

/** A long-lived component (a periodic check, later the heartbeat): runs until its signal aborts; rejecting (or throwing) is a crash. */
export interface LongLivedComponent {
  /** Unique among the supervisor's components; used in logs and status. */
  readonly name: string;
  /** Run until `ctx.signal` aborts. Settling before that, either way, is a crash. */
  run(ctx: ComponentContext): Promise<void>;
}

/** The state of a supervised component. */
export type ComponentState = 'running' | 'backing-off' | 'failed' | 'stopped';

/** A component as reported by `RestartSupervisor.status()`. */
export interface ComponentStatus {
  readonly name: string;
  /** `failed` after an escalation (it is not restarted again); `stopped` once the supervisor stopped. */
  readonly state: ComponentState;
  /** Restarts since `start` (escalations not counted). */
  readonly restarts: number;
  /** Restarts within the policy's `withinMs` window, as of now. */
  readonly recentRestarts: number;
  /** True once the intensity limit was exceeded (or the component could not be restarted at all). */
  readonly escalated: boolean;
  /** Message of the last crash, or null. */
  readonly lastError: string | null;
  /** Clock time of the pending restart while backing off, else null. */
  readonly nextRestartAt: number | null;
  /** Clock time the current run started while running, else null. */
  readonly startedAt: number | null;
}

/** Dependencies of a RestartSupervisor. */
export interface RestartSupervisorDeps {
  /** Spawns the `supervisor` actor and one child actor per (re)start. */
  readonly runtime: ActorRuntime;
  /** Parent of the `supervisor` actor (null: top level). */
  readonly parent: AnyActorRef | null;
  /** Base logger; each component logs through `logger.child({ component: name })`. */
  readonly logger: Logger;
  /** Time and timers (restart delays, the stop deadline). */
  readonly clock: Clock;
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Told when a component exceeds its restart intensity; a throw (or rejection) is logged and ignored. Default none. */
  readonly onEscalate?: (component: string, error: unknown) => void | Promise<void>;
  /** How long `stop()` waits (on the clock) for runs that ignore their abort signal before giving up, in ms. Default 5000. */
  readonly stopTimeoutMs?: number;
}

/** Default of `RestartSupervisorDeps.stopTimeoutMs`. */
export const DEFAULT_STOP_TIMEOUT_MS = 5000;

type RunMessage = { readonly type: 'run' };

/** One run of a component (in its own actor). */
interface Run {
  readonly controller: AbortController;
  /** Resolves when `run()` has settled (or will never be called). */
  readonly settled: Promise<void>;
}

interface Entry {
  readonly component: LongLivedComponent;
  readonly policy: ResolvedRestartPolicy;
  readonly log: Logger;
  state: ComponentState;
  restarts: number;
  /** Restarts since the last reset: the exponent of the next backoff. */
  consecutive: number;
  /** Clock times of the crashes that led to a restart (the intensity window). */
  restartTimes: number[];
  escalated: boolean;
  lastError: string | null;
  nextRestartAt: number | null;
  startedAt: number | null;
  timer: TimerHandle | null;
  run: Run | null;
}

/** Keeps long-lived components running: restart with backoff, intensity limit, escalation. */
export class RestartSupervisor {
  /** The `supervisor` actor; every component actor is its child. */
  readonly ref: ActorRef<never>;
  readonly #runtime: ActorRuntime;
  readonly #logger: Logger;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onEscalate: ((component: string, error: unknown) => void | Promise<void>) | undefined;
  readonly #stopTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  #actorSeq = 0;
  #stopping: Promise<void> | null = null;

  constructor(deps: RestartSupervisorDeps) {
    const stopTimeoutMs = deps.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    if (!Number.isSafeInteger(stopTimeoutMs) || stopTimeoutMs < 0) {
      throw new InvalidParameterValue(`stopTimeoutMs must be an integer >= 0, got ${String(stopTimeoutMs)}`, {
        option: 'stopTimeoutMs',
        value: stopTimeoutMs,
      });
    }
    this.#runtime = deps.runtime;
    this.#logger = deps.logger;
    this.#log = deps.logger.child({ component: 'restart-supervisor' });
    this.#clock = deps.clock;
    this.#random = deps.random ?? Math.random;
    this.#onEscalate = deps.onEscalate;
    this.#stopTimeoutMs = stopTimeoutMs;
    this.ref = deps.runtime.spawn<null, never>(deps.parent, 'supervisor', { initialState: () => null, handle: (state) => state });
  }

  /**
   * Start supervising `component` under `policy` (defaults: DEFAULT_RESTART_POLICY). Throws (a bug
   * in the caller) on a duplicate name, an invalid policy (InvalidParameterValue) or after `stop()`.
   */
  start(component: LongLivedComponent, policy?: RestartPolicy): void {
    if (this.#stopping) throw new Error(`RestartSupervisor is stopped; cannot start ${component.name}`);
    if (this.#entries.has(component.name)) throw new Error(`a component named ${component.name} is already supervised`);
    const resolved = resolveRestartPolicy(policy);
    if (resolved.isErr()) throw resolved.error;
    const entry: Entry = {
      component,
      policy: resolved.value,
      log: this.#logger.child({ component: component.name }),
      state: 'running',
      restarts: 0,
      consecutive: 0,
      restartTimes: [],
      escalated: false,
      lastError: null,
      nextRestartAt: null,
      startedAt: null,
      timer: null,
      run: null,
    };
    this.#launch(entry);
    this.#entries.set(component.name, entry);
    entry.log.info({ policy: entry.policy }, 'component started');
  }

  /** Every component, in start order. */
  status(): ComponentStatus[] {
    const now = this.#clock.now();
    return [...this.#entries.values()].map((entry) => ({
      name: entry.component.name,
      state: entry.state,
      restarts: entry.restarts,
      recentRestarts: entry.restartTimes.filter((at) => inWindow(at, now, entry.policy)).length,
      escalated: entry.escalated,
      lastError: entry.lastError,
      nextRestartAt: entry.nextRestartAt,
      startedAt: entry.startedAt,
    }));
  }

  /**
   * Stop: cancel pending restarts, abort every running component and wait until their `run()`
   * settled — at most `stopTimeoutMs` on the clock for runs that ignore their signal (those are
   * abandoned and logged) — then stop the actors. Idempotent; afterwards no timer of ours is pending.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const running: { entry: Entry; run: Run }[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.timer) this.#clock.clearTimeout(entry.timer);
      entry.timer = null;
      entry.nextRestartAt = null;
      if (entry.state !== 'failed') entry.state = 'stopped';
      if (entry.run) running.push({ entry, run: entry.run });
    }
    for (const { run } of running) run.controller.abort(new Aborted('restart supervisor stop'));
    if (running.length > 0) {
      let deadline: TimerHandle | null = null;
      const timedOut = new Promise<'timeout'>((resolve) => {
        deadline = this.#clock.setTimeout(() => resolve('timeout'), this.#stopTimeoutMs);
      });
      const first = await Promise.race([Promise.all(running.map(({ run }) => run.settled)).then(() => 'settled' as const), timedOut]);
      if (deadline) this.#clock.clearTimeout(deadline);
      if (first === 'timeout') {
        const hung = running.filter(({ entry }) => entry.run !== null).map(({ entry }) => entry.component.name);
        this.#log.warn({ components: hung, waitedMs: this.#stopTimeoutMs }, 'components ignored their abort signal; abandoning them');
      }
    }
    for (const entry of this.#entries.values()) {
      entry.run = null;
      entry.startedAt = null;
    }
    this.#runtime.stop(this.ref);
    // The child actors' afterStop hooks run in a later immediate (nact); let them run.
    await new Promise((resolve) => setImmediate(resolve));
    this.#log.info({ components: this.#entries.size }, 'restart supervisor stopped');
  }

  /** Spawn a fresh actor running the component. Throws if the actor cannot be spawned. */
  #launch(entry: Entry): void {
    if (!this.ref.alive) throw new Error('the supervisor actor is stopped');
    const { component, log } = entry;
    const controller = new AbortController();
    let started = false;
    let markSettled!: () => void;
    const settled = new Promise<void>((resolve) => (markSettled = resolve));
    const ctx: ComponentContext = { signal: controller.signal, clock: this.#clock, log };
    // Actor names allow only a few characters; the sequence number keeps them unique.
    const actorName = `${component.name.replace(/[^a-z0-9\-$_.+!*'(),]/gi, '_')}.${++this.#actorSeq}`;
    const ref: ActorRef<RunMessage> = this.#runtime.spawn<null, RunMessage>(this.ref, actorName, {
      initialState: () => null,
      handle: async (state) => {
        if (started) return state;
        started = true;
        let error: unknown = null;
        let crashed = false;
        if (!controller.signal.aborted) {
          try {
            await component.run(ctx);
          } catch (caught) {
            crashed = true;
            error = caught;
          }
        }
        markSettled();
        try {
          this.#exited(entry, run, crashed, error);
        } catch (bug) {
          this.#log.error({ err: bug, supervised: component.name }, 'restart supervisor failed to handle a component exit');
        }
        this.#runtime.stop(ref);
        return state;
      },
      // Stopped before its run message was handled (by us, or with an ancestor actor): run() will
      // never be called. Unless we are stopping, that is a crash like any other.
      afterStop: () => {
        if (started) return;
        started = true;
        markSettled();
        this.#exited(entry, run, true, new Error(`the actor of component ${component.name} stopped before it ran`));
      },
    });
    const run: Run = { controller, settled };
    entry.run = run;
    entry.state = 'running';
    entry.startedAt = this.#clock.now();
    this.#runtime.tell(ref, { type: 'run' });
    log.debug({ actor: ref.path }, 'component actor spawned');
  }

  /** A run settled: a crash unless we aborted it. */
  #exited(entry: Entry, run: Run, crashed: boolean, error: unknown): void {
    const { log } = entry;
    if (entry.run !== run) return; // abandoned by stop()
    const ranForMs = this.#clock.now() - (entry.startedAt ?? this.#clock.now());
    entry.run = null;
    entry.startedAt = null;
    if (run.controller.signal.aborted || this.#stopping) {
      if (crashed) log.debug({ err: error }, 'component rejected after it was aborted');
      else log.debug('component stopped');
      return;
    }
    const cause = crashed ? error : new Error(`component ${entry.component.name} exited unexpectedly`);
    entry.lastError = describe(cause);
    log.error({ err: cause, ranForMs }, 'component crashed');
    this.#afterCrash(entry, cause, ranForMs);
  }

  /** Decide: restart after a backoff, or escalate past the intensity limit. */
  #afterCrash(entry: Entry, cause: unknown, ranForMs: number): void {
    const { policy, log } = entry;
    const now = this.#clock.now();
    entry.restartTimes = entry.restartTimes.filter((at) => inWindow(at, now, policy));
    if (entry.restartTimes.length >= policy.maxRestarts) {
      this.#escalate(entry, cause, `restart intensity exceeded: more than ${policy.maxRestarts} restarts within ${policy.withinMs} ms`);
      return;
    }
    if (ranForMs >= policy.resetAfterMs) entry.consecutive = 0;
    const delayMs = backoffDelay(policy, entry.consecutive, this.#random());
    entry.consecutive += 1;
    entry.restarts += 1;
    entry.restartTimes.push(now);
    entry.state = 'backing-off';
    entry.nextRestartAt = now + delayMs;
    entry.timer = this.#clock.setTimeout(() => this.#restart(entry), delayMs);
    log.warn({ attempt: entry.consecutive, restarts: entry.restarts, delayMs }, 'component restart scheduled');
  }

  #restart(entry: Entry): void {
    entry.timer = null;
    entry.nextRestartAt = null;
    if (this.#stopping) return;
    try {
      this.#launch(entry);
    } catch (error) {
      // Not the component's fault and not something a later attempt would fix.
      entry.lastError = describe(error);
      this.#escalate(entry, error, 'component could not be restarted');
      return;
    }
    entry.log.info({ attempt: entry.consecutive, restarts: entry.restarts }, 'component restarted');
  }

  #escalate(entry: Entry, cause: unknown, reason: string): void {
    const { policy, log } = entry;
    entry.state = 'failed';
    entry.escalated = true;
    entry.nextRestartAt = null;
    entry.startedAt = null;
    log.error(
      { err: cause, restarts: entry.restarts, maxRestarts: policy.maxRestarts, withinMs: policy.withinMs, reason },
      'component failed; escalating',
    );
    const hook = this.#onEscalate;
    if (!hook) return;
    const onHookError = (error: unknown): void => void log.error({ err: error }, 'onEscalate hook threw');
    try {
      // An async hook's rejection is caught like a throw.
      const result = hook(entry.component.name, cause);
      if (result instanceof Promise) result.catch(onHookError);
    } catch (error) {
      onHookError(error);
    }
  }
}

/** Erlang counts a restart as in the period when `now - at <= period`. */
function inWindow(at: number, now: number, policy: ResolvedRestartPolicy): boolean {
  return now - at <= policy.withinMs;
}
