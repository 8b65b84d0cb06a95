/**
 * Type test (checked by `tsc --noEmit`, which `npm test` runs first): exclusive-only operations are
 * not callable on a shared task. Every `@ts-expect-error` line must be a compile error; if one of
 * them ever compiles, tsc reports "Unused '@ts-expect-error' directive" and the test run fails.
 */
import type { Conductor } from '../../actors/conductor.js';
import type { RequestContext } from '../../src/context.js';
import { requireExclusive } from '../../src/task/require-exclusive.js';
import type { ExclusiveTask, SharedTask, Task } from '../../src/task/types.js';

declare const conductor: Conductor;
declare const ctx: RequestContext;

export async function sharedTaskCannotWrite(): Promise<void> {
  const shared = (await conductor.acquire(ctx, 1, { shared: true }))._unsafeUnwrap();
  const typed: SharedTask = shared;
  // @ts-expect-error processEvent needs the exclusive lock
  await typed.processEvent('manage');
  // @ts-expect-error updateNode needs the exclusive lock
  await typed.updateNode((draft) => void (draft.extra = {}));
  // @ts-expect-error spawnAfter needs the exclusive lock
  typed.spawnAfter(async () => {});
  // @ts-expect-error setSpawnErrorHook needs the exclusive lock
  typed.setSpawnErrorHook(() => {});
  // @ts-expect-error resumeCleaning needs the exclusive lock
  await typed.resumeCleaning();
  // @ts-expect-error destroyNode needs the exclusive lock
  await typed.destroyNode();
  // @ts-expect-error downgradeLock only exists on an exclusive task
  await typed.downgradeLock();
  // @ts-expect-error a shared task is not an ExclusiveTask
  const notExclusive: ExclusiveTask = typed;
  void notExclusive;

  // Reading is fine, and upgrading gives an exclusive task that can write.
  void typed.node.provision_state;
  const upgraded = (await typed.upgradeLock({ purpose: 'write' }))._unsafeUnwrap();
  await upgraded.processEvent('manage');
}

export async function withTaskTypesTheBody(): Promise<void> {
  await conductor.withTask(ctx, 1, { shared: true }, async (task) => {
    // @ts-expect-error the body of a shared withTask gets a SharedTask
    await task.processEvent('manage');
  });
  await conductor.withTask(ctx, 1, { purpose: 'ok' }, async (task) => {
    await task.processEvent('manage');
    task.spawnAfter(async (t: ExclusiveTask, count: number) => void (await t.processEvent('done', { lastError: `after ${count}` })), 3);
    // @ts-expect-error spawnAfter checks the arguments against the work function
    task.spawnAfter(async (_t: ExclusiveTask, count: number) => void count, 'three');
  });
}

export function requireExclusiveRejectsSharedTasks(task: Task, shared: SharedTask, exclusive: ExclusiveTask): void {
  const powerOn = requireExclusive((t: ExclusiveTask, state: string) => `${t.node.uuid} ${state}`);
  powerOn(exclusive, 'power on');
  // @ts-expect-error a driver-style function decorated with requireExclusive takes an exclusive task
  powerOn(shared, 'power on');
  // @ts-expect-error an unnarrowed task may be shared
  powerOn(task, 'power on');
  if (!task.shared) powerOn(task, 'power on'); // narrowed by the `shared` literal
}
