/**
 * `metal-conductor/actors`: what other actors need to talk to a conductor — its actor system view
 * (root reference, typed asks, actors of your own), notifications as messages, and the message
 * protocol with its reply types.
 */
export { actorSystemOf, subscribeActor, type ConductorActorSystem } from './actor-system.js';
export type {
  AcquireLeaseMessage,
  ConductorMessage,
  LeaseGrant,
  MessageContext,
  ProcessEventMessage,
  ReleaseLeaseMessage,
  RunExclusiveMessage,
  SnapshotMessage,
  StatusMessage,
} from './conductor-protocol.js';
export type {
  ActorContext,
  ActorRef,
  AnyActorRef,
  Ask,
  AskOptions,
  Behavior,
  DeadLetter,
  ErrorOf,
  ErrorTo,
  MessageOf,
  Replier,
  ReplyOf,
  ReplyTo,
  SupervisionDecision,
} from './runtime.js';
