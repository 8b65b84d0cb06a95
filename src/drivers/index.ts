/**
 * The driver layer: interface contracts, hardware types, the registry, buildDriverForTask, and the
 * fake / noop implementations with their configurable FakeBehaviour.
 */
export { buildDriverForTask, type BareDriver, type BuiltDriver } from './build-driver.js';
export { defineInterface, exclusiveOperation, type InterfaceBody } from './define-interface.js';
export { makeDriverTask, type DriverTask, type DriverTaskOptions } from './driver-task.js';
export { abortableSleep } from './fake/abortable-sleep.js';
export { DEFAULT_FAKE_BEHAVIOUR, resolveFakeBehaviour, type FakeBehaviour, type ResolvedFakeBehaviour } from './fake/fake-behaviour.js';
export { FakeDriverError } from './fake/fake-driver-error.js';
export { FakeEngine } from './fake/fake-engine.js';
export { seededRandom } from './fake/seeded-random.js';
export { FAKE_HARDWARE } from './fake/fake-hardware.js';
export { FAKE_CLEAN_STEPS } from './fake/fake-interfaces.js';
export { defineHardwareType, type HardwareType, type SupportedLists } from './hardware-type.js';
export * from './interfaces.js';
export { GENERIC_SUPPORTED, IDRAC, INTEL_IPMI, IPMI, IRONIC_HARDWARE_TYPES, MANUAL_MANAGEMENT, REDFISH } from './ironic-hardware-types.js';
export {
  createDriverRegistry,
  DEFAULT_ENABLED_HARDWARE_TYPES,
  DriverRegistry,
  type DriverRegistryOptions,
  type RegisterOptions,
} from './registry.js';
export { UnsupportedDriverExtension } from './unsupported-driver-extension.js';
