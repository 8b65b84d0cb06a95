/**
 * Issue 10: three conductor PROCESSES on one PostgreSQL database run seeded random programs
 * (acquire, shared-then-upgrade, processEvent, spawnAfter with a worker that writes the node) on
 * 20 nodes for a few seconds. Every exclusive grant is logged by its process with its reservation
 * token and wall-clock times (shared by the processes) of the grant and of the start of its
 * release. Per node, the holding intervals never overlap, tokens never go back (equal only for a
 * local hand-off inside one process, which keeps the reservation), every grant is released, and
 * nothing is left reserved.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PgServer } from '../../benchmarks/lib/pg-server.js';
import { Conductor } from '../../actors/conductor.js';
import { silentLogger } from '../../src/logging.js';
import { orThrow } from '../../src/task/scope.js';
import { reap, startChild, startServer, type Child } from './fixtures/harness.js';

const PROCESSES = 3;
const NODES = 20;
const DURATION_MS = 8_000;

interface Entry {
  readonly type: string;
  readonly host: string;
  readonly id?: string;
  readonly node?: number;
  readonly token?: number | null;
  readonly reservation?: string | null;
  readonly t?: number;
  readonly [key: string]: unknown;
}

let server: PgServer;
let dir: string;
before(async () => {
  server = await startServer();
  dir = await mkdtemp(join(tmpdir(), 'mc-cluster-'));
});
after(async () => {
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('three conductor processes on one database', () => {
  {
    // One seed per process (MC_CLUSTER_SEED picks another run).
    const seed = Number(process.env.MC_CLUSTER_SEED ?? 0x5eed);
    it(`random programs (seeds ${seed}×31+p): exclusive intervals never overlap, tokens never go back, nothing leaks`, async () => {
      const setup = await orThrow(
        Conductor.open({ host: `setup-${seed}`, store: { postgres: { url: server.url } }, logger: silentLogger() }),
      );
      const nodes: number[] = [];
      try {
        for (let i = 0; i < NODES; i++)
          nodes.push((await orThrow(setup.enroll({ driver: 'fake-hardware', provision_state: 'available' }))).id);
      } finally {
        await orThrow(setup.stop());
      }
      const log = join(dir, `grants-${seed}.jsonl`);
      const children: Child[] = [];
      try {
        for (let p = 0; p < PROCESSES; p++) {
          children.push(
            startChild({
              mode: 'random',
              url: server.url,
              host: `conductor-${p}-${seed}`,
              nodes,
              durationMs: DURATION_MS,
              seed: seed * 31 + p,
              loops: 3,
              log,
              options: { nodeLockedRetryAttempts: 5, nodeLockedRetryInterval: 200 },
            }),
          );
        }
        // Start together once every process is open.
        for (const child of children) await child.waitFor('open', 30_000);
        for (const child of children) child.process.kill('SIGUSR2');
        for (const child of children) {
          const code = await child.exited;
          assert.equal(code, 0, `child exited ${code}: ${child.stderr().slice(-4000)}; said ${JSON.stringify(child.messages)}`);
          assert.ok(
            child.messages.some((m) => m.type === 'stopped' && m.ok === true),
            `child stopped cleanly: ${JSON.stringify(child.messages)}`,
          );
        }
      } finally {
        for (const child of children) await reap(child);
      }

      const entries = (await readFile(log, 'utf8'))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Entry);
      const errors = entries.filter((e) => e.type === 'error');
      assert.deepEqual(errors, [], 'no operation under a granted lock failed');
      const ends = entries.filter((e) => e.type === 'end');
      assert.equal(ends.length, PROCESSES);
      for (const end of ends) {
        assert.deepEqual(end.reservedBeforeStop, [], `${end.host} held nothing once its programs ended`);
        assert.equal(end.leasesHeldByActors, 0);
      }
      const grants = entries.filter((e) => e.type === 'grant');
      const releaseStart = new Map(entries.filter((e) => e.type === 'release').map((e) => [e.id!, e]));
      const released = new Set(entries.filter((e) => e.type === 'released').map((e) => e.id!));
      const hosts = new Set(grants.map((g) => g.host));
      assert.equal(hosts.size, PROCESSES, 'every process got grants');
      assert.ok(grants.length >= 50, `enough grants to mean something (${grants.length})`);

      let localHandOffs = 0;
      let crossProcess = 0;
      for (const node of nodes) {
        const onNode = grants.filter((g) => g.node === node).sort((a, b) => a.t! - b.t!);
        for (const g of onNode) {
          assert.equal(g.reservation, g.host, `grant ${g.id} reserved under its own host`);
          assert.ok(typeof g.token === 'number' && g.token > 0, `grant ${g.id} has a token`);
          assert.ok(releaseStart.has(g.id!), `grant ${g.id} was released (release started)`);
          assert.ok(released.has(g.id!), `grant ${g.id} was released (release finished)`);
          assert.ok(releaseStart.get(g.id!)!.t! >= g.t!, `grant ${g.id}: release after grant`);
        }
        for (let i = 1; i < onNode.length; i++) {
          const previous = onNode[i - 1]!;
          const next = onNode[i]!;
          const previousEnd = releaseStart.get(previous.id!)!.t!;
          assert.ok(
            next.t! >= previousEnd,
            `node ${node}: ${next.id} granted at ${next.t} while ${previous.id} held it until ${previousEnd} (overlap ${previousEnd - next.t!} ms)`,
          );
          if (next.token === previous.token) {
            assert.equal(
              next.host,
              previous.host,
              `node ${node}: token ${next.token} granted to two processes (${previous.id}, ${next.id})`,
            );
            localHandOffs++;
          } else {
            assert.ok(
              next.token! > previous.token!,
              `node ${node}: token went back from ${previous.token} (${previous.id}) to ${next.token} (${next.id})`,
            );
            if (next.host !== previous.host) crossProcess++;
          }
        }
      }
      console.log(
        `# seed ${seed.toString(16)}: ${grants.length} grants, ${crossProcess} cross-process successions, ${localHandOffs} local hand-offs`,
      );
      assert.ok(crossProcess > 0, 'nodes changed hands between processes');

      const check = await orThrow(
        Conductor.open({ host: `check-${seed}`, store: { postgres: { url: server.url } }, logger: silentLogger() }),
      );
      try {
        const reserved = await orThrow(check.listNodes({ reserved: true }));
        assert.deepEqual(
          reserved.map((n) => [n.id, n.reservation]),
          [],
          'no node is reserved at the end',
        );
      } finally {
        await orThrow(check.stop());
      }
    });
  }
});
