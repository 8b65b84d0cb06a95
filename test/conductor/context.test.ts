/**
 * Request context (src/context.ts): the context a task was acquired with is the current context
 * (AsyncLocalStorage) inside its background work, and its request id is on the log lines the task
 * and its worker emit. The release line carries node uuid, purpose and how long the lock was held.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequestContext, currentRequestContext, type RequestContext } from '../../src/context.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { captureLogger, okValue } from '../helpers/task-harness.js';
import { sleep, withConductor } from './fixture.js';

describe('request context', () => {
  it('is the current context inside background work spawned with spawnAfter, across awaits', async () => {
    await withConductor({}, async (f) => {
      const node = await f.createNode();
      const ctx = createRequestContext({ requestId: 'req-spawn-after', user: 'alice', project: 'metal', roles: ['member'] });
      const seen: (RequestContext | undefined)[] = [];
      assert.equal(currentRequestContext(), undefined, 'the test itself runs outside any context');
      await okValue(
        f.conductor.withTask(ctx, node.id, { purpose: 'ctx' }, (task) => {
          task.spawnAfter(async function backgroundWork(t: ExclusiveTask, label: string) {
            assert.equal(label, 'arg');
            seen.push(currentRequestContext());
            await sleep(5);
            seen.push(currentRequestContext());
            await new Promise<void>((resolve) => setImmediate(resolve));
            seen.push(currentRequestContext());
            assert.equal(t.context, ctx);
          }, 'arg');
        }),
      );
      await f.conductor.onIdle();
      assert.equal(seen.length, 3, 'the work ran to the end');
      for (const current of seen) {
        assert.equal(current?.requestId, 'req-spawn-after');
        assert.equal(current?.user, 'alice');
        assert.equal(current?.project, 'metal');
        assert.deepEqual(current?.roles, ['member']);
      }
      assert.equal(currentRequestContext(), undefined, 'nothing leaks out of the worker');
    });
  });

  it('is the current context inside a processEvent callback, and concurrent tasks each see their own', async () => {
    await withConductor({}, async (f) => {
      const nodes = await Promise.all([f.createNode(), f.createNode(), f.createNode()]);
      const seen = new Map<number, string | undefined>();
      await Promise.all(
        nodes.map((node, i) =>
          okValue(
            f.conductor.withTask(createRequestContext({ requestId: `req-concurrent-${i}` }), node.id, {}, async (task) => {
              await okValue(
                task.processEvent('deploy', {
                  callback: async function deployWork(t: ExclusiveTask) {
                    await sleep(3 - i);
                    seen.set(t.node.id, currentRequestContext()?.requestId);
                    await okValue(t.processEvent('done'));
                  },
                }),
              );
            }),
          ),
        ),
      );
      await f.conductor.onIdle();
      assert.deepEqual(
        nodes.map((node) => seen.get(node.id)),
        ['req-concurrent-0', 'req-concurrent-1', 'req-concurrent-2'],
      );
    });
  });

  it('its request id is on the log lines of the task and of its worker (a plain pino logger)', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async (f) => {
      const node = await f.createNode();
      const ctx = createRequestContext({ requestId: 'req-logged', user: 'bob' });
      await okValue(
        f.conductor.withTask(ctx, node.id, { purpose: 'deploy for logs' }, async (task) => {
          await okValue(
            task.processEvent('deploy', {
              callback: async function loggedWork(t: ExclusiveTask) {
                await okValue(t.processEvent('done'));
                throw new Error('after done');
              },
            }),
          );
        }),
      );
      await f.conductor.onIdle();

      const taskLines = lines.filter((line) => line.node === node.uuid && line.worker === undefined);
      const messages = taskLines.map((line) => String(line.msg));
      for (const expected of [
        /Attempting to get exclusive lock/,
        /successfully reserved/,
        /moved to provision state "deploying"/,
        /moved to provision state "active"/,
        /Async execution of loggedWork failed/,
        /Successfully released exclusive lock/,
      ]) {
        assert.ok(
          messages.some((message) => expected.test(message)),
          `a task line matching ${expected}: ${JSON.stringify(messages)}`,
        );
      }
      for (const line of taskLines) assert.equal(line.request_id, 'req-logged', `task line "${String(line.msg)}"`);

      const workerLines = lines.filter((line) => line.worker !== undefined);
      assert.ok(workerLines.length >= 2, `worker lines: ${JSON.stringify(workerLines.map((line) => line.msg))}`);
      for (const line of workerLines) {
        assert.equal(line.node, node.uuid);
        assert.equal(line.request_id, 'req-logged', `worker line "${String(line.msg)}"`);
      }
    });
  });

  it('the release line (debug) names the node uuid and purpose and says how long the lock was held', async () => {
    const { logger, lines } = captureLogger();
    await withConductor({ logger }, async (f) => {
      const node = await f.createNode();
      const ctx = createRequestContext({ requestId: 'req-release' });
      const task = await okValue(f.conductor.acquire(ctx, node.id, { purpose: 'timed hold' }));
      await sleep(20);
      await okValue(task.release());
      const released = lines.filter((line) => /Successfully released exclusive lock/.test(String(line.msg)));
      assert.equal(released.length, 1);
      const line = released[0]!;
      assert.equal(line.level, 20, 'debug');
      assert.equal(line.node, node.uuid);
      assert.equal(line.purpose, 'timed hold');
      assert.equal(line.request_id, 'req-release');
      assert.equal(typeof line.held_for_s, 'number');
      assert.ok((line.held_for_s as number) >= 0.01, `held_for_s ${String(line.held_for_s)}`);
      assert.match(String(line.msg), new RegExp(`for timed hold on node ${node.uuid} \\(lock was held \\d+\\.\\d+ sec\\)`));

      // A shared task's release line too.
      const shared = await okValue(f.conductor.acquire(ctx, node.id, { shared: true, purpose: 'peek' }));
      await okValue(shared.release());
      const sharedLine = lines.find((entry) => /Successfully released shared lock/.test(String(entry.msg)));
      assert.equal(sharedLine?.node, node.uuid);
      assert.equal(sharedLine?.purpose, 'peek');
      assert.equal(typeof sharedLine?.held_for_s, 'number');
    });
  });
});
