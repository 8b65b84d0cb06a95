/**
 * The actor-facing view of a conductor (`metal-conductor/actors`): the root actor's reference, typed
 * asks and tells, and actors of your own under `conductor/user`. It is deliberately narrower than
 * the runtime behind it: it cannot reach node actors, workers or the store, and it stops only the
 * actors it spawned, so no message path can change a node behind its actor.
 */
import { err, ok, type Result, type ResultAsync } from 'neverthrow';
import { type Aborted, type ActorStopped, type AskTimeout, ConductorStopping, InvalidParameterValue } from '../src/errors.js';
import type { ProvisionSetNotification } from '../src/notifications/notification.js';
import { conductorInternals, type Conductor } from './conductor.js';
import type { ConductorMessage } from './conductor-protocol.js';
import type { ActorRef, AnyActorRef, AskOptions, Behavior, DeadLetter, ErrorTo, ReplyTo } from './runtime.js';

/** The actors of one conductor, as other actors see them. */
export interface ConductorActorSystem {
  /** The conductor's root actor: ask it the `ConductorMessage` protocol. */
  readonly conductor: ActorRef<ConductorMessage>;
  /**
   * Send `message` and wait for the reply, typed by the message (`{ type: 'acquireLease', … }` →
   * `LeaseGrant`). Err: the error the actor answered, `AskTimeout` after `timeoutMs`,
   * `ActorStopped` if the actor is (or becomes) stopped, `Aborted` if `signal` aborts.
   */
  ask<M, const Q extends M>(
    ref: ActorRef<M>,
    message: Q,
    options: AskOptions,
  ): ResultAsync<ReplyTo<M, Q>, ErrorTo<M, Q> | AskTimeout | ActorStopped | Aborted>;
  /** Send without waiting; false if the actor is stopped (the message becomes a dead letter). */
  tell<M>(ref: ActorRef<M>, message: M): boolean;
  /** Spawn an actor of yours under `conductor/user/<name>` (names unique while alive). */
  spawn<S, M>(name: string, behavior: Behavior<S, M>): Result<ActorRef<M>, InvalidParameterValue | ConductorStopping>;
  /** Stop an actor spawned here (and its queued messages become dead letters). Other references are a TypeError. */
  stop(ref: AnyActorRef): void;
  /** Subscribe to dead letters (messages to stopped actors); returns an unsubscribe function. */
  onDeadLetter(subscriber: (letter: DeadLetter) => void): () => void;
}

const SYSTEMS = new WeakMap<Conductor, ConductorActorSystem>();
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The actor-facing view of `conductor` (one per conductor). */
export function actorSystemOf(conductor: Conductor): ConductorActorSystem {
  let system = SYSTEMS.get(conductor);
  if (system === undefined) {
    system = createSystem(conductor);
    SYSTEMS.set(conductor, system);
  }
  return system;
}

/** Deliver provision_set notifications to `ref` as messages; returns an unsubscribe function. */
export function subscribeActor(conductor: Conductor, ref: ActorRef<ProvisionSetNotification>): () => void {
  const { bus, runtime } = conductorInternals(conductor);
  return bus.subscribe((notification) => {
    runtime.tell(ref, notification);
  });
}

function createSystem(conductor: Conductor): ConductorActorSystem {
  const { runtime, ref, userRoot } = conductorInternals(conductor);
  const mine = new WeakSet<AnyActorRef>();
  return Object.freeze({
    conductor: ref,
    ask: (target, message, options) => runtime.ask(target, message, options),
    tell: (target, message) => runtime.tell(target, message),
    spawn<S, M>(name: string, behavior: Behavior<S, M>): Result<ActorRef<M>, InvalidParameterValue | ConductorStopping> {
      if (typeof name !== 'string' || !NAME.test(name)) {
        return err(new InvalidParameterValue(`actor name must match ${NAME.source}, got ${String(name)}`, { name: String(name) }));
      }
      if (!userRoot.alive) return err(new ConductorStopping());
      try {
        const spawned = runtime.spawn(userRoot, name, behavior);
        mine.add(spawned);
        return ok(spawned);
      } catch (error) {
        // nact refuses a second live child of the same name.
        return err(new InvalidParameterValue(`an actor named ${name} already exists`, { name, cause: String(error) }));
      }
    },
    stop(target: AnyActorRef): void {
      if (!mine.has(target)) throw new TypeError(`${target.path} was not spawned through this actor system`);
      runtime.stop(target);
    },
    onDeadLetter: (subscriber) => runtime.onDeadLetter(subscriber),
  } satisfies ConductorActorSystem);
}
