/**
 * Property tests of the node lock: random interleavings of acquire (shared/exclusive,
 * retry/patient/no-retry, abort), upgrade, downgrade, release, node delete and worker failure by
 * many callers, under fast-check's scheduler. Invariants:
 *  - never two exclusive holders at once (and the DB reservation names the holder's purpose);
 *  - a shared reader never sees a half-written node (every snapshot is frozen and consistent);
 *  - every lease is released exactly once (each release resolves Ok once; reservations balance;
 *    nothing is reserved and nobody holds or waits at the end);
 *  - exclusive grants follow FIFO order of the requests;
 *  - no waiter is starved: every call settles, and a patient waiter only fails if the node is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ResultAsync } from 'neverthrow';
import { openConductor, type Conductor } from '../../actors/conductor.js';
import { createRequestContext, orThrow, silentLogger } from '../../actors/index.js';
import { Aborted, NodeLocked, NodeNotFound } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import { openSqlJsStore } from '../../src/store/sqljs-store.js';
import type { Store } from '../../src/store/store.js';
import { taskInternals } from '../../src/task/task-manager.js';
import type { ExclusiveTask, Task } from '../../src/task/types.js';
import { propertyRuns } from '../helpers/runs.js';

type Mode = 'retry' | 'patient' | 'noretry';
type Work = 'update' | 'spawn-ok' | 'spawn-fail' | 'hold' | 'delete';
type Op =
  | { kind: 'exclusive'; mode: Mode; abortAfter: number | null; work: Work; holdTicks: number }
  | { kind: 'shared'; upgrade: Mode | null; downgrade: boolean; holdTicks: number }
  | { kind: 'read' };

const modeArb = fc.constantFrom<Mode>('retry', 'patient', 'noretry');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('exclusive' as const),
      mode: modeArb,
      abortAfter: fc.option(fc.integer({ min: 0, max: 4 }), { freq: 4 }),
      work: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom<Work>('update', 'hold', 'spawn-ok', 'spawn-fail') },
        { weight: 1, arbitrary: fc.constant<Work>('delete') },
      ),
      holdTicks: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('shared' as const),
      upgrade: fc.option(modeArb, { freq: 2 }),
      downgrade: fc.boolean(),
      holdTicks: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const) }) },
);
const programArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 6 });

/** Counts reservation episodes on the real store. */
function countingStore(inner: Store, counts: { reserved: number; released: number }): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === 'reserve' || property === 'release') {
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => ResultAsync<unknown, unknown>).apply(target, args);
          return result.map((v) => {
            if (property === 'reserve') counts.reserved += 1;
            else counts.released += 1;
            return v;
          });
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('lock arbiter properties', () => {
  let conductor: Conductor;
  let store: Store;
  const counts = { reserved: 0, released: 0 };
  const ctx = createRequestContext({ user: 'property' });

  before(async () => {
    store = countingStore(await orThrow(openSqlJsStore()), counts);
    conductor = await orThrow(
      openConductor(
        {
          logger: silentLogger(),
          host: 'prop-host',
          nodeLockedRetryAttempts: 3,
          nodeLockedRetryInterval: 2,
          nodeIdleTimeout: 0,
          gracefulShutdownTimeout: 1000,
        },
        { store },
      ),
    );
  });
  after(async () => {
    await orThrow(conductor.stop());
    await orThrow(store.close());
  });

  it('keeps exclusivity, consistency, FIFO, exactly-once release and liveness under random interleavings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), programArb, async (s, program) => {
        const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', extra: { a: 0, b: 0 } }));
        await orThrow(conductor.snapshot(node.id)); // load the actor so every request is sent in call order
        const before = { ...counts };

        const trace: string[] = [];
        let holder: number | null = null;
        let deleted = false;
        let nextCall = 0;
        let token = 0;
        const pending = new Set<number>();
        const violations: string[] = [];
        // Requests are issued one per macrotask, so call order is the order the actor receives them.
        let gate: Promise<void> = Promise.resolve();
        const issue = (): Promise<void> => (gate = gate.then(() => new Promise((resolve) => setImmediate(resolve))));
        const tick = (label: string): Promise<void> => s.schedule(Promise.resolve(), label).then(() => undefined);

        const checkConsistent = (n: NodeRecord, who: string): void => {
          if (!Object.isFrozen(n) || !Object.isFrozen(n.extra)) violations.push(`${who}: snapshot not frozen`);
          if (n.extra.a !== n.extra.b)
            violations.push(`${who}: half-written node a=${JSON.stringify(n.extra.a)} b=${JSON.stringify(n.extra.b)}`);
        };
        const onGrant = (call: number, task: Task): void => {
          pending.delete(call);
          if (holder !== null) violations.push(`two exclusive holders: ${holder} and ${call}`);
          for (const earlier of pending) if (earlier < call) violations.push(`FIFO: ${call} granted while ${earlier} waits`);
          holder = call;
          if (task.node.reservation !== 'prop-host' || task.node.reservation_purpose !== `call-${call}`) {
            violations.push(`grant ${call}: reservation ${task.node.reservation}/${task.node.reservation_purpose}`);
          }
        };
        const expectLockFailure = (call: number, mode: Mode, aborted: boolean, error: unknown): void => {
          pending.delete(call);
          const allowed =
            (error instanceof NodeNotFound && deleted) ||
            (error instanceof Aborted && aborted) ||
            (error instanceof NodeLocked && mode !== 'patient');
          if (!allowed) violations.push(`call ${call} (${mode}) failed with ${(error as Error).name}: ${(error as Error).message}`);
        };
        const releaseOnce = async (task: Task, call: number): Promise<void> => {
          if (holder === call) holder = null;
          const first = task.release();
          const second = task.release();
          if (first !== second) violations.push(`release of ${call} not idempotent`);
          const released = await first;
          if (released.isErr()) violations.push(`release of ${call}: ${released.error.message}`);
        };
        const write = async (task: ExclusiveTask, call: number): Promise<void> => {
          const value = ++token;
          const written = await task.updateNode((draft) => {
            draft.extra = { ...draft.extra, a: value };
            draft.last_error = null;
            draft.extra.b = value;
          });
          if (written.isErr() && !(deleted && written.error instanceof NodeNotFound)) {
            violations.push(`update by ${call}: ${written.error.message}`);
          }
        };

        const runExclusive = async (op: Extract<Op, { kind: 'exclusive' }>): Promise<void> => {
          await issue();
          const call = ++nextCall;
          const controller = op.abortAfter === null ? null : new AbortController();
          if (controller) setTimeout(() => controller.abort(new Error('caller gave up')), op.abortAfter as number);
          pending.add(call);
          trace.push(`call ${call} exclusive ${op.mode} abort=${op.abortAfter} work=${op.work}`);
          const got = await conductor.acquire(ctx, node.id, {
            purpose: `call-${call}`,
            retry: op.mode !== 'noretry',
            patient: op.mode === 'patient',
            ...(controller ? { signal: controller.signal } : {}),
          });
          if (got.isErr()) return expectLockFailure(call, op.mode, controller !== null, got.error);
          const task = got.value;
          onGrant(call, task);
          for (let i = 0; i < op.holdTicks; i++) await tick(`hold ${call}`);
          if (op.work === 'update') await write(task, call);
          if (op.work === 'delete') {
            // Waiters hear NodeNotFound before the deleter hears back: mark it first.
            const already = deleted;
            deleted = true;
            const destroyed = await task.destroyNode();
            if (destroyed.isErr() && !already) violations.push(`delete by ${call}: ${destroyed.error.message}`);
          }
          if (op.work === 'spawn-ok' || op.work === 'spawn-fail') {
            const fail = op.work === 'spawn-fail';
            task.spawnAfter(async function propertyWork(t: ExclusiveTask) {
              await tick(`work ${call}`);
              if (!deleted) await write(t, call);
              if (holder === call) holder = null;
              if (fail) throw new Error(`work ${call} failed`);
            });
            let left: Awaited<ReturnType<ReturnType<typeof taskInternals>['exit']>>;
            try {
              left = await taskInternals(task).exit(false);
            } catch (error) {
              // Only a stopping conductor may refuse a spawn.
              violations.push(`spawn by ${call}: ${(error as Error).message}`);
              return;
            }
            if (left.isErr()) violations.push(`exit of ${call}: ${left.error.message}`);
            return;
          }
          await releaseOnce(task, call);
        };

        const runShared = async (op: Extract<Op, { kind: 'shared' }>): Promise<void> => {
          const got = await conductor.acquire(ctx, node.id, { shared: true, purpose: 'reader' });
          if (got.isErr()) {
            if (!(deleted && got.error instanceof NodeNotFound)) violations.push(`shared acquire: ${got.error.message}`);
            return;
          }
          let task: Task = got.value;
          checkConsistent(task.node, 'shared');
          for (let i = 0; i < op.holdTicks; i++) await tick('shared hold');
          if (op.upgrade !== null) {
            await issue();
            const call = ++nextCall;
            pending.add(call);
            trace.push(`call ${call} upgrade ${op.upgrade} deleted=${deleted}`);
            const upgraded = await task.upgradeLock({
              purpose: `call-${call}`,
              retry: op.upgrade !== 'noretry',
            });
            if (upgraded.isErr()) {
              // patient is a property of the acquire, not of upgradeLock: the upgrade keeps retry semantics.
              expectLockFailure(call, op.upgrade === 'patient' ? 'retry' : op.upgrade, false, upgraded.error);
            } else {
              task = upgraded.value;
              onGrant(call, task);
              await write(upgraded.value, call);
              if (op.downgrade) {
                if (holder === call) holder = null;
                const down = await upgraded.value.downgradeLock();
                if (down.isErr() && !(deleted && down.error instanceof NodeNotFound)) {
                  violations.push(`downgrade of ${call}: ${down.error.message}`);
                }
                if (down.isOk()) checkConsistent(down.value.node, 'downgraded');
              }
              if (!task.shared) return releaseOnce(task, call);
            }
          }
          const released = await task.release();
          if (released.isErr()) violations.push(`shared release: ${released.error.message}`);
        };

        const runRead = async (): Promise<void> => {
          const snap = await conductor.snapshot(node.id);
          if (snap.isOk()) checkConsistent(snap.value, 'snapshot');
          else if (!deleted) violations.push(`snapshot: ${snap.error.message}`);
        };

        const callers = program.map(async (ops, index) => {
          for (const op of ops) {
            await tick(`caller ${index}`);
            if (op.kind === 'exclusive') await runExclusive(op);
            else if (op.kind === 'shared') await runShared(op);
            else await runRead();
          }
        });
        const everything = Promise.all(callers).then(() => conductor.onIdle());
        let guardTimer: NodeJS.Timeout | undefined;
        const guard = new Promise<'stuck'>((resolve) => (guardTimer = setTimeout(() => resolve('stuck'), 2000)));
        const outcome = await Promise.race([s.waitFor(everything).then(() => 'done' as const), guard]);
        clearTimeout(guardTimer);
        if (outcome === 'stuck') {
          violations.push(`not every call settled (liveness); pending: ${[...pending].join(',')}`);
          if (process.env.DEBUG_PROPERTY) console.error(JSON.stringify(conductor.status()), trace);
        }

        // Nothing held, nothing waiting, nothing reserved; every reservation episode ended.
        const status = conductor.status().nodes.find((n) => n.id === node.id);
        if (status && (status.holder !== null || status.waiters !== 0)) violations.push(`left behind: ${JSON.stringify(status)}`);
        if (!deleted) {
          const row = await store.getNode(node.id);
          if (row.isErr() || row.value.reservation !== null) violations.push('reservation left in the store');
        }
        if (counts.reserved - before.reserved !== counts.released - before.released && !deleted) {
          violations.push(`reserve/release unbalanced: ${counts.reserved - before.reserved}/${counts.released - before.released}`);
        }
        if (violations.length > 0 && process.env.DEBUG_PROPERTY) console.error(violations);
        assert.deepEqual(
          violations,
          [],
          s
            .report()
            .map((item) => `${item.status} ${item.label}`)
            .join('\n'),
        );
      }),
      { numRuns: propertyRuns(1000), seed: Number(process.env.SEED) || undefined },
    );
  });

  it('a worker failure is recorded on the node once and the lease is released', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.boolean(), async (workers, preexisting) => {
        const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', last_error: preexisting ? 'earlier' : null }));
        const runs = Array.from({ length: workers }, (_, i) =>
          conductor.withTask(ctx, node.id, { patient: true, purpose: `worker-${i}` }, (task) => {
            task.spawnAfter(async function failingWork() {
              throw new Error(`failure ${i}`);
            });
          }),
        );
        for (const run of runs) assert.ok((await run).isOk());
        await conductor.onIdle();
        const row = await orThrow(store.getNode(node.id));
        assert.equal(row.reservation, null);
        // _write_exception: only the first failure is recorded; an existing error is never overwritten.
        assert.equal(row.last_error, preexisting ? 'earlier' : 'Async execution of failingWork failed with error: failure 0');
      }),
      { numRuns: propertyRuns(1000) > 1000 ? 2000 : 100 },
    );
  });
});
