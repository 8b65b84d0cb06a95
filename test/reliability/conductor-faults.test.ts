/**
 * Issue 8, the conductor-side defects found by fault injection, one test (or more) each, named
 * after the defect. Each fails on the code before its fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errAsync } from 'neverthrow';
import { actorSystemOf } from '../../actors/actor-system.js';
import { BackgroundWorkFailed, InvalidParameterValue, MalformedMessage, NoFreeConductorWorker, StoreError } from '../../src/errors.js';
import { provisioningErrorHandler } from '../../src/task/error-handlers.js';
import { orThrow } from '../../src/task/scope.js';
import { captureLogger, okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, until, withConductor } from '../conductor/fixture.js';

/** The fixed text a value that cannot be described is recorded as (src/errors.ts UNDESCRIBABLE). */
const UNDESCRIBABLE = 'an error that cannot be described';

describe('defect 1: the same identity reaches one node only', () => {
  it('"00001" is a name (as Ironic and the store read it): it reaches the node named "00001", never node 1, cached or not', async () => {
    await withConductor({}, async (f) => {
      const first = await f.createNode({ name: 'alpha' });
      const zeros = await f.createNode({ name: '00001' });
      assert.equal(first.id, 1);
      // Node 1 is loaded (cached) first: the identity must still resolve the same way.
      await okValue((await okValue(f.conductor.acquire(f.ctx, 1))).release());
      const task = await okValue(f.conductor.acquire(f.ctx, '00001', { purpose: 'by name' }));
      assert.equal(task.node.id, zeros.id);
      assert.equal((await f.stored(zeros.id)).reservation, HOST);
      assert.equal((await f.stored(first.id)).reservation, null, 'node 1 was not locked');
      await okValue(task.release());
      assert.equal((await okValue(f.conductor.snapshot('00001'))).id, zeros.id);
      assert.equal((await okValue(f.conductor.snapshot('1'))).id, first.id, '"1" is an id');
      await errorOf(f.conductor.enroll({ driver: 'fake-hardware', name: '7' }), InvalidParameterValue);
    });
  });
});

describe('defect 9: every protocol message, however hostile, gets a typed reply', () => {
  it('undefined, a Symbol, a function, prototype-less types, throwing getters and toJSON: MalformedMessage, and the actor keeps serving', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const system = actorSystemOf(f.conductor);
      const throwing = (): never => {
        throw new Error('getter exploded');
      };
      let reads = 0;
      const hostile: unknown[] = [
        undefined,
        null,
        Symbol('message'),
        () => 'a function',
        { type: Object.create(null) as object },
        { type: Symbol('type') },
        Object.create(null),
        Object.defineProperty({}, 'type', { get: throwing }),
        {
          type: 'snapshot',
          get nodeId() {
            return throwing();
          },
        },
        { type: 'nonsense', toJSON: throwing, toString: throwing },
        new Proxy({}, { get: throwing, has: throwing }),
        // Valid when checked, then different: the actor serves what it checked.
        {
          type: 'snapshot',
          get nodeId() {
            reads += 1;
            return reads === 1 ? node.id : Symbol('changed');
          },
        },
      ];
      for (const [index, message] of hostile.entries()) {
        const reply = await system.ask(system.conductor, message as never, { timeoutMs: 2000 });
        if (index === hostile.length - 1) {
          assert.ok(reply.isOk(), 'the checked copy is served');
          continue;
        }
        assert.ok(
          reply.isErr() && reply.error instanceof MalformedMessage,
          `message ${index}: ${reply.isErr() ? String(reply.error) : 'ok'}`,
        );
      }
      const still = await okValue(system.ask(system.conductor, { type: 'snapshot', nodeId: node.id }, { timeoutMs: 2000 }));
      assert.equal(still.uuid, node.uuid);
    });
  });
});

describe('defect 10: a worker that throws an undescribable value', () => {
  it('still ends: onIdle resolves, last_error gets a fixed text, the worker actor stops, the handle settles — with a real logger', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async (f) => {
      const values: unknown[] = [
        {
          toString: () => {
            throw new Error('no toString');
          },
          toJSON: () => {
            throw new Error('no toJSON');
          },
        },
        Object.assign(Object.create(null) as object, {
          toJSON: () => {
            throw new Error('no toJSON');
          },
        }),
        Object.defineProperty(new Error('x'), 'message', {
          get: () => {
            throw new Error('no message');
          },
        }),
      ];
      for (const value of values) {
        const node = await f.createNode();
        const handle = await okValue(
          f.conductor.withTask(f.ctx, node.id, {}, (task) =>
            task.spawnAfter(async function throwsTheUndescribable() {
              throw value;
            }),
          ),
        );
        const outcome = await handle.done;
        assert.ok(outcome.isErr() && outcome.error instanceof BackgroundWorkFailed);
        assert.ok(outcome.error.message.includes(UNDESCRIBABLE), outcome.error.message);
        await f.conductor.onIdle();
        const row = await f.stored(node.id);
        assert.equal(row.last_error, outcome.error.message);
        assert.equal(row.reservation, null);
        assert.equal(f.conductor.status().workers.running.length, 0);
      }
      assert.ok(
        lines.some((line) => line.msg === 'worker failed'),
        'the failures were logged',
      );
    });
  });
});

describe('defect 11: one failed release does not wedge the node', () => {
  it('the release reports the StoreError, the next caller gets the lock at once, and the row ends up clear', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const task = await okValue(f.conductor.acquire(f.ctx, node.id));
      f.spy.inject('release', () => errAsync(new StoreError('release', 'disk I/O error')), 1);
      const released = await task.release();
      assert.ok(released.isErr() && released.error instanceof StoreError, 'surfaced to the caller');
      // Not wedged: a caller that must not wait gets the lock (handed over, the row still names us).
      const next = await okValue(f.conductor.acquire(f.ctx, node.id, { retry: false, purpose: 'after the failure' }));
      assert.equal(next.node.reservation_purpose, 'after the failure');
      await okValue(next.release());
      assert.equal((await f.stored(node.id)).reservation, null);
    });
  });

  it('with nobody asking, the reservation is cleared in the background once the store answers again', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const task = await okValue(f.conductor.acquire(f.ctx, node.id));
      f.spy.inject('release', () => errAsync(new StoreError('release', 'disk I/O error')), 2);
      assert.ok((await task.release()).isErr());
      assert.equal((await f.stored(node.id)).reservation, HOST, 'still reserved right after the failure');
      await until(async () => (await f.stored(node.id)).reservation === null, 'the background retry cleared the row');
      assert.equal((await okValue(f.conductor.snapshot(node.id))).reservation, null, 'and the snapshot follows');
    });
  });
});

describe('defect 12: the registry reads through the store guard', () => {
  it('a store that throws makes snapshot() and acquire() answer StoreError, never throw or reject', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const bug = (): never => {
        throw new TypeError('store bug');
      };
      f.spy.inject('getNode', bug, 2);
      const snapshot = await f.conductor.snapshot(node.id);
      assert.ok(snapshot.isErr() && snapshot.error instanceof StoreError, 'snapshot');
      const acquired = await f.conductor.acquire(f.ctx, node.id, { shared: true });
      assert.ok(acquired.isErr() && acquired.error instanceof StoreError, 'acquire');
      f.spy.inject('listNodes', () => Promise.reject(new Error('rejected')) as never, 1);
      const listed = await f.conductor.listNodes();
      assert.ok(listed.isErr() && listed.error instanceof StoreError, 'listNodes');
      // Served again once the store is.
      assert.equal((await okValue(f.conductor.snapshot(node.id))).id, node.id);
      await okValue(orThrow(f.conductor.acquire(f.ctx, node.id)).then((task) => task.release()));
    });
  });
});

describe('log parity with Ironic (operators grep for these lines)', () => {
  it('the transition line prints an empty target as "None", as Ironic', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async (f) => {
      const node = await f.createNode({ provision_state: 'verifying', target_provision_state: 'manageable' });
      await okValue(f.conductor.withTask(f.ctx, node.id, {}, (task) => task.processEvent('done')));
      const expected = `Node ${node.uuid} moved to provision state "manageable" from state "verifying"; target provision state is "None"`;
      assert.ok(
        lines.some((line) => line.msg === expected && line.level === 30),
        `an INFO line ${expected}`,
      );
    });
  });

  it('provisioningErrorHandler logs Ironic\u2019s WARNING when no worker is free', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger, workersPoolSize: 3, reservedWorkersPoolPercentage: 0 }, async (f) => {
      const gates: (() => void)[] = [];
      for (let i = 0; i < 3; i++) {
        const busy = await f.createNode();
        await okValue(
          f.conductor.withTask(f.ctx, busy.id, {}, (task) => task.spawnAfter(() => new Promise<void>((resolve) => gates.push(resolve)))),
        );
      }
      const node = await f.createNode();
      const deployed = await f.conductor.withTask(f.ctx, node.id, {}, (task) =>
        task.processEvent('deploy', { callback: async () => {}, errHandler: provisioningErrorHandler }),
      );
      assert.ok(deployed.isErr() && deployed.error instanceof NoFreeConductorWorker);
      const expected =
        `No free conductor workers available to perform an action on node ${node.uuid}, setting node's ` +
        `provision_state back to available and target_provision_state to None.`;
      assert.ok(
        lines.some((line) => line.msg === expected && line.level === 40),
        `a WARNING line ${expected}`,
      );
      for (const open of gates) open();
    });
  });
});
