/**
 * Request context (Ironic's RequestContext): who asked and under which request id. It is carried
 * with AsyncLocalStorage into background workers and into every log line.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** Who made a request. */
export interface RequestContext {
  /** Request id, `req-<uuid>` as Ironic's. */
  readonly requestId: string;
  readonly user?: string | null;
  readonly project?: string | null;
  readonly roles: readonly string[];
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Build a request context; a request id is generated when not given. */
export function createRequestContext(fields: Partial<RequestContext> = {}): RequestContext {
  return Object.freeze({
    requestId: fields.requestId ?? `req-${randomUUID()}`,
    user: fields.user ?? null,
    project: fields.project ?? null,
    roles: Object.freeze([...(fields.roles ?? [])]),
  });
}

/** The admin context used by the conductor's own work (periodic tasks, recovery). */
export function adminContext(): RequestContext {
  return createRequestContext({ user: 'admin', roles: ['admin'] });
}

/** Run `fn` with `ctx` as the current request context (also inside anything it awaits). */
export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current request context, if any. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}
