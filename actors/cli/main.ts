#!/usr/bin/env node
/**
 * `metal-conductor` (the package's bin, built to dist/actors/cli/main.js): runs the CLI on the process's arguments and
 * streams. SIGINT/SIGTERM: the run stops taking work, lets the running steps finish, stops the
 * conductor (reservations cleared, store checkpointed) and prints its summary; a second signal
 * exits at once.
 */
import { runCli } from './program.js';

const controller = new AbortController();
// The first signal aborts with its name (a run then says it stops after the running steps; `status
// --watch` just stops refreshing); a second one exits at once.
const onSignal = (signal: NodeJS.Signals): void => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort(new Error(signal));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `metal-conductor | head`: once the reader is gone, stop the run as on SIGINT instead of crashing.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  if (!controller.signal.aborted) controller.abort(error);
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stdout.isTTY === true,
  signal: controller.signal,
});
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
