/**
 * Delivers notifications to subscribers. A subscriber that throws (or rejects) is logged and
 * never breaks the task that emitted the notification or the other subscribers.
 */
import { NOTIFICATION_LEVELS, type NotificationLevel } from '../config.js';
import type { Logger } from '../logging.js';
import type { ProvisionSetNotification } from './notification.js';

/** A notification subscriber. */
export type NotificationSubscriber = (notification: ProvisionSetNotification) => void | Promise<void>;

/** Fan-out of notifications with a level threshold (`null` delivers nothing, as Ironic's unset level). */
export class NotificationBus {
  readonly #subscribers = new Set<NotificationSubscriber>();
  readonly #threshold: number;
  readonly #log: Logger;
  #delivered = 0;
  #failures = 0;

  constructor(level: NotificationLevel | null, logger: Logger) {
    this.#threshold = level === null ? Number.POSITIVE_INFINITY : NOTIFICATION_LEVELS.indexOf(level);
    this.#log = logger;
  }

  /** Subscribe; returns an unsubscribe function. */
  subscribe(subscriber: NotificationSubscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => {
      this.#subscribers.delete(subscriber);
    };
  }

  /** True if a notification of `level` would reach at least one subscriber (skip building it otherwise). */
  wants(level: NotificationLevel): boolean {
    return this.#subscribers.size > 0 && NOTIFICATION_LEVELS.indexOf(level) >= this.#threshold;
  }

  /** Deliver to every subscriber if the level passes the threshold. Never throws. */
  emit(notification: ProvisionSetNotification): void {
    if (NOTIFICATION_LEVELS.indexOf(notification.level) < this.#threshold) return;
    for (const subscriber of this.#subscribers) {
      try {
        const pending = subscriber(notification);
        if (pending && typeof pending.then === 'function') {
          pending.then(undefined, (error: unknown) => this.#failed(error, notification));
        }
        this.#delivered += 1;
      } catch (error) {
        this.#failed(error, notification);
      }
    }
  }

  /** Deliveries and subscriber failures so far. */
  get stats(): { delivered: number; failures: number; subscribers: number } {
    return { delivered: this.#delivered, failures: this.#failures, subscribers: this.#subscribers.size };
  }

  #failed(error: unknown, notification: ProvisionSetNotification): void {
    this.#failures += 1;
    this.#log.warn({ err: error, event_type: notification.eventType, node: notification.payload.uuid }, 'notification subscriber failed');
  }
}
