/**
 * A hardware type (Ironic `AbstractHardwareType`): a family of machines with, per interface type,
 * the ordered list of implementation names it supports. Order matters: the first supported
 * implementation that is enabled is the computed default.
 */
import { INTERFACE_TYPES, type InterfaceType } from '../node.js';

/** A hardware type. */
export interface HardwareType {
  /** Entry-point name, matched against `node.driver`, e.g. `ipmi`. */
  readonly name: string;
  /** Supported implementation names per interface type, in order of preference. */
  readonly supported: Readonly<Record<InterfaceType, readonly string[]>>;
  /**
   * Accept any enabled implementation, not only the supported ones (Ironic special-cases
   * `fake-hardware` this way; `supported` then only drives the defaults). Default false.
   */
  readonly acceptsAnyEnabled?: boolean;
}

/** Supported lists for a hardware type; missing interface types support nothing. */
export type SupportedLists = Partial<Record<InterfaceType, readonly string[]>>;

/** A deeply frozen hardware type; interface types not in `supported` get an empty list. */
export function defineHardwareType(name: string, supported: SupportedLists, acceptsAnyEnabled = false): HardwareType {
  const lists = {} as Record<InterfaceType, readonly string[]>;
  for (const type of INTERFACE_TYPES) lists[type] = Object.freeze([...(supported[type] ?? [])]);
  return Object.freeze({ name, supported: Object.freeze(lists), acceptsAnyEnabled });
}
