/**
 * The driver layer: interface contracts, hardware types, the registry, buildDriverForTask, and the
 * fake / noop implementations with their configurable FakeBehaviour.
 */
export { buildDriverForTask, type BareDriver, type BuiltDriver } from './build-driver.ts';
export { defineInterface, exclusiveOperation, type InterfaceBody } from './define-interface.ts';
export { makeDriverTask, type DriverTask, type DriverTaskOptions } from './driver-task.ts';
export { abortableSleep } from './fake/abortable-sleep.ts';
export { DEFAULT_FAKE_BEHAVIOUR, resolveFakeBehaviour, type FakeBehaviour, type ResolvedFakeBehaviour } from './fake/fake-behaviour.ts';
export { FakeDriverError } from './fake/fake-driver-error.ts';
export { FakeEngine } from './fake/fake-engine.ts';
export { seededRandom } from './fake/seeded-random.ts';
export { FAKE_HARDWARE } from './fake/fake-hardware.ts';
export { FAKE_CLEAN_STEPS } from './fake/fake-interfaces.ts';
export { defineHardwareType, type HardwareType, type SupportedLists } from './hardware-type.ts';
export * from './interfaces.ts';
export { GENERIC_SUPPORTED, IDRAC, INTEL_IPMI, IPMI, IRONIC_HARDWARE_TYPES, MANUAL_MANAGEMENT, REDFISH } from './ironic-hardware-types.ts';
export {
  createDriverRegistry,
  DEFAULT_ENABLED_HARDWARE_TYPES,
  DriverRegistry,
  type DriverRegistryOptions,
  type RegisterOptions,
} from './registry.ts';
export { UnsupportedDriverExtension } from './unsupported-driver-extension.ts';
