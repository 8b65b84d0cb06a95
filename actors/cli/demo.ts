/**
 * `npm start` (until the fleet CLI lands): provisions a few nodes through Ironic's real path with
 * real tasks and prints what happened. Each long step runs in a background worker through the
 * fake drivers, with random durations and an injected failure rate; meanwhile a reader takes
 * shared tasks (never blocked) and an impatient client tries `retry: false` exclusive tasks.
 *
 *   npm start -- --nodes 8 --failure-rate 0.2 --seed 7
 */
import { parseArgs } from 'node:util';
import { Conductor } from '../conductor.ts';
import { createLogger } from '../../src/logging.ts';
import { createRequestContext } from '../../src/context.ts';
import { NodeLocked } from '../../src/errors.ts';
import { FAKE_CLEAN_STEPS, seededRandom } from '../../src/drivers/index.ts';
import type { ExclusiveTask } from '../../src/task/types.ts';
import { orThrow } from '../../src/task/scope.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5' },
    'failure-rate': { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '42' },
    db: { type: 'string' },
  },
});
const nodeCount = Number(values.nodes);
const failureRate = Number(values['failure-rate']);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || !(failureRate >= 0 && failureRate <= 1)) {
  console.error('usage: npm start -- [--nodes N>=1] [--failure-rate 0..1] [--seed N] [--db FILE]');
  process.exit(2);
}


const started = Date.now();
const conductor = await orThrow(
  Conductor.open({
    logger: createLogger({ level: process.env.METAL_CONDUCTOR_LOG_LEVEL ?? 'silent' }),
    store: values.db ? { path: values.db } : {},
    nodeLockedRetryInterval: 100,
    drivers: { fakeBehaviour: { delayMs: { min: 20, max: 120 }, failureRate, random: seededRandom(Number(values.seed)) } },
  }),
);
const ctx = createRequestContext({ user: 'demo', project: 'metal' });
const stamp = (): string => `${String(Date.now() - started).padStart(5)} ms`;
conductor.subscribe((n) => {
  const p = n.payload;
  console.log(`${stamp()}  ${(p.name ?? p.uuid).padEnd(8)} ${n.eventType.padEnd(36)} ${p.previous_provision_state} → ${p.provision_state}`);
});

// ---- background work, run by workers that hold the node's lock ------------------------------

async function verify(task: ExclusiveTask): Promise<void> {
  const driver = task.driver!;
  try {
    await driver.management.validate(task);
    const power = await driver.power.getPowerState(task);
    await task.updateNode((d) => void (d.power_state = power));
    await orThrow(task.processEvent('done'));
  } catch (error) {
    await orThrow(task.processEvent('fail', { lastError: `Verification failed: ${(error as Error).message}` }));
  }
}

async function startCleaning(task: ExclusiveTask): Promise<void> {
  try {
    await task.driver!.deploy.prepareCleaning(task);
    await orThrow(task.processEvent('wait')); // the ramdisk will call back
  } catch (error) {
    await orThrow(task.processEvent('fail', { lastError: `Cleaning failed: ${(error as Error).message}` }));
  }
}

async function runCleanSteps(task: ExclusiveTask): Promise<void> {
  try {
    for (const step of FAKE_CLEAN_STEPS) await task.driver!.deploy.executeCleanStep(task, step);
    await orThrow(task.processEvent('done'));
  } catch (error) {
    await orThrow(task.processEvent('fail', { lastError: `Clean step failed: ${(error as Error).message}` }));
  }
}

async function startDeploy(task: ExclusiveTask): Promise<void> {
  try {
    await task.driver!.deploy.deploy(task);
    await orThrow(task.processEvent('wait'));
  } catch (error) {
    await orThrow(task.processEvent('fail', { lastError: `Deploy failed: ${(error as Error).message}` }));
  }
}

async function finishDeploy(task: ExclusiveTask): Promise<void> {
  await task.driver!.power.setPowerState(task, 'power on');
  await task.updateNode((d) => void (d.power_state = 'power on'));
  await orThrow(task.processEvent('done'));
}

// ---- the conductor side: API calls and agent callbacks ----------------------------------------

const settle = (): Promise<void> => conductor.onIdle();

async function provision(name: string): Promise<void> {
  const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', name }, [`52:54:00:00:00:${name.slice(-2)}`]));
  const step = async (purpose: string, run: (task: ExclusiveTask) => unknown, patient = false): Promise<string> => {
    await orThrow(conductor.withTask(ctx, node.id, { purpose, patient }, run));
    await settle();
    return (await orThrow(conductor.snapshot(node.id))).provision_state;
  };
  if ((await step('manage', (t) => t.processEvent('manage', { callback: verify }))) !== 'manageable') return;
  if ((await step('provide', (t) => t.processEvent('provide', { callback: startCleaning }))) !== 'clean wait') return;
  // The ramdisk's callback: continue cleaning (patient, as Ironic's continue_node_clean).
  const resumed = await step('continue cleaning', async (t) => {
    await orThrow(t.resumeCleaning());
    t.spawnAfter(runCleanSteps);
  }, true);
  if (resumed !== 'available') return;
  if ((await step('deploy', (t) => t.processEvent('deploy', { callback: startDeploy }))) !== 'wait call-back') return;
  await step('continue deploy', (t) => t.processEvent('resume', { callback: finishDeploy }), true);
}

// Concurrent clients: a reader that never waits, and an impatient writer that gets NodeLocked.
let sharedReads = 0;
let impatientLocked = 0;
let running = true;
const clients = (async () => {
  while (running) {
    for (const { id } of conductor.status().nodes) {
      const read = await conductor.withTask(ctx, id, { shared: true, purpose: 'power sync' }, (t) => t.node.power_state);
      if (read.isOk()) sharedReads += 1;
      const poke = await conductor.withTask(ctx, id, { retry: false, purpose: 'impatient update' }, (t) =>
        t.updateNode((d) => void (d.extra = { ...d.extra, touched: Date.now() })),
      );
      if (poke.isErr() && poke.error instanceof NodeLocked) impatientLocked += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
})();

const names = Array.from({ length: nodeCount }, (_, i) => `node-${String(i + 1).padStart(2, '0')}`);
await Promise.all(names.map((name) => provision(name)));
running = false;
await clients;

console.log('\nnode      provision state   power      last_error');
for (const name of names) {
  const n = await orThrow(conductor.snapshot(name));
  console.log(`${name.padEnd(9)} ${n.provision_state.padEnd(17)} ${String(n.power_state).padEnd(10)} ${n.last_error ?? ''}`);
}
const status = conductor.status();
console.log(
  `\n${nodeCount} nodes in ${Date.now() - started} ms · workers ok/failed ${status.workers.completed}/${status.workers.failed}` +
    ` · shared reads ${sharedReads} (never blocked) · NodeLocked for retry:false clients ${impatientLocked}` +
    ` · notifications ${status.notifications.delivered} · dead letters ${status.deadLetters}`,
);
await conductor.stop();
