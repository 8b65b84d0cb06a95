/**
 * What the CLI writes to and the errors it ends with. `runCli` gets its streams passed in, so tests
 * run it in-process and read what it printed.
 */

/** Something text can be written to (a process stream, a PassThrough, a test buffer). */
export interface TextSink {
  write(chunk: string): unknown;
  /** Set on terminals. */
  readonly isTTY?: boolean;
}

/** The CLI's surroundings. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** True when stdout is a terminal (live progress bars); false: plain lines. */
  readonly isTTY: boolean;
  /** Aborted on SIGINT/SIGTERM (main.ts): the run stops taking work, drains and prints its summary. */
  readonly signal?: AbortSignal;
}

/** Exit codes. */
export const EXIT = Object.freeze({
  ok: 0,
  /** An internal error, or a node left in a state that is neither the target nor a recorded failure. */
  internal: 1,
  /** Bad input: options, database file. Nothing was written. */
  usage: 2,
  /** The environment failed: out of disk space, read-only or unwritable files, I/O errors. */
  environment: 3,
  /** Interrupted by SIGINT/SIGTERM after a graceful stop. */
  interrupted: 130,
});

/** Bad input: printed as one line `metal-conductor: <message>`, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One line, whatever the message held. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Print `metal-conductor: <message>` on stderr. */
export function printError(io: CliIo, message: string): void {
  io.stderr.write(`metal-conductor: ${oneLine(message)}\n`);
}
