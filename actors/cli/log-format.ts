/**
 * How the CLI writes its logs: pino JSON lines, or pino-pretty's readable lines (time, level,
 * message, then the fields on the same line). `auto` (the default) is pretty on a terminal and
 * JSON otherwise; `--log-format json|pretty` overrides. The library's own default stays JSON.
 *
 * The CLI's logger also keeps the failures the simulation injects to one line each: the step that
 * met one logs it at warn (node, operation, error; see announceInjectedFailure), and the task's
 * Ironic-worded "moved to provision state ... failed" line for the same node is logged at info,
 * like every other transition, instead of at error.
 */
import { prettyFactory } from 'pino-pretty';
import type { DestinationStream, LogFn, Logger } from 'pino';
import { createLogger } from '../../src/logging.js';
import type { TextSink } from './io.js';

/** Formats accepted by --log-format. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format to use on `sink`: `auto` is pretty on a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat | 'auto', sink: TextSink): LogFormat {
  if (format !== 'auto') return format;
  return sink.isTTY === true ? 'pretty' : 'json';
}

/** A pino destination writing to `sink` in `format` (pretty: coloured on a terminal unless NO_COLOR is set). */
export function createCliLogDestination(format: LogFormat | 'auto', sink: TextSink): DestinationStream {
  if (resolveLogFormat(format, sink) === 'json') return { write: (line: string) => void sink.write(line) };
  const pretty = prettyFactory({
    colorize: sink.isTTY === true && process.env.NO_COLOR === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    // The same on every line of a run (the conductor's own host is bound to its lines; lines about
    // another conductor name it as stale_host or dead_host).
    ignore: 'pid,hostname,name,host,project',
    singleLine: true,
    // Only pino's `err` is an error object; the `error` of an injected failure is its message.
    errorLikeObjectKeys: ['err'],
  });
  return { write: (line: string) => void sink.write(pretty(withoutRepeats(line))) };
}

/** The fields a failure line's message already says (provision-path.ts `fail`): left out of its pretty form only. */
const SAID_IN_MESSAGE = ['node_name', 'operation', 'provision_state', 'error'] as const;

/** A failure line (it carries all of SAID_IN_MESSAGE) without those fields; any other line as it is. */
function withoutRepeats(line: string): string | Record<string, unknown> {
  if (!line.includes('"operation"')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (!SAID_IN_MESSAGE.every((key) => key in entry)) return line;
  for (const key of SAID_IN_MESSAGE) delete entry[key];
  return entry;
}

/** Nodes whose injected failure was logged at warn and whose failure transition is still to come. */
const announced = new Set<string>();

/** The step that met an injected failure on node `uuid` logged it: its failure transition goes to info. */
export function announceInjectedFailure(uuid: string): void {
  announced.add(uuid);
}

/** The failure transition of node `uuid` is done (logged or not): stop watching for it. */
export function forgetInjectedFailure(uuid: string): void {
  announced.delete(uuid);
}

/** Ironic's text of a transition, as the task logs it. */
const TRANSITION = /^Node (\S+) moved to provision state "/;
const ERROR_LEVEL = 50;

/** The CLI's root logger: `level`, written to `sink` in `format`. */
export function createCliLogger(level: string, format: LogFormat | 'auto', sink: TextSink): Logger {
  return createLogger(
    {
      level,
      hooks: {
        logMethod(this: Logger, args: Parameters<LogFn>, method: LogFn, levelValue: number): void {
          if (levelValue === ERROR_LEVEL) {
            const text = args.find((a): a is string => typeof a === 'string');
            const uuid = text === undefined ? undefined : TRANSITION.exec(text)?.[1];
            if (uuid !== undefined && announced.delete(uuid)) {
              this.info(...args);
              return;
            }
          }
          method.apply(this, args);
        },
      },
    },
    createCliLogDestination(format, sink),
  );
}
