/**
 * Type test of the public surface (checked by `tsc --noEmit`, which `npm test` runs): it imports
 * only the package entries, as a consumer does. Every `@ts-expect-error` line must not compile; if
 * one ever compiles, tsc reports "Unused '@ts-expect-error' directive" and the test run fails.
 */
import { err, ok } from 'neverthrow';
import { Registry, type OpenMetricsContentType, type RegistryContentType } from 'prom-client';
import {
  Conductor,
  createRequestContext,
  InvalidState,
  NodeLocked,
  orThrow,
  type AcquireError,
  type ExclusiveTask,
  type NodeRecord,
  type ProvisionEvent,
  type ProvisionState,
  type SpawnError,
  type SpawnHandle,
  type StoreError,
} from '../../actors/index.js';
import { actorSystemOf, subscribeActor, type LeaseGrant, type ConductorMessage } from '../../actors/actors-entry.js';
// @ts-expect-error the runtime behind a conductor is not exported
import { ActorRuntime } from '../../actors/index.js';
// @ts-expect-error the store is internal: the conductor is its only writer
import { openSqlJsStore } from '../../actors/index.js';
// @ts-expect-error the driver registry is internal (pass its options to Conductor.open)
import { DriverRegistry } from '../../actors/index.js';
// @ts-expect-error the state machine class is internal (a task moves it with processEvent)
import { FSM } from '../../actors/index.js';

declare const conductor: Conductor;
declare const task: ExclusiveTask;
declare const node: NodeRecord;
const ctx = createRequestContext();

export function removedPathsDoNotCompile(): void {
  // @ts-expect-error no store on a Conductor: nothing may write a row behind its snapshot
  void conductor.store;
  // @ts-expect-error no runtime on a Conductor (actors use actorSystemOf from metal-conductor/actors)
  void conductor.runtime;
  // @ts-expect-error no root ref on a Conductor (actorSystemOf(conductor).conductor)
  void conductor.ref;
  // @ts-expect-error no driver registry on a Conductor
  void conductor.drivers;
  // @ts-expect-error subscribeActor moved to metal-conductor/actors
  void conductor.subscribeActor;
  // @ts-expect-error onDeadLetter moved to metal-conductor/actors
  void conductor.onDeadLetter;
  void [ActorRuntime, openSqlJsStore, DriverRegistry, FSM];
}

export async function eventsAndStatesAreLiteralUnions(): Promise<void> {
  // @ts-expect-error a misspelt event does not compile
  await task.processEvent('mangae');
  await task.processEvent('manage');
  // @ts-expect-error a misspelt target state does not compile
  await task.processEvent('provide', { targetState: 'availabel' });
  const state: ProvisionState = node.provision_state;
  // @ts-expect-error provision_state is a union of the 30 states, not any string
  const notAState: 'installed' = node.provision_state;
  const event: ProvisionEvent = 'deploy';
  void [state, notAState, event];
}

export async function withTaskNeverNests(): Promise<void> {
  class Mine extends Error {}
  const value = await conductor.withTask(ctx, 1, {}, (t) => (t.node.maintenance ? err(new Mine()) : ok(t.node.uuid)));
  if (value.isOk()) {
    const uuid: string = value.value; // the body's Ok value, not a Result
    void uuid;
  } else {
    // The body's own error type is part of the union, beside the acquire errors...
    const mine: typeof value.error = new Mine();
    const locked: typeof value.error = new NodeLocked('n', { host: 'h' });
    // @ts-expect-error ...so it is not only the acquire errors.
    const onlyAcquire: AcquireError | StoreError = value.error;
    void [mine, locked, onlyAcquire, InvalidState];
  }
  const saved = await conductor.withTask(ctx, 1, {}, (t) => t.processEvent('manage'));
  if (saved.isOk()) {
    const record: NodeRecord = saved.value;
    // @ts-expect-error the value is the node, not a nested Result
    void saved.value.isOk;
    void record;
  }
  const plain = await orThrow(conductor.withTask(ctx, 1, {}, async () => 42));
  const n: number = plain;
  void n;
}

export function spawnAfterReturnsAHandle(): void {
  const handle: SpawnHandle = task.spawnAfter(
    async (t: ExclusiveTask, count: number) => void (await t.processEvent('done', { lastError: `${count}` })),
    3,
  );
  void handle.done.map(() => 'finished').mapErr((error: SpawnError) => error.code);
}

export async function inlineProtocolMessagesHaveTypedReplies(): Promise<void> {
  const system = actorSystemOf(conductor);
  const grant = await system.ask(system.conductor, { type: 'acquireLease', nodeId: 1, purpose: 'actor work' }, { timeoutMs: 1000 });
  if (grant.isOk()) {
    const typed: LeaseGrant = grant.value;
    // @ts-expect-error the reply of acquireLease is a LeaseGrant, not a number
    const wrong: number = grant.value;
    void [typed, wrong];
  }
  const snapshot = await system.ask(system.conductor, { type: 'snapshot', nodeId: 'rack1-u07' }, { timeoutMs: 1000 });
  if (snapshot.isOk()) void (snapshot.value satisfies NodeRecord);
  // @ts-expect-error not a message of the protocol
  void system.ask(system.conductor, { type: 'acquireLeas', nodeId: 1 }, { timeoutMs: 1000 });
  const message: ConductorMessage = { type: 'status' };
  void message;
  void subscribeActor;
}

export async function openChecksOptionNames(): Promise<void> {
  // @ts-expect-error an unknown option does not compile (and is InvalidParameterValue at run time)
  await Conductor.open({ nodeLockedRetryIntervall: 5 });
  // @ts-expect-error a Store instance is not an option: the conductor owns its store
  await Conductor.open({ store: { reserve: () => null } });
  const opened = await Conductor.open({ store: { path: './x.sqlite', durability: 'batched' } });
  if (opened.isErr()) void (opened.error.code satisfies 'InvalidParameterValue' | 'StoreCorrupt' | 'StoreInUse' | 'StoreError');
  const locked = new NodeLocked('n', { host: 'h' });
  void (locked.status satisfies number);
}

export async function statusServerOption(): Promise<void> {
  const opened = await Conductor.open({ statusServer: { host: '127.0.0.1', port: 0 } });
  if (opened.isOk()) {
    void (opened.value.statusServerUrl satisfies string | null);
    // @ts-expect-error the URL is read-only
    opened.value.statusServerUrl = 'http://example.invalid';
  }
  // @ts-expect-error the port is a number
  await Conductor.open({ statusServer: { port: '8080' } });
}

export async function metricsOption(): Promise<void> {
  const registry = new Registry();
  const opened = await Conductor.open({ metrics: { registry } });
  if (opened.isOk()) void (opened.value.metricsRegistry satisfies Registry<RegistryContentType>);
  // A registry in OpenMetrics mode is accepted too.
  const openMetrics = new Registry<OpenMetricsContentType>();
  await Conductor.open({ metrics: { registry: openMetrics } });
  // @ts-expect-error the registry is a prom-client Registry
  await Conductor.open({ metrics: { registry: {} } });
}
