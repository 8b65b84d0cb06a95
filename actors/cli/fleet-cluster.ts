/**
 * `--pg URL --conductors N`: the fleet run with N conductor processes on one PostgreSQL database.
 *
 * The parent opens a conductor on the database (start-up recovery: what a killed run left is taken
 * over and failed), enrolls the fleet, stops that conductor and forks N children running this same
 * CLI entry with the hidden `__fleet-child` command and an IPC channel. Each child opens its own
 * conductor (host `<hostname>-c<i>`) on the database, drives the nodes at positions i, i+N, …
 * of the fleet (ordered by id) and runs the API clients k with k % N = i, which pick nodes from
 * the whole fleet (next to the nodes being driven, so they contend with the other processes).
 * Over IPC a child sends `ready`, the parent answers `start` (the options and the child's share);
 * the child opens its conductor and sends `opened`; once all have, the parent sends `go` (later
 * maybe `stop`: SIGINT, drain and stop); the child sends progress events, then `done` with its
 * partial report. The parent
 * renders one progress and, once every child has exited, one summary from the database and the
 * merged reports. A child that exits before `done` stops the run: the others are stopped, exit 1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { NodeRecord } from '../../src/node.js';
import { orThrow } from '../../src/task/scope.js';
import { EnvironmentFailure, environmentCode } from './environment.js';
import {
  buildSummary,
  countPhaseTotals,
  driveFleet,
  enrollWithProgress,
  finishRun,
  type LogSink,
  noteRecovery,
  openFleetConductor,
  recoveryFigures,
  runOutput,
  runSignal,
  type DriveReport,
} from './fleet-run.js';
import { EXIT, oneLine, printError, UsageError, type CliIo } from './io.js';
import { createCliLogger, resolveLogFormat } from './log-format.js';
import type { FleetOptions } from './options.js';
import type { Progress, ProgressPhase } from './progress.js';

/** The hidden command a child runs. */
export const CHILD_COMMAND = '__fleet-child';
/** How long the children get to stop after `stop` before they are killed. */
const STOP_GRACE_MS = 60_000;

/** A child's share of the run (the parent's `start` message). */
interface ChildSpec {
  readonly options: FleetOptions;
  readonly index: number;
  readonly count: number;
  readonly host: string;
}

/** Parent → child. */
type ParentMessage = { readonly type: 'start'; readonly spec: ChildSpec } | { readonly type: 'go' } | { readonly type: 'stop' };

/** Child → parent. */
type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'opened' }
  | { readonly type: 'addTotal'; readonly phase: ProgressPhase; readonly delta: number }
  | { readonly type: 'advance'; readonly phase: ProgressPhase; readonly failed: boolean }
  | { readonly type: 'note'; readonly line: string }
  | { readonly type: 'done'; readonly report: DriveReport };

/** The CLI entry the children run: this build's main (the source's under tsx, whose loader the fork inherits). */
function childEntry(): string {
  const built = fileURLToPath(new URL('./main.js', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('./main.ts', import.meta.url));
}

/** One conductor process, as the parent sees it. */
interface Child {
  readonly index: number;
  readonly host: string;
  readonly process: ChildProcess;
  report: DriveReport | null;
  /** Resolves with how it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A child ended before its report: the run fails with this line (exit 1). */
class ChildDied extends Error {}

/** The parent of a multi-process run. Returns the exit code. */
export async function runFleetCluster(options: FleetOptions, io: CliIo): Promise<number> {
  const started = performance.now();
  const { controller: stopping, dispose } = runSignal(io);
  const signal = stopping.signal;
  const { logs, logger, startProgress } = runOutput(options, io);
  // The children write to a pipe: they get the format chosen here.
  options = { ...options, logFormat: resolveLogFormat(options.logFormat, io.stderr) };

  let progress: Progress | null = null;
  const children: Child[] = [];
  const killAll = (): void => {
    for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  };
  // main.ts exits at once on a second signal: take the children along.
  process.on('exit', killAll);
  try {
    // Enroll once, with start-up recovery, through a conductor of the parent's own.
    const conductor = await openFleetConductor(options, logger);
    let fleet: NodeRecord[];
    let enrolled: number;
    let recovery;
    progress = startProgress();
    try {
      noteRecovery(conductor, progress);
      recovery = recoveryFigures(conductor);
      ({ fleet, enrolled } = await enrollWithProgress(conductor, options, progress, signal));
    } finally {
      const stopped = await conductor.stop();
      if (stopped.isErr()) io.stderr.write(`metal-conductor: ${oneLine(stopped.error.message)}\n`);
    }
    countPhaseTotals(fleet, options, progress);

    const hosts = Array.from({ length: options.conductors }, (_, i) => `${hostname()}-c${i}`);
    if (!signal.aborted) {
      // A start barrier: nobody drives before every conductor is up (claimed its host), so no
      // liveness check takes a sibling that is still starting for a dead conductor of a past run.
      let opened = 0;
      const onOpened = (): void => {
        if (++opened === options.conductors) for (const child of children) sendTo(child.process, { type: 'go' });
      };
      for (const [index, host] of hosts.entries()) {
        children.push(startChild({ options, index, count: options.conductors, host }, progress, logs, onOpened));
      }
    }
    const died = await superviseChildren(children, signal);
    if (died !== null) throw new ChildDied(died);
    progress.stop();
    logs.release();

    // The final states, through a conductor that changes nothing.
    const reader = await openFleetConductor(options, logger, { startupRecovery: false, periodicChecks: false });
    let final: NodeRecord[];
    try {
      final = [...(await orThrow(reader.listNodes()))];
    } finally {
      const stopped = await reader.stop();
      if (stopped.isErr()) io.stderr.write(`metal-conductor: ${oneLine(stopped.error.message)}\n`);
    }
    const reports = children.map((c) => c.report!);
    const summary = buildSummary(final, reports, {
      options,
      enrolled,
      recovery,
      interrupted: signal.aborted,
      elapsedMs: performance.now() - started,
      hosts,
    });
    return finishRun(summary, reports, options, io);
  } catch (error) {
    if (error instanceof ChildDied) {
      progress?.stop();
      logs.release();
      printError(io, error.message);
      return EXIT.internal;
    }
    const errno = error instanceof EnvironmentFailure ? error.errno : environmentCode(error);
    if (errno === null) throw error;
    throw error instanceof EnvironmentFailure ? error : new EnvironmentFailure(errno, { db: null });
  } finally {
    // Whatever happened, no child outlives the run.
    for (const child of children) sendTo(child.process, { type: 'stop' });
    await Promise.all(children.map((c) => waitOrKill(c)));
    process.off('exit', killAll);
    progress?.stop();
    logs.release();
    dispose();
  }
}

function sendTo(child: ChildProcess, message: ParentMessage): void {
  if (child.connected) child.send(message, (error) => void error); // a child that is gone cannot be told
}

/** Fork one conductor process and wire its messages to the progress and its output to the log. */
function startChild(spec: ChildSpec, progress: Progress, logs: LogSink, onOpened: () => void): Child {
  const proc = fork(childEntry(), [CHILD_COMMAND], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Its own process group: a Ctrl-C on the terminal reaches the parent only, which stops the children over IPC.
    detached: true,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const child: Child = { index: spec.index, host: spec.host, process: proc, report: null, exited };
  for (const stream of [proc.stdout, proc.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => logs.write(chunk));
  }
  proc.on('message', (message: ChildMessage) => {
    switch (message.type) {
      case 'ready':
        sendTo(proc, { type: 'start', spec });
        break;
      case 'opened':
        onOpened();
        break;
      case 'addTotal':
        progress.addTotal(message.phase, message.delta);
        break;
      case 'advance':
        progress.advance(message.phase, message.failed);
        break;
      case 'note':
        progress.note(message.line);
        break;
      case 'done':
        child.report = message.report;
        break;
    }
  });
  proc.on('error', (error) => logs.write(`metal-conductor: conductor process c${spec.index}: ${error.message}\n`));
  return child;
}

/**
 * Wait until every child has exited. SIGINT: tell them all to stop (they drain and report). A
 * child exiting without its report: stop the others; returns the line that says so (else null).
 */
async function superviseChildren(children: readonly Child[], signal: AbortSignal): Promise<string | null> {
  const stopAll = (): void => {
    for (const child of children) sendTo(child.process, { type: 'stop' });
  };
  signal.addEventListener('abort', stopAll, { once: true });
  let died: string | null = null;
  try {
    await Promise.all(
      children.map(async (child) => {
        const { code, signal: killedBy } = await child.exited;
        if (child.report !== null || died !== null) return;
        const how = killedBy !== null ? `was killed by ${killedBy}` : `exited with code ${code}`;
        died =
          `conductor process c${child.index} (host ${child.host}, pid ${child.process.pid}) ${how} before finishing;` +
          ` the other ${children.length - 1} were stopped (run again to resume)`;
        stopAll();
      }),
    );
  } finally {
    signal.removeEventListener('abort', stopAll);
  }
  return died;
}

/** Wait for a child to exit; kill it if it does not within the grace period. */
async function waitOrKill(child: Child): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.process.kill('SIGKILL');
      resolve();
    }, STOP_GRACE_MS);
  });
  await Promise.race([child.exited, late]);
  clearTimeout(timer);
  await child.exited;
}

/** Forwards a child's progress to the parent. */
class IpcProgress implements Progress {
  readonly #send: (message: ChildMessage) => void;
  constructor(send: (message: ChildMessage) => void) {
    this.#send = send;
  }
  setTotal(): void {
    // The parent sets the totals (countPhaseTotals).
  }
  addTotal(phase: ProgressPhase, delta: number): void {
    this.#send({ type: 'addTotal', phase, delta });
  }
  advance(phase: ProgressPhase, failed: boolean): void {
    this.#send({ type: 'advance', phase, failed });
  }
  note(line: string): void {
    this.#send({ type: 'note', line });
  }
  stop(): void {}
}

/** Tell the parent we listen, and wait for its `start` (or its going away: null). */
function waitForStart(send: (message: ChildMessage) => Promise<void>): Promise<ChildSpec | null> {
  return new Promise((resolve) => {
    const onMessage = (message: ParentMessage): void => {
      if (message.type !== 'start') return;
      process.off('disconnect', onGone);
      process.off('message', onMessage);
      resolve(message.spec);
    };
    const onGone = (): void => {
      process.off('message', onMessage);
      resolve(null);
    };
    process.on('message', onMessage);
    process.once('disconnect', onGone);
    void send({ type: 'ready' });
  });
}

/** A child: open its conductor, drive its share, report. Returns the exit code. */
export async function runFleetChild(io: CliIo): Promise<number> {
  if (process.send === undefined || !process.connected) {
    throw new UsageError(`${CHILD_COMMAND} is internal: metal-conductor --pg URL --conductors N runs it`);
  }
  const send = (message: ChildMessage): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected) return resolve();
      process.send!(message, undefined, {}, () => resolve());
    });
  try {
    const spec = await waitForStart(send);
    if (spec === null) return EXIT.interrupted;
    const { options } = spec;
    const { controller: stopping, dispose } = runSignal(io);
    const stop = (): void => stopping.abort(new Error('stopped by the parent'));
    let go: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (go = resolve));
    stopping.signal.addEventListener('abort', () => go(), { once: true });
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'stop') stop();
      else if (message.type === 'go') go();
    });
    // The parent is gone (killed): drain and stop as on SIGINT.
    process.once('disconnect', stop);
    const logger = createCliLogger(options.logLevel, options.logFormat, io.stderr);
    try {
      // Start-up recovery was the parent's: here it would fail nodes the other processes are driving.
      const conductor = await openFleetConductor(options, logger, { host: spec.host, startupRecovery: false });
      let report: DriveReport;
      try {
        await send({ type: 'opened' });
        await started;
        const fleet = [...(await orThrow(conductor.listNodes()))].sort((a, b) => a.id - b.id);
        const clientNumbers = Array.from({ length: options.clients }, (_, k) => k)
          .filter((k) => k % spec.count === spec.index)
          .map((k) => k + 1);
        report = await driveFleet(conductor, options, {
          progress: new IpcProgress((message) => void send(message)),
          signal: stopping.signal,
          logger,
          onEnvironmentFailure: () => stopping.abort(new Error('environment failure')),
          fleet,
          mine: (_node, index) => index % spec.count === spec.index,
          clientNumbers,
          processes: spec.count,
          totalsCounted: true,
        });
      } finally {
        const stopped = await conductor.stop();
        if (stopped.isErr()) io.stderr.write(`metal-conductor: c${spec.index}: ${oneLine(stopped.error.message)}\n`);
      }
      await send({ type: 'done', report });
      return EXIT.ok;
    } finally {
      dispose();
    }
  } finally {
    // The IPC channel would keep the process alive.
    if (process.connected) process.disconnect();
  }
}
