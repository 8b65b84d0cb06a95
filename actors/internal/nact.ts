/**
 * The only module that imports nact. nact is CommonJS with hand-written, drifting typings, so the
 * few calls we make are typed here once (actor-runtime-notes.md §1.7).
 */
import nact from 'nact';

/** An opaque nact reference. */
export type NactRef = { readonly path: { toString(): string }; readonly name: string };

/** The context nact passes to handlers and supervision callbacks. */
export interface NactContext {
  readonly self: NactRef;
  readonly name: string;
  readonly stop: symbol;
}

/** nact actor properties we use. */
export interface NactProps<S> {
  initialState: S;
  onCrash: (msg: unknown, error: unknown, ctx: NactContext) => symbol;
  afterStop: (state: S, ctx: NactContext) => void;
}

type Handler<S> = (state: S, msg: unknown, ctx: NactContext) => S | Promise<S>;

const api = nact as unknown as {
  start(options: { name: string }): NactRef;
  spawn<S>(parent: NactRef, f: Handler<S>, name: string, props: NactProps<S>): NactRef;
  dispatch(ref: NactRef, msg: unknown): void;
  stop(ref: NactRef): void;
};

export const startSystem = (name: string): NactRef => api.start({ name });
export const spawnActor = <S>(parent: NactRef, f: Handler<S>, name: string, props: NactProps<S>): NactRef =>
  api.spawn(parent, f, name, props);
export const dispatch = (ref: NactRef, msg: unknown): void => api.dispatch(ref, msg);
export const stopActor = (ref: NactRef): void => api.stop(ref);
