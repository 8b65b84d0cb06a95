/**
 * The `metal-conductor` command line (commander): the default command is the fleet run, `status`
 * lists the nodes of a database file. `runCli` runs it in-process and returns the exit code:
 * 0 done (every node at its target or in a recorded failure state), 1 internal error, 2 bad input
 * (nothing written), 3 environment failure (disk full, read-only or unwritable files, I/O error),
 * 130 interrupted.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { describe } from '../../src/errors.js';
import { EnvironmentFailure, environmentCode, environmentMessage } from './environment.js';
import { CHILD_COMMAND, runFleetChild } from './fleet-cluster.js';
import { runFleet } from './fleet-run.js';
import { EXIT, printError, UsageError, type CliIo } from './io.js';
import { LOG_FORMATS } from './log-format.js';
import {
  checkDbForRun,
  DEFAULT_WATCH_SECONDS,
  FLEET_DEFAULTS,
  MAX_CONDUCTORS,
  LOG_LEVELS,
  validateFleetOptions,
  validateStatusOptions,
  type RawFleetOptions,
  type RawStatusOptions,
} from './options.js';
import { runStatus } from './status-command.js';

/** The package version: the nearest package.json named metal-conductor above this module (source or dist). */
function version(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'metal-conductor') return pkg.version ?? '0.0.0';
    } catch {
      // no package.json here: keep going up
    }
    if (dir.pathname === '/') return '0.0.0';
  }
}

const defaultLogLevel = (): string => process.env.METAL_CONDUCTOR_LOG_LEVEL ?? FLEET_DEFAULTS.logLevel;

/** An option whose default is handed over as text (validated with the rest) and shown without quotes. */
function withDefault(flags: string, description: string, value: string | number): Option {
  return new Option(flags, description).default(String(value), String(value));
}

/** Collect a repeatable option's values. */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const FLEET_HELP = `
The default command provisions a simulated fleet of fake-hardware nodes (each with two ports)
through Ironic's path with real tasks: manage (verifying -> manageable), provide (cleaning ->
clean wait -> agent callback -> available), deploy (deploying -> wait call-back -> agent
callback -> active). Long steps run in supervised background workers through the fake drivers;
a failed driver operation lands in last_error and the failed state, as in Ironic. Meanwhile
--clients API clients make exclusive node updates and shared power-state syncs on the same nodes.

Re-running on the same file resumes: active nodes stay, nodes a killed run left mid-way are
failed by the conductor's start-up recovery (Ironic's text) and, like every failed node, only
carried on with --retry-failed; nodes in a wait state get their agent callback.

With --pg URL the fleet is kept in PostgreSQL; --conductors N (needs --pg) runs it with N
conductor processes (hosts <hostname>-c0 ...): the parent enrolls, child i drives every N-th node
and the API clients k with k mod N = i; one progress, one summary. A child that dies stops the
run (exit 1).

While a run goes it serves GET /status, /metrics and /nodes on loopback (the address is printed
at the start; --status-port, --status-host, --no-status-server): \`metal-conductor status --db FILE\`
in another terminal shows its live locks, waiters and worker pool (--watch to follow). On a file
no conductor holds, status reads it read-only (no lock, nothing written).
Logs go to stderr: readable (pino-pretty) on a terminal, JSON lines otherwise (--log-format).

Driver operations for --fail-op: power.validate, power.getPowerState (verify),
deploy.prepareCleaning, deploy.executeCleanStep (clean), deploy.deploy, power.setPowerState (deploy).

Examples:
  metal-conductor                                   # 1000 nodes into ./conductor.sqlite
  metal-conductor --nodes 50 --memory --json        # a small run, summary as JSON
  metal-conductor --fail-op deploy.deploy=1         # every deploy fails (deploy failed)
  metal-conductor --retry-failed --failure-rate 0   # bring the failed nodes to active
  metal-conductor --pg postgres://u:p@db/ironic --conductors 3   # three conductor processes
  metal-conductor status --state "deploy failed"
  metal-conductor status --watch                    # follow a running fleet (Ctrl-C to stop)

Exit codes: 0 every node active or in a recorded failure state, 1 internal error,
2 bad input (nothing written), 3 environment failure (disk full, read-only or unwritable
files, I/O error; what was reported done is on disk), 130 interrupted (after a graceful stop).
`;

function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('metal-conductor');
  program
    .description("Ironic's conductor TaskManager as an in-process actor runtime: provision a simulated fleet.")
    .version(version(), '-V, --version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      outputError: () => undefined, // runCli prints the one-line error
    })
    .addOption(withDefault('-n, --nodes <n>', 'nodes in the fleet: enroll up to this many in total', FLEET_DEFAULTS.nodes))
    .addOption(withDefault('--db <file>', 'database file (created if missing)', FLEET_DEFAULTS.db).conflicts('memory'))
    .option('--memory', 'use an in-memory store (nothing kept)')
    .option(
      '--pg <url>',
      'PostgreSQL connection string (postgres://user:password@host:5432/db): the shared store instead of --db (default: none)',
    )
    .addOption(
      withDefault(
        '--conductors <n>',
        `conductor processes sharing the fleet on --pg (1..${MAX_CONDUCTORS}; more than 1 needs --pg)`,
        FLEET_DEFAULTS.conductors,
      ),
    )
    .addOption(
      withDefault(
        '--durability <mode>',
        'file store: sync (a change is on disk before it is acknowledged) or batched',
        FLEET_DEFAULTS.durability,
      ),
    )
    .addOption(withDefault('--min-step-ms <ms>', 'shortest simulated driver operation', FLEET_DEFAULTS.minStepMs))
    .addOption(withDefault('--max-step-ms <ms>', 'longest simulated driver operation', FLEET_DEFAULTS.maxStepMs))
    .addOption(withDefault('--failure-rate <p>', 'probability (0..1) that a driver operation fails', FLEET_DEFAULTS.failureRate))
    .option('--fail-op <op=p>', 'failure probability of one driver operation, e.g. deploy.deploy=1 (repeatable)', collect)
    .addOption(
      withDefault(
        '--seed <n>',
        'seed of the simulated durations, failures and clients (the interleaving of concurrent nodes still varies)',
        FLEET_DEFAULTS.seed,
      ),
    )
    .addOption(withDefault('--concurrency <n>', 'nodes driven at the same time', FLEET_DEFAULTS.concurrency))
    .addOption(withDefault('--clients <n>', 'concurrent API clients contending for the nodes', FLEET_DEFAULTS.clients))
    .option('--workers <n>', "conductor worker pool size (default: the conductor's, 300)")
    .option('--retry-failed', 'bring failed nodes back through the right events (manage, deploy, ...)')
    .addOption(withDefault('--max-retries <n>', 'with --retry-failed: recoveries per node in one run', FLEET_DEFAULTS.maxRetries))
    .option('--no-progress', 'plain progress lines instead of live bars')
    .option('-q, --quiet', 'no progress output at all')
    .option('--json', 'print the summary as one JSON object on stdout (progress goes to stderr)')
    .addOption(withDefault('--log-level <level>', `pino log level on stderr (${LOG_LEVELS.join(', ')})`, defaultLogLevel()))
    .option('--log-format <format>', `logs on stderr: ${LOG_FORMATS.join(' or ')} (default: pretty on a terminal, json otherwise)`)
    .option('--no-status-server', "don't serve GET /status, /metrics, /nodes while the fleet runs")
    .addOption(withDefault('--status-host <host>', 'address the status server listens on (loopback by default)', FLEET_DEFAULTS.statusHost))
    .addOption(
      withDefault('--status-port <port>', 'port of the status server (0: any free port, printed at start)', FLEET_DEFAULTS.statusPort),
    )
    .addHelpText('after', FLEET_HELP)
    .action(async (raw: RawFleetOptions, command: Command) => {
      const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
      const options = validateFleetOptions({ ...raw, dbGiven: given('db'), durabilityGiven: given('durability') });
      if (options.db !== null) await checkDbForRun(options.db);
      setCode(await runFleet(options, io));
    });

  program
    .command('status')
    .description(
      'list the nodes of a database file (or PostgreSQL): provision state, target, holder, purpose, held for, last_error; ' +
        'a file in use is asked of its live conductor (holders, waiters, pool, dead letters), one not in use is read read-only',
    )
    .addOption(withDefault('--db <file>', 'database file', FLEET_DEFAULTS.db))
    .option('--pg <url>', 'PostgreSQL connection string: list the nodes there instead of the --db file (default: none)')
    .option('--state <state>', 'only nodes in this provision state (repeatable, or comma-separated)', collect)
    .option('--json', 'print the report as one JSON object (with --watch: one line per refresh)')
    .option(
      '--watch [seconds]',
      `print the report again every few seconds (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C; in place on a terminal`,
    )
    .addOption(withDefault('--log-level <level>', `pino log level on stderr (${LOG_LEVELS.join(', ')})`, defaultLogLevel()))
    .option('--log-format <format>', `logs on stderr: ${LOG_FORMATS.join(' or ')} (default: pretty on a terminal, json otherwise)`)
    .action(async (raw: RawStatusOptions, command: Command) => {
      // `metal-conductor --db x status`: the program took --db; honour it.
      const parentDb = command.parent?.getOptionValueSource('db') === 'cli' ? command.parent.opts<{ db: string }>().db : undefined;
      const db = command.getOptionValueSource('db') === 'cli' || parentDb === undefined ? raw.db : parentDb;
      const dbGiven = command.getOptionValueSource('db') === 'cli' || parentDb !== undefined;
      const pg = raw.pg ?? command.parent?.opts<{ pg?: string }>().pg;
      setCode(await runStatus(validateStatusOptions({ ...raw, db, dbGiven, ...(pg === undefined ? {} : { pg }) }), io));
    });

  // Internal: one of the conductor processes of `--pg URL --conductors N` (fleet-cluster.ts); its
  // work comes from the parent in the environment, its reports go back over the IPC channel.
  program
    .command(CHILD_COMMAND, { hidden: true })
    .description('internal: a conductor process of a multi-process fleet run')
    .action(async () => {
      setCode(await runFleetChild(io));
    });
  return program;
}

/**
 * Run the CLI with `argv` (the arguments after the program name, i.e. `process.argv.slice(2)`).
 * Resolves with the exit code; never throws.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok; // --help, --version
      printError(io, `${error.message.replace(/^error: /, '')} (see metal-conductor --help)`);
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      printError(io, error.message);
      return EXIT.usage;
    }
    if (error instanceof EnvironmentFailure) {
      printError(io, error.message);
      return EXIT.environment;
    }
    const errno = environmentCode(error);
    if (errno !== null) {
      printError(io, environmentMessage(errno));
      return EXIT.environment;
    }
    printError(io, `internal error: ${describe(error)}`);
    if (error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return EXIT.internal;
  }
}
