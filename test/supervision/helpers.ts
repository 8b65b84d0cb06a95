/**
 * Helpers for the supervision tests: a runtime that records the actors it spawned, a log capture,
 * a harness around RestartSupervisor on a ManualClock, and scripted components.
 */
import { pino } from 'pino';
import { RestartSupervisor, type ComponentStatus, type LongLivedComponent } from '../../actors/restart-supervisor.js';
import { ActorRuntime, type ActorRef, type AnyActorRef, type Behavior } from '../../actors/runtime.js';
import { ManualClock, sleep, type Clock } from '../../src/clock.js';
import { silentLogger, type Logger } from '../../src/logging.js';

/** An ActorRuntime that remembers every actor it spawned (to check none is left running). */
export class RecordingRuntime extends ActorRuntime {
  readonly spawned: AnyActorRef[] = [];

  override spawn<S, M>(parent: AnyActorRef | null, name: string, behavior: Behavior<S, M>): ActorRef<M> {
    const ref = super.spawn(parent, name, behavior);
    this.spawned.push(ref);
    return ref;
  }

  /** Paths of spawned actors still alive. */
  alive(): string[] {
    return this.spawned.filter((ref) => ref.alive).map((ref) => ref.path);
  }
}

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A debug-level pino logger whose lines are parsed into `lines`. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

/** pino level numbers. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A RestartSupervisor on a ManualClock, with recorded escalations and log lines. */
export interface Harness {
  readonly clock: ManualClock;
  readonly runtime: RecordingRuntime;
  readonly supervisor: RestartSupervisor;
  readonly lines: LogLine[];
  readonly escalations: { component: string; error: unknown }[];
  /** Status of one component (fails if unknown). */
  statusOf(name: string): ComponentStatus;
  /** Log lines with this message (and component, when given). */
  logs(msg: string, component?: string): LogLine[];
  /** Stop the supervisor (advancing the clock past its stop deadline if needed) and the runtime. */
  dispose(): Promise<void>;
}

/** Options of `harness`. */
export interface HarnessOptions {
  random?: () => number;
  onEscalate?: (component: string, error: unknown) => void | Promise<void>;
  stopTimeoutMs?: number;
}

/** Build a harness; tests must `dispose()` it. */
export function harness(options: HarnessOptions = {}): Harness {
  const clock = new ManualClock();
  const { logger, lines } = captureLogger();
  const runtime = new RecordingRuntime('restart-test', silentLogger());
  const escalations: { component: string; error: unknown }[] = [];
  const supervisor = new RestartSupervisor({
    runtime,
    parent: null,
    logger,
    clock,
    random: options.random ?? (() => 0),
    onEscalate: options.onEscalate ?? ((component, error) => void escalations.push({ component, error })),
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
  });
  return {
    clock,
    runtime,
    supervisor,
    lines,
    escalations,
    statusOf(name) {
      const status = supervisor.status().find((s) => s.name === name);
      if (!status) throw new Error(`no component ${name}`);
      return status;
    },
    logs(msg, component) {
      return lines.filter((line) => line.msg === msg && (component === undefined || line.component === component));
    },
    async dispose() {
      const stopped = supervisor.stop();
      await clock.advance(60_000);
      await stopped;
      await runtime.shutdown();
    },
  };
}

/** Wait `ms` on `clock`; resolves early (false) when `signal` aborts. */
export const clockSleep = (clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> => sleep(clock, ms, signal);

/** A component that records its runs and their signals. */
export interface ScriptedComponent extends LongLivedComponent {
  /** Number of times `run` was called. */
  readonly runs: number;
  /** The signal of each run. */
  readonly signals: AbortSignal[];
}

/**
 * A component whose n-th run (0-based) lasts `durations(n)` ms on the clock, then throws
 * `Error('<name> boom <n+1>')`. A `null` duration runs until aborted. An abort ends the run normally.
 */
export function scripted(name: string, durations: (run: number) => number | null = () => 0): ScriptedComponent {
  const signals: AbortSignal[] = [];
  return {
    name,
    get runs() {
      return signals.length;
    },
    signals,
    async run({ signal, clock }) {
      const n = signals.length;
      signals.push(signal);
      const duration = durations(n);
      if (duration === null) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        return;
      }
      if (duration > 0 && !(await clockSleep(clock, duration, signal))) return;
      throw new Error(`${name} boom ${n + 1}`);
    },
  };
}
