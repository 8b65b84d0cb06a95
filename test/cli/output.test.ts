/**
 * What the fleet run prints: plain progress lines (count and percentage) without ANSI when stdout is not a terminal,
 * live cli-progress bars on a terminal (log lines held back until the bars stop), and the summary
 * table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../actors/cli/program.js';
import { cli } from './helpers.js';

const ESC = '\x1b';

test('not a terminal: one plain line per quarter of each phase (no ANSI), then the summary table', async () => {
  const run = await cli(['--nodes', '16', '--memory', '--min-step-ms', '0', '--max-step-ms', '3', '--failure-rate', '0']);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(!run.stdout.includes(ESC), 'no escape sequences');
  for (const phase of ['enroll', 'manage', 'clean', 'deploy']) {
    const lines = run.stdout.split('\n').filter((l) => new RegExp(`^\\s+\\d+\\.\\d+ s  ${phase}\\s`).test(l));
    assert.deepEqual(
      lines.map((l) => /(\d+)%/.exec(l)?.[1]),
      ['25', '50', '75', '100'],
      `${phase}: one line per milestone`,
    );
  }
  assert.match(run.stdout, /deploy\s+16\/16 \(100%\)\s+failed 0/);
  assert.match(run.stdout, /final state\s+nodes\n\s+active\s+16\n\s+total\s+16/);
  for (const label of [
    'transitions',
    'lock wait \\(ms\\)\\s+p50 \\S+\\s+p99 \\S+\\s+max \\S+',
    'NodeLocked',
    'worker failures',
    'elapsed',
  ]) {
    assert.match(run.stdout, new RegExp(`\\n  ${label}`));
  }
  // stderr: the status server's address (once), nothing logged at warn on a clean run.
  assert.match(run.stderr, /^metal-conductor: live status http:\/\/127\.0\.0\.1:\d+\/status · metrics \S+\/metrics · nodes \S+\/nodes\n$/);
});

test('a terminal: live progress bars, and log lines held until the bars stop', async () => {
  const events: ['out' | 'err', string][] = [];
  const code = await runCli(
    ['--nodes', '12', '--memory', '--min-step-ms', '0', '--max-step-ms', '3', '--failure-rate', '0', '--fail-op', 'deploy.deploy=1'],
    {
      stdout: { write: (chunk: string) => events.push(['out', chunk]), isTTY: true },
      stderr: { write: (chunk: string) => events.push(['err', chunk]), isTTY: true },
      isTTY: true,
    },
  );
  assert.equal(code, 0);
  const stdout = events
    .filter(([s]) => s === 'out')
    .map(([, t]) => t)
    .join('');
  assert.ok(stdout.includes(ESC), 'bars are drawn with escape sequences');
  assert.match(stdout, / deploy\s+\|[^|]*\| 12\/12 100% \| failed 12/);
  assert.match(stdout, / manage\s+\|[^|]*\| 12\/12 100% \| failed 0/);
  assert.match(stdout, /deploy failed\s+12/);
  const lastBarWrite = events.map(([s, t]) => s === 'out' && t.includes(ESC)).lastIndexOf(true);
  const firstLog = events.findIndex(([s, t]) => s === 'err' && !t.startsWith('metal-conductor: live status'));
  assert.ok(firstLog !== -1, 'the failed deploys were logged (warn level)');
  assert.ok(firstLog > lastBarWrite, 'no log line was written while the bars were live');
});
