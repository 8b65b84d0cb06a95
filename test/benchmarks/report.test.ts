/**
 * `npm run bench:report` on a small committed results fixture (test/fixtures/bench-results/): the
 * charts come out as SVG (with the series named in them) and PNG, into the run's charts/ folder
 * and --out; a missing Ironic run leaves its series out with a note instead of failing; no
 * results at all writes nothing and does not throw.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runReport } from '../../benchmarks/report/main.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/bench-results/', import.meta.url));
const BENCH = '2026-01-01T00-00-00Z-bench';
const IRONIC = '2026-01-01T00-05-00Z-ironic';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A copy of the fixture (the report writes into the run folders), removed afterwards. */
async function withFixture(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mc-bench-report-'));
  try {
    await cp(FIXTURE, dir, { recursive: true });
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('bench:report', () => {
  it('renders SVG and PNG charts from the latest bench and Ironic runs', async () => {
    await withFixture(async (dir) => {
      await symlink(BENCH, join(dir, 'latest-bench'));
      await symlink(IRONIC, join(dir, 'latest-ironic'));
      const out = join(dir, 'docs');
      const outcome = await runReport({ results: [dir], out, say: () => undefined });

      assert.ok(outcome.inputs.bench !== null && outcome.inputs.ironic !== null);
      assert.equal(outcome.inputs.cluster, null);
      const names = (await readdir(out)).sort();
      for (const chart of ['throughput', 'contention-wait', 'checkpoint-stall', 'latency-contention', 'latency-exclusive-cycle']) {
        assert.ok(names.includes(`${chart}.svg`) && names.includes(`${chart}.png`), `${chart}: ${names.join(', ')}`);
      }
      // The same files in the bench run's own charts/ folder.
      assert.deepEqual((await readdir(join(dir, BENCH, 'charts'))).sort(), names);

      const throughput = await readFile(join(out, 'throughput.svg'), 'utf8');
      assert.ok(throughput.startsWith('<svg'), throughput.slice(0, 80));
      for (const text of ['>ours<', '>raw floor<', '>Ironic<', 'exclusive-cycle  loadDriver=false', 'contention  T=32']) {
        assert.ok(throughput.includes(text), `throughput.svg lacks ${text}`);
      }
      // Ironic's bar is drawn: its value label is there.
      const ironicRun = JSON.parse(await readFile(join(dir, IRONIC, 'ironic-comparison.json'), 'utf8')) as {
        ironicResults: { scenario: string; variant: string; opsPerSec: number }[];
      };
      const ironicCycle = ironicRun.ironicResults.find((r) => r.scenario === 'exclusive-cycle' && r.variant === 'loadDriver=false');
      assert.ok(throughput.includes(`>${Math.round(ironicCycle!.opsPerSec).toLocaleString('en-US')}<`), 'no Ironic bar label');
      const contention = await readFile(join(out, 'contention-wait.svg'), 'utf8');
      for (const text of ['T=2', 'T=32', 'Ironic', 'ours, one process', 'cluster: absent']) {
        assert.ok(contention.includes(text), `contention-wait.svg lacks ${text}`);
      }
      assert.ok((await readFile(join(out, 'checkpoint-stall.svg'), 'utf8')).includes('nodes=300 sync'));

      const png = await readFile(join(out, 'throughput.png'));
      assert.deepEqual(png.subarray(0, 8), PNG_MAGIC);
      assert.ok(png.length > 1000);
      const md = await readFile(join(out, 'README.md'), 'utf8');
      assert.match(md, /!\[.*\]\(throughput\.svg\)/);
    });
  });

  it('without an Ironic run: the charts are drawn without its series and say so', async () => {
    await withFixture(async (dir) => {
      const outcome = await runReport({ results: [join(dir, BENCH)], say: () => undefined });
      assert.equal(outcome.inputs.ironic, null);
      const svg = await readFile(join(dir, BENCH, 'charts', 'throughput.svg'), 'utf8');
      assert.ok(svg.includes('Ironic: absent'), 'no note about the missing Ironic run');
      assert.ok(!svg.includes('>Ironic<'), 'an Ironic series in the legend');
      assert.ok(svg.includes('raw floor'));
      assert.ok(outcome.written.some((f) => f.endsWith('contention-wait.png')));
    });
  });

  it('no results: nothing written, no exception', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mc-bench-report-empty-'));
    try {
      const outcome = await runReport({ results: [dir], say: () => undefined });
      assert.deepEqual(outcome.written, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
