/**
 * The conductor root actor's message protocol (actors/conductor-protocol.ts), spoken through
 * `actorSystemOf(conductor).ask(system.conductor, message, { timeoutMs })` as another actor would:
 * every message gets a reply or a typed error, and the actor keeps serving after every error.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { actorSystemOf } from '../../actors/actor-system.js';
import type { Conductor } from '../../actors/conductor.js';
import type {
  AcquireLeaseMessage,
  ConductorMessage,
  LeaseGrant,
  ProcessEventMessage,
  ReleaseLeaseMessage,
  RunExclusiveMessage,
  SnapshotMessage,
} from '../../actors/conductor-protocol.js';
import {
  ActorStopped,
  AskTimeout,
  ExclusiveLockRequired,
  InvalidState,
  LeaseNotFound,
  MalformedMessage,
  NodeLocked,
  NodeNotFound,
} from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import type { ProvisionEvent } from '../../src/states/provision-states.js';
import type { ExclusiveTask } from '../../src/task/types.js';
import { captureLogger, okValue } from '../helpers/task-harness.js';
import { errorOf, HOST, openFixture, until, waitersOf, withConductor, type Fixture } from './fixture.js';

/** Ask the root actor, as another actor would. */
function ask<Q extends ConductorMessage>(conductor: Conductor, message: Q, timeoutMs = 3000) {
  const system = actorSystemOf(conductor);
  return system.ask(system.conductor, message, { timeoutMs });
}

/** Ask with something that is not a protocol message. */
function askRaw(conductor: Conductor, message: unknown, timeoutMs = 3000) {
  const system = actorSystemOf(conductor);
  return system.ask(system.conductor, message as SnapshotMessage, { timeoutMs });
}

/** The actor still answers: a snapshot of `node` comes back. */
async function stillServes(conductor: Conductor, node: NodeRecord): Promise<void> {
  const snapshot = await okValue(ask(conductor, snapshotOf(node.id)));
  assert.equal(snapshot.uuid, node.uuid);
}

const acquireLease = (nodeId: number | string, extra: Partial<AcquireLeaseMessage> = {}): AcquireLeaseMessage => ({
  type: 'acquireLease',
  nodeId,
  ...extra,
});
const releaseLease = (leaseId: string): ReleaseLeaseMessage => ({ type: 'releaseLease', leaseId });
const snapshotOf = (nodeId: number | string): SnapshotMessage => ({ type: 'snapshot', nodeId });
const processEvent = (event: ProvisionEvent, target: { leaseId: string } | { nodeId: number }): ProcessEventMessage => ({
  type: 'processEvent',
  event,
  ...target,
});

describe('conductor protocol: leases', () => {
  it('acquireLease (exclusive) replies with a LeaseGrant holding the reservation; releaseLease gives it back', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode({ name: 'proto-1' });
      const grant: LeaseGrant = await okValue(
        ask(conductor, acquireLease('proto-1', { purpose: 'actor work', context: { requestId: 'req-proto-1', user: 'bot' } })),
      );
      assert.equal(typeof grant.leaseId, 'string');
      assert.ok(grant.leaseId.length > 0);
      assert.equal(grant.shared, false);
      assert.equal(grant.node.id, node.id);
      assert.equal(grant.node.reservation, HOST);
      assert.equal(grant.node.reservation_purpose, 'actor work');
      assert.equal((await stored(node.id)).reservation, HOST);
      assert.equal(conductor.status().leasesHeldByActors, 1);
      assert.equal(conductor.status().nodes.find((entry) => entry.id === node.id)?.holder?.requestId, 'req-proto-1');
      const locked = await errorOf(conductor.acquire(ctx, node.id, { retry: false }), NodeLocked);
      assert.equal(locked.details.purpose, 'actor work');

      assert.deepEqual(await okValue(ask(conductor, releaseLease(grant.leaseId))), { released: true });
      assert.equal((await stored(node.id)).reservation, null);
      assert.equal(conductor.status().leasesHeldByActors, 0);
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });

  it('acquireLease (shared) replies with a shared LeaseGrant that takes no reservation', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      const grant = await okValue(ask(conductor, acquireLease(node.id, { shared: true })));
      assert.equal(grant.shared, true);
      assert.equal(grant.node.id, node.id);
      assert.equal((await stored(node.id)).reservation, null);
      // An exclusive holder is not blocked by it.
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
      assert.deepEqual(await okValue(ask(conductor, releaseLease(grant.leaseId))), { released: true });
      assert.equal(conductor.status().leasesHeldByActors, 0);
    });
  });

  it('acquireLease honours retry: false (NodeLocked) and waits for a patient lease', async () => {
    await withConductor({ nodeLockedRetryInterval: 5000 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      const locked = await errorOf(ask(conductor, acquireLease(node.id, { retry: false })), NodeLocked);
      assert.equal(locked.details.purpose, 'holder');
      const patient = ask(conductor, acquireLease(node.id, { patient: true, purpose: 'patient actor' }));
      await until(() => waitersOf(conductor, node.id) === 1, 'the lease request queued');
      await stillServes(conductor, node); // waiting for a lock never blocks the root's mailbox
      await okValue(holder.release());
      const grant = await okValue(patient);
      assert.equal(grant.node.reservation_purpose, 'patient actor');
      await okValue(ask(conductor, releaseLease(grant.leaseId)));
    });
  });

  it('status replies with the conductor’s status report, holders and actor leases included', async () => {
    await withConductor({}, async ({ conductor, createNode }) => {
      const node = await createNode();
      const grant = await okValue(
        ask(conductor, acquireLease(node.id, { purpose: 'visible in status', context: { requestId: 'req-status' } })),
      );
      const status = await okValue(ask(conductor, { type: 'status' }));
      assert.equal(status.host, HOST);
      assert.equal(status.stopping, false);
      assert.equal(status.leasesHeldByActors, 1);
      const entry = status.nodes.find((n) => n.id === node.id);
      assert.equal(entry?.holder?.purpose, 'visible in status');
      assert.equal(entry?.holder?.requestId, 'req-status');
      await okValue(ask(conductor, releaseLease(grant.leaseId)));
      assert.equal((await okValue(ask(conductor, { type: 'status' }))).leasesHeldByActors, 0);
    });
  });

  it('snapshot answers by integer id, uuid and name without waiting for a held lock', async () => {
    await withConductor({ nodeLockedRetryInterval: 5000 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode({ name: 'snap-me' });
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      for (const nodeId of [node.id, node.uuid, 'snap-me']) {
        const snapshot = await okValue(ask(conductor, snapshotOf(nodeId)));
        assert.equal(snapshot.id, node.id);
        assert.equal(snapshot.reservation_purpose, 'holder');
      }
      await okValue(holder.release());
    });
  });

  it('a lease whose asker timed out before the grant is released by the conductor (no reservation leaks)', async () => {
    await withConductor({ nodeLockedRetryInterval: 5000 }, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holder' }));
      await errorOf(ask(conductor, acquireLease(node.id, { patient: true, purpose: 'abandoned' }), 30), AskTimeout);
      await okValue(holder.release()); // the abandoned request is granted now...
      // ...and given back by the conductor, since nobody knows its lease id.
      await until(
        async () => (await stored(node.id)).reservation === null && conductor.status().leasesHeldByActors === 0,
        'the late lease released',
      );
      assert.equal(conductor.status().nodes.find((entry) => entry.id === node.id)?.holder, null);
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });

  it('conductor.stop() releases the leases still held by actors', async () => {
    const { logger, lines } = captureLogger();
    const f = await openFixture({ logger });
    try {
      const exclusive = await f.createNode();
      const sharedNode = await f.createNode();
      await okValue(ask(f.conductor, acquireLease(exclusive.id, { purpose: 'never released' })));
      await okValue(ask(f.conductor, acquireLease(sharedNode.id, { shared: true })));
      assert.equal(f.conductor.status().leasesHeldByActors, 2);
      assert.equal((await f.stored(exclusive.id)).reservation, HOST);
      await okValue(f.conductor.stop());
      assert.equal((await f.stored(exclusive.id)).reservation, null);
      assert.equal((await f.stored(sharedNode.id)).reservation, null);
      assert.equal(f.conductor.status().leasesHeldByActors, 0);
      // Released through the lease, not swept up by the stop's last-resort clearReservations.
      assert.deepEqual(
        lines.filter((line) => /cleared reservations/.test(String(line.msg))).map((line) => line.nodes),
        [],
      );
    } finally {
      await f.stop();
    }
  });
});

describe('conductor protocol: after stop', () => {
  it('an ask to a stopped conductor fails at once with ActorStopped', async () => {
    const f = await openFixture();
    try {
      const node = await f.createNode();
      await okValue(f.conductor.stop());
      const started = Date.now();
      await errorOf(ask(f.conductor, snapshotOf(node.id), 3000), ActorStopped);
      assert.ok(Date.now() - started < 1500, 'at once, not after the timeout');
    } finally {
      await f.stop();
    }
  });
});

describe('conductor protocol: runExclusive and processEvent', () => {
  it('runExclusive replies with the operation’s value, run under an exclusive task', async () => {
    await withConductor({}, async ({ conductor, createNode, stored }) => {
      const node = await createNode();
      const message: RunExclusiveMessage = {
        type: 'runExclusive',
        nodeId: node.id,
        purpose: 'tag it',
        context: { requestId: 'req-run-1' },
        operation: async (task: ExclusiveTask) => {
          assert.equal(task.shared, false);
          assert.equal(task.context.requestId, 'req-run-1');
          const updated = await okValue(task.updateNode((draft) => void (draft.extra = { tagged: true })));
          return { purpose: task.node.reservation_purpose, extra: updated.extra };
        },
      };
      assert.deepEqual(await okValue(ask(conductor, message)), { purpose: 'tag it', extra: { tagged: true } });
      const row = await stored(node.id);
      assert.deepEqual(row.extra, { tagged: true });
      assert.equal(row.reservation, null, 'released after the operation');
    });
  });

  it('runExclusive whose operation throws answers with that error, releases, and the actor keeps serving', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      const thrown = new Error('operation failed');
      const settled = await ask(conductor, {
        type: 'runExclusive',
        nodeId: node.id,
        operation: () => {
          throw thrown;
        },
      } satisfies RunExclusiveMessage);
      assert.ok(settled.isErr());
      assert.equal(settled.error, thrown);
      assert.equal((await stored(node.id)).reservation, null);
      await stillServes(conductor, node);
      await okValue((await okValue(conductor.acquire(ctx, node.id, { retry: false }))).release());
    });
  });

  it('runExclusive whose operation never settles: the asker times out, the operation is signalled, and the lock is free again', async () => {
    await withConductor({}, async ({ conductor, ctx, createNode, stored }) => {
      const node = await createNode();
      let signal: AbortSignal | null = null;
      let lateWrite: Promise<unknown> | null = null;
      const settled = await ask(
        conductor,
        {
          type: 'runExclusive',
          nodeId: node.id,
          purpose: 'hangs',
          operation: (task: ExclusiveTask, abandoned: AbortSignal) => {
            signal = abandoned;
            // It ignores the signal and tries to write after its asker left: that must fail.
            abandoned.addEventListener('abort', () => {
              lateWrite = new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
                task.updateNode((draft) => void (draft.extra = { late: true })),
              );
            });
            return new Promise(() => {});
          },
        } satisfies RunExclusiveMessage,
        150,
      );
      assert.ok(settled.isErr() && settled.error instanceof AskTimeout);
      assert.ok(signal !== null && (signal as AbortSignal).aborted, 'the operation was told its asker gave up');
      await until(async () => (await stored(node.id)).reservation === null, 'the lock is released');
      const task = await okValue(conductor.acquire(ctx, node.id, { retry: false }));
      await okValue(task.release());
      assert.ok(lateWrite !== null);
      // Using a released task is a caller bug: it throws, and nothing is written.
      await assert.rejects(lateWrite, /already released; cannot updateNode/);
      assert.deepEqual((await stored(node.id)).extra, {});
    });
  });

  it("runExclusive whose operation returns its own scheduled work's done: a TypeError at once, not a lock held until the asker gives up", async () => {
    await withConductor({}, async ({ conductor, createNode, stored }) => {
      const node = await createNode();
      const settled = await ask(conductor, {
        type: 'runExclusive',
        nodeId: node.id,
        operation: (task: ExclusiveTask) => task.spawnAfter(async () => {}).done,
      } satisfies RunExclusiveMessage);
      assert.ok(settled.isErr() && settled.error instanceof TypeError, String(settled.isErr() ? settled.error : ''));
      await until(async () => (await stored(node.id)).reservation === null, 'the lock is released');
    });
  });

  it('runExclusive waiting for a held lock stops waiting when its asker gives up', async () => {
    // A 10 s waiting budget: only the asker's giving up can end the wait within the test.
    await withConductor({ nodeLockedRetryInterval: 5000 }, async ({ conductor, ctx, createNode }) => {
      const node = await createNode();
      const holder = await okValue(conductor.acquire(ctx, node.id, { purpose: 'holds it' }));
      let ran = false;
      const settled = await ask(
        conductor,
        {
          type: 'runExclusive',
          nodeId: node.id,
          operation: () => {
            ran = true;
          },
        } satisfies RunExclusiveMessage,
        100,
      );
      assert.ok(settled.isErr() && settled.error instanceof AskTimeout, String(settled.isErr() ? settled.error : settled.value));
      await okValue(holder.release());
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(ran, false, 'the operation never ran for an asker that had left');
      await stillServes(conductor, node);
    });
  });

  it('processEvent under a held lease (leaseId) and under a fresh task (nodeId)', async () => {
    await withConductor({}, async ({ conductor, createNode, stored }) => {
      const node = await createNode();
      const notifications: string[] = [];
      conductor.subscribe((n) => void notifications.push(n.eventType));
      const grant = await okValue(ask(conductor, acquireLease(node.id, { purpose: 'manage it' })));
      const managed = await okValue(ask(conductor, processEvent('manage', { leaseId: grant.leaseId })));
      assert.equal(managed.provision_state, 'manageable');
      assert.equal(managed.target_provision_state, null);
      assert.equal((await stored(node.id)).reservation, HOST, 'the lease is still held');
      await errorOf(ask(conductor, processEvent('deploy', { leaseId: grant.leaseId })), InvalidState);
      await okValue(ask(conductor, releaseLease(grant.leaseId)));

      const cleaning = await okValue(ask(conductor, processEvent('provide', { nodeId: node.id })));
      assert.equal(cleaning.provision_state, 'cleaning');
      assert.equal(cleaning.target_provision_state, 'available');
      assert.equal((await stored(node.id)).reservation, null, 'the fresh task was released');
      await errorOf(ask(conductor, processEvent('deploy', { nodeId: node.id })), InvalidState);
      assert.equal((await stored(node.id)).reservation, null);
      assert.deepEqual(notifications, ['baremetal.node.provision_set.success', 'baremetal.node.provision_set.start']);
    });
  });

  it('processEvent on a shared lease fails with ExclusiveLockRequired and changes nothing', async () => {
    await withConductor({}, async ({ conductor, createNode, stored }) => {
      const node = await createNode();
      const grant = await okValue(ask(conductor, acquireLease(node.id, { shared: true })));
      const error = await errorOf(ask(conductor, processEvent('manage', { leaseId: grant.leaseId })), ExclusiveLockRequired);
      assert.equal(error.status, 403);
      assert.equal((await stored(node.id)).provision_state, 'available');
      await stillServes(conductor, node);
      await okValue(ask(conductor, releaseLease(grant.leaseId)));
    });
  });
});

describe('conductor protocol: typed error replies, and the actor keeps serving', () => {
  let f: Fixture;
  let node: NodeRecord;
  before(async () => {
    f = await openFixture();
    node = await f.createNode({ name: 'known' });
  });
  after(async () => {
    await f.stop();
  });

  const malformed: [string, unknown][] = [
    ['a number', 42],
    ['null', null],
    ['a string', 'acquireLease'],
    ['an array', []],
    ['an object without type', {}],
    ['an unknown type', { type: 'reboot', nodeId: 1 }],
    ['acquireLease with a non-boolean shared', { type: 'acquireLease', nodeId: 1, shared: 'yes' }],
    ['acquireLease with a non-boolean retry', { type: 'acquireLease', nodeId: 1, retry: 0 }],
    ['acquireLease with a non-boolean patient', { type: 'acquireLease', nodeId: 1, patient: 'always' }],
    ['acquireLease with a non-string purpose', { type: 'acquireLease', nodeId: 1, purpose: 7 }],
    ['acquireLease with a context whose roles are not a list', { type: 'acquireLease', nodeId: 1, context: { roles: 5 } }],
    ['releaseLease without leaseId', { type: 'releaseLease' }],
    ['releaseLease with a numeric leaseId', { type: 'releaseLease', leaseId: 12 }],
    ['runExclusive without operation', { type: 'runExclusive', nodeId: 1 }],
    ['runExclusive with a non-function operation', { type: 'runExclusive', nodeId: 1, operation: 'reboot' }],
    ['processEvent without event', { type: 'processEvent', nodeId: 1 }],
    ['processEvent with a numeric event', { type: 'processEvent', nodeId: 1, event: 3 }],
    ['processEvent without leaseId or nodeId', { type: 'processEvent', event: 'manage' }],
    ['processEvent with a numeric leaseId', { type: 'processEvent', event: 'manage', leaseId: 5 }],
    ['processEvent with a numeric targetState', { type: 'processEvent', event: 'manage', nodeId: 1, targetState: 3 }],
  ];
  for (const [label, message] of malformed) {
    it(`MalformedMessage for ${label}`, async () => {
      const error = await errorOf(askRaw(f.conductor, message), MalformedMessage);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'MalformedMessage');
      await stillServes(f.conductor, node);
      assert.equal((await f.stored(node.id)).reservation, null, 'nothing was locked');
    });
  }

  it('MalformedMessage for a missing or wrongly typed nodeId (acquireLease, snapshot, runExclusive)', async () => {
    // The contract: missing fields and wrong field types are MalformedMessage. (InvalidIdentity is
    // for a well-typed identity that is neither an id, a uuid nor a name.)
    const cases: [string, unknown][] = [
      ['acquireLease without nodeId', { type: 'acquireLease' }],
      ['acquireLease with an object nodeId', { type: 'acquireLease', nodeId: { id: 1 } }],
      ['snapshot without nodeId', { type: 'snapshot' }],
      ['snapshot with a boolean nodeId', { type: 'snapshot', nodeId: true }],
      ['runExclusive without nodeId', { type: 'runExclusive', operation: () => 1 }],
    ];
    const wrong: string[] = [];
    for (const [label, message] of cases) {
      const reply = await askRaw(f.conductor, message);
      assert.ok(reply.isErr(), `${label}: expected an error reply`);
      if (!(reply.error instanceof MalformedMessage)) wrong.push(`${label}: ${(reply.error as Error).name}`);
      await stillServes(f.conductor, node);
    }
    assert.deepEqual(wrong, [], 'every one is a MalformedMessage');
  });

  const unknownNode: [string, () => ConductorMessage][] = [
    ['acquireLease', () => acquireLease(9999)],
    ['acquireLease (shared) by name', () => acquireLease('no-such-node', { shared: true })],
    ['snapshot by id', () => ({ type: 'snapshot', nodeId: 9999 })],
    ['snapshot by uuid', () => ({ type: 'snapshot', nodeId: randomUUID() })],
    ['snapshot by name', () => ({ type: 'snapshot', nodeId: 'no-such-node' })],
    ['runExclusive', () => ({ type: 'runExclusive', nodeId: 9999, operation: () => 'ran' })],
    ['processEvent', () => ({ type: 'processEvent', nodeId: 9999, event: 'manage' })],
  ];
  for (const [label, message] of unknownNode) {
    it(`NodeNotFound for ${label} of an unknown node`, async () => {
      const error = await errorOf(ask(f.conductor, message()), NodeNotFound);
      assert.equal(error.status, 404);
      await stillServes(f.conductor, node);
    });
  }

  it('LeaseNotFound for a wrong or already released lease id', async () => {
    await errorOf(ask(f.conductor, releaseLease('no-such-lease')), LeaseNotFound);
    await stillServes(f.conductor, node);
    await errorOf(ask(f.conductor, processEvent('manage', { leaseId: 'no-such-lease' })), LeaseNotFound);
    await stillServes(f.conductor, node);
    const grant = await okValue(ask(f.conductor, acquireLease(node.id)));
    await okValue(ask(f.conductor, releaseLease(grant.leaseId)));
    const stale = await errorOf(ask(f.conductor, releaseLease(grant.leaseId)), LeaseNotFound);
    assert.equal(stale.status, 404);
    await errorOf(ask(f.conductor, processEvent('manage', { leaseId: grant.leaseId })), LeaseNotFound);
    await stillServes(f.conductor, node);
    assert.equal((await f.stored(node.id)).provision_state, 'available');
  });

  it('answers many interleaved good and bad messages, each with its own reply', async () => {
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0 ? askRaw(f.conductor, { type: 'nonsense', i }) : ask(f.conductor, snapshotOf(i % 3 === 1 ? node.id : 'known')),
      ),
    );
    replies.forEach((reply, i) => {
      if (i % 3 === 0) assert.ok(reply.isErr() && reply.error instanceof MalformedMessage, `reply ${i}`);
      else assert.ok(reply.isOk() && reply.value.id === node.id, `reply ${i}`);
    });
  });
});
