/**
 * Progress of the fleet run, one counter per phase (enroll, manage, clean, deploy): live bars with
 * cli-progress on a terminal, plain lines (a phase's count and percentage each time it passes
 * another quarter of its total, no ANSI) otherwise or with --no-progress, nothing with --quiet.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { TextSink } from './io.js';

/** The phases shown, in order. */
export const PROGRESS_PHASES = ['enroll', 'manage', 'clean', 'deploy'] as const;
export type ProgressPhase = (typeof PROGRESS_PHASES)[number];

/** What the fleet run reports. */
export interface Progress {
  /** Set the number of nodes a phase will see (before start or while running). */
  setTotal(phase: ProgressPhase, total: number): void;
  /** Change a phase's total (a node failed earlier and will not reach it). */
  addTotal(phase: ProgressPhase, delta: number): void;
  /** A node finished a phase, successfully or with a recorded failure. */
  advance(phase: ProgressPhase, failed: boolean): void;
  /** A free-form line (start-up recovery, resume). */
  note(line: string): void;
  stop(): void;
}

interface Counter {
  total: number;
  value: number;
  failed: number;
  started: number | null;
}

function newCounters(): Record<ProgressPhase, Counter> {
  const counters = {} as Record<ProgressPhase, Counter>;
  for (const phase of PROGRESS_PHASES) counters[phase] = { total: 0, value: 0, failed: 0, started: null };
  return counters;
}

/** Nothing (--quiet). */
export class SilentProgress implements Progress {
  setTotal(): void {}
  addTotal(): void {}
  advance(): void {}
  note(): void {}
  stop(): void {}
}

/** A plain line is printed each time a phase passes another quarter of its total (and at its end). */
const STEPS = 4;

/**
 * Plain lines: `  1.52 s  manage   150/200 (75%)  failed 3`, with the phase's real count and
 * percentage, each time a phase passes another quarter of its total.
 */
export class LineProgress implements Progress {
  readonly #out: TextSink;
  readonly #counters = newCounters();
  /** Per phase: the quarter last printed. */
  readonly #printed = new Map<ProgressPhase, number>();
  readonly #started = performance.now();

  constructor(out: TextSink) {
    this.#out = out;
  }

  setTotal(phase: ProgressPhase, total: number): void {
    this.#counters[phase].total = total;
    this.#check(phase);
  }

  addTotal(phase: ProgressPhase, delta: number): void {
    this.#counters[phase].total += delta;
    this.#check(phase);
  }

  advance(phase: ProgressPhase, failed: boolean): void {
    const c = this.#counters[phase];
    c.value += 1;
    if (failed) c.failed += 1;
    this.#check(phase);
  }

  note(line: string): void {
    this.#out.write(`${line}\n`);
  }

  stop(): void {}

  #check(phase: ProgressPhase): void {
    const c = this.#counters[phase];
    if (c.total <= 0 || c.value === 0) return;
    const value = Math.min(c.value, c.total);
    const step = Math.floor((value / c.total) * STEPS);
    if (step === 0 || (this.#printed.get(phase) ?? 0) >= step) return;
    this.#printed.set(phase, step);
    const percent = Math.floor((value / c.total) * 100);
    const seconds = ((performance.now() - this.#started) / 1000).toFixed(2);
    const width = String(c.total).length;
    this.#out.write(
      `${seconds.padStart(7)} s  ${phase.padEnd(7)} ${String(value).padStart(width)}/${c.total} (${percent}%)  failed ${c.failed}\n`,
    );
  }
}

/** Live bars (cli-progress MultiBar) on a terminal. */
export class BarProgress implements Progress {
  readonly #multibar: MultiBar;
  readonly #bars = new Map<ProgressPhase, SingleBar>();
  readonly #counters = newCounters();

  constructor(out: TextSink) {
    this.#multibar = new MultiBar(
      {
        stream: out as unknown as NodeJS.WritableStream,
        format: ' {phase} |{bar}| {value}/{total} {percentage}% | failed {failed} | {duration_formatted}',
        barsize: 32,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        emptyOnZero: true,
        gracefulExit: false, // main.ts handles SIGINT/SIGTERM (graceful stop, then the summary)
      },
      Presets.shades_classic,
    );
    for (const phase of PROGRESS_PHASES) {
      this.#bars.set(phase, this.#multibar.create(0, 0, { phase: phase.padEnd(7), failed: 0 }));
    }
  }

  setTotal(phase: ProgressPhase, total: number): void {
    this.#counters[phase].total = total;
    this.#bars.get(phase)!.setTotal(Math.max(0, total));
  }

  addTotal(phase: ProgressPhase, delta: number): void {
    this.setTotal(phase, this.#counters[phase].total + delta);
  }

  advance(phase: ProgressPhase, failed: boolean): void {
    const c = this.#counters[phase];
    c.value += 1;
    if (failed) c.failed += 1;
    this.#bars.get(phase)!.increment(1, { failed: c.failed });
  }

  note(line: string): void {
    this.#multibar.log(`${line}\n`);
  }

  #stopped = false;

  /** Idempotent: a second stop would move the cursor over what was printed since. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#multibar.stop();
  }
}

/** Choose the reporter: bars on a terminal, lines otherwise or with --no-progress, none with --quiet. */
export function createProgress(mode: 'auto' | 'plain' | 'none', out: TextSink, isTTY: boolean): Progress {
  if (mode === 'none') return new SilentProgress();
  if (mode === 'auto' && isTTY) return new BarProgress(out);
  return new LineProgress(out);
}
