/**
 * The fleet run's logs: JSON lines off a terminal (or --log-format json), pino-pretty lines on one
 * (or --log-format pretty); a failure the simulation injects is one warn line (node, operation,
 * error), never an error-level line; each fleet step and each API client has its own request id.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../actors/cli/program.js';
import { cli, FAST, fleet } from './helpers.js';

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly node?: string;
  readonly node_name?: string;
  readonly operation?: string;
  readonly error?: string;
  readonly request_id?: string;
  readonly user?: string;
}

/** The log lines of stderr (the CLI's own `metal-conductor: ...` lines aside), each parsed as JSON. */
function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('metal-conductor: '))
    .map((l) => JSON.parse(l) as LogLine);
}

const WARN = 40;
const ERROR = 50;

test('injected failures: one warn line per failed node with node, operation and error; no error-level line', async () => {
  const { summary, run } = await fleet([
    '--nodes',
    '24',
    '--memory',
    ...FAST,
    '--failure-rate',
    '0',
    '--fail-op',
    'power.validate=0.25',
    '--fail-op',
    'deploy.deploy=0.3',
    '--log-format',
    'json',
    '--log-level',
    'warn',
    '--no-status-server',
  ]);
  assert.ok(
    summary.failures.manage > 0 && summary.failures.deploy > 0,
    `failed verifications and deploys: ${JSON.stringify(summary.failures)}`,
  );
  const lines = logLines(run.stderr);
  assert.deepEqual(
    lines.filter((l) => l.level >= ERROR).map((l) => l.msg),
    [],
    'nothing at error for failures the simulation injects',
  );
  const failures = lines.filter((l) => l.level === WARN && l.operation !== undefined);
  assert.equal(failures.length, summary.failed, `one warn line per failed node\n${run.stderr}`);
  assert.equal(new Set(failures.map((l) => l.node)).size, summary.failed, 'each failed node once');
  const operations = new Set(failures.map((l) => l.operation));
  assert.deepEqual(operations, new Set(['power.validate', 'deploy.deploy']), 'failed verifications at the same level as the deploys');
  for (const line of failures) {
    assert.match(line.node_name ?? '', /^node-\d{5}$/);
    assert.equal(line.error, `fake ${line.operation} failed (injected)`);
    assert.match(
      line.msg,
      new RegExp(`^node ${line.node_name}: ${(line.operation ?? '').replace('.', '\\.')} failed in "(verifying|deploying)": fake`),
    );
  }
  assert.equal(lines.length, failures.length, 'nothing else at warn on such a run');
});

test('request ids: one per fleet step, one per API client, all distinct', async () => {
  const { summary, run } = await fleet([
    '--nodes',
    '8',
    '--memory',
    ...FAST,
    '--failure-rate',
    '0',
    '--clients',
    '3',
    '--log-level',
    'debug',
    '--log-format',
    'json',
    '--no-status-server',
  ]);
  const byUser = new Map<string, Set<string>>();
  for (const line of logLines(run.stderr)) {
    if (line.user === undefined || line.request_id === undefined) continue;
    byUser.set(line.user, (byUser.get(line.user) ?? new Set()).add(line.request_id));
  }
  const clients = [...byUser.keys()].filter((u) => u.startsWith('api-client-')).sort();
  assert.ok(clients.length >= 2, `API clients logged: ${clients.join(', ')}`);
  const clientIds = clients.map((c) => [...byUser.get(c)!]);
  for (const [i, ids] of clientIds.entries()) assert.equal(ids.length, 1, `${clients[i]} has one request id`);
  assert.equal(new Set(clientIds.flat()).size, clients.length, 'each client its own request id');
  const stepIds = byUser.get('fleet-run') ?? new Set();
  // Every step (an API call or an agent callback, with its worker) is a request of its own.
  assert.ok(stepIds.size >= summary.workers.steps, `${stepIds.size} fleet request ids for ${summary.workers.steps} steps`);
  for (const id of clientIds.flat()) assert.ok(!stepIds.has(id));
});

test('--log-format pretty: readable lines, not JSON; the default is pretty on a terminal and JSON otherwise', async () => {
  const args = ['--nodes', '4', '--memory', ...FAST, '--failure-rate', '0', '--fail-op', 'deploy.deploy=1', '--no-status-server'];
  const pretty = await cli([...args, '--log-format', 'pretty']);
  assert.equal(pretty.code, 0, pretty.stderr);
  const lines = pretty.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 4, pretty.stderr);
  for (const line of lines) {
    assert.throws(() => JSON.parse(line) as unknown, SyntaxError);
    assert.match(
      line,
      /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: node node-0000\d: deploy\.deploy failed in "deploying": fake deploy\.deploy failed \(injected\) \{/,
    );
  }
  assert.ok(!pretty.stderr.includes('\x1b['), 'no colours off a terminal');

  // Default, stderr not a terminal: JSON.
  const plain = await cli(args);
  assert.equal(logLines(plain.stderr).length, 4);

  // Default, stderr a terminal: pretty (coloured).
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: () => true },
    stderr: { write: (chunk: string) => (stderr += chunk), isTTY: true },
    isTTY: false,
  });
  assert.equal(code, 0);
  const ttyLines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(ttyLines.length, 4, stderr);
  for (const line of ttyLines) assert.throws(() => JSON.parse(line) as unknown, SyntaxError);
  assert.match(stderr, /WARN/);
});
