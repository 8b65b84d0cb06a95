/**
 * DriverRegistry: the hardware types and interface implementations this conductor knows, which of
 * them are enabled, and the configured defaults: Ironic's driver factories plus the
 * `[DEFAULT]enabled_hardware_types`, `enabled_<iface>_interfaces` and `default_<iface>_interface`
 * options. It answers Ironic's lookups (get_hardware_type, get_interface, default_interface) with
 * Ironic's errors. Create it with createDriverRegistry (validates the options).
 */
import { err, ok, type Result } from 'neverthrow';
import {
  DriverNotFound,
  IncompatibleInterface,
  InterfaceNotFoundInEntrypoint,
  InvalidParameterValue,
  NoValidDefaultForInterface,
} from '../errors.js';
import { INTERFACE_TYPES, type InterfaceType } from '../node.js';
import { createBuiltinImplementations } from './fake/builtin-implementations.js';
import type { FakeBehaviour, ResolvedFakeBehaviour } from './fake/fake-behaviour.js';
import { FakeEngine } from './fake/fake-engine.js';
import { FAKE_HARDWARE } from './fake/fake-hardware.js';
import type { HardwareType } from './hardware-type.js';
import type { AnyDriverInterface, InterfaceMap } from './interfaces.js';
import { IRONIC_HARDWARE_TYPES } from './ironic-hardware-types.js';

/** Options of createDriverRegistry. Every field is optional. */
export interface DriverRegistryOptions {
  /**
   * Enabled hardware types (Ironic `enabled_hardware_types`). Default `['fake-hardware',
   * 'manual-management']` plus the names of `hardwareTypes`. Must not be empty.
   */
  enabledHardwareTypes?: readonly string[];
  /** Enabled implementations per interface type (`enabled_<iface>_interfaces`). Default: every registered one. */
  enabledInterfaces?: Partial<Record<InterfaceType, readonly string[]>>;
  /** Configured default per interface type (`default_<iface>_interface`); must be enabled. Default: none (computed). */
  defaultInterfaces?: Partial<Record<InterfaceType, string>>;
  /** Behaviour of the fake implementations. Default: instant, never failing. */
  fakeBehaviour?: FakeBehaviour;
  /** Extra hardware types, registered before the options are validated. Default []. */
  hardwareTypes?: readonly HardwareType[];
  /** Extra implementations, registered before the options are validated. Default []. */
  implementations?: readonly AnyDriverInterface[];
}

/** Options of registerHardwareType / registerInterface. */
export interface RegisterOptions {
  /** Enable it at once. Default true. */
  enable?: boolean;
}

/** Hardware types enabled when the option is not given. */
export const DEFAULT_ENABLED_HARDWARE_TYPES: readonly string[] = Object.freeze(['fake-hardware', 'manual-management']);

interface HardwareEntry {
  readonly type: HardwareType;
  readonly supported: Readonly<Record<InterfaceType, ReadonlySet<string>>>;
}

type Lists<T> = Record<InterfaceType, T>;

function perType<T>(make: () => T): Lists<T> {
  const lists = {} as Lists<T>;
  for (const type of INTERFACE_TYPES) lists[type] = make();
  return lists;
}

/** Names are used in cache keys with control-character separators, so those are refused. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const isName = (value: unknown): value is string => typeof value === 'string' && value !== '' && !/[\u0000-\u001f]/.test(value);

function invalid(option: string, message: string, value?: unknown): InvalidParameterValue {
  return new InvalidParameterValue(`${option} ${message}`, { option, value: value ?? null });
}

const isInterfaceType = (value: string): value is InterfaceType => (INTERFACE_TYPES as readonly string[]).includes(value);

/** Hardware types and interface implementations, what is enabled, and the defaults. */
export class DriverRegistry {
  #hardwareTypes = new Map<string, HardwareEntry>();
  #enabledHardwareTypes = new Set<string>();
  #implementations: Lists<Map<string, AnyDriverInterface>> = perType(() => new Map());
  /** Enabled names, in enabling order (the order Ironic reports "valid interfaces" in). */
  #enabled: Lists<Set<string>> = perType(() => new Set());
  #enabledLists: Lists<readonly string[]> = perType(() => Object.freeze([]));
  #defaults: Partial<Record<InterfaceType, string>> = {};
  #engine = new FakeEngine();
  #generation = 0;

  private constructor() {}

  /** Build a registry: built-ins, then the extras, then the validated options. */
  static create(options: DriverRegistryOptions = {}): Result<DriverRegistry, InvalidParameterValue> {
    if (typeof options !== 'object' || options === null) return err(invalid('options', 'must be an object', options));
    const registry = new DriverRegistry();
    const register: Result<void, InvalidParameterValue>[] = [
      ...[FAKE_HARDWARE, ...IRONIC_HARDWARE_TYPES].map((t) => registry.registerHardwareType(t, { enable: false })),
      ...createBuiltinImplementations(registry.#engine).map((i) => registry.registerInterface(i, { enable: false })),
      ...(options.hardwareTypes ?? []).map((t) => registry.registerHardwareType(t, { enable: false })),
      ...(options.implementations ?? []).map((i) => registry.registerInterface(i, { enable: false })),
    ];
    for (const result of register) if (result.isErr()) return err(result.error);

    return registry
      .#enableHardwareTypes(
        options.enabledHardwareTypes ?? [...DEFAULT_ENABLED_HARDWARE_TYPES, ...(options.hardwareTypes ?? []).map((t) => t.name)],
      )
      .andThen(() => registry.#enableInterfaces(options.enabledInterfaces ?? {}))
      .andThen(() => registry.#setDefaults(options.defaultInterfaces ?? {}))
      .andThen(() => registry.setFakeBehaviour(options.fakeBehaviour ?? {}))
      .map(() => registry);
  }

  /** Bumped by every change that can alter driver resolution (registering, enabling); caches key on it. */
  get generation(): number {
    return this.#generation;
  }

  /** The behaviour fake operations started from now on use. */
  get fakeBehaviour(): ResolvedFakeBehaviour {
    return this.#engine.behaviour;
  }

  /** Replace the fake behaviour (defaults filled for missing fields). Invalid → InvalidParameterValue, nothing changes. */
  setFakeBehaviour(behaviour: FakeBehaviour): Result<void, InvalidParameterValue> {
    return this.#engine.configure(behaviour);
  }

  /** Names of the enabled hardware types. */
  enabledHardwareTypeNames(): readonly string[] {
    return [...this.#enabledHardwareTypes];
  }

  /** Names of the enabled implementations of `interfaceType`, in enabling order. */
  enabledInterfaceNames(interfaceType: InterfaceType): readonly string[] {
    return this.#enabledLists[interfaceType];
  }

  /** The configured default for `interfaceType`, if any. */
  configuredDefault(interfaceType: InterfaceType): string | undefined {
    return this.#defaults[interfaceType];
  }

  /** Register a hardware type (enabled unless `enable: false`). A name already taken → InvalidParameterValue. */
  registerHardwareType(hardwareType: HardwareType, options: RegisterOptions = {}): Result<void, InvalidParameterValue> {
    const shape = checkHardwareType(hardwareType);
    if (shape) return err(shape);
    if (this.#hardwareTypes.has(hardwareType.name)) {
      return err(invalid('hardwareTypes', `already has a hardware type named "${hardwareType.name}"`, hardwareType.name));
    }
    const supported = {} as Record<InterfaceType, ReadonlySet<string>>;
    for (const type of INTERFACE_TYPES) supported[type] = new Set(hardwareType.supported[type]);
    this.#hardwareTypes.set(hardwareType.name, { type: hardwareType, supported });
    if (options.enable ?? true) this.#enabledHardwareTypes.add(hardwareType.name);
    this.#generation++;
    return ok(undefined);
  }

  /** Register an implementation (enabled unless `enable: false`). A (type, name) already taken → InvalidParameterValue. */
  registerInterface(implementation: AnyDriverInterface, options: RegisterOptions = {}): Result<void, InvalidParameterValue> {
    const { name, interfaceType } = (implementation ?? {}) as Partial<AnyDriverInterface>;
    if (typeof interfaceType !== 'string' || !isInterfaceType(interfaceType)) {
      return err(invalid('implementations', `needs an interfaceType among ${INTERFACE_TYPES.join(', ')}`, interfaceType));
    }
    if (!isName(name)) return err(invalid('implementations', 'needs a non-empty name without control characters', name));
    if (typeof implementation.validate !== 'function') {
      return err(invalid('implementations', `${interfaceType} "${name}" has no validate()`, name));
    }
    const registered = this.#implementations[interfaceType];
    if (registered.has(name)) {
      return err(invalid('implementations', `already has a ${interfaceType} interface named "${name}"`, name));
    }
    registered.set(name, implementation);
    if (options.enable ?? true) this.#enable(interfaceType, [name]);
    this.#generation++;
    return ok(undefined);
  }

  /** An enabled hardware type by name (Ironic get_hardware_type). Unknown or disabled → DriverNotFound. */
  getHardwareType(name: string): Result<HardwareType, DriverNotFound> {
    const entry = this.#enabledHardwareTypes.has(name) ? this.#hardwareTypes.get(name) : undefined;
    return entry ? ok(entry.type) : err(new DriverNotFound(name));
  }

  /**
   * The enabled implementation `name` of `interfaceType`, checked against `hardwareType` (Ironic
   * get_interface). Not enabled → InterfaceNotFoundInEntrypoint listing the enabled names; not supported by
   * the hardware type (unless it accepts any enabled one) → IncompatibleInterface.
   */
  getInterface<T extends InterfaceType>(
    hardwareType: HardwareType,
    interfaceType: T,
    name: string,
  ): Result<InterfaceMap[T], InterfaceNotFoundInEntrypoint | IncompatibleInterface> {
    const found = this.#lookup(hardwareType, interfaceType, name);
    return found instanceof Error ? err(found) : ok(found as InterfaceMap[T]);
  }

  /**
   * The default implementation name of `interfaceType` for `hardwareType` (Ironic default_interface):
   * the configured default, else the first supported implementation that is enabled. A configured
   * default the hardware type does not support, or no candidate → NoValidDefaultForInterface.
   */
  defaultInterface(
    hardwareType: HardwareType,
    interfaceType: InterfaceType,
    node: string,
  ): Result<string, InterfaceNotFoundInEntrypoint | NoValidDefaultForInterface> {
    const found = this.#default(hardwareType, interfaceType, node);
    return typeof found === 'string' ? ok(found) : err(found);
  }

  /**
   * Lookup without Result allocation, for the build path: the implementation, or the error.
   * @internal
   */
  lookupInterface(
    hardwareType: HardwareType,
    interfaceType: InterfaceType,
    name: string,
  ): AnyDriverInterface | InterfaceNotFoundInEntrypoint | IncompatibleInterface {
    return this.#lookup(hardwareType, interfaceType, name);
  }

  /**
   * defaultInterface without Result allocation, for the build path.
   * @internal
   */
  lookupDefault(
    hardwareType: HardwareType,
    interfaceType: InterfaceType,
    node: string,
  ): string | InterfaceNotFoundInEntrypoint | NoValidDefaultForInterface {
    return this.#default(hardwareType, interfaceType, node);
  }

  #lookup(
    hardwareType: HardwareType,
    interfaceType: InterfaceType,
    name: string,
  ): AnyDriverInterface | InterfaceNotFoundInEntrypoint | IncompatibleInterface {
    const impl = this.#enabled[interfaceType].has(name) ? this.#implementations[interfaceType].get(name) : undefined;
    if (impl === undefined) return new InterfaceNotFoundInEntrypoint(name, interfaceType, this.#enabledLists[interfaceType]);
    if (hardwareType.acceptsAnyEnabled) return impl;
    const supported =
      this.#hardwareTypes.get(hardwareType.name)?.supported[interfaceType] ?? new Set(hardwareType.supported[interfaceType]);
    if (!supported.has(name)) {
      return new IncompatibleInterface(interfaceType, name, hardwareType.name, hardwareType.supported[interfaceType]);
    }
    return impl;
  }

  #default(
    hardwareType: HardwareType,
    interfaceType: InterfaceType,
    node: string,
  ): string | InterfaceNotFoundInEntrypoint | NoValidDefaultForInterface {
    const configured = this.#defaults[interfaceType];
    if (configured !== undefined) {
      const found = this.#lookup(hardwareType, interfaceType, configured);
      if (found instanceof IncompatibleInterface) return new NoValidDefaultForInterface(interfaceType, hardwareType.name, node);
      return found instanceof InterfaceNotFoundInEntrypoint ? found : configured;
    }
    const enabled = this.#enabled[interfaceType];
    for (const candidate of hardwareType.supported[interfaceType]) {
      if (enabled.has(candidate)) return candidate;
    }
    return new NoValidDefaultForInterface(interfaceType, hardwareType.name, node);
  }

  #enable(interfaceType: InterfaceType, names: readonly string[]): void {
    for (const name of names) this.#enabled[interfaceType].add(name);
    this.#enabledLists[interfaceType] = Object.freeze([...this.#enabled[interfaceType]]);
  }

  #enableHardwareTypes(names: readonly string[]): Result<void, InvalidParameterValue> {
    if (!Array.isArray(names) || names.length === 0) {
      return err(invalid('enabledHardwareTypes', 'must be a non-empty list of hardware type names', names));
    }
    // Untyped callers can pass anything: check each element before trusting the list.
    for (const name of names as readonly unknown[]) {
      if (typeof name !== 'string' || !this.#hardwareTypes.has(name)) {
        return err(
          invalid(
            'enabledHardwareTypes',
            `names an unknown hardware type "${String(name)}"; known: ${[...this.#hardwareTypes.keys()].join(', ')}`,
            name,
          ),
        );
      }
    }
    for (const name of names as readonly string[]) this.#enabledHardwareTypes.add(name);
    this.#generation++;
    return ok(undefined);
  }

  #enableInterfaces(option: Partial<Record<InterfaceType, readonly string[]>>): Result<void, InvalidParameterValue> {
    if (typeof option !== 'object' || option === null) return err(invalid('enabledInterfaces', 'must be an object', option));
    for (const [type, names] of Object.entries(option)) {
      if (!isInterfaceType(type)) return err(invalid('enabledInterfaces', `has an unknown interface type "${type}"`, type));
      if (!Array.isArray(names)) return err(invalid(`enabledInterfaces.${type}`, 'must be a list of names', names));
      for (const name of names as unknown[]) {
        if (typeof name !== 'string' || !this.#implementations[type].has(name)) {
          return err(
            invalid(
              `enabledInterfaces.${type}`,
              `names an unknown ${type} interface "${String(name)}"; known: ${[...this.#implementations[type].keys()].join(', ')}`,
              name,
            ),
          );
        }
      }
    }
    // Types the option leaves out enable everything registered.
    for (const type of INTERFACE_TYPES) this.#enable(type, option[type] ?? [...this.#implementations[type].keys()]);
    this.#generation++;
    return ok(undefined);
  }

  #setDefaults(option: Partial<Record<InterfaceType, string>>): Result<void, InvalidParameterValue> {
    if (typeof option !== 'object' || option === null) return err(invalid('defaultInterfaces', 'must be an object', option));
    for (const [type, name] of Object.entries(option)) {
      if (name === undefined) continue;
      if (!isInterfaceType(type)) return err(invalid('defaultInterfaces', `has an unknown interface type "${type}"`, type));
      // Ironic's conductor refuses to start on a default that is not enabled; so do we.
      if (typeof name !== 'string' || !this.#enabled[type].has(name)) {
        return err(
          invalid(
            `defaultInterfaces.${type}`,
            `is "${String(name)}", which is not an enabled ${type} interface; enabled: ${this.#enabledLists[type].join(', ')}`,
            name,
          ),
        );
      }
      this.#defaults[type] = name;
    }
    this.#generation++;
    return ok(undefined);
  }
}

function checkHardwareType(hardwareType: HardwareType): InvalidParameterValue | null {
  if (typeof hardwareType !== 'object' || hardwareType === null) return invalid('hardwareTypes', 'must hold objects', hardwareType);
  if (!isName(hardwareType.name)) {
    return invalid('hardwareTypes', 'needs a non-empty name without control characters', hardwareType.name);
  }
  for (const type of INTERFACE_TYPES) {
    const list = hardwareType.supported?.[type];
    if (!Array.isArray(list) || !list.every((n) => typeof n === 'string')) {
      return invalid('hardwareTypes', `"${hardwareType.name}" needs supported.${type} as a list of names`, list);
    }
  }
  return null;
}

/** Create a registry (see DriverRegistryOptions for defaults). Invalid options → InvalidParameterValue. */
export function createDriverRegistry(options: DriverRegistryOptions = {}): Result<DriverRegistry, InvalidParameterValue> {
  return DriverRegistry.create(options);
}
