/**
 * One conductor process of the cluster benchmark (forked by `run.ts`):
 * `node conductor-process.js <host> <postgres-url> <process-index>`. Opens a Conductor on the
 * shared PostgreSQL database with its own host (silent logger, no notifications, no periodic
 * wait-timeout checks; the liveness check, LISTEN/NOTIFY and start-up recovery are on, as in a
 * deployment), says `{ ready }` over IPC, then obeys the commands of `protocol.ts`, one reply each.
 * Timed phases start at the coordinator's `startAt` (epoch ms), the barrier of all processes.
 */
import pg from 'pg';
import { Conductor, createRequestContext, NodeLocked, orThrow, silentLogger, type ExclusiveTask } from '../../dist/actors/index.js';
import { epochMs, type Attempt, type Command, type LoopPhase, type LoopReply, type Reply, type Request } from './protocol.js';

const [host, url, procText] = process.argv.slice(2);
if (host === undefined || url === undefined || procText === undefined) throw new Error('usage: conductor-process <host> <url> <index>');
const proc = Number(procText);
const ctx = createRequestContext();

const conductor = await orThrow(
  Conductor.open({ host, store: { postgres: { url } }, logger: silentLogger(), notificationLevel: null, periodicChecks: false }),
);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const untilEpoch = async (at: number): Promise<void> => {
  const left = at - epochMs();
  if (left > 0) await sleep(left);
};
const errorText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** `loops` closed loops of `op(loop, i)` for warm-up + rounds, starting at the barrier. */
async function timedLoops(phase: LoopPhase, op: (loop: number, i: number) => Promise<void>): Promise<LoopReply> {
  await untilEpoch(phase.startAt);
  let recording = false;
  let stop = false;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const samples: number[] = [];
  const loop = async (l: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const t0 = process.hrtime.bigint();
      try {
        await op(l, i);
      } catch (e) {
        errors += 1;
        firstError ??= errorText(e);
        await sleep(1);
        continue;
      }
      if (recording) {
        samples.push(Number(process.hrtime.bigint() - t0));
        ops += 1;
      }
    }
  };
  const running = Array.from({ length: phase.loops }, (_, l) => loop(l));
  await sleep(phase.warmupMs);
  recording = true;
  const roundOps: number[] = [];
  const roundSeconds: number[] = [];
  for (let r = 0; r < phase.rounds; r++) {
    const before = ops;
    const t0 = performance.now();
    await sleep(phase.roundMs);
    roundSeconds.push((performance.now() - t0) / 1000);
    roundOps.push(ops - before);
  }
  recording = false;
  stop = true;
  await Promise.all(running);
  return { roundOps, roundSeconds, samplesNs: samples, errors, ...(firstError === undefined ? {} : { firstError }) };
}

const CYCLE = [
  { event: 'inspect', to: 'inspecting' },
  { event: 'done', to: 'manageable' },
] as const;

/** Transitions made per node (the cycle alternates; a node left in `inspecting` goes on with `done`). */
const steps = new Map<number, number>();
let held: ExclusiveTask[] = [];
let watch: { promise: Promise<{ seenAt: number; version: number; polls: number }>; cancel: () => void } | null = null;

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'enroll': {
      const ids: number[] = [];
      for (let i = 0; i < command.count; i++) {
        const node = await orThrow(
          conductor.enroll({
            driver: 'fake-hardware',
            provision_state: command.provisionState as 'available',
            name: `${command.prefix}-${i}`,
          }),
        );
        ids.push(node.id);
      }
      return ids;
    }
    case 'exclusive': {
      const nodes = command.nodes;
      return timedLoops(command, async (l) => {
        const task = await orThrow(conductor.acquire(ctx, nodes[l % nodes.length]!, { purpose: 'bench' }));
        await orThrow(task.release());
      });
    }
    case 'process-event': {
      const nodes = command.nodes;
      const reply = await timedLoops(command, async (l) => {
        const node = nodes[l]!;
        const task = await orThrow(conductor.acquire(ctx, node, { purpose: 'bench' }));
        try {
          const step = steps.get(node) ?? 0;
          const { event, to } = CYCLE[step % 2]!;
          const saved = await orThrow(task.processEvent(event));
          steps.set(node, step + 1);
          if (saved.provision_state !== to) throw new Error(`expected ${to}, got ${saved.provision_state}`);
        } finally {
          await orThrow(task.release());
        }
      });
      return reply;
    }
    case 'floor': {
      // The raw floor: named prepared conditional UPDATE pair, one connection per loop, own row.
      const clients = await Promise.all(
        Array.from({ length: command.loops }, async () => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          return client;
        }),
      );
      try {
        const tag = host;
        return await timedLoops(command, async (l) => {
          const id = command.firstId + l;
          const reserved = await clients[l]!.query({
            name: 'floor-reserve',
            text: 'UPDATE bench_floor_nodes SET reservation = $2, reserved_at = now(), version = version + 1 WHERE id = $1 AND reservation IS NULL',
            values: [id, tag],
          });
          if (reserved.rowCount !== 1) throw new Error(`floor: row ${id} was not free`);
          const released = await clients[l]!.query({
            name: 'floor-release',
            text: 'UPDATE bench_floor_nodes SET reservation = NULL, reserved_at = NULL, version = version + 1 WHERE id = $1 AND reservation = $2',
            values: [id, tag],
          });
          if (released.rowCount !== 1) throw new Error(`floor: row ${id} was not ours`);
        });
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
    }
    case 'contend': {
      await untilEpoch(command.startAt);
      const attempts: Attempt[] = [];
      let nodeLocked = 0;
      let other = 0;
      let firstError: string | undefined;
      const t0 = performance.now();
      const caller = async (): Promise<void> => {
        for (let c = 0; c < command.cycles; c++) {
          const req = epochMs();
          const acquired = await conductor.acquire(ctx, command.node, { loadDriver: false, purpose: 'contend' });
          const end = epochMs();
          if (acquired.isErr()) {
            if (acquired.error instanceof NodeLocked) nodeLocked += 1;
            else {
              other += 1;
              firstError ??= errorText(acquired.error);
            }
            attempts.push({ req, end, granted: false, proc });
            continue;
          }
          attempts.push({ req, end, granted: true, proc });
          await Promise.resolve(); // the holder's "work"
          await orThrow(acquired.value.release());
        }
      };
      await Promise.all(Array.from({ length: command.callers }, () => caller()));
      return { attempts, nodeLocked, other, seconds: (performance.now() - t0) / 1000, ...(firstError === undefined ? {} : { firstError }) };
    }
    case 'hold': {
      // The victim: exclusive locks on every node, and one of them put into `deploying` (available
      // -deploy-> deploying, saved with the lock still held: a deployment in progress).
      for (const node of command.nodes) {
        const task = await orThrow(conductor.acquire(ctx, node, { purpose: 'victim holds' }));
        held.push(task);
        if (node === command.deployNode) {
          const saved = await orThrow(task.processEvent('deploy'));
          if (saved.provision_state !== 'deploying') throw new Error(`victim: expected deploying, got ${saved.provision_state}`);
        }
      }
      return { held: held.length };
    }
    case 'take': {
      // A survivor: acquire each node (default budget, retried on NodeLocked until granted), note
      // when, what the node looked like, release.
      const grants = await Promise.all(
        command.nodes.map(async (node) => {
          for (;;) {
            const acquired = await conductor.acquire(ctx, node, { purpose: 'survivor' });
            if (acquired.isErr()) {
              if (acquired.error instanceof NodeLocked) continue;
              throw acquired.error;
            }
            const at = epochMs();
            const n = acquired.value.node;
            await orThrow(acquired.value.release());
            return { node, at, provisionState: n.provision_state, lastError: n.last_error };
          }
        }),
      );
      return { grants };
    }
    case 'hold-one': {
      held.push(await orThrow(conductor.acquire(ctx, command.node, { purpose: 'writer' })));
      return { held: held.length };
    }
    case 'commit': {
      const task = held.find((t) => t.node.id === command.node);
      if (task === undefined) throw new Error(`commit: node ${command.node} is not held here`);
      const saved = await orThrow(
        task.updateNode((draft) => {
          draft.extra = { ...draft.extra, bench: Number(draft.extra['bench'] ?? 0) + 1 };
        }),
      );
      return { ackAt: epochMs(), version: saved.version };
    }
    case 'drop-held': {
      for (const task of held) await orThrow(task.release());
      held = [];
      return {};
    }
    case 'watch-start': {
      const first = await orThrow(conductor.snapshot(command.node));
      const v0 = first.version;
      let cancelled = false;
      const promise = (async () => {
        let polls = 0;
        for (;;) {
          if (cancelled) throw new Error('watch cancelled');
          const snap = await orThrow(conductor.snapshot(command.node));
          polls += 1;
          if (snap.version > v0) return { seenAt: epochMs(), version: snap.version, polls };
          await new Promise<void>((resolve) => setImmediate(resolve)); // let notifications in
        }
      })();
      promise.catch(() => undefined);
      watch = { promise, cancel: () => void (cancelled = true) };
      return { version: v0 };
    }
    case 'watch-result': {
      if (watch === null) throw new Error('no watch running');
      const w = watch;
      watch = null;
      const timer = setTimeout(w.cancel, command.timeoutMs);
      try {
        return await w.promise;
      } finally {
        clearTimeout(timer);
      }
    }
    case 'status': {
      const s = conductor.status();
      return { takeover: s.takeover, store: s.store, components: s.components };
    }
    case 'stop': {
      for (const task of held) void (await task.release());
      held = [];
      await orThrow(conductor.stop());
      setImmediate(() => process.exit(0));
      return {};
    }
  }
}

process.on('message', (message: Request) => {
  const { id } = message;
  handle(message).then(
    (ok) => process.send!({ id, ok } satisfies Reply),
    (e: unknown) => process.send!({ id, error: errorText(e) } satisfies Reply),
  );
});
process.send!({ id: 0, ok: { ready: true, host, pid: process.pid } } satisfies Reply);
